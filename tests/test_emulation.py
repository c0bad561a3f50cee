"""archlab.emulation: real executions, native and under explicit qemu-user-static.

Tests that need a ``qemu-*-static`` binary skip with the install hint when it is missing, and
fail instead when ``ARCHLAB_REQUIRE_QEMU=1`` or ``ARCHLAB_REQUIRE_REGISTRY=1`` is set (CI), so
they cannot silently vanish. Nothing here touches binfmt_misc.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
from pathlib import Path

import pytest

from archlab import emulation
from archlab.elf import hello_binary
from archlab.emulation import (
    RunResult,
    extract_file_from_layer,
    host_native_platforms,
    qemu_binary_name,
    qemu_for,
    run_as_host,
    run_emulated,
    run_native,
)
from archlab.errors import LabError, LayerError, PlatformError

# platform -> the emulator Debian's qemu-user-static names for it
EMULATORS = [
    ("linux/amd64", "qemu-x86_64-static"),
    ("linux/386", "qemu-i386-static"),
    ("linux/arm64", "qemu-aarch64-static"),
    ("linux/arm/v7", "qemu-arm-static"),
    ("linux/arm/v6", "qemu-arm-static"),
    ("linux/arm/v5", "qemu-arm-static"),
    ("linux/ppc64le", "qemu-ppc64le-static"),
    ("linux/s390x", "qemu-s390x-static"),
    ("linux/riscv64", "qemu-riscv64-static"),
    ("linux/mips64le", "qemu-mips64el-static"),
]
PLATFORMS = [p for p, _ in EMULATORS]
X86_HOST = emulation._platform_mod.machine() in ("x86_64", "amd64")
NO_EMULATOR_AARCH64 = (
    "qemu-aarch64-static not found: install Debian's qemu-user-static "
    '("apt-get install qemu-user-static")'
)


def require_qemu(platform: str) -> Path:
    path = qemu_for(platform)
    if path is None:
        hint = emulation.no_emulator_message(platform)
        if os.environ.get("ARCHLAB_REQUIRE_QEMU") == "1" or (
            os.environ.get("ARCHLAB_REQUIRE_REGISTRY") == "1"
        ):
            pytest.fail(hint)
        pytest.skip(hint)
    return path


def write_exe(directory: Path, platform: str, name: str | None = None) -> Path:
    path = directory / (name or platform.replace("/", "-"))
    path.write_bytes(hello_binary(platform))
    path.chmod(0o755)
    return path


def write_script(directory: Path, text: bytes, mode: int = 0o755) -> Path:
    path = directory / "script.sh"
    path.write_bytes(text)
    path.chmod(mode)
    return path


# --- emulators -----------------------------------------------------------------------------


@pytest.mark.parametrize(("platform", "name"), EMULATORS)
def test_qemu_binary_name(platform, name):
    assert qemu_binary_name(platform) == name


@pytest.mark.parametrize("platform", ["linux/sparc64", "linux/wasm"])
def test_no_known_emulator(platform):
    with pytest.raises(PlatformError, match=f"no qemu user-mode emulator is known for {platform}"):
        qemu_binary_name(platform)


def test_qemu_for_searches_only_the_given_path(tmp_path):
    empty, bin_dir = tmp_path / "empty", tmp_path / "bin"
    empty.mkdir()
    bin_dir.mkdir()
    fake = bin_dir / "qemu-riscv64-static"
    fake.write_bytes(b"#!/bin/sh\n")
    fake.chmod(0o755)
    assert qemu_for("linux/riscv64", [empty]) is None
    assert qemu_for("linux/riscv64", [empty, bin_dir]) == fake
    assert qemu_for("linux/riscv64", f"{empty}{os.pathsep}{bin_dir}") == fake
    assert qemu_for("linux/arm64", [bin_dir]) is None


def test_qemu_for_falls_back_to_usr_bin(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    found = qemu_for("linux/arm64")
    assert found is None or found == Path("/usr/bin/qemu-aarch64-static")
    if Path("/usr/bin/qemu-aarch64-static").is_file():
        assert found == Path("/usr/bin/qemu-aarch64-static")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_binary_prints_its_line_under_qemu(tmp_path, platform):
    qemu = require_qemu(platform)
    result = run_emulated(write_exe(tmp_path, platform), platform)
    assert result.stdout == f"hello from {platform}\n"
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.mode == "emulated"
    assert result.emulator == str(qemu)
    assert result.errno is None and result.error is None


@pytest.mark.parametrize(
    ("platform", "cpu"),
    [("linux/arm/v5", "arm926"), ("linux/arm/v6", "arm1176"), ("linux/arm/v7", "cortex-a7")],
)
def test_arm_binaries_run_on_the_oldest_cpu_of_their_variant(tmp_path, platform, cpu):
    require_qemu(platform)
    result = run_emulated(write_exe(tmp_path, platform), platform, cpu=cpu)
    assert (result.stdout, result.exit_code) == (f"hello from {platform}\n", 0)


@pytest.mark.parametrize(
    ("platform", "guessed"),
    [("linux/arm64", "linux/arm64"), ("linux/arm/v6", "linux/arm"), ("linux/s390x", "linux/s390x")],
)
def test_emulator_chosen_from_the_elf_header(tmp_path, platform, guessed):
    require_qemu(platform)
    result = run_emulated(write_exe(tmp_path, platform))
    assert result.platform == guessed
    assert result.stdout == f"hello from {platform}\n"


def test_emulating_a_script_needs_a_platform(tmp_path):
    script = write_script(tmp_path, b"#!/bin/sh\necho hi\n")
    with pytest.raises(PlatformError, match="a script for '/bin/sh'; pass platform="):
        run_emulated(script)


def test_missing_emulator_is_one_clear_line(tmp_path):
    exe = write_exe(tmp_path, "linux/arm64")
    result = run_emulated(exe, search_path=[tmp_path / "nowhere"])
    assert result == RunResult(
        mode="no-emulator",
        emulator=None,
        exit_code=None,
        stdout="",
        stderr="",
        errno=None,
        error=NO_EMULATOR_AARCH64,
        platform="linux/arm64",
    )


def test_missing_emulator_from_an_empty_path_string(tmp_path):
    exe = write_exe(tmp_path, "linux/arm64")
    result = run_emulated(exe, "linux/arm64/v8", search_path=str(tmp_path))
    assert (result.mode, result.error) == ("no-emulator", NO_EMULATOR_AARCH64)


# --- native ---------------------------------------------------------------------------------


@pytest.mark.skipif(not X86_HOST, reason="amd64 and 386 run natively only on an x86-64 host")
@pytest.mark.parametrize("platform", ["linux/amd64", "linux/386"])
def test_x86_binaries_run_natively_here(tmp_path, platform):
    result = run_native(write_exe(tmp_path, platform))
    assert result.mode == "native"
    assert result.emulator is None
    assert (result.stdout, result.stderr, result.exit_code) == (f"hello from {platform}\n", "", 0)
    assert result.platform == platform


@pytest.mark.parametrize("platform", [p for p in PLATFORMS if p not in host_native_platforms()])
def test_foreign_binary_natively_is_the_kernels_enoexec(tmp_path, platform):
    result = run_native(write_exe(tmp_path, platform))
    assert result.mode == "exec-failed"
    assert result.errno == 8
    assert result.error == "Exec format error"
    assert result.exit_code is None
    assert result.stdout == ""


def test_script_runs_through_its_interpreter_without_a_shell(tmp_path):
    script = write_script(tmp_path, b"#!/bin/sh\nprintf '%s\\n' \"$@\"\n")
    result = run_native(script, ["a b", "$HOME", "*"])
    assert (result.mode, result.exit_code) == ("native", 0)
    assert result.stdout == "a b\n$HOME\n*\n"  # no word splitting, no expansion: no shell between
    assert result.platform is None


def test_crlf_script_fails_with_enoent(tmp_path):
    # the kernel looks for an interpreter named "/bin/sh\r"
    script = write_script(tmp_path, b"#!/bin/sh\r\necho hi\r\n")
    result = run_native(script)
    assert (result.mode, result.errno, result.error) == (
        "exec-failed",
        2,
        "No such file or directory",
    )


def test_not_executable_is_eacces(tmp_path):
    # even root gets EACCES: exec needs at least one x bit
    script = write_script(tmp_path, b"#!/bin/sh\necho hi\n", mode=0o644)
    result = run_native(script)
    assert (result.mode, result.errno, result.error) == ("exec-failed", 13, "Permission denied")


def test_exit_code_and_stderr_are_kept(tmp_path):
    script = write_script(tmp_path, b"#!/bin/sh\necho out; echo err >&2; exit 3\n")
    result = run_native(script)
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 3)


def test_missing_file_is_a_lab_error(tmp_path):
    with pytest.raises(LabError, match="no such file"):
        run_native(tmp_path / "absent")


def test_timeout_is_a_lab_error(tmp_path):
    script = write_script(tmp_path, b"#!/bin/sh\nexec sleep 30\n")
    with pytest.raises(LabError, match=re.escape("did not finish within 0.3 s")):
        run_native(script, timeout=0.3)


# --- as a host would ------------------------------------------------------------------------

DOCKER_DESKTOP_M1 = ({"linux/arm64"}, {"linux/amd64"})
MULTIPASS_M1 = ({"linux/arm64"}, set())


@pytest.mark.skipif(not X86_HOST, reason="needs an x86-64 machine as the host")
@pytest.mark.parametrize(
    ("binary", "native", "emulated", "mode", "errno"),
    [
        ("linux/arm64", host_native_platforms(), set(), "exec-failed", 8),
        ("linux/s390x", host_native_platforms(), {"linux/arm64"}, "exec-failed", 8),
        ("linux/arm64", host_native_platforms(), {"linux/arm64"}, "emulated", None),
        ("linux/arm64", host_native_platforms(), {"linux/arm64/v8"}, "emulated", None),
        ("linux/arm/v7", host_native_platforms(), {"linux/arm/v7"}, "emulated", None),
        ("linux/arm/v5", host_native_platforms(), {"linux/arm/v7"}, "emulated", None),
        ("linux/386", {"linux/amd64", "linux/386"}, set(), "native", None),
        ("linux/amd64", {"linux/amd64"}, set(), "native", None),
    ],
)
def test_this_machine_as_host(tmp_path, binary, native, emulated, mode, errno):
    if mode == "emulated":
        require_qemu(binary)
    result = run_as_host(write_exe(tmp_path, binary), native, emulated)
    assert result.mode == mode
    assert result.errno == errno
    if mode == "exec-failed":
        assert result.error == "Exec format error"
    else:
        assert (result.stdout, result.exit_code) == (f"hello from {binary}\n", 0)
        assert (result.emulator is not None) == (mode == "emulated")


@pytest.mark.skipif(not X86_HOST, reason="needs an x86-64 machine as the host")
def test_docker_desktop_like_host_emulates_amd64(tmp_path):
    qemu = require_qemu("linux/amd64")
    result = run_as_host(write_exe(tmp_path, "linux/amd64"), *DOCKER_DESKTOP_M1)
    assert (result.mode, result.emulator) == ("emulated", str(qemu))
    assert result.stdout == "hello from linux/amd64\n"


@pytest.mark.skipif(not X86_HOST, reason="needs an x86-64 machine as the host")
def test_arm64_profile_native_binary_runs_with_qemu_standing_in(tmp_path):
    qemu = require_qemu("linux/arm64")
    result = run_as_host(write_exe(tmp_path, "linux/arm64"), *MULTIPASS_M1)
    assert (result.mode, result.emulator) == ("native", str(qemu))
    assert result.stdout == "hello from linux/arm64\n"


@pytest.mark.skipif(not X86_HOST, reason="needs an x86-64 machine as the host")
def test_enoexec_this_machine_cannot_produce_is_refused(tmp_path):
    with pytest.raises(LabError, match="runs linux/amd64 natively, so it cannot show"):
        run_as_host(write_exe(tmp_path, "linux/amd64"), *MULTIPASS_M1)


def test_host_profile_missing_emulator(tmp_path):
    exe = write_exe(tmp_path, "linux/arm64")
    result = run_as_host(exe, {"linux/s390x"}, {"linux/arm64"}, search_path=[tmp_path / "none"])
    assert (result.mode, result.error) == ("no-emulator", NO_EMULATOR_AARCH64)


def test_host_profile_runs_scripts_natively(tmp_path):
    script = write_script(tmp_path, b"#!/bin/sh\necho from-script\n")
    result = run_as_host(script, {"linux/s390x"}, set())
    assert (result.mode, result.stdout) == ("native", "from-script\n")


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ("x86_64", {"linux/amd64", "linux/386"}),
        ("aarch64", {"linux/arm64"}),
        ("armv7l", {"linux/arm/v7", "linux/arm/v6", "linux/arm/v5"}),
        ("s390x", {"linux/s390x"}),
        ("sparc64", set()),
    ],
)
def test_host_native_platforms(monkeypatch, machine, expected):
    monkeypatch.setattr(emulation._platform_mod, "machine", lambda: machine)
    assert host_native_platforms() == expected


# --- files out of layers --------------------------------------------------------------------


def make_layer(entries: list[tuple[str, bytes | None, int, str | None, bytes]], gz: bool = True):
    """entries: (name, data, mode, linkname, type) with type tarfile.REGTYPE/SYMTYPE/LNKTYPE."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode, linkname, kind in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.type, info.mtime = mode, kind, 0
            if linkname is not None:
                info.linkname = linkname
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


HELLO_ARM64 = hello_binary("linux/arm64")
LAYER = [
    ("bin", None, 0o755, None, tarfile.DIRTYPE),
    ("bin/busybox", HELLO_ARM64, 0o755, None, tarfile.REGTYPE),
    ("bin/sh", None, 0o777, "busybox", tarfile.SYMTYPE),
    ("usr/bin/hello", None, 0o777, "/bin/busybox", tarfile.SYMTYPE),
    ("usr/bin/up", None, 0o777, "../../bin/sh", tarfile.SYMTYPE),
    ("./etc/motd", b"hi\n", 0o644, None, tarfile.REGTYPE),
    ("sbin/su", b"x", 0o4755, None, tarfile.REGTYPE),
    ("bin/link", None, 0o755, "bin/busybox", tarfile.LNKTYPE),
    ("loop", None, 0o777, "loop", tarfile.SYMTYPE),
    ("dev/null", None, 0o666, None, tarfile.CHRTYPE),
    ("run/fifo", None, 0o644, None, tarfile.FIFOTYPE),
]


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize(
    ("member", "content", "mode"),
    [
        ("bin/busybox", HELLO_ARM64, 0o755),
        ("bin/sh", HELLO_ARM64, 0o755),  # relative symlink
        ("usr/bin/hello", HELLO_ARM64, 0o755),  # absolute symlink, inside the layer
        ("usr/bin/up", HELLO_ARM64, 0o755),  # relative, up to the root and down again
        ("bin/link", HELLO_ARM64, 0o755),  # hard link
        ("etc/motd", b"hi\n", 0o644),  # stored as ./etc/motd
        ("./etc/motd", b"hi\n", 0o644),
        ("sbin/su", b"x", 0o755),  # setuid dropped
    ],
)
def test_extract_round_trip(tmp_path, gz, member, content, mode):
    out = extract_file_from_layer(make_layer(LAYER, gz=gz), member, tmp_path)
    assert out == tmp_path.joinpath(*[p for p in member.split("/") if p != "."])
    assert out.read_bytes() == content
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_extracted_binary_runs_under_qemu(tmp_path):
    require_qemu("linux/arm64")
    out = extract_file_from_layer(make_layer(LAYER), "bin/busybox", tmp_path)
    result = run_emulated(out)
    assert (result.stdout, result.exit_code) == ("hello from linux/arm64\n", 0)


@pytest.mark.parametrize(
    ("member", "words"),
    [
        ("../x", "no '..'"),
        ("bin/../../x", "no '..'"),
        ("../evil", "no '..'"),
        ("/bin/busybox", "refusing absolute member '/bin/busybox'"),
        ("", "must name a file"),
        ("evil", "'evil' is not in the layer"),
        ("bin", "not a regular file"),
        ("loop", "more than 16 symbolic links"),
        ("dev/null", "'dev/null' in the layer is a character device, not a regular file"),
        ("run/fifo", "'run/fifo' in the layer is a FIFO, not a regular file"),
    ],
)
def test_extract_refuses(tmp_path, member, words):
    dest = tmp_path / "dest"
    with pytest.raises((LabError, LayerError), match=re.escape(words)):
        extract_file_from_layer(make_layer(LAYER), member, dest)
    assert not (tmp_path / "x").exists() and not (tmp_path / "evil").exists()
    assert not dest.exists() or not any(dest.rglob("*"))


@pytest.mark.parametrize(("entry", "words"), [
    (("../evil", b"outside", 0o644, None, tarfile.REGTYPE), "'../evil' climbs out"),
    (("a/../../evil", b"outside", 0o644, None, tarfile.REGTYPE), "'a/../../evil' climbs out"),
    (("bin/out", None, 0o777, "../../etc/passwd", tarfile.SYMTYPE),
     "symlink 'bin/out' -> '../../etc/passwd' points out of the layer"),
    (("bin/hard", None, 0o644, "../../etc/passwd", tarfile.LNKTYPE),
     "hard link 'bin/hard' -> '../../etc/passwd' climbs out"),
])
@pytest.mark.parametrize("member", ["bin/busybox", "etc/motd"])
def test_a_layer_with_an_entry_out_of_it_is_refused_whole(tmp_path, entry, words, member):
    """As Docker refuses it on pull (pkg/archive's breakout checks), whatever is asked for."""
    with pytest.raises(LayerError, match=re.escape(words)):
        extract_file_from_layer(make_layer([*LAYER, entry]), member, tmp_path)
    assert not any(tmp_path.rglob("*"))


def test_extract_size_cap(tmp_path):
    with pytest.raises(LayerError, match="above the cap of 100"):
        extract_file_from_layer(make_layer(LAYER), "bin/busybox", tmp_path, max_bytes=100)
    assert not (tmp_path / "bin" / "busybox").exists()


@pytest.mark.parametrize("blob", [b"not a tar at all" * 100, b"\x1f\x8b\x08\x00garbage",
                                  make_layer(LAYER)[:-40], make_layer(LAYER, gz=False)[:700]])
def test_extract_from_garbage_is_one_line(tmp_path, blob):
    with pytest.raises(LayerError, match=r"not a readable tar|truncated") as err:
        extract_file_from_layer(blob, "bin/busybox", tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(not X86_HOST, reason="needs an x86-64 machine as the host")
def test_host_profile_given_as_platform_objects(tmp_path):
    platforms = pytest.importorskip("archlab.platforms")
    require_qemu("linux/arm64")
    result = run_as_host(
        write_exe(tmp_path, "linux/arm64"),
        {platforms.Platform("linux", "amd64")},
        {platforms.Platform("linux", "arm64", "v8")},
    )
    assert (result.mode, result.stdout) == ("emulated", "hello from linux/arm64\n")


def test_extract_never_writes_through_an_existing_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    dest = tmp_path / "out"
    (dest / "etc").mkdir(parents=True)
    (dest / "etc" / "motd").symlink_to(victim)  # planted before the extraction
    out = extract_file_from_layer(make_layer(LAYER), "etc/motd", dest)
    assert victim.read_bytes() == b"keep me"
    assert not out.is_symlink() and out.read_bytes() == b"hi\n"


@pytest.mark.parametrize("link", ["usr/bin", "/usr/bin"])
def test_extract_follows_a_symlinked_parent_directory(tmp_path, link):
    """Merged /usr: bin -> usr/bin, so bin/busybox lives at usr/bin/busybox."""
    layer = make_layer([
        ("usr/bin/busybox", HELLO_ARM64, 0o755, None, tarfile.REGTYPE),
        ("bin", None, 0o777, link, tarfile.SYMTYPE),
    ])
    out = extract_file_from_layer(layer, "bin/busybox", tmp_path)
    assert out.read_bytes() == HELLO_ARM64


def test_extract_symlinked_parent_still_cannot_escape(tmp_path):
    layer = make_layer([
        ("etc/motd", b"hi\n", 0o644, None, tarfile.REGTYPE),
        ("bin", None, 0o777, "../../../etc", tarfile.SYMTYPE),
    ])
    with pytest.raises(LayerError, match="points out of the layer"):
        extract_file_from_layer(layer, "bin/motd", tmp_path)


def test_extract_follows_an_absolute_symlinked_parent_inside_the_layer(tmp_path):
    layer = make_layer([
        ("etc/motd", b"hi\n", 0o644, None, tarfile.REGTYPE),
        ("bin", None, 0o777, "/etc", tarfile.SYMTYPE),
    ])
    out = extract_file_from_layer(layer, "bin/motd", tmp_path)
    assert out == tmp_path / "bin" / "motd" and out.read_bytes() == b"hi\n"
