"""``archlab inspect REF...``: what a registry holds for each reference.

Each reference is answered as soon as it is known, so a failure on the third reference leaves
the first two printed. A failure is one line on stderr (``archlab: ...``; Docker's own
``no matching manifest for ...`` bare, as Docker prints it) and the command goes on with the
next reference; the exit status is 1 when any reference failed.
"""

from __future__ import annotations

import argparse
import sys

from archlab.cli.options import add_client_options, open_registry
from archlab.errors import ArchlabError, NoMatchingManifestError

EPILOG = """\
examples:
  archlab inspect 127.0.0.1:5000/lab/busybox:latest
  archlab inspect 127.0.0.1:5000/lab/mysql:5.7 --platform linux/arm64
      -> no matching manifest for linux/arm64 in the manifest list entries   (exit 1)
  archlab inspect mysql:5.7 --json                  # Docker Hub, anonymous token
  archlab inspect ghcr.io/OWNER/IMAGE:TAG --raw     # the bytes exactly as served

Plain HTTP is used only for loopback registries (127.0.0.0/8, ::1, localhost) unless you name
a host with --insecure. Credentials come from ~/.docker/config.json ($DOCKER_CONFIG), including
credsStore/credHelpers, as `docker login` left them.
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "inspect", parents=[common], help="show what a registry holds for an image reference",
        description="Show a reference's manifest: a list/index with each entry's platform "
                    "(attestations marked), or a single-arch manifest with the platform read "
                    "from its config.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("refs", nargs="+", metavar="REF", help="image reference, e.g. mysql:5.7")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="pick the entry Docker Engine 20.10 would pull, or print Docker's error")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--raw", action="store_true", help="print the manifest bytes as served")
    out.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.add_argument("--configs", action="store_true",
                   help="also fetch every list entry's config (the real platform of each)")
    add_client_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from archlab import inspect as insp_mod

    results, selected = [], []
    status = 0
    shown = 0
    with open_registry(args) as reg:
        for ref in args.refs:
            try:
                if args.raw:
                    fetched = reg.get_manifest(ref)
                    sys.stdout.buffer.write(fetched.raw)
                    if not fetched.raw.endswith(b"\n"):
                        sys.stdout.buffer.write(b"\n")
                    sys.stdout.buffer.flush()
                    continue
                insp = insp_mod.inspect(ref, client=reg,
                                        configs="all" if args.configs else "single")
                chosen = insp.select(args.platform) if args.platform else None
            except NoMatchingManifestError as exc:
                # Docker prints this text bare, with no prefix: keep it greppable.
                print(str(exc), file=sys.stderr)
                status = 1
                continue
            except ArchlabError as exc:
                if len(args.refs) == 1:
                    raise
                print(f"archlab: {exc}", file=sys.stderr)
                status = 1
                continue
            if args.json:
                results.append(insp)
                selected.append(chosen)
                continue
            if shown:
                print()
            sys.stdout.write(insp_mod.format_text(insp, selected=chosen))
            sys.stdout.flush()
            shown += 1
    if args.json and results:
        sys.stdout.write(insp_mod.dumps_json(results, selected))
    return status
