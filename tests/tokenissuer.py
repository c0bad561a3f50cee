"""A small bearer-token issuer for tests, speaking distribution's token spec on 127.0.0.1.

A registry configured with ``auth.token`` answers 401 with
``Www-Authenticate: Bearer realm="<issuer>/token",service="...",scope="repository:<name>:pull"``.
The client then asks the realm::

    GET /token?service=archlab-registry&scope=repository:lab/x:pull,push[&scope=...]
    Authorization: Basic <user:password>        (optional)

and gets ``{"token": jwt, "access_token": jwt, "expires_in": N, "issued_at": "..."}``. The JWT is
RS256-signed; its header carries ``x5c`` (the self-signed certificate the registry trusts through
``rootcertbundle``) and its claims are ``iss``, ``sub``, ``aud`` (= service), ``exp``, ``nbf``,
``iat``, ``jti`` and ``access: [{"type", "name", "actions"}]``.

Policy (what the token grants; the registry enforces it):

=======================  ================================================================
caller                   granted on each requested ``repository`` scope
=======================  ================================================================
no credentials           ``anonymous_actions`` (``pull``) on every repository, or only on
                         ``anonymous_repositories`` when that is given
known user, right pw     ``user_actions`` (``pull``, ``push``)
wrong pw / unknown user  no token: 401
=======================  ================================================================

Only actions that were asked for are granted. Each issued token is recorded in ``issued``
(thread-safe) so tests can count token fetches; ``refused`` counts 401s. ``expires_in`` may be
changed at any time; distribution 2.8.2 allows 60 s of clock skew, so a token is refused as
expired only with ``expires_in`` below -60 (measured: -59 accepted, -61 refused).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Grant:
    """One entry of the ``access`` claim."""

    type: str
    name: str
    actions: tuple[str, ...]

    def claim(self) -> dict:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


@dataclass(frozen=True)
class Issued:
    """A token handed out: to whom (``""`` = anonymous), for which service, granting what."""

    subject: str
    service: str
    access: tuple[Grant, ...]
    expires_in: int
    token: str


def parse_scope(scope: str) -> tuple[str, str, tuple[str, ...]] | None:
    """``repository:lab/x:pull,push`` → ``("repository", "lab/x", ("pull", "push"))``."""
    typ, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not typ or not name:
        return None
    return typ, name, tuple(a for a in actions.split(",") if a)


class TokenIssuer:
    """Token endpoint at ``realm`` (``http://127.0.0.1:PORT/token``); use as a context manager."""

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        service: str = "archlab-registry",
        issuer: str = "archlab-issuer",
        expires_in: int = 300,
        anonymous_actions: Collection[str] = ("pull",),
        anonymous_repositories: Collection[str] | None = None,
        user_actions: Collection[str] = ("pull", "push"),
    ) -> None:
        self.users = dict(users or {})
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.anonymous_actions = frozenset(anonymous_actions)
        self.anonymous_repositories = (
            None if anonymous_repositories is None else frozenset(anonymous_repositories)
        )
        self.user_actions = frozenset(user_actions)
        self._lock = threading.Lock()
        self._issued: list[Issued] = []
        self._refused = 0
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._cert = _self_signed(self._key, issuer)
        self._x5c = base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- counters

    @property
    def issued(self) -> list[Issued]:
        with self._lock:
            return list(self._issued)

    @property
    def refused(self) -> int:
        with self._lock:
            return self._refused

    def reset(self) -> None:
        with self._lock:
            self._issued.clear()
            self._refused = 0

    # -- lifecycle

    @property
    def realm(self) -> str:
        if self._httpd is None:
            raise RuntimeError("token issuer not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/token"

    @property
    def cert_path(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("token issuer not started")
        return Path(self._tmp.name) / "token.crt"

    def start(self) -> TokenIssuer:
        if self._httpd is not None:
            return self
        self._tmp = tempfile.TemporaryDirectory(prefix="archlab-token-")
        self.cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.issuer = self  # type: ignore[attr-defined]
        self._httpd = httpd
        # A short poll interval keeps stop() fast; the default is half a second.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> TokenIssuer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- policy and signing

    def authenticate(self, header: str | None) -> str | None:
        """The subject for an ``Authorization`` header: ``""`` anonymous, ``None`` refused."""
        if not header:
            return ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user if user in self.users and self.users[user] == password else None

    def grant(self, subject: str, scopes: list[str]) -> tuple[Grant, ...]:
        grants = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            typ, name, wanted = parsed
            if typ != "repository":
                allowed: frozenset[str] = frozenset()
            elif subject:
                allowed = self.user_actions
            elif self.anonymous_repositories is None or name in self.anonymous_repositories:
                allowed = self.anonymous_actions
            else:
                allowed = frozenset()
            grants.append(Grant(typ, name, tuple(a for a in wanted if a in allowed)))
        return tuple(grants)

    def issue(self, subject: str, service: str, scopes: list[str]) -> dict:
        access = self.grant(subject, scopes)
        now = int(time.time())
        expires_in = self.expires_in
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": service,
            "exp": now + expires_in,
            "nbf": now - 1,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": [g.claim() for g in access],
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"x5c": [self._x5c]})
        with self._lock:
            self._issued.append(Issued(subject, service, access, expires_in, token))
        issued_at = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": issued_at,
        }

    def _refuse(self) -> None:
        with self._lock:
            self._refused += 1


def _self_signed(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection

    def do_GET(self) -> None:
        issuer: TokenIssuer = self.server.issuer  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        if url.path != "/token":
            self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
            return
        subject = issuer.authenticate(self.headers.get("Authorization"))
        if subject is None:
            issuer._refuse()
            self._reply(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                {"WWW-Authenticate": 'Basic realm="archlab-token"'},
            )
            return
        query = parse_qs(url.query)
        service = query.get("service", [issuer.service])[0]
        scopes = [s for value in query.get("scope", []) for s in value.split()]
        self._reply(200, issuer.issue(subject, service, scopes))

    def _reply(self, status: int, body: dict, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        pass  # keep test output clean
