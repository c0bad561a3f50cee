"""Build real, byte-for-byte reproducible container images in memory.

An image is three kinds of bytes: gzip'd tar **layers**, a JSON **config** (architecture, os,
variant, entrypoint, the layers' uncompressed ``diff_ids``), and a JSON **manifest** naming the
config and layers by digest. A multi-arch image adds a **manifest list** (Docker) or an **image
index** (OCI) naming one manifest per platform. Digests are sha256 of exact bytes, so an image is
reproducible only if every byte is. The rules this module follows to get there:

=====================  ======================================================================
what                   rule
=====================  ======================================================================
tar entries            sorted by path; mtime 0; uid/gid 0; uname/gname empty; mode 0755 for
                       dirs and executables, 0644 otherwise; USTAR format (no PAX times)
gzip                   ``mtime=0``, no file name, level 9: the header carries no clock;
                       ``portable=True`` writes *stored* deflate blocks by hand instead, so
                       the bytes do not depend on the zlib build (zlib-ng, s390x DFLTCC and
                       others compress the same input to different level-9 streams)
JSON                   ``sort_keys`` off, key order fixed by the code, compact separators,
                       no trailing newline; ``created`` fixed at the Unix epoch
=====================  ======================================================================

Usage::

    img = build_image(Platform("linux", "arm64", "v8"), {"hello": binary}, entrypoint=["/hello"])
    idx = build_index([img_amd64, img], oci=True, attestations=True)
    for digest, data in idx.blobs(): ...         # everything to upload, children first
    sbom = build_artifact(empty_config(), [Blob(SPDX, doc)], oci=True,
                          artifact_type=SPDX, subject=img)    # an OCI 1.1 referrer
    build_index([], oci=True, artifacts=[sbom])               # a referrers-tag index

An artifact (:func:`build_artifact`) is a manifest like an image's whose config and layers are
whatever its tool defines (a Helm chart, a signature, an SBOM); it has no platform of its own
(``BuiltImage.platform`` is ``None``). In an index it is listed with its ``artifactType`` and
without a platform, as the OCI 1.1 referrers API lists referrers.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from archlab import digests, manifests
from archlab.platforms import Platform

EPOCH = "1970-01-01T00:00:00Z"


def compact_json(doc: object) -> bytes:
    """JSON as the lab writes it: key order as given, compact separators, no newline."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def deterministic_tar(files: Mapping[str, bytes], *, executable: Iterable[str] = ()) -> bytes:
    """A tar of ``files`` (path -> bytes) with parent directories, every byte fixed."""
    executable = set(executable)
    names: set[str] = set()
    for path in files:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            names.add("/".join(parts[:i]) + "/")
        names.add(path.strip("/"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(names):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                data = files[name] if name in files else files["/" + name]
                info.size = len(data)
                info.mode = 0o755 if name in executable or "/" + name in executable else 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def deterministic_gzip(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return out.getvalue()


_STORED_MAX = 0xFFFF  # a stored deflate block holds at most 65535 bytes (RFC 1951 §3.2.4)


def portable_gzip(data: bytes) -> bytes:
    """A valid gzip member whose bytes follow from ``data`` alone, whatever zlib is installed.

    Deflate *stored* blocks (no compression) are written directly; only the CRC-32, which is
    fully specified, comes from zlib. Header: no name, mtime 0, XFL 0, OS 255 (unknown).
    """
    out = bytearray(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")
    chunks = [data[i : i + _STORED_MAX] for i in range(0, len(data), _STORED_MAX)] or [b""]
    for n, chunk in enumerate(chunks):
        final = 1 if n == len(chunks) - 1 else 0
        out += struct.pack("<BHH", final, len(chunk), len(chunk) ^ 0xFFFF) + chunk
    out += struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return bytes(out)


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes = field(repr=False)

    @property
    def digest(self) -> str:
        return digests.compute(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: object) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class BuiltImage:
    """One single-platform image (or an artifact): its layers, config and manifest, as bytes."""

    #: ``None`` for an artifact: it names no platform, and no list entry gives it one.
    platform: Platform | None
    layers: tuple[Blob, ...]
    config: Blob
    manifest: Blob

    def blobs(self) -> Iterator[Blob]:
        """Layers and config: what to upload before the manifest."""
        yield from self.layers
        yield self.config


@dataclass(frozen=True)
class BuiltIndex:
    """A manifest list or OCI index with its children (images, attestations, artifacts)."""

    images: tuple[BuiltImage, ...]
    attestations: tuple[BuiltImage, ...]
    manifest: Blob
    artifacts: tuple[BuiltImage, ...] = ()

    def children(self) -> Iterator[BuiltImage]:
        yield from self.images
        yield from self.attestations
        yield from self.artifacts


def build_image(
    platform: Platform,
    files: Mapping[str, bytes],
    *,
    entrypoint: list[str] | None = None,
    cmd: list[str] | None = None,
    oci: bool = False,
    executable: Iterable[str] | None = None,
    config_platform: Platform | None = None,
    labels: Mapping[str, str] | None = None,
    portable: bool = False,
) -> BuiltImage:
    """An image whose one layer holds ``files``; ``config_platform`` may lie (lab/mislabelled).

    ``portable=True`` gzips the layer with :func:`portable_gzip`: the same digests on every
    machine, at the price of no compression (fine for the lab's few-hundred-byte binaries).
    """
    tar = deterministic_tar(files, executable=files.keys() if executable is None else executable)
    layer_type = manifests.OCI_LAYER_GZIP if oci else manifests.DOCKER_LAYER_GZIP
    layer = Blob(layer_type, portable_gzip(tar) if portable else deterministic_gzip(tar))
    claimed = config_platform or platform
    config_doc: dict[str, object] = {"architecture": claimed.architecture, "os": claimed.os}
    if claimed.variant:
        config_doc["variant"] = claimed.variant
    config_doc["created"] = EPOCH
    inner: dict[str, object] = {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]}
    if entrypoint:
        inner["Entrypoint"] = list(entrypoint)
    if cmd:
        inner["Cmd"] = list(cmd)
    if labels:
        inner["Labels"] = dict(labels)
    config_doc["config"] = inner
    config_doc["rootfs"] = {"type": "layers", "diff_ids": [digests.compute(tar)]}
    config_doc["history"] = [{"created": EPOCH, "created_by": "archlab lab image builder"}]
    config = Blob(manifests.OCI_CONFIG if oci else manifests.DOCKER_CONFIG,
                  compact_json(config_doc))
    mt = manifests.OCI_MANIFEST if oci else manifests.DOCKER_MANIFEST_V2
    doc = {
        "schemaVersion": 2,
        "mediaType": mt,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
    }
    return BuiltImage(platform, (layer,), config, Blob(mt, compact_json(doc)))


def build_attestation(subject: BuiltImage) -> BuiltImage:
    """A BuildKit-style attestation manifest for ``subject`` (an in-toto layer, unknown/unknown)."""
    statement = compact_json({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "_", "digest": {"sha256": subject.manifest.digest.split(":", 1)[1]}}],
        "predicate": {"builder": {"id": "archlab"}},
    })
    layer = Blob(manifests.IN_TOTO, statement)
    config = Blob(manifests.OCI_CONFIG, compact_json({
        "architecture": "unknown", "os": "unknown", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
    }))
    doc = {
        "schemaVersion": 2,
        "mediaType": manifests.OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor(annotations={"in-toto.io/predicate-type":
                                                 "https://slsa.dev/provenance/v0.2"})],
    }
    return BuiltImage(Platform("unknown", "unknown"), (layer,), config,
                      Blob(manifests.OCI_MANIFEST, compact_json(doc)))


def build_artifact(
    config: Blob,
    layers: Iterable[Blob],
    *,
    oci: bool = True,
    artifact_type: str = "",
    subject: BuiltImage | None = None,
    annotations: Mapping[str, str] | None = None,
    layer_annotations: Mapping[str, str] | None = None,
) -> BuiltImage:
    """A manifest for something that is not an image: ``config`` and ``layers`` as its tool
    writes them. ``artifact_type`` and ``subject`` make it an OCI 1.1 artifact / referrer;
    ``layer_annotations`` go on every layer (cosign keeps its signature there). ``oci=False``
    gives it Docker's schema 2 manifest type, as tools that target old registries do."""
    layers = tuple(layers)
    mt = manifests.OCI_MANIFEST if oci else manifests.DOCKER_MANIFEST_V2
    doc: dict[str, object] = {"schemaVersion": 2, "mediaType": mt}
    if artifact_type:
        doc["artifactType"] = artifact_type
    doc["config"] = config.descriptor()
    extra = {"annotations": dict(layer_annotations)} if layer_annotations else {}
    doc["layers"] = [layer.descriptor(**extra) for layer in layers]
    if subject is not None:
        doc["subject"] = subject.manifest.descriptor()
    if annotations:
        doc["annotations"] = dict(annotations)
    return BuiltImage(None, layers, config, Blob(mt, compact_json(doc)))


def _artifact_entry(artifact: BuiltImage) -> dict[str, object]:
    """How an index lists an artifact: its ``artifactType`` (the config type when it declares
    none) and annotations, no platform, as the OCI 1.1 referrers API does."""
    doc = json.loads(artifact.manifest.data)
    extra: dict[str, object] = {"artifactType": doc.get("artifactType")
                                or doc["config"]["mediaType"]}
    if doc.get("annotations"):
        extra["annotations"] = doc["annotations"]
    return artifact.manifest.descriptor(**extra)


def build_index(
    images: Iterable[BuiltImage],
    *,
    oci: bool = False,
    attestations: bool = False,
    artifacts: Iterable[BuiltImage] = (),
) -> BuiltIndex:
    """A Docker manifest list (or OCI index) of ``images`` in the given order.

    ``attestations=True`` appends one attestation manifest per image, BuildKit style: platform
    ``unknown/unknown`` and the ``vnd.docker.reference.*`` annotations (OCI indexes only).
    ``artifacts`` (:func:`build_artifact`) come last, each listed without a platform.
    """
    images = tuple(images)
    artifacts = tuple(artifacts)
    if attestations and not oci:
        raise ValueError("attestation manifests are only stored in OCI indexes")
    entries: list[dict[str, object]] = []
    for img in images:
        if img.platform is None:
            raise ValueError("an artifact has no platform: pass it as artifacts=")
        entries.append(img.manifest.descriptor(platform=img.platform.to_oci()))
    atts: list[BuiltImage] = []
    if attestations:
        for img in images:
            att = build_attestation(img)
            atts.append(att)
            entries.append(att.manifest.descriptor(
                platform={"architecture": "unknown", "os": "unknown"},
                annotations={
                    "vnd.docker.reference.digest": img.manifest.digest,
                    "vnd.docker.reference.type": "attestation-manifest",
                },
            ))
    entries += [_artifact_entry(a) for a in artifacts]
    mt = manifests.OCI_INDEX if oci else manifests.DOCKER_MANIFEST_LIST
    doc = {"schemaVersion": 2, "mediaType": mt, "manifests": entries}
    return BuiltIndex(images, tuple(atts), Blob(mt, compact_json(doc)), artifacts)
