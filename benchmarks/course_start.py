"""Benchmark ``make lab`` with the venv built: from the command to notebook 00 served.

Each round runs what ``make lab`` runs once its venv exists, ``python -m archlab course
<checkout> --no-browser`` (the Makefile's ``archlab course .``, with a free port and without
opening a browser), and measures, from the moment the command starts:

1. **link printed**: the line ``open the course: http://127.0.0.1:PORT/lab/tree/00-Start-Here
   .ipynb?token=...`` on stdout (the server is answering);
2. **00 served**: that link answered with JupyterLab's page (HTTP 200) *and* the contents API
   returned notebook 00 itself, which is what the page loads next.

Target: **00 served in under 5 s** (median of rounds). The command is stopped with SIGTERM after
each round, as Ctrl-C would. Run::

    .venv/bin/python benchmarks/course_start.py              # 5 rounds, prints a table
    .venv/bin/python benchmarks/course_start.py --check      # exit 1 if the target is missed
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TARGET_SECONDS = 5.0
CHECKOUT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_round() -> tuple[float, float]:
    port = _free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "archlab", "course", str(CHECKOUT), "--no-browser", "--port",
         str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        link = ""
        while not link:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit(f"archlab course ended without a link: {proc.stderr.read()}")
            if line.startswith("open the course: "):
                link = line.removeprefix("open the course: ").strip()
        printed = time.perf_counter() - start
        with urllib.request.urlopen(link, timeout=30) as page:
            assert page.status == 200 and b"JupyterLab" in page.read()
        token = link.rsplit("token=", 1)[1]
        api = f"http://127.0.0.1:{port}/api/contents/00-Start-Here.ipynb?token={token}"
        with urllib.request.urlopen(api, timeout=30) as answer:
            assert json.loads(answer.read())["name"] == "00-Start-Here.ipynb"
        served = time.perf_counter() - start
        return printed, served
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args()
    rounds = [one_round() for _ in range(args.rounds)]
    printed = statistics.median(r[0] for r in rounds)
    served = statistics.median(r[1] for r in rounds)
    ok = served < TARGET_SECONDS
    print(f"{'step':<14} {'median s':>9} {'min s':>7} {'max s':>7}  target")
    print(f"{'link printed':<14} {printed:9.2f} {min(r[0] for r in rounds):7.2f} "
          f"{max(r[0] for r in rounds):7.2f}")
    print(f"{'00 served':<14} {served:9.2f} {min(r[1] for r in rounds):7.2f} "
          f"{max(r[1] for r in rounds):7.2f}  < {TARGET_SECONDS:.0f} s "
          f"{'ok' if ok else 'MISSED'}")
    print(f"({args.rounds} rounds)")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
