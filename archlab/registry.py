"""Talk to a registry over the distribution HTTP API: correct, cached, and polite.

This is archlab's only door to the network. One :class:`AsyncRegistryClient` owns one pooled
``httpx.AsyncClient`` (building a client costs ~70 ms of TLS set-up, so never build one per
request) and does, for every registry it meets:

* **Resolve a tag with HEAD first.** ``HEAD /v2/<name>/manifests/<tag>`` answers the digest in
  ``Docker-Content-Digest`` and is *not* counted by Docker Hub's pull rate limit. When archlab has
  never seen the tag, it skips the HEAD and GETs by tag at once (the digest comes back in the same
  header): one request either way.
* **Fetch by digest, verify, cache.** Manifests and configs are fetched by digest, their bytes
  checked against that digest (and against ``Content-Length``), capped in size (4 MiB by
  default: a real manifest is a few KiB), and kept in the content-addressed
  :class:`archlab.cache.ContentCache`. A second look at an unchanged tag therefore costs
  exactly one HEAD.
* **Authenticate** as the ``WWW-Authenticate`` challenge asks (see :mod:`archlab.auth`), with
  credentials from ``~/.docker/config.json`` and its helpers (:mod:`archlab.credentials`) or the
  ones you pass. Tokens live in memory only.
* **Back off, within deadlines.** 429, 5xx, connection errors and stalled attempts are retried
  with exponential backoff and jitter; a ``Retry-After`` header is honoured (up to
  ``max_retry_after`` seconds, beyond which the error is raised at once so a survey can
  decide). Every attempt has a deadline from connect to its last body byte, and all attempts
  a retry budget (:class:`AsyncRegistryClient`): a server that trickles or says nothing costs
  30 s at most. Bodies are read as streams within their caps, counted after decompression
  (:mod:`archlab.bodies`). Docker Hub's ``ratelimit-limit``,
  ``ratelimit-remaining`` and ``docker-ratelimit-source`` are recorded per host in
  :attr:`AsyncRegistryClient.rate_limits`.
* **Stay safe.** TLS verification is always on. Plain HTTP is used only for loopback registries
  (``127.0.0.0/8``, ``::1``, ``localhost``: Docker's own default insecure range) or hosts you name
  in ``insecure=``; the same rule holds for the token realm a registry names, since the
  token request carries your password.

Content negotiation: archlab sends one ``Accept`` header naming every manifest type it reads
(like containerd). Pass ``accept=`` to :meth:`AsyncRegistryClient.get_manifest` to see what a
registry does for an older client: distribution 2.8 then substitutes the ``linux/amd64`` child of
a list, converts to signed schema1, or refuses an OCI index with ``MANIFEST_UNKNOWN``.

Sync use (scripts, notebooks)::

    from archlab.registry import RegistryClient
    with RegistryClient() as reg:
        got = reg.get_manifest("127.0.0.1:5000/lab/mysql:5.7")
        got.manifest.manifests[0].platform      # Platform(os='linux', architecture='amd64')

:class:`RegistryClient` runs the async core on a private event-loop thread, so it works the same
in a plain script and inside Jupyter, whose own loop is already running.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

import httpx

from archlab import decoding, digests, limits, manifests
from archlab.auth import Challenge, TokenCache, basic_header, parse_challenge, repository_scope
from archlab.bodies import ACCEPT_ENCODING, read_body, read_excerpt
from archlab.cache import ContentCache, TagIndex, flush_or_warn
from archlab.credentials import Credentials
from archlab.credentials import resolve as resolve_credentials
from archlab.errors import (
    AuthError,
    BadResponseError,
    DeadlineExceededError,
    DigestMismatchError,
    InsecureTransportError,
    InvalidReferenceError,
    ManifestError,
    NotFoundError,
    RateLimitError,
    RegistryError,
    RegistryUnreachableError,
    TooLargeError,
)
from archlab.reference import Reference, is_loopback_host, parse_reference
from archlab.transport import default_transport

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AsyncRegistryClient",
    "Exchange",
    "Fetched",
    "RateLimit",
    "RegistryClient",
    "Resolved",
    "exchanges_frame",
    "is_loopback_host",
]

#: Headers worth keeping from a manifest answer (snapshots store these, never auth headers).
RATE_LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "docker-ratelimit-source")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_QUOTED = 200  # characters of a registry's error text quoted in a message
USER_AGENT = "archlab/0.1 (+httpx)"

T = TypeVar("T")


def exchanges_frame(exchanges: Iterable[Exchange]) -> pd.DataFrame:
    """A DataFrame of traced exchanges, one row each, headers as ``> name`` / ``< name``."""
    import pandas as pd

    return pd.DataFrame([e.as_row() for e in exchanges])


@dataclass(frozen=True)
class RateLimit:
    """Docker Hub's pull budget as last seen in response headers (``100;w=21600``)."""

    limit: int | None
    remaining: int | None
    window_seconds: int | None
    source: str | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimit | None:
        if not any(h in headers for h in RATE_LIMIT_HEADERS):
            return None
        limit, window = _count_and_window(headers.get("ratelimit-limit"))
        remaining, window2 = _count_and_window(headers.get("ratelimit-remaining"))
        return cls(limit, remaining, window or window2, headers.get("docker-ratelimit-source"))


def _count_and_window(value: str | None) -> tuple[int | None, int | None]:
    if not value:
        return None, None
    count, window = None, None
    for i, part in enumerate(value.split(";")):
        part = part.strip()
        if i == 0:
            with contextlib.suppress(ValueError):
                count = int(part)
        elif part.startswith("w="):
            with contextlib.suppress(ValueError):
                window = int(part[2:])
    return count, window


@dataclass(frozen=True)
class Resolved:
    """What a tag or digest points at: the answer of a HEAD (or of the cache)."""

    reference: Reference
    digest: str
    media_type: str
    size: int | None


@dataclass(frozen=True)
class Fetched:
    """A manifest as fetched: the exact bytes, their media type and digest, and where from."""

    reference: Reference
    digest: str
    media_type: str
    raw: bytes
    manifest: manifests.Manifest
    from_cache: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


#: Request and response headers an :class:`Exchange` keeps: what teaches, nothing secret.
_TRACE_REQUEST_HEADERS = ("accept", "content-type")
_TRACE_RESPONSE_HEADERS = (
    "content-type", "content-length", "docker-content-digest", "www-authenticate", "location",
    "retry-after", "link", *RATE_LIMIT_HEADERS,
)


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and its answer, as a notebook shows it. Credentials never appear:
    ``auth`` only says which scheme was sent (``Bearer``/``Basic``), never the value."""

    method: str
    url: str
    kind: str
    status: int | None
    auth: str
    request_headers: tuple[tuple[str, str], ...]
    response_headers: tuple[tuple[str, str], ...]
    error: str = ""

    @classmethod
    def of(
        cls, request: httpx.Request, resp: httpx.Response | None, kind: str, error: str = ""
    ) -> Exchange:
        authz = request.headers.get("authorization", "")
        return cls(
            method=request.method,
            url=str(request.url),
            kind=kind,
            status=resp.status_code if resp is not None else None,
            auth=authz.split(" ", 1)[0] if authz else "",
            request_headers=tuple((h, request.headers[h]) for h in _TRACE_REQUEST_HEADERS
                                  if h in request.headers),
            response_headers=tuple((h, resp.headers[h]) for h in _TRACE_RESPONSE_HEADERS
                                   if resp is not None and h in resp.headers),
            error=error,
        )

    def as_row(self) -> dict[str, object]:
        row: dict[str, object] = {"method": self.method, "url": self.url, "kind": self.kind,
                                  "status": self.status, "auth": self.auth or None}
        row.update({f"> {h}": v for h, v in self.request_headers})
        row.update({f"< {h}": v for h, v in self.response_headers})
        if self.error:
            row["error"] = self.error
        return row


@dataclass
class _RequestLog:
    """Counts of requests this client sent, by (method, kind), and of the attempts it made
    again, by reason (``429``, ``5xx``, ``connection``, ``deadline``) – for tests and
    benchmarks."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)

    def add(self, method: str, kind: str) -> None:
        self.counts[(method, kind)] += 1

    def total(self, method: str | None = None) -> int:
        return sum(n for (m, _), n in self.counts.items() if method in (None, m))


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing: the registry API needs no cookies, a kept cookie would be a
    credential stored without asking, and reading ``Set-Cookie`` through :mod:`http.cookiejar`
    cost about 0.3 ms of CPU per response, a tenth of a survey's time per tag."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class _CookielessClient(httpx.AsyncClient):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, value: object) -> None:
        raise TypeError("archlab's registry client keeps no cookies")


class AsyncRegistryClient:
    """The async core. Use one per program; close it with ``await client.aclose()``.

    Parameters:
        insecure: host names (``host[:port]``) allowed over plain HTTP although not loopback,
            or ``True`` for all (only for labs: it sends credentials in clear).
        credentials: ``{"host": Credentials}`` used before the Docker config is consulted.
        use_docker_config: read ``~/.docker/config.json`` (or ``$DOCKER_CONFIG``) for credentials.
        cache: a :class:`ContentCache`; ``None`` uses the default location, ``False`` disables.
        max_manifest_bytes / max_config_bytes: size caps; larger documents raise TooLargeError.
        retries: attempts after the first for 429/5xx/connection errors.
        max_retry_after: a ``Retry-After`` longer than this is not waited for.
        per_host: concurrent requests allowed to one registry host.
        timeout: seconds for one connect, or between two reads (``limits.IO_TIMEOUT``).
        request_deadline: seconds for one attempt, connect to last body byte
            (``limits.REQUEST_DEADLINE``).
        retry_budget: seconds for one request with all its retries and waits
            (``limits.RETRY_BUDGET``); ``layer_deadline`` is the same for a layer blob.
        max_redirects: redirects followed for one request (``limits.MAX_REDIRECTS``).

    Deadlines: every request runs inside ``asyncio.timeout``, so a server that trickles its
    headers or body a byte at a time cannot stretch an attempt past ``request_deadline``, and
    retries stop when ``retry_budget`` is spent (a backoff or ``Retry-After`` wait that would
    overrun it is not begun). A silent server therefore costs at most ``retry_budget``
    (30 s: three 10 s read timeouts), where it cost 157 s before deadlines: five 30 s read
    timeouts and the backoffs. Retries are counted by reason in ``requests.retried``.
    The clock of a request starts at its first attempt; waiting for the per-host slot before
    it does not count.
    """

    def __init__(
        self,
        *,
        insecure: bool | Iterable[str] = (),
        credentials: Mapping[str, Credentials] | None = None,
        use_docker_config: bool = True,
        cache: ContentCache | bool | None = None,
        tag_index: TagIndex | bool | None = None,
        max_manifest_bytes: int = limits.MAX_MANIFEST_BYTES,
        max_config_bytes: int = limits.MAX_CONFIG_BYTES,
        retries: int = limits.RETRIES,
        backoff: float = limits.RETRY_BACKOFF,
        max_retry_after: float = limits.MAX_RETRY_AFTER,
        per_host: int = limits.PER_HOST,
        timeout: float = limits.IO_TIMEOUT,
        request_deadline: float = limits.REQUEST_DEADLINE,
        retry_budget: float = limits.RETRY_BUDGET,
        layer_deadline: float = limits.LAYER_DEADLINE,
        max_redirects: int = limits.MAX_REDIRECTS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._insecure_all = insecure is True
        self._insecure_hosts = (
            set() if isinstance(insecure, bool) else {h.lower() for h in insecure}
        )
        self._credentials: dict[str, Credentials | None] = dict(credentials or {})
        self._use_docker_config = use_docker_config
        if cache is None or cache is True:
            cache = ContentCache()
        self.cache: ContentCache | None = cache or None
        if tag_index is None or tag_index is True:
            tag_index = TagIndex(self.cache.root) if self.cache else None
        self.tag_index: TagIndex | None = tag_index or None
        self.max_manifest_bytes = max_manifest_bytes
        self.max_config_bytes = max_config_bytes
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.request_deadline = request_deadline
        self.retry_budget = retry_budget
        self.layer_deadline = layer_deadline
        self._per_host = per_host
        self._sleep = sleep
        self._http = _CookielessClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,  # blob GETs may redirect to storage
            max_redirects=max_redirects,
            # The encodings archlab.bodies decodes within its caps, whatever is installed.
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
            # No total cap: one would let slow hosts hold every connection and stall the
            # others. Each host is bounded by its own semaphore (per_host) instead.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            transport=transport if transport is not None else default_transport(
                max_connections=0),
            verify=True,
            # Every hop, redirects included, must obey the plain-HTTP rule, not just the first.
            event_hooks={"request": [self._refuse_plain_http]},
        )
        self.tokens = TokenCache()
        self._challenge_for_host: dict[str, Challenge] = {}
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        #: Last seen Docker Hub style rate-limit headers, per registry host.
        self.rate_limits: dict[str, RateLimit] = {}
        #: Requests this client sent, by (method, kind).
        self.requests = _RequestLog()
        #: When a list (see :meth:`RegistryClient.trace`), every HTTP exchange is appended.
        self.exchanges: list[Exchange] | None = None

    async def aclose(self) -> None:
        flush_or_warn(self.tag_index)  # hints are batched: write what this client learnt
        await self._http.aclose()

    async def __aenter__(self) -> AsyncRegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ public API

    async def resolve(self, ref: Reference | str) -> Resolved:
        """HEAD a tag or digest: its digest, media type and size (no counted pull)."""
        ref = _as_ref(ref)
        resp, _ = await self._request(
            "HEAD", ref, f"manifests/{ref.api_ref}", kind="manifest",
            headers={"Accept": ", ".join(manifests.ACCEPT_ALL)},
        )
        digest = resp.headers.get("docker-content-digest")
        media_type = _content_type(resp)
        if not digest:
            # Some registries omit the header on HEAD; fall back to GET (Docker does too).
            # Straight to the wire: get_manifest would HEAD again for a tag it knows.
            fetched = await self._get_manifest_remote(ref, manifests.ACCEPT_ALL)
            return Resolved(ref, fetched.digest, fetched.media_type, len(fetched.raw))
        digests.validate(digest)
        if ref.digest and digest != ref.digest:
            raise DigestMismatchError(
                f"{ref}: registry answered digest {digest} for a request by digest {ref.digest}"
            )
        size = _int_or_none(resp.headers.get("content-length"))
        return Resolved(ref, digest, media_type, size)

    async def get_manifest(
        self,
        ref: Reference | str,
        *,
        accept: Iterable[str] | None = None,
        use_cache: bool = True,
    ) -> Fetched:
        """The manifest a reference points at, parsed, verified and cached.

        By digest: from the cache, or one GET. By tag: one HEAD if archlab has seen this tag
        before (then the cache answers when the digest is unchanged), else one GET by tag.
        ``accept`` narrows the Accept header (content-negotiation experiments; bypasses the cache).
        """
        ref = _as_ref(ref)
        if accept is not None:
            return await self._get_manifest_remote(ref, tuple(accept))
        if use_cache and self.cache is not None:
            digest = ref.digest
            if digest is None and self.tag_index is not None and self._tag_known(ref):
                digest = (await self.resolve(ref)).digest
            if digest is not None:
                hit = self._from_cache(ref, digest)
                if hit is not None:
                    return hit
                ref_for_get = ref.with_digest(digest) if not ref.digest else ref
                return await self._get_manifest_remote(ref_for_get, manifests.ACCEPT_ALL)
        return await self._get_manifest_remote(ref, manifests.ACCEPT_ALL)

    async def get_config(
        self, ref: Reference | str, descriptor: manifests.Descriptor
    ) -> manifests.ImageConfig:
        """The image config a single-arch manifest points at (one blob GET, or the cache)."""
        ref = _as_ref(ref)
        data = await self.get_blob(ref, descriptor.digest, max_bytes=self.max_config_bytes,
                                   expected_size=descriptor.size, kind="config")
        return manifests.parse_config(data, source=f"{ref.name}@{descriptor.digest}")

    async def get_blob(
        self,
        ref: Reference | str,
        digest: str,
        *,
        max_bytes: int,
        expected_size: int | None = None,
        kind: str = "blob",
        use_cache: bool = True,
    ) -> bytes:
        """A blob's bytes, verified against its digest, capped at ``max_bytes``."""
        ref = _as_ref(ref)
        digests.validate(digest)
        if use_cache and self.cache is not None:
            hit = self.cache.get(digest)
            if hit is not None:
                return hit.data
        if expected_size is not None and expected_size > max_bytes:
            raise TooLargeError(
                f"{ref.name}@{digest}: {kind} is {expected_size} bytes, above the cap of "
                f"{max_bytes} (raise max_{kind}_bytes if you trust it)"
            )
        resp, body = await self._request_body("GET", ref, f"blobs/{digest}", kind=kind,
                                              max_bytes=max_bytes, headers={})
        digests.verify(body, digest, what=f"{kind} {ref.name}@{digest}")
        if expected_size is not None and len(body) != expected_size:
            raise DigestMismatchError(
                f"{kind} {ref.name}@{digest}: {len(body)} bytes, descriptor says {expected_size}"
            )
        if self.cache is not None and use_cache:
            self.cache.put(digest, body, media_type=_content_type(resp) or None)
        return body

    async def consume_blob(
        self, ref: Reference | str, digest: str, consume: Callable[[httpx.Response],
                                                                   Awaitable[None]], *,
        max_bytes: int, kind: str = "layer",
    ) -> None:
        """Hand a blob's open response to ``consume``, which reads only as far as it needs
        (``aiter_bytes``); when it returns, or fails, the connection is dropped, so the
        registry stops sending. Nothing is cached, and the digest can only be checked by a
        consumer that reads to the end (see :mod:`archlab.verify`).

        Auth, retries and the plain-HTTP rule apply as for any request until the answer
        arrives; ``consume`` runs once, within the blob's deadline (``layer_deadline`` for a
        layer), and a connection lost while it reads is a :class:`BadResponseError`, never a
        retry (a consumer may have used what arrived). A ``Content-Length`` above
        ``max_bytes`` is refused before any byte is read.
        """
        ref = _as_ref(ref)
        digests.validate(digest)
        url = f"{self._base_url(ref.api_host)}/v2/{ref.repository}/blobs/{digest}"

        async def guarded(resp: httpx.Response) -> bytes:
            declared = _int_or_none(resp.headers.get("content-length"))
            if declared is not None and declared > max_bytes:
                raise TooLargeError(f"{ref.name}@{digest}: {kind} is {declared} bytes, above "
                                    f"the cap of {max_bytes}; refusing to read it")
            try:
                await consume(resp)
            except httpx.TransportError as exc:
                raise BadResponseError(f"{ref.name}@{digest}: the {kind} stopped arriving "
                                       f"({_problem(exc, self.layer_deadline)})") from exc
            return b""

        await self._send("GET", ref.api_host, url, kind=kind, headers={}, ref=ref,
                         consume=guarded)

    async def list_tags(
        self,
        ref: Reference | str,
        *,
        page_size: int = 1000,
        max_pages: int = limits.MAX_TAG_PAGES,
        max_tags: int = limits.MAX_TAGS,
    ) -> list[str]:
        """Every tag of the repository, following ``Link: <...>; rel="next"`` pagination.

        At most ``max_pages`` pages and ``max_tags`` tags: a registry that pages on past them
        (one tag a page, or forever) gets :class:`TooLargeError`, never a silently partial
        list, because callers take the answer as complete (the nearest tag, the compose
        audit). Raise the caps for a repository you know is that large.
        """
        ref = _as_ref(ref)
        tags: list[str] = []
        known: set[str] = set()
        path: str | None = f"tags/list?n={page_size}"
        seen: set[str] = set()
        while path and path not in seen:
            if len(seen) >= max_pages:
                raise TooLargeError(
                    f"{ref.name}: the registry's tag list runs past {max_pages} pages "
                    f"({len(tags)} tags so far); raise max_pages= if the repository really "
                    "has that many tags")
            seen.add(path)
            resp, raw = await self._request("GET", ref, path, kind="tags",
                                            max_body=limits.MAX_TAG_PAGE_BYTES)
            body = decoding.load_json(raw, what=f"{ref.name}: the tags/list answer",
                                      max_bytes=limits.MAX_TAG_PAGE_BYTES, error=RegistryError)
            page = body.get("tags") if isinstance(body, dict) else None
            if page is not None and not isinstance(page, list):
                raise RegistryError(f"{ref.name}: the tags/list answer's 'tags' is "
                                    f"{type(page).__name__}, not a list")
            for t in page or ():
                if isinstance(t, str) and t not in known:
                    if len(tags) >= max_tags:
                        raise TooLargeError(
                            f"{ref.name}: the registry lists more than {max_tags} tags; "
                            "raise max_tags= if the repository really has that many")
                    known.add(t)
                    tags.append(t)
            path = _next_link(resp.headers.get("link", ""), ref)
        return tags

    async def ping(self, host: str) -> httpx.Response:
        """``GET /v2/`` without credentials: is this a registry, and what challenge does it
        send? 200 for an open registry, 401 with its ``WWW-Authenticate`` otherwise; the
        response is returned as it came, whatever its status."""
        url = f"{self._base_url(host)}/v2/"
        _check_port(httpx.URL(url), host)
        request = self._http.build_request("GET", url)
        try:
            async with self._semaphore(host):
                self.requests.add("GET", "ping")
                async with asyncio.timeout(self.request_deadline):
                    resp = await self._http.send(request, stream=True)
                    try:  # the body of /v2/ is {} or an error: an excerpt is all it needs
                        body = await read_excerpt(resp, limits.MAX_ERROR_BODY_BYTES)
                    finally:
                        await resp.aclose()
        except (httpx.TransportError, httpx.TooManyRedirects, TimeoutError) as exc:
            self._trace(request, None, "ping", _problem(exc, self.request_deadline))
            raise _failure(host, exc, url, self.request_deadline, what=host) from exc
        self._trace(request, resp, "ping")
        # The body is decoded already: its encoding and length headers no longer describe it.
        headers = [(k, v) for k, v in resp.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length")]
        return httpx.Response(resp.status_code, headers=headers, content=body, request=request)

    async def get_api(
        self, url: str, *, kind: str, max_bytes: int, headers: Mapping[str, str] | None = None,
    ) -> tuple[httpx.Response, bytes]:
        """GET ``url`` on an HTTP API beside the registries (Docker Hub's tag listing, see
        :mod:`archlab.hub`) through this client's pool, answer and body, whatever the status.

        The plain-HTTP rule, the per-host limit, the request count (under ``kind``) and the
        trace apply as for registry requests, and at most ``max_bytes`` of the body are read
        (:class:`~archlab.errors.TooLargeError` beyond). No credentials are sent and nothing
        is retried: that API's own rules (its 429, its headers) are the caller's to apply.
        """
        target = httpx.URL(url)
        host = target.netloc.decode("ascii", "replace")
        _check_port(target, str(target))
        request = self._http.build_request("GET", target, headers=dict(headers or {}))
        resp: httpx.Response | None = None
        try:
            async with self._semaphore(host):
                self.requests.add("GET", kind)
                async with asyncio.timeout(self.request_deadline):
                    resp = await self._http.send(request, stream=True)
                    try:
                        body = await read_body(resp, max_bytes=max_bytes, what=str(target))
                    except RegistryError as exc:
                        self._trace(request, resp, kind, str(exc))
                        raise
                    finally:
                        await resp.aclose()
        except (httpx.TransportError, httpx.TooManyRedirects, TimeoutError) as exc:
            self._trace(request, resp, kind, _problem(exc, self.request_deadline))
            untrusted = _certificate_problem(exc)
            if untrusted:
                raise RegistryUnreachableError(
                    f"API {host} presented a TLS certificate that is not trusted ({untrusted});"
                    " if it is signed by a private CA, point SSL_CERT_FILE at that CA's "
                    "certificate (PEM)", url=str(target), connect_failed=True) from exc
            raise _failure(host, exc, str(target), self.request_deadline, what=host,
                           server="API") from exc
        self._trace(request, resp, kind)
        return resp, body

    # ------------------------------------------------------------------ push (the lab uses it)

    async def blob_exists(self, ref: Reference | str, digest: str) -> bool:
        ref = _as_ref(ref)
        try:
            await self._request("HEAD", ref, f"blobs/{digest}", kind="blob", actions="pull,push")
        except NotFoundError:
            return False
        return True

    async def push_blob(
        self, ref: Reference | str, data: bytes, *, mount_from: str | None = None
    ) -> bool:
        """Upload a blob unless the registry has it; returns True when bytes were sent."""
        ref = _as_ref(ref)
        digest = digests.compute(data)
        # A mount request answers 201 when the blob exists (here or at the source): no HEAD.
        if not mount_from and await self.blob_exists(ref, digest):
            return False
        path = "blobs/uploads/"
        if mount_from:
            path += f"?mount={digest}&from={mount_from}"
        resp, _ = await self._request(
            "POST", ref, path, kind="upload", actions="pull,push", ok=(201, 202),
            extra_scope=repository_scope(mount_from, "pull") if mount_from else "",
        )
        if resp.status_code == 201:  # cross-repository mount done, nothing to send
            return False
        location = resp.headers.get("location")
        if not location:
            raise RegistryError(f"{ref.name}: upload started without a Location header")
        url = httpx.URL(self._base_url(ref.api_host)).join(location)
        url = url.copy_merge_params({"digest": digest})
        await self._send(
            "PUT", ref.api_host, url, kind="upload", content=data,
            headers={"Content-Type": "application/octet-stream"}, ref=ref, actions="pull,push",
            ok=(201,),
        )
        return True

    async def push_manifest(self, ref: Reference | str, raw: bytes, media_type: str) -> str:
        """PUT a manifest under the reference's tag (or digest); returns its digest."""
        ref = _as_ref(ref)
        digest = digests.compute(raw)
        resp, _ = await self._request(
            "PUT", ref, f"manifests/{ref.api_ref}", kind="manifest", actions="pull,push",
            content=raw, headers={"Content-Type": media_type}, ok=(201,),
        )
        answered = resp.headers.get("docker-content-digest")
        if answered and answered != digest:
            raise DigestMismatchError(
                f"{ref}: registry stored the manifest as {answered}, we computed {digest}"
            )
        return digest

    async def manifest_exists(self, ref: Reference | str) -> bool:
        try:
            await self.resolve(ref)
        except NotFoundError:
            return False
        return True

    # ------------------------------------------------------------------ internals

    async def _refuse_plain_http(self, request: httpx.Request) -> None:
        host = request.url.netloc.decode("ascii", "replace")
        port = request.url.port
        if port is not None and not 0 < port < 65536:
            raise BadResponseError(f"redirected to {request.url}, whose port {port} is out of "
                                   "range (1-65535)", url=str(request.url))
        if request.url.scheme == "http" and not self._plain_http_allowed(host):
            raise InsecureTransportError(
                f"refusing plain HTTP to {host} (reached via {request.url}): pass "
                f"insecure=[{host!r}] to allow it", url=str(request.url),
            )

    def _plain_http_allowed(self, host: str) -> bool:
        return is_loopback_host(host) or self._insecure_all or host.lower() in self._insecure_hosts

    def _tag_known(self, ref: Reference) -> bool:
        assert self.tag_index is not None
        return self.tag_index.recall(ref.registry, ref.repository, ref.tag or "latest") is not None

    def _from_cache(self, ref: Reference, digest: str) -> Fetched | None:
        if self.cache is None:
            return None
        # Verified against the digest it is stored under (signed schema1: its payload's), never
        # against the sidecar. The sidecar's media type is a hint the parser checks against
        # the document: a disagreement is a miss, and the registry is asked again.
        hit = self.cache.get(digest, digest_of=_stored_manifest_digest)
        if hit is None:
            return None
        media_type = hit.media_type or ""
        try:
            parsed = manifests.parse_manifest(hit.data, media_type or None,
                                              source=f"{ref.name}@{digest}")
        except ManifestError:
            return None
        return Fetched(ref, digest, parsed.media_type, hit.data, parsed, from_cache=True)

    async def _get_manifest_remote(self, ref: Reference, accept: tuple[str, ...]) -> Fetched:
        resp, body = await self._request_body(
            "GET", ref, f"manifests/{ref.api_ref}", kind="manifest",
            max_bytes=self.max_manifest_bytes, headers={"Accept": ", ".join(accept)},
        )
        media_type = _content_type(resp)
        source = str(ref)
        # Check the bytes before parsing them: nothing unverified reaches the parser or cache.
        digest = _manifest_digest(body, media_type, source)
        announced = resp.headers.get("docker-content-digest")
        if ref.digest and digest != ref.digest:
            raise DigestMismatchError(
                f"manifest {source}: content has digest {digest}, but it was requested by "
                f"digest {ref.digest} (the registry or a proxy altered it)"
            )
        if announced and announced != digest:
            raise DigestMismatchError(
                f"manifest {source}: content has digest {digest}, but the registry announced "
                f"Docker-Content-Digest {announced} (the registry or a proxy altered it)"
            )
        parsed = manifests.parse_manifest(body, media_type or None, source=source)
        if self.cache is not None and accept == manifests.ACCEPT_ALL:
            # Checked again by the cache, from the bytes alone; a document it cannot name the
            # way the registry did (a signed schema1 sent as plain JSON) is simply not cached.
            with contextlib.suppress(DigestMismatchError):
                self.cache.put(digest, body, media_type=parsed.media_type,
                               digest_of=_stored_manifest_digest)
            if self.tag_index is not None and ref.tag and not ref.digest:
                self.tag_index.remember(ref.registry, ref.repository, ref.tag, digest,
                                        parsed.media_type)
        headers = {k: v for k, v in resp.headers.items() if k.lower() in _KEPT_HEADERS}
        return Fetched(ref, digest, parsed.media_type, body, parsed, headers=headers)

    def _base_url(self, host: str) -> str:
        return f"{self._scheme(host)}://{host}"

    def _scheme(self, host: str) -> str:
        return "http" if self._plain_http_allowed(host) else "https"

    def _semaphore(self, host: str) -> asyncio.Semaphore:
        sem = self._semaphores.get(host)
        if sem is None:
            sem = self._semaphores[host] = asyncio.Semaphore(self._per_host)
        return sem

    def _credentials_for(self, host: str) -> Credentials | None:
        # Looked up once per host and client: a credential helper is a process to spawn.
        if host not in self._credentials:
            self._credentials[host] = (
                resolve_credentials(host) if self._use_docker_config else None
            )
        return self._credentials[host]

    async def _request(
        self,
        method: str,
        ref: Reference,
        path: str,
        *,
        kind: str,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        actions: str = "pull",
        ok: tuple[int, ...] = (200,),
        extra_scope: str = "",
        max_body: int | None = None,
    ) -> tuple[httpx.Response, bytes]:
        url = f"{self._base_url(ref.api_host)}/v2/{ref.repository}/{path}"
        return await self._send(method, ref.api_host, url, kind=kind, headers=headers or {},
                                content=content, ref=ref, actions=actions, ok=ok,
                                extra_scope=extra_scope, max_body=max_body,
                                what_body=f"{ref.name}: {kind} at {path}")

    async def _request_body(
        self,
        method: str,
        ref: Reference,
        path: str,
        *,
        kind: str,
        max_bytes: int,
        headers: Mapping[str, str],
    ) -> tuple[httpx.Response, bytes]:
        return await self._request(method, ref, path, kind=kind, headers=headers,
                                   max_body=max_bytes)

    async def _send(
        self,
        method: str,
        host: str,
        url: str | httpx.URL,
        *,
        kind: str,
        headers: Mapping[str, str],
        content: bytes | None = None,
        ref: Reference | None = None,
        actions: str = "pull",
        ok: tuple[int, ...] = (200,),
        extra_scope: str = "",
        max_body: int | None = None,
        what_body: str = "",
        consume: Callable[[httpx.Response], Awaitable[bytes]] | None = None,
    ) -> tuple[httpx.Response, bytes]:
        """One logical request: scheme check, auth, retries, rate-limit capture, errors.

        Returns the (closed) response and its body, read within ``max_body`` bytes after
        decoding (``b""`` when ``max_body`` is None: the body is not wanted). Every attempt,
        body included, runs within the attempt deadline; all attempts within the retry budget
        (the class docstring); a layer gets ``layer_deadline`` for both.
        """
        url = httpx.URL(str(url))
        what = f"{ref}" if ref else host
        _check_port(url, what)
        if url.scheme == "http" and not self._plain_http_allowed(host):
            raise InsecureTransportError(
                f"refusing plain HTTP to {host}: pass insecure=[{host!r}] to allow it"
            )
        scope = repository_scope(ref.repository, actions) if ref else ""
        if extra_scope:
            scope = f"{scope} {extra_scope}".strip()
        budget = self.layer_deadline if kind == "layer" else self.retry_budget
        per_attempt = self.layer_deadline if kind == "layer" else self.request_deadline
        loop = asyncio.get_running_loop()
        give_up_at: float | None = None  # the clock starts at the first attempt
        auth_tried = False
        attempt = 0
        while True:
            req_headers = dict(headers)
            authz = self._cached_authorization(host, scope)
            if authz:
                req_headers["Authorization"] = authz
            request = self._http.build_request(method, url, headers=req_headers,
                                               content=content)
            retry_after: float | None = None
            window = per_attempt
            resp: httpx.Response | None = None
            try:
                async with self._semaphore(host):
                    if give_up_at is None:
                        give_up_at = loop.time() + budget
                    window = min(per_attempt, give_up_at - loop.time())
                    self.requests.add(method, kind)
                    async with asyncio.timeout(max(window, 0)):
                        resp = await self._http.send(request, stream=True)
                        try:
                            self._note_rate_limit(host, resp, kind)
                            status = resp.status_code
                            retry_after = _retry_after_seconds(resp.headers.get("retry-after"))
                            done = status in ok or (method == "HEAD" and status == 200)
                            again = not done and ((status == 401 and not auth_tried) or (
                                status in _RETRY_STATUSES
                                and self._may_retry(attempt, retry_after, give_up_at)))
                            if done and consume is not None:  # the caller reads (a layer)
                                body = await consume(resp)
                            elif done:
                                body = b"" if max_body is None else await read_body(
                                    resp, max_bytes=max_body, what=what_body or what)
                            else:
                                # An answer that leads to another attempt is not read, only
                                # closed; a final error is quoted from its first few KiB.
                                body = b"" if again else await read_excerpt(
                                    resp, limits.MAX_ERROR_BODY_BYTES)
                        except RegistryError as exc:  # a body refused: a cap, an encoding
                            self._trace(request, resp, kind, str(exc))
                            raise
                        finally:
                            await resp.aclose()
                self._trace(request, resp, kind)  # one line per attempt, once it is over
                if done:
                    return resp, body
            except (httpx.TransportError, httpx.TooManyRedirects, TimeoutError) as exc:
                self._trace(request, resp, kind, _problem(exc, window))
                untrusted = _certificate_problem(exc)
                if untrusted:  # the same answer every time: no retry
                    raise RegistryUnreachableError(
                        f"registry {host} presented a TLS certificate that is not trusted "
                        f"({untrusted}); if it is signed by a private CA, point SSL_CERT_FILE "
                        "at that CA's certificate (PEM)", url=str(url), connect_failed=True,
                    ) from exc
                retryable = not isinstance(exc, httpx.TooManyRedirects)
                assert give_up_at is not None
                if retryable and self._may_retry(attempt, None, give_up_at):
                    attempt += 1
                    self.requests.retried[
                        "deadline" if isinstance(exc, (TimeoutError, httpx.TimeoutException))
                        else "connection"] += 1
                    await self._sleep(self._backoff_delay(attempt))
                    continue
                raise _failure(host, exc, str(url), window, what=what,
                               attempts=attempt + 1, budget=budget) from exc
            if status == 401 and not auth_tried:
                auth_tried = True
                await self._authenticate(host, resp, scope, what,
                                         deadline=min(per_attempt, give_up_at - loop.time()))
                continue
            if status in _RETRY_STATUSES:
                if self._may_retry(attempt, retry_after, give_up_at):
                    attempt += 1
                    self.requests.retried["429" if status == 429 else "5xx"] += 1
                    delay = retry_after if retry_after is not None else self._backoff_delay(
                        attempt)
                    await self._sleep(delay)
                    continue
                if status == 429:
                    raise RateLimitError(
                        f"{what}: registry rate limit hit (HTTP 429): {_error_text(body)}"
                        + (f"; it asks to wait {retry_after:.0f} s" if retry_after else ""),
                        retry_after=retry_after, status=429, url=str(url),
                    )
                raise RegistryError(
                    f"{what}: registry error HTTP {status} after {attempt + 1} attempts: "
                    f"{_error_text(body)}", status=status, url=str(url),
                )
            raise _status_error(status, body, what, method, url, kind, host,
                                has_credentials=self._credentials_for(host) is not None,
                                not_recorded=NOT_RECORDED_HEADER in resp.headers)

    def _may_retry(self, attempt: int, retry_after: float | None, give_up_at: float) -> bool:
        """Another attempt is allowed, and its wait fits the retry budget: a wait that would
        overrun it is not begun (the error comes now, not after a pointless sleep)."""
        if attempt >= self.retries:
            return False
        if retry_after is not None and retry_after > self.max_retry_after:
            return False
        # the longest backoff _backoff_delay may pick for the next attempt (base plus jitter)
        wait = retry_after if retry_after is not None else 1.5 * self.backoff * (2 ** attempt)
        return asyncio.get_running_loop().time() + wait < give_up_at

    def _trace(
        self, request: httpx.Request, resp: httpx.Response | None, kind: str, error: str = ""
    ) -> None:
        if self.exchanges is None:
            return
        self.exchanges.append(Exchange.of(request, resp, kind, error))

    def _cached_authorization(self, host: str, scope: str) -> str | None:
        challenge = self._challenge_for_host.get(host)
        creds = self._credentials_for(host) if challenge is not None else None
        if creds is not None and creds.registry_token:
            return f"Bearer {creds.registry_token}"  # a ready token: sent as it is
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return basic_header(creds) if creds else None
        if challenge.scheme == "bearer" and scope:
            token = self.tokens.cached(challenge, scope or challenge.scope,
                                       creds.username if creds else "")
            return token.header if token else None
        return None

    async def _authenticate(self, host: str, resp: httpx.Response, scope: str, what: str, *,
                            deadline: float) -> None:
        header = resp.headers.get("www-authenticate")
        if not header:
            raise AuthError(f"{what}: registry {host} answered 401 without a challenge",
                            status=401)
        challenge = parse_challenge(header)
        creds = self._credentials_for(host)
        self._challenge_for_host[host] = challenge
        if challenge.scheme == "basic":
            if creds is None:
                raise AuthError(
                    f"{what}: registry {host} requires a username and password and none were "
                    f"found: run `docker login {host}` or pass credentials=",
                    status=401,
                )
            return
        if challenge.scheme == "bearer":
            self._check_realm(host, challenge.realm)
            try:
                async with asyncio.timeout(max(deadline, 0)):
                    # Our scope says what we need; a challenge without one (/v2/) takes its own.
                    await self.tokens.get(self._http, challenge, scope or challenge.scope, creds)
            except TimeoutError:
                raise DeadlineExceededError(
                    f"{what}: the token issuer {challenge.realm} did not answer within "
                    f"{deadline:.0f} s (raise request_deadline= if it is only slow)") from None
            return
        raise AuthError(f"{what}: registry {host} wants unsupported auth scheme "
                        f"{challenge.scheme!r}", status=401)

    def _check_realm(self, host: str, realm: str) -> None:
        """The token request carries the password or refresh token: the same plain-HTTP rule
        as for the registry, applied to the realm the registry names."""
        if not realm:
            return  # TokenCache explains a missing realm
        try:
            url = httpx.URL(realm)
        except httpx.InvalidURL:
            raise AuthError(f"registry {host} sent an unusable token realm {realm!r}",
                            status=401) from None
        realm_host = url.netloc.decode("ascii", "replace")
        if url.scheme != "http" or self._plain_http_allowed(realm_host):
            return
        raise InsecureTransportError(
            f"registry {host} asks for a token from {realm}: refusing to send credentials over "
            f"plain HTTP to a non-loopback host; pass insecure=[{realm_host!r}] to allow it"
        )

    def _note_rate_limit(self, host: str, resp: httpx.Response, kind: str) -> None:
        if kind != "manifest" or resp.status_code >= 500:
            return  # only manifest answers carry the pull budget
        limit = RateLimit.from_headers(resp.headers)
        if limit is not None:
            self.rate_limits[host] = limit
        else:
            # Docker Hub: "with no headers, the image or user is unlimited". Forget old ones.
            self.rate_limits.pop(host, None)

    def _backoff_delay(self, attempt: int) -> float:
        base = self.backoff * (2 ** (attempt - 1))
        return base + random.uniform(0, base / 2)


_KEPT_HEADERS = frozenset(
    {"content-type", "docker-content-digest", "content-length", "etag", *RATE_LIMIT_HEADERS}
)


def _error_text(body: bytes) -> str:
    """The registry's ``{"errors": [{"code", "message"}]}`` as one line, or the raw text."""
    try:
        # Within the depth limit: 4 KiB of "[" made json.loads raise RecursionError here.
        doc = decoding.load_json(body, what="error body")
        errs = doc.get("errors") if isinstance(doc, dict) else None
        if isinstance(errs, list) and errs:
            return "; ".join(
                f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in errs
                if isinstance(e, dict)
            )
    except ValueError:  # not JSON (InputError is a ValueError)
        pass
    text = body.decode("utf-8", "replace").strip()
    return text[:_QUOTED] or "(empty body)"


#: The header a snapshot replay (:class:`archlab.snapshot.SnapshotTransport`) puts on a 404
#: for an answer it never recorded; the client's :class:`NotFoundError` then says
#: ``not_recorded``. No registry sends it, and a recording never keeps it (it is not among
#: the kept headers).
NOT_RECORDED_HEADER: Final = "x-archlab-not-recorded"


def _status_error(
    status: int, body: bytes, what: str, method: str, url: httpx.URL, kind: str, host: str,
    *, has_credentials: bool, not_recorded: bool = False,
) -> RegistryError:
    detail = _error_text(body) if method != "HEAD" else ""
    if status == 404:
        noun = {"manifest": "manifest", "config": "config blob", "blob": "blob",
                "tags": "repository"}.get(kind, kind)
        msg = f"{what}: {noun} not found on {host}"
        if detail and detail != "(empty body)":
            msg += f" ({detail})"
        return NotFoundError(msg, status=404, url=str(url), not_recorded=not_recorded)
    if status in (401, 403):
        hint = ("the credentials were refused or lack access" if has_credentials
                else f"no credentials: run `docker login {host}` or pass credentials=")
        return AuthError(f"{what}: access denied by {host} (HTTP {status}): {hint}",
                         status=status, url=str(url))
    return RegistryError(f"{what}: {method} {url.path} answered HTTP {status}"
                         + (f": {detail}" if detail else ""), status=status, url=str(url))


def _certificate_problem(exc: BaseException) -> str | None:
    """What was wrong with the server's certificate, if that is why ``exc`` happened."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, ssl.SSLCertVerificationError) and getattr(link, "verify_message", ""):
            return link.verify_message
        # aiohttp keeps the ssl error in an attribute of its own rather than as the cause
        link = (getattr(link, "certificate_error", None) or link.__cause__
                or link.__context__)
    return None


def _unreachable(host: str, exc: BaseException, url: str, *, connect_failed: bool,
                 server: str = "registry") -> RegistryUnreachableError:
    text = (str(exc) or type(exc).__name__).splitlines()[0][:_QUOTED]
    return RegistryUnreachableError(
        f"cannot reach {server} {host} ({text}); "
        f"check the host name, the network, or that the {server} is running", url=url,
        connect_failed=connect_failed,
    )


def _problem(exc: BaseException, window: float) -> str:
    """What went wrong, for a trace line."""
    if isinstance(exc, TimeoutError):
        return f"no complete answer within {window:.1f} s"
    return (str(exc) or type(exc).__name__).splitlines()[0][:_QUOTED]


def _failure(host: str, exc: BaseException, url: str, window: float, *, what: str,
             attempts: int = 1, budget: float | None = None,
             server: str = "registry") -> RegistryError:
    """The archlab error for a request that failed without an HTTP status, after retries."""
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    if isinstance(exc, httpx.TooManyRedirects):
        return BadResponseError(
            f"{what}: {host} redirected more than {limits.MAX_REDIRECTS} times (a redirect "
            "loop, or a chain too long to follow)", url=url)
    if isinstance(exc, TimeoutError) or (isinstance(exc, httpx.TimeoutException)
                                         and not isinstance(exc, httpx.ConnectTimeout)):
        if isinstance(exc, TimeoutError):
            how = f"did not finish answering within {window:.0f} s"
        else:
            how = f"stopped sending ({exc or 'read timeout'})"
        spent = f"; {budget:.0f} s spent in all{tries}" if budget is not None else tries
        return DeadlineExceededError(
            f"{what}: {server} {host} {how}{spent}: it is stalled or very slow "
            "(raise request_deadline= or retry_budget= if it is only slow)", url=url)
    connect_failed = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
    return _unreachable(host, exc, url, connect_failed=connect_failed, server=server)


def _check_port(url: httpx.URL, what: str) -> None:
    """A port httpx parses but no socket takes (aiohttp raised ValueError, httpx an
    ExceptionGroup): refused up front with the reference named."""
    port = url.port
    if port is not None and not 0 < port < 65536:
        raise InvalidReferenceError(
            f"{what}: port {port} is out of range (1-65535); check the registry host")


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _manifest_digest(body: bytes, media_type: str, source: str) -> str:
    """The digest a registry files a manifest under: sha256 of the bytes, or of the JWS payload
    for a signed schema1 manifest (its signatures are not part of what the digest covers)."""
    if media_type == manifests.DOCKER_SCHEMA1_SIGNED or (
        media_type in manifests.SCHEMA1_TYPES and b'"signatures"' in body
    ):
        return digests.compute(manifests.schema1_payload(body, source=source))
    return digests.compute(body)


def _stored_manifest_digest(body: bytes) -> str:
    """The digest a cached manifest must be stored under, from its bytes alone (the sidecar's
    media type is not trusted): the JWS payload's for a signed schema 1 document, else the
    sha256 of the bytes."""
    if b'"signatures"' in body and b'"schemaVersion"' in body:
        try:
            payload = manifests.schema1_payload(body)
        except ManifestError:
            payload = body
        if payload is not body:
            try:
                doc = json.loads(payload)
            except (ValueError, RecursionError):
                doc = None
            if isinstance(doc, dict) and doc.get("schemaVersion") == 1:
                return digests.compute(payload)
    return digests.compute(body)


def _content_type(resp: httpx.Response) -> str:
    return resp.headers.get("content-type", "").split(";", 1)[0].strip()


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _next_link(header: str, ref: Reference) -> str | None:
    """The path after ``/v2/<name>/`` of a ``Link: </v2/...?last=x>; rel="next"`` header."""
    if 'rel="next"' not in header:
        return None
    target = header.split(";", 1)[0].strip().strip("<>")
    prefix = f"/v2/{ref.repository}/"
    path = httpx.URL(target).raw_path.decode()
    return path[len(prefix):] if path.startswith(prefix) else None


def _as_ref(ref: Reference | str) -> Reference:
    return ref if isinstance(ref, Reference) else parse_reference(ref)


# ---------------------------------------------------------------------- sync facade


async def _settle() -> None:
    """What ``asyncio.run`` does before it closes a loop: let the tasks that finalise async
    generators closed early (httpx's body streams, when a cap or a deadline stops a read)
    finish, and close the generators still open, instead of destroying them pending."""
    await asyncio.sleep(0)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if others:
        await asyncio.wait(others, timeout=1)
    await asyncio.get_running_loop().shutdown_asyncgens()


class _LoopThread:
    """A private event loop on a daemon thread, so sync code works inside Jupyter too."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="archlab-loop",
                                        daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        try:
            return future.result()
        except BaseException:
            # Ctrl-C lands in this thread, not the loop's: cancel the coroutine too, so that
            # it stops sending and its cleanup (a survey's results file) runs now.
            future.cancel()
            raise

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.run(_settle())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


class RegistryClient:
    """Blocking twin of :class:`AsyncRegistryClient`; same arguments, same methods.

    ``RegistryClient.run(coro_fn)`` runs your own coroutine against the async core, which is how
    surveys fan out many requests from sync code.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._loop = _LoopThread()

        async def make() -> AsyncRegistryClient:
            return AsyncRegistryClient(**kwargs)

        self.aio: AsyncRegistryClient = self._loop.run(make())
        self._closed = False

    def run(self, fn: Callable[[AsyncRegistryClient], Awaitable[T]]) -> T:
        return self._loop.run(fn(self.aio))

    @contextlib.contextmanager
    def trace(self) -> Iterator[list[Exchange]]:
        """Collect every HTTP exchange made inside the block (for teaching and debugging).

        ::

            with reg.trace() as log:
                reg.get_manifest("127.0.0.1:5000/lab/mysql:5.7")
            exchanges_frame(log)
        """
        previous = self.aio.exchanges
        log: list[Exchange] = []
        self.aio.exchanges = log
        try:
            yield log
        finally:
            self.aio.exchanges = previous

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.run(self.aio.aclose())
            self._loop.stop()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.aio, name)
        if asyncio.iscoroutinefunction(attr):
            def call(*args: Any, **kwargs: Any) -> Any:
                return self._loop.run(attr(*args, **kwargs))

            call.__name__ = name
            call.__doc__ = attr.__doc__
            return call
        return attr
