"""``archlab simulate REF --host NAME``: what Docker would print on a host, and why.

It prints what ``docker run`` (or ``--command pull``, ``create``, ``compose``) would print on
that host, then ``(docker would exit with status N)`` and, unless ``--no-why``, the rules that
fired, each with its source. archlab's own exit status is 0 for a prediction made, whatever
Docker's would be. The logic lives in :mod:`archlab.simulate`.
"""

from __future__ import annotations

import argparse
import json
import sys

from archlab.cli.options import add_client_options, open_registry

EPILOG = """\
examples:
  archlab simulate 127.0.0.1:5000/lab/mysql:5.7 --host multipass-ubuntu-arm64
  archlab simulate 127.0.0.1:5000/lab/mysql:5.7 --host m1-desktop-4.3 --platform linux/x86_64
  archlab simulate 127.0.0.1:5000/lab/middleware --host m1-desktop-4.3 --command pull --no-why
"""


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``simulate`` to archlab's parser."""
    s = subparsers.add_parser(
        "simulate", parents=[common],
        help="what docker pull/run/create would print on a host, and why",
        description="Fetch REF's manifests and configs, then predict Docker's output and exit "
                    "status on a host profile, with the rules that decide it.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
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
    add_client_options(s)
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from archlab import simulate as sim
    from archlab.hosts import get_host

    host = get_host(args.host)
    with open_registry(args) as reg:
        facts = sim.gather_facts_sync(args.ref, reg,
                                      attestations=sim.selects_attestations(args.platform))
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
