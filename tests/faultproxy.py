"""A hostile HTTP proxy in front of the real test registry.

The real registry never sends 429, ``Retry-After`` or Docker Hub's rate-limit headers, and never
corrupts a body; Docker Hub and broken proxies do. This proxy forwards every request to the
real registry and, per a script of rules, replaces answers with failures, adds headers, or
alters bodies, so the client's retries, rate-limit capture and digest checks meet the real
thing plus exactly the fault under test. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


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
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        return (self.method in (None, method)) and self.path_contains in path


class FaultProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str, int]] = []
        self.request_headers: list[dict[str, str]] = []  # as received, lower-cased names
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=10)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy._serve(self, body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def add(self, **kw: object) -> Rule:
        rule = Rule(**kw)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(rule)
        return rule

    def count(self, method: str, path_contains: str = "") -> int:
        return sum(1 for m, p, _ in self.seen if m == method and path_contains in p)

    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.used += 1
                    return rule
        return None

    def _serve(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        method, path = h.command, h.path
        self.request_headers.append({k.lower(): v for k, v in h.headers.items()})
        rule = self._rule_for(method, path)
        if rule is not None and rule.status is not None:
            payload = rule.body or b""
            self._reply(h, rule.status, dict(rule.headers), payload, method)
            self.seen.append((method, path, rule.status))
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP | {"host"}}
        resp = self._client.request(method, self.upstream + path, headers=headers,
                                    content=body or None)
        out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP}
        payload = resp.content
        if rule is not None:
            out_headers.update(rule.headers)
            if rule.mutate is not None and payload:
                payload = rule.mutate(payload)
        if method == "HEAD":
            out_headers["Content-Length"] = resp.headers.get("content-length", "0")
        self._reply(h, resp.status_code, out_headers, payload, method)
        self.seen.append((method, path, resp.status_code))

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes,
               method: str) -> None:
        h.send_response(status)
        for k, v in headers.items():
            if k.lower() == "content-length" and method == "HEAD":
                continue
            h.send_header(k, v)
        if method == "HEAD":
            h.send_header("Content-Length", headers.get("Content-Length", "0"))
        else:
            h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(payload)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
