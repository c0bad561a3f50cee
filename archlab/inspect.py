"""Inspect an image reference: what a registry holds for it, entry by entry, as values and frames.

This is ``docker buildx imagetools inspect`` as a library, plus the two things peers miss:

* for a **single-arch** manifest, the platform is read from its **config** (a bare schema2 or OCI
  manifest has no platform field at all: that is why ``docker manifest inspect`` scripts that grep
  for ``"architecture"`` call amd64-only images multi-arch);
* **attestation** entries (BuildKit's provenance/SBOM manifests, platform ``unknown/unknown``)
  are recognised by their ``vnd.docker.reference.type`` annotation and marked, never counted as
  platforms.

::

    from archlab.inspect import inspect, to_frame
    with RegistryClient() as reg:
        insp = inspect("127.0.0.1:5000/lab/mysql:5.7", client=reg)
    insp.kind                      # 'list'
    [str(e.platform) for e in insp.entries]  # ['linux/amd64']
    insp.select("linux/arm64")     # raises NoMatchingManifestError, Docker's exact text:
    # no matching manifest for linux/arm64 in the manifest list entries
    to_frame([insp])               # one row per ref x entry

``select`` resolves an entry as Docker Engine 20.10 does (exact match after normalization, first
entry in list order, the arm variant-less fallback); :mod:`archlab.simulate` models the other
versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import pandas as pd

from archlab import artifacts, manifests, platforms
from archlab.errors import ArchlabError, NoMatchingManifestError
from archlab.platforms import Platform
from archlab.reference import Reference, parse_reference
from archlab.registry import AsyncRegistryClient, RegistryClient

ConfigPolicy = Literal["single", "all", "none"]

#: Columns of :func:`to_frame`, in order.
FRAME_COLUMNS = [
    "ref", "kind", "list_digest", "entry_digest", "media_type", "os", "architecture",
    "variant", "platform", "is_attestation", "attests", "size", "config_platform", "error",
    "entry_kind",
]


@dataclass(frozen=True)
class Entry:
    """One manifest a reference offers: a list entry, or the single manifest itself."""

    digest: str
    media_type: str
    size: int | None
    platform: Platform | None
    is_attestation: bool = False
    attests: str | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    #: The platform read from the image config, when it was fetched.
    config_platform: Platform | None = None
    #: What the entry is (:mod:`archlab.artifacts`): image, attestation, signature, sbom,
    #: helm chart, wasm or unknown artifact.
    kind: str = artifacts.IMAGE

    @property
    def effective_platform(self) -> Platform | None:
        """What this entry really is: the config's platform if known, else the listed one."""
        return self.config_platform or self.platform


@dataclass(frozen=True)
class Inspection:
    """Everything archlab learned about one reference."""

    reference: Reference
    kind: str  # "list" (Docker manifest list), "index" (OCI), "single" (schema2/OCI), "schema1"
    media_type: str
    digest: str
    entries: tuple[Entry, ...]
    raw: bytes = field(repr=False)
    config: manifests.ImageConfig | None = None

    @property
    def is_multi_arch(self) -> bool:
        return self.kind in ("list", "index")

    @property
    def platforms(self) -> list[Platform]:
        """The platforms offered, attestations and other artifacts left out, in list order."""
        return [e.effective_platform for e in self.entries
                if e.kind in artifacts.PLATFORM_KINDS and not e.is_attestation
                and e.effective_platform is not None]

    def select(self, platform: str | Platform) -> Entry:
        """The entry Docker Engine 20.10 would pull for ``--platform``, or Docker's exact error.

        A single-arch manifest is returned as it is: 20.10 pulls it without any check.
        """
        wanted = platform if isinstance(platform, Platform) else platforms.parse(
            platform, host=daemon_host(), rules=platforms.Rules.MOBY_20_10)
        if not self.is_multi_arch:
            return self.entries[0]
        listed = [e.platform for e in self.entries]
        matches = platforms.match_entries_20_10(listed, wanted)
        if not matches:
            raise NoMatchingManifestError(
                f"no matching manifest for {wanted} in the manifest list entries"
            )
        return self.entries[matches[0]]


def daemon_host() -> Platform:
    """The platform a Linux Docker daemon on this machine reports (``--platform`` is parsed
    by the daemon, so a bare ``amd64`` means linux/amd64 even from a Mac)."""
    here = platforms.host_platform(platforms.Rules.MOBY_20_10)
    return platforms.default_spec("linux", here.architecture,
                                  here.variant if here.architecture.startswith("arm") else None)


async def inspect_async(
    ref: Reference | str,
    *,
    client: AsyncRegistryClient,
    configs: ConfigPolicy = "single",
) -> Inspection:
    """Fetch a reference's manifest (and configs, per ``configs``) and describe it."""
    ref = ref if isinstance(ref, Reference) else parse_reference(ref)
    fetched = await client.get_manifest(ref)
    doc = fetched.manifest
    if isinstance(doc, manifests.ImageIndex):
        entries = []
        for d in doc.manifests:
            entry = _entry_from_descriptor(d)
            undecided = entry.kind == ""  # an image manifest with no real platform: look
            wanted = (configs == "all" and entry.kind == artifacts.IMAGE) or undecided
            if wanted and d.media_type in manifests.IMAGE_TYPES:
                child = await client.get_manifest(ref.with_digest(d.digest))
                if isinstance(child.manifest, manifests.ImageManifest):
                    kind = artifacts.classify_manifest(child.manifest, descriptor=d)
                    entry = replace(entry, kind=kind)
                    if configs == "all" and kind == artifacts.IMAGE:
                        cfg = await client.get_config(ref, child.manifest.config)
                        entry = _with_config(entry, cfg.platform)
            if entry.kind == "":
                entry = replace(entry, kind=artifacts.UNKNOWN_ARTIFACT)
            entries.append(entry)
        return Inspection(ref, doc.kind, fetched.media_type, fetched.digest, tuple(entries),
                          fetched.raw)
    if isinstance(doc, manifests.ImageManifest):
        config = None
        kind = artifacts.classify_manifest(doc, tag=ref.tag)
        if configs != "none" and kind in (artifacts.IMAGE, artifacts.WASM):
            config = await client.get_config(ref, doc.config)
        entry = Entry(fetched.digest, fetched.media_type, len(fetched.raw), None,
                      config_platform=config.platform if config else None, kind=kind)
        return Inspection(ref, "single", fetched.media_type, fetched.digest, (entry,),
                          fetched.raw, config)
    # schema1: the platform lives in the first history entry.
    entry = Entry(fetched.digest, fetched.media_type, len(fetched.raw), None,
                  config_platform=doc.config_platform)
    return Inspection(ref, "schema1", fetched.media_type, fetched.digest, (entry,), fetched.raw)


def inspect(
    ref: Reference | str,
    *,
    client: RegistryClient | None = None,
    configs: ConfigPolicy = "single",
) -> Inspection:
    """Blocking :func:`inspect_async`; makes (and closes) a client when none is given."""
    if client is None:
        with RegistryClient() as own:
            return inspect(ref, client=own, configs=configs)
    return client.run(lambda aio: inspect_async(ref, client=aio, configs=configs))


def _entry_from_descriptor(d: manifests.Descriptor) -> Entry:
    return Entry(
        digest=d.digest,
        media_type=d.media_type,
        size=d.size,
        platform=d.platform,
        is_attestation=d.is_attestation,
        attests=d.attests,
        annotations=tuple(sorted(dict(d.annotations).items())),
        kind=artifacts.classify_descriptor(d) or "",
    )


def _with_config(entry: Entry, platform: Platform) -> Entry:
    return replace(entry, config_platform=platform)


# ---------------------------------------------------------------------- frames


def to_frame(
    inspections: Iterable[Inspection | tuple[str, ArchlabError]],
) -> pd.DataFrame:
    """One row per reference x entry (see :data:`FRAME_COLUMNS`).

    Failed references may be passed as ``(ref, error)`` pairs: they become one row carrying the
    error text, so a partial result is never lost.
    """
    rows: list[dict[str, object]] = []
    for item in inspections:
        if isinstance(item, tuple):
            ref_text, err = item
            rows.append({"ref": ref_text, "error": str(err)})
            continue
        list_digest = item.digest if item.is_multi_arch else None
        for e in item.entries:
            p = e.platform or e.config_platform
            rows.append({
                "ref": str(item.reference),
                "kind": item.kind,
                "list_digest": list_digest,
                "entry_digest": e.digest,
                "media_type": e.media_type,
                "os": p.os if p else None,
                "architecture": p.architecture if p else None,
                "variant": (p.variant or None) if p else None,
                "platform": str(p) if p else None,
                "is_attestation": e.is_attestation,
                "attests": e.attests,
                "size": e.size,
                "config_platform": str(e.config_platform) if e.config_platform else None,
                "error": None,
                "entry_kind": e.kind,
            })
    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    # Explicit nullable dtypes: missing is <NA> everywhere, whatever pandas version.
    dtypes = {c: "string" for c in FRAME_COLUMNS}
    dtypes.update(is_attestation="boolean", size="Int64")
    return frame.astype(dtypes)


# ---------------------------------------------------------------------- text and JSON


def format_text(insp: Inspection, *, selected: Entry | None = None) -> str:
    """Human output in the spirit of ``docker buildx imagetools inspect``."""
    ref = insp.reference
    name = f"{ref.name}:{ref.tag}" if ref.tag else str(ref)
    lines = [f"Name:      {name}", f"MediaType: {insp.media_type}", f"Digest:    {insp.digest}"]
    if insp.is_multi_arch:
        # BuildKit's (marked by annotation) and OCI 1.1 referrers (by their types) alike
        n_att = sum(e.kind == artifacts.ATTESTATION for e in insp.entries)
        n_img = sum(e.kind == artifacts.IMAGE for e in insp.entries)
        summary = f"{n_img} image{'s' if n_img != 1 else ''}"
        if n_att:
            summary += f", {n_att} attestation{'s' if n_att != 1 else ''}"
        others = [e.kind for e in insp.entries
                  if e.kind not in (artifacts.IMAGE, artifacts.ATTESTATION)]
        for kind in dict.fromkeys(others):
            summary += f", {others.count(kind)} {kind}"
        lines += [f"Kind:      {_KIND_TEXT[insp.kind]} ({summary})", "", "Manifests:"]
        base = insp.reference.name
        for e in insp.entries:
            mark = "  * " if selected is not None and e.digest == selected.digest else "    "
            lines.append(f"{mark}Name:        {base}@{e.digest}")
            lines.append(f"    MediaType:   {e.media_type}")
            lines.append(f"    Platform:    {_platform_text(e.platform)}")
            if e.config_platform is not None and e.config_platform != e.platform:
                lines.append(f"    Config:      {e.config_platform} (from the image config)")
            if e.is_attestation:
                lines.append(f"    Attestation: yes, for {e.attests or '(no subject annotation)'}")
            elif e.kind != artifacts.IMAGE:
                lines.append(f"    Artifact:    {e.kind} (not an image: never a platform)")
            lines.append("")
        if selected is not None:
            lines.append(f"Selected (Docker 20.10 rules): {base}@{selected.digest}")
    else:
        e = insp.entries[0]
        lines.append(f"Kind:      {_KIND_TEXT[insp.kind]}")
        if insp.config is not None:
            cfg_desc = _config_descriptor(insp)
            if cfg_desc is not None:
                lines.append(f"Config:    {cfg_desc.digest} ({cfg_desc.size} bytes)")
        if e.kind != artifacts.IMAGE:
            lines.append(f"Artifact:  {e.kind} (not an image: docker pull fails or stores "
                         "something that cannot run)")
        if e.kind in (artifacts.IMAGE, artifacts.WASM):  # an artifact's config names none
            where = "from the image config" if insp.kind == "single" else "from schema1 history"
            lines.append(f"Platform:  {_platform_text(e.config_platform)} ({where})")
        if e.kind == artifacts.IMAGE:
            lines.append("Note:      single-arch: docker pull does not check its platform; "
                         "a mismatch shows only when the container starts")
    return "\n".join(lines).rstrip() + "\n"


def _config_descriptor(insp: Inspection) -> manifests.Descriptor | None:
    doc = manifests.parse_manifest(insp.raw, insp.media_type, source=str(insp.reference))
    return doc.config if isinstance(doc, manifests.ImageManifest) else None


def to_json(insp: Inspection, *, selected: Entry | None = None) -> dict[str, object]:
    """The same facts as :func:`format_text`, as JSON-ready data."""
    out: dict[str, object] = {
        "name": str(insp.reference),
        "kind": insp.kind,
        "mediaType": insp.media_type,
        "digest": insp.digest,
        "manifests": [
            {
                "digest": e.digest,
                "mediaType": e.media_type,
                "size": e.size,
                "platform": e.platform.to_oci() if e.platform else None,
                "configPlatform": e.config_platform.to_oci() if e.config_platform else None,
                "isAttestation": e.is_attestation,
                "kind": e.kind,
                "attests": e.attests,
                "annotations": dict(e.annotations),
            }
            for e in insp.entries
        ],
    }
    if selected is not None:
        out["selected"] = selected.digest
    return out


def dumps_json(insps: Sequence[Inspection], selected: Sequence[Entry | None]) -> str:
    docs = [to_json(i, selected=s) for i, s in zip(insps, selected, strict=True)]
    return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2) + "\n"


def _platform_text(p: Platform | None) -> str:
    return str(p) if p is not None else "(none given)"


_KIND_TEXT = {
    "list": "manifest list (multi-arch)",
    "index": "OCI image index (multi-arch)",
    "single": "single-arch image manifest",
    "schema1": "schema1 manifest (deprecated, single-arch)",
}
