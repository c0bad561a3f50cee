"""The notebooks as a course, read from their files: order, navigation, and stored outputs a
projector can show (the browser test, tests/test_browser.py, checks the same pages rendered)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from archlab import display
from archlab.hosts import load_hosts

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
LESSONS = [p for p in NOTEBOOKS if p.name[:2].isdigit()]


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _outputs(path: Path):
    """(cell index, mime type, text) of every stored output, streams as text/plain."""
    for n, cell in enumerate(_cells(path)):
        if cell.get("metadata", {}).get("tags") and \
                "nbval-ignore-output" in cell["metadata"]["tags"]:
            continue  # real executables: their output is this machine's, checked by hand
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                yield n, "stream", "".join(out["text"])
            for mime, value in out.get("data", {}).items():
                if isinstance(value, list):
                    value = "".join(value)
                if mime.startswith("text/"):
                    yield n, mime, value


def test_at_least_eight_notebooks_in_reading_order():
    assert len(LESSONS) >= 8
    assert [p.name[:2] for p in LESSONS] == [f"{n:02d}" for n in range(len(LESSONS))]
    assert (REPO / "notebooks" / "Glossary.ipynb").is_file()
    assert (REPO / "notebooks" / "Facilitator-Guide.md").is_file()


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name[:2])
def test_navigation_at_top_and_bottom(path):
    cells = _cells(path)
    i = LESSONS.index(path)
    expected = []
    if i > 0:
        expected.append(f"[← previous]({LESSONS[i - 1].name})")
    expected += ["[contents](00-Start-Here.ipynb)", "[glossary](Glossary.ipynb)"]
    if i + 1 < len(LESSONS):
        expected.append(f"[next →]({LESSONS[i + 1].name})")
    line = "<small>" + " | ".join(expected) + "</small>"
    assert _source(cells[0]) == line
    assert _source(cells[-1]) == line


def test_contents_lists_every_notebook():
    contents = "\n".join(_source(c) for c in _cells(LESSONS[0]))
    for path in [*LESSONS[1:], REPO / "notebooks" / "Glossary.ipynb"]:
        assert f"]({path.name})" in contents, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_text_stands_alone(path):
    for cell in _cells(path):
        text = _source(cell)
        assert not re.search(r"\bthe article\b", text, re.I), text[:120]
        assert "[UNCONFIRMED" not in text and "[INFERRED" not in text


# What must never reach a learner's screen, in any stored output.
_LEAKS = [
    (re.compile(r"\bNaN\b"), "NaN"),
    (re.compile(r"<NA>|&lt;NA&gt;"), "<NA>"),
    (re.compile(r"\('[^']*',\)|\(linux/[a-z0-9/]+,\)"), "a tuple repr"),
    (re.compile(r"\[(UNCONFIRMED|INFERRED)"), "an internal marker"),
    (re.compile(r"mailto:"), "a mailto link"),
]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_show_no_raw_values_or_markers(path):
    for n, mime, text in _outputs(path):
        for pattern, what in _LEAKS:
            assert not pattern.search(text), f"{path.name} cell {n} ({mime}) shows {what}"


# A template placeholder that was never filled in: ``{G("snapshot")}``, ``{name}``.
_PLACEHOLDER = re.compile(r"(?<!\$)\{[A-Za-z_][\w.]*(?:\([^)]*\))?\}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_unformatted_placeholder_reaches_the_reader(path):
    """02 once showed 'one row per {G("snapshot")} and platform entry'."""
    texts = [(n, _source(c)) for n, c in enumerate(_cells(path)) if c["cell_type"] == "markdown"]
    texts += [(n, t) for n, _mime, t in _outputs(path)]
    for n, text in texts:
        prose = re.sub(r"```.*?```|`[^`]*`", "", text, flags=re.S)
        m = _PLACEHOLDER.search(prose)
        assert m is None, f"{path.name} cell {n}: {m.group(0) if m else ''}"


def test_the_placeholder_check_sees_a_placeholder():
    assert _PLACEHOLDER.search('one row per {G("snapshot")} and platform entry')
    assert _PLACEHOLDER.search("hello {name}")
    assert not _PLACEHOLDER.search('{"schemaVersion": 2}') and not _PLACEHOLDER.search("{}")
    assert not _PLACEHOLDER.search("${LAB}/lab/mysql:5.7")  # compose interpolation


_NAME_AT_VERSION = re.compile(r"\b[\w.-]+@v?\d+\.\d+")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_name_at_version_outside_code_in_markdown(path):
    """``moby@v20.10.12`` in plain markdown renders as a mailto: link."""
    texts = [(n, _source(c)) for n, c in enumerate(_cells(path)) if c["cell_type"] == "markdown"]
    texts += [(n, t) for n, mime, t in _outputs(path) if mime == "text/markdown"]
    for n, text in texts:
        prose = re.sub(r"```.*?```|`[^`]*`", "", text, flags=re.S)
        assert not _NAME_AT_VERSION.search(prose), f"{path.name} cell {n}: {prose[:200]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_printed_text_fits_the_screen(path):
    """Text shown in a monospace block wraps at word boundaries within TEXT_WIDTH; only a
    single unbreakable word (a JSON string, a URL) may be longer."""
    cells = _cells(path)
    for n, mime, text in _outputs(path):
        rich = {"text/html", "text/markdown"} & set(cells[n]["outputs"][0].get("data", {}))
        if mime not in ("stream", "text/plain") or rich:
            continue
        for line in text.split("\n"):
            if len(line) > display.TEXT_WIDTH:
                assert " " not in line.strip(), f"{path.name} cell {n}: {line!r}"


def test_every_shipped_host_profile_is_used_in_a_notebook():
    text = "\n".join(_source(c) for p in LESSONS for c in _cells(p))
    shipped = [h.name for h in load_hosts().values()
               if h.path is not None and h.path.parent.name == "hosts"
               and h.path.parent.parent.name == "data"]
    assert len(shipped) >= 7
    unused = [name for name in shipped if f'"{name}"' not in text]
    assert unused == []
