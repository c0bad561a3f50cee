"""Snapshots: keep exactly what registries answered, and answer the same way later, offline.

What it is for
--------------
A survey of Docker Hub today, a notebook about the lab images, a test: all of them ask registries
questions whose answers change (tags move) or need a network or a running registry. A snapshot
stores the answers themselves (the raw manifest and config bytes, their media types and digests,
a few chosen headers, when they were recorded) so the same code can run later against them and
get the same results, byte for byte.

A snapshot is replayed as an **httpx transport**: :func:`replay_client` builds an ordinary
:class:`~archlab.registry.RegistryClient` whose requests go to a :class:`SnapshotTransport`
instead of the network. Every archlab code path (``inspect``, ``simulate.gather_facts``, a
survey) therefore runs unchanged, digest checks included.

How do I use it?
----------------
::

    from archlab.snapshot import record, load_snapshot, replay_client
    from archlab.inspect import inspect

    summary = record(["127.0.0.1:5000/lab/mysql:5.7", "busybox:latest"], "snap/",
                     recorded_at="2024-01-01T00:00:00Z")  # fixed time: reproducible bytes
    summary.snapshot.integrity.root                      # 'sha256:…': write it down
    with replay_client("snap/") as reg:                  # no network from here on
        inspect("127.0.0.1:5000/lab/mysql:5.7", client=reg, configs="all")
    load_snapshot("snap/").to_frame()                    # what it holds, one row per answer
    load_snapshot("snap/@sha256:…")                      # ...and that it is the one recorded

    archlab snapshot record REF... --out DIR [--fixed-time 2024-01-01T00:00:00Z] [--as-host H]
    archlab snapshot show DIR[@sha256:ROOT]

:func:`record` inspects each reference with ``configs="all"`` and gathers what
:mod:`archlab.simulate` needs (nested children, attestation manifests, every image config),
through a :class:`RecordingTransport` that keeps the answers.

What is recorded
----------------
=====================================  ==========================================================
request                                kept
=====================================  ==========================================================
``GET``/``HEAD .../manifests/<ref>``   by tag and by digest: status (200 or 404), the exact
                                       bytes, the ``Accept`` that was sent
``GET .../blobs/<digest>``             JSON blobs up to 4 MiB (configs). Never layers, unless
                                       ``include_layers=True``: then every layer of every
                                       platform's image, each up to ``MAX_LAYER_BYTES`` and
                                       ``MAX_SNAPSHOT_LAYERS_BYTES`` in all (the rest is listed
                                       as skipped), verified by digest and size. A redirect to
                                       blob storage is followed; only the final bytes are kept,
                                       never the URL
``GET .../tags/list?<query>``          each page, by its query string (``record(tags=True)``
                                       asks for them)
Docker Hub's tag listing,              each page, by its query string (``record(hub_tags=True)``
``GET /v2/namespaces/<ns>/             asks for them, :mod:`archlab.hub`), under the API's host
repositories/<name>/tags?<query>``     (``hub.docker.com``, or the stand-in or mirror it was
                                       read from); replayed to :mod:`archlab.tags` like
                                       manifests, so ``archlab tags --snapshot`` runs offline
anything else                          nothing: ``/v2/``, token endpoints, uploads, 401/403,
                                       429, 5xx and redirects are never written
a token request, at any URL            nothing, even when the realm a registry names looks
                                       like ``/v2/<name>/manifests/...``: the client marks
                                       each token request (and its redirects) with
                                       :data:`archlab.auth.CARRIES_CREDENTIALS`
=====================================  ==========================================================

Headers are kept from an **allow-list**, never filtered by a deny-list: ``Content-Type``,
``Docker-Content-Digest``, ``ETag``, ``RateLimit-Limit``, ``RateLimit-Remaining`` and, for tag
pages, a relative ``Link``. Nothing else is ever written, so ``Authorization``, cookies and
tokens cannot be; request headers are not stored at all. Docker Hub's
``Docker-RateLimit-Source`` is left out on purpose: it is the recorder's IP address.

The rules
---------
=======================  ========================================================================
rule                     why
=======================  ========================================================================
verified on record       a manifest's bytes must hash to the digest it was asked by and the
                         ``Docker-Content-Digest`` announced (signed schema1: the payload
                         digest); a blob's to its digest. Anything else is not recorded
verified on load         see *Integrity* below: a snapshot that fails any check is refused
                         with one line (:class:`SnapshotAlteredError`) naming the file
deterministic            sorted JSON keys, answers in a stable order, ``recorded_at=`` fixes the
                         only clock value: the same answers always make the same bytes
not recorded -> 404      a registry-style ``MANIFEST_UNKNOWN`` / ``BLOB_UNKNOWN`` /
                         ``NAME_UNKNOWN`` whose message names the snapshot and its date, so a
                         survey row says "not in snapshot", never a wrong answer
``Accept``               the standard archlab ``Accept`` (:data:`archlab.manifests.ACCEPT_ALL`)
                         is answered from the standard recording; another ``Accept`` only from a
                         recording made with that same set of types
read-only                ``/v2/`` answers 200 ``{}``; any write answers 405; no auth, ever
bounded                  every file is read by :func:`archlab.decoding.read_file`: it must be
                         a regular file once opened (a link to ``/dev/zero`` is refused), up
                         to a cap (``MAX_SNAPSHOT_INDEX_BYTES``, ``MAX_LAYER_BYTES`` a body,
                         ``MAX_SNAPSHOT_BYTES`` in all); the index is JSON of bounded depth
=======================  ========================================================================

Integrity: what a snapshot proves, and how
------------------------------------------
A snapshot is a small Merkle tree, like an OCI image layout. Every body file is named by its
sha256; ``index.json`` names every body by digest; and the **root digest** is the sha256 of
``index.json`` in its canonical form (exactly the bytes :meth:`Snapshot.index_bytes` writes).
:func:`record` writes the root into ``integrity.json`` and returns it
(``summary.snapshot.integrity.root``; ``archlab snapshot record`` prints it). Loading checks,
in this order, and refuses at the first failure:

==========================================  ================================================
check                                       catches
==========================================  ================================================
``index.json`` is canonical and its sha256  any edit of the index made without also
equals the root in ``integrity.json``       rewriting the integrity record (hand edits,
                                            damage, a half-copied directory)
the root equals the **pinned** digest, if   a *consistently* edited snapshot: a tag pointed
one is given (``load_snapshot(DIR,          at another digest that exists in ``blobs/``,
pin=)``, ``"DIR@sha256:…"`` anywhere a      every field and the integrity record made to
snapshot path is taken, ``lab@sha256:…``    agree. Nothing inside a directory can prove it
for a shipped one) or if DIR is the         is the one recorded; a root written down
shipped lab snapshot, pinned in code        elsewhere can
(:data:`LAB_SNAPSHOT_ROOT`)
every body exists and hashes to its name    a replaced or damaged file
every tag and digest answer resolves        an answer whose bytes are not what it claims:
through verified content: its bytes hash    the recorded digest, ``Docker-Content-Digest``,
(signed schema 1: their payload) to the     ``Content-Type``, size and (by digest) the
recorded digest, which equals its           reference asked for must all agree with the
``Docker-Content-Digest``; a HEAD-only      bytes
answer names a digest whose bytes are held
==========================================  ================================================

An unpinned snapshot thus proves that it is whole and self-consistent; a pinned one, that it
is the very snapshot whose root you wrote down. :class:`Integrity` says which
(``snapshot.integrity.line()``: ``verified, root sha256:… (pinned)``).

Format versions: version 2 added ``integrity.json``. A **version 1** snapshot (no integrity
record) still loads with every content check above and its root computed from its
``index.json`` as found, so it can be pinned; its integrity status is ``unsealed``.
``load_snapshot(old).write(new_dir)`` rewrites it as version 2 with its record. Any other
version is refused.

Which registry answers?
-----------------------
Answers are stored under the registry host they came from (``registry-1.docker.io``,
``127.0.0.1:41234``) and replayed by repository and reference, with the host matched as follows:

=======================================  ======================================================
request host                             answered from the recording of
=======================================  ======================================================
a host the snapshot holds                that host
``hosts={"mirror:5000": "docker.io"}``   the host it is mapped to (``replay_client(hosts=)``)
a loopback host (``127.x``, ``::1``,     the one loopback host the snapshot holds for that
``localhost``), any port                 repository: lab registries get a new port every start.
                                         Two loopback hosts with the repository: 404, ambiguous
any other host                           nothing: 404. A recording of docker.io never answers
                                         for ghcr.io, even for the same repository name
=======================================  ======================================================

``as_host=`` (``--as-host``) stores the answers of one registry under another name; the
snapshots shipped in ``data/snapshots/`` use it to replace the lab registry's random port by
``127.0.0.1:5000``, so that recording them twice gives the same bytes.

On disk
-------
``data/snapshots/FORMAT.md`` describes the format in full. In short::

    DIR/index.json                 {"format": "archlab-snapshot", "version": 2, "recorded_at",
                                    "archlab_version", "refs": [...], "answers": [...]}
    DIR/integrity.json             {"format": "archlab-snapshot-integrity", "version": 2,
                                    "root": "sha256:<sha256 of index.json>"}
    DIR/blobs/sha256/<hex>         the exact bytes of one body; <hex> is their sha256

Each answer: ``kind`` (manifest, blob, tags), ``host``, ``repository``, ``reference`` (tag or
digest; the query for tags), ``accept`` (``null`` = archlab's standard), ``status``, ``digest``,
``media_type``, ``size``, ``body`` (the ``sha256:`` of the stored bytes, ``null`` when only a
``HEAD`` was seen) and ``headers`` (the allow-listed ones, lower-case).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import httpx
import pandas as pd

from archlab import __version__, decoding, digests, limits, manifests
from archlab.auth import CARRIES_CREDENTIALS
from archlab.errors import (
    ArchlabError,
    ManifestError,
    NotFoundError,
    SnapshotAlteredError,
)
from archlab.registry import (
    NOT_RECORDED_HEADER,
    Exchange,
    RegistryClient,
    _manifest_digest,
    is_loopback_host,
)

__all__ = [
    "CONFIG_CAP",
    "FORMAT",
    "FORMAT_VERSION",
    "KEPT_HEADERS",
    "LAB_SNAPSHOT_ROOT",
    "Answer",
    "Integrity",
    "RecordSummary",
    "RecordedRef",
    "RecordingTransport",
    "Snapshot",
    "SnapshotTransport",
    "is_shipped_lab",
    "load_snapshot",
    "record",
    "replay_client",
    "split_pin",
]

FORMAT = "archlab-snapshot"
#: 2 added ``integrity.json``; version 1 snapshots still load, as "unsealed".
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
INDEX_FILE = "index.json"
INTEGRITY_FILE = "integrity.json"
INTEGRITY_FORMAT = "archlab-snapshot-integrity"
BLOBS_DIR = "blobs"
#: The root digest the shipped lab snapshot (``archlab.shipped.snapshot_path("lab")``) is
#: pinned to: a consistently edited copy of it, where it is shipped, is refused.
#: ``tools/record_lab_snapshot.py`` prints the new root when the lab is recorded again; the
#: test that re-records it checks this constant.
LAB_SNAPSHOT_ROOT = "sha256:fb943305094f6d20dcd6b1908be132aebd08430c32418c9fd1e2a1c5f9de34df"
#: Largest blob kept when layers are not wanted (a config is a few KiB).
CONFIG_CAP = limits.MAX_SNAPSHOT_BLOB_BYTES
#: The only response headers a snapshot ever stores (lower-case).
KEPT_HEADERS = (
    "content-type", "docker-content-digest", "etag", "link", "ratelimit-limit",
    "ratelimit-remaining",
)
#: The ``host`` the shipped lab snapshots are stored under (see ``as_host``).
LAB_HOST = "127.0.0.1:5000"

Kind = Literal["manifest", "blob", "tags", "hub-tags"]
_KINDS = ("manifest", "blob", "tags", "hub-tags")
#: Kinds whose answers are listings, not content: no digest names their bytes.
_LISTINGS = ("tags", "hub-tags")
_RECORDED_STATUSES = (200, 404)
_REDIRECTS = (301, 302, 303, 307, 308)
_PATH = re.compile(r"^/v2/(?P<name>.+)/(?P<what>manifests|blobs)/(?P<ref>[^/]+)$")
_TAGS_PATH = re.compile(r"^/v2/(?P<name>.+)/tags/list$")
#: Docker Hub's tag listing (archlab.hub asks this documented route only).
_HUB_TAGS_PATH = re.compile(
    r"^/v2/namespaces/(?P<ns>[^/]+)/repositories/(?P<name>[^/]+)/tags/?$")
_STANDARD_ACCEPT = frozenset(manifests.ACCEPT_ALL)
_ERROR_CODES = {"manifest": "MANIFEST_UNKNOWN", "blob": "BLOB_UNKNOWN", "tags": "NAME_UNKNOWN",
                "hub-tags": "NAME_UNKNOWN"}


# ---------------------------------------------------------------------- values


@dataclass(frozen=True)
class Answer:
    """One registry answer as stored: what was asked, and what came back."""

    kind: Kind
    host: str
    repository: str
    #: Tag or digest (manifest), digest (blob), query string such as ``n=1000`` (tags).
    reference: str
    status: int
    digest: str | None
    media_type: str | None
    size: int | None
    #: ``sha256:`` of the stored body bytes; ``None`` when only a HEAD was seen.
    body: str | None
    headers: tuple[tuple[str, str], ...] = ()
    #: Manifests only: the ``Accept`` types sent, in order; ``None`` is archlab's standard.
    accept: tuple[str, ...] | None = None

    @property
    def accept_key(self) -> frozenset[str] | None:
        return None if self.accept is None else frozenset(self.accept)

    @property
    def key(self) -> tuple[str, str, str, str, frozenset[str] | None]:
        return (self.kind, self.host, self.repository, self.reference, self.accept_key)

    def sort_key(self) -> tuple[object, ...]:
        return (_KINDS.index(self.kind), self.host, self.repository, self.reference,
                () if self.accept is None else (1, *self.accept))

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind, "host": self.host, "repository": self.repository,
            "reference": self.reference, "status": self.status, "digest": self.digest,
            "media_type": self.media_type, "size": self.size, "body": self.body,
            "headers": dict(self.headers),
            "accept": None if self.accept is None else list(self.accept),
        }


@dataclass(frozen=True)
class Integrity:
    """What loading (or writing) a snapshot directory proved; see the module docstring."""

    #: sha256 of ``index.json`` as read (canonical for version 2).
    root: str
    #: ``verified``: the index matches its integrity record; ``unsealed``: a version 1
    #: snapshot, which has none (its content is still checked).
    status: Literal["verified", "unsealed"]
    #: The root digest it was required to have, when pinned.
    pinned: str | None = None
    version: int = FORMAT_VERSION

    def line(self) -> str:
        """``verified, root sha256:… (pinned)``: for ``snapshot show``."""
        how = " (pinned)" if self.pinned else " (not pinned: pass DIR@<root> to pin it)"
        if self.status == "unsealed":
            return (f"unsealed: format version {self.version} has no integrity record; every "
                    f"body verified, root {self.root}{how}")
        return f"verified, root {self.root}{how}"


@dataclass(frozen=True)
class Snapshot:
    """Recorded answers and the bytes they refer to. Build with :func:`load_snapshot` or
    :meth:`RecordingTransport.snapshot`; write with :meth:`write`."""

    recorded_at: str
    archlab_version: str
    refs: tuple[str, ...]
    answers: tuple[Answer, ...]
    #: ``sha256:<hex>`` -> bytes, for every ``Answer.body``.
    blobs: Mapping[str, bytes]
    #: The directory it was loaded from or written to, if any.
    source: Path | None = None
    #: What loading or writing that directory proved (None for one only in memory).
    integrity: Integrity | None = None

    def describe(self) -> str:
        """``snapshot data/snapshots/lab (recorded on 2024-01-01T00:00:00Z)``, for messages."""
        where = str(self.source) if self.source is not None else "(in memory)"
        return f"snapshot {where} (recorded on {self.recorded_at})"

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(sorted({a.host for a in self.answers}))

    def body_of(self, answer: Answer) -> bytes | None:
        return None if answer.body is None else self.blobs[answer.body]

    def to_frame(self) -> pd.DataFrame:
        """One row per stored answer: kind, host, repository, reference, accept, status, digest,
        media_type, size, has_body."""
        rows = [{
            "kind": a.kind, "host": a.host, "repository": a.repository,
            "reference": a.reference,
            "accept": "standard" if a.accept is None else ", ".join(a.accept),
            "status": a.status, "digest": a.digest, "media_type": a.media_type,
            "size": a.size, "has_body": a.body is not None,
        } for a in self.answers]
        columns = ["kind", "host", "repository", "reference", "accept", "status", "digest",
                   "media_type", "size", "has_body"]
        frame = pd.DataFrame(rows, columns=columns)
        dtypes: dict[str, str] = {c: "string" for c in columns}
        dtypes.update(status="Int64", size="Int64", has_body="boolean")
        return frame.astype(dtypes)

    def index_bytes(self) -> bytes:
        """``index.json`` exactly as :meth:`write` writes it."""
        doc = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "recorded_at": self.recorded_at,
            "archlab_version": self.archlab_version,
            "refs": list(self.refs),
            "answers": [a.to_json() for a in sorted(self.answers, key=Answer.sort_key)],
        }
        return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode()

    def write(self, out_dir: str | os.PathLike[str]) -> Snapshot:
        """Write to ``out_dir`` (replacing a snapshot there, refusing any other non-empty
        directory) and return the snapshot with ``source`` set. Verifies everything first."""
        _check(self.answers, self.blobs, where=self.describe())
        out = Path(out_dir)
        if out.exists():
            if not out.is_dir():
                raise ArchlabError(f"cannot write a snapshot to {out}: it is a file")
            if any(out.iterdir()) and not (out / INDEX_FILE).is_file():
                raise ArchlabError(
                    f"refusing to write a snapshot into {out}: it is not empty and holds no "
                    f"{INDEX_FILE}; choose an empty or new directory"
                )
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            used = sorted({a.body for a in self.answers if a.body is not None})
            for digest in used:
                path = tmp / _blob_relpath(digest)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(self.blobs[digest])
            index = self.index_bytes()
            (tmp / INDEX_FILE).write_bytes(index)
            root = digests.compute(index)
            (tmp / INTEGRITY_FILE).write_bytes(_integrity_bytes(root))
            os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; a snapshot is meant to be shared
            if out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                os.replace(out, old / "snapshot")
                os.replace(tmp, out)
                shutil.rmtree(old)
            else:
                os.replace(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        return replace(self, source=out, integrity=Integrity(root, "verified"))


def _integrity_bytes(root: str) -> bytes:
    doc = {"format": INTEGRITY_FORMAT, "version": FORMAT_VERSION, "root": root}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _blob_relpath(digest: str) -> Path:
    algorithm, _, hexpart = digest.partition(":")
    return Path(BLOBS_DIR) / algorithm / hexpart


def _check(answers: Iterable[Answer], blobs: Mapping[str, bytes], *, where: str) -> None:
    """Every answer resolves through verified content (the table in the module docstring).

    Raises :class:`SnapshotAlteredError` naming the answer and what disagrees.
    """
    answers = tuple(answers)

    def altered(a: Answer, what: str) -> SnapshotAlteredError:
        return SnapshotAlteredError(
            f"{where} altered: {_label(a)} {what}; record it again, or use the copy whose "
            "root digest you trust")

    held: set[tuple[str, str, str]] = set()  # (host, repository, digest) with verified bytes
    for a in answers:
        if a.body is None:
            continue
        data = blobs.get(a.body)
        if data is None:
            raise altered(a, f"refers to body {a.body}, which is missing")
        if digests.compute(data, a.body.partition(":")[0]) != a.body:
            raise altered(a, f"has a body whose bytes do not hash to its name {a.body}")
        if a.status != 200 or a.kind in _LISTINGS:
            continue
        if a.digest is None:
            raise altered(a, "has a body but no digest")
        if a.kind == "manifest":
            actual = _manifest_digest(data, a.media_type or "", _label(a))
        else:
            actual = digests.compute(data, a.digest.partition(":")[0])
        if actual != a.digest:
            raise SnapshotAlteredError(
                f"{where} altered: {_label(a)} is recorded as {a.digest} but its bytes have "
                f"digest {actual}; record it again")
        if a.size is not None and a.size != len(data):
            raise altered(a, f"is recorded as {a.size} bytes but its body has {len(data)}")
        held.add((a.host, a.repository, a.digest))
    for a in answers:
        if a.status != 200 or a.kind in _LISTINGS:
            continue
        headers = dict(a.headers)
        announced = headers.get("docker-content-digest")
        if announced is not None and announced != a.digest:
            raise altered(a, f"announces Docker-Content-Digest {announced} but is recorded "
                             f"as {a.digest}")
        content_type = headers.get("content-type")
        if content_type is not None and a.media_type is not None and (
                content_type.split(";", 1)[0].strip() != a.media_type):
            raise altered(a, f"has Content-Type {content_type!r} but media type "
                             f"{a.media_type!r}")
        if a.reference.startswith(("sha256:", "sha512:")) and a.reference != a.digest:
            raise altered(a, f"was asked by digest but is recorded as {a.digest}")
        if a.kind == "manifest" and a.body is None and (
                a.digest is None or (a.host, a.repository, a.digest) not in held):
            raise altered(a, f"answers {a.digest} to a HEAD, but the snapshot holds no "
                             "verified bytes for it")


def _label(a: Answer) -> str:
    sep = "@" if a.reference.startswith("sha") and ":" in a.reference else ":"
    if a.kind == "tags":
        return f"{a.host}/{a.repository} tags/list?{a.reference}"
    if a.kind == "hub-tags":
        return f"{a.host} tag listing of {a.repository}?{a.reference}"
    noun = "blob " if a.kind == "blob" else ""
    return f"{noun}{a.host}/{a.repository}{sep}{a.reference}"


# ---------------------------------------------------------------------- loading


def split_pin(text: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """``"DIR@sha256:<hex>"`` -> ``(DIR, "sha256:<hex>")``; a plain path -> ``(path, None)``.

    A directory whose own name holds ``@sha256:`` is taken as it is when it exists.
    """
    raw = os.fspath(text)
    path, sep, pin = raw.rpartition("@")
    if not sep or not pin.startswith("sha256:") or Path(raw).exists():
        return Path(raw), None
    try:
        digests.validate(pin)
    except ArchlabError:
        raise ManifestError(
            f"{raw!r}: the part after '@' must be a snapshot's root digest, 'sha256:' and 64 "
            "hex digits (as `archlab snapshot record` printed it)") from None
    return Path(path), pin


def load_snapshot(path: str | os.PathLike[str], *, pin: str | None = None) -> Snapshot:
    """Read and verify the snapshot in ``path`` (the format and checks are in the module
    docstring). ``pin`` (or ``path`` given as ``"DIR@sha256:…"``) is the root digest the
    snapshot must have; the shipped ``data/snapshots/lab`` is pinned to
    :data:`LAB_SNAPSHOT_ROOT` unless another pin is given. Raises
    :class:`~archlab.errors.SnapshotAlteredError` when any check fails."""
    root, pinned = split_pin(path)
    if pinned is not None:
        from archlab import shipped  # "lab@sha256:…" names the shipped one, as "lab" does

        root = shipped.snapshot_path(str(root))
    if pin is not None:
        if pinned is not None and pinned != pin:
            raise ManifestError(f"{path!r} names root {pinned} but pin={pin!r}: give one")
        digests.validate(pin)
        pinned = pin
    if pinned is None and _is_shipped_lab(root):
        pinned = LAB_SNAPSHOT_ROOT
    index = root / INDEX_FILE
    where = f"snapshot {root}"
    raw = decoding.read_file(index, max_bytes=limits.MAX_SNAPSHOT_INDEX_BYTES,
                             what="snapshot index", error=ManifestError, missing_ok=True)
    if raw is None:
        raise NotFoundError(
            f"no snapshot at {root}: {INDEX_FILE} is missing; record one with "
            f"`archlab snapshot record REF... --out {root}`"
        )
    doc = decoding.load_json(raw, what=str(index), max_bytes=limits.MAX_SNAPSHOT_INDEX_BYTES,
                             error=ManifestError)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ManifestError(f"{index}: not an archlab snapshot index ('format' is not {FORMAT!r})")
    version = doc.get("version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise ManifestError(
            f"{index}: snapshot format version {version!r}; this archlab reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))} (record the snapshot again)"
        )
    found_root = digests.compute(raw)
    recorded_at = _field(doc, "recorded_at", str, index)
    answers_doc = _field(doc, "answers", list, index)
    answers = tuple(_answer_from_json(item, index, i) for i, item in enumerate(answers_doc))
    snap = Snapshot(
        recorded_at=recorded_at,
        archlab_version=str(doc.get("archlab_version", "")),
        refs=tuple(str(r) for r in _field(doc, "refs", list, index)),
        answers=answers,
        blobs=MappingProxyType({}),
        source=root,
    )
    status: Literal["verified", "unsealed"] = "unsealed"
    if version >= 2:
        if snap.index_bytes() != raw:
            raise SnapshotAlteredError(
                f"{where} altered: {index} is not in the canonical form archlab writes (it was "
                f"edited); its root {found_root} proves nothing; record it again")
        recorded_root = _recorded_root(root, where)
        if recorded_root != found_root:
            raise SnapshotAlteredError(
                f"{where} altered: {index} has root digest {found_root}, but "
                f"{INTEGRITY_FILE} records {recorded_root}; record it again, or use the copy "
                "whose root digest you trust")
        status = "verified"
    if pinned is not None and found_root != pinned:
        raise SnapshotAlteredError(
            f"{where} altered: its root digest is {found_root}, not the pinned {pinned}; "
            "use the snapshot that was recorded with that root")
    blobs = _read_bodies(root, answers, where)
    _check(answers, blobs, where=where)
    return replace(snap, blobs=MappingProxyType(blobs),
                   integrity=Integrity(found_root, status, pinned, version))


def _shipped_lab_dir() -> Path:
    from archlab import shipped

    return shipped.data_path("snapshots", "lab")


def is_shipped_lab(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names the shipped lab snapshot: ``"lab"``, ``"lab@sha256:…"`` or its
    directory (what :mod:`archlab.lab.offline` adds the lab layers to)."""
    from archlab import shipped

    root, _ = split_pin(path)
    return _is_shipped_lab(shipped.snapshot_path(str(root)))


def _is_shipped_lab(root: Path) -> bool:
    try:
        return root.resolve() == _shipped_lab_dir().resolve()
    except (OSError, ArchlabError):
        return False


def _recorded_root(root: Path, where: str) -> str:
    file = root / INTEGRITY_FILE

    def altered(message: str) -> SnapshotAlteredError:
        return SnapshotAlteredError(f"{where} altered: {message}; record it again")

    try:
        data = decoding.read_file(file, max_bytes=limits.MAX_CACHE_SIDECAR_BYTES,
                                  what="integrity record", error=altered, missing_ok=True)
        if data is None:
            raise altered(f"{file} is missing; a version {FORMAT_VERSION} snapshot carries its "
                          "root digest there")
        doc = decoding.load_json(data, what=str(file), error=altered)
    except SnapshotAlteredError:
        raise
    recorded = doc.get("root") if isinstance(doc, dict) else None
    if (not isinstance(doc, dict) or doc.get("format") != INTEGRITY_FORMAT
            or not isinstance(recorded, str)):
        raise altered(f"{file} is not an archlab integrity record")
    return recorded


def _read_bodies(root: Path, answers: Sequence[Answer], where: str) -> dict[str, bytes]:
    blobs: dict[str, bytes] = {}
    total = 0
    for digest in sorted({a.body for a in answers if a.body is not None}):
        file = root / _blob_relpath(digest)
        data = decoding.read_file(
            file, max_bytes=limits.MAX_LAYER_BYTES, what="snapshot body", missing_ok=True,
            error=lambda message: SnapshotAlteredError(
                f"{where} altered: {message}; record it again"))
        if data is None:
            raise SnapshotAlteredError(
                f"{where} altered: {INDEX_FILE} names body {digest}, but {file} is missing; "
                "the snapshot is incomplete; record it again")
        actual = digests.compute(data)
        if actual != digest:
            raise SnapshotAlteredError(
                f"{where} altered: {file} has content with digest {actual}, not the {digest} "
                "its name says; record it again")
        total += len(data)
        if total > limits.MAX_SNAPSHOT_BYTES:
            raise ManifestError(
                f"{where}: its bodies add up to more than {limits.MAX_SNAPSHOT_BYTES} bytes, "
                "archlab's limit for a snapshot held in memory")
        blobs[digest] = data
    return blobs


def _field(doc: Mapping[str, Any], key: str, typ: type, where: object) -> Any:
    value = doc.get(key)
    if not isinstance(value, typ):
        raise ManifestError(f"{where}: {key!r} must be a {typ.__name__}, got {value!r}")
    return value


def _answer_from_json(item: object, index: Path, i: int) -> Answer:
    where = f"{index}: answers[{i}]"
    if not isinstance(item, dict):
        raise ManifestError(f"{where} must be an object")
    kind = _field(item, "kind", str, where)
    if kind not in _KINDS:
        raise ManifestError(f"{where}.kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    body = item.get("body")
    if body is not None:
        # Validated before it becomes a path: an index must not point outside blobs/.
        if not isinstance(body, str) or not body.startswith("sha256:"):
            raise ManifestError(f"{where}.body must be a sha256: digest or null, got {body!r}")
        digests.validate(body)
    headers = item.get("headers") or {}
    if not isinstance(headers, dict):
        raise ManifestError(f"{where}.headers must be an object")
    # Only allow-listed headers are ever replayed, whatever a hand-edited index says.
    kept = tuple(sorted((str(k).lower(), str(v)) for k, v in headers.items()
                        if str(k).lower() in KEPT_HEADERS))
    accept = item.get("accept")
    if accept is not None and not (isinstance(accept, list)
                                   and all(isinstance(t, str) for t in accept)):
        raise ManifestError(f"{where}.accept must be a list of media types or null")
    status = _field(item, "status", int, where)
    if isinstance(status, bool) or not 100 <= status <= 599:
        raise ManifestError(f"{where}.status must be an HTTP status, got {status!r}")
    size = item.get("size")
    if size is not None and (type(size) is not int or not 0 <= size < 2**63):
        # a size past int64 raised OverflowError from to_frame() (found by fuzzing)
        raise ManifestError(f"{where}.size must be a byte count or null, got {size!r}")
    media_type = item.get("media_type")
    if media_type is not None and not isinstance(media_type, str):
        raise ManifestError(f"{where}.media_type must be a string or null, got {media_type!r}")
    digest = item.get("digest")
    if digest is not None:
        digests.validate(digest)
    return Answer(
        kind=kind, host=_field(item, "host", str, where),
        repository=_field(item, "repository", str, where),
        reference=_field(item, "reference", str, where), status=status, digest=digest,
        media_type=media_type, size=size,
        body=body, headers=kept, accept=None if accept is None else tuple(accept),
    )


# ---------------------------------------------------------------------- recording


@dataclass(frozen=True)
class _Target:
    kind: Kind
    host: str
    repository: str
    reference: str
    method: str
    accept: tuple[str, ...] | None


def _classify(request: httpx.Request) -> _Target | None:
    """The recordable registry request this is, or ``None`` (token endpoints, uploads, ...)."""
    method = request.method.upper()
    if method not in ("GET", "HEAD"):
        return None
    host = request.url.netloc.decode("ascii")
    path = request.url.path
    m = _PATH.match(path)
    if m:
        kind: Kind = "manifest" if m["what"] == "manifests" else "blob"
        accept = _accept_of(request) if kind == "manifest" else None
        return _Target(kind, host, m["name"], m["ref"], method, accept)
    m = _TAGS_PATH.match(path)
    if m and method == "GET":
        query = request.url.query.decode("ascii")
        return _Target("tags", host, m["name"], query, method, None)
    m = _HUB_TAGS_PATH.match(path)
    if m and method == "GET":
        query = request.url.query.decode("ascii")
        return _Target("hub-tags", host, f"{m['ns']}/{m['name']}", query, method, None)
    return None


def _accept_of(request: httpx.Request) -> tuple[str, ...] | None:
    types = tuple(t.split(";", 1)[0].strip() for t in request.headers.get("accept", "").split(",")
                  if t.strip())
    return None if frozenset(types) == _STANDARD_ACCEPT else types


class _Tee(httpx.AsyncByteStream):
    """Pass a body through unchanged, keeping a copy (up to ``limit``) for when it is complete."""

    def __init__(self, inner: httpx.AsyncByteStream, limit: int | None,
                 done: Callable[[bytes], None]) -> None:
        self._inner = inner
        self._limit = limit
        self._done = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        kept: list[bytes] | None = []
        total = 0
        async for chunk in self._inner:
            if kept is not None:
                total += len(chunk)
                if self._limit is not None and total > self._limit:
                    kept = None  # too large to keep; still passed through
                else:
                    kept.append(chunk)
            yield chunk
        if kept is not None:
            self._done(b"".join(kept))

    async def aclose(self) -> None:
        await self._inner.aclose()


class RecordingTransport(httpx.AsyncBaseTransport):
    """An httpx transport that forwards to ``inner`` and keeps the registry answers listed in
    the module docstring. ``snapshot()`` turns what it kept into a :class:`Snapshot`.

    The recorder connects directly (environment proxy variables are not consulted, as for any
    httpx client given a transport); pass ``inner=httpx.AsyncHTTPTransport(proxy=...)`` to
    record through a proxy.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        include_layers: bool = False,
        max_blob_bytes: int = CONFIG_CAP,
    ) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
        self.include_layers = include_layers
        self.max_blob_bytes = max_blob_bytes
        self._answers: dict[tuple[object, ...], Answer] = {}
        self._bodies: dict[str, bytes] = {}
        # Redirect target URL -> blob it serves. In memory only: storage URLs carry signatures.
        self._redirects: dict[str, _Target] = {}
        #: Why some answers were not kept (never a URL with its query string).
        self.skipped: list[str] = []

    @property
    def answers(self) -> tuple[Answer, ...]:
        return tuple(sorted(self._answers.values(), key=Answer.sort_key))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.extensions.get(CARRIES_CREDENTIALS):
            # A token request, or a redirect hop of one: its answer is a credential, wherever
            # the realm sits, even at a path shaped like a manifest or a tag list.
            return await self._inner.handle_async_request(request)
        target = self._redirects.pop(str(request.url), None) or _classify(request)
        if target is None:
            return await self._inner.handle_async_request(request)
        # Ask for the identity encoding: the bytes kept must be the bytes the digest names.
        request.headers["Accept-Encoding"] = "identity"
        response = await self._inner.handle_async_request(request)
        status = response.status_code
        location = response.headers.get("location")
        if status in _REDIRECTS and target.kind == "blob" and location:
            self._redirects[str(request.url.join(location))] = target
            return response
        if status not in _RECORDED_STATUSES:
            return response
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            self._skip(target, "the registry sent it content-encoded")
            return response
        if request.method.upper() == "HEAD":
            self._keep(target, response, None)
            return response
        limit: int | None = self.max_blob_bytes
        if target.kind == "blob" and self.include_layers and status == 200:
            limit = max(self.max_blob_bytes, limits.MAX_LAYER_BYTES)
        declared = _int_or_none(response.headers.get("content-length"))
        if limit is not None and declared is not None and declared > limit:
            if not (target.kind == "blob" and status == 200):
                self._skip(target, f"{declared} bytes, above the cap of {limit}")
            return response
        return httpx.Response(
            status_code=status,
            headers=response.headers,
            stream=_Tee(response.stream, limit,  # type: ignore[arg-type]
                        lambda body: self._keep(target, response, body)),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _skip(self, target: _Target, why: str) -> None:
        self.skipped.append(f"{target.kind} {target.host}/{target.repository} "
                            f"{target.reference}: {why}")

    def _keep(self, target: _Target, response: httpx.Response, body: bytes | None) -> None:
        headers = _kept_headers(response.headers, target.kind)
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip() or None
        status = response.status_code
        size = len(body) if body is not None else _int_or_none(
            response.headers.get("content-length"))
        digest: str | None = None
        label = f"{target.host}/{target.repository} {target.reference}"
        if status == 200 and target.kind == "manifest":
            announced = response.headers.get("docker-content-digest")
            if body is not None:
                digest = _manifest_digest(body, media_type or "", label)
                if announced and announced != digest:
                    return self._skip(target, "Docker-Content-Digest differs from its bytes")
            else:
                digest = announced
            if digest is None:
                return self._skip(target, "no digest to file it under")
            if target.reference.startswith("sha256:") and target.reference != digest:
                return self._skip(target, f"answered {digest} for a request by digest")
        elif status == 200 and target.kind == "blob":
            digest = target.reference
            if body is not None:
                if digests.compute(body, digest.partition(":")[0]) != digest:
                    return self._skip(target, "bytes do not match the digest")
                if not self.include_layers and not _is_json(body):
                    return None  # a layer: not wanted, and not worth a note
        body_digest = None
        if body is not None:
            body_digest = digests.compute(body)
            self._bodies[body_digest] = body
        answer = Answer(
            kind=target.kind, host=target.host, repository=target.repository,
            reference=target.reference, status=status, digest=digest, media_type=media_type,
            size=size, body=body_digest, headers=headers, accept=target.accept,
        )
        old = self._answers.get(answer.key)
        if (old is not None and answer.body is None and old.body is not None
                and (old.status, old.digest) == (answer.status, answer.digest)):
            return None  # a HEAD after the GET adds nothing
        self._answers[answer.key] = answer
        return None

    def snapshot(
        self,
        *,
        refs: Sequence[str] = (),
        recorded_at: str | datetime | None = None,
        as_host: str | None = None,
    ) -> Snapshot:
        """What was kept, as a :class:`Snapshot`; ``as_host`` renames the (one) registry host
        (Docker Hub's tag listing keeps the host of the API it came from)."""
        answers = self.answers
        refs = tuple(refs)
        if as_host is not None:
            hosts = {a.host for a in answers if a.kind != "hub-tags"}
            if len(hosts) > 1:
                raise ArchlabError(
                    f"as_host={as_host!r} needs answers from one registry, but they came from "
                    f"{', '.join(sorted(hosts))}: record each registry separately"
                )
            answers = tuple(a if a.kind == "hub-tags" else replace(a, host=as_host)
                            for a in answers)
            refs = tuple(_rehost(r, as_host) for r in refs)
        # A HEAD answer is kept only when the bytes it names are held too: every tag answer
        # of a snapshot resolves through verified content (see the module docstring).
        held = {(a.host, a.repository, a.digest) for a in answers
                if a.kind == "manifest" and a.body is not None and a.status == 200}
        unresolved = [a for a in answers if a.kind == "manifest" and a.body is None
                      and a.status == 200 and (a.host, a.repository, a.digest) not in held]
        for a in unresolved:
            self.skipped.append(f"manifest {a.host}/{a.repository} {a.reference}: only a HEAD "
                                f"was answered; the bytes of {a.digest} were never fetched")
        answers = tuple(a for a in answers if a not in unresolved)
        used = {a.body for a in answers if a.body is not None}
        return Snapshot(
            recorded_at=_timestamp(recorded_at),
            archlab_version=__version__,
            refs=refs,
            answers=tuple(sorted(answers, key=Answer.sort_key)),
            blobs=MappingProxyType({d: self._bodies[d] for d in sorted(used)}),
        )


def _kept_headers(headers: httpx.Headers, kind: Kind) -> tuple[tuple[str, str], ...]:
    kept = []
    for name in KEPT_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        if name == "link" and (kind != "tags" or not value.lstrip().startswith("</v2/")):
            continue  # only a relative next-page link: an absolute one names another host
        kept.append((name, value))
    return tuple(kept)


def _is_json(body: bytes) -> bool:
    if body.lstrip()[:1] not in (b"{", b"["):
        return False
    try:
        decoding.load_json(body, what="body", max_bytes=len(body))
    except ArchlabError:  # deep JSON too: json.loads raised RecursionError on it
        return False
    return True


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _timestamp(value: str | datetime | None) -> str:
    """``2024-01-01T00:00:00Z``: UTC, seconds. A time without a zone is taken as UTC."""
    if value is None:
        when = datetime.now(UTC)
    elif isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ArchlabError(
                f"invalid time {value!r}: use ISO 8601, e.g. 2024-01-01T00:00:00Z"
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rehost(text: str, host: str) -> str:
    from archlab.reference import parse_reference

    ref = parse_reference(text)
    tail = f":{ref.tag}" if ref.tag else ""
    tail += f"@{ref.digest}" if ref.digest else ""
    return f"{host}/{ref.repository}{tail}"


# ---------------------------------------------------------------------- replay


class SnapshotTransport(httpx.AsyncBaseTransport):
    """An httpx transport that answers registry requests from a :class:`Snapshot`, offline.

    ``hosts`` maps a request host to the recorded host that should answer it.
    """

    def __init__(self, snapshot: Snapshot, *, hosts: Mapping[str, str] | None = None) -> None:
        self.snapshot = snapshot
        self._hosts = dict(hosts or {})
        self._by_key: dict[tuple[object, ...], list[Answer]] = {}
        for a in snapshot.answers:
            self._by_key.setdefault((a.kind, a.repository, a.reference, a.accept_key),
                                    []).append(a)
        #: Requests answered, by (method, status): for tests and curiosity.
        self.served: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = self._answer(request)
        self.served.append((request.method, request.url.path, response.status_code))
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        method = request.method.upper()
        path = request.url.path
        if path in ("/v2/", "/v2"):
            return _response(request, 200, b"{}", [("content-type", "application/json")])
        if method not in ("GET", "HEAD"):
            return _error(request, 405, "UNSUPPORTED",
                          f"{self.snapshot.describe()} is read-only: {method} is not replayed")
        target = _classify(request)
        if target is None:
            return _error(request, 404, "NAME_UNKNOWN",
                          f"{path} is not a registry API path a snapshot can answer")
        found = self._find(target)
        if isinstance(found, str) and target.kind == "hub-tags":  # that API's own error shape
            body = json.dumps({"message": found}).encode()
            return _response(request, 404, body, [("content-type", "application/json"),
                                                  ("content-length", str(len(body))),
                                                  (NOT_RECORDED_HEADER, "1")])
        if isinstance(found, str):
            return _error(request, 404, _ERROR_CODES[target.kind], found, not_recorded=True)
        answer, body = found
        headers = list(answer.headers)
        length = len(body) if body is not None else answer.size
        if length is not None:
            headers.append(("content-length", str(length)))
        return _response(request, answer.status, body or b"", headers)

    def _find(self, t: _Target) -> tuple[Answer, bytes | None] | str:
        what = f"{t.repository}{'@' if t.reference.startswith('sha256:') else ':'}{t.reference}"
        if t.kind == "blob":
            what = f"blob {t.repository}@{t.reference}"
        elif t.kind == "tags":
            what = f"tags/list?{t.reference} of {t.repository}"
        elif t.kind == "hub-tags":
            what = f"the tag listing ?{t.reference} of {t.repository}"
        missing = f"{what} is not in {self.snapshot.describe()}"
        accept_key = None if t.accept is None else frozenset(t.accept)
        picked = self._pick(self._by_key.get((t.kind, t.repository, t.reference, accept_key),
                                             []), t.host)
        if isinstance(picked, str):
            return f"{missing}: {picked}"
        if picked is None and t.kind == "manifest" and accept_key is None:
            # A registry serves any manifest of a repository by digest: so does its recording.
            same = [a for a in self._manifests_with_body(t.repository)
                    if a.digest == t.reference and a.status == 200]
            picked = self._pick(same, t.host)
            if isinstance(picked, str):
                return f"{missing}: {picked}"
        if picked is None:
            if t.kind == "manifest" and accept_key is not None and self._by_key.get(
                    (t.kind, t.repository, t.reference, None)):
                return (f"{missing} for Accept: {', '.join(t.accept or ())} (it holds the "
                        "answer to archlab's standard Accept only)")
            return missing
        body = self.snapshot.body_of(picked)
        if body is None and t.method == "GET" and picked.status == 200:
            body = self._body_for_digest(picked)
            if body is None:
                return f"{missing}: only a HEAD answer was recorded"
        return picked, body

    def _manifests_with_body(self, repository: str) -> list[Answer]:
        return [a for a in self.snapshot.answers
                if a.kind == "manifest" and a.repository == repository and a.body is not None
                and a.accept is None]

    def _body_for_digest(self, head: Answer) -> bytes | None:
        for a in self._manifests_with_body(head.repository):
            if a.host == head.host and a.digest == head.digest and a.status == 200:
                return self.snapshot.body_of(a)
        return None

    def _pick(self, candidates: list[Answer], host: str) -> Answer | str | None:
        """The candidate whose host answers for ``host`` (rules in the module docstring)."""
        if not candidates:
            return None
        wanted = self._hosts.get(host, host)
        for a in candidates:
            if a.host == wanted:
                return a
        if wanted == host and is_loopback_host(host):
            loopback = {a.host: a for a in candidates if is_loopback_host(a.host)}
            if len(loopback) == 1:
                return next(iter(loopback.values()))
            if len(loopback) > 1:
                return (f"it was recorded from several loopback registries "
                        f"({', '.join(sorted(loopback))}); name one with "
                        f"hosts={{{host!r}: ...}}")
        return None

    async def aclose(self) -> None:
        return None


def _response(request: httpx.Request, status: int, body: bytes,
              headers: list[tuple[str, str]]) -> httpx.Response:
    # A stream, not content=: httpx would otherwise set Content-Length itself (0 for HEAD).
    content = b"" if request.method.upper() == "HEAD" else body
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content),
                          request=request)


def _error(request: httpx.Request, status: int, code: str, message: str, *,
           not_recorded: bool = False) -> httpx.Response:
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    if not_recorded:  # the client's NotFoundError says not_recorded
        headers.append((NOT_RECORDED_HEADER, "1"))
    return _response(request, status, body, headers)


def replay_client(
    source: Snapshot | str | os.PathLike[str],
    *,
    hosts: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> RegistryClient:
    """A :class:`~archlab.registry.RegistryClient` answered by a snapshot, never the network.

    ``source`` is a snapshot or its directory. No on-disk cache, no tag index and no Docker
    credentials unless you pass them in ``kwargs`` (any other client argument works too).
    """
    snap = source if isinstance(source, Snapshot) else load_snapshot(source)
    if "transport" in kwargs:
        raise ArchlabError("replay_client makes its own transport; do not pass transport=")
    kwargs.setdefault("cache", False)
    kwargs.setdefault("tag_index", False)
    kwargs.setdefault("use_docker_config", False)
    return RegistryClient(transport=SnapshotTransport(snap, hosts=hosts), **kwargs)


# ---------------------------------------------------------------------- record


@dataclass(frozen=True)
class RecordedRef:
    """How recording one reference went."""

    ref: str
    kind: str | None
    digest: str | None
    platforms: tuple[str, ...]
    error: str | None = None


@dataclass(frozen=True)
class RecordSummary:
    """What :func:`record` wrote."""

    snapshot: Snapshot
    refs: tuple[RecordedRef, ...]
    skipped: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[RecordedRef, ...]:
        return tuple(r for r in self.refs if r.error is not None)

    @property
    def path(self) -> Path | None:
        return self.snapshot.source

    def line(self) -> str:
        snap = self.snapshot
        size = sum(len(b) for b in snap.blobs.values())
        root = f", root {snap.integrity.root}" if snap.integrity is not None else ""
        return (f"wrote {snap.source}: {len(snap.answers)} answers, {len(snap.blobs)} files, "
                f"{size} bytes, recorded at {snap.recorded_at}{root}")


_OWN_CLIENT_ARGS = frozenset({"transport", "cache", "tag_index"})


def record(
    refs: Iterable[str],
    out_dir: str | os.PathLike[str],
    *,
    recorded_at: str | datetime | None = None,
    as_host: str | None = None,
    include_layers: bool = False,
    tags: bool = False,
    hub_tags: bool = False,
    hub_api: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    exchanges: list[Exchange] | None = None,
    **client_kwargs: Any,
) -> RecordSummary:
    """Record what the registries answer for ``refs`` into ``out_dir``; see the module docstring.

    Each reference is inspected with ``configs="all"`` and its simulate facts are gathered
    (children, nested indexes, every config); ``tags=True`` also records each repository's tag
    list, and ``hub_tags=True`` its pages of Docker Hub's tag listing (``docker.io``
    repositories, or any repository when ``hub_api=`` names a copy of that API; see
    :mod:`archlab.tags`), each repository once. A reference that fails is reported in the
    summary (its 404, if that is what the registry said, is recorded too) and the others are
    still written. ``transport`` is the real transport to record through; every HTTP exchange
    is appended to ``exchanges`` when it is a list (the command line's ``--trace``);
    ``client_kwargs`` go to the
    :class:`~archlab.registry.RegistryClient` (``credentials=``, ``insecure=``, ...).
    """
    from archlab.cache import ContentCache, TagIndex
    from archlab.inspect import inspect
    from archlab.reference import parse_reference
    from archlab.simulate import gather_facts_sync

    bad = _OWN_CLIENT_ARGS.intersection(client_kwargs)
    if bad:
        raise ArchlabError(f"record() sets {', '.join(sorted(bad))} itself; do not pass it")
    texts = tuple(refs)
    recorded_time = _timestamp(recorded_at)  # fail on a bad time before any request
    recorder = RecordingTransport(transport, include_layers=include_layers)
    rows: list[RecordedRef] = []
    listed: set[str] = set()
    layer_bytes = 0
    # A private cache per reference: the second pass (simulate facts) re-reads children and
    # configs from it instead of the registry, no earlier cache can hide an answer from the
    # recorder, and a digest shared with another repository is still asked of this one (a
    # registry answers by repository, and so does the replay).
    with tempfile.TemporaryDirectory(prefix="archlab-record-") as tmp, \
            RegistryClient(transport=recorder, cache=False, tag_index=False,
                           **client_kwargs) as reg:
        reg.aio.exchanges = exchanges
        for i, text in enumerate(texts):
            blobs_dir = Path(tmp) / str(i) / "blobs"
            reg.aio.cache = ContentCache(blobs_dir)
            reg.aio.tag_index = TagIndex(blobs_dir)
            try:
                ref = parse_reference(text)
                insp = inspect(ref, client=reg, configs="all")
                facts = gather_facts_sync(ref, reg, attestations=True)
                if include_layers:
                    layer_bytes += _record_layers(reg, ref, facts, layer_bytes, recorder)
                if tags:
                    reg.list_tags(ref)
                if hub_tags:
                    _record_hub_tags(reg, ref, hub_api, listed)
            except ArchlabError as exc:
                rows.append(RecordedRef(text, None, None, (), str(exc)))
                continue
            rows.append(RecordedRef(text, insp.kind, insp.digest,
                                    tuple(str(p) for p in insp.platforms)))
    snap = recorder.snapshot(refs=texts, recorded_at=recorded_time, as_host=as_host)
    snap = snap.write(out_dir)
    return RecordSummary(snap, tuple(rows), tuple(recorder.skipped))


def _record_hub_tags(reg: RegistryClient, ref: Any, hub_api: str | None,
                     listed: set[str]) -> None:
    """Read ``ref``'s repository's pages of Docker Hub's tag listing once, through the
    recorder, when that listing answers for its registry (the rule of :mod:`archlab.tags`)."""
    from archlab.hub import hub_tags

    name = f"{ref.registry}/{ref.repository}"
    if name in listed or not (ref.registry == "docker.io" or hub_api is not None):
        return
    listed.add(name)
    reg.run(lambda aio: hub_tags(aio, ref, base_url=hub_api))


def _record_layers(reg: RegistryClient, ref: Any, facts: Any, spent: int,
                   recorder: RecordingTransport) -> int:
    """Fetch every layer of every platform's image of ``facts`` through the recorder (each
    verified by digest and size by the client), within ``MAX_LAYER_BYTES`` each and
    ``MAX_SNAPSHOT_LAYERS_BYTES`` for the whole recording. Returns the bytes fetched; layers
    over a limit, or foreign (``urls``), are listed in ``recorder.skipped``."""
    images = [m for m in (facts.root, *facts.children.values())
              if isinstance(m, manifests.ImageManifest)]
    wanted: dict[str, manifests.Descriptor] = {}
    for image in images:
        for layer in image.layers:
            wanted.setdefault(layer.digest, layer)
    fetched = 0
    for layer in wanted.values():
        where = f"layer {ref.api_host}/{ref.repository} {layer.digest}"
        if layer.urls:
            recorder.skipped.append(f"{where}: a foreign layer (served from its urls)")
            continue
        if layer.size > limits.MAX_LAYER_BYTES:
            recorder.skipped.append(f"{where}: {layer.size} bytes, above the cap of "
                                    f"{limits.MAX_LAYER_BYTES} for one layer")
            continue
        if spent + fetched + layer.size > limits.MAX_SNAPSHOT_LAYERS_BYTES:
            recorder.skipped.append(f"{where}: the recording's layers would pass "
                                    f"{limits.MAX_SNAPSHOT_LAYERS_BYTES} bytes")
            continue
        reg.get_blob(ref, layer.digest, max_bytes=limits.MAX_LAYER_BYTES,
                     expected_size=layer.size, kind="layer", use_cache=False)
        fetched += layer.size
    return fetched
