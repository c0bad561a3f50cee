r"""Which images does a Dockerfile build on? Its ``FROM`` lines, resolved as the builder does.

A compose service with ``build:`` runs on whatever its Dockerfile's *final* stage starts
``FROM``. To predict whether that works on an arm64 host you need the base image's name after
``ARG`` substitution, the platform it is pulled for (``--platform=$BUILDPLATFORM`` changes
it), and whether a ``RUN`` step must execute the base's binaries during the build. This module
reads a Dockerfile into instructions (:func:`parse_dockerfile`) and resolves every ``FROM``
into a :class:`FromLine` (:func:`from_images`).

Which reader?
=============

archlab's own, written to BuildKit's grammar (``moby/buildkit``,
``frontend/dockerfile/parser``: ``parser.go``, ``directives.go``, ``split_command.go``,
``line_parsers.go``, and the word splitting of ``frontend/dockerfile/shell/lex.go``).
dockerfile-parse 2.0.1, which archlab used before, reads heredocs as instructions (a ``FROM``
inside ``RUN <<EOF`` became a stage; ``from x import y`` a bad ``FROM``) and keeps comment
lines inside continuations as instructions of their own, so it is no longer used. The PyPI
package ``dockerfile`` wraps BuildKit's Go parser itself; the tests use it as the oracle for
this reader, row by row (its 3.4 vendors BuildKit from before ``<< EOF`` was allowed).

Reading the file (BuildKit's rules)
===================================

======================================  ===============================================
Dockerfile                              how :func:`parse_dockerfile` reads it
======================================  ===============================================
a UTF-8 BOM on line 1                   dropped
``# escape=\`` or ``# escape=```    at the top, before any instruction, comment or
                                        blank line: the escape and line-continuation
                                        character; anything else is an error, and so is
                                        a directive given twice
``# syntax=``, ``# check=``             directives too (recorded, no effect here); any
                                        other ``# key=value`` ends the directives
``#`` (after leading blanks)            a comment line: ignored
``\`` (or the escape) + blanks at end   the instruction continues on the next line; the
                                        escape character is removed, the rest is joined
                                        without a separator
a comment line inside a continuation    skipped, the instruction goes on
a blank line inside a continuation      skipped (BuildKit warns "Empty continuation line")
``RUN``/``COPY``/``ADD`` (and           shell-form words ``<<EOF``, ``<<-EOF``,
``ONBUILD`` of them) with ``<<WORD``    ``<<"EOF"``, ``<<'EOF'``, ``3<<EOF``, ``<< EOF``
                                        open heredocs, in order: the lines after the
                                        instruction up to a line equal to ``WORD`` are
                                        the document, not instructions
``<<-EOF``                              the terminator may be indented with tabs (and
                                        ``RUN`` strips leading tabs from the content)
``<<"EOF"`` / ``<<'EOF'``               the name is ``EOF``; the content is not expanded
``["exec", "form"]``                    a JSON string array: exec form, never heredocs;
                                        a JSON array of non-strings is an error
a heredoc without its terminator        an error: ``unterminated heredoc``
a line over 65,535 bytes                an error, as BuildKit's line scanner
an unknown instruction                  an error: ``unknown instruction: WORD``
======================================  ===============================================

A Dockerfile is at most :data:`archlab.limits.MAX_INPUT_FILE_BYTES` long. Engine 20.10's
classic builder (compose 1.x builds with it) and BuildKit before Dockerfile syntax 1.4 do not
know heredocs; archlab reads heredocs as 1.4 and later do, the syntax such a file was written
for.

How do I use it?
================

::

    from archlab.dockerfile import from_images
    for f in from_images("api/Dockerfile", {"RUBY_TAG": "3.1"}):
        print(f.line, f.kind, f.image, f.platform_flag, f.final)
    # 3 image 127.0.0.1:5000/lab/ruby:3.1 None True

The rules
=========

=====================================  ==================================================
Dockerfile                             what :func:`from_images` records
=====================================  ==================================================
``ARG NAME=default`` before the first  a *global* ARG: usable in ``FROM`` lines only. A
``FROM``                               build arg of the same name overrides the default;
                                       a build arg for an undeclared ARG is ignored (Docker
                                       warns that it was not consumed)
``ARG NAME`` (no default, no build     expands to ``""``; a ``FROM`` left with an empty
arg)                                   image is an error, as in BuildKit
``FROM img``                           ``kind="image"``: an external base, pulled
``FROM img AS name``                   the stage is called ``name`` (case-insensitive)
``FROM name`` (an earlier stage)       ``kind="stage"``: not an image; ``source_stage``
                                       is that stage's index
``FROM scratch``                       ``kind="scratch"``: nothing is pulled
``FROM --platform=$BUILDPLATFORM``     ``platform_var="BUILDPLATFORM"``: the base is
                                       pulled for the *builder's* platform, not the target
``FROM --platform=$TARGETPLATFORM``    ``platform_var="TARGETPLATFORM"``: the default
                                       anyway; pulled for the target platform
``FROM --platform=linux/amd64``        pulled for that platform
no ``--platform``                      pulled for the target platform (``docker build
                                       --platform``, compose's ``platform:``, else the
                                       daemon's own)
``RUN ...`` in a stage                 ``runs``: each RUN's line and argv as the builder
                                       shows it (shell form: ``/bin/sh -c <cmd>``). A RUN
                                       executes the base's binaries *during the build*, so
                                       a foreign base fails the build there
the last stage, or ``target=``         ``final=True``: the image the service runs
=====================================  ==================================================

``$BUILDPLATFORM``, ``$TARGETPLATFORM`` and their ``OS``/``ARCH``/``VARIANT`` parts are
BuildKit's automatic global ARGs; pass ``build_platform=``/``target_platform=`` to expand them
(the classic builder leaves them empty, which also means "the daemon's platform").

Expansion in ``FROM`` and ``ARG`` defaults follows the Dockerfile shell lexer: ``$VAR``,
``${VAR}``, ``${VAR:-word}``, ``${VAR-word}``, ``${VAR:+word}``, ``${VAR+word}``; the escape
character before any character makes it literal (``\$``, or ```$`` under ``# escape=```);
``'single'`` quotes are literal and ``"double"`` quotes expand, both removed.
``COPY --from=<image>`` (an image used without ``FROM``) is not followed.

Errors raise :class:`~archlab.errors.ComposeError` naming ``file:line``; a Dockerfile that
does not exist names the path looked for and, when given, who referred to it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from archlab import decoding, limits
from archlab.errors import ComposeError

__all__ = [
    "AUTOMATIC_ARGS", "INSTRUCTIONS", "Dockerfile", "FromLine", "Heredoc", "Instruction",
    "RunStep", "expand", "from_images", "parse_dockerfile", "read_dockerfile",
]

#: BuildKit's automatic platform ARGs (global scope, no declaration needed).
AUTOMATIC_ARGS: Final = (
    "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
    "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
)
_PLATFORM_VAR_RE: Final = re.compile(r"\$(?:\{(BUILDPLATFORM|TARGETPLATFORM)\}|"
                                     r"(BUILDPLATFORM|TARGETPLATFORM)\b)")
_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STAGE_NAME_RE: Final = re.compile(r"[a-z][a-z0-9._-]*")
#: Every instruction BuildKit knows (``frontend/dockerfile/command``); others are errors.
INSTRUCTIONS: Final = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
_HEREDOC_INSTRUCTIONS: Final = frozenset({"RUN", "COPY", "ADD"})
_JSON_INSTRUCTIONS: Final = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD",
                                       "VOLUME"})
#: BuildKit reads lines with Go's bufio.Scanner, whose token limit is 64 KiB.
_MAX_LINE_BYTES: Final = 65535
#: What Go's unicode.IsSpace accepts (str.isspace also takes \x1c-\x1f, which Go does not).
_SPACE: Final = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                 "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_DIRECTIVE_RE: Final = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)"
                                  r"[\t\n\f\r ]*\Z", re.S)
_DIRECTIVES: Final = ("syntax", "escape", "check")
_CMD_SPLIT_RE: Final = re.compile(r"[\t\v\f\r ]+")
_HEREDOC_RE: Final = re.compile(r"(\d*)<<(-?)[\t\n\f\r ]*([^<]*)\Z", re.S)


@dataclass(frozen=True)
class Heredoc:
    """One here-document of a ``RUN``/``COPY``/``ADD``: ``<<EOF`` ... ``EOF``."""

    name: str  # the terminator, quotes removed
    content: str  # every line up to the terminator, newlines kept, as written
    fd: int = 0  # ``3<<EOF`` feeds file descriptor 3
    chomp: bool = False  # ``<<-EOF``: leading tabs are stripped
    expand: bool = True  # False when the name was quoted (``<<"EOF"``)

    @property
    def text(self) -> str:
        """The content as ``RUN`` sees it (leading tabs removed for ``<<-``)."""
        return re.sub(r"(?m)^\t+", "", self.content) if self.chomp else self.content


@dataclass(frozen=True)
class Instruction:
    """One instruction as BuildKit's parser returns it (continuations joined)."""

    cmd: str  # upper case: ``FROM``, ``RUN`` ...
    flags: tuple[str, ...]  # ``--platform=linux/amd64``, as written
    args: str  # the rest after the flags, trimmed
    original: str  # the joined line, e.g. ``RUN apt-get update     && apt-get install -y git``
    line: int  # 1-based, where it starts
    end_line: int  # where it ends (its last continuation or heredoc terminator)
    json: bool = False  # exec form: a JSON string array
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class Dockerfile:
    """A Dockerfile, read: its directives, escape character, instructions and warnings."""

    instructions: tuple[Instruction, ...]
    escape: str = "\\"
    directives: Mapping[str, str] = field(default_factory=dict)  # name -> value
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunStep:
    """One ``RUN``: its line and the command as the builder prints it."""

    line: int
    argv: tuple[str, ...]

    @property
    def command(self) -> str:
        """``/bin/sh -c bundle install``: what "The command '...' returned" quotes."""
        return " ".join(self.argv)


@dataclass(frozen=True)
class FromLine:
    """One ``FROM`` of a Dockerfile, resolved (see the module docstring)."""

    path: Path
    line: int  # 1-based, where the FROM instruction starts
    stage: int  # the stage's index, from 0
    name: str | None  # ``AS name``, lowercased
    text: str  # the instruction as written (continuations joined)
    kind: Literal["image", "stage", "scratch"]
    image: str | None  # the expanded base reference, for kind == "image"
    source_stage: int | None  # for kind == "stage": the earlier stage it continues
    platform_flag: str | None  # ``--platform=`` as written
    platform: str | None  # ``--platform=`` expanded ("" when it expanded to nothing)
    platform_var: Literal["BUILDPLATFORM", "TARGETPLATFORM"] | None
    runs: tuple[RunStep, ...]
    final: bool
    needed: bool  # the final stage depends on it (BuildKit builds only these)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


# ---------------------------------------------------------------------------------------------
# Expansion (frontend/dockerfile/shell/lex.go: one word, quotes removed)


def expand(text: str, args: Mapping[str, str], *, where: str = "", escape: str = "\\") -> str:
    """Expand ``$VAR``-style references in ``text`` as the Dockerfile lexer does.

    Unknown variables expand to ``""``. Quotes are removed (``'...'`` literal, ``"..."``
    expanded); ``escape`` (the file's escape character) makes the next character literal.
    ``where`` (``file:line``) prefixes error messages.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == escape:
            out.append(text[i + 1:i + 2])  # an escape at the very end vanishes
            i += 2
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ComposeError(f"{where}: unexpected end of statement while looking for "
                                   f"matching single-quote in {text!r}")
            out.append(text[i + 1:end])
            i = end + 1
        elif c == '"':
            i = _double_quoted(text, i + 1, args, where, escape, out)
        elif c == "$":
            i = _dollar(text, i, args, where, out)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _double_quoted(text: str, i: int, args: Mapping[str, str], where: str, escape: str,
                   out: list[str]) -> int:
    """Append the inside of a ``"..."`` starting at ``i``; return the index after it."""
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return i + 1
        if c == "$":
            i = _dollar(text, i, args, where, out)
            continue
        if c == escape and i + 1 < n and text[i + 1] in ('"', "$", escape):
            out.append(text[i + 1])  # only these can be escaped inside double quotes
            i += 2
            continue
        out.append(c)
        i += 1
    raise ComposeError(f"{where}: unexpected end of statement while looking for matching "
                       f"double-quote in {text!r}")


def _dollar(text: str, i: int, args: Mapping[str, str], where: str, out: list[str]) -> int:
    n = len(text)
    if i + 1 < n and text[i + 1] == "{":
        end = _closing_brace(text, i + 2)
        if end < 0:
            raise ComposeError(f"{where}: missing '}}' in {text!r}")
        out.append(_expand_braced(text[i + 2:end], args, where, text))
        return end + 1
    m = _NAME_RE.match(text, i + 1)
    if m is None:  # a lone "$" stays as it is
        out.append("$")
        return i + 1
    out.append(args.get(m.group(), ""))
    return m.end()


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _expand_braced(body: str, args: Mapping[str, str], where: str, whole: str) -> str:
    m = _NAME_RE.match(body)
    if m is None:
        raise ComposeError(f"{where}: bad substitution {'${' + body + '}'!r} in {whole!r}")
    name, rest = m.group(), body[m.end():]
    value = args.get(name)
    if rest == "":
        return value or ""
    for op in (":-", ":+", "-", "+"):
        if rest.startswith(op):
            word = expand(rest[len(op):], args, where=where)
            if op == ":-":
                return value if value else word
            if op == "-":
                return value if value is not None else word
            if op == ":+":
                return word if value else ""
            return word if value is not None else ""
    raise ComposeError(f"{where}: unsupported modifier {rest[:2]!r} in {'${' + body + '}'!r}")


def _platform_args(prefix: str, platform: str | None) -> dict[str, str]:
    if not platform:
        return {}
    parts = platform.split("/")
    os_, arch, variant = ([*parts, "", "", ""])[:3]
    return {f"{prefix}PLATFORM": platform, f"{prefix}OS": os_, f"{prefix}ARCH": arch,
            f"{prefix}VARIANT": variant}


# ---------------------------------------------------------------------------------------------
# Reading (frontend/dockerfile/parser). Written here, not taken from a library: see "Which
# reader?" in the module docstring.


def _lines(text: str) -> Iterator[str]:
    """Physical lines with their ``\\n`` (only ``\\n`` ends a line, as in Go's scanner)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _is_comment(line: str) -> bool:
    return line.rstrip("\r\n").lstrip(_SPACE).startswith("#")


class _Directives:
    """``# escape=`` and friends: only at the top, each at most once."""

    def __init__(self) -> None:
        self.escape = "\\"
        self.seen: dict[str, str] = {}
        self.done = False
        self._continuation = _continuation_re(self.escape)

    def feed(self, token: str) -> None:
        """Look at one (left-trimmed) line while directives may still come."""
        if self.done:
            return
        m = _DIRECTIVE_RE.match(token[1:].lstrip(_SPACE)) if token.startswith("#") else None
        key = m.group(1).lower() if m else None
        if m is None or key not in _DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise ValueError(f"only one {key} parser directive can be used")
        self.seen[key] = m.group(2)
        if key == "escape":
            if m.group(2) not in ("\\", "`"):
                raise ValueError(f"invalid escape token '{m.group(2)}' does not match ` or \\")
            self.escape = m.group(2)
            self._continuation = _continuation_re(self.escape)

    def continues(self, line: str) -> tuple[str, bool]:
        """(line without its continuation escape, whether the next line continues it)."""
        m = self._continuation.search(line)
        if m is None:
            return line, False
        return line[:m.start()] + (m.group(1) or ""), True


def _continuation_re(escape: str) -> re.Pattern[str]:
    # The escape at the end continues the line unless another escape precedes it; alone on a
    # line it continues too.
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")


def _split_command(line: str, escape: str) -> tuple[str, tuple[str, ...], str]:
    """``RUN --mount=x echo hi`` -> ("RUN", ("--mount=x",), "echo hi")."""
    parts = _CMD_SPLIT_RE.split(line.strip(_SPACE), maxsplit=1)
    if len(parts) < 2:
        return parts[0], (), ""
    rest, flags = _builder_flags(parts[1], escape)
    return parts[0], flags, rest.strip(_SPACE)


def _builder_flags(line: str, escape: str) -> tuple[str, tuple[str, ...]]:
    """Leading ``--flag`` words (quotes and escapes removed) and the text after them."""
    flags: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return "", tuple(flags)
        if not line.startswith("--", i):
            return line[i:], tuple(flags)
        word: list[str] = []
        quoted = False
        while i < n and line[i] not in _SPACE:
            c = line[i]
            if c in "'\"":
                quoted = True
                end = i + 1
                while end < n and line[end] != c:
                    if line[end] == escape and end + 1 < n:
                        end += 1
                    word.append(line[end])
                    end += 1
                i = end + 1
                continue
            if c == escape:
                i += 1
                if i >= n:
                    break
                c = line[i]
            word.append(c)
            i += 1
        text = "".join(word)
        if text == "--":
            return line[i:], tuple(flags)
        if text or quoted:
            flags.append(text)


def _json_array(args: str) -> list[str] | None:
    """The exec form's argv, or None for the shell form; non-strings are an error."""
    text = args.lstrip(_SPACE)
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise ValueError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(name)  # Go's JSON has no NaN/Infinity: not an exec form there either


def _shell_words(line: str) -> list[str]:
    """Words of a line as BuildKit's heredoc finder lexes them: quotes and escapes kept.

    An unterminated quote yields no words at all (BuildKit ignores the lexer's error, so such
    a line opens no heredoc).
    """
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c in "'\"":
            end = i + 1
            while end < n and line[end] != c:
                end += 2 if c == '"' and line[end] == "\\" else 1
            if end >= n:
                return []
            word.append(line[i:end + 1])
            in_word = True
            i = end + 1
        elif c == "\\":
            word.append(line[i:i + 2])
            in_word = True
            i += 2
        elif line.startswith("<<", i):  # since dockerfile 1.15 blanks may follow <<
            j = i + 2
            while j < n and line[j] in " \t\n\r\f\v":
                j += 1
            word.append(line[i:j])
            in_word = True
            i = j
        elif c in _SPACE:
            if in_word and word:
                words.append("".join(word))
                word = []
                in_word = False
            i += 1
        else:
            word.append(c)
            in_word = True
            i += 1
    if word:
        words.append("".join(word))
    return words


def _unquote_word(text: str) -> tuple[str, bool]:
    """A heredoc name with quotes and escapes removed, and whether any quote was removed."""
    out: list[str] = []
    quoted = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            end = text.find(c, i + 1)
            if end < 0:
                raise ValueError(f"unexpected end of statement while looking for matching "
                                 f"{'single' if c == chr(39) else 'double'}-quote")
            out.append(text[i + 1:end])
            quoted = True
            i = end + 1
        elif c == "\\":
            out.append(text[i + 1:i + 2])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out), quoted


def _heredocs_in(line: str) -> list[Heredoc]:
    docs = []
    for word in _shell_words(line):
        m = _HEREDOC_RE.match(word)
        if m is None or not m.group(3):
            continue
        rest = m.group(3)
        if len([w for w in _shell_words(rest) if w]) != 1:
            continue
        name, quoted = _unquote_word(rest)
        docs.append(Heredoc(name=name, content="", fd=int(m.group(1) or 0),
                            chomp=m.group(2) == "-", expand=not quoted))
    return docs


def _can_hold_heredoc(cmd: str, args: str, escape: str) -> bool:
    if cmd == "ONBUILD":  # ONBUILD RUN <<EOF: the heredoc belongs to the trigger
        cmd, _flags, args = _split_command(args, escape)
        cmd = cmd.upper()
    if cmd not in _HEREDOC_INSTRUCTIONS:
        return False
    try:
        return _json_array(args) is None
    except ValueError:
        return False


def parse_dockerfile(text: str, *, where: str = "Dockerfile") -> Dockerfile:
    """Read a Dockerfile's text into instructions, by BuildKit's rules (module docstring).

    ``where`` names the file in errors, which are :class:`ComposeError` with
    ``where:line: ...``.
    """
    d = _Directives()
    lines = _lines(text.removeprefix("\ufeff"))
    number = 0
    out: list[Instruction] = []
    warnings: list[str] = []

    def read(raw: str) -> str:
        nonlocal number
        number += 1
        if len(raw.rstrip("\r\n").encode("utf-8", "surrogatepass")) > _MAX_LINE_BYTES:
            raise ComposeError(f"{where}:{number}: dockerfile line greater than max allowed "
                               f"size of {_MAX_LINE_BYTES}")
        return raw.rstrip("\r\n")

    def directive(token: str) -> None:
        try:
            d.feed(token)
        except ValueError as e:
            raise ComposeError(f"{where}:{number}: {e}") from None

    for raw in lines:
        token = read(raw).lstrip(_SPACE)
        directive(token)
        if token.startswith("#"):
            continue
        start = number
        line, more = d.continues(token)
        if not more and not line:
            continue
        empty_continuation = False
        while more:
            nxt = next(lines, None)
            if nxt is None:
                break
            body = read(nxt)
            directive(body)
            if _is_comment(body):
                continue
            if not body.lstrip(_SPACE):
                empty_continuation = True
                continue
            body, more = d.continues(body)
            line += body
        cmd_word, flags, args = _split_command(line, d.escape)
        cmd = cmd_word.upper()
        if empty_continuation:
            warnings.append(f"{where}:{number}: Empty continuation line found in: {line}")
        if cmd not in INSTRUCTIONS:
            raise ComposeError(f"{where}:{start}: unknown instruction: {cmd_word}")
        try:
            exec_form = cmd in _JSON_INSTRUCTIONS and _json_array(args) is not None
        except ValueError as e:
            raise ComposeError(f"{where}:{start}: {e}") from None
        docs: list[Heredoc] = []
        if "<<" in line and _can_hold_heredoc(cmd, args, d.escape):
            try:
                found = _heredocs_in(line)
            except ValueError as e:
                raise ComposeError(f"{where}:{start}: {e}") from None
            for doc in found:
                content: list[str] = []
                for body_raw in lines:
                    body = read(body_raw)
                    end = body.lstrip("\t") if doc.chomp else body
                    if end == doc.name:
                        break
                    content.append(body_raw)
                else:
                    raise ComposeError(f"{where}:{start}: unterminated heredoc {doc.name!r} "
                                       f"(no line {doc.name!r} after it, up to line {number})")
                docs.append(Heredoc(doc.name, "".join(content), doc.fd, doc.chomp, doc.expand))
        out.append(Instruction(cmd=cmd, flags=flags, args=args, original=line, line=start,
                               end_line=number, json=exec_form, heredocs=tuple(docs)))
    if not out:
        raise ComposeError(f"{where}: no FROM instruction (file with no instructions); a "
                           "Dockerfile must have at least one")
    return Dockerfile(instructions=tuple(out), escape=d.escape, directives=dict(d.seen),
                      warnings=tuple(warnings))


def read_dockerfile(path: str | os.PathLike[str], *, referenced_from: str | None = None
                    ) -> Dockerfile:
    """:func:`parse_dockerfile` on a file, at most :data:`~archlab.limits.MAX_INPUT_FILE_BYTES`.

    ``referenced_from`` (e.g. ``docker-compose.yml:12: service "api"``) is put in front of
    the message when the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        who = f"{referenced_from}: " if referenced_from else ""
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ComposeError(f"{who}Dockerfile not found: {path} {what}")
    text = decoding.read_text(path, max_bytes=limits.MAX_INPUT_FILE_BYTES, what="Dockerfile",
                              error=ComposeError)
    return parse_dockerfile(text, where=str(path))


# ---------------------------------------------------------------------------------------------
# Resolving the FROM lines


def _run_argv(ins: Instruction) -> tuple[str, ...]:
    """The argv of a RUN: exec form as given, shell form through ``/bin/sh -c``.

    A RUN that is one heredoc runs its content (``#!`` content runs as a file); other
    heredocs are handed to the shell after the command (BuildKit's dispatchRun).
    """
    if ins.json:
        return tuple(_json_array(ins.args) or ())
    text = ins.args
    if ins.heredocs:
        only = ins.heredocs[0]
        m = _HEREDOC_RE.match(text)
        if len(ins.heredocs) == 1 and " " not in text.strip() and m and only.fd == 0:
            body = only.text
            if body.startswith("#!"):
                return ("/bin/sh", "-c", f"/dev/pipes/{only.name}")
            return ("/bin/sh", "-c", body)
        text += "".join(f"\n{doc.content}{doc.name}" for doc in ins.heredocs)
    return ("/bin/sh", "-c", text)


def _split_from(ins: Instruction, where: str) -> tuple[str | None, str, str | None]:
    """``FROM --platform=X img AS name`` -> (flag value, image text, stage name)."""
    flag = None
    for raw in ins.flags:
        key, eq, val = raw.partition("=")
        if key != "--platform":
            raise ComposeError(f"{where}: unknown flag: {key.lstrip('-')}")
        if not eq:
            raise ComposeError(f"{where}: --platform needs a value: --platform=os/arch")
        flag = val
    words = [w for w in _CMD_SPLIT_RE.split(ins.args) if w] if ins.args else []
    if len(words) == 1:
        return flag, words[0], None
    if len(words) == 3 and words[1].lower() == "as":
        return flag, words[0], words[2]
    raise ComposeError(f"{where}: FROM requires either one or three arguments "
                       f"(FROM [--platform=P] image [AS name]), got {ins.args!r}")


def _arg_words(text: str, escape: str) -> list[str]:
    """``A=1 "B=two words"`` -> the ARG's words (BuildKit's parseWords: quotes kept)."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == escape and i + 1 < n:
                word.append(text[i:i + 2])
                i += 2
                continue
            if c == quote:
                quote = ""
            word.append(c)
        elif c in _SPACE:
            if word:
                words.append("".join(word))
                word = []
        else:
            if c in "'\"":
                quote = c
            elif c == escape and i + 1 < n:
                word.append(text[i:i + 2])
                i += 2
                continue
            word.append(c)
        i += 1
    if word:
        words.append("".join(word))
    return words


def from_images(
    dockerfile_path: str | os.PathLike[str],
    build_args: Mapping[str, str] | None = None,
    *,
    target: str | None = None,
    build_platform: str | None = None,
    target_platform: str | None = None,
    referenced_from: str | None = None,
) -> list[FromLine]:
    """Every ``FROM`` of the Dockerfile, in order, resolved as described in the module docstring.

    ``target`` names the stage that is built (compose's ``build.target``); by default the last
    one. ``referenced_from`` (e.g. ``docker-compose.yml:12: service "api"``) is put in front of
    the message when the file does not exist.
    """
    path = Path(dockerfile_path)
    parsed = read_dockerfile(path, referenced_from=referenced_from)
    escape = parsed.escape

    build_args = dict(build_args or {})
    automatic = {**_platform_args("BUILD", build_platform),
                 **_platform_args("TARGET", target_platform)}
    global_args: dict[str, str] = dict(automatic)
    stages: list[dict] = []
    for ins in parsed.instructions:
        kind = ins.cmd
        where = f"{path}:{ins.line}"
        if kind == "ARG" and not stages:
            words = _arg_words(ins.args, escape)
            if not words:
                raise ComposeError(f"{where}: ARG requires at least one argument")
            for word in words:
                name, eq, default = word.partition("=")
                if not _NAME_RE.fullmatch(name):
                    raise ComposeError(f"{where}: ARG needs a name, got {word!r}")
                if name in build_args:
                    global_args[name] = build_args[name]
                elif eq:
                    global_args[name] = expand(default, global_args, where=where, escape=escape)
                else:
                    global_args.setdefault(name, "")
        elif kind == "FROM":
            flag, image_text, alias = _split_from(ins, where)
            stages.append({"line": ins.line, "text": ins.original.strip(), "flag": flag,
                           "image_text": image_text, "alias": alias, "runs": [],
                           "copies": []})
        elif kind == "RUN" and stages:
            stages[-1]["runs"].append(RunStep(ins.line, _run_argv(ins)))
        elif kind == "COPY" and stages:
            for flag in ins.flags:
                if flag.startswith("--from="):
                    stages[-1]["copies"].append(flag.removeprefix("--from="))
        elif not stages and kind != "ARG":
            raise ComposeError(f"{where}: {kind} before the first FROM; a Dockerfile must "
                               "start with FROM (only ARG may come before it)")
    if not stages:
        raise ComposeError(f"{path}: no FROM instruction; a Dockerfile must have at least one")

    names: dict[str, int] = {}
    resolved: list[dict] = []
    for i, st in enumerate(stages):
        where = f"{path}:{st['line']}"
        image = expand(st["image_text"], global_args, where=where, escape=escape)
        if not image:
            raise ComposeError(f"{where}: base name ({st['image_text']}) should not be blank")
        platform = None if st["flag"] is None else expand(st["flag"], global_args, where=where,
                                                          escape=escape)
        m = _PLATFORM_VAR_RE.fullmatch(st["flag"] or "")
        var = (m.group(1) or m.group(2)) if m else None
        low = image.lower()
        if low in names:
            kind, ref, source = "stage", None, names[low]
        elif low == "scratch":
            kind, ref, source = "scratch", None, None
        else:
            kind, ref, source = "image", image, None
        alias = st["alias"].lower() if st["alias"] else None
        if alias is not None:
            if not _STAGE_NAME_RE.fullmatch(alias):
                raise ComposeError(f"{where}: invalid name for build stage: {st['alias']!r}, "
                                   "name can't start with a number or contain symbols")
            if alias in names:
                raise ComposeError(f"{where}: duplicate stage name {alias!r}")
            names[alias] = i
        resolved.append(dict(st, kind=kind, image=ref, source=source, platform=platform,
                             var=var, alias=alias))

    if target is not None:
        final = names.get(target.lower())
        if final is None:
            raise ComposeError(f"{path}: failed to reach build target {target} in Dockerfile "
                               f"(stages: {', '.join(names) or 'none named'})")
    else:
        final = len(resolved) - 1
    needed = _needed(resolved, names, final)
    return [
        FromLine(path=path, line=st["line"], stage=i, name=st["alias"], text=st["text"],
                 kind=st["kind"], image=st["image"], source_stage=st["source"],
                 platform_flag=st["flag"], platform=st["platform"], platform_var=st["var"],
                 runs=tuple(st["runs"]), final=i == final, needed=i in needed)
        for i, st in enumerate(resolved)
    ]


def _needed(stages: list[dict], names: Mapping[str, int], final: int) -> set[int]:
    """Stages the final one depends on through ``FROM <stage>`` and ``COPY --from=<stage>``."""
    seen: set[int] = set()
    todo = [final]
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        st = stages[i]
        if st["source"] is not None:
            todo.append(st["source"])
        for ref in st["copies"]:
            # ASCII and short: "²".isdigit() is true but int("²") raises, and so does int() of
            # 4,300 digits (found by fuzzing); no stage index is that long anyway.
            if ref.isascii() and ref.isdigit() and len(ref) < 10 and int(ref) < i:
                todo.append(int(ref))
            elif ref.lower() in names and names[ref.lower()] < i:
                todo.append(names[ref.lower()])
    return seen
