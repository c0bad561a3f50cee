"""``archlab tags REPO``: every tag of a repository with its platforms.

Docker Hub repositories are read from Docker Hub's tag listing (100 tags a request, no pull
counted); other registries through ``tags/list`` and each tag's manifest. The table (or
``--json``/``--csv``, one row per tag x image) goes to stdout; the summary, notes and the
``--verify-sample`` disagreements to stderr. The logic lives in :mod:`archlab.tags`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from archlab import limits
from archlab.cli.options import UsageError, add_client_options, open_registry
from archlab.cli.output import text_table

if TYPE_CHECKING:
    from archlab.hub import HubPage
    from archlab.tags import TagsResult

EPILOG = """\
examples:
  archlab tags mysql                                 # every tag of mysql and its platforms
  archlab tags mysql --platform linux/arm64          # only the tags with an arm64 image
  archlab tags mysql --json > mysql-tags.json        # one row per tag x image (also --csv)
  archlab tags mysql --verify-sample 5               # check 5 tags against their manifests
  archlab tags ghcr.io/owner/app                     # other registries: tags/list + manifests
  archlab tags 127.0.0.1:5000/lab/busybox --hub-api http://127.0.0.1:8080  # a stand-in/mirror

Docker Hub's listing can lag a push and never lists attestations: --verify-sample N reads N of
the listed tags (a seeded random choice, --seed) from the registry and prints each difference.
--hub-api (or ARCHLAB_HUB_API for docker.io) points at another copy of Docker Hub's API: a
mirror, or a test stand-in; plain HTTP is allowed to loopback addresses only.
Exit codes: 0 listed, 1 a failure, or --verify-sample found a difference that is not expected
(attestations left out of the listing are expected), 2 bad usage.
"""


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``archlab tags`` to archlab's parser."""
    p = subparsers.add_parser(
        "tags", parents=[common],
        help="every tag of a repository with its platforms",
        description="List every tag of a repository with the platforms of its images: from "
                    "Docker Hub's tag listing for docker.io (one request per 100 tags, no "
                    "pull counted), from the registry's manifests elsewhere.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("repository", metavar="REPO", help="a repository (a tag in it is ignored)")
    p.add_argument("--platform", action="append", dest="platforms", metavar="OS/ARCH[/VARIANT]",
                   help="only tags offering this platform (repeatable: every one of them)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the rows (tag x image) as JSON")
    out.add_argument("--csv", action="store_true", help="print the rows (tag x image) as CSV")
    p.add_argument("--verify-sample", type=int, default=0, metavar="N",
                   help="cross-check N listed tags against the registry's manifests")
    p.add_argument("--seed", type=int, default=0,
                   help="which tags --verify-sample picks (default: 0; same seed, same tags)")
    p.add_argument("--source", choices=("auto", "hub", "registry"), default="auto",
                   help="where the platforms come from (default: auto, Docker Hub's listing "
                        "for docker.io, the registry elsewhere)")
    p.add_argument("--hub-api", metavar="URL",
                   help="base URL of a copy of Docker Hub's API (mirror, test stand-in), used "
                        "for this repository whatever its registry")
    p.add_argument("--resolve-empty", action="store_true",
                   help="ask the registry for tags the listing gives no images (counted pulls)")
    p.add_argument("--max-per-host", type=int, default=limits.PER_HOST, metavar="N",
                   help=f"manifest requests in flight per registry (default: {limits.PER_HOST})")
    add_client_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from archlab.errors import ArchlabError, NotFoundError
    from archlab.tags import tag_platforms

    if args.verify_sample < 0:
        raise UsageError("--verify-sample must be 0 or more")
    if args.max_per_host < 1:
        raise UsageError("--max-per-host must be 1 or more")
    try:
        with open_registry(args, per_host=args.max_per_host) as reg, _pages_bar() as on_page:
            result = tag_platforms(args.repository, client=reg, source=args.source,
                                   hub_api=args.hub_api, verify_sample=args.verify_sample,
                                   seed=args.seed, resolve_empty=args.resolve_empty,
                                   max_per_host=args.max_per_host, on_page=on_page)
    except NotFoundError as exc:
        if not exc.not_recorded:
            raise
        # The repository may well exist: the snapshot just never recorded its tag list.
        raise ArchlabError(
            f"{args.repository}: the snapshot {args.snapshot} holds no tag list for this "
            "repository, which says nothing of the registry; a snapshot records one when made "
            "with `archlab snapshot record --tags` (--hub-tags for Docker Hub)") from None
    frame = result.frame
    wanted = None
    if args.platforms:
        wanted = result.offering(args.platforms)
        frame = frame[frame["tag"].isin(wanted)]
    if args.json:
        sys.stdout.write(frame.to_json(orient="records", indent=2, date_format="iso",
                                       force_ascii=False) + "\n")
    elif args.csv:
        frame.to_csv(sys.stdout, index=False)
    else:
        sys.stdout.write(_table(frame))
    return _summary(result, args.platforms, wanted)


@contextlib.contextmanager
def _pages_bar() -> Iterator[Callable[[HubPage], None] | None]:
    """Tags listed so far, on stderr when it is a terminal (a big repository is 100+ pages)."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    # The bar's own carriage returns must reach the terminal unescaped (archlab.cli.output).
    stream = getattr(sys.stderr, "unescaped", sys.stderr)
    with tqdm(unit="tag", desc="tags", file=stream, dynamic_ncols=True, leave=False) as bar:
        def on_page(page: HubPage) -> None:
            if page.count is not None:
                bar.total = page.count
            bar.update(len(page.tags))

        yield on_page


def _table(frame) -> str:
    rows = [["TAG", "KIND", "PUSHED", "SOURCE", "PLATFORMS"]]
    for tag, group in frame.groupby("tag", sort=False):
        first = group.iloc[0]
        platforms = ", ".join(p for p in group["platform"].dropna().tolist())
        pushed = first["tag_last_pushed"]
        rows.append([str(tag), _cell(first["kind"]),
                     "-" if _na(pushed) else pushed.strftime("%Y-%m-%d"),
                     str(first["source"]), platforms or f"- ({_cell(first['note'])})"])
    return text_table(rows)


def _na(value: object) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _cell(value: object) -> str:
    return "-" if _na(value) else str(value)


def _summary(result: TagsResult, platforms: list[str] | None, wanted: list[str] | None) -> int:
    n = len(result.tags)
    where = ("Docker Hub's tag listing" if result.source == "hub"
             else "the registry's manifests")
    sent = ", ".join(f"{v} {k}" for k, v in result.requests.items()) or "no requests"
    line = f"{n} tags of {result.repository} from {where} ({sent})"
    if wanted is not None and platforms:
        line += f"; {len(wanted)} offer {' and '.join(platforms)}"
    print(line, file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.verified:
        unexpected = [d for d in result.disagreements if not d.expected]
        print(f"verified {len(result.verified)} tags against the registry: "
              f"{len(unexpected)} disagreements"
              + (f" (and {len(result.disagreements) - len(unexpected)} expected)"
                 if len(unexpected) != len(result.disagreements) else ""), file=sys.stderr)
        for d in result.disagreements:
            mark = "expected" if d.expected else "DIFFERS"
            print(f"  {d.tag}: {d.field} {mark}: listed {d.listed}; registry {d.registry}"
                  + (f" ({d.note})" if d.note else ""), file=sys.stderr)
        return 1 if unexpected else 0
    return 0
