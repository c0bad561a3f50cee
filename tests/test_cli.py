"""The command line as a whole: its package shape, its guard, and what reaches the terminal.

Each command's own behaviour is tested beside its library module (test_inspect, test_survey,
...); here are the rules every command shares.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import pytest

import archlab
from archlab import cli, compose
from archlab.cli import compose as cli_compose
from archlab.cli import hosts as cli_hosts
from archlab.cli.output import printable

REPO = Path(__file__).resolve().parents[1]
LAB_SNAPSHOT = REPO / "data" / "snapshots" / "lab"
BUSYBOX = "127.0.0.1:5000/lab/busybox:latest"


def _archlab(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archlab", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=120)


# ---------------------------------------------------------------------------------------------
# Package shape


def _imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_library_module_imports_the_command_line():
    package = Path(archlab.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        rel = path.relative_to(package)
        if rel.parts[0] == "cli" or rel.name == "__main__.py":
            continue
        if any(n == "archlab.cli" or n.startswith("archlab.cli.") for n in _imports_of(path)):
            offenders.append(str(rel))
    assert offenders == []


def test_every_command_has_its_own_module_and_examples_in_its_help():
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    for name, p in sub.choices.items():
        module = name.replace("-", "_")  # survey-merge lives in survey_merge.py
        assert (Path(cli.__file__).parent / f"{module}.py").is_file(), name
        assert p.description, name
    for name in ("inspect", "simulate", "compose", "survey", "snapshot", "lab"):
        assert "examples:" in sub.choices[name].epilog, name


def test_spelt_out_defaults_agree_with_the_library():
    assert " and ".join(compose.DEFAULT_HOSTS) == cli_compose.STORY_HOSTS_TEXT


def test_version_is_the_package_metadata():
    done = _archlab("--version")
    assert done.returncode == 0
    assert done.stdout == f"archlab {metadata.version('archlab')}\n"
    assert archlab.__version__ == metadata.version("archlab")


# ---------------------------------------------------------------------------------------------
# The guard: one line, always


def _crash(args):
    raise RuntimeError("a bug in archlab\nwith a second line")


def test_an_unexpected_error_is_one_line_and_exit_70(monkeypatch, capsys):
    monkeypatch.setattr(cli_hosts, "run", _crash)
    assert cli.main(["hosts"]) == 70
    err = capsys.readouterr().err
    assert err == ("archlab: internal error: RuntimeError: a bug in archlab (please report it, "
                   "with the command; --debug shows where it happened)\n")


@pytest.mark.parametrize("argv", [["--debug", "hosts"], ["hosts", "--debug"]])
def test_debug_adds_the_traceback(monkeypatch, capsys, argv):
    monkeypatch.setattr(cli_hosts, "run", _crash)
    assert cli.main(argv) == 70
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1].startswith("archlab: internal error: RuntimeError")


def test_a_library_warning_is_one_line(monkeypatch, capsys):
    def warn(args):
        warnings.warn("tag hints not saved in /x: read-only\nsecond line", RuntimeWarning,
                      stacklevel=1)
        return 0

    monkeypatch.setattr(cli_hosts, "run", warn)
    assert cli.main(["hosts"]) == 0
    assert capsys.readouterr().err == ("archlab: warning: tag hints not saved in /x: read-only\n"
                                       "second line\n")


def test_an_os_error_names_the_path(tmp_path, capsys):
    assert cli.main(["compose", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"archlab: {tmp_path}")
    # archlab.decoding finds the directory by fstat before any read: its words, not strerror's
    assert "is a directory" in err.lower()


def test_a_closed_pipe_exits_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # whatever archlab writes now meets EPIPE
    try:
        done = _archlab("hosts", stdout=write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


# ---------------------------------------------------------------------------------------------
# What reaches the terminal


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain, with tab\tand newline\n", "plain, with tab\tand newline\n"),
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
        ("hidden\rshown", "hidden\\rshown"),
        ("bell\x07 del\x7f c1\x9b", "bell\\x07 del\\x7f c1\\x9b"),
        ("abc\u202edcba", "abc\\u202edcba"),
        ("line\u2028separator", "line\\u2028separator"),
        ("✓ ✗ — ü", "✓ ✗ — ü"),
    ],
)
def test_printable_escapes_control_characters(text, shown):
    assert printable(text) == shown


def test_control_characters_in_input_are_escaped_when_echoed():
    evil = "127.0.0.1:5000/lab/\x1b[31mevil\x07"
    done = _archlab("inspect", "--snapshot", str(LAB_SNAPSHOT), evil)
    assert done.returncode == 1
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert done.stderr.startswith('archlab: invalid reference "127.0.0.1:5000/lab/\\x1b[31mevil'
                                  '\\x07"')


def test_inspect_prints_what_it_found_before_a_later_reference_fails():
    done = _archlab("inspect", "--snapshot", str(LAB_SNAPSHOT), BUSYBOX,
                    "127.0.0.1:5000/lab/nope:1")
    assert done.returncode == 1
    assert done.stdout.startswith(f"Name:      {BUSYBOX}\n")
    assert "Platform:    linux/arm64/v8" in done.stdout
    assert done.stderr.startswith("archlab: 127.0.0.1:5000/lab/nope:1: manifest not found")
    assert done.stderr.count("\n") == 1


def test_survey_refuses_an_unwritable_output_before_it_starts(tmp_path):
    missing = tmp_path / "no-such-dir" / "coverage.csv"
    done = _archlab("survey", "--snapshot", str(LAB_SNAPSHOT), "--no-progress", BUSYBOX,
                    "--out", str(missing))
    assert done.returncode == 2
    assert done.stdout == ""  # refused before the survey ran
    assert done.stderr == (f"archlab: {missing}: the directory {str(missing.parent)!r} does not "
                           "exist; create it first or choose another path\n")


# ---------------------------------------------------------------------------------------------
# archlab history: the shipped dataset from a shell


def test_history_answers_the_story_s_question_at_its_date(capsys):
    assert cli.main(["history", "mysql:5.7", "mysql:8.0", "--at", "2022-01-15", "--json"]) == 0
    rows = {r["ref"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["mysql:5.7"]["linux/amd64"], rows["mysql:5.7"]["linux/arm64"]) == (True, False)
    assert rows["mysql:5.7"]["snapshot"] <= "2022-01-15"


def test_history_names_what_it_does_not_hold(capsys):
    assert cli.main(["history", "mysql:5.7", "nosuch:1"]) == 1
    assert capsys.readouterr().err == ("archlab: not in the history: nosuch:1 (see `archlab "
                                       "history` for the image:tag pairs it holds)\n")
    assert cli.main(["history", "--timeline", "mysql"]) == 1
    assert capsys.readouterr().err == ("archlab: 'mysql': name an official image and tag, e.g. "
                                       "mysql:5.7\n")


def test_history_timeline_lists_snapshots_oldest_first(capsys):
    assert cli.main(["history", "--timeline", "mysql:5.7", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "date,n_platforms,platforms,source_repo"
    dates = [line.split(",")[0] for line in lines[1:]]
    assert dates == sorted(dates) and len(dates) >= 2


def test_snapshot_show_says_the_shipped_snapshot_is_verified_and_pinned(capsys):
    assert cli.main(["snapshot", "show", "lab"]) == 0
    second = capsys.readouterr().out.splitlines()[1]
    assert second.startswith("verified, root sha256:") and second.endswith(" (pinned)")


def test_tags_from_a_snapshot_without_tag_lists_does_not_deny_the_repository(capsys):
    """The shipped lab snapshot records manifests, not tag lists: the replay's 404 is no
    registry's "repository not found", and the message says how to record one."""
    assert cli.main(["tags", "127.0.0.1:5000/lab/mysql", "--snapshot", "lab"]) == 1
    assert capsys.readouterr().err == (
        "archlab: 127.0.0.1:5000/lab/mysql: the snapshot lab holds no tag list for this "
        "repository, which says nothing of the registry; a snapshot records one when made with "
        "`archlab snapshot record --tags` (--hub-tags for Docker Hub)\n")


def test_survey_names_the_formats_it_writes(tmp_path):
    done = _archlab("survey", "--snapshot", "lab", "--no-progress", BUSYBOX,
                    "--out", str(tmp_path / "coverage.xlsx"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"archlab: {tmp_path / 'coverage.xlsx'}: unknown output format "
                           ".xlsx; use .csv, .json, .parquet\n")
