"""The oracle: archlab's predictions for ``this-machine`` against what a real Docker does.

Every lab scenario is pushed to a throwaway registry and a private Debian docker.io 20.10.24
daemon is started (:mod:`archlab.lab.dockerd`, the flags of registry-lab.md §4). For each case
the daemon's store is emptied, the facts are read from the registry (with the entrypoint's ELF
header, so ``lab/mislabelled`` is judged by its real binary), :mod:`archlab.simulate` predicts
on the ``this-machine`` profile, and ``/usr/bin/docker`` runs the very command the prediction
names. ``Prediction.compare`` decides: exact lines per stream and the exit code; only what the
simulator marks may differ (the random container ID of ``create``, the racy ``Verifying
Checksum`` progress line). Digests need no normalising: the lab's images are byte-for-byte
reproducible, and the facts come from the same registry Docker pulls from.

The artifact cases (the tag names a signature, a Helm chart, a referrers index or an unknown
artifact; ``--platform`` lands on an attestation or a ``wasi/wasm`` entry; a config for another
OS) check what the simulator says when a pull meets something that is not a Linux image.

A case with ``setup`` first pulls for real and replays the same pulls in the simulator, whose
``store_after`` then stands for the daemon's store. On disagreement the message shows both
sides line by line, each with its stream. The session ends with ``oracle: N scenarios, M agree``.

Needs root on Linux and the ``docker.io`` package (``tools/system-deps`` installs it as root);
otherwise skipped with the reason, unless ``ARCHLAB_REQUIRE_DOCKER=1`` (CI) makes it a failure.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import pytest

from archlab.errors import LabError
from archlab.hosts import get_host
from archlab.lab import scenarios as sc
from archlab.lab.dockerd import DockerDaemon, check_can_run, daemon_flags, mounts_under
from archlab.lab.instance import Lab, lab_registry
from archlab.simulate import (
    ImageFacts,
    LocalStore,
    OutputLine,
    Prediction,
    facts_from_built,
    gather_facts_sync,
    simulate_create,
    simulate_pull,
    simulate_run,
)

REQUIRE = os.environ.get("ARCHLAB_REQUIRE_DOCKER") == "1"
RUN_OPTIONS = ("--rm", "--network", "none")
CREATE_OPTIONS = ("--network", "none")  # without it the CLI adds an IPv4-forwarding warning
NO_MATCH = "no matching manifest for {} in the manifest list entries"
UNSUPPORTED = "unsupported media type {}"
COSIGN = "application/vnd.dev.cosign.simplesigning.v1+json"
HELM = "application/vnd.cncf.helm.config.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"


@dataclass(frozen=True)
class Case:
    """One command on an empty store (after ``setup`` pulls), compared line for line.

    ``image`` is a scenario name (``-oci`` for the OCI twin). ``story`` is a fragment the real
    output must contain: it keeps each story case about what it claims to be about.
    """

    verb: str
    image: str
    platform: str | None = None
    setup: tuple[tuple[str, str | None], ...] = ()
    story: str | None = None

    @property
    def id(self) -> str:
        pre = "".join(f"[pull {i}{' ' + p if p else ''}]-" for i, p in self.setup)
        return f"{pre}{self.verb}-{self.image}-{self.platform or 'none'}"


CASES: tuple[Case, ...] = (
    # --- docker pull -----------------------------------------------------------------------
    Case("pull", "mysql"),
    Case("pull", "mysql", "linux/arm64", story=NO_MATCH.format("linux/arm64")),
    Case("pull", "mysql", "linux/arm64/v8", story=NO_MATCH.format("linux/arm64/v8")),
    Case("pull", "mysql-oci", "linux/arm64/v8", story=NO_MATCH.format("linux/arm64/v8")),
    Case("pull", "mysql", "linux/s390x"),
    Case("pull", "golang"),
    Case("pull", "golang", "linux/amd64"),
    Case("pull", "golang", "linux/arm64",
         story="does not match the specified platform: wanted linux/arm64, actual: linux/amd64"),
    Case("pull", "golang", "linux/riscv64"),
    Case("pull", "armonly"),
    Case("pull", "armonly", "linux/amd64"),
    Case("pull", "armonly", "linux/arm64/v8"),
    Case("pull", "busybox"),
    Case("pull", "busybox", "linux/arm64"),
    Case("pull", "busybox", "linux/arm/v7"),
    Case("pull", "busybox", "linux/386"),
    Case("pull", "busybox", "linux/s390x"),
    Case("pull", "busybox", "linux/riscv64"),
    Case("pull", "busybox", "linux/mips64le"),
    Case("pull", "busybox-oci", "linux/ppc64le"),
    Case("pull", "redis-oci"),
    Case("pull", "redis-oci", "linux/arm64"),
    Case("pull", "redis-oci", "linux/riscv64", story=NO_MATCH.format("linux/riscv64")),
    Case("pull", "redis", "linux/arm/v5"),
    Case("pull", "ruby", "linux/arm/v6"),
    Case("pull", "mariadb", "linux/arm/v7"),
    Case("pull", "mariadb-oci", "linux/arm64/v8"),
    Case("pull", "mislabelled", "linux/arm64"),
    Case("pull", "middleware", "linux/s390x"),
    # --- docker run --rm --network none ----------------------------------------------------
    Case("run", "mysql", story="hello from linux/amd64"),
    Case("run", "mysql", "linux/arm64", story=f"docker: {NO_MATCH.format('linux/arm64')}."),
    Case("run", "mysql-oci", "linux/arm64/v8"),
    Case("run", "golang"),
    Case("run", "golang", "linux/arm64",
         story="docker: Error response from daemon: image with reference"),
    Case("run", "armonly", story="exec /bin/hello: exec format error"),
    Case("run", "armonly", "linux/amd64"),
    Case("run", "armonly", "linux/arm64"),
    Case("run", "busybox"),
    Case("run", "busybox", "linux/arm64", story="exec /bin/hello: exec format error"),
    Case("run", "busybox", "linux/arm64/v8"),
    Case("run", "busybox", "linux/386", story="hello from linux/386"),
    Case("run", "busybox", "linux/arm/v7"),
    Case("run", "busybox", "linux/s390x"),
    Case("run", "busybox", "linux/riscv64"),
    Case("run", "busybox-oci", "linux/arm64"),
    Case("run", "mislabelled", "linux/arm64", story="hello from linux/amd64"),
    Case("run", "mislabelled-oci", "linux/arm64/v8", story="hello from linux/amd64"),
    Case("run", "mislabelled"),
    Case("run", "redis-oci"),
    Case("run", "redis-oci", "linux/386"),
    Case("run", "redis", "linux/arm/v7"),
    Case("run", "mariadb", "linux/arm64"),
    Case("run", "ruby", "linux/mips64le"),
    Case("run", "ruby", "linux/ppc64le"),
    Case("run", "middleware", "linux/amd64"),
    # --- docker create --network none -------------------------------------------------------
    Case("create", "armonly", story="The requested image's platform (linux/arm64/v8)"),
    Case("create", "golang", "linux/arm64"),
    Case("create", "mysql", "linux/arm64/v8"),
    Case("create", "busybox", "linux/s390x"),
    Case("create", "redis-oci", "linux/amd64"),
    # --- with images already in the store ---------------------------------------------------
    Case("run", "busybox", setup=(("busybox", "linux/arm64"),),
         story="does not match the detected host platform (linux/amd64)"),
    Case("run", "busybox", "linux/amd64", setup=(("busybox", "linux/386"),),
         story="hello from linux/386"),
    Case("run", "golang", "linux/arm64", setup=(("golang", None),)),
    Case("run", "armonly", setup=(("armonly", None),)),
    Case("pull", "busybox", "linux/arm64", setup=(("busybox", None),)),
    Case("pull", "mysql", setup=(("mysql", None),), story="Image is up to date"),
    # --- artifacts: the tag names one, or --platform lands on one ------------------------
    Case("pull", "signed", story=UNSUPPORTED.format(COSIGN)),
    Case("pull", "signed-oci", story=UNSUPPORTED.format(COSIGN)),
    Case("pull", "helm", story=f'Error response from daemon: Encountered remote "{HELM}"'
                               "(unknown) when fetching"),
    Case("pull", "helm-oci", story=UNSUPPORTED.format(HELM)),
    Case("pull", "helm-oci", "linux/amd64"),
    Case("pull", "artifact", story=f'Encountered remote "{EMPTY}"(unknown) when fetching'),
    Case("pull", "artifact-oci", story=UNSUPPORTED.format(EMPTY)),
    Case("pull", "referrers", story=NO_MATCH.format("linux/amd64")),
    Case("pull", "referrers-oci", story=NO_MATCH.format("linux/amd64")),
    Case("pull", "wasm-oci", story=NO_MATCH.format("linux/amd64")),
    Case("pull", "wasm-oci", "wasi/wasm", story="operating system is not supported"),
    Case("pull", "wasm", "wasi/wasm"),
    Case("pull", "mixed", story="Downloaded newer image"),
    Case("pull", "mixed-oci", "linux/arm64", story=NO_MATCH.format("linux/arm64")),
    Case("pull", "redis-oci", "unknown/unknown",
         story=UNSUPPORTED.format("application/vnd.in-toto+json")),
    Case("run", "helm", story="docker: Error response from daemon: Encountered remote"),
    Case("run", "signed-oci", story=f"docker: {UNSUPPORTED.format(COSIGN)}."),
    Case("run", "wasm-oci", "wasi/wasm", story="docker: operating system is not supported."),
    Case("run", "referrers-oci"),
    Case("run", "mixed", story="hello from linux/amd64"),
    Case("create", "artifact-oci"),
    Case("create", "helm"),
)


def test_the_matrix_covers_the_issue() -> None:
    """At least 30 scenarios, every platform the issue names, pull, run and create."""
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    platforms = {c.platform for c in CASES}
    assert {None, "linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7", "linux/386",
            "linux/s390x", "linux/riscv64"} <= platforms
    assert {c.verb for c in CASES} == {"pull", "run", "create"}
    assert {sc.get(c.image).name for c in CASES} == set(sc.SCENARIO_NAMES)


def test_daemon_flags_are_registry_labs() -> None:
    root = Path("/tmp/x")
    assert daemon_flags(root) == [
        "--config-file", "/tmp/x/daemon.json", "--bridge=none", "--iptables=false",
        "--ip6tables=false", "--ip-forward=false", "--ip-masq=false", "--userland-proxy=false",
        "--storage-driver=vfs", "--data-root", "/tmp/x/docker", "--exec-root", "/tmp/x/exec",
        "--pidfile", "/tmp/x/docker.pid", "-H", "unix:///tmp/x/docker.sock",
    ]


@pytest.mark.parametrize(("patch", "message"), [
    ({"platform": "darwin"}, "runs only on Linux, not on darwin"),
    ({"euid": 1000}, "dockerd needs root"),
    ({"dockerd": "/nonexistent/dockerd"},
     "dockerd not found at /nonexistent/dockerd: install Debian's Docker Engine 20.10: "
     "apt-get install --no-install-recommends docker.io"),
    ({"docker": "/nonexistent/docker"}, "the docker client is not at /nonexistent/docker"),
])
def test_a_machine_that_cannot_run_dockerd_gets_a_clear_error(monkeypatch, patch, message):
    import archlab.lab.dockerd as mod

    monkeypatch.setattr(mod.sys, "platform", patch.get("platform", "linux"))
    monkeypatch.setattr(mod.os, "geteuid", lambda: patch.get("euid", 0))
    here = Path(__file__)  # any executable-looking file will do where a binary is not patched
    monkeypatch.setattr(mod.os, "access", lambda path, mode: Path(path).is_file())
    with pytest.raises(LabError) as err:
        check_can_run(patch.get("dockerd", here), patch.get("docker", here))
    assert message in str(err.value)
    with pytest.raises(LabError):
        DockerDaemon(dockerd=patch.get("dockerd", here), docker=patch.get("docker", here)).start()


# ---------------------------------------------------------------------------------------------
# Fixtures


class _Tally:
    """A plugin registered at run time: prints the agreement line at the end of the session."""

    def __init__(self) -> None:
        self.results: dict[str, bool] = {}

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.results:
            return
        agree = sum(self.results.values())
        line = f"oracle: {len(self.results)} scenarios, {agree} agree"
        bad = [k for k, ok in self.results.items() if not ok]
        if bad:
            line += f"; disagree: {', '.join(bad)}"
        terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> _Tally:
    manager = request.config.pluginmanager
    found = manager.get_plugin("archlab-oracle-tally")
    if found is None:
        found = _Tally()
        manager.register(found, "archlab-oracle-tally")
    return found


@pytest.fixture(scope="module")
def lab(registry_binary: Path) -> Iterator[Lab]:
    with lab_registry(binary=registry_binary) as lab:
        yield lab


def _unusable() -> str | None:
    try:
        check_can_run()
    except LabError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def daemon() -> Iterator[DockerDaemon]:
    why = _unusable()
    if why is not None:
        if REQUIRE:
            pytest.fail(f"{why} (ARCHLAB_REQUIRE_DOCKER=1 forbids skipping)", pytrace=False)
        pytest.skip(why)
    with DockerDaemon() as d:
        yield d


class _FactsByName(dict):
    """Scenario name -> facts read from the lab registry (layers included), each read once."""

    def __init__(self, lab: Lab, client) -> None:
        super().__init__()
        self.lab, self.client = lab, client

    def __missing__(self, name: str) -> ImageFacts:
        ref = sc.get(name).ref(self.lab.host)
        self[name] = gather_facts_sync(ref, self.client, layers=True, attestations=True)
        return self[name]


@pytest.fixture(scope="module")
def facts_of(lab: Lab) -> Iterator[dict[str, ImageFacts]]:
    client = lab.client()
    try:
        yield _FactsByName(lab, client)
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------
# The comparison


THIS = "this-machine"


def _predict(verb: str, facts: ImageFacts, platform: str | None, store: LocalStore
             ) -> Prediction:
    host = get_host(THIS)
    typed = str(facts.reference)
    if verb == "pull":
        return simulate_pull(facts, host, platform=platform, store=store, typed=typed)
    if verb == "run":
        return simulate_run(facts, host, platform=platform, store=store, typed=typed,
                            options=RUN_OPTIONS)
    return simulate_create(facts, host, platform=platform, store=store, typed=typed,
                           options=CREATE_OPTIONS)


def _align(want: list[OutputLine], got: list[str]
           ) -> list[tuple[OutputLine | None, str | None]]:
    """Pairs (predicted, actual) along a longest common subsequence of matching lines."""
    n, m = len(want), len(got)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in reversed(range(n)):
        for j in reversed(range(m)):
            hit = best[i + 1][j + 1] + 1 if want[i].matches(got[j]) else 0
            best[i][j] = max(best[i + 1][j], best[i][j + 1], hit)
    pairs: list[tuple[OutputLine | None, str | None]] = []
    i = j = 0
    while i < n or j < m:
        if i < n and j < m and want[i].matches(got[j]) and best[i][j] == best[i + 1][j + 1] + 1:
            pairs.append((want[i], got[j]))
            i, j = i + 1, j + 1
        elif i < n and (j == m or best[i + 1][j] >= best[i][j + 1]):
            pairs.append((want[i], None))
            i += 1
        else:
            pairs.append((None, got[j]))
            j += 1
    return pairs


def side_by_side(p: Prediction, real: subprocess.CompletedProcess[str]) -> str:
    """Predicted and actual output, stream by stream, line by line.

    ``=`` same line, ``≠`` a predicted line and the actual one in its place, ``-`` predicted
    only, ``+`` actual only, ``?`` an optional predicted line that did not appear.
    """
    out = [f"$ {p.command}", f"exit code: predicted {p.exit_code}, actual {real.returncode}"]
    for stream, text in (("stdout", real.stdout), ("stderr", real.stderr)):
        pairs = _align([ln for ln in p.lines if ln.stream == stream], text.splitlines())
        k = 0
        while k < len(pairs):
            if pairs[k][0] is not None and pairs[k][1] is not None:
                out.append(f"  {stream} =  {pairs[k][1]}")
                k += 1
                continue
            # A run of unmatched lines: put the n-th predicted one next to the n-th actual one.
            end = k
            while end < len(pairs) and (pairs[end][0] is None or pairs[end][1] is None):
                end += 1
            block = pairs[k:end]
            for w, _ in block:
                if w is not None and w.optional:
                    out.append(f"  {stream} ?  (optional, absent) {w.text}")
            said = [w.text for w, _ in block if w is not None and not w.optional]
            done = [g for _, g in block if g is not None]
            for w_text, g in zip_longest(said, done):
                if w_text is not None and g is not None:
                    out.append(f"  {stream} ≠  predicted: {w_text}")
                    out.append(f"  {stream}    actual:    {g}")
                elif w_text is not None:
                    out.append(f"  {stream} -  predicted: {w_text}")
                else:
                    out.append(f"  {stream} +  actual:    {g}")
            k = end
    return "\n".join(out)


def _check(p: Prediction, real: subprocess.CompletedProcess[str]) -> list[str]:
    return p.compare(real.stdout, real.stderr, real.returncode)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_docker_agrees_with_the_prediction(case: Case, lab: Lab, daemon: DockerDaemon,
                                           facts_of: dict[str, ImageFacts],
                                           tally: _Tally) -> None:
    daemon.reset()
    store = LocalStore()
    tally.results[case.id] = False
    for image, platform in case.setup:
        before = _predict("pull", facts_of[image], platform, store)
        real = daemon.docker(*shlex.split(before.command)[1:])
        problems = _check(before, real)
        assert not problems, "setup pull:\n" + "\n".join(problems) + "\n" + side_by_side(
            before, real)
        store = before.store_after
    prediction = _predict(case.verb, facts_of[case.image], case.platform, store)
    real = daemon.docker(*shlex.split(prediction.command)[1:])
    problems = _check(prediction, real)
    tally.results[case.id] = not problems
    assert not problems, "\n".join(problems) + "\n" + side_by_side(prediction, real)
    if case.story is not None:
        assert case.story in real.stdout + real.stderr, side_by_side(prediction, real)


def _other_os(kind: str, oci: bool):
    if kind == "wasm":  # lab/wasm's image under a tag of its own (buildx without attestations)
        return sc.get("wasm", oci=oci).images[0]
    from archlab.elf import hello_binary
    from archlab.lab.images import build_image
    from archlab.platforms import Platform

    return build_image(Platform("linux", "amd64"), {"/hello": hello_binary("linux/amd64")},
                       entrypoint=["/hello"], oci=oci, portable=True,
                       config_platform=Platform("windows", "amd64"))


@pytest.mark.parametrize(("kind", "verb", "platform", "oci", "error"), [
    ("wasm", "pull", None, True, "operating system is not supported"),
    ("wasm", "pull", "linux/amd64", True, "operating system is not supported"),
    ("wasm", "pull", None, False, "operating system is not supported"),
    ("wasm", "run", None, True, "docker: operating system is not supported."),
    ("windows", "pull", None, True,
     'image operating system "windows" cannot be used on this platform'),
])
def test_a_single_manifest_for_another_os_fails_once_its_config_arrives(
        kind, verb, platform, oci, error, lab: Lab, daemon: DockerDaemon,
        tally: _Tally) -> None:
    """No list stops the pull; the config's ``os`` does, while the layer downloads race it."""
    from archlab.lab.instance import push_scenarios

    single = sc.Scenario(kind, f"lab/{kind}1{sc.OCI_SUFFIX if oci else ''}", "1", "", "",
                         "single-arch", oci, _other_os(kind, oci))
    push_scenarios(lab.host, [single])
    with lab.client() as client:
        facts = gather_facts_sync(single.ref(lab.host), client, layers=True)
    daemon.reset()
    case_id = f"{kind}1-{verb}-{platform}-{'oci' if oci else 'docker'}"
    tally.results[case_id] = False
    prediction = _predict(verb, facts, platform, LocalStore())
    real = daemon.docker(*shlex.split(prediction.command)[1:])
    problems = _check(prediction, real)
    tally.results[case_id] = not problems
    assert not problems, "\n".join(problems) + "\n" + side_by_side(prediction, real)
    assert error in real.stderr.splitlines()


# ---------------------------------------------------------------------------------------------
# The tools the oracle stands on


def test_gather_facts_with_layers_reads_what_the_builder_wrote(lab: Lab,
                                                               facts_of: dict[str, ImageFacts]
                                                               ) -> None:
    """From the registry, every scenario's facts equal those built in memory, binaries too."""
    for s in lab.scenarios:
        name = s.name + (sc.OCI_SUFFIX if s.oci else "")
        got = facts_of[name]
        built = facts_from_built(got.reference, s.built)
        assert got.root_digest == built.root_digest
        assert {d: c.platform for d, c in got.configs.items()} == {
            d: c.platform for d, c in built.configs.items()}
        assert dict(got.binary_platforms) == dict(built.binary_platforms), name
        assert dict(got.outputs) == dict(built.outputs), name
        assert dict(got.files) == dict(built.files), name
    arm64 = next(img for img in sc.get("mislabelled").images
                 if img.platform.architecture == "arm64")
    mislabelled = facts_of["mislabelled"]
    assert str(mislabelled.binary_platforms[arm64.config.digest]) == "linux/amd64"
    assert mislabelled.outputs[arm64.config.digest] == ("hello from linux/amd64",)


def test_reset_recreates_a_simulated_store(lab: Lab, daemon: DockerDaemon,
                                           facts_of: dict[str, ImageFacts]) -> None:
    """reset(store) pulls what a simulation ended with; Docker then agrees on the next run."""
    store = LocalStore()
    for image, platform in (("busybox", "linux/arm64"), ("mysql", None)):
        store = _predict("pull", facts_of[image], platform, store).store_after
    daemon.reset(store)
    assert daemon.tags() == sorted([lab.ref("busybox"), lab.ref("mysql")])
    assert daemon.image_platform(lab.ref("busybox")) == "linux/arm64/v8"
    prediction = _predict("run", facts_of["busybox"], None, store)
    real = daemon.docker(*shlex.split(prediction.command)[1:])
    assert not _check(prediction, real), side_by_side(prediction, real)
    daemon.reset()
    assert daemon.images() == [] and daemon.containers() == []


def test_stop_leaves_no_process_mount_or_file(daemon: DockerDaemon) -> None:
    """A daemon of its own: after stop, no dockerd, no containerd, no mount, no directory."""
    d = DockerDaemon().start()
    root, pid = d.root, d.pid
    assert pid is not None and d.server_version and d.server_version.startswith("20.10.")
    assert mounts_under(d.data_root) == [str(d.data_root)]  # dockerd's bind mount of itself
    containerd = int((d.exec_root / "containerd" / "containerd.pid").read_text())
    d.stop()
    d.stop()  # idempotent
    assert not d.running and d.pid is None
    assert _gone(pid) and _gone(containerd)
    assert mounts_under(root) == []
    assert not root.exists()
    with pytest.raises(LabError, match="not started"):
        d.docker("version")



def _gone(pid: int) -> bool:
    """No such process, or a zombie (an exited orphan init has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_stop_after_dockerd_died_stops_its_containerd_and_unmounts(daemon: DockerDaemon
                                                                   ) -> None:
    """A dockerd killed outright leaves containerd and its bind mount: stop() cleans both."""
    d = DockerDaemon().start()
    root, pid = d.root, d.pid
    assert pid is not None
    containerd = int((d.exec_root / "containerd" / "containerd.pid").read_text())
    os.kill(pid, signal.SIGKILL)  # our own child: it is not reaped until stop()
    d.stop()
    assert _gone(containerd)
    assert mounts_under(root) == [] and not root.exists()

def test_a_disagreement_shows_both_sides_with_streams() -> None:
    """No Docker needed: a made-up 'real' run that differs in one line and the exit code."""
    s = sc.get("golang")
    facts = facts_from_built(s.ref("127.0.0.1:5000"), s.built)
    p = _predict("run", facts, "linux/arm64", LocalStore())
    err = [ln.text for ln in p.lines if ln.stream == "stderr" and not ln.optional]
    wrong = [t.replace("wanted linux/arm64", "wanted linux/arm64/v8") for t in err]
    real = subprocess.CompletedProcess([], 1, "", "\n".join(wrong) + "\n")
    assert _check(p, real)  # compare() sees the difference ...
    text = side_by_side(p, real)  # ... and the message shows it, line by line, per stream
    assert "exit code: predicted 125, actual 1" in text
    assert "  stderr =  Unable to find image '127.0.0.1:5000/lab/golang:latest' locally" in text
    assert ("  stderr ≠  predicted: WARNING: image with reference 127.0.0.1:5000/lab/golang was "
            "found but does not match the specified platform: wanted linux/arm64, actual: "
            "linux/amd64") in text
    assert ("  stderr    actual:    WARNING: image with reference 127.0.0.1:5000/lab/golang was "
            "found but does not match the specified platform: wanted linux/arm64/v8, actual: "
            "linux/amd64") in text
    assert "  stderr ?  (optional, absent) " in text  # Verifying Checksum was left out
    real_ok = subprocess.CompletedProcess([], 125, "", "\n".join(err) + "\n")
    assert not _check(p, real_ok)
