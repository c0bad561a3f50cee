"""Surveys on disk (``archlab.dataset``): the Parquet dataset against an in-memory survey,
shards merged, an interrupted survey resumed, a Dask-run survey, every tag of a repository
(``--all-tags``), and ``archlab survey-merge``. Each compares against a single run of the same
input on the real lab registry, row for row; memory is measured in ``benchmarks/``."""

from __future__ import annotations

import asyncio
import json
import secrets

import duckdb
import pandas as pd
import pytest

from archlab import dataset as ds
from archlab import survey
from archlab.cli import main
from archlab.errors import ArchlabError
from tests.corpus import client as make_client
from tests.hubstandin import HubStandIn, tags_from_built
from tests.test_tags import many, push_tags

PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7")


def client(tmp_path, name="cache", **kw):
    from archlab.cache import ContentCache, TagIndex

    kw.setdefault("cache", ContentCache(tmp_path / name / "blobs"))
    kw.setdefault("tag_index", TagIndex(tmp_path / name / "blobs"))
    kw.setdefault("retries", 0)
    return make_client(tmp_path, **kw)


@pytest.fixture(scope="module")
def inputs(registry, tmp_path_factory):
    """60 tags of five shapes, plus what a real input holds: a missing tag, a malformed line,
    a line given twice and one image under three spellings."""
    repo = f"t/dataset-{secrets.token_hex(3)}"
    push_tags(registry.host, repo, tmp_path_factory.mktemp("push"), many(60))
    base = f"{registry.host}/{repo}"
    refs = [f"{base}:v{i}" for i in range(60)]
    extra = [f"{base}:no-such-tag", "Not//A:Reference", refs[3],
             f"{base}:v7@sha256:" + "0" * 64, f"{registry.host}/{repo}:v9"]
    return [*refs[:30], *extra[:2], *refs[30:], *extra[2:]]


def single_run(inputs, tmp_path, name="single"):
    with client(tmp_path, name) as reg:
        return survey.survey(inputs, PLATFORMS, client=reg, progress=False,
                             dataset=tmp_path / name / "ds", check_rate_limit=False)


def frames(directory):
    return pd.read_parquet(directory / "rows"), pd.read_parquet(directory / "coverage")


def test_a_dataset_holds_what_an_in_memory_survey_gives(inputs, tmp_path):
    with client(tmp_path, "mem") as reg:
        mem = survey.survey(inputs, PLATFORMS, client=reg, progress=False)
    disk = single_run(inputs, tmp_path)
    assert disk.dataset is not None and mem.dataset is None
    assert disk.stats.refs == mem.stats.refs == len(dict.fromkeys(inputs))
    assert disk.stats.errors == mem.stats.errors == 3  # missing tag, malformed, bad digest
    frame = disk.frame
    assert set(frame["source"]) == {"registry"}
    pd.testing.assert_frame_equal(frame.drop(columns=["source"]), mem.frame)
    pd.testing.assert_frame_equal(disk.coverage, mem.coverage)
    pd.testing.assert_frame_equal(disk.outcomes, mem.outcomes)
    rows, cov = frames(disk.dataset.path)  # what pandas reads directly
    assert rows["position"].is_monotonic_increasing
    assert list(cov["input"]) == list(dict.fromkeys(inputs))
    arm = duckdb.sql(f"SELECT count(*) FROM '{disk.dataset.path}/coverage/*.parquet' "
                     "WHERE \"linux/arm64\"").fetchall()[0][0]
    assert arm == int(mem.coverage["linux/arm64"].sum())
    meta = json.loads((disk.dataset.path / "survey.json").read_text())
    assert meta["complete"] and meta["inputs"] == meta["total_inputs"] == len(cov)


def test_sharded_then_merged_equals_a_single_run_row_for_row(inputs, tmp_path, capsys):
    single = single_run(inputs, tmp_path)
    parts = []
    for k in (1, 2, 3):
        with client(tmp_path, f"s{k}") as reg:
            part = survey.survey(inputs, PLATFORMS, client=reg, progress=False, shard=(k, 3),
                                 dataset=tmp_path / f"part{k}", check_rate_limit=False)
        parts.append(part)
    sizes = [p.stats.refs for p in parts]
    assert sum(sizes) == single.stats.refs and all(sizes)  # a partition, none empty
    # spellings of one image land in one shard (the hash is of the normalized reference)
    same = [i for i in inputs if i.endswith(":v9")]
    assert len({ds.shard_of(i, 3) for i in same}) == 1
    report = ds.merge([tmp_path / f"part{k}" for k in (1, 2, 3)], tmp_path / "merged")
    assert report.complete and (report.duplicates, report.gaps) == (0, 0)
    for a, b in zip(frames(single.dataset.path), frames(tmp_path / "merged"), strict=True):
        pd.testing.assert_frame_equal(a, b)
    loaded = ds.load(tmp_path / "merged")
    pd.testing.assert_frame_equal(loaded.coverage, single.coverage)

    # the command line: a part twice and one missing are reported, and the exit code says so
    code = main(["survey-merge", str(tmp_path / "part1"), str(tmp_path / "part3"),
                 str(tmp_path / "part1"), "--out", str(tmp_path / "gappy")])
    err = capsys.readouterr().err
    assert code == 1
    assert f"duplicates: {sizes[0]} inputs were in more than one part" in err
    assert f"gaps: {sizes[1]} inputs are in no part; shards never given: 2/3" in err
    gappy = pd.read_parquet(tmp_path / "gappy" / "coverage")
    assert len(gappy) == sizes[0] + sizes[2] and gappy["position"].is_unique


def test_merge_refuses_parts_of_other_surveys(inputs, tmp_path):
    single_run(inputs, tmp_path)
    with client(tmp_path, "other") as reg:
        survey.survey(inputs[:10], PLATFORMS, client=reg, progress=False, shard="1/2",
                      dataset=tmp_path / "other", check_rate_limit=False)
    with pytest.raises(ArchlabError, match="surveys another input"):
        ds.merge([tmp_path / "single" / "ds", tmp_path / "other"], tmp_path / "m")
    with pytest.raises(ArchlabError, match="K must be 1 to N"):
        ds.parse_shard("0/3")
    with pytest.raises(ArchlabError, match="is not K/N"):
        ds.parse_shard("half")


def test_an_interrupted_survey_resumed_equals_a_single_run(inputs, tmp_path, registry,
                                                           registry_requests):
    single = single_run(inputs, tmp_path)
    target = tmp_path / "resumed"
    seen: list[str] = []

    async def interrupted(aio):
        task: asyncio.Task | None = None

        def on_result(result):
            seen.append(result.input)
            if len(seen) == 20:
                task.cancel()

        task = asyncio.ensure_future(survey.survey_async(
            inputs, PLATFORMS, client=aio, dataset=target, max_per_host=2, progress=False,
            check_rate_limit=False, on_result=on_result))
        with pytest.raises(asyncio.CancelledError):
            await task

    with client(tmp_path, "r") as reg:
        reg.run(interrupted)
        # What the command line does on Ctrl-C: the Parquet files from the journal so far.
        partial = ds.finish(target, why="interrupted")
        assert partial.meta["not_surveyed"] == single.stats.refs - len(seen)
        marked = pd.read_parquet(target / "coverage")
        assert set(marked.loc[marked["error_type"] == "NotSurveyed", "input"]).isdisjoint(seen)
        with registry_requests(registry.server) as log:
            resumed = survey.survey(inputs, PLATFORMS, client=reg, dataset=target,
                                    progress=False, check_rate_limit=False)
    assert resumed.stats.resumed + resumed.stats.surveyed == single.stats.refs
    assert resumed.stats.surveyed < single.stats.refs
    # nothing answered before the interruption is asked again
    asked = {r.path.rsplit("/", 1)[1] for r in log if "/manifests/" in r.path}
    answered = {i.rsplit(":", 1)[-1] for i in seen if "@" not in i and "//" not in i}
    assert asked and answered and not asked & answered
    for a, b in zip(frames(single.dataset.path), frames(target), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_a_dask_run_equals_a_single_run(inputs, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    single = single_run(inputs, tmp_path)
    monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(tmp_path / "workers-cache"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as dask_client:
        result = survey.survey(inputs, PLATFORMS, dask=dask_client, shards=4, progress=False,
                               dataset=tmp_path / "dask", check_rate_limit=False)
        ran_on = {w["host"] for w in dask_client.scheduler_info()["workers"].values()}
    assert ran_on == {"127.0.0.1"}
    shards = sorted(p.name for p in (tmp_path / "dask" / "shards").iterdir())
    assert shards == ["1-of-4", "2-of-4", "3-of-4", "4-of-4"]
    assert result.stats.refs == single.stats.refs
    for a, b in zip(frames(single.dataset.path), frames(tmp_path / "dask"), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_dask_tasks_make_their_clients_with_the_client_options(inputs, tmp_path, monkeypatch):
    """--no-cache reaches the workers: with cache=False no task writes a manifest or a tag
    hint into the workers' cache directory (with the defaults, they do)."""
    distributed = pytest.importorskip("distributed")
    caches = {}
    for name, options in (("default", None), ("no-cache", {"cache": False, "tag_index": False})):
        caches[name] = tmp_path / f"cache-{name}"
        monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(caches[name]))
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address=None) as cluster, \
                distributed.Client(cluster) as dask_client:
            result = survey.survey(inputs[:8], PLATFORMS, dask=dask_client, shards=2,
                                   progress=False, dataset=tmp_path / name,
                                   check_rate_limit=False, client_options=options)
        assert result.stats.refs == 8
    written = {name: [p for p in path.rglob("*") if p.is_file()] if path.exists() else []
               for name, path in caches.items()}
    assert written["default"], "the default client caches what it fetched"
    assert written["no-cache"] == []


def test_dask_refuses_trace_it_could_not_show(capsys):
    from archlab.cli import main

    assert main(["survey", "busybox", "--dataset", "d", "--dask", "tcp://127.0.0.1:1",
                 "--trace"]) == 2
    assert capsys.readouterr().err == (
        "archlab: --dask runs every shard itself, on the cluster's network; drop --trace (the "
        "exchanges happen on the workers)\n")


def test_dask_needs_a_dataset(tmp_path):
    pytest.importorskip("distributed")
    with pytest.raises(ArchlabError, match="give dataset="):
        survey.survey(["busybox"], dask="tcp://127.0.0.1:1", progress=False)


# ---------------------------------------------------------------------------------------------
# Every tag of a repository


def test_all_tags_reads_docker_hubs_listing_one_request_per_hundred_tags(
        registry, repo_name, tmp_path, registry_requests):
    tagged = many(230)
    push_tags(registry.host, repo_name, tmp_path, tagged)
    repo = f"{registry.host}/{repo_name}"
    with HubStandIn({repo_name: tags_from_built(tagged)}) as standin:
        with client(tmp_path) as reg, registry_requests(registry.server) as seen:
            mem = survey.survey([repo], PLATFORMS, client=reg, progress=False, all_tags=True,
                                hub_api=standin.url)
            disk = survey.survey([repo], PLATFORMS, client=reg, progress=False,
                                 all_tags=True, hub_api=standin.url, dataset=tmp_path / "d")
        assert [q for _, q in standin.seen].count("page_size=100") == 2  # one listing each
    assert seen == []  # no manifest request: 3 pages of the listing answered 230 tags
    assert mem.stats.requests == {"GET hub-tags": 3}
    assert mem.stats.refs == disk.stats.refs == 230
    assert set(mem.frame["source"]) == {"hub"}
    pd.testing.assert_frame_equal(mem.frame, disk.frame)
    pd.testing.assert_frame_equal(mem.coverage, disk.coverage)
    name, _ = tagged[0]
    assert mem.coverage.loc[f"{repo}:{name}"].tolist() == [True, True, True]  # LIST3


def test_all_tags_elsewhere_lists_tags_and_reads_manifests(registry, repo_name, tmp_path,
                                                         capsys):
    push_tags(registry.host, repo_name, tmp_path, many(12))
    repo = f"{registry.host}/{repo_name}"
    missing = f"{registry.host}/t/no-such-repo-{secrets.token_hex(3)}"
    with client(tmp_path) as reg:
        got = survey.survey([repo, missing], PLATFORMS, client=reg, progress=False,
                            all_tags=True)
    assert got.stats.requests["GET tags"] == 2 and got.stats.requests["GET manifest"] == 12
    assert got.stats.refs == 13 and got.stats.errors == 1
    tags = got.frame[got.frame["input"] != missing]
    assert set(tags["source"]) == {"registry"}
    assert got.frame.set_index("input").loc[missing, "error_type"] == "NotFoundError"
    code = main(["survey", "--all-tags", repo, "--dataset", str(tmp_path / "cli"),
                 "--no-progress", "--platform", "linux/arm/v7"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[1].split() == ["linux/arm/v7", "3", "9", "0"]  # LIST3 is v0,5,10


# ---------------------------------------------------------------------------------------------
# The command line


def test_cli_dataset_outputs_and_a_word_that_is_not_a_command(inputs, tmp_path, capsys):
    listing = tmp_path / "refs.txt"
    listing.write_text("\n".join(inputs) + "\n")
    out, rows = tmp_path / "cov.csv", tmp_path / "rows.json"
    code = main(["survey", str(listing), "--dataset", str(tmp_path / "d"), "--out", str(out),
                 "--rows", str(rows), "--no-progress", "--platform", "linux/arm64"])
    captured = capsys.readouterr()
    assert code == 1  # three inputs failed
    distinct = list(dict.fromkeys(inputs))
    assert list(pd.read_csv(out)["input"]) == distinct
    assert set(pd.read_json(rows)["input"]) == set(distinct)
    assert f"dataset: {tmp_path / 'd'}" in captured.err
    assert main(["survey", "merge", "a", "b"]) == 2
    err = capsys.readouterr().err
    assert err == ("archlab: `merge` here would survey the image docker.io/library/merge; to "
                   "join survey parts run `archlab survey-merge PARTS... --out DIR`, to survey "
                   "that image write merge:latest\n")
    assert main(["survey", str(listing), "--shard", "1/2"]) == 2
    assert "--shard writes a dataset; add --dataset DIR" in capsys.readouterr().err
