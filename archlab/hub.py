"""Docker Hub's repository-tags API: every tag of a repository with its images, 100 a request.

What it is for
--------------
The registry API answers one tag per manifest request, and Docker Hub counts each manifest GET
against the pull limit (ten an hour for an anonymous address). Docker Hub's *own* API, beside
the registry, lists a repository's tags a page at a time, up to 100 a page, each with the
images it holds: os, architecture, variant, digest, compressed size, when each was last pushed
and pulled. One request answers "which platforms?" for a hundred tags and spends no pull.

How do I use it?
----------------
Most code wants :func:`archlab.tags.tag_platforms`, which asks this API for Docker Hub
repositories, falls back to the registry elsewhere, and gives one frame either way. Directly::

    from archlab.hub import hub_tags
    from archlab.registry import RegistryClient

    with RegistryClient() as reg:
        listing = reg.run(lambda aio: hub_tags(aio, "mysql"))
    [t.name for t in listing.tags if any(i.platform == "linux/arm64/v8" for i in t.images)]

Requests go through the :class:`~archlab.registry.AsyncRegistryClient` given (its pool, its
per-host limit, its request counts and trace), so a snapshot records and replays them too.

Where the API is
----------------
``https://hub.docker.com``, unless ``base_url=`` or the environment variable
``ARCHLAB_HUB_API`` names another: a stand-in on 127.0.0.1 (archlab's tests run one) or a
mirror of the API. It is reached like a registry: HTTPS with the certificate verified, plain
HTTP only to a loopback address (or a host named in the client's ``insecure=``).

The rules
---------
==================  ===========================================================================
situation           what archlab does
==================  ===========================================================================
request             ``GET /v2/namespaces/<ns>/repositories/<name>/tags?page_size=100`` (the
                    documented route; 100 is the API's maximum), anonymous: no credential is
                    ever sent to this API
paging              each page's ``next`` is followed as an opaque cursor, but only its path and
                    query, sent to the same base URL (an answer never chooses the host archlab
                    talks to), and only while it stays on this repository's tags; a cursor
                    seen before ends the listing; at most ``MAX_HUB_PAGES`` pages
order               the API's own (newest push first); a tag listed twice (it moved between
                    pages while they were read) is kept once, the first time it was seen
rate limit          ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` are read from every
                    answer (:attr:`HubListing.rate_limit`); with none remaining, archlab waits
                    for the reset before the next page when that is within the client's
                    ``max_retry_after``
429                 waits ``Retry-After`` seconds (or until the Unix time in ``X-Retry-After``,
                    the header the API's reference named until 2025) when that is within
                    ``max_retry_after``, at most the client's ``retries`` times; then
                    :class:`~archlab.errors.RateLimitError` saying how long the API asked
404                 :class:`~archlab.errors.NotFoundError`: no such public repository
401, 403            :class:`~archlab.errors.AuthError`: a private repository; read it through
                    the registry (``source="registry"``) after ``docker login``
5xx, lost link      retried like a registry request, then
                    :class:`~archlab.errors.RegistryError` /
                    :class:`~archlab.errors.RegistryUnreachableError`
inactive tags       kept, with ``tag_status`` (and each image's ``status``) as the API says:
                    ``inactive`` is "neither pushed nor pulled for a month", not deleted
no images           a tag whose ``images`` is empty or null is kept with none: the API lists
                    it but has not (or not yet) described its images
sizes, values       a page above ``MAX_HUB_PAGE_BYTES`` is refused unread; JSON within
                    :mod:`archlab.decoding`'s limits; a field of the wrong type raises
                    :class:`~archlab.errors.RegistryError` naming the tag; unknown fields are
                    ignored (the API adds some now and then)
==================  ===========================================================================

What it does not say: attestation manifests (an index's ``unknown/unknown`` entries) are never
among a tag's images, and the listing can lag a push by minutes. ``archlab tags
--verify-sample N`` cross-checks against the registry (:func:`archlab.tags.tag_platforms`).
The response schema is Docker's API reference (``docs.docker.com/reference/api/hub``).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from archlab import decoding, limits
from archlab.errors import (
    ArchlabError,
    AuthError,
    NotFoundError,
    RateLimitError,
    RegistryError,
    RegistryUnreachableError,
)
from archlab.reference import Reference, parse_reference
from archlab.registry import NOT_RECORDED_HEADER

if TYPE_CHECKING:
    from archlab.registry import AsyncRegistryClient

__all__ = [
    "HUB_API",
    "HUB_API_ENV",
    "ApiRateLimit",
    "HubImage",
    "HubListing",
    "HubPage",
    "HubTag",
    "hub_base_url",
    "hub_repository",
    "hub_tags",
    "parse_page",
]

HUB_API = "https://hub.docker.com"
#: Names another base URL for the API: a stand-in for tests, or a mirror.
HUB_API_ENV = "ARCHLAB_HUB_API"
#: The request kind in :attr:`AsyncRegistryClient.requests` (``GET hub-tags``).
REQUEST_KIND = "hub-tags"
_RETRY_STATUSES = frozenset({500, 502, 503, 504})


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class HubImage:
    """One image of a tag, as the API describes it (platform fields raw, as pushed)."""

    os: str | None
    architecture: str | None
    variant: str | None
    os_version: str | None
    digest: str | None
    #: Compressed size in bytes (the sum of its layers), as the API reports it.
    size: int | None
    status: str | None
    last_pushed: str | None
    last_pulled: str | None

    @property
    def platform(self) -> str | None:
        """``os/architecture[/variant]``, or None when the API gave no architecture."""
        if not self.os or not self.architecture:
            return None
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class HubTag:
    """One tag of the listing."""

    name: str
    #: What the tag points at, and its media type (absent in older answers of the API).
    digest: str | None
    media_type: str | None
    #: ``active``, or ``inactive``: neither pushed nor pulled for a month.
    status: str | None
    last_pushed: str | None
    last_pulled: str | None
    last_updated: str | None
    full_size: int | None
    images: tuple[HubImage, ...]


@dataclass(frozen=True)
class ApiRateLimit:
    """The API's own request budget, as last read (``X-RateLimit-*``; per minute)."""

    limit: int | None
    remaining: int | None
    #: When the budget resets, as a Unix time.
    reset: float | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> ApiRateLimit | None:
        values = [headers.get(f"x-ratelimit-{k}") for k in ("limit", "remaining", "reset")]
        if not any(values):
            return None
        limit, remaining, reset = (_number(v) for v in values)
        return cls(None if limit is None else int(limit),
                   None if remaining is None else int(remaining), reset)


@dataclass(frozen=True)
class HubPage:
    """One page as parsed: its tags, the API's total ``count`` and the ``next`` cursor."""

    tags: tuple[HubTag, ...]
    count: int | None
    next: str | None


@dataclass(frozen=True)
class HubListing:
    """Every tag of one repository, and what reading them took."""

    repository: str  # namespace/name, e.g. library/mysql
    base_url: str
    tags: tuple[HubTag, ...]
    #: The API's own count of tags (from the last page); may differ from ``len(tags)`` when
    #: the listing changed while it was read.
    count: int | None
    pages: int
    rate_limit: ApiRateLimit | None
    #: Seconds spent waiting for the API's rate limit (429s and an exhausted budget).
    waited: float = 0.0
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Pure parts


def hub_base_url(base_url: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The API's base URL: ``base_url``, else ``$ARCHLAB_HUB_API``, else Docker Hub's own."""
    env = os.environ if environ is None else environ
    url = (base_url or env.get(HUB_API_ENV, "") or HUB_API).strip().rstrip("/")
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.query:
        where = "base_url" if base_url else HUB_API_ENV
        raise ArchlabError(f"{where}={url!r} is not a base URL for Docker Hub's API; give "
                           "scheme and host, e.g. http://127.0.0.1:8080")
    return url


def hub_repository(repository: Reference | str) -> str:
    """``namespace/name`` as the API names a repository (``mysql`` is ``library/mysql``)."""
    ref = repository if isinstance(repository, Reference) else parse_reference(repository)
    parts = ref.repository.split("/")
    if len(parts) != 2:
        raise ArchlabError(
            f"{ref.repository}: Docker Hub's API lists repositories named namespace/name, and "
            "this one has " + (f"{len(parts)} parts" if len(parts) > 2 else "no namespace")
            + "; list its tags through the registry instead (source='registry')")
    return ref.repository


def tags_path(repository: str) -> str:
    """The documented route for ``namespace/name``'s tags (without a query)."""
    namespace, name = repository.split("/")
    return (f"/v2/namespaces/{quote(namespace, safe='')}/repositories/"
            f"{quote(name, safe='')}/tags")


def _legacy_path(repository: str) -> str:
    # The API's older route for the same listing; a mirror may hand out cursors on it.
    return f"/v2/repositories/{repository}/tags"


def parse_page(body: bytes, *, what: str) -> HubPage:
    """A page of the listing, checked field by field (the rules in the module docstring)."""
    doc = decoding.load_json(body, what=what, max_bytes=limits.MAX_HUB_PAGE_BYTES,
                             error=RegistryError)
    if not isinstance(doc, dict):
        raise RegistryError(f"{what}: expected a JSON object with 'results', got "
                            f"{type(doc).__name__}")
    results = doc.get("results")
    if results is None:
        results = []
    if not isinstance(results, list):
        raise RegistryError(f"{what}: 'results' must be a list, got {type(results).__name__}")
    tags = tuple(_tag(item, what, i) for i, item in enumerate(results))
    count = doc.get("count")
    nxt = doc.get("next")
    if nxt is not None and not isinstance(nxt, str):
        raise RegistryError(f"{what}: 'next' must be a URL or null")
    return HubPage(tags, count if isinstance(count, int) and count >= 0 else None, nxt or None)


def _tag(item: object, what: str, i: int) -> HubTag:
    if not isinstance(item, dict):
        raise RegistryError(f"{what}: results[{i}] must be an object")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise RegistryError(f"{what}: results[{i}] has no tag name")
    where = f"{what}: tag {name!r}"
    images = item.get("images") or []
    if not isinstance(images, list):
        raise RegistryError(f"{where}: 'images' must be a list")
    return HubTag(
        name=name,
        digest=_opt(item, "digest", str, where),
        media_type=_opt(item, "media_type", str, where),
        status=_opt(item, "tag_status", str, where) or _opt(item, "status", str, where),
        last_pushed=_opt(item, "tag_last_pushed", str, where),
        last_pulled=_opt(item, "tag_last_pulled", str, where),
        last_updated=_opt(item, "last_updated", str, where),
        full_size=_opt(item, "full_size", int, where),
        images=tuple(_image(img, where, j) for j, img in enumerate(images)),
    )


def _image(item: object, where: str, j: int) -> HubImage:
    if not isinstance(item, dict):
        raise RegistryError(f"{where}: images[{j}] must be an object")
    at = f"{where} images[{j}]"
    return HubImage(
        os=_opt(item, "os", str, at), architecture=_opt(item, "architecture", str, at),
        variant=_opt(item, "variant", str, at), os_version=_opt(item, "os_version", str, at),
        digest=_opt(item, "digest", str, at), size=_opt(item, "size", int, at),
        status=_opt(item, "status", str, at), last_pushed=_opt(item, "last_pushed", str, at),
        last_pulled=_opt(item, "last_pulled", str, at),
    )


def _opt(item: Mapping[str, Any], key: str, typ: type, where: str) -> Any:
    """``item[key]`` if present and of ``typ``; None for absent, null or ``""``."""
    value = item.get(key)
    if value is None or value == "":
        return None
    if (typ is int and isinstance(value, bool)) or not isinstance(value, typ):
        raise RegistryError(f"{where}: {key!r} must be a {typ.__name__}, got {value!r}")
    return value


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds a 429 asks to wait: ``Retry-After`` (seconds or an HTTP date), else the Unix
    time in ``X-Retry-After``, else until ``X-RateLimit-Reset``; None when none says."""
    value = headers.get("retry-after")
    if value:
        seconds = _number(value)
        if seconds is not None:
            return max(0.0, seconds)
        with contextlib.suppress(TypeError, ValueError):
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
    for name in ("x-retry-after", "x-ratelimit-reset"):
        when = _number(headers.get(name))
        if when is not None:
            return max(0.0, when - now)
    return None


def next_target(nxt: str, repository: str, base_url: str) -> str | None:
    """The URL to ask for the page after, from the API's ``next``: its path and query on
    ``base_url``, or None when it leaves this repository's tag listing."""
    try:
        url = httpx.URL(nxt)
    except httpx.InvalidURL:
        return None
    path = url.path.rstrip("/")
    if path not in (tags_path(repository), _legacy_path(repository)) or not url.query:
        return None
    return f"{base_url}{url.raw_path.decode('ascii')}"


# ---------------------------------------------------------------------------------------------
# The listing


async def hub_tags(
    client: AsyncRegistryClient,
    repository: Reference | str,
    *,
    base_url: str | None = None,
    page_size: int = limits.HUB_PAGE_SIZE,
    max_pages: int = limits.MAX_HUB_PAGES,
    max_page_bytes: int = limits.MAX_HUB_PAGE_BYTES,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
    on_page: Callable[[HubPage], None] | None = None,
) -> HubListing:
    """Every tag of ``repository`` with its images, from Docker Hub's API (module docstring).

    ``sleep`` and ``clock`` are what waiting for the rate limit uses (tests pass their own);
    ``on_page`` sees each page as it lands.
    """
    repo = hub_repository(repository)
    base = hub_base_url(base_url)
    if not 1 <= page_size <= limits.HUB_PAGE_SIZE:
        raise ArchlabError(f"page_size must be 1 to {limits.HUB_PAGE_SIZE} (the API's maximum), "
                           f"got {page_size}")
    url: str | None = f"{base}{tags_path(repo)}?page_size={page_size}"
    seen: set[str] = set()
    tags: dict[str, HubTag] = {}
    count: int | None = None
    rate: ApiRateLimit | None = None
    waited = 0.0
    pages = 0
    notes: list[str] = []
    while url is not None and url not in seen:
        if pages >= max_pages:
            notes.append(f"stopped after {max_pages} pages (max_pages); the listing may hold "
                         "more tags")
            break
        seen.add(url)
        if rate is not None and rate.remaining == 0 and rate.reset is not None:
            pause = max(0.0, rate.reset - clock())
            if pause > client.max_retry_after:
                raise RateLimitError(
                    f"{repo}: Docker Hub's API has no requests left until "
                    f"{_when(rate.reset)} ({pause:.0f} s), longer than the "
                    f"{client.max_retry_after:.0f} s archlab waits; try again then",
                    retry_after=pause, status=429, url=url)
            await sleep(pause)
            waited += pause
        resp, body, slept = await _get(client, url, repo, max_page_bytes, sleep, clock)
        waited += slept
        rate = ApiRateLimit.from_headers(resp.headers) or rate
        page = parse_page(body, what=f"Docker Hub's tag listing of {repo} (page {pages + 1})")
        pages += 1
        for tag in page.tags:
            tags.setdefault(tag.name, tag)
        count = page.count if page.count is not None else count
        if on_page is not None:
            on_page(page)
        url = None
        if page.next:
            url = next_target(page.next, repo, base)
            if url is None:
                notes.append(f"stopped at page {pages}: its next link {page.next!r} leaves the "
                             "tag listing of this repository")
    if count is not None and count != len(tags) and not notes:
        notes.append(f"the API counted {count} tags and listed {len(tags)}: tags were pushed "
                     "or deleted while the pages were read")
    return HubListing(repo, base, tuple(tags.values()), count, pages, rate, waited,
                      tuple(notes))


async def _get(
    client: AsyncRegistryClient, url: str, repo: str, max_bytes: int,
    sleep: Callable[[float], Awaitable[None]], clock: Callable[[], float],
) -> tuple[httpx.Response, bytes, float]:
    """One page: answer, body and the seconds waited, after the API's retries (see rules)."""
    waited = 0.0
    attempt = 0
    while True:
        try:
            resp, body = await client.get_api(url, kind=REQUEST_KIND, max_bytes=max_bytes,
                                              headers={"Accept": "application/json"})
        except RegistryUnreachableError:
            if attempt >= client.retries:
                raise
            attempt += 1
            await sleep(client.backoff * (2 ** (attempt - 1)))
            continue
        status = resp.status_code
        if status == 200:
            return resp, body, waited
        if status == 429 or status in _RETRY_STATUSES:
            delay = retry_after(resp.headers, clock()) if status == 429 else None
            if delay is None:
                delay = client.backoff * (2 ** attempt)
            if attempt < client.retries and delay <= client.max_retry_after:
                attempt += 1
                await sleep(delay)
                waited += delay if status == 429 else 0.0
                continue
            if status == 429:
                asked = f"; it asks to wait {delay:.0f} s" if delay else ""
                raise RateLimitError(
                    f"{repo}: Docker Hub's API rate limit hit (HTTP 429) after {attempt + 1} "
                    f"attempts{asked}; try again later, or list fewer repositories at once",
                    retry_after=delay, status=429, url=url)
            raise RegistryError(f"{repo}: Docker Hub's API answered HTTP {status} after "
                                f"{attempt + 1} attempts: {_detail(body)}", status=status,
                                url=url)
        if status == 404:
            raise NotFoundError(f"{repo}: no such repository on Docker Hub ({_detail(body)})",
                                status=404, url=url,
                                not_recorded=NOT_RECORDED_HEADER in resp.headers)
        if status in (401, 403):
            raise AuthError(
                f"{repo}: Docker Hub's API refused an anonymous listing (HTTP {status}): a "
                "private repository; list it through the registry after `docker login` "
                "(source='registry', --source registry)", status=status, url=url)
        raise RegistryError(f"{repo}: Docker Hub's API answered HTTP {status}: {_detail(body)}",
                            status=status, url=url)


def _detail(body: bytes) -> str:
    """The API's ``{"message"|"detail": ...}`` as one line, or the start of the raw text."""
    try:
        doc = decoding.load_json(body, what="error", max_bytes=len(body) + 1)
    except ArchlabError:
        doc = None
    if isinstance(doc, dict):
        for key in ("message", "detail"):
            if isinstance(doc.get(key), str) and doc[key].strip():
                return doc[key].strip().splitlines()[0][:200]
    text = body.decode("utf-8", "replace").strip()
    return text.splitlines()[0][:200] if text else "(empty body)"


def _when(epoch: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(epoch))
