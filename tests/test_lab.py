"""The lab: reproducible scenario images, `archlab lab up | status | down`, running from a layer.

Registry-backed tests start real ``docker-registry`` processes (through the ``registry_binary``
fixture, so they skip or fail like the others when it is missing). Every state file and storage
directory lives under ``tmp_path``; every registry started here is stopped by its PID.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from archlab import cli, elf, manifests
from archlab.errors import LabError, NoMatchingManifestError
from archlab.lab import instance, scenarios
from archlab.lab.images import portable_gzip
from archlab.lab.run import run_from_registry
from archlab.lab.scenarios import build_all, get
from archlab.lab.server import LoggedRequest, find_free_port, parse_access_log
from archlab.platforms import Platform

# Generated once, then checked in two fresh processes (test below). A change here means every
# lab image changed: do it on purpose, and say why in the commit.
PINNED = {
    "lab/busybox:latest":
        "sha256:7d4a16cc2cd63fb075cd9ab33cb9f20eaff46ca66d91ea219ebd1daf7c8c3caa",
    "lab/golang:latest":
        "sha256:55fc466f26bf65eb7a592524e2871e325c575f46aae0ba4a23428e3717feef05",
    "lab/mysql:5.7":
        "sha256:f8b3ddd09165cb094e9e1ce8275dd1dba52cb6ad237dd5688d59d28532f68fb7",
    "lab/mariadb:latest":
        "sha256:25094259d7fb4dbbf9b9fc1b20e29ba9236f2328056afcf1043a292b4892edec",
    "lab/redis:4-alpine":
        "sha256:702d9d2a06ee08afaa26729da5733af508ec5269cb5f9460f699dffdaaf5fd88",
    "lab/ruby:latest":
        "sha256:68f3a69ded0e48b65518bc39cab73336284c9868468062caef279545c438c56e",
    "lab/middleware:latest":
        "sha256:2c6a2f8b1699d3fddfaf7f44fd8e3c0140555e9362dc667a1b8dd5066e5cd81a",
    "lab/armonly:latest":
        "sha256:49e6ad84f76da230571d561eb8572eb3e817f6025472ab0719a27b2ff77ae08b",
    "lab/mislabelled:latest":
        "sha256:083e2e8ca8c8a33d81bfc68a9099f70557fca2b623e79fbc1f0534788ee4bf01",
    "lab/signed:sha256-bf90c991a2b212e218a92deef5073044c2daa471646923719de67529eeefdbec.sig":
        "sha256:96878f106053fbe8579c0729eaf11a0ba545d15e8c3eb54a5f18e3793c3e14bd",
    "lab/referrers:sha256-12e9c3f97b7b3d9b3aeb3d4c35ecfd1c6efc5162e55b81f6618f5291475b5261":
        "sha256:55b3f4e079c2590d69704ef1bc5b7d247acf33077e411b58e63149ff8cd16bb0",
    "lab/helm:0.1.0":
        "sha256:088c3d32041f8ab5ddd1c253b97374ad99ee7bc053cc24e1fb61dcbd0a20ec16",
    "lab/wasm:latest":
        "sha256:2fcf9d5766b165488eadd8a1c75cedc81e4c75bb9622191fe559dab61d1b9041",
    "lab/mixed:latest":
        "sha256:78f077d6165e3402745ddc40dd585eecea28382efde4fc69a644a7daab500a1c",
    "lab/artifact:latest":
        "sha256:24470d93f2b6b9a8549a5b6d8d04cd5aa031fb90ac97abae23ca5cae7141b2c7",
    "lab/busybox-oci:latest":
        "sha256:6b3ad6dbb3bce0b5eb05138c159d798698e3d7372d87647802affd55919b88a1",
    "lab/golang-oci:latest":
        "sha256:d0bf9a03ba5547a23c20193845a2de29e07d1173d9941095484bded8f797d713",
    "lab/mysql-oci:5.7":
        "sha256:aa5cd40c2ffb4da7a617834cbbcbc3bee7ec28e1dbfcb08e84f7202825068c5b",
    "lab/mariadb-oci:latest":
        "sha256:21807499825405a17ad79f2af53af48f1f843f11fc9f066b86b2457307620d4d",
    "lab/redis-oci:4-alpine":
        "sha256:bd3df7a55c29a04bfca23b2413dc99efa86a43e20d5fb4a70b80cf0b9012aba7",
    "lab/ruby-oci:latest":
        "sha256:677d4166a3d1ac2e18b59f3d9953cee8f0442dc2367abe83e2e4ad46e4d67334",
    "lab/middleware-oci:latest":
        "sha256:aee956d5451f98bb57f917a458f7a45d5433f7a447adb85614808f2ae230faa1",
    "lab/armonly-oci:latest":
        "sha256:80e62a029fddaeb36f6e906d124f2276f18a12ca4848b37a748a256ae52fa551",
    "lab/mislabelled-oci:latest":
        "sha256:2788398fdc8d9e04a3d31914dff42f57ff394d4dcdcdb01edaf144adc97a1046",
    "lab/signed-oci:sha256-c0149b8c22eeb1215844d40edd3535b79960c543373ab133b633aa573194f341.sig":
        "sha256:f9e7043231fb48f2a51600d1934065b7197236fffcfb66177f992b8efa5631f8",
    "lab/referrers-oci:sha256-11b01baefcaa309c65ef140fdaa4b5aa9fed38ef522b1a0663a984ff78a5bd8a":
        "sha256:e126d539c3e40fc7c402b3e228ca69b3943d43c63c5fa2e611e08abdf7c7160f",
    "lab/helm-oci:0.1.0":
        "sha256:da06a5e75caf77a063f577776cdaaa9ef6409d7700e42adba9ac650e1cd0dbed",
    "lab/wasm-oci:latest":
        "sha256:240a12e7e632ca061668f240c63a9ff988833d4e8b954cedbbb15aa414fa167b",
    "lab/mixed-oci:latest":
        "sha256:b20dc3df205a484174b3bb7a95a9ea1819572e0b8c14fd5675d17d47673431f7",
    "lab/artifact-oci:latest":
        "sha256:2f0d6a0151940fa6c47bd9982d04a8e80603ba760aaa012f22dcfc55d16ec61e",
}

BUSYBOX = ["linux/amd64", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8",
           "linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/mips64le"]
ALPINE = ["linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8", "linux/386",
          "linux/ppc64le", "linux/s390x"]
DEBIAN = ["linux/amd64", "linux/arm/v5", "linux/arm/v7", "linux/arm64/v8", "linux/386",
          "linux/mips64le", "linux/ppc64le", "linux/s390x"]

# name, tag, Docker twin's kind, OCI twin's kind, claimed platforms (list order)
SHAPES = [
    ("busybox", "latest", "multi-arch list", "multi-arch index", BUSYBOX),
    ("golang", "latest", "single-arch", "single-arch", ["linux/amd64"]),
    ("mysql", "5.7", "amd64-only list", "amd64-only index", ["linux/amd64"]),
    ("mariadb", "latest", "multi-arch list", "multi-arch index", ["linux/amd64", "linux/arm64/v8"]),
    ("redis", "4-alpine", "multi-arch list", "index + attestations", ALPINE),
    ("ruby", "latest", "multi-arch list", "multi-arch index", DEBIAN),
    ("middleware", "latest", "single-arch", "single-arch", ["linux/amd64"]),
    ("armonly", "latest", "single-arch", "single-arch", ["linux/arm64/v8"]),
    ("mislabelled", "latest", "mislabelled list", "mislabelled index",
     ["linux/amd64", "linux/arm64/v8"]),
]

ON_AMD64 = platform.machine() in ("x86_64", "AMD64")


def _layer_files(layer: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        return {m.name: m for m in tar.getmembers()}


def _layer_bytes(layer: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


# ---------------------------------------------------------------------- reproducible scenarios


def test_every_scenario_digest_is_pinned() -> None:
    assert {s.reference: s.digest for s in build_all()} == PINNED


_DIGESTS_SCRIPT = (
    "import json; from archlab.lab.scenarios import build_all; "
    "print(json.dumps({s.reference: s.digest for s in build_all()}))"
)


def test_digests_are_the_same_in_two_fresh_processes() -> None:
    outputs = []
    for seed in ("1", "2"):  # different hash seeds: no set or dict order may leak into bytes
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _DIGESTS_SCRIPT], capture_output=True,
                              text=True, env=env, check=True, timeout=120)
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1] == PINNED


@pytest.mark.parametrize("oci", [False, True], ids=["docker", "oci"])
@pytest.mark.parametrize(("name", "tag", "docker_kind", "oci_kind", "claimed"), SHAPES,
                         ids=[s[0] for s in SHAPES])
def test_scenario_shape(name: str, tag: str, docker_kind: str, oci_kind: str,
                        claimed: list[str], oci: bool) -> None:
    s = get(name, oci=oci)
    assert s.repository == f"lab/{name}{'-oci' if oci else ''}"
    assert s.tag == tag
    assert s.kind == (oci_kind if oci else docker_kind)
    assert list(s.platform_texts) == claimed
    assert s.is_list == (docker_kind != "single-arch")
    allowed = scenarios.OCI_TYPES if oci else scenarios.DOCKER_TYPES
    assert scenarios.media_types_of(s) <= allowed
    doc = json.loads(s.manifest.data)
    assert doc["mediaType"] == s.media_type
    if s.is_list:
        listed = [e["platform"] for e in doc["manifests"]
                  if e["platform"]["os"] != "unknown"]
        assert ["/".join(filter(None, (p["os"], p["architecture"], p.get("variant"))))
                for p in listed] == claimed


@pytest.mark.parametrize("scenario", build_all(), ids=lambda s: s.reference)
def test_each_image_is_one_layer_holding_the_hello_binary(scenario: scenarios.Scenario) -> None:
    """Every Linux image, the subjects artifacts refer to included (lab/wasm: see below)."""
    linux = [i for i in (*scenario.images, *scenario.companions)
             if i.platform is not None and i.platform.os == "linux"]
    assert linux or scenario.name in ("helm", "wasm", "artifact")
    for image in linux:
        assert len(image.layers) == 1
        files = _layer_files(image.layers[0].data)
        assert sorted(files) == ["bin", "bin/hello"]
        assert files["bin/hello"].mode == 0o755
        binary = _layer_bytes(image.layers[0].data, "bin/hello")
        config = json.loads(image.config.data)
        assert config["config"]["Entrypoint"] == ["/bin/hello"]
        claimed = "/".join(filter(None, (config["os"], config["architecture"],
                                         config.get("variant"))))
        assert claimed == str(image.platform)  # the config agrees with the list entry
        real = "linux/amd64" if scenario.name == "mislabelled" else claimed
        assert binary == elf.hello_binary(real)
        assert elf.hello_message(real) in binary
        # The ELF header names the CPU (not the arm variant, which it does not carry).
        guess = elf.read_identity(binary).platform_guess
        assert guess == "/".join(elf.normalize_platform(real).split("/")[:2])


def test_mislabelled_claims_arm64_but_holds_amd64_code() -> None:
    arm = get("mislabelled").images[1]
    assert str(arm.platform) == "linux/arm64/v8"
    assert json.loads(arm.config.data)["architecture"] == "arm64"
    binary = _layer_bytes(arm.layers[0].data, "bin/hello")
    assert elf.read_identity(binary).platform_guess == "linux/amd64"


def test_redis_oci_index_carries_buildkit_style_attestations() -> None:
    s = get("redis", oci=True)
    doc = manifests.parse_manifest(s.manifest.data, s.media_type)
    assert isinstance(doc, manifests.ImageIndex)
    assert len(doc.images) == 7
    assert len(doc.attestations) == 7
    image_digests = {d.digest for d in doc.images}
    for att in doc.attestations:
        assert att.platform_unknown
        assert att.annotations["vnd.docker.reference.type"] == "attestation-manifest"
        assert att.attests in image_digests
    docker = manifests.parse_manifest(get("redis").manifest.data, get("redis").media_type)
    assert isinstance(docker, manifests.ImageIndex)
    assert docker.attestations == ()


def test_same_platform_means_same_layer_across_scenarios() -> None:
    layers = {get(n, oci=o).images[0].layers[0].digest
              for n in ("busybox", "golang", "mysql", "middleware", "mislabelled")
              for o in (False, True)}
    layers.add(get("mislabelled").images[1].layers[0].digest)  # amd64 code under arm64
    assert len(layers) == 1  # so a push can mount it instead of uploading it again


@pytest.mark.parametrize(("name", "oci", "repository"), [
    ("mysql", False, "lab/mysql"),
    ("mysql-oci", False, "lab/mysql-oci"),
    ("mysql", True, "lab/mysql-oci"),
    ("lab/redis", False, "lab/redis"),
])
def test_get_by_name(name: str, oci: bool, repository: str) -> None:
    assert get(name, oci=oci).repository == repository


def test_get_unknown_scenario_names_the_choices() -> None:
    with pytest.raises(LabError, match=r"no lab scenario called 'postgres'.*busybox, golang"):
        get("postgres")


def test_build_all_puts_docker_twins_first() -> None:
    both = build_all()
    n = len(scenarios.SPECS)
    assert [s.oci for s in both] == [False] * n + [True] * n
    assert build_all(oci=True) == both[n:]


# ---------------------------------------------------------------------- artifact scenarios

# name, tag (with the subject's hex), Docker twin's kind, OCI twin's kind, claimed platforms,
# the kind archlab.artifacts gives the tagged document (or each index entry)
ARTIFACT_SHAPES = [
    ("signed", "sha256-{}.sig", "cosign signature", "cosign signature", [], ["signature"]),
    ("referrers", "sha256-{}", "referrers list", "referrers index", [],
     ["sbom", "attestation"]),
    ("helm", "0.1.0", "helm chart", "helm chart", [], ["helm chart"]),
    ("wasm", "latest", "wasm list", "wasm index", ["wasi/wasm"], ["wasm"]),
    ("mixed", "latest", "image + helm chart list", "image + helm chart index", ["linux/amd64"],
     ["image", "helm chart"]),
    ("artifact", "latest", "unknown artifact", "unknown artifact", [], ["unknown artifact"]),
]


def _kinds(s: scenarios.Scenario) -> list[str]:
    from archlab import artifacts

    doc = manifests.parse_manifest(s.manifest.data, s.media_type)
    if isinstance(doc, manifests.ImageManifest):
        return [artifacts.classify_manifest(doc, tag=s.tag)]
    children = {c.manifest.digest: c for c in s.children()}
    kinds = []
    for d in doc.manifests:
        kind = artifacts.classify_descriptor(d)
        if kind is None:
            child = children[d.digest]
            kind = artifacts.classify_manifest(
                manifests.parse_manifest(child.manifest.data, child.manifest.media_type),
                descriptor=d)
        kinds.append(kind)
    return kinds


@pytest.mark.parametrize("oci", [False, True], ids=["docker", "oci"])
@pytest.mark.parametrize(("name", "tag", "docker_kind", "oci_kind", "claimed", "kinds"),
                         ARTIFACT_SHAPES, ids=[s[0] for s in ARTIFACT_SHAPES])
def test_artifact_scenario_shape(name: str, tag: str, docker_kind: str, oci_kind: str,
                                 claimed: list[str], kinds: list[str], oci: bool) -> None:
    s = get(name, oci=oci)
    subject = s.companions[0].manifest.digest.split(":")[1] if s.companions else ""
    assert s.repository == f"lab/{name}{'-oci' if oci else ''}"
    assert s.tag == tag.format(subject)
    assert s.kind == (oci_kind if oci else docker_kind)
    assert list(s.platform_texts) == claimed
    assert _kinds(s) == kinds
    top = manifests.OCI_INDEX if oci else manifests.DOCKER_MANIFEST_LIST
    one = manifests.OCI_MANIFEST if oci else manifests.DOCKER_MANIFEST_V2
    assert s.media_type == (top if s.is_list else one)
    assert {c.manifest.media_type for c in s.children()} == {one}
    assert name in scenarios.ARTIFACT_NAMES


def test_a_cosign_signature_names_its_subject_in_tag_and_payload() -> None:
    s = get("signed", oci=True)
    subject = s.companions[0]
    assert s.tag == f"sha256-{subject.manifest.digest.split(':')[1]}.sig"
    doc = json.loads(s.manifest.data)
    (layer,) = doc["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert "dev.cosignproject.cosign/signature" in layer["annotations"]
    payload = json.loads(s.built.layers[0].data)
    assert payload["critical"]["image"]["docker-manifest-digest"] == subject.manifest.digest
    config = json.loads(s.built.config.data)
    assert (config["os"], config["architecture"]) == ("", "")
    assert config["rootfs"]["diff_ids"] == [s.built.layers[0].digest]  # as cosign writes it
    assert subject.platform == Platform("linux", "amd64")


def test_referrers_are_oci_1_1_artifacts_of_the_subject() -> None:
    s = get("referrers", oci=True)
    subject = s.companions[0].manifest
    index = json.loads(s.manifest.data)
    assert [e.get("platform") for e in index["manifests"]] == [None, None]
    assert [e["artifactType"] for e in index["manifests"]] == [
        "application/spdx+json", "application/vnd.in-toto+json"]
    for entry, child in zip(index["manifests"], s.artifacts, strict=True):
        doc = json.loads(child.manifest.data)
        assert entry["digest"] == child.manifest.digest
        assert doc["artifactType"] == entry["artifactType"]
        assert doc["subject"] == {"mediaType": subject.media_type, "digest": subject.digest,
                                  "size": subject.size}
        assert doc["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
        assert child.config.data == b"{}"
    assert s.tag == f"sha256-{subject.digest.split(':')[1]}"  # the referrers tag schema


def test_the_helm_chart_layer_is_a_chart() -> None:
    s = get("helm", oci=True)
    assert s.built.config.media_type == "application/vnd.cncf.helm.config.v1+json"
    assert json.loads(s.built.config.data)["name"] == "hello"
    files = _layer_files(s.built.layers[0].data)
    assert sorted(files) == ["hello", "hello/Chart.yaml"]
    chart = _layer_bytes(s.built.layers[0].data, "hello/Chart.yaml")
    assert b"name: hello\n" in chart and b"version: 0.1.0\n" in chart


def test_the_mixed_index_lists_the_image_first_then_the_chart_without_platform() -> None:
    s = get("mixed", oci=True)
    entries = json.loads(s.manifest.data)["manifests"]
    assert entries[0]["platform"] == {"architecture": "amd64", "os": "linux"}
    assert "platform" not in entries[1]
    assert entries[1]["artifactType"] == "application/vnd.cncf.helm.config.v1+json"
    assert s.artifacts[0].manifest.digest == get("helm", oci=True).digest  # the same chart


def test_the_wasm_image_holds_a_wasi_module_that_writes_hello() -> None:
    s = get("wasm", oci=True)
    (image,) = s.images
    assert image.platform == Platform("wasi", "wasm")
    config = json.loads(image.config.data)
    assert (config["os"], config["architecture"]) == ("wasi", "wasm")
    assert config["config"]["Entrypoint"] == ["/hello.wasm"]
    module = _layer_bytes(image.layers[0].data, "hello.wasm")
    assert module == scenarios.hello_wasm()
    assert module[:8] == b"\x00asm\x01\x00\x00\x00"
    sections, at = {}, 8
    while at < len(module):  # id, size (< 128 here: one LEB128 byte), body
        sid, size = module[at], module[at + 1]
        assert size < 0x80
        sections[sid] = module[at + 2 : at + 2 + size]
        at += 2 + size
    assert at == len(module)
    assert sorted(sections) == [1, 2, 3, 5, 7, 10, 11]  # type..data, in the required order
    assert b"wasi_snapshot_preview1" in sections[2] and b"fd_write" in sections[2]
    assert b"_start" in sections[7] and b"memory" in sections[7]
    assert sections[11].endswith(b"hello from wasi/wasm\n")
    with pytest.raises(elf.ElfError):  # no ELF: what the kernel would refuse
        elf.read_identity(module)


def test_an_unknown_artifact_declares_a_type_no_tool_knows() -> None:
    from archlab import artifacts

    s = get("artifact", oci=True)
    doc = json.loads(s.manifest.data)
    assert doc["artifactType"] == "application/vnd.archlab.lab.note.v1"
    assert doc["config"]["mediaType"] == artifacts.OCI_EMPTY
    assert [layer["mediaType"] for layer in doc["layers"]] == ["text/plain"]


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 200_001])
def test_portable_gzip_round_trips_without_compressing(size: int) -> None:
    data = secrets.token_bytes(size)
    packed = portable_gzip(data)
    assert gzip.decompress(packed) == data
    blocks = max(1, -(-size // 65535))
    assert len(packed) == 10 + 5 * blocks + size + 8  # header, block headers, data, trailer


# ---------------------------------------------------------------------- a lab for the session


@pytest.fixture(scope="module")
def lab(registry_binary: Path) -> Iterator[instance.Lab]:
    with instance.lab_registry(binary=registry_binary) as lab:
        yield lab


def _blob_pairs(chosen: tuple[scenarios.Scenario, ...]) -> tuple[int, int]:
    """(distinct blobs, distinct repository x blob pairs) of the scenarios, from their bytes."""
    pairs = {(s.repository, b.digest) for s in chosen for img in s.children()
             for b in img.blobs()}
    return len({d for _, d in pairs}), len(pairs)


def test_first_push_uploads_each_blob_once_and_mounts_the_rest(lab: instance.Lab) -> None:
    distinct, pairs = _blob_pairs(lab.scenarios)
    assert (lab.summary.uploaded, lab.summary.mounted, lab.summary.present) == (
        distinct, pairs - distinct, 0)
    # The registry's own access log agrees: one upload session per uploaded blob, one
    # successful mount (POST answered 201) per mounted one.
    assert lab.server is not None
    seen = lab.server.requests_since(0)
    posts = [r for r in seen if r.method == "POST" and r.path.endswith("/blobs/uploads/")]
    assert sum(r.status == 202 for r in posts) == distinct
    assert sum(r.status == 201 for r in posts) == pairs - distinct


def test_second_push_uploads_nothing(lab: instance.Lab) -> None:
    assert lab.server is not None
    mark = lab.server.log_mark()
    summary = instance.push_scenarios(lab.host, lab.scenarios)
    seen = lab.server.requests_since(mark)
    _, pairs = _blob_pairs(lab.scenarios)
    assert (summary.uploaded, summary.mounted, summary.present) == (0, 0, pairs)
    assert summary.line() == f"0 blobs uploaded, {pairs} already present, 0 mounted from " \
                             "another lab repository"
    assert [r for r in seen if r.method in ("POST", "PUT")] == []
    assert sum(r.method == "HEAD" and "/blobs/" in r.path for r in seen) == pairs


def test_an_artifact_tag_names_the_artifact_and_its_subject_is_there_by_digest(
        lab: instance.Lab) -> None:
    """Only the tagged document goes under the tag; the image it refers to is pushed by
    digest into the same repository (a signature of a missing image would be odd)."""
    with lab.client() as reg:
        for name in ("signed", "referrers-oci"):
            s = lab.scenario(name.removesuffix("-oci"), oci=name.endswith("-oci"))
            ref = lab.reference(name.removesuffix("-oci"), oci=name.endswith("-oci"))
            assert reg.resolve(ref).digest == s.digest
            subject = s.companions[0].manifest.digest
            got = reg.get_manifest(ref.with_digest(subject))
            assert got.digest == subject and got.manifest.config.media_type in (
                manifests.DOCKER_CONFIG, manifests.OCI_CONFIG)
        tags = reg.list_tags(lab.reference("signed"))
    assert tags == [lab.scenario("signed").tag]


def test_lab_refs(lab: instance.Lab) -> None:
    assert lab.ref("mysql") == f"{lab.host}/lab/mysql:5.7"
    assert lab.ref("busybox", oci=True) == f"{lab.host}/lab/busybox-oci:latest"
    assert lab.url == f"http://{lab.host}"
    assert lab.host.startswith("127.0.0.1:")


def test_a_subset_lab_refuses_refs_it_did_not_push(registry_binary: Path) -> None:
    with instance.lab_registry(["mysql"], oci=False, binary=registry_binary) as small:
        assert [s.reference for s in small.scenarios] == ["lab/mysql:5.7"]
        with pytest.raises(LabError, match="lab/mariadb:latest was not pushed to this lab"):
            small.ref("mariadb")
        server = small.server
        assert server is not None and server.running
    assert not server.running  # stopped on leaving the block


# name, oci, the "Kind:" line, the platforms listed (in order), attestation count
INSPECT_CASES = [
    ("busybox", False, "manifest list (multi-arch) (10 images)", BUSYBOX, 0),
    ("busybox", True, "OCI image index (multi-arch) (10 images)", BUSYBOX, 0),
    ("golang", False, "single-arch image manifest", ["linux/amd64"], 0),
    ("golang", True, "single-arch image manifest", ["linux/amd64"], 0),
    ("mysql", False, "manifest list (multi-arch) (1 image)", ["linux/amd64"], 0),
    ("mysql", True, "OCI image index (multi-arch) (1 image)", ["linux/amd64"], 0),
    ("mariadb", False, "manifest list (multi-arch) (2 images)",
     ["linux/amd64", "linux/arm64/v8"], 0),
    ("redis", False, "manifest list (multi-arch) (7 images)", ALPINE, 0),
    ("redis", True, "OCI image index (multi-arch) (7 images, 7 attestations)", ALPINE, 7),
    ("ruby", False, "manifest list (multi-arch) (8 images)", DEBIAN, 0),
    ("middleware", False, "single-arch image manifest", ["linux/amd64"], 0),
    ("armonly", False, "single-arch image manifest", ["linux/arm64/v8"], 0),
    ("mislabelled", True, "OCI image index (multi-arch) (2 images)",
     ["linux/amd64", "linux/arm64/v8"], 0),
]


@pytest.fixture
def quiet_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user cache, Docker config or lab state is read or written by the CLI."""
    monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv(instance.STATE_DIR_ENV, str(tmp_path / "state"))


@pytest.mark.parametrize(("name", "oci", "kind", "listed", "attestations"), INSPECT_CASES,
                         ids=[f"{c[0]}{'-oci' if c[1] else ''}" for c in INSPECT_CASES])
def test_archlab_inspect_shows_each_scenario_kind(
    lab: instance.Lab, quiet_home: None, capsys: pytest.CaptureFixture[str],
    name: str, oci: bool, kind: str, listed: list[str], attestations: int,
) -> None:
    assert cli.main(["inspect", "--no-cache", lab.ref(name, oci=oci)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"Kind:      {kind}" in out
    if kind.startswith("single-arch"):
        assert f"Platform:  {listed[0]} (from the image config)" in out
    else:
        platforms = [ln.split(":", 1)[1].strip() for ln in out
                     if ln.startswith("    Platform:")]
        assert [p for p in platforms if p != "unknown/unknown"] == listed
        assert sum(ln.startswith("    Attestation: yes") for ln in out) == attestations


def test_inspect_mysql_for_arm64_fails_as_docker_pull_did(
    lab: instance.Lab, quiet_home: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["inspect", "--no-cache", lab.ref("mysql"), "--platform", "linux/arm64"]) == 1
    assert capsys.readouterr().err == (
        "no matching manifest for linux/arm64 in the manifest list entries\n")


# ---------------------------------------------------------------------- running from a layer

needs_amd64_and_qemu = pytest.mark.skipif(
    not ON_AMD64 or shutil.which("qemu-aarch64-static") is None,
    reason="needs an x86_64 machine with qemu-user-static (apt-get install qemu-user-static)",
)


@needs_amd64_and_qemu
@pytest.mark.parametrize("oci", [False, True], ids=["docker", "oci"])
def test_busybox_arm64_entry_runs_under_emulation(lab: instance.Lab, oci: bool) -> None:
    r = run_from_registry(lab.ref("busybox", oci=oci), "linux/arm64",
                          host_native=["linux/amd64"], host_emulated=["linux/arm64"])
    assert (r.mode, r.exit_code, r.stdout) == ("emulated", 0, "hello from linux/arm64\n")


@pytest.mark.skipif(not ON_AMD64, reason="an x86_64 CPU is what refuses the arm64 binary")
def test_busybox_arm64_entry_natively_is_exec_format_error(lab: instance.Lab) -> None:
    r = run_from_registry(lab.ref("busybox"), "linux/arm64", host_native=["linux/amd64"])
    assert (r.mode, r.errno, r.error) == ("exec-failed", 8, "Exec format error")


@pytest.mark.skipif(not ON_AMD64, reason="the mislabelled binary is amd64 code")
def test_mislabelled_arm64_entry_runs_natively_on_amd64(lab: instance.Lab) -> None:
    r = run_from_registry(lab.ref("mislabelled"), "linux/arm64", host_native=["linux/amd64"])
    assert (r.mode, r.stdout, r.platform) == ("native", "hello from linux/amd64\n", "linux/amd64")


@pytest.mark.skipif(not ON_AMD64, reason="an x86_64 CPU is what refuses the arm64 binary")
def test_single_arch_image_is_taken_without_a_platform_check(lab: instance.Lab) -> None:
    # As docker pull does: armonly is pulled for an amd64 host, then fails when it starts.
    r = run_from_registry(lab.ref("armonly"), "linux/amd64", host_native=["linux/amd64"])
    assert (r.mode, r.errno) == ("exec-failed", 8)


def test_run_from_a_list_without_the_platform_is_docker_s_error(lab: instance.Lab) -> None:
    with pytest.raises(NoMatchingManifestError) as err:
        run_from_registry(lab.ref("mysql"), "linux/arm64", host_native=["linux/arm64"])
    assert str(err.value) == "no matching manifest for linux/arm64 in the manifest list entries"


# ---------------------------------------------------------------------- archlab lab up/status/down


@pytest.fixture
def lab_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            registry_binary: Path) -> Iterator[Path]:
    """A private state dir and storage; whatever `lab up` started is stopped afterwards."""
    monkeypatch.setenv(instance.STATE_DIR_ENV, str(tmp_path / "state"))
    monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    storage = tmp_path / "storage"
    yield storage
    instance.down()


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"  # exited; only its parent may reap it


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _log_requests(state: instance.LabState, start: int) -> list[LoggedRequest]:
    """The access-log requests after byte ``start``, once a tagged probe has been logged."""
    token = f"archlab-internal=test-{secrets.token_hex(4)}"
    httpx.get(f"{state.url}/v2/?{token}")
    deadline = time.monotonic() + 5
    while True:
        text = Path(state.log).read_bytes()[start:].decode(errors="replace")
        if token in text or time.monotonic() > deadline:
            return parse_access_log(text)
        time.sleep(0.01)


def test_up_status_down(lab_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    distinct, pairs = _blob_pairs(build_all())

    assert cli.main(["lab", "up", "--storage", str(lab_env)]) == 0
    out = capsys.readouterr().out
    state = instance.read_state()
    assert state is not None
    assert f"lab registry started: {state.url} (pid {state.pid})\n" in out
    assert f"{distinct} blobs uploaded, 0 already present, {pairs - distinct} mounted" in out
    assert re.search(rf"^{re.escape(state.host)}/lab/mysql:5\.7 +amd64-only list +linux/amd64 "
                     r"+f8b3ddd09165$", out, re.M)
    assert re.search(rf"^{re.escape(state.host)}/lab/busybox:latest +multi-arch list "
                     r"+10 platforms +7d4a16cc2cd6$", out, re.M)
    assert out.rstrip().endswith("stop it with: archlab lab down")
    state_file = json.loads((Path(os.environ[instance.STATE_DIR_ENV]) / "lab.json").read_text())
    assert sorted(state_file) == ["binary", "config", "instance", "log", "pid", "port",
                                  "started_at", "storage"]
    assert state_file["storage"] == str(lab_env.resolve())

    assert cli.main(["lab", "status"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"lab registry: running (pid {state.pid})"
    assert f"url:       {state.url}" in out
    assert f"scenarios: {len(PINNED)} of {len(PINNED)} present" in out

    # Second up: finds it running, uploads nothing (the registry's own log says so too).
    before = len(Path(state.log).read_bytes())
    _log_requests(state, before)  # our earlier requests are all logged before this point
    before = len(Path(state.log).read_bytes())
    assert cli.main(["lab", "up"]) == 0
    out = capsys.readouterr().out
    assert f"lab registry already running: {state.url} (pid {state.pid})\n" in out
    assert f"0 blobs uploaded, {pairs} already present, 0 mounted" in out
    seen = _log_requests(state, before)
    assert [r for r in seen if r.method in ("POST", "PUT")] == []
    assert sum(r.method == "HEAD" and "/blobs/" in r.path for r in seen) == pairs

    # A different port while it runs is refused, with the way out.
    other = find_free_port()
    assert cli.main(["lab", "up", "--port", str(other)]) == 1
    err = capsys.readouterr().err
    assert err == (f"archlab: the lab registry already runs on port {state.port} "
                   f"(pid {state.pid}): run `archlab lab down` first to move it to port "
                   f"{other}\n")

    assert cli.main(["lab", "down"]) == 0
    assert capsys.readouterr().out == f"lab registry stopped (pid {state.pid}, was {state.url})\n"
    assert _gone(state.pid)
    assert _refused(state.port)
    assert instance.read_state() is None

    assert cli.main(["lab", "status"]) == 3
    assert capsys.readouterr().out == "lab registry: not running (start it with: archlab lab up)\n"
    assert cli.main(["lab", "down"]) == 0
    assert capsys.readouterr().out == "lab registry is not running\n"


def test_up_after_the_registry_died_restarts_on_the_same_storage_and_port(
    lab_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = find_free_port()
    assert cli.main(["lab", "up", "--storage", str(lab_env), "--port", str(port)]) == 0
    first = instance.read_state()
    assert first is not None and first.port == port
    os.kill(first.pid, signal.SIGTERM)  # the registry we just started, by its own PID
    deadline = time.monotonic() + 5
    while not _gone(first.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    capsys.readouterr()

    assert cli.main(["lab", "status"]) == 3
    assert "stale state" in capsys.readouterr().out
    assert cli.main(["lab", "up"]) == 0  # no --storage/--port: taken from the stale state
    out = capsys.readouterr().out
    second = instance.read_state()
    assert second is not None and second.pid != first.pid
    assert (second.port, second.storage) == (port, first.storage)
    assert "lab registry started:" in out
    assert f"0 blobs uploaded, {_blob_pairs(build_all())[1]} already present" in out


def test_lab_registry_reuse_connects_to_a_running_lab_up(lab_env: Path) -> None:
    started = instance.up(storage=lab_env, scenarios=["mysql"])
    with instance.lab_registry(["mysql"], reuse=True) as lab:
        assert lab.server is None  # nothing new was started
        assert lab.host == started.state.host
        assert (lab.summary.uploaded, lab.summary.mounted) == (0, 0)
    assert instance.running_state() == started.state  # left running on exit


def test_lab_registry_reuse_without_lab_up_starts_its_own(lab_env: Path) -> None:
    assert instance.running_state() is None
    with instance.lab_registry(["mysql"], oci=True, reuse=True) as lab:
        assert lab.server is not None and lab.server.running
        assert [s.reference for s in lab.scenarios] == ["lab/mysql-oci:5.7"]
        assert lab.summary.uploaded > 0
    assert not lab.server.running


def test_down_never_signals_a_pid_that_is_not_our_registry(
    lab_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A state file whose PID now belongs to someone else (here: a sleeping child of ours).
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        fake = instance.LabState(pid=sleeper.pid, port=1, storage=str(lab_env), started_at="x",
                                 binary="/usr/bin/docker-registry", config="/nonexistent.yml",
                                 log="/nonexistent.log", instance="0")
        instance._write_state(fake)
        assert cli.main(["lab", "down"]) == 0
        assert capsys.readouterr().out == (
            f"lab registry was not running (pid {sleeper.pid} is not our docker-registry); "
            "removed its stale state\n")
        assert sleeper.poll() is None  # still alive: nothing was sent to it
        assert instance.read_state() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def _registries_serving(state_dir: Path) -> list[int]:
    """PIDs of live processes whose command line names a config under ``state_dir``: found
    independently of archlab's own search, to check it."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and any(str(state_dir).encode() in a for a in argv) and (
                not _gone(int(name))):
            pids.append(int(name))
    return pids


def _damage_truncated(path: Path) -> None:
    path.write_text(path.read_text()[:40])


def _damage_deep(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


def _damage_types(path: Path) -> None:
    doc = json.loads(path.read_text())
    doc["pid"] = str(doc["pid"])
    path.write_text(json.dumps(doc))


def _damage_dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def _damage_deleted(path: Path) -> None:
    path.unlink()


DAMAGES = [_damage_truncated, _damage_deep, _damage_types, _damage_dev_zero, _damage_deleted]


def _started(lab_env: Path) -> instance.LabState:
    """A detached registry as `lab up` starts it, without the push (fast)."""
    with instance._locked():
        state, _ = instance._start(None, lab_env, instance._registry_binary(None), detach=True)
        instance._write_state(state)
    return state


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__.removeprefix("_damage_"))
def test_down_stops_our_registry_whatever_happened_to_lab_json(
    lab_env: Path, capsys: pytest.CaptureFixture[str], damage
) -> None:
    state = _started(lab_env)
    state_dir = Path(os.environ[instance.STATE_DIR_ENV])
    assert _registries_serving(state_dir) == [state.pid]
    damage(state_dir / "lab.json")
    assert cli.main(["lab", "down"]) == 0
    assert capsys.readouterr().out == (
        f"lab registry stopped (pid {state.pid}, was {state.url}) (found by its config path: "
        "the state file lab.json was missing or damaged)\n")
    assert _gone(state.pid) and _refused(state.port)
    assert _registries_serving(state_dir) == []
    assert not (state_dir / "lab.json").exists() and not os.path.lexists(state_dir / "lab.json")


@pytest.mark.parametrize("damage", [_damage_truncated, _damage_deleted],
                         ids=lambda f: f.__name__.removeprefix("_damage_"))
def test_up_after_lab_json_was_damaged_leaves_one_registry(lab_env: Path, damage) -> None:
    first = _started(lab_env)
    state_dir = Path(os.environ[instance.STATE_DIR_ENV])
    damage(state_dir / "lab.json")
    second = instance.up(storage=lab_env, scenarios=["mysql"])
    assert second.started and second.state.pid != first.pid
    assert _gone(first.pid)
    assert _registries_serving(state_dir) == [second.state.pid]


def test_down_does_not_return_while_the_port_still_answers(lab_env: Path) -> None:
    """The race behind test_up_status_down failing ~4/30 under load: the Go registry's main
    thread is a zombie while another thread still holds the listener. Many rounds, so that
    the window is met."""
    for _ in range(15):
        state = _started(lab_env)
        assert instance.down().outcome == "stopped"
        assert _refused(state.port), "down returned while the port still accepted connections"


def test_a_failed_up_stops_the_registry_it_started(
    lab_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Storage the registry cannot write (its 'docker' directory is a file, which stops root
    too): the push fails, and the registry `up` started must not stay behind."""
    lab_env.mkdir(parents=True)
    (lab_env / "docker").write_text("not a directory")
    state_dir = Path(os.environ[instance.STATE_DIR_ENV])
    assert cli.main(["lab", "up", "--storage", str(lab_env)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("archlab: ") and err.count("\n") == 1, err
    assert _registries_serving(state_dir) == []
    assert instance.read_state() is None


@pytest.mark.parametrize("where", ["storage", "state"])
def test_an_unusable_storage_or_state_dir_is_one_line(
    lab_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], where: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    args = ["lab", "up", "--storage", str(blocker / "storage" if where == "storage" else lab_env)]
    if where == "state":
        monkeypatch.setenv(instance.STATE_DIR_ENV, str(blocker / "state"))
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("archlab: cannot use ")
    assert ("with --storage" if where == "storage" else instance.STATE_DIR_ENV) in err
    monkeypatch.setenv(instance.STATE_DIR_ENV, str(tmp_path / "state"))


def test_missing_binary_is_one_line_with_the_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(instance.STATE_DIR_ENV, str(tmp_path / "state"))
    missing = tmp_path / "bin" / "docker-registry"
    assert cli.main(["lab", "up", "--binary", str(missing), "--storage",
                     str(tmp_path / "s")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"archlab: docker-registry not found at {missing}: install Debian's package with "
        '"apt-get install docker-registry" (distribution 2.8), or name it with --binary PATH\n')
    assert instance.read_state() is None


def test_foreground_serves_until_interrupted(lab_env: Path, tmp_path: Path) -> None:
    env = {**os.environ, instance.STATE_DIR_ENV: os.environ[instance.STATE_DIR_ENV]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "archlab", "lab", "up", "--foreground", "--storage",
         str(lab_env)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("serving in the foreground"):
                break
        state = instance.read_state()
        assert state is not None, "".join(lines) + proc.stderr.read()  # type: ignore[union-attr]
        assert instance.status().present == len(PINNED)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        rest, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert rest == "lab registry stopped\n"
    assert _gone(state.pid)
    assert instance.read_state() is None
