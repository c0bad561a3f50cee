"""Property tests: any input to any parser either parses or raises archlab's own error.

The parsers and their strategies are in ``tests/fuzzing.py``. CI runs hypothesis' default
number of examples per parser; ``benchmarks/fuzz_parsers.py`` runs 10,000 or more of each.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archlab.errors import ArchlabError
from tests.fuzzing import TARGETS, Target


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow,
                                                HealthCheck.data_too_large])
@given(data=st.data())
def test_parses_or_raises_an_archlab_error(target: Target, data: st.DataObject,
                                           tmp_path: Path) -> None:
    example = data.draw(target.strategy, label=target.name)
    # A refusal in archlab's own words is a correct answer to bad input; anything else fails.
    with contextlib.suppress(ArchlabError):
        target.run(example, tmp_path)
