"""archlab.display: what a projector shows. One row per rule of the module docstring."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from archlab import display

DIGEST = "sha256:" + "7d4a16cc" * 8


@pytest.mark.parametrize(("value", "shown"), [
    (None, ""),
    (float("nan"), ""),
    (pd.NA, ""),
    (("linux/amd64",), "linux/amd64"),
    (["linux/amd64", "linux/arm64"], "linux/amd64, linux/arm64"),
    (frozenset({"b", "a"}), "a, b"),
    ((None, "x"), "x"),
    (True, "yes"),
    (np.bool_(False), "no"),
    (3.0, "3"),
    (2.5, "2.5"),
    (DIGEST, "sha256:7d4a16…"),
    (f"GET /v2/lab/blobs/{DIGEST}", "GET /v2/lab/blobs/sha256:7d4a16…"),
    ("e9027fe4d91c0153429607251656806cc784e914", "e9027fe4d9…"),  # a git commit
    (f"lab/signed:sha256-{'bf90c991' * 8}.sig", "lab/signed:sha256-bf90c9….sig"),  # cosign
    ("e9027fe4d91c0153429607251656806cc784e91", "e9027fe4d91c0153429607251656806cc784e91"),
])
def test_cell_text_follows_the_rules(value, shown):
    assert display.cell_text(value) == shown


def test_digests_can_stay_whole():
    assert display.cell_text(DIGEST, digests=False) == DIGEST
    assert display.short_digest("not a digest") == "not a digest"


def test_wrap_breaks_at_spaces_and_indents_continuations():
    line = ("WARNING: The requested image's platform (linux/amd64) does not match the detected "
            "host platform (linux/arm64/v8) and no specific platform was requested")
    wrapped = display.wrap(line, 60).split("\n")
    assert all(len(x) <= 60 for x in wrapped)
    assert wrapped[0].startswith("WARNING:") and all(x.startswith("    ") for x in wrapped[1:])
    # the words are Docker's, in order: only the line breaks are new
    assert " ".join(x.strip() for x in wrapped) == line
    assert display.wrap("short\nlines stay", 60) == "short\nlines stay"


def test_wrap_never_cuts_a_long_word():
    token = "x" * 120
    assert display.wrap(f"a {token} b", 50).split("\n") == ["a", f"    {token}", "    b"]


def test_table_html_is_left_aligned_escaped_and_breakable():
    frame = pd.DataFrame({"media type": ["application/vnd.oci.image.index.v1+json"],
                          "digest": [DIGEST], "note": ["<b>&"], "n": [float("nan")]})
    html = display.table(frame)._repr_html_()
    assert "text-align: left" in html and "text-align: right" not in html
    assert "&lt;b&gt;&amp;" in html and "<b>&" not in html
    # a long token may break after its slash, and nowhere else
    assert ("application/</span><wbr><span style=\"white-space: nowrap\">"
            "vnd.oci.image.index.v1+json</span>") in html
    assert "sha256:7d4a16…" in html and DIGEST not in html
    assert "Digests and commits are shortened on screen" in html
    assert ">nan<" not in html.lower() and "&lt;NA&gt;" not in html


def test_table_text_fits_the_width_and_hides_missing_values():
    frame = pd.DataFrame({"a": ["word " * 40, None], "b": [("x", "y"), pd.NA]})
    text = repr(display.table(frame))
    assert all(len(line) <= display.TEXT_WIDTH for line in text.split("\n"))
    assert "x, y" in text and "NaN" not in text and "<NA>" not in text and "None" not in text


def test_table_shows_a_meaningful_index_only():
    plain = display.table(pd.DataFrame({"a": [1]}))
    named = display.table(pd.DataFrame({"a": [1]}, index=pd.Index(["row"], name="host")))
    assert not plain.index and named.index
    assert repr(named).split("\n")[0].split() == ["host", "a"]


def test_markdown_shows_markdown_and_wrapped_text():
    md = display.Markdown("**bold** " + "word " * 40)
    assert md._repr_markdown_().startswith("**bold**")
    assert all(len(x) <= display.TEXT_WIDTH for x in repr(md).split("\n"))


def test_install_needs_an_ipython():
    assert display.install() is False  # plain pytest: no IPython shell to format for


def test_no_digest_survives_shortening_in_text():
    assert not re.search(r"sha256:[0-9a-f]{64}", display.shorten_digests(f"{DIGEST} {DIGEST}"))


NOWRAP = '<span style="white-space: nowrap">'


@pytest.mark.parametrize("token", ["mysql:5.7", "linux/arm64/v8.0", "qemu-x86_64-static",
                                   "127.0.0.1:5000", "--platform", "some-middleware"])
def test_a_token_never_breaks_inside(token):
    """A browser breaks after '-' and a <wbr> after '.' broke 'mysql:5.' | '7': a short token
    is one unbreakable span."""
    html = display.table(pd.DataFrame({"x": [f"run {token} now"]}))._repr_html_()
    assert f"{NOWRAP}{token}</span>" in html
    assert "<wbr>" not in html


def test_a_long_reference_breaks_after_slashes_only():
    ref = "127.0.0.1:5000/lab/middleware:latest"
    html = display.table(pd.DataFrame({"reference": [ref]}))._repr_html_()
    assert (f"{NOWRAP}127.0.0.1:5000/</span><wbr>{NOWRAP}lab/</span><wbr>"
            f"{NOWRAP}middleware:latest</span>") in html


def test_plain_text_never_breaks_a_word():
    frame = pd.DataFrame({"config_platform": ["linux/arm64/v8"], "note": ["word " * 60],
                          "ref": ["127.0.0.1:5000/lab/middleware:latest"]})
    text = repr(display.table(frame))
    words = set(text.split())
    assert "config_platform" in words and "linux/arm64/v8" in words
    assert "127.0.0.1:5000/lab/middleware:latest" in words or "middleware:latest" in words
    assert all(len(line) <= display.TEXT_WIDTH for line in text.split("\n"))


def test_share_columns_are_percentages():
    frame = pd.DataFrame({"n": [31, 0], "share": [10 / 31, float("nan")],
                          "size": [0.5, 2.5]})
    rows = display.table(frame).rows()
    assert rows == [["31", "32.3%", "0.5"], ["0", "", "2.5"]]
    assert display.table(pd.DataFrame({"share": [1.0, 0.0]})).rows() == [["100%"], ["0%"]]


def test_midnight_dates_show_as_dates():
    days = pd.DataFrame({"date": pd.to_datetime(["2016-12-14", None, "2018-05-04"])})
    assert [r[0] for r in display.table(days).rows()] == ["2016-12-14", "", "2018-05-04"]
    times = pd.DataFrame({"date": pd.to_datetime(["2016-12-14 00:00", "2018-05-04 10:30"])})
    assert display.table(times).rows()[1] == ["2018-05-04 10:30:00"]


def test_an_unnamed_integer_index_is_hidden_after_a_filter():
    frame = pd.DataFrame({"a": [1, 2, 3]}).query("a > 1")
    assert not display.table(frame).index
    assert display.table(frame.rename_axis("row")).index


def test_a_series_is_a_table():
    counts = pd.DataFrame({"v": ["x", "x", "y"], "k": ["a", "a", "b"]}).groupby(["v", "k"]).size()
    text = repr(display.table(counts))
    assert "dtype" not in text
    assert text.split("\n")[0].split() == ["v,", "k", "value"]


def test_transcript_wraps_with_a_mark_and_html_inserts_nothing():
    line = ("WARNING: The requested image's platform (linux/amd64) does not match the detected "
            "host platform (linux/arm64/v8) and no specific platform was requested")
    t = display.Transcript(f"$ docker run x\n{line}")
    shown = str(t).split("\n")
    assert shown[0] == "$ docker run x" and shown[1].startswith("WARNING:")
    assert all(x.startswith(display.TRANSCRIPT_MARK) for x in shown[2:]) and len(shown) > 2
    assert " ".join(x.removeprefix(display.TRANSCRIPT_MARK) for x in shown[1:]) == line
    html = t._repr_html_()
    assert "white-space: pre-wrap" in html and display.TRANSCRIPT_MARK not in html
    # one block per line Docker printed, each with a hanging indent; the words unchanged
    assert html.count("text-indent: -2em") == 2 and "\n" not in html
    assert f">{line.replace(chr(39), '&#x27;')}</div>" in html


def test_a_long_column_label_may_break_after_a_hyphen_a_value_never():
    """07's grid has one column per host profile: its labels wrap like hyphenated words."""
    frame = pd.DataFrame({"multipass-ubuntu-arm64": ["multipass-ubuntu-arm64"]})
    html = display.table(frame)._repr_html_()
    head, body = html.split("</thead>")
    assert f"{NOWRAP}multipass-</span><wbr>{NOWRAP}ubuntu-</span><wbr>arm64" in head
    assert f"{NOWRAP}multipass-ubuntu-arm64</span>" in body
    short = display.table(pd.DataFrame({"--platform": [1]}))._repr_html_()
    assert f"{NOWRAP}--platform</span>" in short


def test_tables_and_transcripts_are_kept_from_mathjax():
    """A Dockerfile's ${LAB}/lab/ruby:${RUBY_TAG} holds two dollar signs: MathJax, which
    JupyterLab runs over HTML outputs, would typeset the text between them."""
    shown = display.table(pd.DataFrame({"line": ["FROM ${LAB}/lab/ruby:${RUBY_TAG}"]}))
    assert f'<table class="{display.NO_MATH}"' in shown._repr_html_()
    shown = display.Transcript("$ docker run x\n$ echo $HOME")._repr_html_()
    assert shown.startswith(f'<div class="{display.NO_MATH}"')
