"""The ``archlab`` command line.

Every subcommand is a thin shell around a library function; errors that archlab raises on
purpose are printed as one line (``archlab: <what went wrong and how to fix it>``) with a
non-zero exit code, never as a traceback. Exit codes: 0 success, 1 a failure archlab explains,
2 bad usage, 3 from ``archlab lab status`` when the lab registry is not running (as a service's
``status`` does). ``archlab simulate`` exits 0 after a successful prediction and prints the exit
status Docker would have.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from archlab import __version__, compose_commands, snapshot_commands, survey
from archlab.errors import ArchlabError, NoMatchingManifestError
from archlab.lab import commands as lab_commands

if TYPE_CHECKING:
    from archlab.registry import Exchange, RegistryClient

EPILOG_INSPECT = """\
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


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as left-aligned columns two spaces apart (the first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def _add_client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--insecure", action="append", default=[], metavar="HOST[:PORT]",
                   help="allow plain HTTP to this non-loopback registry (repeatable)")
    p.add_argument("--no-cache", action="store_true",
                   help="do not read or write the on-disk manifest cache")
    p.add_argument("--snapshot", metavar="DIR",
                   help="answer from a recorded snapshot instead of the network "
                        "(e.g. data/snapshots/lab); see `archlab snapshot --help`")
    p.add_argument("--trace", action="store_true",
                   help="print every HTTP exchange (method, URL, status, key headers) to stderr")


def client_from_args(args: argparse.Namespace, **overrides: object) -> RegistryClient:
    """The registry client the common options ask for: live, or replaying ``--snapshot``."""
    kwargs: dict[str, object] = {"insecure": getattr(args, "insecure", [])}
    if getattr(args, "no_cache", False):
        kwargs.update(cache=False, tag_index=False)
    kwargs.update(overrides)
    if getattr(args, "snapshot", None):
        from archlab.snapshot import replay_client

        kwargs.pop("cache", None)
        kwargs.pop("tag_index", None)
        return replay_client(args.snapshot, **kwargs)
    from archlab.registry import RegistryClient

    return RegistryClient(**kwargs)


_client = client_from_args


def _print_trace(log: Sequence[Exchange]) -> None:
    """Exchanges as short lines on stderr: ``> GET 200 <url>  content-type=... digest=...``."""
    for ex in log:
        headers = dict(ex.response_headers)
        notes = [f"{k}={headers[k]}" for k in ("content-type", "docker-content-digest",
                                               "www-authenticate") if k in headers]
        auth = f" [{ex.auth}]" if ex.auth else ""
        status = ex.status if ex.status is not None else "ERR"
        print(f"> {ex.method} {status} {ex.url}{auth}  " + " ".join(notes), file=sys.stderr)


def cmd_inspect(args: argparse.Namespace) -> int:
    from archlab import inspect as insp_mod

    results = []
    selected = []
    status = 0
    with _client(args) as reg, contextlib.ExitStack() as stack:
        log = stack.enter_context(reg.trace()) if args.trace else None
        if log is not None:
            stack.callback(_print_trace, log)
        for ref in args.refs:
            if args.raw:
                fetched = reg.get_manifest(ref)
                sys.stdout.buffer.write(fetched.raw)
                if not fetched.raw.endswith(b"\n"):
                    sys.stdout.buffer.write(b"\n")
                continue
            insp = insp_mod.inspect(ref, client=reg,
                                    configs="all" if args.configs else "single")
            chosen = None
            if args.platform:
                try:
                    chosen = insp.select(args.platform)
                except NoMatchingManifestError as exc:
                    # Docker prints this text bare, with no prefix: keep it greppable.
                    print(str(exc), file=sys.stderr)
                    status = 1
                    continue
            results.append(insp)
            selected.append(chosen)
    if args.raw:
        return status
    if args.json:
        if results:
            sys.stdout.write(insp_mod.dumps_json(results, selected))
    else:
        for i, (insp, chosen) in enumerate(zip(results, selected, strict=True)):
            if i:
                print()
            sys.stdout.write(insp_mod.format_text(insp, selected=chosen))
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archlab",
        description="See, test and survey Docker's CPU-architecture behaviour: manifest lists "
                    "vs single-arch images, platform matching, emulation.",
    )
    parser.add_argument("--version", action="version", version=f"archlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "inspect", help="show what a registry holds for an image reference",
        description="Show a reference's manifest: a list/index with each entry's platform "
                    "(attestations marked), or a single-arch manifest with the platform read "
                    "from its config.",
        epilog=EPILOG_INSPECT, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("refs", nargs="+", metavar="REF", help="image reference, e.g. mysql:5.7")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="pick the entry Docker Engine 20.10 would pull, or print Docker's error")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--raw", action="store_true", help="print the manifest bytes as served")
    out.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.add_argument("--configs", action="store_true",
                   help="also fetch every list entry's config (the real platform of each)")
    _add_client_options(p)
    p.set_defaults(func=cmd_inspect)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


#: Other modules add their subcommands here (lab, simulate, compose, survey, snapshot).
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    lab_commands.register,
    snapshot_commands.register,
    compose_commands.register,
    survey.register,
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except ArchlabError as exc:
        print(f"archlab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("archlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
