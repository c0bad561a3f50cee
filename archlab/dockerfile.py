"""Which images does a Dockerfile build on? Its ``FROM`` lines, resolved as the builder does.

A compose service with ``build:`` runs on whatever its Dockerfile's *final* stage starts
``FROM``. To predict whether that works on an arm64 host you need the base image's name after
``ARG`` substitution, the platform it is pulled for (``--platform=$BUILDPLATFORM`` changes
it), and whether a ``RUN`` step must execute the base's binaries during the build. This module
reads a Dockerfile with `dockerfile-parse <https://github.com/containerbuildsystem/
dockerfile-parse>`_ (for the instruction structure and line numbers) and resolves every
``FROM`` into a :class:`FromLine`.

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

Expansion in ``FROM`` follows the Dockerfile shell lexer: ``$VAR``, ``${VAR}``,
``${VAR:-word}``, ``${VAR-word}``, ``${VAR:+word}``, ``${VAR+word}``, and ``\\$`` for a
literal dollar. ``COPY --from=<image>`` (an image used without ``FROM``) is not followed.

Errors raise :class:`~archlab.errors.ComposeError` naming ``file:line``; a Dockerfile that
does not exist names the path looked for and, when given, who referred to it.
"""

from __future__ import annotations

import io
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from dockerfile_parse import DockerfileParser

from archlab import decoding, limits
from archlab.errors import ComposeError, InputError

__all__ = ["AUTOMATIC_ARGS", "FromLine", "RunStep", "expand", "from_images"]

#: BuildKit's automatic platform ARGs (global scope, no declaration needed).
AUTOMATIC_ARGS: Final = (
    "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
    "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
)
_PLATFORM_VAR_RE: Final = re.compile(r"\$(?:\{(BUILDPLATFORM|TARGETPLATFORM)\}|"
                                     r"(BUILDPLATFORM|TARGETPLATFORM)\b)")
_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STAGE_NAME_RE: Final = re.compile(r"[a-z][a-z0-9._-]*")


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
# Expansion


def expand(text: str, args: Mapping[str, str], *, where: str = "") -> str:
    """Expand ``$VAR``-style references in ``text`` as the Dockerfile lexer does.

    Unknown variables expand to ``""``. ``where`` (``file:line``) prefixes error messages.
    """
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        if c != "$":
            out.append(c)
            i += 1
            continue
        if i + 1 < n and text[i + 1] == "{":
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise ComposeError(f"{where}: missing '}}' in {text!r}")
            body = text[i + 2:end]
            out.append(_expand_braced(body, args, where, text))
            i = end + 1
            continue
        m = _NAME_RE.match(text, i + 1)
        if m is None:  # a lone "$" stays as it is
            out.append(c)
            i += 1
            continue
        out.append(args.get(m.group(), ""))
        i = m.end()
    return "".join(out)


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
# Parsing


def _run_argv(value: str) -> tuple[str, ...]:
    """The argv of a RUN value: exec form as given, shell form through ``/bin/sh -c``."""
    text = value.strip()
    while text.startswith("--"):  # RUN --mount=... --network=... flags come first
        _flag, _, text = text.partition(" ")
        text = text.lstrip()
    if text.startswith("["):
        try:  # within the depth limit: RUN [[[[... raised RecursionError
            argv = decoding.load_json(text, what="RUN", max_bytes=len(text))
        except InputError:
            argv = None
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            return tuple(argv)
    return ("/bin/sh", "-c", text)


def _split_from(value: str, where: str) -> tuple[str | None, str, str | None]:
    """``--platform=X img AS name`` -> (flag value, image text, stage name)."""
    try:
        words = shlex.split(value, posix=False)
    except ValueError:
        words = value.split()
    flag = None
    while words and words[0].startswith("--"):
        key, eq, val = words.pop(0).partition("=")
        if key != "--platform" or not eq:
            raise ComposeError(f"{where}: unknown flag: {key.lstrip('-')}"
                               if key != "--platform" else
                               f"{where}: --platform needs a value: --platform=os/arch")
        flag = val
    if len(words) == 1:
        return flag, words[0], None
    if len(words) == 3 and words[1].lower() == "as":
        return flag, words[0], words[2]
    raise ComposeError(f"{where}: FROM requires either one or three arguments "
                       f"(FROM [--platform=P] image [AS name]), got {value!r}")


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
    if not path.is_file():
        who = f"{referenced_from}: " if referenced_from else ""
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise ComposeError(f"{who}Dockerfile not found: {path} {what}")
    # Read here, within limits, and decoded as BuildKit does: strict UTF-8, a leading BOM
    # dropped (dockerfile-parse kept it, so the first FROM read as "\ufeffFROM" and vanished).
    text = decoding.read_text(path, max_bytes=limits.MAX_INPUT_FILE_BYTES, what="Dockerfile",
                              error=ComposeError)
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False,
                              cache_content=True)
    structure = parser.structure

    build_args = dict(build_args or {})
    automatic = {**_platform_args("BUILD", build_platform),
                 **_platform_args("TARGET", target_platform)}
    global_args: dict[str, str] = dict(automatic)
    stages: list[dict] = []
    for ins in structure:
        kind, value = ins["instruction"], ins["value"]
        line = ins["startline"] + 1
        where = f"{path}:{line}"
        if kind == "ARG" and not stages:
            name, eq, default = value.strip().partition("=")
            name = name.strip()
            if not _NAME_RE.fullmatch(name):
                raise ComposeError(f"{where}: ARG needs a name, got {value!r}")
            if name in build_args:
                global_args[name] = build_args[name]
            elif eq:
                global_args[name] = expand(_unquote(default.strip()), global_args, where=where)
            else:
                global_args.setdefault(name, "")
        elif kind == "FROM":
            flag, image_text, alias = _split_from(value, where)
            stages.append({"line": line, "text": ins["content"].strip(), "flag": flag,
                           "image_text": image_text, "alias": alias, "runs": [],
                           "copies": []})
        elif kind == "RUN" and stages:
            stages[-1]["runs"].append(RunStep(line, _run_argv(value)))
        elif kind == "COPY" and stages:
            m = re.search(r"--from=(\S+)", value)
            if m:
                stages[-1]["copies"].append(m.group(1))
        elif stages == [] and kind not in ("ARG", "COMMENT"):
            raise ComposeError(f"{where}: {kind} before the first FROM; a Dockerfile must "
                               "start with FROM (only ARG may come before it)")
    if not stages:
        raise ComposeError(f"{path}: no FROM instruction; a Dockerfile must have at least one")

    names: dict[str, int] = {}
    resolved: list[dict] = []
    for i, st in enumerate(stages):
        where = f"{path}:{st['line']}"
        image = expand(st["image_text"], global_args, where=where)
        if not image:
            raise ComposeError(f"{where}: base name ({st['image_text']}) should not be blank")
        platform = None if st["flag"] is None else expand(st["flag"], global_args, where=where)
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


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


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
