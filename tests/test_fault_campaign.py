"""A small fault campaign in CI: a survey through the hostile proxy accepts no wrong answer,
loses no row, and no reference outlives its deadline.

``benchmarks/fault_campaign.py`` runs the full campaign (500 tags, the library's deadlines)
and commits its figures; this runs the same code on 80 tags with a 30% fault rate and small
deadlines, so that it takes seconds. It asserts counts and bounds only: which requests are
faulted is random (seeded), and the machine is shared.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def campaign():
    spec = importlib.util.spec_from_file_location(
        "fault_campaign", ROOT / "benchmarks" / "fault_campaign.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_campaign"] = module
    spec.loader.exec_module(module)
    return module


def test_a_small_campaign_accepts_no_wrong_answer_and_loses_no_row(registry_binary, campaign,
                                                                   tmp_path):
    report = campaign.run_campaign(tags=80, rate=0.3, seed=7, io_timeout=1.0,
                                   request_deadline=1.5, retry_budget=4.0,
                                   reference_deadline=10.0, work=tmp_path)
    text = "\n".join(report.lines())
    assert report.wrong == [], text
    assert report.lost == [], text
    assert report.correct + sum(report.marked.values()) == report.tags, text
    assert report.longest_s <= 10.0 + campaign.DEADLINE_SLACK, text
    assert report.peak_mb < campaign.TARGET_RSS_MB, text
    # every kind of fault was met, and the ones meant to be survived were: retried or followed
    assert set(report.faulted) == {name for name, _ in report.fault_table}, text
    assert report.retried.get("429") and report.retried.get("5xx"), text
    assert report.retried.get("connection") and report.retried.get("deadline"), text
    # the faults that cannot be retried (lies, oversized answers) are marked, never accepted
    assert report.marked["DigestMismatchError"] >= 1 and report.marked["TooLargeError"] >= 1, text
    assert report.correct >= report.tags // 2, text
    assert report.ok
