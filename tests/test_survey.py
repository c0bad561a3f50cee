"""``archlab.survey`` and ``archlab.budget``: coverage rules, request counts read from the real
registry's access log, errors as rows, resume, rate-limit budgets, nearest tag, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from archlab import budget, survey
from archlab.cache import ContentCache, TagIndex
from archlab.cli import main
from archlab.errors import InvalidReferenceError, PlatformError, RateLimitError
from archlab.inspect import FRAME_COLUMNS
from archlab.lab.images import build_index
from archlab.lab.publish import push_image, push_index
from archlab.lab.server import find_free_port
from archlab.platforms import Platform
from archlab.reference import parse_reference
from archlab.registry import RateLimit
from tests.corpus import AMD64, ARM64, ARMV7, make_image
from tests.corpus import client as make_client
from tests.faultproxy import FaultProxy

PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7")


def client(tmp_path: Path, name: str = "cache", **kw):
    """A client whose cache lives under tmp_path/name; no retries, so dead hosts fail fast."""
    kw.setdefault("cache", ContentCache(tmp_path / name / "blobs"))
    kw.setdefault("tag_index", TagIndex(tmp_path / name / "blobs"))
    kw.setdefault("retries", 0)
    return make_client(tmp_path, **kw)


def counts(requests) -> dict[tuple[str, str], int]:
    """Access-log lines as {(method, 'manifests'|'blobs'|'tags'): n}."""
    out: dict[tuple[str, str], int] = {}
    for r in requests:
        kind = r.path.split("/")[-2] if "/manifests/" in r.path or "/blobs/" in r.path else "tags"
        out[(r.method, kind)] = out.get((r.method, kind), 0) + 1
    return out


# ---------------------------------------------------------------------------------------------
# Pure rules: outcome of a list/single for a wanted platform under each rule


def rows_list(*entries: Platform | None, attestation: Platform | None = None) -> list[dict]:
    rows = [{"input": "x", "kind": "list", "entry_digest": f"sha256:{i}", "is_attestation": False,
             **survey._platform_fields(p)} for i, p in enumerate(entries)]
    if attestation is not None:
        rows.append({"input": "x", "kind": "index", "entry_digest": "sha256:a",
                     "is_attestation": True, **survey._platform_fields(attestation)})
    return rows


def rows_single(p: Platform) -> list[dict]:
    return [{"input": "x", "kind": "single", "entry_digest": "sha256:s", "is_attestation": False,
             **survey._platform_fields(p)}]


P = Platform


def with_kinds(rows: list[dict], *kinds: str) -> list[dict]:
    """The rows, row i with ``entry_kind`` kinds[i]."""
    return [{**r, "entry_kind": k} for r, k in zip(rows, kinds, strict=True)]


# Expected answers come from pull-semantics §1.6 (20.10: exact + arm variant-less fallback) and
# §2 (23+: the platform vector: amd64 takes 386, arm64 takes arm/v8..v5, arm/v7 takes v6, v5).
OUTCOME_CASES = [
    # rows, wanted, exact, docker-20.10, docker-23
    (rows_list(P("linux", "arm64", "v8")), "linux/arm64", "native", "native", "native"),
    (rows_list(P("linux", "aarch64")), "linux/arm64/v8", "native", "native", "native"),
    (rows_list(P("linux", "amd64")), "linux/x86_64", "native", "native", "native"),
    (rows_list(P("linux", "amd64")), "linux/arm64", "missing", "missing", "missing"),
    (rows_list(P("linux", "amd64"), P("linux", "arm", "v7")), "linux/arm64",
     "missing", "missing", "compatible"),
    (rows_list(P("linux", "386")), "linux/amd64", "missing", "missing", "compatible"),
    (rows_list(P("linux", "arm", "v6")), "linux/arm/v7", "missing", "compatible", "compatible"),
    (rows_list(P("linux", "arm", "v6")), "linux/arm/v5", "missing", "compatible", "missing"),
    (rows_list(P("linux", "amd64"), attestation=P("unknown", "unknown")), "linux/arm64",
     "missing", "missing", "missing"),
    (rows_list(P("linux", "amd64"), attestation=P("unknown", "unknown")), "unknown/unknown",
     "missing", "missing", "missing"),
    (rows_single(P("linux", "amd64")), "linux/amd64", "native", "native", "native"),
    (rows_single(P("linux", "amd64")), "linux/arm64", "mismatch", "mismatch", "mismatch"),
    (rows_single(P("linux", "arm", "v6")), "linux/arm/v7", "mismatch", "compatible",
     "compatible"),
    (rows_single(P("linux", "386")), "linux/amd64", "mismatch", "mismatch", "compatible"),
    ([{"input": "x", "error": "boom"}], "linux/amd64", "error", "error", "error"),
    # an artifact under the tag: nothing to match, nothing to mismatch
    ([{**rows_single(P("", ""))[0], "entry_kind": "helm chart"}], "linux/amd64",
     "not an image", "not an image", "not an image"),
    # a list entry that is an artifact counts for nothing, even with a platform (wasi/wasm)
    (with_kinds(rows_list(None, P("linux", "amd64")), "helm chart", "image"), "linux/arm64",
     "missing", "missing", "missing"),
    (with_kinds(rows_list(P("wasi", "wasm")), "wasm"), "wasi/wasm", "missing", "missing",
     "missing"),
]


@pytest.mark.parametrize(("rows", "wanted", "exact", "d2010", "d23"), OUTCOME_CASES)
def test_outcome_per_rule(rows, wanted, exact, d2010, d23):
    for rule, expected in (("exact", exact), ("docker-20.10", d2010), ("docker-23", d23)):
        target = survey._parse_platforms([wanted], rule)[0]
        assert survey._outcome(rows, target, rule) == expected, rule


def test_coverage_is_na_for_errors_and_boolean_otherwise():
    frame = survey._frame([
        survey.RefResult("a", tuple({**r, "input": "a"} for r in rows_list(
            P("linux", "amd64"), P("linux", "arm", "v7")))),
        survey._error_result("b", None, "no such thing", "NotFoundError"),
    ])
    cov = survey.coverage(frame, ["linux/amd64", "linux/arm64"], "docker-23")
    assert cov.dtypes.tolist() == ["boolean", "boolean"]
    assert cov.loc["a"].tolist() == [True, True]  # arm/v7 is compatible with arm64 on 23+
    assert cov.loc["b"].isna().all()
    assert survey.coverage(frame, ["linux/arm64"], "exact").loc["a", "linux/arm64"] == False  # noqa: E712


def test_bad_rule_and_platform_fail_before_any_request():
    with pytest.raises(PlatformError, match="unknown coverage rule 'docker-19'"):
        survey._parse_platforms(["linux/amd64"], "docker-19")
    with pytest.raises(PlatformError):
        survey._parse_platforms(["linux/arm64/v8/extra"], "exact")


def test_frame_keeps_inspects_columns():
    assert set(FRAME_COLUMNS) <= set(survey.SURVEY_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Input


def test_read_refs_file_with_a_bom_keeps_the_first_reference(tmp_path):
    # Windows editors start the file with a byte-order mark; it became part of "mysql:5.7".
    f = tmp_path / "refs.txt"
    f.write_bytes(b"\xef\xbb\xbfmysql:5.7\r\nbusybox\r\n")
    assert survey.read_refs(f) == ["mysql:5.7", "busybox"]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_read_refs_refuses_a_file_that_is_not_regular(tmp_path, kind):
    f = tmp_path / "refs.txt"
    if kind == "fifo":
        os.mkfifo(f)
    else:
        f.symlink_to("/dev/zero")
    with pytest.raises(InvalidReferenceError, match=r"refs\.txt: cannot read the reference list: "
                       "it is a"):
        survey.read_refs(f)


def test_read_refs_file_with_comments_blanks_and_duplicates(tmp_path):
    f = tmp_path / "refs.txt"
    f.write_text("# the 2022 blog\nmysql:5.7   # amd64-only list\n\n  busybox\nmysql:5.7\n"
                 "ghcr.io/o/i@sha256:" + "a" * 64 + "\n")
    assert survey.read_refs(f) == ["mysql:5.7", "busybox", "ghcr.io/o/i@sha256:" + "a" * 64]
    assert survey.read_refs(str(f)) == survey.read_refs(f)
    assert survey.read_refs(["a", "b", "a"]) == ["a", "b"]
    assert survey.read_refs("mysql:8.0") == ["mysql:8.0"]  # no such file: one reference


# ---------------------------------------------------------------------------------------------
# Tag ranking


@pytest.mark.parametrize(("anchor", "tags", "expected"), [
    ("5.7", ["8.0", "latest", "5.7-debian", "5.7.44", "5.7", "5.6", "8.0.36", "5.7.43"],
     ["5.7", "5.7.44", "5.7.43", "5.7-debian", "5.6", "8.0", "8.0.36", "latest"]),
    ("5.7", ["9.0", "8.4", "8.0", "4.1"], ["8.0", "8.4", "9.0", "4.1"]),
    ("5.7", ["8.0-oracle", "8.0"], ["8.0", "8.0-oracle"]),
    ("3.12-alpine", ["3.12", "3.12-alpine", "3.12.1-alpine", "3.11-alpine", "3.13-alpine"],
     ["3.12-alpine", "3.12.1-alpine", "3.12", "3.13-alpine", "3.11-alpine"]),
    ("v1.2", ["1.2.3", "v1.3.0", "v1.2.1"], ["1.2.3", "v1.2.1", "v1.3.0"]),  # "v" ignored
    ("alpine", ["3.18-alpine", "latest", "3.19-alpine", "3.19", "edge"],
     ["3.19-alpine", "3.18-alpine", "latest", "3.19", "edge"]),
])
def test_rank_tags(anchor, tags, expected):
    assert survey.rank_tags(anchor, tags) == expected


def test_rank_tags_with_endless_digits_from_a_registry():
    # int() raised ValueError on a 5000-digit tag (a registry's tags/list is not checked).
    huge = "1" * 5000
    assert survey.rank_tags("5.7", [huge, "5.7.1", "latest"])[0] == "5.7.1"
    assert survey.rank_tags(huge, ["5.7", huge])[0] == huge


# ---------------------------------------------------------------------------------------------
# Budget: pure parts


class _FakeClient:
    """Records which references were HEADed; answers with canned rate-limit headers."""

    def __init__(self, limits):
        self.rate_limits = {}
        self._limits = limits
        self.resolved = []

    async def resolve(self, ref):
        self.resolved.append(str(ref))
        self.rate_limits[ref.api_host] = self._limits.get(ref.api_host)


def test_hub_limit_is_read_from_the_documented_probe_repository():
    fake = _FakeClient({"registry-1.docker.io": RateLimit(100, 76, 21600, "203.0.113.7")})
    got = asyncio.run(budget.read_rate_limits(fake, ["mysql:5.7", "busybox", "ghcr.io/o/i:1"],
                                              hosts=["registry-1.docker.io"]))
    assert fake.resolved == ["docker.io/ratelimitpreview/test:latest"]
    assert got == {"registry-1.docker.io": RateLimit(100, 76, 21600, "203.0.113.7")}


def test_other_registries_are_probed_with_their_first_ref():
    fake = _FakeClient({})
    got = asyncio.run(budget.read_rate_limits(fake, ["bad::ref", "ghcr.io/o/i:1", "ghcr.io/o/j"]))
    assert fake.resolved == ["ghcr.io/o/i:1"]
    assert got == {"ghcr.io": None}


def _est(**per_host: int) -> budget.Estimate:
    return budget.Estimate(tuple(
        budget.RefCost(f"{h}/r:{i}", h, 0, 1, 0, 0, False)
        for h, n in per_host.items() for i in range(n)))


@pytest.mark.parametrize(("need", "remaining", "budget_", "caps", "total"), [
    (5, None, None, {}, None),  # no headers: no limit announced
    (5, 5, None, {}, None),  # fits exactly
    (5, 5, 3, {}, 3),  # the caller's cap alone
    (5, 2, 2, {"h.io": 2}, 2),  # capped at what remains
    (5, 2, 10, {"h.io": 2}, 10),  # a budget above what remains is capped per host
    (5, 0, 1, {"h.io": 0}, 1),
])
def test_plan_caps(need, remaining, budget_, caps, total):
    limits = {"h.io": RateLimit(100, remaining, 21600, None) if remaining is not None else None}
    got = budget.plan(_est(**{"h.io": need}), limits, budget_)
    assert dict(got.per_host) == caps
    assert got.total == total


def test_plan_refuses_with_the_numbers_and_the_fixes():
    limits = {"h.io": RateLimit(100, 2, 21600, "203.0.113.7")}
    with pytest.raises(RateLimitError) as err:
        budget.plan(_est(**{"h.io": 5, "other.io": 9}), limits)
    text = str(err.value)
    assert "needs 5 counted manifest GETs on h.io" in text
    assert "2 of 100 per 6 h remain for 203.0.113.7" in text
    assert "--budget 2" in text and "docker login" in text and "wait" in text


# ---------------------------------------------------------------------------------------------
# Against the real registry


def texts(refs) -> list[str]:
    return [str(r) for r in refs.values()]


def test_corpus_coverage_frame_and_outcomes(corpus, tmp_path):
    refs, built = corpus
    with client(tmp_path) as reg:
        got = survey.survey(texts(refs), PLATFORMS, client=reg, progress=False)
    cov = got.coverage
    assert list(cov.columns) == list(PLATFORMS)
    expected = {  # key: (amd64, arm64, arm/v7)
        "list": [True, True, True],
        "amd64only": [True, False, False],
        "index": [True, True, False],  # its two attestations are not platforms
        "schema2": [True, False, False],  # single-arch: the config says amd64
        "oci": [False, True, False],  # single-arch: the config says arm64/v8
    }
    for key, row in expected.items():
        assert cov.loc[str(refs[key])].tolist() == row, key
    assert got.outcomes.loc[str(refs["schema2"]), "linux/arm64"] == "mismatch"
    assert got.outcomes.loc[str(refs["amd64only"]), "linux/arm64"] == "missing"
    f = got.frame
    idx = f[f["input"] == str(refs["index"])]
    assert idx["is_attestation"].tolist() == [False, False, True, True]
    assert idx["attests"].dropna().tolist() == [i.manifest.digest for i in built["index"].images]
    assert set(idx["digest"]) == {built["index"].manifest.digest}
    lst = f[f["input"] == str(refs["list"])]
    assert lst["platform"].tolist() == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    assert lst["platform_norm"].tolist() == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    single = f[f["input"] == str(refs["oci"])].iloc[0]
    assert (single["kind"], single["config_platform"], single["variant"], single["variant_norm"]) \
        == ("single", "linux/arm64/v8", "v8", pd.NA)
    assert single["digest"] == built["oci"].manifest.digest
    assert f["error"].isna().all()


def test_missing_unreachable_unauthorized_and_malformed_become_rows(
        corpus, htpasswd_registry, tmp_path):
    refs, _ = corpus
    dead = f"127.0.0.1:{find_free_port()}"
    bad = [
        str(refs["list"]).replace(":list", ":no-such-tag"),
        f"{dead}/lab/a:1", f"{dead}/lab/b:2",
        f"{htpasswd_registry.host}/lab/private:1",
        "Not//A:Reference",
    ]
    path = tmp_path / "r.jsonl"
    with client(tmp_path) as reg:
        got = survey.survey(texts(refs) + bad, PLATFORMS, client=reg, progress=False,
                            results_path=path)
    assert got.stats.refs == 10 and got.stats.errors == 5
    # answers are kept; what a rerun may see differently (network, login) is retried by it
    kept = {json.loads(line)["input"] for line in path.read_text().splitlines()}
    assert kept == {*texts(refs), bad[0], bad[4]}
    per_input = got.frame.drop_duplicates("input").set_index("input")["error_type"]
    assert per_input[bad].tolist() == [
        "NotFoundError", "RegistryUnreachableError", "RegistryUnreachableError", "AuthError",
        "InvalidReferenceError"]
    assert got.coverage.loc[bad].isna().all().all()
    # the good references are untouched by their neighbours' failures
    assert got.coverage.loc[str(refs["list"])].tolist() == [True, True, True]
    assert got.frame.set_index("input").loc[texts(refs), "error"].isna().all()
    assert "requires a username and password" in got.frame.set_index("input").loc[bad[3], "error"]


def test_cold_is_one_get_per_tag_and_warm_one_head_per_tag(corpus, registry, tmp_path,
                                                            registry_requests):
    refs, _ = corpus
    with client(tmp_path) as reg:
        with registry_requests(registry.server) as cold:
            first = survey.survey(texts(refs), client=reg, progress=False,
                                  check_rate_limit=False)
        with registry_requests(registry.server) as warm:
            second = survey.survey(texts(refs), client=reg, progress=False)
    # 5 manifests by tag, plus the configs of the two single-arch images (schema2, oci)
    assert counts(cold) == {("GET", "manifests"): 5, ("GET", "blobs"): 2}
    assert sorted(r.path.rsplit("/", 1)[1] for r in cold if "/manifests/" in r.path) == sorted(
        refs)
    assert first.stats.requests == {"GET manifest": 5, "GET config": 2}
    # warm: the estimate needs no GET, so no rate-limit probe either: one HEAD per tag
    assert counts(warm) == {("HEAD", "manifests"): 5}
    assert second.stats.requests == {"HEAD manifest": 5}
    pd.testing.assert_frame_equal(first.frame, second.frame)


def test_a_survey_leaves_its_tag_hints_on_disk_before_the_client_closes(corpus, tmp_path):
    refs, built = corpus
    with client(tmp_path) as reg:
        survey.survey(texts(refs), client=reg, progress=False, check_rate_limit=False)
        # Another process, reading the same cache while this client is still open:
        other = TagIndex(tmp_path / "cache" / "blobs")
        assert {key: other.recall(r.registry, r.repository, r.tag)[0]
                for key, r in refs.items()} == {key: b.manifest.digest
                                                for key, b in built.items()}


def test_cold_with_rate_limit_probe_adds_one_head(corpus, registry, tmp_path, registry_requests):
    refs, _ = corpus
    with client(tmp_path) as reg, registry_requests(registry.server) as seen:
        survey.survey(texts(refs), client=reg, progress=False)
    assert counts(seen) == {("HEAD", "manifests"): 1, ("GET", "manifests"): 5,
                            ("GET", "blobs"): 2}
    assert seen[0].method == "HEAD" and seen[0].path.endswith("/manifests/list")


def test_many_tags_of_one_digest_fetch_its_config_once(registry, repo_name, tmp_path,
                                                       registry_requests):
    image = make_image(AMD64)
    tags = [f"v{i}" for i in range(12)]

    async def push(aio):
        for t in tags:
            await push_image(aio, parse_reference(f"{registry.host}/{repo_name}:{t}"), image)

    with client(tmp_path, "push", cache=False, tag_index=False) as reg:
        reg.run(push)
    refs = [f"{registry.host}/{repo_name}:{t}" for t in tags]
    with client(tmp_path) as reg:
        with registry_requests(registry.server) as seen:
            got = survey.survey(refs, client=reg, progress=False, check_rate_limit=False)
        assert counts(seen) == {("GET", "manifests"): 12, ("GET", "blobs"): 1}
        assert got.coverage["linux/amd64"].all()
        # every tag known, the one manifest they share gone from the cache: fetched once
        _drop(reg.aio.cache, image.manifest.digest)
        est = budget.estimate(refs, cache=reg.aio.cache, tag_index=reg.aio.tag_index)
        assert (est.heads, est.counted, est.config_gets) == (12, 1, 0)
        with registry_requests(registry.server) as seen:
            again = survey.survey(refs, client=reg, progress=False, check_rate_limit=False)
    assert counts(seen) == {("HEAD", "manifests"): 12, ("GET", "manifests"): 1}
    pd.testing.assert_frame_equal(got.frame, again.frame)


def test_resume_after_interruption_fetches_nothing_twice(corpus, registry, tmp_path,
                                                         registry_requests):
    refs, _ = corpus
    path = tmp_path / "survey.jsonl"
    seen_results: list[str] = []

    async def interrupted(aio):
        task: asyncio.Task | None = None

        def on_result(result):
            seen_results.append(result.input)
            if len(seen_results) == 2:
                task.cancel()

        task = asyncio.ensure_future(survey.survey_async(
            texts(refs), PLATFORMS, client=aio, results_path=path, max_per_host=1,
            progress=False, check_rate_limit=False, on_result=on_result))
        with pytest.raises(asyncio.CancelledError):
            await task

    with client(tmp_path) as reg, registry_requests(registry.server) as seen:
        reg.run(interrupted)
        lines = path.read_text().splitlines()
        assert [json.loads(x)["input"] for x in lines] == seen_results == texts(refs)[:2]
        resumed = survey.survey(texts(refs), PLATFORMS, client=reg, results_path=path,
                                progress=False, check_rate_limit=False)
    assert (resumed.stats.resumed, resumed.stats.surveyed) == (2, 3)
    manifest_gets = [r.path for r in seen if r.method == "GET" and "/manifests/" in r.path]
    assert sorted(manifest_gets) == sorted(f"/v2/{r.repository}/manifests/{r.tag}"
                                           for r in refs.values())
    assert not [r for r in seen if r.method == "HEAD"]
    assert len(path.read_text().splitlines()) == 5
    with client(tmp_path, "fresh") as reg:
        straight = survey.survey(texts(refs), PLATFORMS, client=reg, progress=False)
    pd.testing.assert_frame_equal(resumed.frame, straight.frame)
    pd.testing.assert_frame_equal(resumed.coverage, straight.coverage)


def test_results_file_survives_a_cut_off_last_line(corpus, tmp_path):
    refs, _ = corpus
    path = tmp_path / "r.jsonl"
    with client(tmp_path) as reg:
        survey.survey(texts(refs)[:2], client=reg, results_path=path, progress=False)
        path.write_text(path.read_text() + '{"archlab_survey": 1, "input": "cut')
        got = survey.survey(texts(refs), client=reg, results_path=path, progress=False)
    assert (got.stats.resumed, got.stats.surveyed) == (2, 3)
    kept = [json.loads(x)["input"] for x in path.read_text().splitlines() if x.endswith("}")]
    # each reference once, in the order they finished; the cut-off line was never one
    assert sorted(kept[:2]) == sorted(texts(refs)[:2])
    assert sorted(kept) == sorted(texts(refs))


@pytest.mark.parametrize("tampered", [
    '{"archlab_survey": 1, "input": "X", "rows": ' + "[" * 100_000,  # RecursionError before
    '{"archlab_survey": 1, "input": "X", "rows": [{"input": "X", "size": "big"}]}',
    '{"archlab_survey": 1, "input": "X", "rows": [{"input": "X", "is_attestation": "no"}]}',
    '{"archlab_survey": 1, "input": "X", "rows": [{"input": "X", "os": ["linux"]}]}',
    '{"archlab_survey": 1, "input": "X", "rows": [{"input": "X", "size": 1e400}]}',
    '{"archlab_survey": 1, "input": "X", "rows": ["row"]}',
    '\udcff',
])
def test_a_tampered_results_line_is_surveyed_again(corpus, tmp_path, tampered):
    # Each of these raised from json.loads or from astype() after the whole run (issue 10).
    refs, _ = corpus
    ref = texts(refs)[0]
    path = tmp_path / "r.jsonl"
    path.write_bytes(tampered.replace("X", ref).encode("utf-8", "surrogateescape") + b"\n")
    with client(tmp_path) as reg:
        got = survey.survey([ref], client=reg, results_path=path, progress=False)
    assert (got.stats.resumed, got.stats.surveyed) == (0, 1)
    assert got.frame["error"].isna().all()


def test_a_deep_manifest_is_one_error_row_and_the_survey_goes_on(corpus, registry, tmp_path):
    # json.loads raised RecursionError on this body (an ExceptionGroup out of the survey, no
    # table at all, in issue 10); now it is that reference's ManifestError row.
    refs, _ = corpus
    bad = refs["schema2"]
    with FaultProxy(registry.url) as proxy:
        proxy.add(path_contains=f"/manifests/{bad.tag}", status=200, body=b"[" * 100_000,
                  headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
        via = [f"{proxy.host}/{r.repository}:{r.tag}" for r in refs.values()]
        with client(tmp_path) as reg:
            got = survey.survey(via, client=reg, progress=False, check_rate_limit=False)
    errors = got.frame.set_index("input")["error"].dropna()
    bad_input = f"{proxy.host}/{bad.repository}:{bad.tag}"
    assert list(errors.index) == [bad_input]
    assert "nests arrays and objects 100000 deep" in errors[bad_input]
    assert got.frame.set_index("input").loc[bad_input, "error_type"] == "ManifestError"
    assert got.stats.errors == 1


def _drop(cache: ContentCache, digest: str) -> None:
    hexpart = digest.split(":", 1)[1]
    blob = cache.root / "sha256" / hexpart[:2] / hexpart
    blob.unlink()
    blob.with_name(blob.name + ".meta.json").unlink()


def test_estimate_is_exact_for_a_known_cache_state(corpus, registry, tmp_path,
                                                   registry_requests):
    refs, built = corpus
    with client(tmp_path) as reg:
        survey.survey([str(refs[k]) for k in ("list", "schema2", "amd64only")], client=reg,
                      progress=False)
        _drop(reg.aio.cache, built["schema2"].config.digest)  # manifest cached, config not
        _drop(reg.aio.cache, built["amd64only"].manifest.digest)  # tag known, manifest gone
        pinned = str(refs["list"].with_digest(built["list"].manifest.digest))
        todo = [*texts(refs), pinned, "bad::ref"]
        est = budget.estimate(todo, cache=reg.aio.cache, tag_index=reg.aio.tag_index)
        by_input = {c.input: (c.heads, c.manifest_gets, c.config_gets, c.maybe_config_gets)
                    for c in est.refs}
        assert by_input == {
            str(refs["list"]): (1, 0, 0, 0),
            str(refs["schema2"]): (1, 0, 1, 0),
            str(refs["amd64only"]): (1, 1, 0, 0),  # the hint says list: no config to come
            str(refs["index"]): (0, 1, 0, 1),
            str(refs["oci"]): (0, 1, 0, 1),
            pinned: (0, 0, 0, 0),
            "bad::ref": (0, 0, 0, 0),
        }
        with registry_requests(registry.server) as seen:
            got = survey.survey(todo, client=reg, progress=False, check_rate_limit=False)
    log = counts(seen)
    assert log[("HEAD", "manifests")] == est.heads == 3
    assert log[("GET", "manifests")] == est.counted == 3
    # the oci image turned out single-arch: one of the two possible config GETs happened
    assert est.config_gets <= log[("GET", "blobs")] <= est.config_gets + est.maybe_config_gets
    assert log[("GET", "blobs")] == 2
    assert got.stats.estimate == est
    assert "3 HEAD (free), 3 counted manifest GETs, 1-3 config GETs" in est.describe()


HUB_HEADERS = {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "2;w=21600",
               "docker-ratelimit-source": "203.0.113.7"}


def test_budget_refusal_cap_and_resume_behind_a_rate_limited_proxy(corpus, registry, tmp_path,
                                                                   registry_requests):
    refs, _ = corpus
    path = tmp_path / "survey.jsonl"
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="HEAD", path_contains="/manifests/", headers=HUB_HEADERS)
        via = [f"{proxy.host}/{r.repository}:{r.tag}" for r in refs.values()]
        with client(tmp_path) as reg:
            with registry_requests(registry.server) as refused, \
                    pytest.raises(RateLimitError) as err:
                survey.survey(via, client=reg, progress=False)
            assert "needs 5 counted manifest GETs" in str(err.value)
            assert "2 of 100 per 6 h remain" in str(err.value)
            assert counts(refused) == {("HEAD", "manifests"): 1}  # the probe, no GET at all

            with registry_requests(registry.server) as seen:
                capped = survey.survey(via, client=reg, progress=False, budget=2,
                                       results_path=path)
            assert counts(seen)[("GET", "manifests")] == 2
            assert capped.stats.not_surveyed == 3 and capped.stats.errors == 3
            spent = capped.frame[capped.frame["error_type"] == survey.BUDGET_SPENT]
            assert spent["error"].str.contains("--resume").all()
            assert len(path.read_text().splitlines()) == 2  # what was not surveyed is not kept

            proxy.rules.clear()  # a new window: no limit announced
            done = survey.survey(via, client=reg, progress=False, results_path=path)
    assert (done.stats.resumed, done.stats.surveyed, done.stats.errors) == (2, 3, 0)
    assert done.coverage["linux/arm64"].tolist() == [True, False, True, False, True]


def test_budget_zero_still_surveys_what_the_cache_answers(corpus, tmp_path):
    refs, _ = corpus
    with client(tmp_path) as reg:
        survey.survey(texts(refs)[:2], client=reg, progress=False)
        got = survey.survey(texts(refs), client=reg, progress=False, budget=0)
    assert got.frame.drop_duplicates("input")["error_type"].fillna("").tolist() == [
        "", "", survey.BUDGET_SPENT, survey.BUDGET_SPENT, survey.BUDGET_SPENT]
    assert got.stats.counted_gets == 0


# ---------------------------------------------------------------------------------------------
# Nearest tag


def test_nearest_tag_walks_ranked_tags_until_one_has_the_platform(registry, repo_name, tmp_path):
    amd64_only = build_index([make_image(AMD64)])
    multi = build_index([make_image(AMD64), make_image(ARM64), make_image(ARMV7)])
    tags = {"5.6": amd64_only, "5.7": amd64_only, "5.7.44": amd64_only,
            "5.7-debian": amd64_only, "8.0": multi, "8.0.36": multi, "latest": multi}

    async def push(aio):
        for tag, index in tags.items():
            await push_index(aio, parse_reference(f"{registry.host}/{repo_name}:{tag}"), index)

    with client(tmp_path, "push", cache=False, tag_index=False) as reg:
        reg.run(push)
    ref = f"{registry.host}/{repo_name}:5.7"
    with client(tmp_path) as reg:
        cold = survey.nearest_tag(ref, "linux/arm64", client=reg)
        warm = survey.nearest_tag(ref, "linux/arm64", client=reg)
        none = survey.nearest_tag(ref, "linux/s390x", client=reg, max_tries=3)
        assert sorted(survey.list_tags(ref, client=reg)) == sorted(tags)
    assert cold.tag == "8.0" and str(cold.found) == f"{registry.host}/{repo_name}:8.0"
    assert cold.tried == (("5.7", "missing"), ("5.7.44", "missing"), ("5.7-debian", "missing"),
                          ("5.6", "missing"), ("8.0", "native"))
    assert cold.candidates == 7
    assert dict(cold.requests) == {"GET tags": 1, "GET manifest": 5}
    assert dict(warm.requests) == {"GET tags": 1, "HEAD manifest": 5}
    assert none.tag is None and none.found is None and len(none.tried) == 3


# ---------------------------------------------------------------------------------------------
# Progress and command line


def test_progress_bar_only_on_a_terminal_unless_forced(capsys):
    assert survey._progress_bar(True, 3, 0) is None  # pytest's stderr is not a TTY
    assert survey._progress_bar(False, 3, 0) is None
    bar = survey._progress_bar("always", 3, 1)
    assert bar is not None and bar.n == 1
    bar.close()


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(tmp_path / "clicache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))


def test_cli_table_and_files(corpus, tmp_path, capsys, cache_env):
    refs, _ = corpus
    listing = tmp_path / "refs.txt"
    listing.write_text("# corpus\n" + "\n".join(texts(refs)[:3]) + "\n")
    out_csv, out_json, rows = tmp_path / "cov.csv", tmp_path / "cov.json", tmp_path / "rows.json"
    code = main(["survey", str(listing), str(refs["schema2"]), "--platform", "linux/amd64",
                 "--platform", "linux/arm64", "--out", str(out_csv), "--rows", str(rows),
                 "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["REF", "KIND", "linux/amd64", "linux/arm64"]
    assert [ln.split()[1:] for ln in lines[1:]] == [
        ["list", "✓", "✓"], ["list", "✓", "✗"], ["index", "✓", "✓"], ["single", "✓", "✗"]]
    assert "4 references (0 from the results file), 0 failed" in err
    cov = pd.read_csv(out_csv)
    assert cov.columns.tolist() == ["input", "kind", "linux/amd64", "linux/arm64", "error"]
    assert cov["linux/arm64"].tolist() == [True, False, True, False]
    data = json.loads(rows.read_text())
    assert {d["input"] for d in data} == {str(refs[k]) for k in
                                          ("list", "amd64only", "index", "schema2")}
    code = main(["survey", str(refs["oci"]), "--out", str(out_json), "--no-progress"])
    capsys.readouterr()
    assert code == 0
    assert json.loads(out_json.read_text()) == [{
        "input": str(refs["oci"]), "kind": "single", "linux/amd64": False, "linux/arm64": True,
        "error": None}]


def test_cli_errors_exit_1_and_are_listed(corpus, tmp_path, capsys, cache_env):
    refs, _ = corpus
    missing = str(refs["list"]).replace(":list", ":gone")
    code = main(["survey", str(refs["list"]), missing, "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[2].split() == [missing, "error", "?", "?"]
    assert f"  {missing}: " in err and "not found" in err


def test_cli_writes_parquet_that_pandas_reads_back(corpus, tmp_path, capsys, cache_env):
    import pandas as pd

    refs, _ = corpus
    out = tmp_path / "c.parquet"
    assert main(["survey", str(refs["list"]), "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    back = pd.read_parquet(out)
    assert list(back["input"]) == [str(refs["list"])]
    assert list(back.columns[:2]) == ["input", "kind"]


def test_cli_refusal_is_one_line(corpus, registry, tmp_path, capsys, cache_env):
    refs, _ = corpus
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="HEAD", path_contains="/manifests/", headers=HUB_HEADERS)
        via = [f"{proxy.host}/{r.repository}:{r.tag}" for r in refs.values()]
        code = main(["survey", *via, "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("archlab: this survey needs 5 counted manifest GETs")


def test_cli_surveys_a_recorded_snapshot_offline(tmp_path, capsys, cache_env):
    lab = Path(__file__).resolve().parent.parent / "data" / "snapshots" / "lab"
    if not (lab / "index.json").exists():
        pytest.skip("no recorded lab snapshot in this checkout")
    refs = [f"127.0.0.1:5000/lab/{name}" for name in ("busybox:latest", "mysql:5.7", "golang")]
    code = main(["survey", "--snapshot", str(lab), *refs, "--platform", "linux/arm64",
                 "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    # the story's three cases: a list with arm64, an amd64-only list, a single-arch amd64 image
    assert [ln.split() for ln in out.splitlines()[1:]] == [
        [refs[0], "list", "✓"], [refs[1], "list", "✗"], [refs[2], "single", "✗"]]


@pytest.mark.parametrize(("make", "expected"), [
    (lambda d: (d / "bin.txt").write_bytes(b"mysql:5.7\n\xff\xfe\n") and d / "bin.txt",
     "bin.txt: is not UTF-8 text (byte 0xff at offset 10, line 2); save it as UTF-8"),
    (lambda d: d / "missing.txt", "missing.txt: no such file (and not a reference)"),
    (lambda d: d, "not a regular file (and not a reference)"),
    (lambda d: (d / "empty.txt").write_text("# nothing yet\n\n") and d / "empty.txt",
     "empty.txt: holds no references (only blank lines or # comments)"),
])
def test_cli_bad_reference_file_is_one_line(tmp_path, capsys, cache_env, make, expected):
    code = main(["survey", str(make(tmp_path)), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith("archlab: ") and expected in err and err.count("\n") == 1


# ---------------------------------------------------------------------------------------------
# Hostile hosts and inputs: a reference can fail, never stall or abort the others


def _in_thread(fn, limit: float):
    """``fn()`` in a thread; fails the test (instead of hanging it) past ``limit`` seconds."""
    import threading

    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(result=fn()), daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        pytest.fail(f"the survey was still running after {limit:.0f} s")
    return out["result"]


def test_a_slow_host_never_stalls_other_hosts_references(corpus, registry, tmp_path):
    refs, _ = corpus
    import time

    landed: list[tuple[str, float]] = []
    with FaultProxy(registry.url) as slow:
        # Every answer of the slow host trickles, a byte every 0.5 s: forever, to a reader.
        slow.add(trickle=0.5)
        slow_refs = [f"{slow.host}/{refs['list'].repository}:{k}" for k in ("list", "oci")]

        def run():
            with client(tmp_path) as reg:
                return survey.survey(
                    slow_refs + texts(refs), PLATFORMS, client=reg, progress=False,
                    reference_deadline=3.0, probe_deadline=1.0,
                    on_result=lambda r: landed.append((r.input, time.monotonic())))

        got = _in_thread(run, limit=60)
    errors = got.frame.drop_duplicates("input").set_index("input")["error_type"]
    assert errors[slow_refs].tolist() == ["DeadlineExceededError"] * 2
    assert got.frame.set_index("input").loc[slow_refs[0], "error"] == (
        f"{slow_refs[0]}: not surveyed within 3 s (reference_deadline): its registry is "
        "stalled or very slow; rerun to try it again")
    assert errors[texts(refs)].isna().all()
    # the other host's references all landed before the slow host's first deadline passed
    fast_done = max(t for ref, t in landed if ref in texts(refs))
    slow_done = min(t for ref, t in landed if ref in slow_refs)
    assert fast_done < slow_done
    assert got.stats.longest_reference_seconds < 3.0 + 2.0


def test_a_port_above_65535_is_a_row_not_an_aborted_survey(corpus, tmp_path):
    refs, _ = corpus
    bad = "127.0.0.1:70000/lab/a:1"
    with client(tmp_path) as reg:
        got = survey.survey([bad, *texts(refs)], client=reg, progress=False)
    row = got.frame.set_index("input").loc[bad]
    assert (row["error_type"], row["error"]) == (
        "InvalidReferenceError",
        f"{bad}: port 70000 is out of range (1-65535); check the registry host")
    assert got.frame.set_index("input").loc[texts(refs), "error"].isna().all()


def test_deeply_nested_json_is_a_row_not_an_aborted_survey(corpus, registry, tmp_path):
    refs, built = corpus
    deep = b"[" * 100_000 + b"]" * 100_000
    with FaultProxy(registry.url) as proxy:
        proxy.add(method="GET", path_contains=":oci", status=200, body=deep, headers={
            "Content-Type": built["oci"].manifest.media_type})
        proxy.add(method="GET", path_contains="/manifests/oci", status=200, body=deep, headers={
            "Content-Type": built["oci"].manifest.media_type})
        nested = f"{proxy.host}/{refs['oci'].repository}:oci"
        fine = f"{proxy.host}/{refs['list'].repository}:list"
        with client(tmp_path) as reg:
            got = survey.survey([nested, fine], client=reg, progress=False)
    frame = got.frame.set_index("input")
    assert frame.loc[nested, "error"] and len(frame.loc[nested, "error"].splitlines()) == 1
    assert frame.loc[fine, "error"] is pd.NA or pd.isna(frame.loc[fine, "error"]).all()


def test_an_unexpected_exception_is_an_internal_error_row(corpus, tmp_path, monkeypatch):
    """A bug cannot be provoked for real on demand; this injects one (a RuntimeError where
    a manifest is parsed) to prove that it costs one row, never the survey."""
    refs, built = corpus
    from archlab import manifests

    real = manifests.parse_manifest
    bugged = built["schema2"].manifest.data

    def parse(data, media_type=None, *, source=""):
        if data == bugged:
            raise RuntimeError("injected bug\nsecond line")
        return real(data, media_type, source=source)

    monkeypatch.setattr(manifests, "parse_manifest", parse)
    schema2 = str(refs["schema2"])
    with client(tmp_path, cache=False, tag_index=False) as reg:
        got = survey.survey(texts(refs), client=reg, progress=False, check_rate_limit=False,
                            results_path=tmp_path / "r.jsonl")
    frame = got.frame.drop_duplicates("input").set_index("input")
    assert frame.loc[schema2, "error_type"] == survey.INTERNAL_ERROR
    assert frame.loc[schema2, "error"] == (
        "internal error: RuntimeError: injected bug (please report it, with this reference)")
    assert frame.drop(index=[schema2])["error"].isna().all()
    # not kept in the results file: a rerun (with the bug fixed) surveys it again
    kept = {json.loads(line)["input"] for line in (tmp_path / "r.jsonl").read_text().splitlines()}
    assert kept == set(texts(refs)) - {schema2}


def test_inputs_naming_the_same_image_are_surveyed_once_and_each_reported(
        corpus, registry, tmp_path, registry_requests):
    refs, built = corpus
    name = f"{registry.host}/{refs['list'].repository}"
    spellings = [f"{name}:list", f"{name}:list", f"{name}:list  # again", f"  {name}:list",
                 f"{name}@{built['list'].manifest.digest}"]
    with client(tmp_path) as reg, registry_requests(registry.server) as seen:
        got = survey.survey(spellings, client=reg, progress=False, check_rate_limit=False)
    assert counts(seen) == {("GET", "manifests"): 2}  # the tag once, the digest once
    assert list(got.coverage.index) == [f"{name}:list", f"{name}@{built['list'].manifest.digest}"]
    assert got.stats.refs == 2


def test_aliases_of_one_reference_are_fetched_once_and_reported_per_input(
        registry, repo_name, tmp_path, registry_requests):
    ref = parse_reference(f"{registry.host}/{repo_name}:latest")
    with make_client(tmp_path, cache=False, tag_index=False) as reg:
        reg.run(lambda aio: push_image(aio, ref, make_image(AMD64)))
    aliases = [f"{registry.host}/{repo_name}", f"{registry.host}/{repo_name}:latest"]
    with client(tmp_path) as reg, registry_requests(registry.server) as seen:
        got = survey.survey(aliases, client=reg, progress=False, check_rate_limit=False)
    assert counts(seen) == {("GET", "manifests"): 1, ("GET", "blobs"): 1}
    assert list(got.coverage.index) == aliases
    assert got.coverage.loc[aliases[0]].tolist() == got.coverage.loc[aliases[1]].tolist() == [
        True, False]
    assert set(got.frame["input"]) == set(aliases)


def test_an_interrupted_cli_survey_leaves_partial_results_in_every_output(corpus, registry,
                                                                          tmp_path):
    """Ctrl-C (SIGINT) to a real ``archlab survey`` while one reference hangs on a stalled
    host: the finished references are in --resume, --out and --rows, the others are marked."""
    import os
    import signal
    import subprocess
    import sys
    import time

    refs, _ = corpus
    with FaultProxy(registry.url) as stalled:
        stalled.add(stall=3600)
        hanging = f"{stalled.host}/{refs['list'].repository}:list"
        listing = tmp_path / "refs.txt"
        listing.write_text("\n".join([*texts(refs), hanging]) + "\n")
        out, rows, resume = tmp_path / "cov.csv", tmp_path / "rows.json", tmp_path / "r.jsonl"
        env = {**os.environ, "ARCHLAB_CACHE_DIR": str(tmp_path / "cache"),
               "DOCKER_CONFIG": str(tmp_path / "none")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "archlab", "survey", str(listing), "--out", str(out),
             "--rows", str(rows), "--resume", str(resume), "--no-progress"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                    resume.exists() and len(resume.read_text().splitlines()) == len(refs)):
                time.sleep(0.1)
            assert len(resume.read_text().splitlines()) == len(refs)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 130
    assert stderr.splitlines()[-2:] == [
        f"archlab: partial: 1 of {len(refs) + 1} references not surveyed (interrupted); "
        f"written to {out} and {rows}",
        "archlab: interrupted"]
    cov = pd.read_csv(out).set_index("input")
    assert list(cov.index) == [*texts(refs), hanging]
    assert cov.loc[hanging, "error"] == "not surveyed: interrupted"
    assert cov.loc[texts(refs), "error"].isna().all()
    assert cov.loc[str(refs["list"]), "linux/arm64"]
    frame = pd.read_json(rows)
    assert set(frame["input"]) == {*texts(refs), hanging}
    assert frame.set_index("input").loc[hanging, "error_type"] == "NotSurveyed"


def test_a_bug_in_the_rate_limit_probe_costs_the_limits_not_the_survey(corpus, tmp_path,
                                                                       monkeypatch):
    """An injected bug (as above: one cannot be provoked for real) in the probe: the survey
    goes on without limits, and says so."""
    refs, _ = corpus

    async def broken(*args, **kwargs):
        raise RuntimeError("injected probe bug")

    monkeypatch.setattr(budget, "read_rate_limits", broken)
    with client(tmp_path) as reg:
        got = survey.survey(texts(refs), client=reg, progress=False)
    assert got.stats.errors == 0 and got.stats.refs == len(refs)
    assert got.stats.notes == ("the rate-limit probe failed (internal error: RuntimeError: "
                               "injected probe bug; please report it); surveyed without the "
                               "limits it reads",)


def test_every_outcome_has_a_legend_entry():
    from archlab.survey import OUTCOME_LEGEND, OUTCOMES, outcome_legend

    assert set(OUTCOME_LEGEND) == set(OUTCOMES)
    legend = outcome_legend()._repr_markdown_().splitlines()
    assert [row.split("|")[1].strip() for row in legend[2:]] == [f"`{o}`" for o in OUTCOMES]
    assert "| `not an image` | the reference names an artifact" in "\n".join(legend)
