"""Host profiles: the Docker machines archlab predicts for, written down as data.

Whether ``docker run mysql:5.7`` works depends less on the image than on the machine: which
platform the daemon believes it is (``linux/arm64/v8`` on an M1), which binaries its kernel can
execute, whether qemu or Rosetta stands in for the others, which Engine version decides how a
manifest list is matched, and which runc prints the "exec format error". A *host profile*
collects exactly those facts, one YAML file per host, so :mod:`archlab.simulate` can answer
"what would this machine print?" and a notebook can put two machines side by side.

How do I use it?
================

::

    from archlab.hosts import get_host, list_hosts
    m1 = get_host("m1-desktop-4.3")
    m1.daemon_platform            # Platform(os='linux', architecture='arm64', variant='v8')
    m1.emulator_for("linux/amd64")  # Emulation(platform=..., method='qemu', version='')
    m1.runs_natively("linux/arm/v7")  # False: the M1 has no 32-bit mode
    list_hosts()                  # a pandas DataFrame, one row per profile

Shipped profiles
================

=========================  =============================================================
name                       what it is
=========================  =============================================================
``m1-desktop-4.3``         the story's host A: Apple M1, Docker Desktop 4.3 (Engine
                           20.10.11, runc 1.0.2), qemu for amd64
``multipass-ubuntu-arm64`` the story's host B: Ubuntu 20.04 arm64 in Multipass, Engine
                           20.10.12, runc 1.0.2, no binfmt
``this-machine``           the oracle: Debian 12 amd64, docker.io 20.10.24, runc 1.1.5,
                           containerd 1.6.20, no binfmt (what archlab calibrates against)
``ubuntu-amd64-qemu``      amd64, Engine 24, qemu-user-static binfmt for arm64, arm,
                           ppc64le, s390x, riscv64
``raspberry-pi-os-32``     a 32-bit armhf daemon: ``linux/arm/v7``
``apple-silicon-rosetta``  Docker Desktop 4.25+ (Engine 24.0.6): Rosetta for amd64, qemu
                           for the rest
``linux-arm64-docker29``   a current arm64 server, Engine 29 with the containerd image store
=========================  =============================================================

Where profiles come from
========================

:func:`load_hosts` reads every ``*.yaml`` file of these directories, in this order; a later
file with the same name (the file stem) replaces an earlier one, so you can override a shipped
profile as well as add your own:

1. the shipped ``data/hosts/`` (in a source checkout; ``archlab/data/hosts`` when installed);
2. the user's config directory, ``platformdirs.user_config_dir("archlab")/hosts``
   (``~/.config/archlab/hosts`` on Linux);
3. every directory in ``$ARCHLAB_HOSTS_DIR`` (several may be joined with ``os.pathsep``);
4. the ``extra_dirs`` you pass.

The file format
===============

=====================  ========  ===============================================================
key                    required  meaning
=====================  ========  ===============================================================
``display_name``       yes       a short title for tables and plots
``description``        yes       one paragraph: what the machine is and why it behaves as it does
``daemon_platform``    yes       the daemon's DefaultSpec as it prints it: ``linux/arm64/v8``,
                                 ``linux/amd64``, ``linux/arm/v7`` (not normalized)
``client_os``          yes       the CLI's OS: ``darwin`` for Docker Desktop on a Mac. The 20.10
                                 CLI parses ``docker run --platform`` itself, so a bare ``amd64``
                                 becomes ``darwin/amd64`` there
``native``             yes       platforms the kernel executes directly. An amd64 host usually
                                 also runs ``linux/386``; a lower arm variant is covered by a
                                 higher one (``arm/v7`` runs v6 and v5 code)
``emulated``           no        a list of ``{platform, method, version}``: ``method`` is ``qemu``
                                 (binfmt_misc) or ``rosetta``; one entry covers every variant of
                                 its architecture
``engine``             yes       Docker Engine version, ``20.10.12``
``image_store``        yes       ``graphdriver`` or ``containerd``
``runc``               yes       runc version: decides the exec-format-error text
``containerd``         yes       containerd version (informative)
``compose``            no        Compose version (``2.2.1``, ``1.25.0``) or ``null``
``platforms_rules``    no        ``moby-20.10``, ``containerd-1.6`` or ``platforms-1.0``: the
                                 ``platforms.Only`` rules of this build, when they differ from
                                 ``Rules.for_engine(engine)`` (Debian's 20.10 uses 1.6)
``amd64_level``        no        ``v1``-``v4``: the x86-64 level Engine 23+ adds to an amd64 host
                                 platform (default ``v1``)
``notes``, ``sources``  no       lists of strings: what is measured, what is assumed, and where
                                 from
``name``               no        must equal the file stem when given
=====================  ========  ===============================================================

A profile that breaks these rules raises :class:`~archlab.errors.LabError` whose message names
the file and the key, e.g. ``.../bad.yaml: key 'native[1]': "linux/arm64/v8/x": too many
parts; expected os[/arch[/variant]]``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd
import platformdirs

from archlab import decoding, limits, shipped
from archlab.errors import LabError, PlatformError
from archlab.platforms import Platform, Rules, normalize, parse

__all__ = [
    "ENV_VAR",
    "IMAGE_STORES",
    "METHODS",
    "Emulation",
    "Host",
    "get_host",
    "host_dirs",
    "list_hosts",
    "load_host_file",
    "load_hosts",
]

#: Environment variable naming extra profile directories (``os.pathsep``-separated).
ENV_VAR: Final = "ARCHLAB_HOSTS_DIR"
#: Allowed ``image_store`` values.
IMAGE_STORES: Final = ("graphdriver", "containerd")
#: Allowed emulation methods.
METHODS: Final = ("qemu", "rosetta")

_VERSION_RE: Final = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+~.].*)?")
_AMD64_LEVELS: Final = ("v1", "v2", "v3", "v4")


def _version_tuple(text: str) -> tuple[int, int, int]:
    m = _VERSION_RE.fullmatch(text)
    if m is None:
        raise ValueError(text)
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


@dataclass(frozen=True)
class Emulation:
    """How a host runs one foreign architecture: ``qemu`` (with its version) or ``rosetta``."""

    platform: Platform
    method: str
    version: str = ""

    def describe(self) -> str:
        """``qemu 6.2`` / ``qemu`` / ``rosetta``."""
        return f"{self.method} {self.version}".strip()


def _covers(native: Platform, binary: Platform) -> bool:
    """Whether a CPU of platform ``native`` executes code built for ``binary``."""
    n, b = normalize(native), normalize(binary)
    if (n.os, n.architecture) != (b.os, b.architecture):
        return False
    if n.architecture == "arm" and binary.variant and native.variant:
        # ARM is backward compatible: a v7 core runs v6 and v5 code, not the reverse.
        return _arm_level(b.variant) <= _arm_level(n.variant)
    return True


def _arm_level(variant: str) -> int:
    digits = variant.lstrip("v")
    # ASCII and short: "²".isdigit() is true but int("²") raises, as does int() of 4,300 digits
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 10 else 0


def _as_platform(p: Platform | str) -> Platform:
    if isinstance(p, Platform):
        return p
    parts = p.split("/")
    if len(parts) == 1:
        parts = ["linux", *parts]
    return Platform(*parts)


@dataclass(frozen=True)
class Host:
    """One Docker host, as a profile file describes it (see the module docstring)."""

    name: str
    display_name: str
    description: str
    daemon_platform: Platform
    client_os: str
    native: tuple[Platform, ...]
    emulated: tuple[Emulation, ...]
    engine: str
    image_store: str
    runc: str
    containerd: str
    compose: str | None = None
    platforms_rules: Rules | None = None
    amd64_level: str | None = None
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    path: Path | None = field(default=None, compare=False)

    @property
    def engine_version(self) -> tuple[int, int, int]:
        """``(20, 10, 12)``."""
        return _version_tuple(self.engine)

    @property
    def runc_version(self) -> str:
        return self.runc

    @property
    def compose_version(self) -> tuple[int, int, int] | None:
        return None if self.compose is None else _version_tuple(self.compose)

    @property
    def rules(self) -> Rules:
        """The ``platforms.Only`` rules this build uses (``platforms_rules`` or the Engine's)."""
        return self.platforms_rules or Rules.for_engine(self.engine)

    @property
    def containerd_store(self) -> bool:
        return self.image_store == "containerd"

    @property
    def client_platform(self) -> Platform:
        """The CLI's own platform: its OS is ``client_os``, its CPU the daemon's."""
        d = self.daemon_platform
        return Platform(self.client_os, d.architecture, d.variant)

    def native_for(self, platform: Platform | str) -> Platform | None:
        """The native platform that runs ``platform``'s binaries, or ``None``."""
        binary = _as_platform(platform)
        return next((n for n in self.native if _covers(n, binary)), None)

    def runs_natively(self, platform: Platform | str) -> bool:
        return self.native_for(platform) is not None

    def emulator_for(self, platform: Platform | str) -> Emulation | None:
        """The emulation that runs ``platform``'s binaries (any variant of its arch), or None."""
        b = normalize(_as_platform(platform))
        for e in self.emulated:
            t = normalize(e.platform)
            if (t.os, t.architecture) == (b.os, b.architecture):
                return e
        return None

    def summary(self) -> dict[str, Any]:
        """One flat row for :func:`list_hosts`."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "daemon_platform": str(self.daemon_platform),
            "client_os": self.client_os,
            "native": ", ".join(str(p) for p in self.native),
            "emulated": ", ".join(f"{e.platform} ({e.describe()})" for e in self.emulated),
            "engine": self.engine,
            "image_store": self.image_store,
            "runc": self.runc,
            "containerd": self.containerd,
            "compose": self.compose,
            "rules": self.rules.value,
            "source": str(self.path) if self.path else "",
        }


# ---------------------------------------------------------------------------------------------
# Reading and validating profile files

_REQUIRED: Final = (
    "display_name", "description", "daemon_platform", "client_os", "native", "engine",
    "image_store", "runc", "containerd",
)
_OPTIONAL: Final = (
    "name", "emulated", "compose", "platforms_rules", "amd64_level", "notes", "sources",
)
_EMULATION_KEYS: Final = ("platform", "method", "version")
_OS_RE: Final = re.compile(r"[a-z0-9_-]+")


class _Profile:
    """Typed access to one parsed YAML mapping; every failure names file and key."""

    def __init__(self, path: Path, doc: Mapping[str, Any]):
        self.path = path
        self.doc = doc

    def fail(self, key: str, problem: str) -> LabError:
        return LabError(f"{self.path}: key {key!r}: {problem}")

    def text(self, key: str, value: Any, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            # YAML reads 20.10 as a float and 1 as an int; versions must be quoted strings.
            raise self.fail(key, f"must be a string, got the number {value!r}; quote it "
                                 f'("{value}")')
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value.strip()

    def version(self, key: str, value: Any, *, optional: bool = False) -> str | None:
        text = self.text(key, value, optional=optional)
        if text is None:
            return None
        try:
            _version_tuple(text)
        except ValueError:
            raise self.fail(key, f"{text!r} is not a version; expected e.g. 20.10.12") from None
        return text

    def platform(self, key: str, value: Any) -> Platform:
        text = self.text(key, value)
        assert text is not None
        parts = text.split("/")
        if len(parts) not in (2, 3):
            problem = "too many parts" if len(parts) > 3 else "an OS and an architecture needed"
            raise self.fail(key, f"{text!r}: {problem}; expected os/arch[/variant], "
                                 "e.g. linux/arm64/v8")
        try:
            parse(text)  # containerd's grammar: components, wildcards
        except PlatformError as e:
            raise self.fail(key, str(e)) from None
        if text != text.lower():
            raise self.fail(key, f"{text!r}: write it in lowercase, as Docker prints it")
        return Platform(*parts)

    def platforms(self, key: str, value: Any) -> tuple[Platform, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"must be a non-empty list of platforms, got {value!r}")
        return tuple(self.platform(f"{key}[{i}]", v) for i, v in enumerate(value))

    def strings(self, key: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list of strings, got {value!r}")
        return tuple(self.text(f"{key}[{i}]", v) or "" for i, v in enumerate(value))

    def emulations(self, key: str, value: Any) -> tuple[Emulation, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list of {{platform, method, version}}, got {value!r}")
        out = []
        for i, item in enumerate(value):
            where = f"{key}[{i}]"
            if not isinstance(item, Mapping):
                raise self.fail(where, f"must be a mapping with platform and method, got {item!r}")
            self.unknown_keys(item, _EMULATION_KEYS, prefix=f"{where}.")
            for k in ("platform", "method"):
                if k not in item:
                    raise self.fail(f"{where}.{k}", "is missing")
            method = self.text(f"{where}.method", item["method"])
            if method not in METHODS:
                raise self.fail(f"{where}.method", f"{method!r} is not one of {', '.join(METHODS)}")
            version = self.text(f"{where}.version", item.get("version"), optional=True) or ""
            out.append(Emulation(self.platform(f"{where}.platform", item["platform"]), method,
                                 version))
        return tuple(out)

    def unknown_keys(self, doc: Mapping[str, Any], known: Sequence[str], prefix: str = "") -> None:
        for key in doc:
            if key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                also = f"; did you mean {hint[0]!r}?" if hint else ""
                raise self.fail(f"{prefix}{key}", f"unknown key (known: {', '.join(known)}){also}")


# Parsed profiles by (path, mtime, size): get_host() reads every directory on each call.
_CACHE: dict[tuple[str, int, int], Host] = {}


def load_host_file(path: str | os.PathLike[str]) -> Host:
    """Read and validate one profile file; the host's name is the file stem."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as e:
        raise LabError(f"{path}: cannot read the host profile: {e.strerror or e}") from None
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        _CACHE[key] = _read_host_file(path)
    return _CACHE[key]


def _read_host_file(path: Path) -> Host:
    # Within limits (a regular file; depth, aliases and expanded size bounded), with
    # file:line:column in every YAML message.
    text = decoding.read_text(path, max_bytes=limits.MAX_YAML_BYTES, what="host profile",
                              error=LabError)
    doc = decoding.load_yaml(text, what=str(path), error=LabError)
    if not isinstance(doc, Mapping):
        raise LabError(f"{path}: a host profile must be a YAML mapping of keys, got "
                       f"{type(doc).__name__}")
    p = _Profile(path, doc)
    p.unknown_keys(doc, _REQUIRED + _OPTIONAL)
    for key in _REQUIRED:
        if key not in doc:
            raise p.fail(key, "is missing; every profile needs " + ", ".join(_REQUIRED))

    name = path.stem
    if "name" in doc and p.text("name", doc["name"]) != name:
        raise p.fail("name", f"{doc['name']!r} differs from the file name {name!r}; rename "
                             "one of them")
    client_os = p.text("client_os", doc["client_os"])
    if not client_os or not _OS_RE.fullmatch(client_os):
        raise p.fail("client_os", f"{client_os!r} is not an OS name such as linux or darwin")
    store = p.text("image_store", doc["image_store"])
    if store not in IMAGE_STORES:
        raise p.fail("image_store", f"{store!r} is not one of {', '.join(IMAGE_STORES)}")
    engine = p.version("engine", doc["engine"])
    assert engine is not None
    try:
        Rules.for_engine(engine)
    except PlatformError as e:
        raise p.fail("engine", str(e)) from None
    rules = None
    if doc.get("platforms_rules") is not None:
        value = p.text("platforms_rules", doc["platforms_rules"])
        try:
            rules = Rules(value)
        except ValueError:
            known = ", ".join(r.value for r in Rules)
            raise p.fail("platforms_rules", f"{value!r} is not one of {known}") from None
    level = p.text("amd64_level", doc.get("amd64_level"), optional=True)
    if level is not None and level not in _AMD64_LEVELS:
        raise p.fail("amd64_level", f"{level!r} is not one of {', '.join(_AMD64_LEVELS)}")
    daemon = p.platform("daemon_platform", doc["daemon_platform"])
    return Host(
        name=name,
        display_name=p.text("display_name", doc["display_name"]) or "",
        description=" ".join((p.text("description", doc["description"]) or "").split()),
        daemon_platform=daemon,
        client_os=client_os,
        native=p.platforms("native", doc["native"]),
        emulated=p.emulations("emulated", doc.get("emulated")),
        engine=engine,
        image_store=store,
        runc=p.version("runc", doc["runc"]) or "",
        containerd=p.version("containerd", doc["containerd"]) or "",
        compose=p.version("compose", doc.get("compose"), optional=True),
        platforms_rules=rules,
        amd64_level=level,
        notes=tuple(" ".join(n.split()) for n in p.strings("notes", doc.get("notes"))),
        sources=p.strings("sources", doc.get("sources")),
        path=path,
    )


def host_dirs(extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """The directories :func:`load_hosts` reads, lowest precedence first (existing or not)."""
    dirs: list[Path] = []
    dirs.append(shipped.data_path("hosts"))
    dirs.append(Path(platformdirs.user_config_dir("archlab")) / "hosts")
    for entry in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if entry.strip():
            dirs.append(Path(entry).expanduser())
    dirs.extend(Path(d).expanduser() for d in extra_dirs)
    return dirs


def load_hosts(extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> dict[str, Host]:
    """Every profile, by name; later directories override earlier ones (see the docstring)."""
    hosts: dict[str, Host] = {}
    for d in host_dirs(extra_dirs):
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.yaml")):
            host = load_host_file(path)
            hosts[host.name] = host
    return dict(sorted(hosts.items()))


def get_host(name: str | Host, extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> Host:
    """The profile called ``name`` (a :class:`Host` is returned as it is)."""
    if isinstance(name, Host):
        return name
    hosts = load_hosts(extra_dirs)
    try:
        return hosts[name]
    except KeyError:
        hint = difflib.get_close_matches(name, list(hosts), n=1)
        also = f"; did you mean {hint[0]!r}?" if hint else ""
        raise LabError(
            f"no host profile named {name!r} (known: {', '.join(hosts)}){also}; add "
            f"<name>.yaml to one of: {', '.join(str(d) for d in host_dirs(extra_dirs))}"
        ) from None


def list_hosts(extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> pd.DataFrame:
    """All profiles as a DataFrame, one row per host, indexed by name."""
    rows = [h.summary() for h in load_hosts(extra_dirs).values()]
    return pd.DataFrame(rows).set_index("name") if rows else pd.DataFrame()
