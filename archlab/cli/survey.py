"""``archlab survey FILE|REF...``: many references at once, as a coverage table.

The output paths are checked before the first request (suffix, directory, write access), so a
long survey never ends in "cannot write". The table goes to stdout, the summary and every
failed reference (one line each) to stderr. The logic lives in :mod:`archlab.survey`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

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

    from archlab.survey import SurveyResult


EPILOG = """\
examples:
  archlab survey refs.txt                                  # one reference per line, # comments
  archlab survey mysql:5.7 mysql:8.0 --platform linux/arm64 --platform linux/arm/v7
  archlab survey refs.txt --out coverage.csv --rows rows.json --resume survey.jsonl
  archlab survey refs.txt --budget 50 --resume survey.jsonl  # at most 50 counted GETs now

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
                   help="write the coverage table: .csv or .json (.parquet needs pyarrow)")
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

    for path in (args.out, args.rows):
        check_output_path(path, _OUT_FORMATS)
    if args.budget is not None and args.budget < 0:
        raise UsageError("--budget must be 0 or more")
    refs: list[str] = []
    for item in args.inputs:
        if not os.path.isfile(item) and item.startswith(("/", ".", "~")):
            # No reference starts so: this was meant as a file of references.
            what = "not a regular file" if os.path.exists(item) else "no such file"
            raise InvalidReferenceError(
                f"{item}: {what} (and not a reference); give a file of references, one "
                "per line, or the references themselves"
            )
        found = read_refs(Path(item) if os.path.isfile(item) else [item])
        if not found:
            raise InvalidReferenceError(
                f"{item}: holds no references (only blank lines or # comments); put one "
                "reference per line, e.g. mysql:5.7"
            )
        refs.extend(found)
    refs = list(dict.fromkeys(refs))
    platforms_ = tuple(args.platforms or DEFAULT_PLATFORMS)

    with open_registry(args, per_host=args.max_per_host) as reg:
        result = survey(refs, platforms_, client=reg, progress=args.progress,
                        results_path=args.resume, max_per_host=args.max_per_host,
                        rule=args.rule, budget=args.budget, verify=args.verify)
    sys.stdout.write(format_table(result))
    disagree = False
    if args.verify:
        from archlab.verify import DISAGREEMENTS

        rows = result.frame[result.frame["verdict"].notna()]
        shown = rows[["input", "platform", "entry_kind", "verdict"]].fillna("-")
        sys.stdout.write("\n" + shown.to_string(index=False) + "\n")
        disagree = bool(rows["verdict"].isin(list(DISAGREEMENTS)).any())
    if args.out:
        cov = result.coverage.copy()
        kinds = result.frame.drop_duplicates("input").set_index("input")
        cov.insert(0, "kind", kinds["kind"].reindex(cov.index))
        cov["error"] = kinds["error"].reindex(cov.index)
        _write(cov, args.out, index=True)
    if args.rows:
        _write(result.frame, args.rows, index=False)
    _print_summary(result)
    if result.stats.errors:
        return 1
    return 3 if disagree else 0


def _print_summary(result: SurveyResult) -> None:
    s = result.stats
    failed = result.frame[result.frame["error"].notna()].drop_duplicates("input")
    if len(failed):
        print("errors:", file=sys.stderr)
        for row in failed.itertuples(index=False):
            # Registry errors already start with the reference; say it once.
            named = row.error.startswith(row.input) or (
                isinstance(row.ref, str) and row.error.startswith(row.ref))
            print(f"  {row.error}" if named else f"  {row.input}: {row.error}", file=sys.stderr)
    for note in s.notes:
        print(f"note: {note}", file=sys.stderr)
    methods = s.by_method()
    sent = ", ".join(f"{n} {m}" for m, n in sorted(methods.items())) or "no requests"
    print(f"{s.refs} references ({s.resumed} from the results file), {s.errors} failed; "
          f"sent {sent} ({s.counted_gets} counted manifest GETs) in {s.seconds:.2f} s",
          file=sys.stderr)
