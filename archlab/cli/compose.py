"""``archlab compose FILE``: the compose audit from a shell.

One row per service x host: the outcome, Docker's message, and a ``fix:`` line (``--why`` adds
the reason; ``--json`` / ``--csv`` print the whole frame). archlab's own exit status is 0 for
an audit made, whatever Docker's would be; 1 for an error archlab explains (one line:
``archlab: file:line: ...``), 2 for bad usage. The logic lives in :mod:`archlab.compose`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archlab import limits
from archlab.cli.options import add_client_options, open_registry

if TYPE_CHECKING:  # pandas is imported only when a command runs: `archlab --help` stays fast
    import pandas as pd

# archlab.compose.DEFAULT_HOSTS, spelt out so that `archlab --help` need not import pandas
# (a test keeps the two equal).
STORY_HOSTS_TEXT = "m1-desktop-4.3 and multipass-ubuntu-arm64"

EPILOG = """\
examples:
  archlab lab up --port 5000      # the port data/compose/story/.env names
  archlab compose data/compose/story/docker-compose.yml
  archlab compose data/compose/story/docker-compose.yml --snapshot data/snapshots/lab
  archlab compose docker-compose.yml --host multipass-ubuntu-arm64 --why
  LAB=127.0.0.1:41234 archlab compose data/compose/story/docker-compose.yml --json

Variables come from the environment, then .env beside the file (or --env-file); the environment
wins. An unset variable without a default is an error here (compose only warns and uses ""):
pass --allow-unset to behave like compose. Every host starts from an empty image store.

Measured or cited: compose 1.29.2's lines (this-machine) are measured against the real
docker-compose and Engine 20.10 (tests/test_compose_oracle.py). Compose 1.25 gets the same
lines, marked approximate; compose v2 and BuildKit wording is cited from their source, also
marked approximate.
"""


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``compose`` to archlab's parser."""
    p = subparsers.add_parser(
        "compose", parents=[common],
        help="which service of a compose file runs on which host, and the fix",
        description="Read a docker-compose file (interpolation, build: with Dockerfiles, "
                    "platform: pins), fetch every image's manifests and predict, per service "
                    "and host, what Docker would do and print, with the smallest fix.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="the compose file, e.g. docker-compose.yml")
    p.add_argument("--host", action="append", dest="hosts", metavar="NAME",
                   help="a host profile (repeatable; default: "
                        f"{STORY_HOSTS_TEXT}; see `archlab hosts`)")
    p.add_argument("--env-file", metavar="F", help="read variables from F instead of .env")
    p.add_argument("--allow-unset", action="store_true",
                   help='an unset variable becomes "" with a warning, as in compose')
    p.add_argument("--compose-version", metavar="V",
                   help="compose version to assume instead of each profile's (e.g. 2.2.1)")
    p.add_argument("--replacements", action="append", default=[], metavar="FILE",
                   help="extra replacements file (YAML, like data/replacements.yaml)")
    p.add_argument("--max-tag-lookups", type=int, default=limits.TAG_LOOKUPS, metavar="N",
                   help="tags inspected per image when looking for one with the host's "
                        "architecture (default: 5; 0 turns the search off)")
    p.add_argument("--why", action="store_true", help="add the reason under each row")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print every column as JSON")
    out.add_argument("--csv", action="store_true", help="print every column as CSV")
    add_client_options(p)
    p.set_defaults(func=run)


def format_audit(frame: pd.DataFrame, *, why: bool = False) -> str:
    """The audit as a text table: one line per service x host, then ``fix:`` (and ``why:``)."""
    heads = ("SERVICE", "HOST", "OUTCOME", "MESSAGE")
    cols = ("service", "host", "outcome", "message")
    widths = [max([len(h)] + [len(str(v)) for v in frame[c]]) for h, c in zip(heads, cols,
                                                                               strict=True)]
    indent = " " * (widths[0] + widths[1] + 4)

    def row(values: Sequence[str]) -> str:
        return "  ".join(str(v).ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [row(heads)]
    for r in frame.to_dict("records"):
        out.append(row([r[c] or "" for c in cols]))
        if why and r["explanation"]:
            out.append(f"{indent}why: {r['explanation']}")
        if r["warning"] and not r["message"]:
            out.append(f"{indent}engine warning (not printed): {r['warning']}")
        if r["suggestion"]:
            out.append(f"{indent}fix ({r['suggestion_kind']}): {r['suggestion']}")
    if bool(frame["approximate"].any()):
        out += ["", "Rows marked approximate (column 'approximate') quote wording that was not "
                    "measured: compose v2 and BuildKit (cited from their source) and compose "
                    "1.x other than 1.29.2; the outcomes are the point."]
    return "\n".join(out) + "\n"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    import pandas as pd

    out = []
    for r in frame.to_dict("records"):
        out.append({k: (list(v) if isinstance(v, tuple) else
                        None if v is None or (isinstance(v, float) and pd.isna(v)) else v)
                    for k, v in r.items()})
    return out


def run(args: argparse.Namespace) -> int:
    from archlab.compose import DEFAULT_HOSTS, audit, load_compose, load_replacements

    project = load_compose(args.file, env_file=args.env_file, allow_unset=args.allow_unset)
    for w in project.warnings:
        print(f"archlab: warning: {w}", file=sys.stderr)
    replacements = load_replacements(args.replacements)
    with open_registry(args) as reg:
        frame = audit(project, args.hosts or DEFAULT_HOSTS, client=reg,
                      compose_version=args.compose_version, replacements=replacements,
                      max_tag_lookups=args.max_tag_lookups)
    if args.json:
        json.dump(_records(frame), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.csv:
        flat = frame.copy()
        for col in ("transcript", "steps"):
            flat[col] = flat[col].map(lambda v: "\n".join(v))
        flat.to_csv(sys.stdout, index=False)
    else:
        sys.stdout.write(format_audit(frame, why=args.why))
    return 0
