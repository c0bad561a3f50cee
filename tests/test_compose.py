"""archlab.compose, archlab.dockerfile and their commands: interpolation, line-numbered errors,
FROM resolution, and the story's stack audited against a real lab registry.

The story's expectations (story.md, pull-semantics.md §7 rows 1, 4-6) are the reference: on the
M1 profile the pinned db runs under qemu and some-middleware runs emulated; on the Multipass
profile both die with runc 1.0.2's exec format error; db without its pin fails to pull on both;
redis and the api built FROM ruby run natively everywhere.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from archlab import cli
from archlab.compose import (
    AUDIT_COLUMNS,
    OUTCOMES,
    Replacement,
    audit,
    interpolate,
    load_compose,
    load_replacements,
    read_env_file,
)
from archlab.dockerfile import from_images
from archlab.errors import ComposeError
from archlab.lab import scenarios as sc
from archlab.lab.instance import lab_registry, push_scenarios
from archlab.reference import parse_reference

STORY = Path(__file__).resolve().parent.parent / "data" / "compose" / "story"
M1, VM = "m1-desktop-4.3", "multipass-ubuntu-arm64"
NO_MATCH = "no matching manifest for linux/arm64/v8 in the manifest list entries"
EXEC = "standard_init_linux.go:228: exec user process caused: exec format error"
CREATE_WARNING = ("The requested image's platform (linux/amd64) does not match the detected "
                  "host platform (linux/arm64/v8) and no specific platform was requested")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------
# Interpolation

ENV = {"A": "a", "E": "", "LAB": "127.0.0.1:5000"}


@pytest.mark.parametrize(("text", "expected"), [
    ("$A", "a"),
    ("${A}", "a"),
    ("x${A}y$A", "xaya"),
    ("${E}", ""),                      # set but empty: no error, no default
    ("${A:-d}", "a"),
    ("${E:-d}", "d"),                  # ':-' also replaces an empty value
    ("${U:-d}", "d"),
    ("${E-d}", ""),                    # '-' only replaces an unset one
    ("${U-d}", "d"),
    ("${U-}", ""),                     # an explicit empty default is fine
    ("${A:?boom}", "a"),
    ("${E?boom}", ""),                 # '?' accepts an empty value
    ("${A:+r}", "r"),
    ("${E:+r}", ""),
    ("${E+r}", "r"),
    ("${U+r}", ""),
    ("$$A", "$A"),                     # '$$' escapes
    ("$${A}", "${A}"),
    ("cost: $$5", "cost: $5"),
    ("${U:-${A}}", "a"),               # defaults nest
    ("${U:-x${U2:-$A}y}", "xay"),
    ("${LAB}/lab/mysql:5.7", "127.0.0.1:5000/lab/mysql:5.7"),
    ("no variables", "no variables"),
])
def test_interpolation(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("${U:?boom}", "required variable U is missing a value: boom"),
    ("${E:?need it}", "required variable E is missing a value: need it"),
    ("${U?}", "required variable U is missing a value"),
    ("${U}", 'variable "U" is not set and has no default, in \'${U}\'; set it in the '
             "environment or in .env, write ${U:-value}, or pass --allow-unset to use \"\" as "
             "compose does (compose only warns)"),
    ("$U", 'variable "U" is not set and has no default'),
    ("a$1", "invalid interpolation format in 'a$1': a '$' must be followed by a variable "
            "name or '{'; write '$$' for a literal '$'"),
    ("cost $", "a '$' must be followed by a variable name"),
    ("${A", "invalid interpolation format in '${A': '${A' has no closing '}'"),
    ("${-x}", "'${-x}' does not start with a variable name"),
    ("${A/x/y}", "after the name comes '}', ':-', '-', ':?', '?', ':+' or '+'"),
])
def test_interpolation_errors(text: str, message: str) -> None:
    with pytest.raises(ComposeError) as info:
        interpolate(text, ENV)
    assert message in str(info.value)
    if message.startswith(("required", "variable", "invalid")):
        assert str(info.value).startswith(message)


def test_allow_unset_substitutes_blank_and_reports_the_names() -> None:
    unset: list[str] = []
    got = interpolate("${U}/x/$V:${W:-w}", ENV, allow_unset=True, unset=unset)
    assert got == "/x/:w"
    assert unset == ["U", "V"]
    with pytest.raises(ComposeError, match="required variable U"):  # '?' stays an error
        interpolate("${U:?}", ENV, allow_unset=True)


def test_env_file_forms(tmp_path: Path) -> None:
    path = write(tmp_path / ".env", r"""
        # a comment
        PLAIN=value   # trailing comment
        export EXPORTED=yes
        SINGLE='$NOT ${EXPANDED}'
        DOUBLE="line\nnext ${PLAIN}"
        REF=${FROM_ENV}-${PLAIN}
        EMPTY=
        """)
    got = read_env_file(path, {"FROM_ENV": "env"})
    assert got == {"PLAIN": "value", "EXPORTED": "yes", "SINGLE": "$NOT ${EXPANDED}",
                   "DOUBLE": "line\nnext value", "REF": "env-value", "EMPTY": ""}


def test_env_file_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / ".env", "A=1\nthis is not an assignment\n")
    with pytest.raises(ComposeError) as info:
        read_env_file(path)
    assert str(info.value) == f"{path}:2: expected KEY=VALUE, got 'this is not an assignment'"


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    write(tmp_path / ".env", "REG=dotenv.example:5000\nTAG=from-dotenv\n")
    compose = write(tmp_path / "docker-compose.yml", """
        services:
          app:
            image: ${REG}/team/app:${TAG}
            platform: ${PIN:-linux/amd64}
        """)
    project = load_compose(compose, env={"REG": "env.example:5000"})
    app = project.service("app")
    assert app.image == "env.example:5000/team/app:from-dotenv"
    assert app.image_raw == "${REG}/team/app:${TAG}"
    assert app.platform == "linux/amd64"
    assert project.env_file == tmp_path / ".env"
    # --env-file replaces .env
    other = write(tmp_path / "other.env", "REG=other.example\nTAG=2\n")
    assert load_compose(compose, env={}, env_file=other).service("app").image == \
        "other.example/team/app:2"


def test_lines_and_build_sections(tmp_path: Path) -> None:
    compose = write(tmp_path / "c.yml", """
        x-base: &base
          platform: linux/arm64
        services:
          web:
            <<: *base
            build: ./web
          worker:
            build:
              context: ./w
              dockerfile: docker/Worker.dockerfile
              args:
                A: 1
                FLAG: true
                FROM_ENV:
              target: prod
            image: team/worker:dev
        """)
    project = load_compose(compose, env={"FROM_ENV": "e"})
    web, worker = project.services
    assert (web.line, web.platform, web.platform_line) == (4, "linux/arm64", 2)
    assert web.build is not None and web.build.context == tmp_path / "web"
    assert web.build.dockerfile == tmp_path / "web" / "Dockerfile"
    assert worker.line == 7 and worker.image_line == 16
    assert worker.build is not None
    assert worker.build.dockerfile == tmp_path / "w" / "docker" / "Worker.dockerfile"
    assert dict(worker.build.args) == {"A": "1", "FLAG": "true", "FROM_ENV": "e"}
    assert (worker.build.target, worker.build.line) == ("prod", 8)


# ---------------------------------------------------------------------------------------------
# Errors: one line, file and line, exit 1


def test_yaml_error_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "docker-compose.yml", """
        services:
          db:
            image: mysql:5.7
             platform: linux/amd64
        """)
    code, out, err = run_cli(capsys, "compose", str(bad))
    assert (code, out) == (1, "")
    assert err == f"archlab: {bad}:4:14: mapping values are not allowed here\n"


def test_missing_dockerfile_through_the_cli(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    compose = write(tmp_path / "docker-compose.yml", """
        services:
          db:
            image: mysql:5.7
          api:
            build:
              context: ./api
              dockerfile: Dockerfile.dev
        """)
    (tmp_path / "api").mkdir()
    code, out, err = run_cli(capsys, "compose", str(compose))
    assert (code, out) == (1, "")
    assert err == (f"archlab: {compose}:5: service \"api\" (build context './api', dockerfile "
                   f"'Dockerfile.dev'): Dockerfile not found: {tmp_path / 'api' / 'Dockerfile.dev'}"
                   " does not exist\n")


def test_unset_variable_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARCHLAB_TEST_REGISTRY", raising=False)
    compose = write(tmp_path / "docker-compose.yml", """
        services:
          db:
            platform: linux/x86_64
            image: ${ARCHLAB_TEST_REGISTRY}/lab/mysql:5.7
        """)
    code, out, err = run_cli(capsys, "compose", str(compose))
    assert (code, out) == (1, "")
    assert err == (
        f'archlab: {compose}:4: variable "ARCHLAB_TEST_REGISTRY" is not set and has no default, '
        "in '${ARCHLAB_TEST_REGISTRY}/lab/mysql:5.7'; set it in the environment or in .env, "
        "write ${ARCHLAB_TEST_REGISTRY:-value}, or pass --allow-unset to use \"\" as compose "
        "does (compose only warns)\n"
    )


def test_allow_unset_warns_like_compose_then_fails_on_the_empty_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # What compose would do: warn, substitute "", and send "/lab/mysql:5.7" to the registry.
    monkeypatch.delenv("ARCHLAB_TEST_REGISTRY", raising=False)
    compose = write(tmp_path / "docker-compose.yml", """
        services:
          db:
            image: ${ARCHLAB_TEST_REGISTRY}/lab/mysql:5.7
        """)
    code, _out, err = run_cli(capsys, "compose", str(compose), "--allow-unset")
    assert code == 1
    warning, error = err.splitlines()
    assert warning == (f'archlab: warning: {compose}:3: The "ARCHLAB_TEST_REGISTRY" variable is '
                       "not set. Defaulting to a blank string.")
    assert error.startswith(f'archlab: {compose}:3: service "db": invalid reference '
                            '"/lab/mysql:5.7"')


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  db:\n    image: a\n  db:\n    image: b\n",
     "{f}:4: mapping key 'db' already defined at line 2"),
    ("services:\n  db:\n    platform: linux/amd64\n",
     '{f}:2: service "db" has neither an image nor a build context specified'),
    ("services:\n  db: mysql\n", "{f}:2: service \"db\" must be a mapping, got str"),
    ("version: '3'\n", "{f}:1: 'services:' must be a mapping of service names to their "
                       "definitions"),
    ("", "{f}:1: the file is empty; a compose file needs a 'services:' mapping"),
    ("services:\n  db:\n    image: \"${A:-x}\n", "{f}:4:1: found unexpected end of stream"),
    ("services:\n  db:\n    image: 5\n", '{f}:3: service "db": image must be a string, got int'),
    ("services:\n  db:\n    image: a\n    platform: 64\n",
     '{f}:4: service "db": platform must be a string, got int'),
    ("services:\n  db:\n    image: Mysql:5.7\n",
     '{f}:3: service "db": invalid reference "Mysql:5.7": '),
    ("services:\n  db:\n    image: ${NEED:?set NEED first}\n",
     "{f}:3: required variable NEED is missing a value: set NEED first"),
])
def test_compose_errors(tmp_path: Path, text: str, message: str,
                        capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "docker-compose.yml"
    f.write_text(text)
    code, out, err = run_cli(capsys, "compose", str(f), "--host", M1)
    assert (code, out) == (1, "")
    assert err.startswith("archlab: " + message.format(f=f))
    assert err.count("\n") == 1


def test_missing_compose_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(capsys, "compose", str(tmp_path / "nope.yml"))
    assert (code, err) == (1, f"archlab: {tmp_path / 'nope.yml'}: no such compose file\n")


# ---------------------------------------------------------------------------------------------
# Dockerfile FROM resolution


def froms(tmp_path: Path, text: str, args: dict[str, str] | None = None, **kw):
    path = write(tmp_path / "Dockerfile", text)
    return [(f.kind, f.image, f.name, f.source_stage, f.final, f.needed)
            for f in from_images(path, args, **kw)]


@pytest.mark.parametrize(("text", "args", "kw", "expected"), [
    ("FROM alpine:3.19\n", None, {}, [("image", "alpine:3.19", None, None, True, True)]),
    # ARG before FROM: its default, a build arg overriding it, an undeclared build arg ignored
    ("ARG TAG=3.19\nFROM alpine:${TAG}\n", None, {},
     [("image", "alpine:3.19", None, None, True, True)]),
    ("ARG TAG=3.19\nFROM alpine:$TAG\n", {"TAG": "3.18"}, {},
     [("image", "alpine:3.18", None, None, True, True)]),
    ("ARG TAG=1\nFROM x:$TAG\n", {"OTHER": "2"}, {}, [("image", "x:1", None, None, True, True)]),
    ("ARG B\nFROM ${B:-alpine}\n", None, {}, [("image", "alpine", None, None, True, True)]),
    ("ARG REG=r.example\nARG IMG=${REG}/base\nFROM $IMG\n", {"REG": "q.example"}, {},
     [("image", "q.example/base", None, None, True, True)]),
    # an ARG declared after FROM is not visible to a later FROM
    ("FROM a\nARG T=1\nFROM b:${T:-none}\n", None, {},
     [("image", "a", None, None, False, False), ("image", "b:none", None, None, True, True)]),
    # multi-stage: COPY --from makes the builder needed
    ("FROM golang:1.21 AS build\nRUN go build\nFROM alpine\nCOPY --from=build /x /x\n", None, {},
     [("image", "golang:1.21", "build", None, False, True),
      ("image", "alpine", None, None, True, True)]),
    # FROM <stage> is not an image; an unused stage is not needed
    ("FROM node AS base\nFROM base AS test\nRUN npm test\nFROM base\n", None, {},
     [("image", "node", "base", None, False, True), ("stage", None, "test", 0, False, False),
      ("stage", None, None, 0, True, True)]),
    # stage names are case-insensitive; a stage named later is still an image here
    ("FROM alpine AS Builder\nFROM builder\n", None, {},
     [("image", "alpine", "builder", None, False, True), ("stage", None, None, 0, True, True)]),
    ("FROM base\nFROM alpine AS base\n", None, {},
     [("image", "base", None, None, False, False), ("image", "alpine", "base", None, True, True)]),
    # scratch pulls nothing; COPY --from by index
    ("FROM busybox\nFROM scratch\nCOPY --from=0 /bin/busybox /\n", None, {},
     [("image", "busybox", None, None, False, True), ("scratch", None, None, None, True, True)]),
    # target= picks the final stage
    ("FROM golang AS build\nFROM alpine AS run\n", None, {"target": "BUILD"},
     [("image", "golang", "build", None, True, True), ("image", "alpine", "run", None, False,
                                                       False)]),
    # BuildKit's automatic platform ARGs
    ("FROM ${TARGETARCH}/ruby:${TARGETVARIANT:-plain}\n", None,
     {"target_platform": "linux/arm64/v8", "build_platform": "linux/amd64"},
     [("image", "arm64/ruby:v8", None, None, True, True)]),
])
def test_from_resolution(tmp_path: Path, text, args, kw, expected) -> None:
    assert froms(tmp_path, text, args, **kw) == expected


@pytest.mark.parametrize(("line", "kw", "flag", "platform", "var"), [
    ("FROM --platform=$BUILDPLATFORM golang AS b", {"build_platform": "linux/amd64"},
     "$BUILDPLATFORM", "linux/amd64", "BUILDPLATFORM"),
    ("FROM --platform=${BUILDPLATFORM} golang", {}, "${BUILDPLATFORM}", "", "BUILDPLATFORM"),
    ("FROM --platform=$TARGETPLATFORM golang", {"target_platform": "linux/arm64"},
     "$TARGETPLATFORM", "linux/arm64", "TARGETPLATFORM"),
    ("FROM --platform=linux/amd64 golang", {}, "linux/amd64", "linux/amd64", None),
    ("FROM golang", {}, None, None, None),
])
def test_from_platform_flag(tmp_path: Path, line, kw, flag, platform, var) -> None:
    (f,) = from_images(write(tmp_path / "Dockerfile", line + "\n"), **kw)
    assert (f.platform_flag, f.platform, f.platform_var, f.image) == (flag, platform, var,
                                                                      "golang")


def test_run_steps_as_the_builder_quotes_them(tmp_path: Path) -> None:
    path = write(tmp_path / "Dockerfile", """
        FROM ruby
        RUN bundle install
        RUN ["make", "all"]
        RUN --mount=type=cache,target=/root/.cache pip install x
        RUN apt-get update \\
            && apt-get install -y git
        """)
    (f,) = from_images(path)
    assert [(r.line, r.command) for r in f.runs] == [
        (2, "/bin/sh -c bundle install"),
        (3, "make all"),
        (4, "/bin/sh -c pip install x"),
        (5, "/bin/sh -c apt-get update     && apt-get install -y git"),
    ]


@pytest.mark.parametrize(("text", "kw", "message"), [
    ("ARG B\nFROM ${B}\n", {}, "{p}:2: base name (${{B}}) should not be blank"),
    ("FROM a AS x\n", {"target": "prod"},
     "{p}: failed to reach build target prod in Dockerfile (stages: x)"),
    ("RUN echo\nFROM a\n", {}, "{p}:1: RUN before the first FROM"),
    ("FROM a b\n", {}, "{p}:1: FROM requires either one or three arguments"),
    ("FROM a AS 1x\n", {}, "{p}:1: invalid name for build stage: '1x'"),
    ("FROM a AS x\nFROM b AS x\n", {}, "{p}:2: duplicate stage name 'x'"),
    ("# only a comment\n", {}, "{p}: no FROM instruction"),
])
def test_dockerfile_errors(tmp_path: Path, text: str, kw, message: str) -> None:
    path = write(tmp_path / "Dockerfile", text)
    with pytest.raises(ComposeError) as info:
        from_images(path, **kw)
    assert str(info.value).startswith(message.format(p=path))


def test_missing_dockerfile_names_who_asked(tmp_path: Path) -> None:
    with pytest.raises(ComposeError) as info:
        from_images(tmp_path / "Dockerfile", referenced_from="c.yml:5: service \"api\"")
    assert str(info.value) == (f'c.yml:5: service "api": Dockerfile not found: '
                               f"{tmp_path / 'Dockerfile'} does not exist")


# ---------------------------------------------------------------------------------------------
# Replacements


@pytest.mark.parametrize(("entry", "ref", "expected"), [
    (("mysql", "mariadb:latest"), "mysql:5.7", "docker.io/library/mariadb:latest"),
    (("mysql", "mariadb:latest"), "docker.io/library/mysql:8.0",
     "docker.io/library/mariadb:latest"),
    (("mysql", "mariadb:latest"), "mirror.example/library/mysql:5.7",
     "mirror.example/library/mariadb:latest"),
    (("lab/mysql", "lab/mariadb:latest"), "127.0.0.1:5000/lab/mysql:5.7",
     "127.0.0.1:5000/lab/mariadb:latest"),
    (("lab/mysql", "lab/mariadb:latest"), "127.0.0.1:5000/lab/mariadb:5.7", None),
    (("reg.example/team/db", "mariadb:11"), "reg.example/team/db:1",
     "docker.io/library/mariadb:11"),
    (("reg.example/team/db", "mariadb:11"), "other.example/team/db:1", None),
])
def test_replacement_matching(entry, ref, expected) -> None:
    rep = Replacement(*entry)
    r = parse_reference(ref)
    assert (str(rep.apply(r)) if rep.matches(r) else None) == expected


def test_replacements_user_file_comes_first(tmp_path: Path) -> None:
    mine = write(tmp_path / "mine.yaml", """
        replacements:
          - {image: mysql, use: percona:8, why: mine}
        """)
    table = load_replacements([mine])
    first = next(r for r in table if r.matches(parse_reference("mysql:5.7")))
    assert (first.use, first.why) == ("percona:8", "mine")
    assert any(r.use == "mariadb:latest" for r in table)  # the shipped entry is still there
    bad = write(tmp_path / "bad.yaml", "replacements:\n  - {image: mysql}\n")
    with pytest.raises(ComposeError, match=r"bad.yaml: replacements\[0\]: needs 'image' and"):
        load_replacements([bad])


# ---------------------------------------------------------------------------------------------
# The story's stack against a real lab registry

LAB_SCENARIOS = ["mysql", "mariadb", "redis", "ruby", "middleware"]


@pytest.fixture(scope="module")
def lab(registry_binary):
    with lab_registry(LAB_SCENARIOS, oci=False, binary=registry_binary) as running:
        yield running


@pytest.fixture
def client(lab):
    with lab.client() as reg:
        yield reg


def story_copy(tmp_path: Path, edit=None) -> Path:
    """The shipped story directory, copied (and its compose file edited) under tmp_path."""
    dest = tmp_path / "story"
    shutil.copytree(STORY, dest)
    compose = dest / "docker-compose.yml"
    if edit is not None:
        compose.write_text(edit(compose.read_text()))
    return compose


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the first line of ``path`` that starts with ``text``."""
    lines = path.read_text().splitlines()
    return next(n for n, ln in enumerate(lines, 1) if ln.startswith(text))


def table(frame) -> dict[tuple[str, str], dict]:
    return {(r["service"], r["host"]): r for r in frame.to_dict("records")}


def test_story_stack_gives_the_articles_outcomes(lab, client) -> None:
    project = load_compose(STORY / "docker-compose.yml", env={"LAB": lab.host})
    frame = audit(project, [M1, VM], client=client)
    assert list(frame.columns) == list(AUDIT_COLUMNS)
    assert set(frame["outcome"]) <= set(OUTCOMES)
    got = {k: (r["outcome"], r["message"]) for k, r in table(frame).items()}
    assert got == {
        ("db", M1): ("runs-emulated", ""),
        ("db", VM): ("exec-format-error", EXEC),
        ("redis", M1): ("runs-native", ""),
        ("redis", VM): ("runs-native", ""),
        ("api", M1): ("runs-native", ""),
        ("api", VM): ("runs-native", ""),
        ("some-middleware", M1): ("runs-emulated", ""),
        ("some-middleware", VM): ("exec-format-error", EXEC),
    }
    rows = table(frame)
    # compose 2.2.1 does not print the engine's create warning, but the engine gives it
    assert rows[("some-middleware", M1)]["warning"] == CREATE_WARNING
    assert rows[("db", M1)]["warning"] == ""  # the pin makes create ask for linux/amd64
    assert rows[("api", M1)]["action"] == "build"
    assert rows[("api", M1)]["image"] == f"{lab.host}/lab/ruby:latest"
    assert rows[("db", VM)]["platform"] == "linux/x86_64"
    assert rows[("db", VM)]["exit_code"] == 1
    compose = STORY / "docker-compose.yml"
    db, image, pin = (line_of(compose, t) for t in ("  db:", "    image: ${LAB}/lab/mysql",
                                                     "    platform: linux/x86_64"))
    assert rows[("db", VM)]["line"] == db
    # what to do about it
    kinds = {k: r["suggestion_kind"] for k, r in rows.items()}
    assert kinds == {("db", M1): "", ("db", VM): "replace", ("redis", M1): "",
                     ("redis", VM): "", ("api", M1): "", ("api", VM): "",
                     ("some-middleware", M1): "", ("some-middleware", VM): "emulate"}
    assert rows[("db", VM)]["suggestion"].startswith(
        f'image: ${{LAB}}/lab/mariadb:latest ({compose}:{image}), and remove "platform: '
        f'linux/x86_64" ({compose}:{pin}): {lab.host}/lab/mariadb:latest has linux/arm64/v8')
    assert "tonistiigi/binfmt --install amd64" in rows[("some-middleware", VM)]["suggestion"]


def test_story_db_without_the_pin_fails_to_pull_on_both(lab, client, tmp_path: Path) -> None:
    compose = story_copy(tmp_path, lambda t: t.replace("    platform: linux/x86_64\n", ""))
    frame = audit(load_compose(compose, env={"LAB": lab.host}), [M1, VM], client=client)
    rows = table(frame)
    for host in (M1, VM):
        r = rows[("db", host)]
        assert (r["outcome"], r["message"], r["exit_code"]) == ("pull-error", NO_MATCH, 1)
        assert r["transcript"][-1] == NO_MATCH
    # M1 emulates amd64: pin it. The VM does not: switch to mariadb.
    assert rows[("db", M1)]["suggestion_kind"] == "pin"
    assert rows[("db", M1)]["suggestion"] == (f"platform: linux/amd64 (add to service \"db\", "
                                             f"{compose}:{line_of(compose, '  db:')}): this "
                                             "host runs linux/amd64 under qemu")
    assert rows[("db", VM)]["suggestion_kind"] == "replace"
    assert rows[("db", VM)]["suggestion"].startswith(
        f"image: ${{LAB}}/lab/mariadb:latest ({compose}:{line_of(compose, '    image: ${LAB}')}):")


def test_a_pin_on_an_image_that_now_has_arm64_should_go(lab, client, tmp_path: Path) -> None:
    compose = story_copy(tmp_path, lambda t: t.replace("lab/mysql:5.7", "lab/mariadb:latest")
                         .replace("linux/x86_64", "linux/amd64"))
    rows = table(audit(load_compose(compose, env={"LAB": lab.host}), [M1, VM], client=client))
    assert rows[("db", M1)]["outcome"] == "runs-emulated"  # the pin forces the amd64 entry
    assert rows[("db", VM)]["outcome"] == "exec-format-error"
    for host in (M1, VM):
        assert rows[("db", host)]["suggestion_kind"] == "drop-pin"
        assert rows[("db", host)]["suggestion"] == (
            f'remove "platform: linux/amd64" ({compose}:{line_of(compose, "    platform:")}): '
            f"{lab.host}/lab/mariadb:latest now has linux/arm64/v8, which this host runs "
            "natively")


@pytest.mark.parametrize("survey", [True, False], ids=["survey.nearest_tag", "own-search"])
def test_a_tag_with_the_hosts_architecture(registry_binary, tmp_path: Path, survey: bool,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    if not survey:  # archlab.survey unavailable: compose searches the tags itself
        monkeypatch.setitem(sys.modules, "archlab.survey", None)
    # lab/middleware:arm64 is the armonly image pushed under the middleware repository.
    with lab_registry(["middleware"], oci=False, binary=registry_binary) as small:
        arm = replace(sc.get("armonly"), repository="lab/middleware", tag="arm64")
        push_scenarios(small.host, [arm])
        compose = write(tmp_path / "docker-compose.yml", """
            services:
              some-middleware:
                image: ${LAB}/lab/middleware:latest
            """)
        project = load_compose(compose, env={"LAB": small.host})
        with small.client() as reg:
            rows = table(audit(project, [VM], client=reg))
            bounded = table(audit(project, [VM], client=reg, max_tag_lookups=0))
    r = rows[("some-middleware", VM)]
    assert (r["outcome"], r["suggestion_kind"]) == ("exec-format-error", "tag")
    assert r["suggestion"] == (f"image: ${{LAB}}/lab/middleware:arm64 ({compose}:3): tag arm64 "
                               "of the same image has linux/arm64/v8")
    assert bounded[("some-middleware", VM)]["suggestion_kind"] == "emulate"


def build_project(tmp_path: Path, lab, dockerfile: str, platform: str | None = None):
    write(tmp_path / "app" / "Dockerfile", dockerfile)
    pin = f"    platform: {platform}\n" if platform else ""
    compose = write(tmp_path / "docker-compose.yml",
                    "services:\n  app:\n    build:\n      context: ./app\n"
                    "      args: {LAB: \"${LAB}\"}\n" + pin)
    return load_compose(compose, env={"LAB": lab.host})


def test_build_from_a_list_without_arm64(lab, client, tmp_path: Path) -> None:
    project = build_project(tmp_path, lab, "ARG LAB\nFROM ${LAB}/lab/mysql:5.7\nRUN make\n")
    rows = table(audit(project, [M1, VM], client=client))
    vm, m1 = rows[("app", VM)], rows[("app", M1)]
    # compose 1.25 builds with the classic builder: the daemon pulls FROM, with its own text
    assert (vm["outcome"], vm["message"]) == ("build-fails", NO_MATCH)
    dockerfile = tmp_path / "app" / "Dockerfile"
    assert vm["suggestion"].startswith(f"FROM ${{LAB}}/lab/mariadb:latest ({dockerfile}:2): ")
    # compose 2.2.1 builds with BuildKit, which words it its own way (issue reports, 2021)
    assert m1["outcome"] == "build-fails"
    assert m1["message"].startswith("failed to solve with frontend dockerfile.v0: failed to "
                                    "create LLB definition: no match for platform in manifest "
                                    "sha256:")
    assert m1["approximate"]
    assert (m1["suggestion_kind"], m1["suggestion"].split(" (")[0]) == ("pin",
                                                                         "platform: linux/amd64")


@pytest.mark.parametrize(("flag", "outcome", "message"), [
    # the tools stage is pulled for the builder (arm64): its RUN is native; the final amd64
    # image then fails at run time
    ("--platform=$BUILDPLATFORM ", "exec-format-error", EXEC),
    # without the flag the tools stage is amd64 too, and its RUN fails during the build
    ("", "build-fails", EXEC),
])
def test_buildplatform_keeps_build_steps_native(lab, client, tmp_path: Path, flag, outcome,
                                                message) -> None:
    project = build_project(tmp_path, lab, f"ARG LAB\nFROM {flag}${{LAB}}/lab/mariadb AS tools\n"
                                           "RUN make\nFROM ${LAB}/lab/ruby\n",
                            platform="linux/amd64")
    r = table(audit(project, [VM], client=client))[("app", VM)]
    assert (r["outcome"], r["message"]) == (outcome, message)
    if outcome == "build-fails":
        assert r["transcript"][-1] == "The command '/bin/sh -c make' returned a non-zero code: 1"


def test_build_on_a_single_arch_base(lab, client, tmp_path: Path) -> None:
    project = build_project(tmp_path, lab, "ARG LAB\nFROM ${LAB}/lab/middleware\nRUN setup\n")
    rows = table(audit(project, [M1, VM], client=client))
    assert rows[("app", M1)]["outcome"] == "runs-emulated"  # RUN and the container under qemu
    vm = rows[("app", VM)]
    assert (vm["outcome"], vm["message"]) == ("build-fails", EXEC)
    # compose 1.25 on the classic builder: the RUN's stderr in red, then compose's own lines
    assert f"\x1b[91m{EXEC}" in vm["transcript"]
    assert vm["transcript"][-2:] == ("The command '/bin/sh -c setup' returned a non-zero code: 1",
                                     "Service 'app' failed to build : Build failed")


def test_unreachable_image_is_a_registry_error_row(lab, client, tmp_path: Path) -> None:
    compose = write(tmp_path / "docker-compose.yml",
                    "services:\n  ghost:\n    image: ${LAB}/lab/ghost:1\n")
    rows = table(audit(load_compose(compose, env={"LAB": lab.host}), [M1], client=client))
    assert rows[("ghost", M1)]["outcome"] == "registry-error"
    assert "lab/ghost" in rows[("ghost", M1)]["message"]


# ---------------------------------------------------------------------------------------------
# The commands


def test_compose_command_table_and_json(lab, capsys, monkeypatch) -> None:
    monkeypatch.setenv("LAB", lab.host)
    code, out, err = run_cli(capsys, "compose", str(STORY / "docker-compose.yml"), "--no-cache")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["SERVICE", "HOST", "OUTCOME", "MESSAGE"]
    assert any(ln.split()[:3] == ["db", VM, "exec-format-error"] and ln.endswith(EXEC)
               for ln in lines)
    assert any("fix (replace): image: ${LAB}/lab/mariadb:latest" in ln for ln in lines)
    code, out, _ = run_cli(capsys, "compose", str(STORY / "docker-compose.yml"), "--host", VM,
                           "--json", "--no-cache")
    records = json.loads(out)
    assert code == 0 and {r["host"] for r in records} == {VM}
    assert {r["service"]: r["outcome"] for r in records} == {
        "db": "exec-format-error", "redis": "runs-native", "api": "runs-native",
        "some-middleware": "exec-format-error"}


def test_compose_command_offline_from_the_shipped_snapshot(capsys, monkeypatch) -> None:
    # data/snapshots/lab was recorded from a lab at 127.0.0.1:5000, which the story's .env names.
    monkeypatch.delenv("LAB", raising=False)
    snapshot = STORY.parent.parent / "snapshots" / "lab"
    code, out, _ = run_cli(capsys, "compose", str(STORY / "docker-compose.yml"), "--snapshot",
                           str(snapshot), "--csv")
    assert code == 0
    header = out.splitlines()[0].split(",")
    assert header == list(AUDIT_COLUMNS)
    assert f"some-middleware,{VM},127.0.0.1:5000/lab/middleware:latest" in out


def test_simulate_command_prints_docker_then_why(lab, capsys) -> None:
    ref = lab.ref("mysql")
    code, out, err = run_cli(capsys, "simulate", ref, "--host", VM, "--no-cache")
    assert (code, err) == (0, "")
    assert out.splitlines()[:5] == [
        f"Unable to find image '{ref}' locally",
        "5.7: Pulling from lab/mysql",
        f"docker: {NO_MATCH}.",
        "See 'docker run --help'.",
        "(docker would exit with status 125)",
    ]
    assert "moby@v20.10.12:distribution/pull_v2.go#L833-846" in out
    code, out, _ = run_cli(capsys, "simulate", ref, "--host", M1, "--platform", "linux/x86_64",
                           "--command", "pull", "--no-why", "--no-cache")
    assert code == 0
    assert out.splitlines()[0] == "5.7: Pulling from lab/mysql"
    assert out.splitlines()[-2:] == [ref, "(docker would exit with status 0)"]


def test_hosts_command(capsys) -> None:
    code, out, _ = run_cli(capsys, "hosts")
    assert code == 0
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines()[1:]}
    assert rows[M1][1:5] == ["linux/arm64/v8", "20.10.11", "2.2.1", "1.0.2"]
    assert rows[VM][1:6] == ["linux/arm64/v8", "20.10.12", "1.25.0", "1.0.2", "-"]


# ---------------------------------------------------------------------------------------------
# Suggestions never misstate what an image offers (issue 10: "no linux/arm64 build" of an image
# that has one, because the pin was what failed)


def pinned_service(tmp_path: Path, image: str, pin: str) -> Path:
    return write(tmp_path / "docker-compose.yml", f"""
        services:
          app:
            image: ${{LAB}}/lab/{image}
            platform: {pin}
        """)


@pytest.mark.parametrize(("image", "pin", "outcome", "reason"), [
    # a platform Docker cannot parse: the pull is refused before any image is looked at
    ("redis:4-alpine", "linux/arm64!",
     "pull-error", " ('linux/arm64!' is not a platform Docker can parse)"),
    # a platform the list lacks, while it has the host's own
    ("mariadb:latest", "linux/s390x", "pull-error", " (no linux/s390x build in the list)"),
])
def test_a_failing_pin_on_an_image_with_a_native_build(lab, client, tmp_path: Path, image, pin,
                                                       outcome, reason) -> None:
    compose = pinned_service(tmp_path, image, pin)
    rows = table(audit(load_compose(compose, env={"LAB": lab.host}), [VM, M1], client=client))
    for host in (VM, M1):
        r = rows[("app", host)]
        assert r["outcome"] == outcome
        assert (r["suggestion_kind"], r["suggestion"]) == ("drop-pin", (
            f'remove "platform: {pin}" ({compose}:4): {lab.host}/lab/{image} has '
            f"linux/arm64/v8, which this host runs natively; the pin is what fails{reason}"))
        assert "no linux/arm64" not in r["suggestion"]


def test_emulate_never_keeps_a_pin_the_image_cannot_satisfy(lab, client, tmp_path: Path) -> None:
    """middleware is amd64 only: emulating amd64 is the fix, and a linux/s390x pin must go."""
    compose = pinned_service(tmp_path, "middleware:latest", "linux/s390x")
    r = table(audit(load_compose(compose, env={"LAB": lab.host}), [VM], client=client))[
        ("app", VM)]
    assert (r["outcome"], r["suggestion_kind"]) == ("exec-format-error", "emulate")
    assert r["suggestion"] == (
        f"no linux/arm64 build of {lab.host}/lab/middleware:latest found: register qemu for "
        "linux/amd64 on this host (e.g. docker run --privileged --rm tonistiigi/binfmt "
        f'--install amd64), and remove "platform: linux/s390x" ({compose}:4), or publish a '
        "linux/arm64 build")
    kept = pinned_service(tmp_path, "middleware:latest", "linux/amd64")
    r = table(audit(load_compose(kept, env={"LAB": lab.host}), [VM], client=client))[("app", VM)]
    assert "remove" not in r["suggestion"] and "register qemu for linux/amd64" in r["suggestion"]


@pytest.mark.parametrize(("flag", "reason"), [
    ("--platform=linux/s390x", " (no linux/s390x build in the list)"),
    ("--platform=linux/arm64!", " ('linux/arm64!' is not a platform Docker can parse)"),
])
def test_a_failing_from_platform_flag_is_what_to_remove(lab, client, tmp_path: Path, flag,
                                                        reason) -> None:
    """Not "add platform: to the service": a FROM --platform= overrides it anyway."""
    project = build_project(tmp_path, lab, f"ARG LAB\nFROM {flag} ${{LAB}}/lab/mariadb\n")
    dockerfile = tmp_path / "app" / "Dockerfile"
    for host in (VM, M1):
        r = table(audit(project, [host], client=client))[("app", host)]
        assert r["outcome"] == "build-fails"
        assert (r["suggestion_kind"], r["suggestion"]) == ("drop-pin", (
            f'remove "{flag}" ({dockerfile}:2): {lab.host}/lab/mariadb:latest has '
            f"linux/arm64/v8, which this host runs natively; the pin is what fails{reason}"))


def test_compose_129_on_this_machine_has_no_approximate_row(lab, client) -> None:
    """Compose 1.29.2's lines are measured (tests/test_compose_oracle.py); 1.25's are not."""
    project = load_compose(STORY / "docker-compose.yml", env={"LAB": lab.host})
    rows = table(audit(project, ["this-machine", VM], client=client))
    here = {s: r for (s, h), r in rows.items() if h == "this-machine"}
    assert {s: r["outcome"] for s, r in here.items()} == {
        "db": "runs-native", "redis": "runs-native", "api": "runs-native",
        "some-middleware": "runs-native"}
    assert not any(r["approximate"] for r in here.values())
    db = here["db"]["transcript"]
    assert db[:3] == ("using --exit-code-from implies --abort-on-container-exit",
                      f"Pulling db ({lab.host}/lab/mysql:5.7)...", "5.7: Pulling from lab/mysql")
    assert f"Status: Downloaded newer image for {lab.host}/lab/mysql:5.7" in db
    assert db[-2:] == ("Creating story_db_1 ... done", "Attaching to story_db_1")
    assert "Successfully tagged story_api:latest" in here["api"]["transcript"]
    assert all(rows[(s, VM)]["approximate"] for s in ("db", "some-middleware", "api"))


def test_a_missing_image_under_compose_v1_gets_the_engines_measured_text(lab, client,
                                                                         tmp_path: Path) -> None:
    """Not archlab's registry error: the 404 text Engine 20.10 prints, as the oracle measured."""
    compose = write(tmp_path / "docker-compose.yml",
                    "services:\n  ghost:\n    image: ${LAB}/lab/ghost\n")
    rows = table(audit(load_compose(compose, env={"LAB": lab.host}), ["this-machine", VM, M1],
                       client=client))
    text = (f"manifest for {lab.host}/lab/ghost:latest not found: manifest unknown: "
            "manifest unknown")
    here, vm = rows[("ghost", "this-machine")], rows[("ghost", VM)]
    assert (here["outcome"], here["message"], here["exit_code"]) == ("pull-error", text, 1)
    assert not here["approximate"] and here["transcript"][-1] == text
    assert (vm["outcome"], vm["approximate"]) == ("pull-error", True)  # 1.25: same text, cited
    assert rows[("ghost", M1)]["outcome"] == "registry-error"  # compose v2: not modelled
