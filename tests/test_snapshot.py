"""Snapshots: record from real registries, replay offline with identical results, keep no secrets.

The replay rules (host matching, Accept, statuses) and the recorder's filters are tested against
in-memory snapshots and httpx's MockTransport; recording, replay equality, determinism,
tampering and secrets against Debian's docker-registry; the shipped ``data/snapshots/lab``
against a fresh recording of the lab, byte for byte.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import importlib.util
import json
import os
from dataclasses import replace
from pathlib import Path

import httpx
import pandas.testing as pdt
import pytest

from archlab import digests, manifests
from archlab import inspect as insp
from archlab.cli import main
from archlab.credentials import Credentials
from archlab.errors import (
    ArchlabError,
    DigestMismatchError,
    ManifestError,
    NotFoundError,
    RegistryUnreachableError,
    SnapshotAlteredError,
)
from archlab.lab.publish import push_image
from archlab.lab.server import RegistryServer
from archlab.reference import parse_reference
from archlab.simulate import facts_from_built, gather_facts_sync, simulate_pull, simulate_run
from archlab.snapshot import (
    KEPT_HEADERS,
    LAB_HOST,
    LAB_SNAPSHOT_ROOT,
    Answer,
    RecordingTransport,
    Snapshot,
    SnapshotTransport,
    load_snapshot,
    record,
    replay_client,
)
from tests.conftest import LAB_PASSWORD, LAB_USER
from tests.corpus import AMD64, ARM64, client, make_image, push_corpus

FIXED = "2024-01-01T00:00:00Z"
ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location(
        "record_lab_snapshot", ROOT / "tools" / "record_lab_snapshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


# ---------------------------------------------------------------------- in-memory snapshots

IMG_A = make_image(AMD64)
IMG_B = make_image(ARM64)


def manifest_answer(host: str, repo: str, ref: str, blob=IMG_A.manifest,
                    accept: tuple[str, ...] | None = None) -> Answer:
    return Answer(
        kind="manifest", host=host, repository=repo, reference=ref, status=200,
        digest=blob.digest, media_type=blob.media_type, size=blob.size,
        body=digests.compute(blob.data),
        headers=(("content-type", blob.media_type), ("docker-content-digest", blob.digest)),
        accept=accept,
    )


def mem_snapshot(*answers: Answer, blobs=(IMG_A.manifest, IMG_B.manifest)) -> Snapshot:
    return Snapshot(
        recorded_at=FIXED, archlab_version="test", refs=(), answers=answers,
        blobs={digests.compute(b.data): b.data for b in blobs},
    )


def replay_get(snap: Snapshot, url: str, method: str = "GET", **kw) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=SnapshotTransport(snap, **kw)) as c:
            return await c.request(method, url, headers={"Accept": ", ".join(
                manifests.ACCEPT_ALL)})
    return asyncio.run(go())


@pytest.mark.parametrize(("recorded", "asked", "hosts", "answered"), [
    (["127.0.0.1:5000"], "127.0.0.1:5000", None, IMG_A),
    (["127.0.0.1:5000"], "127.0.0.1:41234", None, IMG_A),      # lab registries move ports
    (["127.0.0.1:5000"], "localhost:8080", None, IMG_A),
    (["127.0.0.1:5000"], "[::1]:5000", None, IMG_A),
    (["registry-1.docker.io"], "ghcr.io", None, None),         # never another registry's data
    (["registry-1.docker.io"], "127.0.0.1:5000", None, None),
    (["127.0.0.1:5000"], "registry-1.docker.io", None, None),
    (["registry-1.docker.io"], "mirror.example:5000", {"mirror.example:5000":
                                                        "registry-1.docker.io"}, IMG_A),
    (["127.0.0.1:5000", "127.0.0.1:6000"], "127.0.0.1:6000", None, IMG_B),  # exact wins
    (["127.0.0.1:5000", "127.0.0.1:6000"], "127.0.0.1:7000", None, None),   # ambiguous
])
def test_which_recorded_host_answers(recorded, asked, hosts, answered):
    snap = mem_snapshot(*(manifest_answer(h, "lab/x", "1", img.manifest)
                          for h, img in zip(recorded, (IMG_A, IMG_B), strict=False)))
    with replay_client(snap, hosts=hosts) as reg:
        if answered is None:
            with pytest.raises(NotFoundError, match="not in snapshot"):
                reg.get_manifest(f"{asked}/lab/x:1")
        else:
            got = reg.get_manifest(f"{asked}/lab/x:1")
            assert got.raw == answered.manifest.data
            assert got.digest == answered.manifest.digest


def test_two_loopback_recordings_say_which_to_choose():
    snap = mem_snapshot(manifest_answer("127.0.0.1:5000", "lab/x", "1", IMG_A.manifest),
                        manifest_answer("127.0.0.1:6000", "lab/x", "1", IMG_B.manifest))
    with replay_client(snap) as reg, pytest.raises(NotFoundError) as err:
        reg.get_manifest("127.0.0.1:7000/lab/x:1")
    assert "127.0.0.1:5000, 127.0.0.1:6000" in str(err.value)
    assert "hosts=" in str(err.value)


@pytest.mark.parametrize(("method", "path", "status", "body", "code"), [
    ("GET", "/v2/lab/x/manifests/1", 200, IMG_A.manifest.data, None),
    ("HEAD", "/v2/lab/x/manifests/1", 200, b"", None),
    # a registry serves a repository's manifest by digest, whatever tag it was recorded under
    ("GET", f"/v2/lab/x/manifests/{IMG_A.manifest.digest}", 200, IMG_A.manifest.data, None),
    ("GET", f"/v2/lab/other/manifests/{IMG_A.manifest.digest}", 404, None, "MANIFEST_UNKNOWN"),
    ("GET", "/v2/lab/x/manifests/2", 404, None, "MANIFEST_UNKNOWN"),
    ("GET", f"/v2/lab/x/blobs/{IMG_A.config.digest}", 404, None, "BLOB_UNKNOWN"),
    ("GET", "/v2/lab/x/tags/list", 404, None, "NAME_UNKNOWN"),
    ("GET", "/v2/", 200, b"{}", None),
    ("PUT", "/v2/lab/x/manifests/1", 405, None, "UNSUPPORTED"),
    ("DELETE", f"/v2/lab/x/manifests/{IMG_A.manifest.digest}", 405, None, "UNSUPPORTED"),
])
def test_replay_answers_like_a_registry(method, path, status, body, code):
    snap = mem_snapshot(manifest_answer("127.0.0.1:5000", "lab/x", "1"))
    resp = replay_get(snap, f"http://127.0.0.1:5000{path}", method)
    assert resp.status_code == status
    if body is not None:
        assert resp.content == body
    if code is not None:
        assert resp.json()["errors"][0]["code"] == code
    if status == 200 and "manifests" in path:
        assert resp.headers["content-type"] == IMG_A.manifest.media_type
        assert resp.headers["docker-content-digest"] == IMG_A.manifest.digest
        assert int(resp.headers["content-length"]) == IMG_A.manifest.size  # HEAD too


def test_not_in_snapshot_names_the_snapshot_and_its_date(tmp_path):
    snap = mem_snapshot(manifest_answer("127.0.0.1:5000", "lab/x", "1")).write(tmp_path / "s")
    with replay_client(tmp_path / "s") as reg, pytest.raises(NotFoundError) as err:
        reg.get_manifest("127.0.0.1:5000/lab/x:nope")
    text = str(err.value)
    assert "lab/x:nope is not in snapshot" in text
    assert str(snap.source) in text
    assert f"recorded on {FIXED}" in text


def test_other_accept_is_not_answered_from_the_standard_recording():
    snap = mem_snapshot(manifest_answer("127.0.0.1:5000", "lab/x", "1"))
    with replay_client(snap) as reg:
        with pytest.raises(NotFoundError, match="standard Accept only"):
            reg.get_manifest("127.0.0.1:5000/lab/x:1", accept=[manifests.DOCKER_MANIFEST_V2])
        assert reg.get_manifest("127.0.0.1:5000/lab/x:1").digest == IMG_A.manifest.digest


def test_a_recording_with_another_accept_answers_that_accept_only():
    only_v2 = (manifests.DOCKER_MANIFEST_V2,)
    snap = mem_snapshot(manifest_answer("127.0.0.1:5000", "lab/x", "1", accept=only_v2))
    with replay_client(snap) as reg:
        assert reg.get_manifest("127.0.0.1:5000/lab/x:1", accept=only_v2).raw == (
            IMG_A.manifest.data)
        with pytest.raises(NotFoundError):
            reg.get_manifest("127.0.0.1:5000/lab/x:1")


def test_a_head_only_answer_serves_get_from_the_same_digest():
    head = Answer("manifest", "127.0.0.1:5000", "lab/x", "1", 200, IMG_A.manifest.digest,
                  IMG_A.manifest.media_type, IMG_A.manifest.size, None,
                  (("content-type", IMG_A.manifest.media_type),))
    by_digest = manifest_answer("127.0.0.1:5000", "lab/x", IMG_A.manifest.digest)
    with replay_client(mem_snapshot(head, by_digest)) as reg:
        assert reg.get_manifest("127.0.0.1:5000/lab/x:1").raw == IMG_A.manifest.data
    with replay_client(mem_snapshot(head)) as reg, pytest.raises(
            NotFoundError, match="only a HEAD answer was recorded"):
        reg.get_manifest("127.0.0.1:5000/lab/x:1")


def test_a_404_seen_only_by_head_replays_as_404_for_get():
    gone = Answer("manifest", "127.0.0.1:5000", "lab/x", "gone", 404, None, None, None, None)
    with replay_client(mem_snapshot(gone)) as reg:
        with pytest.raises(NotFoundError) as err:
            reg.get_manifest("127.0.0.1:5000/lab/x:gone")
        assert "not in snapshot" not in str(err.value)  # recorded as absent, not unrecorded
        assert not reg.manifest_exists("127.0.0.1:5000/lab/x:gone")


def test_a_gap_in_a_snapshot_is_not_the_registrys_404():
    """What the snapshot never recorded is a NotFoundError marked ``not_recorded``; what the
    registry itself answered 404 while recording is not marked."""
    gone = Answer("manifest", "127.0.0.1:5000", "lab/x", "gone", 404, None, None, None, None)
    with replay_client(mem_snapshot(gone)) as reg:
        with pytest.raises(NotFoundError) as recorded:
            reg.get_manifest("127.0.0.1:5000/lab/x:gone")
        assert recorded.value.not_recorded is False
        with pytest.raises(NotFoundError, match="not in snapshot") as gap:
            reg.get_manifest("127.0.0.1:5000/lab/x:never-asked")
        assert gap.value.not_recorded is True
        with pytest.raises(NotFoundError, match="not in snapshot") as gap:
            reg.run(lambda aio: aio.list_tags("127.0.0.1:5000/lab/x"))
        assert gap.value.not_recorded is True


@pytest.mark.parametrize(("given", "stored"), [
    ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
    ("2024-01-01T01:30:00+01:30", "2024-01-01T00:00:00Z"),
    ("2024-01-01T00:00:00", "2024-01-01T00:00:00Z"),   # no zone: UTC
    ("2024-06-30 12:00:00.999Z", "2024-06-30T12:00:00Z"),
])
def test_recorded_at_is_utc_to_the_second(given, stored):
    assert RecordingTransport().snapshot(recorded_at=given).recorded_at == stored


def test_bad_fixed_time_is_refused():
    with pytest.raises(ArchlabError, match="invalid time 'yesterday'"):
        RecordingTransport().snapshot(recorded_at="yesterday")


def test_write_refuses_a_directory_that_is_not_a_snapshot(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ArchlabError, match=r"not empty and holds no index\.json"):
        mem_snapshot().write(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_write_replaces_an_old_snapshot_and_its_stale_files(tmp_path):
    mem_snapshot(manifest_answer("h:1", "lab/x", "1", IMG_B.manifest)).write(tmp_path / "s")
    mem_snapshot(manifest_answer("h:1", "lab/x", "1")).write(tmp_path / "s")
    names = set(files_of(tmp_path / "s"))
    assert names == {"index.json", "integrity.json", f"blobs/sha256/{IMG_A.manifest.digest[7:]}"}
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temporary leftovers


# ---------------------------------------------------------------------- the recorder (mocked)

CONFIG = IMG_A.config
LAYER = IMG_A.layers[0]
SECRET = "planted-secret-9f2c"


def fake_registry(extra_headers: dict[str, str] | None = None, *, redirect: bool = False):
    """A tiny registry: lab/x:1 -> IMG_A, its config and layer (behind a signed redirect to
    blob storage with ``redirect=True``, as Docker Hub does)."""
    extra = extra_headers or {}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.url.host == "auth.example":
            return httpx.Response(200, json={"token": "eyJhbGciOi." + SECRET})
        if request.url.host == "storage.example":
            data = {CONFIG.digest: CONFIG.data, LAYER.digest: LAYER.data}[
                request.url.params["d"]]
            return httpx.Response(200, content=data, headers=extra)
        if path in ("/v2/lab/x/manifests/1", f"/v2/lab/x/manifests/{IMG_A.manifest.digest}"):
            headers = {"Content-Type": IMG_A.manifest.media_type,
                       "Docker-Content-Digest": IMG_A.manifest.digest, **extra}
            return httpx.Response(200, content=IMG_A.manifest.data, headers=headers)
        if path == "/v2/lab/x/manifests/lying":
            return httpx.Response(200, content=IMG_A.manifest.data, headers={
                "Content-Type": IMG_A.manifest.media_type,
                "Docker-Content-Digest": IMG_B.manifest.digest})
        if path.startswith("/v2/lab/x/blobs/") and redirect:
            digest = path.rsplit("/", 1)[1]
            return httpx.Response(307, headers={
                "Location": f"https://storage.example/b?d={digest}&X-Signature={SECRET}"})
        if path.startswith("/v2/lab/x/blobs/"):
            digest = path.rsplit("/", 1)[1]
            data = {CONFIG.digest: CONFIG.data, LAYER.digest: LAYER.data}[digest]
            return httpx.Response(200, content=data, headers={
                "Content-Type": "application/octet-stream", **extra})
        if path.startswith("/v2/lab/status/"):
            return httpx.Response(int(path.rsplit("/", 1)[1]), json={"errors": []},
                                  headers={"WWW-Authenticate": f'Bearer realm="{SECRET}"'})
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})

    return httpx.MockTransport(handler)


def run_recorder(rec: RecordingTransport, *urls: str, method: str = "GET") -> None:
    async def go() -> None:
        async with httpx.AsyncClient(transport=rec, follow_redirects=True) as c:
            for url in urls:
                await c.request(method, url, headers={
                    "Accept": ", ".join(manifests.ACCEPT_ALL),
                    "Authorization": f"Bearer eyJ{SECRET}"})
    asyncio.run(go())


BASE = "https://reg.example/v2/lab/x"


@pytest.mark.parametrize("header", [
    "Set-Cookie", "WWW-Authenticate", "Docker-RateLimit-Source", "X-Amz-Security-Token",
    "Authorization", "Proxy-Authenticate", "Server", "Date",
])
def test_only_allow_listed_headers_are_written(tmp_path, header):
    rec = RecordingTransport(fake_registry({header: SECRET, "RateLimit-Limit": "100;w=21600"}))
    run_recorder(rec, f"{BASE}/manifests/1", f"{BASE}/blobs/{CONFIG.digest}")
    rec.snapshot(recorded_at=FIXED).write(tmp_path / "s")
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    kinds = [a["kind"] for a in index["answers"]]
    assert kinds == ["manifest", "blob"]
    for a in index["answers"]:
        assert set(a["headers"]) <= set(KEPT_HEADERS)
    assert index["answers"][0]["headers"]["ratelimit-limit"] == "100;w=21600"
    for content in files_of(tmp_path / "s").values():
        assert SECRET.encode() not in content


@pytest.mark.parametrize(("include_layers", "cap", "kept"), [
    (False, 4 * 2**20, {CONFIG.digest}),             # configs yes, layers never by default
    (True, 4 * 2**20, {CONFIG.digest, LAYER.digest}),
    (False, 16, set()),                              # a JSON blob above the cap: not kept
])
def test_which_blobs_are_kept(include_layers, cap, kept):
    assert gzip.decompress(LAYER.data)  # a real layer, else "never layers" proves nothing
    rec = RecordingTransport(fake_registry(), include_layers=include_layers, max_blob_bytes=cap)
    run_recorder(rec, f"{BASE}/blobs/{CONFIG.digest}", f"{BASE}/blobs/{LAYER.digest}")
    assert {a.reference for a in rec.answers if a.kind == "blob"} == kept


def test_a_redirected_blob_is_kept_under_its_digest_and_the_url_never(tmp_path):
    rec = RecordingTransport(fake_registry(redirect=True))
    run_recorder(rec, f"{BASE}/blobs/{CONFIG.digest}", f"{BASE}/blobs/{LAYER.digest}")
    (answer,) = rec.answers  # the config; the layer is not kept
    assert (answer.kind, answer.host, answer.repository, answer.reference) == (
        "blob", "reg.example", "lab/x", CONFIG.digest)
    snap = rec.snapshot(recorded_at=FIXED).write(tmp_path / "s")
    assert snap.body_of(answer) == CONFIG.data
    for content in files_of(tmp_path / "s").values():
        assert SECRET.encode() not in content and b"storage.example" not in content


@pytest.mark.parametrize("status", [401, 403, 429, 500, 503])
def test_refusals_and_failures_are_not_recorded(status):
    rec = RecordingTransport(fake_registry())
    run_recorder(rec, f"https://reg.example/v2/lab/status/manifests/{status}")
    assert rec.answers == ()


def test_token_endpoints_are_not_recorded():
    rec = RecordingTransport(fake_registry())
    run_recorder(rec, "https://auth.example/token?scope=repository:lab/x:pull",
                 "https://auth.example/v2/token")
    assert rec.answers == ()


def test_a_manifest_whose_announced_digest_lies_is_not_recorded():
    rec = RecordingTransport(fake_registry())
    run_recorder(rec, f"{BASE}/manifests/lying")
    assert rec.answers == ()
    assert rec.skipped == ["manifest reg.example/lab/x lying: Docker-Content-Digest differs "
                           "from its bytes"]


def test_a_head_after_the_get_keeps_the_body():
    rec = RecordingTransport(fake_registry())
    run_recorder(rec, f"{BASE}/manifests/1")
    run_recorder(rec, f"{BASE}/manifests/1", method="HEAD")
    (answer,) = rec.answers
    assert answer.body == IMG_A.manifest.digest


def test_as_host_needs_one_registry():
    rec = RecordingTransport(fake_registry())
    run_recorder(rec, f"{BASE}/manifests/1", "https://other.example/v2/lab/x/manifests/1")
    with pytest.raises(ArchlabError, match=r"other\.example, reg\.example"):
        rec.snapshot(as_host=LAB_HOST)


# ---------------------------------------------------------------------- against a real registry


def live_views(refs, reg) -> tuple[object, object, list[object]]:
    full = insp.to_frame([insp.inspect(r, client=reg, configs="all") for r in refs])
    default = insp.to_frame([insp.inspect(r, client=reg) for r in refs])
    facts = [gather_facts_sync(r, reg) for r in refs]
    return full, default, facts


def test_replay_equals_live_with_the_registry_stopped(registry_binary, tmp_path):
    server = RegistryServer(binary=registry_binary).start()
    try:
        refs, _ = push_corpus(server.host, "t/replay", tmp_path)
        texts = [str(r) for r in refs.values()]
        with client(tmp_path, cache=False, tag_index=False) as reg:
            live_full, live_default, live_facts = live_views(texts, reg)
        summary = record(texts, tmp_path / "snap", recorded_at=FIXED, use_docker_config=False)
    finally:
        server.stop()
    assert summary.failed == ()
    with client(tmp_path, cache=False, tag_index=False, retries=0) as reg, pytest.raises(
            RegistryUnreachableError):
        reg.get_manifest(texts[0])  # the registry is really gone
    with replay_client(tmp_path / "snap") as reg:
        full, default, facts = live_views(texts, reg)
    pdt.assert_frame_equal(full, live_full)
    pdt.assert_frame_equal(default, live_default)
    assert facts == live_facts
    assert len(live_full) == 10 and live_full["error"].isna().all()  # not a vacuous compare
    for f, lf in zip(facts, live_facts, strict=True):
        for host in ("this-machine", "multipass-ubuntu-arm64"):
            assert simulate_run(f, host).transcript() == simulate_run(lf, host).transcript()
            assert simulate_pull(f, host, platform="linux/arm64").transcript() == (
                simulate_pull(lf, host, platform="linux/arm64").transcript())


def test_a_recorded_404_replays_as_the_same_error(corpus, tmp_path):
    refs, _ = corpus
    missing = str(refs["list"].with_tag("never-pushed"))
    with client(tmp_path, cache=False, tag_index=False) as reg, pytest.raises(
            NotFoundError) as live:
        reg.get_manifest(missing)
    summary = record([missing, str(refs["list"])], tmp_path / "snap", recorded_at=FIXED,
                     use_docker_config=False)
    assert [r.ref for r in summary.failed] == [missing]
    assert summary.failed[0].error == str(live.value)
    with replay_client(tmp_path / "snap") as reg, pytest.raises(NotFoundError) as replayed:
        reg.get_manifest(missing)
    assert str(replayed.value) == str(live.value)
    assert "not in snapshot" not in str(replayed.value)  # the registry's word, not ours


def test_recording_is_deterministic_with_a_fixed_time(corpus, tmp_path):
    refs, _ = corpus
    texts = [str(r) for r in refs.values()]
    record(texts, tmp_path / "a", recorded_at=FIXED, use_docker_config=False)
    record(texts[::-1], tmp_path / "b", recorded_at=FIXED, use_docker_config=False)
    record(texts, tmp_path / "c", recorded_at=FIXED, use_docker_config=False)
    a, b, c = (files_of(tmp_path / d) for d in "abc")
    assert a == c
    # The answers do not depend on the order of the references; only the "refs" list does.
    # (integrity.json holds the index's digest, so it differs with the refs list too.)
    assert {k: v for k, v in a.items() if k not in ("index.json", "integrity.json")} == {
        k: v for k, v in b.items() if k not in ("index.json", "integrity.json")}
    ia, ib = (json.loads(x["index.json"]) for x in (a, b))
    assert ia["answers"] == ib["answers"] and ia["refs"] == ib["refs"][::-1]
    assert ia["recorded_at"] == FIXED and len(a) > 5


def test_record_keeps_every_repository_its_own_answers(registry, tmp_path):
    # The same image in two repositories: a shared cache must not hide the second one's
    # requests from the recorder (a replay answers by repository, as a registry does).
    host = registry.host
    refs = [parse_reference(f"{host}/t/shared-{n}:v") for n in ("one", "two")]
    with client(tmp_path, cache=False, tag_index=False) as reg:
        for ref in refs:
            reg.run(lambda aio, ref=ref: push_image(aio, ref, IMG_A))
    record([str(r) for r in refs], tmp_path / "snap", recorded_at=FIXED,
           use_docker_config=False)
    with replay_client(tmp_path / "snap") as reg:
        for ref in refs:
            got = insp.inspect(ref, client=reg)
            assert str(got.entries[0].config_platform) == "linux/amd64"


def _tamper_blob(snap_dir: Path, digest: str) -> str:
    path = snap_dir / "blobs" / "sha256" / digest[7:]
    data = path.read_bytes()
    path.write_bytes(data[:-2] + bytes([data[-2] ^ 1]) + data[-1:])  # one bit, inside the JSON
    return str(path)


def _delete_blob(snap_dir: Path, digest: str) -> str:
    path = snap_dir / "blobs" / "sha256" / digest[7:]
    path.unlink()
    return str(path)


def _swap_digest(snap_dir: Path, digest: str) -> str:
    # Point an answer at another real file: each file is intact, the manifest claim is not.
    index = snap_dir / "index.json"
    doc = json.loads(index.read_text())
    other = next(a["body"] for a in doc["answers"]
                 if a["body"] not in (None, digest))
    for a in doc["answers"]:
        if a["body"] == digest:
            a["body"] = other
    index.write_text(json.dumps(doc))
    return "is not in the canonical form"


def _swap_digest_canonically(snap_dir: Path, digest: str) -> str:
    # The same, written in canonical form: the integrity record no longer matches.
    _swap_digest(snap_dir, digest)
    _write_canonical(snap_dir, json.loads((snap_dir / "index.json").read_text()), seal=False)
    return "integrity.json records"


def _swap_digest_and_seal(snap_dir: Path, digest: str) -> str:
    # ...and the integrity record rewritten to match: the bytes still betray the answer.
    _swap_digest(snap_dir, digest)
    _write_canonical(snap_dir, json.loads((snap_dir / "index.json").read_text()))
    return "is recorded as"


def _edit_header(snap_dir: Path, digest: str) -> str:
    doc = json.loads((snap_dir / "index.json").read_text())
    for a in doc["answers"]:
        if a["digest"] == digest and a["kind"] == "manifest":
            a["headers"]["docker-content-digest"] = "sha256:" + "1" * 64
    _write_canonical(snap_dir, doc)
    return "announces Docker-Content-Digest sha256:1111"


def _drop_integrity(snap_dir: Path, digest: str) -> str:
    (snap_dir / "integrity.json").unlink()
    return "integrity.json is missing"


def _body_to_dev_zero(snap_dir: Path, digest: str) -> str:
    path = snap_dir / "blobs" / "sha256" / digest[7:]
    path.unlink()
    path.symlink_to("/dev/zero")
    return f"{path}: cannot read the snapshot body: it is a character device"


def _write_canonical(snap_dir: Path, doc: dict, *, seal: bool = True) -> None:
    """Write ``doc`` as archlab would, and (``seal``) an integrity record that matches it: what
    someone who edits a snapshot consistently does."""
    raw = (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode()
    (snap_dir / "index.json").write_bytes(raw)
    if seal:
        (snap_dir / "integrity.json").write_text(json.dumps(
            {"format": "archlab-snapshot-integrity", "version": 2,
             "root": digests.compute(raw)}))


@pytest.mark.parametrize(("tamper", "error"), [
    (_tamper_blob, DigestMismatchError),
    (_delete_blob, ManifestError),
    (_swap_digest, DigestMismatchError),
    (_swap_digest_canonically, SnapshotAlteredError),
    (_swap_digest_and_seal, SnapshotAlteredError),
    (_edit_header, SnapshotAlteredError),
    (_drop_integrity, SnapshotAlteredError),
    (_body_to_dev_zero, SnapshotAlteredError),
])
def test_an_altered_snapshot_is_refused_with_the_file_named(corpus, tmp_path, tamper, error):
    refs, built = corpus
    record([str(refs["schema2"])], tmp_path / "snap", recorded_at=FIXED,
           use_docker_config=False)
    named = tamper(tmp_path / "snap", built["schema2"].manifest.digest)
    with pytest.raises(error) as err:
        load_snapshot(tmp_path / "snap")
    assert named in str(err.value)
    assert " altered: " in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(error):
        replay_client(tmp_path / "snap")


SHIPPED = Path(__file__).parent.parent / "data" / "snapshots" / "lab"


def _copy_shipped(tmp_path: Path) -> Path:
    import shutil
    return Path(shutil.copytree(SHIPPED, tmp_path / "snap"))


def test_a_deep_index_is_one_manifest_error(tmp_path):
    # json.loads raised RecursionError on this (issue 10).
    snap = _copy_shipped(tmp_path)
    (snap / "index.json").write_text('{"answers": ' + "[" * 100_000)
    with pytest.raises(ManifestError, match=r"index\.json: nests arrays and objects 100001 "
                       "deep, more than the 64 archlab reads"):
        load_snapshot(snap)


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("size", 10**30, "size must be a byte count or null"),  # OverflowError from to_frame()
    ("size", -1, "size must be a byte count or null"),
    ("media_type", {"a": 1}, "media_type must be a string or null"),
    ("status", True, "status must be an HTTP status"),
    ("status", 10**30, "status must be an HTTP status"),
])
def test_an_index_with_values_of_the_wrong_kind_is_refused(tmp_path, field, value, problem):
    snap = _copy_shipped(tmp_path)
    doc = json.loads((snap / "index.json").read_text())
    doc["answers"][0][field] = value
    (snap / "index.json").write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match=rf"index\.json: answers\[0\]\.{problem}"):
        load_snapshot(snap).to_frame()


def test_an_index_that_is_a_fifo_is_refused(tmp_path):
    snap = _copy_shipped(tmp_path)
    (snap / "index.json").unlink()
    os.mkfifo(snap / "index.json")
    with pytest.raises(ManifestError, match="index.json: cannot read the snapshot index: it is a "
                       r"named pipe \(FIFO\)"):
        load_snapshot(snap)
# ---------------------------------------------------------------------- integrity and pinning


def _point_tag_at_child(snap_dir: Path, repository: str, tag: str) -> str:
    """The red team's edit: the tag of a list made to answer with one of its single-arch
    children (an image that exists in blobs/), every field and the integrity record agreeing.
    Returns the child's digest."""
    doc = json.loads((snap_dir / "index.json").read_text())
    answers = doc["answers"]
    top = next(a for a in answers if a["kind"] == "manifest" and a["repository"] == repository
               and a["reference"] == tag and a["accept"] is None)
    child = next(a for a in answers if a["kind"] == "manifest"
                 and a["repository"] == repository and a["reference"] != tag
                 and a["digest"] != top["digest"] and a["body"] is not None
                 and "manifest.v2" in a["media_type"])
    for key in ("body", "digest", "media_type", "size", "headers"):
        top[key] = child[key]
    _write_canonical(snap_dir, doc)
    return child["digest"]


def test_a_consistently_edited_snapshot_loads_unpinned_and_is_refused_pinned(corpus, tmp_path):
    refs, _ = corpus
    summary = record([str(refs["list"])], tmp_path / "snap", recorded_at=FIXED,
                     use_docker_config=False)
    root = summary.snapshot.integrity.root
    assert summary.snapshot.integrity.status == "verified" and root in summary.line()
    assert load_snapshot(f"{tmp_path / 'snap'}@{root}").integrity.pinned == root
    child = _point_tag_at_child(tmp_path / "snap", refs["list"].repository, "list")
    # Unpinned it is self-consistent, and answers the edit: what a pin is for.
    with replay_client(tmp_path / "snap") as reg:
        assert insp.inspect(refs["list"], client=reg).digest == child
    for source in (f"{tmp_path / 'snap'}@{root}", tmp_path / "snap"):
        pin = None if isinstance(source, str) else root
        with pytest.raises(SnapshotAlteredError) as err:
            load_snapshot(source, pin=pin)
        assert str(err.value) == (
            f"snapshot {tmp_path / 'snap'} altered: its root digest is "
            f"{load_snapshot(tmp_path / 'snap').integrity.root}, not the pinned {root}; use "
            "the snapshot that was recorded with that root")
    with pytest.raises(SnapshotAlteredError):
        replay_client(f"{tmp_path / 'snap'}@{root}")


def test_the_shipped_lab_snapshot_is_pinned_in_code(tmp_path, monkeypatch):
    """A copy of data/snapshots/lab edited consistently (busybox:latest made its amd64 child)
    is refused where the shipped one lives, with no pin given."""
    import shutil

    from archlab import snapshot as snapshot_module

    assert load_snapshot(SHIPPED).integrity.line() == (
        f"verified, root {LAB_SNAPSHOT_ROOT} (pinned)")
    by_name = load_snapshot(Path(f"lab@{LAB_SNAPSHOT_ROOT}"))  # as the CLI passes it
    assert by_name.integrity.pinned == LAB_SNAPSHOT_ROOT and by_name.answers
    with pytest.raises(SnapshotAlteredError, match="not the pinned sha256:1111"):
        load_snapshot(f"lab@sha256:{'1' * 64}")
    copy = tmp_path / "lab"
    shutil.copytree(SHIPPED, copy)
    _point_tag_at_child(copy, "lab/busybox", "latest")
    assert load_snapshot(copy).integrity.pinned is None  # elsewhere, nothing pins it
    monkeypatch.setattr(snapshot_module, "_shipped_lab_dir", lambda: copy)
    with pytest.raises(SnapshotAlteredError, match=f"not the pinned {LAB_SNAPSHOT_ROOT}"):
        load_snapshot(copy)
    code = main(["inspect", "127.0.0.1:5000/lab/busybox:latest", "--snapshot", str(copy)])
    assert code == 1


def test_a_version_1_snapshot_loads_unsealed_and_can_be_pinned_and_upgraded(corpus, tmp_path):
    refs, _ = corpus
    record([str(refs["list"])], tmp_path / "snap", recorded_at=FIXED, use_docker_config=False)
    doc = json.loads((tmp_path / "snap" / "index.json").read_text())
    doc["version"] = 1
    _write_canonical(tmp_path / "snap", doc, seal=False)
    (tmp_path / "snap" / "integrity.json").unlink()
    old = load_snapshot(tmp_path / "snap")
    assert old.integrity.status == "unsealed" and old.integrity.version == 1
    assert old.integrity.line().startswith("unsealed: format version 1 has no integrity record")
    root = old.integrity.root
    assert root == digests.compute((tmp_path / "snap" / "index.json").read_bytes())
    assert load_snapshot(tmp_path / "snap", pin=root).integrity.pinned == root
    new = old.write(tmp_path / "upgraded")
    again = load_snapshot(tmp_path / "upgraded", pin=new.integrity.root)
    assert again.integrity.status == "verified" and again.answers == old.answers
    doc["version"] = 3
    _write_canonical(tmp_path / "snap", doc, seal=False)
    with pytest.raises(ManifestError, match="snapshot format version 3; this archlab reads "
                                            "versions 1, 2"):
        load_snapshot(tmp_path / "snap")


def test_a_head_answer_without_verified_bytes_is_refused():
    head = replace(manifest_answer("127.0.0.1:5000", "lab/a", "v1"), body=None)
    with pytest.raises(SnapshotAlteredError, match="holds no verified bytes for it"):
        mem_snapshot(head).write("/nonexistent/never-written")


@pytest.mark.parametrize("text", ["snap@sha256:abc", "snap@sha256:" + "G" * 64])
def test_a_malformed_pin_is_one_line(text):
    with pytest.raises(ManifestError, match="must be a snapshot's root digest"):
        load_snapshot(text)


def test_include_layers_keeps_every_platforms_layers_and_replay_reads_them(corpus, tmp_path):
    refs, built = corpus
    summary = record([str(refs["list"]), str(refs["oci"])], tmp_path / "snap",
                     recorded_at=FIXED, include_layers=True, use_docker_config=False)
    assert summary.failed == () and summary.skipped == ()
    layers = {layer.digest for b in (built["list"], built["oci"])
              for image in getattr(b, "images", [b]) for layer in image.layers}
    assert len(layers) >= 3  # one per platform: not a vacuous check
    snap = load_snapshot(tmp_path / "snap")
    kept = {a.digest for a in snap.answers if a.kind == "blob"}
    assert layers <= kept
    with replay_client(tmp_path / "snap") as reg:
        facts = gather_facts_sync(refs["list"], reg, layers=True)
        assert all("etc/hello" in names for names in facts.files.values())
        assert len(facts.files) == 3
        for image in built["list"].images:
            layer = image.layers[0]
            assert reg.get_blob(refs["list"], layer.digest, max_bytes=1 << 20,
                                expected_size=layer.size) == layer.data
    # Without the option no layer is kept, and a replay says so instead of answering.
    record([str(refs["list"])], tmp_path / "plain", recorded_at=FIXED,
           use_docker_config=False)
    with replay_client(tmp_path / "plain") as reg, pytest.raises(
            NotFoundError, match="not in snapshot"):
        gather_facts_sync(refs["list"], reg, layers=True)


def _push_with_credentials(lab, tmp_path) -> str:
    ref = parse_reference(f"{lab.host}/t/secret:v1")
    creds = {lab.host: Credentials(username=LAB_USER, password=LAB_PASSWORD)}
    with client(tmp_path, cache=False, tag_index=False, credentials=creds) as reg:
        reg.run(lambda aio: push_image(aio, ref, IMG_A))
    return str(ref)


@pytest.mark.parametrize("which", ["token_registry", "htpasswd_registry"])
def test_no_credentials_or_tokens_are_ever_written(request, tmp_path, which):
    lab = request.getfixturevalue(which)
    ref = _push_with_credentials(lab, tmp_path)
    creds = {lab.host: Credentials(username=LAB_USER, password=LAB_PASSWORD)}
    summary = record([ref], tmp_path / "snap", recorded_at=FIXED, credentials=creds,
                     use_docker_config=False, tags=True)
    assert summary.failed == () and len(summary.snapshot.answers) >= 3  # really recorded
    secrets = [LAB_PASSWORD, base64.b64encode(f"{LAB_USER}:{LAB_PASSWORD}".encode()).decode(),
               "Authorization", "authorization", "Bearer", "bearer", "Basic ", "eyJ",
               "www-authenticate", "cookie"]
    if lab.issuer is not None:
        tokens = [t.token for t in lab.issuer.issued]
        assert tokens, "the token registry handed out no token: the test would be vacuous"
        secrets += tokens
    for name, content in files_of(tmp_path / "snap").items():
        text = content.decode("latin-1")
        for secret in secrets:
            assert secret not in text, f"{secret!r} found in {name}"
    with replay_client(tmp_path / "snap") as reg:  # and it replays without any auth
        assert insp.inspect(ref, client=reg).kind == "single"
        assert reg.list_tags(ref) == ["v1"]


def test_replay_client_refuses_a_missing_snapshot(tmp_path):
    with pytest.raises(NotFoundError, match=r"no snapshot at .*index\.json is missing"):
        replay_client(tmp_path / "nothing")


# ---------------------------------------------------------------------- command line


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(tmp_path / "clicache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))


def test_cli_record_and_show(corpus, tmp_path, capsys, cli_env):
    refs, built = corpus
    out = tmp_path / "snap"
    code = main(["snapshot", "record", str(refs["list"]), str(refs["oci"]), "--out", str(out),
                 "--fixed-time", FIXED])
    stdout = capsys.readouterr().out
    assert code == 0
    assert f"{refs['list']}  list" in stdout
    assert "linux/amd64, linux/arm64/v8, linux/arm/v7" in stdout
    assert f"recorded at {FIXED}" in stdout
    code = main(["snapshot", "show", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert f"(recorded on {FIXED})" in stdout
    repo = f"{refs['list'].registry}/{refs['list'].repository}"
    assert any(line.split()[:3] == ["manifest", repo, "list"] for line in stdout.splitlines())
    assert f"@{digests.short(built['list'].images[1].manifest.digest)}" in stdout


def test_cli_record_reports_failures_and_still_writes(corpus, tmp_path, capsys, cli_env):
    refs, _ = corpus
    out = tmp_path / "snap"
    code = main(["snapshot", "record", str(refs["list"].with_tag("nope")), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert "1 of 1 references failed" in captured.err
    assert (out / "index.json").is_file()


@pytest.mark.parametrize(("argv", "message"), [
    (["snapshot", "show", "{tmp}/missing"], "no snapshot at"),
    (["snapshot", "record", "x:1", "--out", "{tmp}/o", "--fixed-time", "soon"],
     "invalid time 'soon'"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, cli_env, argv, message):
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("archlab: ") and message in err and err.count("\n") == 1


# ---------------------------------------------------------------------- the shipped lab snapshot

SHIPPED = ROOT / "data" / "snapshots" / "lab"


def test_shipped_lab_snapshot_replays_every_scenario():
    from archlab.lab.scenarios import build_all

    snap = load_snapshot(SHIPPED)
    assert snap.hosts == (LAB_HOST,)
    scenarios = build_all()
    assert len(snap.refs) == len(scenarios)
    with replay_client(snap) as reg:
        for s in scenarios:
            ref = s.ref("127.0.0.1:49152")  # any lab port
            got = insp.inspect(ref, client=reg, configs="all")
            assert got.digest == s.digest, s.reference
            # lab/wasm's entry names wasi/wasm, which is no CPU: inspect never counts it
            cpus = tuple(t for t in s.platform_texts if not t.startswith("wasi/"))
            assert tuple(str(p) for p in got.platforms) == cpus, s.reference
            facts = gather_facts_sync(ref, reg, attestations=True)  # recorded with them
            built = facts_from_built(ref, s.built)
            assert set(facts.children) == set(built.children), s.reference
            assert set(facts.configs) == set(built.configs), s.reference
            assert {i.config.digest for i in s.images} <= set(facts.configs)


def test_shipped_lab_snapshot_is_a_fresh_recording(registry_binary, tmp_path):
    tool = _tool()
    tool.record_lab(tmp_path / "lab")
    differ = tool.same_tree(SHIPPED, tmp_path / "lab")
    assert differ == [], (f"data/snapshots/lab is stale ({differ[:3]}): run "
                          ".venv/bin/python tools/record_lab_snapshot.py")


def test_shipped_format_doc_exists_and_names_every_answer_field():
    doc = (ROOT / "data" / "snapshots" / "FORMAT.md").read_text()
    fields = json.loads((SHIPPED / "index.json").read_text())["answers"][0].keys()
    for name in fields:
        assert f"`{name}`" in doc, name
