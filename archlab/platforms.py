"""Platforms the way Docker sees them: containerd's ``platforms`` rules, version by version.

A *platform* is what an image declares and a host offers: an operating system, a CPU
architecture and, for some architectures, a CPU variant (``linux/arm64/v8``, ``linux/arm/v7``,
``linux/amd64/v3``). Docker never compares these as plain strings. It *normalizes* both sides
(``aarch64`` is ``arm64``, ``arm64/v8`` is ``arm64``), then asks a *matcher* built for one target
whether a candidate fits and which of several candidates it prefers. The code doing this is
containerd's ``platforms`` package, and it changed twice between the Docker Engines people still
run. Every function here therefore takes ``rules=``, naming the version whose behaviour you want.

How do I use this module?
=========================

Parse what a user typed, the way ``--platform`` is parsed::

    >>> from archlab.platforms import Platform, Rules, default_spec, normalize, only, parse
    >>> arm64_host = default_spec("linux", "arm64")   # a Docker daemon on arm64 (or on an M1)
    >>> str(arm64_host)
    'linux/arm64/v8'
    >>> str(parse("linux/x86_64", host=arm64_host))
    'linux/amd64'
    >>> str(parse("arm64", host=default_spec("darwin", "arm64")))   # a CLI on macOS fills its OS
    'darwin/arm64'

Normalize before you compare, and let a matcher decide what a host accepts::

    >>> str(normalize(arm64_host))
    'linux/arm64'
    >>> only(arm64_host, Rules.MOBY_20_10).match(Platform("linux", "arm", "v7"))
    False
    >>> only(arm64_host).match(Platform("linux", "arm", "v7"))      # current rules
    True
    >>> [str(p) for p in platform_vector(Platform("linux", "amd64", "v3"))]
    ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386']

Pick from a manifest list's entries as a given Engine would::

    >>> entries = [Platform("linux", "amd64"), Platform("linux", "arm", "v7")]
    >>> match_entries_20_10(entries, arm64_host)           # 20.10: exact only
    []
    >>> match_entries_modern(entries, arm64_host, Rules.CONTAINERD_1_6)   # 23+: arm/v7 is fine
    [1]

Which rules does which Docker use?
==================================

=================  ====================================================  =======================
``Rules``          code (vendored into moby)                             Docker Engine
=================  ====================================================  =======================
``MOBY_20_10``     containerd@e048c115 (moby fork of 1.5.0-dev): the     20.10.x
                   platforms files equal containerd v1.4.0 plus the
                   Raspberry Pi ARMv6 fix [moby@v20.10.12:vendor.conf]
``CONTAINERD_1_6`` containerd v1.6/v1.7 ``platforms``, then               23.0 - 27.x
                   containerd/platforms v0.2.x (same rules)
``PLATFORMS_1_0``  containerd/platforms v1.0.0-rc.1 and later (the        28.0 and later
                   arm64 ``v8.N``/``v9.N`` table, commit 364665a8)
=================  ====================================================  =======================

The default everywhere is :data:`CURRENT_RULES` (``PLATFORMS_1_0``).
``Rules.for_engine("20.10.12")`` maps an Engine version to its rules.

Specifiers (``parse``, ``Platform.__str__``)
============================================

A specifier is ``os``, ``arch`` or ``os/arch[/variant]``. Each component must match
``[A-Za-z0-9_-]+``; ``PLATFORMS_1_0`` also allows ``.`` after the OS (``arm64/v8.2``) and an OS
written ``os(version+feature+...)``, with ``%``-escapes, as ``Platform.format_all`` prints it.
``*`` is refused, and so are more than three parts.

=========================  ====================================================================
specifier                  result
=========================  ====================================================================
``linux`` (a known OS)     OS = it; architecture = the *host's* GOARCH; variant = the host's CPU
                           variant only for 32-bit ``arm`` and only if that is not ``v7``
``arm64`` (an arch)        architecture normalized; OS = the *calling process's* GOOS. That is
                           why a CLI on macOS turns ``amd64`` into ``darwin/amd64``
``linux/arm``              os/arch normalized; ``arm`` normalizes to ``arm/v7`` and parse then
                           clears that ``v7``: the result is ``linux/arm`` (variant empty)
``linux/arm/v7``           os/arch/variant normalized (``v7`` stays)
``linux/arm64/v8``         normalized, but an arm64 variant that normalizes to empty becomes
                           ``v8`` again: the result prints as ``linux/arm64/v8``
=========================  ====================================================================

So a parse result is normalized except for those three spots (host-filled values, the dropped
``arm`` ``v7``, the restored ``arm64`` ``v8``). ``str(p)`` is containerd's Format: the non-empty
parts joined with ``/``, or ``unknown`` when the OS is empty. ``p.format_all()`` (newer
containerd's FormatAll) adds ``(osversion+feature...)`` after the OS.

Normalization (``normalize``, ``normalize_os``, ``normalize_arch``)
===================================================================

Everything is lowercased first. Then:

=====================  ===============  ==================  ==================  =================
architecture           variant          ``MOBY_20_10``      ``CONTAINERD_1_6``  ``PLATFORMS_1_0``
=====================  ===============  ==================  ==================  =================
``i386``               any              ``386``, cleared    same                same
``x86_64``/``x86-64``  any              ``amd64``, cleared  ``amd64``; ``v1``   same as 1.6
                                                            cleared, ``v2``-
                                                            ``v4`` kept
``amd64``              ``v1``           kept: ``amd64/v1``  cleared             cleared
``aarch64``/``arm64``  ``8``, ``v8``    ``arm64``, cleared  same                same
``aarch64``/``arm64``  ``v8.0``         kept                kept                cleared
``aarch64``/``arm64``  ``9``, ``9.0``,  kept                kept                ``v9``
                       ``v9.0``
``aarch64``/``arm64``  ``v8.N``, other  kept                kept                kept
``armhf``              any              ``arm/v7``          same                same
``armel``              any              ``arm/v6``          same                same
``arm``                empty, ``7``     ``arm/v7``          same                same
``arm``                ``5``, ``6``,    ``arm/v5``/``v6``/  same                same
                       ``8``            ``v8``
anything else          any              lowercased only     same                same
=====================  ===============  ==================  ==================  =================

The OS: empty becomes the OS of the process that normalizes (Go's ``runtime.GOOS``; here the
``goos`` argument, default ``linux`` because Docker's daemon is a Linux process, also under
Docker Desktop), ``macos`` becomes ``darwin``. ``os_version``/``os_features``: ``MOBY_20_10``
drops them, ``CONTAINERD_1_6`` keeps them as given, ``PLATFORMS_1_0`` keeps them with the
features sorted and deduplicated. Sources: containerd@e048c115 platforms/database.go
``normalizeArch`` (identical to containerd v1.4.0); containerd v1.6.0 platforms/database.go;
containerd/platforms v1.0.0-rc.1 and rc.4 database.go and platforms.go ``Normalize``.

Matchers
========

A :class:`Matcher` has ``match(p)`` and ``less(a, b)`` ("``a`` is preferred to ``b``").

* ``exact(p)`` is NewMatcher: normalize both sides, compare os, architecture and variant.
  ``PLATFORMS_1_0`` also requires the candidate's OS features to be a subset of ``p``'s.
* ``only(p)`` is Only: an ordered matcher over ``platform_vector(p)``, shown here for the
  normalized target (each candidate is compared after normalization, so ``amd64/v1`` is
  ``amd64`` and ``arm64/v8`` is ``arm64``):

  ==============  ==================  ==============================  ==========================
  target          ``MOBY_20_10``      ``CONTAINERD_1_6``              ``PLATFORMS_1_0``
  ==============  ==================  ==============================  ==========================
  ``amd64``       amd64               amd64, 386                      same as 1.6
  ``amd64/vN``    amd64/vN            amd64/vN ... v2, amd64, 386     same as 1.6
  ``arm/v8``      arm/v8, v7, v6, v5  same                            same
  ``arm/v7``      arm/v7, v6, v5      same                            same
  ``arm/v6``      arm/v6, v5          same                            same
  ``arm64``       arm64               arm64, arm/v8, v7, v6, v5       same as 1.6
  ``arm64/v8.N``  arm64/v8.N          arm64/v8.N, arm/v8.N            arm64/v8.N ... v8.1, arm64,
                                                                      arm/v8 ... v5
  ``arm64/v9``    arm64/v9            arm64/v9, arm/v9, v8 ... v5     arm64/v9, v8.5 ... v8.1,
                                                                      arm64, arm/v8 ... v5
  ``arm64/v9.N``  arm64/v9.N          arm64/v9.N, arm/v9.N            arm64/v9.N ... v9.1, v9,
                                                                      v8.min(N+5, 9) ... v8.1,
                                                                      arm64, arm/v8 ... v5
  other arm64     arm64/<it>          arm64/<it>, arm/<it>            nothing at all
  anything else   itself              itself                          itself
  ==============  ==================  ==============================  ==========================

  Sources: containerd@e048c115 platforms/compare.go ``Only`` (= containerd v1.4.0); containerd
  v1.6.0 platforms/compare.go ``platformVector`` (386 fallback: commit 5fa5f15d; amd64 variants:
  af83e9af; arm64 to arm: 4073aaa7); containerd/platforms v1.0.0-rc.1 compare.go
  ``arm64variantToVersion`` (364665a8), which knows ``v8``-``v8.9`` and ``v9``-``v9.7``.
* ``only_strict(p)`` is OnlyStrict: ``ordered(normalize(p))``, no fallbacks.
* ``ordered(*ps)``: matches any, the earliest hit is preferred. ``any_of(*ps)``: matches any, no
  preference. ``ALL``: matches everything.
* ``only_with_fallback(host)`` is moby's ``OnlyPlatformWithFallback`` (daemon/images/image.go),
  used for the create-time warning "The requested image's platform (...) does not match the
  detected host platform (...)": ``only(host)``, or, when the image has *no* variant, equal OS and
  architecture. ``only_with_fallback_20_10`` fixes the rules to 20.10.

How Docker picks from a manifest list
=====================================

* 20.10 (moby@v20.10.12 distribution/pull_v2_unix.go ``filterManifests``):
  :func:`match_entries_20_10`. Exact matches in list order; if none and the target is 32-bit
  ``arm``, every entry with the same raw OS and architecture, whatever its variant. No 386, no
  arm64-to-arm fallback. The pull takes the first index.
* 23.0+ (moby@v23.0.0, same file): :func:`match_entries_modern`. ``only(target)`` matches; an
  entry with no platform matches anything; the result is stably sorted by preference, with
  platform-less entries last. The arm variant-less fallback is gone (moby #44390).

The host default
================

``default_spec(goos, goarch, cpu_variant)`` is DefaultSpec: GOOS, GOARCH and, for ``arm`` and
``arm64`` only, the CPU variant, *not* normalized. On Linux the variant comes from the
"CPU architecture" line of /proc/cpuinfo (:func:`cpu_variant_from_cpuinfo`); every 64-bit ARM
kernel reports ``8`` there, on Darwin and Windows it is ``v8`` for arm64 and ``v7`` for arm. That
is why an arm64 Linux daemon, and the Linux VM behind Docker Desktop on an M1, prints
``linux/arm64/v8`` in "no matching manifest for linux/arm64/v8 in the manifest list entries" but
normalizes to ``linux/arm64`` when matching. From 23.0, moby's ``maximumSpec`` also gives an amd64
host its x86-64 level (``v1``-``v4``) as variant: :func:`maximum_spec`.

Version notes and limits: ``PLATFORMS_1_0`` follows v1.0.0-rc.4; rc.1 and rc.2 parsed
``os(version)`` but not ``+features`` or ``%``-escapes, and compared OS features only from rc.3.
containerd/platforms v0.2 (moby 27.x) already parsed ``os(version)``; ``CONTAINERD_1_6`` keeps
containerd 1.6's plain grammar. Not modelled: Windows OS-version matching and the ``win32k``
feature rules (archlab models Linux daemons), and Engines before 20.10.
"""

from __future__ import annotations

import json
import platform as _pyplatform
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cmp_to_key, lru_cache
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable
from urllib.parse import unquote

from archlab import limits
from archlab.errors import PlatformError

__all__ = [
    "ALL",
    "AMD64_LEVEL_FLAGS",
    "CURRENT_RULES",
    "DAEMON_OS",
    "Matcher",
    "Platform",
    "Rules",
    "amd64_variant_from_cpuinfo",
    "any_of",
    "cpu_variant_from_cpuinfo",
    "default_spec",
    "exact",
    "goarch_from_machine",
    "host_maximum_spec",
    "host_platform",
    "match_entries",
    "match_entries_20_10",
    "match_entries_modern",
    "maximum_spec",
    "normalize",
    "normalize_arch",
    "normalize_os",
    "only",
    "only_strict",
    "only_with_fallback",
    "only_with_fallback_20_10",
    "ordered",
    "parse",
    "platform_vector",
    "with_default",
]


# ---------------------------------------------------------------------------------------------
# Rule sets


class Rules(Enum):
    """Which version of containerd's ``platforms`` rules to apply (see the module docstring)."""

    MOBY_20_10 = "moby-20.10"
    CONTAINERD_1_6 = "containerd-1.6"
    PLATFORMS_1_0 = "platforms-1.0"

    @classmethod
    def for_engine(cls, version: str) -> Rules:
        """The rules Docker Engine ``version`` (``"20.10.12"``, ``"v27.5.1"``, ``"28.0"``) uses."""
        m = re.match(r"v?(\d+)\.(\d+)", version.strip()) if isinstance(version, str) else None
        if m is None:
            raise PlatformError(
                f"{version!r} is not a Docker Engine version; expected e.g. 20.10.12 or 27.5.1"
            )
        major, minor = int(m.group(1)), int(m.group(2))
        if (major, minor) < (20, 10):
            raise PlatformError(
                f"Docker Engine {version} is older than 20.10, whose rules archlab does not "
                "model; use Rules.MOBY_20_10 as the nearest"
            )
        if major < 22:
            return cls.MOBY_20_10
        if major < 28:
            return cls.CONTAINERD_1_6
        return cls.PLATFORMS_1_0


#: The rules of the newest code (containerd/platforms v1.0, Docker Engine 28+).
CURRENT_RULES: Final = Rules.PLATFORMS_1_0

#: The OS an empty OS normalizes to: Docker's daemon is a Linux process (Desktop runs it in a VM).
DAEMON_OS: Final = "linux"


# ---------------------------------------------------------------------------------------------
# The value


@dataclass(frozen=True)
class Platform:
    """An OCI platform: ``Platform("linux", "arm64", "v8")``. Values are kept as given (raw)."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("os", "architecture", "variant", "os_version"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise PlatformError(
                    f"Platform.{name} must be a string, got {type(value).__name__} {value!r}"
                )
        features = self.os_features
        if isinstance(features, str) or not isinstance(features, Sequence):
            raise PlatformError(
                "Platform.os_features must be a sequence of strings, got "
                f"{type(features).__name__} {features!r}"
            )
        if not all(isinstance(f, str) for f in features):
            raise PlatformError(f"Platform.os_features must hold only strings, got {features!r}")
        if not isinstance(features, tuple):  # keep the value hashable
            object.__setattr__(self, "os_features", tuple(features))

    def __str__(self) -> str:
        """containerd's Format: ``os/arch[/variant]``, or ``unknown`` when the OS is empty."""
        if not self.os:
            return "unknown"
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)

    def format_all(self) -> str:
        """FormatAll: like ``str()`` plus ``(osversion+feature...)`` after the OS when present.

        Features are printed sorted and without duplicates; ``%``, ``+``, ``(``, ``)`` and ``/``
        inside the version or a feature are %-escaped so that :func:`parse` can read it back.
        """
        if not self.os:
            return "unknown"
        head = self.os
        features = "+".join(_escape(f) for f in sorted(set(self.os_features)) if f)
        if self.os_version or features:
            head += "(" + _escape(self.os_version) + ("+" + features if features else "") + ")"
        return "/".join(part for part in (head, self.architecture, self.variant) if part)

    @property
    def is_unknown(self) -> bool:
        """True for BuildKit's attestation placeholder (``unknown/unknown``) and the like."""
        return self.os == "unknown" or self.architecture == "unknown"

    @classmethod
    def from_oci(cls, d: Mapping[str, Any]) -> Platform:
        """Read an OCI/Docker ``platform`` object (or an image config's platform fields).

        Keys: ``os``, ``architecture``, ``variant``, ``os.version``, ``os.features``. A missing
        key or JSON ``null`` reads as empty, as Go's decoder leaves it; other keys are ignored.
        """
        if not isinstance(d, Mapping):
            raise PlatformError(f"a platform must be a JSON object, got {type(d).__name__} {d!r}")
        values: dict[str, str] = {}
        for key in ("os", "architecture", "variant", "os.version"):
            value = d.get(key)
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise PlatformError(
                    f'platform field "{key}" must be a string, got {type(value).__name__} '
                    f"{value!r}"
                )
            values[key] = value
        features = d.get("os.features")
        if features is None:
            features = []
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise PlatformError(
                f'platform field "os.features" must be a list of strings, got {features!r}'
            )
        return cls(
            os=values["os"],
            architecture=values["architecture"],
            variant=values["variant"],
            os_version=values["os.version"],
            os_features=tuple(features),
        )

    def to_oci(self) -> dict[str, Any]:
        """The OCI JSON object, keys in Go's order; empty optional fields are left out."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out


def _escape(value: str) -> str:
    # '%' first so that the escapes themselves are not escaped again.
    for char, code in (("%", "%25"), ("+", "%2B"), ("(", "%28"), (")", "%29"), ("/", "%2F")):
        value = value.replace(char, code)
    return value


# ---------------------------------------------------------------------------------------------
# Known names (Go's syslist, as each version lists them)

_KNOWN_OS_20_10: Final = frozenset({
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "js", "linux", "nacl",
    "netbsd", "openbsd", "plan9", "solaris", "windows", "zos",
})
_KNOWN_OS: Final = _KNOWN_OS_20_10 | {"ios"}
_KNOWN_ARCH_20_10: Final = frozenset({
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "mips",
    "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390",
    "s390x", "sparc", "sparc64", "wasm",
})
_KNOWN_ARCH: Final = _KNOWN_ARCH_20_10 | {"loong64"}


def _known_os(os_: str, rules: Rules) -> bool:
    return os_ in (_KNOWN_OS_20_10 if rules is Rules.MOBY_20_10 else _KNOWN_OS)


def _known_arch(arch: str, rules: Rules) -> bool:
    return arch in (_KNOWN_ARCH_20_10 if rules is Rules.MOBY_20_10 else _KNOWN_ARCH)


# ---------------------------------------------------------------------------------------------
# Normalization


def normalize_os(os: str, *, goos: str = DAEMON_OS) -> str:
    """containerd's normalizeOS: empty -> ``goos``, lowercase, ``macos`` -> ``darwin``."""
    if not os:
        return goos
    os = os.lower()
    return "darwin" if os == "macos" else os


def normalize_arch(
    arch: str, variant: str, rules: Rules = CURRENT_RULES
) -> tuple[str, str]:
    """containerd's normalizeArch for ``rules``: ``("aarch64", "8")`` -> ``("arm64", "")``."""
    arch, variant = arch.lower(), variant.lower()
    modern = rules is not Rules.MOBY_20_10
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64") or (modern and arch == "amd64"):
        if not modern:
            return "amd64", ""
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        cleared = {"8", "v8", "v8.0"} if rules is Rules.PLATFORMS_1_0 else {"8", "v8"}
        if variant in cleared:
            variant = ""
        elif rules is Rules.PLATFORMS_1_0 and variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
        return "arm", variant
    return arch, variant


@lru_cache(maxsize=1024)  # a survey normalizes the same few platforms for every manifest
def normalize(p: Platform, rules: Rules = CURRENT_RULES, *, goos: str = DAEMON_OS) -> Platform:
    """containerd's Normalize for ``rules`` (see the table in the module docstring)."""
    arch, variant = normalize_arch(p.architecture, p.variant, rules)
    os_ = normalize_os(p.os, goos=goos)
    if rules is Rules.MOBY_20_10:
        return Platform(os_, arch, variant)
    features = p.os_features
    if rules is Rules.PLATFORMS_1_0:
        features = tuple(sorted(set(features)))
    return Platform(os_, arch, variant, p.os_version, features)


# ---------------------------------------------------------------------------------------------
# Parse

_COMPONENT_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_COMPONENT_DOT_RE: Final = re.compile(r"[A-Za-z0-9_.-]+")
_OS_OPTIONS_RE: Final = re.compile(
    r"([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?"
)
_BAD_ESCAPE_RE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _q(text: str) -> str:
    """Quote like Go's ``%q``, the way containerd's messages show a specifier."""
    return json.dumps(text, ensure_ascii=False)


def _unescape(spec: str, what: str, value: str) -> str:
    if _BAD_ESCAPE_RE.search(value):
        raise PlatformError(
            f"{_q(spec)}: bad %-escape in {what} {_q(value)}; write %25 for a literal %"
        )
    return unquote(value)


def parse(spec: str, *, host: Platform | None = None, rules: Rules = CURRENT_RULES) -> Platform:
    """containerd's Parse: ``"linux/arm64/v8"`` -> ``Platform("linux", "arm64", "v8")``.

    ``host`` is the *calling process's* DefaultSpec (GOOS, GOARCH, CPU variant), used for a
    one-part specifier; ``None`` means this machine (:func:`host_platform`). Where the daemon
    parses (``docker pull --platform``), pass the daemon's host. See the module docstring for
    which results are left unnormalized.
    """
    if not isinstance(spec, str):
        raise PlatformError(
            f"a platform specifier must be a string, got {type(spec).__name__} {spec!r}"
        )
    if spec == "":
        raise PlatformError('"": empty platform specifier; expected os[/arch[/variant]], '
                            "e.g. linux/arm64")
    if "*" in spec:
        raise PlatformError(
            f"{_q(spec)}: wildcards are not supported; name one platform, e.g. linux/amd64"
        )
    parts = spec.split("/")
    if len(parts) > 3:
        raise PlatformError(f"{_q(spec)}: too many parts; expected os[/arch[/variant]]")

    modern_grammar = rules is Rules.PLATFORMS_1_0
    os_version = ""
    os_features: tuple[str, ...] = ()
    first = parts[0]
    if modern_grammar:
        m = _OS_OPTIONS_RE.fullmatch(first)
        if m is None:
            raise PlatformError(
                f"{_q(spec)}: OS component {_q(first)} must be letters, digits, '_' or '-', "
                "optionally followed by (version+feature...)"
            )
        first = m.group(1)
        os_version = _unescape(spec, "OS version", m.group(2) or "")
        raw_features = (m.group(3) or "")[1:]
        if raw_features:
            os_features = tuple(
                f for f in (_unescape(spec, "OS feature", r) for r in raw_features.split("+")) if f
            )
    for part in parts[0 if not modern_grammar else 1:]:
        pattern = _COMPONENT_DOT_RE if modern_grammar else _COMPONENT_RE
        if not pattern.fullmatch(part):
            allowed = "letters, digits, '_', '-' and '.'" if modern_grammar else (
                "letters, digits, '_' and '-'"
            )
            raise PlatformError(f"{_q(spec)}: component {_q(part)} may only use {allowed}")

    os_ = normalize_os(first)
    if len(parts) == 1:
        if host is None:
            host = host_platform(rules)
        if _known_os(os_, rules):
            # The architecture is the caller's own; a CPU variant is added only for 32-bit arm.
            variant = host.variant if host.architecture == "arm" and host.variant != "v7" else ""
            return Platform(os_, host.architecture, variant, os_version, os_features)
        arch, variant = normalize_arch(parts[0], "", rules)
        if arch == "arm" and variant == "v7":
            variant = ""
        if _known_arch(arch, rules):
            return Platform(host.os, arch, variant)
        raise PlatformError(
            f"{_q(spec)}: neither a known operating system nor a known architecture; "
            "try e.g. linux, amd64 or linux/arm64"
        )
    if len(parts) == 2:
        arch, variant = normalize_arch(parts[1], "", rules)
        if arch == "arm" and variant == "v7":
            variant = ""
        return Platform(os_, arch, variant, os_version, os_features)
    arch, variant = normalize_arch(parts[1], parts[2], rules)
    if arch == "arm64" and variant == "":
        variant = "v8"
    return Platform(os_, arch, variant, os_version, os_features)


# ---------------------------------------------------------------------------------------------
# Matchers


@runtime_checkable
class Matcher(Protocol):
    """Decides whether a platform fits (``match``) and which of two it prefers (``less``)."""

    def match(self, p: Platform) -> bool: ...

    def less(self, a: Platform, b: Platform) -> bool: ...


def _strip_features(p: Platform) -> Platform:
    return Platform(p.os, p.architecture, p.variant, p.os_version)


@dataclass(frozen=True)
class _Exact:
    target: Platform  # normalized
    rules: Rules

    def match(self, p: Platform) -> bool:
        n = normalize(p, self.rules)
        t = self.target
        if (n.os, n.architecture, n.variant) != (t.os, t.architecture, t.variant):
            return False
        # From platforms rc.3 a candidate may only ask for OS features the target has.
        return self.rules is not Rules.PLATFORMS_1_0 or set(n.os_features) <= set(t.os_features)

    def less(self, a: Platform, b: Platform) -> bool:
        return self.match(a) and not self.match(b)

    def __str__(self) -> str:
        return f"exact({self.target.format_all()})"


@dataclass(frozen=True)
class _Ordered:
    matchers: tuple[_Exact, ...]
    rules: Rules

    @property
    def platforms(self) -> tuple[Platform, ...]:
        return tuple(m.target for m in self.matchers)

    def match(self, p: Platform) -> bool:
        return any(m.match(p) for m in self.matchers)

    def less(self, a: Platform, b: Platform) -> bool:
        features_count = self.rules is Rules.PLATFORMS_1_0
        for m in self.matchers:
            am, bm = m.match(a), m.match(b)
            if am and not bm:
                return True
            if am or bm:
                if features_count and am and bm and len(a.os_features) != len(b.os_features):
                    return len(a.os_features) > len(b.os_features)
                return False
        if features_count and (a.os_features or b.os_features):
            return self.less(_strip_features(a), _strip_features(b))
        return False

    def __str__(self) -> str:
        return "ordered(" + ", ".join(p.format_all() for p in self.platforms) + ")"


@dataclass(frozen=True)
class _AnyOf:
    matchers: tuple[_Exact, ...]
    rules: Rules

    def match(self, p: Platform) -> bool:
        return any(m.match(p) for m in self.matchers)

    def less(self, a: Platform, b: Platform) -> bool:
        features_count = self.rules is Rules.PLATFORMS_1_0
        am = bm = False
        for m in self.matchers:
            am = am or m.match(a)
            bm = bm or m.match(b)
            if am and bm:
                if features_count and len(a.os_features) != len(b.os_features):
                    return len(a.os_features) > len(b.os_features)
                return False
        if features_count and not am and not bm and (a.os_features or b.os_features):
            return self.less(_strip_features(a), _strip_features(b))
        return am and not bm

    def __str__(self) -> str:
        return "any_of(" + ", ".join(m.target.format_all() for m in self.matchers) + ")"


@dataclass(frozen=True)
class _All:
    def match(self, p: Platform) -> bool:
        return True

    def less(self, a: Platform, b: Platform) -> bool:
        return False

    def __str__(self) -> str:
        return "ALL"


#: Matches every platform, prefers none (containerd's ``platforms.All``).
ALL: Final[Matcher] = _All()


@dataclass(frozen=True)
class _OnlyWithFallback:
    only: _Ordered
    target: Platform  # normalized host
    rules: Rules

    def match(self, p: Platform) -> bool:
        if self.only.match(p):
            return True
        if p.variant:
            return False
        # An image config without a variant (the OCI config had no such field until 2019)
        # normalizes to a default variant, which is exactly what must not count here.
        n = normalize(p, self.rules)
        return (n.os, n.architecture) == (self.target.os, self.target.architecture)

    def less(self, a: Platform, b: Platform) -> bool:
        if self.only.match(a) or self.only.match(b):
            return self.only.less(a, b)
        return self.match(a) and not self.match(b)

    def __str__(self) -> str:
        return f"only_with_fallback({self.target})"


def exact(p: Platform, rules: Rules = CURRENT_RULES) -> Matcher:
    """NewMatcher: exact os/architecture/variant after normalizing both sides."""
    return _Exact(normalize(p, rules), rules)


def ordered(*platforms: Platform, rules: Rules = CURRENT_RULES) -> Matcher:
    """Ordered: matches any of ``platforms``; an earlier one is preferred."""
    return _Ordered(tuple(_Exact(normalize(p, rules), rules) for p in platforms), rules)


def any_of(*platforms: Platform, rules: Rules = CURRENT_RULES) -> Matcher:
    """Any: matches any of ``platforms``, a match preferred to a non-match, no other order."""
    return _AnyOf(tuple(_Exact(normalize(p, rules), rules) for p in platforms), rules)


_ARM64_TABLE: Final[dict[str, tuple[tuple[int, int], ...]]] = {
    # variant -> (major, highest minor) runs to walk down, from containerd/platforms rc.1+
    **{f"v8.{n}": ((8, n),) for n in range(1, 10)},
    "v8": ((8, 0),),
    "v8.0": ((8, 0),),
    **{f"v9.{n}": ((9, n), (8, min(n + 5, 9))) for n in range(1, 8)},
    "v9": ((9, 0), (8, 5)),
    "v9.0": ((9, 0), (8, 5)),
}


def _vector(p: Platform, rules: Rules) -> list[Platform]:
    """containerd's platformVector on an already normalized platform (raw candidates)."""

    def like(arch: str, variant: str) -> Platform:
        return Platform(p.os, arch, variant, p.os_version, p.os_features)

    if rules is Rules.MOBY_20_10:
        if p.architecture == "arm" and p.variant in ("v8", "v7", "v6"):
            top = int(p.variant[1:])
            return [like("arm", f"v{n}") for n in range(top, 4, -1)]
        return [p]

    arch, level = p.architecture, _vlevel(p.variant)
    # containerd counts down from any vN; the levels that exist stop at amd64 v4 and arm v8,
    # so counting from MAX_VARIANT_LEVEL at most changes nothing real, and "v999999999" can
    # no longer make a list of a billion candidates.
    below = min(level - 1, limits.MAX_VARIANT_LEVEL)
    if arch == "amd64":
        lower = [like("amd64", f"v{n}") for n in range(below, 0, -1)] if level else []
        return [p, *lower, like("386", "")]
    if arch == "arm":
        lower = [like("arm", f"v{n}") for n in range(below, 4, -1)] if level else []
        return [p, *lower]
    if arch == "arm64":
        variant = p.variant or "v8"
        if rules is Rules.CONTAINERD_1_6:
            return [p, *_vector(like("arm", variant), rules)]
        runs = _ARM64_TABLE.get(variant)
        if runs is None:
            return []  # an arm64 variant the table does not know matches nothing at all
        out = [
            like("arm64", f"v{major}" if minor == 0 else f"v{major}.{minor}")
            for major, top in runs
            for minor in range(top, -1, -1)
        ]
        return [*out, *_vector(like("arm", "v8"), rules)]
    return [p]


def _vlevel(variant: str) -> int:
    """Go's ``strconv.Atoi(strings.TrimPrefix(v, "v"))`` for the vN loops; 0 when not a number."""
    digits = variant[1:] if variant.startswith("v") else variant
    sign = digits[:1] in ("+", "-")
    if not digits[sign:].isdigit() or not digits[sign:].isascii():
        return 0
    if len(digits) > 20:  # past int64: Atoi fails (and int() of 4,300+ digits raises)
        return 0
    level = int(digits)
    return level if -(2**63) <= level < 2**63 else 0


def platform_vector(p: Platform, rules: Rules = CURRENT_RULES) -> list[Platform]:
    """The candidates ``only(p, rules)`` accepts, best first, each as the matcher compares it.

    >>> [str(c) for c in platform_vector(Platform("linux", "arm64"), Rules.CONTAINERD_1_6)]
    ['linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']
    """
    return [normalize(c, rules) for c in _vector(normalize(p, rules), rules)]


def _only(p: Platform, rules: Rules) -> _Ordered:
    candidates = _vector(normalize(p, rules), rules)
    return _Ordered(tuple(_Exact(normalize(c, rules), rules) for c in candidates), rules)


def only(p: Platform, rules: Rules = CURRENT_RULES) -> Matcher:
    """Only: ``p`` and what it can also run, in preference order (see the vector table)."""
    return _only(p, rules)


def only_strict(p: Platform, rules: Rules = CURRENT_RULES) -> Matcher:
    """OnlyStrict: ``p`` alone, after normalization; ``amd64`` does not take ``386``."""
    return ordered(normalize(p, rules), rules=rules)


def only_with_fallback(host: Platform, rules: Rules = CURRENT_RULES) -> Matcher:
    """moby's OnlyPlatformWithFallback: ``only(host)``, or same OS+arch for a variant-less image.

    Docker asks it whether an image's config platform fits the host before ``docker run``
    without ``--platform``; a ``False`` is the "does not match the detected host platform"
    warning. Pass ``default_spec(...)`` for 20.10 and ``maximum_spec(...)`` for 23+.
    """
    return _OnlyWithFallback(_only(host, rules), normalize(host, rules), rules)


def only_with_fallback_20_10(host: Platform) -> Matcher:
    """:func:`only_with_fallback` with Docker 20.10's rules (arm variant downgrades only)."""
    return only_with_fallback(host, Rules.MOBY_20_10)


# ---------------------------------------------------------------------------------------------
# Choosing manifest-list entries


def with_default(p: Platform | None, host: Platform) -> Platform:
    """moby's withDefault: fill an empty OS, or an empty architecture (with variant), from host."""
    if p is None:
        return host
    os_ = p.os or host.os
    if p.architecture:
        return Platform(os_, p.architecture, p.variant, p.os_version, p.os_features)
    return Platform(os_, host.architecture, host.variant, p.os_version, p.os_features)


def _require_target(target: Platform) -> None:
    if not isinstance(target, Platform):
        raise PlatformError(f"target must be a Platform, got {type(target).__name__} {target!r}")
    if not target.architecture:
        raise PlatformError(
            f"target {target} has no architecture; fill it from the host first with "
            "with_default(target, host)"
        )


def match_entries_20_10(
    entries: Sequence[Platform | None], target: Platform
) -> list[int]:
    """Indices of the entries Docker 20.10 accepts for ``target``, in list order.

    ``target`` is the ``--platform`` value or the daemon's DefaultSpec (see :func:`with_default`).
    Exact matches after normalization; if there are none and the target is 32-bit ``arm``, the
    deprecated fallback takes every entry whose raw OS and architecture equal the target's,
    whatever the variant. An entry without a platform (``None``) is Go's zero value and matches
    nothing. Docker pulls ``entries[result[0]]``.
    """
    _require_target(target)
    rules = Rules.MOBY_20_10
    wanted = normalize(target, rules)
    m = exact(wanted, rules)
    empty = Platform("", "")
    found = [i for i, e in enumerate(entries) if m.match(empty if e is None else e)]
    if not found and wanted.architecture == "arm":
        found = [
            i
            for i, e in enumerate(entries)
            if e is not None and (e.os, e.architecture) == (wanted.os, wanted.architecture)
        ]
    return found


def match_entries_modern(
    entries: Sequence[Platform | None], target: Platform, rules: Rules = CURRENT_RULES
) -> list[int]:
    """Indices of the entries Docker 23+ accepts for ``target``, best first.

    ``only(target)`` decides; an entry without a platform (``None``) matches anything. The
    indices are sorted stably by the matcher's preference, platform-less entries last, as
    ``sort.SliceStable`` does in moby's ``filterManifests``.
    """
    if rules is Rules.MOBY_20_10:
        raise PlatformError(
            "match_entries_modern models Docker 23+; use match_entries_20_10 for Rules.MOBY_20_10"
        )
    _require_target(target)
    m = only(normalize(target, rules), rules)
    found = [i for i, e in enumerate(entries) if e is None or m.match(e)]

    def compare(i: int, j: int) -> int:
        a, b = entries[i], entries[j]
        if a is None:
            return 0 if b is None else 1
        if b is None:
            return -1
        if m.less(a, b):
            return -1
        return 1 if m.less(b, a) else 0

    return sorted(found, key=cmp_to_key(compare))


def match_entries(
    entries: Sequence[Platform | None], target: Platform, rules: Rules = CURRENT_RULES
) -> list[int]:
    """:func:`match_entries_20_10` or :func:`match_entries_modern`, as ``rules`` says."""
    if rules is Rules.MOBY_20_10:
        return match_entries_20_10(entries, target)
    return match_entries_modern(entries, target, rules)


# ---------------------------------------------------------------------------------------------
# Host defaults

_ARM_ARCHES: Final = ("arm", "arm64")


def default_spec(goos: str, goarch: str, cpu_variant: str | None = None) -> Platform:
    """DefaultSpec of a process built for ``goos``/``goarch``: unnormalized, variant for ARM only.

    ``cpu_variant`` is what containerd derives for the CPU (:func:`cpu_variant_from_cpuinfo`).
    ``None`` means the usual value: ``v8`` for arm64 (every 64-bit ARM kernel reports CPU
    architecture 8, and Darwin/Windows hard-code it) and ``v7`` for arm (pass the real one for
    ARMv6/ARMv5 boards). So an arm64 Linux daemon is ``linux/arm64/v8``. A variant for any other
    architecture is an error: containerd never sets one (for amd64 levels see
    :func:`maximum_spec`).
    """
    if goarch not in _ARM_ARCHES:
        if cpu_variant:
            raise PlatformError(
                f"cpu_variant {cpu_variant!r} given for {goos}/{goarch}: DefaultSpec has a "
                "variant only for arm and arm64; an amd64 level goes to maximum_spec()"
            )
        return Platform(goos, goarch)
    if cpu_variant is None:
        cpu_variant = "v8" if goarch == "arm64" else "v7"
    return Platform(goos, goarch, cpu_variant)


_AMD64_LEVELS: Final = ("v1", "v2", "v3", "v4")


def maximum_spec(
    host: Platform, amd64_variant: str | None = None, *, rules: Rules = CURRENT_RULES
) -> Platform:
    """moby 23+'s maximumSpec: the host's DefaultSpec, an amd64 host with its x86-64 level.

    The result is the target when pulling without ``--platform`` and the "detected host
    platform" of the create warning, which is why 23+ may print ``(linux/amd64/v3)``. For
    ``Rules.MOBY_20_10`` there is no such step and ``host`` comes back as it is.
    ``amd64_variant`` (``v1``-``v4``, see :func:`amd64_variant_from_cpuinfo`) is required for an
    amd64 host and unused otherwise.
    """
    if rules is Rules.MOBY_20_10 or host.architecture != "amd64":
        return host
    if amd64_variant not in _AMD64_LEVELS:
        raise PlatformError(
            f"maximum_spec({host}) needs amd64_variant, one of v1, v2, v3, v4 (got "
            f"{amd64_variant!r}); amd64_variant_from_cpuinfo() reads it from /proc/cpuinfo"
        )
    return Platform(host.os, host.architecture, amd64_variant, host.os_version, host.os_features)


def _cpuinfo_field(text: str, name: str) -> str | None:
    """The value of the first ``name: value`` line, matched case-insensitively like containerd."""
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 1 and fields[0].strip().lower() == name.lower():
            return fields[1].strip()
    return None


def _variant_from_machine(machine: str) -> str | None:
    """containerd's getCPUVariantFromArch: ``aarch64`` -> ``8``, ``armv7l`` -> ``7``."""
    machine = machine.lower()
    if machine == "aarch64":
        return "8"
    if machine.startswith("armv") and len(machine) >= 5:
        digit = machine[4]
        return digit if digit in "345678" else "unknown"
    return None


_ARM_VARIANTS: Final[dict[str, str]] = {
    "8": "v8", "aarch64": "v8",
    "7": "v7", "7m": "v7", "?(12)": "v7", "?(13)": "v7", "?(14)": "v7", "?(15)": "v7",
    "?(16)": "v7", "?(17)": "v7",
    "6": "v6", "6tej": "v6",
    "5": "v5", "5t": "v5", "5te": "v5", "5tej": "v5",
    "4": "v4", "4t": "v4",
    "3": "v3",
}


def cpu_variant_from_cpuinfo(
    text: str, goarch: str, *, machine: str = "", rules: Rules = CURRENT_RULES
) -> str:
    """The ARM CPU variant containerd reads from /proc/cpuinfo's "CPU architecture" line.

    Only for ``goarch`` arm/arm64 (``""`` otherwise). ``8``/``aarch64`` -> ``v8``, except that
    ``MOBY_20_10`` says ``v7`` for a 32-bit userland (``goarch="arm"``) on an aarch64 CPU;
    ``7`` (and ``7M``, ``?(12)``-``?(17)``) -> ``v7``, but ``v6`` on a 32-bit process whose
    "model name" starts with ``ARMv6-compatible`` (Raspberry Pi 1/Zero report 7); ``6``/``6TEJ``
    -> ``v6``; ``5``/``5T``/``5TE``/``5TEJ`` -> ``v5``; ``4``/``4T`` -> ``v4``; ``3`` -> ``v3``;
    anything else ``unknown``. Case-insensitive. Without that line the result is ``""``, except
    that newer containerd (1.6.22+, 1.7, and ``PLATFORMS_1_0``) falls back to ``uname -m``
    (``machine``): ``aarch64`` -> 8, ``armvN...`` -> N.
    Sources: containerd@e048c115 platforms/cpuinfo.go; containerd/platforms cpuinfo_linux.go.
    """
    if goarch not in _ARM_ARCHES:
        return ""
    raw = _cpuinfo_field(text, "cpu architecture")
    if raw is None:
        if rules is Rules.MOBY_20_10 or not machine:
            return ""
        raw = _variant_from_machine(machine)
        if raw is None:
            return ""
    if goarch == "arm" and raw == "7":
        model = _cpuinfo_field(text, "model name") or ""
        if model.lower().startswith("armv6-compatible"):
            raw = "6"
    variant = _ARM_VARIANTS.get(raw.lower(), "unknown")
    if variant == "v8" and goarch == "arm" and rules is Rules.MOBY_20_10:
        return "v7"
    return variant


#: x86-64 micro-architecture levels as /proc/cpuinfo "flags" names. go-archvariant (which moby
#: uses) tests the same CPUID bits: v2 = CMPXCHG16B, LAHF/SAHF, POPCNT, SSE3 (``pni``), SSSE3,
#: SSE4.1, SSE4.2; v3 adds AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT (``abm``), MOVBE, XSAVE;
#: v4 adds AVX512F, AVX512BW, AVX512CD, AVX512DQ, AVX512VL. The kernel hides AVX/AVX-512 flags
#: whose register state the OS does not enable, which stands in for go-archvariant's XGETBV test.
AMD64_LEVEL_FLAGS: Final[dict[str, frozenset[str]]] = {
    "v2": frozenset({"cx16", "lahf_lm", "popcnt", "pni", "ssse3", "sse4_1", "sse4_2"}),
}
AMD64_LEVEL_FLAGS["v3"] = AMD64_LEVEL_FLAGS["v2"] | {
    "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"
}
AMD64_LEVEL_FLAGS["v4"] = AMD64_LEVEL_FLAGS["v3"] | {
    "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"
}


def amd64_variant_from_cpuinfo(text: str) -> str:
    """The x86-64 level (``v1``-``v4``) of the first CPU's ``flags`` line; ``v1`` without one."""
    flags = set((_cpuinfo_field(text, "flags") or "").split())
    for level in ("v4", "v3", "v2"):
        if AMD64_LEVEL_FLAGS[level] <= flags:
            return level
    return "v1"


_MACHINE_TO_GOARCH: Final[dict[str, str]] = {
    "x86_64": "amd64", "amd64": "amd64", "x64": "amd64",
    "i386": "386", "i486": "386", "i586": "386", "i686": "386", "x86": "386",
    "aarch64": "arm64", "arm64": "arm64", "aarch64_be": "arm64be",
    "armv5l": "arm", "armv5tel": "arm", "armv5tejl": "arm", "armv6l": "arm", "armv7l": "arm",
    "armv7hl": "arm", "armv8l": "arm", "arm": "arm",
    "ppc64le": "ppc64le", "ppc64": "ppc64", "ppc": "ppc",
    "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loong64",
    "mips": "mips", "mips64": "mips64",  # uname does not say the byte order; Go's big-endian names
}


def goarch_from_machine(uname_machine: str) -> str:
    """Go's GOARCH name for a ``uname -m`` (or ``platform.machine()``) value.

    ``x86_64`` -> amd64, ``aarch64``/``arm64`` -> arm64, ``armv7l``/``armv6l`` -> arm,
    ``i686``/``i386`` -> 386, ``loongarch64`` -> loong64; ``ppc64le``, ``s390x``, ``riscv64`` keep
    their names. ``mips``/``mips64`` stay the big-endian names because uname cannot tell. Anything
    unknown comes back unchanged.
    """
    return _MACHINE_TO_GOARCH.get(uname_machine.lower(), uname_machine)


def _read_cpuinfo() -> str | None:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def host_platform(rules: Rules = CURRENT_RULES) -> Platform:
    """DefaultSpec of the machine (and Python build) we run on. Never fails.

    A 32-bit Python on a 64-bit kernel is treated like a 32-bit Go binary (``arm``/``386``), as
    a Docker built for that userland would be. On Linux ARM the variant comes from
    /proc/cpuinfo; on Darwin/Windows it is ``v8``/``v7``; an unreadable cpuinfo gives ``""``, as
    containerd does when it cannot open the file.
    """
    goos = _pyplatform.system().lower()
    machine = _pyplatform.machine()
    goarch = goarch_from_machine(machine)
    if struct.calcsize("P") == 4:
        goarch = {"arm64": "arm", "amd64": "386"}.get(goarch, goarch)
    if goarch not in _ARM_ARCHES:
        return Platform(goos, goarch)
    if goos in ("darwin", "windows"):
        return Platform(goos, goarch, "v8" if goarch == "arm64" else "v7")
    if goos == "linux":
        text = _read_cpuinfo()
        if text is None:
            return Platform(goos, goarch)
        return Platform(goos, goarch, cpu_variant_from_cpuinfo(text, goarch, machine=machine,
                                                               rules=rules))
    if goos == "freebsd" and rules is not Rules.MOBY_20_10:
        return Platform(goos, goarch, "v8" if goarch == "arm64" else "unknown")
    return Platform(goos, goarch)


def host_maximum_spec(rules: Rules = CURRENT_RULES) -> Platform:
    """:func:`maximum_spec` of this machine; the amd64 level from /proc/cpuinfo (``v1`` if none)."""
    host = host_platform(rules)
    level = None
    if host.architecture == "amd64" and rules is not Rules.MOBY_20_10:
        level = amd64_variant_from_cpuinfo(_read_cpuinfo() or "")
    return maximum_spec(host, level, rules=rules)
