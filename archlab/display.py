"""What a notebook shows on a projector: tables and text that fit, left to right, hiding nothing.

What it is for
--------------
The course is read in JupyterLab at 1280 px with the file browser open, often on a projector.
pandas' own HTML is made for exploring, not for that: text columns are right-aligned, a digest
takes 71 characters, ``NaN``, ``<NA>`` and tuple reprs such as ``(linux/amd64,)`` show raw, and
one long cell pushes the table off-screen. This module turns any DataFrame into a
:class:`Table` that fits, and any text into lines that wrap at word boundaries, so nothing is
cut where the meaning is.

How do I use it?
----------------
::

    from archlab import display
    t = display.table(frame)          # left-aligned, wrapped, blanks for missing values
    t                                 # in Jupyter: the table; digests as sha256:7d4a16…
    t.frame                           # the DataFrame itself, every value in full
    print(display.wrap(long_text))    # lines of at most TEXT_WIDTH characters, split at spaces
    display.short_digest("sha256:7d4a16...")   # 'sha256:7d4a16…'

The rules
---------
==============================  =============================================================
value in a cell                 shown as
==============================  =============================================================
``None``, ``NaN``, ``<NA>``     blank (a missing value is not a value)
tuple, list, set                its items joined by ``, `` (``linux/amd64, linux/arm64``)
``True`` / ``False``            ``yes`` / ``no``
a ``sha256:`` digest (or a      ``sha256:`` and its first :data:`DIGEST_HEX` hex digits and
``sha256-<hex>`` tag)           ``…``; the full value is in the DataFrame (``.frame``)
a git commit (40 hex digits)    its first 10 digits and ``…``, as ``git log --oneline`` does
a float that is a whole number  without ``.0``
text                            left-aligned, wrapped at spaces; a line break stays a line
                                break
==============================  =============================================================

==============================  =============================================================
constant                        why this value
==============================  =============================================================
``TEXT_WIDTH`` = 96             characters of JupyterLab's 13 px monospace font (7.8 px
                                each) that fit an output area at 1280 px with the file
                                browser open (about 870 px), with a margin
``DIGEST_HEX`` = 6              enough to tell the lab's digests apart on screen; the full
                                digest is one attribute away
==============================  =============================================================

Wrapped text keeps Docker's exact words: a long line is broken at spaces only, and its
continuation lines are indented, so a reader can tell one long line from two short ones.
"""

from __future__ import annotations

import html
import math
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

__all__ = [
    "DIGEST_HEX",
    "TEXT_WIDTH",
    "Markdown",
    "Table",
    "cell_text",
    "install",
    "short_digest",
    "shorten_digests",
    "table",
    "wrap",
]

#: Monospace characters that fit one output line at 1280 px with the file browser open.
TEXT_WIDTH: Final = 96
#: Hex digits a shortened digest keeps.
DIGEST_HEX: Final = 6
#: How a continuation line of wrapped text starts.
CONTINUATION: Final = "    "

# A digest, or the same digest as a tag (cosign's ``sha256-<hex>.sig``).
_DIGEST_RE: Final = re.compile(r"\bsha256([:-])([0-9a-f]{64})\b")
_COMMIT_RE: Final = re.compile(r"(?<![:\w])([0-9a-f]{40})\b")


def short_digest(value: str, n: int = DIGEST_HEX) -> str:
    """``sha256:7d4a16…`` for a full digest; anything else unchanged."""
    m = _DIGEST_RE.fullmatch(value)
    return f"sha256{m.group(1)}{m.group(2)[:n]}…" if m else value


def shorten_digests(text: str, n: int = DIGEST_HEX) -> str:
    """Every full ``sha256:`` digest inside ``text`` shortened as :func:`short_digest` does,
    and every 40-digit git commit to its first 10 digits."""
    text = _DIGEST_RE.sub(lambda m: f"sha256{m.group(1)}{m.group(2)[:n]}…", text)
    return _COMMIT_RE.sub(lambda m: f"{m.group(1)[:10]}…", text)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def cell_text(value: Any, *, digests: bool = True) -> str:
    """One value as a reader should see it (see the module docstring's table)."""
    if _missing(value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (tuple, list, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return ", ".join(cell_text(v, digests=digests) for v in items if not _missing(v))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return shorten_digests(text) if digests else text


def wrap(text: str, width: int = TEXT_WIDTH, *, indent: str = CONTINUATION) -> str:
    """``text`` with every line longer than ``width`` broken at spaces, continuations indented.

    A word longer than a line (a URL, a path) is kept whole rather than cut in the middle.
    """
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip(" "))]
        out += textwrap.wrap(line, width=width, initial_indent="", subsequent_indent=lead + indent,
                             break_long_words=False, break_on_hyphens=False,
                             drop_whitespace=True) or [line]
    return "\n".join(out)


# HTML styles: JupyterLab right-aligns table cells and centres tables by default.
_TABLE_STYLE: Final = ("border-collapse: collapse; margin-left: 0; max-width: 100%; "
                       "table-layout: auto; font-size: 13px")
_CELL_STYLE: Final = ("text-align: left; vertical-align: top; white-space: normal; "
                      "padding: 4px 10px 4px 0; "
                      "border-bottom: 1px solid #d0d0d0")
_HEAD_STYLE: Final = _CELL_STYLE + "; font-weight: bold; border-bottom: 2px solid #808080"


@dataclass(frozen=True)
class Table:
    """A DataFrame ready for a projector. ``frame`` keeps every value in full."""

    frame: pd.DataFrame
    index: bool = True
    caption: str = ""
    digests: bool = True

    def _labels(self) -> list[str]:
        return [cell_text(c, digests=False) for c in self.frame.columns]

    def _index_name(self) -> str:
        names = [n for n in self.frame.index.names if n is not None]
        return ", ".join(str(n) for n in names)

    def rows(self) -> list[list[str]]:
        """Every row as the texts shown, index first when it is shown."""
        out = []
        for key, row in zip(self.frame.index, self.frame.itertuples(index=False), strict=True):
            cells = [cell_text(v, digests=self.digests) for v in row]
            if self.index:
                cells.insert(0, cell_text(key, digests=self.digests))
            out.append(cells)
        return out

    def _shortened(self) -> bool:
        if not self.digests:
            return False
        values = [str(v) for v in (*self.frame.to_numpy().ravel(), *self.frame.index)]
        return any(_DIGEST_RE.search(v) or _COMMIT_RE.search(v) for v in values)

    def _repr_html_(self) -> str:
        head = self._labels()
        if self.index:
            head.insert(0, self._index_name())
        parts = [f'<table style="{_TABLE_STYLE}"><thead><tr>']
        parts += [f'<th style="{_HEAD_STYLE}">{html.escape(h)}</th>' for h in head]
        parts.append("</tr></thead><tbody>")
        for cells in self.rows():
            parts.append("<tr>")
            for i, text in enumerate(cells):
                tag = "th" if self.index and i == 0 else "td"
                parts.append(f'<{tag} style="{_CELL_STYLE}">{_cell_html(text)}</{tag}>')
            parts.append("</tr>")
        parts.append("</tbody></table>")
        note = self.caption
        if self._shortened():
            note = (note + " " if note else "") + ("Digests and commits are shortened on "
                                                   "screen; the DataFrame behind the table "
                                                   "holds them in full.")
        if note:
            parts.append(f'<p style="text-align: left; font-size: 12px; margin: 4px 0">'
                         f"{html.escape(note)}</p>")
        return "".join(parts)

    def __repr__(self) -> str:
        head = self._labels()
        if self.index:
            head.insert(0, self._index_name())
        return _plain_grid(head, self.rows())

    def __len__(self) -> int:
        return len(self.frame)


#: A long token (a media type, a path, a URL) may break after these characters.
_BREAK_AFTER: Final = re.compile(r"(?<=[/.+:,=_@-])")
#: Tokens at least this long get break opportunities.
_LONG_TOKEN: Final = 16


def _breakable(token: str) -> str:
    """An escaped token; a long one with ``<wbr>`` after its separators. JupyterLab strips
    ``overflow-wrap`` from untrusted outputs, and ``<wbr>`` leaves copied text unchanged."""
    if len(token) < _LONG_TOKEN:
        return html.escape(token)
    return "<wbr>".join(html.escape(part) for part in _BREAK_AFTER.split(token) if part)


def _cell_html(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        lines.append("".join(_breakable(t) if not t.isspace() else t
                             for t in re.split(r"(\s+)", line)))
    return "<br>".join(lines)


def _plain_grid(head: Sequence[str], rows: Sequence[Sequence[str]], width: int = TEXT_WIDTH
                ) -> str:
    """A plain-text table: columns separated by two spaces, long cells wrapped in place."""
    n = len(head)
    natural = [max([len(head[i])] + [max(map(len, r[i].split("\n")), default=0) for r in rows])
               for i in range(n)]
    budget = max(width - 2 * (n - 1), n * 8)
    widths = list(natural)
    while sum(widths) > budget and max(widths) > 12:
        widest = widths.index(max(widths))
        widths[widest] -= 1
    lines = []
    for cells in [list(head), *rows]:
        wrapped = [_wrap_cell(c, w) for c, w in zip(cells, widths, strict=True)]
        for k in range(max(map(len, wrapped))):
            parts = [(w[k] if k < len(w) else "").ljust(widths[i]) for i, w in enumerate(wrapped)]
            lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _wrap_cell(text: str, width: int) -> list[str]:
    out: list[str] = []
    for line in text.split("\n") or [""]:
        out += textwrap.wrap(line, width=width, break_long_words=True,
                             break_on_hyphens=False) or [""]
    return out


def table(
    frame: pd.DataFrame | Iterable[dict[str, Any]],
    *,
    index: bool | None = None,
    caption: str = "",
    digests: bool = True,
) -> Table:
    """A :class:`Table` of ``frame`` (or of rows given as dicts).

    ``index`` shows the index as the first column; by default it is shown when it is not a
    plain 0, 1, 2, ... range. ``digests=False`` keeps full digests on screen.
    """
    df = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(list(frame))
    if index is None:
        index = not isinstance(df.index, pd.RangeIndex) or df.index.name is not None
    return Table(df, index=index, caption=caption, digests=digests)


@dataclass(frozen=True)
class Markdown:
    """Markdown a notebook renders (and plain text where it cannot)."""

    text: str

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return wrap(self.text)


def install() -> bool:
    """Show every DataFrame as a :class:`Table` in the running IPython (a notebook's kernel).

    Returns whether there was an IPython to install into. Library functions keep returning
    plain DataFrames; only what the notebook *shows* changes.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    formatters = shell.display_formatter.formatters
    formatters["text/html"].for_type(pd.DataFrame, lambda df: table(df)._repr_html_())
    formatters["text/plain"].for_type(pd.DataFrame,
                                      lambda df, p, cycle: p.text(repr(table(df))))
    return True
