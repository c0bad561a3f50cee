"""archlab verify: three witnesses per entry, read from layers streamed top-down.

Unit rows run on layers built in memory (real tar/gzip/zstd bytes, real ELF headers: the lab's
hello binaries and this machine's own /bin/ls); the registry rows push real images to the real
``docker-registry`` and read its access log to count the bytes that left it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from backports import zstd

from archlab import elf, limits, manifests
from archlab.digests import compute
from archlab.errors import DigestMismatchError, LayerError
from archlab.lab import scenarios
from archlab.lab.images import Blob
from archlab.lab.instance import push_scenarios
from archlab.manifests import parse_config
from archlab.platforms import Platform
from archlab.registry import RegistryClient
from archlab.rootfs import LayerSource, LazyRootfs
from archlab.verify import (
    BINARY_DISAGREES,
    CONSISTENT,
    LIST_CONFIG_DISAGREE,
    MISSING_LOADER,
    NOT_AN_EXECUTABLE,
    NOT_AN_IMAGE,
    NOT_FOUND,
    find_launch,
    judge,
    to_frame,
    verify,
)

try:
    from tarbombs import END, KINDS, Zeros, bomb, gzip_parts, header
except ImportError:
    from tests.tarbombs import END, KINDS, Zeros, bomb, gzip_parts, header

HELLO_AMD64 = elf.hello_binary("linux/amd64")
HELLO_ARM64 = elf.hello_binary("linux/arm64")


def tar_of(members: list[tuple]) -> bytes:
    """(name, data) files (0755), (name, '->', target) symlinks, (name, 'dir') dirs, in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for m in members:
            info = tarfile.TarInfo(m[0])
            if len(m) == 3 and m[1] == "->":
                info.type, info.linkname = tarfile.SYMTYPE, m[2]
                t.addfile(info)
            elif m[1] == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            else:
                info.size, info.mode = len(m[1]), (m[2] if len(m) == 3 else 0o755)
                t.addfile(info, io.BytesIO(m[1]))
    return buf.getvalue()


def source(blob: bytes, chunk: int = 4096) -> LayerSource:
    return LayerSource(compute(blob), len(blob),
                       lambda: iter([blob[i:i + chunk] for i in range(0, len(blob), chunk)]))


def config(entrypoint=None, cmd=None, env=("PATH=/usr/local/bin:/usr/bin:/bin",), arch="amd64",
           variant="", workdir=""):
    doc = {"architecture": arch, "os": "linux", "config": {"Env": list(env)}}
    if variant:
        doc["variant"] = variant
    if entrypoint:
        doc["config"]["Entrypoint"] = entrypoint
    if cmd:
        doc["config"]["Cmd"] = cmd
    if workdir:
        doc["config"]["WorkingDir"] = workdir
    return parse_config(json.dumps(doc).encode())


def launch(layers: list[bytes], cfg):
    with LazyRootfs([source(b) for b in layers]) as fs:
        return find_launch(fs, cfg), fs.reads()


# ------------------------------------------------------------------------------ the merged rootfs

def test_path_lookup_follows_symlinks_across_layers_top_down() -> None:
    lower = gzip.compress(tar_of([("bin", "dir"), ("bin/busybox", HELLO_ARM64)]))
    upper = gzip.compress(tar_of([("usr/bin/sh", "->", "/bin/busybox")]))
    got, reads = launch([lower, upper], config(cmd=["sh"]))
    assert got.executable == "/bin/busybox"
    assert got.steps == ("sh -> /usr/bin/sh (PATH)", "/usr/bin/sh -> /bin/busybox")
    assert got.identity.platform_guess == "linux/arm64"
    assert [r.status for r in reads] == ["whole", "whole"]


def test_the_top_layer_answers_and_the_lower_one_is_never_opened() -> None:
    lower = gzip.compress(tar_of([("bin/hello", HELLO_ARM64)]))
    upper = gzip.compress(tar_of([("bin/hello", HELLO_AMD64), ("big", os.urandom(200_000))]))
    got, reads = launch([lower, upper], config(entrypoint=["/bin/hello"]))
    assert got.identity.platform_guess == "linux/amd64"  # the upper layer wins
    assert reads[0].status == "not read" and reads[0].bytes_read == 0
    assert reads[1].status == "partial" and reads[1].bytes_read < len(upper) / 4


def test_whiteout_and_opaque_directory_hide_lower_files() -> None:
    lower = tar_of([("bin/hello", HELLO_AMD64), ("opt/tool", HELLO_AMD64)])
    upper = tar_of([("bin/.wh.hello", b"", 0o644), ("opt/.wh..wh..opq", b"", 0o644)])
    for path in ("/bin/hello", "/opt/tool"):
        got, _ = launch([lower, upper], config(entrypoint=[path]))
        assert got.failure == (NOT_FOUND, f"{path} is not in the image")


def test_symlink_loop_is_refused_with_archlabs_error() -> None:
    layer = tar_of([("bin/a", "->", "b"), ("bin/b", "->", "a")])
    with pytest.raises(LayerError, match=r"more than 16 symbolic links in the image \(a loop"):
        launch([layer], config(entrypoint=["/bin/a"]))


def test_script_interpreter_is_what_is_checked_and_crlf_is_not_found() -> None:
    layer = tar_of([("bin/sh", HELLO_ARM64), ("run.sh", b"#!/bin/sh\nexec x\n"),
                    ("crlf.sh", b"#!/bin/sh\r\nexec x\r\n")])
    got, _ = launch([layer], config(entrypoint=["/run.sh"], arch="arm64"))
    assert got.identity.platform_guess == "linux/arm64"
    assert got.steps == ("/run.sh: #!/bin/sh",)
    bad, _ = launch([layer], config(entrypoint=["/crlf.sh"], arch="arm64"))
    assert bad.failure[0] == NOT_FOUND and "/bin/sh\r" in bad.failure[1]


def test_dynamic_binary_with_and_without_its_loader() -> None:
    ls = Path("/bin/ls").read_bytes()[:limits.EXEC_HEAD_BYTES]
    loader = elf.read_identity(ls).program_interpreter
    assert loader, "this machine's /bin/ls is dynamically linked"
    without = tar_of([("bin/ls", ls)])
    got, _ = launch([without], config(entrypoint=["/bin/ls"], arch="amd64"))
    verdict, why = judge(None, Platform("linux", "amd64"), got)
    assert verdict == MISSING_LOADER and loader in why
    with_loader = tar_of([("bin/ls", ls), (loader.lstrip("/"), b"\x7fELF", 0o755)])
    got, _ = launch([with_loader], config(entrypoint=["/bin/ls"], arch="amd64"))
    assert judge(None, Platform("linux", "amd64"), got)[0] == CONSISTENT


@pytest.mark.parametrize(("members", "entry", "verdict"), [
    ([("bin/hello", HELLO_AMD64, 0o644)], ["/bin/hello"], NOT_AN_EXECUTABLE),  # no x bit
    ([("bin", "dir")], ["/bin"], NOT_AN_EXECUTABLE),
    ([("bin/data", b"MZ not elf")], ["/bin/data"], NOT_AN_EXECUTABLE),
    ([("bin/hello", HELLO_AMD64)], ["hello-missing"], NOT_FOUND),
    ([("bin/hello", HELLO_AMD64)], None, NOT_FOUND),  # no command at all
])
def test_launch_failures(members, entry, verdict) -> None:
    got, _ = launch([tar_of(members)], config(entrypoint=entry))
    assert got.failure[0] == verdict


@pytest.mark.parametrize(("declared", "cfg", "binary", "verdict"), [
    ("linux/arm64/v8", "linux/arm64/v8", "linux/amd64", BINARY_DISAGREES),
    ("linux/arm64", "linux/amd64", "linux/amd64", LIST_CONFIG_DISAGREE),
    ("linux/arm64", "linux/amd64", "linux/arm64", LIST_CONFIG_DISAGREE),
    ("linux/arm64", "linux/amd64", "linux/s390x", BINARY_DISAGREES),
    (None, "linux/arm64", "linux/amd64", BINARY_DISAGREES),
    ("linux/arm/v7", "linux/arm/v7", "linux/arm/v5", BINARY_DISAGREES),  # soft-float in v7
    ("linux/arm/v6", "linux/arm/v6", "linux/arm/v7", CONSISTENT),  # both hard-float
    ("linux/arm64/v8", "linux/arm64", "linux/arm64", CONSISTENT),
])
def test_verdict_table(declared, cfg, binary, verdict) -> None:
    def plat(text):
        return None if text is None else Platform(*text.split("/"))

    layer = tar_of([("bin/hello", elf.hello_binary(binary))])
    got, _ = launch([layer], config(entrypoint=["/bin/hello"]))
    assert judge(plat(declared), plat(cfg), got)[0] == verdict


@pytest.mark.parametrize("compress", [gzip.compress, zstd.compress, lambda b: b],
                         ids=["gzip", "zstd", "tar"])
def test_every_layer_compression_stops_early(compress) -> None:
    layer = compress(tar_of([("bin/hello", HELLO_AMD64), ("pad", os.urandom(500_000))]))
    got, reads = launch([layer], config(entrypoint=["/bin/hello"]))
    assert got.identity.platform_guess == "linux/amd64"
    assert reads[0].status == "partial" and reads[0].bytes_read < 64 * 1024


def test_a_layer_read_to_its_end_is_digest_checked() -> None:
    layer = gzip.compress(tar_of([("bin/other", HELLO_AMD64)]))
    tampered = LayerSource("sha256:" + "0" * 64, len(layer), lambda: iter([layer]))
    with pytest.raises(DigestMismatchError, match="its bytes hash to"), \
            LazyRootfs([tampered]) as fs:
        fs.resolve("/bin/hello")


@pytest.mark.parametrize("kind", ["member-2GiB", "unpacked-300MiB-in-small-members",
                                  "pax-header-1GiB", "gnu-sparse"])
def test_hostile_layers_are_refused(kind) -> None:
    with pytest.raises(LayerError, match=re.escape(KINDS[kind])):
        launch([bomb(kind)], config(entrypoint=["/bin/hello"]))


def test_traversal_names_are_refused_and_absolute_links_stay_inside() -> None:
    evil = gzip_parts([header(b"../../etc/hello", 4), b"evil", bytes(508), END])
    with pytest.raises(LayerError, match="climbs out of the layer"):
        launch([evil], config(entrypoint=["/etc/hello"]))
    inside = tar_of([("bin/hello", "->", "/../../../etc/passwd")])
    got, _ = launch([inside], config(entrypoint=["/bin/hello"]))
    assert got.failure[0] == NOT_FOUND  # /etc/passwd of the image, which has none


def test_a_huge_zero_member_after_the_binary_is_never_unpacked() -> None:
    layer = gzip_parts([header(b"bin/hello", len(HELLO_AMD64), mode=0o755), HELLO_AMD64,
                        bytes(-len(HELLO_AMD64) % 512), header(b"zeros", 1 << 30),
                        Zeros(1 << 30), END])
    got, reads = launch([layer], config(entrypoint=["/bin/hello"]))
    assert got.identity.platform_guess == "linux/amd64"
    assert reads[0].unpacked_bytes < 1 << 20


# ------------------------------------------------------------------------------ the lab registry

@pytest.fixture(scope="module")
def lab_host(registry) -> str:
    push_scenarios(registry.host, scenarios.build_all())
    return registry.host


@pytest.fixture
def reg():
    with RegistryClient(cache=False, tag_index=False, use_docker_config=False) as client:
        yield client


def test_every_lab_scenario_is_consistent_but_mislabelled(lab_host, reg) -> None:
    """Only lab/mislabelled's binary disagrees; what is not an image is named, not judged."""
    for s in scenarios.build_all():
        v = verify(s.ref(lab_host), client=reg)
        images = [c for c in v.checks if c.entry_kind == "image"]
        linux = [i for i in s.images if i.platform is not None and i.platform.os == "linux"]
        assert len(images) == len(linux), s.reference
        others = [c for c in v.checks if c.entry_kind != "image"]
        assert {c.verdict for c in others} <= {NOT_AN_IMAGE}, s.reference
        assert bool(others) == (s.name in scenarios.ARTIFACT_NAMES or bool(s.attestations))
        if s.name != "mislabelled":
            assert {c.verdict for c in images} <= {CONSISTENT}, s.reference
            assert v.ok
            continue
        by_platform = {str(c.declared): c for c in images}
        arm = by_platform["linux/arm64/v8"]
        assert arm.verdict == BINARY_DISAGREES
        assert (str(arm.config), arm.binary_platform, arm.binary.machine) == (
            "linux/arm64/v8", "linux/amd64", 62)
        assert by_platform["linux/amd64"].verdict == CONSISTENT
        assert not v.ok and v.disagrees


@pytest.mark.parametrize(("name", "kinds"), [
    ("signed", ["signature"]), ("referrers", ["sbom", "attestation"]), ("helm", ["helm chart"]),
    ("wasm", ["wasm"]), ("mixed", ["image", "helm chart"]), ("artifact", ["unknown artifact"]),
])
@pytest.mark.parametrize("oci", [False, True], ids=["docker", "oci"])
def test_artifact_scenarios_are_not_images(lab_host, reg, name, kinds, oci) -> None:
    v = verify(scenarios.get(name, oci=oci).ref(lab_host), client=reg)
    assert [c.entry_kind for c in v.checks] == kinds
    assert [c.verdict for c in v.checks] == [
        CONSISTENT if k == "image" else NOT_AN_IMAGE for k in kinds]
    assert v.ok  # an artifact is not a disagreement: CI gates pass
    for c in v.checks:
        if c.entry_kind != "image":
            assert c.layers == () and c.bytes_read == 0  # nothing of it is downloaded


def test_attestations_are_named_not_run(lab_host, reg) -> None:
    v = verify(scenarios.get("redis", oci=True).ref(lab_host), client=reg)
    kinds = [c.entry_kind for c in v.checks]
    assert kinds.count("attestation") == 7 and kinds.count("image") == 7
    assert {c.verdict for c in v.checks if c.entry_kind == "attestation"} == {NOT_AN_IMAGE}


def test_platform_selects_one_entry_as_docker_20_10(lab_host, reg) -> None:
    v = verify(scenarios.get("mislabelled").ref(lab_host), client=reg, platform="linux/arm64")
    assert [c.verdict for c in v.checks] == [BINARY_DISAGREES]
    frame = to_frame([v])
    assert frame.loc[0, ["list_platform", "config_platform", "binary_platform"]].tolist() == [
        "linux/arm64/v8", "linux/arm64/v8", "linux/amd64"]


def _cli(*args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "archlab", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=120)


def test_cli_exit_codes_and_json(lab_host, tmp_path) -> None:
    bad = _cli("verify", scenarios.get("mislabelled").ref(lab_host), "--no-cache")
    assert bad.returncode == 3, bad.stderr
    assert "binary disagrees" in bad.stdout and "linux/amd64" in bad.stdout
    good = _cli("verify", scenarios.get("busybox").ref(lab_host), "--no-cache", "--json")
    assert good.returncode == 0, good.stderr
    doc = json.loads(good.stdout)
    assert doc["ok"] is True and len(doc["entries"]) == len(scenarios.busybox_platforms())
    none = _cli("verify", scenarios.get("mysql").ref(lab_host), "--platform", "linux/arm64")
    assert none.returncode == 1
    assert none.stderr == "no matching manifest for linux/arm64 in the manifest list entries\n"
    assert "exit status:" in _cli("verify", "--help").stdout


# ---------------------------------------------------------------------- offline: --snapshot lab

def test_the_shipped_lab_verifies_offline_as_the_live_lab_does() -> None:
    """The shipped snapshot holds no layers; archlab.lab.offline rebuilds them, so issue 11's
    "done when" holds with no registry: only lab/mislabelled's binary disagrees, and what is
    not an image is named, not judged."""
    from archlab.lab.offline import lab_snapshot
    from archlab.snapshot import LAB_HOST, replay_client

    with replay_client(lab_snapshot()) as reg:
        for s in scenarios.build_all():
            v = verify(s.ref(LAB_HOST), client=reg)
            images = [c for c in v.checks if c.entry_kind == "image"]
            others = [c for c in v.checks if c.entry_kind != "image"]
            wrong = {BINARY_DISAGREES} if s.name == "mislabelled" else set()
            assert {c.verdict for c in images} - {CONSISTENT} == wrong, s.reference
            assert {c.verdict for c in others} <= {NOT_AN_IMAGE}, s.reference
            assert bool(others) == (s.name in scenarios.ARTIFACT_NAMES or bool(s.attestations))
            assert all(r.status == "whole" for c in images for r in c.layers)


def test_cli_verify_snapshot_lab_needs_no_network() -> None:
    """Port 1 never has a registry: any request that left the process would fail."""
    bad = _cli("verify", "127.0.0.1:1/lab/mislabelled", "--snapshot", "lab")
    assert bad.returncode == 3, bad.stderr
    assert "binary disagrees" in bad.stdout and "1 of 1 layer opened" in bad.stdout
    from archlab.snapshot import LAB_SNAPSHOT_ROOT

    pinned = _cli("verify", "127.0.0.1:1/lab/mixed-oci", "--snapshot",
                  f"lab@{LAB_SNAPSHOT_ROOT}", "--json")
    assert pinned.returncode == 0, pinned.stderr
    doc = json.loads(pinned.stdout)
    assert [(e["entry_kind"], e["verdict"]) for e in doc["entries"]] == [
        ("image", CONSISTENT), ("helm chart", NOT_AN_IMAGE)]


def test_rebuilt_layers_are_exactly_what_the_recorded_manifests_name(tmp_path) -> None:
    """Every layer a recorded lab manifest names is served, under its repository, with bytes
    that hash to it; and only the shipped snapshot gets them: a copy stays as recorded."""
    import shutil

    from archlab.lab.offline import lab_snapshot, load_with_lab_layers
    from archlab.snapshot import load_snapshot

    snap = lab_snapshot()
    served = {(a.repository, a.reference) for a in snap.answers if a.kind == "blob"}
    named = set()
    for a in snap.answers:
        if a.kind != "manifest" or a.body is None:
            continue
        doc = manifests.parse_manifest(snap.blobs[a.body], a.media_type)
        if isinstance(doc, manifests.ImageManifest):
            named.update((a.repository, d.digest) for d in doc.layers)
    assert named and named <= served
    assert all(compute(snap.blobs[d]) == d for _, d in named)
    bare = load_snapshot(lab_snapshot(layers=False).source)
    assert not any(a.kind == "blob" and (a.repository, a.reference) in named
                   for a in bare.answers)  # the recording itself holds no layer
    copy = tmp_path / "lab"
    shutil.copytree(bare.source, copy)
    assert load_with_lab_layers(copy).answers == load_snapshot(copy).answers


# ------------------------------------------------------------------------------ bytes on the wire

_SIZE = re.compile(r'"GET (?P<path>\S+) [^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-)')


def _push(client: RegistryClient, ref: str, layers: list[Blob], cfg: dict) -> str:
    cfg_blob = json.dumps(cfg).encode()
    for data in [b.data for b in layers] + [cfg_blob]:
        client.push_blob(ref, data)
    doc = {"schemaVersion": 2, "mediaType": manifests.OCI_MANIFEST,
           "config": {"mediaType": manifests.OCI_CONFIG, "digest": compute(cfg_blob),
                      "size": len(cfg_blob)},
           "layers": [b.descriptor() for b in layers]}
    return client.push_manifest(ref, json.dumps(doc).encode(), manifests.OCI_MANIFEST)


@pytest.mark.parametrize(("media_type", "compress"), [
    (manifests.OCI_LAYER_GZIP, gzip.compress),
    ("application/vnd.oci.image.layer.v1.tar+zstd", zstd.compress),
    (manifests.OCI_LAYER_TAR, lambda b: b),
], ids=["gzip", "zstd", "tar"])
def test_verify_reads_only_the_layers_and_bytes_it_needs(registry, repo_name, reg, media_type,
                                                         compress) -> None:
    """Three layers of noise; the binary is the top layer's first file. The registry's access
    log shows one blob GET (the top layer's), cut short. The top layer's 32 MiB is well above
    what loopback socket buffers take in before the client closes (several MiB under load)."""
    lower = Blob(media_type, compress(tar_of([("bin/hello", HELLO_ARM64),
                                              ("noise", os.urandom(1 << 20))])))
    middle = Blob(media_type, compress(tar_of([("usr/noise", os.urandom(1 << 20))])))
    top = Blob(media_type, compress(tar_of([("bin/hello", HELLO_AMD64),
                                            ("noise", os.urandom(32 << 20))])))
    ref = f"{registry.host}/{repo_name}:v1"
    cfg = {"architecture": "arm64", "os": "linux", "config": {"Entrypoint": ["/bin/hello"]},
           "rootfs": {"type": "layers", "diff_ids": []}}
    _push(reg, ref, [lower, middle, top], cfg)
    mark = registry.server.log_mark()
    v = verify(ref, client=reg)
    deadline = time.monotonic() + 10
    while True:  # an aborted GET is logged once the registry's write has failed: wait for it
        registry.server.requests_since(mark)  # a barrier: every finished request is logged
        text = registry.server.log_path.read_bytes()[mark:].decode(errors="replace")
        blobs = {m["path"].rsplit("/", 1)[1]: int(m["bytes"]) for m in _SIZE.finditer(text)
                 if "/blobs/" in m["path"] and m["bytes"] != "-"}
        if top.digest in blobs or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    [check] = v.checks
    assert check.verdict == BINARY_DISAGREES  # config arm64, the top layer's binary amd64
    config_digest = compute(json.dumps(cfg).encode())
    assert set(blobs) == {top.digest, config_digest}  # lower and middle: never requested
    assert blobs[top.digest] < top.size // 2, blobs  # the rest never left the registry
    reads = check.layers
    assert [r.status for r in reads] == ["not read", "not read", "partial"]
    assert check.partial and reads[2].bytes_read < top.size // 2
    assert to_frame([v]).loc[0, "partial"]


@pytest.mark.parametrize("kind", ["member-2GiB", "pax-header-1GiB"])
def test_hostile_layer_from_the_registry_is_refused_and_nothing_is_written(
        registry, repo_name, tmp_path, kind) -> None:
    layer = Blob(manifests.OCI_LAYER_GZIP, bomb(kind))
    ref = f"{registry.host}/{repo_name}:bomb"
    with RegistryClient(cache=False, tag_index=False, use_docker_config=False) as client:
        _push(client, ref, [layer], {"architecture": "amd64", "os": "linux",
                                     "config": {"Entrypoint": ["/bin/hello"]}})
    work, cache = tmp_path / "cwd", tmp_path / "cache"
    work.mkdir()
    cache.mkdir()
    run = _cli("verify", ref, cwd=work, env={"ARCHLAB_CACHE_DIR": str(cache)})
    assert run.returncode == 1
    assert run.stderr.startswith("archlab: ") and KINDS[kind] in run.stderr
    assert run.stderr.count("\n") == 1
    assert list(work.iterdir()) == []
    assert [p.name for p in cache.rglob("*") if p.is_file() and "blobs" in str(p)
            and p.stat().st_size > 1 << 20] == []  # no layer was cached


def test_survey_verify_adds_the_verdict_and_never_counts_artifacts(lab_host) -> None:
    from archlab.survey import survey

    refs = [scenarios.get("mislabelled").ref(lab_host), scenarios.get("redis", oci=True).ref(
        lab_host)]
    with RegistryClient(cache=False, tag_index=False, use_docker_config=False) as client:
        result = survey(refs, ["linux/arm64", "unknown/unknown"], client=client, progress=False,
                        check_rate_limit=False, verify=True)
    frame = result.frame
    mis = frame[frame["input"] == refs[0]].set_index("platform")
    assert mis.loc["linux/arm64/v8", "verdict"] == BINARY_DISAGREES
    assert mis.loc["linux/amd64", "verdict"] == CONSISTENT
    redis = frame[frame["input"] == refs[1]]
    assert set(redis[redis["is_attestation"]]["entry_kind"]) == {"attestation"}
    assert set(redis[redis["is_attestation"]]["verdict"]) == {NOT_AN_IMAGE}
    assert not result.coverage.loc[refs[1], "unknown/unknown"]  # an attestation is no platform


def test_a_layer_cut_short_mid_read_is_one_error_and_never_read_twice(registry, repo_name,
                                                                        reg) -> None:
    """A retry would hand the reader the layer's first bytes a second time: once the blob's
    answer has arrived, a lost connection is archlab's error, not another attempt."""
    try:
        from faultproxy import FaultProxy
    except ImportError:
        from tests.faultproxy import FaultProxy

    layer = Blob(manifests.OCI_LAYER_GZIP, gzip.compress(tar_of(
        [("noise", os.urandom(4 << 20)), ("bin/hello", HELLO_AMD64)])))
    ref = f"{registry.host}/{repo_name}:cut"
    _push(reg, ref, [layer], {"architecture": "amd64", "os": "linux",
                              "config": {"Entrypoint": ["/bin/hello"]}})
    with FaultProxy(registry.url) as proxy, RegistryClient(
            cache=False, tag_index=False, use_docker_config=False) as client:
        proxy.add(method="GET", path_contains=f"/blobs/{layer.digest}", truncate=64 << 10)
        with pytest.raises(Exception) as err:
            verify(f"{proxy.host}/{repo_name}:cut", client=client)
    assert type(err.value).__name__ == "BadResponseError", err.value
    assert str(err.value).startswith(
        f"{proxy.host}/{repo_name}@{layer.digest}: the layer stopped arriving")
    assert proxy.count("GET", f"/blobs/{layer.digest}") == 1
