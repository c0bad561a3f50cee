"""Image layers read as tar archives, safely: every size, count and link bounded.

What it is for
--------------
A layer is a tar (usually gzip-compressed) that a registry, a snapshot or the lab hands over.
Its digest only proves the registry *meant* these bytes; it says nothing about whether they
are sane. archlab opens layers to take one file out (``emulation.extract_file_from_layer``,
``lab.run``) and to list an image's files (``simulate.gather_facts(layers=True)``). This
module is the one place that reads them, so that a hostile layer cannot exhaust memory or
time, or name a file outside itself.

How do I use it?
----------------
::

    from archlab.layers import open_layer

    layer = open_layer(blob_bytes)          # tar or tar+gzip; LayerError if unsafe/unreadable
    sorted(layer.entries)                   # every path in it, normalized: 'bin/busybox', ...
    layer.read("bin/sh", max_bytes=1 << 20)  # a file's bytes, symlinks followed inside it
    layer.resolve("bin/sh").mode            # the entry a path finally names

Why not :mod:`tarfile`?
-----------------------
Python's :mod:`tarfile` reads a pax extended header or a GNU long name *whole* before anything
can look at its size (a pax header claiming 1 GiB took 1.15 GB of memory), recurses once per
extension header (a long chain of them is a ``RecursionError``), and its GNU sparse code loops
on counts taken from the archive (and raises ``ValueError`` on a short one). It has no hook to
refuse any of that early. The subset of tar that image layers use (ustar, pax, GNU long names;
see the OCI image spec's layer section) is small, so archlab reads it itself, streaming, and
checks every bound before the bytes are read.

The rules
---------
==================================  ======================================================
what the layer holds                what happens
==================================  ======================================================
gzip (``1f 8b``), zstd (``28 b5    decompressed as a stream, never whole, each step's output
2f fd``) or plain tar               bounded (``max_length``); anything else, or broken gzip
                                    or zstd, is one ``LayerError`` line
more than ``MAX_LAYER_UNPACKED_     refused as soon as the stream passes it: bounds the
BYTES`` once unpacked               time a gzip bomb can cost
more than ``MAX_LAYER_MEMBERS``     refused
entries
a pax or GNU long-name/link         refused before it is read
record over ``MAX_TAR_HEADER_
BYTES``, or more than 8 of them
before one entry
names, link targets and extension   refused: bounds the memory the index of a layer takes
records over ``MAX_LAYER_
METADATA_BYTES`` in all
a name that climbs out (``../x``,   the layer is refused, as Docker refuses it on pull
``a/../../x``)                      ("breakout")
a hard link whose target climbs     refused, as Docker does
out, or a symlink whose relative
target climbs above the root
an absolute name or symlink target  taken inside the layer (``/bin/sh`` is ``bin/sh``), as
                                    a container sees it
a device, FIFO, GNU sparse file     a device or FIFO is listed but never read: asking for
or unknown entry type               one is a ``LayerError``; a sparse or unknown type
                                    refuses the layer (Docker refuses unknown types too)
more than ``MAX_SYMLINK_HOPS``      ``LayerError``: a loop, or a chain too long to be one
links to find one file
a file asked for above              ``LayerError`` before its bytes are read
``max_bytes``
the same name twice                 the later entry wins, as when a tar is unpacked
==================================  ======================================================

The unpacked stream is read twice at most: once to index the entries, once to the file that
is read (so memory stays at one file plus the index, whatever the layer's size).

:class:`LayerStream` reads the same archives under the same rules, forward and once, from an
iterator of compressed chunks (a registry response): it hands out each entry as its header
arrives and can stop at any point, so that a caller that needs three headers never downloads
the rest (:mod:`archlab.verify` does this).
"""

from __future__ import annotations

import posixpath
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from archlab import limits
from archlab.errors import LayerError, NotInLayerError

__all__ = ["Entry", "Layer", "LayerLimits", "LayerStream", "Rootfs", "open_layer"]

Kind = Literal["file", "dir", "symlink", "hardlink", "chardev", "blockdev", "fifo"]

_BLOCK = 512
_CHUNK = 64 * 1024  # decompression step: memory per read, not a bound on anything
_MAX_EXTENSIONS_PER_ENTRY = 8  # pax 'x', pax 'g', GNU 'L' and 'K' each at most twice, in practice
_TYPES: dict[bytes, Kind] = {
    b"0": "file", b"\0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink",
    b"3": "chardev", b"4": "blockdev", b"5": "dir", b"6": "fifo",
}
_EXTENSIONS = (b"x", b"g", b"L", b"K")


@dataclass(frozen=True)
class LayerLimits:
    """The bounds one layer is read within (defaults from :mod:`archlab.limits`)."""

    max_unpacked_bytes: int = limits.MAX_LAYER_UNPACKED_BYTES
    max_members: int = limits.MAX_LAYER_MEMBERS
    max_header_bytes: int = limits.MAX_TAR_HEADER_BYTES
    max_metadata_bytes: int = limits.MAX_LAYER_METADATA_BYTES
    max_symlink_hops: int = limits.MAX_SYMLINK_HOPS


@dataclass(frozen=True, slots=True)  # slots: a layer may index 100,000 of them
class Entry:
    """One entry of a layer, as indexed (its bytes are read only when asked for)."""

    name: str
    kind: Kind
    size: int
    mode: int
    linkname: str = ""
    #: Where its data starts in the unpacked stream.
    offset: int = 0


def open_layer(data: bytes, *, bounds: LayerLimits | None = None) -> Layer:
    """Index the layer ``data`` (tar or tar+gzip) within ``bounds``; see the module docstring."""
    return Layer(data, bounds=bounds or LayerLimits())


class Layer:
    """An indexed layer: :attr:`entries` by normalized path; :meth:`read` to take one out."""

    def __init__(self, data: bytes, *, bounds: LayerLimits) -> None:
        self._data = data
        self.bounds = bounds
        entries: dict[str, Entry] = {}
        for entry in _scan(data, bounds):
            entries[entry.name] = entry
        self.entries: Mapping[str, Entry] = MappingProxyType(entries)

    def resolve(self, path: str) -> Entry:
        """The entry ``path`` finally names: symlinks (also of parent directories) and hard
        links followed inside the layer. Raises :class:`NotInLayerError` if there is none."""
        return _resolve(self.entries, path, self.bounds.max_symlink_hops)

    def read(self, path: str, *, max_bytes: int, prefix: bool = False) -> bytes:
        """The bytes of the regular file ``path`` names. Above ``max_bytes`` it is a
        :class:`LayerError` before anything is read, or, with ``prefix=True``, its first
        ``max_bytes`` bytes."""
        return self.read_entry(self.resolve(path), path, max_bytes=max_bytes, prefix=prefix)

    def read_entry(self, entry: Entry, path: str, *, max_bytes: int,
                   prefix: bool = False) -> bytes:
        """The bytes of ``entry`` (one of :attr:`entries`); see :meth:`read`."""
        if entry.kind != "file":
            raise LayerError(f"{path!r} in the layer is a {_KIND_WORDS[entry.kind]}, not a "
                             "regular file" + (": archlab never reads one" if entry.kind in (
                                 "chardev", "blockdev", "fifo") else ""))
        size = entry.size
        if size > max_bytes:
            if not prefix:
                raise LayerError(f"{path!r} is {size} bytes, above the cap of {max_bytes}; "
                                 "raise max_bytes= if it is expected")
            size = max_bytes
        stream = _Unpacked(self._data, self.bounds.max_unpacked_bytes)
        stream.skip(entry.offset)
        return stream.read_exactly(size, f"{path!r}")


class Rootfs:
    """Layers stacked as a container sees them (the upper one wins for a path); links are
    followed across layers. ``files`` are every path in it."""

    def __init__(self, layers: list[Layer]) -> None:
        merged: dict[str, Entry] = {}
        owner: dict[str, Layer] = {}
        for layer in layers:  # lowest first
            for name, entry in layer.entries.items():
                merged[name] = entry
                owner[name] = layer
        self.entries: Mapping[str, Entry] = MappingProxyType(merged)
        self._owner = owner
        self._hops = min((la.bounds.max_symlink_hops for la in layers),
                         default=limits.MAX_SYMLINK_HOPS)

    def read(self, path: str, *, max_bytes: int, prefix: bool = False) -> bytes:
        entry = _resolve(self.entries, path, self._hops)
        return self._owner[entry.name].read_entry(entry, path, max_bytes=max_bytes,
                                                  prefix=prefix)


class LayerStream:
    """A layer read once, forward, from ``bytes`` or an iterator of compressed chunks (a
    network response): each entry as soon as its header is in, the start of its data when
    asked for, and never more input taken than that. Stop at any point with :meth:`close`.

    ::

        stream = LayerStream(chunks)          # gzip, zstd or plain tar, told by its first bytes
        for entry in stream:
            if entry.name == "bin/hello":
                head = stream.head(4096)      # the first bytes of this entry's data
                break
        stream.close()                        # the rest is never read (nor downloaded)
    """

    def __init__(self, source: bytes | Iterable[bytes], *,
                 bounds: LayerLimits | None = None) -> None:
        self.bounds = bounds or LayerLimits()
        self._source = source
        self._stream = _open_stream(source, self.bounds)
        self._entries = _scan(self._stream, self.bounds)
        self._current: Entry | None = None
        #: True once the end of the archive was read.
        self.finished = False

    @property
    def compression(self) -> Literal["gzip", "zstd", "tar"]:
        return self._stream.compression

    @property
    def unpacked_bytes(self) -> int:
        """Unpacked bytes read so far, headers included."""
        return self._stream.position

    def __iter__(self) -> Iterator[Entry]:
        return self

    def __next__(self) -> Entry:
        self._current = None
        try:
            entry = next(self._entries)
        except StopIteration:
            self.finished = True
            raise
        self._current = entry
        return entry

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes (fewer if it is smaller) of the regular file just yielded;
        callable once per entry, before the iteration goes on."""
        entry = self._current
        if entry is None or entry.kind != "file":
            raise LayerError("LayerStream.head: the current entry is not a regular file")
        if self._stream.position != entry.offset:
            raise LayerError(f"LayerStream.head: the start of {entry.name!r} was read already")
        return self._stream.read_exactly(min(n, entry.size), repr(entry.name))

    def close(self) -> None:
        """Stop reading: close the source if it can be closed (a generator, a response)."""
        self._entries.close()
        closer = getattr(self._source, "close", None)
        if callable(closer):
            closer()


def _resolve(entries: Mapping[str, Entry], path: str, hops: int) -> Entry:
    name = _clean(path)
    for _ in range(hops + 1):
        entry = entries.get(name)
        if entry is None:
            through = _through_linked_parent(entries, name)
            if through is None:
                raise NotInLayerError(f"{path!r} is not in the layer (looked for {name!r})")
            name = through  # bin/busybox via bin -> usr/bin (merged /usr)
            continue
        if entry.kind == "symlink":
            name = _link_target(entry.name, entry.linkname)
        elif entry.kind == "hardlink":
            name = entry.linkname
        else:
            return entry
    raise LayerError(f"{path!r}: more than {hops} symbolic links in the layer (a loop?)")


def _through_linked_parent(entries: Mapping[str, Entry], name: str) -> str | None:
    """``name`` with its first symlinked parent directory replaced by the link's target."""
    parts = name.split("/")
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        entry = entries.get(prefix)
        if entry is not None and entry.kind == "symlink":
            return _clean(posixpath.join(_link_target(prefix, entry.linkname), *parts[i:]))
    return None


_KIND_WORDS = {"chardev": "character device", "blockdev": "block device", "fifo": "FIFO",
               "symlink": "symbolic link", "hardlink": "hard link", "file": "file",
               "dir": "directory"}


# ------------------------------------------------------------------------------ the stream


class _Input:
    """Compressed bytes, taken in order: from one ``bytes`` or from an iterator of chunks (a
    network stream). Only what was taken is ever held."""

    def __init__(self, source: bytes | Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] | None = None
        if isinstance(source, bytes | bytearray | memoryview):
            self._whole: memoryview | None = memoryview(source)
        else:
            self._whole = None
            self._chunks = iter(source)
        self._pos = 0  # into _whole
        self._pending = b""  # taken from _chunks, not handed out yet

    def peek(self, n: int) -> bytes:
        if self._whole is not None:
            return bytes(self._whole[self._pos:self._pos + n])
        while len(self._pending) < n:
            chunk = next(self._chunks, b"") if self._chunks is not None else b""
            if not chunk:
                break
            self._pending += chunk
        return self._pending[:n]

    def take(self, n: int) -> bytes:
        """Up to ``n`` bytes; ``b""`` only at the end of the input."""
        if self._whole is not None:
            out = bytes(self._whole[self._pos:self._pos + n])
            self._pos += len(out)
            return out
        if not self._pending:
            self._pending = next(self._chunks, b"") if self._chunks is not None else b""
        out, self._pending = self._pending[:n], self._pending[n:]
        return out


_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _compression(head: bytes) -> Literal["gzip", "zstd", "tar"]:
    if head[:2] == _GZIP_MAGIC:
        return "gzip"
    if head[:4] == _ZSTD_MAGIC:
        return "zstd"
    return "tar"


class _Unpacked:
    """The layer's tar bytes, decompressed on demand and counted against a bound."""

    def __init__(self, source: bytes | Iterable[bytes] | _Input, max_bytes: int) -> None:
        self._in = source if isinstance(source, _Input) else _Input(source)
        self._max = max_bytes
        self.compression = _compression(self._in.peek(4))
        self._buffer = b""
        self._off = 0  # how much of _buffer was handed out already
        self._decomp: _Decompressor | None = (
            None if self.compression == "tar" else _Decompressor(self.compression))
        self.position = 0  # unpacked bytes handed out

    def _fill(self, want: int) -> None:
        have = len(self._buffer) - self._off
        if have >= want:
            return
        parts = [self._buffer[self._off:]]
        while have < want:
            if self._decomp is None:
                chunk = self._in.take(max(want - have, _CHUNK))
            else:
                chunk = self._decomp.inflate(self._in, max(want - have, _CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
            if self.position + have > self._max:
                raise LayerError(
                    f"the layer unpacks to more than {self._max} bytes; refusing to read "
                    "further (a decompression bomb, or a layer too large for archlab to open)")
        self._buffer, self._off = b"".join(parts), 0

    def read(self, n: int) -> bytes:
        self._fill(n)
        out = self._buffer[self._off:self._off + n]
        self._off += len(out)
        self.position += len(out)
        return out

    def read_exactly(self, n: int, what: str) -> bytes:
        parts = []
        left = n
        while left:
            chunk = self.read(min(left, _CHUNK))
            if not chunk:
                raise LayerError(f"the layer ends inside {what} (truncated tar)")
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def skip(self, n: int) -> None:
        while n > 0:
            chunk = self.read(min(n, _CHUNK))
            if not chunk:
                raise LayerError("the layer ends inside an entry's data (truncated tar)")
            n -= len(chunk)


class _Decompressor:
    """gzip or zstd, one bounded step at a time: each call returns at most ``want`` bytes,
    whatever the input's ratio, so a bomb costs time up to the unpacked bound, never memory.
    Concatenated members (gzip) and frames (zstd) are one stream, as both formats define."""

    def __init__(self, kind: Literal["gzip", "zstd"]) -> None:
        self.kind = kind
        self._codec = self._new()

    def _new(self) -> Any:
        if self.kind == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return _zstd().ZstdDecompressor()

    def _leftover(self) -> bytes:
        """Input the codec holds but has not used yet (zlib gives it back after a capped
        call; zstd keeps it inside and says so with ``needs_input``)."""
        if self.kind == "gzip":
            return self._codec.unconsumed_tail
        return b""

    def _needs_input(self) -> bool:
        if self.kind == "gzip":
            return not self._codec.unconsumed_tail
        return bool(self._codec.needs_input)

    def inflate(self, source: _Input, want: int) -> bytes:
        name = "tar+gzip" if self.kind == "gzip" else "tar+zstd"
        try:
            while True:
                if self._codec.eof:
                    # After the end of a member, what follows is in unused_data (and, after a
                    # capped call, in unconsumed_tail too: never feed it to the ended codec).
                    rest = self._codec.unused_data or source.take(_CHUNK)
                    if not rest.strip(b"\0"):
                        while rest and not rest.strip(b"\0"):
                            rest = source.take(_CHUNK)
                        if not rest:
                            return b""  # the end of the stream (zero padding allowed)
                    self._codec = self._new()  # another member or frame follows
                    pending = rest
                elif self._needs_input():
                    pending = source.take(_CHUNK)
                    if not pending:
                        raise LayerError(f"the layer is not a readable {name} archive: the "
                                         f"{self.kind} stream ends early (truncated)")
                else:
                    pending = self._leftover()
                out = self._codec.decompress(pending, want)
                if out:
                    return out
        except (zlib.error, _zstd().ZstdError) as exc:
            raise LayerError(f"the layer is not a readable {name} archive: invalid "
                             f"{self.kind} ({exc})") from None


def _zstd() -> Any:
    """CPython's own zstd module: ``compression.zstd`` from 3.14, its backport before. Chosen
    over the older bindings for its zlib-shaped API, whose ``max_length`` bounds every step's
    output (the guard against a zstd bomb), and because it is the standard library's code."""
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
    except ImportError:
        from backports import zstd  # type: ignore[import-not-found,no-redef]
    return zstd


# ------------------------------------------------------------------------------ headers


def _open_stream(source: bytes | Iterable[bytes], bounds: LayerLimits) -> _Unpacked:
    """The unpacked stream of ``source``, once its first bytes say it is an archive."""
    given = _Input(source)
    head = given.peek(_BLOCK)
    if _compression(head) == "tar" and (len(head) < _BLOCK or not (
            _is_header(head) or head == bytes(_BLOCK))):
        raise LayerError("the layer is not a readable tar, tar+gzip or tar+zstd archive (it "
                         "starts with neither a gzip signature nor a tar header, and is not "
                         "zstd)")
    return _Unpacked(given, bounds.max_unpacked_bytes)


def _scan(data: bytes | _Unpacked, bounds: LayerLimits) -> Iterator[Entry]:
    """Every entry of the archive, checked against ``bounds`` and the rules, data skipped.

    While an entry is yielded, its consumer may read the start of its data from the stream
    (:class:`LayerStream`); the rest is skipped when the scan resumes."""
    stream = data if isinstance(data, _Unpacked) else _open_stream(data, bounds)
    members = 0
    metadata = 0
    pax: dict[str, str] = {}
    long_name = long_link = None
    extensions = 0
    while True:
        block = stream.read(_BLOCK)
        if len(block) < _BLOCK:
            if not block:
                return  # no end-of-archive blocks: tolerated, as by GNU tar and Go
            raise LayerError("the layer ends inside a tar header (truncated tar)")
        if block == bytes(_BLOCK):
            return  # end of archive
        if not _is_header(block):
            raise LayerError(f"the layer is not a readable tar archive: bad header checksum at "
                             f"byte {stream.position - _BLOCK}")
        typeflag = block[156:157]
        size = _number(block[124:136], "size")
        if typeflag in _EXTENSIONS:
            extensions += 1
            if extensions > _MAX_EXTENSIONS_PER_ENTRY:
                raise LayerError(f"the layer has more than {_MAX_EXTENSIONS_PER_ENTRY} "
                                 "extension headers before one entry; refusing it")
            if size > bounds.max_header_bytes:
                raise LayerError(
                    f"the layer has a {'pax' if typeflag in (b'x', b'g') else 'GNU long-name'} "
                    f"header of {size} bytes, above the cap of {bounds.max_header_bytes}; "
                    "refusing it")
            metadata += size
            _check_metadata(metadata, bounds)
            record = stream.read_exactly(size, "an extension header")
            stream.skip(_padding(size))
            if typeflag == b"x":
                pax.update(_pax_records(record))
            elif typeflag == b"L":
                long_name = _text(record.split(b"\0", 1)[0])
            elif typeflag == b"K":
                long_link = _text(record.split(b"\0", 1)[0])
            # 'g' (global) records are read for their bound only: Docker ignores them too.
            continue
        extensions = 0
        members += 1
        if members > bounds.max_members:
            raise LayerError(f"the layer has more than {bounds.max_members} entries; refusing "
                             "it (raise max_members= if it is expected)")
        kind = _TYPES.get(typeflag)
        if kind is None or any(k.startswith("GNU.sparse.") for k in pax):
            what = "a GNU sparse file" if typeflag == b"S" or kind is not None else (
                f"an entry of unknown type {typeflag!r}")
            raise LayerError(f"the layer holds {what}; archlab (like Docker) refuses it")
        if "size" in pax:
            size = _pax_number(pax["size"])
        raw_name = pax.get("path") or long_name or _ustar_name(block)
        linkname = pax.get("linkpath") or long_link or _text(block[157:257].split(b"\0", 1)[0])
        metadata += len(raw_name) + len(linkname)
        _check_metadata(metadata, bounds)
        pax, long_name, long_link = {}, None, None
        name = _checked_name(raw_name)
        if kind == "hardlink":
            linkname = _checked_name(linkname, f"hard link {raw_name!r} ->")
        elif kind == "symlink":
            _check_symlink(name, raw_name, linkname)
        # Links, directories, devices and FIFOs carry no data, whatever their size field
        # says: Go's archive/tar (Docker) and Python's tarfile both read them so.
        data_size = size if kind == "file" else 0
        if stream.position + data_size > bounds.max_unpacked_bytes:
            raise LayerError(  # said at the header: no need to inflate it to find out
                f"the layer unpacks to more than {bounds.max_unpacked_bytes} bytes ({raw_name!r} "
                f"alone is {data_size}); refusing it")
        start = stream.position
        if name:  # "./" is the layer's root itself: nothing to index
            yield Entry(name=name, kind=kind, size=data_size,
                        mode=_number(block[100:108], "mode") & 0o7777, linkname=linkname,
                        offset=start)
        stream.skip(start + data_size + _padding(data_size) - stream.position)


def _check_metadata(total: int, bounds: LayerLimits) -> None:
    if total > bounds.max_metadata_bytes:
        raise LayerError(f"the layer's names, link targets and extension headers pass "
                         f"{bounds.max_metadata_bytes} bytes; refusing it")


def _is_header(block: bytes) -> bool:
    try:
        stored = _number(block[148:156], "checksum")
    except LayerError:
        return False
    unsigned = sum(block) - sum(block[148:156]) + 8 * 0x20
    if stored == unsigned:
        return True
    # Some old tars summed signed bytes: subtract 256 for each byte above 127.
    high = sum(1 for b in block[:148] + block[156:] if b > 127)
    return stored == unsigned - 256 * high


def _number(field: bytes, what: str) -> int:
    """A tar numeric field: octal text, or GNU base-256 when the high bit is set."""
    if field[:1] and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:  # negative: never valid for a size
            raise LayerError(f"the layer has a negative tar {what}")
        return value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise LayerError(f"the layer is not a readable tar archive: bad {what} field "
                         f"{field!r}") from None


def _pax_number(text: str) -> int:
    if not text.isdigit() or len(text) > 20:
        raise LayerError(f"the layer has an invalid pax size {text[:40]!r}")
    return int(text)


def _pax_records(record: bytes) -> dict[str, str]:
    """``"<len> key=value\\n"`` records (POSIX pax); malformed ones refuse the layer."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(record):
        if record[pos:].strip(b"\0") == b"":
            break
        space = record.find(b" ", pos, pos + 21)
        try:
            length = int(record[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        end = pos + length
        if length <= 0 or end > len(record) or record[end - 1:end] != b"\n":
            raise LayerError("the layer has a malformed pax extended header")
        key, sep, value = record[space + 1:end - 1].partition(b"=")
        if not sep:
            raise LayerError("the layer has a malformed pax extended header")
        out[_text(key)] = _text(value)
        pos = end
    return out


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _ustar_name(block: bytes) -> str:
    name = block[0:100].split(b"\0", 1)[0]
    if block[257:262] == b"ustar":
        prefix = block[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return _text(name)


def _padding(size: int) -> int:
    return -size % _BLOCK


def _components(path: str) -> list[str] | None:
    """``path``'s components from the layer root, or None if it climbs out of it."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return parts


def _checked_name(raw: str, what: str = "entry") -> str:
    parts = _components(raw)
    if parts is None:
        raise LayerError(f"the layer's {what} {raw[:200]!r} climbs out of the layer; Docker "
                         "refuses such a layer, and so does archlab")
    return "/".join(parts)


def _check_symlink(name: str, raw_name: str, target: str) -> None:
    if target.startswith("/"):
        return  # absolute: resolved at the layer's root, as a container sees it
    if _components(posixpath.join(posixpath.dirname(name), target)) is None:
        raise LayerError(f"the layer's symlink {raw_name[:200]!r} -> {target[:200]!r} points "
                         "out of the layer; Docker refuses such a layer, and so does archlab")


def _clean(path: str) -> str:
    """A path inside the layer, ``..`` stopping at its root (links are followed this way)."""
    return posixpath.normpath("/" + path).lstrip("/")


def _link_target(name: str, linkname: str) -> str:
    base = "/" if linkname.startswith("/") else "/" + posixpath.dirname(name)
    return _clean(posixpath.join(base, linkname))

