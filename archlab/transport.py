"""Which HTTP engine carries archlab's requests under httpx.

What it is for
--------------
archlab speaks to registries through one ``httpx.AsyncClient``: its API, redirects, timeouts,
hooks and errors are httpx's everywhere. Underneath, httpx hands each request to a *transport*.
Measured on the 2-core benchmark machine (``benchmarks/README.md``), a bare httpx loop costs
about 3.6 ms of CPU per request on its own transport (httpcore with the pure-Python h11
parser) and about 1.0 ms on aiohttp's HTTP/1.1 engine, whose parser is C (aiohttp alone:
0.44 ms). A survey of a thousand tags sends a thousand requests, and the registry needs CPU
too, so the engine decides whether a survey is 7 or 16 times faster than a ``skopeo`` loop.

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
default                                 aiohttp, through :class:`AiohttpTransport`
a proxy set in the environment          httpx's own, which honours ``HTTP(S)_PROXY``,
(``HTTP_PROXY``, ``HTTPS_PROXY``,       ``ALL_PROXY`` and ``NO_PROXY`` exactly as httpx
``ALL_PROXY``, any case)                documents; the aiohttp engine is not given them
``ARCHLAB_HTTP_ENGINE=httpx``           httpx's own
``ARCHLAB_HTTP_ENGINE=aiohttp`` and a   an error that says so: requests would silently
proxy set                               bypass the proxy
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
from typing import Any

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
    proxied = _environment_proxies(env)
    if asked == "aiohttp" and proxied:
        raise ArchlabError(
            f"{ENGINE_ENV}=aiohttp, but a proxy is set in the environment "
            f"({', '.join(proxied)}) and archlab's aiohttp engine does not use proxies: unset "
            f"{ENGINE_ENV} (httpx's engine is then chosen and honours the proxy) or the proxy"
        )
    if asked:
        return asked
    return "httpx" if proxied else "aiohttp"


def default_transport(
    *, max_connections: int, keepalive_expiry: float = 5.0
) -> httpx.AsyncBaseTransport | None:
    """A transport for :class:`httpx.AsyncClient`, or None for httpx's own (see the rules).

    ``max_connections=0`` sets no total: the registry client bounds each host instead, so that
    slow hosts holding their connections cannot starve the others of the pool."""
    if engine_choice() == "httpx":
        return None
    tls = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    return AiohttpTransport(max_connections=max_connections, keepalive_expiry=keepalive_expiry,
                            tls=tls)


@functools.lru_cache(maxsize=4)
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's own verifying context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), built once
    per setting: loading the CA bundle takes about 50 ms, more than 20 survey requests. The
    arguments are only the cache key (a file changed in place is read again by a new process);
    httpx reads the same variables itself."""
    return httpx.create_ssl_context(verify=True, trust_env=True)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface on aiohttp's HTTP/1.1 client.

    Written here rather than taken from the ``httpx-aiohttp`` adapter, which re-quoted URLs
    (a ``%2F`` in a signed storage URL came out as ``/``, breaking its signature), reported a
    refused port and an untrusted certificate alike as ConnectTimeout, and let a malformed
    response escape as a raw aiohttp error. Here the URL goes out byte for byte as httpx
    built it, every aiohttp failure becomes the httpx error httpx's own engine raises for it,
    and a client used from a new event loop gets a new session (a session belongs to one).
    """

    def __init__(self, *, max_connections: int, keepalive_expiry: float,
                 tls: ssl.SSLContext) -> None:
        import aiohttp  # noqa: F401 - now, with the client, not inside the first request
        import yarl  # noqa: F401
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._tls = tls
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _session_here(self) -> Any:
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            if self._session is not None and not self._session.closed:
                # Its loop is closed (a second asyncio.run), so it cannot be awaited closed;
                # its pooled sockets go with it when it is collected.
                self._session.detach()
            connector = aiohttp.TCPConnector(limit=self._max_connections,
                                             keepalive_timeout=self._keepalive_expiry,
                                             ssl=self._tls)
            # trust_env=False: no proxy settings (see the rules) and no ~/.netrc credentials.
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                auto_decompress=False,  # httpx decodes, so caps and digests see what it sees
            )
            self._loop = loop
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp
        import yarl

        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.multi_items()
                   if k.lower() != "transfer-encoding"]  # the body is in memory: aiohttp sizes it
        try:
            response = await self._session_here().request(
                request.method, yarl.URL(str(request.url), encoded=True), headers=headers,
                data=body or None, allow_redirects=False,  # httpx follows, checking each hop
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout.get("connect"),
                                              sock_read=timeout.get("read"),
                                              connect=timeout.get("pool")),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _as_httpx(exc) from exc
        return httpx.Response(
            response.status, headers=response.raw_headers, stream=_Body(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1",
                        "reason_phrase": (response.reason or "").encode("ascii", "replace")},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: Any) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import aiohttp

        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _as_httpx(exc) from exc

    async def aclose(self) -> None:
        self._response.release()  # back to the pool if read to the end, else closed


def _as_httpx(exc: BaseException) -> httpx.TransportError:
    """The httpx error httpx's own engine raises where aiohttp raised ``exc``."""
    import aiohttp

    text = str(exc) or type(exc).__name__
    kinds: list[tuple[type[BaseException] | tuple[type[BaseException], ...],
                      type[httpx.TransportError]]] = [
        (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
        (TimeoutError, httpx.ReadTimeout),  # aiohttp's ServerTimeoutError is one too
        ((aiohttp.ClientConnectorError, aiohttp.ClientSSLError), httpx.ConnectError),
        ((aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
          aiohttp.ClientResponseError), httpx.RemoteProtocolError),
        (aiohttp.InvalidUrlClientError, httpx.UnsupportedProtocol),
        ((aiohttp.ClientOSError, aiohttp.ClientConnectionError), httpx.ReadError),
    ]
    for aiohttp_kind, httpx_kind in kinds:
        if isinstance(exc, aiohttp_kind):
            return httpx_kind(text)
    return httpx.TransportError(text)


def _environment_proxies(env: Mapping[str, str]) -> list[str]:
    """The proxy variables set (non-empty) in ``env``, as written there."""
    # The environment only, as httpx reads it (not urllib's getproxies, which also asks the
    # OS on some platforms): the fallback then covers exactly what httpx would have used.
    return sorted(k for k, v in env.items()
                  if v and k.lower() in ("http_proxy", "https_proxy", "all_proxy"))


__all__ = ["ENGINES", "ENGINE_ENV", "AiohttpTransport", "default_transport", "engine_choice"]
