"""Benchmark ``archlab lab up``: from nothing, then again on the same storage.

Each round runs the real command line in a fresh interpreter (``python -m archlab``), so
the times include Python start-up and imports, as a user at a terminal would see them:

1. ``lab up`` with an empty storage directory and no state: start the registry, push every
   scenario (target: **under 5 s**);
2. ``lab up`` again: finds the registry running, HEADs every blob (target: **0 blobs uploaded**);
3. ``lab down``.

Everything lives in a temporary directory (state via ``ARCHLAB_STATE_DIR``, ``--storage``), so
the user's own lab is never touched. Run::

    .venv/bin/python benchmarks/lab_up.py              # 3 rounds, prints a table
    .venv/bin/python benchmarks/lab_up.py --rounds 5 --check   # exit 1 if a target is missed
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_COLD_SECONDS = 5.0
TARGET_WARM_UPLOADS = 0
_COUNTS = re.compile(r"pushed (\d+) references in ([\d.]+) s: (\d+) blobs uploaded, "
                     r"(\d+) already present, (\d+) mounted")


def _archlab(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "archlab", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"archlab {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done.stdout


def _counts(out: str) -> dict[str, float]:
    m = _COUNTS.search(out)
    if m is None:
        raise SystemExit(f"no push summary in the output of lab up:\n{out}")
    refs, push_s, uploaded, present, mounted = m.groups()
    return {"refs": int(refs), "push_s": float(push_s), "uploaded": int(uploaded),
            "present": int(present), "mounted": int(mounted)}


def one_round() -> list[dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="archlab-bench-") as tmp:
        env = {**os.environ, "ARCHLAB_STATE_DIR": str(Path(tmp) / "state"),
               "ARCHLAB_CACHE_DIR": str(Path(tmp) / "cache")}
        storage = str(Path(tmp) / "storage")
        rows = []
        try:
            for label in ("from nothing", "second up"):
                seconds, out = _archlab(["lab", "up", "--storage", storage], env)
                rows.append({"run": label, "seconds": seconds, **_counts(out)})
        finally:
            _archlab(["lab", "down"], env)
        return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh-storage rounds (default 3)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)

    results: dict[str, list[dict[str, float]]] = {"from nothing": [], "second up": []}
    for _ in range(args.rounds):
        for row in one_round():
            results[str(row["run"])].append(row)

    print(f"archlab lab up, {args.rounds} rounds (median; whole command incl. Python start-up)")
    print(f"{'run':<14} {'seconds':>8} {'push s':>7} {'refs':>5} {'uploaded':>9} "
          f"{'present':>8} {'mounted':>8}  target")
    ok = True
    for label, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows)
               for k in ("seconds", "push_s", "refs", "uploaded", "present", "mounted")}
        if label == "from nothing":
            target = f"< {TARGET_COLD_SECONDS:g} s"
            met = med["seconds"] < TARGET_COLD_SECONDS
        else:
            target = f"{TARGET_WARM_UPLOADS} uploaded"
            met = max(r["uploaded"] for r in rows) == TARGET_WARM_UPLOADS
        ok &= met
        print(f"{label:<14} {med['seconds']:>8.2f} {med['push_s']:>7.2f} {med['refs']:>5.0f} "
              f"{med['uploaded']:>9.0f} {med['present']:>8.0f} {med['mounted']:>8.0f}  "
              f"{target} {'ok' if met else 'MISSED'}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
