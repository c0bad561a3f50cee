"""Which platforms did official images publish, and when? A small history dataset.

The official Docker images are multi-arch, but not all of them always were, and not for every
CPU. ``mysql:5.7`` is the classic case: its manifest list held ``linux/amd64`` only, so an
arm64 host got ``no matching manifest for linux/arm64/v8 in the manifest list entries``. This
module ships that history as a pandas frame and answers "who had arm64 then, who has it now".

Where the data comes from
-------------------------
docker-library/repo-info keeps a generated ``repos/<image>/remote/<tag>.md`` per official
image and tag: the list digest, its media type, and every platform entry with its manifest
digest, size and layers. Old versions of those files were read at many commits of
docker-library/repo-info itself and of forks copied at different dates (2016–2026), one JSON
per snapshot. ``tools/import_repo_info.py`` turns them into ``data/history/official-images.csv``,
one row per (snapshot × platform entry); ``data/history/README.md`` lists every column and
which commit each snapshot came from (``source_repo``, ``source_path``, ``source_commit``).

Caveats, read before drawing conclusions
----------------------------------------
- ``date`` is the build time of the newest image in the snapshot: a *lower bound* for when the
  snapshot was taken, not the day the file was committed. One snapshot (``mysql:5.7.36`` from a
  fork) has no date and an empty platform list; it is kept but can never be "at" a date.
- Snapshots are uneven: 313 of them for 54 image:tags, about seven per ``latest`` tag, bunched
  where the forks were copied (many in 2019–2020, few in 2021–2023 and 2025, **none dated
  2024**). "At 2022-01-15" means "the newest snapshot dated at or before it", which may be years
  older; pass ``max_age`` to refuse stale ones, and look at :func:`snapshot_at` to see which one
  was used. :func:`yearly_coverage` never carries a snapshot into another year: each year's
  share rests only on the images with a snapshot dated in it, and says how many those are.
- A few lists look caught mid-push and are kept as printed (``redis:latest`` 2017-12-01 with
  arm64 alone, ``busybox:latest`` 2018-04-03 with amd64 alone); ``data/history/README.md``
  lists them.
- A few files were read only partly (``partial``): their platform lists are complete, but some
  entries lack digest, size or layers. Old 2016–2017 files print no list media type, so their
  ``kind`` is ``unknown`` rather than a guess.
- Since late 2023 every image in a list is followed by an attestation entry (platform
  ``unknown/unknown``, in-toto layers: provenance/SBOM). They are not runnable platforms and are
  left out of every answer here unless you pass ``include_attestations=True``.

Rules
-----
==========================  ===============================================================
question                    rule
==========================  ===============================================================
"has platform P"            compared after :func:`archlab.platforms.normalize` on
                            os/architecture/variant, so ``linux/arm64`` ≡ ``linux/arm64/v8``
                            and ``linux/arm`` ≡ ``linux/arm/v7``; ``os_version`` is ignored
snapshot used for a date     the newest dated snapshot of that image:tag at or before it
                            (``at=None``: the newest one); same-date ties go to the last by
                            source repo, commit and path, so the choice is stable
cell of :func:`coverage`    ``True`` listed, ``False`` not listed, ``<NA>`` no usable snapshot
                            (none at or before the date, too old for ``max_age``, or one
                            with an empty platform list)
:func:`compare_coverage`    ``gained`` / ``lost`` / ``kept`` / ``absent`` (both False) /
                            ``unknown`` (either side ``<NA>``)
snapshot used for a year    the newest snapshot dated within that calendar year (its last
(:func:`yearly_coverage`)   known state; same ties as above); none that year: the image is
                            not counted (``n`` says how many were), never carried over
unit of a year's share      one image, by its ``latest`` tag (``tag=``; ``None``: every
                            image:tag); a year with ``n`` = 0 has share ``<NA>``
"since when"                :func:`platform_since`: the first snapshot listing it and the
(:func:`platform_since`)    newest earlier one not listing it; the change lies between
==========================  ===============================================================

API
---
``load_history(path=None)``, ``coverage(df, platforms, at)``, ``snapshot_at(df, at)``,
``compare_coverage(df, before, after, platform)``, ``timeline(df, image, tag)``;
``yearly_snapshots(df, platform)`` and ``yearly_coverage(df, platform)`` (the share per year
and the ``n`` it rests on); ``tag_timelines(df, image)`` (every tag of one image, snapshot by
snapshot) and ``platform_since(df, image, platform)``. The plots ``plot_coverage_heatmap(wide)``,
``plot_arm64_then_vs_now(df)``, ``plot_timeline(df, image, tag)``,
``plot_yearly_coverage(yearly)`` and ``plot_tag_timelines(df, image)`` draw on ``ax`` (or a new
figure), return the Axes and never call ``plt.show()``. Their colours are Okabe–Ito (blue for
listed, orange for not listed, vermillion for the platform asked about), readable with the
common colour-vision deficiencies.

>>> from archlab import history
>>> df = history.load_history()
>>> history.coverage(df, ["linux/amd64", "linux/arm64"], at="2022-01-15").loc["mysql:5.7"]
platform
linux/amd64     True
linux/arm64    False
Name: mysql:5.7, dtype: boolean
>>> history.compare_coverage(df, "2022-01-15", None).loc["mysql:latest", "change"]
'gained'
>>> yearly = history.yearly_coverage(df)              # one row per year, 2016-2026
>>> int(yearly.loc[2019, "n"]), int(yearly.loc[2019, "listed"])   # images, with arm64
(42, 34)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from archlab import shipped
from archlab.errors import ArchlabError, PlatformError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "DATA_FILE",
    "DEFAULT_PLATFORMS",
    "compare_coverage",
    "coverage",
    "load_history",
    "platform_since",
    "plot_arm64_then_vs_now",
    "plot_coverage_heatmap",
    "plot_tag_timelines",
    "plot_timeline",
    "plot_yearly_coverage",
    "snapshot_at",
    "tag_timelines",
    "timeline",
    "yearly_coverage",
    "yearly_snapshots",
]

CSV_NAME = "official-images.csv"
#: The shipped CSV (``data/history/official-images.csv``; in the package, ``archlab.data``).
DATA_FILE = shipped.data_path("history", CSV_NAME)

#: Columns of :func:`coverage` when none are asked for: the platforms official images use.
DEFAULT_PLATFORMS: tuple[str, ...] = (
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/arm/v6",
    "linux/arm/v5",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "linux/mips64le",
    "windows/amd64",
)

_INT_COLUMNS = ("entry_count", "entry_index", "total_size_bytes", "layer_count")
_BOOL_COLUMNS = ("is_attestation", "partial")
# Empty means "none" here (no variant, no Windows build, not an attestation), not "unknown".
_EMPTY_IS_VALUE = ("variant", "os_version", "attestation_basis")
_SNAPSHOT_EXTRA = ("source_repo", "source_commit", "source_path")
_REQUIRED = ("image", "tag", "date", "os", "architecture", "variant", "is_attestation")

# Okabe–Ito colours (safe for the common colour-vision deficiencies; blue against orange, never
# red against green) and a neutral grey for "nothing known".
_PRESENT, _ABSENT, _UNKNOWN = "#56B4E9", "#E69F00", "#d9d9d9"
_SHARE, _HIGHLIGHT, _NOT_LISTED = "#0072B2", "#D55E00", "#8c8c8c"
#: Marker area (points²) per image in :func:`plot_yearly_coverage`: a year's dot grows with the
#: number of images it rests on, so a share over six images looks as thin as it is.
_AREA_PER_IMAGE = 14.0


# ----------------------------------------------------------------------------------- loading


def load_history(path: str | Path | None = None) -> pd.DataFrame:
    """Read the history CSV into a typed frame (one row per snapshot × platform entry).

    ``path=None`` reads the shipped file, ``data/history/official-images.csv`` (see
    :mod:`archlab.shipped`: the same file in a checkout and in an installed wheel). Dtypes: ``date``
    datetime64, counts and sizes ``Int64``, ``is_attestation``/``partial`` ``boolean``, text
    ``string``; an empty field is ``<NA>`` except in ``variant``, ``os_version`` and
    ``attestation_basis``, where it means "none". A derived ``ref`` column holds ``image:tag``.
    """
    csv_path = Path(path) if path is not None else DATA_FILE
    if not csv_path.is_file():
        raise ArchlabError(
            f"history CSV not found: {csv_path}; pass load_history(path=...) or regenerate it "
            "with tools/import_repo_info.py"
        )
    raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False, na_values=[])
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        raise ArchlabError(f"{csv_path} lacks columns {missing}; is it the history CSV?")
    df = pd.DataFrame(index=raw.index)
    for column in raw.columns:
        values = raw[column]
        if column == "date":
            df[column] = pd.to_datetime(values.replace("", None), format="%Y-%m-%d").astype(
                "datetime64[ns]"
            )
        elif column in _INT_COLUMNS:
            df[column] = pd.array([int(v) if v else pd.NA for v in values], dtype="Int64")
        elif column in _BOOL_COLUMNS:
            mapped = values.map({"true": True, "false": False, "": pd.NA})
            df[column] = mapped.astype("boolean")
        elif column in _EMPTY_IS_VALUE:
            df[column] = values.astype("string")
        else:
            df[column] = values.replace("", None).astype("string")
    df.insert(2, "ref", (df["image"] + ":" + df["tag"]).astype("string"))
    return df


# ------------------------------------------------------------------------------ matching


def _split(platform: str) -> tuple[str, str, str]:
    parts = platform.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise PlatformError(
            f"cannot read platform {platform!r}; write it as os/architecture[/variant], "
            "e.g. linux/arm64 or linux/arm/v7"
        )
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


@lru_cache(maxsize=256)
def _key(os_: str, architecture: str, variant: str) -> tuple[str, str, str]:
    """Normalized (os, architecture, variant); attestations' ``unknown`` is kept as is."""
    if os_ == "unknown" or architecture == "unknown":
        return (os_, architecture, variant)
    from archlab.platforms import Platform, normalize

    p = normalize(Platform(os_, architecture, variant=variant))
    return (p.os, p.architecture, p.variant or "")


def _display(key: tuple[str, str, str]) -> str:
    return "/".join(part for part in key if part)


def _wanted_key(platform: str) -> tuple[str, str, str]:
    return _key(*_split(platform))


# ----------------------------------------------------------------------------- snapshots


def _check(df: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ArchlabError(
            f"frame lacks columns {missing}; pass the frame from load_history() "
            "or one with the same columns"
        )


def _snapshot_columns(df: pd.DataFrame) -> list[str]:
    return ["image", "tag", "date", *(c for c in _SNAPSHOT_EXTRA if c in df.columns)]


def _timestamp(value: Any, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ArchlabError(f"{name}={value!r} is not a date; use e.g. '2022-01-15'") from exc
    if pd.isna(stamp):
        raise ArchlabError(f"{name}={value!r} is not a date; use e.g. '2022-01-15'")
    return stamp


def _refs(df: pd.DataFrame) -> list[str]:
    return sorted({f"{i}:{t}" for i, t in zip(df["image"], df["tag"], strict=True)})


def _attestation_mask(rows: pd.DataFrame) -> pd.Series:
    return rows["is_attestation"].astype("boolean").fillna(False).astype(bool)


def _entries(df: pd.DataFrame, include_attestations: bool) -> pd.DataFrame:
    """Platform entries (no placeholder rows), with ``ref`` and a normalized ``_key``."""
    rows = df[df["os"].notna() & (df["os"].astype(str) != "")]
    if not include_attestations:
        rows = rows[~_attestation_mask(rows)]
    keys = [
        _key(str(o), str(a), "" if pd.isna(v) else str(v))
        for o, a, v in zip(rows["os"], rows["architecture"], rows["variant"], strict=True)
    ]
    ref = rows["image"].astype(str) + ":" + rows["tag"].astype(str)
    return rows.assign(ref=ref, _key=pd.Series(keys, index=rows.index, dtype=object))


def snapshot_at(
    df: pd.DataFrame,
    at: str | pd.Timestamp | None = None,
    *,
    max_age: str | pd.Timedelta | None = None,
) -> pd.DataFrame:
    """The snapshot each image:tag is judged by at ``at``: one row per ref, sorted by ref.

    Columns: ``date`` (NaT when no snapshot qualifies) and, where the frame has them,
    ``source_repo``/``source_commit``/``source_path``. ``max_age`` (e.g. ``"400D"``) drops
    snapshots older than ``at - max_age``; with ``at=None`` it counts back from the newest date
    in the frame.
    """
    _check(df)
    cols = _snapshot_columns(df)
    snaps = df[cols].drop_duplicates()
    snaps = snaps[snaps["date"].notna()]
    if at is not None:
        limit = _timestamp(at, "at")
        snaps = snaps[snaps["date"] <= limit]
    else:
        limit = df["date"].max()
    if max_age is not None and not pd.isna(limit):
        snaps = snaps[snaps["date"] >= limit - pd.Timedelta(max_age)]
    snaps = snaps.assign(ref=snaps["image"].astype(str) + ":" + snaps["tag"].astype(str))
    chosen = snaps.sort_values(["ref", *cols[2:]]).groupby("ref", sort=True).tail(1)
    chosen = chosen.set_index("ref")[cols[2:]]
    out = chosen.reindex(pd.Index(_refs(df), name="ref"))
    out["date"] = pd.to_datetime(out["date"])
    return out


def _platform_sets(
    df: pd.DataFrame, chosen: pd.DataFrame, include_attestations: bool
) -> dict[str, set[tuple[str, str, str]] | None]:
    """Normalized platform keys of each ref's chosen snapshot; ``None`` when unknown."""
    result: dict[str, set[tuple[str, str, str]] | None] = {str(r): None for r in chosen.index}
    dated = chosen[chosen["date"].notna()].reset_index()
    picked = _entries(df, include_attestations=True).merge(dated, on=["ref", *chosen.columns])
    # A snapshot with no entries at all (an empty list) stays None: it tells nothing.
    for ref, group in picked.groupby("ref"):
        if not include_attestations:
            group = group[~_attestation_mask(group)]
        result[str(ref)] = set(group["_key"])
    return result


# ------------------------------------------------------------------------------ analyses


def coverage(
    df: pd.DataFrame,
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
    at: str | pd.Timestamp | None = None,
    *,
    include_attestations: bool = False,
    max_age: str | pd.Timedelta | None = None,
) -> pd.DataFrame:
    """Wide ``ref × platform`` frame of ``boolean``: did that snapshot's list have it?

    Rows are every image:tag in ``df`` (sorted), columns the ``platforms`` as given. A cell is
    ``<NA>`` where no snapshot qualifies (see :func:`snapshot_at`).
    """
    wanted = [(p, _wanted_key(p)) for p in platforms]
    chosen = snapshot_at(df, at, max_age=max_age)
    sets = _platform_sets(df, chosen, include_attestations)
    data = {
        name: pd.array(
            [pd.NA if sets[ref] is None else key in sets[ref] for ref in chosen.index],
            dtype="boolean",
        )
        for name, key in wanted
    }
    wide = pd.DataFrame(data, index=chosen.index)
    wide.columns.name = "platform"
    return wide


def compare_coverage(
    df: pd.DataFrame,
    before: str | pd.Timestamp | None,
    after: str | pd.Timestamp | None,
    platform: str = "linux/arm64",
    *,
    include_attestations: bool = False,
    max_age: str | pd.Timedelta | None = None,
) -> pd.DataFrame:
    """Per image:tag: had ``platform`` at ``before`` and at ``after``, and what changed.

    Columns ``before_date``, ``after_date`` (the snapshots used), ``before``, ``after``
    (``boolean``) and ``change``: ``gained``, ``lost``, ``kept``, ``absent`` or ``unknown``.
    ``None`` for either date means the newest snapshot.
    """
    kw: dict[str, Any] = {"include_attestations": include_attestations, "max_age": max_age}
    had = coverage(df, [platform], before, **kw)[platform]
    has = coverage(df, [platform], after, **kw)[platform]
    out = pd.DataFrame(
        {
            "before_date": snapshot_at(df, before, max_age=max_age)["date"],
            "after_date": snapshot_at(df, after, max_age=max_age)["date"],
            "before": had,
            "after": has,
        }
    )
    out["change"] = pd.Series(
        [_change(b, a) for b, a in zip(had, has, strict=True)], index=out.index, dtype="string"
    )
    return out


def _change(before: Any, after: Any) -> str:
    if pd.isna(before) or pd.isna(after):
        return "unknown"
    if before and after:
        return "kept"
    if after:
        return "gained"
    return "lost" if before else "absent"


def timeline(
    df: pd.DataFrame, image: str, tag: str, *, include_attestations: bool = False
) -> pd.DataFrame:
    """One row per snapshot of ``image:tag``, oldest first (undated last).

    Columns: ``date``, ``platforms`` (tuple of normalized platforms in list order, duplicates
    such as two Windows builds folded), ``n_platforms``, ``n_attestations`` and, where the frame
    has them, ``kind``, ``list_digest``, ``source_repo``, ``source_commit``.
    """
    _check(df)
    mine = df[(df["image"] == image) & (df["tag"] == tag)]
    if mine.empty:
        tags = sorted(set(df.loc[df["image"] == image, "tag"].astype(str)))
        hint = f"known tags of {image}: {', '.join(tags)}" if tags else "no such image"
        raise ArchlabError(f"no snapshots of {image}:{tag} in the history ({hint})")
    snap_cols = _snapshot_columns(df)
    extra = [c for c in ("kind", "list_digest") if c in df.columns]
    rows = []
    for values, snap in mine.groupby(snap_cols, dropna=False, sort=False):
        entries = _entries(snap, include_attestations=True)
        if "entry_index" in entries.columns:
            entries = entries.sort_values("entry_index", kind="stable")
        attest = _attestation_mask(entries)
        shown = entries if include_attestations else entries[~attest]
        names = tuple(dict.fromkeys(_display(k) for k in shown["_key"]))
        info = dict(zip(snap_cols, values, strict=True))
        rows.append(
            {
                "date": info["date"],
                "platforms": names,
                "n_platforms": len(names),
                "n_attestations": int(attest.sum()),
                **{c: snap[c].iloc[0] for c in extra},
                **{c: info[c] for c in snap_cols[3:]},
            }
        )
    out = pd.DataFrame(rows)
    out["date"] = pd.to_datetime(out["date"])
    order = ["date", *snap_cols[3:]]
    return out.sort_values(order, na_position="last", kind="stable").reset_index(drop=True)


def yearly_snapshots(
    df: pd.DataFrame, platform: str = "linux/arm64", *, tag: str | None = "latest"
) -> pd.DataFrame:
    """The snapshot each image is judged by in each calendar year, and whether it lists
    ``platform``: one row per (year, ref), sorted by year and ref.

    The snapshot used is the **newest one dated within that year** (the year's last known
    state; same-date ties as in :func:`snapshot_at`). A ref with no dated snapshot in a year,
    or only one with an empty platform list, has no row for that year: it is not carried over
    from an older year. ``tag="latest"`` (the default) keeps one tag per image, so each row is
    one official image; ``tag=None`` keeps every image:tag as its own row.

    Columns: ``year`` (int), ``ref``, ``date`` and, where the frame has them,
    ``source_repo``/``source_commit``/``source_path``, then ``listed`` (bool).
    """
    _check(df)
    key = _wanted_key(platform)
    rows = df if tag is None else df[df["tag"] == tag]
    rows = rows[rows["date"].notna()]
    parts = []
    for year in sorted(rows["date"].dt.year.unique()):
        in_year = rows[rows["date"].dt.year == year]
        chosen = snapshot_at(in_year)
        sets = _platform_sets(in_year, chosen, include_attestations=False)
        known = {ref: found for ref, found in sets.items() if found is not None}
        part = chosen.loc[list(known)].reset_index()
        part.insert(0, "year", int(year))
        part["listed"] = [key in found for found in known.values()]
        parts.append(part)
    columns = ["year", "ref", *_snapshot_columns(df)[2:], "listed"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)[columns]
    return out.astype({"year": "int64", "listed": "bool"})


def yearly_coverage(
    df: pd.DataFrame, platform: str = "linux/arm64", *, tag: str | None = "latest"
) -> pd.DataFrame:
    """Year by year, the share of images whose snapshot of that year lists ``platform``,
    with the number of images the share rests on.

    Index ``year``: every calendar year from the first to the last dated snapshot, years
    without any included. Columns ``n`` (images with a snapshot dated in that year, see
    :func:`yearly_snapshots` for which one), ``listed`` (how many of those list ``platform``)
    and ``share`` (``listed / n``, ``Float64``; ``<NA>`` where ``n`` is 0). The frame carries
    ``platform`` and ``tag`` in ``.attrs``. A share over a handful of images says little;
    read it with its ``n``.
    """
    per_image = yearly_snapshots(df, platform, tag=tag)
    dated = df.loc[df["date"].notna(), "date"]
    if tag is not None:
        dated = df.loc[df["date"].notna() & (df["tag"] == tag), "date"]
    years = (
        pd.RangeIndex(int(dated.dt.year.min()), int(dated.dt.year.max()) + 1, name="year")
        if len(dated) else pd.RangeIndex(0, name="year")
    )
    grouped = per_image.groupby("year")["listed"]
    n = grouped.size().reindex(years, fill_value=0).astype("Int64")
    listed = grouped.sum().reindex(years, fill_value=0).astype("Int64")
    share = (listed.astype("Float64") / n.astype("Float64")).where(n > 0, pd.NA)
    out = pd.DataFrame({"n": n, "listed": listed, "share": share.astype("Float64")})
    out.index = pd.Index(years, name="year", dtype="int64")
    out.attrs.update(platform=platform, tag=tag)
    return out


def tag_timelines(
    df: pd.DataFrame, image: str, *, include_attestations: bool = False
) -> pd.DataFrame:
    """Every tag of one image with its platforms, snapshot by snapshot.

    :func:`timeline` for each tag the frame holds for ``image``, stacked: a ``tag`` column
    first, tags in version order (``5.7`` < ``5.7.36`` < ``8.0`` < ``latest``), each tag's
    snapshots oldest first (undated last).
    """
    _check(df)
    tags = sorted(set(df.loc[df["image"] == image, "tag"].astype(str)), key=_tag_order)
    if not tags:
        known = ", ".join(sorted(set(df["image"].astype(str)))[:12])
        raise ArchlabError(f"no snapshots of image {image!r} in the history (images: {known}, ...)")
    parts = [
        timeline(df, image, tag, include_attestations=include_attestations).assign(tag=tag)
        for tag in tags
    ]
    out = pd.concat(parts, ignore_index=True)
    return out[["tag", *(c for c in out.columns if c != "tag")]]


def platform_since(df: pd.DataFrame, image: str, platform: str = "linux/arm64") -> pd.DataFrame:
    """Which tags of ``image`` list ``platform``, and since when, as far as the snapshots say.

    One row per tag (version order), over its dated snapshots with a platform list:
    ``snapshots``, ``listed_in`` (how many list it), ``first_listed`` (the oldest that does),
    ``unlisted_before`` (the newest one before that which does not: the platform arrived
    between the two dates; ``NaT`` when no earlier snapshot exists), ``last_listed``,
    ``newest`` (date of the tag's newest snapshot) and ``newest_lists`` (bool). A snapshot with
    no date or no platforms (``mysql:5.7.36`` has one, see ``data/history/README.md``) cannot
    say when; it is counted in ``left_out`` instead, so the two tables agree:
    :func:`tag_timelines` shows it as a row with a blank date and platforms.
    """
    key = _wanted_key(platform)
    everything = tag_timelines(df, image)
    usable = everything["date"].notna() & (everything["n_platforms"] > 0)
    left_out = everything[~usable].groupby("tag", sort=False).size()
    tl = everything[usable]
    rows = []
    for tag, snaps in tl.groupby("tag", sort=False):
        dates = list(snaps["date"])
        has = [key in {_wanted_key(p) for p in ps} for ps in snaps["platforms"]]
        with_it = [d for d, h in zip(dates, has, strict=True) if h]
        first = with_it[0] if with_it else pd.NaT
        before = [d for d, h in zip(dates, has, strict=True) if not h and d < first]
        rows.append({
            "tag": tag,
            "snapshots": len(dates),
            "listed_in": len(with_it),
            "first_listed": first,
            "unlisted_before": before[-1] if before else pd.NaT,
            "last_listed": with_it[-1] if with_it else pd.NaT,
            "newest": dates[-1],
            "newest_lists": has[-1],
            "left_out": int(left_out.get(tag, 0)),
        })
    out = pd.DataFrame(rows).set_index("tag")
    for column in ("first_listed", "unlisted_before", "last_listed", "newest"):
        out[column] = pd.to_datetime(out[column])
    out.attrs.update(image=image, platform=platform)
    return out


def _tag_order(tag: str) -> tuple[Any, ...]:
    # Version order without a version parser: tags like "4-alpine" or "latest" are not PEP 440.
    # Numbers compare as numbers, "latest" goes last.
    parts = re.split(r"(\d+)", tag)
    return (tag == "latest", tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in parts))


# --------------------------------------------------------------------------------- plots


def plot_coverage_heatmap(
    wide: pd.DataFrame, ax: Axes | None = None, *, annotations: pd.DataFrame | None = None
) -> Axes:
    """Draw a boolean ``ref × platform`` frame: blue listed, orange not listed, grey unknown.

    ``annotations`` (same shape) writes text in the cells, e.g. the snapshot dates used.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if ax is None:
        height = max(2.0, 0.3 * len(wide) + 1.2)
        # Row labels (image:tag) and the legend need room of their own beside the cells.
        width = max(6.0, 3.5 + 0.9 * max(len(wide.columns), 1))
        _, ax = plt.subplots(figsize=(width, height))
    values = np.array(
        [[np.nan if pd.isna(v) else float(bool(v)) for v in row] for row in wide.to_numpy()],
        dtype=float,
    ).reshape(len(wide), len(wide.columns))
    cmap = ListedColormap([_ABSENT, _PRESENT]).with_extremes(bad=_UNKNOWN)
    ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(wide.columns)), [str(c) for c in wide.columns], rotation=45,
                  ha="right")
    ax.set_yticks(range(len(wide)), [str(i) for i in wide.index])
    if annotations is not None:
        for (r, c), text in np.ndenumerate(annotations.to_numpy(dtype=object)):
            if text is not None and not (isinstance(text, float) and np.isnan(text)):
                ax.text(c, r, str(text), ha="center", va="center", fontsize=7)
    ax.legend(
        handles=[Patch(color=_PRESENT, label="listed"), Patch(color=_ABSENT, label="not listed"),
                 Patch(color=_UNKNOWN, label="no snapshot")],
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
    )
    return ax


def plot_arm64_then_vs_now(
    df: pd.DataFrame,
    then: str | pd.Timestamp = "2022-01-15",
    now: str | pd.Timestamp | None = None,
    ax: Axes | None = None,
    *,
    platform: str = "linux/arm64",
) -> Axes:
    """Two columns per image:tag, ``platform`` listed then and now, cells labelled with the
    date of the snapshot actually used (so a 2017 snapshot standing in for 2022 is visible)."""
    cmp = compare_coverage(df, then, now, platform)
    then_label = f"then (≤ {_timestamp(then, 'then'):%Y-%m-%d})"
    now_label = "now (newest)" if now is None else f"now (≤ {_timestamp(now, 'now'):%Y-%m-%d})"
    wide = pd.DataFrame({then_label: cmp["before"], now_label: cmp["after"]})
    dates = pd.DataFrame(
        {then_label: _date_text(cmp["before_date"]), now_label: _date_text(cmp["after_date"])}
    )
    ax = plot_coverage_heatmap(wide, ax, annotations=dates)
    ax.set_title(f"{platform} in the official image's list")
    return ax


def _date_text(dates: pd.Series) -> list[str | None]:
    return [None if pd.isna(d) else f"{d:%Y-%m-%d}" for d in dates]


def plot_timeline(
    df: pd.DataFrame, image: str = "mysql", tag: str = "5.7", ax: Axes | None = None
) -> Axes:
    """Dots at (snapshot date, platform) for every platform each dated snapshot listed."""
    import matplotlib.pyplot as plt

    tl = timeline(df, image, tag)
    tl = tl[tl["date"].notna()]
    names = sorted({p for ps in tl["platforms"] for p in ps}, key=_platform_order)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, max(1.8, 0.35 * len(names) + 1.2)))
    rank = {name: i for i, name in enumerate(names)}
    xs = [d for d, ps in zip(tl["date"], tl["platforms"], strict=True) for _ in ps]
    ys = [rank[p] for ps in tl["platforms"] for p in ps]
    ax.scatter(xs, ys, marker="s", color=_PRESENT)
    for d in tl["date"]:
        ax.axvline(d, color=_UNKNOWN, linewidth=0.8, zorder=0)  # a snapshot exists here
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(-0.5, max(len(names) - 0.5, 0.5))
    ax.set_title(f"{image}:{tag}: platforms per snapshot")
    ax.set_xlabel("snapshot date (newest build in it)")
    return ax


def _platform_order(name: str) -> tuple[int, str]:
    try:
        return (DEFAULT_PLATFORMS.index(name), name)
    except ValueError:
        return (len(DEFAULT_PLATFORMS), name)


def plot_yearly_coverage(
    yearly: pd.DataFrame,
    ax: Axes | None = None,
    *,
    counts_ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw :func:`yearly_coverage`: the share per year as dots whose area grows with the number
    of images behind it, each labelled ``listed/n``; a year without snapshots says so.

    ``counts_ax`` gets a bar of ``n`` per year beneath. With ``ax=None`` a new figure of two
    rows (share, then counts; 10 × 5.6 inches, 1000 × 560 pixels at 100 dpi) is made for both.
    The default title states the change from the first to the last year with data. Returns
    the share Axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import PercentFormatter

    if ax is None:
        _, (ax, counts_ax) = plt.subplots(
            2, 1, sharex=True, figsize=(10, 5.6), gridspec_kw={"height_ratios": [3, 1]}
        )
    platform = str(yearly.attrs.get("platform", "the platform"))
    years = np.asarray(yearly.index, dtype=int)
    n = yearly["n"].fillna(0).to_numpy(dtype=int)
    listed = yearly["listed"].fillna(0).to_numpy(dtype=int)
    pct = yearly["share"].astype("Float64").to_numpy(dtype=float, na_value=np.nan) * 100
    has = n > 0
    ax.plot(years, pct, color=_SHARE, linewidth=1.2, zorder=1)  # NaN breaks it at empty years
    ax.scatter(years[has], pct[has], s=_AREA_PER_IMAGE * n[has], color=_SHARE,
               edgecolors="white", linewidths=0.8, zorder=2)
    for year, p, k, total in zip(years[has], pct[has], listed[has], n[has], strict=True):
        radius = float(np.sqrt(_AREA_PER_IMAGE * total / np.pi))  # points
        ax.annotate(f"{k}/{total}", (year, p), xytext=(0, radius + 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize=8)
    for year in years[~has]:
        ax.text(year, 2, "no\nsnapshot", ha="center", va="bottom", fontsize=8,
                color=_NOT_LISTED)
    ax.set_ylim(-8, 118)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_ylabel(f"images listing {platform}")
    ax.grid(axis="y", color=_UNKNOWN, linewidth=0.6)
    ax.set_xticks(years, [str(y) for y in years])
    sizes = [ax.scatter([], [], s=_AREA_PER_IMAGE * k, color=_SHARE) for k in (5, 20, 40)]
    ax.legend(sizes, ["5", "20", "40"], title="images that year", loc="center right",
              fontsize=8, title_fontsize=8, labelspacing=1.2, borderpad=0.8, frameon=False)
    ax.set_title(title if title is not None else _yearly_title(yearly))
    bottom = ax
    if counts_ax is not None:
        counts_ax.bar(years, n, width=0.6, color=_PRESENT)
        for year, total in zip(years, n, strict=True):
            counts_ax.text(year, total, str(total), ha="center", va="bottom", fontsize=8)
        counts_ax.set_ylim(0, max(int(n.max()) if len(n) else 0, 1) * 1.35)
        counts_ax.set_ylabel("images (n)")
        counts_ax.set_xticks(years, [str(y) for y in years])
        bottom = counts_ax
    bottom.set_xlabel("year of the snapshot (the newest build in it)")
    return ax


def _yearly_title(yearly: pd.DataFrame) -> str:
    platform = yearly.attrs.get("platform", "the platform")
    tag = yearly.attrs.get("tag", "latest")
    what = f"official images ({tag})" if tag else "official image tags"
    known = yearly[yearly["n"] > 0]
    if known.empty:
        return f"{platform} in {what}: no dated snapshots"
    first, last = known.iloc[0], known.iloc[-1]
    return (f"{platform} in {what}: {first['share']:.0%} in {known.index[0]} "
            f"→ {last['share']:.0%} in {known.index[-1]}")


def plot_tag_timelines(
    df: pd.DataFrame,
    image: str,
    ax: Axes | None = None,
    *,
    platform: str = "linux/arm64",
    title: str | None = None,
) -> Axes:
    """Every tag of ``image`` with its platforms over time (:func:`tag_timelines`).

    One row per tag and platform the tag ever listed, plus a ``platform`` row for every tag
    even where it never appears. At each dated snapshot of the tag a square marks a listed
    platform (``platform`` in vermillion, the others in blue) and a small grey circle one the
    snapshot does not list, so "never" is visible as a row of circles. The default title says
    which tags list ``platform`` and from which year (:func:`platform_since`).
    """
    import matplotlib.pyplot as plt

    tl = tag_timelines(df, image)
    tl = tl[tl["date"].notna()]
    wanted = _display(_wanted_key(platform))
    tags = list(dict.fromkeys(tl["tag"]))
    rows: list[tuple[str, str]] = []
    for tag in tags:
        names = {p for ps in tl.loc[tl["tag"] == tag, "platforms"] for p in ps} | {wanted}
        rows.extend((tag, name) for name in sorted(names, key=_platform_order))
    if ax is None:
        _, ax = plt.subplots(figsize=(10, min(7.0, max(2.6, 0.32 * len(rows) + 1.6))))
    marks: dict[str, tuple[list[Any], list[int]]] = {
        "wanted": ([], []), "other": ([], []), "absent": ([], [])
    }
    for y, (tag, name) in enumerate(rows):
        snaps = tl[tl["tag"] == tag]
        for date, names in zip(snaps["date"], snaps["platforms"], strict=True):
            kind = "absent" if name not in names else "wanted" if name == wanted else "other"
            marks[kind][0].append(date)
            marks[kind][1].append(y)
    styles = {
        "wanted": {"marker": "s", "s": 42, "color": _HIGHLIGHT, "label": f"{wanted} listed"},
        "other": {"marker": "s", "s": 42, "color": _SHARE, "label": "other platform listed"},
        "absent": {"marker": "o", "s": 14, "facecolors": "none", "edgecolors": _NOT_LISTED,
                   "label": "snapshot without it"},
    }
    for kind, (xs, ys) in marks.items():
        ax.scatter(xs, ys, zorder=2, **styles[kind])
    for y in range(1, len(rows)):
        if rows[y][0] != rows[y - 1][0]:
            ax.axhline(y - 0.5, color=_UNKNOWN, linewidth=0.8, zorder=0)  # between two tags
    ax.set_yticks(range(len(rows)), [f"{image}:{tag}  {name}" for tag, name in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first tag on top
    ax.set_xlabel("snapshot date (the newest build in it)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title(title if title is not None else _since_title(platform_since(df, image, platform)))
    return ax


def _since_title(since: pd.DataFrame) -> str:
    spans: dict[str, list[str]] = {}
    never = []
    for tag, row in since.iterrows():
        if pd.isna(row["first_listed"]):
            never.append(str(tag))
            continue
        first, last = row["first_listed"], row["last_listed"]
        span = f"from {first:%Y}" if row["newest_lists"] else f"{first:%Y}–{last:%Y}, not since"
        spans.setdefault(span, []).append(str(tag))
    parts = [f"in {_and(tags)} {span}" for span, tags in spans.items()]
    if never:
        parts.append(f"never in {', '.join(never)}")
    return f"{since.attrs['image']}: {since.attrs['platform']} " + "; ".join(parts)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
