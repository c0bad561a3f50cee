"""Reading an HTTP response body within a byte cap, content encodings decoded as they stream.

What it is for
--------------
A registry's answer is bytes archlab does not control. Reading it whole
(``response.content``) lets the server decide how much memory archlab uses, and
``Content-Encoding: gzip`` multiplies that: httpx's own decoder inflates each received chunk in
one ``zlib`` call, however far it expands, so a few hundred KiB of gzip became 345 MB before a
4 MiB cap looked at it. :func:`read_body` reads the *raw* stream instead, inflates it with
``zlib``'s ``max_length`` so that no step yields more than 64 KiB, and counts the cap against
the *decoded* bytes as they come: memory stays at the cap plus one step, whatever the ratio.

How do I use it?
----------------
::

    resp = await http.send(request, stream=True)
    try:
        body = await read_body(resp, max_bytes=limits.MAX_MANIFEST_BYTES,
                               what="manifest lab/mysql:5.7")
    finally:
        await resp.aclose()

    excerpt = await read_excerpt(resp, limits.MAX_ERROR_BODY_BYTES)   # to quote an error

:class:`~archlab.registry.AsyncRegistryClient` reads every body this way (manifests, configs,
layers, tag pages, token answers, error answers) and says ``Accept-Encoding:
gzip, deflate`` (:data:`ACCEPT_ENCODING`): the encodings decoded here with the standard
library, and no others whatever optional packages are installed.

The rules
---------
=====================================  ==================================================
the answer                             what :func:`read_body` does
=====================================  ==================================================
no ``Content-Encoding``, ``identity``  the bytes as sent; a ``Content-Length`` above the
                                       cap is refused before a byte is read
``gzip`` (``x-gzip``)                  inflated as it streams (RFC 1952)
``deflate``                            inflated as it streams: a zlib stream (RFC 1950),
                                       or raw deflate, which some servers send instead
several, comma-separated               undone in reverse order, each step bounded
any other (``br``, ``zstd`` ...)       :class:`~archlab.errors.BadResponseError`: archlab
                                       did not ask for it
decoded bytes above ``max_bytes``      :class:`~archlab.errors.TooLargeError`; reading
                                       stops there
raw bytes above ``max_bytes`` plus     :class:`~archlab.errors.TooLargeError`: compression
1/16 and 64 KiB                        never makes data that much larger, so such a body
                                       decodes to (nearly) nothing: padding to waste time
invalid compressed data, data after    :class:`~archlab.errors.BadResponseError`
its end, a stream cut short
raw bytes other than ``Content-        :class:`~archlab.errors.BadResponseError`
Length`` announced
=====================================  ==================================================

:func:`read_excerpt` follows the same rules but never raises for size or encoding: it returns
the first ``max_bytes`` decoded (what could be decoded) and stops reading, for quoting an error.
Time is not bounded here: the caller reads inside its deadline (:mod:`archlab.registry`).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from archlab.errors import BadResponseError, TooLargeError

__all__ = ["ACCEPT_ENCODING", "read_body", "read_excerpt"]

#: What archlab's requests accept; :func:`read_body` decodes exactly these.
ACCEPT_ENCODING = "gzip, deflate"

# Not a limit but the step of the decoder: the most one zlib call may yield. Bigger steps save
# little CPU (zlib's own window is 32 KiB) and raise the peak above the cap.
_STEP = 64 * 1024
_RAW_SLACK = 64 * 1024


class _Inflater:
    """One ``gzip`` or ``deflate`` layer, inflated ``_STEP`` bytes at a time."""

    def __init__(self, coding: str, what: str) -> None:
        self.coding = coding
        self.what = what
        self._z: Any = None  # a zlib decompressor, once the format is known
        self._head = b""  # deflate: the first bytes, until it is known whether zlib-wrapped
        if coding == "gzip":
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:  # deflate: a zlib header (RFC 1950) or raw deflate (RFC 1951)
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            zlib_wrapped = (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
        yield from self._inflate(data)

    def finish(self) -> Iterator[bytes]:
        if self._z is None:
            if self._head:  # one byte of deflate is never a whole stream
                raise self._broken("the stream is cut short")
            return
        yield from self._inflate(b"")
        if not self._z.eof:
            raise self._broken("the stream is cut short")

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        z = self._z
        assert z is not None
        while True:
            if z.eof:
                if data or z.unused_data:
                    raise self._broken("data after the end of the compressed stream")
                return
            try:
                out = z.decompress(data, _STEP)
            except zlib.error as exc:
                raise self._broken(str(exc)) from None
            data = z.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < _STEP:
                return  # all input used and nothing held back: wait for more

    def _broken(self, why: str) -> BadResponseError:
        return BadResponseError(f"{self.what}: invalid {self.coding} body ({why}); the "
                                "registry or a proxy on the way sent broken compressed data")


def _stages(response: httpx.Response, what: str) -> list[_Inflater]:
    header = response.headers.get("content-encoding", "")
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    stages = []
    for coding in reversed(codings):  # the last one applied is the first to undo
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            stages.append(_Inflater("gzip", what))
        elif coding == "deflate":
            stages.append(_Inflater("deflate", what))
        else:
            raise BadResponseError(
                f"{what}: the answer is encoded as {coding!r}, which archlab did not ask for "
                f"(it accepts {ACCEPT_ENCODING}); the registry or a proxy ignored Accept-Encoding",
                status=response.status_code, url=str(response.request.url),
            )
    return stages


def _through(stages: Sequence[_Inflater], data: bytes) -> Iterator[bytes]:
    """``data`` decoded by every stage, one bounded piece at a time."""
    if not stages:
        if data:
            yield data
        return
    for piece in stages[0].feed(data):
        yield from _through(stages[1:], piece)


def _finished(stages: Sequence[_Inflater]) -> Iterator[bytes]:
    """What every stage still holds at the end of the body, decoded by the stages after it."""
    for i, stage in enumerate(stages):
        for piece in stage.finish():
            yield from _through(stages[i + 1:], piece)


async def read_body(response: httpx.Response, *, max_bytes: int, what: str) -> bytes:
    """The whole body of a streamed ``response``, decoded, at most ``max_bytes`` (see the
    rules). The caller closes the response."""
    if response.request.method == "HEAD" or response.status_code in (204, 304):
        return b""
    stages = _stages(response, what)
    declared = _content_length(response)
    if not stages and declared is not None and declared > max_bytes:
        raise TooLargeError(
            f"{what} is {declared} bytes, above the cap of {max_bytes}; refusing to read it",
            status=response.status_code, url=str(response.request.url))
    raw_cap = max_bytes + max_bytes // 16 + _RAW_SLACK if stages else max_bytes
    out = bytearray()
    raw = 0

    def add(piece: bytes) -> None:
        if len(out) + len(piece) > max_bytes:
            grown = " once decompressed" if stages else ""
            raise TooLargeError(f"{what} exceeds the cap of {max_bytes} bytes{grown}",
                                status=response.status_code, url=str(response.request.url))
        out.extend(piece)

    # aclosing: a generator left mid-body must be closed now, not by the event loop's
    # finaliser after the loop may have stopped ("Task was destroyed but it is pending").
    async with contextlib.aclosing(response.aiter_raw()) as chunks:
        async for chunk in chunks:
            raw += len(chunk)
            if raw > raw_cap:
                raise TooLargeError(
                    f"{what} exceeds the cap of {max_bytes} bytes ({raw} bytes received"
                    + (", still encoded)" if stages else ")"),
                    status=response.status_code, url=str(response.request.url))
            for piece in _through(stages, chunk):
                add(piece)
    for piece in _finished(stages):
        add(piece)
    if declared is not None and raw != declared:
        raise BadResponseError(f"{what}: announced {declared} bytes (Content-Length) but sent "
                               f"{raw}", status=response.status_code,
                               url=str(response.request.url))
    return bytes(out)


async def read_excerpt(response: httpx.Response, max_bytes: int) -> bytes:
    """At most the first ``max_bytes`` of the decoded body, to quote in an error message.

    Never raises for size or encoding (an undecodable body gives what decoded before the
    fault); transport errors propagate. Stops reading once it has enough. The caller closes
    the response."""
    if response.request.method == "HEAD":
        return b""
    try:
        stages = _stages(response, "error body")
    except BadResponseError:
        return b""
    raw_cap = max_bytes + _RAW_SLACK
    out = bytearray()
    raw = 0
    try:
        async with contextlib.aclosing(response.aiter_raw()) as chunks:
            async for chunk in chunks:
                raw += len(chunk)
                for piece in _through(stages, chunk):
                    out.extend(piece[:max_bytes - len(out)])
                    if len(out) >= max_bytes:
                        return bytes(out)
                if raw > raw_cap:
                    break
    except BadResponseError:
        pass
    return bytes(out)


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
