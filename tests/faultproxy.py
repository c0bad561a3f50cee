"""A hostile HTTP proxy in front of the real test registry.

The real registry never sends 429, ``Retry-After`` or Docker Hub's rate-limit headers, never
corrupts, trickles or compresses a body, and never hangs up mid-answer; Docker Hub, broken
proxies and hostile servers do. This proxy forwards every request to the real registry and,
per a script of rules, replaces answers with failures, adds headers, alters bodies, or
misbehaves on the socket itself, so that the client meets the real thing plus exactly the fault
under test. It listens on 127.0.0.1 only, on real sockets: the client's own HTTP engines
(aiohttp's and httpx's) parse what it sends.

========================  =====================================================================
rule field                what the proxy does for a matching request
========================  =====================================================================
``status``/``body``       answers this status and body itself (the registry is not asked)
``answer``                answers ``answer(request)`` → ``(status, headers, body)`` itself
``headers``               adds these headers to the answer
``mutate``                forwards, then alters the registry's body
``redirect``              answers 307 to this URL (``{path}`` is replaced by the request path)
``encoding``              sends the answer ``gzip``- or ``deflate``-encoded, with the header
``trickle``               sends the answer one byte every ``trickle`` seconds, from byte
                          ``trickle_from`` of the whole message (0: the status line on)
``stall``                 reads the request, sends nothing for ``stall`` seconds, hangs up
``reset``                 hangs up at once with a TCP reset, no answer
``truncate``              announces the whole body but sends only this many bytes, hangs up
``raw``                   sends these bytes instead of an HTTP answer, hangs up
``body_size``             answers ``status`` (default 200) with a body of this many bytes of
                          ``body_fill``, streamed (a huge body costs the proxy no memory)
``when``                  applies only if ``when(request)`` is true (besides method and path)
========================  =====================================================================

A rule applies ``times`` times (None: always); the first matching rule wins. ``picker``, when
set, is asked first: a function from a request to a rule (or None), for a campaign's random
faults (``benchmarks/fault_campaign.py``). ``received``
lists ``(method, path)`` of every request as it arrives (``count`` counts them); ``seen`` lists
``(method, path, status)`` of every request answered (status ``0`` for a socket fault or
a streamed ``body_size`` answer).
"""

from __future__ import annotations

import functools
import gzip
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@dataclass(frozen=True)
class Request:
    """A request as the proxy received it; header names lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Rule:
    """Applies to requests whose method and path match; ``times`` = how often (None: always)."""

    method: str | None = None
    path_contains: str = ""
    times: int | None = None
    status: int | None = None  # answer this status instead of forwarding
    headers: dict[str, str] = field(default_factory=dict)  # add to the answer
    body: bytes | None = None  # answer body for a replaced status
    mutate: Callable[[bytes], bytes] | None = None  # alter the forwarded body
    answer: Callable[[Request], tuple[int, dict[str, str], bytes]] | None = None
    when: Callable[[Request], bool] | None = None
    redirect: str | None = None
    encoding: str | None = None  # "gzip" or "deflate"
    trickle: float | None = None
    trickle_from: int = 0
    stall: float | None = None
    reset: bool = False
    truncate: int | None = None
    raw: bytes | None = None
    body_size: int | None = None
    body_fill: bytes = b" "
    used: int = 0

    def matches(self, request: Request) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        return ((self.method in (None, request.method)) and self.path_contains in request.path
                and (self.when is None or self.when(request)))


@functools.lru_cache(maxsize=4)
def gzip_bomb(decoded_bytes: int, *, deflate: bool = False) -> bytes:
    """``decoded_bytes`` zeros, gzip- (or zlib-) compressed: about a thousandth of the size."""
    z = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS if deflate else 16 + zlib.MAX_WBITS)
    step = bytes(1 << 20)
    parts = [z.compress(step) for _ in range(decoded_bytes >> 20)]
    parts.append(z.compress(bytes(decoded_bytes & ((1 << 20) - 1))))
    parts.append(z.flush())
    return b"".join(parts)


class FaultProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str, int]] = []
        self.received: list[tuple[str, str]] = []  # every request, as it arrives
        self.request_headers: list[dict[str, str]] = []  # as received, lower-cased names
        self.picker: Callable[[Request], Rule | None] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._client = httpx.Client(timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    proxy._serve(self, body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up: nothing to do

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def add(self, **kw: object) -> Rule:
        rule = Rule(**kw)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(rule)
        return rule

    def count(self, method: str, path_contains: str = "") -> int:
        """Requests received (answered or still being answered) with this method and path."""
        return sum(1 for m, p in self.received if m == method and path_contains in p)

    def _rule_for(self, request: Request) -> Rule | None:
        if self.picker is not None:
            picked = self.picker(request)
            if picked is not None:
                return picked
        with self._lock:
            for rule in self.rules:
                if rule.matches(request):
                    rule.used += 1
                    return rule
        return None

    def _serve(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        request = Request(h.command, h.path, headers, body)
        self.received.append((request.method, request.path))
        self.request_headers.append(headers)
        rule = self._rule_for(request)
        if rule is not None and self._socket_fault(h, rule):
            self.seen.append((request.method, request.path, 0))
            return
        if rule is not None and rule.answer is not None:
            status, out_headers, payload = rule.answer(request)
            out_headers = {**out_headers, **rule.headers}
        elif rule is not None and rule.redirect is not None:
            status, payload = 307, b""
            out_headers = {"Location": rule.redirect.replace("{path}", request.path),
                           **rule.headers}
        elif rule is not None and rule.status is not None:
            status, out_headers, payload = rule.status, dict(rule.headers), rule.body or b""
        else:
            fwd = {k: v for k, v in h.headers.items() if k.lower() not in _HOP | {"host"}}
            fwd["Accept-Encoding"] = "identity"  # the proxy decides the encoding itself
            resp = self._client.request(request.method, self.upstream + request.path,
                                        headers=fwd, content=body or None)
            status, payload = resp.status_code, resp.content
            out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP}
            if request.method == "HEAD":
                out_headers["Content-Length"] = resp.headers.get("content-length", "0")
            if rule is not None:
                out_headers.update(rule.headers)
                if rule.mutate is not None and payload:
                    payload = rule.mutate(payload)
        if rule is not None and rule.encoding and request.method != "HEAD":
            payload = (gzip.compress(payload) if rule.encoding == "gzip"
                       else zlib.compress(payload))
            out_headers["Content-Encoding"] = rule.encoding
        self._reply(h, status, out_headers, payload, request.method, rule)
        self.seen.append((request.method, request.path, status))

    def _socket_fault(self, h: BaseHTTPRequestHandler, rule: Rule) -> bool:
        """Faults below HTTP: True when one was done (and the connection is finished)."""
        if rule.reset:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif rule.stall is not None:
            self._stopping.wait(rule.stall)
        elif rule.raw is not None:
            h.wfile.write(rule.raw)
        elif rule.body_size is not None:
            head = [f"HTTP/1.1 {rule.status or 200} {_reason(rule.status or 200)}",
                    *(f"{k}: {v}" for k, v in rule.headers.items()),
                    f"Content-Length: {rule.body_size}"]
            h.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            chunk = rule.body_fill * ((1 << 20) // len(rule.body_fill))
            left = rule.body_size
            while left > 0 and not self._stopping.is_set():
                h.wfile.write(chunk[:left])
                left -= len(chunk)
        else:
            return False
        h.close_connection = True
        return True

    def _reply(self, h: BaseHTTPRequestHandler, status: int, headers: dict[str, str],
               payload: bytes, method: str, rule: Rule | None) -> None:
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        declared = None
        for k, v in headers.items():
            if k.lower() == "content-length":
                declared = v
                continue
            lines.append(f"{k}: {v}")
        if method == "HEAD":
            lines.append(f"Content-Length: {declared or '0'}")
        else:
            lines.append(f"Content-Length: {len(payload)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        data = head if method == "HEAD" else head + payload
        if rule is not None and rule.truncate is not None and method != "HEAD":
            data = head + payload[:rule.truncate]
            h.close_connection = True
        if rule is not None and rule.trickle is not None:
            h.wfile.write(data[:rule.trickle_from])
            for i in range(rule.trickle_from, len(data)):
                if self._stopping.wait(rule.trickle):
                    break
                h.wfile.write(data[i:i + 1])
            h.close_connection = True
            return
        h.wfile.write(data)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a stalled answer never holds up stop()

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up
            super().handle_error(request, client_address)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def wait_until(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll ``predicate`` until it is true or ``seconds`` pass (for socket-level assertions)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
