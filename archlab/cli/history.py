"""``archlab history``: which platforms official images published, and when, offline.

It reads the shipped history dataset (:mod:`archlab.history`: snapshots of official images'
manifest lists, 2016-2026, each with its source) and prints either the coverage of every
image:tag at a date, or the timeline of one. Nothing touches the network.
"""

from __future__ import annotations

import argparse
import sys

from archlab.cli.output import text_table

#: The platform columns when none are asked for: the story's two (the dataset knows more).
STORY_PLATFORMS = ("linux/amd64", "linux/arm64")

EPILOG = """\
examples:
  archlab history                                   # every image:tag, its newest snapshot
  archlab history --at 2022-01-15                   # the story's month: mysql:5.7 lacks arm64
  archlab history mysql:5.7 mysql:8.0 --platform linux/arm64 --platform linux/arm/v7
  archlab history --timeline mysql:latest           # every snapshot of one image:tag
  archlab history --at 2022-01-15 --csv > coverage.csv

"At a date" means the newest snapshot dated at or before it, which may be years older: the
SNAPSHOT column says which one was used. Platforms are compared after normalization
(linux/arm64 is linux/arm64/v8); attestation entries never count as platforms.
"""


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``history`` to archlab's parser."""
    p = subparsers.add_parser(
        "history", parents=[common],
        help="which platforms official images listed, and when (shipped data)",
        description="Coverage of official images' platforms at a date, or the timeline of one "
                    "image:tag, from the history dataset archlab ships (no network).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("refs", nargs="*", metavar="IMAGE:TAG",
                   help="only these image:tag pairs (default: all)")
    p.add_argument("--at", metavar="YYYY-MM-DD",
                   help="judge each image:tag by its newest snapshot at or before this date "
                        "(default: its newest snapshot)")
    p.add_argument("--platform", action="append", dest="platforms", metavar="OS/ARCH[/VARIANT]",
                   help="a platform column (repeatable; default: linux/amd64 and linux/arm64)")
    p.add_argument("--timeline", metavar="IMAGE:TAG",
                   help="instead: every snapshot of one image:tag, oldest first")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the table as JSON")
    out.add_argument("--csv", action="store_true", help="print the table as CSV")
    p.set_defaults(func=run)


def _image_tag(text: str) -> tuple[str, str]:
    from archlab.errors import ArchlabError

    image, sep, tag = text.rpartition(":")
    if not sep or not image or not tag or "/" in tag:
        raise ArchlabError(f"{text!r}: name an official image and tag, e.g. mysql:5.7")
    return image, tag


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from archlab import history
    from archlab.errors import ArchlabError

    df = history.load_history()
    if args.timeline:
        table = history.timeline(df, *_image_tag(args.timeline))
        table["platforms"] = table["platforms"].map(", ".join)
        table["date"] = table["date"].dt.strftime("%Y-%m-%d").fillna("undated")
        table = table[["date", "n_platforms", "platforms", "source_repo"]]
    else:
        platforms = args.platforms or list(STORY_PLATFORMS)
        wide = history.coverage(df, platforms, at=args.at)
        used = history.snapshot_at(df, args.at)["date"]
        if args.refs:
            unknown = [r for r in args.refs if r not in wide.index]
            if unknown:
                raise ArchlabError(f"not in the history: {', '.join(unknown)} (see `archlab "
                                   "history` for the image:tag pairs it holds)")
            wide = wide.loc[args.refs]
        table = wide.astype("object").where(wide.notna(), None)
        table.insert(0, "snapshot", used.reindex(table.index).dt.strftime("%Y-%m-%d"))
        table = table.reset_index()
    if args.json:
        sys.stdout.write(table.to_json(orient="records", indent=2, date_format="iso") + "\n")
    elif args.csv:
        table.to_csv(sys.stdout, index=False)
    else:
        sys.stdout.write(text_table(_text_rows(table, pd)))
    return 0


def _text_rows(table, pd) -> list[list[str]]:
    def cell(v: object) -> str:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        return str(v)

    head = [str(c).upper() if "/" not in str(c) else str(c) for c in table.columns]
    return [head, *([cell(v) for v in row] for row in table.itertuples(index=False))]
