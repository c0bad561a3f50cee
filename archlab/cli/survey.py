"""``archlab survey FILE|REF...``: many references at once, as a coverage table.

The output paths are checked before the first request (suffix, directory, write access), so a
long survey never ends in "cannot write". The table goes to stdout, the summary and every
failed reference (one line each) to stderr. The logic lives in :mod:`archlab.survey`.

With ``--dataset DIR`` the answers stream to disk (:mod:`archlab.dataset`) and memory stays
flat however long the input: stdout then gets one line per platform (how many references
cover it) instead of one per reference, and ``--out``/``--rows`` are copied from the dataset a
part at a time. ``--shard K/N`` surveys one part; ``archlab survey-merge`` joins the parts
(a command of its own, so that no file or image called ``merge`` is ever taken for it).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from archlab import limits
from archlab.cli.options import (
    UsageError,
    add_client_options,
    check_output_path,
    open_registry,
)
from archlab.errors import InvalidReferenceError
from archlab.survey import DEFAULT_PLATFORMS, RULES, format_table, read_refs

if TYPE_CHECKING:
    import pandas as pd

    from archlab.dataset import Dataset
    from archlab.survey import RefResult, SurveyResult


EPILOG = """\
examples:
  archlab survey refs.txt                                  # one reference per line, # comments
  archlab survey mysql:5.7 mysql:8.0 --platform linux/arm64 --platform linux/arm/v7
  archlab survey refs.txt --out coverage.csv --rows rows.json --resume survey.jsonl
  archlab survey refs.txt --budget 50 --resume survey.jsonl  # at most 50 counted GETs now
  archlab survey big.txt --dataset big/                    # flat memory; Parquet in big/rows,
                                                           # big/coverage; rerun to resume
  archlab survey big.txt --dataset part2/ --shard 2/4      # one of four parts (another machine)
  archlab survey-merge part1/ part2/ part3/ part4/ --out big/
  archlab survey big.txt --dataset /shared/big --dask tcp://scheduler:8786
  archlab survey --all-tags mysql redis --platform linux/arm64 --dataset tags/

Coverage rules (--rule): exact = an entry for the platform exists after normalization (the
default); docker-20.10 / docker-23 = what that Docker's `pull --platform` would pick, fallbacks
included. A single-arch image for another platform is a ✗ under every rule, although Docker
pulls it without error (it then needs emulation).

Before a survey archlab estimates its counted manifest GETs from the cache and reads the
registry's ratelimit-remaining with a free HEAD; if it would not fit, it stops and says so.
Exit codes: 0 every reference surveyed, 1 some references failed (rows marked) or the survey
was refused, 2 bad usage.
"""

_OUT_FORMATS = (".csv", ".json", ".parquet")
#: Failed references listed one per line on stderr; a 100,000-reference survey can fail
#: thousands, and the rest are in the outputs.
_MAX_ERRORS_SHOWN = 1000


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``archlab survey`` to archlab's parser (heavy imports wait for the command)."""
    p = subparsers.add_parser(
        "survey", parents=[common],
        help="which platforms do many references offer (coverage table)",
        description="Survey image references (files of references, or references) for the "
                    "platforms they offer: a table on the terminal, CSV or JSON files, "
                    "concurrent, cache-aware, rate-limit aware and resumable.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="FILE|REF",
                   help="a file of references (one per line) or a reference")
    p.add_argument("--platform", action="append", dest="platforms", metavar="OS/ARCH[/VARIANT]",
                   help="a platform to check (repeatable; default: linux/amd64 and linux/arm64)")
    p.add_argument("--rule", choices=RULES, default="exact",
                   help="what counts as covered (default: exact)")
    p.add_argument("--out", metavar="PATH",
                   help="write the coverage table: .csv, .json or .parquet")
    p.add_argument("--rows", metavar="PATH",
                   help="write the tidy frame (one row per reference x entry): .csv or .json")
    p.add_argument("--verify", action="store_true",
                   help="also check each image's binary against its labels (archlab verify: "
                        "reads layers) and print a verdict per entry; exit 3 when one "
                        "disagrees")
    p.add_argument("--budget", type=int, metavar="N",
                   help="send at most N counted manifest GETs; the rest is left for --resume")
    p.add_argument("--resume", metavar="PATH",
                   help="results file (JSON lines): skip what it holds, append what is new")
    p.add_argument("--dataset", metavar="DIR",
                   help="stream the answers to DIR (JSON lines while running, Parquet in "
                        "DIR/rows and DIR/coverage at the end): flat memory for large "
                        "surveys; rerun with the same DIR to resume")
    p.add_argument("--shard", metavar="K/N",
                   help="survey only the K-th of N deterministic parts of the input (by a "
                        "hash of each normalized reference); join them with survey-merge")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run the shards as tasks on the Dask cluster at ADDRESS "
                        "(tcp://host:8786), into --dataset on storage the workers share; "
                        "needs pip install 'archlab[dask]'")
    p.add_argument("--shards", type=int, metavar="N",
                   help="with --dask: how many shards (default: twice the workers)")
    p.add_argument("--all-tags", action="store_true",
                   help="take the inputs as repositories and survey every tag of each "
                        "(Docker Hub's tag listing for docker.io: 100 tags a request, no pull "
                        "counted; tags/list and manifests elsewhere)")
    p.add_argument("--hub-api", metavar="URL",
                   help="with --all-tags: base URL of a copy of Docker Hub's API (a mirror, a "
                        "test stand-in), used for every repository")
    p.add_argument("--tag-source", choices=("auto", "hub", "registry"), default="auto",
                   help="with --all-tags: where the platforms come from (default: auto)")
    p.add_argument("--max-per-host", type=int, default=limits.PER_HOST, metavar="N",
                   help=f"references in flight per registry host (default: {limits.PER_HOST}, "
                        "gentle on public registries; more hides round trips to a distant "
                        "registry of your own)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_const", const="always",
                     default=True, help="always show the progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                     help="never show the progress bar")
    add_client_options(p)
    p.set_defaults(func=run)


def _write(frame: pd.DataFrame, path: str, *, index: bool) -> None:
    suffix = Path(path).suffix.lower()
    out = frame.reset_index() if index else frame
    if suffix == ".csv":
        out.to_csv(path, index=False)
    elif suffix == ".json":
        out.to_json(path, orient="records", indent=2, force_ascii=False)
    else:
        out.to_parquet(path, index=False)


def run(args: argparse.Namespace) -> int:
    from archlab.survey import survey

    _check(args)
    refs = _inputs(args.inputs, listed=args.dataset is None)
    platforms_ = tuple(args.platforms or DEFAULT_PLATFORMS)
    options = dict(progress=args.progress, max_per_host=args.max_per_host, rule=args.rule,
                   budget=args.budget, verify=args.verify, all_tags=args.all_tags,
                   hub_api=args.hub_api, tag_source=args.tag_source)
    if args.dask:
        # Each task makes its own client on its worker: what the client options ask for
        # travels with the task.
        client_options: dict[str, object] = {"insecure": list(args.insecure)}
        if args.no_cache:
            client_options.update(cache=False, tag_index=False)
        result = survey(refs, platforms_, dataset=args.dataset, dask=args.dask,
                        shards=args.shards, client_options=client_options, **options)
        return _report(args, result)
    landed: list[RefResult] = []  # each result as it lands: what a failed run still knows
    try:
        with open_registry(args, per_host=args.max_per_host) as reg:
            result = survey(refs, platforms_, client=reg, results_path=args.resume,
                            dataset=args.dataset, shard=args.shard,
                            on_result=None if args.dataset else landed.append, **options)
    except BaseException as exc:
        if args.dataset:
            _finish_partial(args, exc)
        elif landed and (args.out or args.rows):
            _write_partial(args, list(refs), platforms_, landed, exc)
        raise
    return _report(args, result)


def _check(args: argparse.Namespace) -> None:
    """Every combination that cannot work, refused before the first request."""
    for path in (args.out, args.rows):
        check_output_path(path, _OUT_FORMATS)
    if args.budget is not None and args.budget < 0:
        raise UsageError("--budget must be 0 or more")
    if args.inputs[0] == "merge" and not os.path.exists("merge"):
        raise UsageError("`merge` here would survey the image docker.io/library/merge; to join "
                         "survey parts run `archlab survey-merge PARTS... --out DIR`, to survey "
                         "that image write merge:latest")
    if args.dataset and args.resume:
        raise UsageError("--dataset keeps its own results file (DIR/journal.jsonl) and resumes "
                         "from it; drop --resume")
    if (args.shard or args.dask) and not args.dataset:
        raise UsageError(f"{'--shard' if args.shard else '--dask'} writes a dataset; add "
                         "--dataset DIR")
    if args.dask and (args.shard or args.snapshot or args.trace):
        raise UsageError("--dask runs every shard itself, on the cluster's network; drop "
                         + ("--shard" if args.shard else "--snapshot" if args.snapshot
                            else "--trace (the exchanges happen on the workers)"))
    if args.shards is not None and not args.dask:
        raise UsageError("--shards is for --dask; on separate machines use --shard K/N")
    if (args.hub_api or args.tag_source != "auto") and not args.all_tags:
        raise UsageError("--hub-api and --tag-source are for --all-tags")
    if args.shard:
        from archlab.dataset import parse_shard

        parse_shard(args.shard)


def _inputs(items: list[str], *, listed: bool) -> Iterable[str]:
    """The references of every input: a list (small surveys) or a lazy stream (--dataset)."""
    from archlab.dataset import iter_inputs

    files: list[tuple[str, bool]] = []
    for item in items:
        if not os.path.isfile(item) and item.startswith(("/", ".", "~")):
            # No reference starts so: this was meant as a file of references.
            what = "not a regular file" if os.path.exists(item) else "no such file"
            raise InvalidReferenceError(
                f"{item}: {what} (and not a reference); give a file of references, one "
                "per line, or the references themselves"
            )
        is_file = os.path.isfile(item)
        if is_file and next(iter_inputs(Path(item)), None) is None:
            raise InvalidReferenceError(
                f"{item}: holds no references (only blank lines or # comments); put one "
                "reference per line, e.g. mysql:5.7"
            )
        files.append((item, is_file))
    stream = itertools.chain.from_iterable(
        iter_inputs(Path(item)) if is_file else [item] for item, is_file in files)
    return read_refs(stream) if listed else stream


def _report(args: argparse.Namespace, result: SurveyResult) -> int:
    if result.dataset is not None:
        sys.stdout.write(_dataset_table(result))
        _copy_outputs(args, result.dataset)
        _print_summary(result)
        print(f"dataset: {result.dataset.path} (read it with pandas.read_parquet(\""
              f"{result.dataset.path}/coverage\") or archlab.dataset.load)", file=sys.stderr)
        return 1 if result.stats.errors else 0
    sys.stdout.write(format_table(result))
    disagree = False
    if args.verify:
        from archlab.verify import DISAGREEMENTS

        rows = result.frame[result.frame["verdict"].notna()]
        shown = rows[["input", "platform", "entry_kind", "verdict"]].fillna("-")
        sys.stdout.write("\n" + shown.to_string(index=False) + "\n")
        disagree = bool(rows["verdict"].isin(list(DISAGREEMENTS)).any())
    _write_outputs(args, result)
    _print_summary(result)
    if result.stats.errors:
        return 1
    return 3 if disagree else 0


def _dataset_table(result: SurveyResult) -> str:
    """Per platform: how many references cover it, read a part at a time."""
    import pyarrow.parquet as pq

    from archlab.cli.output import text_table

    yes = dict.fromkeys(result.platforms, 0)
    no = dict.fromkeys(result.platforms, 0)
    for part in sorted((result.dataset.path / "coverage").glob("part-*.parquet")):
        table = pq.read_table(part, columns=list(result.platforms))
        for p in result.platforms:
            values = table.column(p).to_pylist()
            yes[p] += values.count(True)
            no[p] += values.count(False)
    rows = [["PLATFORM", "COVERED", "NOT COVERED", "UNKNOWN (errors)"]]
    total = result.stats.refs
    for p in result.platforms:
        rows.append([p, str(yes[p]), str(no[p]), str(total - yes[p] - no[p])])
    return text_table(rows)


def _copy_outputs(args: argparse.Namespace, dataset: Dataset) -> None:
    """--out (coverage) and --rows copied from the dataset's parts, one part in memory."""
    import pyarrow.parquet as pq

    for path, folder in ((args.out, "coverage"), (args.rows, "rows")):
        if not path:
            continue
        suffix = Path(path).suffix.lower()
        parts = sorted((dataset.path / folder).glob("part-*.parquet"))
        if suffix == ".parquet":
            writer = None
            for part in parts:
                table = pq.read_table(part).drop(["position"])
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
            if writer is not None:
                writer.close()
            continue
        with open(path, "w", encoding="utf-8", newline="") as fh:
            if suffix == ".json":
                fh.write("[")
            for i, part in enumerate(parts):
                frame = pq.read_table(part).drop(["position"]).to_pandas()
                if suffix == ".csv":
                    frame.to_csv(fh, index=False, header=i == 0)
                else:
                    text = frame.to_json(orient="records", force_ascii=False)[1:-1]
                    if text:
                        fh.write(("," if i else "") + text)
            if suffix == ".json":
                fh.write("]\n")


def _finish_partial(args: argparse.Namespace, exc: BaseException) -> None:
    """A dataset survey stopped midway: its journal holds every finished reference; write
    the Parquet files from it, every other input marked "not surveyed"."""
    from archlab.dataset import DatasetError, finish

    why = "interrupted" if isinstance(exc, KeyboardInterrupt) else (
        f"the survey failed: {type(exc).__name__}")
    try:
        written = finish(args.dataset, why=why)
    except (DatasetError, OSError):
        return  # refused before it started (no inputs spooled): nothing to finish
    _copy_outputs(args, written)
    left = written.meta.get("not_surveyed", 0)
    print(f"archlab: partial: {left} of {written.meta.get('inputs', 0)} references not "
          f"surveyed ({why}); dataset written to {args.dataset}; rerun the same command to "
          "finish it", file=sys.stderr)


def _write_outputs(args: argparse.Namespace, result: SurveyResult) -> None:
    if args.out:
        cov = result.coverage.copy()
        kinds = result.frame.drop_duplicates("input").set_index("input")
        cov.insert(0, "kind", kinds["kind"].reindex(cov.index))
        cov["error"] = kinds["error"].reindex(cov.index)
        _write(cov, args.out, index=True)
    if args.rows:
        _write(result.frame, args.rows, index=False)


def _write_partial(args: argparse.Namespace, refs: list[str], platforms_: tuple[str, ...],
                   landed: list[RefResult], exc: BaseException) -> None:
    """A survey that stops midway (Ctrl-C, a full disk, a bug) still leaves what it learnt in
    --out and --rows, every reference it did not reach marked "not surveyed"; the results
    file (--resume) already holds each finished line."""
    from archlab.survey import partial_result

    why = "interrupted" if isinstance(exc, KeyboardInterrupt) else (
        f"the survey failed: {type(exc).__name__}")
    partial = partial_result(refs, list(landed), platforms_, args.rule,
                             results_path=args.resume, why=why)
    _write_outputs(args, partial)
    written = " and ".join(p for p in (args.out, args.rows) if p)
    print(f"archlab: {partial.stats.notes[0]}; written to {written}", file=sys.stderr)


def _failed(result: SurveyResult) -> Iterable[Any]:
    """The first row of each failed reference; from a dataset a part at a time (reading its
    whole frame would undo the flat memory it was written in)."""
    if result.dataset is None:
        frame = result.frame
        yield from frame[frame["error"].notna()].drop_duplicates("input").itertuples(
            index=False)
        return
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for part in sorted((result.dataset.path / "coverage").glob("part-*.parquet")):
        table = pq.read_table(part, columns=["input", "error"])
        failed = table.filter(pc.is_valid(table.column("error")))
        for row in failed.to_pylist():
            yield _Failed(row["input"], row["error"], None)


class _Failed(NamedTuple):
    input: str
    error: str
    ref: str | None


def _print_summary(result: SurveyResult) -> None:
    s = result.stats
    failed = list(itertools.islice(_failed(result), _MAX_ERRORS_SHOWN + 1))
    if len(failed):
        print("errors:", file=sys.stderr)
        for row in failed[:_MAX_ERRORS_SHOWN]:
            # Registry errors already start with the reference; say it once.
            named = row.error.startswith(row.input) or (
                isinstance(row.ref, str) and row.error.startswith(row.ref))
            print(f"  {row.error}" if named else f"  {row.input}: {row.error}", file=sys.stderr)
        if len(failed) > _MAX_ERRORS_SHOWN:
            print(f"  ... ({s.errors - _MAX_ERRORS_SHOWN} more; the error column of --out, or "
                  "of the dataset, has them all)", file=sys.stderr)
    for note in s.notes:
        print(f"note: {note}", file=sys.stderr)
    methods = s.by_method()
    sent = ", ".join(f"{n} {m}" for m, n in sorted(methods.items())) or "no requests"
    print(f"{s.refs} references ({s.resumed} from the results file), {s.errors} failed; "
          f"sent {sent} ({s.counted_gets} counted manifest GETs) in {s.seconds:.2f} s",
          file=sys.stderr)
