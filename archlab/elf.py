"""Tiny real executables for every Docker platform, and a reader of any executable's identity.

What it is for
--------------
"exec format error" is the kernel refusing a binary built for another CPU. To show that for real
(and to show qemu fixing it) the lab needs one executable per platform. This module writes them
in pure Python, no cross toolchain: each :func:`hello_binary` is a static ELF of a few hundred
bytes that prints ``hello from <platform>\\n`` with the ``write`` system call and exits 0.
:func:`read_identity` goes the other way: given any file it says which platform it was built for,
from the header fields the kernel itself looks at.

How do I use it?
----------------
::

    from archlab.elf import hello_binary, read_identity
    data = hello_binary("linux/arm64")            # bytes: a complete static executable
    read_identity(data).platform_guess            # 'linux/arm64'
    read_identity(Path("/bin/ls")).summary()      # 'ELF 64-bit LSB DYN, x86-64, ... -> linux/amd64'
    print("\\n".join(hello_listing("linux/s390x")))  # address, bytes and mnemonic per instruction

The ELF header fields that matter
---------------------------------
An ELF file starts with a 16-byte ``e_ident`` followed by fixed fields, all in the byte order
that ``e_ident`` announces:

=====================  ========  =========================================================
field                  offset    meaning
=====================  ========  =========================================================
``e_ident[0:4]``       0         magic ``\\x7fELF``: "this is ELF" (scripts start ``#!``)
``e_ident[EI_CLASS]``  4         1 = 32-bit (ELFCLASS32), 2 = 64-bit (ELFCLASS64)
``e_ident[EI_DATA]``   5         1 = little-endian (LSB), 2 = big-endian (MSB)
``e_ident[EI_OSABI]``  7         0 = System V (what Linux toolchains write), 3 = GNU/Linux;
                                 the Linux kernel does not check it
``e_type``             16        2 = EXEC (fixed address), 3 = DYN (PIE or shared library)
``e_machine``          18        the instruction set: the field "exec format error" is about
``e_flags``            36 / 48   per-ISA ABI bits (ARM EABI version and float ABI, ppc64 ELFv2)
=====================  ========  =========================================================

Why ``e_machine`` gives "Exec format error"
-------------------------------------------
``execve(2)`` offers the file to each registered binary format in turn. ``binfmt_elf`` accepts
it only if the magic matches, ``e_type`` is EXEC or DYN and the architecture check passes:
``e_machine`` (and on some ISAs the class and flags) must be the kernel's own, or a compat one
(an x86-64 kernel also takes EM_386: 32-bit x86 runs natively). ``binfmt_script`` takes files
that start with ``#!`` and re-executes the named interpreter, so a script inherits its
interpreter's fate. ``binfmt_misc`` takes whatever a registered magic/mask matches (this is how
qemu is slotted in transparently). When no handler accepts the file, ``execve`` fails with
**ENOEXEC, errno 8**, whose text is ``Exec format error`` in C (``os.strerror(8)``) and
``exec format error`` in Go (what runc prints). A shell prints ``cannot execute binary file:
Exec format error``; Python raises ``OSError(8, 'Exec format error')``.

Two neighbours worth knowing: a dynamically linked binary whose ``PT_INTERP`` loader (e.g.
``/lib/ld-linux-aarch64.so.1``) is missing fails with ENOENT "No such file or directory", and so
does a script saved with CRLF line ends, because the kernel looks for an interpreter literally
named ``/bin/sh\\r`` (the reader keeps that ``\\r`` so you can see it).

Platform from the header (``platform_guess``)
---------------------------------------------
=================  =====  ======  ===================  ============================================
e_machine          class  order   platform             note
=================  =====  ======  ===================  ============================================
EM_X86_64 (62)     64     LSB     ``linux/amd64``
EM_386 (3)         32     LSB     ``linux/386``
EM_AARCH64 (183)   64     LSB     ``linux/arm64``      Docker also writes ``linux/arm64/v8``
EM_ARM (40)        32     LSB     ``linux/arm``        v5/v6/v7 is not in the ELF header (it is in
                                                       ``.ARM.attributes``, ``readelf -A``)
EM_PPC64 (21)      64     LSB     ``linux/ppc64le``    big-endian gives ``linux/ppc64``
EM_S390 (22)       64     MSB     ``linux/s390x``
EM_RISCV (243)     64     LSB     ``linux/riscv64``
EM_MIPS (8)        64     LSB     ``linux/mips64le``   also ``mips64``, ``mipsle``, ``mips``
EM_LOONGARCH (258) 64     LSB     ``linux/loong64``
=================  =====  ======  ===================  ============================================

Anything else gives ``None``. The OS part is ``linux`` for OS/ABI 0 and 3 (FreeBSD's 9 gives
``freebsd``).

The hello binaries and each ISA's system-call convention
--------------------------------------------------------
Layout: ELF header, exactly one ``PT_LOAD`` program header mapping the whole file read+execute at
the load address, the code, then the message (4-byte aligned). No section headers: the kernel
and qemu need none. Same input, same bytes. Each instruction is encoded by a small function per
ISA below, and each carries its mnemonic (see :func:`hello_listing`).

============  ================  ===============  ===============  =========  =====  ==========
ISA           trap              number in        args             write      exit   message by
============  ================  ===============  ===============  =========  =====  ==========
x86-64        ``syscall``       rax              rdi, rsi, rdx    1          60     rip-rel lea
i386          ``int 0x80``      eax              ebx, ecx, edx    4          1      absolute
AArch64       ``svc #0``        x8               x0, x1, x2       64         93     ``adr``
ARM EABI      ``svc #0``        r7               r0, r1, r2       4          1      pc-rel add
ppc64le       ``sc``            r0               r3, r4, r5       4          1      lis/ori
s390x         ``svc N``         the immediate N  r2, r3, r4       4          1      ``larl``
riscv64       ``ecall``         a7               a0, a1, a2       64         93     auipc/addi
mips64le n64  ``syscall``       v0               a0, a1, a2       5001       5058   lui/ori
============  ================  ===============  ===============  =========  =====  ==========

Per-platform details: load address 0x400000 for 64-bit, 0x08048000 for i386, 0x10000 for ARM.
ppc64le uses the ELFv2 ABI (``e_flags`` = 2; the entry point is code, not a function
descriptor). s390x is 64-bit big-endian; its ``svc`` carries numbers below 256 as the
immediate. ARM binaries are 32-bit little-endian with ``e_flags`` = EABI version 5
(0x05000000) plus the float ABI flag Docker's arm variants use: soft-float for ``arm/v5``
(Debian armel), hard-float for ``arm/v6`` (Alpine/Raspbian armhf) and ``arm/v7`` (Debian armhf).
The instructions are the same for all three variants and are plain ARMv5 ARM-mode code (no
Thumb, no floating point), so each runs on its own variant and every later one; only the
message (and the float flag) differs. ``linux/arm`` without a variant means ``arm/v7`` and
``linux/arm64/v8`` means ``arm64``, as containerd normalizes them.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from archlab.errors import ArchlabError, PlatformError


class ElfError(ArchlabError, ValueError):
    """Input that is neither an ELF executable nor a ``#!`` script, or a truncated ELF header."""


class PlatformLike(Protocol):
    """Anything shaped like ``archlab.platforms.Platform``."""

    os: str
    architecture: str
    variant: str


# --------------------------------------------------------------------------------------------
# Constants

ELF_MAGIC = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
ET_EXEC = 2
PT_LOAD, PT_INTERP = 1, 3
PF_X, PF_R = 1, 4

EM_386 = 3
EM_MIPS = 8
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
EM_LOONGARCH = 258

MACHINE_NAMES: dict[int, str] = {
    0: "none",
    2: "SPARC",
    3: "i386",
    8: "MIPS",
    20: "PowerPC",
    21: "PowerPC64",
    22: "S/390",
    40: "ARM",
    42: "SuperH",
    43: "SPARC V9",
    50: "IA-64",
    62: "x86-64",
    183: "AArch64",
    243: "RISC-V",
    258: "LoongArch",
}

TYPE_NAMES = {0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}
OSABI_NAMES = {0: "System V", 3: "GNU/Linux", 9: "FreeBSD", 12: "OpenBSD", 2: "NetBSD"}
_OSABI_TO_OS = {0: "linux", 3: "linux", 9: "freebsd"}

EF_ARM_EABIMASK = 0xFF000000
EF_ARM_EABI_VER5 = 0x05000000
EF_ARM_ABI_FLOAT_SOFT = 0x200
EF_ARM_ABI_FLOAT_HARD = 0x400
EF_PPC64_ELFV2 = 2
EF_MIPS_ARCH_64R2 = 0x80000000

# (e_machine, class, byte order) -> architecture of Docker's platform (see the module table)
_PLATFORM_BY_HEADER: dict[tuple[int, int, str], str] = {
    (EM_X86_64, 64, "little"): "amd64",
    (EM_386, 32, "little"): "386",
    (EM_AARCH64, 64, "little"): "arm64",
    (EM_ARM, 32, "little"): "arm",
    (EM_PPC64, 64, "little"): "ppc64le",
    (EM_PPC64, 64, "big"): "ppc64",
    (EM_S390, 64, "big"): "s390x",
    (EM_RISCV, 64, "little"): "riscv64",
    (EM_MIPS, 64, "little"): "mips64le",
    (EM_MIPS, 64, "big"): "mips64",
    (EM_MIPS, 32, "little"): "mipsle",
    (EM_MIPS, 32, "big"): "mips",
    (EM_LOONGARCH, 64, "little"): "loong64",
}

# Linux reads only the first 256 bytes of a #! line (BINPRM_BUF_SIZE since 5.1).
_SHEBANG_MAX = 256
# Enough for the ELF header, program headers and PT_INTERP of any ordinary binary.
_READ_LIMIT = 64 * 1024


# --------------------------------------------------------------------------------------------
# Reading an identity


@dataclass(frozen=True)
class ElfIdentity:
    """What the kernel sees first in an executable file.

    ``kind`` is ``"elf"`` or ``"script"``. For a script only ``interpreter`` (the ``#!`` path,
    kept byte for byte except trailing blanks, so a CRLF ``\\r`` shows) and ``interpreter_arg``
    are set: the kernel execs that interpreter, so the script runs or fails as it does.
    """

    kind: str
    elf_class: int | None = None  # 32 or 64
    byte_order: str | None = None  # "little" or "big"
    os_abi: int | None = None
    os_abi_name: str | None = None
    e_type: int | None = None
    type_name: str | None = None  # "EXEC", "DYN", ...
    machine: int | None = None  # e_machine
    machine_name: str | None = None
    flags: int | None = None  # e_flags
    entry: int | None = None
    arm_eabi_version: int | None = None  # 5 for every current ARM Linux binary
    arm_float_abi: str | None = None  # "hard" | "soft" | None when the flags do not say
    program_interpreter: str | None = None  # PT_INTERP, e.g. /lib/ld-linux-aarch64.so.1
    interpreter: str | None = None  # scripts: the #! interpreter path
    interpreter_arg: str | None = None  # scripts: the single optional #! argument
    platform_guess: str | None = None  # "linux/arm64", "linux/arm" (no variant), ...

    @property
    def is_script(self) -> bool:
        return self.kind == "script"

    @property
    def is_elf(self) -> bool:
        return self.kind == "elf"

    def summary(self) -> str:
        """One line in the spirit of file(1)."""
        if self.is_script:
            arg = f" {self.interpreter_arg}" if self.interpreter_arg else ""
            return f"script, #!{self.interpreter!r}{arg}"
        order = "LSB" if self.byte_order == "little" else "MSB"
        parts = [f"ELF {self.elf_class}-bit {order} {self.type_name}", str(self.machine_name)]
        if self.arm_eabi_version is not None:
            parts.append(f"EABI{self.arm_eabi_version}")
        if self.arm_float_abi:
            parts.append(f"{self.arm_float_abi}-float")
        parts.append(
            f"interpreter {self.program_interpreter}" if self.program_interpreter else "static"
        )
        return ", ".join(parts) + f" -> {self.platform_guess or 'unknown platform'}"


def read_identity(data: bytes | bytearray | memoryview | str | os.PathLike[str]) -> ElfIdentity:
    """Read the identity of an executable given as bytes or as a path (str or Path).

    Raises :class:`ElfError` for empty, non-ELF non-script, or truncated input.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        blob, source = bytes(data), "input"
    else:
        path = Path(data)
        try:
            with path.open("rb") as f:
                blob = f.read(_READ_LIMIT)
        except OSError as e:
            raise ElfError(f"cannot read {path}: {e.strerror}") from e
        source = str(path)

    if not blob:
        raise ElfError(f"{source} is empty: not an ELF executable or a #! script")
    if blob.startswith(b"#!"):
        return _read_script(blob)
    if not blob.startswith(ELF_MAGIC):
        if len(blob) < 4 and ELF_MAGIC.startswith(blob):
            raise ElfError(f"{source} is truncated: {len(blob)} bytes of an ELF magic number")
        raise ElfError(
            f"{source} is not an ELF executable or #! script: it starts with {blob[:8]!r}"
            r" (ELF starts with b'\x7fELF', scripts with b'#!')"
        )
    return _read_elf(blob, source)


def _read_script(blob: bytes) -> ElfIdentity:
    line = blob[2:_SHEBANG_MAX].split(b"\n", 1)[0]
    # binfmt_script: skip blanks, interpreter up to the next blank, the rest is one argument;
    # only spaces and tabs count as blanks (a '\r' stays part of the name).
    text = line.decode("utf-8", "surrogateescape").strip(" \t")
    name, _, arg = text.replace("\t", " ").partition(" ")
    arg = arg.strip(" ")
    return ElfIdentity(kind="script", interpreter=name, interpreter_arg=arg or None)


def _read_elf(blob: bytes, source: str) -> ElfIdentity:
    if len(blob) < 16:
        raise ElfError(f"{source} is a truncated ELF file: {len(blob)} bytes, e_ident needs 16")
    cls_byte, data_byte, osabi = blob[4], blob[5], blob[7]
    if cls_byte not in (ELFCLASS32, ELFCLASS64):
        raise ElfError(f"{source}: bad ELF class byte {cls_byte} (1 = 32-bit, 2 = 64-bit)")
    if data_byte not in (ELFDATA2LSB, ELFDATA2MSB):
        raise ElfError(f"{source}: bad ELF data byte {data_byte} (1 = little-, 2 = big-endian)")
    elf_class = 32 if cls_byte == ELFCLASS32 else 64
    order = "little" if data_byte == ELFDATA2LSB else "big"
    end = "<" if order == "little" else ">"
    header_size = 52 if elf_class == 32 else 64
    if len(blob) < header_size:
        raise ElfError(
            f"{source} is a truncated ELF file: {len(blob)} bytes, "
            f"a {elf_class}-bit header needs {header_size}"
        )
    if elf_class == 64:
        e_type, machine, _ver, entry, phoff, _shoff, flags, _eh, phentsize, phnum = struct.unpack(
            end + "HHIQQQIHHH", blob[16:58]
        )
    else:
        e_type, machine, _ver, entry, phoff, _shoff, flags, _eh, phentsize, phnum = struct.unpack(
            end + "HHIIIIIHHH", blob[16:46]
        )

    eabi = float_abi = None
    if machine == EM_ARM:
        eabi = (flags & EF_ARM_EABIMASK) >> 24
        if flags & EF_ARM_ABI_FLOAT_HARD:
            float_abi = "hard"
        elif flags & EF_ARM_ABI_FLOAT_SOFT:
            float_abi = "soft"

    arch = _PLATFORM_BY_HEADER.get((machine, elf_class, order))
    os_name = _OSABI_TO_OS.get(osabi)
    return ElfIdentity(
        kind="elf",
        elf_class=elf_class,
        byte_order=order,
        os_abi=osabi,
        os_abi_name=OSABI_NAMES.get(osabi, f"OS/ABI {osabi}"),
        e_type=e_type,
        type_name=TYPE_NAMES.get(e_type, f"type {e_type:#x}"),
        machine=machine,
        machine_name=MACHINE_NAMES.get(machine, f"e_machine {machine}"),
        flags=flags,
        entry=entry,
        arm_eabi_version=eabi,
        arm_float_abi=float_abi,
        program_interpreter=_program_interpreter(blob, end, elf_class, phoff, phentsize, phnum),
        platform_guess=f"{os_name}/{arch}" if arch and os_name else None,
    )


def _program_interpreter(
    blob: bytes, end: str, elf_class: int, phoff: int, phentsize: int, phnum: int
) -> str | None:
    """PT_INTERP's path, when the program headers are inside what was read."""
    fmt = end + ("IIQQQQ" if elf_class == 64 else "IIII")
    need = struct.calcsize(fmt)
    for i in range(min(phnum, 256)):
        at = phoff + i * phentsize
        if phentsize < need or at + need > len(blob):
            return None
        if elf_class == 64:
            p_type, _flags, offset, _vaddr, _paddr, filesz = struct.unpack_from(fmt, blob, at)
        else:
            p_type, offset, _vaddr, _paddr = struct.unpack_from(fmt, blob, at)
            (filesz,) = struct.unpack_from(end + "I", blob, at + 16)
        if p_type == PT_INTERP:
            raw = blob[offset : offset + filesz]
            return raw.split(b"\0", 1)[0].decode("utf-8", "replace") if raw else None
    return None


# --------------------------------------------------------------------------------------------
# Platforms the hello binaries are made for


def normalize_platform(platform: str | PlatformLike) -> str:
    """``linux/arm64/v8`` -> ``linux/arm64``, ``linux/arm`` -> ``linux/arm/v7``, aliases too.

    Accepts a string or anything with ``.os``, ``.architecture`` and ``.variant``.
    """
    if isinstance(platform, str):
        parts = platform.strip().lower().split("/")
        if len(parts) == 1:  # a bare architecture, as in "arm64"
            parts.insert(0, "linux")
    else:
        parts = [platform.os, platform.architecture, getattr(platform, "variant", "") or ""]
        parts = [str(p).lower() for p in parts]
    if len(parts) > 3 or not all(parts[:2]):
        raise PlatformError(
            f"bad platform {str(platform)!r}: the shape is os/architecture[/variant],"
            " e.g. linux/arm/v7"
        )
    os_name, arch, variant = [*parts, ""][:3]
    arch = _ARCH_ALIASES.get(arch, arch)
    if "/" in arch:  # armhf, armel carry their variant
        arch, variant = arch.split("/")[0], variant or arch.split("/")[1]
    if arch == "arm64" and variant in ("", "v8"):
        variant = ""
    elif arch == "arm" and not variant:
        variant = "v7"
    return "/".join(p for p in (os_name, arch, variant) if p)


_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "i386": "386",
    "i686": "386",
    "armhf": "arm/v7",
    "armel": "arm/v6",
    "ppc64el": "ppc64le",
    "mips64el": "mips64le",
}


@dataclass(frozen=True)
class _Target:
    machine: int
    elf_class: int  # 32 or 64
    byte_order: str  # "little" or "big"
    flags: int
    base: int  # load address of the file's first byte
    code: Callable[[int, int, int], list[tuple[bytes, str]]]  # (pc, msg addr, msg len)


# --------------------------------------------------------------------------------------------
# Instruction encoders, one small set per ISA.
# Each returns the instruction's bytes in the ISA's order; each code function pairs them with
# their mnemonic.


def _le32(word: int) -> bytes:
    return struct.pack("<I", word)


def _signed_fits(value: int, bits: int) -> int:
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise ValueError(f"{value} does not fit in {bits} signed bits")
    return value & ((1 << bits) - 1)


# x86 (shared by x86-64 and i386): register numbers eax=0 ecx=1 edx=2 ebx=3 esi=6 edi=7
def _x86_mov_r32_imm32(reg: int, imm: int) -> bytes:  # B8+rd id
    return bytes([0xB8 + reg]) + struct.pack("<I", imm)


def _x86_xor_r32_r32(dst: int, src: int) -> bytes:  # 31 /r, ModRM mod=11
    return bytes([0x31, 0xC0 | (src << 3) | dst])


def _x64_lea_rip(reg: int, disp: int) -> bytes:  # REX.W 8D /r, ModRM mod=00 rm=101 (RIP+disp32)
    return bytes([0x48, 0x8D, (reg << 3) | 0b101]) + struct.pack("<i", disp)


def _x64_syscall() -> bytes:
    return b"\x0f\x05"


def _x86_int(vector: int) -> bytes:
    return bytes([0xCD, vector])


def _code_x86_64(pc: int, msg: int, n: int) -> list[tuple[bytes, str]]:
    rax, rdx, rsi, rdi = 0, 2, 6, 7
    lea_at = pc + 15  # after three 5-byte movs; RIP-relative counts from the next instruction
    return [
        (_x86_mov_r32_imm32(rax, 1), "mov eax, 1          (write)"),
        (_x86_mov_r32_imm32(rdi, 1), "mov edi, 1          (fd 1 = stdout)"),
        (_x86_mov_r32_imm32(rdx, n), f"mov edx, {n}         (length)"),
        (_x64_lea_rip(rsi, msg - (lea_at + 7)), "lea rsi, [rip+msg]"),
        (_x64_syscall(), "syscall"),
        (_x86_mov_r32_imm32(rax, 60), "mov eax, 60         (exit)"),
        (_x86_xor_r32_r32(rdi, rdi), "xor edi, edi        (status 0)"),
        (_x64_syscall(), "syscall"),
    ]


def _code_i386(pc: int, msg: int, n: int) -> list[tuple[bytes, str]]:
    eax, ecx, edx, ebx = 0, 1, 2, 3
    return [
        (_x86_mov_r32_imm32(eax, 4), "mov eax, 4          (write)"),
        (_x86_mov_r32_imm32(ebx, 1), "mov ebx, 1          (fd 1 = stdout)"),
        (_x86_mov_r32_imm32(ecx, msg), f"mov ecx, {msg:#x}   (msg, absolute)"),
        (_x86_mov_r32_imm32(edx, n), f"mov edx, {n}         (length)"),
        (_x86_int(0x80), "int 0x80"),
        (_x86_mov_r32_imm32(eax, 1), "mov eax, 1          (exit)"),
        (_x86_xor_r32_r32(ebx, ebx), "xor ebx, ebx        (status 0)"),
        (_x86_int(0x80), "int 0x80"),
    ]


# AArch64 (A64): fixed 32-bit little-endian words
def _a64_movz(rd: int, imm16: int) -> bytes:  # MOVZ Xd, #imm16 (sf=1, hw=0)
    return _le32(0xD2800000 | (imm16 << 5) | rd)


def _a64_adr(rd: int, offset: int) -> bytes:  # ADR Xd, pc+offset: immlo [30:29], immhi [23:5]
    imm = _signed_fits(offset, 21)
    return _le32(0x10000000 | ((imm & 3) << 29) | ((imm >> 2) << 5) | rd)


def _a64_svc(imm16: int) -> bytes:
    return _le32(0xD4000001 | (imm16 << 5))


def _code_aarch64(pc: int, msg: int, n: int) -> list[tuple[bytes, str]]:
    return [
        (_a64_movz(0, 1), "mov x0, #1          (fd 1 = stdout)"),
        (_a64_adr(1, msg - (pc + 4)), "adr x1, msg"),
        (_a64_movz(2, n), f"mov x2, #{n}         (length)"),
        (_a64_movz(8, 64), "mov x8, #64         (write)"),
        (_a64_svc(0), "svc #0"),
        (_a64_movz(0, 0), "mov x0, #0          (status 0)"),
        (_a64_movz(8, 93), "mov x8, #93         (exit)"),
        (_a64_svc(0), "svc #0"),
    ]


# ARM (A32), condition AL (0xE), little-endian; all ARMv4/v5 instructions
def _arm_imm12(value: int) -> int:
    """A32 modified immediate: an 8-bit value rotated right by an even amount."""
    for rot in range(16):
        v = ((value << (2 * rot)) | (value >> (32 - 2 * rot))) & 0xFFFFFFFF
        if v < 256:
            return (rot << 8) | v
    raise ValueError(f"{value:#x} is not an A32 modified immediate")


def _arm_mov_imm(rd: int, value: int) -> bytes:  # MOV rd, #imm
    return _le32(0xE3A00000 | (rd << 12) | _arm_imm12(value))


def _arm_add_pc(rd: int, value: int) -> bytes:  # ADD rd, pc, #imm  (= ADR; pc reads as .+8)
    return _le32(0xE28F0000 | (rd << 12) | _arm_imm12(value))


def _arm_svc(imm24: int) -> bytes:
    return _le32(0xEF000000 | imm24)


def _code_arm(pc: int, msg: int, n: int) -> list[tuple[bytes, str]]:
    return [
        (_arm_mov_imm(0, 1), "mov r0, #1          (fd 1 = stdout)"),
        (_arm_add_pc(1, msg - (pc + 4 + 8)), "add r1, pc, #off    (adr r1, msg)"),
        (_arm_mov_imm(2, n), f"mov r2, #{n}         (length)"),
        (_arm_mov_imm(7, 4), "mov r7, #4          (write)"),
        (_arm_svc(0), "svc #0"),
        (_arm_mov_imm(0, 0), "mov r0, #0          (status 0)"),
        (_arm_mov_imm(7, 1), "mov r7, #1          (exit)"),
        (_arm_svc(0), "svc #0"),
    ]


# Power ISA (ppc64le): fixed 32-bit words, little-endian
def _ppc_addi(rt: int, ra: int, simm: int) -> bytes:  # li rt, simm when ra = 0
    return _le32((14 << 26) | (rt << 21) | (ra << 16) | _signed_fits(simm, 16))


def _ppc_addis(rt: int, ra: int, simm: int) -> bytes:  # lis rt, simm when ra = 0
    return _le32((15 << 26) | (rt << 21) | (ra << 16) | _signed_fits(simm, 16))


def _ppc_ori(ra: int, rs: int, uimm: int) -> bytes:
    return _le32((24 << 26) | (rs << 21) | (ra << 16) | uimm)


def _ppc_sc() -> bytes:
    return _le32(0x44000002)


def _code_ppc64le(pc: int, msg: int, n: int) -> list[tuple[bytes, str]]:
    return [
        (_ppc_addi(0, 0, 4), "li r0, 4            (write)"),
        (_ppc_addi(3, 0, 1), "li r3, 1            (fd 1 = stdout)"),
        (_ppc_addis(4, 0, msg >> 16), f"lis r4, {msg >> 16:#x}     (msg@h)"),
        (_ppc_ori(4, 4, msg & 0xFFFF), f"ori r4, r4, {msg & 0xFFFF:#x} (msg@l)"),
        (_ppc_addi(5, 0, n), f"li r5, {n}           (length)"),
        (_ppc_sc(), "sc"),
        (_ppc_addi(0, 0, 1), "li r0, 1            (exit)"),
        (_ppc_addi(3, 0, 0), "li r3, 0            (status 0)"),
        (_ppc_sc(), "sc"),
    ]


# z/Architecture (s390x): 2/4/6-byte instructions, big-endian
def _s390_lghi(r1: int, imm16: int) -> bytes:  # RI-a, opcode A7x9
    return bytes([0xA7, (r1 << 4) | 0x9]) + struct.pack(">h", imm16)


def _s390_larl(r1: int, offset: int) -> bytes:  # RIL-b, opcode C0x0; offset in halfwords
    if offset % 2:
        raise ValueError("larl targets must be 2-byte aligned")
    return bytes([0xC0, r1 << 4]) + struct.pack(">i", offset // 2)


def _s390_svc(number: int) -> bytes:  # I format, opcode 0A
    return bytes([0x0A, number])


def _code_s390x(pc: int, msg: int, n: int) -> list[tuple[bytes, str]]:
    larl_at = pc + 4
    return [
        (_s390_lghi(2, 1), "lghi %r2, 1         (fd 1 = stdout)"),
        (_s390_larl(3, msg - larl_at), "larl %r3, msg"),
        (_s390_lghi(4, n), f"lghi %r4, {n}        (length)"),
        (_s390_svc(4), "svc 4               (write)"),
        (_s390_lghi(2, 0), "lghi %r2, 0         (status 0)"),
        (_s390_svc(1), "svc 1               (exit)"),
    ]


# RISC-V (RV64I): fixed 32-bit little-endian words; a0..a2 = x10..x12, a7 = x17
def _rv_addi(rd: int, rs1: int, imm: int) -> bytes:  # I-type, opcode OP-IMM
    return _le32((_signed_fits(imm, 12) << 20) | (rs1 << 15) | (rd << 7) | 0x13)


def _rv_auipc(rd: int, imm20: int) -> bytes:  # U-type
    return _le32(((imm20 & 0xFFFFF) << 12) | (rd << 7) | 0x17)


def _rv_ecall() -> bytes:
    return _le32(0x00000073)


def _code_riscv64(pc: int, msg: int, n: int) -> list[tuple[bytes, str]]:
    a0, a1, a2, a7 = 10, 11, 12, 17
    off = msg - (pc + 4)  # from the auipc
    hi = (off + 0x800) >> 12  # %pcrel_hi rounds so that the signed %pcrel_lo fits
    lo = off - (hi << 12)
    return [
        (_rv_addi(a0, 0, 1), "li a0, 1            (fd 1 = stdout)"),
        (_rv_auipc(a1, hi), f"auipc a1, {hi}        (%pcrel_hi(msg))"),
        (_rv_addi(a1, a1, lo), f"addi a1, a1, {lo}     (%pcrel_lo(msg))"),
        (_rv_addi(a2, 0, n), f"li a2, {n}           (length)"),
        (_rv_addi(a7, 0, 64), "li a7, 64           (write)"),
        (_rv_ecall(), "ecall"),
        (_rv_addi(a0, 0, 0), "li a0, 0            (status 0)"),
        (_rv_addi(a7, 0, 93), "li a7, 93           (exit)"),
        (_rv_ecall(), "ecall"),
    ]


# MIPS64 (n64 ABI), little-endian: v0 = $2, a0..a2 = $4..$6
def _mips_daddiu(rt: int, rs: int, imm: int) -> bytes:
    return _le32((25 << 26) | (rs << 21) | (rt << 16) | _signed_fits(imm, 16))


def _mips_lui(rt: int, imm: int) -> bytes:
    return _le32((15 << 26) | (rt << 16) | imm)


def _mips_ori(rt: int, rs: int, imm: int) -> bytes:
    return _le32((13 << 26) | (rs << 21) | (rt << 16) | imm)


def _mips_syscall() -> bytes:
    return _le32(0x0000000C)


def _code_mips64le(pc: int, msg: int, n: int) -> list[tuple[bytes, str]]:
    v0, a0, a1, a2 = 2, 4, 5, 6
    return [
        (_mips_daddiu(v0, 0, 5001), "li $v0, 5001        (write, n64)"),
        (_mips_daddiu(a0, 0, 1), "li $a0, 1           (fd 1 = stdout)"),
        (_mips_lui(a1, msg >> 16), f"lui $a1, {msg >> 16:#x}    (%hi(msg))"),
        (_mips_ori(a1, a1, msg & 0xFFFF), f"ori $a1, $a1, {msg & 0xFFFF:#x} (%lo(msg))"),
        (_mips_daddiu(a2, 0, n), f"li $a2, {n}          (length)"),
        (_mips_syscall(), "syscall"),
        (_mips_daddiu(v0, 0, 5058), "li $v0, 5058        (exit, n64)"),
        (_mips_daddiu(a0, 0, 0), "li $a0, 0           (status 0)"),
        (_mips_syscall(), "syscall"),
    ]


_ARM_FLAGS_SOFT = EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_SOFT
_ARM_FLAGS_HARD = EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_HARD

_TARGETS: dict[str, _Target] = {
    "linux/amd64": _Target(EM_X86_64, 64, "little", 0, 0x400000, _code_x86_64),
    "linux/386": _Target(EM_386, 32, "little", 0, 0x08048000, _code_i386),
    "linux/arm64": _Target(EM_AARCH64, 64, "little", 0, 0x400000, _code_aarch64),
    "linux/arm/v7": _Target(EM_ARM, 32, "little", _ARM_FLAGS_HARD, 0x10000, _code_arm),
    "linux/arm/v6": _Target(EM_ARM, 32, "little", _ARM_FLAGS_HARD, 0x10000, _code_arm),
    "linux/arm/v5": _Target(EM_ARM, 32, "little", _ARM_FLAGS_SOFT, 0x10000, _code_arm),
    "linux/ppc64le": _Target(EM_PPC64, 64, "little", EF_PPC64_ELFV2, 0x400000, _code_ppc64le),
    "linux/s390x": _Target(EM_S390, 64, "big", 0, 0x400000, _code_s390x),
    "linux/riscv64": _Target(EM_RISCV, 64, "little", 0, 0x400000, _code_riscv64),
    "linux/mips64le": _Target(EM_MIPS, 64, "little", EF_MIPS_ARCH_64R2, 0x400000, _code_mips64le),
}

#: Platforms :func:`hello_binary` can build, in a stable order.
HELLO_PLATFORMS: tuple[str, ...] = tuple(_TARGETS)


def hello_message(platform: str | PlatformLike) -> bytes:
    """The exact line its hello binary writes, e.g. ``b'hello from linux/arm/v7\\n'``."""
    return f"hello from {normalize_platform(platform)}\n".encode()


def _target(platform: str | PlatformLike) -> tuple[str, _Target]:
    key = normalize_platform(platform)
    try:
        return key, _TARGETS[key]
    except KeyError:
        known = ", ".join(HELLO_PLATFORMS)
        raise ElfError(f"no hello binary for {platform!s}: known platforms are {known}") from None


def _layout(platform: str | PlatformLike) -> tuple[_Target, int, list[tuple[bytes, str]], bytes]:
    key, t = _target(platform)
    message = hello_message(key)
    headers = (52 + 32) if t.elf_class == 32 else (64 + 56)
    pc = t.base + headers
    # The code's length does not depend on the message's address: assemble once to learn it.
    size = sum(len(b) for b, _ in t.code(pc, pc + 0x40, len(message)))
    msg_addr = pc + ((size + 3) & ~3)
    code = t.code(pc, msg_addr, len(message))
    assert sum(len(b) for b, _ in code) == size
    return t, pc, code, message


def hello_binary(platform: str | PlatformLike) -> bytes:
    """A complete static ELF executable that prints ``hello from <platform>\\n`` and exits 0.

    ``platform`` is a string (``"linux/arm/v7"``, ``"linux/arm64/v8"``, ``"arm64"``) or a
    ``Platform``. Raises :class:`ElfError` for a platform not in :data:`HELLO_PLATFORMS`.
    """
    t, pc, code, message = _layout(platform)
    body = b"".join(b for b, _ in code)
    body += b"\0" * (-len(body) % 4) + message
    headers = pc - t.base
    total = headers + len(body)
    end = "<" if t.byte_order == "little" else ">"
    ident = (
        ELF_MAGIC
        + bytes([ELFCLASS32 if t.elf_class == 32 else ELFCLASS64])
        + bytes([ELFDATA2LSB if t.byte_order == "little" else ELFDATA2MSB])
        + bytes([1, 0])  # EI_VERSION = 1, EI_OSABI = 0 (System V, as Linux toolchains write)
        + b"\0" * 8
    )
    if t.elf_class == 64:
        ehdr = ident + struct.pack(
            end + "HHIQQQIHHHHHH",
            ET_EXEC, t.machine, 1, pc, 64, 0, t.flags, 64, 56, 1, 64, 0, 0,
        )  # fmt: skip
        phdr = struct.pack(
            end + "IIQQQQQQ",
            PT_LOAD, PF_R | PF_X, 0, t.base, t.base, total, total, 0x10000,
        )  # fmt: skip
    else:
        ehdr = ident + struct.pack(
            end + "HHIIIIIHHHHHH",
            ET_EXEC, t.machine, 1, pc, 52, 0, t.flags, 52, 32, 1, 40, 0, 0,
        )  # fmt: skip
        phdr = struct.pack(
            end + "IIIIIIII",
            PT_LOAD, 0, t.base, t.base, total, total, PF_R | PF_X, 0x1000,
        )  # fmt: skip
    out = ehdr + phdr + body
    assert len(out) == total
    return out


def hello_listing(platform: str | PlatformLike) -> list[str]:
    """The hello binary's code as ``address: bytes  mnemonic`` lines, for reading along."""
    _t, pc, code, message = _layout(platform)
    lines = []
    for raw, text in code:
        lines.append(f"{pc:#010x}: {raw.hex(' '):<20}  {text}")
        pc += len(raw)
    pc += -pc % 4
    lines.append(f"{pc:#010x}: msg: .ascii {message.decode()!r}")
    return lines


# --------------------------------------------------------------------------------------------
# The header as a picture


@dataclass(frozen=True)
class HeaderField:
    """One field of an ELF header: where it sits, its raw bytes and what they mean."""

    name: str
    offset: int
    size: int
    raw: bytes
    meaning: str


def header_fields(data: bytes | bytearray | memoryview | str | os.PathLike[str]
                  ) -> tuple[HeaderField, ...]:
    """The ELF header of ``data`` (bytes or a path), field by field, in file order.

    The fields the kernel checks first are named as the ELF specification names them; the rest
    of the header (entry point, table offsets and sizes) is grouped as ``rest of the header``.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        blob = bytes(data[:64])
    else:
        with Path(data).open("rb") as f:
            blob = f.read(64)
    ident = read_identity(blob)
    if not ident.is_elf:
        raise ElfError("a #! script has no ELF header: look at its interpreter instead")
    size = 52 if ident.elf_class == 32 else 64
    order = "LSB" if ident.byte_order == "little" else "MSB"
    spans = [
        ("magic", 0, 4, "\\x7fELF: an ELF file"),
        ("EI_CLASS", 4, 1, f"{ident.elf_class}-bit"),
        ("EI_DATA", 5, 1, f"{ident.byte_order}-endian ({order})"),
        ("EI_VERSION", 6, 1, "ELF version 1"),
        ("EI_OSABI", 7, 1, str(ident.os_abi_name)),
        ("padding", 8, 8, "unused"),
        ("e_type", 16, 2, str(ident.type_name)),
        ("e_machine", 18, 2, f"{ident.machine} = {ident.machine_name}"),
        ("rest of the header", 20, size - 20, "version, entry point, table offsets, e_flags"),
    ]
    return tuple(HeaderField(n, o, s, blob[o:o + s], m) for n, o, s, m in spans)


# Okabe–Ito colours per field (colour-blind safe), one colour per field so that every field
# has its own legend entry; e_machine stands out in vermillion with a thick border. The unused
# bytes and the rest of the header are light greys, named in the legend too.
_FIELD_COLOURS = {
    "magic": "#56B4E9", "EI_CLASS": "#F0E442", "EI_DATA": "#009E73", "EI_VERSION": "#E69F00",
    "EI_OSABI": "#0072B2", "padding": "#f4f4f4", "e_type": "#CC79A7", "e_machine": "#D55E00",
    "rest of the header": "#d9d9d9",
}
#: Fields whose colour is dark enough to need white digits.
_DARK_FIELDS = frozenset({"EI_OSABI", "e_machine"})


def plot_header(data: bytes | bytearray | memoryview | str | os.PathLike[str], *,
                ax: object | None = None, title: str | None = None) -> object:
    """Draw the ELF header bytes of ``data`` (bytes or a path), 16 per row, ``e_machine`` marked.

    Works on any ELF file: ``plot_header(Path("/bin/ls"))``. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    fields = header_fields(data)
    total = fields[-1].offset + fields[-1].size
    rows = (total + 15) // 16
    if ax is None:
        _, ax = plt.subplots(figsize=(8.0, 0.9 + 0.42 * rows + 0.7))
    colour = {}
    for f in fields:
        for i in range(f.offset, f.offset + f.size):
            colour[i] = f
    raw = b"".join(f.raw for f in fields)
    for i in range(total):
        row, col = divmod(i, 16)
        f = colour[i]
        marked = f.name == "e_machine"
        ax.add_patch(Rectangle((col, -row), 1, -1, facecolor=_FIELD_COLOURS[f.name],
                               edgecolor="#000000" if marked else "#808080",
                               linewidth=2.0 if marked else 0.6))
        ax.text(col + 0.5, -row - 0.5, f"{raw[i]:02x}", ha="center", va="center",
                family="monospace", fontsize=9,
                color="#ffffff" if f.name in _DARK_FIELDS else "#000000",
                weight="bold" if marked else "normal")
    for row in range(rows):
        ax.text(-0.2, -row - 0.5, f"{row * 16:#04x}", ha="right", va="center",
                family="monospace", fontsize=8, color="#555555")
    handles = [Patch(facecolor=_FIELD_COLOURS[f.name], edgecolor="#000000"
                     if f.name == "e_machine" else "#808080",
                     linewidth=2.0 if f.name == "e_machine" else 0.6,
                     label=f"{f.name}: {f.meaning}" if f.name != "magic" else "magic \\x7fELF")
               for f in fields]
    ident = read_identity(raw)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 0.02), ncol=3,
              frameon=False, fontsize=9, handlelength=1.2, columnspacing=1.2)
    ax.set_xlim(-1.2, 16.2)
    ax.set_ylim(-rows, 0.1)
    ax.set_axis_off()
    ax.set_title(title or f"ELF header of a {ident.platform_guess or 'foreign'} binary: "
                 f"the kernel reads e_machine", loc="left")
    return ax
