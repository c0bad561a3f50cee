"""The lab without a registry: the shipped lab snapshot, with every lab layer rebuilt.

What it is for
--------------
The shipped snapshot (``data/snapshots/lab``, ``--snapshot lab``) holds what the lab registry
answered for manifests and configs, never layers: :mod:`archlab.lab.scenarios` rebuilds every
layer byte for byte on any machine, so shipping them would only weigh the wheel down. What
reads layers (``archlab verify``, the notebooks' binary witnesses, ``gather_facts(layers=True)``)
needs them offline all the same. This module adds them to the loaded snapshot as recorded blob
answers, in memory; nothing is written.

How do I use it?
----------------
::

    from archlab.lab.offline import lab_snapshot, with_lab_layers
    from archlab.snapshot import replay_client
    from archlab.verify import verify

    with replay_client(lab_snapshot()) as reg:          # verified, pinned, layers added
        verify("127.0.0.1:5000/lab/mislabelled", client=reg).ok    # False: binary disagrees

    archlab verify 127.0.0.1:5000/lab/mislabelled --snapshot lab   # the same, from the CLI

The rules
---------
======================  =======================================================================
what                    rule
======================  =======================================================================
which snapshot          only the shipped lab snapshot (named ``lab``, ``lab@sha256:…`` or by its
                        directory), after :func:`~archlab.snapshot.load_snapshot` verified it
                        and checked its pinned root; any other snapshot is left as it is
which layers            every layer of every image, attestation, artifact and companion image
                        of every scenario, both twins, under each repository that holds it
checked                 each layer is served only for the digest of its own bytes, and the
                        client checks it against the digest the *recorded* manifest names: a
                        builder that drifted from what the registry served gives "not in
                        snapshot", never other bytes
answers kept            a blob the snapshot recorded itself is never replaced
======================  =======================================================================
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

from archlab.snapshot import LAB_HOST, Answer, Snapshot, is_shipped_lab, load_snapshot

__all__ = ["lab_snapshot", "load_with_lab_layers", "with_lab_layers"]

_OCTET = "application/octet-stream"


def with_lab_layers(snap: Snapshot) -> Snapshot:
    """``snap`` plus every lab layer as a recorded blob answer of ``LAB_HOST`` (a copy)."""
    from archlab.lab import scenarios  # builds the images: only when layers are wanted

    answers = list(snap.answers)
    blobs = dict(snap.blobs)
    seen = {(a.repository, a.reference) for a in answers if a.kind == "blob"}
    for scenario in scenarios.build_all():
        for image in scenario.children():
            for layer in image.layers:
                key = (scenario.repository, layer.digest)
                if key in seen:
                    continue
                seen.add(key)
                blobs[layer.digest] = layer.data
                answers.append(Answer(
                    kind="blob", host=LAB_HOST, repository=scenario.repository,
                    reference=layer.digest, status=200, digest=layer.digest,
                    media_type=_OCTET, size=layer.size, body=layer.digest,
                    headers=(("content-type", _OCTET), ("docker-content-digest", layer.digest)),
                ))
    return replace(snap, answers=tuple(answers), blobs=MappingProxyType(blobs))


def load_with_lab_layers(path: str | Path) -> Snapshot:
    """:func:`~archlab.snapshot.load_snapshot`, plus the lab layers when ``path`` names the
    shipped lab snapshot (``lab@sha256:…`` pins it as usual)."""
    snap = load_snapshot(path)
    return with_lab_layers(snap) if is_shipped_lab(path) else snap


def lab_snapshot(*, layers: bool = True, source: Path | None = None) -> Snapshot:
    """The shipped lab snapshot, verified against its pinned root, layers added unless
    ``layers=False``. ``source`` renames it in "not in snapshot" messages."""
    from archlab import shipped

    snap = load_snapshot(shipped.data_path("snapshots", "lab"))
    if source is not None:
        snap = replace(snap, source=source)
    return with_lab_layers(snap) if layers else snap
