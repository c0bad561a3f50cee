"""The content-addressed cache and the tag hint index: verification, atomicity, LRU, layout."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import platformdirs
import pytest

from archlab.cache import (
    CachedBlob,
    ContentCache,
    TagIndex,
    default_cache_dir,
    flush_or_warn,
)
from archlab.errors import DigestMismatchError, InvalidReferenceError

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob(label: str, size: int = 0) -> bytes:
    """Distinct, deterministic bytes; padded to ``size`` when asked."""
    data = f"archlab test blob {label}\n".encode()
    return data + b"." * max(0, size - len(data))


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


@pytest.fixture
def cache(tmp_path: Path) -> ContentCache:
    return ContentCache(tmp_path / "blobs")


# --- round trip and layout -----------------------------------------------------------------


def test_put_get_round_trip(cache):
    data = b'{"schemaVersion": 2}'
    digest = sha(data)
    assert digest not in cache
    assert cache.put(digest, data, media_type=MANIFEST_TYPE) is True
    assert digest in cache
    assert cache.get(digest) == CachedBlob(data, MANIFEST_TYPE)


def test_media_type_is_optional(cache):
    data = blob("config")
    cache.put(sha(data), data)
    assert cache.get(sha(data)) == CachedBlob(data, None)


def test_layout_is_algorithm_fanout_hex_and_file_is_the_raw_bytes(cache):
    data = blob("layout")
    digest = sha(data)
    cache.put(digest, data, MANIFEST_TYPE)
    hexpart = digest.removeprefix("sha256:")
    path = cache.root / "sha256" / hexpart[:2] / hexpart
    assert path.read_bytes() == data
    sidecar = json.loads((path.parent / f"{hexpart}.meta.json").read_text())
    assert sidecar["media_type"] == MANIFEST_TYPE


def test_get_of_unknown_digest_is_a_miss(cache):
    assert cache.get(sha(b"never stored")) is None


def test_constructor_touches_nothing(tmp_path):
    ContentCache(tmp_path / "blobs")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "bad",
    [
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "sha256:" + "g" * 64,
        "md5:" + "a" * 32,
        "a" * 64,
        "sha256:../../../etc/passwd",
        "",
    ],
)
def test_malformed_digests_are_refused(cache, bad):
    with pytest.raises(InvalidReferenceError, match="not a content digest"):
        cache.put(bad, b"x")
    with pytest.raises(InvalidReferenceError):
        cache.get(bad)
    assert bad not in cache
    assert not cache.root.exists()


def test_sha512_digests_work_too(cache):
    data = blob("sha512")
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    cache.put(digest, data)
    assert cache.get(digest) == CachedBlob(data, None)


# --- verification --------------------------------------------------------------------------


def test_put_with_wrong_digest_raises_and_writes_nothing(cache):
    data = blob("what the registry sent")
    wanted = sha(blob("what we asked for"))
    with pytest.raises(DigestMismatchError) as info:
        cache.put(wanted, data, MANIFEST_TYPE)
    assert wanted in str(info.value)
    assert sha(data) in str(info.value)
    assert files_under(cache.root) == []
    assert cache.get(wanted) is None


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: bytes([data[0] ^ 1]) + data[1:], id="flipped-bit"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"", id="emptied"),
    ],
)
def test_corrupted_file_is_a_miss_and_is_deleted(cache, damage):
    data = blob("to be damaged", 300)
    digest = sha(data)
    cache.put(digest, data, MANIFEST_TYPE)
    (path,) = [p for p in files_under(cache.root) if not p.name.endswith(".meta.json")]
    path.write_bytes(damage(data))
    with pytest.warns(RuntimeWarning, match=f"cache entry {digest} at .* was damaged"):
        assert cache.get(digest) is None
    assert files_under(cache.root) == []
    assert digest not in cache
    # ...and the next put stores good bytes again.
    assert cache.put(digest, data, MANIFEST_TYPE) is True
    assert cache.get(digest) == CachedBlob(data, MANIFEST_TYPE)


def test_put_of_existing_digest_is_a_no_op(cache):
    data = blob("immutable")
    digest = sha(data)
    cache.put(digest, data, "first/type")
    path = next(p for p in files_under(cache.root) if not p.name.endswith(".meta.json"))
    os.utime(path, (1_000_000, 1_000_000))
    before = path.stat()
    assert cache.put(digest, data, "second/type") is False
    after = path.stat()
    assert (after.st_ino, after.st_mtime) == (before.st_ino, before.st_mtime)
    assert cache.get(digest) == CachedBlob(data, "first/type")


def test_put_repairs_a_file_of_the_wrong_size(cache):
    data = blob("repair me", 200)
    digest = sha(data)
    cache.put(digest, data)
    path = next(p for p in files_under(cache.root) if not p.name.endswith(".meta.json"))
    path.write_bytes(data[:10])
    assert cache.put(digest, data) is True
    assert path.read_bytes() == data


def _payload_digest(signed: bytes) -> str:
    """A stand-in for the JWS payload digest of a signed schema1 manifest."""
    return sha(signed.split(b"+", 1)[0])


def test_digest_of_stores_bytes_whose_digest_is_not_their_hash(cache):
    # A signed schema1 manifest: its digest is over the payload without signatures.
    payload, signed = b"payload", b"payload+signature"
    digest = sha(payload)
    with pytest.raises(DigestMismatchError):
        cache.put(digest, signed, "application/vnd.docker.distribution.manifest.v1+prettyjws")
    cache.put(digest, signed, "application/vnd.docker.distribution.manifest.v1+prettyjws",
              digest_of=_payload_digest)
    hit = cache.get(digest, digest_of=_payload_digest)
    assert hit is not None
    assert hit.data == signed


def test_digest_of_entry_still_detects_corruption(cache):
    payload, signed = b"payload", b"payload+signature"
    digest = sha(payload)
    cache.put(digest, signed, digest_of=_payload_digest)
    path = next(p for p in files_under(cache.root) if not p.name.endswith(".meta.json"))
    path.write_bytes(b"payloaX+signature")
    with pytest.warns(RuntimeWarning, match="was damaged"):
        assert cache.get(digest, digest_of=_payload_digest) is None
    assert files_under(cache.root) == []


def test_an_entry_is_checked_against_its_path_never_its_sidecar(cache):
    """The red team's attack: other bytes in the file, and a sidecar edited to vouch for them
    (recorded digest, content digest, size, media type). The answer must not change."""
    good, other = blob("busybox with arm64", 500), blob("busybox without arm64", 400)
    digest = sha(good)
    cache.put(digest, good, MANIFEST_TYPE)
    path = next(p for p in files_under(cache.root) if not p.name.endswith(".meta.json"))
    path.write_bytes(other)
    Path(str(path) + ".meta.json").write_text(json.dumps({
        "digest": digest, "content_digest": sha(other), "media_type": MANIFEST_TYPE,
        "size": len(other)}))
    with pytest.warns(RuntimeWarning, match="was damaged"):
        assert cache.get(digest) is None
    assert files_under(cache.root) == []


def test_a_signed_schema1_entry_is_not_believed_without_its_digest_function(cache):
    payload, signed = b"payload", b"payload+signature"
    digest = sha(payload)
    cache.put(digest, signed, digest_of=_payload_digest)
    with pytest.warns(RuntimeWarning, match="was damaged"):
        assert cache.get(digest) is None


@pytest.mark.parametrize("damage", [
    "{not json",
    '{"media_type": ' * 100_000,  # json.loads raised RecursionError on this (issue 10)
    "fifo", "directory",
])
def test_unreadable_sidecar_costs_only_the_media_type(cache, damage):
    data = blob("sidecar")
    cache.put(sha(data), data, MANIFEST_TYPE)
    for sidecar in cache.root.rglob("*.meta.json"):
        sidecar.unlink()
        if damage == "fifo":
            os.mkfifo(sidecar)
        elif damage == "directory":
            sidecar.mkdir()
        else:
            sidecar.write_text(damage)
    assert cache.get(sha(data)) == CachedBlob(data, None)


# --- size bound and LRU --------------------------------------------------------------------

BLOB_SIZE = 10_000
MAX_BYTES = 50_000  # four blobs plus sidecars fit; a fifth goes over and evicts one


def _set_mtime(cache: ContentCache, data: bytes, seconds_ago: float) -> None:
    hexpart = sha(data).removeprefix("sha256:")
    t = time.time() - seconds_ago
    os.utime(cache.root / "sha256" / hexpart[:2] / hexpart, (t, t))


@pytest.mark.parametrize(
    ("read_first", "evicted"),
    [
        pytest.param(None, "a", id="oldest-goes"),
        pytest.param("a", "b", id="get-refreshes-so-next-oldest-goes"),
        pytest.param("b", "a", id="get-of-another-changes-nothing-for-a"),
    ],
)
def test_eviction_is_least_recently_used(tmp_path, read_first, evicted):
    cache = ContentCache(tmp_path / "blobs", max_bytes=MAX_BYTES)
    blobs = {name: blob(name, BLOB_SIZE) for name in "abcde"}
    for age, name in zip((400, 300, 200, 100), "abcd", strict=True):
        cache.put(sha(blobs[name]), blobs[name])
        _set_mtime(cache, blobs[name], age)
    if read_first is not None:
        assert cache.get(sha(blobs[read_first])) is not None
    cache.put(sha(blobs["e"]), blobs["e"])
    present = {name for name, data in blobs.items() if sha(data) in cache}
    assert present == set("abcde") - {evicted}
    assert cache.size_bytes() <= MAX_BYTES * 0.9
    assert not any(p.name.startswith(f"{sha(blobs[evicted])[7:]}.") for p in
                   files_under(cache.root)), "sidecar must go with its blob"


def test_eviction_goes_below_ninety_percent(tmp_path):
    cache = ContentCache(tmp_path / "blobs", max_bytes=MAX_BYTES)
    for i in range(12):
        data = blob(str(i), BLOB_SIZE)
        cache.put(sha(data), data)
        _set_mtime(cache, data, 1000 - i)
        assert cache.size_bytes() <= MAX_BYTES
    newest = blob("11", BLOB_SIZE)
    assert sha(newest) in cache
    assert sha(blob("0", BLOB_SIZE)) not in cache


def test_blob_too_big_for_the_cache_is_not_stored(tmp_path):
    cache = ContentCache(tmp_path / "blobs", max_bytes=MAX_BYTES)
    small = blob("small", BLOB_SIZE)
    cache.put(sha(small), small)
    huge = blob("huge", MAX_BYTES)
    assert cache.put(sha(huge), huge) is False
    assert sha(huge) not in cache
    assert sha(small) in cache


def test_estimate_notices_blobs_written_by_another_instance(tmp_path):
    first = ContentCache(tmp_path / "blobs", max_bytes=MAX_BYTES)
    second = ContentCache(tmp_path / "blobs", max_bytes=MAX_BYTES)
    for name in "abcd":
        data = blob(name, BLOB_SIZE)
        second.put(sha(data), data)
        _set_mtime(second, data, 100)
    data = blob("e", BLOB_SIZE)
    first.put(sha(data), data)  # first's initial walk must see second's four blobs
    assert first.size_bytes() <= MAX_BYTES * 0.9


def test_prune_removes_stale_leftovers_and_keeps_fresh_ones(cache):
    data = blob("keep")
    cache.put(sha(data), data)
    fan = next(cache.root.glob("sha256/*"))
    stale_temp = fan / ".tmp-crashed"
    fresh_temp = fan / ".tmp-in-flight"
    orphan = fan / ("f" * 64 + ".meta.json")
    for path in (stale_temp, fresh_temp, orphan):
        path.write_bytes(b"leftover")
    two_hours_ago = time.time() - 7200
    for path in (stale_temp, orphan):
        os.utime(path, (two_hours_ago, two_hours_ago))
    assert cache.prune() == 2 * len(b"leftover")
    assert not stale_temp.exists()
    assert not orphan.exists()
    assert fresh_temp.exists()
    assert cache.get(sha(data)) is not None


def test_prune_with_a_smaller_bound_evicts(tmp_path):
    cache = ContentCache(tmp_path / "blobs")
    for name in "abc":
        data = blob(name, BLOB_SIZE)
        cache.put(sha(data), data)
    assert cache.prune(max_bytes=0) > 3 * BLOB_SIZE
    assert files_under(cache.root) == []


def test_clear_empties_the_cache(cache):
    for name in "abc":
        cache.put(sha(blob(name)), blob(name))
    cache.clear()
    assert cache.size_bytes() == 0
    assert all(cache.get(sha(blob(name))) is None for name in "abc")
    cache.put(sha(blob("after")), blob("after"))
    assert cache.get(sha(blob("after"))) is not None


# --- two processes at once -------------------------------------------------------------------

ROUNDS = 200


def _shared_blob(i: int) -> bytes:
    # Big enough that writing it takes a while: a torn write would be seen by the other process.
    return blob(f"shared-{i}", 128 * 1024 + i)


def _own_blob(worker: int, i: int) -> bytes:
    return blob(f"worker-{worker}-{i}", 500 + i)


def _hammer(root: str, worker: int, barrier) -> None:
    """Run in a spawned process: each round both workers put the same new digest at once, plus
    one of their own, and read both back."""
    cache = ContentCache(Path(root))
    try:
        for i in range(ROUNDS):
            barrier.wait()  # keeps the two processes in step, so every round is a real race
            for data in (_shared_blob(i), _own_blob(worker, i)):
                cache.put(sha(data), data, MANIFEST_TYPE)
                hit = cache.get(sha(data))
                if hit is None or hit.data != data:
                    raise AssertionError(f"worker {worker} round {i}: read back failed")
    except BaseException:
        barrier.abort()  # release the other worker at once instead of at the timeout
        raise


def test_two_processes_writing_same_and_different_digests(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    root = tmp_path / "blobs"
    barrier = ctx.Barrier(2, timeout=120)
    workers = [ctx.Process(target=_hammer, args=(str(root), w, barrier)) for w in (0, 1)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=300)
    assert [p.exitcode for p in workers] == [0, 0]

    cache = ContentCache(root)
    expected = {_shared_blob(i) for i in range(ROUNDS)}
    expected |= {_own_blob(w, i) for w in (0, 1) for i in range(ROUNDS)}
    for data in expected:
        assert cache.get(sha(data)) == CachedBlob(data, MANIFEST_TYPE)
    assert [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")] == []
    blobs = [p for p in files_under(root) if not p.name.endswith(".meta.json")]
    assert len(blobs) == len(expected)


# --- tag hints ---------------------------------------------------------------------------------

D1 = sha(b"first manifest")
D2 = sha(b"second manifest")
LIST_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"


def test_tag_index_round_trip(tmp_path):
    tags = TagIndex(tmp_path / "blobs")
    assert tags.recall("registry-1.docker.io", "library/mysql", "5.7") is None
    tags.remember("registry-1.docker.io", "library/mysql", "5.7", D1, LIST_TYPE)
    assert tags.recall("registry-1.docker.io", "library/mysql", "5.7") == (D1, LIST_TYPE)


def test_tag_index_overwrite_keeps_the_latest(tmp_path):
    tags = TagIndex(tmp_path / "blobs")
    tags.remember("ghcr.io", "org/app", "latest", D1, LIST_TYPE)
    tags.remember("ghcr.io", "org/app", "latest", D2, MANIFEST_TYPE)
    assert tags.recall("ghcr.io", "org/app", "latest") == (D2, MANIFEST_TYPE)
    tags.flush()
    assert TagIndex(tmp_path / "blobs").recall("ghcr.io", "org/app", "latest") == (
        D2, MANIFEST_TYPE)


def test_tag_index_is_one_file_per_repository_beside_blobs(tmp_path):
    tags = TagIndex(tmp_path / "blobs")
    tags.remember("ghcr.io", "org/app", "v1", D1, None)
    tags.remember("ghcr.io", "org/app", "v2", D2, LIST_TYPE)
    tags.remember("ghcr.io", "org/other", "v1", D2, None)
    assert tags.flush() == 3
    assert TagIndex(tmp_path / "blobs").recall("ghcr.io", "org/app", "v1") == (D1, None)
    assert TagIndex(tmp_path / "blobs").recall("ghcr.io", "org/app", "v2") == (D2, LIST_TYPE)
    names = sorted(p.name for p in (tmp_path / "tags").glob("*.json"))
    assert names == sorted(hashlib.sha256(k).hexdigest() + ".json"
                           for k in (b"ghcr.io/org/app", b"ghcr.io/org/other"))
    assert not (tmp_path / "blobs").exists()


def test_tag_index_writes_in_batches(tmp_path):
    tags = TagIndex(tmp_path / "blobs", flush_every=3, flush_seconds=3600)
    tags.remember("ghcr.io", "org/app", "v1", D1, None)
    tags.remember("ghcr.io", "org/app", "v2", D1, None)
    assert not (tmp_path / "tags").exists()  # nothing written per tag
    tags.remember("ghcr.io", "org/app", "v3", D1, None)  # the third change flushes
    fresh = TagIndex(tmp_path / "blobs")
    assert [fresh.recall("ghcr.io", "org/app", t) for t in ("v1", "v2", "v3")] == [(D1, None)] * 3
    assert tags.flush() == 0  # nothing left to write


def test_tag_index_flushes_after_flush_seconds(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("archlab.cache.time.monotonic", lambda: clock[0])
    tags = TagIndex(tmp_path / "blobs", flush_every=1000, flush_seconds=2.0)
    tags.remember("ghcr.io", "org/app", "v1", D1, None)
    assert not (tmp_path / "tags").exists()
    clock[0] += 2.5
    tags.remember("ghcr.io", "org/app", "v2", D2, None)
    assert TagIndex(tmp_path / "blobs").recall("ghcr.io", "org/app", "v1") == (D1, None)


def test_two_writers_keep_each_others_hints(tmp_path):
    one, two = TagIndex(tmp_path / "blobs"), TagIndex(tmp_path / "blobs")
    one.remember("ghcr.io", "org/app", "v1", D1, None)
    one.remember("ghcr.io", "org/app", "same", D1, None)
    two.remember("ghcr.io", "org/app", "v2", D2, None)
    two.remember("ghcr.io", "org/app", "same", D2, None)  # later: it wins
    two.flush()
    one.flush()  # flushed last, but its "same" is older: it must not overwrite
    fresh = TagIndex(tmp_path / "blobs")
    assert fresh.recall("ghcr.io", "org/app", "v1") == (D1, None)
    assert fresh.recall("ghcr.io", "org/app", "v2") == (D2, None)
    assert fresh.recall("ghcr.io", "org/app", "same") == (D2, None)
    assert one.recall("ghcr.io", "org/app", "same") == (D2, None)  # it sees the merge too


def test_an_older_forget_does_not_remove_a_newer_hint(tmp_path):
    one, two = TagIndex(tmp_path / "blobs"), TagIndex(tmp_path / "blobs")
    one.remember("ghcr.io", "org/app", "v1", D1, None)
    one.flush()
    assert two.recall("ghcr.io", "org/app", "v1") == (D1, None)
    two.forget("ghcr.io", "org/app", "v1")  # earlier...
    one.remember("ghcr.io", "org/app", "v1", D2, None)  # ...than this
    one.flush()
    two.flush()
    assert TagIndex(tmp_path / "blobs").recall("ghcr.io", "org/app", "v1") == (D2, None)


def test_a_reader_sees_another_processes_flush_within_a_second(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("archlab.cache.time.monotonic", lambda: clock[0])
    reader, writer = TagIndex(tmp_path / "blobs"), TagIndex(tmp_path / "blobs")
    assert reader.recall("ghcr.io", "org/app", "v1") is None  # loads the (missing) file
    writer.remember("ghcr.io", "org/app", "v1", D1, LIST_TYPE)
    writer.flush()
    assert reader.recall("ghcr.io", "org/app", "v1") is None  # not looked again yet
    clock[0] += 1.0
    assert reader.recall("ghcr.io", "org/app", "v1") == (D1, LIST_TYPE)


def _remember_many(root: str, worker: int, count: int, start: multiprocessing.Event) -> None:
    tags = TagIndex(Path(root), flush_every=10**9, flush_seconds=10**9)
    for i in range(count):
        tags.remember("ghcr.io", "org/app", f"w{worker}-{i}", D1, None)
    start.wait(10)
    tags.flush()


def test_processes_flushing_at_once_lose_no_hint(tmp_path):
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    workers = [ctx.Process(target=_remember_many, args=(str(tmp_path / "blobs"), w, 200, start))
               for w in range(6)]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(30)
        assert w.exitcode == 0
    fresh = TagIndex(tmp_path / "blobs")
    kept = [fresh.recall("ghcr.io", "org/app", f"w{w}-{i}") for w in range(6) for i in range(200)]
    assert kept.count((D1, None)) == 1200


def test_a_flush_that_cannot_write_keeps_its_changes_and_writes_the_rest(tmp_path):
    tags = TagIndex(tmp_path / "blobs")
    tags.remember("ghcr.io", "org/app", "v1", D1, None)
    tags.remember("ghcr.io", "org/other", "v1", D2, None)
    blocked = tags._path("ghcr.io", "org/app")
    blocked.mkdir(parents=True)  # a directory where the file must go: the rename fails
    with pytest.raises(OSError):
        tags.flush()
    assert TagIndex(tmp_path / "blobs").recall("ghcr.io", "org/other", "v1") == (D2, None)
    blocked.rmdir()
    assert tags.flush() == 1  # the kept change, written now
    assert TagIndex(tmp_path / "blobs").recall("ghcr.io", "org/app", "v1") == (D1, None)


def test_flush_or_warn_turns_a_failed_write_into_a_warning(tmp_path):
    (tmp_path / "tags").write_text("not a directory")
    tags = TagIndex(tmp_path / "blobs")
    tags.remember("ghcr.io", "org/app", "v1", D1, None)  # its own flush fails quietly
    with pytest.warns(RuntimeWarning, match="tag hints not saved in .*tags"):
        flush_or_warn(tags)
    flush_or_warn(None)  # no index: nothing to do


@pytest.mark.parametrize(
    "other",
    [
        ("quay.io", "org/app", "v1"),
        ("ghcr.io", "org/other", "v1"),
        ("ghcr.io", "org/app", "v2"),
        ("ghcr.io/org", "app", "v1"),
    ],
)
def test_tag_index_keys_do_not_collide(tmp_path, other):
    tags = TagIndex(tmp_path / "blobs")
    tags.remember("ghcr.io", "org/app", "v1", D1, LIST_TYPE)
    tags.flush()
    assert tags.recall(*other) is None
    assert TagIndex(tmp_path / "blobs").recall(*other) is None


def test_tag_index_forget(tmp_path):
    tags = TagIndex(tmp_path / "blobs")
    tags.remember("ghcr.io", "org/app", "v1", D1, LIST_TYPE)
    tags.remember("ghcr.io", "org/app", "v2", D1, LIST_TYPE)
    tags.flush()
    assert tags.forget("ghcr.io", "org/app", "v1") is True
    assert tags.recall("ghcr.io", "org/app", "v1") is None
    assert tags.forget("ghcr.io", "org/app", "v1") is False
    tags.flush()
    fresh = TagIndex(tmp_path / "blobs")
    assert fresh.recall("ghcr.io", "org/app", "v1") is None
    assert fresh.recall("ghcr.io", "org/app", "v2") == (D1, LIST_TYPE)


@pytest.mark.parametrize("damage", [
    '{"digest": "sha256:tr',
    '{"tags": ' + "[" * 100_000,  # json.loads raised RecursionError on this (issue 10)
    "[]",
    '{"registry": "ghcr.io", "repository": "org/app", "tags": []}',
    '{"registry": "quay.io", "repository": "org/app", "tags": {}}',
])
def test_tag_index_ignores_a_damaged_file(tmp_path, damage):
    tags = TagIndex(tmp_path / "blobs")
    tags.remember("ghcr.io", "org/app", "v1", D1, LIST_TYPE)
    tags.flush()
    (path,) = (tmp_path / "tags").glob("*.json")
    path.write_text(damage)
    assert TagIndex(tmp_path / "blobs").recall("ghcr.io", "org/app", "v1") is None


def test_tag_index_ignores_a_damaged_hint_and_keeps_the_rest(tmp_path):
    tags = TagIndex(tmp_path / "blobs")
    tags.remember("ghcr.io", "org/app", "v1", D1, LIST_TYPE)
    tags.remember("ghcr.io", "org/app", "v2", D2, LIST_TYPE)
    tags.flush()
    (path,) = (tmp_path / "tags").glob("*.json")
    document = json.loads(path.read_text())
    document["tags"]["v1"]["digest"] = "sha256:tr"
    path.write_text(json.dumps(document))
    fresh = TagIndex(tmp_path / "blobs")
    assert fresh.recall("ghcr.io", "org/app", "v1") is None
    assert fresh.recall("ghcr.io", "org/app", "v2") == (D2, LIST_TYPE)


def test_tag_index_hint_without_a_media_type(tmp_path):
    # Found by benchmarks/fuzz_parsers.py: recall raised KeyError('media_type').
    tags = TagIndex(tmp_path / "blobs")
    tags.remember("ghcr.io", "org/app", "v1", D1, LIST_TYPE)
    tags.flush()
    (path,) = (tmp_path / "tags").glob("*.json")
    document = json.loads(path.read_text())
    del document["tags"]["v1"]["media_type"]
    path.write_text(json.dumps(document))
    assert TagIndex(tmp_path / "blobs").recall("ghcr.io", "org/app", "v1") == (D1, None)


def test_tag_index_refuses_a_bad_digest(tmp_path):
    tags = TagIndex(tmp_path / "blobs")
    with pytest.raises(InvalidReferenceError):
        tags.remember("ghcr.io", "org/app", "v1", "latest", None)
    assert tags.flush() == 0
    assert not (tmp_path / "tags").exists()


# --- where the cache lives ------------------------------------------------------------------


def test_archlab_cache_dir_is_honoured(tmp_path, monkeypatch):
    base = tmp_path / "my-cache"
    monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(base))
    assert default_cache_dir() == base
    cache = ContentCache()
    assert cache.root == base / "blobs"
    data = blob("env")
    cache.put(sha(data), data)
    assert (base / "blobs" / "sha256").is_dir()
    tags = TagIndex()
    tags.remember("ghcr.io", "org/app", "v1", sha(data), None)
    tags.flush()
    assert [p.parent for p in (base / "tags").glob("*.json")] == [base / "tags"]


def test_default_location_is_the_platform_user_cache_dir(monkeypatch):
    monkeypatch.delenv("ARCHLAB_CACHE_DIR", raising=False)
    assert ContentCache().root == Path(platformdirs.user_cache_dir("archlab")) / "blobs"


# --- what sits at a blob path is not trusted either ----------------------------------------


def _plant(cache: ContentCache, digest: str, kind: str, tmp_path: Path) -> Path:
    """Put something that is not a cache file where ``digest``'s file belongs."""
    hexpart = digest.removeprefix("sha256:")
    path = cache.root / "sha256" / hexpart[:2] / hexpart
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "directory":
        (path / "inside").mkdir(parents=True)
    elif kind == "symlink-to-dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "symlink-to-good-bytes":
        target = tmp_path / "elsewhere"
        target.write_bytes(blob("planted"))
        path.symlink_to(target)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dangling-symlink":
        path.symlink_to(tmp_path / "nothing-here")
    return path


NOT_A_FILE = ["directory", "symlink-to-dev-zero", "symlink-to-good-bytes", "fifo",
              "dangling-symlink"]


@pytest.mark.parametrize("kind", ["directory", "symlink-to-dev-zero", "fifo"])
def test_a_blob_path_that_is_not_a_regular_file_is_a_miss(cache, tmp_path, kind):
    """Bounded time and memory (a FIFO would block a plain open, /dev/zero never ends), no
    traceback, the thing removed (a link itself, never its target), and the next put works."""
    data = blob("planted")
    digest = sha(data)
    path = _plant(cache, digest, kind, tmp_path)
    started = time.monotonic()
    with pytest.warns(RuntimeWarning, match=f"cache entry {digest} at .* was damaged"):
        assert cache.get(digest) is None
    assert time.monotonic() - started < 5
    assert not os.path.lexists(path)
    assert cache.put(digest, data, MANIFEST_TYPE) is True
    assert cache.get(digest) == CachedBlob(data, MANIFEST_TYPE)


def test_a_symlinked_entry_is_proved_by_its_bytes_like_any_other(cache, tmp_path):
    """A link is followed: bytes that hash to the name are the right answer wherever they are;
    other bytes are damage, and only the link is removed."""
    data = blob("planted")
    path = _plant(cache, sha(data), "symlink-to-good-bytes", tmp_path)
    assert cache.get(sha(data)).data == data
    other = blob("other")
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "wrong").write_bytes(other)
    path.unlink()
    path.symlink_to(tmp_path / "wrong")
    with pytest.warns(RuntimeWarning, match="was damaged"):
        assert cache.get(sha(data)) is None
    assert not os.path.lexists(path) and (tmp_path / "wrong").read_bytes() == other
    dangling = _plant(cache, sha(other), "dangling-symlink", tmp_path)
    assert cache.get(sha(other)) is None  # nothing there: a plain miss
    assert cache.put(sha(other), other) is True and not dangling.is_symlink()


@pytest.mark.parametrize("kind", NOT_A_FILE)
def test_put_replaces_whatever_sits_at_the_path(cache, tmp_path, kind):
    data = blob("planted")
    path = _plant(cache, sha(data), kind, tmp_path)
    assert cache.put(sha(data), data) is True
    assert path.is_file() and not path.is_symlink() and path.read_bytes() == data


def test_a_sidecar_that_is_a_device_or_huge_is_ignored(cache):
    data = blob("sidecar device")
    cache.put(sha(data), data, MANIFEST_TYPE)
    (sidecar,) = cache.root.rglob("*.meta.json")
    sidecar.unlink()
    sidecar.symlink_to("/dev/zero")
    assert cache.get(sha(data)) == CachedBlob(data, None)


def test_a_cache_root_that_is_a_file_disables_the_cache_with_one_warning(tmp_path):
    (tmp_path / "blobs").write_text("not a directory")
    cache = ContentCache(tmp_path / "blobs")
    tags = TagIndex(tmp_path / "blobs")
    data = [blob(f"doc {i}") for i in range(3)]
    with pytest.warns(RuntimeWarning) as caught:
        for d in data:
            assert cache.put(sha(d), d) is False
            assert cache.get(sha(d)) is None
            tags.remember("ghcr.io", "org/app", "v1", sha(d), None)
        flush_or_warn(tags)
        flush_or_warn(tags)
    assert [str(w.message).split(":")[0] for w in caught] == ["cache disabled"]
    assert "not a directory" in str(caught[0].message).lower()
    assert cache.size_bytes() == 0 and cache.prune() == 0


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="mounts a read-only tmpfs in a private mount namespace (root)")
def test_a_read_only_cache_root_disables_writes_and_still_reads(tmp_path):
    """A real read-only file system (root ignores permission bits): a private mount namespace
    holds a read-only tmpfs over the cache, nothing leaks to the rest of the machine."""
    cache_dir = tmp_path / "cache"
    good = blob("already cached")
    ContentCache(cache_dir / "blobs").put(sha(good), good, MANIFEST_TYPE)
    script = f"""
import warnings, sys
from archlab.cache import ContentCache
cache = ContentCache({str(cache_dir / 'blobs')!r})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert cache.get({sha(good)!r}).data == {good!r}
    for i in range(3):
        data = b"new %d" % i
        import hashlib
        assert cache.put("sha256:" + hashlib.sha256(data).hexdigest(), data) is False
import json
print(json.dumps([str(w.message) for w in caught]))
"""
    shell = (f"mount --bind {cache_dir} {cache_dir} && mount -o remount,bind,ro {cache_dir} "
             f"&& {sys.executable} -c \"$SCRIPT\"")
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", shell],
                          capture_output=True, text=True, env={**os.environ, "SCRIPT": script},
                          timeout=60)
    if done.returncode != 0 and "mount" in done.stderr and "Traceback" not in done.stderr:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    messages = json.loads(done.stdout)
    assert len(messages) == 1 and messages[0].startswith("cache disabled: cannot write to ")
    assert "Read-only file system" in messages[0]
