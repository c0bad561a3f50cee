"""Large surveys in flat memory: 10,000 and 100,000 references, streamed to a dataset.

What it runs (see benchmarks/README.md), on 127.0.0.1 in a temporary directory:

1. a fresh docker-registry holding the five corpus images (tests/corpus.py) in ``--repos``
   repositories, each with ``--per-repo`` tags pointing at them round-robin. The images are
   pushed once; the other repositories and the tags are written into the registry's storage
   as distribution lays them out (a link file per tag), because 100,000 manifest PUTs would
   take longer than the survey itself;
2. per size and round, ``archlab survey REFS --dataset DIR`` in a fresh process with an empty
   cache (cold: one manifest GET per tag), its peak RSS (``VmHWM``, tests/peak.py), wall time
   and the registry's access log;
3. per size and round, ``archlab survey --all-tags REPOS --hub-api URL --dataset DIR``: every
   tag of size/per-repo repositories through the Docker Hub stand-in (tests/hubstandin.py),
   100 tags a request and no manifest request.

    .venv/bin/python benchmarks/survey_scale.py              # ~15 min; writes the results file
    .venv/bin/python benchmarks/survey_scale.py --sizes 2000,20000 --rounds 1 --no-write
    .venv/bin/python benchmarks/survey_scale.py --check      # exit 1 if a target is missed
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from survey_bench import machine  # noqa: E402

from tests.corpus import KINDS, build_corpus  # noqa: E402
from tests.peak import run_cli  # noqa: E402

RATIO_TARGET = 1.5
RSS_TARGET_MB = 300


def seed(host: str, repo: str) -> None:
    """The five images pushed once, under tags ``seed-<kind>``."""
    from archlab.lab.images import BuiltIndex
    from archlab.lab.publish import push_image, push_index
    from archlab.reference import parse_reference
    from archlab.registry import AsyncRegistryClient

    async def push() -> None:
        async with AsyncRegistryClient(cache=False, tag_index=False,
                                       use_docker_config=False) as aio:
            for kind, b in build_corpus().items():
                ref = parse_reference(f"{host}/{repo}:seed-{kind}")
                if isinstance(b, BuiltIndex):
                    await push_index(aio, ref, b)
                else:
                    await push_image(aio, ref, b)

    asyncio.run(push())


def write_tags(storage: Path, repos: int, per_repo: int) -> list[list[str]]:
    """Copy the seeded repository ``repos`` times and give each ``per_repo`` tags, as link
    files in distribution's storage layout; returns each repository's tags."""
    built = build_corpus()
    digests = {k: b.manifest.digest for k, b in built.items()}
    base = storage / "docker" / "registry" / "v2" / "repositories" / "scale"
    seeded = base / "seed"
    names: list[list[str]] = []
    for r in range(repos):
        repo = base / f"r{r:04d}"
        if not repo.exists():
            shutil.copytree(seeded, repo, ignore=shutil.ignore_patterns("tags", "_uploads"))
        tags = []
        for t in range(per_repo):
            tag = f"t{t:05d}"
            digest = digests[KINDS[(r * per_repo + t) % len(KINDS)]]
            algo, hexpart = digest.split(":")
            current = repo / "_manifests" / "tags" / tag / "current"
            index = repo / "_manifests" / "tags" / tag / "index" / algo / hexpart
            for folder in (current, index):
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "link").write_text(digest)
            tags.append(tag)
        names.append(tags)
    return names


def survey_run(argv: list[str], cache: Path) -> dict:
    env = {"ARCHLAB_CACHE_DIR": str(cache), "DOCKER_CONFIG": str(cache / "no-docker-config")}
    start = time.perf_counter()
    run = run_cli(argv, env=env, timeout=3600)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"archlab {' '.join(argv[:3])} ... failed ({run.returncode}):\n"
                         f"{run.stderr[-2000:]}")
    return {"wall_s": wall, "peak_mb": run.peak_bytes / 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-repo", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--no-all-tags", action="store_true")
    parser.add_argument("--no-references", action="store_true")
    parser.add_argument("--rounds-from", metavar="FILE",
                        help="also count the rounds an earlier run printed on stderr (one JSON "
                             "object a line), e.g. to add runs of one kind to another's")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    earlier: list[dict] = []
    if args.rounds_from:
        for line in Path(args.rounds_from).read_text().splitlines():
            if line.startswith("{"):
                earlier.append(json.loads(line))
        sizes = sorted({*sizes, *(r["refs"] for r in earlier)})

    from archlab.lab.server import RegistryServer
    from tests.hubstandin import HubStandIn, tag_of

    rows: list[dict] = list(earlier)
    todo = [int(x) for x in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="archlab-scale-") as tmp_name:
        tmp = Path(tmp_name)
        storage = tmp / "registry"
        repos = -(-max(todo) // args.per_repo)
        with RegistryServer(storage=storage) as reg:
            host = f"127.0.0.1:{reg.port}"
            seed(host, "scale/seed")
            t0 = time.perf_counter()
            tags = write_tags(storage, repos, args.per_repo)
            print(f"setup: {repos} repositories x {args.per_repo} tags written in "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
            built = build_corpus()
            listings = {f"scale/r{r:04d}": [
                tag_of(t, built[KINDS[(r * args.per_repo + i) % len(KINDS)]],
                       dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
                for i, t in enumerate(names)] for r, names in enumerate(tags)}
            with HubStandIn(listings, rate_limit=10**9) as standin:
                for size in todo:
                    refs = [f"{host}/scale/r{r:04d}:{t}" for r, names in enumerate(tags)
                            for t in names][:size]
                    refs_file = tmp / f"refs-{size}.txt"
                    refs_file.write_text("\n".join(refs) + "\n")
                    repos_file = tmp / f"repos-{size}.txt"
                    repo_list = [f"{host}/scale/r{r:04d}" for r in range(-(-size //
                                                                          args.per_repo))]
                    repos_file.write_text("\n".join(repo_list) + "\n")
                    runs = [] if args.no_references else [("references", [str(refs_file)])]
                    if not args.no_all_tags:
                        runs.append(("all-tags", ["--all-tags", str(repos_file),
                                                  "--hub-api", standin.url]))
                    for name, inputs in runs:
                        for round_ in range(args.rounds):
                            out = tmp / f"ds-{name}-{size}-{round_}"
                            mark = reg.log_mark()
                            seen_before = len(standin.seen)
                            got = survey_run(["survey", *inputs, "--dataset", str(out),
                                              "--no-progress", "--max-per-host",
                                              str(args.parallel)],
                                             tmp / f"cache-{name}-{size}-{round_}")
                            logged = reg.requests_since(mark)
                            meta = json.loads((out / "survey.json").read_text())
                            assert meta["references"] == size and meta["errors"] == 0, meta
                            requests = len(logged) + len(standin.seen) - seen_before
                            got.update(run=name, refs=size, requests=requests,
                                       manifest_gets=sum(1 for r in logged if r.method == "GET"
                                                         and "/manifests/" in r.path),
                                       seconds=meta["seconds"])
                            rows.append(got)
                            print(json.dumps(got), file=sys.stderr)
                            shutil.rmtree(out)
                            shutil.rmtree(tmp / f"cache-{name}-{size}-{round_}",
                                          ignore_errors=True)
    report, ok = table(rows, sizes, args)
    print(report)
    if not args.no_write:
        path = ROOT / "benchmarks" / "results" / f"survey-scale-{dt.date.today()}.txt"
        path.write_text("\n".join([*machine(), "", report, "",
                                   "rounds (one JSON object each):",
                                   *(json.dumps(r) for r in rows)]) + "\n")
        print(f"written to {path.relative_to(ROOT)}", file=sys.stderr)
    return 0 if ok or not args.check else 1


def table(rows: list[dict], sizes: list[int], args: argparse.Namespace) -> tuple[str, bool]:
    lines = [f"medians of the rounds; {args.per_repo} tags per repository, "
             f"{args.parallel} in flight per host, cold cache",
             f"{'run':<12}{'refs':>8}{'rounds':>8}{'survey s':>10}{'refs/s':>9}{'process s':>11}"
             f"{'req/tag':>9}{'GET/tag':>9}{'peak RSS MB':>13}"]
    peaks: dict[tuple[str, int], float] = {}
    for name in dict.fromkeys(r["run"] for r in rows):
        for size in sizes:
            these = [r for r in rows if r["run"] == name and r["refs"] == size]
            if not these:
                continue
            secs = statistics.median(r["seconds"] for r in these)
            wall = statistics.median(r["wall_s"] for r in these)
            peak = statistics.median(r["peak_mb"] for r in these)
            req = statistics.median(r["requests"] / size for r in these)
            gets = statistics.median(r["manifest_gets"] / size for r in these)
            peaks[(name, size)] = peak
            lines.append(f"{name:<12}{size:>8}{len(these):>8}{secs:>10.1f}{size / secs:>9.0f}"
                         f"{wall:>11.1f}{req:>9.3f}{gets:>9.3f}{peak:>13.1f}")
    ok = True
    small, large = min(sizes), max(sizes)
    for name in dict.fromkeys(r["run"] for r in rows):
        if (name, small) in peaks and (name, large) in peaks and small != large:
            ratio = peaks[(name, large)] / peaks[(name, small)]
            good = ratio <= RATIO_TARGET
            ok &= good
            lines.append(f"target {name}: peak RSS at {large} within {RATIO_TARGET}x of "
                         f"{small}: {ratio:.2f}x {'ok' if good else 'MISSED'}")
        if (name, large) in peaks:
            good = peaks[(name, large)] < RSS_TARGET_MB
            ok &= good
            lines.append(f"target {name}: peak RSS at {large} under {RSS_TARGET_MB} MB: "
                         f"{peaks[(name, large)]:.0f} MB {'ok' if good else 'MISSED'}")
    return "\n".join(lines), ok


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
