"""The fault campaign: a survey through a hostile proxy, and how much of it came out right.

What it does, all on 127.0.0.1 inside a temporary directory:

1. starts Debian's docker-registry and pushes the five corpus images (``tests/corpus.py``: a
   3-platform list, an amd64-only list, an OCI index with attestations, a schema 2 and an OCI
   single-arch image) under ``--tags`` tags (default 500), round-robin;
2. surveys every tag straight from the registry: **the truth**;
3. puts the fault proxy (``tests/faultproxy.py``, real sockets) in front of the registry. Of
   the requests it receives, a random ``--rate`` (default 20%, seeded by ``--seed``) is
   faulted; the faulted ones take the kinds of :data:`FAULTS` in turn (the ones that make
   sense for the method: a HEAD has no body to bomb), so every kind is met;
4. surveys every tag through the proxy, in a child process (so that its peak memory is its
   own), with a fresh cache, a results file, and the library's default deadlines and retries
   unless ``--request-deadline`` and friends say otherwise;
5. compares each reference's rows with the truth and reports: requests, faults by kind,
   retries by reason, rows correct, rows marked with their error, **wrong answers accepted**
   (rows without an error that differ from the truth: must be 0), **rows lost** (references
   with no row, or answered but missing from the results file: must be 0), the longest time
   one reference took, and the survey's peak RSS.

Run::

    .venv/bin/python benchmarks/fault_campaign.py                 # 500 tags, ~3 min
    .venv/bin/python benchmarks/fault_campaign.py --tags 100 --no-write
    .venv/bin/python benchmarks/fault_campaign.py --check         # exit 1 if a target is missed

The report goes to ``benchmarks/results/fault-campaign-<date>.txt`` (unless ``--no-write``),
headed by a description of the machine. ``tests/test_fault_campaign.py`` runs a small campaign
in CI through :func:`run_campaign`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REPO = "bench/campaign"
KINDS = ("list", "amd64only", "index", "schema2", "oci")  # tests/corpus.py's, in its order
TARGET_RSS_MB = 300.0
#: Scheduling slack over the reference deadline, for the "longest reference" target.
DEADLINE_SLACK = 5.0
#: The columns compared with the truth: everything a row says about the image.
COMPARED = ("kind", "digest", "list_digest", "entry_digest", "media_type", "os", "architecture",
            "variant", "os_version", "platform", "is_attestation", "attests", "size",
            "config_platform")
MiB = 1 << 20


@dataclass(frozen=True)
class Fault:
    """One kind of fault: what the proxy does, and to which methods it applies."""

    name: str
    rule: dict
    methods: tuple[str, ...] = ("GET", "HEAD")
    what: str = ""


def _faults(registry_port: int) -> tuple[Fault, ...]:
    bomb = _bomb()
    return (
        Fault("429", {"status": 429, "headers": {"Retry-After": "1"},
                      "body": b'{"errors":[{"code":"TOOMANYREQUESTS"}]}'},
              what="429 with Retry-After: 1"),
        Fault("5xx", {"status": 503, "body": b"upstream unavailable"}, what="503"),
        Fault("reset", {"reset": True}, what="TCP reset, no answer"),
        Fault("garbage", {"raw": b"SPDY/9 banana\r\n\r\n"}, what="not HTTP at all"),
        Fault("stall", {"stall": 3600.0}, what="accepts, never answers"),
        Fault("trickle", {"trickle": 0.5}, what="the answer at one byte per 0.5 s"),
        Fault("truncate", {"truncate": 40}, methods=("GET",),
              what="announces the body, sends 40 bytes, hangs up"),
        Fault("digest-lie", {"mutate": lambda body: body + b" "}, methods=("GET",),
              what="body altered, Docker-Content-Digest kept"),
        Fault("header-lie", {"headers": {"Docker-Content-Digest": "sha256:" + "0" * 64}},
              methods=("GET",), what="Docker-Content-Digest names another digest"),
        Fault("redirect", {"redirect": f"http://localhost:{registry_port}{{path}}"},
              what="307 to the registry under another host name"),
        Fault("oversized-body", {"body_size": 8 * MiB, "status": 200,
                                 "headers": {"Content-Type": "application/json"}},
              methods=("GET",), what="an 8 MiB answer (the cap is 4 MiB)"),
        Fault("oversized-headers", {"headers": {"X-Padding": "x" * MiB}},
              what="a 1 MiB header"),
        Fault("bomb", {"status": 200, "body": bomb, "headers": {
            "Content-Encoding": "gzip", "Content-Type": "application/json"}},
              methods=("GET",), what="a gzip bomb: 1 GiB of zeros in 1 MiB"),
        Fault("gzip", {"encoding": "gzip"}, methods=("GET",),
              what="the real answer, gzip-encoded (not a fault: must decode)"),
    )


def _bomb() -> bytes:
    """1 GiB of zeros, gzip-compressed (about 1 MiB)."""
    import zlib

    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    step = bytes(MiB)
    return b"".join([*(z.compress(step) for _ in range(1024)), z.flush()])


class Picker:
    """Chooses which requests the proxy faults (a seeded ``rate``) and how (kinds in turn)."""

    def __init__(self, faults: tuple[Fault, ...], rate: float, seed: int) -> None:
        from tests.faultproxy import Rule

        self._rule = Rule
        self.faults = faults
        self.rate = rate
        self._random = random.Random(seed)
        self._turn = Counter[str]()
        self._lock = threading.Lock()
        self.requests = 0
        self.faulted: Counter[str] = Counter()

    def __call__(self, request) -> object | None:
        with self._lock:
            self.requests += 1
            if self._random.random() >= self.rate:
                return None
            usable = [f for f in self.faults if request.method in f.methods]
            if not usable:
                return None
            fault = usable[self._turn[request.method] % len(usable)]
            self._turn[request.method] += 1
            self.faulted[fault.name] += 1
        return self._rule(**fault.rule)


# ---------------------------------------------------------------------------------------------
# The child: the survey through the proxy, in a process of its own


def child(args: argparse.Namespace) -> None:
    from archlab.cache import ContentCache, TagIndex
    from archlab.registry import RegistryClient
    from archlab.survey import survey

    refs = Path(args.refs).read_text().split()
    blobs = Path(args.cache) / "blobs"
    client_kw = {k: v for k, v in (("timeout", args.io_timeout),
                                   ("request_deadline", args.request_deadline),
                                   ("retry_budget", args.retry_budget)) if v is not None}
    survey_kw = ({"reference_deadline": args.reference_deadline}
                 if args.reference_deadline is not None else {})
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with RegistryClient(cache=ContentCache(blobs), tag_index=TagIndex(blobs),
                        use_docker_config=False, **client_kw) as reg:
        result = survey(refs, client=reg, progress=False, results_path=args.results,
                        on_result=lambda r: seconds.__setitem__(r.input, r.seconds),
                        **survey_kw)
        retried = dict(reg.aio.requests.retried)
    elapsed = time.perf_counter() - started
    status = Path("/proc/self/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines()
               if line.startswith("VmHWM:"))
    frame = result.frame.astype(object).where(result.frame.notna(), None)
    Path(args.out).write_text(json.dumps({
        "rows": frame.to_dict("records"), "seconds": seconds, "retried": retried,
        "survey_s": elapsed, "vmhwm_kb": hwm,
        "longest_s": result.stats.longest_reference_seconds,
    }))


# ---------------------------------------------------------------------------------------------
# The campaign


@dataclass
class Report:
    """What one campaign found; :meth:`lines` is the printed table."""

    tags: int
    rate: float
    seed: int
    requests: int
    faulted: Counter[str]
    retried: dict[str, int]
    correct: int
    marked: Counter[str]
    wrong: list[str]
    lost: list[str]
    longest_s: float
    reference_deadline: float
    peak_mb: float
    survey_s: float
    push_s: float
    fault_table: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.wrong and not self.lost and self.peak_mb < TARGET_RSS_MB
                and self.longest_s <= self.reference_deadline + DEADLINE_SLACK)

    def lines(self) -> list[str]:
        n_faults = sum(self.faulted.values())
        share = n_faults / self.requests if self.requests else 0.0

        def verdict(good: bool) -> str:
            return "ok" if good else "MISSED"

        out = [
            f"{self.tags} tags of {REPO} (pushed in {self.push_s:.1f} s), surveyed through the "
            f"fault proxy; seed {self.seed}, {self.rate:.0%} of requests faulted",
            "",
            f"requests             {self.requests} received by the proxy, {n_faults} faulted "
            f"({share:.1%})",
            "faults by kind       " + ", ".join(f"{k} {n}" for k, n in sorted(
                self.faulted.items())),
            "retries              " + (", ".join(f"{k} {n}" for k, n in sorted(
                self.retried.items())) or "none") + f" ({sum(self.retried.values())} in all)",
            f"rows correct         {self.correct} of {self.tags} references",
            f"rows marked          {sum(self.marked.values())}: " + (", ".join(
                f"{k} {n}" for k, n in sorted(self.marked.items())) or "none"),
            f"wrong answers        {len(self.wrong)}    target 0: {verdict(not self.wrong)}",
            f"rows lost            {len(self.lost)}    target 0: {verdict(not self.lost)}",
            f"longest reference    {self.longest_s:.1f} s    target <= reference deadline "
            f"{self.reference_deadline:.0f} s (+{DEADLINE_SLACK:.0f} s scheduling slack): "
            f"{verdict(self.longest_s <= self.reference_deadline + DEADLINE_SLACK)}",
            f"peak RSS             {self.peak_mb:.0f} MB    target < {TARGET_RSS_MB:.0f} MB: "
            f"{verdict(self.peak_mb < TARGET_RSS_MB)}",
            f"survey time          {self.survey_s:.1f} s",
        ]
        for label, items in (("wrong", self.wrong), ("lost", self.lost)):
            out += [f"  {label}: {item}" for item in items[:20]]
        out += ["", "fault kinds:"] + [f"  {name:<18} {what}" for name, what in self.fault_table]
        return out


def push_tags(host: str, n: int) -> dict[str, str]:
    """The five corpus images under ``n`` tags; {tag: kind}."""
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
            for kind, b in built.items():
                ref = parse_reference(f"{host}/{REPO}:seed-{kind}")
                if isinstance(b, BuiltIndex):
                    await push_index(aio, ref, b)
                else:
                    await push_image(aio, ref, b)
            for tag, kind in tags.items():  # one at a time: see benchmarks/survey_bench.py
                m = built[kind].manifest
                await aio.push_manifest(parse_reference(f"{host}/{REPO}:{tag}"), m.data,
                                        m.media_type)

    asyncio.run(push())
    return tags


def _truth(host: str, tags: dict[str, str], work: Path) -> dict[str, list[dict]]:
    """Every tag surveyed straight from the registry: {tag: rows}."""
    from archlab.cache import ContentCache, TagIndex
    from archlab.registry import RegistryClient
    from archlab.survey import survey

    blobs = work / "truth-cache" / "blobs"
    with RegistryClient(cache=ContentCache(blobs), tag_index=TagIndex(blobs),
                        use_docker_config=False) as reg:
        result = survey([f"{host}/{REPO}:{t}" for t in tags], client=reg, progress=False)
    assert not result.stats.errors, "the registry itself failed: no truth to compare with"
    return _by_tag(result.frame.astype(object).where(result.frame.notna(), None)
                   .to_dict("records"))


def _by_tag(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["input"].rsplit(":", 1)[1], []).append(row)
    return out


def _same(got: list[dict], truth: list[dict]) -> bool:
    def key(rows: list[dict]) -> list[tuple]:
        return sorted(tuple(str(r.get(c)) for c in COMPARED) for r in rows)
    return key(got) == key(truth)


def run_campaign(*, tags: int = 500, rate: float = 0.2, seed: int = 10,
                 io_timeout: float | None = None, request_deadline: float | None = None,
                 retry_budget: float | None = None, reference_deadline: float | None = None,
                 work: Path | None = None,
                 progress: Callable[[str], None] = lambda line: None) -> Report:
    """One campaign (see the module docstring); deadlines default to the library's."""
    from archlab import limits
    from archlab.lab.server import RegistryServer, find_registry_binary
    from tests.faultproxy import FaultProxy

    with tempfile.TemporaryDirectory(prefix="archlab-campaign-", dir=work) as tmp:
        base = Path(tmp)
        with RegistryServer(binary=find_registry_binary(),
                            storage=base / "storage") as srv:
            t0 = time.perf_counter()
            pushed = push_tags(srv.host, tags)
            push_s = time.perf_counter() - t0
            progress(f"pushed {tags} tags in {push_s:.1f} s")
            truth = _truth(srv.host, pushed, base)
            faults = _faults(int(srv.host.rsplit(":", 1)[1]))
            picker = Picker(faults, rate, seed)
            with FaultProxy(srv.url) as proxy:
                proxy.picker = picker
                refs = [f"{proxy.host}/{REPO}:{t}" for t in pushed]
                (base / "refs.txt").write_text("\n".join(refs) + "\n")
                results, out = base / "survey.jsonl", base / "child.json"
                argv = [sys.executable, __file__, "--child", "--refs", str(base / "refs.txt"),
                        "--cache", str(base / "cache"), "--results", str(results),
                        "--out", str(out)]
                for flag, value in (("--io-timeout", io_timeout),
                                    ("--request-deadline", request_deadline),
                                    ("--retry-budget", retry_budget),
                                    ("--reference-deadline", reference_deadline)):
                    if value is not None:
                        argv += [flag, str(value)]
                env = {**os.environ, "DOCKER_CONFIG": str(base / "no-docker-config")}
                progress(f"surveying {tags} tags through the fault proxy ...")
                done = subprocess.run(argv, capture_output=True, text=True, env=env,
                                      timeout=3600, check=False)
                if done.returncode != 0:
                    raise SystemExit(f"the survey child failed:\n{done.stderr}")
                got = json.loads(out.read_text())
                kept = {json.loads(line)["input"] for line in results.read_text().splitlines()
                        if line.strip()}
    rows = _by_tag(got["rows"])
    correct, marked, wrong, lost = 0, Counter[str](), [], []
    for tag in pushed:
        mine = rows.get(tag)
        ref = f"{REPO}:{tag}"
        if not mine:
            lost.append(f"{ref}: no row")
            continue
        error_type = mine[0].get("error_type")
        if error_type:
            marked[error_type] += 1
            continue
        if not _same(mine, truth[tag]):
            wrong.append(f"{ref}: {mine[0].get('kind')} {mine[0].get('digest')}, truth "
                         f"{truth[tag][0].get('kind')} {truth[tag][0].get('digest')}")
            continue
        correct += 1
        if mine[0]["input"] not in kept:  # an answer must be in the results file
            lost.append(f"{ref}: answered but not in the results file")
    return Report(
        tags=tags, rate=rate, seed=seed, requests=picker.requests, faulted=picker.faulted,
        retried=got["retried"], correct=correct, marked=marked, wrong=wrong, lost=lost,
        longest_s=max(got["seconds"].values(), default=0.0),
        reference_deadline=(reference_deadline if reference_deadline is not None
                            else limits.REFERENCE_DEADLINE),
        peak_mb=got["vmhwm_kb"] / 1024, survey_s=got["survey_s"], push_s=push_s,
        fault_table=[(f.name, f.what) for f in faults],
    )


def machine() -> list[str]:
    import platform

    import aiohttp
    import httpx

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor() or "?")
    registry = subprocess.run(["docker-registry", "--version"], capture_output=True, text=True,
                              check=False).stdout.strip()
    load = os.getloadavg()
    return [
        f"date:      {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine:   {os.cpu_count()} CPUs, {cpu}, {platform.system()} {platform.release()}",
        f"load:      {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min, before the run)",
        f"python:    {platform.python_version()}; httpx {httpx.__version__}, aiohttp "
        f"{aiohttp.__version__}; engine {os.environ.get('ARCHLAB_HTTP_ENGINE') or 'default'}",
        f"registry:  {registry or 'not available'}",
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--tags", type=int, default=500)
    p.add_argument("--rate", type=float, default=0.2, help="share of requests faulted")
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--io-timeout", type=float)
    p.add_argument("--request-deadline", type=float)
    p.add_argument("--retry-budget", type=float)
    p.add_argument("--reference-deadline", type=float)
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--refs", help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    p.add_argument("--results", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    header = machine()
    report = run_campaign(tags=args.tags, rate=args.rate, seed=args.seed,
                          io_timeout=args.io_timeout, request_deadline=args.request_deadline,
                          retry_budget=args.retry_budget,
                          reference_deadline=args.reference_deadline,
                          progress=lambda line: print(line, file=sys.stderr))
    load = os.getloadavg()
    text = "\n".join([*header, f"load after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", "",
                      *report.lines()]) + "\n"
    print(text, end="")
    if not args.no_write:
        path = ROOT / "benchmarks" / "results" / f"fault-campaign-{dt.date.today()}.txt"
        path.write_text(text)
        print(f"written to {path.relative_to(ROOT)}", file=sys.stderr)
    return 1 if args.check and not report.ok else 0


if __name__ == "__main__":
    sys.exit(main())
