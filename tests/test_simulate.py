"""The simulator: measured Docker 20.10.24 transcripts, pull-semantics.md §7, the story, versions.

``ORACLE`` (at the end of this file) is what the real Debian docker.io 20.10.24 printed on this
machine (registry-lab.md §4 setup, lab images pushed to 127.0.0.1:5055, every scenario from an
empty image store), with digests replaced by ``{root:<repo>}`` / ``{layer:<platform>}`` so the
scenarios survive changes to the image builder. Each is replayed in memory on the
``this-machine`` profile; no Docker and no registry are needed.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, replace

import pandas as pd
import pytest

from archlab import digests, manifests
from archlab.elf import hello_binary
from archlab.errors import LabError, LayerError, ManifestError
from archlab.hosts import Host, host_dirs, load_host_file
from archlab.lab import scenarios
from archlab.lab.images import (
    Blob,
    BuiltImage,
    build_image,
    build_index,
    deterministic_gzip,
    deterministic_tar,
)
from archlab.platforms import Platform
from archlab.reference import parse_reference
from archlab.simulate import (
    CONTAINER_ID_PATTERN,
    ImageFacts,
    LocalStore,
    OutputLine,
    Prediction,
    docker_parse_error,
    explain,
    facts_from_built,
    gather_facts,
    predictions_frame,
    runc_exec_error,
    selects_attestations,
    simulate_compose_service,
    simulate_create,
    simulate_pull,
    simulate_run,
)

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")
I386 = Platform("linux", "386")
ARMV7 = Platform("linux", "arm", "v7")
ARMV6 = Platform("linux", "arm", "v6")


def hello_image(p: Platform, *, binary: str | None = None, config: Platform | None = None,
                oci: bool = False, **kw) -> BuiltImage:
    """A one-layer image whose entrypoint /hello prints ``hello from <binary platform>``."""
    code = hello_binary(binary or str(p))
    return build_image(p, {"hello": code}, entrypoint=["/hello"], oci=oci,
                       config_platform=config, **kw)


def data_image(n: int) -> BuiltImage:
    """n layers: /hello plus data files; used for the multi-layer progress lines."""
    tars = [deterministic_tar({"hello": hello_binary("linux/amd64")})]
    tars += [deterministic_tar({f"data{i}.txt": (b"x%d\n" % i) * 1000}) for i in range(1, n)]
    layers = tuple(Blob(manifests.DOCKER_LAYER_GZIP, deterministic_gzip(t)) for t in tars)
    cfg = {"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/hello"]},
           "rootfs": {"type": "layers", "diff_ids": [digests.compute(t) for t in tars]}}
    config = Blob(manifests.DOCKER_CONFIG, json.dumps(cfg).encode())
    doc = {"schemaVersion": 2, "mediaType": manifests.DOCKER_MANIFEST_V2,
           "config": config.descriptor(), "layers": [layer.descriptor() for layer in layers]}
    return BuiltImage(AMD64, layers, config,
                      Blob(manifests.DOCKER_MANIFEST_V2, json.dumps(doc).encode()))


# The lab images of the calibration run (same shapes; digests are filled in from these builds).
LAB = {
    "multi": build_index([hello_image(AMD64), hello_image(ARM64)]),
    "amd64list": build_index([hello_image(AMD64)]),
    "single-amd64": hello_image(AMD64),
    "single-arm64": hello_image(ARM64),
    "only386list": build_index([hello_image(I386)]),
    "armv7list": build_index([hello_image(ARMV7)]),
    "multi386": build_index([hello_image(I386), hello_image(AMD64)]),
    "multi-oci": build_index([hello_image(AMD64, oci=True), hello_image(ARM64, oci=True)],
                             oci=True, attestations=True),
    "mislabel": hello_image(AMD64, binary="linux/amd64", config=ARM64),
    "samelayer": hello_image(AMD64, labels={"x": "y"}),
    "mislabel-list": build_index([hello_image(ARM64, binary="linux/amd64")]),
    "layers2": data_image(2),
    "layers5": data_image(5),
}
REG = "127.0.0.1:5055"


def _placeholders() -> dict[str, str]:
    values = {f"{{root:{name}}}": b.manifest.digest for name, b in LAB.items()}
    for p in (AMD64, ARM64, I386, ARMV7):
        values[f"{{layer:{str(p).removeprefix('linux/')}}}"] = \
            hello_image(p).layers[0].digest[7:19]
    for i, layer in enumerate(LAB["layers5"].layers):
        values[f"{{layer:data{i}}}"] = layer.digest[7:19]
    return values


PLACEHOLDERS = _placeholders()


def fill(text: str) -> str:
    return re.sub(r"\{(root|layer):[a-z0-9/-]+\}", lambda m: PLACEHOLDERS[m.group()], text)


def lab_facts(typed: str) -> ImageFacts:
    ref = parse_reference(typed)
    return facts_from_built(ref, LAB[ref.repository.removeprefix("lab/")])


def hub_facts(typed: str, built) -> ImageFacts:
    return facts_from_built(parse_reference(typed), built)


def get_host(name: str) -> Host:
    """A shipped profile, read directly: a user's own override must not change these tests."""
    return load_host_file(host_dirs()[0] / f"{name}.yaml")


THIS = get_host("this-machine")
M1 = get_host("m1-desktop-4.3")
UBUNTU = get_host("multipass-ubuntu-arm64")


def engine(host_name: str, version: str, **changes):
    """A profile with another Engine version (rules then follow the version)."""
    return replace(get_host(host_name), engine=version, platforms_rules=None, **changes)


# ---------------------------------------------------------------------------------------------
# The oracle: measured transcripts, replayed


@dataclass(frozen=True)
class Measured:
    name: str
    setup: tuple[tuple[str, ...], ...]
    args: tuple[str, ...]
    rc: int
    events: tuple[tuple[str, str], ...]  # ("out" | "err", line)


def _oracle() -> list[Measured]:
    out: list[Measured] = []
    text = ORACLE.strip().replace("\n  ", " ")  # long lines are wrapped with a 2-space indent
    for block in text.split("## ")[1:]:
        head, *lines = block.splitlines()
        name, rc = head.split("  rc=")
        setup = tuple(tuple(fill(ln[9:]).split()) for ln in lines if ln.startswith("+ docker "))
        args = next(tuple(fill(ln[9:]).split()) for ln in lines if ln.startswith("$ docker "))
        events = tuple(("out" if ln[0] == ">" else "err", fill(ln[2:]))
                       for ln in lines if ln[:2] in ("> ", "! "))
        out.append(Measured(name, setup, args, int(rc), events))
    return out


def _split(args: tuple[str, ...]):
    verb, rest, platform, options = args[0], list(args[1:]), None, []
    while rest and rest[0].startswith("--"):
        if rest[0] == "--platform":
            platform = rest[1]
        else:
            options += rest[:2]
        rest = rest[2:]
    return verb, platform, tuple(options), rest[0], tuple(rest[1:])


def replay(m: Measured, host=THIS) -> Prediction:
    store = LocalStore()
    for cmd in m.setup:
        if cmd[0] == "tag":
            store = store.tagged(cmd[2], store.get(cmd[1]))
            continue
        _, platform, _, typed, _ = _split(cmd)
        store = simulate_pull(lab_facts(typed), host, platform=platform, store=store,
                              typed=typed).store_after
    verb, platform, options, typed, args = _split(m.args)
    facts = lab_facts(typed)
    if verb == "pull":
        return simulate_pull(facts, host, platform=platform, store=store, typed=typed)
    if verb == "create":
        return simulate_create(facts, host, platform=platform, store=store, typed=typed,
                               options=options)
    return simulate_run(facts, host, platform=platform, store=store, typed=typed,
                        options=options, args=args)


# ---------------------------------------------------------------------------------------------
# pull-semantics.md §7: the reference scenarios, on the story's two hosts

MYSQL = hub_facts("mysql:5.7", build_index([hello_image(AMD64)]))
MIDDLEWARE = hub_facts("some-middleware/some-middleware:latest", hello_image(AMD64))
MIDDLEWARE_1 = hub_facts("some-middleware/some-middleware:1.0", hello_image(AMD64))
L_AMD64 = PLACEHOLDERS["{layer:amd64}"]
AMD64_CHILD = hello_image(AMD64).manifest.digest
NO_MATCH_V8 = "no matching manifest for linux/arm64/v8 in the manifest list entries"
HOST_WARNING = ("WARNING: The requested image's platform (linux/amd64) does not match the "
                "detected host platform (linux/arm64/v8) and no specific platform was requested")


def pull_lines(tag: str, path: str, root: str, shown: str, layer: str = L_AMD64) -> list[str]:
    return [f"{tag}: Pulling from {path}", f"{layer}: Pulling fs layer",
            f"{layer}: Verifying Checksum", f"{layer}: Download complete",
            f"{layer}: Pull complete", f"Digest: {root}",
            f"Status: Downloaded newer image for {shown}"]


MIDDLEWARE_PULL = pull_lines("latest", "some-middleware/some-middleware",
                             MIDDLEWARE.root_digest, "some-middleware/some-middleware:latest")


@pytest.mark.parametrize("host", [M1, UBUNTU], ids=lambda h: h.name)
def test_s7_row1_pull_amd64_only_list(host):
    p = simulate_pull(MYSQL, host)
    assert p.stdout_lines == ["5.7: Pulling from library/mysql"]
    assert p.stderr_lines == [NO_MATCH_V8]
    assert p.exit_code == 1 and p.chosen_digest is None


@pytest.mark.parametrize("host", [M1, UBUNTU], ids=lambda h: h.name)
def test_s7_row2_run_amd64_only_list(host):
    p = simulate_run(MYSQL, host)
    assert p.stdout_lines == []
    assert p.stderr_lines == ["Unable to find image 'mysql:5.7' locally",
                              "5.7: Pulling from library/mysql",
                              f"docker: {NO_MATCH_V8}.", "See 'docker run --help'."]
    assert p.exit_code == 125 and p.run_mode is None


@pytest.mark.parametrize("host", [M1, UBUNTU], ids=lambda h: h.name)
def test_s7_row3_pull_single_arch_amd64_without_warning(host):
    p = simulate_pull(MIDDLEWARE, host)
    assert p.stdout_lines == [*MIDDLEWARE_PULL,
                              "docker.io/some-middleware/some-middleware:latest"]
    assert p.stderr_lines == [] and p.exit_code == 0 and p.warnings == ()
    assert p.image_platform == AMD64


def test_s7_row4_ubuntu_run_exec_format_error():
    p = simulate_run(MIDDLEWARE, UBUNTU)
    assert p.stderr_lines == [
        "Unable to find image 'some-middleware/some-middleware:latest' locally",
        *MIDDLEWARE_PULL, HOST_WARNING,
        "standard_init_linux.go:228: exec user process caused: exec format error",
    ]
    assert p.stdout_lines == []
    assert (p.exit_code, p.run_mode, p.container_output) == (1, "exec-format-error", None)


def test_s7_row5_m1_run_under_qemu():
    p = simulate_run(MIDDLEWARE, M1)
    assert p.stderr_lines[-1] == HOST_WARNING
    assert p.stdout_lines == ["hello from linux/amd64"]
    assert (p.exit_code, p.run_mode, p.emulator) == (0, "emulated", "qemu")


@pytest.mark.parametrize(("host", "mode", "code"), [(M1, "emulated", 0),
                                                     (UBUNTU, "exec-format-error", 1)],
                         ids=["m1", "ubuntu"])
def test_s7_row6_compose_platform_x86_64(host, mode, code):
    p = simulate_compose_service(MYSQL, host, "linux/x86_64", service="db",
                                 compose_version="2.2.1")
    assert p.chosen_digest == AMD64_CHILD and p.image_platform == AMD64
    assert p.warnings == ()  # create got linux/amd64, which matches: no warning
    assert (p.run_mode, p.exit_code) == (mode, code)


@pytest.mark.parametrize("host", [M1, UBUNTU], ids=lambda h: h.name)
def test_s7_row7_pull_platform_arm64_of_non_latest_tag_gives_no_warning(host):
    p = simulate_pull(MIDDLEWARE_1, host, platform="linux/arm64")
    assert p.exit_code == 0 and p.warnings == ()
    assert not any("WARNING" in line for line in p.stdout_lines + p.stderr_lines)
    assert p.stdout_lines[-1] == "docker.io/some-middleware/some-middleware:1.0"


# ---------------------------------------------------------------------------------------------
# The story: the compose stack, service by service

REDIS = hub_facts("redis:4-alpine", build_index([hello_image(AMD64), hello_image(ARMV6),
                                                 hello_image(ARM64), hello_image(I386)]))
API_IMAGE = hello_image(ARM64)  # built on the host FROM a multi-arch ruby: host architecture
API = facts_from_built(parse_reference("app_api:latest"), API_IMAGE)
API_STORE = LocalStore().with_image("app_api:latest", ARM64,
                                    config_digest=API_IMAGE.config.digest)


@pytest.mark.parametrize(
    ("service", "facts", "platform", "store", "m1", "ubuntu"),
    [
        ("db", MYSQL, "linux/x86_64", None, ("emulated", 0), ("exec-format-error", 1)),
        ("db", MYSQL, None, None, (None, 1), (None, 1)),
        ("redis", REDIS, None, None, ("native", 0), ("native", 0)),
        ("api", API, None, API_STORE, ("native", 0), ("native", 0)),
        ("some-middleware", MIDDLEWARE, None, None, ("emulated", 0), ("exec-format-error", 1)),
    ],
)
def test_story_services(service, facts, platform, store, m1, ubuntu):
    for host, (mode, code) in ((M1, m1), (UBUNTU, ubuntu)):
        p = simulate_compose_service(facts, host, platform, service=service, store=store)
        assert (p.run_mode, p.exit_code) == (mode, code), (host.name, p.transcript())


def test_story_redis_picks_arm64_on_both_hosts():
    for host in (M1, UBUNTU):
        p = simulate_compose_service(REDIS, host, service="redis")
        assert p.image_platform == ARM64 and p.container_output == ("hello from linux/arm64",)


def test_story_db_without_platform_fails_at_pull():
    p = simulate_compose_service(MYSQL, M1, service="db")
    assert p.error == NO_MATCH_V8 and p.stderr_lines == [NO_MATCH_V8]


def test_story_middleware_warning_is_computed_but_compose_221_does_not_print_it():
    p = simulate_compose_service(MIDDLEWARE, M1, service="some-middleware")
    assert p.warnings == (HOST_WARNING.removeprefix("WARNING: "),)
    assert not any("requested image's platform" in t for t in p.stdout_lines + p.stderr_lines)
    later = simulate_compose_service(MIDDLEWARE, M1, service="some-middleware",
                                     compose_version="2.13.0")
    assert f"! some-middleware {p.warnings[0]}" in later.stderr_lines


def test_story_api_is_local_and_not_pulled():
    p = simulate_compose_service(API, UBUNTU, service="api", store=API_STORE)
    assert p.chosen_digest is None and "Pulling from" not in p.transcript()


def test_compose_needs_a_version():
    without = replace(THIS, compose=None)
    with pytest.raises(LabError, match="has no compose"):
        simulate_compose_service(MYSQL, without)


def test_compose_v1_creates_without_platform_so_the_host_check_applies():
    p = simulate_compose_service(MYSQL, UBUNTU, "linux/x86_64", service="db")  # compose 1.25
    assert p.warnings == (HOST_WARNING.removeprefix("WARNING: "),)
    assert p.run_mode == "exec-format-error"


# ---------------------------------------------------------------------------------------------
# What changed in 23.0 and later

ONLY386 = lab_facts(f"{REG}/lab/only386list:latest")
ARMV7_ONLY = lab_facts(f"{REG}/lab/armv7list:latest")


@pytest.mark.parametrize(
    ("host", "facts", "platform", "expected"),
    [
        # amd64 host and a 386-only list: 20.10 refuses, 23.0 takes 386.
        (engine("this-machine", "20.10.24"), ONLY386, None,
         "no matching manifest for linux/amd64 in the manifest list entries"),
        (engine("this-machine", "23.0.0"), ONLY386, None, I386),
        # arm64 host and an arm/v7-only list: 20.10 refuses, 23.0 takes arm/v7.
        (UBUNTU, ARMV7_ONLY, None, NO_MATCH_V8),
        (engine("multipass-ubuntu-arm64", "23.0.0"), ARMV7_ONLY, None, ARMV7),
        # --platform linux/arm/v5 on an arm/v7-only list: 20.10's variant-less fallback takes
        # arm/v7; 23.0 removed it.
        (get_host("raspberry-pi-os-32"), ARMV7_ONLY, "linux/arm/v5", ARMV7),
        (engine("raspberry-pi-os-32", "23.0.0"), ARMV7_ONLY, "linux/arm/v5",
         "no matching manifest for linux/arm/v5 in the manifest list entries"),
    ],
    ids=["20.10-amd64-386", "23-amd64-386", "20.10-arm64-armv7", "23-arm64-armv7",
         "20.10-armv5-fallback", "23-armv5-no-fallback"],
)
def test_list_matching_by_version(host, facts, platform, expected):
    p = simulate_pull(facts, host, platform=platform)
    if isinstance(expected, str):
        assert (p.exit_code, p.stderr_lines) == (1, [expected])
    else:
        assert p.exit_code == 0 and p.image_platform == expected


def test_20_10_armv5_fallback_warns_after_the_pull():
    p = simulate_pull(ARMV7_ONLY, get_host("raspberry-pi-os-32"), platform="linux/arm/v5")
    assert p.stdout_lines[-2] == (
        f"WARNING: image with reference {REG}/lab/armv7list was found but does not match the "
        "specified platform: wanted linux/arm/v5, actual: linux/arm/v7")


def test_23_prefers_the_closest_variant_20_10_takes_nothing():
    facts = facts_from_built(parse_reference("x/arm:1"),
                             build_index([hello_image(Platform("linux", "arm", "v5")),
                                          hello_image(ARMV7)]))
    assert simulate_pull(facts, UBUNTU).exit_code == 1
    modern = simulate_pull(facts, engine("multipass-ubuntu-arm64", "23.0.0"))
    assert modern.image_platform == ARMV7  # Only(arm64): arm64, arm/v8, v7, v6, v5


def test_20_10_takes_the_first_exact_entry_in_list_order():
    twice = build_index([hello_image(AMD64, labels={"n": "1"}), hello_image(AMD64)])
    p = simulate_pull(facts_from_built(parse_reference("x/twice:1"), twice), THIS)
    assert p.chosen_digest == twice.images[0].manifest.digest


def _index_with_platformless_entry():
    from archlab.lab.images import BuiltIndex

    first, second = hello_image(ARMV7), hello_image(ARM64)
    entries = [first.manifest.descriptor(), second.manifest.descriptor(platform=ARM64.to_oci())]
    doc = {"schemaVersion": 2, "mediaType": manifests.OCI_INDEX, "manifests": entries}
    raw = json.dumps(doc).encode()
    return BuiltIndex((first, second), (), Blob(manifests.OCI_INDEX, raw)), first, second


def test_23_entries_without_platform_match_anything_but_come_last():
    built, first, second = _index_with_platformless_entry()
    facts = facts_from_built(parse_reference("x/odd:1"), built)
    new = engine("multipass-ubuntu-arm64", "23.0.0")
    assert simulate_pull(facts, new).chosen_digest == second.manifest.digest
    # On amd64 only the platform-less entry fits (and it is an arm/v7 image).
    amd = simulate_pull(facts, engine("this-machine", "23.0.0"))
    assert amd.chosen_digest == first.manifest.digest
    # 20.10 treats a missing platform as the zero value: it matches nothing.
    assert simulate_pull(facts, THIS).exit_code == 1


def test_23_warning_shows_the_amd64_level():
    p = simulate_run(lab_facts(f"{REG}/lab/single-arm64:latest"), get_host("ubuntu-amd64-qemu"))
    assert ("WARNING: The requested image's platform (linux/arm64/v8) does not match the "
            "detected host platform (linux/amd64/v3) and no specific platform was requested"
            ) in p.stderr_lines
    assert (p.run_mode, p.emulator, p.stdout_lines) == ("emulated", "qemu 6.2",
                                                        ["hello from linux/arm64"])


# -- the pull --platform warning: 20.10.8 adds it, looks up :latest; 24.0.1 fixes the lookup


def _warning_lines(p: Prediction) -> list[str]:
    return [t for t in p.stdout_lines + p.stderr_lines if t.startswith("WARNING")]


WRONG = ("image with reference some-middleware/some-middleware was found but does not match "
         "the specified platform: wanted linux/arm64, actual: linux/amd64")


@pytest.mark.parametrize(
    ("version", "store", "expected"),
    [
        ("20.10.7", LocalStore().with_image("some-middleware/some-middleware", AMD64), []),
        ("20.10.8", None, []),  # :latest absent: no warning although 1.0 is amd64
        ("20.10.8", LocalStore().with_image("some-middleware/some-middleware", AMD64),
         [f"WARNING: {WRONG}"]),  # about :latest, not about 1.0
        ("20.10.12", LocalStore().with_image("some-middleware/some-middleware", ARM64), []),
        ("23.0.6", None, []),
        ("24.0.1", None, [
            "WARNING: image with reference docker.io/some-middleware/some-middleware:1.0 was "
            "found but does not match the specified platform: wanted linux/arm64, actual: "
            "linux/amd64"]),
        ("27.4.0", None, [
            "WARNING: image with reference some-middleware/some-middleware:1.0 was found but "
            "its platform (linux/amd64) does not match the specified platform (linux/arm64)"]),
    ],
)
def test_pull_platform_warning_by_version(version, store, expected):
    host = engine("multipass-ubuntu-arm64", version)
    p = simulate_pull(MIDDLEWARE_1, host, platform="linux/arm64", store=store)
    assert p.exit_code == 0 and _warning_lines(p) == expected


def test_24_0_0_fails_when_latest_is_absent():
    p = simulate_pull(MIDDLEWARE_1, engine("multipass-ubuntu-arm64", "24.0.0"),
                      platform="linux/arm64")
    assert p.exit_code == 1 and p.error is not None


def test_no_pull_warning_without_platform_in_any_version():
    for version in ("20.10.12", "24.0.7", "27.4.0"):
        p = simulate_pull(MIDDLEWARE, engine("multipass-ubuntu-arm64", version))
        assert _warning_lines(p) == []


# -- 27.x texts and the containerd image store

def test_c8d_pull_error_text_27_2_1_and_later():
    p = simulate_pull(MYSQL, get_host("linux-arm64-docker29"))
    assert p.stdout_lines == []
    assert p.stderr_lines == [
        "Error response from daemon: no matching manifest for linux/arm64/v8 in the manifest "
        f"list entries: no match for platform in manifest {MYSQL.root_digest}: not found"]
    assert p.exit_code == 1


def test_c8d_pull_error_text_before_27_2_1():
    p = simulate_pull(MYSQL, engine("linux-arm64-docker29", "27.1.0"))
    assert p.stderr_lines == [
        f"Error response from daemon: no match for platform in manifest {MYSQL.root_digest}: "
        "not found"]


def test_c8d_run_error_and_no_post_pull_warning():
    p = simulate_run(MIDDLEWARE, get_host("linux-arm64-docker29"), platform="linux/arm64")
    assert _warning_lines(p) == []
    assert p.stderr_lines[-2:] == [
        "docker: Error response from daemon: image with reference "
        "some-middleware/some-middleware:latest was found but does not provide the specified "
        "platform (linux/arm64).", "See 'docker run --help'."]
    assert p.exit_code == 125


def test_graphdriver_27_4_run_error_text():
    p = simulate_run(MIDDLEWARE, engine("multipass-ubuntu-arm64", "27.4.0"),
                     platform="linux/arm64")
    assert p.stderr_lines[-2] == (
        "docker: Error response from daemon: image with reference "
        "some-middleware/some-middleware:latest was found but its platform (linux/amd64) does "
        "not match the specified platform (linux/arm64).")


def test_c8d_keeps_several_platforms_and_prefers_the_host():
    host = get_host("linux-arm64-docker29")
    facts = facts_from_built(parse_reference("x/both:1"),
                             build_index([hello_image(ARM64), hello_image(ARMV7)]))
    first = simulate_pull(facts, host)
    assert first.image_platform == ARM64
    # OnlyStrict(arm/v7) does not accept the arm64 content: "not found", pull arm/v7, run it.
    v7 = simulate_run(facts, host, platform="linux/arm/v7", store=first.store_after)
    assert v7.stderr_lines[0] == "Unable to find image 'x/both:1' locally"
    assert (v7.image_platform, v7.run_mode) == (ARMV7, "exec-format-error")
    # Both are present now; without --platform the host's arm64 is preferred, no pull.
    again = simulate_run(facts, host, store=v7.store_after)
    assert again.image_platform == ARM64 and again.stderr_lines == []
    assert again.stdout_lines == ["hello from linux/arm64"]


def test_c8d_target_is_the_host_platform():
    assert simulate_pull(REDIS, get_host("linux-arm64-docker29")).image_platform == ARM64


# ---------------------------------------------------------------------------------------------
# Artifacts: a pull that lands on something that is not an image (the lab's artifact scenarios)

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
COSIGN_LAYER = "application/vnd.dev.cosign.simplesigning.v1+json"
DOCKER29 = get_host("linux-arm64-docker29")
ROSETTA = get_host("apple-silicon-rosetta")  # 24.0.6 on arm64, graphdriver
QEMU24 = get_host("ubuntu-amd64-qemu")  # 24.0.5 on amd64, graphdriver


def scenario_facts(name: str) -> ImageFacts:
    s = scenarios.get(name)
    return facts_from_built(s.ref(REG), s.built)


def _pulling(name: str) -> str:
    s = scenarios.get(name)
    return f"{s.tag}: Pulling from {s.repository}"


def _required(p: Prediction, stream: str) -> list[str]:
    return [ln.text for ln in p.lines if ln.stream == stream and not ln.optional]


@pytest.mark.parametrize(("name", "platform", "stdout", "stderr"), [
    # a Docker schema 2 manifest with a foreign config: refused before "Pulling from"
    ("helm", None, [], [f'Error response from daemon: Encountered remote "{HELM_CONFIG}"'
                        "(unknown) when fetching"]),
    ("artifact", None, [], [f'Error response from daemon: Encountered remote "{EMPTY_CONFIG}"'
                            "(unknown) when fetching"]),
    # an OCI manifest passes that check; 20.10.22+ then refuses the first foreign type
    ("helm-oci", None, ["pull"], [f"unsupported media type {HELM_CONFIG}"]),
    ("helm-oci", "linux/arm64", ["pull"], [f"unsupported media type {HELM_CONFIG}"]),
    ("artifact-oci", None, ["pull"], [f"unsupported media type {EMPTY_CONFIG}"]),
    ("signed", None, ["pull"], [f"unsupported media type {COSIGN_LAYER}"]),  # a layer's type
    ("signed-oci", None, ["pull"], [f"unsupported media type {COSIGN_LAYER}"]),
    # lists: 20.10 matches no entry without a platform; --platform can land on anything
    ("referrers-oci", None, ["pull"],
     ["no matching manifest for linux/amd64 in the manifest list entries"]),
    ("mixed-oci", "linux/arm64", ["pull"],
     ["no matching manifest for linux/arm64 in the manifest list entries"]),
    ("wasm", None, ["pull"], ["no matching manifest for linux/amd64 in the manifest list entries"]),
    ("wasm-oci", "wasi/wasm", ["pull"], ["operating system is not supported"]),
    ("redis-oci", "unknown/unknown", ["pull"],
     ["unsupported media type application/vnd.in-toto+json"]),
])
def test_20_10_24_pulls_of_artifacts_as_measured(name, platform, stdout, stderr):
    """The oracle's artifact cases, without Docker (tests/test_oracle.py runs them for real)."""
    p = simulate_pull(scenario_facts(name), THIS, platform=platform)
    assert p.stdout_lines == [_pulling(name) if x == "pull" else x for x in stdout]
    assert p.stderr_lines == stderr
    assert p.exit_code == 1
    assert not any(ln.approximate for ln in p.lines)


def test_the_config_class_names_plugins():
    """moby's mediaTypeClasses: a plugin's config says "plugin", anything else "unknown"."""
    from archlab.lab.images import build_artifact

    plugin = build_artifact(Blob("application/vnd.docker.plugin.v1+json", b'{"Args":{}}'),
                            [Blob(manifests.DOCKER_LAYER_GZIP, deterministic_gzip(b""))],
                            oci=False)
    p = simulate_pull(facts_from_built(parse_reference("vieux/sshfs:latest"), plugin), THIS)
    assert p.stderr_lines == ['Error response from daemon: Encountered remote '
                              '"application/vnd.docker.plugin.v1+json"(plugin) when fetching']


@pytest.mark.parametrize(("layer_type", "refused"), [
    ("application/vnd.oci.image.layer.v1.tar+zstd", False),  # a prefix, then "."
    ("application/vnd.docker.image.rootfs.diff.tar.gzip", False),
    ("application/octet-stream", False),  # old registries' types are exact matches
    ("application/vnd.oci.images_are_fun", True),  # moby's own example: no "." after it
    ("text/plain", True),
])
def test_supported_media_types_are_prefixes_followed_by_a_dot(layer_type, refused):
    from archlab.lab.images import build_artifact

    config = hello_image(AMD64, oci=True).config
    layer = Blob(layer_type, deterministic_gzip(deterministic_tar({"a": b"a"})))
    built = build_artifact(config, [layer], oci=True)
    p = simulate_pull(facts_from_built(parse_reference(f"{REG}/x/y:1"), built), THIS)
    said = p.stderr_lines == [f"unsupported media type {layer_type}"]
    assert said is refused


@pytest.mark.parametrize(("name", "error", "approximate"), [
    ("helm-oci", "invalid rootfs in image configuration", False),
    ("artifact-oci", "invalid rootfs in image configuration", False),
    ("signed-oci", "failed to register layer: Error processing tar file(exit status 1): "
                   "unexpected EOF", True),
])
def test_before_20_10_22_an_artifact_fails_only_once_downloading(name, error, approximate):
    """No media type check before 20.10.22 (moby #44413): the downloads start and the config
    (no rootfs) or the layer (not a tar) fails; the story's Ubuntu VM runs 20.10.12."""
    p = simulate_pull(scenario_facts(name), UBUNTU)
    assert _required(p, "stdout") == [_pulling(name)]
    assert all(t.endswith(("Pulling fs layer", "Verifying Checksum", "Download complete"))
               for t in p.stdout_lines[1:])
    assert p.stderr_lines == [error] and p.exit_code == 1
    assert next(ln for ln in p.lines if ln.stream == "stderr").approximate is approximate
    # 20.10.22 is the first with the check
    later = simulate_pull(scenario_facts(name), engine("multipass-ubuntu-arm64", "20.10.22"))
    assert later.stderr_lines[0].startswith("unsupported media type ")


def test_before_20_10_22_a_layerless_image_is_no_artifact():
    """An empty rootfs is a rootfs: only a config without one (a chart's) is refused."""
    config = Blob(manifests.DOCKER_CONFIG, json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/x"]},
        "rootfs": {"type": "layers", "diff_ids": []}}).encode())
    doc = {"schemaVersion": 2, "mediaType": manifests.DOCKER_MANIFEST_V2,
           "config": config.descriptor(), "layers": []}
    empty = BuiltImage(AMD64, (), config, Blob(manifests.DOCKER_MANIFEST_V2,
                                                json.dumps(doc).encode()))
    p = simulate_pull(facts_from_built(parse_reference("x/empty:1"), empty), UBUNTU)
    assert p.exit_code == 0 and p.stderr_lines == []


def test_before_20_10_22_unknown_unknown_stops_at_the_os_check():
    p = simulate_pull(scenario_facts("redis-oci"), M1, platform="unknown/unknown")
    assert p.stderr_lines == ["operating system is not supported"]


@pytest.mark.parametrize(("host", "name", "platform", "error"), [
    # 23.0+: an entry without a platform matches any platform, last: the pull lands on it
    (QEMU24, "mixed-oci", "linux/arm64", f"unsupported media type {HELM_CONFIG}"),
    (QEMU24, "mixed", "linux/s390x", f"unsupported media type {HELM_CONFIG}"),
    (ROSETTA, "mixed-oci", None, f"unsupported media type {HELM_CONFIG}"),
    (QEMU24, "referrers-oci", None, f"unsupported media type {EMPTY_CONFIG}"),
    (QEMU24, "referrers", "linux/arm64", f"unsupported media type {EMPTY_CONFIG}"),
    # ... and 20.10 on the same inputs: no entry
    (M1, "mixed-oci", None, NO_MATCH_V8),
    (UBUNTU, "referrers-oci", None, NO_MATCH_V8),
])
def test_23_lands_on_an_entry_without_a_platform(host, name, platform, error):
    p = simulate_pull(scenario_facts(name), host, platform=platform)
    assert p.stderr_lines == [error]
    if error.startswith("unsupported"):
        chosen = next(s for s in p.explanation if s.rule.startswith("choose a list entry"))
        assert "(no platform)" in chosen.detail


def test_23_still_prefers_the_image_when_it_matches():
    p = simulate_run(scenario_facts("mixed-oci"), QEMU24)
    assert p.stdout_lines == ["hello from linux/amd64"] and p.exit_code == 0


def test_c8d_judges_an_entry_without_a_platform_by_its_config():
    """containerd reads the config of an entry without a platform: a Helm chart names none,
    so nothing matches where the graphdriver of 23+ would land on the chart."""
    p = simulate_pull(scenario_facts("mixed-oci"), DOCKER29)
    digest = scenarios.get("mixed-oci").digest
    assert p.stderr_lines == [
        "Error response from daemon: no matching manifest for linux/arm64/v8 in the manifest "
        f"list entries: no match for platform in manifest {digest}: not found"]
    step = next(s for s in p.explanation if s.rule.startswith("choose a list entry"))
    assert "containerd@v1.7.0:images/image.go#L166-183" in step.source


def test_c8d_keeps_a_chart_as_an_image_with_nothing_to_run():
    pulled = simulate_pull(scenario_facts("helm-oci"), DOCKER29)
    assert pulled.exit_code == 0
    assert pulled.stdout_lines[-1] == scenarios.get("helm-oci").ref(REG)
    assert all(ln.approximate for ln in pulled.lines[:-1])
    run = simulate_run(scenario_facts("helm-oci"), DOCKER29)
    assert run.stderr_lines[-2:] == ["docker: Error response from daemon: No command "
                                     "specified.", "See 'docker run --help'."]
    assert run.exit_code == 125
    again = simulate_run(scenario_facts("helm-oci"), DOCKER29, store=pulled.store_after)
    assert again.stderr_lines[0].startswith("docker: Error response from daemon: No command")


def test_c8d_cannot_unpack_a_signature():
    """cosign's config lists one diff_id, its one layer is no layer type: the counts differ."""
    p = simulate_pull(scenario_facts("signed-oci"), DOCKER29)
    assert p.stderr_lines == ["failed to unpack image on snapshotter overlayfs: mismatched "
                              "image rootfs and manifest layers"]
    assert p.exit_code == 1 and all(ln.approximate for ln in p.lines)


def test_a_wasm_single_manifest_fails_once_its_config_arrives():
    """No list to choose from, so nothing stops the pull until the config says os wasi
    (measured on 20.10.24: the layer lines race the config)."""
    image = scenarios.get("wasm-oci").images[0]
    p = simulate_pull(facts_from_built(parse_reference(f"{REG}/x/wasm:1"), image), THIS)
    assert _required(p, "stdout") == ["1: Pulling from x/wasm"]
    assert p.stderr_lines == ["operating system is not supported"]
    step = next(s for s in p.explanation if s.rule == "config OS")
    assert "PlatformFromConfig" in step.source


def test_a_layer_that_wins_the_race_with_the_config_may_be_registered_first():
    """Seen from the oracle under load: the one small layer finished ('Pull complete') before
    the config's OS check failed. Both that run and a run with no layer lines match; a layer
    line that Docker cannot print there does not."""
    image = scenarios.get("wasm-oci").images[0]
    p = simulate_pull(facts_from_built(parse_reference(f"{REG}/x/wasm:1"), image), THIS)
    layer = next(ln.text.split(":")[0] for ln in p.lines if ln.text.endswith("Pulling fs layer"))
    err = "operating system is not supported\n"
    raced = "\n".join(["1: Pulling from x/wasm", f"{layer}: Pulling fs layer",
                       f"{layer}: Verifying Checksum", f"{layer}: Download complete",
                       f"{layer}: Pull complete"])
    assert p.compare(raced, err, 1) == []
    assert p.compare("1: Pulling from x/wasm", err, 1) == []
    assert p.compare(raced + f"\n{layer}: Already exists", err, 1) != []


def test_a_windows_image_gets_its_own_message_on_a_linux_daemon_20_10():
    windows = hello_image(AMD64, config=Platform("windows", "amd64"))
    p = simulate_pull(facts_from_built(parse_reference("x/win:1"), windows), THIS)
    assert p.stderr_lines == ['image operating system "windows" cannot be used on this platform']


@pytest.mark.parametrize("os_name", ["wasi", "windows"])
def test_23_wraps_the_config_os_error_for_every_os(os_name):
    image = hello_image(AMD64, config=Platform(os_name, "amd64"))
    p = simulate_pull(facts_from_built(parse_reference("x/y:1"), image), QEMU24)
    assert p.stderr_lines == [f'image operating system "{os_name}" cannot be used on this '
                              "platform: operating system is not supported"]


# ---------------------------------------------------------------------------------------------
# runc: the exec format error text by version


@pytest.mark.parametrize(
    ("version", "text"),
    [
        ("1.0.0-rc10", 'standard_init_linux.go:211: exec user process caused "exec format error"'),
        ("0.1.1", 'standard_init_linux.go:211: exec user process caused "exec format error"'),
        ("1.0.0-rc92", "standard_init_linux.go:219: exec user process caused: exec format error"),
        ("1.0.0-rc93", "standard_init_linux.go:219: exec user process caused: exec format error"),
        ("1.0.0-rc94", "standard_init_linux.go:228: exec user process caused: exec format error"),
        ("1.0.0", "standard_init_linux.go:228: exec user process caused: exec format error"),
        ("1.0.2", "standard_init_linux.go:228: exec user process caused: exec format error"),
        ("1.0.3", "standard_init_linux.go:228: exec user process caused: exec format error"),
        ("1.1.0", "exec /usr/local/bin/docker-entrypoint.sh: exec format error"),
        ("1.1.5+ds1", "exec /usr/local/bin/docker-entrypoint.sh: exec format error"),
        ("1.3.4", "exec /usr/local/bin/docker-entrypoint.sh: exec format error"),
    ],
)
def test_runc_texts(version, text):
    assert runc_exec_error(version, "/usr/local/bin/docker-entrypoint.sh") == text


def test_runc_version_must_parse():
    with pytest.raises(LabError, match="runc version 'new'"):
        runc_exec_error("new", "/x")


@pytest.mark.parametrize(("runc", "line"), [
    ("1.0.2", "standard_init_linux.go:228: exec user process caused: exec format error"),
    ("1.1.4", "exec /hello: exec format error"),
])
def test_runc_version_of_the_profile_decides_the_line(runc, line):
    p = simulate_run(MIDDLEWARE, replace(UBUNTU, runc=runc))
    assert p.stderr_lines[-1] == line and p.exit_code == 1


def test_command_without_slash_is_resolved_along_path():
    img = build_image(AMD64, {"usr/local/bin/docker-entrypoint.sh": b"#!/bin/sh\n"},
                      entrypoint=["docker-entrypoint.sh"])
    facts = facts_from_built(parse_reference("x/script:1"), img)
    p = simulate_run(facts, replace(UBUNTU, runc="1.1.0"))
    assert p.stderr_lines[-1] == "exec /usr/local/bin/docker-entrypoint.sh: exec format error"


# ---------------------------------------------------------------------------------------------
# The Docker Desktop client-side parse trap, and mislabelled images


def test_desktop_bare_amd64_becomes_darwin_for_create():
    p = simulate_run(MYSQL, M1, platform="amd64")
    assert p.chosen_digest == AMD64_CHILD  # the pull (daemon-side parse) got linux/amd64
    assert p.stderr_lines[-2:] == [
        "docker: Error response from daemon: image with reference mysql:5.7 was found but does "
        "not match the specified platform: wanted darwin/amd64, actual: linux/amd64.",
        "See 'docker run --help'."]
    assert p.exit_code == 125


def test_desktop_bare_amd64_is_fine_for_pull_and_on_linux_clients():
    assert simulate_pull(MYSQL, M1, platform="amd64").image_platform == AMD64
    assert simulate_run(MYSQL, M1, platform="linux/amd64").run_mode == "emulated"
    assert simulate_run(MYSQL, UBUNTU, platform="amd64").run_mode == "exec-format-error"


MISLABEL = lab_facts(f"{REG}/lab/mislabel:latest")  # config says arm64/v8, the binary is amd64


@pytest.mark.parametrize(
    ("host", "warned", "mode"),
    [(THIS, True, "native"), (UBUNTU, False, "exec-format-error"), (M1, False, "emulated")],
    ids=["amd64", "arm64-no-binfmt", "m1-qemu"],
)
def test_mislabelled_image_runs_by_its_binary(host, warned, mode):
    p = simulate_run(MISLABEL, host)
    assert bool(p.warnings) is warned and p.run_mode == mode


def test_binary_platform_is_read_from_the_elf_header():
    assert MISLABEL.binary_platforms == {MISLABEL.root.config.digest: AMD64}
    assert MISLABEL.configs[MISLABEL.root.config.digest].platform == ARM64


# ---------------------------------------------------------------------------------------------
# The local store


def test_run_uses_a_local_image_without_pulling():
    pulled = simulate_pull(MIDDLEWARE, M1)
    p = simulate_run(MIDDLEWARE, M1, store=pulled.store_after)
    assert p.stderr_lines == [HOST_WARNING] and p.stdout_lines == ["hello from linux/amd64"]


def test_local_store_keys_are_normalized():
    store = LocalStore().with_image("mysql", AMD64)
    assert store.get("docker.io/library/mysql:latest") and not store.get("mysql:5.7")


def test_pull_records_the_digest_reference():
    after = simulate_pull(MYSQL, THIS).store_after
    assert after.get(f"mysql@{MYSQL.root_digest}")[0].platform == AMD64


def test_create_prints_a_container_id_pattern():
    p = simulate_create(MIDDLEWARE, THIS, store=simulate_pull(MIDDLEWARE, THIS).store_after)
    assert p.lines == (OutputLine("stdout", "<container id>", pattern=CONTAINER_ID_PATTERN),)
    assert p.compare("a" * 64, "", 0) == [] and p.compare("abc", "", 0) != []


# ---------------------------------------------------------------------------------------------
# docker_parse_error: containerd's texts (measured: unknown, too many parts, wildcard, component)


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("foo", '"foo": unknown operating system or architecture: invalid argument'),
        ("linux/arm64/v8/x", '"linux/arm64/v8/x": cannot parse platform specifier: invalid '
                             "argument"),
        ("linux/*", '"linux/*": wildcards not yet supported: invalid argument'),
        ("linux!/amd64", '"linux!" is an invalid component of "linux!/amd64": platform specifier '
                         'component must match "^[A-Za-z0-9_-]+$": invalid argument'),
        ("linux/arm64", None),
        ("amd64", None),
    ],
)
def test_docker_parse_error(spec, text):
    assert docker_parse_error(spec, THIS.daemon_platform, THIS.rules) == text


# ---------------------------------------------------------------------------------------------
# Prediction: comparing, rendering, explaining


def test_compare_reports_differences():
    p = simulate_pull(MYSQL, UBUNTU)
    good_out, good_err = "5.7: Pulling from library/mysql", NO_MATCH_V8
    assert p.compare(good_out, good_err, 1) == []
    assert p.compare(good_out, good_err, 0) == ["exit code: expected 1, got 0"]
    assert p.compare(good_out, "no matching manifest for linux/arm64 in the manifest list "
                     "entries", 1) == [
        f"stderr line 1: expected {NO_MATCH_V8!r}, got 'no matching manifest for linux/arm64 "
        "in the manifest list entries'"]
    assert p.compare(good_out + "\nextra", good_err) == ["stdout: unexpected line(s) ['extra']"]
    assert p.compare("", good_err) == [
        "stdout: missing line(s) ['5.7: Pulling from library/mysql']"]


def test_verifying_checksum_may_be_absent():
    p = simulate_pull(MIDDLEWARE, UBUNTU)
    real = [t for t in p.stdout_lines if "Verifying" not in t]
    assert p.matches("\n".join(real), "", 0)


def test_parallel_downloads_in_any_order_registration_in_order():
    facts = lab_facts(f"{REG}/lab/layers5:latest")
    p = simulate_pull(facts, THIS)
    lines = [t for t in p.stdout_lines if "Verifying" not in t and "Waiting" not in t]
    done = [t for t in lines if t.endswith("Download complete")]
    shuffled = [t for t in lines if t not in done]
    at = shuffled.index(next(t for t in shuffled if t.endswith("Pull complete")))
    shuffled[at:at] = list(reversed(done))
    assert p.matches("\n".join(shuffled), "", 0)
    pulls = [t for t in lines if t.endswith("Pull complete")]
    swapped = [pulls[1] if t == pulls[0] else pulls[0] if t == pulls[1] else t for t in lines]
    assert not p.matches("\n".join(swapped), "", 0)


def test_transcript_interleaves_streams():
    p = simulate_run(MIDDLEWARE, M1)
    assert p.transcript().splitlines() == p.stderr_lines + p.stdout_lines
    assert p.transcript(with_command=True).splitlines()[0] == \
        "$ docker run some-middleware/some-middleware:latest"


def test_to_dict_is_json():
    d = simulate_run(MIDDLEWARE, UBUNTU).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["run_mode"] == "exec-format-error" and d["image_platform"] == "linux/amd64"
    assert d["lines"][0] == {"stream": "stderr", "text": "Unable to find image "
                             "'some-middleware/some-middleware:latest' locally",
                             "optional": False, "pattern": None, "approximate": False,
                             "group": None}


def test_every_step_has_a_source_and_explain_shows_them():
    p = simulate_pull(MYSQL, UBUNTU)
    assert p.explanation and all(s.source and s.detail for s in p.explanation)
    text = explain(p)
    assert "moby@v20.10.12:distribution/pull_v2.go#L833-846" in text
    assert NO_MATCH_V8 in text and "exit code 1" in text
    run = explain(simulate_run(MIDDLEWARE, UBUNTU))
    assert "runc@v1.0.2:libcontainer/standard_init_linux.go#L227-228" in run
    assert "Run mode: **exec-format-error**" in run


def test_predictions_frame():
    preds = [simulate_run(MIDDLEWARE, h) for h in (M1, UBUNTU)]
    df = predictions_frame(preds)
    assert isinstance(df, pd.DataFrame)
    assert list(df["host"]) == ["m1-desktop-4.3", "multipass-ubuntu-arm64"]
    assert list(df["run_mode"]) == ["emulated", "exec-format-error"]
    assert list(df["exit_code"]) == [0, 1]


# ---------------------------------------------------------------------------------------------
# gather_facts, with a stand-in client (the real one needs a registry)


class FakeClient:
    """Serves a built index the way AsyncRegistryClient would; counts what was asked."""

    def __init__(self, built):
        self.blobs = {built.manifest.digest: built.manifest}
        for child in built.children():
            self.blobs[child.manifest.digest] = child.manifest
            self.blobs[child.config.digest] = child.config
        self.root = built.manifest
        self.asked: list[str] = []

    async def get_manifest(self, ref):
        blob = self.blobs[ref.digest] if ref.digest else self.root
        self.asked.append(blob.digest)

        @dataclass
        class Got:
            manifest: object
            digest: str
            media_type: str

        return Got(manifests.parse_manifest(blob.data, blob.media_type), blob.digest,
                   blob.media_type)

    async def get_config(self, ref, descriptor):
        self.asked.append(descriptor.digest)
        return manifests.parse_config(self.blobs[descriptor.digest].data)


def test_gather_facts_reads_attestations_only_when_asked():
    """An attestation manifest is one more counted GET and a pull reaches one only through
    ``--platform unknown/unknown``: read on request (their configs are image configs)."""
    built = LAB["multi-oci"]
    client = FakeClient(built)
    facts = asyncio.run(gather_facts(f"{REG}/lab/multi-oci:latest", client))
    assert set(facts.children) == {img.manifest.digest for img in built.images}
    assert set(facts.configs) == {img.config.digest for img in built.images}
    assert not {a.manifest.digest for a in built.attestations} & set(client.asked)
    with pytest.raises(ManifestError, match=r"lack the attestation manifest sha256:[0-9a-f]+ "
                       r"that this platform selects; gather them with gather_facts\(\.\.\., "
                       r"attestations=True\)"):
        simulate_pull(facts, THIS, platform="unknown/unknown")
    assert selects_attestations("unknown/unknown") and not selects_attestations("linux/arm64")
    everything = [*built.images, *built.attestations]
    full = asyncio.run(gather_facts(f"{REG}/lab/multi-oci:latest", FakeClient(built),
                                    attestations=True))
    assert set(full.children) == {img.manifest.digest for img in everything}
    assert set(full.configs) == {img.config.digest for img in everything}
    assert simulate_pull(full, THIS, platform="unknown/unknown").stderr_lines == [
        "unsupported media type application/vnd.in-toto+json"]
    p = simulate_run(facts, THIS)
    assert p.image_platform == AMD64 and p.run_mode == "native" and p.container_output is None
    assert p.exit_code is None  # the facts do not say what the entrypoint prints


def test_gather_facts_never_fetches_an_artifact_config():
    """A Helm chart's config is not an image config: Docker refuses it by its type, and it
    need not even parse as one, so it is not asked for; the chart's manifest is."""
    built = scenarios.get("mixed", oci=True).built
    chart = built.artifacts[0]
    client = FakeClient(built)
    facts = asyncio.run(gather_facts(f"{REG}/lab/mixed-oci:latest", client))
    assert chart.manifest.digest in facts.children
    assert chart.config.digest not in client.asked
    assert set(facts.configs) == {built.images[0].config.digest}
    built_facts = facts_from_built(parse_reference(f"{REG}/lab/mixed-oci:latest"), built)
    assert (set(facts.children), set(facts.configs)) == (set(built_facts.children),
                                                         set(built_facts.configs))


def test_facts_outputs_can_be_given():
    facts = lab_facts(f"{REG}/lab/single-amd64:latest")
    digest = next(iter(facts.configs))
    p = simulate_run(facts.with_outputs({digest: ["custom"]}), THIS)
    assert p.stdout_lines == ["custom"]


def test_missing_config_is_a_clear_error():
    facts = lab_facts(f"{REG}/lab/single-amd64:latest")
    broken = replace(facts, configs={})
    with pytest.raises(ManifestError, match="lack the config"):
        simulate_pull(broken, THIS)


# ---------------------------------------------------------------------------------------------
# Measured on Debian docker.io 20.10.24+dfsg1 (runc 1.1.5, containerd 1.6.20), 2026-11-28.
# "+ docker ..." = setup from an empty store, "$ docker ..." = the command, "> " = stdout,
# "! " = stderr, in the order read. run/create used "--network none" (bridge=none daemon).
# Lines longer than the line limit continue on the next line, indented by two spaces.

ORACLE = """
## pull-multi-None  rc=0
$ docker pull 127.0.0.1:5055/lab/multi:latest
> latest: Pulling from lab/multi
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:multi}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> 127.0.0.1:5055/lab/multi:latest
## pull-multi-linux/amd64  rc=0
$ docker pull --platform linux/amd64 127.0.0.1:5055/lab/multi:latest
> latest: Pulling from lab/multi
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:multi}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> 127.0.0.1:5055/lab/multi:latest
## pull-multi-linux/arm64  rc=0
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/multi:latest
> latest: Pulling from lab/multi
> {layer:arm64/v8}: Pulling fs layer
> {layer:arm64/v8}: Verifying Checksum
> {layer:arm64/v8}: Download complete
> {layer:arm64/v8}: Pull complete
> Digest: {root:multi}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> 127.0.0.1:5055/lab/multi:latest
## pull-multi-linux/arm64/v8  rc=0
$ docker pull --platform linux/arm64/v8 127.0.0.1:5055/lab/multi:latest
> latest: Pulling from lab/multi
> {layer:arm64/v8}: Pulling fs layer
> {layer:arm64/v8}: Verifying Checksum
> {layer:arm64/v8}: Download complete
> {layer:arm64/v8}: Pull complete
> Digest: {root:multi}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> 127.0.0.1:5055/lab/multi:latest
## pull-multi-linux/386  rc=1
$ docker pull --platform linux/386 127.0.0.1:5055/lab/multi:latest
> latest: Pulling from lab/multi
! no matching manifest for linux/386 in the manifest list entries
## pull-amd64list-None  rc=0
$ docker pull 127.0.0.1:5055/lab/amd64list:5.7
> 5.7: Pulling from lab/amd64list
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:amd64list}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/amd64list:5.7
> 127.0.0.1:5055/lab/amd64list:5.7
## pull-amd64list-linux/amd64  rc=0
$ docker pull --platform linux/amd64 127.0.0.1:5055/lab/amd64list:5.7
> 5.7: Pulling from lab/amd64list
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:amd64list}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/amd64list:5.7
> 127.0.0.1:5055/lab/amd64list:5.7
## pull-amd64list-linux/arm64  rc=1
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/amd64list:5.7
> 5.7: Pulling from lab/amd64list
! no matching manifest for linux/arm64 in the manifest list entries
## pull-amd64list-linux/arm64/v8  rc=1
$ docker pull --platform linux/arm64/v8 127.0.0.1:5055/lab/amd64list:5.7
> 5.7: Pulling from lab/amd64list
! no matching manifest for linux/arm64/v8 in the manifest list entries
## pull-amd64list-linux/386  rc=1
$ docker pull --platform linux/386 127.0.0.1:5055/lab/amd64list:5.7
> 5.7: Pulling from lab/amd64list
! no matching manifest for linux/386 in the manifest list entries
## pull-single-amd64-None  rc=0
$ docker pull 127.0.0.1:5055/lab/single-amd64:latest
> latest: Pulling from lab/single-amd64
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> 127.0.0.1:5055/lab/single-amd64:latest
## pull-single-amd64-linux/amd64  rc=0
$ docker pull --platform linux/amd64 127.0.0.1:5055/lab/single-amd64:latest
> latest: Pulling from lab/single-amd64
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> 127.0.0.1:5055/lab/single-amd64:latest
## pull-single-amd64-linux/arm64  rc=0
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/single-amd64:latest
> latest: Pulling from lab/single-amd64
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/arm64, actual: linux/amd64
> 127.0.0.1:5055/lab/single-amd64:latest
## pull-single-amd64-linux/arm64/v8  rc=0
$ docker pull --platform linux/arm64/v8 127.0.0.1:5055/lab/single-amd64:latest
> latest: Pulling from lab/single-amd64
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/arm64/v8, actual: linux/amd64
> 127.0.0.1:5055/lab/single-amd64:latest
## pull-single-amd64-linux/386  rc=0
$ docker pull --platform linux/386 127.0.0.1:5055/lab/single-amd64:latest
> latest: Pulling from lab/single-amd64
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/386, actual: linux/amd64
> 127.0.0.1:5055/lab/single-amd64:latest
## pull-single-arm64-None  rc=0
$ docker pull 127.0.0.1:5055/lab/single-arm64:latest
> latest: Pulling from lab/single-arm64
> {layer:arm64/v8}: Pulling fs layer
> {layer:arm64/v8}: Verifying Checksum
> {layer:arm64/v8}: Download complete
> {layer:arm64/v8}: Pull complete
> Digest: {root:single-arm64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
> 127.0.0.1:5055/lab/single-arm64:latest
## pull-single-arm64-linux/amd64  rc=0
$ docker pull --platform linux/amd64 127.0.0.1:5055/lab/single-arm64:latest
> latest: Pulling from lab/single-arm64
> {layer:arm64/v8}: Pulling fs layer
> {layer:arm64/v8}: Verifying Checksum
> {layer:arm64/v8}: Download complete
> {layer:arm64/v8}: Pull complete
> Digest: {root:single-arm64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
> WARNING: image with reference 127.0.0.1:5055/lab/single-arm64 was found but does not match the
  specified platform: wanted linux/amd64, actual: linux/arm64/v8
> 127.0.0.1:5055/lab/single-arm64:latest
## pull-single-arm64-linux/arm64  rc=0
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/single-arm64:latest
> latest: Pulling from lab/single-arm64
> {layer:arm64/v8}: Pulling fs layer
> {layer:arm64/v8}: Verifying Checksum
> {layer:arm64/v8}: Download complete
> {layer:arm64/v8}: Pull complete
> Digest: {root:single-arm64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
> 127.0.0.1:5055/lab/single-arm64:latest
## pull-single-arm64-linux/arm64/v8  rc=0
$ docker pull --platform linux/arm64/v8 127.0.0.1:5055/lab/single-arm64:latest
> latest: Pulling from lab/single-arm64
> {layer:arm64/v8}: Pulling fs layer
> {layer:arm64/v8}: Verifying Checksum
> {layer:arm64/v8}: Download complete
> {layer:arm64/v8}: Pull complete
> Digest: {root:single-arm64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
> 127.0.0.1:5055/lab/single-arm64:latest
## pull-single-arm64-linux/386  rc=0
$ docker pull --platform linux/386 127.0.0.1:5055/lab/single-arm64:latest
> latest: Pulling from lab/single-arm64
> {layer:arm64/v8}: Pulling fs layer
> {layer:arm64/v8}: Verifying Checksum
> {layer:arm64/v8}: Download complete
> {layer:arm64/v8}: Pull complete
> Digest: {root:single-arm64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
> WARNING: image with reference 127.0.0.1:5055/lab/single-arm64 was found but does not match the
  specified platform: wanted linux/386, actual: linux/arm64/v8
> 127.0.0.1:5055/lab/single-arm64:latest
## run-multi-None  rc=0
$ docker run --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> hello from linux/amd64
## run-multi-linux/amd64  rc=0
$ docker run --platform linux/amd64 --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> hello from linux/amd64
## run-multi-linux/arm64  rc=1
$ docker run --platform linux/arm64 --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
! exec /hello: exec format error
## run-multi-linux/arm64/v8  rc=1
$ docker run --platform linux/arm64/v8 --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
! exec /hello: exec format error
## run-multi-linux/386  rc=125
$ docker run --platform linux/386 --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! docker: no matching manifest for linux/386 in the manifest list entries.
! See 'docker run --help'.
## run-amd64list-None  rc=0
$ docker run --network none 127.0.0.1:5055/lab/amd64list:5.7
! Unable to find image '127.0.0.1:5055/lab/amd64list:5.7' locally
! 5.7: Pulling from lab/amd64list
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:amd64list}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/amd64list:5.7
> hello from linux/amd64
## run-amd64list-linux/amd64  rc=0
$ docker run --platform linux/amd64 --network none 127.0.0.1:5055/lab/amd64list:5.7
! Unable to find image '127.0.0.1:5055/lab/amd64list:5.7' locally
! 5.7: Pulling from lab/amd64list
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:amd64list}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/amd64list:5.7
> hello from linux/amd64
## run-amd64list-linux/arm64  rc=125
$ docker run --platform linux/arm64 --network none 127.0.0.1:5055/lab/amd64list:5.7
! Unable to find image '127.0.0.1:5055/lab/amd64list:5.7' locally
! 5.7: Pulling from lab/amd64list
! docker: no matching manifest for linux/arm64 in the manifest list entries.
! See 'docker run --help'.
## run-amd64list-linux/arm64/v8  rc=125
$ docker run --platform linux/arm64/v8 --network none 127.0.0.1:5055/lab/amd64list:5.7
! Unable to find image '127.0.0.1:5055/lab/amd64list:5.7' locally
! 5.7: Pulling from lab/amd64list
! docker: no matching manifest for linux/arm64/v8 in the manifest list entries.
! See 'docker run --help'.
## run-amd64list-linux/386  rc=125
$ docker run --platform linux/386 --network none 127.0.0.1:5055/lab/amd64list:5.7
! Unable to find image '127.0.0.1:5055/lab/amd64list:5.7' locally
! 5.7: Pulling from lab/amd64list
! docker: no matching manifest for linux/386 in the manifest list entries.
! See 'docker run --help'.
## run-single-amd64-None  rc=0
$ docker run --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> hello from linux/amd64
## run-single-amd64-linux/amd64  rc=0
$ docker run --platform linux/amd64 --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> hello from linux/amd64
## run-single-amd64-linux/arm64  rc=125
$ docker run --platform linux/arm64 --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/arm64, actual: linux/amd64
! docker: Error response from daemon: image with reference 127.0.0.1:5055/lab/single-amd64:latest
  was found but does not match the specified platform: wanted linux/arm64, actual: linux/amd64.
! See 'docker run --help'.
## run-single-amd64-linux/arm64/v8  rc=125
$ docker run --platform linux/arm64/v8 --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/arm64/v8, actual: linux/amd64
! docker: Error response from daemon: image with reference 127.0.0.1:5055/lab/single-amd64:latest
  was found but does not match the specified platform: wanted linux/arm64/v8, actual: linux/amd64.
! See 'docker run --help'.
## run-single-amd64-linux/386  rc=125
$ docker run --platform linux/386 --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/386, actual: linux/amd64
! docker: Error response from daemon: image with reference 127.0.0.1:5055/lab/single-amd64:latest
  was found but does not match the specified platform: wanted linux/386, actual: linux/amd64.
! See 'docker run --help'.
## run-single-arm64-None  rc=1
$ docker run --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:single-arm64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
! WARNING: The requested image's platform (linux/arm64/v8) does not match the detected host
  platform (linux/amd64) and no specific platform was requested
! exec /hello: exec format error
## run-single-arm64-linux/amd64  rc=125
$ docker run --platform linux/amd64 --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:single-arm64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-arm64 was found but does not match the
  specified platform: wanted linux/amd64, actual: linux/arm64/v8
! docker: Error response from daemon: image with reference 127.0.0.1:5055/lab/single-arm64:latest
  was found but does not match the specified platform: wanted linux/amd64, actual: linux/arm64/v8.
! See 'docker run --help'.
## run-single-arm64-linux/arm64  rc=1
$ docker run --platform linux/arm64 --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:single-arm64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
! exec /hello: exec format error
## run-single-arm64-linux/arm64/v8  rc=1
$ docker run --platform linux/arm64/v8 --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:single-arm64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
! exec /hello: exec format error
## run-single-arm64-linux/386  rc=125
$ docker run --platform linux/386 --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:single-arm64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-arm64 was found but does not match the
  specified platform: wanted linux/386, actual: linux/arm64/v8
! docker: Error response from daemon: image with reference 127.0.0.1:5055/lab/single-arm64:latest
  was found but does not match the specified platform: wanted linux/386, actual: linux/arm64/v8.
! See 'docker run --help'.
## create-multi-None  rc=0
$ docker create --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> <container id>
## create-multi-linux/amd64  rc=0
$ docker create --platform linux/amd64 --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> <container id>
## create-multi-linux/arm64  rc=0
$ docker create --platform linux/arm64 --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> <container id>
## create-multi-linux/arm64/v8  rc=0
$ docker create --platform linux/arm64/v8 --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> <container id>
## create-multi-linux/386  rc=1
$ docker create --platform linux/386 --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! no matching manifest for linux/386 in the manifest list entries
## create-amd64list-None  rc=0
$ docker create --network none 127.0.0.1:5055/lab/amd64list:5.7
! Unable to find image '127.0.0.1:5055/lab/amd64list:5.7' locally
! 5.7: Pulling from lab/amd64list
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:amd64list}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/amd64list:5.7
> <container id>
## create-amd64list-linux/amd64  rc=0
$ docker create --platform linux/amd64 --network none 127.0.0.1:5055/lab/amd64list:5.7
! Unable to find image '127.0.0.1:5055/lab/amd64list:5.7' locally
! 5.7: Pulling from lab/amd64list
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:amd64list}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/amd64list:5.7
> <container id>
## create-amd64list-linux/arm64  rc=1
$ docker create --platform linux/arm64 --network none 127.0.0.1:5055/lab/amd64list:5.7
! Unable to find image '127.0.0.1:5055/lab/amd64list:5.7' locally
! 5.7: Pulling from lab/amd64list
! no matching manifest for linux/arm64 in the manifest list entries
## create-amd64list-linux/arm64/v8  rc=1
$ docker create --platform linux/arm64/v8 --network none 127.0.0.1:5055/lab/amd64list:5.7
! Unable to find image '127.0.0.1:5055/lab/amd64list:5.7' locally
! 5.7: Pulling from lab/amd64list
! no matching manifest for linux/arm64/v8 in the manifest list entries
## create-amd64list-linux/386  rc=1
$ docker create --platform linux/386 --network none 127.0.0.1:5055/lab/amd64list:5.7
! Unable to find image '127.0.0.1:5055/lab/amd64list:5.7' locally
! 5.7: Pulling from lab/amd64list
! no matching manifest for linux/386 in the manifest list entries
## create-single-amd64-None  rc=0
$ docker create --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> <container id>
## create-single-amd64-linux/amd64  rc=0
$ docker create --platform linux/amd64 --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> <container id>
## create-single-amd64-linux/arm64  rc=1
$ docker create --platform linux/arm64 --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/arm64, actual: linux/amd64
! Error response from daemon: image with reference 127.0.0.1:5055/lab/single-amd64:latest was found
  but does not match the specified platform: wanted linux/arm64, actual: linux/amd64
## create-single-amd64-linux/arm64/v8  rc=1
$ docker create --platform linux/arm64/v8 --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/arm64/v8, actual: linux/amd64
! Error response from daemon: image with reference 127.0.0.1:5055/lab/single-amd64:latest was found
  but does not match the specified platform: wanted linux/arm64/v8, actual: linux/amd64
## create-single-amd64-linux/386  rc=1
$ docker create --platform linux/386 --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/386, actual: linux/amd64
! Error response from daemon: image with reference 127.0.0.1:5055/lab/single-amd64:latest was found
  but does not match the specified platform: wanted linux/386, actual: linux/amd64
## create-single-arm64-None  rc=0
$ docker create --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:single-arm64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
! WARNING: The requested image's platform (linux/arm64/v8) does not match the detected host
  platform (linux/amd64) and no specific platform was requested
> <container id>
## create-single-arm64-linux/amd64  rc=1
$ docker create --platform linux/amd64 --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:single-arm64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-arm64 was found but does not match the
  specified platform: wanted linux/amd64, actual: linux/arm64/v8
! Error response from daemon: image with reference 127.0.0.1:5055/lab/single-arm64:latest was found
  but does not match the specified platform: wanted linux/amd64, actual: linux/arm64/v8
## create-single-arm64-linux/arm64  rc=0
$ docker create --platform linux/arm64 --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:single-arm64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
> <container id>
## create-single-arm64-linux/arm64/v8  rc=0
$ docker create --platform linux/arm64/v8 --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:single-arm64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
> <container id>
## create-single-arm64-linux/386  rc=1
$ docker create --platform linux/386 --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:single-arm64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-arm64 was found but does not match the
  specified platform: wanted linux/386, actual: linux/arm64/v8
! Error response from daemon: image with reference 127.0.0.1:5055/lab/single-arm64:latest was found
  but does not match the specified platform: wanted linux/386, actual: linux/arm64/v8
## pull-notag  rc=0
$ docker pull 127.0.0.1:5055/lab/multi
> Using default tag: latest
> latest: Pulling from lab/multi
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:multi}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> 127.0.0.1:5055/lab/multi:latest
## run-notag  rc=0
$ docker run --network none 127.0.0.1:5055/lab/multi
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> hello from linux/amd64
## run-notag-platform-mismatch  rc=125
$ docker run --platform linux/arm64 --network none 127.0.0.1:5055/lab/single-amd64
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/arm64, actual: linux/amd64
! docker: Error response from daemon: image with reference 127.0.0.1:5055/lab/single-amd64 was
  found but does not match the specified platform: wanted linux/arm64, actual: linux/amd64.
! See 'docker run --help'.
## create-notag-platform-mismatch  rc=1
$ docker create --platform linux/arm64 --network none 127.0.0.1:5055/lab/single-amd64
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/arm64, actual: linux/amd64
! Error response from daemon: image with reference 127.0.0.1:5055/lab/single-amd64 was found but
  does not match the specified platform: wanted linux/arm64, actual: linux/amd64
## pull-again  rc=0
+ docker pull 127.0.0.1:5055/lab/multi:latest
$ docker pull 127.0.0.1:5055/lab/multi:latest
> latest: Pulling from lab/multi
> Digest: {root:multi}
> Status: Image is up to date for 127.0.0.1:5055/lab/multi:latest
> 127.0.0.1:5055/lab/multi:latest
## pull-again-arm64-after-amd64  rc=0
+ docker pull 127.0.0.1:5055/lab/multi:latest
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/multi:latest
> latest: Pulling from lab/multi
> {layer:arm64/v8}: Pulling fs layer
> {layer:arm64/v8}: Verifying Checksum
> {layer:arm64/v8}: Download complete
> {layer:arm64/v8}: Pull complete
> Digest: {root:multi}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
> 127.0.0.1:5055/lab/multi:latest
## pull-shared-layer  rc=0
+ docker pull 127.0.0.1:5055/lab/multi:latest
$ docker pull 127.0.0.1:5055/lab/single-amd64:latest
> latest: Pulling from lab/single-amd64
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> 127.0.0.1:5055/lab/single-amd64:latest
## pull-only386-noflag  rc=1
$ docker pull 127.0.0.1:5055/lab/only386list:latest
> latest: Pulling from lab/only386list
! no matching manifest for linux/amd64 in the manifest list entries
## pull-multi386-noflag  rc=0
$ docker pull 127.0.0.1:5055/lab/multi386:latest
> latest: Pulling from lab/multi386
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:multi386}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/multi386:latest
> 127.0.0.1:5055/lab/multi386:latest
## pull-armv7-arm64  rc=1
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/armv7list:latest
> latest: Pulling from lab/armv7list
! no matching manifest for linux/arm64 in the manifest list entries
## pull-armv7-armv5  rc=0
$ docker pull --platform linux/arm/v5 127.0.0.1:5055/lab/armv7list:latest
> latest: Pulling from lab/armv7list
> {layer:arm/v7}: Pulling fs layer
> {layer:arm/v7}: Verifying Checksum
> {layer:arm/v7}: Download complete
> {layer:arm/v7}: Pull complete
> Digest: {root:armv7list}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/armv7list:latest
> WARNING: image with reference 127.0.0.1:5055/lab/armv7list was found but does not match the
  specified platform: wanted linux/arm/v5, actual: linux/arm/v7
> 127.0.0.1:5055/lab/armv7list:latest
## pull-armv7-armv6  rc=0
$ docker pull --platform linux/arm/v6 127.0.0.1:5055/lab/armv7list:latest
> latest: Pulling from lab/armv7list
> {layer:arm/v7}: Pulling fs layer
> {layer:arm/v7}: Verifying Checksum
> {layer:arm/v7}: Download complete
> {layer:arm/v7}: Pull complete
> Digest: {root:armv7list}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/armv7list:latest
> WARNING: image with reference 127.0.0.1:5055/lab/armv7list was found but does not match the
  specified platform: wanted linux/arm/v6, actual: linux/arm/v7
> 127.0.0.1:5055/lab/armv7list:latest
## pull-armv7-arm  rc=0
$ docker pull --platform linux/arm 127.0.0.1:5055/lab/armv7list:latest
> latest: Pulling from lab/armv7list
> {layer:arm/v7}: Pulling fs layer
> {layer:arm/v7}: Verifying Checksum
> {layer:arm/v7}: Download complete
> {layer:arm/v7}: Pull complete
> Digest: {root:armv7list}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/armv7list:latest
> 127.0.0.1:5055/lab/armv7list:latest
## pull-armv7-armv8  rc=0
$ docker pull --platform linux/arm/v8 127.0.0.1:5055/lab/armv7list:latest
> latest: Pulling from lab/armv7list
> {layer:arm/v7}: Pulling fs layer
> {layer:arm/v7}: Verifying Checksum
> {layer:arm/v7}: Download complete
> {layer:arm/v7}: Pull complete
> Digest: {root:armv7list}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/armv7list:latest
> 127.0.0.1:5055/lab/armv7list:latest
## pull-oci-noflag  rc=0
$ docker pull 127.0.0.1:5055/lab/multi-oci:latest
> latest: Pulling from lab/multi-oci
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:multi-oci}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/multi-oci:latest
> 127.0.0.1:5055/lab/multi-oci:latest
## pull-oci-arm64  rc=0
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/multi-oci:latest
> latest: Pulling from lab/multi-oci
> {layer:arm64/v8}: Pulling fs layer
> {layer:arm64/v8}: Verifying Checksum
> {layer:arm64/v8}: Download complete
> {layer:arm64/v8}: Pull complete
> Digest: {root:multi-oci}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/multi-oci:latest
> 127.0.0.1:5055/lab/multi-oci:latest
## pull-oci-386  rc=1
$ docker pull --platform linux/386 127.0.0.1:5055/lab/multi-oci:latest
> latest: Pulling from lab/multi-oci
! no matching manifest for linux/386 in the manifest list entries
## latestbug-empty  rc=0
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/single-amd64:1.0
> 1.0: Pulling from lab/single-amd64
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:1.0
> 127.0.0.1:5055/lab/single-amd64:1.0
## latestbug-latest-present-amd64  rc=0
+ docker pull 127.0.0.1:5055/lab/single-amd64:latest
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/single-amd64:1.0
> 1.0: Pulling from lab/single-amd64
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:1.0
> WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/arm64, actual: linux/amd64
> 127.0.0.1:5055/lab/single-amd64:1.0
## latestbug-latest-present-arm64  rc=0
+ docker pull 127.0.0.1:5055/lab/single-arm64:latest
+ docker tag 127.0.0.1:5055/lab/single-arm64:latest 127.0.0.1:5055/lab/single-amd64:latest
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/single-amd64:1.0
> 1.0: Pulling from lab/single-amd64
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:1.0
> 127.0.0.1:5055/lab/single-amd64:1.0
## latestbug-latest-arm64-pull-amd64  rc=0
+ docker pull 127.0.0.1:5055/lab/single-arm64:latest
+ docker tag 127.0.0.1:5055/lab/single-arm64:latest 127.0.0.1:5055/lab/single-amd64:latest
$ docker pull --platform linux/amd64 127.0.0.1:5055/lab/single-amd64:1.0
> 1.0: Pulling from lab/single-amd64
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:1.0
> WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/amd64, actual: linux/arm64/v8
> 127.0.0.1:5055/lab/single-amd64:1.0
## latestbug-multi-latest-present  rc=0
+ docker pull 127.0.0.1:5055/lab/multi:latest
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/single-amd64:1.0
> 1.0: Pulling from lab/single-amd64
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:1.0
> 127.0.0.1:5055/lab/single-amd64:1.0
## run-local-386-as-amd64  rc=0
+ docker pull --platform linux/386 127.0.0.1:5055/lab/multi386:latest
$ docker run --platform linux/amd64 --network none 127.0.0.1:5055/lab/multi386:latest
> hello from linux/386
## run-local-386-noflag  rc=0
+ docker pull --platform linux/386 127.0.0.1:5055/lab/multi386:latest
$ docker run --network none 127.0.0.1:5055/lab/multi386:latest
> hello from linux/386
## run-local-amd64-noflag  rc=0
+ docker pull 127.0.0.1:5055/lab/single-amd64:latest
$ docker run --network none 127.0.0.1:5055/lab/single-amd64:latest
> hello from linux/amd64
## run-local-amd64-asarm64  rc=1
+ docker pull 127.0.0.1:5055/lab/multi:latest
$ docker run --platform linux/arm64 --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
! exec /hello: exec format error
## run-local-arm64-noflag  rc=1
+ docker pull --platform linux/arm64 127.0.0.1:5055/lab/multi:latest
$ docker run --network none 127.0.0.1:5055/lab/multi:latest
! WARNING: The requested image's platform (linux/arm64/v8) does not match the detected host
  platform (linux/amd64) and no specific platform was requested
! exec /hello: exec format error
## run-local-arm64-single-asamd64  rc=125
+ docker pull 127.0.0.1:5055/lab/single-arm64:latest
$ docker run --platform linux/amd64 --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! Digest: {root:single-arm64}
! Status: Image is up to date for 127.0.0.1:5055/lab/single-arm64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-arm64 was found but does not match the
  specified platform: wanted linux/amd64, actual: linux/arm64/v8
! docker: Error response from daemon: image with reference 127.0.0.1:5055/lab/single-arm64:latest
  was found but does not match the specified platform: wanted linux/amd64, actual: linux/arm64/v8.
! See 'docker run --help'.
## run-bare-arm64  rc=1
$ docker run --platform arm64 --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi:latest
! exec /hello: exec format error
## pull-bare-arm64  rc=0
$ docker pull --platform arm64 127.0.0.1:5055/lab/single-amd64:latest
> latest: Pulling from lab/single-amd64
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:single-amd64}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/arm64, actual: linux/amd64
> 127.0.0.1:5055/lab/single-amd64:latest
## pull-x86_64  rc=0
$ docker pull --platform linux/x86_64 127.0.0.1:5055/lab/amd64list:5.7
> 5.7: Pulling from lab/amd64list
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:amd64list}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/amd64list:5.7
> 127.0.0.1:5055/lab/amd64list:5.7
## run-x86_64-single-arm64  rc=125
$ docker run --platform linux/x86_64 --network none 127.0.0.1:5055/lab/single-arm64:latest
! Unable to find image '127.0.0.1:5055/lab/single-arm64:latest' locally
! latest: Pulling from lab/single-arm64
! {layer:arm64/v8}: Pulling fs layer
! {layer:arm64/v8}: Verifying Checksum
! {layer:arm64/v8}: Download complete
! {layer:arm64/v8}: Pull complete
! Digest: {root:single-arm64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-arm64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-arm64 was found but does not match the
  specified platform: wanted linux/amd64, actual: linux/arm64/v8
! docker: Error response from daemon: image with reference 127.0.0.1:5055/lab/single-arm64:latest
  was found but does not match the specified platform: wanted linux/amd64, actual: linux/arm64/v8.
! See 'docker run --help'.
## run-args  rc=0
$ docker run --network none 127.0.0.1:5055/lab/single-amd64:latest extra args
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> hello from linux/amd64
## create-local-arm64-noflag  rc=0
+ docker pull --platform linux/arm64 127.0.0.1:5055/lab/multi:latest
$ docker create --network none 127.0.0.1:5055/lab/multi:latest
! WARNING: The requested image's platform (linux/arm64/v8) does not match the detected host
  platform (linux/amd64) and no specific platform was requested
> <container id>
## run-only386-noflag  rc=125
$ docker run --network none 127.0.0.1:5055/lab/only386list:latest
! Unable to find image '127.0.0.1:5055/lab/only386list:latest' locally
! latest: Pulling from lab/only386list
! docker: no matching manifest for linux/amd64 in the manifest list entries.
! See 'docker run --help'.
## run-386-flag  rc=0
$ docker run --platform linux/386 --network none 127.0.0.1:5055/lab/only386list:latest
! Unable to find image '127.0.0.1:5055/lab/only386list:latest' locally
! latest: Pulling from lab/only386list
! {layer:386}: Pulling fs layer
! {layer:386}: Download complete
! {layer:386}: Pull complete
! Digest: {root:only386list}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/only386list:latest
> hello from linux/386
## run-armv7-flag  rc=1
$ docker run --platform linux/arm/v7 --network none 127.0.0.1:5055/lab/armv7list:latest
! Unable to find image '127.0.0.1:5055/lab/armv7list:latest' locally
! latest: Pulling from lab/armv7list
! {layer:arm/v7}: Pulling fs layer
! {layer:arm/v7}: Verifying Checksum
! {layer:arm/v7}: Download complete
! {layer:arm/v7}: Pull complete
! Digest: {root:armv7list}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/armv7list:latest
! exec /hello: exec format error
## pull-digest  rc=0
$ docker pull 127.0.0.1:5055/lab/multi@{root:multi}
> 127.0.0.1:5055/lab/multi@{root:multi}: Pulling from lab/multi
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:multi}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/multi@{root:multi}
> 127.0.0.1:5055/lab/multi@{root:multi}
## run-digest  rc=0
$ docker run --network none 127.0.0.1:5055/lab/multi@{root:multi}
! Unable to find image '127.0.0.1:5055/lab/multi@{root:multi}' locally
! 127.0.0.1:5055/lab/multi@{root:multi}: Pulling from lab/multi
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:multi}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/multi@{root:multi}
> hello from linux/amd64
## already-exists  rc=0
+ docker pull 127.0.0.1:5055/lab/multi:latest
$ docker pull 127.0.0.1:5055/lab/samelayer:latest
> latest: Pulling from lab/samelayer
> {layer:amd64}: Already exists
> Digest: {root:samelayer}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/samelayer:latest
> 127.0.0.1:5055/lab/samelayer:latest
## run-already-exists  rc=0
+ docker pull 127.0.0.1:5055/lab/multi:latest
$ docker run --network none 127.0.0.1:5055/lab/samelayer:latest
! Unable to find image '127.0.0.1:5055/lab/samelayer:latest' locally
! latest: Pulling from lab/samelayer
! {layer:amd64}: Already exists
! Digest: {root:samelayer}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/samelayer:latest
> hello from linux/amd64
## mislabel-pull  rc=0
$ docker pull 127.0.0.1:5055/lab/mislabel:latest
> latest: Pulling from lab/mislabel
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:mislabel}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/mislabel:latest
> 127.0.0.1:5055/lab/mislabel:latest
## mislabel-run  rc=0
$ docker run --network none 127.0.0.1:5055/lab/mislabel:latest
! Unable to find image '127.0.0.1:5055/lab/mislabel:latest' locally
! latest: Pulling from lab/mislabel
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:mislabel}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/mislabel:latest
! WARNING: The requested image's platform (linux/arm64/v8) does not match the detected host
  platform (linux/amd64) and no specific platform was requested
> hello from linux/amd64
## mislabel-run-arm64  rc=0
$ docker run --platform linux/arm64 --network none 127.0.0.1:5055/lab/mislabel:latest
! Unable to find image '127.0.0.1:5055/lab/mislabel:latest' locally
! latest: Pulling from lab/mislabel
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:mislabel}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/mislabel:latest
> hello from linux/amd64
## mislabel-list-run-noflag  rc=125
$ docker run --network none 127.0.0.1:5055/lab/mislabel-list:latest
! Unable to find image '127.0.0.1:5055/lab/mislabel-list:latest' locally
! latest: Pulling from lab/mislabel-list
! docker: no matching manifest for linux/amd64 in the manifest list entries.
! See 'docker run --help'.
## mislabel-list-run-arm64  rc=0
$ docker run --platform linux/arm64 --network none 127.0.0.1:5055/lab/mislabel-list:latest
! Unable to find image '127.0.0.1:5055/lab/mislabel-list:latest' locally
! latest: Pulling from lab/mislabel-list
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:mislabel-list}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/mislabel-list:latest
> hello from linux/amd64
## run-local-match-flag  rc=1
+ docker pull --platform linux/arm64 127.0.0.1:5055/lab/multi:latest
$ docker run --platform linux/arm64 --network none 127.0.0.1:5055/lab/multi:latest
! exec /hello: exec format error
## run-local-uptodate-tagged  rc=0
+ docker pull 127.0.0.1:5055/lab/single-arm64:latest
+ docker tag 127.0.0.1:5055/lab/single-arm64:latest 127.0.0.1:5055/lab/single-amd64:latest
$ docker run --platform linux/amd64 --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! {layer:amd64}: Pulling fs layer
! {layer:amd64}: Verifying Checksum
! {layer:amd64}: Download complete
! {layer:amd64}: Pull complete
! Digest: {root:single-amd64}
! Status: Downloaded newer image for 127.0.0.1:5055/lab/single-amd64:latest
> hello from linux/amd64
## create-local  rc=0
+ docker pull 127.0.0.1:5055/lab/single-amd64:latest
$ docker create --network none 127.0.0.1:5055/lab/single-amd64:latest
> <container id>
## create-local-flag-mismatch  rc=1
+ docker pull 127.0.0.1:5055/lab/single-amd64:latest
$ docker create --platform linux/arm64 --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! Digest: {root:single-amd64}
! Status: Image is up to date for 127.0.0.1:5055/lab/single-amd64:latest
! WARNING: image with reference 127.0.0.1:5055/lab/single-amd64 was found but does not match the
  specified platform: wanted linux/arm64, actual: linux/amd64
! Error response from daemon: image with reference 127.0.0.1:5055/lab/single-amd64:latest was found
  but does not match the specified platform: wanted linux/arm64, actual: linux/amd64
## pull-bad-platform  rc=1
$ docker pull --platform linux/arm64/v8/x 127.0.0.1:5055/lab/multi:latest
! Error response from daemon: "linux/arm64/v8/x": cannot parse platform specifier: invalid argument
## run-bad-platform  rc=125
$ docker run --platform foo --network none 127.0.0.1:5055/lab/multi:latest
! docker: error parsing specified platform: "foo": unknown operating system or architecture:
  invalid argument.
! See 'docker run --help'.
## pull-bad-platform2  rc=1
$ docker pull --platform foo 127.0.0.1:5055/lab/multi:latest
! Error response from daemon: "foo": unknown operating system or architecture: invalid argument
## pull-windows  rc=1
$ docker pull --platform windows/amd64 127.0.0.1:5055/lab/multi:latest
> latest: Pulling from lab/multi
! no matching manifest for windows/amd64 in the manifest list entries
## pull-darwin  rc=1
$ docker pull --platform darwin/amd64 127.0.0.1:5055/lab/multi:latest
> latest: Pulling from lab/multi
! no matching manifest for darwin/amd64 in the manifest list entries
## run-darwin  rc=125
$ docker run --platform darwin/amd64 --network none 127.0.0.1:5055/lab/multi:latest
! Unable to find image '127.0.0.1:5055/lab/multi:latest' locally
! latest: Pulling from lab/multi
! docker: no matching manifest for darwin/amd64 in the manifest list entries.
! See 'docker run --help'.
## run-darwin-single  rc=125
$ docker run --platform darwin/amd64 --network none 127.0.0.1:5055/lab/single-amd64:latest
! Unable to find image '127.0.0.1:5055/lab/single-amd64:latest' locally
! latest: Pulling from lab/single-amd64
! docker: operating system is not supported.
! See 'docker run --help'.
## layers2  rc=0
$ docker pull 127.0.0.1:5055/lab/layers2:latest
> latest: Pulling from lab/layers2
> {layer:data0}: Pulling fs layer
> {layer:data1}: Pulling fs layer
> {layer:data1}: Verifying Checksum
> {layer:data1}: Download complete
> {layer:data0}: Download complete
> {layer:data0}: Pull complete
> {layer:data1}: Pull complete
> Digest: {root:layers2}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/layers2:latest
> 127.0.0.1:5055/lab/layers2:latest
## layers5  rc=0
$ docker pull 127.0.0.1:5055/lab/layers5:latest
> latest: Pulling from lab/layers5
> {layer:data0}: Pulling fs layer
> {layer:data1}: Pulling fs layer
> {layer:data2}: Pulling fs layer
> {layer:data3}: Pulling fs layer
> {layer:data4}: Pulling fs layer
> {layer:data3}: Waiting
> {layer:data4}: Waiting
> {layer:data2}: Verifying Checksum
> {layer:data2}: Download complete
> {layer:data0}: Download complete
> {layer:data1}: Verifying Checksum
> {layer:data1}: Download complete
> {layer:data3}: Verifying Checksum
> {layer:data3}: Download complete
> {layer:data4}: Verifying Checksum
> {layer:data4}: Download complete
> {layer:data0}: Pull complete
> {layer:data1}: Pull complete
> {layer:data2}: Pull complete
> {layer:data3}: Pull complete
> {layer:data4}: Pull complete
> Digest: {root:layers5}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/layers5:latest
> 127.0.0.1:5055/lab/layers5:latest
## layers5-after-2  rc=0
+ docker pull 127.0.0.1:5055/lab/layers2:latest
$ docker pull 127.0.0.1:5055/lab/layers5:latest
> latest: Pulling from lab/layers5
> {layer:data0}: Already exists
> {layer:data1}: Already exists
> {layer:data2}: Pulling fs layer
> {layer:data3}: Pulling fs layer
> {layer:data4}: Pulling fs layer
> {layer:data2}: Download complete
> {layer:data3}: Verifying Checksum
> {layer:data3}: Download complete
> {layer:data4}: Verifying Checksum
> {layer:data4}: Download complete
> {layer:data2}: Pull complete
> {layer:data3}: Pull complete
> {layer:data4}: Pull complete
> Digest: {root:layers5}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/layers5:latest
> 127.0.0.1:5055/lab/layers5:latest
## create-bad  rc=1
$ docker create --platform foo --network none 127.0.0.1:5055/lab/multi:latest
! error parsing specified platform: "foo": unknown operating system or architecture: invalid
  argument
## create-bad4  rc=1
$ docker create --platform linux/arm64/v8/x --network none 127.0.0.1:5055/lab/multi:latest
! error parsing specified platform: "linux/arm64/v8/x": cannot parse platform specifier: invalid
  argument
## run-wild  rc=125
$ docker run --platform linux/* --network none 127.0.0.1:5055/lab/multi:latest
! docker: error parsing specified platform: "linux/*": wildcards not yet supported: invalid
  argument.
! See 'docker run --help'.
## pull-badcomp  rc=1
$ docker pull --platform Linux!/amd64 127.0.0.1:5055/lab/multi:latest
! Error response from daemon: "linux!" is an invalid component of "linux!/amd64": platform
  specifier component must match "^[A-Za-z0-9_-]+$": invalid argument
## pull-wild  rc=1
$ docker pull --platform linux/* 127.0.0.1:5055/lab/multi:latest
! Error response from daemon: "linux/*": wildcards not yet supported: invalid argument
## run-digest-local  rc=0
+ docker pull 127.0.0.1:5055/lab/multi:latest
$ docker run --network none 127.0.0.1:5055/lab/multi@{root:multi}
> hello from linux/amd64
## pull-oci-single-child-by-platform-mismatch  rc=0
$ docker pull --platform linux/arm64 127.0.0.1:5055/lab/mislabel:latest
> latest: Pulling from lab/mislabel
> {layer:amd64}: Pulling fs layer
> {layer:amd64}: Verifying Checksum
> {layer:amd64}: Download complete
> {layer:amd64}: Pull complete
> Digest: {root:mislabel}
> Status: Downloaded newer image for 127.0.0.1:5055/lab/mislabel:latest
> 127.0.0.1:5055/lab/mislabel:latest
"""


@pytest.mark.parametrize("m", _oracle(), ids=lambda m: m.name)
def test_oracle_transcripts(m: Measured):
    p = replay(m)
    out = "\n".join(text for stream, text in m.events if stream == "out")
    err = "\n".join(text for stream, text in m.events if stream == "err")
    real_out = out.replace("<container id>", "0" * 64)
    assert p.compare(real_out, err, m.rc) == []
    assert p.command == "docker " + " ".join(m.args)
    # The interleaving of stdout and stderr (what a terminal shows) is the same too.
    racy = ("Verifying Checksum", "Waiting", "Download complete")  # see test_oracle.py
    real_order = [s for s, text in m.events if not text.endswith(racy)]
    mine = ["out" if ln.stream == "stdout" else "err" for ln in p.lines if not ln.optional]
    assert mine == real_order
    assert not any(ln.approximate for ln in p.lines)


def test_oracle_has_the_required_matrix():
    names = {m.name for m in _oracle()}
    for verb in ("pull", "run", "create"):
        for image in ("multi", "amd64list", "single-amd64", "single-arm64"):
            for plat in ("None", "linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/386"):
                assert f"{verb}-{image}-{plat}" in names
    assert len(names) >= 120


# ---------------------------------------------------------------------------------------------
# Schema 1 (appended after the oracle so the data block stays in one piece)


def _schema1_facts() -> ImageFacts:
    doc = {"schemaVersion": 1, "name": "library/old", "tag": "1", "architecture": "amd64",
           "fsLayers": [{"blobSum": "sha256:" + "a" * 64}],
           "history": [{"v1Compatibility": json.dumps({"architecture": "amd64", "os": "linux"})}]}
    m = manifests.parse_manifest(json.dumps(doc).encode(), manifests.DOCKER_SCHEMA1)
    return ImageFacts(parse_reference("old:1"), m, m.digest, manifests.DOCKER_SCHEMA1)


def test_schema1_pulls_on_20_10_with_the_history_platform():
    p = simulate_pull(_schema1_facts(), UBUNTU)
    assert p.exit_code == 0 and p.image_platform == AMD64
    assert p.stdout_lines[0] == "1: Pulling from library/old"
    assert simulate_run(_schema1_facts(), UBUNTU).run_mode == "exec-format-error"


@pytest.mark.parametrize(("version", "start"), [
    ("26.0.0", "[DEPRECATION NOTICE] Docker Image Format v1"),
    ("28.2.0", "Docker Image Format v1 and Docker Image manifest version 2, schema 1 support "
               "has been removed."),
])
def test_schema1_refused_from_26(version, start):
    p = simulate_pull(_schema1_facts(), engine("multipass-ubuntu-arm64", version))
    assert p.exit_code == 1 and p.stderr_lines[0].startswith(start)
    assert p.lines[-1].approximate  # the notice continues beyond what the spec quotes


# ---------------------------------------------------------------------------------------------
# reading layers for gather_facts(layers=True): what a registry sends is bounded


def _tar(files: dict[str, bytes], *, gz: bool) -> bytes:
    import gzip
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue()) if gz else buf.getvalue()


@pytest.mark.parametrize("gz", [True, False])
def test_rootfs_indexes_a_small_layer(gz):
    from archlab.simulate import _rootfs

    root = _rootfs([_tar({"./bin/hello": b"\x7fELF", "etc/x": b"x"}, gz=gz)])
    assert set(root.entries) == {"bin/hello", "etc/x"}
    assert root.read("bin/hello", max_bytes=4) == b"\x7fELF"


@pytest.mark.parametrize(("data", "message"), [
    # 300 MiB of zeros gzip to ~300 KiB: a decompression bomb, refused at its header.
    (_tar({"big": bytes(300 * 1024 * 1024)}, gz=True), "unpacks to more than"),
    (b"\x1f\x8b not really gzip", "not a readable tar"),
    (b"plain junk" * 100, "not a readable tar"),
])
def test_rootfs_refuses_bombs_and_junk(data, message):
    from archlab.simulate import _rootfs

    with pytest.raises(LayerError, match=message):
        _rootfs([data])


# ---------------------------------------------------------------------------------------------
# The why-steps read as a learner counts: entries from 1, --platform only when one was given


def _detail(p: Prediction, rule: str) -> str:
    return next(s.detail for s in p.explanation if s.rule == rule)


def test_list_entries_are_counted_from_one():
    # REDIS lists amd64, arm/v6, arm64, 386: arm64 is the third entry, on 20.10 and on 23+.
    assert _detail(simulate_pull(REDIS, UBUNTU), "choose a list entry (20.10)").endswith(
        "entry 3 (linux/arm64/v8)")
    assert _detail(simulate_pull(REDIS, ROSETTA), "choose a list entry (23.0+)").endswith(
        "entry 3 (linux/arm64/v8)")
    assert _detail(simulate_pull(REDIS, UBUNTU, platform="linux/amd64"),
                   "choose a list entry (20.10)").endswith("entry 1 (linux/amd64)")


def test_the_cli_retry_mentions_platform_only_when_one_was_given():
    bare = _detail(simulate_run(MIDDLEWARE, UBUNTU), "CLI pulls and retries")
    assert "--platform text" not in bare
    assert "pulls with no --platform (the daemon picks for its own platform)" in bare
    given = _detail(simulate_run(MIDDLEWARE, UBUNTU, platform="linux/amd64"),
                    "CLI pulls and retries")
    assert "pulls with the same --platform text (parsed by the daemon this time)" in given


def test_the_host_check_says_it_is_not_the_pull_time_choice():
    detail = _detail(simulate_run(REDIS, UBUNTU), "host check")
    assert "not the pull's choice of a list entry" in detail
    assert "it only decides whether to warn" in detail


def test_the_single_manifest_step_names_platform_only_when_one_was_given():
    bare = _detail(simulate_pull(MIDDLEWARE, UBUNTU), "single manifest: no platform check")
    assert "--platform" not in bare and bare.endswith("(nothing compares it with the host here)")
    given = _detail(simulate_pull(MIDDLEWARE, UBUNTU, platform="linux/arm64"),
                    "single manifest: no platform check")
    assert given.endswith("(the --platform value is not compared here)")


def test_explain_says_when_compose_v2_wording_is_not_modelled():
    from archlab.simulate import COMPOSE_V2_CAVEAT

    v2 = simulate_compose_service(MYSQL, get_host("m1-desktop-4.3"), "linux/x86_64", service="db")
    assert f"_{COMPOSE_V2_CAVEAT}._" in explain(v2)
    v1 = simulate_compose_service(MYSQL, UBUNTU, "linux/x86_64", service="db")
    assert COMPOSE_V2_CAVEAT not in explain(v1)
