"""archlab.history and tools/import_repo_info.py: known facts in the shipped CSV, the analysis
rules on a tiny hand-made frame, the plots, and a byte-identical re-import."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from archlab import history
from archlab.errors import ArchlabError, PlatformError

matplotlib.use("Agg")  # switching is allowed while no figure is open

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "data" / "history" / "official-images.csv"
REFERENCE = REPO.parent / "shared" / "reference" / "repo-info"
IMPORTER = REPO / "tools" / "import_repo_info.py"

# From the 2022-01-02 article (story.md): `docker buildx imagetools inspect mysql` / `busybox`.
STORY_MYSQL_LIST = "sha256:e9027fe4d91c0153429607251656806cc784e914937271037f7738bd5b8e7709"
STORY_MYSQL_AMD64 = "sha256:238cf050a7270dd6940602e70f1e5a11eeaf4e02035f445b7f613ff5e0641f7d"
STORY_BUSYBOX_LIST = "sha256:5acba83a746c7608ed544dc1533b87c737a0b0fb730301639a0179f9344b1678"


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return history.load_history()


@pytest.fixture(autouse=True)
def _no_show(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("plot functions must not call plt.show()")

    monkeypatch.setattr(plt, "show", refuse)
    yield
    plt.close("all")


def _platforms(frame: pd.DataFrame) -> set[str]:
    return set(frame.loc[~frame["is_attestation"].fillna(False), "platform"])


# ------------------------------------------------------------------------ the shipped CSV


@pytest.mark.parametrize(
    ("column", "dtype"),
    [
        ("date", "datetime64[ns]"),
        ("total_size_bytes", "Int64"),
        ("layer_count", "Int64"),
        ("entry_index", "Int64"),
        ("is_attestation", "boolean"),
        ("partial", "boolean"),
        ("image", "string"),
        ("platform", "string"),
        ("ref", "string"),
    ],
)
def test_load_history_dtypes(df, column, dtype):
    assert str(df[column].dtype) == dtype


def test_load_history_missing_file_names_path(tmp_path):
    with pytest.raises(ArchlabError, match=r"nope\.csv"):
        history.load_history(tmp_path / "nope.csv")


def test_dated_mysql_57_snapshots_list_only_amd64(df):
    mine = df[(df["ref"] == "mysql:5.7") & df["date"].notna()]
    dates = sorted(mine["date"].dt.strftime("%Y-%m-%d").unique())
    # The article's Dec 2021 state is covered, and years either side of it.
    assert {"2021-12-21", "2016-12-14", "2023-07-25"} <= set(dates)
    for _, snap in mine.groupby("source_file"):
        assert _platforms(snap) == {"linux/amd64"}
        assert snap["entry_count"].tolist() == [1]


def test_mysql_5736_has_an_empty_undated_snapshot_and_an_amd64_one(df):
    mine = df[df["ref"] == "mysql:5.7.36"]
    undated = mine[mine["date"].isna()]
    assert len(undated) == 1  # one placeholder row, not zero rows
    assert undated["entry_count"].iloc[0] == 0
    assert undated["platform"].isna().all() and undated["is_attestation"].isna().all()
    assert undated["list_digest"].notna().all()
    assert _platforms(mine[mine["date"].notna()]) == {"linux/amd64"}
    # The undated one can never be "the snapshot at" a date; the dated one answers.
    assert history.coverage(df, ["linux/amd64"]).loc["mysql:5.7.36", "linux/amd64"]


# Every busybox:latest snapshot, and whether it lists linux/arm64/v8. The one exception is real,
# not an import error: hiramtibbit/repo-info @ 3ffe576d prints repos/busybox/remote/latest.md
# as a manifest list (sha256:3d4e0cc3…) with one platform, `linux; amd64`, built 2018-04-03.
# Before it (2018-01-24) and in every snapshot since (2019-07-18 on), arm64/v8 is listed.
BUSYBOX_ARM64 = [
    ("busybox__latest__2018-01-24.json", True),
    ("busybox__latest__2018-04-03.json", False),
    ("busybox__latest__2019-07-18.json", True),
    ("busybox__latest__2020-10-14.json", True),
    ("busybox__latest__2020-10-14__maxmood96.json", True),
    ("busybox__latest__2021-01-13.json", True),
    ("busybox__latest__2022-10-26.json", True),
    ("busybox__latest__2022-12-07.json", True),
    ("busybox__latest__2026-07-31.json", True),
]


def test_busybox_latest_lists_arm64_v8_in_every_snapshot_but_one_of_april_2018(df):
    mine = df[df["ref"] == "busybox:latest"]
    got = []
    for name, snap in mine.groupby("source_file"):
        arm64 = snap[snap["platform_raw"] == "linux/arm64/v8"]
        assert len(arm64) <= 1
        assert set(arm64["platform"]) <= {"linux/arm64"}  # normalized by archlab.platforms
        got.append((name, len(arm64) == 1))
    assert got == BUSYBOX_ARM64
    april = mine[mine["source_file"] == "busybox__latest__2018-04-03.json"]
    assert april[["source_repo", "kind", "platform"]].values.tolist() == [
        ["hiramtibbit/repo-info", "list", "linux/amd64"]
    ]


def test_story_mysql_list_digest_is_the_dec_2021_amd64_only_list(df):
    rows = df[df["list_digest"] == STORY_MYSQL_LIST]
    latest = rows[rows["ref"] == "mysql:latest"]
    assert latest["date"].dt.strftime("%Y-%m-%d").unique().tolist() == ["2021-12-21"]
    assert latest[["platform", "entry_digest", "kind"]].values.tolist() == [
        ["linux/amd64", STORY_MYSQL_AMD64, "list"]
    ]


def test_story_busybox_list_digest_or_the_documented_gap(df):
    rows = df[df["list_digest"] == STORY_BUSYBOX_LIST]
    if len(rows):
        assert set(rows["ref"]) == {"busybox:latest"}
        assert "linux/arm64" in _platforms(rows)
    else:
        # The README says no busybox:latest copy from around the article was found.
        busy = df[(df["ref"] == "busybox:latest")]
        between = busy["date"].between("2021-02-01", "2022-10-01")
        assert not between.any()


def test_attestations_only_in_snapshots_from_2023_on(df):
    att = df[df["is_attestation"].fillna(False)]
    assert len(att) > 0
    assert (att["date"] >= "2023-01-01").all()
    assert set(att["platform_raw"]) == {"unknown/unknown"}
    assert set(att["attestation_basis"]) <= {"in-toto-layers", "unknown-platform"}
    unknown = df[df["platform_raw"] == "unknown/unknown"]
    assert unknown["is_attestation"].all()


def test_kind_unknown_exactly_where_no_list_media_type(df):
    snaps = df.drop_duplicates("source_file")
    assert (snaps["list_media_type"].isna() == (snaps["kind"] == "unknown")).all()
    assert set(snaps["kind"]) <= {"list", "index", "single", "unknown"}


def test_attestations_excluded_from_coverage_unless_asked(df):
    default = history.coverage(df, ["unknown/unknown"])
    assert not default["unknown/unknown"].fillna(False).any()
    asked = history.coverage(df, ["unknown/unknown"], include_attestations=True)
    assert asked.loc["busybox:latest", "unknown/unknown"]


def test_mysql_then_vs_now_on_real_data(df):
    cmp = history.compare_coverage(df, "2022-01-15", None, "linux/arm64")
    assert cmp.loc["mysql:5.7", "change"] == "absent"
    assert cmp.loc["mysql:latest", "change"] == "gained"
    assert cmp.loc["mariadb:latest", "change"] == "kept"  # Docker's suggested replacement


# arm64 in official images' `latest` tag, year by year: (images with a snapshot dated in that
# year, how many of them list linux/arm64). Each image counts with its newest snapshot of the
# year. Cross-checked when written by a plain-JSON count over ../shared/reference/repo-info.
YEARLY_ARM64 = {
    2016: (6, 0),
    2017: (31, 10),
    2018: (22, 15),
    2019: (42, 34),
    2020: (41, 36),
    2021: (12, 11),
    2022: (11, 11),
    2023: (14, 13),
    2024: (0, 0),  # no snapshot in the data is dated 2024
    2025: (6, 6),
    2026: (35, 35),
}


def test_yearly_arm64_coverage_of_official_images(df):
    yearly = history.yearly_coverage(df)
    got = {year: (int(row["n"]), int(row["listed"])) for year, row in yearly.iterrows()}
    assert got == YEARLY_ARM64
    for year, (n, listed) in YEARLY_ARM64.items():
        share = yearly.loc[year, "share"]
        assert pd.isna(share) if n == 0 else share == pytest.approx(listed / n)
    assert yearly.attrs == {"platform": "linux/arm64", "tag": "latest"}


# Which snapshot stands for an image in a year: the newest one dated in it, even where an
# older one of the same year said otherwise (busybox's April 2018 amd64-only list).
@pytest.mark.parametrize(
    ("year", "ref", "date", "listed"),
    [
        (2018, "busybox:latest", "2018-04-03", False),
        (2017, "redis:latest", "2017-12-01", True),  # the list printed with arm64 alone
        (2023, "mysql:latest", "2023-02-23", True),
        (2021, "mysql:latest", "2021-12-21", False),
        (2023, "kong:latest", "2023-02-11", False),
        (2022, "kong:latest", "2022-12-12", True),
    ],
)
def test_yearly_snapshots_pick_the_newest_of_the_year(df, year, ref, date, listed):
    per_image = history.yearly_snapshots(df).set_index(["year", "ref"])
    row = per_image.loc[(year, ref)]
    assert (row["date"], bool(row["listed"])) == (pd.Timestamp(date), listed)


def test_yearly_snapshots_never_carry_an_image_into_a_year_without_its_snapshot(df):
    per_image = history.yearly_snapshots(df)
    assert (per_image["date"].dt.year == per_image["year"]).all()
    assert not per_image.duplicated(["year", "ref"]).any()
    assert set(per_image["ref"].str.rpartition(":")[2]) == {"latest"}
    assert 2024 not in set(per_image["year"])


MYSQL_TAG_SNAPSHOTS = {"5.7": 8, "5.7.36": 2, "8.0": 2, "8.0.27": 2, "latest": 7}


def test_tag_timelines_of_mysql_hold_every_tag_in_version_order(df):
    tl = history.tag_timelines(df, "mysql")
    assert list(tl.columns[:3]) == ["tag", "date", "platforms"]
    assert tl.groupby("tag", sort=False).size().to_dict() == MYSQL_TAG_SNAPSHOTS
    assert list(dict.fromkeys(tl["tag"])) == list(MYSQL_TAG_SNAPSHOTS)
    for tag, snaps in tl.groupby("tag"):
        pd.testing.assert_frame_equal(
            snaps.drop(columns="tag").reset_index(drop=True), history.timeline(df, "mysql", tag)
        )


NaT = pd.NaT
T = pd.Timestamp
# mysql's tags and linux/arm64: (snapshots, listed in, first listed, newest snapshot before that
# without it, last listed, newest snapshot, newest lists it). 5.7 never had it; 8.0 and latest
# gained it between their Dec 2021 and early-2023 snapshots.
# The last number: snapshots left out (no date or no platforms): 5.7.36's undated empty one.
MYSQL_ARM64_SINCE = {
    "5.7": (8, 0, NaT, NaT, NaT, T("2023-07-25"), False, 0),
    "5.7.36": (1, 0, NaT, NaT, NaT, T("2021-12-02"), False, 1),
    "8.0": (2, 1, T("2023-01-18"), T("2021-12-21"), T("2023-01-18"), T("2023-01-18"), True, 0),
    "8.0.27": (2, 0, NaT, NaT, NaT, T("2021-12-21"), False, 0),
    "latest": (7, 2, T("2023-02-23"), T("2021-12-21"), T("2026-07-27"), T("2026-07-27"), True,
               0),
}


def _since_rows(since: pd.DataFrame) -> dict:
    return {
        tag: tuple(NaT if pd.isna(v) else v for v in row)
        for tag, row in since.astype(object).iterrows()
    }


def test_platform_since_says_which_mysql_tags_list_arm64_and_when(df):
    since = history.platform_since(df, "mysql")
    assert list(since.columns) == ["snapshots", "listed_in", "first_listed", "unlisted_before",
                                   "last_listed", "newest", "newest_lists", "left_out"]
    assert _since_rows(since) == MYSQL_ARM64_SINCE


def test_platform_since_accounts_for_every_row_of_tag_timelines(df):
    # Each tag's snapshots plus those left out are exactly its rows in tag_timelines.
    since = history.platform_since(df, "mysql")
    rows = history.tag_timelines(df, "mysql").groupby("tag", sort=False).size()
    assert (since["snapshots"] + since["left_out"]).to_dict() == rows.to_dict()


def test_platform_since_shows_a_platform_that_went_away(df):
    # kong:latest listed amd64 and arm64 in Sep 2020 and Dec 2022; its Feb 2023 list
    # ('Platforms: 1') holds linux/amd64 alone.
    assert _since_rows(history.platform_since(df, "kong")) == {
        "latest": (6, 2, T("2020-09-22"), T("2020-07-10"), T("2022-12-12"), T("2023-02-11"),
                   False, 0)
    }


# ------------------------------------------------------------------- rules on a tiny frame

E = "2017-03-01"  # early snapshots
L = "2025-03-01"  # late snapshots


def _tiny() -> pd.DataFrame:
    entries = [
        # image, date, os, architecture, variant, is_attestation
        ("keep", E, "linux", "amd64", "", False),
        ("keep", E, "linux", "arm64", "v8", False),
        ("keep", L, "linux", "amd64", "", False),
        ("keep", L, "linux", "arm64", "", False),
        ("gain", E, "linux", "amd64", "", False),
        ("gain", L, "linux", "amd64", "", False),
        ("gain", L, "unknown", "unknown", "", True),
        ("gain", L, "linux", "arm64", "v8", False),
        ("lose", E, "linux", "arm64", "", False),
        ("lose", E, "linux", "amd64", "", False),
        ("lose", L, "linux", "amd64", "", False),
        ("mono", E, "linux", "amd64", "", False),
        ("mono", L, "linux", "amd64", "", False),
        ("late", L, "linux", "arm", "v7", False),
        ("empty", E, None, None, None, None),  # a snapshot whose list was empty
    ]
    rows = []
    for n, (image, date, os_, arch, variant, att) in enumerate(entries):
        rows.append(
            {"image": image, "tag": "1", "date": pd.Timestamp(date), "os": os_,
             "architecture": arch, "variant": variant, "is_attestation": att, "entry_index": n}
        )
    frame = pd.DataFrame(rows)
    frame["is_attestation"] = frame["is_attestation"].astype("boolean")
    return frame


REFS = ["empty:1", "gain:1", "keep:1", "late:1", "lose:1", "mono:1"]
NA = pd.NA


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (
            "2020-01-01",
            {  # amd64, arm64, arm/v7
                "empty:1": [NA, NA, NA],
                "gain:1": [True, False, False],
                "keep:1": [True, True, False],
                "late:1": [NA, NA, NA],
                "lose:1": [True, True, False],
                "mono:1": [True, False, False],
            },
        ),
        (
            None,
            {
                "empty:1": [NA, NA, NA],
                "gain:1": [True, True, False],
                "keep:1": [True, True, False],
                "late:1": [False, False, True],
                "lose:1": [True, False, False],
                "mono:1": [True, False, False],
            },
        ),
        (
            "2016-01-01",
            {ref: [NA, NA, NA] for ref in REFS},
        ),
    ],
)
def test_coverage_on_tiny_frame(at, expected):
    wide = history.coverage(_tiny(), ["linux/amd64", "linux/arm64", "linux/arm/v7"], at=at)
    assert list(wide.index) == REFS
    assert list(wide.columns) == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    assert all(str(t) == "boolean" for t in wide.dtypes)
    got = {ref: [None if pd.isna(v) else bool(v) for v in row] for ref, row in wide.iterrows()}
    want = {ref: [None if v is NA else v for v in row] for ref, row in expected.items()}
    assert got == want


def test_arm64_and_arm64_v8_are_the_same_column():
    wide = history.coverage(_tiny(), ["linux/arm64", "linux/arm64/v8"])
    pd.testing.assert_series_equal(
        wide["linux/arm64"], wide["linux/arm64/v8"], check_names=False
    )
    assert wide.loc["gain:1", "linux/arm64/v8"]  # listed as arm64/v8, asked as either


def test_coverage_counts_attestations_only_when_asked():
    tiny = _tiny()
    assert not history.coverage(tiny, ["unknown/unknown"]).loc["gain:1", "unknown/unknown"]
    asked = history.coverage(tiny, ["unknown/unknown"], include_attestations=True)
    assert asked.loc["gain:1", "unknown/unknown"]


def test_max_age_refuses_stale_snapshots():
    wide = history.coverage(_tiny(), ["linux/amd64"], at="2025-06-01", max_age="365D")
    got = {ref: None if pd.isna(v) else bool(v) for ref, v in wide["linux/amd64"].items()}
    assert got == {"empty:1": None, "gain:1": True, "keep:1": True, "late:1": False,
                   "lose:1": True, "mono:1": True}


def test_compare_coverage_names_each_change():
    cmp = history.compare_coverage(_tiny(), "2020-01-01", None, "linux/arm64")
    assert cmp["change"].to_dict() == {
        "empty:1": "unknown",
        "gain:1": "gained",
        "keep:1": "kept",
        "late:1": "unknown",
        "lose:1": "lost",
        "mono:1": "absent",
    }
    assert cmp.loc["lose:1", "before_date"] == pd.Timestamp(E)
    assert cmp.loc["lose:1", "after_date"] == pd.Timestamp(L)
    assert pd.isna(cmp.loc["late:1", "before_date"])


def test_timeline_rows_per_snapshot_with_normalized_platforms():
    tl = history.timeline(_tiny(), "gain", "1")
    assert tl["date"].tolist() == [pd.Timestamp(E), pd.Timestamp(L)]
    assert tl["platforms"].tolist() == [("linux/amd64",), ("linux/amd64", "linux/arm64")]
    assert tl["n_attestations"].tolist() == [0, 1]


def test_timeline_unknown_ref_names_the_known_tags():
    with pytest.raises(ArchlabError, match=r"gain:2.*known tags of gain: 1"):
        history.timeline(_tiny(), "gain", "2")


def _yearly_frame() -> pd.DataFrame:
    entries = [
        # image, tag, date, os, architecture, variant, is_attestation
        ("a", "latest", "2019-02-01", "linux", "amd64", "", False),
        ("a", "latest", "2019-02-01", "linux", "arm64", "", False),
        ("a", "latest", "2019-11-01", "linux", "amd64", "", False),  # newest of 2019: no arm64
        ("a", "latest", "2021-05-01", "linux", "arm64", "v8", False),
        ("b", "latest", "2019-06-01", "linux", "arm64", "", False),
        ("b", "latest", "2021-01-01", "linux", "amd64", "", False),
        ("b", "latest", "2021-01-01", "unknown", "unknown", "", True),  # not a platform
        ("c", "1", "2019-03-01", "linux", "arm64", "", False),  # not the latest tag
        ("d", "latest", "2020-07-01", None, None, None, None),  # an empty list tells nothing
    ]
    rows = [
        {"image": i, "tag": t, "date": pd.Timestamp(d), "os": o, "architecture": a,
         "variant": v, "is_attestation": att, "entry_index": n}
        for n, (i, t, d, o, a, v, att) in enumerate(entries)
    ]
    frame = pd.DataFrame(rows)
    frame["is_attestation"] = frame["is_attestation"].astype("boolean")
    return frame


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("latest", {2019: (2, 1), 2020: (0, 0), 2021: (2, 1)}),
        (None, {2019: (3, 2), 2020: (0, 0), 2021: (2, 1)}),
    ],
)
def test_yearly_coverage_rules_on_a_tiny_frame(tag, expected):
    yearly = history.yearly_coverage(_yearly_frame(), "linux/arm64/v8", tag=tag)
    assert list(yearly.columns) == ["n", "listed", "share"]
    assert [str(t) for t in yearly.dtypes] == ["Int64", "Int64", "Float64"]
    assert {y: (int(r["n"]), int(r["listed"])) for y, r in yearly.iterrows()} == expected
    assert pd.isna(yearly.loc[2020, "share"])
    assert yearly.loc[2021, "share"] == 0.5


def test_yearly_snapshots_rules_on_a_tiny_frame():
    per_image = history.yearly_snapshots(_yearly_frame())
    assert list(per_image.columns) == ["year", "ref", "date", "listed"]
    assert per_image.values.tolist() == [
        [2019, "a:latest", pd.Timestamp("2019-11-01"), False],
        [2019, "b:latest", pd.Timestamp("2019-06-01"), True],
        [2021, "a:latest", pd.Timestamp("2021-05-01"), True],
        [2021, "b:latest", pd.Timestamp("2021-01-01"), False],
    ]


def test_yearly_coverage_of_a_frame_without_dates_is_empty():
    frame = _yearly_frame().assign(date=pd.NaT)
    assert history.yearly_coverage(frame).empty
    assert history.yearly_snapshots(frame).empty


def test_tag_timelines_sort_tags_as_versions_with_latest_last():
    tags = ["latest", "10.6.5", "9", "5.7.36", "5.7", "4-alpine", "8.0"]
    frame = pd.DataFrame(
        [{"image": "x", "tag": t, "date": pd.Timestamp("2020-01-01"), "os": "linux",
          "architecture": "amd64", "variant": "", "is_attestation": False} for t in tags]
    )
    frame["is_attestation"] = frame["is_attestation"].astype("boolean")
    got = history.tag_timelines(frame, "x")["tag"].tolist()
    assert got == ["4-alpine", "5.7", "5.7.36", "8.0", "9", "10.6.5", "latest"]


def test_tag_timelines_unknown_image_names_the_known_ones():
    with pytest.raises(ArchlabError, match=r"no snapshots of image 'nope'.*a, b, c, d"):
        history.tag_timelines(_yearly_frame(), "nope")


@pytest.mark.parametrize("bad", ["arm64", "linux/", "a/b/c/d", ""])
def test_bad_platform_raises_platform_error(bad):
    with pytest.raises(PlatformError):
        history.coverage(_tiny(), [bad])


# ---------------------------------------------------------------------------------- plots


def _labels(ticks) -> list[str]:
    return [t.get_text() for t in ticks]


def test_heatmap_has_one_row_per_ref_and_column_per_platform():
    wide = history.coverage(_tiny(), ["linux/amd64", "linux/arm64"])
    _, given = plt.subplots()
    ax = history.plot_coverage_heatmap(wide, ax=given)
    assert ax is given
    assert _labels(ax.get_yticklabels()) == REFS
    assert _labels(ax.get_xticklabels()) == ["linux/amd64", "linux/arm64"]


def test_then_vs_now_labels_cells_with_the_snapshot_dates():
    ax = history.plot_arm64_then_vs_now(_tiny(), then="2020-01-01")
    assert _labels(ax.get_yticklabels()) == REFS
    assert len(ax.get_xticklabels()) == 2
    texts = [t.get_text() for t in ax.texts]
    # "empty" has an E snapshot both times (grey: it lists nothing); "late" has none then.
    assert texts.count(E) == 6 and texts.count(L) == 5


@pytest.mark.parametrize(
    ("image", "tag", "n_platforms"),
    [("mysql", "5.7", 1), ("busybox", "latest", 10)],
)
def test_timeline_plot_has_one_row_per_platform(df, image, tag, n_platforms):
    ax = history.plot_timeline(df, image=image, tag=tag)
    labels = _labels(ax.get_yticklabels())
    assert len(labels) == n_platforms
    assert "unknown/unknown" not in labels
    tl = history.timeline(df, image, tag)
    points = ax.collections[0].get_offsets()
    assert len(points) == sum(len(p) for p in tl.loc[tl["date"].notna(), "platforms"])


def test_mysql_timeline_plot_shows_amd64_only(df):
    ax = history.plot_timeline(df, "mysql", "5.7")
    assert _labels(ax.get_yticklabels()) == ["linux/amd64"]


OKABE_ITO = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
             "#000000"}


def _hex(colors) -> set[str]:
    return {matplotlib.colors.to_hex(c, keep_alpha=False).upper() for c in colors}


def test_yearly_plot_shows_each_years_n_in_dot_area_label_and_bar(df):
    yearly = history.yearly_coverage(df)
    ax = history.plot_yearly_coverage(yearly)
    fig = ax.figure
    share_ax, counts_ax = fig.axes
    assert share_ax is ax
    width, height = fig.get_size_inches() * fig.dpi
    assert width <= 1280 and height <= 720  # one screen at 1280 px
    assert ax.get_title() == "linux/arm64 in official images (latest): 0% in 2016 → 100% in 2026"
    assert ax.get_ylabel() == "images listing linux/arm64"
    assert counts_ax.get_ylabel() == "images (n)" and counts_ax.get_xlabel()
    dots = ax.collections[0]
    with_data = {y: v for y, v in YEARLY_ARM64.items() if v[0]}
    assert list(dots.get_sizes()) == [14.0 * n for n, _ in with_data.values()]
    assert [tuple(xy) for xy in dots.get_offsets()] == [
        (y, pytest.approx(100 * k / n)) for y, (n, k) in with_data.items()
    ]
    texts = [t.get_text() for t in ax.texts]
    assert texts == [f"{k}/{n}" for n, k in with_data.values()] + ["no\nsnapshot"]
    assert [int(b.get_height()) for b in counts_ax.patches] == [n for n, _ in YEARLY_ARM64.values()]
    assert _hex(dots.get_facecolors()) <= OKABE_ITO
    assert _hex(b.get_facecolor() for b in counts_ax.patches) <= OKABE_ITO


def test_yearly_plot_draws_on_a_given_axes_without_counts():
    _, given = plt.subplots()
    ax = history.plot_yearly_coverage(history.yearly_coverage(_yearly_frame()), given,
                                      title="mine")
    assert ax is given and len(ax.figure.axes) == 1
    assert ax.get_title() == "mine" and ax.get_xlabel()
    assert [t.get_text() for t in ax.texts] == ["1/2", "1/2", "no\nsnapshot"]  # 2019, 2021; 2020


MYSQL_ROWS = [f"mysql:{tag}  linux/{arch}" for tag in MYSQL_TAG_SNAPSHOTS
              for arch in ("amd64", "arm64")]


def test_tag_plot_of_mysql_has_a_row_per_tag_and_platform(df):
    ax = history.plot_tag_timelines(df, "mysql")
    assert _labels(ax.get_yticklabels()) == MYSQL_ROWS
    assert ax.get_title() == (
        "mysql: linux/arm64 in 8.0 and latest from 2023; never in 5.7, 5.7.36, 8.0.27"
    )
    assert ax.get_xlabel()
    wanted, other, absent = ax.collections
    # arm64 squares: 8.0 in 2023, latest in 2023 and 2026; one circle per snapshot without it.
    assert len(wanted.get_offsets()) == 3
    dated = sum(n for n in MYSQL_TAG_SNAPSHOTS.values()) - 1  # 5.7.36's undated empty list
    assert len(wanted.get_offsets()) + len(absent.get_offsets()) == dated
    assert len(other.get_offsets()) == dated  # every dated snapshot lists amd64
    assert _hex(wanted.get_facecolors()) | _hex(other.get_facecolors()) <= OKABE_ITO
    width, height = ax.figure.get_size_inches() * ax.figure.dpi
    assert width <= 1280 and height <= 720


def test_tag_plot_title_says_when_a_platform_went_away(df):
    ax = history.plot_tag_timelines(df, "kong")
    assert ax.get_title() == "kong: linux/arm64 in latest 2020–2022, not since"


# ------------------------------------------------------------------------------- importer


def _load_importer():
    spec = importlib.util.spec_from_file_location("import_repo_info", IMPORTER)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _snapshot(list_mime, platforms, layers=None, date="2024-05-01"):
    return {
        "source": {
            "repo": "example/repo-info", "path": "repos/x/remote/1.md", "commit": "a" * 40,
            "date": date,
            "date_evidence": None if date is None else
            'newest "# <date>" Dockerfile-history line in the file: "Wed, 01 May 2024 '
            '10:00:00 GMT" (platform linux; amd64)',
        },
        "image": "x", "tag": "1", "list_digest": "sha256:" + "b" * 64, "list_mime": list_mime,
        "platforms": [
            {"platform_string": s, "os": o, "architecture": a, "variant": v}
            for s, o, a, v in platforms
        ],
        "manifests": [
            {"platform_string": s, "os": o, "architecture": a, "variant": v,
             "manifest_digest": None, "manifest_mime": None, "total_size_bytes": 10,
             "image_id": None, "layer_count": None, "layers": layers}
            for s, o, a, v in platforms
        ],
    }


AMD64 = ("linux; amd64", "linux", "amd64", None)
UNKNOWN = ("unknown; unknown", "unknown", "unknown", None)


@pytest.mark.parametrize(
    ("list_mime", "kind"),
    [
        ("application/vnd.docker.distribution.manifest.list.v2+json", "list"),
        ("application/vnd.oci.image.index.v1+json", "index"),
        ("application/vnd.docker.distribution.manifest.v2+json", "single"),
        (None, "unknown"),
        ("application/x-something-else", "unknown"),
    ],
)
def test_importer_kind_never_guesses(list_mime, kind):
    rows = _load_importer().snapshot_rows(_snapshot(list_mime, [AMD64]), "x.json")
    assert [r["kind"] for r in rows] == [kind]


@pytest.mark.parametrize(
    ("layers", "is_attestation", "basis"),
    [
        ([{"digest": "sha256:" + "c" * 64, "size_bytes": 10,
           "mime": "application/vnd.in-toto+json"}], "true", "in-toto-layers"),
        (None, "true", "unknown-platform"),
        ([{"digest": "sha256:" + "c" * 64, "size_bytes": 10,
           "mime": "application/vnd.oci.image.layer.v1.tar+gzip"}], "false",
         "unknown-platform-without-in-toto"),
    ],
)
def test_importer_records_how_attestations_were_decided(layers, is_attestation, basis):
    doc = _snapshot("application/vnd.oci.image.index.v1+json", [UNKNOWN], layers=layers)
    (row,) = _load_importer().snapshot_rows(doc, "x.json")
    assert (row["is_attestation"], row["attestation_basis"]) == (is_attestation, basis)
    assert row["platform"] == "unknown/unknown"


def test_importer_keeps_an_empty_undated_snapshot_as_one_row():
    doc = _snapshot("application/vnd.docker.distribution.manifest.list.v2+json", [], date=None)
    (row,) = _load_importer().snapshot_rows(doc, "x.json")
    assert (row["entry_count"], row["entry_index"], row["date"], row["is_attestation"]) == (
        "0", "", "", ""
    )


def test_importer_condenses_date_evidence():
    (row,) = _load_importer().snapshot_rows(_snapshot(None, [AMD64]), "x.json")
    assert row["date_evidence"] == "history 2024-05-01T10:00:00Z"
    assert row["total_size_bytes"] == "10" and row["entry_digest"] == ""


def _set(doc: dict, path: str, value) -> dict:
    """``doc`` with the dotted ``path`` (``source.commit``, ``manifests.0.manifest_digest``)
    replaced by ``value``."""
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("list_digest", "sha256:" + "b" * 63, r"list_digest .* is not sha256:<64 hex>"),
        ("list_digest", "sha256:" + "B" * 64, r"list_digest .* is not sha256:<64 hex>"),
        ("manifests.0.manifest_digest", "sha256:" + "c" * 65,
         r"manifests\[0\]\.manifest_digest .* is not sha256:<64 hex>"),
        ("source.commit", "a" * 10, r"source\.commit 'a{10}' is not a full 40-hex SHA"),
        ("platforms_count_line", 2,
         r"the source printed 'Platforms: 2' but 1 platforms were transcribed"),
        ("source.path", "repos/y/remote/1.md", r"source\.path .* should be 'repos/x/remote/1\.md'"),
        ("source.date", "2024-05-02", r"date 2024-05-02 but its evidence names 2024-05-01"),
    ],
)
def test_importer_refuses_a_self_contradicting_snapshot(path, value, message):
    importer = _load_importer()
    good = _snapshot(None, [AMD64])
    good["manifests"][0]["manifest_digest"] = "sha256:" + "c" * 64
    good["platforms_count_line"] = 1
    assert len(importer.snapshot_rows(good, "x.json")) == 1  # the unchanged one passes
    with pytest.raises(SystemExit, match=r"^x\.json: " + message):
        importer.snapshot_rows(_set(good, path, value), "x.json")


def _folder(tmp_path: Path, docs: dict[str, dict], index: list[dict] | None = None) -> Path:
    src = tmp_path / "src"
    src.mkdir(parents=True)
    for name, doc in docs.items():
        (src / name).write_text(json.dumps(doc))
    if index is not None:
        (src / "index.json").write_text(json.dumps({"count": len(index), "files": index}))
    return src


def _index_entry(name: str, doc: dict) -> dict:
    src = doc["source"]
    return {"file": name, "image": doc["image"], "tag": doc["tag"], "date": src["date"],
            "repo": src["repo"], "commit": src["commit"], "path": src["path"],
            "list_digest": doc["list_digest"], "list_mime": doc["list_mime"],
            "platforms": [p["platform_string"] for p in doc["platforms"]]}


GOOD_NAME = "x__1__2024-05-01.json"


def _other_copy() -> dict:
    """The same day from another fork: a second file, named with its owner suffix."""
    doc = _snapshot(None, [AMD64])
    doc["source"]["repo"] = "someone/repo-info"
    return doc


@pytest.mark.parametrize(
    ("docs", "message"),
    [
        ({"x__2__2024-05-01.json": _snapshot(None, [AMD64])},
         r"x__2__2024-05-01\.json: file name disagrees with its content; "
         r"expected x__1__2024-05-01\.json"),
        ({"x__1__2024-05-02.json": _snapshot(None, [AMD64])}, r"file name disagrees"),
        ({"x__1__2024-05-01__someone.json": _snapshot(None, [AMD64])},
         r"x__1__2024-05-01__someone\.json: file name disagrees .* __example\.json"),
        ({GOOD_NAME: _snapshot(None, [AMD64]), "x__1__undated.json":
          _snapshot(None, [AMD64], date=None)},
         r"were both read from example/repo-info@aaaaaaaaaa:repos/x/remote/1\.md; keep one"),
    ],
)
def test_importer_refuses_names_and_sources_that_disagree(tmp_path, docs, message):
    with pytest.raises(SystemExit, match=message):
        _load_importer().import_rows(_folder(tmp_path, docs))


def test_importer_accepts_two_copies_of_one_day_told_apart_by_owner(tmp_path):
    docs = {GOOD_NAME: _snapshot(None, [AMD64]),
            "x__1__2024-05-01__someone.json": _other_copy()}
    rows = _load_importer().import_rows(_folder(tmp_path, docs))
    assert [r["source_repo"] for r in rows] == ["example/repo-info", "someone/repo-info"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("platforms", ["linux; arm64 variant v8"], r"platform list differs from index\.json"),
        ("list_digest", "sha256:" + "d" * 64, r"list_digest .* differs from index\.json's"),
        ("date", "2024-05-02", r"date '2024-05-01' differs from index\.json's '2024-05-02'"),
        ("repo", "other/repo-info", r"repo .* differs"),
        ("commit", "e" * 40, r"commit .* differs"),
        ("path", "repos/x/remote/2.md", r"path .* differs"),
        ("file", "x__1__2024-05-03.json", r"index\.json and the folder disagree"),
    ],
)
def test_importer_cross_checks_index_json(tmp_path, key, value, message):
    doc = _snapshot(None, [AMD64])
    entry = _index_entry(GOOD_NAME, doc)
    importer = _load_importer()
    assert len(importer.import_rows(_folder(tmp_path / "ok", {GOOD_NAME: doc}, [entry]))) == 1
    with pytest.raises(SystemExit, match=message):
        importer.import_rows(_folder(tmp_path, {GOOD_NAME: doc}, [{**entry, key: value}]))


def test_importer_output_is_deterministic_and_matches_shipped_csv(tmp_path):
    if not REFERENCE.is_dir():
        pytest.skip(f"reference snapshots not present at {REFERENCE}")
    out = tmp_path / "official-images.csv"
    for _ in range(2):  # twice into the same place: same bytes both times
        subprocess.run([sys.executable, str(IMPORTER), str(REFERENCE), "-o", str(out)],
                       check=True, capture_output=True, cwd=tmp_path)
        assert out.read_bytes() == SHIPPED.read_bytes()


def test_importer_reads_a_folder_of_snapshots(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    doc = _snapshot("application/vnd.oci.image.index.v1+json", [AMD64, UNKNOWN])
    (src / "x__1__2024-05-01.json").write_text(json.dumps(doc))
    out = tmp_path / "out.csv"
    subprocess.run([sys.executable, str(IMPORTER), str(src), "-o", str(out)], check=True,
                   capture_output=True)
    loaded = history.load_history(out)
    assert loaded["platform"].tolist() == ["linux/amd64", "unknown/unknown"]
    assert loaded["is_attestation"].tolist() == [False, True]
    check = subprocess.run([sys.executable, str(IMPORTER), str(src), "-o", str(out), "--check"])
    assert check.returncode == 0
