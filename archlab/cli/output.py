"""What the command line writes: terminal-safe text, tables, traces.

Everything archlab prints can hold text it did not write: a reference from a file someone sent,
a platform or an error message from a registry it does not control. Such text may carry control
characters (an ANSI escape that rewrites the screen, a carriage return that hides the start of
a line, a right-to-left override that reverses it). :class:`TerminalSafe` wraps ``sys.stdout``
and ``sys.stderr`` while a command runs and escapes them as Python does in a ``repr``:

==========================================  ===============================================
character                                   written as
==========================================  ===============================================
newline, tab                                themselves
other C0 controls, DEL, C1 controls         ``\\x1b``, ``\\r``, ``\\x7f``, ``\\x9b`` ...
bidirectional overrides and isolates        ``\\u202e`` ...
line and paragraph separators               ``\\u2028``, ``\\u2029``
==========================================  ===============================================

Bytes written to ``.buffer`` (``archlab inspect --raw``: the manifest exactly as served) pass
unchanged, and so does a progress bar written to ``.unescaped``: its own ``\\r`` redraws the line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from archlab.registry import Exchange

# C0 controls but tab and newline; DEL and C1; bidi embeddings, overrides and isolates; the
# Unicode line and paragraph separators (a terminal may break a line there).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character escaped (see the module's table)."""
    return _UNSAFE.sub(_escape_one, text)


class TerminalSafe:
    """A text stream that escapes control characters on their way to ``stream``."""

    def __init__(self, stream: IO[str]) -> None:
        self.unescaped = stream

    def write(self, text: str) -> int:
        self.unescaped.write(printable(text))
        return len(text)

    def writelines(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> object:  # flush, isatty, encoding, buffer, fileno ...
        return getattr(self.unescaped, name)


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as left-aligned columns two spaces apart (the first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def print_trace(log: Sequence[Exchange]) -> None:
    """Exchanges as short lines on stderr: ``> GET 200 <url>  content-type=... digest=...``."""
    for ex in log:
        headers = dict(ex.response_headers)
        notes = [f"{k}={headers[k]}" for k in ("content-type", "docker-content-digest",
                                               "www-authenticate") if k in headers]
        auth = f" [{ex.auth}]" if ex.auth else ""
        status = ex.status if ex.status is not None else "ERR"
        print(f"> {ex.method} {status} {ex.url}{auth}  " + " ".join(notes), file=sys.stderr)
