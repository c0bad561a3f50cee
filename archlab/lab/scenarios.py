"""The lab's images: one small, real, reproducible image for every case the story turns on.

What it is for
--------------
The story (``story.md``) is about a handful of Docker Hub images and how each one is published:
busybox as a many-platform list, circleci/golang as a bare single-arch manifest, mysql:5.7 as a
list that holds only linux/amd64, and so on. This module rebuilds each of those *shapes* as a
tiny image whose only file is ``/bin/hello``, a static executable for the image's platform that
prints ``hello from linux/<arch>[/<variant>]`` (:func:`archlab.elf.hello_binary`). Pushed to a
local registry (``archlab lab up``), they let you pull, inspect and run every case for real.

How do I use it?
----------------
::

    from archlab.lab.scenarios import build_all, get
    for s in build_all(oci=False):
        print(s.reference, s.kind, s.digest)      # lab/busybox:latest multi-arch list sha256:...
    mysql = get("mysql")                          # Docker media types
    mysql.platform_texts                          # ('linux/amd64',)
    get("redis", oci=True).attestations           # the BuildKit-style attestation manifests

The scenarios
-------------
===================  ================================  =========================================
reference            twin in the story                 shape
===================  ================================  =========================================
lab/busybox:latest   busybox (official, multi-arch)    list, every platform archlab can build,
                                                       in busybox's order
lab/golang:latest    circleci/golang                   single-arch amd64 manifest
lab/mysql:5.7        mysql:5.7 in January 2022         list holding only linux/amd64
lab/mariadb:latest   mariadb, Docker's suggested swap  list: amd64 + arm64
lab/redis:4-alpine   redis:4-alpine                    multi-arch; the OCI twin is an index with
                                                       BuildKit-style attestation manifests
lab/ruby:latest      ruby, base of the ``api`` build   list, Debian-like platforms
lab/middleware       some-middleware (unofficial)      single-arch amd64 manifest
lab/armonly:latest   an arm64-only image (mirror case  single-arch arm64 manifest
                     of golang, on an amd64 host)
lab/mislabelled      a buildx image whose arm64 build  list amd64 + arm64, but the arm64 entry
                     downloaded an amd64 binary        (and its config) holds amd64 code
===================  ================================  =========================================

The other things registries hold (:mod:`archlab.artifacts` names them), each next to an amd64
hello image of its own where it needs a subject (pushed by digest, untagged):

==========================  ============================  ======================================
reference                   twin in the wild              shape
==========================  ============================  ======================================
lab/signed:sha256-<d>.sig   a cosign signature of image   one manifest: a simplesigning layer and
                            ``<d>`` (``cosign sign``)     cosign's empty-platform config; the
                                                          tag names the signed image's digest
lab/referrers:sha256-<d>    an SBOM and a provenance      an index listing two OCI 1.1 referrers
                            attached to image ``<d>``     (``artifactType`` SPDX / in-toto, empty
                            on a registry without the     config, ``subject`` = the image): the
                            referrers API                 referrers tag schema's fallback tag
lab/helm:0.1.0              ``helm push`` of a chart      one manifest: Helm's config type and a
                                                          chart ``.tgz`` layer
lab/wasm:latest             ``docker buildx build         a list whose one entry is
                            --platform wasi/wasm``        ``wasi/wasm``: a WASI module, no ELF
lab/mixed:latest            an index holding an image     a list: linux/amd64 image + a Helm
                            and a Helm chart under one    chart entry without a platform
                            tag (helm/helm#31775)
lab/artifact:latest         an OCI 1.1 artifact of a      one manifest: ``artifactType`` no tool
                            type no tool here knows       knows, empty config, a text layer
==========================  ============================  ======================================

Every scenario exists twice: with Docker media types (``lab/busybox``) and with OCI media types
under a ``-oci`` repository suffix (``lab/busybox-oci``). The Docker twin of redis is a plain
list: Docker manifest lists have no place for attestations. An artifact's Docker twin has
Docker's manifest and list types (as cosign writes with ``COSIGN_DOCKER_MEDIA_TYPES=1``, and
tools targeting old registries do) around the same config and layer types: Docker 20.10
refuses a schema 2 manifest with a foreign config type *before* it prints ``Pulling from``,
an OCI one only after, and the twins show both.

The rules that make the digests the same everywhere
---------------------------------------------------
=========================  ==================================================================
what                       rule
=========================  ==================================================================
files                      exactly one layer holding ``/bin/hello`` (0755) and its ``bin/`` dir
                           (``/hello.wasm`` for lab/wasm); an artifact's blobs as its tool
                           writes them, JSON in archlab's fixed key order
layer compression          stored gzip (:func:`archlab.lab.images.portable_gzip`): no zlib
                           version can change the bytes
config                     ``Entrypoint ["/bin/hello"]``, epoch timestamps, one label
                           ``org.opencontainers.image.title`` = ``lab/<name>`` (so golang and
                           middleware are different images that share a layer)
order                      platforms in the order of the table in :data:`SPECS`; an index
                           lists images first, then artifacts
signatures                 cosign's ``dev.cosignproject.cosign/signature`` annotation holds a
                           fixed text, not a signature: the lab is about shapes, not trust
=========================  ==================================================================

Same platform, same binary, same layer: the amd64 layer of busybox is byte-for-byte the one in
golang, mysql and mislabelled, which is what lets a push mount it across repositories instead
of uploading it again. ``tests/test_lab.py`` pins every top-level digest.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Literal

from archlab import artifacts, elf, manifests
from archlab.errors import LabError
from archlab.lab.images import (
    EPOCH,
    Blob,
    BuiltImage,
    BuiltIndex,
    build_artifact,
    build_image,
    build_index,
    compact_json,
    deterministic_tar,
    portable_gzip,
)
from archlab.platforms import Platform

__all__ = [
    "ARTIFACT_NAMES",
    "BUSYBOX_ORDER",
    "DOCKER_TYPES",
    "ENTRYPOINT",
    "HELLO_PATH",
    "OCI_SUFFIX",
    "OCI_TYPES",
    "SCENARIO_NAMES",
    "SPECS",
    "Scenario",
    "ScenarioSpec",
    "build_all",
    "build_scenario",
    "busybox_platforms",
    "get",
    "hello_wasm",
    "media_types_of",
]

HELLO_PATH = "/bin/hello"
ENTRYPOINT = (HELLO_PATH,)
OCI_SUFFIX = "-oci"
TITLE_LABEL = "org.opencontainers.image.title"

#: The order of the official busybox list (amd64 first, the arm family from old to new, ...).
BUSYBOX_ORDER = (
    "linux/amd64",
    "linux/arm/v5",
    "linux/arm/v6",
    "linux/arm/v7",
    "linux/arm64/v8",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "linux/mips64le",
)

Shape = Literal["list", "single"]
#: What an artifact scenario holds (its builder in :data:`_ARTIFACT_BUILDERS`).
ArtifactShape = Literal["signature", "referrers", "helm", "wasm", "mixed", "artifact"]


def busybox_platforms() -> tuple[str, ...]:
    """Every platform :func:`archlab.elf.hello_binary` can build, in busybox's list order.

    A platform archlab learns to build later but busybox's order does not name goes last.
    """
    known = {elf.normalize_platform(p): p for p in BUSYBOX_ORDER}
    ordered = [p for p in BUSYBOX_ORDER if elf.normalize_platform(p) in elf.HELLO_PLATFORMS]
    extra = [p for p in elf.HELLO_PLATFORMS if p not in known]
    return (*ordered, *extra)


@dataclass(frozen=True)
class ScenarioSpec:
    """What a scenario is, before any bytes: the recipe :func:`build_scenario` follows."""

    name: str
    tag: str
    story: str
    description: str
    shape: Shape
    platforms: tuple[str, ...]
    #: Entries (by platform text) whose binary is for another platform: ``{claimed: real}``.
    binary_for: tuple[tuple[str, str], ...] = ()
    #: OCI twin only: add BuildKit-style attestation manifests to the index.
    attestations: bool = False
    #: Not (only) hello images: what the scenario is built as (the second table above).
    artifact: ArtifactShape | None = None
    #: The KIND ``lab up`` shows for an artifact scenario (``{noun}``: list or index).
    kind: str = ""


SPECS: tuple[ScenarioSpec, ...] = (
    ScenarioSpec(
        "busybox", "latest", "busybox (official image, multi-arch)",
        "a list with one image per platform archlab can build, in busybox's order",
        "list", busybox_platforms(),
    ),
    ScenarioSpec(
        "golang", "latest", "circleci/golang (single-arch)",
        "a plain amd64 manifest: pulled on any host without a platform check",
        "single", ("linux/amd64",),
    ),
    ScenarioSpec(
        "mysql", "5.7", "mysql:5.7 in Jan 2022",
        "a list that holds only linux/amd64: an arm64 pull fails with 'no matching manifest'",
        "list", ("linux/amd64",),
    ),
    ScenarioSpec(
        "mariadb", "latest", "mariadb (the replacement Docker's docs suggested)",
        "a list with amd64 and arm64: both kinds of host get a native image",
        "list", ("linux/amd64", "linux/arm64/v8"),
    ),
    ScenarioSpec(
        "redis", "4-alpine", "redis:4-alpine (official, multi-arch)",
        "multi-arch, Alpine's platforms; the OCI twin carries one attestation per image",
        "list",
        ("linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8", "linux/386",
         "linux/ppc64le", "linux/s390x"),
        attestations=True,
    ),
    ScenarioSpec(
        "ruby", "latest", "ruby (official), base of the api service's Dockerfile",
        "a Debian-like multi-arch list, the FROM of a build: service",
        "list",
        ("linux/amd64", "linux/arm/v5", "linux/arm/v7", "linux/arm64/v8", "linux/386",
         "linux/mips64le", "linux/ppc64le", "linux/s390x"),
    ),
    ScenarioSpec(
        "middleware", "latest", "some-middleware/some-middleware:latest (unofficial)",
        "a plain amd64 manifest: pulls on arm64, then exec format error at run time",
        "single", ("linux/amd64",),
    ),
    ScenarioSpec(
        "armonly", "latest", "an arm64-only image (the mirror case on an amd64 host)",
        "a plain arm64 manifest: pulls on amd64, then exec format error at run time",
        "single", ("linux/arm64/v8",),
    ),
    ScenarioSpec(
        "mislabelled", "latest", "a buildx image whose arm64 build fetched an amd64 binary",
        "a list whose arm64 entry and config say arm64 while /bin/hello inside is amd64",
        "list", ("linux/amd64", "linux/arm64/v8"),
        binary_for=(("linux/arm64/v8", "linux/amd64"),),
    ),
    # --- what else registries hold (the tag of the first two is made from a digest) --------
    ScenarioSpec(
        "signed", "sha256-{subject}.sig", "a cosign signature (cosign sign), by its .sig tag",
        "the tag names a signature, not an image: Docker pulls it as one and fails",
        "single", (), artifact="signature", kind="cosign signature",
    ),
    ScenarioSpec(
        "referrers", "sha256-{subject}", "an SBOM and a provenance attached to an image "
        "(OCI 1.1 referrers, on a registry without the referrers API)",
        "an index of two referrers and no image: no platform to match",
        "list", (), artifact="referrers", kind="referrers {noun}",
    ),
    ScenarioSpec(
        "helm", "0.1.0", "a Helm chart (helm push to an OCI registry)",
        "one manifest with Helm's config type and a chart layer",
        "single", (), artifact="helm", kind="helm chart",
    ),
    ScenarioSpec(
        "wasm", "latest", "a WASM module (docker buildx build --platform wasi/wasm)",
        "a list whose one entry is wasi/wasm: a Linux daemon pulls it only when asked, "
        "and cannot store it",
        "list", ("wasi/wasm",), artifact="wasm", kind="wasm {noun}",
    ),
    ScenarioSpec(
        "mixed", "latest", "an image and its Helm chart under one tag (helm/helm#31775)",
        "a list: an amd64 image and a Helm chart entry without a platform, which 23.0+ "
        "matches for any platform",
        "list", ("linux/amd64",), artifact="mixed", kind="image + helm chart {noun}",
    ),
    ScenarioSpec(
        "artifact", "latest", "an OCI 1.1 artifact of a type no tool here knows",
        "one manifest: an artifactType, the empty config and a text layer",
        "single", (), artifact="artifact", kind="unknown artifact",
    ),
)

SCENARIO_NAMES: tuple[str, ...] = tuple(s.name for s in SPECS)
#: The scenarios that are (or hold) something other than hello images.
ARTIFACT_NAMES: tuple[str, ...] = tuple(s.name for s in SPECS if s.artifact)


@dataclass(frozen=True)
class Scenario:
    """One lab image, built: where it goes, what it stands for, and its exact bytes."""

    name: str
    repository: str
    tag: str
    story: str
    description: str
    kind: str
    oci: bool
    built: BuiltImage | BuiltIndex
    #: Pushed by digest into the repository, untagged: the images artifacts refer to.
    companions: tuple[BuiltImage, ...] = ()

    @property
    def reference(self) -> str:
        """``repository:tag`` without a registry, e.g. ``lab/mysql:5.7``."""
        return f"{self.repository}:{self.tag}"

    def ref(self, host: str) -> str:
        """The full reference on a registry at ``host``, e.g. ``127.0.0.1:5000/lab/mysql:5.7``."""
        return f"{host}/{self.reference}"

    @property
    def manifest(self) -> Blob:
        """The top-level document: the list/index, or the manifest of a single-arch image."""
        return self.built.manifest

    @property
    def digest(self) -> str:
        return self.built.manifest.digest

    @property
    def media_type(self) -> str:
        return self.built.manifest.media_type

    @property
    def is_list(self) -> bool:
        return isinstance(self.built, BuiltIndex)

    @property
    def images(self) -> tuple[BuiltImage, ...]:
        """The images, in list order (attestations, artifacts and companions left out)."""
        if isinstance(self.built, BuiltIndex):
            return self.built.images
        return (self.built,) if self.built.platform is not None else ()

    @property
    def attestations(self) -> tuple[BuiltImage, ...]:
        return self.built.attestations if isinstance(self.built, BuiltIndex) else ()

    @property
    def artifacts(self) -> tuple[BuiltImage, ...]:
        """Artifact manifests: the tagged one, or an index's artifact entries."""
        if isinstance(self.built, BuiltIndex):
            return self.built.artifacts
        return (self.built,) if self.built.platform is None else ()

    @property
    def platform_texts(self) -> tuple[str, ...]:
        """Platforms the scenario *claims*, e.g. ``('linux/amd64', 'linux/arm64/v8')``."""
        return tuple(str(img.platform) for img in self.images)

    def children(self) -> Iterator[BuiltImage]:
        """Every manifest with its blobs: images, attestations, artifacts, then companions.

        All of them are pushed by digest before the top document, except the top document of
        a single-manifest scenario (``child is scenario.built``), which is pushed by tag.
        """
        if isinstance(self.built, BuiltIndex):
            yield from self.built.children()
        else:
            yield self.built
        yield from self.companions


def _platform(text: str) -> Platform:
    return Platform(*text.split("/"))


def _kind(spec: ScenarioSpec, oci: bool) -> str:
    if spec.kind:
        return spec.kind.format(noun="index" if oci else "list")
    if spec.shape == "single":
        return "single-arch"
    noun = "index" if oci else "list"
    if spec.binary_for:
        return f"mislabelled {noun}"
    if spec.attestations and oci:
        return "index + attestations"
    if len(spec.platforms) == 1:
        return f"{_platform(spec.platforms[0]).architecture}-only {noun}"
    return f"multi-arch {noun}"


def _image(spec: ScenarioSpec, platform: str, oci: bool) -> BuiltImage:
    binary_platform = dict(spec.binary_for).get(platform, platform)
    return build_image(
        _platform(platform),
        {HELLO_PATH: elf.hello_binary(binary_platform)},
        entrypoint=list(ENTRYPOINT),
        oci=oci,
        labels={TITLE_LABEL: f"lab/{spec.name}"},
        portable=True,
    )


# --- artifacts: each builder returns (top document, companions, the digest the tag names) ------

_Built = tuple["BuiltImage | BuiltIndex", tuple[BuiltImage, ...], str]

#: cosign's config for a signature image: no platform, epoch zero of Go's time.Time.
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_HELM_CHART_YAML = (b"apiVersion: v2\nname: hello\ndescription: archlab's lab chart\n"
                    b"type: application\nversion: 0.1.0\n")
_NOTE_TYPE = "application/vnd.archlab.lab.note.v1"
_WASM_MESSAGE = b"hello from wasi/wasm\n"


def _empty_config() -> Blob:
    """The OCI 1.1 empty descriptor's blob: ``{}`` of type ``application/vnd.oci.empty.v1+json``."""
    return Blob(artifacts.OCI_EMPTY, b"{}")


def _subject(spec: ScenarioSpec, oci: bool) -> BuiltImage:
    return _image(spec, "linux/amd64", oci)


def _signature(spec: ScenarioSpec, oci: bool) -> _Built:
    """What ``cosign sign`` pushes: a simplesigning payload naming the image digest, as a layer
    of an image whose config has no platform, tagged ``sha256-<hex>.sig``."""
    subject = _subject(spec, oci)
    payload = Blob(artifacts.COSIGN_SIGNATURE, compact_json({
        "critical": {
            # cosign writes registry/repository; the lab's images are the same on any host
            "identity": {"docker-reference": f"lab/{spec.name}"},
            "image": {"docker-manifest-digest": subject.manifest.digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }))
    config = Blob(manifests.OCI_CONFIG if oci else manifests.DOCKER_CONFIG, compact_json({
        "architecture": "", "created": _GO_ZERO_TIME,
        "history": [{"created": _GO_ZERO_TIME}], "os": "",
        "rootfs": {"type": "layers", "diff_ids": [payload.digest]}, "config": {},
    }))
    fake = base64.b64encode(b"archlab lab: a fixed text, not a signature").decode()
    sig = build_artifact(config, [payload], oci=oci,
                         layer_annotations={"dev.cosignproject.cosign/signature": fake})
    return sig, (subject,), subject.manifest.digest


def _referrers(spec: ScenarioSpec, oci: bool) -> _Built:
    """Two OCI 1.1 referrers of an image and the index a client keeps under the fallback tag
    ``sha256-<hex>`` when the registry has no referrers API (distribution 2.8.2 has none)."""
    subject = _subject(spec, oci)
    digest = subject.manifest.digest
    spdx = Blob(artifacts.SPDX_JSON, compact_json({
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"lab/{spec.name}@{digest}",
        "documentNamespace": f"https://archlab.invalid/spdx/{digest.split(':')[1]}",
        "creationInfo": {"created": EPOCH, "creators": ["Tool: archlab"]},
        "packages": [{"name": "hello", "SPDXID": "SPDXRef-Package-hello",
                      "downloadLocation": "NOASSERTION"}],
    }))
    statement = Blob(manifests.IN_TOTO, compact_json({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": f"lab/{spec.name}", "digest": {"sha256": digest.split(":")[1]}}],
        "predicate": {"builder": {"id": "archlab"}},
    }))
    sbom = build_artifact(_empty_config(), [spdx], oci=oci, artifact_type=artifacts.SPDX_JSON,
                          subject=subject)
    provenance = build_artifact(_empty_config(), [statement], oci=oci,
                                artifact_type=manifests.IN_TOTO, subject=subject)
    return build_index([], oci=oci, artifacts=[sbom, provenance]), (subject,), digest


def _helm_chart(oci: bool) -> BuiltImage:
    config = Blob(artifacts.HELM_CONFIG, compact_json({
        "name": "hello", "version": "0.1.0", "description": "archlab's lab chart",
        "apiVersion": "v2", "type": "application",
    }))
    chart = Blob(artifacts.HELM_CHART_LAYER, portable_gzip(
        deterministic_tar({"hello/Chart.yaml": _HELM_CHART_YAML}, executable=())))
    return build_artifact(config, [chart], oci=oci, annotations={
        "org.opencontainers.image.created": EPOCH,
        "org.opencontainers.image.description": "archlab's lab chart",
        "org.opencontainers.image.title": "hello",
        "org.opencontainers.image.version": "0.1.0",
    })


def _helm(spec: ScenarioSpec, oci: bool) -> _Built:
    return _helm_chart(oci), (), ""


def hello_wasm() -> bytes:
    """A WASI preview 1 module of under 200 bytes whose ``_start`` writes ``hello from
    wasi/wasm`` to stdout (``fd_write``) and exits 0 (``proc_exit``).

    Written by hand, like :func:`archlab.elf.hello_binary`: no toolchain for one write call.
    Memory holds the iovec at 0 (pointer 16, length), ``nwritten`` at 8, the text at 16.
    """
    def vec(items: list[bytes]) -> bytes:
        return bytes([len(items)]) + b"".join(items)

    def name(text: str) -> bytes:
        return bytes([len(text)]) + text.encode()

    def section(sid: int, body: bytes) -> bytes:
        return bytes([sid, len(body)]) + body

    i32 = 0x7F
    types = vec([bytes([0x60, 4, i32, i32, i32, i32, 1, i32]),  # fd_write
                 bytes([0x60, 1, i32, 0]),                       # proc_exit
                 bytes([0x60, 0, 0])])                           # _start
    wasi = "wasi_snapshot_preview1"
    imports = vec([name(wasi) + name("fd_write") + bytes([0, 0]),
                   name(wasi) + name("proc_exit") + bytes([0, 1])])
    code = bytes([0x00,                                  # no locals
                  0x41, 1, 0x41, 0, 0x41, 1, 0x41, 8,    # fd 1, iovs 0, 1 iovec, nwritten 8
                  0x10, 0, 0x1A,                         # call fd_write, drop its errno
                  0x41, 0, 0x10, 1, 0x0B])               # call proc_exit(0); end
    memory = struct.pack("<II", 16, len(_WASM_MESSAGE)) + bytes(8) + _WASM_MESSAGE
    return b"".join([
        b"\x00asm\x01\x00\x00\x00",
        section(1, types),
        section(2, imports),
        section(3, vec([bytes([2])])),                   # one function of type 2
        section(5, vec([bytes([0, 1])])),                # one memory, at least 1 page
        section(7, vec([name("memory") + bytes([2, 0]), name("_start") + bytes([0, 2])])),
        section(10, vec([bytes([len(code)]) + code])),
        section(11, vec([bytes([0, 0x41, 0, 0x0B, len(memory)]) + memory])),
    ])


def _wasm(spec: ScenarioSpec, oci: bool) -> _Built:
    image = build_image(Platform("wasi", "wasm"), {"/hello.wasm": hello_wasm()},
                        entrypoint=["/hello.wasm"], oci=oci,
                        labels={TITLE_LABEL: f"lab/{spec.name}"}, portable=True)
    return build_index([image], oci=oci), (), ""


def _mixed(spec: ScenarioSpec, oci: bool) -> _Built:
    images = [_image(spec, p, oci) for p in spec.platforms]
    return build_index(images, oci=oci, artifacts=[_helm_chart(oci)]), (), ""


def _unknown(spec: ScenarioSpec, oci: bool) -> _Built:
    note = Blob("text/plain", b"a note stored in a registry: not an image\n")
    return build_artifact(_empty_config(), [note], oci=oci, artifact_type=_NOTE_TYPE), (), ""


_ARTIFACT_BUILDERS: dict[str, Callable[[ScenarioSpec, bool], _Built]] = {
    "signature": _signature, "referrers": _referrers, "helm": _helm, "wasm": _wasm,
    "mixed": _mixed, "artifact": _unknown,
}


def build_scenario(spec: ScenarioSpec, *, oci: bool) -> Scenario:
    """Build one scenario in Docker (``oci=False``) or OCI media types; same input, same bytes."""
    if spec.artifact is not None:
        top, companions, subject = _ARTIFACT_BUILDERS[spec.artifact](spec, oci)
        return Scenario(
            name=spec.name,
            repository=f"lab/{spec.name}{OCI_SUFFIX if oci else ''}",
            tag=spec.tag.format(subject=subject.split(":")[-1]),
            story=spec.story,
            description=spec.description,
            kind=_kind(spec, oci),
            oci=oci,
            built=top,
            companions=companions,
        )
    images = [_image(spec, p, oci) for p in spec.platforms]
    built: BuiltImage | BuiltIndex
    if spec.shape == "single":
        if len(images) != 1:
            raise LabError(f"scenario {spec.name!r}: a single-arch image needs one platform")
        built = images[0]
    else:
        built = build_index(images, oci=oci, attestations=spec.attestations and oci)
    return Scenario(
        name=spec.name,
        repository=f"lab/{spec.name}{OCI_SUFFIX if oci else ''}",
        tag=spec.tag,
        story=spec.story,
        description=spec.description,
        kind=_kind(spec, oci),
        oci=oci,
        built=built,
    )


@cache
def _built(oci: bool) -> tuple[Scenario, ...]:
    return tuple(build_scenario(spec, oci=oci) for spec in SPECS)


def build_all(oci: bool | None = None) -> tuple[Scenario, ...]:
    """Every scenario: Docker twins (``oci=False``), OCI twins (``True``) or both (``None``).

    Both means every Docker twin first, then every OCI twin: pushed in that order, each OCI
    twin finds its layers already in the registry and mounts them.
    """
    if oci is None:
        return _built(False) + _built(True)
    return _built(oci)


def get(name: str, *, oci: bool = False) -> Scenario:
    """The scenario called ``name`` (``"mysql"``; ``"mysql-oci"`` is the OCI twin too)."""
    base = name.removeprefix("lab/")
    if base.endswith(OCI_SUFFIX):
        base, oci = base.removesuffix(OCI_SUFFIX), True
    for s in _built(oci):
        if s.name == base:
            return s
    raise LabError(
        f"no lab scenario called {name!r}: the scenarios are {', '.join(SCENARIO_NAMES)} "
        f"(add {OCI_SUFFIX!r} for the OCI twin)"
    )


def media_types_of(scenario: Scenario) -> frozenset[str]:
    """Every media type the scenario's documents use (top document, manifests, configs, layers,
    companions included)."""
    types = {scenario.media_type}
    for img in scenario.children():
        types.add(img.manifest.media_type)
        types.add(img.config.media_type)
        types.update(layer.media_type for layer in img.layers)
    return frozenset(types)


#: Media types that may appear in a scenario of each flavour (attestation layers are in-toto).
DOCKER_TYPES = frozenset({
    manifests.DOCKER_MANIFEST_LIST, manifests.DOCKER_MANIFEST_V2, manifests.DOCKER_CONFIG,
    manifests.DOCKER_LAYER_GZIP,
})
OCI_TYPES = frozenset({
    manifests.OCI_INDEX, manifests.OCI_MANIFEST, manifests.OCI_CONFIG, manifests.OCI_LAYER_GZIP,
    manifests.IN_TOTO,
})
