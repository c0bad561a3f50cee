"""The compose oracle: archlab's compose v1 predictions against Debian's docker-compose 1.29.2.

Beside the pull/run oracle (``tests/test_oracle.py``), this module starts the lab registry and
the private Engine 20.10 (:mod:`archlab.lab.dockerd`) and runs real ``docker-compose`` on small
compose files built from the story's stack (``db`` = the amd64-only mysql list, with and
without its ``platform:`` pin; ``redis``, a multi-arch list; ``some-middleware``, a single-arch
amd64 image; an arm-only image; ``api`` built FROM a lab image; a service whose image does not
exist). Each case is one compose command (``pull``, ``up -d``, ``up --exit-code-from``, ``run
--rm``, ``create``) in a temporary project directory, with ``-p`` and a project name of its
own and ``network_mode: none`` in every service; ``down`` afterwards removes what the project
made. :func:`archlab.compose_v1.predict` says what compose and the Engine print on the
``this-machine`` profile; every line of both streams and the exit code must agree, and a
disagreement prints both sides (as the pull/run oracle does).

Needs root and the ``docker.io`` and ``docker-compose`` packages (``tools/system-deps``);
otherwise skipped with the reason, unless ``ARCHLAB_REQUIRE_DOCKER=1`` (CI) makes it a failure.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from archlab.compose_v1 import VERBS, Service, predict
from archlab.dockerfile import parse_dockerfile
from archlab.errors import LabError, NotFoundError
from archlab.hosts import get_host
from archlab.lab.dockerd import DockerDaemon, check_can_run
from archlab.lab.instance import Lab, lab_registry
from archlab.simulate import ImageFacts, gather_facts_sync

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from compose_transcript import compose_binary, run_compose  # noqa: E402

try:  # the pull/run oracle's side-by-side printer
    from test_oracle import side_by_side
except ImportError:
    from tests.test_oracle import side_by_side

REQUIRE = os.environ.get("ARCHLAB_REQUIRE_DOCKER") == "1"
THIS = "this-machine"


@dataclass(frozen=True)
class Case:
    """One compose command on a one-service compose file (a build when ``dockerfile``)."""

    verb: str
    service: str
    image: str | None  # lab repository:tag, or None for a build
    platform: str | None = None
    dockerfile: str | None = None  # with {LAB} for the lab's host
    story: str | None = None  # a fragment the real output must contain

    @property
    def id(self) -> str:
        what = self.image or "build:" + "-".join(w.split("/")[-1] for w in (
            self.dockerfile or "").split("\n") if w and not w.startswith("ARG"))
        return f"{self.verb}-{self.service}-{what}-{self.platform or 'nopin'}".replace(" ", "_")


NO_MATCH = "no matching manifest for linux/arm64 in the manifest list entries"
EXEC = "exec /bin/hello: exec format error"
CASES: tuple[Case, ...] = (
    # db: the amd64-only mysql list, with the story's pin, without it, pinned to arm64
    Case("pull --no-parallel", "db", "mysql:5.7", "linux/x86_64"),
    Case("pull --no-parallel", "db", "mysql:5.7"),
    Case("pull --no-parallel", "db", "mysql:5.7", "linux/arm64", story=NO_MATCH),
    Case("up -d", "db", "mysql:5.7", "linux/x86_64"),
    Case("up -d", "db", "mysql:5.7", "linux/arm64", story=NO_MATCH),
    Case("up --exit-code-from", "db", "mysql:5.7", "linux/x86_64",
         story="db_1  | hello from linux/amd64"),
    Case("up --exit-code-from", "db", "mysql:5.7", "linux/arm64", story=NO_MATCH),
    Case("run --rm", "db", "mysql:5.7", "linux/x86_64"),
    Case("run --rm", "db", "mysql:5.7", "linux/arm64", story=NO_MATCH),
    Case("create", "db", "mysql:5.7", "linux/x86_64"),
    Case("create", "db", "mysql:5.7", "linux/arm64", story=NO_MATCH),
    # redis: a multi-arch list; a pin picks the entry, compose v1 creates without it
    Case("up --exit-code-from", "redis", "redis:4-alpine"),
    Case("up --exit-code-from", "redis", "redis:4-alpine", "linux/arm64", story=EXEC),
    Case("up --exit-code-from", "redis", "redis:4-alpine", "linux/386",
         story="hello from linux/386"),
    Case("run --rm", "redis", "redis:4-alpine", "linux/arm/v7", story=EXEC),
    # some-middleware: single-arch amd64; a pin only earns the Engine's post-pull warning
    Case("pull --no-parallel", "some-middleware", "middleware:latest"),
    Case("up --exit-code-from", "some-middleware", "middleware:latest", "linux/arm64",
         story="does not match the specified platform: wanted linux/arm64"),
    Case("up -d", "some-middleware", "middleware:latest"),
    # an arm-only image: pulled without a check, refused by the kernel
    Case("pull --no-parallel", "app", "armonly:latest"),
    Case("up --exit-code-from", "app", "armonly:latest", story=EXEC),
    Case("run --rm", "app", "armonly:latest", story=EXEC),
    Case("up -d", "app", "armonly:latest"),
    Case("create", "app", "armonly:latest"),
    # api: built FROM a lab image on the classic builder
    Case("up --exit-code-from", "api", None,
         dockerfile='FROM {LAB}/lab/ruby:latest\nRUN ["/bin/hello"]\n',
         story="Successfully tagged"),
    Case("up --exit-code-from", "api", None,
         dockerfile='FROM {LAB}/lab/armonly:latest\nRUN ["/bin/hello"]\n',
         story="Service 'api' failed to build : Build failed"),
    Case("up -d", "api", None, "linux/arm64", dockerfile="FROM {LAB}/lab/busybox:latest\n"),
    Case("up --exit-code-from", "api", None, dockerfile="FROM {LAB}/lab/ghost:1\n",
         story="manifest unknown"),
    # a plain foreground up: compose exits 0 whatever the container returned
    Case("up", "db", "mysql:5.7", "linux/x86_64", story="db_1  | hello from linux/amd64"),
    Case("up", "app", "armonly:latest", story=EXEC),
    Case("up", "api", None, dockerfile="ARG LAB\nFROM {LAB}/lab/ruby:latest\nWORKDIR /app\n",
         story="Step 3/3 : WORKDIR /app"),
    # a service whose image does not exist
    Case("pull --no-parallel", "ghost", "ghost:1", story="manifest unknown"),
    Case("up -d", "ghost", "ghost:1"),
    Case("run --rm", "ghost", "ghost:1"),
    Case("up", "ghost", "ghost:1"),
    # no tag written: compose names it "repo:" (an empty tag), the Engine pulls :latest
    Case("up -d", "ghost", "ghost", story="ghost:latest not found"),
    Case("up --exit-code-from", "app", "armonly", story="lab/armonly:)..."),
)


def test_the_cases_cover_the_issue() -> None:
    """>= 20 cases: every verb, pin / no pin / amd64-only / single-arch / arm-only / build /
    missing image."""
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.verb for c in CASES} == set(VERBS)
    images = {c.image for c in CASES}
    assert {"mysql:5.7", "middleware:latest", "armonly:latest", "ghost:1", None} <= images
    assert {None, "linux/x86_64"} <= {c.platform for c in CASES}


# ---------------------------------------------------------------------------------------------
# Fixtures


def _unusable() -> str | None:
    try:
        check_can_run()
    except LabError as exc:
        return str(exc)
    if compose_binary() is None:
        return ("docker-compose not found: install Debian's docker-compose 1.29 (bash "
                "tools/system-deps as root)")
    return None


def _skip_or_fail(why: str, require: bool) -> None:
    if require:
        pytest.fail(f"{why} (ARCHLAB_REQUIRE_DOCKER=1 forbids skipping)", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="module")
def daemon() -> Iterator[DockerDaemon]:
    why = _unusable()
    if why is not None:
        _skip_or_fail(why, REQUIRE)
    with DockerDaemon() as d:
        yield d


def test_a_missing_compose_fails_under_require_docker(monkeypatch) -> None:
    """No Docker needed: without docker-compose the oracle skips, or fails in CI."""
    import compose_transcript

    monkeypatch.setattr(compose_transcript, "PATH", "/nonexistent")
    monkeypatch.setitem(globals(), "compose_binary", compose_transcript.compose_binary)
    monkeypatch.setattr(sys.modules[__name__], "check_can_run", lambda: None)
    why = _unusable()
    assert why is not None and why.startswith("docker-compose not found: install Debian's")
    with pytest.raises(pytest.fail.Exception, match="ARCHLAB_REQUIRE_DOCKER=1 forbids"):
        _skip_or_fail(why, require=True)
    with pytest.raises(pytest.skip.Exception):
        _skip_or_fail(why, require=False)


def test_every_story_service_gets_network_mode_none() -> None:
    import compose_transcript

    text = (REPO / "data" / "compose" / "story" / "docker-compose.yml").read_text()
    out = compose_transcript.without_networks(text)
    assert out.count("    network_mode: none\n") == 4
    for service in ("db", "redis", "api", "some-middleware"):
        assert f"  {service}:\n    network_mode: none\n" in out


@pytest.fixture(scope="module")
def lab(registry_binary: Path) -> Iterator[Lab]:
    with lab_registry(["mysql", "redis", "middleware", "armonly", "ruby", "busybox"],
                      oci=False, binary=registry_binary) as running:
        yield running


@pytest.fixture(scope="module")
def facts_of(lab: Lab) -> Iterator[dict[str, ImageFacts | None]]:
    client = lab.client()
    cache: dict[str, ImageFacts | None] = {}

    def get(repo_tag: str) -> ImageFacts | None:
        if repo_tag not in cache:
            try:
                cache[repo_tag] = gather_facts_sync(f"{lab.host}/lab/{repo_tag}", client,
                                                    layers=True)
            except NotFoundError:
                cache[repo_tag] = None
        return cache[repo_tag]

    try:
        yield get  # type: ignore[misc]
    finally:
        client.close()


def compose_file(case: Case, lab: Lab) -> str:
    lines = ["version: '2.4'", "services:", f"  {case.service}:"]
    if case.image:
        lines.append(f"    image: {lab.host}/lab/{case.image}")
    else:
        lines.append("    build: ./app")
    if case.platform:
        lines.append(f"    platform: {case.platform}")
    lines.append("    network_mode: none")
    return "\n".join(lines) + "\n"


_PROJECT_SAFE = re.compile(r"[^a-z0-9]")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_compose_agrees_with_the_prediction(case: Case, lab: Lab, daemon: DockerDaemon,
                                            facts_of) -> None:
    daemon.reset()
    project = "o" + _PROJECT_SAFE.sub("", case.id.lower())[:40]
    with tempfile.TemporaryDirectory() as tmp:
        project_dir = Path(tmp)
        (project_dir / "docker-compose.yml").write_text(compose_file(case, lab))
        build = None
        base = case.image
        if case.dockerfile is not None:
            text = case.dockerfile.format(LAB=lab.host)
            (project_dir / "app").mkdir()
            (project_dir / "app" / "Dockerfile").write_text(text)
            build = parse_dockerfile(text).instructions
            base = text.split("FROM ", 1)[1].split()[0].split("/lab/", 1)[1]
        service = Service(case.service, f"{lab.host}/lab/{case.image}" if case.image else None,
                          case.platform, build)
        prediction = predict(case.verb, service, facts_of(base), get_host(THIS),  # type: ignore[arg-type]
                             project=project, version="1.29.2")
        args = case.verb.split() + ([case.service] if case.verb in ("up", "up --exit-code-from",
                                                                     "run --rm") else [])
        try:
            real = run_compose(daemon, project_dir, project, *args)
        finally:
            run_compose(daemon, project_dir, project, "down", "--rmi", "local")
    problems = prediction.compare(real.stdout, real.stderr, real.returncode)
    assert not problems, "\n".join(problems) + "\n" + side_by_side(prediction, real)
    if case.story is not None:
        assert case.story in real.stdout + real.stderr, side_by_side(prediction, real)
