"""Content digests: the names registries give to bytes.

Everything a registry stores (manifests, configs, layers) is addressed by a *digest*: the name of a
hash algorithm, a colon, and the hash of the exact bytes in lowercase hex. Pulling
``busybox@sha256:…`` asks for the bytes whose hash is that; a client that does not re-hash what it
receives cannot know whether it got them.

How do I use this module?

    >>> compute(b"{}")
    'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'
    >>> short(compute(b"{}"))
    '44136fa355b3'
    >>> verify(b"{}", compute(b"{}"), what="config of lab/busybox")   # silent when it matches

The rules (the same as ``opencontainers/go-digest``, which Docker and distribution use):

=========  ======================  ============================================
algorithm  encoded part            example
=========  ======================  ============================================
sha256     64 lowercase hex        ``sha256:44136fa355b3…aff8a`` (the default)
sha384     96 lowercase hex        rarely seen; valid in OCI
sha512     128 lowercase hex       valid in OCI; some registries accept it
=========  ======================  ============================================

Anything else (no colon, upper-case hex, a wrong length, an unknown algorithm such as ``md5``) is
refused with a :class:`~archlab.errors.ManifestError` that quotes the string. A mismatch found by
:func:`verify` is a :class:`~archlab.errors.DigestMismatchError` naming what was being checked.

The hash is always over the bytes as they travelled, never over re-serialised JSON: two documents
that mean the same thing but differ in one space have different digests. (Signed schema1 manifests
are the one exception, see :func:`archlab.manifests.schema1_payload`.)
"""

from __future__ import annotations

import hashlib
import re

from archlab.errors import DigestMismatchError, ManifestError

__all__ = ["ALGORITHMS", "compute", "short", "validate", "verify"]

#: Supported algorithms and the number of hex digits each one's encoded part has.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha384": 96, "sha512": 128}

_LOWER_HEX = re.compile(r"[0-9a-f]+")


def compute(data: bytes, algorithm: str = "sha256") -> str:
    """Return the digest of ``data`` as ``"<algorithm>:<hex>"``."""
    if algorithm not in ALGORITHMS:
        raise ManifestError(
            f"unsupported digest algorithm {algorithm!r}: use one of {', '.join(ALGORITHMS)}"
        )
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def validate(digest: str) -> str:
    """Return ``digest`` unchanged if it is well formed, else raise :class:`ManifestError`."""
    if not isinstance(digest, str):
        raise ManifestError(f"invalid digest {digest!r}: must be a string like sha256:<64 hex>")
    algorithm, sep, encoded = digest.partition(":")
    if not sep:
        raise ManifestError(
            f"invalid digest {digest!r}: expected <algorithm>:<hex>, e.g. sha256:<64 hex digits>"
        )
    if algorithm not in ALGORITHMS:
        raise ManifestError(
            f"invalid digest {digest!r}: unsupported algorithm {algorithm!r} "
            f"(use {', '.join(ALGORITHMS)})"
        )
    want = ALGORITHMS[algorithm]
    if len(encoded) != want or not _LOWER_HEX.fullmatch(encoded):
        raise ManifestError(
            f"invalid digest {digest!r}: {algorithm} needs exactly {want} lowercase hex digits "
            f"after the colon, got {len(encoded)} characters"
            + ("" if _LOWER_HEX.fullmatch(encoded) else " that are not all lowercase hex")
        )
    return digest


def verify(data: bytes, expected: str, *, what: str) -> None:
    """Raise :class:`DigestMismatchError` unless ``data`` hashes to ``expected``.

    ``what`` names the content for the message (``"manifest lab/mysql@sha256:…"``, ``"config of
    lab/golang:latest"``). The hash uses ``expected``'s own algorithm.
    """
    validate(expected)
    actual = compute(data, expected.partition(":")[0])
    if actual != expected:
        raise DigestMismatchError(
            f"{what}: content has digest {actual}, expected {expected} "
            "(the registry or a proxy altered it, or it was tampered with)"
        )


def short(digest: str, n: int = 12) -> str:
    """The first ``n`` hex digits without the algorithm, like Docker's short image IDs."""
    if n < 1:
        raise ManifestError(f"short digest length must be at least 1, got {n}")
    return digest.partition(":")[2][:n] if ":" in digest else digest[:n]
