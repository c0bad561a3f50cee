"""A stand-in for Docker Hub's repository-tags API, on 127.0.0.1, for archlab's tests.

It answers ``GET /v2/namespaces/<ns>/repositories/<name>/tags`` (and the older
``/v2/repositories/<ns>/<name>/tags``) in the shape of Docker's API reference, from tags a test
gives it, usually derived from images the test pushed to a real lab registry
(:func:`tags_from_built`), so that what the listing says can be checked against manifests.
Where the sources this follows are, and what each contributed, is in ``tests/test_tags.py``.

It never pretends to be Docker Hub: it has its own ``http://127.0.0.1:<port>`` base URL, which
the client is given explicitly (``base_url=``, ``hub_api=``, ``--hub-api``), and every ``next``
link it writes names that base.

What a test can make it do:

* page like the API: ``page`` and ``page_size`` (10 by default, at most 100), absolute
  ``next``/``previous`` URLs, ``count`` of all tags;
* count its rate limit (``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` on every answer) and
  answer 429 when it is spent;
* fail on demand (:meth:`HubStandIn.fail`): a status, headers and body for the next N requests;
* write a ``next`` of the test's choosing (:attr:`HubStandIn.next_override`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from archlab.lab.images import BuiltImage, BuiltIndex

DEFAULT_PAGE_SIZE = 10  # the API's default
MAX_PAGE_SIZE = 100  # the API's maximum
EPOCH = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def stamp(when: datetime | None) -> str | None:
    """The API's timestamp format: microseconds and a Z."""
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Image:
    os: str
    architecture: str
    variant: str | None
    digest: str | None
    size: int
    status: str = "active"
    last_pushed: datetime | None = EPOCH
    last_pulled: datetime | None = EPOCH

    def doc(self) -> dict[str, object]:
        return {"architecture": self.architecture, "features": "", "variant": self.variant,
                "digest": self.digest, "os": self.os, "os_features": "", "os_version": None,
                "size": self.size, "status": self.status,
                "last_pulled": stamp(self.last_pulled), "last_pushed": stamp(self.last_pushed)}


@dataclass
class Tag:
    name: str
    digest: str | None
    media_type: str | None
    images: list[Image]
    status: str = "active"
    last_pushed: datetime | None = EPOCH
    last_pulled: datetime | None = EPOCH
    id: int = 0

    def doc(self, repository_id: int) -> dict[str, object]:
        doc: dict[str, object] = {
            "creator": 7, "id": self.id, "images": [i.doc() for i in self.images],
            "last_updated": stamp(self.last_pushed), "last_updater": 7,
            "last_updater_username": "standin", "name": self.name,
            "repository": repository_id, "full_size": sum(i.size for i in self.images),
            "v2": True, "tag_status": self.status, "tag_last_pulled": stamp(self.last_pulled),
            "tag_last_pushed": stamp(self.last_pushed),
        }
        if self.media_type is not None:  # older answers have neither
            doc.update(media_type=self.media_type, content_type="image", digest=self.digest)
        return doc


def image_of(built: BuiltImage, when: datetime) -> Image:
    p = built.platform
    return Image(p.os, p.architecture, p.variant or None, built.manifest.digest,
                 sum(layer.size for layer in built.layers), last_pushed=when, last_pulled=when)


def tag_of(name: str, built: BuiltImage | BuiltIndex, when: datetime) -> Tag:
    """What the API says of a tag pushed as ``built`` at ``when``: the runnable images, never
    the attestations."""
    images = built.images if isinstance(built, BuiltIndex) else (built,)
    return Tag(name, built.manifest.digest, built.manifest.media_type,
               [image_of(i, when) for i in images], last_pushed=when, last_pulled=when)


def tags_from_built(pushed: Sequence[tuple[str, BuiltImage | BuiltIndex]]) -> list[Tag]:
    """Tags in push order, listed newest first, one minute apart."""
    out = [tag_of(name, built, EPOCH + timedelta(minutes=i))
           for i, (name, built) in enumerate(pushed)]
    return out[::-1]


@dataclass
class Fault:
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"detail": "Rate limit exceeded", "error": false}'


class HubStandIn:
    """The stand-in server; use as a context manager. ``repositories`` maps ``ns/name`` to its
    tags in the API's order (newest first)."""

    def __init__(self, repositories: Mapping[str, Sequence[Tag]] | None = None, *,
                 rate_limit: int = 600) -> None:
        self.repositories: dict[str, list[Tag]] = {k: list(v)
                                                   for k, v in (repositories or {}).items()}
        for tags in self.repositories.values():
            for i, tag in enumerate(tags):
                tag.id = tag.id or 1000 + i
        self.rate_limit = rate_limit
        self.remaining = rate_limit
        self.reset_at = time.time() + 60
        self.faults: list[Fault] = []
        #: When set, ``next_override(page, page_size)`` is written as ``next`` instead.
        self.next_override: Callable[[int, int], str | None] | None = None
        #: Every request as (path, query), in order.
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, headers, body = standin._answer(self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail(self, status: int, *, times: int = 1, headers: Mapping[str, str] | None = None,
             body: bytes | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (and these headers, body)."""
        fault = Fault(status, times, dict(headers or {}))
        if body is not None:
            fault.body = body
        self.faults.append(fault)

    def pages_seen(self) -> int:
        return len(self.seen)

    # ------------------------------------------------------------------ answering

    def _answer(self, raw_path: str) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(raw_path)
        with self._lock:
            self.seen.append((split.path, split.query))
            now = time.time()
            if now >= self.reset_at:
                self.remaining, self.reset_at = self.rate_limit, now + 60
            headers = {"Content-Type": "application/json"}
            for fault in self.faults:
                if fault.times > 0:
                    fault.times -= 1
                    return fault.status, {**headers, **fault.headers}, fault.body
            if self.remaining <= 0:
                wait = max(1, int(self.reset_at - now))
                return 429, {**headers, "Retry-After": str(wait)}, Fault(429, 0).body
            self.remaining -= 1
            headers.update({"X-RateLimit-Limit": str(self.rate_limit),
                            "X-RateLimit-Remaining": str(self.remaining),
                            "X-RateLimit-Reset": str(int(self.reset_at))})
        repo = _repository(split.path)
        if repo is None or repo not in self.repositories:
            body = {"message": "httperror 404: object not found",
                    "errinfo": {"repository": repo or split.path}}
            return 404, headers, json.dumps(body).encode()
        query = parse_qs(split.query)
        page = _int(query.get("page"), 1)
        size = min(_int(query.get("page_size"), DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        if page < 1 or size < 1:
            return 400, headers, b'{"message": "invalid page or page_size"}'
        tags = self.repositories[repo]
        chunk = tags[(page - 1) * size: page * size]
        if not chunk and page > 1:
            return 404, headers, b'{"message": "httperror 404: object not found"}'
        base = f"{self.url}/v2/namespaces/{repo.split('/')[0]}/repositories/" \
               f"{repo.split('/')[1]}/tags"
        nxt = f"{base}?page={page + 1}&page_size={size}" if page * size < len(tags) else None
        if self.next_override is not None:
            nxt = self.next_override(page, size)
        prev = f"{base}?page={page - 1}&page_size={size}" if page > 1 else None
        doc = {"count": len(tags), "next": nxt, "previous": prev,
               "results": [t.doc(4242) for t in chunk]}
        return 200, headers, json.dumps(doc).encode()


def _repository(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) == 6 and parts[:2] == ["v2", "namespaces"] and parts[3] == "repositories" \
            and parts[5] == "tags":
        return f"{parts[2]}/{parts[4]}"
    if len(parts) == 5 and parts[:2] == ["v2", "repositories"] and parts[4] == "tags":
        return f"{parts[2]}/{parts[3]}"
    return None


def _int(values: list[str] | None, default: int) -> int:
    try:
        return int(values[0]) if values else default
    except ValueError:
        return -1
