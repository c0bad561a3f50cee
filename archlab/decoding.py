"""Decoding untrusted input within limits: files, text, JSON and YAML.

What it is for
--------------
archlab reads bytes it does not control: manifests and token responses from registries, files
people paste in (compose files, ``.env``, reference lists, host profiles), and its own cache,
snapshots and state on disk. Python's own readers trust their input: ``Path.read_bytes()`` on a
link to ``/dev/zero`` reads until memory runs out, ``json.loads("[" * 100_000)`` raises
``RecursionError``, and ``yaml.safe_load`` of a "billion laughs" document builds a graph whose
every walk is exponential. This module is the one place where input becomes Python values, and
it refuses, with archlab's own one-line error naming the input and what was wrong, anything
beyond the limits in :mod:`archlab.limits` *before* the bytes are materialised.

How do I use it?
----------------
::

    from archlab import decoding, limits
    from archlab.errors import ManifestError

    raw = decoding.read_file(path, max_bytes=limits.MAX_INPUT_FILE_BYTES, what="docker config")
    doc = decoding.load_json(raw, what=str(path))                 # InputError when refused
    doc = decoding.load_json(body, what="manifest lab/mysql:5.7", error=ManifestError)
    node = decoding.compose_yaml(text, what=str(path))            # a node tree, with line marks
    data = decoding.load_yaml(text, what=str(path))               # plain Python values

Every function takes ``what`` (the name the message starts with: a path, or a phrase such as
``manifest lab/mysql:5.7``) and ``error`` (the :class:`~archlab.errors.ArchlabError` subclass to
raise, so a manifest stays a :class:`~archlab.errors.ManifestError` and a compose file a
:class:`~archlab.errors.ComposeError`; :class:`~archlab.errors.InputError` by default).

The rules
---------
=====================  ==========================================================================
input                  rule (and why)
=====================  ==========================================================================
a file                 read only if it is a regular file *once opened*: the path is opened
                       (symlinks followed, non-blocking so a FIFO cannot hang the open) and the
                       open descriptor is ``fstat``-ed, so a directory, FIFO, socket or device
                       (a link to ``/dev/zero``) is refused and no race can swap it in after
                       the check; never more than ``max_bytes + 1`` bytes are read
size                   counted in bytes before anything is decoded (characters for ``str``)
text                   strict UTF-8, refused with the byte offset and line of the first bad
                       byte; one leading byte-order mark is skipped (Windows editors write one)
                       unless ``allow_bom=False`` (registry documents: Go's decoder refuses it)
JSON depth             arrays and objects nested deeper than ``max_depth`` are refused by a
                       linear scan of the brackets outside strings *before* ``json`` parses
                       (its C parser recurses and raises ``RecursionError``)
JSON values            RFC 8259: ``NaN`` and ``Infinity`` are refused (Go refuses them too);
                       for a repeated key the last wins, as in Go; integers longer than
                       Python's 4300 digits are refused by ``json`` itself
YAML loader            ``yaml.SafeLoader`` (no Python objects); the pure-Python composer, not
                       libyaml's, because its node-by-node recursion is where the limits hook in
YAML depth             more than ``max_depth`` nested collections refused while composing, the
                       moment the node opens; nesting reached through aliases (``b: [*a]``,
                       ``c: [*b]``, ...) counts too, so no reader that recurses can overflow
YAML aliases           more than ``max_aliases`` ``*alias`` uses refused; an alias to a node
                       that contains it (a cycle) refused
YAML expanded nodes    the tree as a reader walking it sees it (every alias expanded) counted
                       as it is composed, in O(nodes) time; more than ``max_nodes`` refused, so
                       a billion-laughs document stops after a few thousand nodes
YAML values            a scalar that resolves to a bad value (``2001-02-30``, a 5000-digit
                       integer) is refused with its line, like a syntax error
text in messages       :func:`shown` escapes what a terminal would act on (control and format
                       characters, such as ESC or U+202E) before input is quoted in a message
=====================  ==========================================================================

Messages read ``<what>: <problem>`` or, where YAML gives a position, ``<what>:<line>:<column>:
<problem>``. The limits (``MAX_JSON_DEPTH``, ``MAX_YAML_NODES``, ...) are in :mod:`archlab.limits`.
"""

from __future__ import annotations

import codecs
import errno
import io
import json
import os
import re
import stat
from collections.abc import Callable
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal, overload

import yaml

from archlab import limits
from archlab.errors import ArchlabError, InputError

__all__ = [
    "compose_yaml",
    "construct_yaml",
    "decode_text",
    "first_unprintable",
    "json_depth",
    "load_json",
    "load_yaml",
    "read_file",
    "read_text",
    "shown",
]

ErrorType = Callable[[str], ArchlabError]


def _size(n: int) -> str:
    for unit, scale in (("GiB", limits.MiB * 1024), ("MiB", limits.MiB), ("KiB", limits.KiB)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


# ---------------------------------------------------------------------------------------------
# Files

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a file of an unknown kind"


@overload
def read_file(
    path: str | os.PathLike[str], *, max_bytes: int, what: str,
    error: ErrorType = ..., missing_ok: Literal[False] = ...,
) -> bytes: ...
@overload
def read_file(
    path: str | os.PathLike[str], *, max_bytes: int, what: str,
    error: ErrorType = ..., missing_ok: bool,
) -> bytes | None: ...
def read_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int,
    what: str,
    error: ErrorType = InputError,
    missing_ok: bool = False,
) -> bytes | None:
    """The bytes of the regular file at ``path``, at most ``max_bytes`` of them.

    ``what`` names the file's role in messages (``"compose file"``): ``<path>: cannot read the
    <what>: ...``. A missing file raises ``error`` too, unless ``missing_ok`` (then ``None``).
    """
    path = Path(path)
    shown_path = shown(str(path))  # a name with ESC in it must not drive the terminal
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise error(f"{shown_path}: no such {what}") from None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR and missing_ok:
            return None
        raise error(f"{shown_path}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{shown_path}: cannot read the {what}: it is {_kind(st.st_mode)}, not a "
                        "regular file (archlab reads only files, or links to files)")
        if st.st_size > max_bytes:
            raise error(_too_big(shown_path, what, f"{st.st_size} bytes", max_bytes))
        # The size can change after fstat; read one byte past the cap to notice, never more.
        os.set_blocking(fd, True)
        with io.FileIO(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise error(_too_big(shown_path, what, f"more than {max_bytes} bytes", max_bytes))
        return data
    except OSError as exc:
        raise error(f"{shown_path}: cannot read the {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _too_big(path: str, what: str, size: str, max_bytes: int) -> str:
    return (f"{path}: the {what} is {size}, more than the {_size(max_bytes)} archlab reads; "
            "is it the right file?")


def read_text(
    path: str | os.PathLike[str],
    *,
    max_bytes: int,
    what: str,
    error: ErrorType = InputError,
) -> str:
    """:func:`read_file` and :func:`decode_text`: a regular file's UTF-8 text, BOM skipped."""
    data = read_file(path, max_bytes=max_bytes, what=what, error=error)
    return decode_text(data, what=str(path), error=error)


# ---------------------------------------------------------------------------------------------
# Text


def decode_text(
    data: bytes, *, what: str, error: ErrorType = InputError, allow_bom: bool = True
) -> str:
    """``data`` as strict UTF-8; one leading byte-order mark is skipped if ``allow_bom``."""
    if data.startswith(codecs.BOM_UTF8):
        if not allow_bom:
            raise error(f"{what}: starts with a UTF-8 byte-order mark, which Go's JSON "
                        "decoder (and so Docker) refuses")
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{what}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}, "
            f"line {line}); save it as UTF-8"
        ) from None


def first_unprintable(text: str) -> int | None:
    """The index of the first character a terminal would not simply print, or None.

    That is Python's ``str.isprintable`` test (controls, format characters such as U+202E and
    U+FEFF, separators other than the space, surrogates, unassigned code points) with the
    space allowed.
    """
    if text.isprintable():  # the common case, in C
        return None
    return next(i for i, c in enumerate(text) if not (c.isprintable() or c == " "))


def shown(text: str) -> str:
    """``text`` with every unprintable character escaped (``\\x1b``, ``\\u202e``), to quote
    untrusted input in a message without letting it move the cursor or recolour a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " "
                   else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in text)


def _text(data: bytes | str, what: str, error: ErrorType, max_bytes: int, allow_bom: bool
          ) -> str:
    if len(data) > max_bytes:
        unit = "bytes" if isinstance(data, bytes) else "characters"
        raise error(f"{what}: is {len(data)} {unit}, more than the {_size(max_bytes)} "
                    "archlab reads")
    if isinstance(data, bytes | bytearray | memoryview):
        return decode_text(bytes(data), what=what, error=error, allow_bom=allow_bom)
    if not isinstance(data, str):
        raise TypeError(f"expected bytes or str, got {type(data).__name__}")
    if data.startswith("\ufeff"):
        if not allow_bom:
            raise error(f"{what}: starts with a byte-order mark, which Go's JSON decoder "
                        "(and so Docker) refuses")
        data = data[1:]
    return data


# ---------------------------------------------------------------------------------------------
# JSON

# A string literal, or what is left of an unterminated one (to the end): matching never fails
# once it starts at a quote, so the scan stays linear on any input. Possessive quantifiers keep
# the regex engine from backtracking.
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.?)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text``, counted without parsing it.

    Brackets inside strings do not count. For invalid JSON the answer is still an upper
    bound of what a parser would build, which is all the check needs.
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    opening = brackets.count("[") + brackets.count("{")
    if opening <= 1:
        return opening
    return max(accumulate(_DEPTH_STEP[c] for c in brackets))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def load_json(
    data: bytes | str,
    *,
    what: str,
    max_bytes: int = limits.MAX_JSON_BYTES,
    max_depth: int = limits.MAX_JSON_DEPTH,
    error: ErrorType = InputError,
    allow_bom: bool = True,
    hint: str = "",
) -> Any:
    """Parse one JSON document within the limits; ``error`` for anything refused.

    ``data`` as bytes must be UTF-8 (see the module's rules for the BOM); its size is checked
    first, then its depth, and only then is it parsed. ``hint`` is added to the message for
    text that is not JSON at all (what such text usually is, where the caller knows).
    """
    text = _text(data, what, error, max_bytes, allow_bom)
    depth = json_depth(text)
    if depth > max_depth:
        raise error(f"{what}: nests arrays and objects {depth} deep, more than the {max_depth} "
                    "archlab reads; no real document is nested that deeply")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:  # JSONDecodeError, and over-long integers
        raise error(f"{what}: is not valid JSON ({exc}){'; ' + hint if hint else ''}") from None


# ---------------------------------------------------------------------------------------------
# YAML


class _Refused(yaml.MarkedYAMLError):
    """A limit was hit while composing; carries the mark of the node that crossed it."""


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` whose composer counts depth, aliases and expanded nodes as it goes.

    PyYAML's composer is recursive (one Python frame per nesting level) and shares a node
    for every alias, so the node graph stays small while every walk of it, and every
    ``construct`` that copies merges, is exponential. Counting each node's expanded size
    as it is composed (1 + its children's, an alias counting as the whole node it names)
    costs O(nodes) and refuses a billion laughs after a few levels.
    """

    def __init__(self, stream: str, *, max_depth: int, max_aliases: int, max_nodes: int):
        super().__init__(stream)
        self._max_depth = max_depth
        self._max_aliases = max_aliases
        self._max_nodes = max_nodes
        self._depth = 0
        self._aliases = 0
        self._expanded: dict[int, int] = {}  # id(node) -> nodes with aliases expanded
        self._depth_of: dict[int, int] = {}  # id(node) -> nesting with aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if self._aliases > self._max_aliases:
                raise _Refused(None, None, f"more than {self._max_aliases} aliases (*name); "
                               "archlab reads no more", event.start_mark)
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) not in self._expanded:
                raise _Refused(None, None, f"alias *{event.anchor} refers to a node that "
                               "contains it; archlab does not read cyclic documents",
                               event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self._max_depth:
                raise _Refused(None, None, f"nests collections more than {self._max_depth} "
                               "deep; no real document is nested that deeply",
                               self.peek_event().start_mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        collection = isinstance(node, yaml.CollectionNode)
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = node.value if collection else []
        size = 1 + sum(self._expanded[id(child)] for child in children)
        if size > self._max_nodes:
            raise _Refused(None, None, f"expands to more than {self._max_nodes} nodes once "
                           "its aliases are followed (a 'billion laughs' document?); archlab "
                           "reads no more", node.start_mark)
        # Depth through aliases too: a chain of aliases each one level deeper than the last
        # nests without limit for any reader that walks it (and recurses).
        depth = collection + max((self._depth_of[id(child)] for child in children), default=0)
        if depth > self._max_depth:
            raise _Refused(None, None, f"nests collections more than {self._max_depth} deep "
                           "once its aliases are followed; no real document is nested that "
                           "deeply", node.start_mark)
        self._expanded[id(node)] = size
        self._depth_of[id(node)] = depth
        return node

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            # e.g. the timestamp 2001-02-30, or an integer past Python's digit limit
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark) from None


def _yaml_message(what: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context and problem.startswith("but "):  # "expected a single document ..., but found"
        problem = f"{context}, {problem}"
    elif context:
        problem = f"{problem} ({context})"
    if mark is None:
        return f"{what}: {problem}"
    return f"{what}:{mark.line + 1}:{mark.column + 1}: {problem}"


def compose_yaml(
    data: bytes | str,
    *,
    what: str,
    max_bytes: int = limits.MAX_YAML_BYTES,
    max_depth: int = limits.MAX_YAML_DEPTH,
    max_aliases: int = limits.MAX_YAML_ALIASES,
    max_nodes: int = limits.MAX_YAML_NODES,
    error: ErrorType = InputError,
) -> yaml.Node | None:
    """The YAML node tree of a single-document ``data`` (``None`` if empty), within limits.

    Nodes keep their ``start_mark`` (line and column) for messages that point into the file;
    :func:`construct_yaml` turns the tree into Python values.
    """
    text = _text(data, what, error, max_bytes, True)
    try:
        # The reader checks every character already in the constructor.
        loader = _BoundedLoader(text, max_depth=max_depth, max_aliases=max_aliases,
                                max_nodes=max_nodes)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise error(f"{what}:{line}:{column}: character {shown(chr(exc.character))} is not "
                    "allowed in YAML (a control character)") from None
    except yaml.YAMLError as exc:
        raise error(_yaml_message(what, exc)) from None


def construct_yaml(node: yaml.Node | None, *, what: str, error: ErrorType = InputError) -> Any:
    """Python values (dicts, lists, str, int, ...) of a tree from :func:`compose_yaml`."""
    if node is None:
        return None
    loader = _BoundedLoader("", max_depth=0, max_aliases=0, max_nodes=0)
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise error(_yaml_message(what, exc)) from None
    finally:
        loader.dispose()


def load_yaml(
    data: bytes | str,
    *,
    what: str,
    max_bytes: int = limits.MAX_YAML_BYTES,
    max_depth: int = limits.MAX_YAML_DEPTH,
    max_aliases: int = limits.MAX_YAML_ALIASES,
    max_nodes: int = limits.MAX_YAML_NODES,
    error: ErrorType = InputError,
) -> Any:
    """The Python values of a single YAML document, like ``yaml.safe_load``, within limits."""
    node = compose_yaml(data, what=what, max_bytes=max_bytes, max_depth=max_depth,
                        max_aliases=max_aliases, max_nodes=max_nodes, error=error)
    return construct_yaml(node, what=what, error=error)
