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
a float in a *share* column     a percentage, ``32.3%`` (a column whose name says ``share``,
                                ``fraction`` or ``ratio`` and whose values lie in 0..1)
a date and time                 the date alone when every time in the column is midnight
text                            left-aligned, wrapped at spaces only; a token (a reference,
                                a platform, a file name, a flag) is never broken inside, except
                                after a ``/`` when it is long; a line break stays a line break
a plain 0, 1, 2, ... index or   not shown (it is no information); a named or text index is
an unnamed integer index        the first column
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
A *transcript* (what Docker printed) is shown by :class:`Transcript`: in HTML its lines wrap
visually and nothing is inserted; as plain text a continuation starts with
:data:`TRANSCRIPT_MARK` (``↪``), a character no Docker line starts with, so a wrapped line is
never taken for a second line Docker printed.
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
    "TRANSCRIPT_MARK",
    "Markdown",
    "Table",
    "Transcript",
    "cell_text",
    "install",
    "short_digest",
    "shorten_digests",
    "table",
    "wrap",
    "wrap_transcript",
]

#: The class MathJax skips: JupyterLab typesets HTML outputs, and two ``$`` in one table (a
#: Dockerfile's ``${LAB}/lab/ruby:${RUBY_TAG}``, a shell prompt) would otherwise become math.
#: An HTML entity does not help: MathJax reads the text after the browser decoded it.
NO_MATH: Final = "mathjax_ignore"

#: Monospace characters that fit one output line at 1280 px with the file browser open.
TEXT_WIDTH: Final = 96
#: Hex digits a shortened digest keeps.
DIGEST_HEX: Final = 6
#: How a continuation line of wrapped text starts.
CONTINUATION: Final = "    "
#: How a continuation line of a wrapped *transcript* starts: not something Docker prints.
TRANSCRIPT_MARK: Final = "↪ "

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


# HTML styles: JupyterLab right-aligns table cells and centres tables by default. Only the
# properties JupyterLab's sanitizer keeps for untrusted outputs are used (``white-space``,
# ``overflow-wrap: normal``, ``word-break: normal`` are; ``overflow-wrap: anywhere`` is not).
_TABLE_STYLE: Final = ("border-collapse: collapse; margin-left: 0; max-width: 100%; "
                       "table-layout: auto; font-size: 13px")
_CELL_STYLE: Final = ("text-align: left; vertical-align: top; white-space: normal; "
                      "overflow-wrap: normal; word-break: normal; "
                      "padding: 4px 10px 4px 0; "
                      "border-bottom: 1px solid #d0d0d0")
_HEAD_STYLE: Final = _CELL_STYLE + "; font-weight: bold; border-bottom: 2px solid #808080"
#: A token is kept on one line: browsers otherwise break after ``-`` (``--`` | ``platform``).
_NOWRAP: Final = '<span style="white-space: nowrap">'
#: What a transcript's HTML looks like: one block per line Docker printed, wrapped by the
#: browser at spaces only, with a hanging indent so that a wrapped line's continuation is set in
#: and cannot be taken for a line of its own. No character is inserted.
_TRANSCRIPT_STYLE: Final = ("font-family: monospace; font-size: 13px; line-height: 1.35; "
                            "text-align: left; margin: 0")
_LINE_STYLE: Final = ("white-space: pre-wrap; overflow-wrap: break-word; word-break: normal; "
                      "padding-left: 2em; text-indent: -2em")

#: Column names that say a float column holds fractions of a whole.
_SHARE_WORDS: Final = ("share", "fraction", "ratio")


def _share_column(name: Any, values: pd.Series) -> bool:
    """Whether a column holds fractions to show as percentages (see the module docstring)."""
    if not any(w in str(name).lower() for w in _SHARE_WORDS):
        return False
    if not pd.api.types.is_float_dtype(values.dtype):
        return False
    present = values.dropna()
    return bool(len(present)) and bool(((present >= 0) & (present <= 1)).all())


def _percent(value: Any) -> str:
    if _missing(value):
        return ""
    text = f"{float(value) * 100:.1f}".removesuffix(".0")
    return f"{text}%"


def _midnight_dates(values: pd.Series | pd.Index) -> bool:
    """Whether every value is a date and time whose time is midnight (and there is one)."""
    present = [v for v in values if not _missing(v)]
    if not present or not all(isinstance(v, (pd.Timestamp, np.datetime64)) for v in present):
        return False
    stamps = [pd.Timestamp(v) for v in present]
    return all(t == t.normalize() for t in stamps)


def _date(value: Any) -> str:
    return "" if _missing(value) else pd.Timestamp(value).date().isoformat()


def _formatter(name: Any, values: pd.Series | pd.Index, digests: bool) -> Any:
    """How every value of one column (or of the index) is shown."""
    if isinstance(values, pd.Series) and _share_column(name, values):
        return _percent
    if _midnight_dates(values):
        return _date
    return lambda v: cell_text(v, digests=digests)


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
        shows = [_formatter(name, self.frame.iloc[:, i], self.digests)
                 for i, name in enumerate(self.frame.columns)]
        show_key = _formatter(None, self.frame.index, self.digests)
        out = []
        for key, row in zip(self.frame.index, self.frame.itertuples(index=False), strict=True):
            cells = [show(v) for show, v in zip(shows, row, strict=True)]
            if self.index:
                cells.insert(0, show_key(key))
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
        parts = [f'<table class="{NO_MATH}" style="{_TABLE_STYLE}"><thead><tr>']
        parts += [f'<th style="{_HEAD_STYLE}">{_cell_html(h, label=True)}</th>' for h in head]
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


#: A long token (a reference, a media type, a path, a URL) may break after a ``/`` only.
_BREAK_AFTER: Final = re.compile(r"(?<=/)")
#: Tokens at least this long get break opportunities after their slashes.
_LONG_TOKEN: Final = 24
#: A column *label* (a host profile's name, ``multipass-ubuntu-arm64``) may also break after
#: a hyphen, as a hyphenated word does in prose, once it is this long: a grid with one column
#: per host would not fit 1280 px otherwise. Values never do.
_LONG_LABEL: Final = 16
_LABEL_BREAK_AFTER: Final = re.compile(r"(?<=[/-])(?=[^-])")


def _pieces(token: str, *, label: bool = False) -> list[str]:
    """A token as the pieces a line may break between: only after ``/``, only when long; a long
    column label also after ``-``."""
    if label and len(token) >= _LONG_LABEL:
        return [part for part in _LABEL_BREAK_AFTER.split(token) if part]
    if len(token) < _LONG_TOKEN:
        return [token]
    return [part for part in _BREAK_AFTER.split(token) if part]


def _breakable(token: str, *, label: bool = False) -> str:
    """An escaped token that never breaks inside a piece (``mysql:5.7``, ``--platform``,
    ``qemu-x86_64-static``); a long one may break after a ``/`` (``<wbr>``, which leaves copied
    text unchanged). Pieces without a character a browser breaks after stay plain."""
    out = []
    for piece in _pieces(token, label=label):
        text = html.escape(piece)
        out.append(f"{_NOWRAP}{text}</span>" if re.search(r"[^\w]", piece) else text)
    return "<wbr>".join(out)


def _cell_html(text: str, *, label: bool = False) -> str:
    lines = []
    for line in text.split("\n"):
        lines.append("".join(_breakable(t, label=label) if not t.isspace() else t
                             for t in re.split(r"(\s+)", line) if t))
    return "<br>".join(lines)


def _plain_grid(head: Sequence[str], rows: Sequence[Sequence[str]], width: int = TEXT_WIDTH
                ) -> str:
    """A plain-text table: columns separated by two spaces, long cells wrapped in place at
    spaces (and after ``/`` in a long token), never inside a word."""
    n = len(head)
    cells = [list(head), *map(list, rows)]
    natural = [max(max(map(len, r[i].split("\n")), default=0) for r in cells) for i in range(n)]
    # A column is never narrower than its longest unbreakable piece.
    least = [max((len(p) for r in cells for t in r[i].split() for p in _pieces(t)), default=1)
             for i in range(n)]
    budget = max(width - 2 * (n - 1), n * 8)
    widths = list(natural)
    while sum(widths) > budget:
        room = [w - m for w, m in zip(widths, least, strict=True)]
        if max(room) <= 0:
            break
        widest = max(range(n), key=lambda i: (widths[i] if room[i] > 0 else -1))
        widths[widest] -= 1
    lines = []
    for row in cells:
        wrapped = [_wrap_cell(c, w) for c, w in zip(row, widths, strict=True)]
        for k in range(max(map(len, wrapped))):
            parts = [(w[k] if k < len(w) else "").ljust(widths[i]) for i, w in enumerate(wrapped)]
            lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _wrap_cell(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters, broken at spaces or after a long token's ``/``;
    a piece longer than ``width`` stays whole. textwrap cannot break after ``/`` only."""
    out: list[str] = []
    for line in text.split("\n"):
        current = ""
        for word in line.split():
            for k, piece in enumerate(_pieces(word)):
                glue = "" if k else " "
                if not current:
                    current = piece
                elif len(current) + len(glue) + len(piece) <= width:
                    current += glue + piece
                else:
                    out.append(current)
                    current = piece
        out.append(current)
    return out or [""]


def table(
    frame: pd.DataFrame | pd.Series | Iterable[dict[str, Any]],
    *,
    index: bool | None = None,
    caption: str = "",
    digests: bool = True,
) -> Table:
    """A :class:`Table` of ``frame`` (or of a Series, or of rows given as dicts).

    ``index`` shows the index as the first column; by default it is shown unless it is an
    unnamed integer index (a plain 0, 1, 2, ... range, or what is left of one after a filter).
    ``digests=False`` keeps full digests on screen.
    """
    if isinstance(frame, pd.Series):
        df = frame.to_frame(name=frame.name if frame.name is not None else "value")
    elif isinstance(frame, pd.DataFrame):
        df = frame
    else:
        df = pd.DataFrame(list(frame))
    if index is None:
        unnamed = all(n is None for n in df.index.names)
        index = not (unnamed and pd.api.types.is_integer_dtype(df.index.dtype))
    return Table(df, index=index, caption=caption, digests=digests)


def wrap_transcript(text: str, width: int = TEXT_WIDTH) -> str:
    """``text`` (what Docker printed) with each line longer than ``width`` broken at spaces,
    every continuation starting with :data:`TRANSCRIPT_MARK`, which no Docker line starts
    with. The words and their order are Docker's."""
    return wrap(text, width, indent=TRANSCRIPT_MARK)


@dataclass(frozen=True)
class Transcript:
    """Lines a program printed, shown exactly: in HTML the browser wraps long lines at spaces,
    sets their continuations in (a hanging indent) and inserts nothing; as text (``print``,
    ``repr``) long lines are wrapped by :func:`wrap_transcript`. ``text`` keeps every line
    whole."""

    text: str
    width: int = TEXT_WIDTH

    def _repr_html_(self) -> str:
        lines = "".join(f'<div style="{_LINE_STYLE}">{html.escape(line) or "<br>"}</div>'
                        for line in self.text.split("\n"))
        return f'<div class="{NO_MATH}" style="{_TRANSCRIPT_STYLE}">{lines}</div>'

    def __str__(self) -> str:
        return wrap_transcript(self.text, self.width)

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Markdown:
    """Markdown a notebook renders (and plain text where it cannot)."""

    text: str

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return wrap(self.text)


def install() -> bool:
    """Show every DataFrame and Series as a :class:`Table` in the running IPython (a
    notebook's kernel).

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
    formatters["text/html"].for_type(pd.Series, lambda s: table(s)._repr_html_())
    formatters["text/plain"].for_type(pd.Series, lambda s, p, cycle: p.text(repr(table(s))))
    return True
