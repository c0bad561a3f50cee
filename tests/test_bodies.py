"""How bytes arrive: bodies read within their caps after decoding, and one line for every
answer archlab cannot use.

Every test runs against the real registry, with the fault proxy (real sockets on 127.0.0.1)
sending what the registry never would: compressed bodies and compression bombs, broken gzip,
encodings nobody asked for, huge token answers, redirect loops, oversized headers. The memory
bounds are measured on a child process running the ``archlab`` command (``tests/peak.py``).
"""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from archlab import limits
from archlab.errors import BadResponseError, RegistryUnreachableError, TooLargeError
from archlab.lab.publish import push_image
from archlab.reference import parse_reference
from archlab.transport import ENGINE_ENV, ENGINES
from tests.corpus import AMD64, client, make_image
from tests.faultproxy import FaultProxy, gzip_bomb
from tests.peak import MiB, run_cli

IMAGE = make_image(AMD64)
#: The red team's gzip bomb peaked at 345 MB; issue 10 asks for under 300 MB.
PEAK_LIMIT = 300 * MiB
#: What a bomb may add to the peak of the same command answered normally: the 4 MiB cap, one
#: decoding step and allocator slack. Without streaming decompression one received chunk of a
#: bomb inflates to 64 MiB or more.
GROWTH_LIMIT = 32 * MiB


@pytest.fixture(scope="module")
def pushed(registry, tmp_path_factory) -> str:
    """``<registry>/t/bodies:1``, a schema 2 amd64 image; the repository name."""
    ref = parse_reference(f"{registry.host}/t/bodies:1")
    with client(tmp_path_factory.mktemp("push"), cache=False, tag_index=False) as reg:
        reg.run(lambda aio: push_image(aio, ref, IMAGE))
    return "t/bodies"


@pytest.fixture
def proxy(registry):
    with FaultProxy(registry.url) as p:
        yield p


def _get(tmp_path, proxy: FaultProxy, tag: str = "1", **kw: object):
    with client(tmp_path, cache=False, tag_index=False, retries=1, **kw) as reg:
        return reg.get_manifest(f"{proxy.host}/t/bodies:{tag}")


def _cli_env(tmp_path) -> dict[str, str]:
    return {"ARCHLAB_CACHE_DIR": str(tmp_path / "cache"),
            "DOCKER_CONFIG": str(tmp_path / "no-docker-config")}


# --- encodings that work ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_an_encoded_manifest_is_decoded_and_still_verified(engine, pushed, proxy, tmp_path,
                                                           encoding):
    proxy.add(method="GET", path_contains="/manifests/", encoding=encoding)
    got = _get(tmp_path, proxy)
    assert got.digest == IMAGE.manifest.digest
    assert got.raw == IMAGE.manifest.data
    assert proxy.request_headers[-1]["accept-encoding"] == "gzip, deflate"


def test_raw_deflate_is_decoded_too(engine, pushed, proxy, tmp_path):
    # Some servers send RFC 1951 data without the zlib wrapper under "deflate".
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    proxy.add(method="GET", path_contains="/manifests/", status=200,
              body=raw.compress(IMAGE.manifest.data) + raw.flush(),
              headers={"Content-Type": IMAGE.manifest.media_type, "Content-Encoding": "deflate",
                       "Docker-Content-Digest": IMAGE.manifest.digest})
    assert _get(tmp_path, proxy).raw == IMAGE.manifest.data


# --- encodings that do not ----------------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    (b"\x1f\x8b\x08\x00garbage that is not deflate", "invalid gzip body"),
    (gzip.compress(IMAGE.manifest.data)[:-12], "invalid gzip body (the stream is cut short)"),
    (gzip.compress(IMAGE.manifest.data) + b"trailing", "data after the end of the compressed"),
], ids=["garbage", "cut-short", "trailing-data"])
def test_broken_gzip_is_one_bad_response_error(engine, pushed, proxy, tmp_path, body, expected):
    proxy.add(method="GET", path_contains="/manifests/", status=200, body=body,
              headers={"Content-Type": IMAGE.manifest.media_type, "Content-Encoding": "gzip"})
    with pytest.raises(BadResponseError) as err:
        _get(tmp_path, proxy)
    assert expected in str(err.value)
    assert str(err.value).startswith(f"{proxy.host}/t/bodies: manifest at manifests/1: ")


def test_an_encoding_archlab_did_not_ask_for_is_refused(engine, pushed, proxy, tmp_path):
    proxy.add(method="GET", path_contains="/manifests/", status=200, body=b"\x8b\x00\x80",
              headers={"Content-Type": IMAGE.manifest.media_type, "Content-Encoding": "br"})
    with pytest.raises(BadResponseError) as err:
        _get(tmp_path, proxy)
    assert "encoded as 'br', which archlab did not ask for (it accepts gzip, deflate)" in str(
        err.value)


def test_invalid_gzip_is_one_line_on_the_command_line(pushed, proxy, tmp_path):
    proxy.add(method="GET", path_contains="/manifests/", status=200, body=b"\x1f\x8bnot gzip",
              headers={"Content-Type": IMAGE.manifest.media_type, "Content-Encoding": "gzip"})
    run = run_cli(["inspect", f"{proxy.host}/t/bodies:1", "--no-cache"], env=_cli_env(tmp_path))
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"archlab: {proxy.host}/t/bodies: manifest at manifests/1: invalid "
                           "gzip body (")


# --- bombs: the cap counts decoded bytes, and memory stays near it ------------------------------


@pytest.mark.parametrize("deflate", [False, True], ids=["gzip", "deflate"])
def test_a_compression_bomb_stops_at_the_cap(engine, pushed, proxy, tmp_path, deflate):
    bomb = gzip_bomb(64 * MiB, deflate=deflate)
    proxy.add(method="GET", path_contains="/manifests/", status=200, body=bomb,
              headers={"Content-Type": IMAGE.manifest.media_type,
                       "Content-Encoding": "deflate" if deflate else "gzip"})
    with pytest.raises(TooLargeError) as err:
        _get(tmp_path, proxy)
    assert str(err.value) == (f"{proxy.host}/t/bodies: manifest at manifests/1 exceeds the cap "
                              f"of {limits.MAX_MANIFEST_BYTES} bytes once decompressed")


def _peak_with(proxy: FaultProxy, tmp_path, engine: str, **rule: object):
    """The archlab command's run with ``rule`` in place, and its baseline peak without."""
    argv = ["inspect", f"{proxy.host}/t/bodies:1", "--no-cache"]
    env = {**_cli_env(tmp_path), ENGINE_ENV: engine}
    baseline = run_cli(argv, env=env)
    assert baseline.returncode == 0, baseline.stderr
    proxy.add(**rule)
    return run_cli(argv, env=env), baseline


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_gzip_bomb_manifest_costs_no_memory(pushed, proxy, tmp_path, engine_name):
    run, baseline = _peak_with(
        proxy, tmp_path, engine_name, method="GET", path_contains="/manifests/", status=200,
        body=gzip_bomb(1024 * MiB),
        headers={"Content-Type": IMAGE.manifest.media_type, "Content-Encoding": "gzip"})
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        f"archlab: {proxy.host}/t/bodies: manifest at manifests/1 exceeds the cap of "
        f"{limits.MAX_MANIFEST_BYTES} bytes once decompressed"]
    assert run.peak_bytes < PEAK_LIMIT
    assert run.peak_bytes - baseline.peak_bytes < GROWTH_LIMIT, (run.peak_mib,
                                                                 baseline.peak_mib)


def test_a_gzip_bomb_in_an_error_answer_costs_no_memory(pushed, proxy, tmp_path):
    run, baseline = _peak_with(
        proxy, tmp_path, "aiohttp", method="GET", path_contains="/manifests/", status=404,
        body=gzip_bomb(1024 * MiB), headers={"Content-Encoding": "gzip"})
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"archlab: {proxy.host}/t/bodies:1: manifest not found on ")
    assert run.peak_bytes - baseline.peak_bytes < GROWTH_LIMIT


# --- token answers: streamed, capped, never read whole ------------------------------------------


def _bearer_gate(proxy: FaultProxy, **token_rule: object) -> None:
    """The proxy demands a bearer token from its own realm, answered by ``token_rule``."""
    proxy.add(path_contains="/token", **token_rule)
    proxy.add(when=lambda r: "authorization" not in r.headers, status=401, body=b"{}",
              headers={"WWW-Authenticate": f'Bearer realm="{proxy.url}/token",service="x"'})


@pytest.mark.parametrize("growth", ["512 MiB of spaces", "a gzip bomb"], ids=["huge", "bomb"])
def test_a_huge_token_answer_is_refused_at_its_cap(pushed, proxy, tmp_path, growth):
    argv = ["inspect", f"{proxy.host}/t/bodies:1", "--no-cache"]
    baseline = run_cli(argv, env=_cli_env(tmp_path))
    if growth == "a gzip bomb":
        _bearer_gate(proxy, status=200, body=gzip_bomb(1024 * MiB),
                     headers={"Content-Encoding": "gzip"})
    else:
        _bearer_gate(proxy, body_size=512 * MiB)
    run = run_cli(argv, env=_cli_env(tmp_path))
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    # refused by its Content-Length before a byte is read, or while it inflates
    assert line.startswith(f"archlab: token issuer {proxy.url}/token's answer "), line
    assert f"the cap of {limits.MAX_TOKEN_BYTES}" in line
    assert run.peak_bytes < PEAK_LIMIT
    assert run.peak_bytes - baseline.peak_bytes < GROWTH_LIMIT, growth


def test_a_token_within_the_cap_still_works(engine, pushed, proxy, tmp_path):
    _bearer_gate(proxy, status=200, body=json.dumps({"token": "t" * 1000}).encode(),
                 encoding="gzip")
    assert _get(tmp_path, proxy).digest == IMAGE.manifest.digest


# --- answers that break HTTP: one line each -----------------------------------------------------


def test_a_redirect_loop_is_one_line(engine, pushed, proxy, tmp_path):
    proxy.add(method="GET", path_contains="/manifests/", redirect=f"{proxy.url}{{path}}")
    with pytest.raises(BadResponseError) as err:
        _get(tmp_path, proxy)
    assert str(err.value) == (f"{proxy.host}/t/bodies:1: {proxy.host} redirected more than "
                              f"{limits.MAX_REDIRECTS} times (a redirect loop, or a chain too "
                              "long to follow)")
    assert proxy.count("GET", "/manifests/") == limits.MAX_REDIRECTS + 1  # never retried


def test_a_redirect_loop_on_the_command_line(pushed, proxy, tmp_path):
    proxy.add(method="GET", path_contains="/manifests/", redirect=f"{proxy.url}{{path}}")
    run = run_cli(["inspect", f"{proxy.host}/t/bodies:1", "--no-cache"], env=_cli_env(tmp_path))
    assert (run.returncode, run.stderr.splitlines()) == (1, [
        f"archlab: {proxy.host}/t/bodies:1: {proxy.host} redirected more than "
        f"{limits.MAX_REDIRECTS} times (a redirect loop, or a chain too long to follow)"])


@pytest.mark.parametrize("headers", [
    {"X-Huge": "a" * (1 << 20)},
    {f"X-Many-{i}": "1" for i in range(20_000)},
], ids=["one-huge", "very-many"])
def test_oversized_headers_are_one_line(engine, pushed, proxy, tmp_path, headers):
    proxy.add(method="GET", path_contains="/manifests/", headers=headers)
    with pytest.raises(RegistryUnreachableError) as err:
        _get(tmp_path, proxy)
    message = str(err.value)
    assert message.startswith(f"cannot reach registry {proxy.host} (")
    assert "\n" not in message and len(message) < 400


def test_a_redirect_to_an_impossible_port_is_one_line(engine, pushed, proxy, tmp_path):
    proxy.add(method="GET", path_contains="/manifests/", redirect="http://127.0.0.1:70000/x")
    with pytest.raises(BadResponseError) as err:
        _get(tmp_path, proxy)
    assert str(err.value) == ("redirected to http://127.0.0.1:70000/x, whose port 70000 is out "
                              "of range (1-65535)")


def test_ping_of_a_registry_that_gzips_its_answer(engine, proxy, tmp_path):
    proxy.add(method="GET", path_contains="/v2/", status=200, body=b"{}", encoding="gzip",
              headers={"Content-Type": "application/json"})
    with client(tmp_path, cache=False, tag_index=False) as reg:
        answer = reg.ping(proxy.host)
    assert (answer.status_code, answer.json()) == (200, {})
