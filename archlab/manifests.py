"""Manifests, indexes and image configs: every JSON document a registry hands back, parsed.

A ``docker pull`` is a walk through small JSON documents. The tag names either an *index* (a
list of per-platform manifests) or a single *image manifest*; the manifest names a *config*
blob (which says, among other things, which CPU the image is for) and the *layers*. Whether a
pull checks the platform at all depends on which of these the tag names, so the first thing to
know about any image is the kind of document behind it. This module turns the bytes into small
frozen dataclasses and refuses, with a message naming the document and the JSON path, anything
that is not the document it claims to be.

How do I use this module?

    doc = parse_manifest(body, response.headers.get("Content-Type"), source="lab/mysql:5.7")
    if isinstance(doc, ImageIndex):            # Docker manifest list or OCI index
        for entry in doc.images:               # attestations left out, list order kept
            print(entry.platform, entry.digest)
    elif isinstance(doc, ImageManifest):       # Docker schema2 or OCI image manifest
        config = parse_config(config_bytes, source=doc.config.digest)
        print(config.platform)

Media types
-----------

========================  =============================================  =====================
constant                  what it is; who writes it                      what Docker 20.10 does
========================  =============================================  =====================
DOCKER_MANIFEST_LIST      multi-platform list; ``docker manifest``,      picks the entry for
                          buildx, Docker Hub's official images           the wanted platform or
                                                                         fails: "no matching
                                                                         manifest for …"
OCI_INDEX                 the OCI equivalent; buildx with OCI output,    the same Go type and
                          BuildKit (with attestations), ORAS             path as a Docker list
DOCKER_MANIFEST_V2        one image (schema 2); ``docker push``          pulls it without
                                                                         looking at the config's
                                                                         architecture
OCI_MANIFEST              one image, OCI flavour; also artifacts         as schema 2
                          (``artifactType``) and attestations
DOCKER_SCHEMA1_SIGNED     schema 1 with a JWS signature; old             pulls with a
                          registries, and distribution's on-the-fly      deprecation warning;
                          downgrade for clients that accept nothing      only the OS is
                          newer                                          checked; disabled in
                                                                         26, removed in 28.2
DOCKER_SCHEMA1            schema 1 without a signature                   as signed schema 1
DOCKER_CONFIG             the image config blob (arch, os, entrypoint)   read for the platform
                                                                         and the run settings
OCI_CONFIG                the same, OCI flavour                          as DOCKER_CONFIG
IN_TOTO                   the layer type of BuildKit attestations        never run; the
                          (SBOM, provenance)                             matcher skips them
========================  =============================================  =====================

``ACCEPT_ALL`` is every manifest type :func:`parse_manifest` reads, in the order to send them in
an ``Accept`` header (lists first: a registry that does not see the list type in ``Accept``
quietly serves the linux/amd64 child instead, or downgrades to schema 1).

How the kind is decided
-----------------------

1. The ``Content-Type`` the registry sent (parameters such as ``; charset=utf-8`` dropped). The
   generic types ``application/json``, ``application/octet-stream`` and ``text/plain`` say
   nothing and are ignored; any other type that is not a manifest type is refused with Docker's
   words, ``unsupported manifest format``.
2. Otherwise the document's own ``mediaType``.
3. Otherwise the keys, as moby's ``detectManifestBlobMediaType`` does for blobs pulled by
   digest: ``fsLayers`` → schema 1, ``config``/``layers`` → OCI manifest, anything else → OCI
   index.

When both the header and the document name a type they must agree. Docker types (list,
schema 2) must carry ``mediaType``; OCI types may leave it out, but if present it must be the
OCI type. These are distribution's own checks.

Attestations
------------

BuildKit appends one manifest per image to the index with ``platform: unknown/unknown`` and
the annotations ``vnd.docker.reference.type: attestation-manifest`` and
``vnd.docker.reference.digest: <the image it describes>``. The *annotation* is what makes an
entry an attestation (:attr:`Descriptor.is_attestation`); an ``unknown/unknown`` platform on its
own only sets :attr:`Descriptor.platform_unknown`. No matcher picks either kind, since
``unknown`` never equals a real OS or CPU.

Digests
-------

``digest`` is sha256 over ``raw``, the bytes exactly as received: re-serialising the JSON would
change them. Signed schema 1 is the exception. Its signatures live inside the document, so the
digest Docker and distribution use is over the *payload*, the document with the
``"signatures"`` member cut out: ``raw[:formatLength] + formatTail``, both taken from each
signature's protected header (see :func:`schema1_payload`). That is why a downgraded schema 1
answer's ``Docker-Content-Digest`` is not sha256 of the body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NoReturn

from archlab import decoding, digests
from archlab.errors import ArchlabError, ManifestError
from archlab.platforms import Platform

__all__ = [
    "ACCEPT_ALL",
    "ANNOTATION_REFERENCE_DIGEST",
    "ANNOTATION_REFERENCE_TYPE",
    "ATTESTATION_MANIFEST",
    "CONFIG_TYPES",
    "DOCKER_CONFIG",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_MANIFEST_V2",
    "DOCKER_SCHEMA1",
    "DOCKER_SCHEMA1_SIGNED",
    "IMAGE_TYPES",
    "INDEX_TYPES",
    "IN_TOTO",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_TAR",
    "OCI_MANIFEST",
    "SCHEMA1_TYPES",
    "Descriptor",
    "ImageConfig",
    "ImageIndex",
    "ImageManifest",
    "Manifest",
    "Schema1Manifest",
    "parse_config",
    "parse_manifest",
    "schema1_payload",
]

#: Docker manifest list (multi-platform), schema version 2.
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
#: Docker image manifest, schema version 2.
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
#: Docker image manifest, schema version 1, unsigned.
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
#: Docker image manifest, schema version 1, with a JWS signature (what registries serve).
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
#: OCI image index (multi-platform).
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
#: OCI image manifest.
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
#: Docker image config blob.
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
#: OCI image config blob.
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
#: OCI layer, gzip-compressed tar.
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
#: OCI layer, uncompressed tar.
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
#: Docker layer, gzip-compressed tar.
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
#: in-toto statement: the layers of BuildKit attestation manifests.
IN_TOTO = "application/vnd.in-toto+json"

#: Multi-platform documents.
INDEX_TYPES: tuple[str, ...] = (DOCKER_MANIFEST_LIST, OCI_INDEX)
#: Single-image documents with a config blob.
IMAGE_TYPES: tuple[str, ...] = (DOCKER_MANIFEST_V2, OCI_MANIFEST)
#: The two spellings of schema 1.
SCHEMA1_TYPES: tuple[str, ...] = (DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1)
#: Config blob types.
CONFIG_TYPES: tuple[str, ...] = (DOCKER_CONFIG, OCI_CONFIG)
#: Every manifest type parse_manifest reads, in Accept-header order (lists first).
ACCEPT_ALL: tuple[str, ...] = INDEX_TYPES + IMAGE_TYPES + SCHEMA1_TYPES

#: Annotation BuildKit puts on attestation entries of an index.
ANNOTATION_REFERENCE_TYPE = "vnd.docker.reference.type"
#: Annotation naming the image manifest an attestation describes.
ANNOTATION_REFERENCE_DIGEST = "vnd.docker.reference.digest"
#: Value of ANNOTATION_REFERENCE_TYPE that marks an attestation manifest.
ATTESTATION_MANIFEST = "attestation-manifest"

# Content-Types that carry no information about the document; registries and static file
# servers send them for manifests they do not know.
_GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream", "text/plain"})

_KIND_NAMES = {
    DOCKER_MANIFEST_LIST: "a Docker manifest list",
    OCI_INDEX: "an OCI image index",
    DOCKER_MANIFEST_V2: "a Docker schema 2 manifest",
    OCI_MANIFEST: "an OCI image manifest",
    DOCKER_SCHEMA1: "a Docker schema 1 manifest",
    DOCKER_SCHEMA1_SIGNED: "a Docker schema 1 manifest",
}

_EMPTY: Mapping[str, str] = MappingProxyType({})


def _no_annotations() -> Mapping[str, str]:
    return _EMPTY


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, kw_only=True)
class Descriptor:
    """A pointer to content: an index entry, a config, a layer or a subject."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    # Read-only; left out of hash() because a mapping proxy has none (digest identifies anyway).
    annotations: Mapping[str, str] = field(default_factory=_no_annotations, hash=False)
    urls: tuple[str, ...] = ()
    artifact_type: str = ""

    @property
    def is_attestation(self) -> bool:
        """True for BuildKit attestation entries (marked by annotation, not by platform)."""
        return self.annotations.get(ANNOTATION_REFERENCE_TYPE) == ATTESTATION_MANIFEST

    @property
    def attests(self) -> str | None:
        """The digest of the image manifest this attestation describes, if annotated."""
        return self.annotations.get(ANNOTATION_REFERENCE_DIGEST)

    @property
    def platform_unknown(self) -> bool:
        """True when the platform is ``unknown/unknown`` (attestation or not)."""
        p = self.platform
        return p is not None and p.os == "unknown" and p.architecture == "unknown"


@dataclass(frozen=True, kw_only=True)
class ImageIndex:
    """A Docker manifest list or an OCI image index: one entry per platform (plus extras)."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=_no_annotations, hash=False)
    subject: Descriptor | None = None
    artifact_type: str = ""
    schema_version: int = 2
    raw: bytes = field(repr=False)
    digest: str

    @property
    def kind(self) -> Literal["list", "index"]:
        """``"list"`` for a Docker manifest list, ``"index"`` for an OCI index."""
        return "list" if self.media_type == DOCKER_MANIFEST_LIST else "index"

    @property
    def images(self) -> tuple[Descriptor, ...]:
        """The entries that are not attestations, in document order."""
        return tuple(d for d in self.manifests if not d.is_attestation)

    @property
    def attestations(self) -> tuple[Descriptor, ...]:
        """The attestation entries, in document order."""
        return tuple(d for d in self.manifests if d.is_attestation)


@dataclass(frozen=True, kw_only=True)
class ImageManifest:
    """A Docker schema 2 or OCI image manifest: one config and its layers."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=_no_annotations, hash=False)
    subject: Descriptor | None = None
    artifact_type: str = ""
    schema_version: int = 2
    raw: bytes = field(repr=False)
    digest: str

    @property
    def kind(self) -> Literal["schema2", "oci"]:
        """``"schema2"`` for Docker's type, ``"oci"`` for the OCI one."""
        return "schema2" if self.media_type == DOCKER_MANIFEST_V2 else "oci"

    @property
    def layers_size(self) -> int:
        """Sum of the layer sizes as declared (compressed bytes to download)."""
        return sum(layer.size for layer in self.layers)


@dataclass(frozen=True, kw_only=True)
class Schema1Manifest:
    """A Docker schema 1 manifest, for reading only (Docker 26 disabled and 28.2 removed it)."""

    media_type: str
    name: str
    tag: str
    architecture: str
    fs_layers: tuple[str, ...]
    history: tuple[str, ...]
    signed: bool
    signatures: int
    schema_version: int = 1
    raw: bytes = field(repr=False)
    digest: str

    @property
    def kind(self) -> Literal["schema1"]:
        return "schema1"

    @property
    def config_platform(self) -> Platform:
        """The platform of the config Docker synthesises from ``history[0].v1Compatibility``."""
        v1 = json.loads(self.history[0])  # checked to be an object by parse_manifest
        return _make_platform({"os": v1.get("os", ""), "architecture": v1.get("architecture", "")})


@dataclass(frozen=True, kw_only=True)
class ImageConfig:
    """The image config blob: the platform the image was built for and how to run it."""

    media_type: str = ""
    architecture: str
    os: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    diff_ids: tuple[str, ...] = ()
    created: str | None = None
    history_length: int = 0
    raw: bytes = field(repr=False)
    digest: str

    @property
    def platform(self) -> Platform:
        """The config's platform; an empty ``os`` stays empty (Docker shows it as unknown)."""
        return _make_platform(
            {
                "os": self.os,
                "architecture": self.architecture,
                "variant": self.variant,
                "os.version": self.os_version,
                "os.features": list(self.os_features),
            }
        )


Manifest = ImageIndex | ImageManifest | Schema1Manifest


# ---------------------------------------------------------------------------------------------
# Reading JSON with errors that name the document and the path


class _Reader:
    """Typed access to a JSON tree; every failure names the document and the JSON path.

    Optional members may be absent or ``null`` (Go's decoder, which Docker uses, treats both
    alike); required ones must be present and of the right type.
    """

    def __init__(self, label: str):
        self.label = label

    def fail(self, path: str, problem: str) -> NoReturn:
        where = f"{path} " if path else ""
        raise ManifestError(f"{self.label}: {where}{problem}")

    def _typed(
        self,
        obj: Mapping[str, Any],
        key: str,
        parent: str,
        required: bool,
        ok: Callable[[Any], bool],
        what: str,
    ) -> Any:
        v = obj.get(key)
        if v is None:
            if required:
                problem = "is missing" if key not in obj else f"must be {what}, got null"
                self.fail(_join(parent, key), problem)
            return None
        if not ok(v):
            self.fail(_join(parent, key), f"must be {what}, got {_show(v)}")
        return v

    def string(self, obj: Mapping[str, Any], key: str, parent: str, *, required=False) -> Any:
        return self._typed(obj, key, parent, required, _is_str, "a string")

    def integer(self, obj: Mapping[str, Any], key: str, parent: str, *, required=False) -> Any:
        return self._typed(obj, key, parent, required, _is_int, "an integer")

    def obj(self, obj: Mapping[str, Any], key: str, parent: str, *, required=False) -> Any:
        return self._typed(obj, key, parent, required, _is_obj, "an object")

    def array(self, obj: Mapping[str, Any], key: str, parent: str, *, required=False) -> Any:
        return self._typed(obj, key, parent, required, _is_list, "a list")

    def strings(self, obj: Mapping[str, Any], key: str, parent: str) -> tuple[str, ...] | None:
        items = self.array(obj, key, parent)
        if items is None:
            return None
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self.fail(f"{_join(parent, key)}[{i}]", f"must be a string, got {_show(item)}")
        return tuple(items)

    def digest(self, obj: Mapping[str, Any], key: str, parent: str) -> str:
        v = self.string(obj, key, parent, required=True)
        return self.check_digest(v, _join(parent, key))

    def check_digest(self, v: str, path: str) -> str:
        try:
            return digests.validate(v)
        except ManifestError as exc:
            self.fail(path, f"is not a valid digest: {exc}")

    def annotations(self, obj: Mapping[str, Any], parent: str) -> Mapping[str, str]:
        found = self.obj(obj, "annotations", parent)
        if not found:
            return _EMPTY
        path = _join(parent, "annotations")
        for k, v in found.items():
            if not isinstance(v, str):
                self.fail(f"{path}[{json.dumps(k)}]", f"must be a string, got {_show(v)}")
        return MappingProxyType(dict(found))


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    # bool is an int subclass in Python, and 12.0 is refused by Go's decoder: neither is a size.
    return type(v) is int


def _is_obj(v: Any) -> bool:
    return isinstance(v, dict)


def _is_list(v: Any) -> bool:
    return isinstance(v, list)


def _join(parent: str, key: str) -> str:
    part = key if key.isidentifier() else f"[{json.dumps(key)}]"
    if not parent:
        return part
    return f"{parent}{part}" if part.startswith("[") else f"{parent}.{part}"


def _show(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "…"


def _label(noun: str, source: str) -> str:
    return noun if source in ("", noun) else f"{noun} {source}"


def _bare_type(media_type: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` → ``"application/json"``."""
    return (media_type or "").split(";", 1)[0].strip().lower()


def _load(raw: bytes, r: _Reader) -> dict[str, Any]:
    if isinstance(raw, str):
        raise ManifestError(
            f"{r.label}: got str, not bytes; pass the body exactly as received "
            "(the digest is over the bytes)"
        )
    if not raw.strip():
        r.fail("", "is empty, not a JSON document")
    doc = _json(raw, r)
    if not isinstance(doc, dict):
        r.fail("", f"must be a JSON object, got {type(doc).__name__} {_show(doc)}")
    return doc


def _json(raw: bytes | str, r: _Reader) -> Any:
    """JSON within archlab's depth limit, UTF-8 without a BOM as Go's decoder wants it.

    No size cap here: whoever fetched the bytes capped them (``RegistryClient``'s
    ``max_manifest_bytes``/``max_config_bytes``), and a caller who raised that cap meant it.
    """
    return decoding.load_json(
        raw, what=r.label, error=ManifestError, max_bytes=max(len(raw), 1), allow_bom=False,
        hint="an HTML error page or a proxy's login page looks like this",
    )


def _make_platform(mapping: Mapping[str, Any]) -> Platform:
    return Platform.from_oci(mapping)


# ---------------------------------------------------------------------------------------------
# Pieces shared by the document kinds


def _platform(r: _Reader, obj: Mapping[str, Any], parent: str) -> Platform:
    clean = {
        "architecture": r.string(obj, "architecture", parent, required=True),
        "os": r.string(obj, "os", parent, required=True),
        "variant": r.string(obj, "variant", parent) or "",
        "os.version": r.string(obj, "os.version", parent) or "",
        "os.features": list(r.strings(obj, "os.features", parent) or ()),
    }
    r.strings(obj, "features", parent)  # Docker lists' old CPU-features field, checked only
    try:
        return _make_platform(clean)
    except ArchlabError as exc:
        r.fail(parent, f"is not a usable platform: {exc}")


def _descriptor(r: _Reader, obj: Any, path: str) -> Descriptor:
    if not isinstance(obj, dict):
        r.fail(path, f"must be an object, got {_show(obj)}")
    media_type = r.string(obj, "mediaType", path, required=True)
    digest = r.digest(obj, "digest", path)
    size = r.integer(obj, "size", path, required=True)
    if size < 0:
        r.fail(_join(path, "size"), f"must not be negative, got {size}")
    platform_obj = r.obj(obj, "platform", path)
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        platform=None
        if platform_obj is None
        else _platform(r, platform_obj, _join(path, "platform")),
        annotations=r.annotations(obj, path),
        urls=r.strings(obj, "urls", path) or (),
        artifact_type=r.string(obj, "artifactType", path) or "",
    )


def _schema_version(r: _Reader, doc: Mapping[str, Any], want: int, media_type: str) -> int:
    v = r.integer(doc, "schemaVersion", "", required=True)
    if v != want:
        r.fail("schemaVersion", f"must be {want} for {_KIND_NAMES[media_type]}, got {v}")
    return v


def _subject(r: _Reader, doc: Mapping[str, Any]) -> Descriptor | None:
    if doc.get("subject") is None:
        return None
    return _descriptor(r, doc["subject"], "subject")


# ---------------------------------------------------------------------------------------------
# The document kinds


def _parse_index(r: _Reader, doc: dict[str, Any], raw: bytes, media_type: str) -> ImageIndex:
    version = _schema_version(r, doc, 2, media_type)
    entries = r.array(doc, "manifests", "", required=True)
    return ImageIndex(
        media_type=media_type,
        manifests=tuple(_descriptor(r, e, f"manifests[{i}]") for i, e in enumerate(entries)),
        annotations=r.annotations(doc, ""),
        subject=_subject(r, doc),
        artifact_type=r.string(doc, "artifactType", "") or "",
        schema_version=version,
        raw=raw,
        digest=digests.compute(raw),
    )


def _parse_image(r: _Reader, doc: dict[str, Any], raw: bytes, media_type: str) -> ImageManifest:
    version = _schema_version(r, doc, 2, media_type)
    config = r.obj(doc, "config", "", required=True)
    layers = r.array(doc, "layers", "", required=True)
    return ImageManifest(
        media_type=media_type,
        config=_descriptor(r, config, "config"),
        layers=tuple(_descriptor(r, e, f"layers[{i}]") for i, e in enumerate(layers)),
        annotations=r.annotations(doc, ""),
        subject=_subject(r, doc),
        artifact_type=r.string(doc, "artifactType", "") or "",
        schema_version=version,
        raw=raw,
        digest=digests.compute(raw),
    )


def _parse_schema1(r: _Reader, doc: dict[str, Any], raw: bytes, media_type: str) -> Schema1Manifest:
    signed = "signatures" in doc
    payload = _schema1_payload(r, doc, raw) if signed else raw
    n_signatures = len(doc["signatures"]) if signed else 0
    if signed:
        # Read the fields from the payload, as distribution does: it is what the digest covers.
        doc = _json(payload, r)
    _schema_version(r, doc, 1, media_type)
    name = r.string(doc, "name", "", required=True)
    tag = r.string(doc, "tag", "", required=True)
    architecture = r.string(doc, "architecture", "", required=True)
    fs_layers = r.array(doc, "fsLayers", "", required=True)
    history = r.array(doc, "history", "", required=True)
    blobs = []
    for i, layer in enumerate(fs_layers):
        path = f"fsLayers[{i}]"
        if not isinstance(layer, dict):
            r.fail(path, f"must be an object, got {_show(layer)}")
        blobs.append(r.digest(layer, "blobSum", path))
    v1s = []
    for i, entry in enumerate(history):
        path = f"history[{i}]"
        if not isinstance(entry, dict):
            r.fail(path, f"must be an object, got {_show(entry)}")
        text = r.string(entry, "v1Compatibility", path, required=True)
        try:
            v1 = _json(text, r)
        except ManifestError:
            v1 = None
        if not isinstance(v1, dict):
            r.fail(f"{path}.v1Compatibility", f"must hold a JSON object, got {_show(text)}")
        r.string(v1, "os", f"{path}.v1Compatibility")
        r.string(v1, "architecture", f"{path}.v1Compatibility")
        v1s.append(text)
    # moby's verifySchema1Manifest refuses both of these before pulling anything.
    if not blobs:
        r.fail("fsLayers", "is empty; a schema 1 manifest needs at least one layer")
    if len(v1s) != len(blobs):
        r.fail(
            "history",
            f"has {len(v1s)} entries but fsLayers has {len(blobs)}; they must pair up one to one",
        )
    return Schema1Manifest(
        media_type=media_type,
        name=name,
        tag=tag,
        architecture=architecture,
        fs_layers=tuple(blobs),
        history=tuple(v1s),
        signed=signed,
        signatures=n_signatures,
        raw=raw,
        digest=digests.compute(payload),
    )


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64url(text: str) -> bytes:
    # Strict, like libtrust's decoder: Python's would silently skip stray characters.
    if not _B64URL.fullmatch(text.rstrip("=")):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _schema1_payload(r: _Reader, doc: Mapping[str, Any], raw: bytes) -> bytes:
    sigs = r.array(doc, "signatures", "", required=True)
    if not sigs:
        r.fail("signatures", "is empty; a signed schema 1 manifest needs at least one signature")
    cut: tuple[int, bytes] | None = None
    for i, sig in enumerate(sigs):
        path = f"signatures[{i}]"
        if not isinstance(sig, dict):
            r.fail(path, f"must be an object, got {_show(sig)}")
        protected = r.string(sig, "protected", path, required=True)
        try:
            header = _json(_b64url(protected), r)
        except (ValueError, binascii.Error):  # ManifestError is a ValueError
            header = None
        if not isinstance(header, dict):
            r.fail(f"{path}.protected", "is not base64url-encoded JSON")
        hpath = f"{path}.protected"
        length = r.integer(header, "formatLength", hpath, required=True)
        tail_text = r.string(header, "formatTail", hpath, required=True)
        try:
            tail = _b64url(tail_text)
        except (ValueError, binascii.Error):
            r.fail(f"{hpath}.formatTail", f"is not base64url, got {_show(tail_text)}")
        if cut is not None and cut != (length, tail):
            r.fail(hpath, "disagrees with signatures[0] about formatLength/formatTail")
        cut = (length, tail)
    assert cut is not None
    length, tail = cut
    if not 0 < length <= len(raw):
        r.fail(
            "signatures[0].protected.formatLength",
            f"is {length}, outside the document's {len(raw)} bytes",
        )
    payload = raw[:length] + tail
    try:
        ok = isinstance(_json(payload, r), dict)
    except ManifestError:
        ok = False
    if not ok:
        r.fail(
            "signatures[0].protected",
            "formatLength/formatTail do not cut a JSON object out of the document",
        )
    return payload


def schema1_payload(raw: bytes, *, source: str = "manifest") -> bytes:
    """The bytes a schema 1 manifest's digest is computed over.

    For a signed (``prettyjws``) document that is the JWS payload: the first ``formatLength``
    bytes followed by ``formatTail``, both read from the protected header of the signatures
    (libtrust's ``ParsePrettySignature``). The ``"signatures"`` member is thereby cut out and
    the closing brace restored. An unsigned document is its own payload.
    """
    r = _Reader(_label("manifest", source))
    doc = _load(raw, r)
    return _schema1_payload(r, doc, raw) if "signatures" in doc else raw


# ---------------------------------------------------------------------------------------------
# Dispatch


def _unsupported(r: _Reader, media_type: str, why: str) -> NoReturn:
    raise ManifestError(
        f"{r.label}: unsupported manifest format {media_type!r} ({why}; archlab reads Docker "
        "manifest lists, schema 2 and schema 1 manifests, OCI indexes and OCI image manifests)"
    )


def _detect(r: _Reader, doc: Mapping[str, Any]) -> str:
    """Guess the type of a document without ``mediaType``, like moby for blobs fetched by digest."""
    has = {k for k in ("manifests", "config", "layers", "fsLayers") if k in doc}
    if "fsLayers" in has:
        if has != {"fsLayers"}:
            r.fail("", f"mixes schema 1 fsLayers with {', '.join(sorted(has - {'fsLayers'}))}")
        return DOCKER_SCHEMA1
    if "config" in has or "layers" in has:
        if "manifests" in has:
            r.fail("", "has both manifests and config/layers; cannot tell index from manifest")
        return OCI_MANIFEST
    return OCI_INDEX  # moby's fallback; a missing "manifests" is reported by the index parser


_FORBIDDEN_KEYS = {
    DOCKER_MANIFEST_LIST: ("config", "layers", "fsLayers"),
    OCI_INDEX: ("config", "layers", "fsLayers"),
    DOCKER_MANIFEST_V2: ("manifests", "fsLayers"),
    OCI_MANIFEST: ("manifests", "fsLayers"),
    DOCKER_SCHEMA1: ("manifests", "layers", "config"),
    DOCKER_SCHEMA1_SIGNED: ("manifests", "layers", "config"),
}


def parse_manifest(
    raw: bytes, media_type: str | None = None, *, source: str = "manifest"
) -> Manifest:
    """Parse a manifest list, index or manifest from the exact bytes a registry returned.

    ``media_type`` is the response's ``Content-Type`` (parameters are ignored); ``source`` names
    the document in error messages (a reference or a digest). Raises :class:`ManifestError`.
    """
    r = _Reader(_label("manifest", source))
    doc = _load(raw, r)
    raw = bytes(raw)
    given = _bare_type(media_type)
    if given in _GENERIC_TYPES:
        given = ""
    elif given not in ACCEPT_ALL:
        _unsupported(r, given, "Content-Type")
    declared = r.string(doc, "mediaType", "")

    if given and declared and declared != given:
        both_schema1 = given in SCHEMA1_TYPES and declared in SCHEMA1_TYPES
        if not both_schema1:
            r.fail(
                "mediaType",
                f"is {declared!r} but the registry sent Content-Type {given!r}; "
                "the document is not what it was served as",
            )
    if not given and declared and declared not in ACCEPT_ALL:
        _unsupported(r, declared, "mediaType in the document")
    kind = given or declared or _detect(r, doc)

    if kind in (DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2) and declared is None:
        r.fail("mediaType", f"is missing; {_KIND_NAMES[kind]} must declare {kind!r}")
    for key in _FORBIDDEN_KEYS[kind]:
        if key in doc:
            r.fail(key, f"must not appear in {_KIND_NAMES[kind]}")

    if kind in INDEX_TYPES:
        return _parse_index(r, doc, raw, kind)
    if kind in IMAGE_TYPES:
        return _parse_image(r, doc, raw, kind)
    if kind == DOCKER_SCHEMA1 and "signatures" in doc and not given:
        kind = DOCKER_SCHEMA1_SIGNED  # detected from keys: say what it is
    return _parse_schema1(r, doc, raw, kind)


def parse_config(
    raw: bytes, *, source: str = "config", media_type: str | None = None
) -> ImageConfig:
    """Parse an image config blob (Docker or OCI; the two share one layout).

    ``os`` and ``architecture`` may be absent or empty: Docker accepts that and shows the OS as
    unknown. Entrypoint and Cmd may be a list or, as Docker's own config allows, one string.
    """
    r = _Reader(_label("config", source))
    doc = _load(raw, r)
    raw = bytes(raw)
    container = r.obj(doc, "config", "") or {}
    rootfs = r.obj(doc, "rootfs", "") or {}
    if rootfs:
        r.string(rootfs, "type", "rootfs")
    diff_ids = r.strings(rootfs, "diff_ids", "rootfs") or ()
    for i, d in enumerate(diff_ids):
        r.check_digest(d, f"rootfs.diff_ids[{i}]")
    created = r.string(doc, "created", "")
    history = r.array(doc, "history", "") or []
    return ImageConfig(
        media_type=_bare_type(media_type),
        architecture=r.string(doc, "architecture", "") or "",
        os=r.string(doc, "os", "") or "",
        variant=r.string(doc, "variant", "") or "",
        os_version=r.string(doc, "os.version", "") or "",
        os_features=r.strings(doc, "os.features", "") or (),
        entrypoint=_command(r, container, "Entrypoint"),
        cmd=_command(r, container, "Cmd"),
        env=r.strings(container, "Env", "config") or (),
        working_dir=r.string(container, "WorkingDir", "config") or "",
        user=r.string(container, "User", "config") or "",
        diff_ids=tuple(diff_ids),
        created=created,
        history_length=len(history),
        raw=raw,
        digest=digests.compute(raw),
    )


def _command(r: _Reader, container: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    # Docker's strslice accepts "cmd" as well as ["cmd"]; null means "not set".
    v = container.get(key)
    if isinstance(v, str):
        return (v,)
    return r.strings(container, key, "config")
