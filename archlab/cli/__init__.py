"""The ``archlab`` command line: one module per command, over the library.

How it is built
---------------
Every command is a thin shell around library functions: it parses, calls, prints. The library
never imports this package, and only this package prints or exits. Options that several
commands share (``--snapshot``, ``--trace``, ``--insecure``, ``--no-cache``) are defined once,
in :mod:`archlab.cli.options`; what reaches the terminal goes through
:mod:`archlab.cli.output`, which escapes control characters from untrusted text.

==================  ===========================================================================
module              command
==================  ===========================================================================
``inspect``         ``archlab inspect REF...``: a reference's manifests and platforms
``verify``          ``archlab verify REF...``: list entry, config and binary compared
``lab``             ``archlab lab up|status|down``: the local lab registry
``simulate``        ``archlab simulate REF --host H``: what Docker would print on a host
``compose``         ``archlab compose FILE``: the audit of a compose file, per service and host
``hosts``           ``archlab hosts``: the host profiles
``survey``          ``archlab survey FILE|REF...``: many references, a coverage table
``survey_merge``    ``archlab survey-merge PARTS... --out DIR``: the parts of a sharded survey
``tags``            ``archlab tags REPO``: every tag of a repository with its platforms
``history``         ``archlab history``: official images' platforms over time (shipped data)
``snapshot``        ``archlab snapshot record|show``: keep registry answers, replay them
``course``          ``archlab course [DIR]``: the notebooks, copied and opened in JupyterLab
==================  ===========================================================================

Exit codes
----------
====  =======================================================================================
code  meaning
====  =======================================================================================
0     success (``simulate``: a prediction was made, whatever Docker's own status would be)
1     a failure archlab explains in one line: ``archlab: <what was wrong and the fix>``
2     bad usage (argparse's own code)
3     ``archlab lab status``: the lab registry is not running (as a service's ``status``);
      ``archlab verify``: a label disagrees (4: an image would not start)
70    an unexpected error: ``archlab: internal error: ... (please report)``; ``--debug``
      prints the traceback too (70 is EX_SOFTWARE in BSD's sysexits.h)
130   interrupted (Ctrl-C)
141   stdout or stderr was closed early (``archlab survey ... | head``): nothing more is
      printed, as for a program that SIGPIPE stopped
====  =======================================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence

from archlab import __version__
from archlab.cli import (
    compose,
    course,
    history,
    hosts,
    inspect,
    lab,
    simulate,
    snapshot,
    survey,
    survey_merge,
    tags,
    verify,
)
from archlab.cli.options import UsageError
from archlab.cli.output import TerminalSafe, printable
from archlab.errors import ArchlabError

__all__ = ["build_parser", "main"]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_CLOSED_PIPE = 141

#: The subcommands, in the order ``archlab --help`` lists them.
COMMANDS: tuple[Callable[[argparse._SubParsersAction, argparse.ArgumentParser], None], ...] = (
    inspect.register, verify.register, lab.register, simulate.register, compose.register,
    hosts.register, survey.register, survey_merge.register, tags.register, history.register,
    snapshot.register, course.register,
)


def build_parser() -> argparse.ArgumentParser:
    """archlab's whole parser: global options, then one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="archlab",
        description="See, test and survey Docker's CPU-architecture behaviour: manifest lists "
                    "vs single-arch images, platform matching, emulation.",
    )
    parser.add_argument("--version", action="version", version=f"archlab {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an unexpected error, print the traceback too")
    # Also accepted after the command (`archlab survey ... --debug`); SUPPRESS keeps a value
    # given before the command when it is not repeated after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(sub, common)
    return parser


@contextlib.contextmanager
def _terminal_safe() -> Iterator[None]:
    """Escape control characters in everything printed while a command runs, and print the
    library's warnings as one line each (``archlab: warning: ...``)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalSafe(sys.stdout), TerminalSafe(sys.stderr)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # each distinct warning once
            warnings.showwarning = _show_warning
            yield
    finally:
        sys.stdout, sys.stderr = saved


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    _error(f"warning: {message}")


def _closed_pipe() -> int:
    # Python would report the failed flush at exit; point stdout at nothing instead.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_CLOSED_PIPE


def _error(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(f"archlab: {printable(text)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (see the table above). Never raises."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        with _terminal_safe():
            code = args.func(args)
            sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except ArchlabError as exc:
        _error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except OSError as exc:  # the machine said no: a file, a directory, a permission
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        return EXIT_FAILURE
    except Exception as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        first = (str(exc).splitlines() or [""])[0]
        _error(f"internal error: {type(exc).__name__}: {first} (please report it, with the "
               "command; --debug shows where it happened)")
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
