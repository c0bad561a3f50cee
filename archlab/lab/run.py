"""Run a lab image's binary straight out of a registry: pull, pick, extract, exec.

What it is for
--------------
The story has two moments of failure: ``docker pull`` refusing a list without the host's
platform, and ``exec format error`` when a container starts an image built for another CPU.
:func:`run_from_registry` replays both without a container engine. It does what a pull does
up to the layer, then runs the entrypoint file the way a host with the given CPU (and
emulators) would::

    from archlab.lab.run import run_from_registry
    r = run_from_registry(lab.ref("busybox"), "linux/arm64",
                          host_native=["linux/amd64"], host_emulated=["linux/arm64"])
    r.mode, r.stdout          # ('emulated', 'hello from linux/arm64\\n')
    r = run_from_registry(lab.ref("busybox"), "linux/arm64", host_native=["linux/amd64"])
    r.mode, r.errno, r.error  # ('exec-failed', 8, 'Exec format error')

The steps
---------
======================  =========================================================================
step                    rule
======================  =========================================================================
manifest                fetched by tag; a list or index picks the entry Docker Engine 20.10
                        would (exact platform match; :class:`NoMatchingManifestError` with
                        Docker's text otherwise); a single-arch manifest is taken **unchecked**,
                        as ``docker pull`` does
layer                   fetched by digest and verified (sha256 and size) before it is opened;
                        layers are searched top-down for the file, each read within the
                        bounds of :mod:`archlab.layers` (a layer it refuses fails the run)
binary                  ``/bin/hello`` by default, written to a private temporary directory
run                     :func:`archlab.emulation.run_as_host`: the platform comes from the
                        binary's **ELF header**, not from the manifest, as the kernel decides
======================  =========================================================================

That last rule is why ``lab/mislabelled`` runs natively on amd64 although its entry says arm64.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence

from archlab import limits, manifests, platforms
from archlab.elf import PlatformLike
from archlab.emulation import RunResult, run_as_host
from archlab.emulation import extract_file_from_layer as _extract
from archlab.errors import LabError, ManifestError, NoMatchingManifestError, NotInLayerError
from archlab.reference import Reference, parse_reference
from archlab.registry import AsyncRegistryClient, RegistryClient

__all__ = ["MAX_LAYER_BYTES", "fetch_file", "run_from_registry", "select_manifest"]

#: Cap on one layer fetched for running (the lab's layers are about 10 KiB).
MAX_LAYER_BYTES = limits.MAX_LAYER_BYTES


async def select_manifest(
    client: AsyncRegistryClient, ref: Reference | str, platform: str | platforms.Platform
) -> manifests.ImageManifest:
    """The image manifest a Docker 20.10 pull of ``ref`` for ``platform`` would use."""
    ref = ref if isinstance(ref, Reference) else parse_reference(ref)
    wanted = platforms.parse(platform) if isinstance(platform, str) else platform
    doc = (await client.get_manifest(ref)).manifest
    if isinstance(doc, manifests.ImageIndex):
        matches = platforms.match_entries_20_10([d.platform for d in doc.manifests], wanted)
        if not matches:
            raise NoMatchingManifestError(
                f"no matching manifest for {wanted} in the manifest list entries"
            )
        chosen = doc.manifests[matches[0]]
        doc = (await client.get_manifest(ref.with_digest(chosen.digest))).manifest
    if not isinstance(doc, manifests.ImageManifest):
        raise ManifestError(f"{ref}: {doc.media_type} has no layers to run a file from")
    return doc


async def _fetch_file_async(
    client: AsyncRegistryClient, ref: Reference, image: manifests.ImageManifest, member: str,
    dest_dir: str,
) -> str:
    last: NotInLayerError | None = None
    for layer in reversed(image.layers):
        data = await client.get_blob(ref, layer.digest, max_bytes=MAX_LAYER_BYTES,
                                     expected_size=layer.size, kind="layer", use_cache=False)
        try:
            return str(_extract(data, member, dest_dir))
        except NotInLayerError as exc:  # not in this layer: a lower one may have it
            last = exc
        # Any other LayerError (a bomb, a name out of the layer, bad gzip) fails the pull, as
        # it does for Docker: a lower layer is not searched past a layer that cannot be read.
    raise last or LabError(f"{ref}: the image has no layers")


def fetch_file(
    ref: Reference | str,
    platform: str | platforms.Platform,
    dest_dir: str,
    *,
    member: str = "bin/hello",
    client: RegistryClient | None = None,
) -> str:
    """Write ``member`` of the image ``ref`` resolves to for ``platform`` under ``dest_dir``."""
    ref = ref if isinstance(ref, Reference) else parse_reference(ref)
    if client is None:
        with RegistryClient(use_docker_config=False, cache=False, tag_index=False) as own:
            return fetch_file(ref, platform, dest_dir, member=member, client=own)

    async def go(aio: AsyncRegistryClient) -> str:
        image = await select_manifest(aio, ref, platform)
        return await _fetch_file_async(aio, ref, image, member, dest_dir)

    return client.run(go)


def run_from_registry(
    ref: Reference | str,
    platform: str | platforms.Platform,
    host_native: Iterable[str | PlatformLike],
    host_emulated: Iterable[str | PlatformLike] = (),
    *,
    member: str = "bin/hello",
    args: Sequence[str] = (),
    timeout: float = 10,
    client: RegistryClient | None = None,
) -> RunResult:
    """Pull ``ref`` for ``platform``, take ``member`` out of its layer, run it as that host.

    ``host_native`` / ``host_emulated`` describe the host as in
    :func:`archlab.emulation.run_as_host` (e.g. an arm64 Linux VM: ``["linux/arm64"]``, ``[]``).
    Raises :class:`NoMatchingManifestError` when a list has no entry for ``platform``.
    """
    with tempfile.TemporaryDirectory(prefix="archlab-run-") as tmp:
        path = fetch_file(ref, platform, tmp, member=member, client=client)
        return run_as_host(path, host_native, host_emulated, args, timeout)
