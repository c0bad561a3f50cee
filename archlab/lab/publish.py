"""Push built images to any registry through the distribution API.

Order matters to a registry: blobs before the manifest that names them, child manifests (by
digest) before the list that names them, or the PUT fails with ``MANIFEST_BLOB_UNKNOWN``. Each
blob is HEADed first and skipped when present, so pushing the same image twice uploads nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from archlab.lab.images import BuiltImage, BuiltIndex
from archlab.reference import Reference
from archlab.registry import AsyncRegistryClient


@dataclass
class PushReport:
    """What a push sent: blobs uploaded vs already there, and manifests written."""

    uploaded: int = 0
    skipped: int = 0
    manifests: int = 0
    uploaded_bytes: int = 0

    def __iadd__(self, other: PushReport) -> PushReport:
        self.uploaded += other.uploaded
        self.skipped += other.skipped
        self.manifests += other.manifests
        self.uploaded_bytes += other.uploaded_bytes
        return self


async def push_image(
    client: AsyncRegistryClient, ref: Reference, image: BuiltImage, *, by_digest: bool = False
) -> PushReport:
    """Blobs, then the manifest under ``ref``'s tag (or its own digest when ``by_digest``)."""
    report = PushReport()
    for blob in image.blobs():
        if await client.push_blob(ref, blob.data):
            report.uploaded += 1
            report.uploaded_bytes += blob.size
        else:
            report.skipped += 1
    target = ref.with_digest(image.manifest.digest) if by_digest else ref
    await client.push_manifest(target, image.manifest.data, image.manifest.media_type)
    report.manifests += 1
    return report


async def push_index(client: AsyncRegistryClient, ref: Reference, index: BuiltIndex) -> PushReport:
    """Every child by digest, then the list or index under ``ref``'s tag."""
    report = PushReport()
    for child in index.children():
        report += await push_image(client, ref, child, by_digest=True)
    await client.push_manifest(ref, index.manifest.data, index.manifest.media_type)
    report.manifests += 1
    return report
