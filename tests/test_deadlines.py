"""Deadlines: no server can make archlab wait longer than the documented bounds.

A per-read timeout is not a deadline: a server that sends one byte every few seconds resets it
forever. These tests trickle headers and bodies, stall, and refuse through the fault proxy in
front of the real registry (real sockets on 127.0.0.1), with both HTTP engines, and check that
each request gives up within its attempt deadline and retry budget with one clear error. The
deadlines are made small through the client's parameters so that the tests take seconds; one
test keeps the defaults to prove the documented bound (``limits.RETRY_BUDGET``).

Each call runs in a thread with a guard (:func:`_bounded`): without deadlines a trickle never
ends, and the test must fail, not hang.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from archlab import limits
from archlab.errors import DeadlineExceededError, RateLimitError
from archlab.lab.publish import push_image
from archlab.reference import parse_reference
from tests.corpus import AMD64, client, make_image
from tests.faultproxy import FaultProxy
from tests.peak import run_cli

IMAGE = make_image(AMD64)
#: Scheduling slack on a busy 2-core machine: a bound is checked as "bound + SLACK".
SLACK = 5.0
SMALL = {"timeout": 5.0, "request_deadline": 1.0, "retry_budget": 3.0, "retries": 4}


@pytest.fixture(scope="module")
def pushed(registry, tmp_path_factory) -> None:
    ref = parse_reference(f"{registry.host}/t/deadlines:1")
    with client(tmp_path_factory.mktemp("push"), cache=False, tag_index=False) as reg:
        reg.run(lambda aio: push_image(aio, ref, IMAGE))


@pytest.fixture
def proxy(registry):
    with FaultProxy(registry.url) as p:
        yield p


def _bounded(fn: Callable[[], Any], limit: float) -> tuple[Any, BaseException | None, float]:
    """``fn()`` in a thread: (result, exception, seconds); fails the test past ``limit``."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except BaseException as exc:  # handed to the test
            out["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        pytest.fail(f"still waiting after {limit:.0f} s: no deadline stopped it")
    return out.get("result"), out.get("error"), time.monotonic() - started


def _fetch(tmp_path, proxy: FaultProxy, **kw: Any) -> Callable[[], Any]:
    def go() -> Any:
        with client(tmp_path, cache=False, tag_index=False, **{**SMALL, **kw}) as reg:
            return reg.get_manifest(f"{proxy.host}/t/deadlines:1")
    return go


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_trickle_cannot_stretch_a_request_past_its_budget(engine, pushed, proxy, tmp_path,
                                                            where):
    # One byte every 0.3 s: each read comes well within the 5 s read timeout, forever.
    head = len(b"HTTP/1.1 200 OK\r\n") if where == "headers" else 400
    proxy.add(method="GET", path_contains="/manifests/", trickle=0.3, trickle_from=head)
    _, error, seconds = _bounded(_fetch(tmp_path, proxy), limit=SMALL["retry_budget"] + 20)
    assert isinstance(error, DeadlineExceededError), error
    assert str(error).startswith(f"{proxy.host}/t/deadlines:1: registry {proxy.host} did not "
                                 "finish answering within 1 s; 3 s spent in all (")
    assert seconds < SMALL["retry_budget"] + SLACK
    assert proxy.count("GET", "/manifests/") >= 2  # retried within the budget


def test_a_silent_server_costs_the_retry_budget(engine, pushed, proxy, tmp_path):
    proxy.add(method="GET", path_contains="/manifests/", stall=3600)
    _, error, seconds = _bounded(_fetch(tmp_path, proxy, timeout=0.5), limit=30)
    assert isinstance(error, DeadlineExceededError), error
    assert "stopped sending" in str(error) or "did not finish answering" in str(error)
    assert seconds < SMALL["retry_budget"] + SLACK
    assert proxy.count("GET", "/manifests/") >= 2


def test_a_silent_server_with_the_defaults_costs_the_documented_budget(pushed, proxy, tmp_path):
    """What a user meets: a registry that accepts the connection and never answers costs
    ``limits.RETRY_BUDGET`` (30 s), where it cost 157 s before deadlines. One test waits that
    long so that the documented figure is proven, not assumed."""
    proxy.add(method="GET", path_contains="/manifests/", stall=3600)
    started = time.monotonic()
    run = run_cli(["inspect", f"{proxy.host}/t/deadlines:1", "--no-cache"],
                  env={"ARCHLAB_CACHE_DIR": str(tmp_path / "cache"),
                       "DOCKER_CONFIG": str(tmp_path / "none")},
                  timeout=limits.RETRY_BUDGET * 3)
    seconds = time.monotonic() - started
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"archlab: {proxy.host}/t/deadlines:1: registry {proxy.host} ")
    assert f"{limits.RETRY_BUDGET:.0f} s spent in all" in line
    assert limits.RETRY_BUDGET - 1 < seconds < limits.RETRY_BUDGET + 2 * SLACK


def test_a_retry_after_beyond_the_budget_is_not_waited_for(pushed, proxy, tmp_path):
    proxy.add(method="GET", path_contains="/manifests/", status=429,
              headers={"Retry-After": "20"}, body=b'{"errors":[{"code":"TOOMANYREQUESTS"}]}')
    # 20 s is under max_retry_after (60 s) but over what is left of a 3 s budget: no sleep.
    _, error, seconds = _bounded(_fetch(tmp_path, proxy), limit=15)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 20
    assert seconds < SLACK
    assert proxy.count("GET", "/manifests/") == 1


def test_backoffs_stop_when_the_budget_is_spent(pushed, proxy, tmp_path):
    proxy.add(method="GET", path_contains="/manifests/", status=503)
    _, error, seconds = _bounded(
        _fetch(tmp_path, proxy, backoff=1.0, retries=10, retry_budget=2.5), limit=20)
    assert "registry error HTTP 503 after" in str(error)
    # backoffs of about 1 and 2 s: the third attempt's wait would pass 2.5 s, so it stops
    assert proxy.count("GET", "/manifests/") == 2
    assert seconds < 2.5 + SLACK


def test_a_stalled_token_issuer_is_a_deadline_error(engine, pushed, proxy, tmp_path):
    proxy.add(path_contains="/token", stall=3600)
    proxy.add(when=lambda r: "authorization" not in r.headers, status=401, body=b"{}",
              headers={"WWW-Authenticate": f'Bearer realm="{proxy.url}/token",service="x"'})
    _, error, seconds = _bounded(_fetch(tmp_path, proxy), limit=30)
    assert isinstance(error, DeadlineExceededError), error
    assert str(error) == (f"{proxy.host}/t/deadlines:1: the token issuer {proxy.url}/token did "
                          "not answer within 1 s (raise request_deadline= if it is only slow)")
    assert seconds < SMALL["retry_budget"] + SLACK


def test_a_layer_has_its_own_longer_deadline(pushed, proxy, tmp_path):
    layer = IMAGE.layers[0]
    # The whole answer (some 400 bytes) at 1 byte / 0.02 s: about 8 s, longer than the 1 s
    # attempt deadline of a manifest, well within a 60 s layer deadline.
    proxy.add(method="GET", path_contains="/blobs/", trickle=0.02)

    def go() -> bytes:
        with client(tmp_path, cache=False, tag_index=False, layer_deadline=60.0,
                    **SMALL) as reg:
            return reg.get_blob(f"{proxy.host}/t/deadlines:1", layer.digest,
                                max_bytes=limits.MAX_LAYER_BYTES, kind="layer")

    data, error, _ = _bounded(go, limit=90)
    assert error is None, error
    assert data == layer.data
