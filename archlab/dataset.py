"""A survey on disk: JSON lines while it runs, a Parquet dataset when it ends, shards merged.

What it is for
--------------
A survey of 100,000 references cannot keep its answers in memory: the tidy frame alone would
take gigabytes. With ``survey(..., dataset=DIR)`` (``archlab survey --dataset DIR``) every
reference's answer goes to disk the moment it is known, and nothing per reference stays in
memory but a 64-bit hash (so that a line given twice is surveyed once). When the survey ends
the journal becomes a Parquet dataset, in input order, that pandas and DuckDB read directly::

    import pandas as pd
    rows = pd.read_parquet("DIR/rows")             # the tidy frame, one row per ref x entry
    cov = pd.read_parquet("DIR/coverage")          # one row per reference, a column per platform

    -- DuckDB
    SELECT count(*) FILTER (WHERE "linux/arm64") / count(*) FROM 'DIR/coverage/*.parquet';

:func:`load` gives the same as a :class:`~archlab.survey.SurveyResult` whose frames are read
when first asked for. Large runs split across machines with ``shard=(K, N)`` (``--shard K/N``)
and are joined with :func:`merge` (``archlab survey-merge PARTS... --out DIR``), or run as
tasks on a Dask cluster (:mod:`archlab.cluster`).

The directory
-------------
==================  ===============================================================================
file                what it holds
==================  ===============================================================================
``survey.json``     what was asked and what came out: platforms, rule, shard, input counts and
                    fingerprint, errors, references not surveyed (``complete``)
``inputs.tsv``      ``position<TAB>reference``: the distinct inputs this dataset covers, in input
                    order; ``position`` counts distinct inputs of the whole input, before sharding
``journal.jsonl``   one line per reference as it finishes (the results file of
                    :func:`archlab.survey.survey`, failures included and marked ``transient``);
                    a rerun with the same directory resumes from it
``rows/``           ``part-NNNNNN.parquet``: ``position``, the survey's columns
                    (:data:`archlab.survey.SURVEY_COLUMNS`) and ``source`` (``registry``, or
                    ``hub`` for rows from Docker Hub's tag listing)
``coverage/``       ``part-NNNNNN.parquet``: ``position``, ``input``, ``kind``, one boolean column
                    per platform (null where the reference failed), ``error``, ``error_type``
==================  ===============================================================================

The rules
---------
==========================  ======================================================================
situation                   what happens
==========================  ======================================================================
a line given twice          one input (its first position); found by a 64-bit hash of the text,
                            8 bytes per distinct input, the only memory that grows with the input
same image, other spelling  surveyed once while the first is in flight or among the last
                            ``SURVEY_RECENT`` answers; further apart, asked again (the cache
                            answers)
rerun, same directory       inputs whose last journal line is an answer are skipped; failures a
                            rerun may not meet again (``transient``) are surveyed again
stopped midway              the journal keeps every finished line; :func:`finish` (the command
                            line does it) writes the Parquet files, every input not reached a row
                            with ``error_type == "NotSurveyed"``
``shard=(K, N)``            the inputs whose normalized reference hashes to K (1..N); every shard
                            reads the whole input, so positions are the single run's
:func:`merge`               parts must come from the same input (fingerprint), platforms and rule;
                            an input in two parts is kept once (the first part given) and
                            counted as a duplicate; inputs in no part are gaps, named by shard
==========================  ======================================================================

pyarrow writes and reads the Parquet files; it is one of archlab's dependencies (see
``pyproject.toml`` for why).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from archlab import limits
from archlab.errors import ArchlabError, InvalidReferenceError
from archlab.reference import parse_reference

if TYPE_CHECKING:
    import pyarrow as pa

    from archlab.survey import RefResult, SurveyResult

__all__ = [
    "DATASET_VERSION",
    "Dataset",
    "MergeReport",
    "finish",
    "iter_inputs",
    "load",
    "merge",
    "parse_shard",
    "ref_hash",
    "shard_of",
]

DATASET_VERSION = 1
META = "survey.json"
INPUTS = "inputs.tsv"
JOURNAL = "journal.jsonl"
ROWS = "rows"
COVERAGE = "coverage"
NOT_SURVEYED = "NotSurveyed"


class DatasetError(ArchlabError):
    """A survey dataset that cannot be read, written or merged as asked."""


# ---------------------------------------------------------------------------------------------
# Keys, shards, input (pure)


def ref_hash(text: str) -> int:
    """A stable 64-bit hash of ``text`` (BLAKE2b: the same on every machine and run, unlike
    Python's ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def normalized_key(text: str) -> str:
    """What names the image: the normalized reference, or the text itself when malformed."""
    try:
        return str(parse_reference(text))
    except InvalidReferenceError:
        return text


def shard_of(text: str, n: int) -> int:
    """The shard (1..n) of an input: by the hash of its normalized reference, so that
    spellings of one image land in one shard and are surveyed once."""
    return ref_hash(normalized_key(text)) % n + 1


def parse_shard(spec: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"K/N"`` or ``(K, N)`` as ``(K, N)`` with 1 <= K <= N; None stays None."""
    if spec is None:
        return None
    if isinstance(spec, str):
        k_text, _, n_text = spec.partition("/")
        try:
            k, n = int(k_text), int(n_text)
        except ValueError:
            raise DatasetError(f"shard {spec!r} is not K/N; write e.g. 2/4 for the second "
                               "of four parts") from None
    else:
        k, n = spec
    if not (n >= 1 and 1 <= k <= n):
        raise DatasetError(f"shard {k}/{n}: K must be 1 to N and N at least 1, e.g. 2/4")
    return k, n


def iter_inputs(source: str | os.PathLike[str] | Iterable[str]) -> Iterator[str]:
    """The references of ``source`` one at a time, as :func:`archlab.survey.read_refs` reads
    them (a file or an iterable; ``#`` comments and blank lines skipped), but neither read
    whole nor made distinct: for inputs too long to hold."""
    if isinstance(source, str) and not os.path.isfile(source):
        lines: Iterable[str] = [source]
    elif isinstance(source, (str, os.PathLike)):
        lines = _file_lines(Path(source))
    else:
        lines = source
    for line in lines:
        text = str(line).split("#", 1)[0].strip()
        if text:
            yield text


def _file_lines(path: Path) -> Iterator[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            yield from fh
    except UnicodeDecodeError:
        from archlab.survey import _read_ref_file

        _read_ref_file(path)  # reads it whole, once, to name the offset of the bad byte
        raise
    except OSError as exc:
        raise InvalidReferenceError(f"cannot read {path}: {exc.strerror or exc}") from None


class Distinct:
    """Which 64-bit hashes were seen: a sorted numpy array (8 bytes each) plus a small set of
    the latest, merged in when it fills. Written here because a Python ``set`` of ints costs
    about 70 bytes an entry, nine times as much, and that is the one thing a survey keeps per
    input."""

    def __init__(self) -> None:
        import numpy as np

        self._sorted = np.empty(0, dtype=np.uint64)
        self._recent: set[int] = set()

    def add(self, h: int) -> bool:
        """Record ``h``; True when it was new."""
        if h in self._recent or self._in_sorted(h):
            return False
        self._recent.add(h)
        if len(self._recent) >= limits.SURVEY_WINDOW:
            self._merge()
        return True

    def __contains__(self, h: int) -> bool:
        return h in self._recent or self._in_sorted(h)

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def _in_sorted(self, h: int) -> bool:
        import numpy as np

        s = self._sorted
        if not len(s):
            return False
        i = int(np.searchsorted(s, np.uint64(h)))
        return i < len(s) and int(s[i]) == h

    def _merge(self) -> None:
        import numpy as np

        new = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
        self._sorted = np.union1d(self._sorted, new)
        self._recent = set()


# ---------------------------------------------------------------------------------------------
# Writing one dataset


@dataclass
class Spooled:
    """What reading the input found: counts and the fingerprint of the distinct inputs."""

    total: int = 0  # distinct inputs of the whole input
    kept: int = 0  # of them, in this shard (or all)
    fingerprint: str = ""


def spool_inputs(
    source: str | os.PathLike[str] | Iterable[str], directory: Path,
    shard: tuple[int, int] | None,
) -> tuple[Spooled, Iterator[str]]:
    """Write ``inputs.tsv`` as the input is read; returns the counts (complete once the
    iterator is spent) and an iterator over this dataset's inputs, for the cost estimate."""
    directory.mkdir(parents=True, exist_ok=True)
    out = Spooled()

    def run() -> Iterator[str]:
        seen = Distinct()
        digest = hashlib.sha256()
        tmp = directory / f".{INPUTS}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            for text in iter_inputs(source):
                text = text.replace("\t", " ")  # never in a reference; the spool splits on it
                if not seen.add(ref_hash(text)):
                    continue
                position = out.total
                out.total += 1
                digest.update(text.encode("utf-8") + b"\n")
                if shard is not None and shard_of(text, shard[1]) != shard[0]:
                    continue
                out.kept += 1
                fh.write(f"{position}\t{text}\n")
                yield text
        os.replace(tmp, directory / INPUTS)
        out.fingerprint = digest.hexdigest()

    return out, run()


def read_spool(directory: Path) -> Iterator[tuple[int, str]]:
    """``(position, input)`` from ``inputs.tsv``, in order."""
    path = directory / INPUTS
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise DatasetError(f"{directory}: no {INPUTS}; it is not a survey dataset, or the "
                           "survey never started") from None
    with fh:
        for line in fh:
            pos, _, text = line.rstrip("\n").partition("\t")
            yield int(pos), text


class JournalIndex:
    """Where the last line of each input is in a journal: sorted hashes, their offsets and
    whether that line was a transient failure. 17 bytes per line, in numpy arrays."""

    def __init__(self, path: Path) -> None:
        import numpy as np

        self.path = path
        hashes: list[int] = []
        offsets: list[int] = []
        transient: list[bool] = []
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            fh = None
        if fh is not None:
            with fh:
                offset = 0
                for line in fh:
                    rec = _record(line)
                    if rec is not None:
                        hashes.append(ref_hash(rec["input"]))
                        offsets.append(offset)
                        transient.append(bool(rec.get("transient")))
                    offset += len(line)
        h = np.array(hashes, dtype=np.uint64)
        # the last line of an input wins: unique over the reversed order keeps it
        _, first = np.unique(h[::-1], return_index=True)
        keep = np.sort(len(h) - 1 - first) if len(h) else np.empty(0, dtype=np.int64)
        order = np.argsort(h[keep], kind="stable")
        self.hashes = h[keep][order]
        self.offsets = np.array(offsets, dtype=np.int64)[keep][order]
        self.transient = np.array(transient, dtype=bool)[keep][order]

    def __len__(self) -> int:
        return len(self.hashes)

    def find(self, h: int) -> int | None:
        """The slot of hash ``h``, or None."""
        import numpy as np

        i = int(np.searchsorted(self.hashes, np.uint64(h)))
        return i if i < len(self.hashes) and int(self.hashes[i]) == h else None

    def answered(self) -> Distinct:
        """The inputs whose last line is an answer (a rerun skips them)."""
        done = Distinct()
        for h, t in zip(self.hashes.tolist(), self.transient.tolist(), strict=True):
            if not t:
                done.add(h)
        return done


def _record(line: bytes) -> dict[str, Any] | None:
    from archlab.survey import RESULTS_VERSIONS

    try:
        rec = json.loads(line)
    except ValueError:  # a line cut off by a crash: that input is surveyed again
        return None
    if (not isinstance(rec, dict) or rec.get("archlab_survey") not in RESULTS_VERSIONS
            or not isinstance(rec.get("input"), str) or not isinstance(rec.get("rows"), list)
            or not rec["rows"]):
        return None
    return rec


def _schemas(platforms: Sequence[str]) -> tuple[pa.Schema, pa.Schema]:
    import pyarrow as pa

    from archlab.survey import SURVEY_COLUMNS

    kinds = {"is_attestation": pa.bool_(), "size": pa.int64()}
    rows = pa.schema([("position", pa.int64()),
                      *((c, kinds.get(c, pa.string())) for c in SURVEY_COLUMNS),
                      ("source", pa.string())])
    cov = pa.schema([("position", pa.int64()), ("input", pa.string()), ("kind", pa.string()),
                     *((p, pa.bool_()) for p in platforms),
                     ("error", pa.string()), ("error_type", pa.string())])
    return rows, cov


def _require_pyarrow() -> None:
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:  # a dependency; only a broken install
        raise DatasetError("a survey dataset needs pyarrow, which is not installed: "
                           "`pip install pyarrow` (archlab depends on it; reinstall archlab)")


def finish(
    directory: str | os.PathLike[str], *, why: str = "the survey stopped before it",
    results: Mapping[str, Any] | None = None,
) -> Dataset:
    """Write the Parquet files of the dataset in ``directory`` from its inputs and journal.

    Inputs without an answer in the journal are rows with ``error_type == "NotSurveyed"``
    and ``not surveyed: <why>``. ``results`` adds fields to ``survey.json`` (the survey's
    stats). Safe to call again: the parts are written anew each time.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    _require_pyarrow()
    from archlab.survey import SURVEY_COLUMNS, _outcome, _parse_platforms

    root = Path(directory)
    meta = _read_meta(root)
    platforms, rule = tuple(meta["platforms"]), meta["rule"]
    wanted = _parse_platforms(platforms, rule)
    rows_schema, cov_schema = _schemas(platforms)
    index = JournalIndex(root / JOURNAL)
    for sub in (ROWS, COVERAGE):
        shutil.rmtree(root / sub, ignore_errors=True)
        (root / sub).mkdir()
    counts = {"inputs": 0, "references": 0, "rows": 0, "errors": 0, "not_surveyed": 0,
              "parts": 0}
    rows_batch: list[dict[str, Any]] = []
    cov_batch: list[dict[str, Any]] = []

    def flush() -> None:
        if not cov_batch:
            return
        name = f"part-{counts['parts']:06d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows_batch, schema=rows_schema), root / ROWS / name)
        pq.write_table(pa.Table.from_pylist(cov_batch, schema=cov_schema),
                       root / COVERAGE / name)
        counts["parts"] += 1
        rows_batch.clear()
        cov_batch.clear()

    with open(root / JOURNAL, "a+b") as journal:
        for position, text in read_spool(root):
            rec = None
            slot = index.find(ref_hash(text))
            if slot is not None:
                journal.seek(int(index.offsets[slot]))
                rec = _record(journal.readline())
                if rec is not None and rec["input"] != text:  # a 64-bit collision
                    rec = None
            if rec is None:
                rows = [{"input": text, "ref": _ref_or_none(text),
                         "error": f"not surveyed: {why}", "error_type": NOT_SURVEYED}]
                counts["not_surveyed"] += 1
            else:
                rows = [{k: v for k, v in r.items() if k in SURVEY_COLUMNS or k == "source"}
                        for r in rec["rows"] if isinstance(r, dict)]
            for r in rows:
                rows_batch.append({"position": position, **r,
                                   "source": r.get("source") or "registry"})
            for group in _by_input(rows):  # one per tag when the input was a repository
                first = group[0]
                cell = {"position": position, "input": first.get("input"),
                        "kind": first.get("kind"), "error": first.get("error"),
                        "error_type": first.get("error_type")}
                if first.get("error") is None:
                    for spec, w in zip(platforms, wanted, strict=True):
                        cell[spec] = _outcome(group, w, rule) in ("native", "compatible")
                else:
                    counts["errors"] += 1
                    if first.get("error_type") == "BudgetExhausted":
                        counts["not_surveyed"] += 1
                cov_batch.append(cell)
                counts["references"] += 1
            counts["inputs"] += 1
            counts["rows"] += len(rows)
            if len(cov_batch) >= limits.DATASET_PART_REFS:
                flush()
    flush()
    meta.update(results or {})
    meta.update(counts, complete=counts["not_surveyed"] == 0, finished=True)
    _write_meta(root, meta)
    return Dataset(root, meta)


def _by_input(rows: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r.get("input"), []).append(r)
    return list(groups.values())


def _ref_or_none(text: str) -> str | None:
    try:
        return str(parse_reference(text))
    except InvalidReferenceError:
        return None


def _read_meta(root: Path) -> dict[str, Any]:
    path = root / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{root}: no {META}; not a survey dataset (made by `archlab survey "
                           "--dataset DIR` or survey(dataset=...))") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable ({exc}); rerun the survey into a new "
                           "directory") from None
    if not isinstance(meta, dict) or meta.get("archlab_dataset") != DATASET_VERSION:
        raise DatasetError(f"{path}: not a survey dataset of format {DATASET_VERSION}")
    return meta


def _write_meta(root: Path, meta: Mapping[str, Any]) -> None:
    tmp = root / f".{META}.tmp"
    tmp.write_text(json.dumps(dict(meta), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, root / META)


def start(directory: Path, *, platforms: Sequence[str], rule: str,
          shard: tuple[int, int] | None, all_tags: bool) -> dict[str, Any]:
    """Create (or reopen) the dataset directory and write what is asked into ``survey.json``.
    A directory holding another survey (other platforms, rule, shard) is refused: its journal
    would answer the wrong question."""
    _require_pyarrow()
    if directory.exists() and not directory.is_dir():
        raise DatasetError(f"{directory}: is not a directory; name a directory for the dataset")
    meta = {"archlab_dataset": DATASET_VERSION, "platforms": list(platforms), "rule": rule,
            "shard": list(shard) if shard else None, "all_tags": all_tags}
    if (directory / META).exists():
        old = _read_meta(directory)
        asked = {k: old.get(k) for k in ("platforms", "rule", "shard", "all_tags")}
        if asked != {k: meta[k] for k in asked}:
            raise DatasetError(
                f"{directory}: holds a survey of {_describe(old)}, not {_describe(meta)}; "
                "use another directory, or delete this one")
    directory.mkdir(parents=True, exist_ok=True)
    meta["finished"] = False
    _write_meta(directory, meta)
    return meta


def _describe(meta: Mapping[str, Any]) -> str:
    shard = meta.get("shard")
    text = f"{', '.join(meta.get('platforms') or [])} (rule {meta.get('rule')})"
    if shard:
        text += f", shard {shard[0]}/{shard[1]}"
    if meta.get("all_tags"):
        text += ", all tags"
    return text


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class Dataset:
    """A survey dataset on disk: its directory and ``survey.json``."""

    path: Path
    meta: Mapping[str, Any]

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(self.meta["platforms"])

    def rows(self) -> Any:
        """The tidy frame (with ``position`` and ``source``), read whole: mind its size."""
        return _read(self.path / ROWS)

    def coverage(self) -> Any:
        return _read(self.path / COVERAGE)

    def parts(self) -> list[str]:
        return sorted(p.name for p in (self.path / COVERAGE).glob("part-*.parquet"))


def _read(folder: Path) -> Any:
    import pyarrow.parquet as pq

    files = sorted(folder.glob("part-*.parquet"))
    if not files:
        raise DatasetError(f"{folder}: no Parquet parts; finish the survey (rerun it with the "
                           "same --dataset) first")
    return pq.ParquetDataset([str(f) for f in files]).read().to_pandas()


def load(directory: str | os.PathLike[str]) -> SurveyResult:
    """The dataset in ``directory`` as a :class:`~archlab.survey.SurveyResult` whose
    ``frame``, ``coverage`` and ``outcomes`` are read from disk when first used."""
    from archlab.survey import SurveyResult, SurveyStats

    root = Path(directory)
    meta = _read_meta(root)
    if not meta.get("finished"):
        raise DatasetError(f"{root}: the survey has not written its Parquet files yet; rerun "
                           "it with the same dataset directory to finish it")
    stats = SurveyStats(
        refs=int(meta.get("references", 0)), resumed=int(meta.get("resumed", 0)),
        surveyed=int(meta.get("surveyed", 0)), errors=int(meta.get("errors", 0)),
        not_surveyed=int(meta.get("not_surveyed", 0)),
        requests=dict(meta.get("requests") or {}), seconds=float(meta.get("seconds", 0.0)),
        notes=tuple(meta.get("notes") or ()),
        longest_reference_seconds=float(meta.get("longest_reference_seconds", 0.0)))
    return SurveyResult.on_disk(Dataset(root, meta), tuple(meta["platforms"]), meta["rule"],
                                stats)


# ---------------------------------------------------------------------------------------------
# Merging shards


@dataclass(frozen=True)
class MergeReport:
    """What :func:`merge` joined and what it found missing or twice."""

    dataset: Dataset
    parts: int
    inputs: int  # distinct inputs in the merged dataset
    total_inputs: int  # distinct inputs of the whole input
    duplicates: int  # inputs found in more than one part (kept once)
    duplicate_examples: tuple[str, ...] = ()
    gaps: int = 0  # inputs of the whole input in no part
    missing_shards: tuple[str, ...] = ()  # "K/N" never given
    not_surveyed: int = 0  # rows marked NotSurveyed in the parts (an unfinished part)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        return self.gaps == 0 and self.not_surveyed == 0


def merge(parts: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
          keep: Sequence[str] = ()) -> MergeReport:
    """Join survey datasets (shards of one input, or reruns of parts of it) into ``out``, in
    input order, each input once; report duplicates and gaps (see the rules above). ``out``
    must be new or empty, but for the names in ``keep``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    _require_pyarrow()
    if not parts:
        raise DatasetError("nothing to merge; name the datasets of the parts")
    roots = [Path(p) for p in parts]
    metas = [_read_meta(r) for r in roots]
    first = metas[0]
    for root, meta in zip(roots, metas, strict=True):
        if not meta.get("finished"):
            raise DatasetError(f"{root}: its survey has not finished writing; rerun it with "
                               "the same --dataset, then merge")
        for key in ("platforms", "rule", "all_tags", "fingerprint", "total_inputs"):
            if meta.get(key) != first.get(key):
                what = "input" if key in ("fingerprint", "total_inputs") else key
                raise DatasetError(f"{root}: surveys another {what} than {roots[0]} "
                                   f"({key}: {meta.get(key)!r} vs {first.get(key)!r}); merge "
                                   "parts of one survey only")
    target = Path(out)
    if target.resolve() in {r.resolve() for r in roots}:
        raise DatasetError(f"{target}: is one of the parts; merge into a new directory")
    if target.exists() and any(p.name not in keep for p in target.iterdir()):
        raise DatasetError(f"{target}: exists and is not empty; merge into a new directory")
    total = int(first.get("total_inputs") or 0)
    rows_schema, cov_schema = _schemas(tuple(first["platforms"]))
    target.mkdir(parents=True, exist_ok=True)
    for sub in (ROWS, COVERAGE):
        (target / sub).mkdir(exist_ok=True)
    covered = np.zeros(total, dtype=bool)
    dup_count = 0
    dup_examples: list[str] = []
    not_surveyed = 0
    references = 0
    parts_written = 0
    rows_out: list[pa.Table] = []
    cov_out: list[pa.Table] = []
    n_out = 0

    def flush() -> None:
        nonlocal parts_written, n_out
        if not cov_out:
            return
        name = f"part-{parts_written:06d}.parquet"
        pq.write_table(pa.concat_tables(rows_out).cast(rows_schema), target / ROWS / name)
        pq.write_table(pa.concat_tables(cov_out).cast(cov_schema), target / COVERAGE / name)
        parts_written += 1
        rows_out.clear()
        cov_out.clear()
        n_out = 0

    streams = [_groups(root, i) for i, root in enumerate(roots)]
    last = -1
    for position, _, rows, cov in heapq.merge(*streams, key=lambda g: (g[0], g[1])):
        if position == last:
            dup_count += 1
            if len(dup_examples) < 5:
                dup_examples.append(str(cov.column("input")[0]))
            continue
        last = position
        if 0 <= position < total:
            covered[position] = True
        if cov.column("error_type")[0].as_py() == NOT_SURVEYED:
            not_surveyed += 1
        rows_out.append(rows)
        cov_out.append(cov)
        references += cov.num_rows
        n_out += 1
        if n_out >= limits.DATASET_PART_REFS:
            flush()
    flush()
    gaps = int(total - covered.sum())
    missing: list[str] = []
    shards = {tuple(m["shard"]) for m in metas if m.get("shard")}
    if shards:
        n = next(iter(shards))[1]
        if all(s[1] == n for s in shards):
            missing = [f"{k}/{n}" for k in range(1, n + 1) if (k, n) not in shards]
    meta = {"archlab_dataset": DATASET_VERSION, "platforms": first["platforms"],
            "rule": first["rule"], "shard": None, "all_tags": first.get("all_tags", False),
            "fingerprint": first.get("fingerprint"), "total_inputs": total,
            "inputs": int(covered.sum()), "references": references, "parts": parts_written,
            "finished": True,
            "merged_from": [str(r) for r in roots], "duplicates": dup_count, "gaps": gaps,
            "not_surveyed": not_surveyed + gaps, "complete": gaps == 0 and not not_surveyed,
            "errors": sum(int(m.get("errors", 0)) for m in metas)}
    _write_meta(target, meta)
    return MergeReport(Dataset(target, meta), len(roots), int(covered.sum()), total, dup_count,
                       tuple(dup_examples), gaps, tuple(missing), not_surveyed)


def _groups(root: Path, part: int) -> Iterator[tuple[int, int, pa.Table, pa.Table]]:
    """``(position, part, rows, coverage row)`` of each input of one dataset, in order; one
    Parquet part in memory at a time."""
    import numpy as np
    import pyarrow.parquet as pq

    for name in sorted(p.name for p in (root / COVERAGE).glob("part-*.parquet")):
        cov = pq.read_table(root / COVERAGE / name)
        rows = pq.read_table(root / ROWS / name)
        row_pos = rows.column("position").to_numpy()
        cov_pos = cov.column("position").to_numpy()
        positions, cov_starts = np.unique(cov_pos, return_index=True)
        cov_ends = [*cov_starts.tolist()[1:], len(cov_pos)]
        starts = np.searchsorted(row_pos, positions, side="left").tolist()
        ends = np.searchsorted(row_pos, positions, side="right").tolist()
        for p, a, b, c, d in zip(positions.tolist(), starts, ends, cov_starts.tolist(),
                                 cov_ends, strict=True):
            yield p, part, rows.slice(a, b - a), cov.slice(c, d - c)


def journal_writer(directory: Path) -> IO[str]:
    """The dataset's journal, opened to append (a cut-off last line is ended first)."""
    path = directory / JOURNAL
    needs_newline = False
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            needs_newline = fh.read(1) != b"\n"
    fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - the caller closes it
    if needs_newline:
        fh.write("\n")
    return fh


def record_line(result: RefResult) -> str:
    """One journal line for ``result`` (failures a rerun may not meet marked transient)."""
    from archlab.survey import RESULTS_VERSION

    rec: dict[str, Any] = {"archlab_survey": RESULTS_VERSION, "input": result.input,
                           "rows": [dict(r) for r in result.rows]}
    if result.transient:
        rec["transient"] = True
    return json.dumps(rec, sort_keys=True) + "\n"
