"""Fuzz every parser archlab runs on untrusted input: it parses, or it raises archlab's error.

What it does: for each target of ``tests/fuzzing.py`` (references, platforms, manifests,
configs, compose files, ``.env``, replacement tables, Dockerfiles, host profiles, docker
configs, snapshot indexes, cache metadata, tag hints, results files, reference lists, and
``archlab.decoding`` itself) it draws ``--examples`` inputs with hypothesis (generation only,
no shrinking, a fixed ``--seed``) in a fresh Python process, feeds each to the parser, and
sorts the outcome: parsed, refused with an :class:`~archlab.errors.ArchlabError` (counted by
class), or a **foreign** exception (any other type: a bug). A foreign exception does not stop
the run; its type, count, first input and the innermost archlab frame are reported.

Run::

    .venv/bin/python benchmarks/fuzz_parsers.py                     # 10,000 per parser
    .venv/bin/python benchmarks/fuzz_parsers.py --only compose dockerfile --examples 2000
    .venv/bin/python benchmarks/fuzz_parsers.py --check             # exit 1 on any foreign

The report goes to ``benchmarks/results/fuzz-<date>.txt`` (unless ``--no-write``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _innermost_archlab_frame(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/archlab/" in f.filename]
    if not frames:
        return "(outside archlab)"
    f = frames[-1]
    return f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} in {f.name}"


def run_one(name: str, examples: int, seed: int) -> dict:
    """Fuzz one target in this process; the result as a JSON-able dict."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed
    from hypothesis.errors import HypothesisWarning

    warnings.simplefilter("ignore", HypothesisWarning)  # "overly large repr" of a strategy

    from archlab.errors import ArchlabError
    from tests.fuzzing import TARGETS

    (target,) = [t for t in TARGETS if t.name == name]
    outcomes: Counter[str] = Counter()
    foreign: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as tmp:
        workdir = Path(tmp)

        @fixed_seed(seed)
        @settings(max_examples=examples, phases=[Phase.generate], database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(target.strategy)
        def one(example: object) -> None:
            try:
                target.run(example, workdir)
            except ArchlabError as exc:
                outcomes[type(exc).__name__] += 1
            except Exception as exc:  # the finding this runner exists for
                kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
                seen = foreign.setdefault(kind, {"count": 0, "input": repr(example)[:300],
                                                 "message": str(exc)[:200],
                                                 "where": _innermost_archlab_frame(exc)})
                seen["count"] += 1
                outcomes["foreign"] += 1
            else:
                outcomes["parsed"] += 1

        started = time.perf_counter()
        one()
        seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"name": name, "what": target.what, "examples": sum(outcomes.values()),
            "outcomes": dict(outcomes), "foreign": foreign, "seconds": seconds,
            "peak_rss_mb": usage.ru_maxrss / 1024}


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def _machine(load_before: str) -> list[str]:
    import hypothesis
    import yaml

    return [
        f"date:      {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} (the end of the run)",
        f"machine:   {os.cpu_count()} CPUs, {platform.platform()}",
        f"load:      {load_before} before the run, {_load()} after it",
        f"python:    {platform.python_version()}; hypothesis {hypothesis.__version__}, "
        f"PyYAML {yaml.__version__}",
    ]


def report(results: list[dict], examples: int, seed: int, load_before: str) -> str:
    lines = [*_machine(load_before), "",
             f"{examples} examples asked per parser, hypothesis seed {seed}, generation only; "
             "each parser in a fresh process (peak RSS is that process's)", "",
             f"{'parser':<16}{'examples':>9}{'parsed':>9}{'refused':>9}{'foreign':>9}"
             f"{'seconds':>9}{'peak RSS MB':>13}"]
    for r in results:
        o = r["outcomes"]
        refused = sum(v for k, v in o.items() if k not in ("parsed", "foreign"))
        lines.append(f"{r['name']:<16}{r['examples']:>9}{o.get('parsed', 0):>9}{refused:>9}"
                     f"{o.get('foreign', 0):>9}{r['seconds']:>9.1f}{r['peak_rss_mb']:>13.0f}")
    lines += ["", "what each parser is, and the archlab errors it refused with:"]
    for r in results:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items())
                           if k not in ("parsed", "foreign")) or "none"
        lines.append(f"  {r['name']:<16}{r['what']}")
        lines.append(f"  {'':<16}{errors}")
    found = [(r["name"], kind, f) for r in results for kind, f in r["foreign"].items()]
    lines.append("")
    if not found:
        lines.append("foreign exception types: none")
    for name, kind, f in found:
        lines += [f"FOREIGN in {name}: {kind} x{f['count']} at {f['where']}: {f['message']}",
                  f"  first input: {f['input']}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from tests.fuzzing import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--only", nargs="*", choices=[t.name for t in TARGETS])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if any parser raised a foreign exception")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args.child, args.examples, args.seed)))
        return 0
    results = []
    load_before = _load()
    for name in args.only or [t.name for t in TARGETS]:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", name, "--examples", str(args.examples),
             "--seed", str(args.seed)], capture_output=True, text=True, cwd=ROOT, check=False)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(f"the {name} fuzz process failed (exit {proc.returncode})")
        result = json.loads(proc.stdout.splitlines()[-1])
        results.append(result)
        print(f"{name}: {result['examples']} examples, {result['outcomes']}", file=sys.stderr)
    text = report(results, args.examples, args.seed, load_before)
    print(text, end="")
    if not args.no_write:
        out = ROOT / "benchmarks" / "results" / f"fuzz-{dt.date.today().isoformat()}.txt"
        out.write_text(text)
        print(f"written to {out.relative_to(ROOT)}", file=sys.stderr)
    foreign = any(r["foreign"] for r in results)
    return 1 if args.check and foreign else 0


if __name__ == "__main__":
    raise SystemExit(main())
