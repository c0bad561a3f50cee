#!/usr/bin/env python3
"""Run Debian's docker-compose 1.29 against archlab's private Engine 20.10, and record the story.

Two uses, one way of running compose:

* ``tests/test_compose_oracle.py`` imports :func:`run_compose` for every case it checks;
* run as a script, it records one real ``docker-compose up`` of the story's stack
  (``data/compose/story/``, its ``LAB`` pointed at a throwaway lab registry) on this machine, as
  ``data/compose/story/transcript-this-machine.json``, which notebook 05 shows next to the
  prediction for the same host::

      sudo .venv/bin/python tools/compose_transcript.py          # rewrite the shipped transcript
      sudo .venv/bin/python tools/compose_transcript.py --out F  # somewhere else

How compose is run
==================

=================================  =========================================================
setting                            why
=================================  =========================================================
``-p <project>``                   always a project name of its own: nothing else's
                                   containers, images or networks are touched
a temporary project directory      the compose file (and build context) copied there
``network_mode: none``             written into every service by the callers, so compose
                                   creates no network; ``down`` afterwards removes what the
                                   project created, and only that
``--ansi never``                   no colour codes in captured output
``PATH=/usr/bin:/bin:...``         compose's ``docker`` is Debian's 20.10 CLI, the one the
                                   oracle calibrated (not a newer one in ``/usr/local/bin``)
``DOCKER_HOST``, ``DOCKER_CONFIG``  the private daemon's (:meth:`DockerDaemon.client_env`)
no stdin, a timeout                never waits for a terminal; a hang is a ``LabError``
=================================  =========================================================

Needs root (the daemon does) and the ``docker-compose`` package (``tools/system-deps``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STORY = REPO / "data" / "compose" / "story"
TRANSCRIPT = STORY / "transcript-this-machine.json"
COMPOSE = "docker-compose"
PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
TIMEOUT = 300.0
#: What the recording replaces, so that it is the same on every run: the lab's random port.
SHOWN_LAB = "127.0.0.1:5000"


def compose_binary() -> str | None:
    """The docker-compose on PATH, or None (install it with tools/system-deps)."""
    return shutil.which(COMPOSE, path=PATH)


def run_compose(daemon, project_dir: Path, project: str, *args: str,
                timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``docker-compose --ansi never -p PROJECT ARGS`` in ``project_dir`` against ``daemon``."""
    from archlab.errors import LabError

    binary = compose_binary()
    if binary is None:
        raise LabError("docker-compose not found: install Debian's docker-compose 1.29 "
                       "(bash tools/system-deps as root, or apt-get install docker-compose)")
    env = daemon.client_env()
    env["PATH"] = PATH
    argv = [binary, "--ansi", "never", "-p", project, *args]
    try:
        return subprocess.run(argv, cwd=project_dir, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"`{' '.join(argv[1:])}` did not finish within {exc.timeout:g} s") from None


def without_networks(compose_text: str) -> str:
    """The story's compose file with ``network_mode: none`` under every service."""
    out = []
    in_services = False
    for line in compose_text.splitlines():
        out.append(line)
        if line.startswith("services:"):
            in_services = True
        elif in_services and re.fullmatch(r"  [A-Za-z0-9_.-]+:", line):
            out.append("    network_mode: none")
        elif line and not line.startswith((" ", "#")):
            in_services = False
    return "\n".join(out) + "\n"


def record(out: Path = TRANSCRIPT) -> dict:
    """Run ``docker-compose up`` of the story's stack once and write the transcript JSON."""
    from archlab.lab.dockerd import DockerDaemon
    from archlab.lab.instance import lab_registry

    command = ["up"]
    with lab_registry(["mysql", "redis", "ruby", "middleware"], oci=False) as lab, \
            DockerDaemon() as daemon, tempfile.TemporaryDirectory() as tmp:
        project_dir = Path(tmp) / "story"
        shutil.copytree(STORY, project_dir)
        compose = project_dir / "docker-compose.yml"
        compose.write_text(without_networks(compose.read_text()))
        (project_dir / ".env").write_text(f"LAB={lab.host}\n")
        try:
            real = run_compose(daemon, project_dir, "story", *command)
        finally:
            run_compose(daemon, project_dir, "story", "down", "--rmi", "local")
        version = subprocess.run([compose_binary() or COMPOSE, "version", "--short"],
                                 capture_output=True, text=True).stdout.strip()

        def shown(text: str) -> list[str]:
            return text.replace(lab.host, SHOWN_LAB).splitlines()

        doc = {
            "host": "this-machine",
            "compose": version,
            "engine": daemon.server_version,
            "command": f"docker-compose {' '.join(command)}",
            "note": "recorded by tools/compose_transcript.py; the lab's port is shown as "
                    f"{SHOWN_LAB}; container and image IDs differ on every run",
            "exit_code": real.returncode,
            "stdout": shown(real.stdout),
            "stderr": shown(real.stderr),
        }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=TRANSCRIPT, help="where to write the JSON")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    doc = record(args.out)
    print(f"{args.out}: {doc['command']} exited {doc['exit_code']}, "
          f"{len(doc['stdout'])} stdout and {len(doc['stderr'])} stderr lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
