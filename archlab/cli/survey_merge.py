"""``archlab survey-merge PARTS... --out DIR``: join the datasets of a sharded survey.

A command of its own rather than ``archlab survey merge``: ``survey`` takes files and image
references as positional inputs, and ``merge`` is both a valid file name and a valid image
(``docker.io/library/merge``), so a subcommand of that name would shadow one of them. The logic
lives in :func:`archlab.dataset.merge`.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  archlab survey refs.txt --dataset p1/ --shard 1/2      # on one machine
  archlab survey refs.txt --dataset p2/ --shard 2/2      # on another
  archlab survey-merge p1/ p2/ --out all/                # one dataset, in input order

Parts must be surveys of the same input (same lines, same order), platforms and rule. An input
found in two parts is kept once (from the first part named) and counted as a duplicate; inputs
in no part are gaps, and the shards never given are named.
Exit codes: 0 merged and complete, 1 merged with gaps (or unfinished parts), or a failure,
2 bad usage.
"""


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``archlab survey-merge`` to archlab's parser."""
    p = subparsers.add_parser(
        "survey-merge", parents=[common],
        help="join the datasets of a sharded survey (--shard K/N) into one",
        description="Join survey datasets (the parts of a survey run with --shard K/N, or "
                    "reruns of parts) into one dataset in input order, reporting duplicates "
                    "and gaps.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("parts", nargs="+", metavar="PART",
                   help="a dataset directory written by archlab survey --dataset")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the merged dataset: a new or empty directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from archlab.dataset import merge

    report = merge(args.parts, args.out)
    print(f"merged {report.parts} parts: {report.inputs} of {report.total_inputs} inputs "
          f"({report.dataset.meta.get('references', 0)} references) into {args.out}",
          file=sys.stderr)
    if report.duplicates:
        print(f"duplicates: {report.duplicates} inputs were in more than one part (kept from "
              f"the first): {', '.join(report.duplicate_examples)}"
              + (" ..." if report.duplicates > len(report.duplicate_examples) else ""),
              file=sys.stderr)
    if report.gaps:
        shards = (f"; shards never given: {', '.join(report.missing_shards)}"
                  if report.missing_shards else "")
        print(f"gaps: {report.gaps} inputs are in no part{shards}", file=sys.stderr)
    if report.not_surveyed:
        print(f"unfinished: {report.not_surveyed} inputs are marked not surveyed in their "
              "part; rerun that part's survey with the same --dataset, then merge again",
              file=sys.stderr)
    return 0 if report.complete else 1
