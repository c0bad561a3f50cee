"""archlab.lab.server against the real docker-registry 2.8.2: start, auth, access log, stop."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
from pathlib import Path

import bcrypt
import httpx
import pytest

import archlab.lab.server as server_mod
from archlab.errors import LabError
from archlab.lab.server import (
    HtpasswdAuth,
    LoggedRequest,
    RegistryServer,
    TokenAuth,
    find_free_port,
    parse_access_log,
)

MISSING = (
    'install Debian\'s package with "apt-get install docker-registry" (distribution 2.8), '
    "or pass binary=..."
)
ZERO_DIGEST = "sha256:" + "0" * 64


@pytest.fixture(scope="module")
def http() -> httpx.Client:
    with httpx.Client(trust_env=False, timeout=5.0) as client:
        yield client


def push_blob(http: httpx.Client, url: str, repo: str, data: bytes, **kw) -> str:
    """Monolithic upload: POST to open a session, PUT the bytes with their digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    opened = http.post(f"{url}/v2/{repo}/blobs/uploads/", **kw)
    assert opened.status_code == 202, opened.text
    # Location carries the upload's _state; digest is added to it, not put in its place.
    location = httpx.URL(url).join(opened.headers["Location"])
    done = http.put(location.copy_merge_params({"digest": digest}), content=data, **kw)
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest
    return digest


def fetch_token(http: httpx.Client, issuer, scope: str, auth=None) -> httpx.Response:
    return http.get(issuer.realm, params={"service": issuer.service, "scope": scope}, auth=auth)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# --- pure parts ------------------------------------------------------------------------------

LOG_LINES = [
    (
        '127.0.0.1 - - [28/Nov/2026:00:42:59 +0000] "HEAD /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"',
        [("HEAD", "/v2/", 200)],
    ),
    (  # the upload PUT's query (_state, digest) is dropped
        '127.0.0.1 - student [28/Nov/2026:00:42:59 +0000] "PUT /v2/t/a/blobs/uploads/u1'
        '?_state=abc&digest=sha256%3A00 HTTP/1.1" 201 0 "" "python-httpx/0.28.1"',
        [("PUT", "/v2/t/a/blobs/uploads/u1", 201)],
    ),
    (  # a logrus line mentioning a request is not an access line
        'time="2026-11-28T00:42:59Z" level=error msg="response completed with error" '
        "http.request.method=GET http.request.uri=/v2/x/manifests/latest http.response.status=404",
        [],
    ),
    (  # archlab's own probes never count
        '127.0.0.1 - - [28/Nov/2026:00:45:05 +0000] "GET /v2/?archlab-internal=sync-1-ab HTTP/1.1"'
        ' 200 2 "" "python-httpx/0.28.1"',
        [],
    ),
    (  # other queries on /v2/ are the caller's and do count
        '127.0.0.1 - - [28/Nov/2026:00:45:05 +0000] "GET /v2/_catalog?n=10 HTTP/1.1" 200 20 "" "-"',
        [("GET", "/v2/_catalog", 200)],
    ),
    ("panic: unable to configure authorization (token)", []),
]


@pytest.mark.parametrize(("line", "expected"), LOG_LINES)
def test_parse_access_log(line: str, expected: list[tuple[str, str, int]]) -> None:
    assert parse_access_log(line + "\n") == expected


@pytest.mark.parametrize("name", ["", "a:b", "line\nbreak"])
def test_htpasswd_rejects_unusable_user_names(name: str) -> None:
    with pytest.raises(LabError, match="htpasswd user name"):
        HtpasswdAuth({name: "pw"})


def test_htpasswd_auth_does_not_show_passwords() -> None:
    assert "s3cret" not in repr(HtpasswdAuth({"student": "s3cret"}))


def test_explicit_missing_binary_is_one_line(tmp_path: Path) -> None:
    server = RegistryServer(binary="/nonexistent/docker-registry", storage=tmp_path / "data")
    with pytest.raises(LabError) as err:
        server.start()
    assert str(err.value) == f"docker-registry not found at /nonexistent/docker-registry: {MISSING}"
    assert not server.running


def test_missing_binary_on_path_and_in_usr_bin(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(server_mod, "DEBIAN_BINARY", tmp_path / "docker-registry")
    with pytest.raises(LabError) as err:
        RegistryServer().start()
    assert str(err.value) == f"docker-registry not found: {MISSING}"


# --- open registry ---------------------------------------------------------------------------


def test_open_registry_answers_v2(registry, http) -> None:
    resp = http.get(f"{registry.url}/v2/")
    assert resp.status_code == 200
    assert resp.json() == {}
    assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert registry.host == registry.url.removeprefix("http://")
    assert registry.host.startswith("127.0.0.1:")


def test_requests_since_counts_exactly_what_was_sent(
    registry, http, repo_name, registry_requests
) -> None:
    with registry_requests(registry.server) as seen:
        http.head(f"{registry.url}/v2/{repo_name}/blobs/{ZERO_DIGEST}")
        http.head(f"{registry.url}/v2/{repo_name}/blobs/{ZERO_DIGEST}")
        http.get(f"{registry.url}/v2/{repo_name}/manifests/latest")
    assert seen == [
        ("HEAD", f"/v2/{repo_name}/blobs/{ZERO_DIGEST}", 404),
        ("HEAD", f"/v2/{repo_name}/blobs/{ZERO_DIGEST}", 404),
        ("GET", f"/v2/{repo_name}/manifests/latest", 404),
    ]
    assert all(isinstance(r, LoggedRequest) for r in seen)


def test_requests_since_with_nothing_sent_is_empty(registry) -> None:
    mark = registry.server.log_mark()
    assert registry.server.requests_since(mark) == []


def test_requests_since_sees_upload_and_large_blob_get(
    registry, http, repo_name, registry_requests
) -> None:
    data = os.urandom(512 * 1024)  # big enough to be streamed past the response buffer
    with registry_requests(registry.server) as seen:
        digest = push_blob(http, registry.url, repo_name, data)
        got = http.get(f"{registry.url}/v2/{repo_name}/blobs/{digest}")
    assert got.content == data
    assert [(r.method, r.status) for r in seen] == [("POST", 202), ("PUT", 201), ("GET", 200)]
    assert seen[1].path.startswith(f"/v2/{repo_name}/blobs/uploads/")
    assert seen[2].path == f"/v2/{repo_name}/blobs/{digest}"


# --- htpasswd --------------------------------------------------------------------------------


def test_htpasswd_challenge_and_credentials(htpasswd_registry, http, registry_requests) -> None:
    url = f"{htpasswd_registry.url}/v2/"
    with registry_requests(htpasswd_registry.server) as seen:
        anonymous = http.get(url)
        good = http.get(url, auth=htpasswd_registry.auth)
        bad = http.get(url, auth=(htpasswd_registry.username, "wrong"))
    assert anonymous.status_code == 401
    assert anonymous.headers["Www-Authenticate"] == 'Basic realm="archlab"'
    assert anonymous.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert good.status_code == 200
    assert bad.status_code == 401
    assert seen == [("GET", "/v2/", 401), ("GET", "/v2/", 200), ("GET", "/v2/", 401)]


def test_htpasswd_file_is_private_bcrypt(registry_binary, http) -> None:
    auth = HtpasswdAuth({"student": "s3cret", "teacher": "t0p"}, realm="lab realm")
    with RegistryServer(binary=registry_binary, auth=auth) as server:
        path = server.log_path.parent / "htpasswd"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        entries = dict(line.split(":", 1) for line in path.read_text().splitlines())
        assert set(entries) == {"student", "teacher"}
        assert all(h.startswith("$2b$05$") for h in entries.values())
        assert bcrypt.checkpw(b"s3cret", entries["student"].encode())
        resp = http.get(f"{server.url}/v2/")
        assert resp.headers["Www-Authenticate"] == 'Basic realm="lab realm"'
        assert http.get(f"{server.url}/v2/", auth=("teacher", "t0p")).status_code == 200


# --- token -----------------------------------------------------------------------------------


def test_token_challenge_names_realm_service_and_scope(token_registry, http, repo_name) -> None:
    issuer = token_registry.issuer
    base = http.get(f"{token_registry.url}/v2/")
    assert base.status_code == 401
    assert base.headers["Www-Authenticate"] == (
        f'Bearer realm="{issuer.realm}",service="archlab-registry"'
    )
    repo = http.head(f"{token_registry.url}/v2/{repo_name}/manifests/latest")
    assert repo.status_code == 401
    assert repo.headers["Www-Authenticate"] == (
        f'Bearer realm="{issuer.realm}",service="archlab-registry",'
        f'scope="repository:{repo_name}:pull"'
    )
    assert issuer.issued == []


def test_anonymous_token_opens_v2_but_cannot_push(token_registry, token_issuer, http, repo_name):
    answer = fetch_token(http, token_issuer, f"repository:{repo_name}:pull,push")
    assert answer.status_code == 200
    body = answer.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    token = body["token"]
    assert http.get(f"{token_registry.url}/v2/", headers=bearer(token)).status_code == 200
    push = http.post(f"{token_registry.url}/v2/{repo_name}/blobs/uploads/", headers=bearer(token))
    assert push.status_code == 401
    assert push.headers["Www-Authenticate"].endswith('error="insufficient_scope"')
    [issued] = token_issuer.issued
    assert issued.subject == ""
    assert [(g.name, g.actions) for g in issued.access] == [(repo_name, ("pull",))]


def test_user_token_can_push_a_blob(token_registry, token_issuer, http, repo_name) -> None:
    scope = f"repository:{repo_name}:pull,push"
    answer = fetch_token(http, token_issuer, scope, auth=token_registry.auth)
    assert answer.status_code == 200
    headers = bearer(answer.json()["token"])
    digest = push_blob(http, token_registry.url, repo_name, b"hello lab", headers=headers)
    head = http.head(f"{token_registry.url}/v2/{repo_name}/blobs/{digest}", headers=headers)
    assert head.status_code == 200
    assert [i.subject for i in token_issuer.issued] == ["student"]
    assert token_issuer.issued[0].access[0].actions == ("pull", "push")


def test_wrong_password_gets_no_token(token_registry, token_issuer, http, repo_name) -> None:
    answer = fetch_token(
        http, token_issuer, f"repository:{repo_name}:pull", auth=(token_registry.username, "no")
    )
    assert answer.status_code == 401
    assert token_issuer.issued == []
    assert token_issuer.refused == 1


def test_expired_token_is_refused(token_registry, token_issuer, http) -> None:
    # distribution allows 60 s of clock skew, so "expired" has to be more than that.
    token_issuer.expires_in = -120
    token = fetch_token(http, token_issuer, "repository:t/any:pull").json()["token"]
    assert http.get(f"{token_registry.url}/v2/", headers=bearer(token)).status_code == 401


def test_token_auth_needs_the_certificate(tmp_path: Path) -> None:
    missing = tmp_path / "token.crt"
    auth = TokenAuth("http://127.0.0.1:1/token", "svc", "iss", missing)
    with pytest.raises(LabError, match=str(missing)):
        RegistryServer(auth=auth, binary="/bin/true").start()


# --- lifecycle -------------------------------------------------------------------------------


def test_stop_is_idempotent_and_the_process_is_gone(registry_binary) -> None:
    server = RegistryServer(binary=registry_binary)
    with server:
        pid = server.pid
        assert server.running and pid is not None
        assert server.start().pid == pid  # a second start is a no-op
        conf_dir, data_dir = server.log_path.parent, server.data_dir
        assert conf_dir.is_dir() and data_dir.is_dir()
    assert not server.running
    assert server.pid is None
    assert process_gone(pid)
    assert not conf_dir.exists() and not data_dir.exists()  # temporary storage is removed
    server.stop()
    server.stop()
    assert not server.running


def test_dropped_server_is_stopped_by_its_finalizer(registry_binary) -> None:
    server = RegistryServer(binary=registry_binary).start()
    pid = server.pid
    assert pid is not None and not process_gone(pid)
    del server  # the last reference: CPython runs the weakref finalizer right here
    assert process_gone(pid)


def test_given_storage_persists_across_restart(registry_binary, tmp_path, http) -> None:
    storage = tmp_path / "lab-data"
    with RegistryServer(binary=registry_binary, storage=storage) as first:
        digest = push_blob(http, first.url, "t/persist", b"kept across restarts")
        assert first.data_dir == storage
    assert (storage / "docker" / "registry" / "v2").is_dir()
    with RegistryServer(binary=registry_binary, storage=storage) as second:
        got = http.get(f"{second.url}/v2/t/persist/blobs/{digest}")
        assert got.status_code == 200
        assert got.content == b"kept across restarts"


def test_chosen_port_is_used(registry_binary, http) -> None:
    port = find_free_port()
    with RegistryServer(binary=registry_binary, port=port) as server:
        assert server.host == f"127.0.0.1:{port}"
        assert server.url == f"http://127.0.0.1:{port}"
        assert http.get(f"{server.url}/v2/").status_code == 200


def test_chosen_port_in_use_is_named(registry_binary) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        server = RegistryServer(binary=registry_binary, port=port)
        with pytest.raises(LabError, match=f"port {port} on 127.0.0.1 is already in use"):
            server.start()
    assert not server.running


def test_port_taken_after_the_check_is_still_named(registry_binary, monkeypatch) -> None:
    # Bound without SO_REUSEADDR and not listening: the registry's bind fails at once.
    monkeypatch.setattr(server_mod, "port_is_free", lambda port: True)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        port = other.getsockname()[1]
        with pytest.raises(LabError, match=f"port {port} on 127.0.0.1 is already in use"):
            RegistryServer(binary=registry_binary, port=port).start()


def test_raced_free_port_is_retried(registry_binary, monkeypatch, http) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        taken = other.getsockname()[1]
        free = find_free_port()
        picks = iter([taken, free])
        monkeypatch.setattr(server_mod, "find_free_port", lambda: next(picks))
        with RegistryServer(binary=registry_binary) as server:
            assert server.host == f"127.0.0.1:{free}"
            assert http.get(f"{server.url}/v2/").status_code == 200


def test_early_exit_reports_the_registry_log(registry_binary, tmp_path) -> None:
    bad_cert = tmp_path / "token.crt"
    bad_cert.write_text("not a certificate\n")
    auth = TokenAuth("http://127.0.0.1:1/token", "svc", "iss", bad_cert)
    server = RegistryServer(binary=registry_binary, auth=auth)
    with pytest.raises(LabError) as err:
        server.start()
    message = str(err.value)
    assert message.startswith("docker-registry exited with status ")
    assert "token auth requires at least one token signing root certificate" in message
    assert not server.running


def test_config_is_ours_alone(registry_binary, monkeypatch, http) -> None:
    # distribution lets REGISTRY_* variables override the file; they must not leak in.
    monkeypatch.setenv("REGISTRY_HTTP_ADDR", "0.0.0.0:1")
    monkeypatch.setenv("REGISTRY_AUTH", "htpasswd")
    with RegistryServer(binary=registry_binary) as server:
        assert http.get(f"{server.url}/v2/").status_code == 200
        log = server.log_path.read_text()
    assert "No HTTP secret provided" not in log
