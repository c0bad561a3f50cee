"""What a manifest entry is: an image, or one of the other things registries hold.

What it is for
--------------
A registry stores more than images. Next to them (in an index, or under tags of their own)
live BuildKit attestations, cosign signatures (``sha256-<digest>.sig`` tags), SBOMs, Helm
charts and WASM modules. Counted as platforms they make a survey wrong (``unknown/unknown``
is no CPU), and pulled by Docker they fail in their own way. This module names each entry
from what its documents declare, without fetching anything: :mod:`archlab.inspect`,
:mod:`archlab.survey` and :mod:`archlab.verify` call it, and :mod:`archlab.simulate` predicts
what each Engine does when a pull lands on one.

How do I use it?
----------------
::

    from archlab.artifacts import classify_descriptor, classify_manifest, IMAGE
    classify_descriptor(index.manifests[2])       # 'attestation' (or None: look inside)
    classify_manifest(manifest, tag="sha256-ab….sig")   # 'signature'
    kind in PLATFORM_KINDS                        # counts as a platform? only images

The rules (first that applies)
------------------------------
===================================================  ==============================
evidence                                             kind
===================================================  ==============================
annotation ``vnd.docker.reference.type:              ``attestation``
attestation-manifest`` (BuildKit), or an in-toto /
DSSE type as artifactType, config or layer
a Helm config or chart layer type                    ``helm chart``
a cosign or Notary signature type, or a tag          ``signature``
``sha256-<64 hex>.sig``
an SPDX, CycloneDX or Syft type, or a tag            ``sbom``
``sha256-<64 hex>.sbom``
a WASM config or layer type, or platform             ``wasm``
``wasi/wasm`` (os ``wasi``/``wasip1``/``wasip2``)
any other ``artifactType``, or a config type         ``unknown artifact``
Docker's pull does not take as an image, or a
layer that is not a tar
an image config (or a type Docker accepts as one)    ``image``
and tar layers
===================================================  ==============================

"Docker accepts as one": 20.10's ``defaultImageTypes`` (the two config types plus
``application/octet-stream``, ``application/json``, ``text/html`` and none at all)
[moby@v20.10.12:distribution/registry.go#L23-44].
"""

from __future__ import annotations

import re
from typing import Final, Literal

from archlab import manifests
from archlab.manifests import Descriptor, ImageIndex, ImageManifest

__all__ = [
    "ATTESTATION", "HELM_CHART", "IMAGE", "KINDS", "PLATFORM_KINDS", "SBOM", "SIGNATURE",
    "UNKNOWN_ARTIFACT", "WASM", "EntryKind", "classify_descriptor", "classify_manifest",
    "tag_kind",
]

EntryKind = Literal["image", "attestation", "signature", "sbom", "helm chart", "wasm",
                    "unknown artifact"]

IMAGE: Final = "image"
ATTESTATION: Final = "attestation"
SIGNATURE: Final = "signature"
SBOM: Final = "sbom"
HELM_CHART: Final = "helm chart"
WASM: Final = "wasm"
UNKNOWN_ARTIFACT: Final = "unknown artifact"
KINDS: tuple[str, ...] = (IMAGE, ATTESTATION, SIGNATURE, SBOM, HELM_CHART, WASM,
                          UNKNOWN_ARTIFACT)
#: Kinds whose platform is a platform: a survey counts these and no others.
PLATFORM_KINDS = frozenset({IMAGE})

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_PROVENANCE = "application/vnd.cncf.helm.chart.provenance.v1.prov"
COSIGN_SIGNATURE = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_ARTIFACT_SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"
NOTARY_SIGNATURE = "application/vnd.cncf.notary.signature"
DSSE = "application/vnd.dsse.envelope.v1+json"
SPDX_JSON = "application/spdx+json"
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
WASM_CONFIG = "application/vnd.wasm.config.v0+json"
WASM_CONFIG_V1 = "application/vnd.wasm.config.v1+json"
WASM_LAYER = "application/vnd.wasm.content.layer.v1+wasm"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

_ATTESTATION_TYPES = frozenset({manifests.IN_TOTO, DSSE})
_HELM_TYPES = frozenset({HELM_CONFIG, HELM_CHART_LAYER, HELM_PROVENANCE})
_SIGNATURE_TYPES = frozenset({COSIGN_SIGNATURE, COSIGN_ARTIFACT_SIG, NOTARY_SIGNATURE})
_SBOM_TYPES = frozenset({SPDX_JSON, "text/spdx", "text/spdx+json", "text/spdx+xml",
                         CYCLONEDX_JSON, "application/vnd.cyclonedx+xml",
                         "application/vnd.cyclonedx", "application/vnd.syft+json"})
_WASM_TYPES = frozenset({WASM_CONFIG, WASM_CONFIG_V1, WASM_LAYER, "application/wasm"})
_WASM_OS = frozenset({"wasi", "wasip1", "wasip2"})
#: Config types Docker 20.10 pulls as an image (``defaultImageTypes``).
IMAGE_CONFIG_TYPES = frozenset({*manifests.CONFIG_TYPES, "application/octet-stream",
                                "application/json", "text/html", ""})
_COSIGN_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.(sig|sbom|att)$")
_TAG_KINDS = {"sig": SIGNATURE, "sbom": SBOM, "att": ATTESTATION}


def tag_kind(tag: str | None) -> EntryKind | None:
    """The kind a cosign-style tag names (``sha256-<hex>.sig`` / ``.sbom`` / ``.att``)."""
    m = _COSIGN_TAG.match(tag or "")
    return _TAG_KINDS[m.group(1)] if m else None  # type: ignore[return-value]


def _by_types(types: set[str]) -> EntryKind | None:
    types = {t.lower() for t in types}
    if types & _ATTESTATION_TYPES:
        return ATTESTATION
    if types & _HELM_TYPES:
        return HELM_CHART
    if types & _SIGNATURE_TYPES:
        return SIGNATURE
    if types & _SBOM_TYPES:
        return SBOM
    if types & _WASM_TYPES:
        return WASM
    return None


def classify_descriptor(d: Descriptor) -> EntryKind | None:
    """The kind of an index entry from the entry alone, or None when only its manifest can
    tell (an image-manifest entry with a real platform is taken as an image)."""
    if d.is_attestation:
        return ATTESTATION
    found = _by_types({d.artifact_type} - {""})
    if found:
        return found
    if d.platform is not None and (d.platform.os in _WASM_OS
                                   or d.platform.architecture == "wasm"):
        return WASM
    if d.artifact_type:
        return UNKNOWN_ARTIFACT
    if d.media_type in manifests.INDEX_TYPES:
        return IMAGE  # a nested index: what a pull walks into
    if d.media_type not in manifests.IMAGE_TYPES:
        return UNKNOWN_ARTIFACT
    if d.platform is None or d.platform_unknown:
        return None
    return IMAGE


def classify_manifest(m: ImageManifest | ImageIndex, *, tag: str | None = None,
                      descriptor: Descriptor | None = None) -> EntryKind:
    """The kind of a manifest, from its own types (and the tag or index entry naming it)."""
    if descriptor is not None and descriptor.is_attestation:
        return ATTESTATION
    if isinstance(m, ImageIndex):
        found = _by_types({m.artifact_type} - {""})
        return found or (UNKNOWN_ARTIFACT if m.artifact_type else IMAGE)
    types = {m.artifact_type, m.config.media_type, *(layer.media_type for layer in m.layers)}
    found = _by_types(types - {""})
    if found:
        return found
    named = tag_kind(tag)
    if named:
        return named
    if descriptor is not None:
        from_entry = classify_descriptor(descriptor)
        if from_entry is not None and from_entry != IMAGE:
            return from_entry
    if m.artifact_type or m.config.media_type.lower() not in IMAGE_CONFIG_TYPES:
        return UNKNOWN_ARTIFACT
    if any(not _is_tar(layer.media_type) for layer in m.layers):
        return UNKNOWN_ARTIFACT
    return IMAGE


def _is_tar(media_type: str) -> bool:
    mt = media_type.lower()
    return ".tar" in mt or mt in ("application/octet-stream", "")
