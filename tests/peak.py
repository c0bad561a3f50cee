"""Run the ``archlab`` command in a child process and measure its peak memory.

Memory bounds are proven on a real process: the child runs ``archlab.cli.main`` and, on its
way out, writes its own peak resident set to a file: ``VmHWM`` from ``/proc/self/status``, the
high-water mark of its address space since ``exec``. Not ``ru_maxrss``: Linux carries the
parent's high-water mark into it across ``fork``/``exec`` (a pytest worker that once held
500 MB makes every child "peak" at 500 MB), and not ``RUSAGE_CHILDREN``, which mixes in other
tests' children.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20

_CHILD = """\
import atexit, os, sys
def _peak():
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(os.environ["ARCHLAB_TEST_PEAK_FILE"], "w") as fh:
        fh.write(str(kib * 1024))
atexit.register(_peak)
from archlab.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    peak_bytes: int

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / MiB


def run_cli(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """``archlab *argv`` in a fresh interpreter; its exit code, output and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="archlab-peak-") as tmp:
        peak_file = Path(tmp) / "peak"
        child_env = {**os.environ, **(env or {}), "ARCHLAB_TEST_PEAK_FILE": str(peak_file)}
        proc = subprocess.run([sys.executable, "-c", _CHILD, *argv], env=child_env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        peak = int(peak_file.read_text()) if peak_file.exists() else 0
    return Run(proc.returncode, proc.stdout, proc.stderr, peak)
