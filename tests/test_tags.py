"""Every tag of a repository with its platforms: Docker Hub's tag listing, the registry
fallback, the cross-check between them, and ``archlab tags``.

The listing is served by ``tests/hubstandin.py``, a stand-in on 127.0.0.1 that the client is
pointed at explicitly; the registry side is the real lab registry (``tests/conftest.py``),
holding the very images the stand-in describes. The stand-in follows Docker's API reference
and real answers found in public code; these are the sources, and what each one fixed:

* docker/docs, ``content/reference/api/hub/latest.yaml`` (the Docker Hub API reference): the
  route ``GET /v2/namespaces/{namespace}/repositories/{repository}/tags``, ``page`` and
  ``page_size`` ("Defaults to 10. Max of 100."), the ``paginated_tags`` page (``count``,
  ``next``, ``previous``, ``results``), the ``tag`` and ``image`` objects (``tag_status`` and
  image ``status`` ``active``/``inactive``, nullable ``digest``, ``last_pushed``,
  ``last_pulled``), the rate-limiting section (``X-RateLimit-Limit``, ``-Remaining``,
  ``-Reset``; 429 with ``X-Retry-After``, a Unix time) and the 429 body ``{"detail": "Rate
  limit exceeded", "error": false}``.
* docker/docs pull request 22916 (June 2025, "api: fix retry-after header docs"): the 429
  carries ``Retry-After`` in seconds; archlab reads both headers.
* docker/hub-tool, ``pkg/hub/tags.go`` (Docker's own Hub client): the field names as served
  (``tag_status``, ``tag_last_pulled``, ``tag_last_pushed``, ``last_updater_username``,
  ``v2``, ``full_size``) and following ``next`` until it is empty.
* marqaaron/spinnaker-advance-user-lab, ``app/src/modules/releases/store/mockData.js``: a
  captured answer, with ``"variant": null``, ``"os_version": null``, ``"features": ""`` and
  microsecond ``...Z`` timestamps.
* pollyduan/hubcli, ``internal/models.go``: the tag-level ``media_type`` and ``digest`` newer
  answers carry (older ones, like hub-tool's structs, have neither).
* docker/roadmap issue 795 and docker/hub-feedback issue 194, badges/shields pull request 4562:
  pagination through the ``next`` URL, and ``page_size`` capped at 100.

Nothing there is copied: the stand-in writes its own answers in that shape.
"""

from __future__ import annotations

import json
import secrets

import pytest

from archlab import hub
from archlab.cli import main
from archlab.errors import (
    AuthError,
    InsecureTransportError,
    NotFoundError,
    RateLimitError,
    RegistryError,
    TooLargeError,
)
from archlab.lab.images import BuiltImage, BuiltIndex, build_index
from archlab.lab.publish import push_image, push_index
from archlab.reference import parse_reference
from archlab.tags import TAG_COLUMNS, tag_platforms

try:
    from corpus import AMD64, ARM64, ARMV7, client, make_image
    from hubstandin import HubStandIn, tags_from_built
except ImportError:
    from tests.corpus import AMD64, ARM64, ARMV7, client, make_image
    from tests.hubstandin import HubStandIn, tags_from_built

LIST3 = build_index([make_image(AMD64), make_image(ARM64), make_image(ARMV7)])
AMD64_ONLY = build_index([make_image(AMD64)])
OCI_ATTESTED = build_index([make_image(AMD64, True), make_image(ARM64, True)], oci=True,
                           attestations=True)
SINGLE_AMD64 = make_image(AMD64)
SINGLE_ARM64 = make_image(ARM64, oci=True)
SHAPES: tuple[BuiltImage | BuiltIndex, ...] = (LIST3, AMD64_ONLY, OCI_ATTESTED, SINGLE_AMD64,
                                               SINGLE_ARM64)
PLATFORMS = {id(LIST3): {"linux/amd64", "linux/arm64/v8", "linux/arm/v7"},
             id(AMD64_ONLY): {"linux/amd64"}, id(OCI_ATTESTED): {"linux/amd64", "linux/arm64/v8"},
             id(SINGLE_AMD64): {"linux/amd64"}, id(SINGLE_ARM64): {"linux/arm64/v8"}}


def push_tags(host: str, repo: str, tmp_path, tagged: list[tuple[str, BuiltImage | BuiltIndex]]):
    """Each distinct image once, then every tag as one manifest PUT."""
    async def push(aio):
        done: set[str] = set()
        for name, built in tagged:
            ref = parse_reference(f"{host}/{repo}:{name}")
            if built.manifest.digest not in done:
                done.add(built.manifest.digest)
                if isinstance(built, BuiltIndex):
                    await push_index(aio, ref, built)
                else:
                    await push_image(aio, ref, built)
            else:
                await aio.push_manifest(ref, built.manifest.data, built.manifest.media_type)

    with client(tmp_path, cache=False, tag_index=False) as reg:
        reg.run(push)


def many(n: int) -> list[tuple[str, BuiltImage | BuiltIndex]]:
    return [(f"v{i}", SHAPES[i % len(SHAPES)]) for i in range(n)]


@pytest.fixture(scope="module")
def big_repo(registry, tmp_path_factory):
    """230 tags in the registry, listed by a stand-in: three pages of 100 (the stand-in's
    request log is cleared for each test)."""
    tagged = many(230)
    repo_name = f"t/big-{secrets.token_hex(3)}"
    push_tags(registry.host, repo_name, tmp_path_factory.mktemp("push"), tagged)
    with HubStandIn({repo_name: tags_from_built(tagged)}) as standin:
        yield f"{registry.host}/{repo_name}", standin, tagged


@pytest.fixture(autouse=True)
def _fresh_log(request):
    if "big_repo" in request.fixturenames:
        request.getfixturevalue("big_repo")[1].seen.clear()


# ---------------------------------------------------------------------------------------------
# The listing itself


def test_three_pages_give_every_tag_with_its_platforms_and_no_manifest_request(
        big_repo, registry, tmp_path, registry_requests):
    repo, standin, tagged = big_repo
    pages = []
    with client(tmp_path) as reg, registry_requests(registry.server) as seen:
        result = tag_platforms(repo, client=reg, hub_api=standin.url, on_page=pages.append)
    assert [len(p.tags) for p in pages] == [100, 100, 30]
    assert seen == []  # not one manifest request: the listing answered everything
    assert result.requests == {"GET hub-tags": 3}
    assert [q for _, q in standin.seen] == ["page_size=100", "page=2&page_size=100",
                                            "page=3&page_size=100"]
    assert result.source == "hub" and result.hub is not None and result.hub.count == 230
    assert list(result.frame.columns) == TAG_COLUMNS
    assert result.tags == [name for name, _ in reversed(tagged)]  # the API's order
    for name, built in tagged:
        rows = result.frame[result.frame["tag"] == name]
        assert set(rows["platform"]) == PLATFORMS[id(built)], name
        assert set(rows["digest"]) == {built.manifest.digest}
        assert set(rows["source"]) == {"hub"}
    # Attestations are never images: the attested index has exactly its two platforms.
    attested = result.frame[result.frame["digest"] == OCI_ATTESTED.manifest.digest]
    assert set(attested["image_digest"]) == {i.manifest.digest for i in OCI_ATTESTED.images}


def test_offering_names_the_tags_with_the_platform(big_repo, tmp_path):
    repo, standin, tagged = big_repo
    with client(tmp_path) as reg:
        result = tag_platforms(repo, client=reg, hub_api=standin.url)
    arm = result.offering(["linux/arm64"])  # arm64 is arm64/v8 after normalization
    expected = [n for n, b in reversed(tagged) if "linux/arm64/v8" in PLATFORMS[id(b)]]
    assert arm == expected and len(arm) == 138
    both = result.offering(["linux/amd64", "linux/arm/v7"])
    assert both == [n for n, b in reversed(tagged) if b is LIST3]


def test_the_registry_fallback_gives_the_same_frame_for_the_same_tags(registry, repo_name,
                                                                      tmp_path):
    tagged = many(10)
    push_tags(registry.host, repo_name, tmp_path, tagged)
    repo = f"{registry.host}/{repo_name}"
    with HubStandIn({repo_name: tags_from_built(tagged)}) as standin, client(tmp_path) as reg:
        listed = tag_platforms(repo, client=reg, hub_api=standin.url)
        read = tag_platforms(repo, client=reg)  # a loopback registry: no listing by default
    assert read.source == "registry" and set(read.frame["source"]) == {"registry"}
    assert read.requests["GET tags"] == 1 and read.requests["GET manifest"] == 10
    key = ["tag", "digest", "media_type", "kind", "platform", "platform_norm", "image_digest"]
    a = listed.frame[key].sort_values(["tag", "image_digest"]).reset_index(drop=True)
    b = read.frame[key].sort_values(["tag", "image_digest"]).reset_index(drop=True)
    assert a.equals(b)


# ---------------------------------------------------------------------------------------------
# Statuses, empty image lists, and the cross-check


@pytest.fixture
def odd_repo(registry, repo_name, tmp_path):
    """Seven tags, each with one of the differences the listing can have from the registry."""
    tagged = [("list", LIST3), ("attested", OCI_ATTESTED), ("lagging", LIST3),
              ("empty", AMD64_ONLY), ("old", SINGLE_AMD64)]
    push_tags(registry.host, repo_name, tmp_path, tagged)
    listed = {t.name: t for t in tags_from_built(
        [*tagged[:2], ("lagging", AMD64_ONLY), *tagged[3:], ("gone", SINGLE_ARM64)])}
    listed["empty"].images = []  # listed, its images not (yet) described
    listed["old"].status = "inactive"
    listed["old"].images[0].status = "inactive"
    order = ["gone", "old", "empty", "lagging", "attested", "list"]
    with HubStandIn({repo_name: [listed[n] for n in order]}) as standin:
        yield f"{registry.host}/{repo_name}", standin


def test_inactive_and_imageless_tags_are_kept_and_said_so(odd_repo, tmp_path):
    repo, standin = odd_repo
    with client(tmp_path) as reg:
        result = tag_platforms(repo, client=reg, hub_api=standin.url)
    f = result.frame.set_index("tag")
    assert f.loc["old", "tag_status"] == "inactive" and f.loc["old", "image_status"] == "inactive"
    assert f.loc["list", "tag_status"].tolist() == ["active"] * 3
    empty = f.loc["empty"]
    assert empty["note"] == "Docker Hub's API lists no images for this tag"
    assert empty["platform"] is None or str(empty["platform"]) == "<NA>"
    assert any("1 tags have no images" in n for n in result.notes)
    # Unknown is not "missing": the coverage of an imageless tag is <NA>.
    cov = result.coverage(["linux/amd64"])
    assert cov.loc[f"{repo}:empty", "linux/amd64"] is pd_na()
    assert "empty" not in result.offering(["linux/amd64"])


def pd_na():
    import pandas as pd

    return pd.NA


def test_resolve_empty_asks_the_registry_for_those_tags_only(odd_repo, tmp_path, registry,
                                                             registry_requests):
    repo, standin = odd_repo
    with client(tmp_path) as reg, registry_requests(registry.server) as seen:
        result = tag_platforms(repo, client=reg, hub_api=standin.url, resolve_empty=True)
    manifest_paths = {r.path for r in seen if "/manifests/" in r.path}
    assert manifest_paths == {f"/v2/{repo.split('/', 1)[1]}/manifests/empty"}
    empty = result.frame[result.frame["tag"] == "empty"]
    assert empty["source"].tolist() == ["registry"]
    assert empty["platform"].tolist() == ["linux/amd64"]


def test_verify_sample_reports_lag_deletion_and_omitted_attestations(odd_repo, tmp_path):
    repo, standin = odd_repo
    with client(tmp_path) as reg:
        result = tag_platforms(repo, client=reg, hub_api=standin.url, verify_sample=6)
    assert sorted(result.verified) == ["attested", "empty", "gone", "lagging", "list", "old"]
    found = {(d.tag, d.field): d for d in result.disagreements}
    assert set(found) == {("gone", "missing"), ("lagging", "digest"), ("lagging", "platforms"),
                          ("empty", "platforms"), ("attested", "attestations")}
    assert found[("lagging", "digest")].listed == AMD64_ONLY.manifest.digest
    assert found[("lagging", "digest")].registry == LIST3.manifest.digest
    assert found[("lagging", "platforms")].registry == "linux/amd64, linux/arm/v7, linux/arm64"
    assert found[("attested", "attestations")].expected
    assert found[("attested", "attestations")].registry == "2"
    assert not found[("gone", "missing")].expected
    frame = result.disagreements_frame()
    assert list(frame.columns) == ["tag", "field", "listed", "registry", "expected", "note"]
    assert len(frame) == 5


def test_verify_sample_is_a_seeded_choice_costing_one_manifest_each(big_repo, tmp_path):
    repo, standin, _ = big_repo
    with client(tmp_path) as reg:
        a = tag_platforms(repo, client=reg, hub_api=standin.url, verify_sample=4, seed=7)
    with client(tmp_path, cache=False, tag_index=False) as reg:
        b = tag_platforms(repo, client=reg, hub_api=standin.url, verify_sample=4, seed=7)
        c = tag_platforms(repo, client=reg, hub_api=standin.url, verify_sample=4, seed=8)
    assert a.verified == b.verified and a.verified != c.verified and len(a.verified) == 4
    assert b.requests["GET manifest"] == 4
    assert all(d.expected and d.field == "attestations" for d in a.disagreements)


# ---------------------------------------------------------------------------------------------
# The API's own rules: 429, rate-limit headers, cursors, sizes, errors


def listing(standin: HubStandIn, repo: str, tmp_path, **kw):
    with client(tmp_path, **kw.pop("client_kw", {})) as reg:
        return reg.run(lambda aio: hub.hub_tags(aio, repo, base_url=standin.url, **kw))


def test_rate_limit_headers_are_read_from_every_page(tmp_path):
    tags = tags_from_built(many(30))
    with HubStandIn({"lab/x": tags}, rate_limit=50) as standin:
        got = listing(standin, "lab/x", tmp_path, page_size=10)
    assert got.pages == 3 and len(got.tags) == 30
    assert got.rate_limit is not None
    assert (got.rate_limit.limit, got.rate_limit.remaining) == (50, 47)
    assert got.rate_limit.reset == pytest.approx(standin.reset_at, abs=1)


@pytest.mark.parametrize("headers", [{"Retry-After": "0"}, {"X-Retry-After": "1000"}])
def test_a_429_is_waited_out_as_the_api_asks(tmp_path, headers):
    with HubStandIn({"lab/x": tags_from_built(many(3))}) as standin:
        standin.fail(429, times=2, headers=headers)
        got = listing(standin, "lab/x", tmp_path)
    assert len(got.tags) == 3 and standin.pages_seen() == 3
    assert got.waited == 0.0  # 0 s, and a Unix time long past


def test_a_429_asking_for_longer_than_archlab_waits_is_one_clear_error(tmp_path):
    with HubStandIn({"lab/x": tags_from_built(many(3))}) as standin:
        standin.fail(429, times=1, headers={"Retry-After": "3600"})
        with pytest.raises(RateLimitError) as err:
            listing(standin, "lab/x", tmp_path)
    assert standin.pages_seen() == 1  # not retried: an hour is beyond max_retry_after
    assert str(err.value) == ("lab/x: Docker Hub's API rate limit hit (HTTP 429) after 1 "
                              "attempts; it asks to wait 3600 s; try again later, or list "
                              "fewer repositories at once")
    assert err.value.retry_after == 3600


def test_a_spent_budget_waits_for_its_reset_before_the_next_page(tmp_path):
    slept: list[float] = []

    with HubStandIn({"lab/x": tags_from_built(many(20))}, rate_limit=1) as standin:
        reset = int(standin.reset_at)  # the header holds whole seconds

        async def sleep(seconds: float) -> None:
            slept.append(seconds)
            standin.reset_at = 0  # the minute is over: the stand-in refills its budget

        got = listing(standin, "lab/x", tmp_path, page_size=10, sleep=sleep,
                      clock=lambda: reset - 12.5)
    assert slept == [12.5] and got.waited == 12.5  # waited for X-RateLimit-Reset ...
    assert standin.pages_seen() == 2 and len(got.tags) == 20  # ... so no 429 came


def test_next_is_a_cursor_on_the_same_base_and_repository(tmp_path):
    with HubStandIn({"lab/x": tags_from_built(many(25))}) as standin:
        # A next link naming another host: only its path and query are used.
        standin.next_override = lambda page, size: (
            f"https://elsewhere.invalid/v2/namespaces/lab/repositories/x/tags?page={page + 1}"
            f"&page_size={size}" if page * size < 25 else None)
        got = listing(standin, "lab/x", tmp_path, page_size=10)
    assert len(got.tags) == 25 and standin.pages_seen() == 3
    with HubStandIn({"lab/x": tags_from_built(many(25))}) as standin:
        standin.next_override = lambda page, size: "/v2/namespaces/lab/repositories/y/tags?page=2"
        got = listing(standin, "lab/x", tmp_path, page_size=10)
    assert len(got.tags) == 10 and standin.pages_seen() == 1
    assert "leaves the tag listing of this repository" in got.notes[0]
    with HubStandIn({"lab/x": tags_from_built(many(25))}) as standin:
        standin.next_override = lambda page, size: f"{standin.url}/v2/namespaces/lab/" \
                                                   "repositories/x/tags?page=1&page_size=10"
        got = listing(standin, "lab/x", tmp_path, page_size=10)
    assert standin.pages_seen() == 2 and len(got.tags) == 10  # the cursor came back: done


def test_a_tag_listed_twice_is_kept_once_and_the_count_gap_is_noted(tmp_path):
    tags = tags_from_built(many(12))
    with HubStandIn({"lab/x": [*tags[:10], tags[0], tags[10]]}) as standin:
        got = listing(standin, "lab/x", tmp_path, page_size=10)
    assert [t.name for t in got.tags] == [t.name for t in tags[:11]]
    assert got.notes == ("the API counted 12 tags and listed 11: tags were pushed or deleted "
                         "while the pages were read",)


def test_plain_http_to_another_host_is_refused_before_any_connection(tmp_path):
    with client(tmp_path) as reg, pytest.raises(InsecureTransportError):
        reg.run(lambda aio: hub.hub_tags(aio, "lab/x", base_url="http://hub.example.invalid"))


def test_unknown_private_malformed_and_oversized_are_one_line_errors(tmp_path):
    with HubStandIn({"lab/x": tags_from_built(many(3))}) as standin:
        with pytest.raises(NotFoundError, match=r"^lab/nope: no such repository on Docker "
                                                r"Hub \(httperror 404: object not found\)$"):
            listing(standin, "lab/nope", tmp_path)
        standin.fail(401, body=b'{"detail": "authentication required"}')
        with pytest.raises(AuthError, match="private repository"):
            listing(standin, "lab/x", tmp_path)
        standin.fail(200, body=b'{"count": 1, "results": {"name": "x"}}')
        with pytest.raises(RegistryError, match=r"page 1\): 'results' must be a list"):
            listing(standin, "lab/x", tmp_path)
        standin.fail(200, body=b'{"results": [{"name": "a", "images": [{"size": "big"}]}]}')
        with pytest.raises(RegistryError, match=r"tag 'a' images\[0\]: 'size' must be a int"):
            listing(standin, "lab/x", tmp_path)
        with pytest.raises(TooLargeError):
            listing(standin, "lab/x", tmp_path, max_page_bytes=500)
        standin.fail(503, times=10)
        with pytest.raises(RegistryError, match="answered HTTP 503 after 2 attempts"):
            listing(standin, "lab/x", tmp_path, client_kw={"retries": 1, "backoff": 0.0})


def test_parse_page_reads_null_variant_and_older_answers_without_digest():
    body = json.dumps({"count": 1, "next": None, "previous": None, "results": [{
        "creator": 1, "id": 2, "image_id": None, "last_updated": "2021-01-04T19:55:18.440537Z",
        "last_updater": 1, "last_updater_username": "u", "name": "latest", "repository": 3,
        "full_size": 27442245, "v2": True, "tag_status": "active",
        "tag_last_pulled": "2021-01-04T20:58:19.709308Z",
        "tag_last_pushed": "2021-01-04T19:55:18.440537Z",
        "images": [{"architecture": "amd64", "features": "", "variant": None,
                    "digest": "sha256:" + "f" * 64, "os": "linux", "os_features": "",
                    "os_version": None, "size": 27442245, "status": "active",
                    "last_pulled": "2021-01-04T20:58:19.709308Z",
                    "last_pushed": "2021-01-04T19:55:18.440537Z"}]}]}).encode()
    page = hub.parse_page(body, what="page")
    (tag,) = page.tags
    assert (tag.digest, tag.media_type, tag.status) == (None, None, "active")
    assert tag.images[0].platform == "linux/amd64" and tag.images[0].variant is None
    assert page.count == 1 and page.next is None


def test_base_url_comes_from_the_argument_then_the_environment():
    assert hub.hub_base_url() == "https://hub.docker.com"
    assert hub.hub_base_url(environ={"ARCHLAB_HUB_API": "http://127.0.0.1:9/"}) == \
        "http://127.0.0.1:9"
    assert hub.hub_base_url("http://127.0.0.1:8/", environ={"ARCHLAB_HUB_API": "x"}) == \
        "http://127.0.0.1:8"
    with pytest.raises(Exception, match="ARCHLAB_HUB_API='ftp://x' is not a base URL"):
        hub.hub_base_url(environ={"ARCHLAB_HUB_API": "ftp://x"})
    assert hub.hub_repository("mysql") == "library/mysql"
    with pytest.raises(Exception, match="namespace/name"):
        hub.hub_repository("ghcr.io/a/b/c")


# ---------------------------------------------------------------------------------------------
# archlab tags


def test_cli_table_platform_filter_json_and_csv(odd_repo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    repo, standin = odd_repo
    assert main(["tags", repo, "--hub-api", standin.url]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["TAG", "KIND", "PUSHED", "SOURCE", "PLATFORMS"]
    assert [line.split()[0] for line in lines[1:]] == ["gone", "old", "empty", "lagging",
                                                       "attested", "list"]
    assert "linux/amd64, linux/arm64/v8, linux/arm/v7" in lines[-1]
    assert "- (Docker Hub's API lists no images for this tag)" in lines[3]
    assert err.splitlines()[0] == f"6 tags of {repo} from Docker Hub's tag listing (1 GET hub-tags)"

    assert main(["tags", repo, "--hub-api", standin.url, "--platform", "linux/arm64",
                 "--json"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert sorted({r["tag"] for r in rows}) == ["attested", "gone", "list"]
    assert set(rows[0]) == set(TAG_COLUMNS)
    assert "; 3 offer linux/arm64" in err

    assert main(["tags", repo, "--hub-api", standin.url, "--csv"]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[0] == ",".join(TAG_COLUMNS)


def test_cli_verify_sample_exits_1_on_a_difference(odd_repo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    repo, standin = odd_repo
    assert main(["tags", repo, "--hub-api", standin.url, "--verify-sample", "6"]) == 1
    _, err = capsys.readouterr()
    assert "verified 6 tags against the registry: 4 disagreements (and 1 expected)" in err
    assert "  gone: missing DIFFERS: listed sha256:" in err
    assert "  attested: attestations expected: listed 0; registry 2" in err


def test_cli_bad_usage_and_refusals_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["tags", "lab/x", "--verify-sample", "-1"]) == 2
    assert capsys.readouterr().err == "archlab: --verify-sample must be 0 or more\n"
    assert main(["tags", "ghcr.io/a/b", "--source", "hub"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("archlab: ghcr.io/a/b: Docker Hub's API lists docker.io "
                          "repositories only") and err.count("\n") == 1


def test_an_unreachable_api_is_one_line_naming_it(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with client(tmp_path, retries=0) as reg, pytest.raises(Exception) as err:
        reg.run(lambda aio: hub.hub_tags(aio, "lab/x", base_url=f"http://127.0.0.1:{port}"))
    assert type(err.value).__name__ == "RegistryUnreachableError"
    assert str(err.value).startswith(f"cannot reach 127.0.0.1:{port} (")
    assert str(err.value).endswith("check the address and the network")


# ---------------------------------------------------------------------------------------------
# Snapshots: the listing recorded like manifests, replayed offline


def test_a_recorded_listing_replays_offline_page_by_page(big_repo, tmp_path, capsys,
                                                         monkeypatch):
    from archlab.snapshot import load_snapshot, record, replay_client

    repo, standin, tagged = big_repo
    summary = record([f"{repo}:v0", f"{repo}:v1"], tmp_path / "snap", hub_tags=True,
                     hub_api=standin.url, recorded_at="2024-03-01T00:00:00Z")
    assert summary.failed == () and standin.pages_seen() == 3  # one listing, not one per ref
    snap = load_snapshot(tmp_path / "snap")
    pages = snap.to_frame().query("kind == 'hub-tags'")
    assert sorted(pages["reference"]) == ["page=2&page_size=100", "page=3&page_size=100",
                                          "page_size=100"]
    assert set(pages["host"]) == {standin.url.removeprefix("http://")}
    with client(tmp_path) as reg:
        live = tag_platforms(repo, client=reg, hub_api=standin.url)
    seen = standin.pages_seen()
    # Offline: another port, as a lab registry and a stand-in get on every start.
    with replay_client(tmp_path / "snap") as reg:
        again = tag_platforms(repo, client=reg, hub_api="http://127.0.0.1:9")
    assert standin.pages_seen() == seen  # nothing reached the stand-in
    assert again.requests == {"GET hub-tags": 3}
    assert again.frame.equals(live.frame)

    monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["tags", repo, "--hub-api", "http://127.0.0.1:9", "--snapshot",
                 str(tmp_path / "snap"), "--platform", "linux/arm/v7", "--csv"]) == 0
    out, _ = capsys.readouterr()
    assert {line.split(",")[1] for line in out.splitlines()[1:]} == {
        n for n, b in tagged if b is LIST3}


def test_a_listing_page_not_recorded_is_the_apis_404_naming_the_snapshot(big_repo, tmp_path):
    from archlab.snapshot import record, replay_client

    repo, _, _ = big_repo
    record([f"{repo}:v0"], tmp_path / "snap", recorded_at="2024-03-01T00:00:00Z")
    with replay_client(tmp_path / "snap") as reg, pytest.raises(NotFoundError) as err:
        reg.run(lambda aio: hub.hub_tags(aio, repo, base_url="http://127.0.0.1:9"))
    assert str(err.value).startswith(
        f"{repo.split('/', 1)[1]}: no such repository on Docker Hub (the tag listing "
        f"?page_size=100 of {repo.split('/', 1)[1]} is not in snapshot ")
