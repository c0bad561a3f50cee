"""Run a binary the way a host would: natively, under qemu, or not at all.

What it is for
--------------
The story's failures end in one line: ``exec format error``. This module runs real executables
(the tiny ones from :mod:`archlab.elf`, or a file taken out of a pulled image's layer with
:func:`extract_file_from_layer`) so that line comes from the kernel, not from a template, and
shows qemu user-mode emulation turning the same file into a working program.

How do I use it?
----------------
::

    from archlab.elf import hello_binary
    from archlab.emulation import run_native, run_emulated, run_as_host, host_native_platforms
    path.write_bytes(hello_binary("linux/arm64")); path.chmod(0o755)
    run_native(path)      # RunResult(mode='exec-failed', errno=8, error='Exec format error', ...)
    run_emulated(path)    # RunResult(mode='emulated', stdout='hello from linux/arm64\\n', ...)
    # a Docker Desktop-like profile: arm64 CPU, amd64 emulated
    run_as_host(path, host_native={"linux/arm64"}, host_emulated={"linux/amd64"})

The three modes
---------------
================  ===========================================  ===================================
mode              what happens                                 what a person sees
================  ===========================================  ===================================
``native``        ``execve(path)``: the CPU runs the code      the program's own output
``emulated``      ``qemu-<arch>-static path``: qemu translates  the same output, slower
                  each instruction for this CPU
``exec-failed``   ``execve`` refused; ``errno`` says why       ENOEXEC (8) ``Exec format error``;
                  (ENOEXEC for a foreign ``e_machine``)        ENOENT for a missing ``#!`` or
                                                               ``PT_INTERP`` interpreter
``no-emulator``   emulation was asked for, no qemu binary      one line naming the package
================  ===========================================  ===================================

:func:`run_as_host` picks the mode as a host with a given profile would: native when the
binary's platform is one the host's CPU runs (an amd64 host also runs 386: the kernel's IA32
compat is real here), emulated when the profile says the host emulates that platform, else a
real native ``execve`` so that the failure is the kernel's own ENOEXEC.

Why we never register binfmt_misc
---------------------------------
Transparent emulation (``docker run --platform linux/arm64`` simply working on an amd64 host)
is the kernel's ``binfmt_misc``: a registration says "files whose header matches this
magic/mask are run by this interpreter". The table in ``/proc/sys/fs/binfmt_misc`` is global to
the kernel, shared by every container and every user of the machine, and writing it needs root.
A lab that registered handlers would change how the whole machine runs foreign binaries, and
would hide the very ENOEXEC it wants to show. So archlab never reads, writes or mounts it: it
starts ``qemu-<arch>-static`` explicitly, which is exactly what a handler would start.

Docker Desktop (and ``tonistiigi/binfmt``) registers its qemu handlers with the ``F``
(fix-binary) flag: the kernel opens the emulator when the handler is registered and keeps that
open file, so it works inside containers whose filesystem has no qemu at all. Without ``F``
(Debian's ``/usr/lib/binfmt.d/qemu-*.conf`` ship ``OPF``; only ``systemd-binfmt`` or
``update-binfmts`` would load them) the path is looked up at exec time, in the container's own
root. Plain Linux hosts with no handler (an Ubuntu VM on Apple silicon made by Multipass, say)
emulate nothing: a foreign image fails with ENOEXEC.

Emulator names
--------------
===============  ========================  ===============  ==========================
platform         emulator                  platform         emulator
===============  ========================  ===============  ==========================
linux/amd64      ``qemu-x86_64-static``    linux/ppc64le    ``qemu-ppc64le-static``
linux/386        ``qemu-i386-static``      linux/s390x      ``qemu-s390x-static``
linux/arm64      ``qemu-aarch64-static``   linux/riscv64    ``qemu-riscv64-static``
linux/arm/*      ``qemu-arm-static``       linux/mips64le   ``qemu-mips64el-static``
===============  ========================  ===============  ==========================

They come from Debian's ``qemu-user-static`` and are looked up on ``PATH``, then in
``/usr/bin``. qemu's default CPU for ``qemu-arm`` is the most capable one; pass ``cpu="arm926"``
(ARMv5), ``"arm1176"`` (ARMv6) or ``"cortex-a7"`` (ARMv7) to check a binary runs on the oldest
CPU of its variant.
"""

from __future__ import annotations

import os
import platform as _platform_mod
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from archlab import limits
from archlab.elf import ElfError, PlatformLike, normalize_platform, read_identity
from archlab.errors import LabError, PlatformError
from archlab.layers import open_layer

ENOEXEC = 8

QEMU_BINARIES: dict[str, str] = {
    "amd64": "qemu-x86_64-static",
    "386": "qemu-i386-static",
    "arm64": "qemu-aarch64-static",
    "arm": "qemu-arm-static",
    "ppc64le": "qemu-ppc64le-static",
    "s390x": "qemu-s390x-static",
    "riscv64": "qemu-riscv64-static",
    "mips64le": "qemu-mips64el-static",
}

_FALLBACK_DIRS = ("/usr/bin",)
# Cap for one file taken out of a layer: large enough for any real entrypoint binary.
DEFAULT_MAX_MEMBER_BYTES = limits.MAX_MEMBER_BYTES


@dataclass(frozen=True)
class RunResult:
    """The outcome of running one binary. ``errno``/``error`` are set only for exec-failed."""

    mode: str  # "native" | "emulated" | "no-emulator" | "exec-failed"
    emulator: str | None  # path of the qemu binary used
    exit_code: int | None
    stdout: str
    stderr: str
    errno: int | None  # 8 = ENOEXEC
    error: str | None  # "Exec format error", or the no-emulator line
    platform: str | None  # the binary's platform, as given or read from its ELF header

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


# --------------------------------------------------------------------------------------------
# Platforms


def _arch(platform: str | PlatformLike) -> str:
    return normalize_platform(platform).split("/")[1]


def _same_platform(binary: str, host: str) -> bool:
    """Whether ``binary`` is covered by the host entry ``host``.

    Same OS and architecture; a variant missing on either side (``linux/arm`` read from an ELF
    header cannot tell v6 from v7) does not block the match.
    """
    b, h = binary.split("/"), host.split("/")
    if b[:2] != h[:2]:
        return False
    return len(b) < 3 or len(h) < 3 or b[2] == h[2]


def _covered(binary: str, hosts: Iterable[str | PlatformLike]) -> bool:
    return any(_same_platform(binary, normalize_platform(h)) for h in hosts)


def host_native_platforms() -> frozenset[str]:
    """Platforms this machine's CPU runs without emulation.

    ============  ================================================================
    machine       platforms
    ============  ================================================================
    x86_64        linux/amd64, linux/386 (IA32 compat; absent if the kernel was built
                  without it or booted with ``ia32_emulation=0``)
    aarch64       linux/arm64 (many arm64 CPUs also run arm/v7, not all: not assumed)
    armv7l        linux/arm/v7, linux/arm/v6, linux/arm/v5
    others        their own platform only
    ============  ================================================================
    """
    machine = _platform_mod.machine().lower()
    little = sys.byteorder == "little"
    table: dict[str, tuple[str, ...]] = {
        "x86_64": ("linux/amd64", "linux/386"),
        "amd64": ("linux/amd64", "linux/386"),
        "i686": ("linux/386",),
        "i386": ("linux/386",),
        "aarch64": ("linux/arm64",),
        "arm64": ("linux/arm64",),
        "armv7l": ("linux/arm/v7", "linux/arm/v6", "linux/arm/v5"),
        "armv6l": ("linux/arm/v6", "linux/arm/v5"),
        "armv5tel": ("linux/arm/v5",),
        "ppc64le": ("linux/ppc64le",),
        "s390x": ("linux/s390x",),
        "riscv64": ("linux/riscv64",),
        "mips64": ("linux/mips64le",) if little else ("linux/mips64",),
    }
    return frozenset(table.get(machine, ()))


def _guess_platform(path: Path) -> str | None:
    try:
        return read_identity(path).platform_guess
    except ElfError:
        return None


# --------------------------------------------------------------------------------------------
# Running


def _executable(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise LabError(f"cannot run {p}: no such file (write the binary there first)")
    return p.absolute()  # an absolute path: never searched on PATH


def _finish(
    mode: str,
    argv: Sequence[str],
    *,
    timeout: float,
    emulator: str | None,
    platform: str | None,
) -> RunResult:
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise LabError(f"{argv[0]} did not finish within {timeout} s; raise timeout=") from e
    except OSError as e:
        if e.errno is None:
            raise
        return RunResult(
            mode="exec-failed",
            emulator=emulator,
            exit_code=None,
            stdout="",
            stderr="",
            errno=e.errno,
            error=os.strerror(e.errno),
            platform=platform,
        )
    return RunResult(
        mode=mode,
        emulator=emulator,
        exit_code=done.returncode,
        stdout=done.stdout.decode("utf-8", "replace"),
        stderr=done.stderr.decode("utf-8", "replace"),
        errno=None,
        error=None,
        platform=platform,
    )


def run_native(
    path: str | os.PathLike[str], args: Sequence[str] = (), timeout: float = 10
) -> RunResult:
    """``execve`` the file directly (no shell). A refused exec gives mode ``exec-failed``."""
    exe = _executable(path)
    return _finish(
        "native",
        [str(exe), *args],
        timeout=timeout,
        emulator=None,
        platform=_guess_platform(exe),
    )


def _search_dirs(search_path: str | Iterable[str | os.PathLike[str]] | None) -> list[str]:
    if search_path is None:
        dirs = os.environ.get("PATH", "").split(os.pathsep) + list(_FALLBACK_DIRS)
    elif isinstance(search_path, str):
        dirs = search_path.split(os.pathsep)
    else:
        dirs = [os.fspath(d) for d in search_path]
    return [d for d in dirs if d]


def qemu_binary_name(platform: str | PlatformLike) -> str:
    """``qemu-aarch64-static`` for ``linux/arm64`` etc. Raises PlatformError if there is none."""
    arch = _arch(platform)
    try:
        return QEMU_BINARIES[arch]
    except KeyError:
        known = ", ".join(sorted(QEMU_BINARIES))
        raise PlatformError(
            f"no qemu user-mode emulator is known for {normalize_platform(platform)}: "
            f"known architectures are {known}"
        ) from None


def qemu_for(
    platform: str | PlatformLike,
    search_path: str | Iterable[str | os.PathLike[str]] | None = None,
) -> Path | None:
    """Path of the qemu user-mode emulator for ``platform``, or None when it is not installed.

    ``search_path`` (a PATH-style string or a list of directories) replaces the default search
    of ``$PATH`` then ``/usr/bin``.
    """
    name = qemu_binary_name(platform)
    for d in _search_dirs(search_path):
        found = shutil.which(name, path=d)
        if found:
            return Path(found)
    return None


def no_emulator_message(platform: str | PlatformLike) -> str:
    """The one line shown when the emulator for ``platform`` is missing."""
    name = qemu_binary_name(platform)
    return (
        f"{name} not found: install Debian's qemu-user-static "
        '("apt-get install qemu-user-static")'
    )


def run_emulated(
    path: str | os.PathLike[str],
    platform: str | PlatformLike | None = None,
    args: Sequence[str] = (),
    timeout: float = 10,
    *,
    cpu: str | None = None,
    search_path: str | Iterable[str | os.PathLike[str]] | None = None,
) -> RunResult:
    """Run ``qemu-<arch>-static [-cpu CPU] path args...`` explicitly (no binfmt_misc).

    ``platform`` defaults to the one read from the file's ELF header. A missing emulator gives
    mode ``no-emulator`` with :func:`no_emulator_message` as ``error``.
    """
    exe = _executable(path)
    if platform is None:
        ident = read_identity(exe)
        if ident.platform_guess is None:
            what = f"a script for {ident.interpreter!r}" if ident.is_script else ident.summary()
            raise PlatformError(
                f"cannot tell which emulator runs {exe}: it is {what}; pass platform="
            )
        platform_str = ident.platform_guess
    else:
        platform_str = normalize_platform(platform)
    qemu = qemu_for(platform_str, search_path)
    if qemu is None:
        return RunResult(
            mode="no-emulator",
            emulator=None,
            exit_code=None,
            stdout="",
            stderr="",
            errno=None,
            error=no_emulator_message(platform_str),
            platform=platform_str,
        )
    cpu_args = ["-cpu", cpu] if cpu else []
    return _finish(
        "emulated",
        [str(qemu), *cpu_args, str(exe), *args],
        timeout=timeout,
        emulator=str(qemu),
        platform=platform_str,
    )


def _platform_words(platforms: Iterable[object]) -> str:
    """Platforms for a sentence: ``linux/arm64 and linux/arm/v7`` (never a list repr)."""
    names = sorted(str(p) for p in platforms)
    if not names:
        return "nothing"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def run_as_host(
    path: str | os.PathLike[str],
    host_native: Iterable[str | PlatformLike],
    host_emulated: Iterable[str | PlatformLike] = (),
    args: Sequence[str] = (),
    timeout: float = 10,
    *,
    platform: str | PlatformLike | None = None,
    search_path: str | Iterable[str | os.PathLike[str]] | None = None,
) -> RunResult:
    """Run ``path`` as a host whose CPU runs ``host_native`` and which emulates ``host_emulated``.

    ``platform`` overrides the one read from the ELF header (useful for arm, whose variant the
    header does not carry). Scripts run natively: the kernel execs their interpreter.

    This machine stands in for the host, so two profiles need care:

    - the profile says *native* but this CPU cannot run it (an arm64 profile on an amd64 machine):
      qemu stands in for the missing CPU; the result keeps mode ``native`` and names the
      emulator in ``emulator``;
    - the profile says *neither* but this CPU runs it natively: the host's ENOEXEC cannot be
      produced for real here, so :class:`LabError` is raised instead of inventing one.
    """
    exe = _executable(path)
    native = [normalize_platform(p) for p in host_native]
    emulated = [normalize_platform(p) for p in host_emulated]
    if platform is not None:
        binary: str | None = normalize_platform(platform)
    else:
        ident = read_identity(exe)
        if ident.is_script:
            return run_native(exe, args, timeout)
        binary = ident.platform_guess
    here = host_native_platforms()

    if binary is not None and _covered(binary, native):
        if _covered(binary, here):
            return _with_platform(run_native(exe, args, timeout), binary)
        stand_in = run_emulated(exe, binary, args, timeout, search_path=search_path)
        if stand_in.mode == "emulated":
            return _with_platform(stand_in, binary, mode="native")
        return stand_in
    if binary is not None and _covered(binary, emulated):
        return run_emulated(exe, binary, args, timeout, search_path=search_path)
    if binary is not None and _covered(binary, here):
        raise LabError(
            f"this machine runs {binary} natively, so it cannot show the exec format error a host "
            f"that runs {_platform_words(native)} natively and "
            f"{_platform_words(emulated) if emulated else 'nothing'} emulated would give"
        )
    return _with_platform(run_native(exe, args, timeout), binary)


def _with_platform(result: RunResult, platform: str | None, mode: str | None = None) -> RunResult:
    return replace(result, platform=platform, mode=mode or result.mode)


# --------------------------------------------------------------------------------------------
# Files out of image layers


def extract_file_from_layer(
    layer_tar_gz: bytes,
    member: str,
    dest_dir: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
) -> Path:
    """Write one regular file of an image layer (``tar+gzip`` or plain tar) under ``dest_dir``.

    ``member`` is the path inside the layer without a leading ``/`` (``bin/busybox``). Symlinks
    and hard links in the layer are followed inside the layer, as the container would see them
    (``..`` stops at the layer's root). The file keeps its permission bits (setuid/setgid
    dropped) at ``dest_dir/member``. Raises :class:`LabError` for an absolute or ``..``
    member; :class:`~archlab.errors.LayerError` (:class:`~archlab.errors.NotInLayerError`
    when it is missing) for a member that is not a regular file, one above ``max_bytes``, or
    a layer that is not a safe, readable tar (the rules of :mod:`archlab.layers`).
    """
    if member.startswith("/"):
        raise LabError(
            f"refusing absolute member {member!r}: give the path inside the layer, "
            f"e.g. {member.lstrip('/')!r}"
        )
    parts = [p for p in member.split("/") if p not in ("", ".")]
    if ".." in parts or not parts:
        raise LabError(f"refusing member {member!r}: it must name a file inside the layer, no '..'")
    wanted = "/".join(parts)

    layer = open_layer(layer_tar_gz)
    info = layer.resolve(wanted)
    content = layer.read(wanted, max_bytes=max_bytes)

    dest = Path(dest_dir).joinpath(*parts)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink():  # never write through a link that already sits in dest_dir
        dest.unlink()
    dest.write_bytes(content)
    dest.chmod(info.mode & 0o777)
    return dest
