"""archlab.versions: the story replayed on Engines 23-29, what changes and what does not."""

from __future__ import annotations

import pytest

from archlab import explorer, versions
from archlab.errors import LabError
from archlab.hosts import get_host


def _kind(case: versions.Case, engine: str) -> str:
    return explorer.outcome_kind(versions.predict_case(case, engine))


def test_an_upgrade_keeps_the_machine_and_swaps_the_engine():
    host = versions.upgraded("multipass-ubuntu-arm64", "29.1.2")
    base = get_host("multipass-ubuntu-arm64")
    assert (host.daemon_platform, host.native, host.emulated) == (
        base.daemon_platform, base.native, base.emulated)
    assert (host.engine, host.image_store, host.runc) == ("29.1.2", "containerd", "1.3.4")
    assert versions.upgraded("this-machine", "23.0").platforms_rules is None
    with pytest.raises(LabError, match=r"no Engine release '22\.06' here: choose one of 20\.10"):
        versions.upgraded("this-machine", "22.06")


ARMV7 = versions.Case("pull", "pull", "armv7only", "multipass-ubuntu-arm64")
I386 = versions.Case("pull", "pull", "i386only", "ubuntu-amd64-qemu")


@pytest.mark.parametrize(("case", "engine", "kind"), [
    (ARMV7, "20.10.12", "pull error"),  # exact match only
    (ARMV7, "23.0.6", "pulls"),         # arm64 falls back to arm/v8..v5
    (ARMV7, "29.1.2", "pulls"),
    (I386, "20.10.12", "pull error"),
    (I386, "23.0.6", "pulls"),          # amd64 falls back to 386
])
def test_fallbacks_arrive_with_engine_23(case, engine, kind):
    assert _kind(case, engine) == kind


def test_a_fallback_pull_can_still_fail_at_run_time():
    run = versions.Case("run", "run", "armv7only", "multipass-ubuntu-arm64")
    p = versions.predict_case(run, "29.1.2")
    assert str(p.image_platform) == "linux/arm/v7"
    assert explorer.outcome_kind(p) == "exec format error"  # M1 cores have no AArch32


def test_the_grid_has_a_column_per_engine_and_says_what_changed():
    frame = versions.outcome_grid().frame
    assert list(frame.columns) == [e.label for e in versions.ENGINES]
    row = frame.loc["run an arm/v7-only list"]
    assert row["20.10"] == "pull error"
    assert row["29.1 c8d"] == "linux/arm/v7: exec format error"
    assert frame.loc["pull --platform linux/arm64 golang (single amd64)", "27.5"].endswith(
        "with a WARNING")
    assert "WARNING" not in frame.loc["pull --platform linux/arm64 golang (single amd64)",
                                      "29.1 c8d"]


def test_changed_lines_mark_what_was_measured():
    frame = versions.changed_lines(versions.ARM64_CASES[1]).frame
    assert frame["wording"].tolist() == (["measured (amd64 Engine 20.10.24)"]
                                         + ["from source, not measured"] * 4)
    assert frame["Docker prints"].tolist()[:2] == [
        "standard_init_linux.go:228: exec user process caused: exec format error",
        "exec /bin/hello: exec format error"]


def test_the_containerd_store_keeps_both_platforms_under_one_tag():
    frame = versions.store_after_pulls().frame.set_index("Engine")
    assert frame.loc["20.10", "the tag holds"] == "linux/amd64"
    assert frame.loc["29.1 c8d", "the tag holds"] == "linux/arm64/v8, linux/amd64"


def test_calibration_is_said_in_words():
    p = versions.predict_case(versions.ARM64_CASES[1], "29.1.2")
    assert explorer.calibration_note(p, "29.1.2").startswith("None of these ")
    p = versions.predict_case(versions.ARM64_CASES[1], "20.10.12")
    assert explorer.calibration_note(p, "20.10.12").startswith("Measured on an amd64 ")


def test_outcome_grids_say_they_show_outcomes_and_what_c8d_is():
    html = versions.outcome_grid(versions.AMD64_CASES)._repr_html_()
    assert "Outcomes only, not printed lines" in html
    assert "&quot;c8d&quot;: the Engine keeps images in the containerd image store" in html
