"""``archlab.transport``: which HTTP engine runs under httpx, and that both keep the same promises
(TLS verified, no cookies kept, identical survey results against the real registry)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from archlab import survey
from archlab.errors import ArchlabError, RegistryUnreachableError
from archlab.reference import parse_reference
from archlab.registry import AsyncRegistryClient
from archlab.transport import (
    ENGINE_ENV,
    ENGINES,
    AiohttpTransport,
    default_transport,
    engine_choice,
)
from tests.corpus import client
from tests.faultproxy import FaultProxy

# --- the rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "aiohttp"),
    ({"HTTPS_PROXY": "http://proxy.example:3128"}, "httpx"),
    ({"http_proxy": "http://proxy.example:3128"}, "httpx"),
    ({"ALL_PROXY": "socks5://proxy.example:1080"}, "httpx"),
    ({"HTTPS_PROXY": ""}, "aiohttp"),  # set but empty: no proxy, as httpx reads it
    ({"NO_PROXY": "*"}, "aiohttp"),
    ({ENGINE_ENV: "httpx"}, "httpx"),
    ({ENGINE_ENV: " AIOHTTP "}, "aiohttp"),
])
def test_engine_choice(env, expected):
    assert engine_choice(env) == expected


def test_an_unknown_engine_is_an_error_naming_the_variable_and_the_choices():
    with pytest.raises(ArchlabError) as err:
        engine_choice({ENGINE_ENV: "curl"})
    assert str(err.value) == (
        "ARCHLAB_HTTP_ENGINE='curl' is not an HTTP engine archlab knows; "
        "use one of: aiohttp, httpx")


def test_forcing_aiohttp_past_a_proxy_is_an_error_not_a_bypass():
    with pytest.raises(ArchlabError) as err:
        engine_choice({ENGINE_ENV: "aiohttp", "HTTPS_PROXY": "http://proxy.example:3128",
                       "no_proxy": "localhost"})
    assert str(err.value) == (
        "ARCHLAB_HTTP_ENGINE=aiohttp, but a proxy is set in the environment (HTTPS_PROXY) and "
        "archlab's aiohttp engine does not use proxies: unset ARCHLAB_HTTP_ENGINE (httpx's "
        "engine is then chosen and honours the proxy) or the proxy")


def test_the_client_uses_the_chosen_engine(engine):
    async def transport() -> httpx.AsyncBaseTransport:
        async with AsyncRegistryClient(cache=False, tag_index=False,
                                       use_docker_config=False) as aio:
            return aio._http._transport

    expected = {"aiohttp": AiohttpTransport, "httpx": httpx.AsyncHTTPTransport}[engine]
    assert isinstance(asyncio.run(transport()), expected)


def test_a_proxy_in_the_environment_falls_back_to_httpx(monkeypatch):
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert default_transport(max_connections=4) is None  # None: httpx's own, proxies honoured


# --- TLS: verified by both engines -------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "archlab test registry")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[str, Path]]:
    """An HTTPS endpoint on 127.0.0.1 answering ``/v2/`` like a registry, with a self-signed
    certificate; yields its URL and the certificate."""
    cert, key = _self_signed(tmp_path)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/v2/", cert
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=default_transport(max_connections=2)) as http:
            return await http.get(url)

    return asyncio.run(go())


def test_an_untrusted_certificate_is_refused(engine, tls_server, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    url, _ = tls_server
    with pytest.raises(httpx.ConnectError) as err:
        _get(url)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)


def test_a_certificate_trusted_through_ssl_cert_file_is_accepted(engine, tls_server, monkeypatch):
    url, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    assert _get(url).json() == {}


# --- errors: the kinds httpx's own engine raises -----------------------------------------------


def test_a_refused_connection_is_a_connect_error(engine):
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        _get(f"http://127.0.0.1:{port}/v2/")


class _RawServer:
    """A TCP server on 127.0.0.1 that reads each request and answers ``reply`` (raw bytes,
    b"" to hang up), on every connection; ``requests`` holds what it read."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                self.requests.append(conn.recv(65536))
                if self.reply:
                    conn.sendall(self.reply)

    def __enter__(self) -> _RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()


def test_a_server_that_hangs_up_is_a_remote_protocol_error(engine):
    with _RawServer(b"") as server, pytest.raises(httpx.RemoteProtocolError):
        _get(f"http://{server.host}/v2/")


@pytest.mark.parametrize("reply", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # body cut short
    b"SPDY/9 banana\r\n\r\n",  # not a status line
    b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n",  # not a header
], ids=["truncated", "status-line", "header-line"])
def test_a_malformed_answer_is_a_remote_protocol_error(engine, reply):
    with _RawServer(reply) as server, pytest.raises(httpx.RemoteProtocolError):
        response = _get(f"http://{server.host}/v2/")
        response.read()


def test_a_survey_of_a_host_that_answers_garbage_finishes_with_error_rows(engine, tmp_path):
    with _RawServer(b"SPDY/9 banana\r\n\r\n") as server:
        host = server.host
        texts = [f"{host}/org/app:1", f"{host}/org/app:2"]
        with client(tmp_path, retries=0) as reg:
            got = survey.survey(texts, client=reg, progress=False, check_rate_limit=False)
    errors = got.frame.set_index("input").loc[texts, "error"]
    assert errors.notna().all()
    assert all(f"cannot reach registry {host}" in e for e in errors)


def test_the_url_goes_out_byte_for_byte(engine):
    # A signed storage URL (Docker Hub's blob redirects) must not be re-quoted: %2F stays.
    path = "/v2/blob?sig=ab%2Fcd%3D%3D&k=%7E%41&x=a+b"
    with _RawServer(b"HTTP/1.1 204 No Content\r\n\r\n") as server:
        assert _get(f"http://{server.host}{path}").status_code == 204
    assert server.requests[0].split(b"\r\n", 1)[0] == f"GET {path} HTTP/1.1".encode()


def test_one_client_serves_two_event_loops(registry, corpus):
    refs, built = corpus

    async def fetch(aio: AsyncRegistryClient) -> str:
        return (await aio.get_manifest(refs["list"])).digest

    aio = AsyncRegistryClient(cache=False, tag_index=False, use_docker_config=False)
    assert isinstance(aio._http._transport, AiohttpTransport)
    try:
        assert asyncio.run(fetch(aio)) == built["list"].manifest.digest
        assert asyncio.run(fetch(aio)) == built["list"].manifest.digest  # a new loop
    finally:
        asyncio.run(aio.aclose())


# --- cookies: never kept -------------------------------------------------------------------


def test_no_cookie_is_kept_or_sent_back(engine, registry, corpus, tmp_path):
    refs, _ = corpus
    with FaultProxy(registry.url) as proxy:
        proxy.add(path_contains="/manifests/", headers={
            "Set-Cookie": "session=planted-secret; Path=/"})
        ref = parse_reference(f"{proxy.host}/{refs['list'].repository}:list")
        with client(tmp_path, cache=False, tag_index=False) as reg:
            reg.resolve(ref)
            reg.resolve(ref)
        assert len(proxy.request_headers) == 2
        assert [h.get("cookie") for h in proxy.request_headers] == [None, None]


# --- the same answers ----------------------------------------------------------------------


def test_both_engines_survey_the_registry_to_the_same_frame(registry, corpus, tmp_path,
                                                             monkeypatch):
    refs, _ = corpus
    texts = [str(r) for r in refs.values()] + [f"{registry.host}/no/such:tag"]
    frames = {}
    for name in ENGINES:
        monkeypatch.setenv(ENGINE_ENV, name)
        with client(tmp_path / name) as reg:
            assert isinstance(reg.aio._http._transport, AiohttpTransport) == (name == "aiohttp")
            got = survey.survey(texts, client=reg, progress=False)
        frames[name] = got.frame.drop(columns=["seconds"], errors="ignore")
    assert len(frames["aiohttp"]) > len(texts)
    assert frames["aiohttp"]["error"].notna().sum() == 1
    assert frames["aiohttp"].equals(frames["httpx"])


def test_an_untrusted_registry_certificate_fails_at_once_with_the_fix(engine, tls_server,
                                                                     monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    url, _ = tls_server
    host = httpx.URL(url).netloc.decode()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    async def ping() -> None:
        async with AsyncRegistryClient(cache=False, tag_index=False, use_docker_config=False,
                                       sleep=sleep) as aio:
            await aio._send("GET", host, url, kind="ping", headers={})

    with pytest.raises(RegistryUnreachableError) as err:
        asyncio.run(ping())
    assert str(err.value) == (
        f"registry {host} presented a TLS certificate that is not trusted (self-signed "
        "certificate); if it is signed by a private CA, point SSL_CERT_FILE at that CA's "
        "certificate (PEM)")
    assert sleeps == []  # not retried: a certificate does not get better by waiting
