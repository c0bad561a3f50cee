"""Which HTTP engine carries archlab's requests under httpx.

What it is for
--------------
archlab speaks to registries through one ``httpx.AsyncClient``: its API, redirects, timeouts,
hooks and errors are httpx's everywhere. Underneath, httpx hands each request to a *transport*.
Its own (httpcore with the pure-Python h11 parser) costs about 1.8 ms of CPU per request on a
2-core machine; aiohttp's HTTP/1.1 engine, whose parser is C, about 0.5 ms. A survey of a
thousand tags sends a thousand requests, and on a small machine the registry needs the other
core, so that difference decides whether a survey is a few times or twenty times faster than a
``skopeo`` loop (``benchmarks/README.md`` has the numbers).

How to use it
-------------
Nothing to do: :class:`~archlab.registry.AsyncRegistryClient` calls :func:`default_transport`.
Pass ``transport=`` to the client to choose yourself (the snapshot replayer does), or set
``ARCHLAB_HTTP_ENGINE``::

    ARCHLAB_HTTP_ENGINE=httpx archlab survey refs.txt     # httpx's own transport
    ARCHLAB_HTTP_ENGINE=aiohttp archlab survey refs.txt   # the fast one (the default)

The rules
---------
======================================  ===================================================
situation                               engine
======================================  ===================================================
default                                 aiohttp, through the ``httpx-aiohttp`` adapter
a proxy set in the environment          httpx's own, which honours ``HTTP(S)_PROXY``,
(``HTTP_PROXY``, ``HTTPS_PROXY``,       ``ALL_PROXY`` and ``NO_PROXY`` exactly as httpx
``ALL_PROXY``, any case)                documents; the aiohttp engine is not given them
``ARCHLAB_HTTP_ENGINE=httpx``           httpx's own
======================================  ===================================================

Either way TLS certificates are verified with the same context httpx would build
(``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` are honoured), no cookie is kept, no credential is read
from ``~/.netrc``, and responses are handed to httpx undecoded, so the byte caps and digest
checks of :mod:`archlab.registry` see exactly what the registry sent.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from collections.abc import AsyncIterator, Mapping

import httpx

from archlab.errors import ArchlabError

ENGINE_ENV = "ARCHLAB_HTTP_ENGINE"
ENGINES = ("aiohttp", "httpx")


def engine_choice(environ: Mapping[str, str] | None = None) -> str:
    """The engine the rules above pick: ``"aiohttp"`` or ``"httpx"``."""
    env = os.environ if environ is None else environ
    asked = env.get(ENGINE_ENV, "").strip().lower()
    if asked and asked not in ENGINES:
        raise ArchlabError(
            f"{ENGINE_ENV}={env[ENGINE_ENV]!r} is not an HTTP engine archlab knows; "
            f"use one of: {', '.join(ENGINES)}"
        )
    if asked:
        return asked
    return "httpx" if _environment_proxies(env) else "aiohttp"


def default_transport(
    *, max_connections: int, keepalive_expiry: float = 5.0
) -> httpx.AsyncBaseTransport | None:
    """A transport for :class:`httpx.AsyncClient`, or None for httpx's own (see the rules)."""
    if engine_choice() == "httpx":
        return None
    import aiohttp

    limits = httpx.Limits(max_connections=max_connections, keepalive_expiry=keepalive_expiry)
    tls = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))

    def session() -> aiohttp.ClientSession:
        # Built inside the running loop (aiohttp sessions belong to one), on the first request.
        connector = aiohttp.TCPConnector(limit=max_connections,
                                         keepalive_timeout=keepalive_expiry, ssl=tls)
        # trust_env=False: no proxy settings (see the rules) and no ~/.netrc credentials.
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                     trust_env=False)

    return _aiohttp_transport_class()(limits=limits, client=session)


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's own verifying context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), built once
    per setting: loading the CA bundle takes about 50 ms, more than 20 survey requests. The
    arguments are only the cache key; httpx reads the same variables itself."""
    return httpx.create_ssl_context(verify=True, trust_env=True)


def _remapped(exc: httpx.TransportError) -> httpx.TransportError:
    """The httpx error httpx's own transport would have raised for the aiohttp error behind
    ``exc``. The adapter reports every connection failure, a refused port or an untrusted
    certificate alike, as ConnectTimeout; callers that tell them apart need the real kind."""
    import aiohttp

    cause = exc.__cause__
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(str(cause) or "server disconnected")
    if isinstance(cause, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return exc
    if isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ClientSSLError):
        return httpx.ConnectError(str(cause))
    if isinstance(cause, aiohttp.ClientConnectionError) and isinstance(exc, httpx.ConnectTimeout):
        return httpx.ReadError(str(cause))
    return exc


@functools.cache  # built on first use: aiohttp is imported only when a request is to be sent
def _aiohttp_transport_class() -> type[httpx.AsyncBaseTransport]:
    """The adapter, with its errors turned into the ones httpx's own transport raises."""
    from httpx_aiohttp import AiohttpTransport

    class Stream(httpx.AsyncByteStream):
        def __init__(self, inner: httpx.AsyncByteStream) -> None:
            self._inner = inner

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for chunk in self._inner:
                    yield chunk
            except httpx.TransportError as exc:
                raise _remapped(exc) from exc.__cause__

        async def aclose(self) -> None:
            await self._inner.aclose()

    class Transport(AiohttpTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            try:
                response = await super().handle_async_request(request)
            except httpx.TransportError as exc:
                raise _remapped(exc) from exc.__cause__
            response.stream = Stream(response.stream)
            return response

    return Transport


def _environment_proxies(env: Mapping[str, str]) -> bool:
    # The environment only, as httpx reads it (not urllib's getproxies, which also asks the
    # OS on some platforms): the fallback then covers exactly what httpx would have used.
    names = {k.lower() for k, v in env.items() if v}
    return bool(names & {"http_proxy", "https_proxy", "all_proxy"})


__all__ = ["ENGINES", "ENGINE_ENV", "default_transport", "engine_choice"]
