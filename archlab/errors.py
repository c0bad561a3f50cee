"""One exception hierarchy for everything archlab raises on purpose.

Catch :class:`ArchlabError` to handle any of them; catch a subclass to handle one kind of
trouble. Every message is meant to be shown to a person as it is: it names the input that was
wrong and, where there is one, the fix. The command line prints ``archlab: <message>`` and exits
non-zero instead of showing a traceback.

::

    ArchlabError
    ├── InvalidReferenceError    a malformed image reference
    ├── PlatformError            a malformed platform specifier
    ├── ManifestError            a document that is not the manifest it claims to be
    │   └── DigestMismatchError  bytes whose sha256 is not the digest they were fetched by
    │       └── SnapshotAlteredError   a snapshot that fails its integrity checks
    ├── RegistryError            anything a registry answered (or failed to answer)
    │   ├── RegistryUnreachableError   connection refused, DNS, TLS, reset, hang-up
    │   ├── DeadlineExceededError      a registry too slow: a deadline of archlab.limits passed
    │   ├── BadResponseError           an answer archlab cannot use: broken HTTP, invalid
    │   │                              gzip, an encoding it did not ask for, a redirect loop
    │   ├── InsecureTransportError     plain HTTP to a non-loopback host without opt-in
    │   ├── AuthError                  401/403, missing or wrong credentials
    │   ├── NotFoundError              unknown repository, tag or digest (``not_recorded``:
    │   │                              only a replayed snapshot lacks it)
    │   ├── RateLimitError             429 that outlived the retries
    │   ├── TooLargeError              a manifest or config above the size cap
    │   └── NoMatchingManifestError    a list with no entry for the wanted platform
    ├── LayerError               an image layer that is not a safe, readable tar (bounds,
    │   │                        names or links out of the layer, devices, bad gzip)
    │   └── NotInLayerError      the file asked for is not in the layer
    ├── LabError                 the local lab (registry binary, emulators) is not usable
    ├── ComposeError             a compose file or Dockerfile that cannot be read
    └── InputError               a file or document refused by archlab.decoding: not a regular
                                 file, too large, too deep, too many aliases, not UTF-8, not
                                 JSON/YAML (registry documents raise ManifestError and compose
                                 files ComposeError for the same refusals)
"""

from __future__ import annotations


class ArchlabError(Exception):
    """Base class of every error archlab raises on purpose."""


class InvalidReferenceError(ArchlabError, ValueError):
    """An image reference that Docker would refuse too; the message names the bad part."""


class PlatformError(ArchlabError, ValueError):
    """A platform specifier that cannot be parsed (``linux/arm64/v8`` is the shape)."""


class ManifestError(ArchlabError, ValueError):
    """A manifest, index or config that is malformed; the message names document and field."""


class DigestMismatchError(ManifestError):
    """Content whose digest differs from the one it was asked for or announced with."""


class SnapshotAlteredError(DigestMismatchError):
    """A snapshot directory whose files do not prove what it says: a missing or changed body,
    an index that does not match its integrity record or its pinned root digest, an answer
    whose bytes are not what it claims. The message names the file and says "altered"."""


class RegistryError(ArchlabError):
    """A registry answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


class RegistryUnreachableError(RegistryError):
    """The registry host could not be reached, or the connection broke.

    ``connect_failed`` is True when no connection was ever made (refused, DNS, TLS, connect
    timeout): the host itself is down, so a survey stops asking it. A connection that was
    reset or hung up after it was made leaves it False: the next request may well succeed.
    """

    def __init__(self, message: str, *, connect_failed: bool = False, **kw):
        super().__init__(message, **kw)
        self.connect_failed = connect_failed


class DeadlineExceededError(RegistryError):
    """A registry did not finish answering within a deadline (a stalled, silent or trickling
    server); the message names the deadline and the parameter that raises it."""


class BadResponseError(RegistryError):
    """An answer that breaks HTTP or archlab's rules for bodies: a malformed message, an
    invalid compressed body, a ``Content-Encoding`` archlab did not ask for, a redirect loop."""


class InsecureTransportError(RegistryError):
    """Plain HTTP was asked for a host that is not loopback, without ``insecure=True``."""


class AuthError(RegistryError):
    """The registry wants credentials we do not have, or refused the ones we sent."""


class NotFoundError(RegistryError):
    """The repository, tag or digest does not exist on that registry. ``not_recorded`` is True
    when a snapshot being replayed simply holds no answer for it: the registry may well have
    it."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None,
                 not_recorded: bool = False):
        super().__init__(message, status=status, url=url)
        self.not_recorded = not_recorded


class RateLimitError(RegistryError):
    """HTTP 429 persisted after retrying; ``retry_after`` says how long the registry asked."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class TooLargeError(RegistryError):
    """A manifest or config larger than the configured cap; nothing was parsed."""


class NoMatchingManifestError(RegistryError):
    """A manifest list or index has no entry for the platform asked for.

    ``str()`` is Docker's exact text, e.g.
    ``no matching manifest for linux/arm64 in the manifest list entries``.
    """


class LayerError(ArchlabError):
    """An image layer archive archlab refuses to read: not tar or tar+gzip, above a bound of
    :mod:`archlab.limits`, a name or link leading out of it, a device asked for, a loop."""


class NotInLayerError(LayerError):
    """The file asked for is not in the layer (a lower layer may still hold it)."""


class LabError(ArchlabError):
    """The local lab cannot run: a missing binary, a port in use, a registry that will not start."""


class ComposeError(ArchlabError):
    """A compose file or Dockerfile that cannot be read; the message names file and line."""


class InputError(ArchlabError, ValueError):
    """A file or document that cannot be read within archlab's limits; names it and the fix.

    Raised by :mod:`archlab.decoding` for inputs that have no more specific error class: a
    docker config, a reference list, a results file, a snapshot index, a state file.
    """
