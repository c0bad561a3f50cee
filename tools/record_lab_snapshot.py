#!/usr/bin/env python3
"""Record every lab scenario into ``data/snapshots/lab/``, reproducibly.

Run from the repository root when the lab scenarios change (``tests/test_snapshot.py`` fails
with the instruction to do so)::

    .venv/bin/python tools/record_lab_snapshot.py               # rewrite data/snapshots/lab
    .venv/bin/python tools/record_lab_snapshot.py --out DIR     # somewhere else
    .venv/bin/python tools/record_lab_snapshot.py --check       # exit 1 if the copy is stale

The shipped snapshot is pinned in code (:data:`archlab.snapshot.LAB_SNAPSHOT_ROOT`), so a
consistently edited copy is refused. When a new recording changes its root digest, the script
says so: put the new root in that constant (``--check`` fails until it matches).

It starts a throwaway lab registry (``archlab.lab.instance.lab_registry``: Debian's
docker-registry on a free 127.0.0.1 port), pushes every scenario in both twins (Docker and OCI
media types), records each with :func:`archlab.snapshot.record` and stops the registry.

Two settings make the output byte-for-byte the same on every run and machine:

==================  ===========================================================================
setting             why
==================  ===========================================================================
``RECORDED_AT``     the only clock value in a snapshot; fixed
``as_host``         the registry's random port is replaced by ``127.0.0.1:5000``
                    (:data:`archlab.snapshot.LAB_HOST`); a replay answers any loopback port
==================  ===========================================================================

The scenario images themselves are deterministic (``archlab.lab.scenarios``), and so is what
the registry serves for them.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so the script runs from a checkout without an install

from archlab.snapshot import LAB_HOST, LAB_SNAPSHOT_ROOT, RecordSummary, record  # noqa: E402

DEFAULT_OUT = ROOT / "data" / "snapshots" / "lab"
#: Fixed so that the shipped files never change unless the lab images or the format do.
RECORDED_AT = "2026-11-01T00:00:00Z"


def record_lab(out_dir: str | Path, *, host: str | None = None) -> RecordSummary:
    """Record every lab scenario into ``out_dir``.

    With ``host`` (a registry that already holds the scenarios) no registry is started.
    """
    from archlab.lab import scenarios

    everything = scenarios.build_all()
    if host is not None:
        refs = [s.ref(host) for s in everything]
        return _record(refs, out_dir)
    from archlab.lab.instance import lab_registry

    with lab_registry() as lab:
        return _record([s.ref(lab.host) for s in lab.scenarios], out_dir)


def _record(refs: list[str], out_dir: str | Path) -> RecordSummary:
    summary = record(refs, out_dir, recorded_at=RECORDED_AT, as_host=LAB_HOST,
                     use_docker_config=False)
    if summary.failed:
        lines = "\n".join(f"  {r.ref}: {r.error}" for r in summary.failed)
        raise SystemExit(f"recording the lab failed for:\n{lines}")
    return summary


def same_tree(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between two directory trees (missing on one side counts)."""
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    differ = sorted(str(p) for p in files_a ^ files_b)
    differ += sorted(str(p) for p in files_a & files_b
                     if not filecmp.cmp(a / p, b / p, shallow=False))
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="snapshot directory")
    parser.add_argument("--check", action="store_true",
                        help="record to a temporary directory and compare with --out")
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            record_lab(Path(tmp) / "lab")
            differ = same_tree(args.out, Path(tmp) / "lab")
            root = _root(Path(tmp) / "lab")
        if differ:
            print(f"{args.out} is stale ({len(differ)} files differ, e.g. {differ[0]}): run "
                  "tools/record_lab_snapshot.py", file=sys.stderr)
            return 1
        if root != LAB_SNAPSHOT_ROOT:
            print(f"{args.out} is up to date, but archlab.snapshot.LAB_SNAPSHOT_ROOT is "
                  f"{LAB_SNAPSHOT_ROOT}, not its root {root}: update the constant",
                  file=sys.stderr)
            return 1
        print(f"{args.out} is up to date, root {root}")
        return 0
    summary = record_lab(args.out)
    print(summary.line())
    root = summary.snapshot.integrity.root if summary.snapshot.integrity else None
    if root != LAB_SNAPSHOT_ROOT and args.out.resolve() == DEFAULT_OUT.resolve():
        print(f"the root digest changed: set archlab.snapshot.LAB_SNAPSHOT_ROOT = {root!r}",
              file=sys.stderr)
    return 0


def _root(snapshot_dir: Path) -> str:
    from archlab import digests

    return digests.compute((snapshot_dir / "index.json").read_bytes())


if __name__ == "__main__":
    sys.exit(main())
