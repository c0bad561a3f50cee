"""archlab.elf: the hello binaries' headers, and reading any executable's identity.

Running the binaries (natively and under qemu) is in test_emulation.py.
"""

from __future__ import annotations

import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from archlab import elf
from archlab.elf import (
    HELLO_PLATFORMS,
    ElfError,
    hello_binary,
    hello_listing,
    hello_message,
    read_identity,
)
from archlab.errors import ArchlabError, PlatformError

# platform, e_machine, class, byte order, platform_guess, e_flags  (values from the ELF specs)
HEADERS = [
    ("linux/amd64", 62, 64, "little", "linux/amd64", 0),
    ("linux/386", 3, 32, "little", "linux/386", 0),
    ("linux/arm64", 183, 64, "little", "linux/arm64", 0),
    ("linux/arm/v7", 40, 32, "little", "linux/arm", 0x05000400),
    ("linux/arm/v6", 40, 32, "little", "linux/arm", 0x05000400),
    ("linux/arm/v5", 40, 32, "little", "linux/arm", 0x05000200),
    ("linux/ppc64le", 21, 64, "little", "linux/ppc64le", 2),
    ("linux/s390x", 22, 64, "big", "linux/s390x", 0),
    ("linux/riscv64", 243, 64, "little", "linux/riscv64", 0),
    ("linux/mips64le", 8, 64, "little", "linux/mips64le", 0x80000000),
]
PLATFORMS = [row[0] for row in HEADERS]


def test_every_hello_platform_is_in_the_table():
    assert sorted(HELLO_PLATFORMS) == sorted(PLATFORMS)


@pytest.mark.parametrize(("platform", "machine", "cls", "order", "guess", "flags"), HEADERS)
def test_identity_of_hello_binary(platform, machine, cls, order, guess, flags):
    ident = read_identity(hello_binary(platform))
    assert ident.kind == "elf" and ident.is_elf and not ident.is_script
    assert ident.machine == machine
    assert ident.elf_class == cls
    assert ident.byte_order == order
    assert ident.platform_guess == guess
    assert ident.flags == flags
    assert ident.type_name == "EXEC"
    assert ident.os_abi == 0
    assert ident.program_interpreter is None  # static


def _raw_header(data: bytes) -> dict[str, int]:
    """Parse the ELF and program header independently of archlab.elf."""
    end = "<" if data[5] == 1 else ">"
    if data[4] == 2:
        e_type, e_machine, _v, entry, phoff = struct.unpack_from(end + "HHIQQ", data, 16)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 54)
        p_type, _fl, p_off, p_vaddr, _pa, p_filesz, p_memsz = struct.unpack_from(
            end + "IIQQQQQ", data, phoff
        )
    else:
        e_type, e_machine, _v, entry, phoff = struct.unpack_from(end + "HHIII", data, 16)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 42)
        p_type, p_off, p_vaddr, _pa, p_filesz, p_memsz = struct.unpack_from(
            end + "IIIIII", data, phoff
        )
    return dict(
        e_type=e_type, e_machine=e_machine, entry=entry, phentsize=phentsize, phnum=phnum,
        p_type=p_type, p_off=p_off,
        p_vaddr=p_vaddr, p_filesz=p_filesz, p_memsz=p_memsz,
    )  # fmt: skip


@pytest.mark.parametrize("platform", PLATFORMS)
def test_one_pt_load_maps_the_whole_small_file(platform):
    data = hello_binary(platform)
    h = _raw_header(data)
    assert len(data) < 1024
    assert h["e_type"] == 2  # ET_EXEC
    assert h["phnum"] == 1
    assert h["phentsize"] == (56 if data[4] == 2 else 32)
    assert h["e_machine"] == read_identity(data).machine
    assert h["p_type"] == 1  # PT_LOAD
    assert h["p_off"] == 0
    assert h["p_filesz"] == h["p_memsz"] == len(data)
    assert h["p_vaddr"] < h["entry"] < h["p_vaddr"] + len(data)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_deterministic(platform):
    assert hello_binary(platform) == hello_binary(platform)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_binary_carries_its_own_message(platform):
    data = hello_binary(platform)
    line = f"hello from {platform}\n".encode()
    assert data.endswith(line)
    assert hello_message(platform) == line
    others = [p for p in PLATFORMS if p != platform]
    assert all(f"hello from {p}\n".encode() not in data for p in others)


def test_arm_variants_share_code_and_differ_in_message_and_float_flag():
    v5, v6, v7 = (hello_binary(f"linux/arm/v{n}") for n in (5, 6, 7))
    entry = read_identity(v7).entry - 0x10000
    code_end = len(v7) - len(b"hello from linux/arm/v7\n")
    assert v5[entry:code_end] == v6[entry:code_end] == v7[entry:code_end]
    assert v5 != v6 != v7
    assert [read_identity(b).arm_float_abi for b in (v5, v6, v7)] == ["soft", "hard", "hard"]
    assert {read_identity(b).arm_eabi_version for b in (v5, v6, v7)} == {5}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_listing_is_the_code_in_the_binary(platform):
    data = hello_binary(platform)
    lines = hello_listing(platform)
    code = bytes.fromhex("".join(re.split(r"\s{2,}", ln.split(": ", 1)[1])[0] for ln in lines[:-1]))
    entry_offset = read_identity(data).entry - _raw_header(data)["p_vaddr"]
    assert data[entry_offset : entry_offset + len(code)] == code
    assert all(re.search(r"[a-z]", ln.rsplit("  ", 1)[-1]) for ln in lines)  # a mnemonic each
    assert lines[-1].endswith(repr(f"hello from {platform}\n"))


# given spelling -> the platform named in the message
SPELLINGS = [
    ("linux/arm64/v8", "linux/arm64"),
    ("arm64", "linux/arm64"),
    ("aarch64", "linux/arm64"),
    ("linux/aarch64", "linux/arm64"),
    ("linux/arm", "linux/arm/v7"),
    ("linux/armhf", "linux/arm/v7"),
    ("linux/x86_64", "linux/amd64"),
    ("LINUX/AMD64", "linux/amd64"),
    ("linux/i386", "linux/386"),
    ("linux/ppc64el", "linux/ppc64le"),
]


@pytest.mark.parametrize(("given", "canonical"), SPELLINGS)
def test_platform_spellings(given, canonical):
    assert hello_binary(given) == hello_binary(canonical)
    assert hello_binary(given).endswith(f"hello from {canonical}\n".encode())


@dataclass(frozen=True)
class _DuckPlatform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@pytest.mark.parametrize(
    ("plat", "canonical"),
    [
        (_DuckPlatform("linux", "arm", "v6"), "linux/arm/v6"),
        (_DuckPlatform("linux", "arm64", "v8"), "linux/arm64"),
        (_DuckPlatform("linux", "s390x"), "linux/s390x"),
    ],
)
def test_platform_objects_are_accepted(plat, canonical):
    assert hello_binary(plat) == hello_binary(canonical)


def test_archlab_platform_is_accepted():
    platforms = pytest.importorskip("archlab.platforms")
    plat = platforms.Platform("linux", "arm", "v5")
    assert hello_binary(plat).endswith(b"hello from linux/arm/v5\n")


@pytest.mark.parametrize(
    ("platform", "exc", "words"),
    [
        ("linux/sparc64", ElfError, "no hello binary for linux/sparc64"),
        ("windows/amd64", ElfError, "known platforms are linux/amd64"),
        ("linux/arm/v7/extra", PlatformError, "os/architecture[/variant]"),
        ("/arm64", PlatformError, "bad platform"),
    ],
)
def test_unknown_or_malformed_platform(platform, exc, words):
    with pytest.raises(exc, match=re.escape(words)):
        hello_binary(platform)


# --- reading identities ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "interpreter", "arg"),
    [
        (b"#!/bin/sh\nexec foo\n", "/bin/sh", None),
        (b"#! /usr/bin/env python3\n", "/usr/bin/env", "python3"),
        (b"#!/bin/bash -e\n", "/bin/bash", "-e"),
        (b"#!/bin/sh\t \n", "/bin/sh", None),
        (b"#!/bin/sh\r\necho hi\r\n", "/bin/sh\r", None),  # CRLF: the kernel keeps the \r
        (b"#!/usr/bin/env -S a b\n", "/usr/bin/env", "-S a b"),  # one argument, spaces and all
    ],
)
def test_shebang_scripts(text, interpreter, arg):
    ident = read_identity(text)
    assert ident.is_script and not ident.is_elf
    assert ident.interpreter == interpreter
    assert ident.interpreter_arg == arg
    assert ident.platform_guess is None
    assert ident.machine is None


def test_script_read_from_a_file(tmp_path):
    path = tmp_path / "docker-entrypoint.sh"
    path.write_bytes(b"#!/bin/bash\nset -e\n")
    assert read_identity(path).interpreter == "/bin/bash"
    assert read_identity(str(path)).interpreter == "/bin/bash"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"\x7fEL", "truncated"),
        (b"\x7fELF\x02\x01\x01", "e_ident needs 16"),
        (hello_binary("linux/amd64")[:40], "40 bytes, a 64-bit header needs 64"),
        (hello_binary("linux/386")[:51], "51 bytes, a 32-bit header needs 52"),
        (b"PK\x03\x04\x14\x00\x00\x00", "not an ELF executable or #! script"),
        (b"MZ\x90\x00", "starts with b'MZ"),
        (b"\x7fELF\x03\x01\x01" + bytes(60), "bad ELF class byte 3"),
        (b"\x7fELF\x02\x00\x01" + bytes(60), "bad ELF data byte 0"),
    ],
)
def test_bad_input_raises_elf_error(data, words):
    with pytest.raises(ElfError, match=re.escape(words)) as info:
        read_identity(data)
    assert isinstance(info.value, ArchlabError)
    assert isinstance(info.value, ValueError)


def test_unreadable_path_names_the_path(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ElfError, match=re.escape(str(missing))):
        read_identity(missing)


def test_identity_from_a_path_matches_bytes(tmp_path):
    path = tmp_path / "hello"
    path.write_bytes(hello_binary("linux/riscv64"))
    assert read_identity(path) == read_identity(hello_binary("linux/riscv64"))


def _patched(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


@pytest.mark.parametrize(
    ("offset", "value", "guess", "machine_name"),
    [
        (18, struct.pack("<H", 43), None, "SPARC V9"),  # e_machine the table does not map
        (18, struct.pack("<H", 999), None, "e_machine 999"),
        (7, b"\x09", "freebsd/amd64", "x86-64"),  # EI_OSABI FreeBSD
        (7, b"\x03", "linux/amd64", "x86-64"),  # EI_OSABI GNU/Linux
        (7, b"\x61", None, "x86-64"),  # EI_OSABI ARM standalone: no OS to guess
    ],
)
def test_guess_follows_machine_and_osabi(offset, value, guess, machine_name):
    ident = read_identity(_patched(hello_binary("linux/amd64"), offset, value))
    assert ident.platform_guess == guess
    assert ident.machine_name == machine_name


def test_big_endian_ppc64_is_not_ppc64le():
    data = hello_binary("linux/ppc64le")
    # flip EI_DATA and the byte-swapped e_machine: the header now claims big-endian PowerPC64
    be = _patched(_patched(data, 5, b"\x02"), 18, struct.pack(">H", 21))
    assert read_identity(be).platform_guess == "linux/ppc64"


def test_real_dynamic_binary_of_this_machine():
    ident = read_identity(Path(sys.executable).resolve())
    assert ident.is_elf
    assert ident.elf_class == (64 if sys.maxsize > 2**32 else 32)
    assert ident.byte_order == sys.byteorder
    if ident.type_name == "DYN" and ident.program_interpreter is not None:
        assert ident.program_interpreter.startswith("/lib")
    assert ident.platform_guess is not None
    assert ident.summary().endswith(f"-> {ident.platform_guess}")


def test_summary_lines():
    assert read_identity(hello_binary("linux/arm/v5")).summary() == (
        "ELF 32-bit LSB EXEC, ARM, EABI5, soft-float, static -> linux/arm"
    )
    assert read_identity(b"#!/bin/sh\r\n").summary() == "script, #!'/bin/sh\\r'"


# ------------------------------------------------------------------------ the header as a picture


@pytest.mark.parametrize(("platform", "machine", "order", "size"), [
    ("linux/arm64", 183, "little", 64),
    ("linux/amd64", 62, "little", 64),
    ("linux/s390x", 22, "big", 64),
    ("linux/arm/v7", 40, "little", 52),
])
def test_header_fields_name_each_byte(platform, machine, order, size):
    data = elf.hello_binary(platform)
    fields = elf.header_fields(data)
    assert fields[0].raw == b"\x7fELF"
    assert sum(f.size for f in fields) == size  # the whole header, nothing twice
    emachine = next(f for f in fields if f.name == "e_machine")
    assert (emachine.offset, emachine.size) == (18, 2)
    assert int.from_bytes(emachine.raw, order) == machine
    assert emachine.meaning.startswith(f"{machine} = ")


def test_header_fields_read_a_path_and_refuse_a_script(tmp_path):
    binary = tmp_path / "hello"
    binary.write_bytes(elf.hello_binary("linux/riscv64"))
    assert next(f for f in elf.header_fields(binary) if f.name == "e_machine").raw == b"\xf3\x00"
    script = tmp_path / "run.sh"
    script.write_bytes(b"#!/bin/sh\necho hi\n")
    with pytest.raises(elf.ElfError, match="a #! script has no ELF header"):
        elf.header_fields(script)


def test_plot_header_marks_e_machine():
    import matplotlib

    matplotlib.use("Agg")
    ax = elf.plot_header(elf.hello_binary("linux/arm64"))
    texts = [t.get_text() for t in ax.texts]
    assert texts[18:20] == ["b7", "00"]  # bytes in file order: e_machine 183, little-endian
    outlined = [p for p in ax.patches if p.get_linewidth() == 2.0]
    assert len(outlined) == 2  # exactly e_machine's two bytes are outlined
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "e_machine: 183 = AArch64" in legend
    assert "linux/arm64" in ax.get_title(loc="left")


def test_plot_header_gives_every_field_its_own_colour_and_legend_entry():
    """EI_CLASS and EI_DATA shared a colour and EI_VERSION had no legend entry."""
    import matplotlib

    matplotlib.use("Agg")
    fields = elf.header_fields(elf.hello_binary("linux/arm64"))
    colours = [elf._FIELD_COLOURS[f.name] for f in fields]
    assert len(set(colours)) == len(fields)
    ax = elf.plot_header(elf.hello_binary("linux/arm64"))
    labels = [t.get_text().split(":")[0].split(" ")[0] for t in ax.get_legend().get_texts()]
    assert labels == [f.name.split(" ")[0] for f in fields]
