"""Benchmark the whole course under nbval with no network at all.

Each round runs ``pytest --nbval notebooks`` (every notebook, one after another, in one
process: the way a learner's machine would, not CI's two workers) and times it from the
command's start to its exit. The run is made **offline**: as root it runs inside a new network
namespace (``unshare --net``) whose only interface is loopback, which the Jupyter kernels need,
so any attempt to reach a registry fails instead of quietly succeeding. Without root it runs
with the network this machine has and says so in the output.

Target: **every notebook passes, in under 180 s together** (median of rounds). Run::

    .venv/bin/python benchmarks/course_nbval.py              # 3 rounds, prints a table
    .venv/bin/python benchmarks/course_nbval.py --check      # exit 1 if the target is missed
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 180.0
CHECKOUT = Path(__file__).resolve().parents[1]


def offline_prefix() -> list[str]:
    """The command prefix that removes the network, or [] where that needs rights we lack."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return []
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "offline"]


def one_round(prefix: list[str]) -> tuple[float, str]:
    cmd = [*prefix, sys.executable, "-m", "pytest", "--nbval", "notebooks", "-q",
           "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist"]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=CHECKOUT, capture_output=True, text=True)
    took = time.perf_counter() - start
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0:
        raise SystemExit(f"nbval failed (exit {done.returncode}):\n{done.stdout[-4000:]}"
                         f"{done.stderr[-2000:]}")
    return took, re.sub(r"\s+in [\d.]+s.*", "", summary.strip("= "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args()
    prefix = offline_prefix()
    rounds = [one_round(prefix) for _ in range(args.rounds)]
    times = [r[0] for r in rounds]
    median = statistics.median(times)
    ok = median < TARGET_SECONDS
    notebooks = len(list((CHECKOUT / "notebooks").glob("*.ipynb")))
    print(f"network: {'none (unshare --net, loopback only)' if prefix else 'this machine’s'}")
    print(f"notebooks: {notebooks}; cells: {rounds[0][1]}")
    print(f"{'run':<14} {'median s':>9} {'min s':>7} {'max s':>7}  target")
    print(f"{'nbval, all':<14} {median:9.1f} {min(times):7.1f} {max(times):7.1f}  "
          f"< {TARGET_SECONDS:.0f} s {'ok' if ok else 'MISSED'}")
    print(f"({args.rounds} rounds; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
