"""What a survey will cost a registry's pull limit, read before a single counted request is sent.

Docker Hub limits *pulls*, and it counts a pull by its manifest GETs: "a pull request is defined
as up to two GET requests on registry manifest URLs", and "HEAD requests aren't counted"
(pull-semantics §6.3). The limit is not a constant worth writing down: it has been 100 per 6 h
for anonymous users, then 10 per hour, and it differs per account and per network. The registry
says what it is, in the ``ratelimit-limit`` and ``ratelimit-remaining`` headers it sends on GET
*and* HEAD of a manifest. So archlab never assumes a number: it reads those headers with a free
HEAD, compares them with what the survey will need, and refuses or caps the run instead of
walking into 429s.

How do I use it?
----------------
::

    from archlab.budget import estimate, plan
    est = estimate(refs, cache=client.cache, tag_index=client.tag_index)
    est.counted              # manifest GETs the survey will send (what Docker Hub counts)
    limits = await read_rate_limits(aio_client, refs)      # {host: RateLimit | None}
    allowance = plan(est, limits, budget=None)             # raises RateLimitError if it won't fit

:func:`archlab.survey.survey` does all three before it starts (``budget=`` is ``--budget`` on
the command line) and then never sends more counted GETs than ``allowance`` allows; the refs
it had to leave out are marked "not surveyed" and a rerun with the same results file finishes
them.

What costs what
---------------
The estimate follows exactly the requests :mod:`archlab.survey` makes, reading archlab's
:class:`~archlab.cache.TagIndex` (which tag pointed at which digest last time) and
:class:`~archlab.cache.ContentCache` (which documents are already on disk):

================================  ===========  ==================  ===========================
the ref, as the cache knows it    HEAD (free)  manifest GET        config GET (a blob)
================================  ===========  ==================  ===========================
malformed reference               0            0                   0
tag never seen                    0            1 (GET by tag)      0 or 1: unknown until the
                                                                   manifest says single-arch
tag seen, its manifest cached     1            0                   0, or 1 if a single-arch
                                                                   manifest's config is not
                                                                   cached
tag seen, manifest not cached     1            1 (GET by digest)   as above; the hint's media
                                                                   type says whether one is due
pinned ``@sha256:…``, cached      0            0                   as above
pinned ``@sha256:…``, not cached  0            1                   0 or 1 (unknown)
================================  ===========  ==================  ===========================

A digest (manifest or config) is fetched once per survey however many refs share it, so the
estimate counts distinct digests. Config GETs are blob GETs: Docker Hub's documentation counts
only manifest GETs ("blob (layer) requests do not count"), so ``counted`` is the manifest GETs
alone and configs are reported next to it. The estimate assumes tags have not moved since
archlab last saw them; when one has, the HEAD reveals it and the survey spends one more GET
(still within the cap, which is enforced on real requests, not on the estimate).

Reading the limit
-----------------
=========================  =================================================================
registry                   how the headers are read
=========================  =================================================================
Docker Hub (``docker.io``)  HEAD of ``ratelimitpreview/test:latest``, Docker's own recipe
any other                  HEAD of the first well-formed ref of that host; a registry that
                           sends no ``ratelimit-*`` headers is taken to have no pull limit
=========================  =================================================================

Only hosts that the estimate says will see counted GETs are asked (a warm survey sends no
probe at all). The answer lands in ``client.rate_limits`` like any other response's headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from archlab import manifests
from archlab.cache import ContentCache, TagIndex
from archlab.errors import ArchlabError, InvalidReferenceError, ManifestError, RateLimitError
from archlab.reference import Reference, parse_reference

if TYPE_CHECKING:  # registry pulls in httpx; only the async helper needs it, at call time
    from archlab.registry import AsyncRegistryClient, RateLimit

__all__ = [
    "HUB_PROBE",
    "Allowance",
    "Estimate",
    "RefCost",
    "estimate",
    "plan",
    "read_rate_limits",
]

#: The repository Docker documents for reading the Hub limit without spending it.
HUB_PROBE = "docker.io/ratelimitpreview/test:latest"


@dataclass(frozen=True)
class RefCost:
    """What one ref will cost, as far as the cache can tell."""

    input: str
    host: str | None  # the API host (``registry-1.docker.io`` for Hub); None if malformed
    heads: int
    manifest_gets: int
    config_gets: int  # certain: a cached single-arch manifest whose config is not cached
    maybe_config_gets: int  # possible: the manifest is not cached, its kind is unknown
    known: bool  # True when the cache decided every number (no "maybe")


@dataclass(frozen=True)
class Estimate:
    """The requests a survey of ``refs`` will send, from the cache state when it was made."""

    refs: tuple[RefCost, ...]
    #: How many references were costed, when ``refs`` holds one summed row per host instead
    #: of one per reference (``estimate(summed=True)``, for surveys too large to list).
    n: int | None = None

    @property
    def heads(self) -> int:
        return sum(r.heads for r in self.refs)

    @property
    def manifest_gets(self) -> int:
        return sum(r.manifest_gets for r in self.refs)

    @property
    def counted(self) -> int:
        """Manifest GETs: what Docker Hub counts against its pull limit."""
        return self.manifest_gets

    @property
    def config_gets(self) -> int:
        return sum(r.config_gets for r in self.refs)

    @property
    def maybe_config_gets(self) -> int:
        return sum(r.maybe_config_gets for r in self.refs)

    def counted_by_host(self) -> dict[str, int]:
        """Counted GETs per API host, hosts in order of first appearance."""
        out: dict[str, int] = {}
        for r in self.refs:
            if r.host is not None:
                out[r.host] = out.get(r.host, 0) + r.manifest_gets
        return out

    def describe(self) -> str:
        """One line for a person: ``5 refs: 2 HEAD (free), 3 counted manifest GETs, ...``."""
        configs = str(self.config_gets)
        if self.maybe_config_gets:
            configs = f"{self.config_gets}-{self.config_gets + self.maybe_config_gets}"
        n = len(self.refs) if self.n is None else self.n
        return (f"{n} ref{'s' if n != 1 else ''}: {self.heads} HEAD (free), "
                f"{self.counted} counted manifest GET{'s' if self.counted != 1 else ''}, "
                f"{configs} config GETs (blobs, not counted by Docker Hub)")


def _hint(tag_index: TagIndex | None, ref: Reference) -> tuple[str, str | None] | None:
    if tag_index is None or ref.digest is not None:
        return None
    return tag_index.recall(ref.registry, ref.repository, ref.tag or "latest")


def estimate(
    refs: Iterable[str],
    *,
    cache: ContentCache | None,
    tag_index: TagIndex | None,
    summed: bool = False,
) -> Estimate:
    """Cost each ref from the cache state (see the table in the module docstring).

    Pass the ``cache`` and ``tag_index`` of the client that will run the survey; ``None`` for
    either means that client keeps none, so every ref costs a GET. ``summed=True`` is for a
    stream of distinct references too long to hold: the estimate keeps one summed
    :class:`RefCost` per host (its ``input`` is the host) and the count in ``n``, so its
    memory grows with the distinct digests the cache knows, not with the references.
    """
    if summed:
        return _summed(_costs(refs, cache=cache, tag_index=tag_index, distinct=True))
    return Estimate(tuple(_costs(refs, cache=cache, tag_index=tag_index, distinct=False)))


def _summed(costs: Iterable[RefCost]) -> Estimate:
    per_host: dict[str | None, list[int]] = {}
    n = 0
    for c in costs:
        n += 1
        total = per_host.setdefault(c.host, [0, 0, 0, 0, 1])
        for i, v in enumerate((c.heads, c.manifest_gets, c.config_gets, c.maybe_config_gets)):
            total[i] += v
        total[4] &= int(c.known)
    return Estimate(tuple(RefCost(host or "", host, h, g, cg, mg, bool(k))
                          for host, (h, g, cg, mg, k) in per_host.items()), n=n)


def _costs(
    refs: Iterable[str], *, cache: ContentCache | None, tag_index: TagIndex | None,
    distinct: bool,
) -> Iterator[RefCost]:
    if cache is None:
        tag_index = None  # the client only trusts a tag hint when it can also hold the bytes
    decided: dict[str, bool] = {}  # digest -> known for sure (its costs are counted once)
    seen_configs: set[str] = set()
    for text in (refs if distinct else dict.fromkeys(refs)):  # each distinct ref once
        try:
            ref = parse_reference(text)
        except InvalidReferenceError:
            yield RefCost(text, None, 0, 0, 0, 0, True)
            continue
        host = ref.api_host
        hint = _hint(tag_index, ref)
        digest = ref.digest or (hint[0] if hint else None)
        heads = 1 if hint is not None else 0
        if digest is None:  # an unknown tag: one GET by tag, kind unknown
            yield RefCost(text, host, 0, 1, 0, 1, False)
            continue
        if digest in decided:  # another ref to the same content: its cost is counted once
            yield RefCost(text, host, heads, 0, 0, 0, decided[digest])
            continue
        cached = cache.get(digest) if cache is not None else None
        if cached is None:
            hinted_type = hint[1] if hint else None
            known = hinted_type in manifests.INDEX_TYPES or hinted_type in manifests.SCHEMA1_TYPES
            decided[digest] = known
            # a single-arch hint still hides which config it names: maybe one config GET
            yield RefCost(text, host, heads, 1, 0, 0 if known else 1, known)
            continue
        decided[digest] = True
        config_gets = 0
        try:
            doc = manifests.parse_manifest(cached.data, cached.media_type, source=text)
        except ManifestError:
            doc = None  # the client will refetch what it cannot parse
        if doc is None:
            yield RefCost(text, host, heads, 1, 0, 1, False)
            continue
        if isinstance(doc, manifests.ImageManifest):
            cfg = doc.config.digest
            if cfg not in seen_configs and (cache is None or cfg not in cache):
                config_gets = 1
            seen_configs.add(cfg)
        yield RefCost(text, host, heads, 0, config_gets, 0, True)


# ---------------------------------------------------------------------------------------------
# Reading the registry's own numbers


async def read_rate_limits(
    client: AsyncRegistryClient,
    refs: Sequence[str],
    hosts: Iterable[str] | None = None,
    *,
    errors: dict[str, ArchlabError] | None = None,
) -> dict[str, RateLimit | None]:
    """``{api host: RateLimit or None}`` read with one HEAD per host (never a counted GET).

    ``hosts`` limits the probe to those API hosts (default: every host in ``refs``). A probe
    that fails (unreachable, 404, 401) still records any headers the answer carried; when
    there were none the host maps to ``None``: no limit announced. Pass a dict as ``errors``
    to learn which probes failed and why.
    """
    first: dict[str, Reference] = {}
    for text in refs:
        try:
            ref = parse_reference(text)
        except InvalidReferenceError:
            continue
        first.setdefault(ref.api_host, ref)
    import asyncio

    wanted = list(first) if hosts is None else [h for h in hosts if h in first]

    async def probe(host: str) -> RateLimit | None:
        ref = first[host]
        # The client keeps the last headers it saw; only this answer's count now.
        client.rate_limits.pop(host, None)
        try:
            await client.resolve(parse_reference(HUB_PROBE) if ref.is_docker_hub else ref)
        except ArchlabError as exc:
            # Fine: the headers, if any, were recorded before the status was judged.
            if errors is not None:
                errors[host] = exc
        return client.rate_limits.get(host)

    # All hosts at once: a slow host costs its own retry budget, not every other host's.
    found = await asyncio.gather(*(probe(host) for host in wanted))
    return dict(zip(wanted, found, strict=True))


# ---------------------------------------------------------------------------------------------
# Deciding


@dataclass(frozen=True)
class Allowance:
    """How many counted GETs a survey may send: in total and per host (None: no cap)."""

    total: int | None
    per_host: Mapping[str, int]
    notes: tuple[str, ...] = ()


def _window(seconds: int | None) -> str:
    if not seconds:
        return ""
    if seconds % 3600 == 0:
        return f" per {seconds // 3600} h"
    return f" per {seconds} s"


def plan(
    est: Estimate,
    limits: Mapping[str, RateLimit | None],
    budget: int | None = None,
) -> Allowance:
    """Check ``est`` against the registries' remaining pulls and the caller's ``budget``.

    Raises :class:`~archlab.errors.RateLimitError` when a host has fewer pulls left than the
    survey needs and no ``budget`` was given: the message names both numbers and the ways out.
    With a ``budget``, the survey is capped instead (at the budget, and per host at what the
    registry says remains), and the notes say so.
    """
    if budget is not None and budget < 0:
        raise RateLimitError(f"budget must be 0 or more counted GETs, got {budget}")
    per_host: dict[str, int] = {}
    notes: list[str] = []
    for host, need in est.counted_by_host().items():
        limit = limits.get(host)
        if limit is None or limit.remaining is None or need <= limit.remaining:
            continue
        left = max(0, limit.remaining)
        of = f" of {limit.limit}{_window(limit.window_seconds)}" if limit.limit else ""
        if budget is None:
            source = f" for {limit.source}" if limit.source else ""
            raise RateLimitError(
                f"this survey needs {need} counted manifest GETs on {host}, but the registry "
                f"says {left}{of} remain{source}. Survey part of it now with --budget {left} "
                f"(budget={left}) and finish later with the same --resume file, authenticate "
                f"(`docker login`) for a higher limit, or wait for the window to pass",
                status=None,
            )
        per_host[host] = left
        notes.append(f"{host}: {need} counted GETs needed, {left}{of} remain: capped at {left}")
    if budget is not None and budget < est.counted:
        notes.append(f"budget: {est.counted} counted GETs needed, capped at {budget}")
    return Allowance(budget, per_host, tuple(notes))
