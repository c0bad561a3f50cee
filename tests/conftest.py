"""Shared fixtures: real ``docker-registry`` processes on 127.0.0.1 (open, htpasswd, token).

Any test that uses one of ``REGISTRY_FIXTURES`` gets the ``registry`` marker automatically, so
``pytest -m "not registry"`` runs everything that needs no registry binary. Without the binary
those tests are skipped with the install hint, unless ``ARCHLAB_REQUIRE_REGISTRY=1`` (set in CI),
which turns the skip into a failure so they can never silently vanish.

The registries are session-scoped (a start costs ~30 ms, but there is no need to pay it per
test); tests stay apart by pushing to their own ``repo_name``. To count what reached a registry::

    with registry_requests(registry.server) as seen:
        client.head(...)
    assert [r.method for r in seen] == ["HEAD"]
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from archlab.errors import LabError
from archlab.lab.server import (
    HtpasswdAuth,
    LoggedRequest,
    RegistryServer,
    TokenAuth,
    find_registry_binary,
)
from archlab.transport import ENGINE_ENV, ENGINES

try:  # tests/ is a plain directory (on sys.path via rootdir conftest) ...
    from tokenissuer import TokenIssuer
except ImportError:  # ... or a package, should someone add tests/__init__.py
    from tests.tokenissuer import TokenIssuer

LAB_USER = "student"
LAB_PASSWORD = "s3cret"
REGISTRY_FIXTURES = frozenset(
    {"registry_binary", "registry", "htpasswd_registry", "token_registry", "token_issuer"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if REGISTRY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.registry)


@dataclass(frozen=True)
class LabRegistry:
    """A running lab registry as tests see it."""

    url: str
    host: str
    server: RegistryServer
    username: str | None = None
    password: str | None = None
    issuer: TokenIssuer | None = None

    @property
    def auth(self) -> tuple[str, str] | None:
        """``(username, password)`` for httpx's ``auth=``, or ``None`` for the open registry."""
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)

    def issuer_count(self) -> int:
        """How many tokens the issuer has handed out (token variant only)."""
        if self.issuer is None:
            raise AttributeError("this registry has no token issuer")
        return len(self.issuer.issued)


def _lab(server: RegistryServer, **extra) -> LabRegistry:
    return LabRegistry(url=server.url, host=server.host, server=server, **extra)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs the test once per HTTP engine, chosen the way a user would: the environment
    variable (``ARCHLAB_HTTP_ENGINE``)."""
    monkeypatch.setenv(ENGINE_ENV, request.param)
    return request.param


@pytest.fixture(scope="session")
def registry_binary() -> Path:
    """The registry executable; skips (or fails, with ARCHLAB_REQUIRE_REGISTRY=1) if missing."""
    try:
        return find_registry_binary()
    except LabError as exc:
        missing = str(exc)
    if os.environ.get("ARCHLAB_REQUIRE_REGISTRY") == "1":
        pytest.fail(f"{missing} (ARCHLAB_REQUIRE_REGISTRY=1 forbids skipping)", pytrace=False)
    pytest.skip(missing)


@pytest.fixture(scope="session")
def registry(registry_binary: Path) -> Iterator[LabRegistry]:
    """An open registry (no auth), shared by the session."""
    with RegistryServer(binary=registry_binary) as server:
        yield _lab(server)


@pytest.fixture(scope="session")
def htpasswd_registry(registry_binary: Path) -> Iterator[LabRegistry]:
    """A registry with HTTP Basic auth for ``student``/``s3cret``."""
    auth = HtpasswdAuth({LAB_USER: LAB_PASSWORD})
    with RegistryServer(binary=registry_binary, auth=auth) as server:
        yield _lab(server, username=LAB_USER, password=LAB_PASSWORD)


@pytest.fixture(scope="session")
def _token_lab(registry_binary: Path) -> Iterator[LabRegistry]:
    with TokenIssuer(users={LAB_USER: LAB_PASSWORD}) as issuer:
        auth = TokenAuth(
            realm_url=issuer.realm,
            service=issuer.service,
            issuer=issuer.issuer,
            cert_pem_path=issuer.cert_path,
        )
        with RegistryServer(binary=registry_binary, auth=auth) as server:
            yield _lab(server, username=LAB_USER, password=LAB_PASSWORD, issuer=issuer)


@pytest.fixture
def token_registry(_token_lab: LabRegistry) -> LabRegistry:
    """A registry with token auth and its issuer; the issuer's counters start at zero."""
    issuer = _token_lab.issuer
    assert issuer is not None
    issuer.reset()
    issuer.expires_in = 300
    return _token_lab


@pytest.fixture
def token_issuer(token_registry: LabRegistry) -> TokenIssuer:
    """The issuer behind ``token_registry`` (counters reset for this test)."""
    assert token_registry.issuer is not None
    return token_registry.issuer


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A repository name of this test's own: ``t/<test-name>-<random>``."""
    words = re.findall(r"[a-z0-9]+", request.node.name.lower())
    stem = "-".join(words)[:40].strip("-") or "test"
    return f"t/{stem}-{secrets.token_hex(3)}"


@pytest.fixture
def registry_requests() -> Callable[[RegistryServer], AbstractContextManager[list[LoggedRequest]]]:
    """``with registry_requests(server) as seen:`` collects the requests made inside."""

    @contextmanager
    def recording(server: RegistryServer) -> Iterator[list[LoggedRequest]]:
        seen: list[LoggedRequest] = []
        mark = server.log_mark()
        yield seen
        seen.extend(server.requests_since(mark))

    return recording


@pytest.fixture
def corpus(registry, repo_name, tmp_path):
    """One of every manifest kind pushed under ``repo_name`` (see tests/corpus.py)."""
    from tests.corpus import push_corpus

    return push_corpus(registry.host, repo_name, tmp_path)
