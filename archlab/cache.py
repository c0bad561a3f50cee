"""An on-disk cache of registry documents, keyed by digest, plus a tag → digest hint index.

Why a cache, and why by digest?
-------------------------------
A manifest GET can count against Docker Hub's pull limit; a HEAD does not. A document named by its
digest can never change: the name *is* the sha256 of the bytes. So once archlab holds the bytes of
``sha256:ab12…`` it never needs to fetch them again, from any registry, for any tag. A survey that
revisits a tag costs one HEAD (which returns the digest) and zero GETs when that digest is cached.

How do I use it?
----------------
::

    from archlab.cache import ContentCache, TagIndex

    cache = ContentCache()                          # under the user cache dir, 256 MiB at most
    cache.put(digest, body, media_type=content_type)  # checks sha256(body) == digest first
    hit = cache.get(digest)                          # CachedBlob(data, media_type) or None,
                                                     # sha256 checked against the file name

    tags = TagIndex()                                # "mysql:5.7 was sha256:… last time"
    tags.remember("registry-1.docker.io", "library/mysql", "5.7", digest, content_type)
    tags.recall("registry-1.docker.io", "library/mysql", "5.7")   # (digest, media_type) or None
    tags.flush()                                     # hints are written in batches

Where it lives
--------------
===========================================  ==============================================
path                                         what
===========================================  ==============================================
``<base>``                                   ``$ARCHLAB_CACHE_DIR`` if set, else
                                             ``platformdirs.user_cache_dir("archlab")``
``<base>/blobs/sha256/ab/ab12…``             the exact bytes; their sha256 is the file name
``<base>/blobs/sha256/ab/ab12….meta.json``   ``{"digest", "media_type", "size"}``: manifests
                                             must come back with their media type
``<base>/tags/<sha256 of repo>.json``        tag hints of one repository: tag → digest,
                                             media type, when
===========================================  ==============================================

``ContentCache(root)`` takes the ``blobs`` directory; ``TagIndex(root)`` takes the same one and
keeps its files in the sibling ``tags`` directory.

The rules
---------
=====================  ========================================================================
rule                   why
=====================  ========================================================================
verify before write    ``put`` raises DigestMismatchError if ``sha256(data) != digest``: a
                       cache must never turn one bad download into a permanent wrong answer
the name is the proof  ``get`` hashes the file again and compares with the digest its *path*
                       names, never with anything written beside it. The sidecar is not
                       trusted: a recorded digest or size in it is ignored, and its media type
                       is only a hint that the manifest parser checks against the document
                       (a ``mediaType`` the bytes declare must agree, or the entry is a miss)
damage is a miss       a file whose hash is wrong, or a path that is not a regular file (a
                       directory, a link to ``/dev/zero``, a FIFO, a socket), or larger than
                       the cache itself, is removed (a symlink itself, never its target) and
                       reported as a miss with a ``RuntimeWarning``: the caller simply
                       fetches it again. :func:`archlab.decoding.read_file` reads it:
                       non-blocking open, type and size checked on the open descriptor, at
                       most ``max_bytes``: bounded time and memory. A symlink to a regular
                       file is read like a file: its bytes must hash to the name all the same
unwritable is off      a cache root that is read-only, not a directory, or otherwise cannot
                       be written disables writing for this process with one
                       ``RuntimeWarning``; archlab answers as without a cache, never fails
immutable              ``put`` of a digest already present is a no-op
atomic                 bytes go to a temporary file in the same directory, then ``os.replace``:
                       a reader sees the whole file or none, and two processes writing the
                       same digest both succeed (they write the same bytes)
bounded                after a ``put`` takes the total over ``max_bytes``, the least recently
                       used blobs go until it is under 90%. ``get`` refreshes a blob's mtime,
                       and mtime is the LRU clock. A blob larger than 90% of ``max_bytes`` is
                       not cached at all
cheap                  the size is a running estimate. The tree is walked once, on the first
                       ``put``, and again only when the estimate says the cache is full
no secrets             nothing here takes credentials or tokens, so nothing here can store them
=====================  ========================================================================

Signed schema1 manifests
------------------------
An ``application/vnd.docker.distribution.manifest.v1+prettyjws`` manifest is named by the sha256
of its payload *without* the JWS signatures, so ``sha256(raw body) != digest``. The caller that
stores or reads such documents passes ``digest_of=``: the function that computes the digest a
document is named by (the registry client passes one that takes the JWS payload of a signed
schema 1 manifest). Both ``put`` and ``get`` check ``digest_of(bytes) == digest``, so the path
stays the only proof; nothing about it is remembered in the sidecar.

Tags are hints, not facts
-------------------------
A tag can be moved at any time, so a remembered tag → digest pair is never an answer by itself.
:class:`TagIndex` only saves a guess. The registry's HEAD response decides: when its
``Docker-Content-Digest`` equals the recalled digest, the cached manifest is current and no GET is
needed. When it differs, the hint is stale; fetch and ``remember`` again. The recalled digest
itself is never used to answer: a lying hint (edited on disk) costs a HEAD, never a wrong
answer, because only the registry's digest is looked up in the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import stat
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

try:
    import fcntl
except ImportError:  # not on Windows: see file_lock
    fcntl = None  # type: ignore[assignment]

from archlab import decoding, limits
from archlab.errors import ArchlabError, DigestMismatchError, InvalidReferenceError

CACHE_DIR_ENV = "ARCHLAB_CACHE_DIR"
DEFAULT_MAX_BYTES = limits.CACHE_MAX_BYTES

ALGORITHMS = {"sha256": 64, "sha512": 128}
"""Digest algorithms the cache accepts, with the length of their hex encoding."""

_LOWER_HEX = re.compile("[0-9a-f]+")
_LOW_WATER = 0.9  # evict down to this fraction, so one put does not trigger eviction after another
_TEMP_PREFIX = ".tmp-"
_META_SUFFIX = ".meta.json"
_STALE_SECONDS = 3600  # leftovers older than this belong to a writer that died
_RECHECK_SECONDS = 0.5  # how stale another process's flush may look to a reader (hints only)


def default_cache_dir() -> Path:
    """archlab's cache base: ``$ARCHLAB_CACHE_DIR``, else the platform's user cache dir."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("archlab"))


def parse_digest(digest: str) -> tuple[str, str]:
    """Split ``sha256:<hex>`` into ``("sha256", "<hex>")``, checking algorithm and length."""
    algorithm, sep, encoded = str(digest).partition(":")
    length = ALGORITHMS.get(algorithm)
    if not sep or length is None or len(encoded) != length or not _LOWER_HEX.fullmatch(encoded):
        raise InvalidReferenceError(
            f"not a content digest: {digest!r}; expected 'sha256:' followed by 64 lowercase "
            "hex digits (or 'sha512:' and 128)"
        )
    return algorithm, encoded


def _digest_of(algorithm: str, data: bytes) -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


DigestOf = Callable[[bytes], str]
"""Computes the digest a document is named by (the default: the hash its digest's algorithm
names, over the raw bytes)."""

# One warning per process and cache base for a cache that cannot be written: a survey would
# otherwise say it once per document.
_unwritable_warned: set[str] = set()


def _warn_unwritable(base: Path, exc: OSError) -> None:
    key = os.path.abspath(base)
    if key in _unwritable_warned:
        return
    _unwritable_warned.add(key)
    reason = exc.strerror or type(exc).__name__
    warnings.warn(
        f"cache disabled: cannot write to {base} ({reason}); archlab goes on without it "
        f"(point {CACHE_DIR_ENV} at a writable directory, or pass --no-cache)",
        RuntimeWarning, stacklevel=3)


class _Unreadable(ArchlabError):
    """Internal: what sits at a cache path cannot be read as a cache file."""


def _read_entry(path: Path, max_bytes: int) -> bytes | str | None:
    """The bytes of ``path`` if it is a regular file (a symlink is followed: whatever it
    names is hashed like any entry) of at most ``max_bytes``; None if nothing is there;
    otherwise why not (a directory, a device such as ``/dev/zero``, a FIFO, too large).
    :func:`archlab.decoding.read_file` checks the opened descriptor, so time and memory stay
    bounded whatever was planted."""
    try:
        return decoding.read_file(path, max_bytes=max_bytes, what="cache file",
                                  error=_Unreadable, missing_ok=True)
    except _Unreadable as exc:
        return str(exc).removeprefix(f"{path}: ")


@dataclass(frozen=True, repr=False)
class CachedBlob:
    """Bytes from the cache, with the media type they were stored under (if one was given)."""

    data: bytes
    media_type: str | None

    def __repr__(self) -> str:
        return f"CachedBlob(<{len(self.data)} bytes>, media_type={self.media_type!r})"


_temp_counter = itertools.count()


def _write_atomic(path: Path, data: bytes) -> int:
    """Write ``data`` to a unique temp file beside ``path``, then rename it into place.

    A reader sees the old file or the new one, never half of one; two processes writing the
    same name both succeed. The temp name (pid, thread, counter) is unique without the random
    probing of ``tempfile.mkstemp``, and the directory is created only when missing: a survey
    writes one hint per tag, so this path is hot.
    """
    tmp = path.parent / f"{_TEMP_PREFIX}{os.getpid()}-{threading.get_ident()}-{next(_temp_counter)}"
    for attempt in (1, 2):
        try:
            f = open(tmp, "xb")  # noqa: SIM115 - closed below, after the write
            break
        except FileNotFoundError:
            if attempt == 2:  # another process keeps deleting the tree (clear()) under us
                raise
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return len(data)


class ContentCache:
    """A size-bounded, content-addressed store of registry documents. See the module docstring.

    Safe to share between threads and processes: every write is an atomic rename, and every
    read is verified. The constructor touches nothing on disk.
    """

    def __init__(self, root: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root) if root is not None else default_cache_dir() / "blobs"
        self.max_bytes = max_bytes
        #: Set when a write failed for want of a writable root: reads go on, writes stop.
        self.read_only = False
        self._estimate: int | None = None  # bytes on disk as far as this process knows

    def __repr__(self) -> str:
        return f"ContentCache(root={str(self.root)!r}, max_bytes={self.max_bytes})"

    # --- reading ------------------------------------------------------------------------

    def __contains__(self, digest: object) -> bool:
        """Whether a file for ``digest`` exists. Cheap: ``get`` is what verifies it."""
        try:
            path = self._path(str(digest))
        except InvalidReferenceError:
            return False
        return path.is_file()

    def get(self, digest: str, *, digest_of: DigestOf | None = None) -> CachedBlob | None:
        """The verified bytes for ``digest``, or None.

        The bytes must hash to ``digest``, the name they are stored under (``digest_of``
        computes it for documents not named by their raw hash, see the module docstring);
        nothing in the sidecar can change that. Anything else at that path (wrong bytes, a
        directory, a symlink, a FIFO, an oversized file) is removed with a warning and is a
        miss, so the caller fetches it again.
        """
        algorithm, _ = parse_digest(digest)
        path = self._path(digest)
        data = _read_entry(path, self.max_bytes)
        if data is None:
            return None
        if isinstance(data, str):
            return self._discard(digest, path, data)
        actual = digest_of(data) if digest_of is not None else _digest_of(algorithm, data)
        if actual != digest:
            return self._discard(digest, path, f"its content has digest {actual}")
        with contextlib.suppress(OSError):
            os.utime(path)  # the LRU clock
        media_type = self._read_meta(path).get("media_type")
        return CachedBlob(data, media_type if isinstance(media_type, str) else None)

    def _discard(self, digest: str, path: Path, why: str) -> None:
        warnings.warn(f"cache entry {digest} at {path} was damaged ({why}); removed it, "
                      "fetching it again", RuntimeWarning, stacklevel=3)
        self._remove_entry(path)
        return None

    # --- writing ------------------------------------------------------------------------

    def put(
        self, digest: str, data: bytes, media_type: str | None = None, *,
        digest_of: DigestOf | None = None,
    ) -> bool:
        """Store ``data`` as ``digest``. True if this call wrote it, False if it was skipped.

        Raises DigestMismatchError, writing nothing, when the bytes do not hash to ``digest``
        (``digest_of`` computes the digest for documents not named by their raw hash, such as
        signed schema1 manifests; :meth:`get` must be given the same function). Skipped when
        the digest is already cached, when ``data`` alone would fill the cache, and when the
        cache cannot be written (then once per process with a ``RuntimeWarning``).
        """
        algorithm, _ = parse_digest(digest)
        data = bytes(data)
        actual = digest_of(data) if digest_of is not None else _digest_of(algorithm, data)
        if actual != digest:
            raise DigestMismatchError(
                f"refusing to cache {len(data)} bytes as {digest}: their digest is "
                f"{actual}. The registry sent other content than was asked for; fetch it again."
            )
        if self.read_only:
            return False
        path = self._path(digest)
        try:
            st = os.lstat(path)
        except OSError:
            pass
        else:
            if stat.S_ISREG(st.st_mode) and st.st_size == len(data):
                return False  # immutable content: same digest, same bytes
            # Anything else under this name can only be damage: replace it.
            self._remove_entry(path)
        if len(data) > self.max_bytes * _LOW_WATER:
            return False

        meta: dict[str, object] = {"digest": digest, "media_type": media_type, "size": len(data)}
        meta_bytes = json.dumps(meta, sort_keys=True).encode()
        try:
            # Sidecar first: whenever the data file exists, so does its media type.
            written = self._write_atomic(_meta_path(path), meta_bytes)
            written += self._write_atomic(path, data)
        except OSError as exc:
            self.read_only = True
            _warn_unwritable(self.root.parent, exc)
            return False

        if self._estimate is None:
            self._estimate = self._walk_size()
        else:
            self._estimate += written
        if self._estimate > self.max_bytes:
            self._shrink(self.max_bytes, keep=path)
        return True

    def _write_atomic(self, path: Path, data: bytes) -> int:
        return _write_atomic(path, data)

    # --- housekeeping -------------------------------------------------------------------

    def size_bytes(self) -> int:
        """Bytes on disk under ``root``, counted now (a walk of the tree)."""
        self._estimate = self._walk_size()
        return self._estimate

    def prune(self, max_bytes: int | None = None) -> int:
        """Tidy up and enforce the size bound now. Returns the number of bytes freed.

        Removes temporary files and orphaned sidecars older than an hour (left by writers that
        died), then, if the cache is over ``max_bytes`` (default: the cache's own bound), evicts
        least recently used blobs until it is under 90% of it. ``prune(0)`` empties the cache.
        """
        now = time.time()
        freed = 0
        for entry in self._files():
            name = entry.name
            is_temp = name.startswith(_TEMP_PREFIX)
            is_orphan = name.endswith(_META_SUFFIX) and not os.path.exists(
                entry.path[: -len(_META_SUFFIX)]
            )
            if not (is_temp or is_orphan):
                continue
            with contextlib.suppress(FileNotFoundError):
                st = entry.stat()
                if now - st.st_mtime > _STALE_SECONDS:
                    os.unlink(entry.path)
                    freed += st.st_size
        return freed + self._shrink(self.max_bytes if max_bytes is None else max_bytes)

    def clear(self) -> None:
        """Delete every cached blob (tag hints are left alone)."""
        for algorithm in ALGORITHMS:
            shutil.rmtree(self.root / algorithm, ignore_errors=True)
        self._estimate = 0

    def _shrink(self, limit: int, keep: Path | None = None) -> int:
        """If over ``limit``, evict oldest-used blobs until under 90% of it. Bytes freed."""
        blobs = []
        total = 0
        for entry in self._files():
            with contextlib.suppress(FileNotFoundError):
                st = entry.stat()
                total += st.st_size
                if not entry.name.startswith(_TEMP_PREFIX) and not entry.name.endswith(
                    _META_SUFFIX
                ):
                    blobs.append((st.st_mtime, entry.path))
        self._estimate = total
        if total <= limit:
            return 0
        target = limit * _LOW_WATER
        freed = 0
        for _, name in sorted(blobs):
            if total - freed <= target:
                break
            if keep is not None and name == str(keep):
                continue
            freed += self._remove_entry(Path(name))
        self._estimate = total - freed
        return freed

    def _remove_entry(self, path: Path) -> int:
        """Remove whatever sits at ``path`` and its sidecar: a file or a symlink is unlinked
        (never what a link points at), a directory removed with what is in it."""
        freed = 0
        for victim in (path, _meta_path(path)):
            try:
                st = os.lstat(victim)
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(victim, ignore_errors=True)
                else:
                    victim.unlink()
                    freed += st.st_size if stat.S_ISREG(st.st_mode) else 0
            except OSError:  # gone already, or a read-only cache: a miss either way
                continue
        if self._estimate is not None:
            self._estimate = max(0, self._estimate - freed)
        return freed

    def _files(self) -> Iterator[os.DirEntry]:
        """Every file in the ``<algorithm>/<xx>/`` layout; nothing else under root is ours."""
        for algorithm in ALGORITHMS:
            try:
                fans = list(os.scandir(self.root / algorithm))
            except OSError:  # missing, or the root is not a directory: nothing of ours
                continue
            for fan in fans:
                if not fan.is_dir(follow_symlinks=False):
                    continue
                with contextlib.suppress(OSError):
                    for entry in os.scandir(fan.path):
                        if entry.is_file(follow_symlinks=False):
                            yield entry

    def _walk_size(self) -> int:
        total = 0
        for entry in self._files():
            with contextlib.suppress(FileNotFoundError):
                total += entry.stat().st_size
        return total

    def _path(self, digest: str) -> Path:
        algorithm, encoded = parse_digest(digest)
        return self.root / algorithm / encoded[:2] / encoded

    @staticmethod
    def _read_meta(path: Path) -> dict:
        """The sidecar: only ever a hint (its media type); damaged or odd is empty."""
        data = _read_entry(_meta_path(path), limits.MAX_CACHE_SIDECAR_BYTES)
        if not isinstance(data, bytes):
            return {}
        try:
            meta = decoding.load_json(data, what=str(_meta_path(path)), error=_Unreadable)
        except _Unreadable:
            return {}
        return meta if isinstance(meta, dict) else {}


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + _META_SUFFIX)


class TagIndex:
    """Remembers which digest a tag resolved to last time. A hint for a HEAD to confirm.

    ``root`` is the blob directory of the :class:`ContentCache` it goes with (default: the same
    default). The hints live in its sibling ``tags`` directory, one JSON file per *repository*
    (named by the sha256 of ``registry/repository``, so any spelling gives a safe file name),
    holding every tag of it that archlab has seen. Keys are compared exactly as given: use one
    spelling of each registry.

    Reads answer from memory, after one read of the repository's file, and read it again
    when another process has rewritten it since (a ``stat`` at most every half second tells).
    Writes are batched, because a survey learns one hint per tag and a file per tag cost more
    than the request it saved: :meth:`remember` and :meth:`forget` change memory, and
    :meth:`flush` merges the changes into the files. A flush takes the repository's lock
    file, re-reads the file and merges tag by tag, the later ``recorded_at`` winning (a forget
    is timestamped too), so processes flushing at once keep each other's hints. A flush
    happens by itself at the change that makes ``flush_every`` pending, or the first change
    after ``flush_seconds``; a survey flushes when it returns and the registry client when it
    closes. Hints that never reach the disk (a killed process) cost one GET next time, never
    a wrong answer.
    """

    def __init__(
        self, root: Path | None = None, *, flush_every: int = 512, flush_seconds: float = 2.0
    ) -> None:
        blobs = Path(root) if root is not None else default_cache_dir() / "blobs"
        self.directory = Path(os.path.abspath(blobs)).parent / "tags"
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._lock = threading.RLock()  # a client may be shared with a sync wrapper's thread
        # Per repository: the tags as this process knows them, the file's (mtime, size) when
        # they were read (to notice another process's flush), and when that was last checked.
        # Kept for the last TAG_INDEX_REPOS repositories used (least recently used dropped
        # first, once its changes are flushed), so that a survey of many repositories keeps
        # the hints of a few in memory, not of every tag it met.
        self._loaded: OrderedDict[tuple[str, str],
                                  tuple[dict[str, dict], tuple[int, int] | None]] = OrderedDict()
        self._checked: dict[tuple[str, str], float] = {}
        self._paths: dict[tuple[str, str], Path] = {}
        # Per repository and tag: the change not yet flushed; a forget has digest None.
        self._changed: dict[tuple[str, str], dict[str, dict]] = {}
        self._pending = 0
        self._first_pending: float | None = None

    def __repr__(self) -> str:
        return f"TagIndex(directory={str(self.directory)!r})"

    def remember(
        self, registry: str, repository: str, tag: str, digest: str, media_type: str | None
    ) -> None:
        """Record that ``registry/repository:tag`` resolved to ``digest`` just now."""
        parse_digest(digest)
        self._change(registry, repository, tag,
                     {"digest": digest, "media_type": media_type, "recorded_at": _now()})

    def recall(self, registry: str, repository: str, tag: str) -> tuple[str, str | None] | None:
        """``(digest, media_type)`` last remembered for the tag, or None. Confirm with a HEAD."""
        with self._lock:
            record = self._tags(registry, repository).get(tag)
        if record is None:
            return None
        # .get: a hint file written by hand may leave the media type out (_valid_hint allows it)
        return record["digest"], record.get("media_type")

    def forget(self, registry: str, repository: str, tag: str) -> bool:
        """Drop the hint (say, after the registry answered 404). True if there was one."""
        with self._lock:
            if tag not in self._tags(registry, repository):
                return False
            self._change(registry, repository, tag,
                         {"digest": None, "media_type": None, "recorded_at": _now()})
        return True

    def flush(self) -> int:
        """Write the changes made since the last flush; returns how many tags they touched.
        See :func:`flush_or_warn` for callers that must not fail because of it.

        A repository whose file cannot be written keeps its changes for the next flush; the
        first such error is raised after the others are written.
        """
        with self._lock:
            changed, self._changed = self._changed, {}
            self._pending, self._first_pending = 0, None
            count = 0
            failure: OSError | None = None
            for key, tags in changed.items():
                try:
                    self._merge_into_file(key, tags)
                except OSError as exc:
                    failure = failure or exc
                    for tag, record in tags.items():  # keep them, unless changed again since
                        self._changed.setdefault(key, {}).setdefault(tag, record)
                    self._pending += len(tags)
                    continue
                count += len(tags)
            if failure is not None:
                raise failure
            return count

    def _merge_into_file(self, key: tuple[str, str], tags: dict[str, dict]) -> None:
        registry, repository = key
        path = self._path(registry, repository)
        self.directory.mkdir(parents=True, exist_ok=True)
        with file_lock(path.with_suffix(".lock")):
            merged = self._read(registry, repository)
            _apply(merged, tags)
            document = {"registry": registry, "repository": repository,
                        "tags": dict(sorted(merged.items()))}
            _write_atomic(path, json.dumps(document, sort_keys=True).encode())
            self._loaded[key] = (merged, _stamp(path))
            self._loaded.move_to_end(key, last=False)  # written: the first to go if unused

    def _change(self, registry: str, repository: str, tag: str, record: dict) -> None:
        with self._lock:
            _apply(self._tags(registry, repository), {tag: record})
            self._changed.setdefault((registry, repository), {})[tag] = record
            self._pending += 1
            now = time.monotonic()
            if self._first_pending is None:
                self._first_pending = now
            if (self._pending >= self.flush_every
                    or now - self._first_pending >= self.flush_seconds):
                # Not the place to fail a request: what could not be written stays pending
                # for the next flush, whose caller hears of it.
                with contextlib.suppress(OSError):
                    self.flush()

    def _tags(self, registry: str, repository: str) -> dict[str, dict]:
        """This process's view: the file as last read (again if it changed), plus the changes
        not flushed yet."""
        key = (registry, repository)
        loaded = self._loaded.get(key)
        if loaded is not None:
            self._loaded.move_to_end(key)
        now = time.monotonic()
        if loaded is not None and now - self._checked.get(key, 0.0) < _RECHECK_SECONDS:
            return loaded[0]
        self._checked[key] = now
        stamp = _stamp(self._path(registry, repository))
        if loaded is not None and loaded[1] == stamp:
            return loaded[0]
        tags = self._read(registry, repository)
        _apply(tags, self._changed.get(key, {}))
        self._loaded[key] = (tags, stamp)
        self._evict()
        return tags

    def _evict(self) -> None:
        """Drop the least recently used repositories past ``TAG_INDEX_REPOS`` whose changes
        are all on disk (they are read again when asked for)."""
        for key in list(self._loaded)[: max(0, len(self._loaded) - limits.TAG_INDEX_REPOS)]:
            if key not in self._changed:
                del self._loaded[key]
                self._checked.pop(key, None)
                self._paths.pop(key, None)

    def _read(self, registry: str, repository: str) -> dict[str, dict]:
        """The file's valid hints; anything damaged in it is no hint."""
        path = self._path(registry, repository)
        # Like every cache file: a regular file within limits, JSON within the depth limit (a
        # deep one raised RecursionError); anything else is no hint.
        raw = _read_entry(path, limits.MAX_INPUT_FILE_BYTES)
        if not isinstance(raw, bytes):
            return {}
        try:
            document = decoding.load_json(raw, what=str(path), error=_Unreadable)
        except _Unreadable:
            return {}
        if not isinstance(document, dict) or [
            document.get("registry"), document.get("repository")
        ] != [registry, repository] or not isinstance(document.get("tags"), dict):
            return {}
        return {tag: record for tag, record in document["tags"].items()
                if isinstance(tag, str) and _valid_hint(record)}

    def _path(self, registry: str, repository: str) -> Path:
        path = self._paths.get((registry, repository))
        if path is None:
            name = hashlib.sha256(f"{registry}/{repository}".encode()).hexdigest()
            path = self._paths[(registry, repository)] = self.directory / f"{name}.json"
        return path


def flush_or_warn(index: TagIndex | None) -> None:
    """Flush ``index``; a write that fails is a warning, not an error. For closing paths (a
    client closing, a survey returning) where an exception would hide the one that matters.
    One warning per process and cache base: a cache already reported as disabled (see
    :class:`ContentCache`) is not reported again for its hints."""
    if index is None:
        return
    try:
        index.flush()
    except OSError as exc:
        base = os.path.abspath(index.directory.parent)
        if base in _unwritable_warned:
            return
        _unwritable_warned.add(base)
        warnings.warn(f"tag hints not saved in {index.directory}: {exc}; the next look at "
                      "those tags costs a GET instead of a HEAD", RuntimeWarning, stacklevel=2)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _apply(tags: dict[str, dict], changes: dict[str, dict]) -> None:
    """Per tag, the later ``recorded_at`` wins; a winning forget (digest None) removes it."""
    for tag, record in changes.items():
        current = tags.get(tag)
        if current is not None and current["recorded_at"] > record["recorded_at"]:
            continue
        if record["digest"] is None:
            tags.pop(tag, None)
        else:
            tags[tag] = record


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:  # missing, or the directory is not one: no hints, never an error
        return None
    return st.st_mtime_ns, st.st_size


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock between processes on ``path`` (created if missing) for the
    ``with`` block: flock where there is one. Elsewhere it holds nothing; for the tag hints
    that means two simultaneous flushes can lose hints, which costs GETs, not answers."""
    if fcntl is None:
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _valid_hint(record: object) -> bool:
    if not isinstance(record, dict):
        return False
    media_type, recorded_at = record.get("media_type"), record.get("recorded_at")
    if not (media_type is None or isinstance(media_type, str)) or not isinstance(recorded_at, str):
        return False
    try:
        parse_digest(record.get("digest"))
    except InvalidReferenceError:
        return False
    return True
