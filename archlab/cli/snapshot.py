"""``archlab snapshot record | show``: registry snapshots from the command line.

::

    archlab snapshot record 127.0.0.1:5000/lab/mysql:5.7 busybox:latest --out snap/
    archlab snapshot record REF... --out snap/ --fixed-time 2024-01-01T00:00:00Z --as-host H
    archlab snapshot show snap/

==========  ====================================================================================
command     exit code
==========  ====================================================================================
``record``  0 every reference recorded; 1 some failed (the snapshot is still written, with the
            registry's answers for them, such as a 404), or an archlab error
``show``    0 the snapshot verified and listed; 1 missing, malformed or altered
==========  ====================================================================================

The logic lives in :mod:`archlab.snapshot`; this module only parses and prints, and imports it
(with httpx and pandas) only when a snapshot command runs, so ``archlab`` starts quickly.
"""

from __future__ import annotations

import argparse
import sys

from archlab import digests, shipped
from archlab.cli.options import command_group
from archlab.cli.output import text_table

EPILOG = """\
examples:
  archlab snapshot record 127.0.0.1:5000/lab/mysql:5.7 busybox:latest --out snap/
  archlab snapshot record REF... --out snap/ --fixed-time 2024-01-01T00:00:00Z
  archlab snapshot show snap/
  archlab snapshot show lab                     # the one archlab ships

A snapshot holds manifests (by tag and by digest) and configs exactly as served, never layers
(unless --include-layers), never credentials or tokens. In Python,
archlab.snapshot.replay_client("snap/") answers the same requests offline.
"""


def _short(digest: str | None) -> str:
    return digests.short(digest) if digest else "-"


def cmd_record(args: argparse.Namespace) -> int:
    from archlab.snapshot import record

    summary = record(args.refs, args.out, recorded_at=args.fixed_time, as_host=args.as_host,
                     include_layers=args.include_layers, tags=args.tags,
                     hub_tags=args.hub_tags, hub_api=args.hub_api, insecure=args.insecure)
    rows = [("REF", "KIND", "DIGEST", "PLATFORMS / ERROR")]
    for r in summary.refs:
        detail = r.error if r.error else ", ".join(r.platforms) or "-"
        rows.append((r.ref, r.kind or "error", _short(r.digest), detail))
    sys.stdout.write(text_table(rows))
    print(summary.line())
    for why in summary.skipped:
        print(f"not recorded: {why}")
    if summary.failed:
        print(f"archlab: {len(summary.failed)} of {len(summary.refs)} references failed; what "
              "the registry answered for them (such as a 404) is in the snapshot",
              file=sys.stderr)
        return 1
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from archlab.snapshot import load_snapshot

    snap = load_snapshot(shipped.snapshot_path(args.dir))
    n_blobs = sum(1 for a in snap.answers if a.kind == "blob")
    size = sum(len(b) for b in snap.blobs.values())
    print(f"{snap.describe()}, archlab {snap.archlab_version or '?'}")
    if snap.integrity is not None:
        print(snap.integrity.line())
    print(f"{len(snap.refs)} references, {len(snap.answers)} answers ({n_blobs} blobs), "
          f"{len(snap.blobs)} files, {size} bytes; hosts: {', '.join(snap.hosts) or '-'}")
    rows = [("KIND", "REPOSITORY", "REFERENCE", "STATUS", "MEDIA TYPE", "DIGEST", "SIZE")]
    for a in snap.answers:
        ref = f"@{_short(a.reference)}" if a.reference.startswith("sha256:") else a.reference
        if a.accept is not None:
            ref += f" (Accept: {', '.join(a.accept)})"
        rows.append((a.kind, f"{a.host}/{a.repository}", ref, str(a.status),
                     a.media_type or "-", _short(a.digest),
                     "-" if a.size is None else str(a.size)))
    print()
    sys.stdout.write(text_table(rows))
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``snapshot record`` and ``snapshot show`` to archlab's parser."""
    _, sub = command_group(
        subparsers, common, "snapshot", help="record registry answers to a directory, or show one",
        description="Record exactly what registries answer (manifests, configs, chosen "
                    "headers) so that inspect, simulate and surveys can replay it offline.",
        epilog=EPILOG, commands=("record", "show"),
    )
    rec = sub.add_parser("record", parents=[common],
                         help="record what registries answer for REF...",
                         description="Inspect each REF (every entry's config too) and store "
                                     "the registry's answers in DIR.")
    rec.add_argument("refs", nargs="+", metavar="REF", help="image reference, e.g. mysql:5.7")
    rec.add_argument("--out", required=True, metavar="DIR",
                     help="snapshot directory to write (an old snapshot there is replaced)")
    rec.add_argument("--fixed-time", metavar="ISO",
                     help="record this time instead of now, e.g. 2024-01-01T00:00:00Z "
                          "(reproducible snapshots)")
    rec.add_argument("--as-host", metavar="HOST",
                     help="store the answers under this registry host (one registry only)")
    rec.add_argument("--include-layers", action="store_true",
                     help="also keep layer blobs (large; off by default)")
    rec.add_argument("--tags", action="store_true", help="also record each repository's tags")
    rec.add_argument("--hub-tags", action="store_true",
                     help="also record each repository's pages of Docker Hub's tag listing "
                          "(docker.io, or any registry with --hub-api), for `archlab tags`")
    rec.add_argument("--hub-api", metavar="URL",
                     help="base URL of a copy of Docker Hub's API to record --hub-tags from "
                          "(a mirror, a test stand-in)")
    rec.add_argument("--insecure", action="append", default=[], metavar="HOST[:PORT]",
                     help="allow plain HTTP to this non-loopback registry (repeatable)")
    rec.set_defaults(func=cmd_record)
    show = sub.add_parser("show", parents=[common],
                          help="verify a snapshot and list what it holds",
                          description="Verify every file of a snapshot and print one row per "
                                      "stored answer.")
    show.add_argument("dir", metavar="DIR|NAME",
                      help="a snapshot directory, or the name of a shipped one (lab)")
    show.set_defaults(func=cmd_show)
