"""``archlab lab up | status | down``: the lab registry from the command line.

::

    archlab lab up                      # start (detached) + push every scenario, print the table
    archlab lab up --port 5000 --storage ~/lab-data
    archlab lab up --foreground         # serve until Ctrl-C, then stop and forget it
    archlab lab status                  # running? where? which scenarios are there?
    archlab lab down                    # SIGTERM the registry we started, remove the state

=============  ========================================================================
command        exit code
=============  ========================================================================
``up``         0 pushed (started or reused); 1 archlab error (missing binary, port taken)
``status``     0 running and answering; 3 not running (as LSB init scripts' ``status``)
``down``       0 stopped, or nothing was running
=============  ========================================================================

The logic lives in :mod:`archlab.lab.instance`; this module only parses and prints.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from archlab import digests
from archlab.cli.options import command_group
from archlab.cli.output import text_table

if TYPE_CHECKING:  # the instance module pulls in httpx: imported only when a command runs
    import subprocess

    from archlab.lab.instance import LabState, UpResult

EXIT_NOT_RUNNING = 3

EPILOG = """\
examples:
  archlab lab up                 start the lab registry and push every scenario
  archlab inspect 127.0.0.1:PORT/lab/mysql:5.7 --platform linux/arm64
  archlab lab status
  archlab lab down

State: $ARCHLAB_STATE_DIR (default: the user state dir)/lab.json. Storage persists
(default: the user data dir/lab-registry), so a second `up` uploads nothing.
"""


def _platforms_text(texts: Sequence[str]) -> str:
    if len(texts) <= 2:
        return ", ".join(texts)
    return f"{len(texts)} platforms"


def cmd_up(args: argparse.Namespace) -> int:
    from archlab.lab import instance

    result = instance.up(port=args.port, storage=args.storage, binary=args.binary,
                         foreground=args.foreground)
    if result.process is None:
        _print_up(result)
        print("stop it with: archlab lab down")
        return 0
    try:
        _print_up(result)
        print("serving in the foreground; Ctrl-C stops it", flush=True)
    except BaseException:
        instance.stop_foreground(result.state, result.process)
        raise
    return _serve(result.state, result.process)


def _print_up(result: UpResult) -> None:
    st = result.state
    verb = "started" if result.started else "already running"
    print(f"lab registry {verb}: {st.url} (pid {st.pid})")
    print(f"storage: {st.storage}")
    print(f"log:     {st.log}")
    print()
    rows = [("REFERENCE", "KIND", "PLATFORMS", "DIGEST")]
    for s in result.scenarios:
        rows.append((s.ref(st.host), s.kind, _platforms_text(s.platform_texts),
                     digests.short(s.digest)))
    sys.stdout.write(text_table(rows))
    print()
    summary = result.summary
    print(f"pushed {summary.references} references in {summary.seconds:.2f} s: {summary.line()}")


def _serve(state: LabState, proc: subprocess.Popen) -> int:
    from archlab.lab import instance

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        code = proc.wait()
        if instance.read_state() != state:  # `archlab lab down` from elsewhere stopped it
            print("lab registry stopped by `archlab lab down`")
            return 0
        print(f"lab registry exited by itself (status {code}); see {state.log}", file=sys.stderr)
        instance.stop_foreground(state, proc)
        return 1
    except KeyboardInterrupt:
        instance.stop_foreground(state, proc)
        print("lab registry stopped")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_status(args: argparse.Namespace) -> int:
    from archlab.lab import instance

    st = instance.status()
    state = st.state
    if state is None:
        print("lab registry: not running (start it with: archlab lab up)")
        return EXIT_NOT_RUNNING
    if not st.running:
        print(f"lab registry: not running (stale state: pid {state.pid} is gone; "
              "`archlab lab up` restarts it on the same storage)")
        return EXIT_NOT_RUNNING
    health = "running" if st.answering else "running but not answering"
    print(f"lab registry: {health} (pid {state.pid})")
    print(f"url:       {state.url}")
    print(f"storage:   {state.storage}")
    print(f"started:   {state.started_at}")
    print(f"log:       {state.log}")
    if not st.answering:
        print("run `archlab lab down`, then `archlab lab up`")
        return 1
    print(f"scenarios: {st.present} of {len(st.scenarios)} present")
    print()
    rows = [("REFERENCE", "STATE", "DIGEST")]
    rows += [(s.ref(state.host), where, digests.short(s.digest)) for s, where in st.scenarios]
    sys.stdout.write(text_table(rows))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from archlab.lab import instance

    result = instance.down()
    state = result.state
    if result.outcome == "not-running":
        print("lab registry is not running")
    elif result.outcome == "stale" and state is not None:
        print(f"lab registry was not running (pid {state.pid} is not our docker-registry); "
              "removed its stale state")
    elif state is not None:
        how = (" (found by its config path: the state file lab.json was missing or damaged)"
               if result.found_without_state else "")
        print(f"lab registry stopped (pid {state.pid}, was {state.url}){how}")
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 1-65535")
    return port


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``lab`` and its subcommands to archlab's parser."""
    _, sub = command_group(
        subparsers, common, "lab", help="run the local lab registry with every scenario image",
        description="A real docker-registry on 127.0.0.1 holding the lab's scenario images "
                    "(busybox-like lists, single-arch images, amd64-only lists, OCI indexes "
                    "with attestations, a mislabelled image).",
        epilog=EPILOG, commands=("up", "status", "down"),
    )

    up = sub.add_parser("up", parents=[common],
                        help="start the registry (detached) and push every scenario",
                        description="Start Debian's docker-registry on 127.0.0.1 (or find it "
                                    "running) and push every lab scenario; blobs already "
                                    "there are not uploaded again.")
    up.add_argument("--port", type=_port, help="listen on this port (default: a free one)")
    up.add_argument("--storage", metavar="DIR",
                    help="registry data directory (default: the user data dir/lab-registry)")
    up.add_argument("--foreground", action="store_true",
                    help="stay attached; Ctrl-C stops the registry")
    up.add_argument("--binary", metavar="PATH",
                    help="the docker-registry executable (default: on PATH, else "
                         "/usr/bin/docker-registry)")
    up.set_defaults(func=cmd_up)

    status = sub.add_parser("status", parents=[common],
                            help="is the registry running, which scenarios it holds",
                            description="Show the lab registry's URL, storage and which "
                                        "scenarios it holds. Exit 3 when it is not running.")
    status.set_defaults(func=cmd_status)

    down = sub.add_parser("down", parents=[common],
                          help="stop the registry started by `lab up`",
                          description="SIGTERM the registry recorded in the state file (after "
                                      "checking /proc that the PID is still ours), then "
                                      "remove the state.")
    down.set_defaults(func=cmd_down)
