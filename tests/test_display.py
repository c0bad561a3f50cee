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
    assert "application/<wbr>vnd.<wbr>oci." in html
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
