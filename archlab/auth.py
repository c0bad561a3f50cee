"""How archlab authenticates to a registry: challenges, bearer tokens and Basic auth.

A registry says how it wants to be spoken to in the ``WWW-Authenticate`` header of a ``401``.
Two schemes exist in the wild (distribution's ``docs/spec/auth/token.md``):

``Bearer``
    challenge ``Bearer realm="https://auth.docker.io/token",service="registry.docker.io",
    scope="repository:library/mysql:pull"``. The client GETs the realm with ``service`` and
    ``scope`` (with Basic credentials if it has them, none if anonymous), then retries with
    ``Authorization: Bearer <token>``. Docker Hub, GHCR and most clouds speak this.
``Basic``
    challenge ``Basic realm="archlab"`` (htpasswd registries). The client retries with
    ``Authorization: Basic base64(user:password)``.

Tokens are cached **in memory only**, keyed by realm, service and scope, until shortly before
they expire (``expires_in`` defaults to 60 s when the issuer omits it, as the spec says). They
are never written to disk, logged, or put into snapshots: :class:`Token` hides its value from
``repr``, and every token request carries the :data:`CARRIES_CREDENTIALS` extension, so that
a recorder keeps nothing of it whatever URL the realm names. The issuer is whoever the
registry names, so its answer is streamed and read within ``limits.MAX_TOKEN_BYTES`` (after
decompression, :mod:`archlab.bodies`), never whole.

Usage (the registry client does this for you)::

    challenge = parse_challenge(response.headers["www-authenticate"])
    if challenge.scheme == "bearer":
        token = await tokens.get(http, challenge, scope, credentials)
"""

from __future__ import annotations

import asyncio
import base64
import math
import re
import time
from dataclasses import dataclass, field

import httpx

from archlab import decoding, limits
from archlab.bodies import read_body
from archlab.credentials import Credentials
from archlab.errors import AuthError, BadResponseError

#: Refresh a token this many seconds before the issuer says it expires.
_EXPIRY_MARGIN = 10.0
#: token.md: "If omitted, the expiration time defaults to 60 seconds".
_DEFAULT_EXPIRES_IN = 60

#: An httpx request extension set on every token request, and kept by httpx on each redirect
#: hop: whatever URL the realm names (even one that looks like a manifest), a recorder or
#: tracer that sees it keeps nothing of the exchange (:class:`archlab.snapshot.RecordingTransport`).
CARRIES_CREDENTIALS = "archlab.carries_credentials"

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    """One parsed ``WWW-Authenticate`` challenge; ``scheme`` is lower-case."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scope(self) -> str:
        return self.params.get("scope", "")


def parse_challenge(header: str) -> Challenge:
    """Parse the first challenge of a ``WWW-Authenticate`` header value.

    >>> parse_challenge('Bearer realm="https://a/token",service="reg"').service
    'reg'
    """
    header = header.strip()
    if not header:
        raise AuthError("registry sent an empty WWW-Authenticate header")
    scheme, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM_RE.match(rest, pos)
        if not m or m.end() == pos:
            break
        quoted, bare = m.group(2), m.group(3)
        value = quoted.replace('\\"', '"') if quoted is not None else (bare or "")
        params[m.group(1).lower()] = value
        pos = m.end()
    return Challenge(scheme=scheme.lower(), params=params)


def basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Token:
    """A bearer token and when it stops being good. ``repr`` never shows the value."""

    __slots__ = ("_value", "expires_at")

    def __init__(self, value: str, expires_at: float):
        self._value = value
        self.expires_at = expires_at

    @property
    def header(self) -> str:
        return f"Bearer {self._value}"

    def fresh(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) < self.expires_at

    def __repr__(self) -> str:
        return f"Token(<hidden>, expires_at={self.expires_at:.0f})"


class TokenCache:
    """In-memory bearer tokens per (realm, service, scope, account); one fetch per key at a time."""

    def __init__(self, *, max_bytes: int = limits.MAX_TOKEN_BYTES) -> None:
        #: The largest token answer read (``limits.MAX_TOKEN_BYTES``); larger is refused.
        self.max_bytes = max_bytes
        self._tokens: dict[tuple[str, str, str, str], Token] = {}
        self._locks: dict[tuple[str, str, str, str], asyncio.Lock] = {}
        #: How many tokens were fetched from issuers (tests and benchmarks read this).
        self.fetches = 0

    def cached(self, challenge: Challenge, scope: str, account: str = "") -> Token | None:
        token = self._tokens.get((challenge.realm, challenge.service, scope, account))
        return token if token is not None and token.fresh() else None

    async def get(
        self,
        http: httpx.AsyncClient,
        challenge: Challenge,
        scope: str,
        credentials: Credentials | None,
    ) -> Token:
        account = credentials.username if credentials else ""
        key = (challenge.realm, challenge.service, scope, account)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            token = self._tokens.get(key)
            if token is not None and token.fresh():
                return token
            token = await self._fetch(http, challenge, scope, credentials)
            self._tokens[key] = token
            return token

    def forget(self, challenge: Challenge, scope: str, account: str = "") -> None:
        self._tokens.pop((challenge.realm, challenge.service, scope, account), None)

    async def _fetch(
        self,
        http: httpx.AsyncClient,
        challenge: Challenge,
        scope: str,
        credentials: Credentials | None,
    ) -> Token:
        if not challenge.realm:
            raise AuthError("registry sent a Bearer challenge without a realm; cannot get a token")
        params: list[tuple[str, str]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        for one in scope.split(" "):
            if one:
                params.append(("scope", one))
        headers = {}
        if credentials is not None:
            if credentials.identity_token:
                # An identity token is an OAuth2 refresh token: token.md's POST form.
                return await self._fetch_oauth(http, challenge, scope, credentials)
            headers["Authorization"] = basic_header(credentials)
            params.append(("account", credentials.username))
        self.fetches += 1
        request = http.build_request("GET", challenge.realm, params=params, headers=headers,
                                     extensions={CARRIES_CREDENTIALS: True})
        return await self._exchange(http, request, challenge, credentials)

    async def _fetch_oauth(
        self,
        http: httpx.AsyncClient,
        challenge: Challenge,
        scope: str,
        credentials: Credentials,
    ) -> Token:
        self.fetches += 1
        data = {
            "grant_type": "refresh_token",
            "refresh_token": credentials.identity_token or "",
            "service": challenge.service,
            "scope": scope,
            "client_id": "archlab",
        }
        request = http.build_request("POST", challenge.realm, data=data,
                                     extensions={CARRIES_CREDENTIALS: True})
        return await self._exchange(http, request, challenge, credentials)

    async def _exchange(
        self,
        http: httpx.AsyncClient,
        request: httpx.Request,
        challenge: Challenge,
        credentials: Credentials | None,
    ) -> Token:
        """Send a token request; the answer is streamed and read within ``max_bytes`` (never
        whole: the issuer is chosen by the registry, which may be anyone)."""
        try:
            resp = await http.send(request, stream=True)
            try:
                if resp.status_code == 200:
                    body = await read_body(resp, max_bytes=self.max_bytes,
                                           what=f"token issuer {challenge.realm}'s answer")
                else:
                    body = b""
            finally:
                await resp.aclose()
        except httpx.TooManyRedirects:
            raise BadResponseError(
                f"token issuer {challenge.realm} redirected more than {http.max_redirects} "
                "times (a redirect loop)") from None
        except httpx.HTTPError as exc:
            raise AuthError(f"token issuer {challenge.realm} unreachable: {exc}") from exc
        return self._token_from(resp, body, challenge, credentials)

    @staticmethod
    def _token_from(
        resp: httpx.Response, body: bytes, challenge: Challenge, credentials: Credentials | None
    ) -> Token:
        who = f"as {credentials.username!r}" if credentials else "anonymously"
        if resp.status_code in (401, 403):
            hint = (
                "check the username and password (docker login)"
                if credentials
                else "this registry needs credentials: run `docker login` or pass credentials="
            )
            raise AuthError(
                f"token issuer {challenge.realm} refused a token {who} "
                f"(HTTP {resp.status_code}): {hint}",
                status=resp.status_code,
                url=str(resp.url),
            )
        if resp.status_code != 200:
            raise AuthError(
                f"token issuer {challenge.realm} answered HTTP {resp.status_code} {who}",
                status=resp.status_code,
                url=str(resp.url),
            )
        # A token answer is a flat object; the depth limit keeps a hostile one from raising
        # RecursionError (its size was capped as it was read).
        body = decoding.load_json(body, what=f"the answer of token issuer {challenge.realm}",
                                  max_bytes=limits.MAX_TOKEN_BYTES, error=AuthError)
        value = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise AuthError(f"token issuer {challenge.realm} answered without a token")
        expires_in = body.get("expires_in") or _DEFAULT_EXPIRES_IN
        try:
            expires_in = float(expires_in)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past 1e308
            expires_in = _DEFAULT_EXPIRES_IN
        if not math.isfinite(expires_in) or expires_in <= 0:
            expires_in = _DEFAULT_EXPIRES_IN
        expires_at = time.monotonic() + max(expires_in - _EXPIRY_MARGIN, expires_in / 2)
        return Token(value, expires_at)


def repository_scope(repository: str, actions: str = "pull") -> str:
    """The token scope for a repository: ``repository:library/mysql:pull``."""
    return f"repository:{repository}:{actions}"
