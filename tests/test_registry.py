"""The registry client against a real distribution 2.8 registry (and a hostile proxy before it)."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest

from archlab import digests, manifests
from archlab.cache import TagIndex
from archlab.credentials import Credentials
from archlab.errors import (
    AuthError,
    DigestMismatchError,
    InsecureTransportError,
    NotFoundError,
    RateLimitError,
    RegistryError,
    RegistryUnreachableError,
    TooLargeError,
)
from archlab.lab.publish import push_image
from archlab.lab.server import find_free_port
from archlab.reference import parse_reference
from archlab.registry import RateLimit, is_loopback_host
from tests.corpus import AMD64, ARM64, client
from tests.corpus import make_image as _image
from tests.faultproxy import FaultProxy

# ---------------------------------------------------------------------- every manifest kind


def test_each_manifest_kind_round_trips(registry, corpus, tmp_path):
    refs, built = corpus
    with client(tmp_path) as reg:
        lst = reg.get_manifest(refs["list"])
        assert lst.media_type == manifests.DOCKER_MANIFEST_LIST
        assert lst.raw == built["list"].manifest.data
        assert lst.digest == built["list"].manifest.digest
        assert [str(d.platform) for d in lst.manifest.manifests] == [
            "linux/amd64", "linux/arm64/v8", "linux/arm/v7"]

        idx = reg.get_manifest(refs["index"])
        assert idx.media_type == manifests.OCI_INDEX
        atts = [d for d in idx.manifest.manifests if d.is_attestation]
        assert len(atts) == 2
        assert atts[0].attests == built["index"].images[0].manifest.digest

        s2 = reg.get_manifest(refs["schema2"])
        assert isinstance(s2.manifest, manifests.ImageManifest)
        assert s2.media_type == manifests.DOCKER_MANIFEST_V2
        cfg = reg.get_config(refs["schema2"], s2.manifest.config)
        assert str(cfg.platform) == "linux/amd64"

        oci = reg.get_manifest(refs["oci"])
        assert oci.media_type == manifests.OCI_MANIFEST
        cfg = reg.get_config(refs["oci"], oci.manifest.config)
        assert str(cfg.platform) == "linux/arm64/v8"


def test_child_fetched_by_digest_is_verified(registry, corpus, tmp_path):
    refs, built = corpus
    child = built["list"].images[1].manifest
    with client(tmp_path) as reg:
        got = reg.get_manifest(refs["list"].with_digest(child.digest))
    assert got.digest == child.digest
    assert got.raw == child.data


# ---------------------------------------------------------------------- content negotiation


def test_narrow_accept_gets_the_amd64_child_instead_of_the_list(registry, corpus, tmp_path):
    refs, built = corpus
    with client(tmp_path) as reg:
        got = reg.get_manifest(refs["list"], accept=[manifests.DOCKER_MANIFEST_V2])
    assert got.media_type == manifests.DOCKER_MANIFEST_V2
    assert got.digest == built["list"].images[0].manifest.digest  # the linux/amd64 entry


def test_no_docker_types_gets_signed_schema1(registry, corpus, tmp_path):
    refs, _ = corpus
    with client(tmp_path) as reg:
        got = reg.get_manifest(refs["schema2"], accept=[manifests.OCI_MANIFEST])
    assert got.media_type == manifests.DOCKER_SCHEMA1_SIGNED
    assert isinstance(got.manifest, manifests.Schema1Manifest)
    assert got.manifest.signed
    assert got.manifest.architecture == "amd64"
    # The registry's Docker-Content-Digest covers the JWS payload, not the signed bytes.
    assert got.headers["docker-content-digest"] == got.digest


def test_oci_index_refused_without_oci_accept(registry, corpus, tmp_path):
    refs, _ = corpus
    with client(tmp_path) as reg, pytest.raises(NotFoundError) as err:
        reg.get_manifest(refs["index"], accept=[manifests.DOCKER_MANIFEST_LIST,
                                                manifests.DOCKER_MANIFEST_V2])
    assert "OCI index found, but accept header does not support OCI indexes" in str(err.value)


# ---------------------------------------------------------------------- verification and caps


def _respace(body: bytes) -> bytes:
    """Still valid JSON with the same meaning, but other bytes: a digest must notice."""
    return body.replace(b'"schemaVersion":2', b'"schemaVersion": 2', 1)


def test_tampered_manifest_is_rejected(registry, corpus, tmp_path):
    refs, _ = corpus
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="GET", path_contains="/manifests/", mutate=_respace)
        ref = parse_reference(f"{proxy.host}/{refs['schema2'].repository}:schema2")
        with client(tmp_path) as reg, pytest.raises(DigestMismatchError) as err:
            reg.get_manifest(ref)
    assert "Docker-Content-Digest" in str(err.value)
    assert not list((tmp_path / "cache").rglob("sha256/*/*"))  # nothing cached


def test_tampered_config_blob_is_rejected_and_not_cached(registry, corpus, tmp_path):
    refs, built = corpus
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="GET", path_contains="/blobs/",
                  mutate=lambda b: b.replace(b"amd64", b"arm64"))
        ref = parse_reference(f"{proxy.host}/{refs['schema2'].repository}:schema2")
        with client(tmp_path) as reg:
            m = reg.get_manifest(ref)
            with pytest.raises(DigestMismatchError):
                reg.get_config(ref, m.manifest.config)
            assert reg.aio.cache.get(built["schema2"].config.digest) is None


def test_manifest_above_the_cap_is_refused(registry, corpus, tmp_path):
    refs, _ = corpus
    with client(tmp_path, max_manifest_bytes=64) as reg, pytest.raises(TooLargeError) as err:
        reg.get_manifest(refs["list"])
    assert "above the cap of 64" in str(err.value)


def test_missing_tag_is_a_clear_not_found(registry, corpus, tmp_path):
    refs, _ = corpus
    with client(tmp_path) as reg, pytest.raises(NotFoundError) as err:
        reg.get_manifest(refs["list"].with_tag("nope"))
    assert str(err.value).startswith(f"{refs['list'].with_tag('nope')}: manifest not found")
    assert "MANIFEST_UNKNOWN" in str(err.value)


# ---------------------------------------------------------------------- the cache


def test_second_look_at_unchanged_tag_costs_one_head(registry, corpus, tmp_path):
    refs, _ = corpus
    with client(tmp_path) as reg:
        mark = registry.server.log_mark()
        m = reg.get_manifest(refs["schema2"])
        reg.get_config(refs["schema2"], m.manifest.config)
        first = registry.server.requests_since(mark)
    assert [(meth, kind) for meth, kind in _kinds(first)] == [("GET", "manifests"),
                                                             ("GET", "blobs")]
    # A new process-like client that shares only the on-disk cache.
    with client(tmp_path) as reg:
        mark = registry.server.log_mark()
        m2 = reg.get_manifest(refs["schema2"])
        reg.get_config(refs["schema2"], m2.manifest.config)
        second = registry.server.requests_since(mark)
        assert m2.from_cache
        assert reg.aio.requests.total() == 1
    assert _kinds(second) == [("HEAD", "manifests")]


def test_moved_tag_is_fetched_again(registry, corpus, tmp_path):
    refs, built = corpus
    ref = refs["schema2"].with_tag("moving")
    with client(tmp_path) as reg:
        reg.run(lambda aio: push_image(aio, ref, built["schema2"]))
        assert reg.get_manifest(ref).digest == built["schema2"].manifest.digest
        other = _image(ARM64)
        reg.run(lambda aio: push_image(aio, ref, other))
        got = reg.get_manifest(ref)
    assert got.digest == other.manifest.digest and not got.from_cache


def _blob_file(tmp_path, digest):
    hexpart = digest.removeprefix("sha256:")
    return tmp_path / "cache" / "blobs" / "sha256" / hexpart[:2] / hexpart


def test_an_edited_cache_entry_and_sidecar_cannot_change_the_answer(registry, corpus, tmp_path):
    """The red team's silent wrong answer: the cached list replaced by the amd64-only one and
    its .meta.json edited to vouch for it. archlab must still see arm64 (a refetch)."""
    refs, built = corpus
    with client(tmp_path) as reg:
        first = reg.get_manifest(refs["list"])
    assert "linux/arm64/v8" in {str(d.platform) for d in first.manifest.manifests}
    lie = built["amd64only"].manifest.data
    path = _blob_file(tmp_path, first.digest)
    path.write_bytes(lie)
    (path.parent / (path.name + ".meta.json")).write_text(json.dumps({
        "digest": digests.compute(lie), "content_digest": digests.compute(lie),
        "media_type": first.media_type, "size": len(lie)}))
    with client(tmp_path) as reg, pytest.warns(RuntimeWarning, match="was damaged"):
        again = reg.get_manifest(refs["list"])
    assert not again.from_cache and again.digest == first.digest
    assert {str(d.platform) for d in again.manifest.manifests} == {
        str(d.platform) for d in first.manifest.manifests}
    assert path.read_bytes() == first.raw  # the refetch repaired the entry


@pytest.mark.parametrize("kind", ["list", "index", "schema2", "oci"])
@pytest.mark.parametrize("media_type", [
    manifests.DOCKER_MANIFEST_LIST, manifests.OCI_INDEX, manifests.DOCKER_MANIFEST_V2,
    manifests.OCI_MANIFEST, manifests.DOCKER_SCHEMA1, "application/json", "text/html", None,
])
def test_an_edited_sidecar_media_type_cannot_change_the_answer(registry, corpus, tmp_path,
                                                                kind, media_type):
    refs, _ = corpus
    with client(tmp_path) as reg:
        first = reg.get_manifest(refs[kind])
    path = _blob_file(tmp_path, first.digest)
    sidecar = path.parent / (path.name + ".meta.json")
    sidecar.write_text(json.dumps({"digest": first.digest, "media_type": media_type,
                                   "size": len(first.raw) + 7}))
    with client(tmp_path) as reg:
        again = reg.get_manifest(refs[kind])
    assert (again.digest, again.media_type, again.raw) == (first.digest, first.media_type,
                                                           first.raw)
    assert again.manifest == first.manifest


def test_a_lying_tag_hint_costs_a_request_never_a_wrong_answer(registry, corpus, tmp_path):
    """The tag index says :list is the amd64-only list (which is cached too); the registry's
    HEAD decides, so the answer is the real list."""
    refs, built = corpus
    with client(tmp_path) as reg:
        only = reg.get_manifest(refs["amd64only"])
    tags = TagIndex(tmp_path / "cache" / "blobs")
    ref = refs["list"]
    tags.remember(ref.registry, ref.repository, ref.tag, only.digest, only.media_type)
    tags.flush()
    with client(tmp_path) as reg:
        mark = registry.server.log_mark()
        got = reg.get_manifest(ref)
        sent = _kinds(registry.server.requests_since(mark))
    assert got.digest == built["list"].manifest.digest != only.digest
    assert sent == [("HEAD", "manifests"), ("GET", "manifests")]


def test_a_cache_root_that_is_a_file_still_answers(registry, corpus, tmp_path):
    refs, _ = corpus
    (tmp_path / "cache").write_text("not a directory")
    with pytest.warns(RuntimeWarning, match="cache disabled") as caught, \
            client(tmp_path) as reg:
        for kind in ("list", "schema2", "oci"):
            m = reg.get_manifest(refs[kind])
            if kind != "list":
                reg.get_config(refs[kind], m.manifest.config)
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1


def _kinds(requests):
    out = []
    for method, path, _status in requests:
        if path == "/v2/" or path.startswith("/v2/?"):
            continue
        out.append((method, "manifests" if "/manifests/" in path else
                    "blobs" if "/blobs/" in path else path))
    return out


# ---------------------------------------------------------------------- auth


def test_htpasswd_with_credentials(htpasswd_registry, tmp_path):
    reg_host = htpasswd_registry.host
    creds = Credentials(htpasswd_registry.username, htpasswd_registry.password)
    ref = parse_reference(f"{reg_host}/t/auth:one")
    img = _image(AMD64)
    with client(tmp_path, credentials={reg_host: creds}) as reg:
        reg.run(lambda aio: push_image(aio, ref, img))
        assert reg.get_manifest(ref).digest == img.manifest.digest


def test_htpasswd_without_credentials_says_how_to_fix(htpasswd_registry, tmp_path):
    ref = parse_reference(f"{htpasswd_registry.host}/t/auth:one")
    with client(tmp_path) as reg, pytest.raises(AuthError) as err:
        reg.get_manifest(ref)
    assert f"docker login {htpasswd_registry.host}" in str(err.value)


def test_htpasswd_wrong_password(htpasswd_registry, tmp_path):
    host = htpasswd_registry.host
    ref = parse_reference(f"{host}/t/auth:one")
    with client(tmp_path, credentials={host: Credentials("student", "wrong")}) as reg, \
            pytest.raises(AuthError) as err:
        reg.get_manifest(ref)
    assert "refused" in str(err.value)


def test_credentials_from_docker_config(htpasswd_registry, tmp_path, monkeypatch):
    import base64

    host = htpasswd_registry.host
    conf = tmp_path / "dockerconf"
    conf.mkdir()
    auth = base64.b64encode(f"{htpasswd_registry.username}:{htpasswd_registry.password}".encode())
    (conf / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth.decode()}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(conf))
    ref = parse_reference(f"{host}/t/conf:one")
    img = _image(AMD64)
    with client(tmp_path, use_docker_config=True) as reg:
        reg.run(lambda aio: push_image(aio, ref, img))
        assert reg.get_manifest(ref).digest == img.manifest.digest


def test_credentials_from_a_credential_helper(htpasswd_registry, tmp_path, monkeypatch):
    host = htpasswd_registry.host
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-archlabtest"
    helper.write_text(
        "#!/bin/sh\nread server\n"
        f'printf \'{{"ServerURL":"%s","Username":"{htpasswd_registry.username}",'
        f'"Secret":"{htpasswd_registry.password}"}}\' "$server"\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    conf = tmp_path / "dockerconf"
    conf.mkdir()
    (conf / "config.json").write_text(json.dumps({"credHelpers": {host: "archlabtest"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(conf))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    ref = parse_reference(f"{host}/t/helper:one")
    img = _image(AMD64)
    with client(tmp_path, use_docker_config=True) as reg:
        reg.run(lambda aio: push_image(aio, ref, img))
        assert reg.get_manifest(ref).digest == img.manifest.digest


def test_bearer_tokens_are_fetched_once_per_scope(token_registry, tmp_path):
    host = token_registry.host
    creds = Credentials(token_registry.username, token_registry.password)
    ref = parse_reference(f"{host}/t/tok:one")
    img = _image(AMD64)
    with client(tmp_path, credentials={host: creds}) as reg:
        reg.run(lambda aio: push_image(aio, ref, img))
        pushes = reg.aio.tokens.fetches
        assert pushes == 1  # one pull,push token served every upload and the manifest PUT
    before = token_registry.issuer_count()
    with client(tmp_path, cache=False, tag_index=False) as anon:
        for _ in range(5):
            assert anon.get_manifest(ref).digest == img.manifest.digest
        assert anon.aio.tokens.fetches == 1
    assert token_registry.issuer_count() - before == 1


def test_anonymous_token_cannot_push(token_registry, tmp_path):
    ref = parse_reference(f"{token_registry.host}/t/tok:anon")
    with client(tmp_path) as reg, pytest.raises(AuthError):
        reg.run(lambda aio: push_image(aio, ref, _image(AMD64)))


def test_token_issuer_refusing_wrong_password(token_registry, tmp_path):
    host = token_registry.host
    ref = parse_reference(f"{host}/t/tok:one")
    with client(tmp_path, credentials={host: Credentials("student", "nope")}) as reg, \
            pytest.raises(AuthError) as err:
        reg.get_manifest(ref)
    assert "refused a token as 'student'" in str(err.value)


# ---------------------------------------------------------------------- rate limits and retries


class _Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


def test_rate_limit_headers_are_recorded(registry, corpus, tmp_path):
    refs, _ = corpus
    with FaultProxy(registry.url) as proxy:
        proxy.add(path_contains="/manifests/", headers={
            "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600",
            "docker-ratelimit-source": "203.0.113.7"})
        ref = parse_reference(f"{proxy.host}/{refs['list'].repository}:list")
        with client(tmp_path) as reg:
            reg.resolve(ref)
            assert reg.aio.rate_limits[proxy.host] == RateLimit(100, 76, 21600, "203.0.113.7")


def test_retry_after_is_honoured_on_429(registry, corpus, tmp_path):
    refs, built = corpus
    sleeps = _Sleeps()
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="GET", path_contains="/manifests/", times=2, status=429,
                  headers={"Retry-After": "3"}, body=b'{"errors":[{"code":"TOOMANYREQUESTS"}]}')
        ref = parse_reference(f"{proxy.host}/{refs['list'].repository}:list")
        with client(tmp_path, sleep=sleeps) as reg:
            got = reg.get_manifest(ref)
        assert proxy.count("GET", "/manifests/") == 3
    assert got.digest == built["list"].manifest.digest
    assert sleeps.calls == [3.0, 3.0]


def test_5xx_is_retried_with_backoff(registry, corpus, tmp_path):
    refs, _ = corpus
    sleeps = _Sleeps()
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="GET", path_contains="/manifests/", times=3, status=503)
        ref = parse_reference(f"{proxy.host}/{refs['list'].repository}:list")
        with client(tmp_path, sleep=sleeps, backoff=0.5) as reg:
            reg.get_manifest(ref)
    assert len(sleeps.calls) == 3
    assert sleeps.calls[0] < sleeps.calls[1] < sleeps.calls[2]  # exponential


def test_long_retry_after_is_not_waited_for(registry, corpus, tmp_path):
    refs, _ = corpus
    sleeps = _Sleeps()
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="GET", path_contains="/manifests/", status=429,
                  headers={"Retry-After": "3600"},
                  body=b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached '
                       b'your pull rate limit."}]}')
        ref = parse_reference(f"{proxy.host}/{refs['list'].repository}:list")
        with client(tmp_path, sleep=sleeps) as reg, pytest.raises(RateLimitError) as err:
            reg.get_manifest(ref)
    assert sleeps.calls == []
    assert err.value.retry_after == 3600
    assert "You have reached your pull rate limit." in str(err.value)


def test_persistent_5xx_gives_up_with_the_status(registry, corpus, tmp_path):
    refs, _ = corpus
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="GET", path_contains="/manifests/", status=502, body=b"bad gateway")
        ref = parse_reference(f"{proxy.host}/{refs['list'].repository}:list")
        with client(tmp_path, sleep=_Sleeps(), retries=2) as reg, \
                pytest.raises(RegistryError) as err:
            reg.get_manifest(ref)
    assert "HTTP 502 after 3 attempts" in str(err.value)


def test_unreachable_host(tmp_path):
    from archlab.lab.server import find_free_port

    port = find_free_port()
    sleeps = _Sleeps()
    with client(tmp_path, sleep=sleeps, retries=2) as reg, \
            pytest.raises(RegistryUnreachableError) as err:
        reg.get_manifest(f"127.0.0.1:{port}/x/y:z")
    assert f"cannot reach registry 127.0.0.1:{port}" in str(err.value)
    assert len(sleeps.calls) == 2


# ---------------------------------------------------------------------- tags and transport


def test_list_tags_follows_pagination(registry, repo_name, tmp_path):
    """distribution 2.8 answers every tag at once; Docker Hub pages with ``Link`` headers.

    The proxy serves a first page with a ``Link: rel="next"`` the way a paginating registry
    does; the client must follow it to the real registry's answer and merge without duplicates.
    """
    img = _image(AMD64)
    tags = [f"t{i}" for i in range(7)]

    async def push_all(aio):
        for t in tags:
            await push_image(aio, parse_reference(f"{registry.host}/{repo_name}:{t}"), img)

    with client(tmp_path) as reg:
        reg.run(push_all)
    first = json.dumps({"name": repo_name, "tags": ["t0", "t1", "t2"]}).encode()
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="GET", path_contains="/tags/list?n=3", times=1, status=200, body=first,
                  headers={"Content-Type": "application/json",
                           "Link": f'</v2/{repo_name}/tags/list?last=t2&n=3>; rel="next"'})
        with client(tmp_path) as reg:
            got = reg.list_tags(f"{proxy.host}/{repo_name}", page_size=3)
        assert proxy.count("GET", "/tags/list") == 2
    assert got[:3] == ["t0", "t1", "t2"]
    assert sorted(got) == sorted(tags)


# ---------------------------------------------------------------------- hostile JSON (issue 10)

DEEP_JSON = b"[" * 5_000  # json.loads raises RecursionError on this


def test_deep_json_from_a_token_issuer_is_one_auth_error(registry, corpus, tmp_path):
    refs, _ = corpus
    with FaultProxy(registry.url) as proxy:
        realm = f"http://{proxy.host}/token"
        proxy.add(path_contains="/manifests/", status=401,
                  headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="lab"'})
        proxy.add(path_contains="/token", status=200, body=DEEP_JSON,
                  headers={"Content-Type": "application/json"})
        ref = parse_reference(f"{proxy.host}/{refs['list'].repository}:list")
        with client(tmp_path) as reg, pytest.raises(AuthError) as err:
            reg.get_manifest(ref)
    assert str(err.value) == (f"the answer of token issuer {realm}: nests arrays and objects "
                              "5000 deep, more than the 64 archlab reads; no real document is "
                              "nested that deeply")


@pytest.mark.parametrize(("body", "problem"), [
    (DEEP_JSON, "the tags/list answer: nests arrays and objects 5000 deep"),
    (b'{"tags": 5}', "the tags/list answer's 'tags' is int, not a list"),  # was a TypeError
    (b"<html>", "the tags/list answer: is not valid JSON (Expecting value"),
])
def test_hostile_tags_list_is_one_registry_error(registry, repo_name, tmp_path, body, problem):
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="GET", path_contains="/tags/list", status=200, body=body,
                  headers={"Content-Type": "application/json"})
        with client(tmp_path) as reg, pytest.raises(RegistryError) as err:
            reg.list_tags(f"{proxy.host}/{repo_name}")
    assert str(err.value).startswith(f"{proxy.host}/{repo_name}: {problem}")


def test_deep_json_error_body_is_shown_as_text(registry, corpus, tmp_path):
    refs, _ = corpus
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="GET", path_contains="/manifests/", status=400, body=b"[" * 4000)
        ref = parse_reference(f"{proxy.host}/{refs['list'].repository}:list")
        with client(tmp_path) as reg, pytest.raises(RegistryError) as err:
            reg.get_manifest(ref)
    assert "answered HTTP 400: [[[[" in str(err.value)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1:5000", True), ("127.9.9.9", True), ("localhost:5000", True), ("[::1]:5000", True),
    ("::1", True), ("registry-1.docker.io", False), ("10.0.0.1:5000", False), ("ghcr.io", False),
])
def test_loopback_detection(host, loopback):
    assert is_loopback_host(host) is loopback


def test_plain_http_refused_for_non_loopback(tmp_path):
    async def go(aio):
        return await aio._send("GET", "registry.example", "http://registry.example/v2/",
                               kind="ping", headers={})

    with client(tmp_path) as reg, pytest.raises(InsecureTransportError) as err:
        reg.run(go)
    assert "insecure=['registry.example']" in str(err.value)
    with client(tmp_path, insecure=["registry.example"]) as reg:
        assert reg.aio._scheme("registry.example") == "http"
        assert reg.aio._scheme("ghcr.io") == "https"


def test_sync_client_works_inside_a_running_event_loop(registry, corpus, tmp_path):
    """Jupyter runs an event loop in the kernel's thread; the sync facade must not need it."""
    refs, built = corpus

    async def from_inside_a_loop():
        with client(tmp_path) as reg:
            return reg.get_manifest(refs["list"]).digest

    assert asyncio.run(from_inside_a_loop()) == built["list"].manifest.digest


def test_trace_shows_the_exchanges_without_secrets(token_registry, tmp_path):
    from archlab.registry import exchanges_frame

    host = token_registry.host
    creds = Credentials(token_registry.username, token_registry.password)
    ref = parse_reference(f"{host}/t/trace:one")
    img = _image(AMD64)
    with client(tmp_path, credentials={host: creds}) as reg:
        reg.run(lambda aio: push_image(aio, ref, img))
    with client(tmp_path, credentials={host: creds}, cache=False, tag_index=False) as reg:
        with reg.trace() as log:
            reg.get_manifest(ref)
        reg.get_manifest(ref)  # outside the block: not traced
    assert [(e.method, e.status, e.auth) for e in log] == [
        ("GET", 401, ""), ("GET", 200, "Bearer")]
    challenge = dict(log[0].response_headers)["www-authenticate"]
    assert challenge.startswith("Bearer realm=")
    assert dict(log[1].response_headers)["docker-content-digest"] == img.manifest.digest
    frame = exchanges_frame(log)
    assert frame["status"].tolist() == [401, 200]
    text = frame.to_string() + repr(log)
    assert token_registry.password not in text and "eyJ" not in text


def test_head_without_digest_falls_back_to_one_get(registry, corpus, tmp_path):
    """A registry that omits Docker-Content-Digest on HEAD: one GET, not a loop of HEADs."""
    refs, built = corpus

    with FaultProxy(registry.url) as proxy:
        ref = parse_reference(f"{proxy.host}/{refs['list'].repository}:list")
        with client(tmp_path) as reg:
            reg.get_manifest(ref)  # the tag is now known: the next look starts with a HEAD
        head = proxy.add(method="HEAD", path_contains="/manifests/", status=200,
                         headers={"Content-Type": manifests.DOCKER_MANIFEST_LIST})
        with client(tmp_path) as reg:
            got = reg.get_manifest(ref)
    assert head.used == 1
    assert got.digest == built["list"].manifest.digest
    assert proxy.count("GET", "/manifests/") == 2  # the first look, then the one fallback


def test_rate_limit_forgotten_when_headers_stop(registry, corpus, tmp_path):
    refs, _ = corpus
    with FaultProxy(registry.url) as proxy:
        proxy.add(path_contains="/manifests/", times=1,
                  headers={"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "5;w=21600"})
        ref = parse_reference(f"{proxy.host}/{refs['list'].repository}:list")
        with client(tmp_path) as reg:
            reg.resolve(ref)
            assert reg.aio.rate_limits[proxy.host].remaining == 5
            reg.resolve(ref)
            assert proxy.host not in reg.aio.rate_limits


@pytest.mark.parametrize(("realm", "insecure", "refused"), [
    ("http://auth.example/token", (), True),
    ("http://auth.example/token", ("auth.example",), False),
    ("http://127.0.0.1:9/token", (), False),
    ("https://auth.example/token", (), False),
])
def test_plain_http_token_realm_needs_the_same_opt_in(tmp_path, realm, insecure, refused):
    """The token request carries the password: a registry must not lure it onto plain HTTP."""
    import httpx

    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "registry.example":
            return httpx.Response(401, headers={
                "www-authenticate": f'Bearer realm="{realm}",service="reg"'})
        return httpx.Response(403)  # the token endpoint: any refusal ends the test

    creds = Credentials("alice", "s3cret")
    expected = InsecureTransportError if refused else AuthError
    with client(tmp_path, transport=httpx.MockTransport(answer), retries=0, insecure=insecure,
                credentials={"registry.example": creds}) as reg, pytest.raises(expected) as err:
        reg.get_manifest("registry.example/a/b:c")
    assert any(u.startswith(realm) for u in seen) is not refused
    assert "s3cret" not in str(err.value)
    if refused:
        assert "insecure=['auth.example']" in str(err.value)


def test_redirect_to_plain_http_elsewhere_is_refused(registry, corpus, tmp_path):
    """The plain-HTTP rule holds for every hop: a loopback registry redirecting a manifest to
    a non-loopback http:// host is refused before anything is sent there."""
    refs, _ = corpus
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="GET", path_contains="/manifests/", status=307,
                  headers={"Location": "http://registry.example/v2/x/manifests/list"})
        ref = parse_reference(f"{proxy.host}/{refs['list'].repository}:list")
        with client(tmp_path) as reg, pytest.raises(InsecureTransportError) as err:
            reg.get_manifest(ref)
    assert "refusing plain HTTP to registry.example" in str(err.value)


def test_ping_shows_each_registry_kind_and_its_challenge(registry, htpasswd_registry,
                                                         token_registry, tmp_path):
    with client(tmp_path, cache=False, tag_index=False) as reg:
        open_ = reg.ping(registry.host)
        basic = reg.ping(htpasswd_registry.host)
        bearer = reg.ping(token_registry.host)
        assert reg.aio.requests.counts == {("GET", "ping"): 3}  # no token was fetched
    assert open_.status_code == 200
    assert (basic.status_code, basic.headers["www-authenticate"].split()[0]) == (401, "Basic")
    assert bearer.status_code == 401
    assert bearer.headers["www-authenticate"].startswith('Bearer realm="')


def test_ping_of_a_dead_port_says_the_registry_cannot_be_reached(tmp_path):
    port = find_free_port()
    with client(tmp_path, cache=False, tag_index=False) as reg, \
            pytest.raises(RegistryUnreachableError) as err:
        reg.ping(f"127.0.0.1:{port}")
    assert str(err.value).startswith(f"cannot reach registry 127.0.0.1:{port} (")


def _endless_pages(proxy: FaultProxy, repo: str, per_page: int = 1) -> None:
    """Every tags/list page names ``per_page`` new tags and links to yet another page."""
    def page(request):
        n = sum(1 for m, p in proxy.received if "/tags/list" in p)
        tags = [f"t{n}-{i}" for i in range(per_page)]
        return 200, {"Content-Type": "application/json",
                     "Link": f'</v2/{repo}/tags/list?last=t{n}&n={per_page}>; rel="next"'}, \
            json.dumps({"name": repo, "tags": tags}).encode()
    proxy.add(method="GET", path_contains="/tags/list", answer=page)


def test_endless_tag_pages_stop_at_the_page_cap(registry, tmp_path):
    from archlab import limits

    with FaultProxy(registry.url) as proxy:
        _endless_pages(proxy, "t/endless")
        with client(tmp_path) as reg, pytest.raises(TooLargeError) as err:
            reg.list_tags(f"{proxy.host}/t/endless")
        assert proxy.count("GET", "/tags/list") == limits.MAX_TAG_PAGES
    assert str(err.value) == (
        f"{proxy.host}/t/endless: the registry's tag list runs past {limits.MAX_TAG_PAGES} pages "
        f"({limits.MAX_TAG_PAGES} tags so far); raise max_pages= if the repository really has "
        "that many tags")


def test_too_many_tags_stop_at_the_tag_cap_and_the_caps_can_be_raised(registry, tmp_path):
    with FaultProxy(registry.url) as proxy:
        _endless_pages(proxy, "t/endless", per_page=40)
        with client(tmp_path) as reg:
            with pytest.raises(TooLargeError, match="lists more than 100 tags; raise max_tags="):
                reg.list_tags(f"{proxy.host}/t/endless", max_tags=100)
            with pytest.raises(TooLargeError, match="runs past 5 pages"):
                reg.list_tags(f"{proxy.host}/t/endless", max_pages=5, max_tags=10_000)
