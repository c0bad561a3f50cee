"""Options several commands share, defined once: how to reach registries, where output goes.

=========================  ==================================================================
option                     meaning
=========================  ==================================================================
``--insecure HOST[:PORT]`` plain HTTP to this non-loopback registry (repeatable)
``--no-cache``             neither read nor write the on-disk content cache and tag hints
``--snapshot DIR|NAME``    answer from a recorded snapshot instead of the network
``--trace``                every HTTP exchange on stderr when the command ends
=========================  ==================================================================

:func:`open_registry` turns them into the :class:`~archlab.registry.RegistryClient` a command
uses, live or replaying, and prints the trace when the command is done, whether it succeeded
or not. :func:`check_output_path` refuses an output file that could not be written *before* a
long run starts, so that no result is lost at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from archlab import shipped
from archlab.cli.output import print_trace
from archlab.errors import ArchlabError

if TYPE_CHECKING:
    from archlab.registry import RegistryClient


class UsageError(ArchlabError):
    """A command line that cannot work as given; the CLI exits 2, as argparse does."""


def command_group(
    subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser, name: str, *,
    help: str, description: str, epilog: str, commands: Sequence[str],
) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """A command with subcommands (``archlab lab up``): the group's parser, and the action to
    add its subcommands to. The group alone prints its help on stderr and exits 2."""
    group = subparsers.add_parser(
        name, parents=[common], help=help, description=description, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = group.add_subparsers(dest=f"{name}_command", metavar="{" + ",".join(commands) + "}")

    def usage(args: argparse.Namespace) -> int:
        group.print_help(sys.stderr)
        return 2

    group.set_defaults(func=usage)
    return group, sub


def add_client_options(p: argparse.ArgumentParser) -> None:
    """``--insecure``, ``--no-cache``, ``--snapshot`` and ``--trace``, for commands that read
    registries."""
    p.add_argument("--insecure", action="append", default=[], metavar="HOST[:PORT]",
                   help="allow plain HTTP to this non-loopback registry (repeatable)")
    p.add_argument("--no-cache", action="store_true",
                   help="do not read or write the on-disk manifest cache")
    p.add_argument("--snapshot", metavar="DIR|NAME",
                   help="answer from a recorded snapshot instead of the network: a directory, "
                        "or the name of one archlab ships (lab: every lab image, layers "
                        "included); see "
                        "`archlab snapshot --help`")
    p.add_argument("--trace", action="store_true",
                   help="print every HTTP exchange (method, URL, status, key headers) to stderr")


def client_from_args(args: argparse.Namespace, **overrides: object) -> RegistryClient:
    """The registry client the common options ask for: live, or replaying ``--snapshot``."""
    kwargs: dict[str, object] = {"insecure": getattr(args, "insecure", [])}
    if getattr(args, "no_cache", False):
        kwargs.update(cache=False, tag_index=False)
    kwargs.update(overrides)
    if getattr(args, "snapshot", None):
        from archlab.lab.offline import load_with_lab_layers
        from archlab.snapshot import replay_client

        kwargs.pop("cache", None)
        kwargs.pop("tag_index", None)
        # The shipped lab snapshot holds no layers: they are rebuilt, so that what reads
        # them (verify) works offline too; any other snapshot is replayed as recorded.
        return replay_client(load_with_lab_layers(shipped.snapshot_path(args.snapshot)),
                             **kwargs)
    from archlab.registry import RegistryClient

    return RegistryClient(**kwargs)


@contextlib.contextmanager
def open_registry(args: argparse.Namespace, **overrides: object) -> Iterator[RegistryClient]:
    """The client of :func:`client_from_args`, traced to stderr on ``--trace``."""
    with client_from_args(args, **overrides) as reg, contextlib.ExitStack() as stack:
        if getattr(args, "trace", False):
            stack.callback(print_trace, stack.enter_context(reg.trace()))
        yield reg


def check_output_path(path: str | None, formats: Sequence[str]) -> None:
    """Raise :class:`UsageError` unless ``path`` can be written as one of ``formats``.

    Checked before the work starts: the suffix, and that the directory exists and takes a
    new file (found by creating and removing one there).
    """
    if path is None:
        return
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in formats:
        raise UsageError(f"{path}: unknown output format {suffix or '(none)'}; use "
                         + ", ".join(formats))
    folder = target.parent
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a directory"
        raise UsageError(f"{path}: the directory {str(folder)!r} {what}; create it first or "
                         "choose another path")
    if target.is_dir():
        raise UsageError(f"{path}: is a directory; name a file")
    if target.exists() and not os.access(target, os.W_OK):
        raise UsageError(f"{path}: exists and is not writable; choose another path")
    probe = folder / f".archlab-write-test-{os.getpid()}"
    try:
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{path}: cannot write in {str(folder)!r} ({exc.strerror}); choose "
                         "another path") from None
