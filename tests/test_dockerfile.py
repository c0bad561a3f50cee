"""archlab.dockerfile's reader: one row per rule of BuildKit's Dockerfile grammar.

Each row is a Dockerfile and what the reader must make of it: the instructions (name, first
and last line, the joined text, heredoc names and contents), or the error. The same text then
goes through BuildKit's own Go parser (the ``dockerfile`` package, a dev dependency) wherever
that parser decides the rule, so the table is checked against BuildKit, not only against
itself. Rows the oracle cannot judge say why in ``oracle``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from archlab.dockerfile import Heredoc, from_images, parse_dockerfile
from archlab.errors import ComposeError

dockerfile = pytest.importorskip("dockerfile")

SAME = "same"  # BuildKit's parser must give the same instructions (or also fail)
LINES = "lines"  # the same instructions and lines; the oracle does not expose the heredoc


def shape(text: str) -> list[tuple]:
    """(cmd, line, end_line, joined text, ((heredoc name, content), ...)) per instruction."""
    return [(i.cmd, i.line, i.end_line, i.original, tuple((h.name, h.content)
                                                          for h in i.heredocs))
            for i in parse_dockerfile(text).instructions]


def buildkit_shape(text: str) -> list[tuple]:
    return [(c.cmd.upper(), c.start_line, c.end_line, c.original.split("\n")[0]
             if c.heredocs else c.original, tuple((h.name, h.content) for h in c.heredocs))
            for c in dockerfile.parse_string(text)]


ROWS = [
    # (rule, text, expected shape or an error fragment, oracle)
    ("a UTF-8 BOM is dropped", "\ufeffFROM a\n", [("FROM", 1, 1, "FROM a", ())], SAME),
    ("comment lines are ignored", "# hi\n  # indented\nFROM a\n",
     [("FROM", 3, 3, "FROM a", ())], SAME),
    ("blank lines are ignored", "\n\nFROM a\n\n", [("FROM", 3, 3, "FROM a", ())], SAME),
    ("an escape at the end continues the line", "FROM a\nRUN echo a \\\n    b\n",
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 3, "RUN echo a     b", ())], SAME),
    ("a comment inside a continuation is skipped",
     "FROM a\nRUN echo a \\\n# not the end\n  # nor this\n  b\n",
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 5, "RUN echo a   b", ())], SAME),
    ("a blank line inside a continuation is skipped", "FROM a\nRUN echo a \\\n\n  b\n",
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 4, "RUN echo a   b", ())], SAME),
    ("an escaped escape at the end does not continue", "FROM a\nRUN echo \\\\\nUSER x\n",
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 2, "RUN echo \\\\", ()),
      ("USER", 3, 3, "USER x", ())], SAME),
    ("an escape alone on a line continues", "FROM a\nRUN \\\n  b\n",
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 3, "RUN   b", ())], SAME),
    ("CRLF line ends", "FROM a\r\nRUN b \\\r\n c\r\n",
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 3, "RUN b  c", ())], SAME),
    ("# escape=` makes the backtick continue lines",
     "# escape=`\nFROM a\nRUN dir c:\\ `\n  /b\n",
     [("FROM", 2, 2, "FROM a", ()), ("RUN", 3, 4, "RUN dir c:\\   /b", ())], SAME),
    ("after # escape=` a backslash is plain", "# escape=`\nFROM a\nRUN echo \\\nUSER x\n",
     [("FROM", 2, 2, "FROM a", ()), ("RUN", 3, 3, "RUN echo \\", ()),
      ("USER", 4, 4, "USER x", ())], SAME),
    ("a directive after a comment is only a comment", "# hi\n# escape=`\nFROM a\nRUN a `\n",
     [("FROM", 3, 3, "FROM a", ()), ("RUN", 4, 4, "RUN a `", ())], SAME),
    ("a directive after a blank line is only a comment", "\n# escape=`\nFROM a\nRUN a `\n",
     [("FROM", 3, 3, "FROM a", ()), ("RUN", 4, 4, "RUN a `", ())], SAME),
    ("# syntax= and # escape= together", "# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n",
     [("FROM", 3, 3, "FROM a", ())], SAME),
    ("an invalid escape is an error", "# escape=x\nFROM a\n",
     "invalid escape token 'x' does not match ` or \\", SAME),
    ("a directive twice is an error", "# escape=\\\n# escape=`\nFROM a\n",
     "only one escape parser directive can be used", SAME),
    ("a heredoc is not read as instructions",
     "FROM a\nRUN <<EOF\nFROM evil\nfrom x import y\nEOF\nUSER x\n",
     [("FROM", 1, 1, "FROM a", ()),
      ("RUN", 2, 5, "RUN <<EOF", (("EOF", "FROM evil\nfrom x import y\n"),)),
      ("USER", 6, 6, "USER x", ())], SAME),
    ("COPY <<EOF /dest", "FROM a\nCOPY <<EOF /x\nhello\nEOF\n",
     [("FROM", 1, 1, "FROM a", ()), ("COPY", 2, 4, "COPY <<EOF /x", (("EOF", "hello\n"),))],
     SAME),
    ("ADD takes heredocs too", "FROM a\nADD <<EOF /x\nFROM b\nEOF\n",
     [("FROM", 1, 1, "FROM a", ()), ("ADD", 2, 4, "ADD <<EOF /x", (("EOF", "FROM b\n"),))],
     SAME),
    ("several heredocs on one line, read in order",
     "FROM a\nRUN <<A cat - <<B\nfrom x import y\nA\nFROM c\nB\n",
     [("FROM", 1, 1, "FROM a", ()),
      ("RUN", 2, 6, "RUN <<A cat - <<B", (("A", "from x import y\n"), ("B", "FROM c\n")))],
     SAME),
    ("<<-EOF: the terminator may be indented with tabs",
     "FROM a\nRUN <<-EOF\n\techo hi\n\t\tEOF\n",
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 4, "RUN <<-EOF", (("EOF", "\techo hi\n"),))],
     SAME),
    ("<<EOF: an indented terminator is content", "FROM a\nRUN <<EOF\n\tEOF\nEOF\n",
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 4, "RUN <<EOF", (("EOF", "\tEOF\n"),))], SAME),
    ('a double-quoted delimiter: <<"EOF"', 'FROM a\nRUN <<"EOF"\n$X\nEOF\n',
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 4, 'RUN <<"EOF"', (("EOF", "$X\n"),))], SAME),
    ("a single-quoted delimiter: <<'END'", "FROM a\nRUN <<'END' python3\nFROM b\nEND\n",
     [("FROM", 1, 1, "FROM a", ()),
      ("RUN", 2, 4, "RUN <<'END' python3", (("END", "FROM b\n"),))], SAME),
    ("a file descriptor: 3<<EOF", "FROM a\nRUN 3<<EOF cat /proc/self/fd/3\nx\nEOF\n",
     [("FROM", 1, 1, "FROM a", ()),
      ("RUN", 2, 4, "RUN 3<<EOF cat /proc/self/fd/3", (("EOF", "x\n"),))], SAME),
    ("a quoted <<EOF is a word, not a heredoc", 'FROM a\nRUN echo "<<EOF"\nFROM b\n',
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 2, 'RUN echo "<<EOF"', ()),
      ("FROM", 3, 3, "FROM b", ())], SAME),
    ("exec form never has heredocs", 'FROM a\nRUN ["cat", "<<EOF"]\nFROM b\n',
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 2, 'RUN ["cat", "<<EOF"]', ()),
      ("FROM", 3, 3, "FROM b", ())], SAME),
    ("only RUN, COPY and ADD take heredocs", "FROM a\nLABEL x=<<EOF\nFROM b\n",
     [("FROM", 1, 1, "FROM a", ()), ("LABEL", 2, 2, "LABEL x=<<EOF", ()),
      ("FROM", 3, 3, "FROM b", ())], SAME),
    ("ONBUILD RUN <<EOF", "FROM a\nONBUILD RUN <<EOF\nFROM b\nEOF\n",
     [("FROM", 1, 1, "FROM a", ()), ("ONBUILD", 2, 4, "ONBUILD RUN <<EOF",
                                     (("EOF", "FROM b\n"),))], LINES),
    ("a continued line opens its heredoc after the join",
     "FROM a\nRUN cat \\\n  <<EOF\nFROM b\nEOF\n",
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 5, "RUN cat   <<EOF", (("EOF", "FROM b\n"),))],
     SAME),
    ("<< EOF: blanks after << (Dockerfile syntax 1.15)", "FROM a\nRUN << EOF\nFROM b\nEOF\n",
     [("FROM", 1, 1, "FROM a", ()), ("RUN", 2, 4, "RUN << EOF", (("EOF", "FROM b\n"),))],
     "the dockerfile package vendors BuildKit from before 1.15"),
    ("an unterminated heredoc is an error", "FROM a\nRUN <<EOF\necho\n",
     "unterminated heredoc", SAME),
    ("a JSON array of non-strings is an error", "FROM a\nRUN [1, 2]\n",
     "arrays must be comprised of strings only", SAME),
    ("a line over 65,535 bytes is an error", "FROM a\nRUN " + "x" * 65536 + "\n",
     "dockerfile line greater than max allowed size of 65535", SAME),
    ("an unknown instruction is an error", "FROM a\nfrom x import y\nHELLO world\n",
     "unknown instruction: HELLO",
     "BuildKit's parser accepts any word; its instruction parser refuses unknown ones"),
    ("no instruction at all is an error", "# just a comment\n\n", "no FROM instruction", SAME),
]


@pytest.mark.parametrize(("rule", "text", "expected", "oracle"), ROWS, ids=[r[0] for r in ROWS])
def test_the_reader_follows_buildkit(rule: str, text: str, expected, oracle: str) -> None:
    if isinstance(expected, str):
        with pytest.raises(ComposeError) as info:
            parse_dockerfile(text)
        assert expected in str(info.value)
        if oracle == SAME:
            with pytest.raises(dockerfile.GoParseError):
                dockerfile.parse_string(text)
        return
    assert shape(text) == expected
    if oracle == SAME:
        assert buildkit_shape(text) == expected
    elif oracle == LINES:
        assert [s[:4] for s in buildkit_shape(text)] == [s[:4] for s in expected]
    else:
        assert buildkit_shape(text) != expected, f"the oracle now agrees: {oracle} is stale"


def test_every_rule_of_the_docstring_has_a_row() -> None:
    assert len(ROWS) >= 30
    assert len({r[0] for r in ROWS}) == len(ROWS)


# ---------------------------------------------------------------------------------------------
# What the audit makes of it


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_from_inside_a_heredoc_is_no_stage(tmp_path: Path) -> None:
    path = write(tmp_path / "Dockerfile",
                 "FROM python:3.12\nRUN <<EOF\nFROM evil\nEOF\nCOPY <<PY /app.py\n"
                 "from x import y\nPY\n")
    (f,) = from_images(path)
    assert (f.image, f.final, f.line) == ("python:3.12", True, 1)
    assert [r.command for r in f.runs] == ["/bin/sh -c FROM evil\n"]


@pytest.mark.parametrize(("text", "argv"), [
    ("RUN <<EOF\necho hi\nEOF\n", ("/bin/sh", "-c", "echo hi\n")),
    ("RUN <<-EOF\n\techo hi\n\tEOF\n", ("/bin/sh", "-c", "echo hi\n")),
    ("RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n", ("/bin/sh", "-c", "/dev/pipes/EOF")),
    ("RUN python3 <<EOF\nprint(1)\nEOF\n", ("/bin/sh", "-c", "python3 <<EOF\nprint(1)\nEOF")),
    ('RUN ["make", "all"]\n', ("make", "all")),
])
def test_a_heredoc_run_as_buildkit_runs_it(tmp_path: Path, text: str, argv) -> None:
    (f,) = from_images(write(tmp_path / "Dockerfile", "FROM a\n" + text))
    assert f.runs[0].argv == argv


@pytest.mark.parametrize(("text", "args", "image"), [
    ("# escape=`\nARG T=1\nFROM x:`$T\n", None, "x:$T"),
    ("ARG T=1\nFROM x:\\$T\n", None, "x:$T"),
    ('FROM "alpine:3.19"\n', None, "alpine:3.19"),
    ("ARG T='3.19'\nFROM 'alpine':\"$T\"\n", None, "alpine:3.19"),
    ("ARG A=x B=y\nFROM $A:$B\n", None, "x:y"),
    ("ARG A=x B\nFROM $A:${B:-z}\n", {"B": "q"}, "x:q"),
    ("FROM a \\\n  # the base\n  AS base\nFROM base\n", None, None),
])
def test_from_lines_through_the_reader(tmp_path: Path, text: str, args, image) -> None:
    lines = from_images(write(tmp_path / "Dockerfile", text), args)
    if image is None:  # the continuation with a comment inside still names the stage
        assert [(f.kind, f.name) for f in lines] == [("image", "base"), ("stage", None)]
    else:
        assert lines[-1].image == image


def test_the_python_from_line_is_refused_outside_a_heredoc(tmp_path: Path) -> None:
    """BuildKit refuses it too: the error is kept, only the heredoc case changed."""
    path = write(tmp_path / "Dockerfile", "FROM a\nfrom x import y\n")
    with pytest.raises(ComposeError, match=r":2: FROM requires either one or three arguments"):
        from_images(path)


def test_a_huge_dockerfile_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    from archlab import limits

    monkeypatch.setattr(limits, "MAX_INPUT_FILE_BYTES", 64)
    path = write(tmp_path / "Dockerfile", "FROM a\n" + "RUN x\n" * 20)
    with pytest.raises(ComposeError, match="the Dockerfile is 127 bytes, more than the 64"):
        from_images(path)


def test_heredoc_text_strips_tabs_only_for_chomp() -> None:
    assert Heredoc("E", "\ta\n\t\tb\n", chomp=True).text == "a\nb\n"
    assert Heredoc("E", "\ta\n", chomp=False).text == "\ta\n"


# ---------------------------------------------------------------------------------------------
# Property: random Dockerfiles made of the grammar's pieces


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = ["FROM a", "FROM b AS c", "RUN echo", "RUN <<EOF", "RUN <<-EOF", "COPY <<'X' /x",
           "RUN <<A <<B", "RUN [\"a\"]", "EOF", "\tEOF", "X", "A", "B", "from x import y",
           "# escape=`", "# syntax=x", "# c", "", "  ", "RUN a \\", "RUN a `", "\\", "`",
           "ONBUILD RUN <<EOF", "USER \"q", "RUN 'x <<EOF", "LABEL a=<<EOF", "RUN \\\\"]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12),
       st.sampled_from(["\n", "\r\n"]))
def test_random_dockerfiles_read_as_buildkit_reads_them(pieces: list[str], end: str) -> None:
    text = end.join(pieces) + end
    try:
        ours = shape(text)
    except ComposeError as e:
        if "unknown instruction" in str(e):
            return  # BuildKit's parser takes any word; its instruction parser refuses it
        with pytest.raises(dockerfile.GoParseError):
            dockerfile.parse_string(text)
        return
    theirs = buildkit_shape(text)
    assert [s[:4] for s in ours] == [s[:4] for s in theirs]
    assert [s[4] for s in ours if s[0] != "ONBUILD"] == [
        s[4] for s in theirs if s[0] != "ONBUILD"]
