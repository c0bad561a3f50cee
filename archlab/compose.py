"""Audit a docker-compose file: which service works on which host, what Docker says, what to change.

The story's stack worked on an M1 Mac and failed on an arm64 Ubuntu VM, one service at a time
and each for its own reason. This module answers "what will each service of *my* compose file
do on *that* machine?" without Docker: it reads the file as compose does (interpolation from
the environment and ``.env``, ``build:`` sections, ``platform:`` pins), resolves every image a
service pulls or builds on (a Dockerfile's ``FROM`` lines, through :mod:`archlab.dockerfile`),
fetches their manifests, replays Docker's decisions with :mod:`archlab.simulate` for each host
profile (:mod:`archlab.hosts`), and proposes the smallest edit that fixes a failure.

How do I use it?
================

::

    from archlab.compose import audit, load_compose
    from archlab.registry import RegistryClient
    project = load_compose("data/compose/story/docker-compose.yml")
    with RegistryClient() as reg:
        frame = audit(project, ["m1-desktop-4.3", "multipass-ubuntu-arm64"], client=reg)
    frame[["service", "host", "outcome", "message", "suggestion"]]

From a shell: ``archlab compose docker-compose.yml --host multipass-ubuntu-arm64``.

Reading the file
================

=============================  ================================================================
compose                        what :func:`load_compose` does
=============================  ================================================================
``$VAR``, ``${VAR}``           the value; **unset: an error** naming file, line and variable
``${VAR:-default}``            ``default`` when VAR is unset *or empty*
``${VAR-default}``             ``default`` only when VAR is unset
``${VAR:?message}``            an error (``required variable VAR is missing a value: message``)
                               when VAR is unset or empty
``${VAR?message}``             that error only when VAR is unset
``${VAR:+other}``/``${VAR+o}``  ``other`` when VAR is set and non-empty / set, else ``""``
``$$``                         a literal ``$``
a ``$`` before anything else   an error, as in compose (write ``$$``)
values                         the process environment, then ``.env`` beside the compose file
                               (or ``env_file=``); **the environment wins**. Defaults nest:
                               ``${A:-${B}}``
=============================  ================================================================

Real compose only *warns* about an unset variable (``The "VAR" variable is not set.
Defaulting to a blank string.``) and carries on with ``""``. That is how an image named
``/lab/mysql:5.7`` reaches the registry and fails far from the cause, so archlab is strict on
purpose; ``allow_unset=True`` (``--allow-unset``) behaves like compose and records the warning
in :attr:`ComposeProject.warnings`.

Errors are :class:`~archlab.errors.ComposeError` with one line of text that starts with
``file:line`` (``file:line:column`` for YAML syntax errors, as PyYAML marks them), e.g.
``docker-compose.yml:7: variable "LAB" is not set and has no default ...``. A ``build:`` whose
Dockerfile is missing names the compose file and line and the path looked for.

Predicting each service
=======================

Every host starts from an empty image store (a fresh machine), with the compose version of its
profile (``compose_version=`` overrides it).

=============  ==================================================================================
action         what is predicted
=============  ==================================================================================
``pull``       :func:`archlab.simulate.simulate_compose_service`: the pull (list entry choice
               or "no matching manifest"), the create (``platform:`` checks), the start
               (native, emulated, or runc's exec format error)
``build``      compose v2 builds with BuildKit, compose 1.x with the classic builder. Each
               external base is pulled for its platform (``--platform=$BUILDPLATFORM``: the
               host's; otherwise the service's ``platform:`` or the host's) and fails as a pull
               would; a ``RUN`` in a stage whose base the host can neither run nor emulate
               fails with runc's exec format error; the built image then runs on its final
               base's binaries
=============  ==================================================================================

``outcome`` is one of ``runs-native``, ``runs-emulated``, ``exec-format-error``, ``pull-error``
(the pull fails: Docker's text in ``message``), ``create-error`` (``platform:`` does not match
the image), ``build-fails``, or ``registry-error`` (the registry could not be asked: archlab's
text, not Docker's). ``message`` is what Docker prints that matters (``""`` when it prints
nothing about platforms); ``approximate`` marks rows whose wording is not measured against a
real Docker: compose 1.29.2's lines are (:mod:`archlab.compose_v1`, checked by
``tests/test_compose_oracle.py``); compose 1.25 gets the same lines, marked approximate, and
compose v2's and BuildKit's wording is cited from their source, marked approximate too.

Suggestions, in this order, first that applies
==============================================

What a suggestion says about an image ("has linux/arm64/v8", "no linux/arm64 build") is read
from the registry's answer, never inferred from the failure: a failure may come from the pin.

=================  ==========================================================================
kind               when, and the edit
=================  ==========================================================================
``drop-pin``       a pin (the service's ``platform:``, or a FROM's ``--platform=``) asks for
                   a foreign platform, one the image lacks, or one Docker cannot parse, but
                   the image (every base, for a build) has a build this host runs natively:
                   remove the pin
``pin``            the pull or build fails because the list lacks the host's own platform
                   (no pin asked for another), and the host emulates one it has: add
                   ``platform: linux/amd64``
``replace``        the service cannot run here and ``data/replacements.yaml`` (plus your own,
                   see :func:`load_replacements`) names a replacement that has this host's
                   platform: ``image: lab/mariadb:latest`` (or the Dockerfile's ``FROM``)
``tag``            another tag of the same repository has this host's platform: tags listed
                   and inspected nearest first (:func:`archlab.survey.nearest_tag`), at most
                   ``max_tag_lookups`` of them
``emulate``        nothing native exists: register qemu for the image's platform (and remove
                   a pin the image cannot satisfy), or publish a build for this host
=================  ==========================================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd
import platformdirs
import yaml

from archlab import decoding, limits, shipped
from archlab.dockerfile import FromLine, from_images
from archlab.errors import (
    ArchlabError,
    ComposeError,
    InvalidReferenceError,
    NotFoundError,
    PlatformError,
)
from archlab.hosts import Host, get_host
from archlab.manifests import ImageIndex, ImageManifest
from archlab.platforms import Platform, normalize, parse
from archlab.reference import Reference, parse_reference
from archlab.simulate import (
    ImageFacts,
    Prediction,
    gather_facts_sync,
    runc_exec_error,
    simulate_compose_service,
    simulate_pull,
)

__all__ = [
    "AUDIT_COLUMNS",
    "DEFAULT_HOSTS",
    "OUTCOMES",
    "OUTCOME_WORDS",
    "BuildSpec",
    "ComposeProject",
    "ComposeService",
    "Replacement",
    "audit",
    "in_words",
    "interpolate",
    "load_compose",
    "load_replacements",
    "outcome_in_words",
    "read_env_file",
]

#: Columns of :func:`audit`'s frame, in order.
AUDIT_COLUMNS: Final = (
    "service", "host", "image", "platform", "action", "outcome", "message", "suggestion",
    "explanation", "suggestion_kind", "line", "exit_code", "warning", "approximate",
    "transcript", "steps",
)
#: Possible ``outcome`` values.
OUTCOMES: Final = (
    "runs-native", "runs-emulated", "exec-format-error", "pull-error", "create-error",
    "build-fails", "registry-error",
)

#: Each outcome as the notebooks say it to a reader ("runs emulated", as in notebooks 00 and
#: 04); the frame and its CSV keep the short codes above.
OUTCOME_WORDS: Final[Mapping[str, str]] = {
    "runs-native": "runs natively", "runs-emulated": "runs emulated",
    "exec-format-error": "exec format error", "pull-error": "pull error",
    "create-error": "create error", "build-fails": "build fails",
    "registry-error": "registry error",
}
# The emulator an explanation names ("which runs under qemu 6.2"): the frame has no column for it.
_EMULATOR: Final = re.compile(r"which runs under (\w+)")

_NAME: Final = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class BuildSpec:
    """A service's ``build:``: paths resolved against the compose file's directory."""

    context: Path
    dockerfile: Path
    args: Mapping[str, str]
    target: str | None
    line: int  # of the ``build:`` key
    dockerfile_raw: str  # as written (``Dockerfile`` by default)
    context_raw: str = "."  # as written


@dataclass(frozen=True)
class ComposeService:
    """One service as archlab needs it: what it runs, where it is written."""

    name: str
    line: int  # of the service's key under ``services:``
    image: str | None  # interpolated
    image_raw: str | None  # as written, e.g. ``${LAB}/lab/mysql:5.7``
    image_line: int | None
    platform: str | None
    platform_raw: str | None
    platform_line: int | None
    build: BuildSpec | None


@dataclass(frozen=True)
class ComposeProject:
    """A compose file, read: its services in file order, and what reading it noticed."""

    path: Path
    services: tuple[ComposeService, ...]
    env: Mapping[str, str] = field(repr=False, default_factory=dict)
    env_file: Path | None = None
    warnings: tuple[str, ...] = ()

    @property
    def directory(self) -> Path:
        return self.path.parent

    def service(self, name: str) -> ComposeService:
        for s in self.services:
            if s.name == name:
                return s
        raise ComposeError(f"{self.path}: no service named {name!r} (services: "
                           f"{', '.join(s.name for s in self.services)})")

    def where(self, line: int | None) -> str:
        return f"{self.path}:{line}" if line else str(self.path)


# ---------------------------------------------------------------------------------------------
# Interpolation (compose spec)


def interpolate(
    text: str,
    env: Mapping[str, str],
    *,
    allow_unset: bool = False,
    unset: list[str] | None = None,
) -> str:
    """Substitute ``$VAR``-style references in ``text`` (the table in the module docstring).

    Raises :class:`ComposeError` (without a location: the caller adds ``file:line``) for an
    unset variable without default (unless ``allow_unset``, which substitutes ``""`` and
    appends the variable's name to ``unset``), a ``:?``/``?`` requirement, or a malformed
    template.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _matching_brace(text, i + 2)
            if end < 0:
                raise ComposeError(f"invalid interpolation format in {text!r}: "
                                   f"{text[i:]!r} has no closing '}}'")
            out.append(_braced(text[i + 2:end], text, env, allow_unset, unset))
            i = end + 1
        else:
            m = _NAME.match(text, i + 1)
            if m is None:
                raise ComposeError(f"invalid interpolation format in {text!r}: a '$' must be "
                                   "followed by a variable name or '{'; write '$$' for a "
                                   "literal '$'")
            out.append(_lookup(m.group(), text, env, allow_unset, unset))
            i = m.end()
    return "".join(out)


def _matching_brace(text: str, start: int) -> int:
    depth = 1
    j = start
    while j < len(text):
        if text.startswith("${", j):
            depth += 1
            j += 2
            continue
        if text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return -1


def _lookup(name: str, whole: str, env: Mapping[str, str], allow_unset: bool,
            unset: list[str] | None) -> str:
    if name in env:
        return env[name]
    if allow_unset:
        if unset is not None:
            unset.append(name)
        return ""
    raise ComposeError(
        f'variable "{name}" is not set and has no default, in {whole!r}; set it in the '
        f"environment or in .env, write ${{{name}:-value}}, or pass --allow-unset to use \"\" "
        "as compose does (compose only warns)"
    )


def _braced(body: str, whole: str, env: Mapping[str, str], allow_unset: bool,
            unset: list[str] | None) -> str:
    m = _NAME.match(body)
    if m is None:
        raise ComposeError(f"invalid interpolation format in {whole!r}: {'${' + body + '}'!r} "
                           "does not start with a variable name")
    name, rest = m.group(), body[m.end():]
    if rest == "":
        return _lookup(name, whole, env, allow_unset, unset)
    value = env.get(name)
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if not rest.startswith(op):
            continue
        word = rest[len(op):]
        missing = value is None or (op.startswith(":") and value == "")

        def sub(w: str = word) -> str:
            return interpolate(w, env, allow_unset=allow_unset, unset=unset)

        if op in (":-", "-"):
            return sub() if missing else value  # type: ignore[return-value]
        if op in (":?", "?"):
            if missing:
                reason = sub()
                raise ComposeError(f"required variable {name} is missing a value"
                                   + (f": {reason}" if reason else ""))
            return value  # type: ignore[return-value]
        return "" if missing else sub()
    raise ComposeError(f"invalid interpolation format in {whole!r}: {'${' + body + '}'!r}; "
                       "after the name comes '}', ':-', '-', ':?', '?', ':+' or '+'")


def read_env_file(path: str | os.PathLike[str], env: Mapping[str, str] | None = None
                  ) -> dict[str, str]:
    """Read a ``.env`` file: ``KEY=VALUE`` lines, ``#`` comments, optional ``export``.

    Values may be single-quoted (literal), double-quoted (``\\n``, ``\\"`` escapes,
    interpolated) or bare (interpolated, `` #`` starts a comment). Interpolation sees
    ``env`` and the keys defined above in the file.
    """
    path = Path(path)
    lines = decoding.read_text(path, max_bytes=limits.MAX_INPUT_FILE_BYTES, what="env file",
                               error=ComposeError).splitlines()
    base = dict(env or {})
    out: dict[str, str] = {}
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not _NAME.fullmatch(key):
            raise ComposeError(f"{path}:{n}: expected KEY=VALUE, got {raw.strip()!r}")
        value = value.strip()
        scope = {**base, **out}
        try:
            if value[:1] == "'" and value.rstrip().endswith("'") and len(value) >= 2:
                out[key] = value[1:-1]
            elif value[:1] == '"' and len(value) >= 2 and value.endswith('"'):
                inner = (value[1:-1].replace("\\n", "\n").replace('\\"', '"')
                         .replace("\\\\", "\\"))
                out[key] = interpolate(inner, scope, allow_unset=True)
            else:
                value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
                out[key] = interpolate(value, scope, allow_unset=True)
        except ComposeError as e:
            raise ComposeError(f"{path}:{n}: {e}") from None
    return out


# ---------------------------------------------------------------------------------------------
# Loading


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _Tree:
    """The YAML node tree with a line for every key path, interpolated in place."""

    def __init__(self, path: Path, root: yaml.Node):
        self.path = path
        self.root = root
        self.lines: dict[tuple[Any, ...], int] = {(): _line(root)}
        self._index(root, ())

    def _pairs(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
        """Key/value pairs with ``<<`` merges applied (explicit keys win), checking duplicates."""
        own: list[tuple[yaml.Node, yaml.Node]] = []
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        seen: dict[str, int] = {}
        for k, v in node.value:
            if k.tag == "tag:yaml.org,2002:merge" or (isinstance(k, yaml.ScalarNode)
                                                       and k.value == "<<"):
                sources = v.value if isinstance(v, yaml.SequenceNode) else [v]
                for src in sources:
                    if isinstance(src, yaml.MappingNode):
                        merged += self._pairs(src)
                continue
            key = str(k.value) if isinstance(k, yaml.ScalarNode) else repr(k)
            if key in seen:
                raise ComposeError(f"{self.path}:{_line(k)}: mapping key {key!r} already "
                                   f"defined at line {seen[key]}")
            seen[key] = _line(k)
            own.append((k, v))
        have = {str(k.value) for k, _ in own}
        return own + [(k, v) for k, v in merged if str(k.value) not in have]

    def _index(self, node: yaml.Node, at: tuple[Any, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in self._pairs(node):
                key = (str(k.value),)
                self.lines.setdefault(at + key, _line(k))
                self._index(v, at + key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines.setdefault((*at, i), _line(item))
                self._index(item, (*at, i))

    def interpolate(self, env: Mapping[str, str], allow_unset: bool, warnings: list[str]
                    ) -> None:
        done: set[int] = set()

        def walk(node: yaml.Node) -> None:
            if id(node) in done:  # an alias: the same node, interpolated once
                return
            done.add(id(node))
            if isinstance(node, yaml.ScalarNode):
                if "$" in node.value:  # such a scalar always resolves to a string
                    unset: list[str] = []
                    try:
                        node.value = interpolate(node.value, env, allow_unset=allow_unset,
                                                 unset=unset)
                    except ComposeError as e:
                        raise ComposeError(f"{self.path}:{_line(node)}: {e}") from None
                    for name in unset:
                        warnings.append(f"{self.path}:{_line(node)}: The \"{name}\" variable "
                                        "is not set. Defaulting to a blank string.")
            elif isinstance(node, yaml.MappingNode):
                for _k, v in node.value:  # keys are not interpolated
                    walk(v)
            elif isinstance(node, yaml.SequenceNode):
                for item in node.value:
                    walk(item)

        walk(self.root)

    def construct(self) -> Any:
        return decoding.construct_yaml(self.root, what=str(self.path), error=ComposeError)


def _compose_tree(path: Path, text: str) -> _Tree:
    # Depth, aliases and alias-expanded size bounded while composing: a billion-laughs file
    # took 5.8 GB here, and a chain of merges overflowed _pairs' recursion.
    root = decoding.compose_yaml(text, what=str(path), error=ComposeError)
    if root is None:
        raise ComposeError(f"{path}:1: the file is empty; a compose file needs a 'services:' "
                           "mapping")
    return _Tree(path, root)


def load_compose(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    env_file: str | os.PathLike[str] | None = None,
    allow_unset: bool = False,
) -> ComposeProject:
    """Read a compose file: services with image, platform and build, each with its line.

    ``env`` replaces the process environment (default ``os.environ``); ``.env`` beside the
    file, or ``env_file``, supplies values the environment lacks. See the module docstring for
    the interpolation rules and why unset variables are errors unless ``allow_unset``.
    """
    path = Path(path)
    text = decoding.read_text(path, max_bytes=limits.MAX_YAML_BYTES, what="compose file",
                              error=ComposeError)
    environ = dict(os.environ if env is None else env)
    dotenv_path = Path(env_file) if env_file is not None else path.parent / ".env"
    dotenv: dict[str, str] = {}
    if env_file is not None and not dotenv_path.is_file():
        raise ComposeError(f"{dotenv_path}: env file not found (given with --env-file)")
    if dotenv_path.is_file():
        dotenv = read_env_file(dotenv_path, environ)
    else:
        dotenv_path = None  # type: ignore[assignment]
    merged = {**dotenv, **environ}  # the environment wins over .env, as in compose

    tree = _compose_tree(path, text)
    raw_doc = tree.construct()
    warnings: list[str] = []
    tree.interpolate(merged, allow_unset, warnings)
    doc = tree.construct()
    lines = tree.lines

    if not isinstance(doc, dict):
        raise ComposeError(f"{path}:1: the top level must be a mapping with a 'services:' key, "
                           f"got {type(doc).__name__}")
    services = doc.get("services")
    if not isinstance(services, dict) or not services:
        where = lines.get(("services",), 1)
        raise ComposeError(f"{path}:{where}: 'services:' must be a mapping of service names "
                           "to their definitions")
    out = []
    for name, spec in services.items():
        # .get: the index is keyed by the key as written ("null", "0x10"), the document by its
        # value (None, 16); such a key raised KeyError here.
        line = lines.get(("services", str(name)), lines.get(("services",), 1))
        raw_spec = raw_doc["services"].get(name) if isinstance(raw_doc, dict) else None
        out.append(_service(path, str(name), spec, raw_spec, line, lines, merged))
    return ComposeProject(path=path, services=tuple(out), env=merged, env_file=dotenv_path,
                          warnings=tuple(warnings))


def _text(
    path: Path, line: int, service: str, key: str, value: Any, *, numbers: bool = True
) -> str | None:
    """A scalar as text. ``numbers=False`` for keys compose's schema types as strings only
    (``image``, ``platform``): ``image: 5`` is refused there, not looked up as library/5."""
    if value is None:
        return None
    allowed = (str, int, float) if numbers else (str,)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise ComposeError(f"{path}:{line}: service \"{service}\": {key} must be a string, got "
                           f"{type(value).__name__}")
    return str(value)


def _service(path: Path, name: str, spec: Any, raw: Any, line: int,
             lines: Mapping[tuple[Any, ...], int], env: Mapping[str, str]) -> ComposeService:
    if not isinstance(spec, dict):
        raise ComposeError(f"{path}:{line}: service \"{name}\" must be a mapping, got "
                           f"{type(spec).__name__}")
    raw = raw if isinstance(raw, dict) else {}
    at = ("services", name)

    def ln(*keys: str) -> int:
        return lines.get(at + keys, line)

    image = _text(path, ln("image"), name, "image", spec.get("image"), numbers=False)
    platform = _text(path, ln("platform"), name, "platform", spec.get("platform"),
                     numbers=False)
    build = None
    if "build" in spec and spec["build"] is not None:
        build = _build(path, name, spec["build"], ln("build"), ln, env)
    if image is None and build is None:
        raise ComposeError(f"{path}:{line}: service \"{name}\" has neither an image nor a build "
                           "context specified")
    return ComposeService(
        name=name, line=line,
        image=image, image_raw=_text(path, ln("image"), name, "image", raw.get("image")),
        image_line=ln("image") if image is not None else None,
        platform=platform,
        platform_raw=_text(path, ln("platform"), name, "platform", raw.get("platform")),
        platform_line=ln("platform") if platform is not None else None,
        build=build,
    )


def _build(path: Path, service: str, spec: Any, line: int, ln: Any,
           env: Mapping[str, str]) -> BuildSpec:
    if isinstance(spec, str):
        spec = {"context": spec}
    if not isinstance(spec, dict):
        raise ComposeError(f"{path}:{line}: service \"{service}\": build must be a path or a "
                           "mapping with context, dockerfile, args")
    if "dockerfile_inline" in spec:
        raise ComposeError(f"{path}:{ln('build', 'dockerfile_inline')}: service \"{service}\": "
                           "dockerfile_inline is not supported by archlab; write a Dockerfile")
    context = str(spec.get("context", ".") or ".")
    if "://" in context or context.startswith("git@"):
        raise ComposeError(f"{path}:{ln('build', 'context')}: service \"{service}\": remote build "
                           f"context {context!r} is not supported by archlab; use a local path")
    dockerfile_raw = str(spec.get("dockerfile") or "Dockerfile")
    ctx = Path(os.path.normpath(path.parent / context))
    dockerfile = Path(os.path.normpath(ctx / dockerfile_raw))
    args = spec.get("args") or {}
    parsed: dict[str, str] = {}
    if isinstance(args, list):
        for item in args:
            key, eq, value = str(item).partition("=")
            if eq:
                parsed[key] = value
            elif key in env:  # a bare name takes its value from the environment
                parsed[key] = env[key]
    elif isinstance(args, dict):
        for key, value in args.items():
            if value is None:
                if str(key) in env:
                    parsed[str(key)] = env[str(key)]
            else:
                parsed[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
    else:
        raise ComposeError(f"{path}:{ln('build', 'args')}: service \"{service}\": build.args must "
                           "be a mapping or a list of NAME=value")
    target = spec.get("target")
    return BuildSpec(context=ctx, dockerfile=dockerfile, args=parsed,
                     target=None if target is None else str(target), line=line,
                     dockerfile_raw=dockerfile_raw, context_raw=context)


# ---------------------------------------------------------------------------------------------
# Replacements


@dataclass(frozen=True)
class Replacement:
    """"Use ``use`` instead of ``image``": one entry of a replacements file."""

    image: str
    use: str
    why: str = ""
    source: str = ""
    path: Path | None = None

    def _explicit_registry(self) -> bool:
        first = self.image.split("/", 1)[0]
        return "/" in self.image and ("." in first or ":" in first or first == "localhost")

    def matches(self, ref: Reference) -> bool:
        """Same repository (any registry, unless ``image`` names one), any tag."""
        want = parse_reference(self.image, default_tag=None)
        if self._explicit_registry():
            return want.name == ref.name
        return want.repository == ref.repository

    def apply(self, ref: Reference) -> Reference:
        """The replacement for ``ref``: on ``ref``'s registry unless ``use`` names one."""
        new = parse_reference(self.use)
        first = self.use.split("/", 1)[0]
        explicit = "/" in self.use and ("." in first or ":" in first or first == "localhost")
        if explicit or self._explicit_registry():
            return new
        return Reference(ref.registry, new.repository, new.tag)


def replacement_files(extra: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """Files :func:`load_replacements` reads, lowest precedence first (existing or not)."""
    return [shipped.data_path("replacements.yaml"),
            Path(platformdirs.user_config_dir("archlab")) / "replacements.yaml",
            *(Path(p) for p in extra)]


def load_replacements(extra: Iterable[str | os.PathLike[str]] = ()) -> list[Replacement]:
    """The replacement table: ``extra`` files first, then your config dir, then archlab's.

    Each file is YAML: ``replacements: [{image: mysql, use: mariadb:latest, why: ...}]``.
    The first entry that matches an image wins, so your own entries override shipped ones.
    """
    out: list[Replacement] = []
    for path in reversed(replacement_files(extra)):
        if not path.is_file():
            if path in [Path(p) for p in extra]:
                raise ComposeError(f"{path}: replacements file not found")
            continue
        doc = decoding.load_yaml(
            decoding.read_text(path, max_bytes=limits.MAX_YAML_BYTES, what="replacements file",
                               error=ComposeError),
            what=str(path), error=ComposeError)
        entries = doc.get("replacements") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise ComposeError(f"{path}: expected 'replacements:' with a list of "
                               "{image, use, why} entries")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str)
                                                      for k in ("image", "use")):
                raise ComposeError(f"{path}: replacements[{i}]: needs 'image' and 'use' strings")
            try:
                parse_reference(entry["image"], default_tag=None)
                parse_reference(entry["use"])
            except InvalidReferenceError as e:
                raise ComposeError(f"{path}: replacements[{i}]: {e}") from None
            out.append(Replacement(entry["image"], entry["use"], str(entry.get("why", "")),
                                   str(entry.get("source", "")), path))
    return out


# ---------------------------------------------------------------------------------------------
# What each service needs


@dataclass(frozen=True)
class _Plan:
    """One service on one host, before any network: the refs it pulls, and how."""

    service: ComposeService
    host: Host
    action: str  # pull | build
    ref: Reference | None  # the pulled image, or the final stage's base
    builder: str | None = None  # buildkit | classic
    bases: tuple[tuple[FromLine, Reference | None], ...] = ()


def _ref(text: str, where: str) -> Reference:
    try:
        return parse_reference(text)
    except InvalidReferenceError as e:
        raise ComposeError(f"{where}: {e}") from None


def _compose_v2(host: Host, compose_version: str | None) -> bool:
    version = compose_version or host.compose
    if version is None:
        raise ComposeError(f"host {host.name!r} has no compose in its profile; pass "
                           "--compose-version 2.2.1 (compose_version='2.2.1' in Python)")
    return int(version.lstrip("v").split(".")[0]) >= 2


def _normalized(platform: str | None, host: Host) -> str | None:
    if not platform:
        return None
    try:
        return str(normalize(parse(platform, host=host.daemon_platform, rules=host.rules),
                             host.rules))
    except PlatformError:
        return platform


def _plan(project: ComposeProject, svc: ComposeService, host: Host,
          compose_version: str | None) -> _Plan:
    buildkit = _compose_v2(host, compose_version)  # also: fail early without a compose
    if svc.build is None:
        assert svc.image is not None
        return _Plan(svc, host, "pull", _ref(svc.image, f"{project.where(svc.image_line)}: "
                                                        f"service \"{svc.name}\""))
    build_platform = str(host.daemon_platform) if buildkit else None
    target_platform = None
    if buildkit:  # BuildKit defines $TARGETPLATFORM; the classic builder leaves it empty
        target_platform = _normalized(svc.platform, host) or str(normalize(host.daemon_platform))
    lines = from_images(
        svc.build.dockerfile, svc.build.args, target=svc.build.target,
        build_platform=build_platform, target_platform=target_platform,
        referenced_from=(f'{project.where(svc.build.line)}: service "{svc.name}" (build '
                         f"context {svc.build.context_raw!r}, dockerfile "
                         f"{svc.build.dockerfile_raw!r})"),
    )
    final = next(f for f in lines if f.final)
    built = [f for f in lines if (f.needed if buildkit else f.stage <= final.stage)]
    bases = tuple((f, _ref(f.image, f.where) if f.kind == "image" and f.image else None)
                  for f in built)
    root = final
    while root.kind == "stage" and root.source_stage is not None:
        root = lines[root.source_stage]
    ref = dict((f.stage, r) for f, r in bases).get(root.stage)
    return _Plan(svc, host, "build", ref, "buildkit" if buildkit else "classic", bases)


# ---------------------------------------------------------------------------------------------
# Predicting


@dataclass
class _Row:
    outcome: str
    message: str = ""
    exit_code: int | None = None
    warning: str = ""
    approximate: bool = False
    transcript: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    explanation: str = ""
    runs_on: Platform | None = None  # the platform of the binaries that run (or fail)
    failing: tuple[FromLine, Reference] | None = None  # the base that broke a build
    list_miss: bool = False  # failed because a list lacks the platform


def _offered(facts: ImageFacts) -> list[Platform]:
    """Platforms an image offers: list entries (no attestations), or the config's."""
    if isinstance(facts.root, ImageIndex):
        return [d.platform for d in facts.root.images if d.platform is not None]
    if isinstance(facts.root, ImageManifest):
        cfg = facts.configs.get(facts.root.config.digest)
        return [cfg.platform] if cfg is not None else []
    return []


def _steps(p: Prediction) -> tuple[str, ...]:
    return tuple(f"{s.rule}: {s.detail} [{s.source}]" for s in p.explanation)


def _fmt_list(ps: Sequence[Platform]) -> str:
    return ", ".join(str(p) for p in ps) or "nothing"


def _how_it_runs(host: Host, platform: Platform) -> str:
    if host.runs_natively(platform):
        return "native"
    emu = host.emulator_for(platform)
    return "emulated" if emu is not None else "exec-format-error"


def _project_name(project: ComposeProject) -> str:
    """Compose's default project name: the directory's, lowercased, [-_a-z0-9] only."""
    return re.sub(r"[^-_a-z0-9]", "", project.directory.resolve().name.lower()) or "default"


def _predict_pull(plan: _Plan, facts: ImageFacts, compose_version: str | None,
                  project: ComposeProject) -> _Row:
    svc, host = plan.service, plan.host
    p = simulate_compose_service(facts, host, svc.platform, service=svc.name,
                                 compose_version=compose_version,
                                 project=_project_name(project))
    printed = [ln.text for ln in p.lines
               if ln.text.startswith(("WARNING:", f"! {svc.name} "))]
    row = _Row(outcome="", exit_code=p.exit_code, transcript=tuple(ln.text for ln in p.lines),
               steps=_steps(p), approximate=any(ln.approximate for ln in p.lines),
               warning="; ".join(p.warnings), runs_on=p.image_platform)
    offered = _offered(facts)
    kind = "list" if facts.is_list else "single-arch image"
    pin = f" (pinned to {svc.platform})" if svc.platform else ""
    if p.run_mode is not None:
        row.outcome = {"native": "runs-native", "emulated": "runs-emulated",
                       "exec-format-error": "exec-format-error"}[p.run_mode]
        row.message = p.error if p.run_mode == "exec-format-error" else "; ".join(printed)
        what = f"the {kind} gives a {p.image_platform} image{pin}"
        row.explanation = {
            "runs-native": f"{what}, which this CPU runs natively",
            "runs-emulated": f"{what}, which runs under {p.emulator} on this host (slower, "
                             "best effort)",
            "exec-format-error": f"{what}; this host neither runs it natively nor emulates it, "
                                 "so the kernel refuses to exec the entrypoint",
        }[row.outcome]
        if p.warnings and not printed:
            version = compose_version or host.compose or ""
            row.explanation += ("; the engine's create warning is not printed by compose "
                                f"{version}" + _v1_warning_source(version))
        return row
    row.message = p.error or ""
    if p.chosen_digest is None:
        row.outcome = "pull-error"
        row.list_miss = "no matching manifest" in row.message or "no match for platform" in (
            row.message)
        want = svc.platform or f"the host's {host.daemon_platform}"
        row.explanation = (f"the list offers {_fmt_list(offered)}; Docker "
                           f"{host.engine} finds no entry for {want}" if row.list_miss
                           else "the pull fails before any image is chosen")
    else:
        row.outcome = "create-error"
        row.explanation = (f"compose creates the container with platform {svc.platform}, which "
                           f"the pulled image ({_fmt_list(offered)}) does not match")
    return row


def _v1_warning_source(version: str) -> str:
    """Where "compose 1.x does not print the create warning" comes from, for ``version``."""
    if version.startswith("1.29."):
        return " (measured on docker-compose 1.29.2)"
    if version.startswith("1."):
        return " (measured on 1.29.2; 1.25.0 creates without platform in the same code)"
    return ""


def _is_v1(host: Host, compose_version: str | None) -> bool:
    version = compose_version or host.compose
    return version is not None and version.lstrip("v").startswith("1.")


def _predict_missing_v1(plan: _Plan, compose_version: str | None, project: ComposeProject
                        ) -> _Row:
    """A tag the registry does not have, under compose v1: the Engine's measured 404 text."""
    from archlab.compose_v1 import Service, predict

    svc = plan.service
    p = predict("up --exit-code-from", Service(svc.name, svc.image, svc.platform), None,
                plan.host, project=_project_name(project),
                version=compose_version or plan.host.compose)
    return _Row("pull-error", message=p.error or "", exit_code=1,
                approximate=any(ln.approximate for ln in p.lines),
                transcript=tuple(ln.text for ln in p.lines), steps=_steps(p),
                explanation="the registry has no such tag: the Engine's pull fails with its 404")


def _v1_build_transcript(plan: _Plan, row: _Row, facts: Mapping[Reference, Any],
                         project: ComposeProject, compose_version: str | None) -> None:
    """Compose v1's measured build lines (archlab.compose_v1) for a one-stage Dockerfile."""
    from archlab.compose_v1 import Service, predict
    from archlab.dockerfile import read_dockerfile

    svc = plan.service
    if plan.builder != "classic" or len(plan.bases) != 1 or plan.ref is None or svc.build is None:
        return
    base = facts.get(plan.ref)
    if not isinstance(base, ImageFacts):
        return
    instructions = read_dockerfile(svc.build.dockerfile).instructions
    p = predict("up --exit-code-from", Service(svc.name, None, svc.platform, instructions), base,
                plan.host, project=_project_name(project),
                version=compose_version or plan.host.compose)
    row.transcript = tuple(ln.text for ln in p.lines)
    row.approximate = any(ln.approximate for ln in p.lines)


def _builder_pull_error(plan: _Plan, facts: ImageFacts, p: Prediction) -> tuple[str, bool]:
    """The build's error when pulling a base fails, and whether it is approximate."""
    assert p.error is not None
    if plan.builder == "classic" or "no matching manifest" not in p.error:
        return p.error, False  # the classic builder pulls through the daemon: same text
    if plan.host.engine_version >= (23, 0, 0):
        ref = str(facts.reference)
        return (f"{ref}: failed to resolve source metadata for {ref}: no match for platform "
                "in manifest: not found"), True
    return ("failed to solve with frontend dockerfile.v0: failed to create LLB definition: "
            f"no match for platform in manifest {facts.root_digest}: not found"), True


def _run_failure(plan: _Plan, command: str) -> str:
    if plan.builder == "classic":
        return f"The command '{command}' returned a non-zero code: 1"
    if plan.host.engine_version >= (23, 0, 0):
        return f'process "{command}" did not complete successfully: exit code: 1'
    return f"executor failed running [{command}]: exit code: 1"


def _entrypoint(facts: ImageFacts, digest: str | None) -> str:
    manifest = facts.children.get(digest or "") or facts.root
    if isinstance(manifest, ImageManifest):
        cfg = facts.configs.get(manifest.config.digest)
        if cfg is not None:
            argv = list(cfg.entrypoint or ()) + list(cfg.cmd or ())
            if argv:
                return argv[0]
    return "<entrypoint>"


def _predict_build(plan: _Plan, facts: Mapping[Reference, ImageFacts | ArchlabError],
                   project: ComposeProject) -> _Row:
    svc, host = plan.service, plan.host
    assert svc.build is not None
    lines: list[str] = [f"Building {svc.name}"]
    steps: list[str] = [
        "builder: compose v2 builds with BuildKit" if plan.builder == "buildkit"
        else "builder: compose 1.x builds with the classic builder (through the Engine API)"
    ]
    target = svc.platform
    stage_platform: dict[int, Platform] = {}
    entry: dict[int, str] = {}
    for f, ref in plan.bases:
        if f.kind == "stage":
            assert f.source_stage is not None
            stage_platform[f.stage] = stage_platform.get(f.source_stage, host.daemon_platform)
            entry[f.stage] = entry.get(f.source_stage, "<entrypoint>")
        elif f.kind == "scratch":
            stage_platform[f.stage] = (parse(target, host=host.daemon_platform, rules=host.rules)
                                       if target else host.daemon_platform)
            entry[f.stage] = "<entrypoint>"
        else:
            assert ref is not None
            got = facts[ref]
            if isinstance(got, ArchlabError):
                return _Row("registry-error", message=str(got), exit_code=1, approximate=True,
                            transcript=tuple(lines), steps=tuple(steps),
                            explanation=f"{f.where}: the base {ref} could not be fetched",
                            failing=(f, ref))
            if f.platform_var == "BUILDPLATFORM":
                want = str(host.daemon_platform) if plan.builder == "buildkit" else None
                why = "--platform=$BUILDPLATFORM: the builder's own platform"
            elif f.platform_var == "TARGETPLATFORM" or f.platform_flag is None:
                want = target
                why = (f"the target platform {target}" if target
                       else "the target platform (the host's, no platform: given)")
            else:
                want = f.platform or None
                why = f"--platform={f.platform}"
            p = simulate_pull(got, host, platform=want)
            lines.append(f"FROM {got.reference.familiar()}  ({f.where})")
            steps.append(f"{f.where}: the base {got.reference.familiar()} is pulled for {why}")
            steps += _steps(p)
            if p.error is not None:
                message, approx = _builder_pull_error(plan, got, p)
                lines.append(message)
                offered = _offered(got)
                return _Row(
                    "build-fails", message=message, exit_code=1, approximate=approx,
                    transcript=tuple(lines), steps=tuple(steps), failing=(f, ref),
                    list_miss=True,
                    explanation=(f"{f.where}: FROM {got.reference.familiar()} offers "
                                 f"{_fmt_list(offered)}, nothing for {want or host.daemon_platform}"
                                 "; the build stops at its first step"),
                )
            assert p.image_platform is not None
            stage_platform[f.stage] = p.image_platform
            entry[f.stage] = _entrypoint(got, p.chosen_digest)
        plat = stage_platform[f.stage]
        mode = _how_it_runs(host, plat)
        for run in f.runs:
            if mode == "exec-format-error":
                runc = runc_exec_error(host.runc, run.argv[0])
                failure = _run_failure(plan, run.command)
                lines += [f"RUN {run.command}  ({f.path}:{run.line})", runc, failure]
                steps.append(f"{f.path}:{run.line}: RUN executes the base's {plat} binaries "
                             "during the build; this host cannot run them")
                return _Row(
                    "build-fails", message=runc, exit_code=1, approximate=True,
                    transcript=tuple(lines), steps=tuple(steps), runs_on=plat,
                    failing=(f, ref) if ref is not None else None,
                    explanation=(f"{f.path}:{run.line}: RUN runs {plat} code during the build, "
                                 "which this host neither runs natively nor emulates"),
                )
            if mode == "emulated":
                steps.append(f"{f.path}:{run.line}: RUN runs under "
                             f"{host.emulator_for(plat).describe()} (slow)")  # type: ignore[union-attr]
    final = next(f for f, _ in plan.bases if f.final)
    plat = stage_platform[final.stage]
    mode = _how_it_runs(host, plat)
    lines.append(f"Successfully built the image for {svc.name}")
    steps.append(f"the built image runs the final stage's {plat} binaries")
    base = f"built on {plan.ref.familiar()}" if plan.ref else "built FROM scratch"
    row = _Row("", exit_code=None, approximate=True, steps=tuple(steps), runs_on=plat)
    if mode == "native":
        row.outcome = "runs-native"
        row.explanation = f"{base} ({plat}), which this CPU runs natively"
    elif mode == "emulated":
        row.outcome = "runs-emulated"
        emu = host.emulator_for(plat)
        row.explanation = f"{base} ({plat}), which runs under {emu.describe() if emu else '?'}"
    else:
        row.outcome = "exec-format-error"
        row.message = runc_exec_error(host.runc, entry.get(final.stage, "<entrypoint>"))
        row.exit_code = 1
        lines += [row.message, f"{svc.name} exited with code 1"]
        row.explanation = (f"{base} ({plat}): the image holds {plat} binaries, which this host "
                           "neither runs natively nor emulates")
        if plan.ref is not None:
            row.failing = (final, plan.ref)
    row.transcript = tuple(lines)
    return row


# ---------------------------------------------------------------------------------------------
# Suggesting


@dataclass
class _Advisor:
    client: Any
    facts: dict[Reference, ImageFacts | ArchlabError]
    replacements: Sequence[Replacement]
    max_tag_lookups: int
    tags: dict[tuple[str, str], Reference | None] = field(default_factory=dict)

    def facts_for(self, ref: Reference) -> ImageFacts | None:
        if ref not in self.facts:
            try:
                self.facts[ref] = gather_facts_sync(ref, self.client)
            except ArchlabError as e:
                self.facts[ref] = e
        got = self.facts[ref]
        return None if isinstance(got, ArchlabError) else got

    def native_on(self, host: Host, facts: ImageFacts) -> Platform | None:
        return next((p for p in _offered(facts) if host.runs_natively(p)), None)

    def nearest_tag(self, ref: Reference, host: Host) -> Reference | None:
        if self.max_tag_lookups <= 0:
            return None
        want = str(normalize(host.native[0]))
        key = (str(ref), want)
        if key not in self.tags:
            found = None
            try:
                try:
                    from archlab.survey import nearest_tag
                except ImportError:  # archlab.survey missing: a plain search of our own
                    found = self._nearest_tag_plain(ref, host)
                else:
                    answer = nearest_tag(ref, want, client=self.client, rule="exact",
                                         max_tries=self.max_tag_lookups)
                    found = answer.found
            except ArchlabError:
                found = None
            self.tags[key] = found
        return self.tags[key]

    def _nearest_tag_plain(self, ref: Reference, host: Host) -> Reference | None:
        """Tags sharing the longest prefix with ``ref``'s come first; the first native wins."""
        anchor = ref.tag or "latest"

        def shared(tag: str) -> int:
            return next((i for i, (a, b) in enumerate(zip(anchor, tag, strict=False))
                         if a != b), min(len(anchor), len(tag)))

        tags = [t for t in self.client.list_tags(ref) if t != anchor]
        for tag in sorted(tags, key=lambda t: (-shared(t), t))[: self.max_tag_lookups]:
            candidate = Reference(ref.registry, ref.repository, tag)
            facts = self.facts_for(candidate)
            if facts is not None and self.native_on(host, facts) is not None:
                return candidate
        return None


def _rewrite(raw: str | None, old: Reference, new: Reference) -> str:
    """``raw`` with ``old``'s repository and tag swapped for ``new``'s (``${LAB}`` kept)."""
    if raw and old.registry == new.registry and not old.digest:
        pairs = [(f"{old.repository}:{old.tag}", f"{new.repository}:{new.tag}"),
                 (old.familiar(), new.familiar()),
                 (old.repository, f"{new.repository}:{new.tag}"),
                 (old.familiar_name(), new.familiar())]
        for before, after in pairs:
            if raw.endswith(before):
                return raw[: len(raw) - len(before)] + after
    return new.familiar()


@dataclass(frozen=True)
class _Pin:
    """The platform request that decided what was pulled: a ``platform:`` or a FROM flag."""

    text: str  # what to remove: ``"platform: linux/x86_64"`` or ``"--platform=linux/s390x"``
    where: str  # ``file:line``
    asked: str  # the platform as written


def _pin_in_play(plan: _Plan, row: _Row, project: ComposeProject) -> _Pin | None:
    """The pin that chose the platform of the failing (or foreign) image, if one did.

    A FROM with an explicit ``--platform=`` overrides the service's ``platform:``; one with
    ``$BUILDPLATFORM`` asks for the builder's own platform, which no pin set.
    """
    svc = plan.service
    service_pin = (_Pin(f"platform: {svc.platform_raw or svc.platform}",
                        project.where(svc.platform_line), svc.platform)
                   if svc.platform else None)
    if plan.action == "pull" or row.failing is None:
        return service_pin
    line = row.failing[0]
    if line.platform_var == "BUILDPLATFORM":
        return None
    if line.platform_flag is not None and line.platform_var is None:
        return _Pin(f"--platform={line.platform_flag}", line.where, line.platform or "")
    return service_pin


def _suggest(plan: _Plan, row: _Row, advisor: _Advisor, project: ComposeProject
             ) -> tuple[str, str]:
    """(kind, text) for one row; ("", "") when nothing needs to change.

    Every claim a suggestion makes about an image ("has linux/arm64", "no linux/arm64 build")
    is checked against what the registry offers, never inferred from the failure alone: a
    failure can come from the pin, not from the image.
    """
    svc, host = plan.service, plan.host
    failed = row.outcome in ("pull-error", "exec-format-error", "build-fails", "create-error")
    refs = [r for _, r in plan.bases if r is not None] if plan.action == "build" else (
        [plan.ref] if plan.ref is not None else [])
    all_facts = [advisor.facts_for(r) for r in refs]
    known = [f for f in all_facts if f is not None]
    native_everywhere = bool(known) and len(known) == len(refs) and all(
        advisor.native_on(host, f) is not None for f in known)
    ran_foreign = row.runs_on is not None and not host.runs_natively(row.runs_on)
    pin = _pin_in_play(plan, row, project)

    # 1. a pin that is no longer needed, or that is itself what fails
    if pin is not None and native_everywhere and (ran_foreign or (failed and row.runs_on is None)):
        if row.failing is not None and pin.text.startswith("--"):  # the FROM's own base
            refs, known = [row.failing[1]], [known[refs.index(row.failing[1])]]
        native = advisor.native_on(host, known[0])
        names = ", ".join(r.familiar() for r in refs)
        if ran_foreign:
            why = f"{names} now has {native}, which this host runs natively"
        else:
            why = f"{names} has {native}, which this host runs natively; the pin is what fails"
            if row.message and "invalid argument" in row.message:
                why += f" ({pin.asked!r} is not a platform Docker can parse)"
            elif row.list_miss:
                why += f" (no {pin.asked} build in the list)"
        return "drop-pin", f'remove "{pin.text}" ({pin.where}): {why}'
    if not failed:
        return "", ""

    # 2. pin an emulated platform where a list lacks the host's own (not a pinned one)
    asked_host = pin is None and not (row.failing is not None
                                      and row.failing[0].platform_var == "BUILDPLATFORM")
    if row.list_miss and asked_host:
        facts = advisor.facts_for(row.failing[1]) if row.failing else (
            advisor.facts_for(plan.ref) if plan.ref else None)
        if facts is not None:
            emulated = [p for p in _offered(facts) if host.emulator_for(p) is not None]
            if emulated:
                target = str(normalize(emulated[0]))
                via = host.emulator_for(emulated[0])
                return "pin", (f"platform: {target} (add to service \"{svc.name}\", "
                               f"{project.where(svc.line)}): this host runs {target} under "
                               f"{via.describe() if via else 'emulation'}")

    # What to change: the image of a pull, or the base that broke (or runs) a build.
    if plan.action == "pull":
        old, raw, where, key = plan.ref, svc.image_raw, project.where(svc.image_line), "image:"
    elif row.failing is not None:
        line, old = row.failing
        raw, where, key = _from_raw(line), line.where, "FROM"
    else:
        return "", ""
    if old is None:
        return "", ""
    unpin = f', and remove "{pin.text}" ({pin.where})' if pin is not None else ""

    # 3. a replacement image
    for rep in advisor.replacements:
        if not rep.matches(old):
            continue
        new = rep.apply(old)
        facts = advisor.facts_for(new)
        native = advisor.native_on(host, facts) if facts is not None else None
        if native is None:
            continue
        return "replace", (f"{key} {_rewrite(raw, old, new)} ({where}){unpin}: "
                           f"{new.familiar()} has {native}" + (f" ({rep.why})" if rep.why else ""))

    # 4. a tag of the same image with the host's architecture
    found = advisor.nearest_tag(old, host)
    if found is not None and found.tag != old.tag:
        facts = advisor.facts_for(found)
        native = advisor.native_on(host, facts) if facts is not None else None
        if native is not None:
            return "tag", (f"{key} {_rewrite(raw, old, found)} ({where}){unpin}: tag "
                           f"{found.tag} of the same image has {native}")

    # 5. nothing native to switch to: say so only when it is true
    facts = advisor.facts_for(old)
    offered = _offered(facts) if facts is not None else []
    if not offered:
        return "", ""
    native_p = normalize(host.native[0])
    claimed = advisor.native_on(host, facts) if facts is not None else None
    if claimed is not None:
        if row.runs_on is None or host.runs_natively(row.runs_on):
            return "", ""  # the image has a native build and it is not what failed
        return "emulate", (f"the {claimed} build of {old.familiar()} holds {row.runs_on} "
                           f"binaries (its platform is mislabelled): register qemu for "
                           f"{row.runs_on} on this host, or publish a real {claimed} build")
    pinned = _pinned_entry(pin, offered, host)
    emulable = pinned or offered[0]
    keep = pinned is not None or pin is None  # a pin the image cannot satisfy must go too
    arch = normalize(emulable).architecture
    return "emulate", (f"no {native_p} build of {old.familiar()} found: register qemu for "
                       f"{normalize(emulable)} on this host (e.g. docker run --privileged --rm "
                       f"tonistiigi/binfmt --install {arch}){'' if keep else unpin}"
                       f", or publish a {native_p} build")


def _pinned_entry(pin: _Pin | None, offered: Sequence[Platform], host: Host
                  ) -> Platform | None:
    """The offered platform a pin asks for, if the pin parses and the image has it."""
    if pin is None:
        return None
    try:
        want = normalize(parse(pin.asked, host=host.daemon_platform, rules=host.rules),
                         host.rules)
    except PlatformError:
        return None
    return next((p for p in offered if normalize(p, host.rules) == want), None)


def _from_raw(line: FromLine) -> str | None:
    """The image text of a FROM line as written (``${LAB}/lab/ruby:latest``)."""
    words = [w for w in line.text.split()[1:] if not w.startswith("--")]
    return words[0] if words else None


# ---------------------------------------------------------------------------------------------
# The audit

#: Hosts to audit for when none are named: the story's two.
DEFAULT_HOSTS: tuple[str, ...] = ("m1-desktop-4.3", "multipass-ubuntu-arm64")


def audit(
    project: ComposeProject,
    hosts: Iterable[str | Host],
    *,
    client: Any,
    compose_version: str | None = None,
    replacements: Sequence[Replacement] | None = None,
    max_tag_lookups: int = limits.TAG_LOOKUPS,
    suggest: bool = True,
) -> pd.DataFrame:
    """Service x host -> outcome, Docker's message and a suggested fix (see the docstring).

    ``client`` is a :class:`~archlab.registry.RegistryClient`. Every Dockerfile is read and
    every reference parsed before the first request, so a local mistake costs no network.
    Columns: :data:`AUDIT_COLUMNS`.
    """
    host_list = [get_host(h) for h in hosts]
    if not host_list:
        raise ComposeError("no host to audit for; name one, e.g. m1-desktop-4.3")
    plans = [_plan(project, svc, h, compose_version)
             for svc in project.services for h in host_list]
    wanted: list[Reference] = []
    for plan in plans:
        for ref in ([plan.ref] if plan.action == "pull" else [r for _, r in plan.bases]):
            if ref is not None and ref not in wanted:
                wanted.append(ref)
    facts: dict[Reference, ImageFacts | ArchlabError] = {}
    for ref in wanted:
        try:
            facts[ref] = gather_facts_sync(ref, client)
        except ArchlabError as e:
            facts[ref] = e
    advisor = _Advisor(client, facts, load_replacements() if replacements is None
                       else replacements, max_tag_lookups)
    rows = []
    for plan in plans:
        svc = plan.service
        if plan.action == "pull":
            assert plan.ref is not None
            got = facts[plan.ref]
            if isinstance(got, NotFoundError) and _is_v1(plan.host, compose_version):
                row = _predict_missing_v1(plan, compose_version, project)
            elif isinstance(got, ArchlabError):
                row = _Row("registry-error", message=str(got), approximate=True,
                           explanation="the registry could not be asked for this image")
            else:
                row = _predict_pull(plan, got, compose_version, project)
        else:
            row = _predict_build(plan, facts, project)
            _v1_build_transcript(plan, row, facts, project, compose_version)
        kind, text = _suggest(plan, row, advisor, project) if suggest else ("", "")
        rows.append({
            "service": svc.name,
            "host": plan.host.name,
            "image": str(plan.ref) if plan.ref is not None else "scratch",
            "platform": svc.platform,
            "action": plan.action,
            "outcome": row.outcome,
            "message": row.message,
            "suggestion": text,
            "explanation": row.explanation,
            "suggestion_kind": kind,
            "line": svc.line,
            "exit_code": row.exit_code,
            "warning": row.warning,
            "approximate": row.approximate,
            "transcript": row.transcript,
            "steps": row.steps,
        })
    return pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))


def outcome_in_words(outcome: str, explanation: str = "") -> str:
    """One ``outcome`` code in the words the notebooks use: ``runs emulated (qemu)`` when the
    row's ``explanation`` names the emulator, ``exec format error``, ..."""
    words = OUTCOME_WORDS.get(outcome, outcome)
    found = _EMULATOR.search(explanation or "") if outcome == "runs-emulated" else None
    return f"{words} ({found.group(1)})" if found else words


def in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of an :func:`audit` frame for reading: ``outcome`` in words
    (:func:`outcome_in_words`). The frame itself, and what the CLI writes, keep the codes."""
    words = [outcome_in_words(o, e) for o, e in zip(frame["outcome"], frame["explanation"],
                                                     strict=True)]
    return frame.assign(outcome=words)
