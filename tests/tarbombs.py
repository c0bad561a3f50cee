"""Hostile layers, built fast and small: raw tar headers and a streaming gzip of them.

Each bomb is a list of parts, bytes or ``Zeros(n)``, gzip-compressed as one stream without
ever holding the unpacked bytes (1 GiB of zeros is about 1 MiB of gzip). Used by
``tests/test_layers.py`` in a subprocess, so that its peak memory can be measured.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Zeros:
    n: int


def header(name: bytes, size: int = 0, typeflag: bytes = b"0", linkname: bytes = b"",
           mode: int = 0o644) -> bytes:
    """One ustar header block with a valid checksum (size in base-256 when octal is short)."""
    block = bytearray(512)
    block[0:len(name[:100])] = name[:100]
    block[100:108] = b"%07o\0" % mode
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    if size < 8 ** 11:
        block[124:136] = b"%011o\0" % size
    else:
        block[124:136] = b"\x80" + size.to_bytes(11, "big")
    block[136:148] = b"00000000000\0"
    block[156:157] = typeflag
    block[157:157 + len(linkname[:100])] = linkname[:100]
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def pad(n: int) -> bytes:
    return bytes(-n % 512)


def pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def _gzip(data: bytes) -> bytes:
    return zlib.compress(data, 9, wbits=16 + zlib.MAX_WBITS)


_MiB_OF_ZEROS = _gzip(bytes(1 << 20))


def gzip_parts(parts: list[bytes | Zeros]) -> bytes:
    """A multi-member gzip stream (valid gzip: members simply follow each other), so that a
    GiB of zeros is one compressed MiB repeated, made in no time."""
    out = []
    for part in parts:
        if isinstance(part, Zeros):
            whole, rest = divmod(part.n, 1 << 20)
            out.append(_MiB_OF_ZEROS * whole)
            if rest:
                out.append(_gzip(bytes(rest)))
        else:
            out.append(_gzip(part))
    return b"".join(out)


GiB = 1 << 30
END = bytes(1024)


def bomb(kind: str) -> bytes:
    """The layer for one kind of attack (see ``KINDS``)."""
    if kind == "pax-header-1GiB":
        return gzip_parts([header(b"././@PaxHeader", GiB, b"x"), Zeros(GiB),
                           header(b"bin/hello", 0), END])
    if kind == "gnu-long-name-1GiB":
        return gzip_parts([header(b"././@LongLink", GiB, b"L"), Zeros(GiB),
                           header(b"bin/hello", 0), END])
    if kind == "member-2GiB":
        # Refused at its header: the data need not be there (a truncated bomb says the same).
        return gzip_parts([header(b"big", 2 * GiB), Zeros(1 << 20)])
    if kind == "unpacked-300MiB-in-small-members":
        parts: list[bytes | Zeros] = []
        for i in range(300):  # 300 MiB: just past the 256 MiB bound
            parts += [header(b"f%d" % i, 1 << 20), Zeros(1 << 20)]
        return gzip_parts([*parts, END])
    if kind == "200k-members":
        return gzip_parts([b"".join(header(b"d/%06d" % i) for i in range(200_000)), END])
    if kind == "extension-chain":
        record = pax_record("comment", "x")
        one = header(b"././@PaxHeader", len(record), b"x") + record + pad(len(record))
        return gzip_parts([one * 50_000, header(b"bin/hello"), END])
    if kind == "pax-metadata-flood":
        record = pax_record("comment", "y" * 60_000)
        one = header(b"././@PaxHeader", len(record), b"x") + record + pad(len(record))
        entry = header(b"f", 0)
        return gzip_parts([(one + entry) * 400, END])
    if kind == "gnu-sparse":
        return gzip_parts([header(b"sparse", 0, b"S"), END])
    if kind == "pax-sparse-1.0":
        record = pax_record("GNU.sparse.major", "1") + pax_record("GNU.sparse.minor", "0")
        return gzip_parts([header(b"././@PaxHeader", len(record), b"x"), record,
                           pad(len(record)), header(b"sparse", 512), b"999999999999\n",
                           pad(13), END])
    raise ValueError(kind)


KINDS = {
    # kind: words the LayerError must say
    "pax-header-1GiB": "pax header of 1073741824 bytes, above the cap of 65536",
    "gnu-long-name-1GiB": "GNU long-name header of 1073741824 bytes, above the cap",
    "member-2GiB": "the layer unpacks to more than 268435456 bytes",
    "unpacked-300MiB-in-small-members": "the layer unpacks to more than 268435456 bytes",
    "200k-members": "more than 100000 entries",
    "extension-chain": "more than 8 extension headers before one entry",
    "pax-metadata-flood": "extension headers pass 16777216 bytes",
    "gnu-sparse": "GNU sparse file",
    "pax-sparse-1.0": "GNU sparse file",
}
