"""archlab.exercises: every exercise answered rightly and wrongly, and the helper's verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archlab import exercises
from archlab.errors import ArchlabError

REPO = Path(__file__).resolve().parents[1]
KEYS = list(exercises.EXERCISES)


def _wrong(ex: exercises.Exercise, right: str) -> str:
    others = [c for c in ex.choices if exercises.normalize_answer(c)
              != exercises.normalize_answer(right)]
    return ex.distractor or others[0]


@pytest.mark.parametrize("key", KEYS)
def test_the_right_answer_is_right_and_explained(key):
    ex = exercises.get(key)
    solution = ex.answer()
    assert solution.answer in ex.choices or not ex.choices, (
        f"{key}: the computed answer {solution.answer!r} is not among the choices {ex.choices}")
    verdict = ex.check(f"  {solution.answer.upper()}. ")  # case, spaces, full stop: same answer
    assert verdict.correct is True
    assert verdict._repr_markdown_().startswith("Right: ")
    assert len(solution.why) > 40  # an explanation, not a bare word


@pytest.mark.parametrize("key", KEYS)
def test_a_wrong_answer_is_wrong_and_told_the_answer(key):
    ex = exercises.get(key)
    right = ex.answer().answer
    wrong = _wrong(ex, right)
    verdict = ex.check(wrong)
    assert verdict.correct is False
    text = verdict._repr_markdown_()
    assert text.startswith(f"Not quite: you predicted `{wrong}`, the answer is `{right}`.")


@pytest.mark.parametrize("key", KEYS)
def test_no_prediction_gives_no_answer(key):
    ex = exercises.get(key)
    verdict = ex.check("")
    assert verdict.correct is None and verdict.solution is None
    assert repr(verdict).startswith("No prediction yet.")
    assert ex.answer().answer not in repr(ex.check("   ")).split("for example")[0]


def test_aliases_count_as_the_answer_they_name():
    ex = exercises.get("00.1")  # run middleware on host B: exec format error
    assert ex.check("ENOEXEC").correct is True
    assert ex.check("no matching manifest").correct is False  # the alias of "pull error"


def test_the_compose_exercise_speaks_the_course_vocabulary():
    ex = exercises.get("05.1")  # redis on host B: native
    assert ex.answer().answer == "runs natively"
    assert "runs-native" not in ex.choices
    assert ex.check("runs-native").correct is True  # the audit frame's code still counts


def test_audit_outcomes_read_in_words():
    from archlab import notebook as nb
    from archlab.compose import OUTCOME_WORDS, OUTCOMES, audit, in_words, load_compose

    assert set(OUTCOME_WORDS) == set(OUTCOMES)
    story = load_compose(nb.story_compose(), env={})
    report = audit(story, ["m1-desktop-4.3", "multipass-ubuntu-arm64"], client=nb.lab_client())
    words = in_words(report).set_index(["service", "host"])["outcome"]
    assert words[("db", "m1-desktop-4.3")] == "runs emulated (qemu)"
    assert words[("db", "multipass-ubuntu-arm64")] == "exec format error"
    assert words[("redis", "multipass-ubuntu-arm64")] == "runs natively"
    assert report["outcome"].isin(OUTCOMES).all()  # the frame keeps its codes


def test_answers_are_computed_by_the_library():
    # 02.1's answer is the platform Docker prints, taken from the error archlab raises
    solution = exercises.get("02.1").answer()
    assert solution.evidence == ("no matching manifest for linux/arm64 in the manifest list "
                                 "entries")
    assert exercises.get("03.1").answer().answer == "22"  # EM_S390


def test_an_unknown_exercise_names_the_known_ones():
    with pytest.raises(ArchlabError, match=r"no exercise '9\.9': the exercises are 00\.1, 00\.2"):
        exercises.get("9.9")


LESSONS = sorted(p for p in (REPO / "notebooks").glob("0*.ipynb"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name[:2])
def test_each_notebook_ends_with_its_exercises_unanswered_and_a_recap(path):
    cells = json.loads(path.read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells]
    keys = [k for k in KEYS if f'nb.exercise("{k}")' in "\n".join(sources)]
    assert keys == [e.key for e in exercises.for_notebook(path.name[:2])]
    assert 2 <= len(keys) <= 3
    checks = [c for c in cells if "".join(c["source"]).startswith('ex.check("")')]
    assert len(checks) == len(keys)
    for cell in checks:  # stored unanswered: the answer stays out of sight until asked for
        shown = "".join(cell["outputs"][0]["data"]["text/plain"])
        assert shown.startswith("No prediction yet.")
    recap = sources[-2]
    assert recap.startswith("## Recap\n\n")
    assert [line[:3] for line in recap.split("\n")[2:]] == ["1. ", "2. ", "3. "]
    first_exercise = next(i for i, s in enumerate(sources) if "nb.exercise(" in s)
    assert all("nb.exercise(" in s or s.startswith("ex.check") for s in sources[first_exercise:-2]
               if cells[sources.index(s)]["cell_type"] == "code")
