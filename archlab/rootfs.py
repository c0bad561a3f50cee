"""An image's merged filesystem, read lazily: top layer first, each only as far as needed.

What it is for
--------------
To say what a container would start, archlab must find one path (``/bin/hello``, or ``sh``
along ``PATH``) in the filesystem the runtime builds by stacking the image's layers, follow
its symbolic links, and read the first bytes of the file it ends at. The layers of a real
image weigh hundreds of megabytes; the answer usually lies in the top one, in its first few
headers. :class:`LazyRootfs` asks each layer only what it must, through
:class:`archlab.layers.LayerStream` (every bound of :mod:`archlab.layers` applies), and
remembers what it has read, so a second question costs nothing more. Nothing is written to
disk.

How do I use it?
----------------
::

    from archlab.rootfs import LayerSource, LazyRootfs
    fs = LazyRootfs([LayerSource(digest, size, open_chunks) for ...])   # lowest layer first
    found = fs.resolve("/bin/sh")            # Found(path='bin/busybox', entry=..., chain=...)
    fs.head(found)                           # its first bytes (EXEC_HEAD_BYTES at most)
    [r.status for r in fs.reads()]           # ['not read', 'partial']: the lower layer untouched

``open_chunks`` returns a fresh iterator of the layer's compressed bytes each time it is called
(a network response, a file, ``iter([blob])``); the iterator is closed as soon as the layer has
answered. A layer read to its end is checked against its digest.

The rules
---------
=================================  ===========================================================
what                               how (as the runtime's overlay and Docker's layer apply)
=================================  ===========================================================
which layer answers a path         the highest layer that holds it; a layer is read from its
                                   start until the path's header appears, or to its end
a whiteout ``dir/.wh.name``        hides ``dir/name`` (and everything under it) in the layers
                                   below; the whiteout itself is not a file
an opaque ``dir/.wh..wh..opq``     hides everything under ``dir`` in the layers below
a path                             walked one component at a time from the root; each
                                   symbolic link (of a directory too) is replaced by its
                                   target, ``..`` stops at the root (a link cannot climb out)
more than ``MAX_SYMLINK_HOPS``     ``LayerError`` (a loop, as ``ELOOP``)
links for one path
a hard link                        the file it names, found from its layer downwards
a directory only implied by an     a directory (tars may omit parent entries)
entry under it
the first bytes of a file          kept when the scan passes an executable file (or the one
                                   being looked for): ``EXEC_HEAD_BYTES`` each, at most
                                   ``MAX_EXEC_HEADS_BYTES`` per layer; a file passed beyond
                                   that budget is read again, counted in :meth:`reads`
a layer read to its end            its bytes hashed and compared with its digest
                                   (``DigestMismatchError``); a partial read cannot be
                                   checked, and :class:`LayerRead` says so
=================================  ===========================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from archlab import limits
from archlab.errors import DigestMismatchError, LayerError
from archlab.layers import Entry, LayerLimits, LayerStream

__all__ = ["Found", "LayerRead", "LayerSource", "LazyRootfs"]

_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True)
class LayerSource:
    """One layer as the rootfs reads it: ``open()`` gives a fresh iterator of its compressed
    bytes each time it is called (closable: the reader stops it when it has its answer)."""

    digest: str
    size: int
    open: Callable[[], Iterable[bytes]] = field(repr=False)


@dataclass(frozen=True)
class LayerRead:
    """How much of one layer was read (``index`` 0 is the lowest layer)."""

    index: int
    digest: str
    size: int
    #: ``not read`` (never opened), ``partial`` (stopped before its last byte arrived),
    #: ``whole`` (every byte arrived: its digest was checked).
    status: Literal["not read", "partial", "whole"]
    #: Compressed bytes taken from the source, over every pass.
    bytes_read: int
    unpacked_bytes: int
    entries_seen: int
    passes: int
    digest_checked: bool


@dataclass(frozen=True)
class Found:
    """Where a path ends up: its final entry (never a symbolic link) and the links followed."""

    path: str  # normalized, no leading '/': 'bin/busybox'
    entry: Entry
    layer: int  # index of the layer holding it (0 = lowest)
    chain: tuple[str, ...] = ()  # 'bin/sh -> busybox', in the order followed


class _Counted:
    """The compressed chunks of one pass over a layer, counted and hashed as they go."""

    def __init__(self, source: Iterable[bytes], size: int) -> None:
        self._it = iter(source)
        self._source = source
        self._size = size
        self.taken = 0
        self.sha = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        chunk = next(self._it)
        self.taken += len(chunk)
        if self.taken > self._size:
            raise LayerError(f"the layer sent more than the {self._size} bytes its "
                             "descriptor announces; refusing it")
        self.sha.update(chunk)
        return chunk

    def drain(self) -> None:
        for _ in self:
            pass

    def close(self) -> None:
        closer = getattr(self._source, "close", None)
        if callable(closer):
            closer()


class _LazyLayer:
    """One layer's index, filled as far as questions have needed."""

    def __init__(self, index: int, source: LayerSource, bounds: LayerLimits) -> None:
        self.index = index
        self.source = source
        self.bounds = bounds
        self.entries: dict[str, Entry] = {}
        self.implied_dirs: set[str] = set()
        self.whiteouts: set[str] = set()
        self.opaque: set[str] = set()
        self.heads: dict[str, bytes] = {}
        self.heads_bytes = 0
        self.complete = False
        self.passes = 0
        self.bytes_read = 0
        self.unpacked = 0
        self.digest_checked = False
        self._stream: LayerStream | None = None
        self._counted: _Counted | None = None

    # -- scanning

    def _open(self) -> LayerStream:
        self.passes += 1
        self._counted = _Counted(self.source.open(), self.source.size)
        stream = LayerStream(self._counted, bounds=self.bounds)
        return stream

    def _advance(self, wanted: str) -> bool:
        """Read one more entry into the index; False at the end of the layer."""
        if self._stream is None:
            self._stream = self._open()
        try:
            entry = next(self._stream)
        except StopIteration:
            self._finish()
            return False
        except BaseException:
            self._stop()
            raise
        self._record(entry, wanted)
        return True

    def _record(self, entry: Entry, wanted: str) -> None:
        parent, _, base = entry.name.rpartition("/")
        if base == _OPAQUE:
            self.opaque.add(parent)
            return
        if base.startswith(_WHITEOUT):
            self.whiteouts.add(f"{parent}/{base[len(_WHITEOUT):]}".lstrip("/"))
            return
        self.entries[entry.name] = entry
        while parent and parent not in self.implied_dirs:
            self.implied_dirs.add(parent)
            parent = parent.rpartition("/")[0]
        if entry.kind == "file" and (entry.mode & 0o111 or entry.name == wanted):
            self._keep_head(entry)

    def _keep_head(self, entry: Entry) -> None:
        n = min(entry.size, limits.EXEC_HEAD_BYTES)
        if self.heads_bytes + n > limits.MAX_EXEC_HEADS_BYTES:
            return  # read again if it is ever wanted
        assert self._stream is not None
        self.heads[entry.name] = self._stream.head(n)
        self.heads_bytes += n

    def _finish(self) -> None:
        assert self._counted is not None and self._stream is not None
        self._counted.drain()  # the compression trailer and padding: the digest needs them
        self.complete = True
        self._account()
        if self._counted.taken == self.source.size:
            self._check_digest()
        self._stream = self._counted = None

    def _account(self) -> None:
        if self._counted is not None:
            self.bytes_read += self._counted.taken
        if self._stream is not None:
            self.unpacked += self._stream.unpacked_bytes

    def _stop(self) -> None:
        if self._stream is not None:
            self._account()
            self._stream.close()
            if self._counted is not None and self._counted.taken == self.source.size:
                self._check_digest()  # every byte arrived (in one chunk): check it anyway
        self._stream = self._counted = None

    def _check_digest(self) -> None:
        assert self._counted is not None
        got = "sha256:" + self._counted.sha.hexdigest()
        if got != self.source.digest:
            raise DigestMismatchError(f"layer {self.source.digest}: its bytes hash to {got}")
        self.digest_checked = True

    def stop(self) -> None:
        """Close the source of an unfinished pass (the rest of the layer is never read)."""
        self._stop()

    # -- questions

    def lookup(self, name: str) -> Entry | None:
        """The entry ``name`` in this layer (an implied directory too), reading further if
        needed; None once the whole layer has been read without it."""
        while True:
            entry = self.entries.get(name)
            if entry is not None:
                return entry
            if name in self.implied_dirs:
                return Entry(name=name, kind="dir", size=0, mode=0o755)
            if self.complete or not self._advance(name):
                return None

    def hides(self, name: str) -> bool:
        """Whether this (completely read) layer hides ``name`` in the layers below it."""
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if prefix in self.whiteouts:
                return True
            if i < len(parts) and prefix in self.opaque:
                return True
        if "" in self.opaque:
            return True
        for i in range(1, len(parts)):  # an ancestor replaced by a non-directory
            entry = self.entries.get("/".join(parts[:i]))
            if entry is not None and entry.kind != "dir":
                return True
        return False

    def head(self, entry: Entry) -> bytes:
        kept = self.heads.get(entry.name)
        if kept is not None:
            return kept
        # Passed beyond the budget, or before anyone asked: one more pass, to this entry.
        self._stop()
        stream = self._open()
        self._stream = stream
        try:
            for seen in stream:
                if seen.name == entry.name and seen.offset == entry.offset:
                    return stream.head(min(entry.size, limits.EXEC_HEAD_BYTES))
        finally:
            self._stop()
        raise LayerError(f"{entry.name!r} was not found again in layer {self.source.digest}")

    def read(self) -> LayerRead:
        live_taken = self._counted.taken if self._counted is not None else 0
        live_unpacked = self._stream.unpacked_bytes if self._stream is not None else 0
        status: Literal["not read", "partial", "whole"] = (
            "whole" if self.complete or self.digest_checked
            else "partial" if self.passes else "not read")
        return LayerRead(self.index, self.source.digest, self.source.size, status,
                         self.bytes_read + live_taken, self.unpacked + live_unpacked,
                         len(self.entries), self.passes, self.digest_checked)


class LazyRootfs:
    """The merged filesystem of ``layers`` (lowest first, as a manifest lists them)."""

    def __init__(self, layers: Sequence[LayerSource], *,
                 bounds: LayerLimits | None = None) -> None:
        self.bounds = bounds or LayerLimits()
        self._layers = [_LazyLayer(i, src, self.bounds) for i, src in enumerate(layers)]

    def close(self) -> None:
        """Stop every layer still being read."""
        for layer in self._layers:
            layer.stop()

    def __enter__(self) -> LazyRootfs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reads(self) -> tuple[LayerRead, ...]:
        """How much of each layer was read, lowest layer first."""
        return tuple(layer.read() for layer in self._layers)

    def _merged(self, name: str, below: int | None = None) -> tuple[Entry, int] | None:
        """The entry ``name`` of the merged view (components not followed), top-down."""
        top = len(self._layers) if below is None else below + 1
        for layer in reversed(self._layers[:top]):
            entry = layer.lookup(name)
            if entry is not None:
                return entry, layer.index
            if layer.hides(name):
                return None
        return None

    def resolve(self, path: str, *, cwd: str = "/") -> Found | None:
        """Where ``path`` leads, every symbolic link followed (relative paths from ``cwd``);
        None when it does not exist (or a component is not a directory)."""
        start = path if path.startswith("/") else f"{cwd.rstrip('/')}/{path}"
        pending = [p for p in start.split("/") if p not in ("", ".")]
        done: list[str] = []
        chain: list[str] = []
        hops = 0
        entry = Entry(name="", kind="dir", size=0, mode=0o755)
        layer = len(self._layers) - 1
        while pending:
            part = pending.pop(0)
            if part == "..":
                if done:
                    done.pop()
                entry = Entry(name="/".join(done), kind="dir", size=0, mode=0o755)
                continue
            name = "/".join([*done, part])
            found = self._merged(name)
            if found is None:
                return None
            entry, layer = found
            if entry.kind == "hardlink":
                target = self._merged(entry.linkname, below=layer)
                if target is None:
                    return None
                entry, layer = target
            if entry.kind == "symlink":
                hops += 1
                if hops > self.bounds.max_symlink_hops:
                    raise LayerError(f"{path!r}: more than {self.bounds.max_symlink_hops} "
                                     "symbolic links in the image (a loop?)")
                chain.append(f"/{name} -> {entry.linkname}")
                if entry.linkname.startswith("/"):
                    done = []
                pending = [p for p in entry.linkname.split("/") if p not in ("", ".")] + pending
                continue
            if pending and entry.kind != "dir":
                return None  # ENOTDIR
            done.append(part)
        return Found("/".join(done), entry, layer, tuple(chain))

    def head(self, found: Found) -> bytes:
        """The first bytes (``EXEC_HEAD_BYTES`` at most) of the regular file ``found``."""
        if found.entry.kind != "file":
            raise LayerError(f"/{found.path} is not a regular file")
        return self._layers[found.layer].head(found.entry)
