"""Every tag of a repository with its platforms, from the cheapest source that knows.

What it is for
--------------
"Which tags of mysql offer linux/arm64?" needs the platforms of every tag. Through the registry
that is one manifest request per tag (a counted pull on Docker Hub, where an anonymous address
gets ten an hour), plus a config request per single-arch tag. Docker Hub's own API
(:mod:`archlab.hub`) answers the same for a hundred tags per request and counts no pull. This
module asks the cheapest source that can answer and gives one frame either way, each row
saying where it came from.

How do I use it?
----------------
::

    from archlab.tags import tag_platforms

    result = tag_platforms("mysql", verify_sample=5)     # Docker Hub: its API, 1 request/100 tags
    result.offering(["linux/arm64"])                      # tags with an arm64 image
    result.frame                                          # one row per tag x image, TAG_COLUMNS
    result.disagreements_frame()                          # what the 5 sampled tags' manifests
                                                          # say differently

    archlab tags mysql --platform linux/arm64 [--json|--csv] [--verify-sample 5]

The sources
-----------
============  ===================================================================================
``source``    where the rows come from
============  ===================================================================================
``hub``       Docker Hub's tag listing (:mod:`archlab.hub`): one request per 100 tags, no pull
              counted. Used for ``docker.io`` repositories, and for any repository when a base
              URL for the API is given (``hub_api=``, ``--hub-api``): a mirror, or a stand-in
``registry``  the registry's ``tags/list``, then every tag's manifest (and a single-arch tag's
              config) through :func:`archlab.survey.survey_async`: cached, concurrent, within
              the pull budget. Every other registry; Docker Hub too with ``source="registry"``,
              and when its API refuses an anonymous listing (a private repository)
============  ===================================================================================

``source="auto"`` (the default) picks as above. With ``resolve_empty=True``, tags the API
lists without images are asked of the registry (their rows then say ``registry``).

Checking the API against the registry
-------------------------------------
Docker Hub's listing is an index kept beside the registry, not the registry itself: it can lag
a push, still list a tag just deleted, and never lists attestation manifests.
``verify_sample=N`` picks N listed tags (a seeded random choice: the same N for the same
listing and ``seed``), reads their manifests from the registry and reports each difference as a
:class:`Disagreement`:

================  ==============================================================================
``field``         meaning
================  ==============================================================================
``digest``        the tag points elsewhere now: the listing lags a push (or a re-tag)
``platforms``     the platforms differ (the listing described an older push, or none at all)
``missing``       the registry no longer has the tag: deleted since the listing was made
``attestations``  the registry's index holds attestation manifests the listing leaves out. The
                  API never lists them: ``expected`` is True
``error``         the registry could not be asked (the row's text says why)
================  ==============================================================================

The frame
---------
One row per tag x image (attestations never: neither source lists them as images); a tag with
no image has one row with empty platform columns and a ``note``. :data:`TAG_COLUMNS` in order:
``repository`` (normalized), ``tag``, ``source``, ``digest`` and ``media_type`` (what the tag
points at), ``kind`` (``list``, ``index``, ``single``, ``schema1``, as in a survey),
``os``/``architecture``/``variant``/``os_version``/``platform`` as pushed and
``platform_norm`` normalized, ``image_digest``, ``size`` (compressed bytes, as the API reports
it; empty from the registry, which would need every layer list), ``tag_status`` and
``image_status`` (``active``/``inactive``), ``tag_last_pushed``, ``tag_last_pulled``,
``image_last_pushed``, ``image_last_pulled`` (UTC timestamps, API only), ``note``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from archlab import limits
from archlab.errors import ArchlabError, AuthError, NotFoundError
from archlab.reference import Reference, parse_reference

if TYPE_CHECKING:
    import pandas as pd

    from archlab.hub import HubListing, HubPage, HubTag
    from archlab.registry import AsyncRegistryClient, RegistryClient

__all__ = [
    "SOURCES",
    "TAG_COLUMNS",
    "Disagreement",
    "TagsResult",
    "compare",
    "hub_rows",
    "registry_rows",
    "tag_platforms",
    "tag_platforms_async",
    "to_survey_frame",
]

Source = Literal["auto", "hub", "registry"]
SOURCES: tuple[str, ...] = ("auto", "hub", "registry")

TAG_COLUMNS = [
    "repository", "tag", "source", "digest", "media_type", "kind",
    "os", "architecture", "variant", "os_version", "platform", "platform_norm",
    "image_digest", "size", "tag_status", "image_status",
    "tag_last_pushed", "tag_last_pulled", "image_last_pushed", "image_last_pulled", "note",
]
_TIME_COLUMNS = ("tag_last_pushed", "tag_last_pulled", "image_last_pushed", "image_last_pulled")
NO_IMAGES = "Docker Hub's API lists no images for this tag"
#: ``error_type`` of a tag without images in :meth:`TagsResult.survey_frame`.
NO_IMAGES_TYPE = "NoImagesListed"


@dataclass(frozen=True)
class Disagreement:
    """One difference between the listing and the registry for a sampled tag."""

    tag: str
    field: str  # digest, platforms, missing, attestations, error
    listed: str
    registry: str
    expected: bool = False
    note: str = ""


@dataclass(frozen=True, eq=False)
class TagsResult:
    """The tags of one repository: ``frame`` (:data:`TAG_COLUMNS`) and how it was made."""

    repository: str
    source: str
    frame: pd.DataFrame
    requests: Mapping[str, int]
    hub: HubListing | None = None
    verified: tuple[str, ...] = ()
    disagreements: tuple[Disagreement, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def tags(self) -> list[str]:
        """Every tag, in the source's order."""
        return list(dict.fromkeys(self.frame["tag"].tolist()))

    def survey_frame(self) -> pd.DataFrame:
        """The rows as a survey's tidy frame (:data:`archlab.survey.SURVEY_COLUMNS`, plus
        ``source``), one ``input`` per tag (``repository:tag``), so that
        :func:`archlab.survey.coverage` and :func:`~archlab.survey.outcomes` apply."""
        return to_survey_frame(self.frame)

    def coverage(self, platforms: Sequence[str], rule: str = "exact") -> pd.DataFrame:
        """Wide ``tag x platform`` booleans (``<NA>`` where the tag's images are unknown)."""
        from archlab.survey import coverage

        return coverage(self.survey_frame(), platforms, rule)

    def offering(self, platforms: Sequence[str], rule: str = "exact") -> list[str]:
        """The tags that offer every one of ``platforms`` under ``rule`` (see
        :mod:`archlab.survey`), in the frame's order."""
        wide = self.coverage(platforms, rule)
        mask = wide.fillna(False).all(axis=1)
        return [str(i).rsplit(":", 1)[1] for i in wide.index[mask.to_numpy(dtype=bool)]]

    def disagreements_frame(self) -> pd.DataFrame:
        """One row per :class:`Disagreement`: tag, field, listed, registry, expected, note."""
        import pandas as pd

        columns = ["tag", "field", "listed", "registry", "expected", "note"]
        return pd.DataFrame([d.__dict__ for d in self.disagreements], columns=columns)


# ---------------------------------------------------------------------------------------------
# Rows (pure)


def _kind_of(media_type: str | None) -> str | None:
    from archlab import manifests

    if media_type is None:
        return None
    if media_type == manifests.DOCKER_MANIFEST_LIST:
        return "list"
    if media_type == manifests.OCI_INDEX:
        return "index"
    if media_type in manifests.SCHEMA1_TYPES:
        return "schema1"
    return "single"


def _norm(os_: str | None, arch: str | None, variant: str | None) -> str | None:
    from archlab.platforms import Platform, normalize

    if not os_ or not arch:
        return None
    return str(normalize(Platform(os_, arch, variant or "")))


def hub_rows(repository: str, tag: HubTag) -> list[dict[str, Any]]:
    """The frame rows of one tag from Docker Hub's listing."""
    base = {
        "repository": repository, "tag": tag.name, "source": "hub", "digest": tag.digest,
        "media_type": tag.media_type, "kind": _kind_of(tag.media_type),
        "tag_status": tag.status, "tag_last_pushed": tag.last_pushed,
        "tag_last_pulled": tag.last_pulled,
    }
    if not tag.images:
        return [{**base, "note": NO_IMAGES}]
    if base["kind"] is None:  # an older answer without media_type: the images tell
        base["kind"] = "single" if len(tag.images) == 1 and tag.digest in (
            None, tag.images[0].digest) else "list"
    return [{
        **base, "os": i.os, "architecture": i.architecture, "variant": i.variant,
        "os_version": i.os_version, "platform": i.platform,
        "platform_norm": _norm(i.os, i.architecture, i.variant), "image_digest": i.digest,
        "size": i.size, "image_status": i.status, "image_last_pushed": i.last_pushed,
        "image_last_pulled": i.last_pulled,
    } for i in tag.images]


def registry_rows(
    repository: str, tag: str, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The frame rows of one tag from a survey's rows for ``repository:tag``."""
    first = rows[0]
    base = {"repository": repository, "tag": tag, "source": "registry",
            "digest": None if _missing(first.get("digest")) else first.get("digest"),
            "kind": None if _missing(first.get("kind")) else first.get("kind")}
    if not _missing(first.get("error")):
        return [{**base, "note": str(first["error"])}]
    out = []
    for r in rows:
        if r.get("is_attestation") is True:
            continue
        kind = base["kind"]
        out.append({
            **base,
            "media_type": (r.get("media_type") if kind in ("single", "schema1")
                           else _top_media_type(kind)),
            "os": _val(r, "os"), "architecture": _val(r, "architecture"),
            "variant": _val(r, "variant"), "os_version": _val(r, "os_version"),
            "platform": _val(r, "platform"), "platform_norm": _val(r, "platform_norm"),
            "image_digest": _val(r, "entry_digest"),
        })
    return out or [{**base, "media_type": _top_media_type(base["kind"]),
                    "note": "the registry's index lists no images"}]


def _top_media_type(kind: str | None) -> str | None:
    from archlab import manifests

    return {"list": manifests.DOCKER_MANIFEST_LIST, "index": manifests.OCI_INDEX}.get(kind or "")


def _missing(v: Any) -> bool:
    """None, NaN or pandas' NA: an empty cell of a survey row."""
    if v is None or isinstance(v, (str, bool, int)):
        return v is None
    import pandas as pd

    return bool(pd.isna(v))


def _val(row: Mapping[str, Any], key: str) -> Any:
    value = row.get(key)
    return None if _missing(value) else value


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=TAG_COLUMNS)
    dtypes: dict[str, str] = {c: "string" for c in TAG_COLUMNS if c not in _TIME_COLUMNS}
    dtypes["size"] = "Int64"
    frame = frame.astype(dtypes)
    for c in _TIME_COLUMNS:
        frame[c] = pd.to_datetime(frame[c], utc=True, errors="coerce", format="ISO8601")
    return frame


def to_survey_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A tags frame as a survey frame (see :meth:`TagsResult.survey_frame`)."""
    import pandas as pd

    from archlab.survey import SURVEY_COLUMNS

    out = pd.DataFrame({
        "input": frame["repository"] + ":" + frame["tag"],
        "ref": frame["repository"] + ":" + frame["tag"],
        "kind": frame["kind"], "digest": frame["digest"],
        "list_digest": frame["digest"].where(frame["kind"].isin(["list", "index"])),
        "entry_digest": frame["image_digest"], "media_type": frame["media_type"],
        "os": frame["os"], "architecture": frame["architecture"], "variant": frame["variant"],
        "os_version": frame["os_version"], "platform": frame["platform"],
        "platform_norm": frame["platform_norm"], "is_attestation": False,
        "size": frame["size"],
    })
    unknown = frame["platform"].isna() & frame["note"].notna()
    out["error"] = frame["note"].where(unknown)
    out["error_type"] = pd.Series(NO_IMAGES_TYPE, index=frame.index, dtype="string").where(
        unknown & (frame["note"] == NO_IMAGES), "RegistryError").where(unknown)
    for c in SURVEY_COLUMNS:
        if c not in out.columns:
            out[c] = None
    out = out[[*SURVEY_COLUMNS]]
    out["source"] = frame["source"]
    dtypes: dict[str, str] = {c: "string" for c in out.columns}
    dtypes.update(is_attestation="boolean", size="Int64")
    return out.astype(dtypes)


# ---------------------------------------------------------------------------------------------
# Choosing the source


def _uses_hub(ref: Reference, source: str, hub_api: str | None) -> bool:
    if source not in SOURCES:
        raise ArchlabError(f"unknown tag source {source!r}; choose one of {', '.join(SOURCES)}")
    if source == "registry":
        return False
    on_hub = ref.registry == "docker.io"
    if source == "hub" and not on_hub and hub_api is None:
        raise ArchlabError(
            f"{ref.registry}/{ref.repository}: Docker Hub's API lists docker.io repositories "
            "only; give the base URL of a mirror of it (hub_api=, --hub-api) or use the "
            "registry source")
    return on_hub or hub_api is not None


# ---------------------------------------------------------------------------------------------
# The listing


async def tag_platforms_async(
    repository: Reference | str,
    *,
    client: AsyncRegistryClient,
    source: Source = "auto",
    hub_api: str | None = None,
    verify_sample: int = 0,
    seed: int = 0,
    resolve_empty: bool = False,
    max_per_host: int = limits.PER_HOST,
    on_page: Callable[[HubPage], None] | None = None,
) -> TagsResult:
    """Every tag of ``repository`` with its platforms (async core of :func:`tag_platforms`).
    ``on_page`` sees each page of Docker Hub's listing as it lands (a progress bar)."""
    from archlab.hub import hub_tags

    ref = repository if isinstance(repository, Reference) else parse_reference(repository)
    if verify_sample < 0:
        raise ArchlabError(f"verify_sample must be 0 or more, got {verify_sample}")
    name = f"{ref.registry}/{ref.repository}"
    before = Counter(client.requests.counts)
    notes: list[str] = []
    listing = None
    if _uses_hub(ref, source, hub_api):
        try:
            listing = await hub_tags(client, ref, base_url=hub_api, on_page=on_page)
        except (AuthError, NotFoundError) as exc:
            if source == "hub":
                raise
            notes.append(f"{exc}; listed through the registry instead")
    rows: list[dict[str, Any]] = []
    if listing is not None:
        notes.extend(listing.notes)
        empty = [t.name for t in listing.tags if not t.images]
        resolved: dict[str, list[dict[str, Any]]] = {}
        if resolve_empty and empty:
            resolved = await _from_registry(client, empty, name, max_per_host)
        for tag in listing.tags:
            rows.extend(resolved.get(tag.name) or hub_rows(name, tag))
        if empty and not resolve_empty:
            notes.append(f"{len(empty)} tags have no images in Docker Hub's listing; "
                         "resolve_empty=True (--resolve-empty) asks the registry for them")
    else:
        names = await client.list_tags(ref)
        for per_tag in (await _from_registry(client, names, name, max_per_host)).values():
            rows.extend(per_tag)
    frame = _frame(rows)
    verified: tuple[str, ...] = ()
    disagreements: tuple[Disagreement, ...] = ()
    if verify_sample and listing is not None:
        verified, disagreements = await _verify(client, name, listing, verify_sample, seed,
                                                max_per_host)
    elif verify_sample:
        notes.append("verify_sample: the rows already come from the registry's manifests; "
                     "nothing to cross-check")
    after = Counter(client.requests.counts)
    sent = {f"{m} {k}": n - before.get((m, k), 0) for (m, k), n in sorted(after.items())
            if n - before.get((m, k), 0) > 0}
    return TagsResult(name, "hub" if listing is not None else "registry", frame, sent,
                      listing, verified, disagreements, tuple(notes))


def tag_platforms(
    repository: Reference | str,
    *,
    client: RegistryClient | None = None,
    source: Source = "auto",
    hub_api: str | None = None,
    verify_sample: int = 0,
    seed: int = 0,
    resolve_empty: bool = False,
    max_per_host: int = limits.PER_HOST,
    on_page: Callable[[HubPage], None] | None = None,
) -> TagsResult:
    """Every tag of ``repository`` (its tag, if any, is ignored) with its platforms; see the
    module docstring for the sources, ``verify_sample`` and the frame.

    Makes (and closes) a :class:`~archlab.registry.RegistryClient` when none is given.
    """
    kwargs = dict(source=source, hub_api=hub_api, verify_sample=verify_sample, seed=seed,
                  resolve_empty=resolve_empty, max_per_host=max_per_host, on_page=on_page)
    if client is None:
        from archlab.registry import RegistryClient

        with RegistryClient(per_host=max_per_host) as own:
            return tag_platforms(repository, client=own, **kwargs)  # type: ignore[arg-type]
    return client.run(lambda aio: tag_platforms_async(repository, client=aio, **kwargs))


async def _from_registry(
    client: AsyncRegistryClient, tags: Sequence[str], name: str, max_per_host: int,
) -> dict[str, list[dict[str, Any]]]:
    """Each tag's frame rows from its manifest, through the survey engine."""
    from archlab.survey import survey_async

    inputs = {f"{name}:{t}": t for t in tags}
    result = await survey_async(list(inputs), client=client, progress=False,
                                max_per_host=max_per_host)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in result.frame.to_dict("records"):
        grouped.setdefault(row["input"], []).append(row)
    return {inputs[i]: registry_rows(name, inputs[i], rows) for i, rows in grouped.items()}


async def _verify(
    client: AsyncRegistryClient, name: str, listing: HubListing, n: int, seed: int,
    max_per_host: int,
) -> tuple[tuple[str, ...], tuple[Disagreement, ...]]:
    from archlab.survey import survey_async

    by_name = {t.name: t for t in listing.tags}
    sample = random.Random(seed).sample(sorted(by_name), min(n, len(by_name)))
    inputs = {f"{name}:{t}": t for t in sample}
    result = await survey_async(list(inputs), client=client, progress=False,
                                max_per_host=max_per_host)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in result.frame.to_dict("records"):
        grouped.setdefault(row["input"], []).append(row)
    found: list[Disagreement] = []
    for text, tag in inputs.items():
        found.extend(compare(by_name[tag], grouped[text]))
    return tuple(sample), tuple(found)


def compare(listed: HubTag, rows: Sequence[Mapping[str, Any]]) -> list[Disagreement]:
    """How the listing of one tag differs from the registry's answer (its survey rows)."""
    first = rows[0]
    tag = listed.name
    if not _missing(first.get("error")):
        if first.get("error_type") == "NotFoundError":
            return [Disagreement(tag, "missing", listed.digest or "listed", "not found",
                                 note="the registry no longer has this tag: deleted since "
                                      "the listing was made")]
        return [Disagreement(tag, "error", listed.digest or "listed", str(first["error_type"]),
                             note=str(first["error"]))]
    out = []
    digest = str(first.get("digest"))
    if listed.digest is not None and listed.digest != digest:
        out.append(Disagreement(tag, "digest", listed.digest, digest,
                                note="the tag points elsewhere now: the listing lags a push"))
    images = [r for r in rows if r.get("is_attestation") is not True]
    have = sorted({str(r["platform_norm"]) for r in images if not _missing(r.get("platform_norm"))})
    want = sorted({p for i in listed.images if (p := _norm(i.os, i.architecture, i.variant))})
    if have != want:
        out.append(Disagreement(
            tag, "platforms", ", ".join(want) or "(none)", ", ".join(have) or "(none)",
            note=NO_IMAGES if not listed.images else "the listing describes another push"))
    attestations = sum(1 for r in rows if r.get("is_attestation") is True)
    if attestations:
        out.append(Disagreement(tag, "attestations", "0", str(attestations), expected=True,
                                note="Docker Hub's API never lists attestation manifests"))
    return out


