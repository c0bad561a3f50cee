"""Files people hand archlab, read within limits (issue 10): compose files, ``.env``,
replacement tables, Dockerfiles, host profiles and the lab's state file.

Each hostile input here used to raise a foreign exception (RecursionError, IsADirectoryError),
hang (a FIFO), or take memory without bound (a billion-laughs YAML file, a link to
/dev/zero); each is now one line naming the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tracemalloc
from pathlib import Path

import pytest

from archlab import limits
from archlab.compose import load_compose, load_replacements, read_env_file
from archlab.dockerfile import from_images
from archlab.errors import ComposeError, LabError
from archlab.hosts import load_host_file
from archlab.lab.instance import STATE_DIR_ENV, LabState, read_state

BILLION_LAUGHS = (
    "x-lol: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"x-{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n"
              for a, b in zip("abcdefgh", "bcdefghi", strict=True))
    + "services:\n  db:\n    image: mysql\n    environment: *i\n"
)
DEEP_YAML = "services: " + "[" * 10_000 + "\n"
# Each anchor merges the one before: SafeLoader is happy, compose's merge walker recursed once
# per link and raised RecursionError at about a thousand.
MERGE_CHAIN = "x-0: &m0 {image: mysql}\n" + "".join(
    f"x-{i}: &m{i} {{<<: *m{i - 1}}}\n" for i in range(1, 1200)) + (
    "services:\n  db:\n    <<: *m1199\n")


def special(path: Path, kind: str) -> Path:
    """Make ``path`` a FIFO, a link to /dev/zero or a directory."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    return path


KINDS = ["fifo", "dev-zero", "directory"]
KIND_WORDS = r"it is (a named pipe \(FIFO\)|a character device|a directory)"


# ---------------------------------------------------------------------------------------------
# Compose files


def test_compose_billion_laughs_is_one_line_in_bounded_memory(tmp_path: Path) -> None:
    f = tmp_path / "docker-compose.yml"
    f.write_text(BILLION_LAUGHS)
    tracemalloc.start()
    try:
        with pytest.raises(ComposeError) as info:
            load_compose(f, env={})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        f"{f}:5:6: expands to more than 100000 nodes once its aliases are followed (a 'billion "
        "laughs' document?); archlab reads no more")
    assert peak < 20 * limits.MiB  # the red team saw 5.8 GB


@pytest.mark.parametrize(("text", "where"), [
    (DEEP_YAML, "1:74: nests collections more than 64 deep"),
    (MERGE_CHAIN, "65:7: nests collections more than 64 deep once its aliases are followed"),
])
def test_compose_deep_yaml_is_one_line(tmp_path: Path, text: str, where: str) -> None:
    f = tmp_path / "docker-compose.yml"
    f.write_text(text)
    with pytest.raises(ComposeError, match=f"^{f}:{where}"):
        load_compose(f, env={})


@pytest.mark.parametrize("key", ["null", "true", "0x10", "!!binary aGVsbG8="])
def test_compose_service_names_yaml_reads_as_other_types(tmp_path: Path, key: str) -> None:
    # Found by benchmarks/fuzz_parsers.py: KeyError ('services', 'None') from the line index.
    f = tmp_path / "docker-compose.yml"
    f.write_text(f"services:\n  {key}:\n    image: busybox\n")
    (service,) = load_compose(f, env={}).services
    assert service.image == "busybox"


@pytest.mark.parametrize("kind", KINDS)
def test_compose_file_that_is_not_regular(tmp_path: Path, kind: str) -> None:
    f = special(tmp_path / "docker-compose.yml", kind)
    with pytest.raises(ComposeError, match=f"^{f}: cannot read the compose file: {KIND_WORDS}"):
        load_compose(f, env={})


def test_compose_file_too_big(tmp_path: Path) -> None:
    f = tmp_path / "docker-compose.yml"
    f.write_text("services: {}\n" + "#" * limits.MAX_YAML_BYTES)
    with pytest.raises(ComposeError, match=f"^{f}: the compose file is {limits.MAX_YAML_BYTES + 13}"
                       " bytes, more than the 1 MiB archlab reads"):
        load_compose(f, env={})


# ---------------------------------------------------------------------------------------------
# .env files


def test_env_file_with_a_bom(tmp_path: Path) -> None:
    # The BOM made the first key "\ufeffA", refused as not KEY=VALUE.
    f = tmp_path / ".env"
    f.write_bytes(b"\xef\xbb\xbfA=1\nB=2\n")
    assert read_env_file(f, {}) == {"A": "1", "B": "2"}


@pytest.mark.parametrize("kind", KINDS)
def test_env_file_that_is_not_regular(tmp_path: Path, kind: str) -> None:
    f = special(tmp_path / ".env", kind)
    with pytest.raises(ComposeError, match=f"^{f}: cannot read the env file: {KIND_WORDS}"):
        read_env_file(f, {})


def test_env_file_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_bytes(b"A=caf\xe9\n")
    with pytest.raises(ComposeError, match=r"\.env: is not UTF-8 text \(byte 0xe9 at offset 5, "
                       r"line 1\)"):
        read_env_file(f, {})


# ---------------------------------------------------------------------------------------------
# Replacement tables


@pytest.mark.parametrize(("text", "problem"), [
    ("replacements: " + "[" * 10_000, "nests collections more than 64 deep"),
    (BILLION_LAUGHS.replace("services:\n  db:\n    image: mysql\n    environment: *i\n",
                            "replacements: *i\n"), "expands to more than 100000 nodes"),
])
def test_hostile_replacements_file_is_one_line(tmp_path: Path, text: str, problem: str) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text(text)
    with pytest.raises(ComposeError, match=rf"^{f}:\d+:\d+: {problem}"):
        load_replacements([f])


@pytest.mark.parametrize("kind", KINDS)
def test_replacements_file_that_is_not_regular(tmp_path: Path, kind: str) -> None:
    f = special(tmp_path / "mine.yaml", kind)
    with pytest.raises(ComposeError):
        load_replacements([f])


# ---------------------------------------------------------------------------------------------
# Dockerfiles


def test_dockerfile_with_a_bom_keeps_its_first_from(tmp_path: Path) -> None:
    # BuildKit drops a leading BOM; dockerfile-parse kept it, and "\ufeffFROM" was no FROM.
    f = tmp_path / "Dockerfile"
    f.write_bytes(b"\xef\xbb\xbfFROM mysql:5.7\n")
    assert [x.image for x in from_images(f)] == ["mysql:5.7"]


def test_dockerfile_deep_exec_form_is_shell_form(tmp_path: Path) -> None:
    # RUN [[[[... made json.loads raise RecursionError; BuildKit reads it as shell form.
    f = tmp_path / "Dockerfile"
    f.write_text("FROM busybox\nRUN " + "[" * 5_000 + "\n")
    (stage,) = from_images(f)
    assert stage.runs[0].command == "/bin/sh -c " + "[" * 5_000


@pytest.mark.parametrize("ref", ["0" * 5000, "\u00b2"])
def test_dockerfile_copy_from_an_odd_stage_number(tmp_path: Path, ref: str) -> None:
    # Found by fuzzing: int() raised ValueError on 5000 digits and on "²" (a digit to isdigit).
    f = tmp_path / "Dockerfile"
    f.write_text(f"FROM a\nFROM b\nCOPY --from={ref} / /\n")
    assert [x.image for x in from_images(f)] == ["a", "b"]


def test_compose_v1_reads_a_deep_run_as_shell_form() -> None:
    # json.loads raised RecursionError on RUN [[[[... when compose 1.29's build was replayed.
    from archlab.compose_v1 import _exec_argv
    from archlab.dockerfile import parse_dockerfile

    (_, run) = parse_dockerfile("FROM busybox\nRUN " + "[" * 5_000 + "\n").instructions
    assert _exec_argv(run) == ["/bin/sh", "-c", "[" * 5_000]


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_dockerfile_that_is_not_regular(tmp_path: Path, kind: str) -> None:
    f = special(tmp_path / "Dockerfile", kind)
    with pytest.raises(ComposeError, match="Dockerfile"):
        from_images(f)


def test_dockerfile_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / "Dockerfile"
    f.write_bytes(b"FROM busybox\nLABEL a=caf\xe9\n")
    with pytest.raises(ComposeError, match=r"Dockerfile: is not UTF-8 text \(byte 0xe9 at offset "
                       r"24, line 2\)"):
        from_images(f)


# ---------------------------------------------------------------------------------------------
# Host profiles

HOST = """\
display_name: Test box
description: A host for tests.
daemon_platform: linux/arm64/v8
client_os: linux
native: [linux/arm64/v8]
engine: 20.10.12
image_store: graphdriver
runc: 1.0.2
"""


@pytest.mark.parametrize(("text", "problem"), [
    (HOST + "notes: " + "[" * 10_000 + "\n", "9:71: nests collections more than 64 deep"),
    (HOST.replace("display_name: Test box\n", BILLION_LAUGHS.split("services:")[0])
     + "notes: *i\n", r"\d+:\d+: expands to more than 100000 nodes"),
])
def test_hostile_host_profile_is_one_line(tmp_path: Path, text: str, problem: str) -> None:
    f = tmp_path / "box.yaml"
    f.write_text(text)
    with pytest.raises(LabError, match=f"^{f}:{problem}"):
        load_host_file(f)


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_host_profile_that_is_not_regular(tmp_path: Path, kind: str) -> None:
    f = special(tmp_path / "box.yaml", kind)
    with pytest.raises(LabError, match=f"^{f}: cannot read the host profile: {KIND_WORDS}"):
        load_host_file(f)


# ---------------------------------------------------------------------------------------------
# The lab's state file

STATE = LabState(pid=1234, port=5000, storage="/tmp/s", started_at="2026-01-01T00:00:00Z",
                 binary="/usr/bin/docker-registry", config="/tmp/c", log="/tmp/l", instance="abc")


@pytest.mark.parametrize("text", [
    '{"pid": ' + "[" * 100_000,  # json.loads raised RecursionError
    '{"pid": 1',
    "[]",
])
def test_damaged_lab_state_is_no_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       text: str) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    (tmp_path / "lab.json").write_text(json.dumps(dataclasses.asdict(STATE)))
    assert read_state() == STATE
    (tmp_path / "lab.json").write_text(text)
    assert read_state() is None


@pytest.mark.parametrize("kind", KINDS)
def test_lab_state_that_is_not_regular_is_no_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   kind: str) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    special(tmp_path / "lab.json", kind)
    assert read_state() is None
