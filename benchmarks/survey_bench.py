"""Benchmark ``archlab.survey`` against skopeo and against the registry's own ceiling.

What it does, all on 127.0.0.1 inside a temporary directory:

1. starts Debian's docker-registry and pushes five images (a 3-platform manifest list, an
   amd64-only list, an OCI index with attestations, a schema2 and an OCI single-arch image)
   under ``--tags`` tags, round-robin (after the first push of each, a tag is one manifest PUT);
2. **archlab cold**: ``survey()`` of every tag in a fresh process with an empty cache,
   ``--parallel`` (16) references in flight, with the default HTTP engine (aiohttp under
   httpx); then again with httpx's own engine (see ``archlab/transport.py``), and with the
   library's polite default of 8 in flight;
3. **archlab warm**: the same, again, with the cache the cold run left;
4. **skopeo sequential**: ``skopeo inspect --raw --tls-verify=false docker://...`` one tag after
   another, on ``--skopeo-sample`` tags spread over the set, extrapolated to all tags (labelled
   so in the table);
5. **skopeo xargs -P 8**: the same command over *every* tag, 8 at a time
   (``--skopeo-parallel``);
6. **registry ceiling**: ``wrk`` (Debian package ``wrk``), ``--parallel`` connections, GETs of
   one manifest for 5 s: a load tool in C, so the number is the registry's, not a client's.
   Bare client loops are printed beside it (aiohttp alone, httpx on archlab's aiohttp engine,
   httpx on its own), with their CPU per request; without wrk the httpx one is the ceiling;
7. **the CPU bound**: the registry's CPU time per request during the cold run
   (``/proc/<pid>/stat``) and archlab's per tag. Client and registry share the machine's
   cores, so ``cores / (registry + client)`` is a rate no schedule can beat, and the line after
   it says how little CPU per tag a client may spend to reach 20x sequential skopeo.

Requests per tag come from the registry's access log (``RegistryServer.requests_since``) and,
for archlab, from the client's own counter; peak RSS is the survey process's own
(``getrusage`` ``ru_maxrss`` and ``VmHWM``), which is why archlab runs in a subprocess. Both
the time of the survey call alone and the wall time of the whole process (interpreter start-up
and imports included, as ``archlab survey`` at a terminal would feel) are printed; the ratios
use the survey call and are printed for the whole process too.

Run::

    .venv/bin/python benchmarks/survey_bench.py                  # 1000 tags, 100 sampled
    .venv/bin/python benchmarks/survey_bench.py --tags 200 --skopeo-sample 20 --no-write
    .venv/bin/python benchmarks/survey_bench.py --check          # exit 1 if a target is missed

The report goes to ``benchmarks/results/survey-<date>.txt`` (unless ``--no-write``), headed by
a description of the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REPO = "bench/survey"
KINDS = ("list", "amd64only", "index", "schema2", "oci")  # tests/corpus.py's, in its order
SINGLE_ARCH = ("schema2", "oci")
TARGET_VS_SEQUENTIAL = 20.0
TARGET_VS_XARGS = 3.0
TARGET_CEILING_SHARE = 0.5
TARGET_RSS_MB = 300.0
SKOPEO = ["skopeo", "inspect", "--raw", "--tls-verify=false"]
SKOPEO_CACHE = Path("/var/lib/containers/cache/blob-info-cache-v1.boltdb")


# ---------------------------------------------------------------------------------------------
# The child: one survey in a process of its own, so its RSS is its own


def child(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    import pandas  # noqa: F401 - survey imports it on first use: count it as an import

    from archlab.cache import ContentCache, TagIndex
    from archlab.registry import RegistryClient
    from archlab.survey import survey
    from archlab.transport import engine_choice

    refs = Path(args.refs).read_text().split()
    t1 = time.perf_counter()
    blobs = Path(args.cache) / "blobs"
    with RegistryClient(cache=ContentCache(blobs), tag_index=TagIndex(blobs),
                        use_docker_config=False, per_host=args.parallel) as reg:
        t2, c2 = time.perf_counter(), time.process_time()
        result = survey(refs, client=reg, progress=False, max_per_host=args.parallel)
        t3, c3 = time.perf_counter(), time.process_time()
        engine = engine_choice()
    status = Path("/proc/self/status").read_text()
    hwm = next((int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmHWM:")), 0)
    print(json.dumps({
        "import_s": t1 - t0, "client_s": t2 - t1, "survey_s": t3 - t2, "cpu_s": c3 - c2,
        "engine": engine,
        "refs": result.stats.refs, "errors": result.stats.errors,
        "requests": result.stats.requests,
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "vmhwm_kb": hwm,
    }))


def run_child(mode: str, cache: Path, refs_file: Path, parallel: int,
              engine: str | None = None) -> dict:
    env = {**os.environ, "DOCKER_CONFIG": str(cache / "no-docker-config")}
    if engine is not None:
        env["ARCHLAB_HTTP_ENGINE"] = engine
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--cache", str(cache), "--refs",
         str(refs_file), "--parallel", str(parallel)],
        capture_output=True, text=True, timeout=600, check=False, env=env,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"survey child ({mode}) failed:\n{done.stderr}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


# ---------------------------------------------------------------------------------------------
# Setting up the registry


def push_tags(host: str, n: int, tmp: Path) -> dict[str, str]:
    """Push the five images under ``n`` tags; returns {tag: kind}."""
    from archlab.lab.images import BuiltIndex
    from archlab.lab.publish import push_image, push_index
    from archlab.reference import parse_reference
    from archlab.registry import AsyncRegistryClient
    from tests.corpus import build_corpus

    built = build_corpus()
    tags = {f"t{i:05d}": KINDS[i % len(KINDS)] for i in range(n)}

    async def push() -> None:
        async with AsyncRegistryClient(cache=False, tag_index=False, use_docker_config=False,
                                       per_host=16) as aio:
            for kind, b in built.items():  # children and blobs once per image
                ref = parse_reference(f"{host}/{REPO}:seed-{kind}")
                if isinstance(b, BuiltIndex):
                    await push_index(aio, ref, b)
                else:
                    await push_image(aio, ref, b)
            # One at a time: distribution 2.8 can answer MANIFEST_BLOB_UNKNOWN when a list is
            # verified while another PUT rewrites the child it names (the same bytes).
            for tag, kind in tags.items():
                m = built[kind].manifest
                await aio.push_manifest(parse_reference(f"{host}/{REPO}:{tag}"), m.data,
                                        m.media_type)

    asyncio.run(push())
    return tags


# ---------------------------------------------------------------------------------------------
# The others


def skopeo_sequential(refs: list[str]) -> float:
    start = time.perf_counter()
    for ref in refs:
        subprocess.run([*SKOPEO, f"docker://{ref}"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True, timeout=60)
    return time.perf_counter() - start


def skopeo_xargs(refs: list[str], parallel: int) -> float:
    text = "".join(f"docker://{r}\n" for r in refs)
    start = time.perf_counter()
    subprocess.run(["xargs", "-P", str(parallel), "-n", "1", *SKOPEO], input=text.encode(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=1800)
    return time.perf_counter() - start


def wrk_ceiling(url: str, parallel: int, seconds: int = 5) -> float | None:
    """Requests per second ``wrk`` gets for one manifest, ``parallel`` connections; None
    when wrk is not installed. A load tool in C: what the registry can serve on this machine
    when the client costs next to nothing."""
    from archlab import manifests

    if shutil.which("wrk") is None:
        return None
    done = subprocess.run(
        ["wrk", "-t1", f"-c{parallel}", f"-d{seconds}s", "-H",
         f"Accept: {', '.join(manifests.ACCEPT_ALL)}", url],
        capture_output=True, text=True, timeout=seconds + 60, check=True)
    for line in done.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise SystemExit(f"wrk printed no Requests/sec line:\n{done.stdout}")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_loop(url: str, count: int, parallel: int, how: str) -> tuple[float, float]:
    """``count`` GETs of one manifest, ``parallel`` in flight, by the bare client ``how``
    (``httpx``: httpx's own engine; ``httpx+aiohttp``: archlab's engine; ``aiohttp``: aiohttp
    alone). Returns (seconds, CPU seconds): what a request costs before archlab does anything."""
    import httpx

    from archlab import manifests
    from archlab.transport import default_transport

    headers = {"Accept": ", ".join(manifests.ACCEPT_ALL)}

    async def drive(get) -> tuple[float, float]:
        await get()  # warm the pool
        left = count
        start, cpu = time.perf_counter(), time.process_time()

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await get()

        await asyncio.gather(*(worker() for _ in range(parallel)))
        return time.perf_counter() - start, time.process_time() - cpu

    async def go() -> tuple[float, float]:
        if how == "aiohttp":
            import aiohttp

            async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=parallel)) as session:
                async def get() -> None:
                    async with session.get(url, headers=headers) as resp:
                        resp.raise_for_status()
                        await resp.read()

                return await drive(get)
        transport = default_transport(max_connections=parallel) if how == "httpx+aiohttp" else None
        limits = httpx.Limits(max_connections=parallel, max_keepalive_connections=parallel)
        async with httpx.AsyncClient(limits=limits, transport=transport) as http:
            async def get() -> None:
                (await http.get(url, headers=headers)).raise_for_status()

            return await drive(get)

    return asyncio.run(go())


# ---------------------------------------------------------------------------------------------
# Report


BARE_LOOPS = ("aiohttp", "httpx+aiohttp", "httpx")
CEILING_TAG = "seed-list"  # the load runs GET this tag, which no survey asks for


def by_method(log) -> Counter:
    """Requests by (method, kind). The load runs' tag is left out: wrk's last requests can be
    logged after the next run's mark, when they were still in flight as wrk stopped."""
    out: Counter = Counter()
    for r in log:
        if r.path.endswith(f"/manifests/{CEILING_TAG}"):
            continue
        kind = "manifest" if "/manifests/" in r.path else "blob" if "/blobs/" in r.path else "other"
        out[(r.method, kind)] += 1
    return out


def machine() -> list[str]:
    import aiohttp
    import httpx
    import pandas

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor() or "?")
    mem = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")),
               "?")

    def version(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10,
                                  check=False).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "not available"

    load = os.getloadavg()
    return [
        f"date:      {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine:   {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, "
        f"{mem} memory, {platform.system()} {platform.release()}",
        f"load:      {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min, before the run)",
        f"python:    {platform.python_version()}; httpx {httpx.__version__}, aiohttp "
        f"{aiohttp.__version__}, pandas {pandas.__version__}",
        f"registry:  {version(['docker-registry', '--version'])}",
        f"skopeo:    {version(['skopeo', '--version'])}",
    ]


def fmt_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                     for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()


def table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [fmt_row(r, widths) for r in rows]


def measure_round(srv, refs: list[str], refs_file: Path, work: Path,
                  args: argparse.Namespace, list_url: str) -> dict:
    """Every run once, each archlab cold run on an empty cache of its own."""
    out: dict = {}
    mark = srv.log_mark()
    cpu0 = process_cpu_s(srv.pid)
    out["cold"] = run_child("cold", work / "cache", refs_file, args.parallel)
    out["registry_cpu"] = process_cpu_s(srv.pid) - cpu0
    out["cold_log"] = by_method(srv.requests_since(mark))
    mark = srv.log_mark()
    out["warm"] = run_child("warm", work / "cache", refs_file, args.parallel)
    out["warm_log"] = by_method(srv.requests_since(mark))
    out["httpx"] = run_child("cold", work / "cache-httpx", refs_file, args.parallel,
                             engine="httpx")
    out["at_8"] = run_child("cold", work / "cache-8", refs_file, 8)
    out["seq_s"] = out["xargs_s"] = None
    if not args.no_skopeo:
        n = len(refs)
        k = max(1, min(args.skopeo_sample, n))
        out["sample"] = k
        out["seq_s"] = skopeo_sequential([refs[i * n // k] for i in range(k)]) * n / k
        mark = srv.log_mark()
        out["xargs_s"] = skopeo_xargs(refs, args.skopeo_parallel)
        out["xargs_log"] = by_method(srv.requests_since(mark))
    for how in BARE_LOOPS:
        out[f"bare {how}"] = bare_loop(list_url, len(refs), args.parallel, how)
    out["wrk_rps"] = wrk_ceiling(list_url, args.parallel)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tags", type=int, default=1000, help="tags to create and survey")
    ap.add_argument("--skopeo-sample", type=int, default=100,
                    help="tags for the sequential skopeo loop (extrapolated to all)")
    ap.add_argument("--parallel", type=int, default=16,
                    help="archlab's --max-per-host and the ceiling's connections")
    ap.add_argument("--skopeo-parallel", type=int, default=8, help="xargs -P for skopeo")
    ap.add_argument("--rounds", type=int, default=3,
                    help="repeat every run; the table shows medians")
    ap.add_argument("--no-skopeo", action="store_true", help="skip both skopeo runs")
    ap.add_argument("--no-write", action="store_true", help="print only; no results file")
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    ap.add_argument("--child", choices=("cold", "warm"), help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    ap.add_argument("--refs", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args)
        return 0

    from archlab.lab.server import RegistryServer

    header = machine()
    n = args.tags
    skopeo_left = SKOPEO_CACHE.exists()
    tmp = Path(tempfile.mkdtemp(prefix="archlab-survey-bench-"))
    try:
        with RegistryServer(storage=tmp / "storage") as srv:
            t0 = time.perf_counter()
            tags = push_tags(srv.host, n, tmp)
            push_s = time.perf_counter() - t0
            refs = [f"{srv.host}/{REPO}:{t}" for t in tags]
            refs_file = tmp / "refs.txt"
            refs_file.write_text("\n".join(refs) + "\n")
            list_url = f"{srv.url}/v2/{REPO}/manifests/{CEILING_TAG}"
            rounds = []
            for r in range(args.rounds):
                print(f"round {r + 1} of {args.rounds} ...", file=sys.stderr, flush=True)
                rounds.append(measure_round(srv, refs, refs_file, tmp / f"round-{r}", args,
                                            list_url))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not skopeo_left and SKOPEO_CACHE.exists():  # skopeo's own cache, if it made one
            SKOPEO_CACHE.unlink()

    singles = sum(1 for k in tags.values() if k in SINGLE_ARCH)
    distinct_configs = len({k for k in tags.values() if k in SINGLE_ARCH})

    def med(get) -> float:
        return statistics.median(get(r) for r in rounds)

    def child_med(name: str) -> dict:
        """A child's figures, each the median over rounds (counts from the first round)."""
        first = rounds[0][name]
        return {**first, **{k: med(lambda r, k=k: r[name][k])
                            for k in ("survey_s", "wall_s", "cpu_s")},
                "vmhwm_kb": max(r[name]["vmhwm_kb"] for r in rounds)}

    cold, warm = child_med("cold"), child_med("warm")
    other_engine, at_8 = child_med("httpx"), child_med("at_8")
    cold_log, warm_log = rounds[0]["cold_log"], rounds[0]["warm_log"]
    logs_agree = all(r["cold_log"] == cold_log and r["warm_log"] == warm_log for r in rounds)
    if not logs_agree:
        print("request counts differ between rounds:", file=sys.stderr)
        for r in rounds:
            print(f"  cold {dict(r['cold_log'])}  warm {dict(r['warm_log'])}  client counter, "
                  f"cold {r['cold']['requests']}, errors {r['cold']['errors']}", file=sys.stderr)
    seq_s = xargs_s = None
    if not args.no_skopeo:
        seq_s, xargs_s = med(lambda r: r["seq_s"]), med(lambda r: r["xargs_s"])
        xargs_log = rounds[0]["xargs_log"]
        sampled = rounds[0]["sample"]
    bare = {how: (med(lambda r, h=how: r[f"bare {h}"][0]),
                  med(lambda r, h=how: r[f"bare {h}"][1])) for how in BARE_LOOPS}
    ceil_s = bare["httpx"][0]
    wrk_rps = None if rounds[0]["wrk_rps"] is None else med(lambda r: r["wrk_rps"])
    cold_req = sum(cold_log.values())
    cold_rps = cold_req / cold["survey_s"]
    httpx_rps = n / ceil_s
    ceil_rps = wrk_rps if wrk_rps is not None else httpx_rps
    ceil_name = "wrk" if wrk_rps is not None else "the httpx loop (wrk not installed)"
    rss_mb = max(cold["vmhwm_kb"], warm["vmhwm_kb"]) / 1024

    def per_tag(log: Counter, method: str) -> str:
        return f"{sum(v for (m, _), v in log.items() if m == method) / n:.3f}"

    rows = [["run", "seconds", "tags/s", "req/s", "HEAD/tag", "GET/tag", "peak RSS MB"]]
    for name, res, log in (("archlab cold (empty cache)", cold, cold_log),
                           ("archlab warm (same cache)", warm, warm_log)):
        rows.append([name, f"{res['survey_s']:.2f}", f"{n / res['survey_s']:.0f}",
                     f"{sum(log.values()) / res['survey_s']:.0f}", per_tag(log, "HEAD"),
                     per_tag(log, "GET"), f"{res['vmhwm_kb'] / 1024:.0f}"])
    for name, res in ((f"archlab cold, {other_engine['engine']} engine", other_engine),
                      ("archlab cold, --max-per-host 8", at_8)):
        rows.append([name, f"{res['survey_s']:.2f}", f"{n / res['survey_s']:.0f}",
                     f"{sum(res['requests'].values()) / res['survey_s']:.0f}", "", "",
                     f"{res['vmhwm_kb'] / 1024:.0f}"])
    for name, res in (("  same, whole process", cold), ("  (warm) whole process", warm)):
        rows.append([name, f"{res['wall_s']:.2f}", f"{n / res['wall_s']:.0f}", "", "", "", ""])
    if seq_s is not None and xargs_s is not None:
        rows.append([f"skopeo sequential (est. from {sampled})", f"{seq_s:.2f}",
                     f"{n / seq_s:.0f}", f"{n / seq_s:.0f}", "0", "1", ""])
        rows.append([f"skopeo xargs -P {args.skopeo_parallel}", f"{xargs_s:.2f}",
                     f"{n / xargs_s:.0f}",
                     f"{sum(xargs_log.values()) / xargs_s:.0f}", per_tag(xargs_log, "HEAD"),
                     per_tag(xargs_log, "GET"), ""])
    if wrk_rps is not None:
        rows.append([f"registry ceiling (wrk, {args.parallel} connections)", "", "",
                     f"{wrk_rps:.0f}", "0", "1", ""])
    for how in BARE_LOOPS:
        rows.append([f"bare {how} loop ({args.parallel} in flight)", f"{bare[how][0]:.2f}",
                     "", f"{n / bare[how][0]:.0f}", "0", "1", ""])

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    expected_cold = {("HEAD", "manifest"): 1, ("GET", "manifest"): n,
                     ("GET", "blob"): distinct_configs}
    targets = [["target", "measured", "result"]]
    targets.append([
        "cold: 1 GET/tag + 1 GET per distinct config (+1 rate-limit HEAD)",
        f"{cold_log[('GET', 'manifest')]} manifest GET, {cold_log[('GET', 'blob')]} config GET,"
        f" {cold_log[('HEAD', 'manifest')]} HEAD",
        verdict(logs_agree and dict(cold_log) == expected_cold)])
    targets.append(["warm: 1 HEAD/tag, 0 GET",
                    f"{warm_log[('HEAD', 'manifest')]} HEAD, "
                    f"{sum(v for (m, _), v in warm_log.items() if m == 'GET')} GET",
                    verdict(logs_agree and dict(warm_log) == {("HEAD", "manifest"): n})])
    if seq_s is not None and xargs_s is not None:
        def ratio(base: str, run: str = "survey_s") -> tuple[float, str]:
            each = [r[base] / r["cold"][run] for r in rounds]
            return statistics.median(each), ", ".join(f"{x:.1f}" for x in each)

        (r_seq, seq_each), (r_x, x_each) = ratio("seq_s"), ratio("xargs_s")
        w_seq, w_x = ratio("seq_s", "wall_s")[0], ratio("xargs_s", "wall_s")[0]
        targets.append([f"cold >= {TARGET_VS_SEQUENTIAL:.0f}x sequential skopeo",
                        f"{r_seq:.1f}x (rounds {seq_each}; whole process {w_seq:.1f}x)",
                        verdict(r_seq >= TARGET_VS_SEQUENTIAL)])
        targets.append([f"cold >= {TARGET_VS_XARGS:.0f}x xargs -P {args.skopeo_parallel} skopeo",
                        f"{r_x:.1f}x (rounds {x_each}; whole process {w_x:.1f}x)",
                        verdict(r_x >= TARGET_VS_XARGS)])
    targets.append([f"cold req/s >= half the registry ceiling ({ceil_name})",
                    f"{cold_rps:.0f} / {ceil_rps:.0f} = {cold_rps / ceil_rps:.2f}",
                    verdict(cold_rps / ceil_rps >= TARGET_CEILING_SHARE)])
    targets.append([f"peak RSS < {TARGET_RSS_MB:.0f} MB", f"{rss_mb:.0f} MB",
                    verdict(rss_mb < TARGET_RSS_MB)])

    cores = len(os.sched_getaffinity(0))
    reg_ms = 1000 * med(lambda r: r["registry_cpu"]) / max(1, cold_req)
    cli_ms = 1000 * cold["cpu_s"] / n
    bound = cores / ((reg_ms + cli_ms) / 1000)
    bound_lines = [
        "client CPU per request: bare loops "
        + ", ".join(f"{how} {1000 * bare[how][1] / n:.2f} ms" for how in BARE_LOOPS)
        + f"; archlab's survey {cli_ms:.2f} ms per tag (parsing, verifying, caching, rows)",
        f"CPU per request in the cold run: registry {reg_ms:.2f} ms, archlab "
        f"({cold['engine']} engine) {cli_ms:.2f} ms per tag, on {cores} cores shared by both:",
        f"no schedule beats {cores} / ({reg_ms:.2f} + {cli_ms:.2f}) ms = {bound:.0f} tags/s; "
        f"the cold run reached {n / cold['survey_s']:.0f} ({n / cold['survey_s'] / bound:.0%}).",
    ]
    if seq_s is not None:
        need = TARGET_VS_SEQUENTIAL * n / seq_s
        budget_ms = 1000 * cores / need - reg_ms
        bound_lines.append(
            f"{TARGET_VS_SEQUENTIAL:.0f}x sequential skopeo is {need:.0f} tags/s: even at full "
            f"use of both cores the client may spend at most {budget_ms:.2f} ms of CPU per tag.")

    after = os.getloadavg()
    lines = [*header, f"load after: {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}", "",
             f"{n} tags of {REPO} ({singles} single-arch, {distinct_configs} distinct configs), "
             f"pushed in {push_s:.1f} s; archlab per-host concurrency {args.parallel}; "
             f"{args.rounds} rounds, each figure the median (RSS: the maximum)",
             f"archlab imports {cold['import_s']:.2f} s, client {cold['client_s']:.2f} s "
             "(the whole-process rows include them and interpreter start-up)",
             f"client counter, cold: {cold['requests']}; warm: {warm['requests']}",
             "", *table(rows), "", *bound_lines, "", *table(targets), ""]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        out = ROOT / "benchmarks" / "results" / f"survey-{dt.date.today().isoformat()}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
        print(f"written to {out.relative_to(ROOT)}")
    missed = any(r[2] == "MISSED" for r in targets[1:])
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
