"""``archlab hosts``: the host profiles archlab knows (shipped, user config dir,
``$ARCHLAB_HOSTS_DIR``). The logic lives in :mod:`archlab.hosts`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hosts`` to archlab's parser."""
    h = subparsers.add_parser("hosts", parents=[common], help="list the host profiles",
                              description="List host profiles: shipped, from your config "
                                          "directory, and from $ARCHLAB_HOSTS_DIR.")
    h.add_argument("--json", action="store_true", help="every field, as JSON")
    h.set_defaults(func=run)


def _emulation_text(host: Any) -> str:
    """``amd64 (rosetta); 386, arm/v7 (qemu)``: architectures grouped by method."""
    by: dict[str, list[str]] = {}
    for e in host.emulated:
        by.setdefault(e.describe(), []).append(str(e.platform).removeprefix("linux/"))
    return "; ".join(f"{', '.join(archs)} ({how})" for how, archs in by.items()) or "-"


def run(args: argparse.Namespace) -> int:
    from archlab.hosts import list_hosts, load_hosts

    if args.json:
        json.dump(list_hosts().reset_index().to_dict("records"), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    heads = ("NAME", "DAEMON", "ENGINE", "COMPOSE", "RUNC", "EMULATES", "WHAT")
    rows = [(h.name, str(h.daemon_platform), h.engine, h.compose or "-", h.runc,
             _emulation_text(h), h.display_name) for h in load_hosts().values()]
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    for r in [heads, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0
