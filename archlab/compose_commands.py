"""``archlab compose``, ``archlab simulate`` and ``archlab hosts``: the audit and the simulator
from a shell.

=====================================================  ==========================================
command                                                prints
=====================================================  ==========================================
``archlab compose FILE [--host NAME ...]``             one row per service x host: the outcome,
                                                       Docker's message, and a ``fix:`` line
                                                       (``--why`` adds the reason; ``--json`` /
                                                       ``--csv`` print the whole frame)
``archlab simulate REF --host NAME [--platform P]``    what ``docker run`` (or ``--command pull``,
                                                       ``create``, ``compose``) would print on
                                                       that host, then ``(docker would exit with
                                                       status N)`` and, unless ``--no-why``, the
                                                       rules that fired, each with its source
``archlab hosts``                                      the host profiles archlab knows
=====================================================  ==========================================

archlab's own exit status is 0 for a prediction made, whatever Docker's would be; 1 for an
error archlab explains (one line: ``archlab: file:line: ...``), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from archlab import limits

if TYPE_CHECKING:  # pandas is imported only when a command runs: `archlab --help` stays fast
    import pandas as pd

__all__ = ["DEFAULT_HOSTS", "format_audit", "register"]

#: Hosts ``archlab compose`` predicts for when no ``--host`` is given: the story's two.
DEFAULT_HOSTS = ("m1-desktop-4.3", "multipass-ubuntu-arm64")

EPILOG_COMPOSE = """\
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

EPILOG_SIMULATE = """\
examples:
  archlab simulate 127.0.0.1:5000/lab/mysql:5.7 --host multipass-ubuntu-arm64
  archlab simulate 127.0.0.1:5000/lab/mysql:5.7 --host m1-desktop-4.3 --platform linux/x86_64
  archlab simulate 127.0.0.1:5000/lab/middleware --host m1-desktop-4.3 --command pull --no-why
"""


@contextlib.contextmanager
def _registry(args: argparse.Namespace) -> Iterator[Any]:
    """The client the common options ask for (live or ``--snapshot``), traced on ``--trace``."""
    from archlab.cli import _print_trace, client_from_args

    with client_from_args(args) as reg, contextlib.ExitStack() as stack:
        if getattr(args, "trace", False):
            stack.callback(_print_trace, stack.enter_context(reg.trace()))
        yield reg


# ---------------------------------------------------------------------------------------------
# archlab compose


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


def cmd_compose(args: argparse.Namespace) -> int:
    from archlab.compose import audit, load_compose, load_replacements

    project = load_compose(args.file, env_file=args.env_file, allow_unset=args.allow_unset)
    for w in project.warnings:
        print(f"archlab: warning: {w}", file=sys.stderr)
    replacements = load_replacements(args.replacements)
    with _registry(args) as reg:
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


# ---------------------------------------------------------------------------------------------
# archlab simulate


def cmd_simulate(args: argparse.Namespace) -> int:
    from archlab import simulate as sim
    from archlab.hosts import get_host

    host = get_host(args.host)
    with _registry(args) as reg:
        facts = sim.gather_facts_sync(args.ref, reg)
    if args.command == "pull":
        p = sim.simulate_pull(facts, host, platform=args.platform, typed=args.ref)
    elif args.command == "create":
        p = sim.simulate_create(facts, host, platform=args.platform, typed=args.ref)
    elif args.command == "compose":
        p = sim.simulate_compose_service(facts, host, args.platform, service=args.service,
                                         compose_version=args.compose_version, typed=args.ref)
    else:
        p = sim.simulate_run(facts, host, platform=args.platform, typed=args.ref)
    if args.json:
        json.dump(p.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if p.lines:
        print(p.transcript())
    if p.exit_code is None:
        print("(docker would exit with the container's own status: the image's entrypoint is "
              "not known to archlab)")
    else:
        print(f"(docker would exit with status {p.exit_code})")
    if args.why:
        print()
        print(f"why, for `{p.command}` on {host.name} ({host.display_name}):")
        for n, step in enumerate(p.explanation, 1):
            print(f"{n:2}. {step.rule}: {step.detail}")
            print(f"    source: {step.source}")
        if any(ln.approximate for ln in p.lines):
            print("Some lines are approximate: not calibrated against a real Docker.")
    return 0


# ---------------------------------------------------------------------------------------------
# archlab hosts


def _emulation_text(host: Any) -> str:
    """``amd64 (rosetta); 386, arm/v7 (qemu)``: architectures grouped by method."""
    by: dict[str, list[str]] = {}
    for e in host.emulated:
        by.setdefault(e.describe(), []).append(str(e.platform).removeprefix("linux/"))
    return "; ".join(f"{', '.join(archs)} ({how})" for how, archs in by.items()) or "-"


def cmd_hosts(args: argparse.Namespace) -> int:
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


# ---------------------------------------------------------------------------------------------
# Registration


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``compose``, ``simulate`` and ``hosts`` to archlab's parser."""
    from archlab.cli import _add_client_options

    p = subparsers.add_parser(
        "compose", help="which service of a compose file runs on which host, and the fix",
        description="Read a docker-compose file (interpolation, build: with Dockerfiles, "
                    "platform: pins), fetch every image's manifests and predict, per service "
                    "and host, what Docker would do and print, with the smallest fix.",
        epilog=EPILOG_COMPOSE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="the compose file, e.g. docker-compose.yml")
    p.add_argument("--host", action="append", dest="hosts", metavar="NAME",
                   help="a host profile (repeatable; default: "
                        f"{' and '.join(DEFAULT_HOSTS)}; see `archlab hosts`)")
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
    _add_client_options(p)
    p.set_defaults(func=cmd_compose)

    s = subparsers.add_parser(
        "simulate", help="what docker pull/run/create would print on a host, and why",
        description="Fetch REF's manifests and configs, then predict Docker's output and exit "
                    "status on a host profile, with the rules that decide it.",
        epilog=EPILOG_SIMULATE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("ref", metavar="REF", help="image reference, e.g. 127.0.0.1:5000/lab/mysql:5.7")
    s.add_argument("--host", required=True, metavar="NAME", help="host profile (archlab hosts)")
    s.add_argument("--platform", metavar="P", help="the --platform (or compose platform:) value")
    s.add_argument("--command", choices=("pull", "run", "create", "compose"), default="run",
                   help="which Docker command to predict (default: run)")
    s.add_argument("--service", default="app", help="service name for --command compose")
    s.add_argument("--compose-version", metavar="V", help="for --command compose: the "
                   "compose version instead of the profile's")
    s.add_argument("--why", action=argparse.BooleanOptionalAction, default=True,
                   help="after the transcript, list the rules that fired (default: on)")
    s.add_argument("--json", action="store_true", help="print the whole prediction as JSON")
    _add_client_options(s)
    s.set_defaults(func=cmd_simulate)

    h = subparsers.add_parser("hosts", help="list the host profiles",
                              description="List host profiles: shipped, from your config "
                                          "directory, and from $ARCHLAB_HOSTS_DIR.")
    h.add_argument("--json", action="store_true", help="every field, as JSON")
    h.set_defaults(func=cmd_hosts)
