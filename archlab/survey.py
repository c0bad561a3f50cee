"""Survey many image references at once: which platforms does each offer, at what cost?

One call answers "which of these images run on arm64?" for a list of references, a file of
them, or every tag of a repository, and gives back two pandas frames:

* ``result.frame``: tidy, one row per reference x manifest entry (the columns of
  :func:`archlab.inspect.to_frame`, plus the normalized platform, the resolved digest and an
  error type; see :data:`SURVEY_COLUMNS`);
* ``result.coverage``: wide, one row per reference, one boolean column per platform asked
  about (``<NA>`` where the reference could not be surveyed), and ``result.outcomes`` with
  the reason behind each cell.

::

    from archlab.survey import survey
    result = survey(["mysql:5.7", "mysql:8.0", "busybox:latest"],
                    platforms=("linux/amd64", "linux/arm64"), results_path="survey.jsonl")
    result.coverage            # input x platform, boolean
    result.frame.query("not is_attestation")
    result.stats.requests      # {"GET manifest": 3, ...}: what the registry saw

From a shell: ``archlab survey refs.txt --platform linux/arm64 --out coverage.csv``.

What "covered" means (``rule=``)
--------------------------------
A cell asks "would you get an image for this platform?". Three answers are on offer, because
Docker's answer changed between versions (see :mod:`archlab.platforms`):

=================  ==========================================================================
``rule``           a platform is covered when
=================  ==========================================================================
``"exact"``        an entry exists for it after normalization (``arm64/v8`` is ``arm64``,
  (default)        ``x86_64`` is ``amd64``; containerd's current rules); for a single-arch
                   image, its *config* says so. Attestations never count. This is "is the
                   image built for P", whoever pulls it.
``"docker-20.10"``  ``docker pull --platform P`` on Docker 20.10 picks an entry for it: an
                   exact match, or the old arm variant-less fallback (``arm/v7`` takes
                   ``arm/v6``).
``"docker-23"``    Docker 23-27 picks an entry it accepts for P: its platform vector also lets
                   an amd64 host take ``386`` and an arm64 host take ``arm/v7``.
=================  ==========================================================================

``result.outcomes`` says why, per cell:

==============  ==============================================================================
outcome         meaning
==============  ==============================================================================
``native``      an entry (or the single image) is for P exactly. Covered under every rule.
``compatible``  (docker rules only) no exact entry, but that Docker would take one it can run
                on P (``arm/v7`` on arm64 with 23+). Covered.
``missing``     a list/index with nothing for P: the pull fails with "no matching manifest
                for P in the manifest list entries". Not covered.
``mismatch``    a single-arch image for another platform. Docker pulls it *without error*
                (it never checks a single-arch config at pull time), and it then runs only
                under emulation, or dies with "exec format error". Not covered.
``not an        the reference names an artifact, not an image (a Helm chart, a signature;
image``         :mod:`archlab.artifacts`): Docker refuses to pull it, or stores something
                that cannot run. Not covered, on any platform.
``error``       the reference could not be surveyed (see the ``error`` column). ``<NA>``.
==============  ==============================================================================

How it talks to registries
--------------------------
* **Bounded, concurrent.** At most ``max_per_host`` references are in flight per registry host
  (and the client's own ``per_host`` semaphore bounds its requests); different hosts run in
  parallel, each with its own workers, so a slow host never holds up another's references.
* **Deadlines.** Each reference gets ``reference_deadline`` seconds (60 by default,
  :mod:`archlab.limits`), all its requests included; past it, it is a row with a
  ``DeadlineExceededError`` and its worker moves on. Each request has the client's own
  deadline and retry budget (:mod:`archlab.registry`), and the rate-limit probe
  ``probe_deadline`` seconds for all hosts at once. ``stats.longest_reference_seconds``
  says how long the slowest reference took, and ``RefResult.seconds`` each one.
* **Cache-aware, one request per tag.** A tag archlab has never seen costs one GET by tag; a
  tag it has seen costs one HEAD (free on Docker Hub), and nothing more when the digest the
  HEAD answers is cached. A single-arch manifest adds one config GET, once per distinct config.
  A digest shared by many tags is fetched once (concurrent askers wait for the same request).
* **Budgeted.** Before the first request, :mod:`archlab.budget` estimates the counted GETs from
  the cache, reads the registry's own ``ratelimit-remaining`` with a HEAD, and refuses (naming
  the numbers and the fix) rather than run into 429s. ``budget=N`` caps counted GETs: what is
  left over is marked "not surveyed" and a rerun with the same ``results_path`` finishes it.
* **Never aborted by one bad reference.** A malformed reference, a missing tag, a 401, an
  unreachable host, a stalled one, a broken answer: each becomes one row with ``error`` and
  ``error_type`` set, and the survey goes on. An exception archlab did not expect (a bug)
  becomes a row too, ``error_type == "InternalError"``. Once a host has refused connections,
  its remaining references fail fast with the same message instead of each waiting out the
  retries (a reset or a hang-up after connecting does not count: the next request may work).
* **Resumable.** With ``results_path``, every finished reference is appended as one JSON line
  the moment it is known. A rerun with the same path skips references already there, so an
  interrupted survey (Ctrl-C, a lost connection, a spent budget) resumes where it stopped and
  ends with the same frame as an uninterrupted one. Failures that a rerun may not meet again
  (unreachable host, 401/403 before a ``docker login``, 429, 5xx, a deadline, a broken
  answer, spent budget, an internal error) are not written, so the rerun retries them; a
  malformed reference or a missing tag is an answer and is kept. A survey stopped midway
  still gives what it learnt: :func:`partial_result` builds the frames from the results
  delivered to ``on_result``, every input not reached marked ``NotSurveyed`` (the command line
  writes them to ``--out`` and ``--rows``).
* **Progress.** A tqdm bar on stderr when it is a terminal, a widget in Jupyter; nothing when
  output is piped, unless ``progress="always"``.

Input files hold one reference per line; ``#`` starts a comment, blank lines are skipped, and
a line given twice is one input. Inputs that name the same image in different spellings
(``busybox``, ``busybox:latest``, ``docker.io/library/busybox``) are surveyed once, with one
set of requests, while the first is in flight or among the last ``SURVEY_RECENT`` (1,024)
answers, and reported once per input, each under its own spelling: the input is the key of
every frame, so each line you gave finds its row.

Large surveys, shards, every tag
--------------------------------
=========================  ==================================================================
argument                   what changes
=========================  ==================================================================
``dataset=DIR``            answers stream to ``DIR/journal.jsonl`` and end as a Parquet
                           dataset (:mod:`archlab.dataset`); memory stays flat: the input is
                           read at most ``SURVEY_WINDOW`` references ahead of the answers,
                           nothing per reference is kept but a 64-bit hash, and ``frame``,
                           ``coverage`` and ``outcomes`` are read from disk when first used.
                           Failures are journalled too (marked transient, so a rerun retries
                           them); ``results_path`` is the journal of the in-memory mode
``shard=(K, N)``, ``"K/N"``  only the inputs whose normalized reference hashes to shard K;
                           :func:`archlab.dataset.merge` joins the parts
``dask=ADDRESS``           the shards as tasks on a Dask cluster (:mod:`archlab.cluster`)
``all_tags=True``          ``refs`` are repositories; every tag of each is surveyed through
                           :mod:`archlab.tags` (one result per repository, one input per
                           tag, a ``source`` column: ``hub`` or ``registry``)
=========================  ==================================================================

Nearest tag
-----------
``nearest_tag("mysql:5.7", "linux/arm64")`` lists the repository's tags, ranks them by
closeness to the given one (:func:`rank_tags`), and inspects them in that order until one
covers the platform, reporting how many requests that took. The ranking, for a version tag:

====  ===========================================================  ==========================
tier  candidates                                                   order within the tier
====  ===========================================================  ==========================
0     the tag itself                                               --
1     same version prefix, same suffix (``5.7`` → ``5.7.44``)       newest first
2     same version prefix, other suffix (``5.7-debian``)           newest first, then suffix
3     other versions                                               longest shared prefix
                                                                   first (``5.6`` before
                                                                   ``8.0``), then newer before
                                                                   older, nearest first, same
                                                                   suffix first
4     tags that are not versions                                   ``latest`` first, then A-Z
====  ===========================================================  ==========================

For a tag that is not a version (``alpine``), the tags that contain it as a word come first
(``3.19-alpine``, newest first), then ``latest``, then versions newest first, then the rest.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from archlab import decoding, limits
from archlab.errors import (
    ArchlabError,
    AuthError,
    BadResponseError,
    DeadlineExceededError,
    InputError,
    InvalidReferenceError,
    NotFoundError,
    PlatformError,
    RateLimitError,
    RegistryError,
    RegistryUnreachableError,
)
from archlab.reference import Reference, parse_reference

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Iterator

    import pandas as pd

    from archlab import manifests
    from archlab.budget import Allowance, Estimate
    from archlab.dataset import Dataset
    from archlab.platforms import Matcher, Platform, Rules
    from archlab.registry import AsyncRegistryClient, Fetched, RegistryClient

# The command line imports this module to build its parser: everything heavy
# (asyncio, pandas, httpx, the manifest and platform modules) is imported where it is used, so
# that ``archlab --help`` does not pay for it.

__all__ = [
    "DEFAULT_PLATFORMS",
    "OUTCOMES",
    "OUTCOME_LEGEND",
    "RULES",
    "SURVEY_COLUMNS",
    "NearestTag",
    "RefResult",
    "SurveyResult",
    "SurveyStats",
    "coverage",
    "format_table",
    "list_tags",
    "nearest_tag",
    "nearest_tag_async",
    "outcome_legend",
    "outcomes",
    "partial_result",
    "rank_tags",
    "read_refs",
    "survey",
    "survey_async",
]

Rule = Literal["exact", "docker-20.10", "docker-23"]
#: The values of ``rule=``; :func:`rules_for` names the containerd rules each one applies.
RULES: tuple[str, ...] = ("exact", "docker-20.10", "docker-23")
DEFAULT_PLATFORMS: tuple[str, ...] = ("linux/amd64", "linux/arm64")
OUTCOMES: tuple[str, ...] = ("native", "compatible", "missing", "mismatch", "not an image",
                             "error")
_COVERED = frozenset({"native", "compatible"})
#: Every outcome in words: (what it means, what Docker does). :func:`outcome_legend` shows it.
OUTCOME_LEGEND: Mapping[str, tuple[str, str]] = {
    "native": ("an entry (or the single image) is built for that platform",
               "pulls it; it runs natively there"),
    "compatible": ("(docker rules only) no exact entry, but that Docker takes one it can run "
                   "there, such as arm/v7 on arm64 with Engine 23+",
                   "pulls that entry; it runs if the CPU runs it"),
    "missing": ("a list without that platform",
                "`no matching manifest for …` at pull time"),
    "mismatch": ("a single image built for another platform",
                 "pulls it without a word, then `exec format error` unless emulated"),
    "not an image": ("the reference names an artifact (a Helm chart, a signature, an SBOM, a "
                     "WebAssembly module, …), not an image",
                     "refuses to pull it, or stores something that cannot run; on no platform"),
    "error": ("the reference could not be surveyed", "see the `error` column"),
}


def outcome_legend() -> Any:
    """The outcomes of :attr:`SurveyResult.outcomes` as a Markdown table, one row for each of
    :data:`OUTCOMES`, so a notebook's legend cannot miss one the library can give."""
    from archlab import display

    rows = ["| outcome | meaning | what Docker does |", "|---|---|---|"]
    rows += [f"| `{o}` | {OUTCOME_LEGEND[o][0]} | {OUTCOME_LEGEND[o][1]} |" for o in OUTCOMES]
    return display.Markdown("\n".join(rows))

#: Columns of ``SurveyResult.frame``. Shared with :data:`archlab.inspect.FRAME_COLUMNS`, with
#: the same meaning: ``ref`` (normalized), ``kind`` .. ``error``; ``os``/``architecture``/
#: ``variant``/``platform`` are *raw*, as the registry wrote them (the config's for a
#: single-arch image). Added: ``input`` (the reference as given: the survey's key),
#: ``digest`` (what the reference resolved to), ``os_version``, the ``*_norm`` platform after
#: normalization, and ``error_type`` (the archlab error class).
SURVEY_COLUMNS = [
    "input", "ref", "kind", "digest", "list_digest", "entry_digest", "media_type",
    "os", "architecture", "variant", "os_version", "platform",
    "os_norm", "architecture_norm", "variant_norm", "platform_norm",
    "is_attestation", "attests", "size", "config_platform", "error", "error_type",
    "entry_kind", "verdict",
]

#: The format of a results file line (``archlab_survey``), and the ones this version reads.
RESULTS_VERSION = 1
RESULTS_VERSIONS = (1,)
#: ``error_type`` of a row for an exception archlab did not expect (a bug to report).
INTERNAL_ERROR = "InternalError"
#: ``error_type`` of a row a partial result holds for an input the survey never reached.
NOT_SURVEYED = "NotSurveyed"
BUDGET_SPENT = "BudgetExhausted"


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class RefResult:
    """One reference surveyed: its frame rows (one with ``error`` set if it failed)."""

    input: str
    rows: tuple[Mapping[str, Any], ...]
    #: Not written to the results file, so a rerun tries again (unreachable, 401/403, 429, 5xx,
    #: budget, deadline, internal error).
    transient: bool = False
    #: How long this reference took, from the moment a worker picked it (0 when resumed).
    seconds: float = 0.0

    @property
    def error(self) -> str | None:
        return self.rows[0].get("error") if self.rows else None


@dataclass(frozen=True)
class SurveyStats:
    """What a survey did: how many references, from where, and the requests it sent."""

    refs: int
    resumed: int  # taken from the results file
    surveyed: int  # surveyed by this run
    errors: int
    not_surveyed: int  # left out by the budget
    requests: Mapping[str, int]  # "HEAD manifest", "GET manifest", "GET config", ...
    seconds: float
    estimate: Estimate | None = None
    notes: tuple[str, ...] = ()
    #: The longest any one reference of this run took (bounded by ``reference_deadline``).
    longest_reference_seconds: float = 0.0

    @property
    def counted_gets(self) -> int:
        """Manifest GETs sent: what Docker Hub counts."""
        return self.requests.get("GET manifest", 0)

    def by_method(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for key, n in self.requests.items():
            out[key.split(" ", 1)[0]] += n
        return dict(out)


class SurveyResult:
    """``frame`` (tidy), ``coverage`` (wide, boolean), ``outcomes`` (wide, why), ``stats``.

    A survey with ``dataset=`` keeps its answers on disk (:mod:`archlab.dataset`): then
    ``dataset`` names it, and ``frame``, ``coverage`` and ``outcomes`` are read from it the
    first time they are asked for (mind their size: a 100,000-reference frame takes
    gigabytes; pandas and DuckDB can read the Parquet files a part at a time instead).
    """

    def __init__(self, frame: pd.DataFrame | None, coverage: pd.DataFrame | None,
                 outcomes: pd.DataFrame | None, platforms: tuple[str, ...], rule: str,
                 stats: SurveyStats, *, dataset: Dataset | None = None) -> None:
        self._frame, self._coverage, self._outcomes = frame, coverage, outcomes
        self.platforms = platforms
        self.rule = rule
        self.stats = stats
        self.dataset = dataset

    @classmethod
    def on_disk(cls, dataset: Dataset, platforms: tuple[str, ...], rule: str,
                stats: SurveyStats) -> SurveyResult:
        return cls(None, None, None, platforms, rule, stats, dataset=dataset)

    def __repr__(self) -> str:
        where = f", dataset={str(self.dataset.path)!r}" if self.dataset is not None else ""
        return (f"SurveyResult(refs={self.stats.refs}, errors={self.stats.errors}, "
                f"platforms={self.platforms!r}, rule={self.rule!r}{where})")

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None and self.dataset is not None:
            rows = self.dataset.rows().drop(columns=["position"])
            self._frame = _typed(rows, [*SURVEY_COLUMNS, "source"])
        return self._frame

    @property
    def coverage(self) -> pd.DataFrame:
        if self._coverage is None and self.dataset is not None:
            import pandas as pd

            cov = self.dataset.coverage()
            wide = pd.DataFrame({p: cov[p].astype("boolean") for p in self.platforms})
            wide.index = pd.Index(cov["input"].astype("string"), name="input")
            wide.columns.name = "platform"
            self._coverage = wide
        return self._coverage

    @property
    def outcomes(self) -> pd.DataFrame:
        if self._outcomes is None and self.dataset is not None:
            self._outcomes = outcomes(self.frame, self.platforms, self.rule)
        return self._outcomes


# ---------------------------------------------------------------------------------------------
# Input


def read_refs(source: str | os.PathLike[str] | Iterable[str]) -> list[str]:
    """The references to survey, in order, each once.

    ``source`` is a path (one reference per line, ``#`` comments, blank lines skipped), or an
    iterable of references. A plain string names a file when such a file exists, else it is
    taken as one reference.
    """
    if isinstance(source, str) and not os.path.isfile(source):
        lines: Iterable[str] = [source]
    elif isinstance(source, (str, os.PathLike)):
        lines = _read_ref_file(Path(source))
    else:
        lines = source
    out: dict[str, None] = {}
    for line in lines:
        # A reference can never contain '#', so anything after it is a comment.
        text = str(line).split("#", 1)[0].strip()
        if text:
            out.setdefault(text, None)
    return list(out)


def _read_ref_file(path: Path) -> list[str]:
    # A regular file, capped, UTF-8 with any BOM skipped (it broke the first reference).
    return decoding.read_text(path, max_bytes=limits.MAX_LIST_FILE_BYTES,
                              what="reference list", error=InvalidReferenceError).splitlines()


def rules_for(rule: str) -> Rules:
    """The containerd rules a coverage ``rule`` applies: current ones for ``exact``."""
    from archlab.platforms import CURRENT_RULES, Rules

    table = {"exact": CURRENT_RULES, "docker-20.10": Rules.MOBY_20_10,
             "docker-23": Rules.CONTAINERD_1_6}
    if rule not in table:
        raise PlatformError(
            f"unknown coverage rule {rule!r}; choose one of {', '.join(RULES)}"
        )
    return table[rule]


def _parse_platforms(specs: Sequence[str], rule: str) -> list[Platform]:
    from archlab import platforms

    rules = rules_for(rule)
    if isinstance(specs, str):
        specs = [specs]
    if not specs:
        raise PlatformError("no platform to survey; name one, e.g. linux/arm64")
    return [platforms.parse(s, host=_daemon_host(rules), rules=rules) for s in specs]


def _daemon_host(rules: Rules) -> Platform:
    """A Linux daemon on this machine: Docker parses ``--platform`` in the daemon, so a bare
    ``arm64`` means linux/arm64 even when typed on a Mac."""
    from archlab import platforms

    here = platforms.host_platform(rules)
    return platforms.default_spec(
        "linux", here.architecture, here.variant if here.architecture.startswith("arm") else None
    )


# ---------------------------------------------------------------------------------------------
# Rows


def _platform_fields(p: Platform | None) -> dict[str, Any]:
    from archlab.platforms import normalize

    if p is None:
        return {}
    n = normalize(p)
    return {
        "os": p.os, "architecture": p.architecture, "variant": p.variant or None,
        "os_version": p.os_version or None, "platform": str(p),
        "os_norm": n.os, "architecture_norm": n.architecture, "variant_norm": n.variant or None,
        "platform_norm": str(n),
    }


def _rows_for(
    text: str, ref: Reference, digest: str, media_type: str, size: int,
    doc: manifests.Manifest, config_platform: Platform | None,
) -> tuple[dict[str, Any], ...]:
    from archlab import artifacts, manifests

    base = {"input": text, "ref": str(ref), "digest": digest, "is_attestation": False}
    if isinstance(doc, manifests.ImageIndex):
        rows = []
        for d in doc.manifests:
            rows.append({
                **base, "kind": doc.kind, "list_digest": digest, "entry_digest": d.digest,
                "media_type": d.media_type, **_platform_fields(d.platform),
                "is_attestation": d.is_attestation, "attests": d.attests, "size": d.size,
                # From the entry alone (no GET): an entry only its manifest could name is
                # counted as an artifact, never as a platform.
                "entry_kind": artifacts.classify_descriptor(d) or artifacts.UNKNOWN_ARTIFACT,
            })
        if not rows:  # an empty index is still an answer about this reference
            rows.append({**base, "kind": doc.kind, "list_digest": digest,
                         "media_type": media_type})
        return tuple(rows)
    kind = "single" if isinstance(doc, manifests.ImageManifest) else "schema1"
    entry_kind = (artifacts.classify_manifest(doc, tag=ref.tag)
                  if isinstance(doc, manifests.ImageManifest) else artifacts.IMAGE)
    return ({
        **base, "kind": kind, "entry_digest": digest, "media_type": media_type,
        **_platform_fields(config_platform), "size": size,
        "config_platform": str(config_platform) if config_platform else None,
        "entry_kind": entry_kind,
    },)


def _error_result(text: str, ref: Reference | None, exc: BaseException | str,
                  error_type: str | None = None, *, transient: bool = False) -> RefResult:
    row = {"input": text, "ref": str(ref) if ref else None, "error": str(exc),
           "error_type": error_type or type(exc).__name__}
    return RefResult(text, (row,), transient)


def _is_transient(exc: ArchlabError) -> bool:
    """Failures a rerun may not meet again: a network, a limit, or a login that can change."""
    if isinstance(exc, (RegistryUnreachableError, RateLimitError, AuthError,
                        DeadlineExceededError, BadResponseError)):
        return True
    status = getattr(exc, "status", None)
    return isinstance(exc, RegistryError) and status is not None and status >= 500


def _frame(results: Iterable[RefResult], *, source: bool = False) -> pd.DataFrame:
    import pandas as pd

    columns = [*SURVEY_COLUMNS, "source"] if source else SURVEY_COLUMNS
    rows = [row for r in results for row in r.rows]
    return _typed(pd.DataFrame(rows, columns=columns), columns)


def _typed(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    dtypes: dict[str, str] = {c: "string" for c in columns}
    dtypes.update(is_attestation="boolean", size="Int64")
    return frame[list(columns)].astype(dtypes)


# ---------------------------------------------------------------------------------------------
# Coverage (pure: computed from the frame, so a resumed survey gives the same answer)


def _platform_of(row: Mapping[str, Any]) -> Platform | None:
    from archlab.platforms import Platform

    os_, arch = row.get("os"), row.get("architecture")
    if _missing(os_) and _missing(arch):
        return None
    return Platform(_text(os_), _text(arch), _text(row.get("variant")),
                    _text(row.get("os_version")))


def _missing(v: Any) -> bool:
    """None, NaN or pandas' NA (what a nullable frame cell holds when empty)."""
    if v is None:
        return True
    if isinstance(v, (str, bool, int)):
        return False
    import pandas as pd

    return bool(pd.isna(v))


def _text(v: Any) -> str:
    return "" if _missing(v) else str(v)


@functools.lru_cache(maxsize=64)  # one entry per survey column, not one per reference
def _matchers(wanted: Platform, rule: str) -> tuple[Rules, Matcher, Matcher]:
    from archlab import platforms

    rules = rules_for(rule)
    return rules, platforms.exact(wanted, rules), platforms.only(wanted, rules)


def _outcome(rows: Sequence[Mapping[str, Any]], wanted: Platform, rule: str) -> str:
    from archlab import platforms

    first = rows[0]
    if not _missing(first.get("error")):
        return "error"
    rules, exact, only = _matchers(wanted, rule)
    if first.get("kind") in ("single", "schema1"):
        if _text(first.get("entry_kind")) not in ("", "image"):
            return "not an image"  # no platform to match or to mismatch
        p = _platform_of(first)
        if p is not None and exact.match(p):
            return "native"
        if p is not None and rule != "exact" and only.match(p):
            return "compatible"
        return "mismatch"
    images = [_platform_of(r) for r in rows
              if r.get("is_attestation") is not True and not _missing(r.get("entry_digest"))
              and _text(r.get("entry_kind")) in ("", "image")]
    if rule == "exact":
        return "native" if any(p is not None and exact.match(p) for p in images) else "missing"
    found = platforms.match_entries(images, wanted, rules)
    if not found:
        return "missing"
    chosen = images[found[0]]
    return "native" if chosen is not None and exact.match(chosen) else "compatible"


# What _outcome reads: converting only these columns to dicts is a third of the work.
_OUTCOME_COLUMNS = ("input", "error", "kind", "os", "architecture", "variant", "os_version",
                    "is_attestation", "entry_digest", "entry_kind")


def _grouped(frame: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    columns = [c for c in _OUTCOME_COLUMNS if c in frame.columns]
    for row in frame[columns].to_dict("records"):
        groups.setdefault(row["input"], []).append(row)
    return groups


def outcomes(
    frame: pd.DataFrame, platforms: Sequence[str] = DEFAULT_PLATFORMS, rule: str = "exact"
) -> pd.DataFrame:
    """Wide ``input x platform`` frame of outcome names (see the module docstring)."""
    import pandas as pd

    wanted = _parse_platforms(platforms, rule)
    groups = _grouped(frame)
    data = {spec: pd.array([_outcome(rows, w, rule) for rows in groups.values()],
                           dtype="string")
            for spec, w in zip(platforms, wanted, strict=True)}
    wide = pd.DataFrame(data, index=pd.Index(list(groups), name="input", dtype="string"))
    wide.columns.name = "platform"
    return wide


def coverage(
    frame: pd.DataFrame, platforms: Sequence[str] = DEFAULT_PLATFORMS, rule: str = "exact"
) -> pd.DataFrame:
    """Wide ``input x platform`` frame of ``boolean``: covered under ``rule``, ``<NA>`` if the
    reference failed."""
    return _covered(outcomes(frame, platforms, rule))


def _covered(wide: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    out = pd.DataFrame({
        col: pd.array([pd.NA if o == "error" else o in _COVERED for o in wide[col]],
                      dtype="boolean")
        for col in wide.columns
    }, index=wide.index)
    out.columns.name = "platform"
    return out


# ---------------------------------------------------------------------------------------------
# The engine


class _Memo:
    """A small LRU of finished lookups by digest, plus the lookups still in flight."""

    def __init__(self, size: int = limits.SURVEY_RECENT) -> None:
        self.done: OrderedDict[str, Any] = OrderedDict()
        self.flying: dict[str, asyncio.Task[Any]] = {}
        self.size = size

    def get(self, key: str) -> Any:
        value = self.done.get(key)
        if value is not None:
            self.done.move_to_end(key)
        return value

    async def once(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """``make()`` for ``key``, run once however many ask at the same time."""
        import asyncio

        task = self.flying.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self.flying[key] = task
            task.add_done_callback(lambda t, k=key: self._landed(k, t))
        # shield: one asker being cancelled must not cancel the others' request
        return await asyncio.shield(task)

    def put(self, key: str, value: Any) -> None:
        self.done[key] = value
        self.done.move_to_end(key)
        if len(self.done) > self.size:
            self.done.popitem(last=False)

    def _landed(self, key: str, task: asyncio.Task[Any]) -> None:
        self.flying.pop(key, None)
        if not task.cancelled() and task.exception() is None:
            self.put(key, task.result())

    def cancel(self) -> None:
        for task in list(self.flying.values()):
            task.cancel()


class _Engine:
    """Surveys one reference at a time (callers run many at once); shares what it fetched."""

    def __init__(self, client: AsyncRegistryClient, allowance: Allowance | None = None,
                 verify: bool = False) -> None:
        from archlab.budget import Allowance

        self.client = client
        self.verify = verify
        self.allowance = allowance or Allowance(None, {})
        self.manifests = _Memo()
        self.configs = _Memo()
        self.dead_hosts: dict[str, str] = {}
        self.spent = 0
        self.spent_by_host: Counter[str] = Counter()

    def reserve(self, host: str) -> bool:
        """Take one counted GET from the allowance; False when it is spent."""
        a = self.allowance
        if a.total is not None and self.spent >= a.total:
            return False
        cap = a.per_host.get(host)
        if cap is not None and self.spent_by_host[host] >= cap:
            return False
        self.spent += 1
        self.spent_by_host[host] += 1
        return True

    async def one(self, text: str) -> RefResult:
        from archlab import manifests

        try:
            ref = parse_reference(text)
        except InvalidReferenceError as exc:
            return _error_result(text, None, exc)
        host = ref.api_host
        if host in self.dead_hosts:
            return _error_result(text, ref, self.dead_hosts[host], "RegistryUnreachableError",
                                 transient=True)
        try:
            got = await self._manifest(ref)
            if got is None:
                return self._spent_result(text, ref)
            digest, media_type, size, doc = got
            config_platform = None
            if isinstance(doc, manifests.ImageManifest) and _config_is_image(doc, ref):
                config_platform = await self._config_platform(ref, doc.config)
            elif isinstance(doc, manifests.Schema1Manifest):
                config_platform = doc.config_platform
            rows = _rows_for(text, ref, digest, media_type, size, doc, config_platform)
            if self.verify:
                rows = await self._verdicts(ref.with_digest(digest), rows)
            return RefResult(text, rows)
        except RegistryUnreachableError as exc:
            if exc.connect_failed:  # the host is down; a reset or hang-up is one request's
                self.dead_hosts.setdefault(
                    host, f"{exc} (not tried again for this reference: an earlier one to this "
                          "host could not connect either)")
            return _error_result(text, ref, exc, transient=True)
        except ArchlabError as exc:
            return _error_result(text, ref, exc, transient=_is_transient(exc))

    async def _verdicts(self, ref: Reference, rows: tuple[dict[str, Any], ...]
                        ) -> tuple[dict[str, Any], ...]:
        """``rows`` with each entry's :mod:`archlab.verify` verdict (``survey(verify=True)``);
        a failure is the verdict ``error: ...``, the rows are kept."""
        from archlab.verify import verify_async

        try:
            checked = await verify_async(ref, client=self.client)
        except ArchlabError as exc:
            return tuple({**r, "verdict": f"error: {exc}"} for r in rows)
        verdicts = {c.digest: c.verdict for c in checked.checks}
        return tuple({**r, "verdict": verdicts.get(r.get("entry_digest"))} for r in rows)

    async def within(self, text: str, deadline: float) -> RefResult:
        """:meth:`one` within ``deadline`` seconds, never raising: past the deadline the
        reference is a row with a :class:`DeadlineExceededError`, and an exception archlab
        did not expect (a bug) is a row with an ``InternalError``, so that one reference can
        never stall or abort the others."""
        import asyncio

        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(deadline):
                result = await self.one(text)
        except TimeoutError:
            result = _error_result(text, _parsed_or_none(text), DeadlineExceededError(
                f"{text}: not surveyed within {deadline:.0f} s (reference_deadline): its "
                "registry is stalled or very slow; rerun to try it again"), transient=True)
        except Exception as exc:  # a bug: the survey goes on, and the row names it
            first = (str(exc).splitlines() or [""])[0][:200]
            result = _error_result(
                text, _parsed_or_none(text),
                f"internal error: {type(exc).__name__}: {first} (please report it, with this "
                "reference)", INTERNAL_ERROR, transient=True)
        return replace(result, seconds=loop.time() - started)

    def _spent_result(self, text: str, ref: Reference) -> RefResult:
        cap = self.allowance.total if self.allowance.total is not None else (
            self.allowance.per_host.get(ref.api_host))
        return _error_result(
            text, ref,
            f"not surveyed: the budget of {cap} counted GETs is spent; rerun with the same "
            "results file (--resume) to continue", BUDGET_SPENT, transient=True)

    async def _manifest(self, ref: Reference) -> tuple[str, str, int, manifests.Manifest] | None:
        """(digest, media type, size, document), or None when the budget forbids the GET."""
        c = self.client
        digest = ref.digest
        hint = None
        if digest is None and c.cache is not None and c.tag_index is not None:
            hint = c.tag_index.recall(ref.registry, ref.repository, ref.tag or "latest")
            if hint is not None:
                try:
                    digest = (await c.resolve(ref)).digest  # HEAD: free on Docker Hub
                except NotFoundError:
                    c.tag_index.forget(ref.registry, ref.repository, ref.tag or "latest")
                    raise
        if digest is None:
            if not self.reserve(ref.api_host):
                return None
            got = _summary(await c.get_manifest(ref))  # GET by tag; the client remembers it
            self.manifests.put(got[0], got)
            return got
        memo = self.manifests.get(digest)
        if memo is None:
            remote = c.cache is None or digest not in c.cache
            if remote and digest not in self.manifests.flying and not self.reserve(ref.api_host):
                return None
            pinned = ref.with_digest(digest)
            memo = await self.manifests.once(digest, lambda: self._fetch(pinned))
        if hint is not None and hint[0] != digest and ref.tag:
            c.tag_index.remember(ref.registry, ref.repository, ref.tag, digest, memo[1])
        return memo

    async def _fetch(self, ref: Reference) -> tuple[str, str, int, manifests.Manifest]:
        return _summary(await self.client.get_manifest(ref))

    async def _config_platform(self, ref: Reference, desc: manifests.Descriptor) -> Platform:
        hit = self.configs.get(desc.digest)
        if hit is not None:
            return hit

        async def fetch() -> Platform:
            return (await self.client.get_config(ref, desc)).platform

        return await self.configs.once(desc.digest, fetch)


def _config_is_image(doc: manifests.ImageManifest, ref: Reference) -> bool:
    """Whether the manifest's config is an image config worth a GET (artifacts' are not)."""
    from archlab import artifacts

    return artifacts.classify_manifest(doc, tag=ref.tag) in (artifacts.IMAGE, artifacts.WASM)

def _renamed(result: RefResult, text: str) -> RefResult:
    """``result`` as the answer for another input naming the same image."""
    rows = tuple({**row, "input": text} for row in result.rows)
    return replace(result, input=text, rows=rows, seconds=0.0)


def _parsed_or_none(text: str) -> Reference | None:
    try:
        return parse_reference(text)
    except InvalidReferenceError:
        return None


def _summary(f: Fetched) -> tuple[str, str, int, manifests.Manifest]:
    return f.digest, f.media_type, len(f.raw), f.manifest


# ---------------------------------------------------------------------------------------------
# Results file


def _load_results(path: Path) -> dict[str, RefResult]:
    """Finished references from a results file; unreadable lines (a cut-off last line of an
    interrupted run) are skipped, so those references are simply surveyed again."""
    done: dict[str, RefResult] = {}
    raw = decoding.read_file(path, max_bytes=limits.MAX_LIST_FILE_BYTES, what="results file",
                             missing_ok=True)
    if raw is None:
        return done
    for line in raw.splitlines():
        try:
            rec = decoding.load_json(line, what="results line", max_bytes=len(line))
        except InputError:  # cut off, not UTF-8, too deep: surveyed again
            continue
        if (not isinstance(rec, dict) or rec.get("archlab_survey") not in RESULTS_VERSIONS
                or not isinstance(rec.get("input"), str) or not isinstance(rec.get("rows"), list)
                or not rec["rows"] or rec.get("transient")
                or not all(_valid_row(r) for r in rec["rows"])):
            continue
        rows = tuple({k: v for k, v in r.items() if k in SURVEY_COLUMNS or k == "source"}
                     for r in rec["rows"])
        done[rec["input"]] = RefResult(rec["input"], rows)
    return done


def _valid_row(row: object) -> bool:
    """A row the frame can hold: each column of its type or null. A line with any other is
    surveyed again (a tampered value raised from ``astype`` at the end of the run)."""
    if not isinstance(row, dict):
        return False
    for column, value in row.items():
        if value is None or column not in SURVEY_COLUMNS:
            continue
        if column == "is_attestation":
            ok = isinstance(value, bool)
        elif column == "size":
            ok = type(value) is int and 0 <= value < 2**63
        else:
            ok = isinstance(value, str)
        if not ok:
            return False
    return True


class _Writer:
    def __init__(self, path: Path | None) -> None:
        self._fh: IO[str] | None = None
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        needs_newline = False
        if path.exists() and path.stat().st_size:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                needs_newline = fh.read(1) != b"\n"
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        if needs_newline:  # a line cut off by a crash must not swallow the next one
            self._fh.write("\n")

    def write(self, result: RefResult) -> None:
        if self._fh is None or result.transient:
            return
        line = json.dumps({"archlab_survey": RESULTS_VERSION, "input": result.input,
                           "rows": [dict(r) for r in result.rows]}, sort_keys=True)
        self._fh.write(line + "\n")  # one write per line: a reader sees whole lines
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


# ---------------------------------------------------------------------------------------------
# Progress


Progress = bool | Literal["always"]


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _progress_bar(progress: Progress, total: int, initial: int) -> Any:
    if progress is False:
        return None
    notebook = _in_notebook()
    if not (progress == "always" or notebook or sys.stderr.isatty()):
        return None
    if notebook:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    # The command line escapes control characters in what it prints (archlab.cli.output); the
    # bar's own carriage returns must reach the terminal unescaped to redraw the line.
    stream = getattr(sys.stderr, "unescaped", sys.stderr)
    return tqdm(total=total, initial=initial, unit="ref", desc="survey", file=stream,
                dynamic_ncols=True)


# ---------------------------------------------------------------------------------------------
# Survey


async def survey_async(
    refs: str | os.PathLike[str] | Iterable[str],
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
    *,
    client: AsyncRegistryClient,
    progress: Progress = True,
    results_path: str | os.PathLike[str] | None = None,
    max_per_host: int = limits.PER_HOST,
    rule: str = "exact",
    budget: int | None = None,
    check_rate_limit: bool = True,
    on_result: Callable[[RefResult], None] | None = None,
    verify: bool = False,
    reference_deadline: float = limits.REFERENCE_DEADLINE,
    probe_deadline: float = limits.PROBE_DEADLINE,
    dataset: str | os.PathLike[str] | None = None,
    shard: str | tuple[int, int] | None = None,
    all_tags: bool = False,
    hub_api: str | None = None,
    tag_source: str = "auto",
) -> SurveyResult:
    """Survey ``refs`` with ``client`` (see the module docstring); the async core of
    :func:`survey`. ``on_result`` is called with each reference's result as it lands (one
    call per input, duplicates included). ``verify=True`` fills the ``verdict`` column
    (:mod:`archlab.verify`: layers are read)."""
    from archlab.dataset import parse_shard

    if max_per_host < 1:
        raise RegistryError(f"max_per_host must be 1 or more, got {max_per_host}")
    platforms = tuple([platforms] if isinstance(platforms, str) else platforms)
    _parse_platforms(platforms, rule)  # bad input fails before any request
    run = _Run(client=client, platforms=platforms, rule=rule, progress=progress,
               max_per_host=max_per_host, budget=budget, check_rate_limit=check_rate_limit,
               on_result=on_result, verify=verify, reference_deadline=reference_deadline,
               probe_deadline=probe_deadline, shard=parse_shard(shard), all_tags=all_tags,
               hub_api=hub_api, tag_source=tag_source)
    if dataset is not None:
        if results_path is not None:
            raise ArchlabError("a dataset keeps its own results file (journal.jsonl); give "
                               "dataset= or results_path=, not both")
        return await run.to_dataset(refs, Path(dataset))
    return await run.in_memory(refs, Path(results_path) if results_path is not None else None)


@dataclass
class _Run:
    """One survey's settings, and the two ways it runs: answers kept in memory (small
    surveys), or streamed to a dataset on disk (:mod:`archlab.dataset`)."""

    client: AsyncRegistryClient
    platforms: tuple[str, ...]
    rule: str
    progress: Progress
    max_per_host: int
    budget: int | None
    check_rate_limit: bool
    on_result: Callable[[RefResult], None] | None
    verify: bool
    reference_deadline: float
    probe_deadline: float
    shard: tuple[int, int] | None
    all_tags: bool
    hub_api: str | None
    tag_source: str

    async def in_memory(self, refs: str | os.PathLike[str] | Iterable[str],
                        path: Path | None) -> SurveyResult:
        from archlab.budget import estimate

        started = time.perf_counter()
        texts = read_refs(refs)
        if self.shard is not None:
            from archlab.dataset import shard_of

            k, n = self.shard
            texts = [t for t in texts if shard_of(t, n) == k]
        previous = _load_results(path) if path is not None else {}
        done = {t: previous[t] for t in texts if t in previous}
        todo = [t for t in texts if t not in done]
        before = Counter(self.client.requests.counts)
        est = None if self.all_tags else estimate(
            todo, cache=self.client.cache, tag_index=self.client.tag_index)
        engine, notes = await self._engine(est, todo)
        fresh: dict[str, RefResult] = {}
        writer = _Writer(path)
        bar = _progress_bar(self.progress, len(texts), len(done))
        errors = 0

        def deliver(position: int, result: RefResult) -> None:
            nonlocal errors
            fresh[result.input] = result
            writer.write(result)  # one line, flushed: an interrupted run keeps what it learnt
            errors += result.error is not None
            self._tick(bar, errors, result)

        try:
            await self._pump(engine, enumerate(todo), deliver)
        finally:
            writer.close()
            self._close(engine, bar)
        return _assemble(texts, done, fresh, self.platforms, self.rule,
                         requests=_sent(before, self.client), seconds=time.perf_counter() - started,
                         estimate=est, notes=(*notes,), source=self.all_tags)

    async def to_dataset(self, refs: str | os.PathLike[str] | Iterable[str],
                         directory: Path) -> SurveyResult:
        from archlab import dataset as ds
        from archlab.budget import estimate

        started = time.perf_counter()
        ds.start(directory, platforms=self.platforms, rule=self.rule, shard=self.shard,
                 all_tags=self.all_tags)
        index = ds.JournalIndex(directory / ds.JOURNAL)
        answered = index.answered()
        del index  # the answered hashes are all a run needs of it
        spooled, stream = ds.spool_inputs(refs, directory, self.shard)
        first_by_host: dict[str, str] = {}

        def todo() -> Iterator[str]:
            for text in stream:
                if ds.ref_hash(text) in answered:
                    continue
                parsed = _parsed_or_none(text)
                if parsed is not None:
                    first_by_host.setdefault(parsed.api_host, text)
                yield text

        before = Counter(self.client.requests.counts)
        if self.all_tags:
            left = sum(1 for _ in todo())
            est = None
        else:
            est = estimate(todo(), cache=self.client.cache, tag_index=self.client.tag_index,
                           summed=True)
            left = est.n or 0
        resumed = spooled.kept - left
        engine, notes = await self._engine(est, list(first_by_host.values()))
        bar = _progress_bar(self.progress, spooled.kept, resumed)
        counts = Counter[str]()
        longest = 0.0
        journal = ds.journal_writer(directory)

        def deliver(position: int, result: RefResult) -> None:
            nonlocal longest
            journal.write(ds.record_line(result))
            journal.flush()  # a reader (or a rerun after a crash) sees whole lines
            counts["surveyed"] += 1
            counts["errors"] += result.error is not None
            longest = max(longest, result.seconds)
            self._tick(bar, counts["errors"], result)

        def unanswered() -> Iterator[tuple[int, str]]:
            for position, text in ds.read_spool(directory):
                if ds.ref_hash(text) not in answered:
                    yield position, text

        meta = {"fingerprint": spooled.fingerprint, "total_inputs": spooled.total,
                "inputs": spooled.kept}
        try:
            await self._pump(engine, unanswered(), deliver)
        except BaseException:
            journal.close()
            self._close(engine, None)
            # what is known is on disk; the Parquet files wait for finish() or a rerun
            ds._write_meta(directory, {**ds._read_meta(directory), **meta})
            raise
        journal.close()
        self._close(engine, bar)
        requests = _sent(before, self.client)
        seconds = time.perf_counter() - started
        written = ds.finish(directory, results={
            **meta, "resumed": resumed, "surveyed": counts["surveyed"], "requests": requests,
            "seconds": round(seconds, 3), "notes": list(notes),
            "longest_reference_seconds": round(longest, 3)})
        stats = SurveyStats(
            refs=int(written.meta["references"]), resumed=resumed, surveyed=counts["surveyed"],
            errors=int(written.meta["errors"]), not_surveyed=int(written.meta["not_surveyed"]),
            requests=requests, seconds=seconds, estimate=est, notes=tuple(notes),
            longest_reference_seconds=longest)
        return SurveyResult.on_disk(written, self.platforms, self.rule, stats)

    # -- shared parts

    async def _engine(self, est: Estimate | None, probe_refs: Sequence[str]
                      ) -> tuple[_Engine, list[str]]:
        """The budget plan (after the rate-limit probe) and the engine that keeps to it."""
        import asyncio

        from archlab.budget import plan, read_rate_limits

        announced = {}
        probe_errors: dict[str, ArchlabError] = {}
        notes: list[str] = []
        client = self.client
        if est is not None and self.check_rate_limit and est.counted:
            hosts = [h for h, n in est.counted_by_host().items() if n]
            try:
                async with asyncio.timeout(self.probe_deadline):
                    announced = await read_rate_limits(client, probe_refs, hosts,
                                                       errors=probe_errors)
            except TimeoutError:  # a host too slow to say its limit is surveyed without one
                announced = {h: client.rate_limits.get(h) for h in hosts}
            except Exception as exc:  # a bug in the probe costs the limits, not the survey
                announced = {h: client.rate_limits.get(h) for h in hosts}
                notes.append(f"the rate-limit probe failed (internal error: "
                             f"{type(exc).__name__}: {exc}; please report it); surveyed "
                             "without the limits it reads")
        allowance = plan(est, announced, self.budget) if est is not None else None
        engine = _Engine(client, allowance, verify=self.verify)
        for host, exc in probe_errors.items():
            # learnt once: no need to retry per reference (a host that is up but broke one
            # connection is tried again by each reference)
            if isinstance(exc, RegistryUnreachableError) and exc.connect_failed:
                engine.dead_hosts[host] = (f"{exc} (not tried for this reference: the "
                                           "rate-limit probe of this host could not connect)")
        if allowance is not None:
            notes[:0] = allowance.notes
        return engine, notes

    def _tick(self, bar: Any, errors: int, result: RefResult) -> None:
        if bar is not None:
            bar.update(1)
            if errors:
                bar.set_postfix_str(f"{errors} errors", refresh=False)
        if self.on_result is not None:
            self.on_result(result)

    def _close(self, engine: _Engine, bar: Any) -> None:
        from archlab.cache import flush_or_warn

        engine.manifests.cancel()
        engine.configs.cancel()
        flush_or_warn(self.client.tag_index)  # like the results: on disk when it returns
        if bar is not None:
            bar.close()

    async def _pump(self, engine: _Engine, items: Iterable[tuple[int, str]],
                    deliver: Callable[[int, RefResult], None]) -> None:
        """Survey ``(position, input)`` items, at most ``max_per_host`` per host at a time
        and at most ``SURVEY_WINDOW`` read ahead of their answers; ``deliver`` each answer
        as it lands. Inputs naming the same image (busybox, busybox:latest,
        docker.io/library/busybox) are surveyed once while the first is in flight or among
        the last ``SURVEY_RECENT`` answers; each still gets its rows, under its own spelling.
        """
        import asyncio

        window = asyncio.Semaphore(limits.SURVEY_WINDOW)
        queues: dict[str, deque[tuple[int, str, str]]] = {}
        running: Counter[str] = Counter()
        waiting: dict[str, list[tuple[int, str]]] = {}  # key in flight -> its twins
        recent: OrderedDict[str, RefResult] = OrderedDict()
        recent_rows = 0  # bounded too: with all_tags one result is a whole repository

        def land(position: int, key: str, result: RefResult) -> None:
            nonlocal recent_rows
            deliver(position, result)
            window.release()
            if key in recent:
                recent_rows -= len(recent.pop(key).rows)
            recent[key] = result
            recent_rows += len(result.rows)
            while recent and (len(recent) > limits.SURVEY_RECENT
                              or recent_rows > limits.SURVEY_RECENT_ROWS):
                recent_rows -= len(recent.popitem(last=False)[1].rows)
            for twin_position, twin in waiting.pop(key, ()):
                deliver(twin_position, _renamed(result, twin))
                window.release()

        async def worker(host: str) -> None:
            queue = queues[host]
            try:
                while queue:
                    position, text, key = queue.popleft()
                    await asyncio.sleep(0)  # a cancellation point before any request
                    land(position, key, await self._one(engine, text))
            finally:
                running[host] -= 1

        async with asyncio.TaskGroup() as tg:
            for n, (position, text) in enumerate(items):
                await window.acquire()
                if n % 256 == 255:
                    await asyncio.sleep(0)  # let the workers start while the input is read
                parsed = None if self.all_tags else _parsed_or_none(text)
                key = str(parsed) if parsed is not None else text
                if key in waiting:
                    waiting[key].append((position, text))
                    continue
                if key in recent:
                    deliver(position, _renamed(recent[key], text))
                    window.release()
                    continue
                waiting[key] = []
                # malformed: no request, answered by the workers of the "" queue
                host = parsed.api_host if parsed is not None else ""
                queues.setdefault(host, deque()).append((position, text, key))
                if running[host] < self.max_per_host:
                    running[host] += 1
                    tg.create_task(worker(host))

    async def _one(self, engine: _Engine, text: str) -> RefResult:
        if not self.all_tags:
            return await engine.within(text, self.reference_deadline)
        return await _all_tags(engine, text, hub_api=self.hub_api, source=self.tag_source,
                               max_per_host=self.max_per_host)


async def _all_tags(engine: _Engine, text: str, *, hub_api: str | None, source: str,
                    max_per_host: int) -> RefResult:
    """Every tag of the repository ``text`` as one result: its rows carry each tag's input
    (``registry/repository:tag``) and ``source``. A repository that cannot be listed is one
    error row under its own name."""
    from archlab.tags import tag_platforms_async, to_survey_frame

    try:
        ref = parse_reference(text)
        listed = await tag_platforms_async(ref, client=engine.client, source=source,  # type: ignore[arg-type]
                                           hub_api=hub_api, max_per_host=max_per_host)
    except ArchlabError as exc:
        result = _error_result(text, _parsed_or_none(text), exc,
                               transient=_is_transient(exc))
        return replace(result, rows=tuple({**r, "source": None} for r in result.rows))
    frame = to_survey_frame(listed.frame)
    rows = tuple({k: (None if _missing(v) else v) for k, v in row.items()}
                 for row in frame.to_dict("records"))
    if not rows:
        rows = ({"input": text, "ref": str(ref), "error": f"{text}: the repository has no tags",
                 "error_type": "NotFoundError", "source": listed.source},)
    return RefResult(text, rows)


def _sent(before: Counter[tuple[str, str]], client: AsyncRegistryClient) -> dict[str, int]:
    after = Counter(client.requests.counts)
    return {f"{m} {k}": n - before.get((m, k), 0) for (m, k), n in sorted(after.items())
            if n - before.get((m, k), 0) > 0}


def _assemble(texts: Sequence[str], done: Mapping[str, RefResult],
              fresh: Mapping[str, RefResult], platforms: Sequence[str], rule: str, *,
              requests: Mapping[str, int], seconds: float, estimate: Estimate | None = None,
              notes: Sequence[str] = (), missing: str | None = None,
              source: bool = False) -> SurveyResult:
    results = []
    for t in texts:
        r = done.get(t) or fresh.get(t)
        if r is None:  # only for a partial result
            r = _error_result(t, _parsed_or_none(t), f"not surveyed: {missing}", NOT_SURVEYED,
                              transient=True)
        results.append(r)
    frame = _frame(results, source=source)
    if source:  # every tag of each repository: count tags, not repositories
        firsts = frame.drop_duplicates("input")
        n, errors = len(firsts), int(firsts["error"].notna().sum())
    else:
        n, errors = len(texts), sum(1 for r in results if r.error is not None)
    stats = SurveyStats(
        refs=n, resumed=len(done), surveyed=len(fresh), errors=errors,
        not_surveyed=sum(1 for r in results
                         if r.rows[0].get("error_type") in (BUDGET_SPENT, NOT_SURVEYED)),
        requests=requests, seconds=seconds, estimate=estimate, notes=tuple(notes),
        longest_reference_seconds=max((r.seconds for r in fresh.values()), default=0.0),
    )
    wide = outcomes(frame, platforms, rule)
    return SurveyResult(frame, _covered(wide), wide, tuple(platforms), rule, stats)


def partial_result(
    refs: str | os.PathLike[str] | Iterable[str],
    results: Iterable[RefResult],
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
    rule: str = "exact",
    *,
    results_path: str | os.PathLike[str] | None = None,
    why: str = "the survey stopped before it",
) -> SurveyResult:
    """What a survey that did not finish had learnt, as a :class:`SurveyResult`.

    ``results`` are those it delivered (collect them with ``on_result=``); ``results_path``
    adds what its results file held. Every input neither covers is a row with
    ``error_type == "NotSurveyed"`` and ``not surveyed: <why>``, so the frame says plainly that
    it is partial, and the stats carry a note. The command line writes this to ``--out`` and
    ``--rows`` when a survey is interrupted or fails midway.
    """
    platforms = tuple([platforms] if isinstance(platforms, str) else platforms)
    texts = read_refs(refs)
    fresh = {r.input: r for r in results}
    previous = _load_results(Path(results_path)) if results_path is not None else {}
    done = {t: previous[t] for t in texts if t in previous and t not in fresh}
    left = sum(1 for t in texts if t not in fresh and t not in done)
    note = f"partial: {left} of {len(texts)} references not surveyed ({why})"
    return _assemble(texts, done, fresh, platforms, rule, requests={}, seconds=0.0,
                     notes=(note,), missing=why)


def survey(
    refs: str | os.PathLike[str] | Iterable[str],
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
    *,
    client: RegistryClient | None = None,
    progress: Progress = True,
    results_path: str | os.PathLike[str] | None = None,
    max_per_host: int = limits.PER_HOST,
    rule: str = "exact",
    budget: int | None = None,
    check_rate_limit: bool = True,
    on_result: Callable[[RefResult], None] | None = None,
    verify: bool = False,
    reference_deadline: float = limits.REFERENCE_DEADLINE,
    probe_deadline: float = limits.PROBE_DEADLINE,
    dataset: str | os.PathLike[str] | None = None,
    shard: str | tuple[int, int] | None = None,
    all_tags: bool = False,
    hub_api: str | None = None,
    tag_source: str = "auto",
    dask: str | Any | None = None,
    shards: int | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> SurveyResult:
    """Survey ``refs`` (a file, or a list of references) for ``platforms``.

    Makes (and closes) a :class:`~archlab.registry.RegistryClient` with
    ``per_host=max_per_host`` when none is given. Raises
    :class:`~archlab.errors.RateLimitError` before any counted GET when the registry says the
    survey will not fit its remaining pulls (pass ``budget=`` to survey part of it); every other
    failure becomes a row.

    ``dataset=DIR`` streams the answers to disk and ends with a Parquet dataset there
    (:mod:`archlab.dataset`; memory stays flat however long the input); ``shard=(K, N)`` or
    ``"K/N"`` surveys the K-th of N deterministic parts. ``all_tags=True`` takes ``refs`` as
    repositories and surveys every tag of each (:mod:`archlab.tags`: Docker Hub's listing,
    100 tags a request, or the registry's tags and manifests; ``hub_api``, ``tag_source``
    as there), with a ``source`` column. ``dask="tcp://host:8786"`` (or a
    ``distributed.Client``) runs ``shards`` shards as tasks on that cluster
    (:mod:`archlab.cluster`; needs ``dataset``).

    ``client_options`` are :class:`~archlab.registry.RegistryClient` keyword arguments
    (``insecure=``, ``cache=``, ``tag_index=``, ...) for the client the survey makes when none
    is given, and for the one each Dask task makes: how ``--insecure`` and ``--no-cache``
    reach the workers. They must be picklable; credentials are not among them (each worker
    reads its own).
    """
    options = dict(client_options or {})
    kwargs = dict(progress=progress, results_path=results_path, max_per_host=max_per_host,
                  rule=rule, budget=budget, check_rate_limit=check_rate_limit,
                  on_result=on_result, verify=verify, reference_deadline=reference_deadline,
                  probe_deadline=probe_deadline, dataset=dataset, shard=shard,
                  all_tags=all_tags, hub_api=hub_api, tag_source=tag_source)
    if dask is not None:
        from archlab.cluster import survey_on_dask

        if client is not None or shard is not None or results_path is not None:
            raise ArchlabError("dask= runs its own clients, one per task, over every shard; "
                               "give neither client=, shard= nor results_path= with it")
        for key in ("dataset", "shard", "results_path", "on_result"):
            kwargs.pop(key)
        return survey_on_dask(refs, platforms, dataset=dataset, address=dask, shards=shards,
                              on_result=on_result, client_options=options,
                              **kwargs)  # type: ignore[arg-type]
    if client is None:
        from archlab.registry import RegistryClient

        with RegistryClient(**{"per_host": max_per_host, **options}) as own:
            return survey(refs, platforms, client=own, **kwargs)  # type: ignore[arg-type]
    return client.run(lambda aio: survey_async(refs, platforms, client=aio, **kwargs))


# ---------------------------------------------------------------------------------------------
# Tags


# ASCII digits, at most 18 to a part: a tag from a registry can hold 4,300 digits, past what
# int() converts (ValueError), and "\d" alone also matches other scripts' digits.
_VERSION = re.compile(r"[vV]?([0-9]{1,18}(?:\.[0-9]{1,18})*)(?![0-9])(.*)")


def _version(tag: str) -> tuple[tuple[int, ...] | None, str]:
    m = _VERSION.fullmatch(tag)
    if m is None:
        return None, tag
    return tuple(int(x) for x in m.group(1).split(".")), m.group(2)


def _desc(v: tuple[int, ...]) -> tuple[int, ...]:
    # Negated, plus a sentinel above every negated part, so that 5.7.1 sorts before 5.7.
    return (*(-x for x in v), 1)


def _common(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _rank_key(anchor: str, tag: str) -> tuple[Any, ...]:
    if tag == anchor:
        return (0,)
    va, sa = _version(anchor)
    vc, sc = _version(tag)
    if va is None:
        words = re.split(r"[-_.]", tag)
        if anchor in words:
            return (1, _desc(vc or ()), tag)
        if tag == "latest":
            return (2,)
        if vc is not None:
            return (3, _desc(vc), sc != "", sc)
        return (4, tag)
    if vc is None:
        return (4, 0 if tag == "latest" else 1, tag)
    if vc[: len(va)] == va:
        return (1, _desc(vc)) if sc == sa else (2, _desc(vc), sc)
    shared = _common(va, vc)
    newer = vc > va
    gap = abs(vc[shared] - va[shared]) if shared < len(vc) and shared < len(va) else 0
    order = vc if newer else _desc(vc)
    return (3, -shared, 0 if newer else 1, gap, order, sc != sa, sc)


def rank_tags(tag: str, tags: Iterable[str]) -> list[str]:
    """``tags`` ordered by closeness to ``tag`` (the table in the module docstring); the tag
    itself comes first when it is among them."""
    return sorted(dict.fromkeys(tags), key=lambda t: _rank_key(tag, t))


def list_tags(repository: Reference | str, *, client: RegistryClient | None = None) -> list[str]:
    """Every tag of the repository (``tags/list``, paginated); the tag in ``repository`` is
    ignored."""
    if client is None:
        from archlab.registry import RegistryClient

        with RegistryClient() as own:
            return list_tags(repository, client=own)
    return client.list_tags(repository)


@dataclass(frozen=True)
class NearestTag:
    """The answer of :func:`nearest_tag`: what was found, what was tried, what it cost."""

    reference: Reference
    platform: str
    rule: str
    tag: str | None  # the first candidate that covers the platform, None if none did
    tried: tuple[tuple[str, str], ...]  # (tag, outcome) in the order inspected
    candidates: int  # tags ranked (the repository's tags, plus the given one)
    requests: Mapping[str, int] = field(default_factory=dict)

    @property
    def found(self) -> Reference | None:
        if self.tag is None:
            return None
        return Reference(self.reference.registry, self.reference.repository, self.tag)

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())


async def nearest_tag_async(
    ref: Reference | str,
    platform: str,
    *,
    client: AsyncRegistryClient,
    rule: str = "exact",
    max_tries: int = 20,
) -> NearestTag:
    """The closest tag of ``ref``'s repository that covers ``platform`` (async core of
    :func:`nearest_tag`)."""
    ref = ref if isinstance(ref, Reference) else parse_reference(ref)
    wanted = _parse_platforms([platform], rule)[0]
    before = Counter(client.requests.counts)
    anchor = ref.tag or "latest"
    ranked = rank_tags(anchor, [anchor, *await client.list_tags(ref)])
    engine = _Engine(client)
    tried: list[tuple[str, str]] = []
    found = None
    for tag in ranked[:max_tries]:
        result = await engine.one(str(Reference(ref.registry, ref.repository, tag)))
        outcome = _outcome(result.rows, wanted, rule)
        tried.append((tag, outcome))
        if outcome in _COVERED:
            found = tag
            break
    after = Counter(client.requests.counts)
    cost = {f"{m} {k}": n - before.get((m, k), 0) for (m, k), n in sorted(after.items())
            if n - before.get((m, k), 0) > 0}
    return NearestTag(ref, platform, rule, found, tuple(tried), len(ranked), cost)


def nearest_tag(
    ref: Reference | str,
    platform: str,
    *,
    client: RegistryClient | None = None,
    rule: str = "exact",
    max_tries: int = 20,
) -> NearestTag:
    """List the tags of ``ref``'s repository, rank them by closeness (:func:`rank_tags`) and
    return the first whose manifest covers ``platform`` under ``rule``, inspecting at most
    ``max_tries`` of them, with the requests that cost."""
    if client is None:
        from archlab.registry import RegistryClient

        with RegistryClient() as own:
            return nearest_tag(ref, platform, client=own, rule=rule, max_tries=max_tries)
    return client.run(lambda aio: nearest_tag_async(ref, platform, client=aio, rule=rule,
                                                    max_tries=max_tries))


# ---------------------------------------------------------------------------------------------
# Text


def _marks() -> tuple[str, str, str]:
    try:
        "✓✗".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "yes", "no", "?"
    return "✓", "✗", "?"


def format_table(result: SurveyResult) -> str:
    """The terminal table: input, kind, one ✓/✗/? column per platform."""
    yes, no, unknown = _marks()
    kinds = {}
    for row in result.frame[["input", "kind"]].itertuples(index=False):
        kinds.setdefault(row.input, "error" if _missing(row.kind) else row.kind)
    header = ["REF", "KIND", *result.platforms]
    lines = [header]
    for text, cells in result.coverage.iterrows():
        marks = [unknown if _missing(v) else (yes if v else no) for v in cells]
        lines.append([str(text), kinds.get(text, "?"), *marks])
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in lines) + "\n"
