"""``archlab course [DIR]``: the notebooks, ready to read, without cloning anything.

It copies the course (the notebooks and the data they read, from the installed package) into
DIR, unless DIR already holds one (a checkout, or an earlier copy: it is opened as it is, so a
learner's edits stay), then starts JupyterLab on 127.0.0.1 and prints the one link that opens
the first notebook directly. ``make lab`` is ``archlab course .`` in a checkout.

==========================  =================================================================
what                        how
==========================  =================================================================
listening                   127.0.0.1 only, on ``--port`` or a free port
the link                    ``http://127.0.0.1:PORT/lab/tree/00-Start-Here.ipynb?token=…``:
                            it opens 00 in any browser, on this machine or through an SSH
                            tunnel, not the Launcher; the token is new at every start
a browser                   opened on that link where there is a display (``DISPLAY`` or
                            ``WAYLAND_DISPLAY``, macOS, Windows) unless ``--no-browser``
root                        ``--allow-root`` is passed when running as root (containers)
stopping                    Ctrl-C (or SIGTERM) stops JupyterLab and its kernels
JupyterLab missing          one line naming the install: ``pip install 'archlab[lab]'``
settings                    defaults for a room, not rules: no "get Jupyter news?" prompt
                            and no update check (:data:`LAB_DEFAULTS`, given to JupyterLab as
                            default setting overrides in a private temporary directory); a
                            learner's own JupyterLab settings still win
==========================  =================================================================
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path
from types import FrameType

from archlab import limits, shipped
from archlab.errors import ArchlabError

EPILOG = """\
examples:
  archlab course                      # copy into ./archlab-course and open 00 in JupyterLab
  archlab course ~/docker-arch-course --port 8888
  archlab course . --no-browser       # in a checkout: the notebooks as they are (make lab)
  archlab course DIR --copy-only      # copy, do not start JupyterLab (e.g. for nbval)

JupyterLab is an optional part of archlab: pip install 'archlab[lab]'.
"""

DEFAULT_DIR = "archlab-course"
#: JupyterLab setting defaults for the course: a news prompt or an update check over the first
#: notebook is noise on a projector, and the notebooks run offline.
LAB_DEFAULTS = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
}
# JupyterLab's own hidden files, plus the __init__.py that makes notebooks/ a package.
_HIDE = ("__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*.so", "*.dylib", "*~", "__init__.py")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``course`` to archlab's parser."""
    p = subparsers.add_parser(
        "course", parents=[common], help="copy the notebooks and open them in JupyterLab",
        description="Copy the course's notebooks, with the data they read, into DIR (unless it "
                    "already holds them) and start JupyterLab on 127.0.0.1 with a link that "
                    "opens the first notebook.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", nargs="?", default=DEFAULT_DIR, metavar="DIR",
                   help=f"where the course is, or goes (default: ./{DEFAULT_DIR})")
    p.add_argument("--port", type=int, metavar="N", help="listen on this port (default: free)")
    p.add_argument("--no-browser", action="store_true", help="only print the link")
    p.add_argument("--copy-only", action="store_true",
                   help="copy the course and stop; do not start JupyterLab")
    p.add_argument("--replace", action="store_true",
                   help="replace a course already in DIR (its notebooks and data) by a fresh "
                        "copy; your edits there are lost")
    p.set_defaults(func=run)


def _holds_course(root: Path) -> bool:
    return (root / "notebooks" / shipped.FIRST_NOTEBOOK).is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _can_show_a_browser() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _answering(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


#: How ``archlab course`` starts JupyterLab: ``python -m jupyterlab``, except that jsonschema's
#: optional IRI checker (``rfc3987_syntax``, pulled in by jupyter_events) is kept out. It
#: compiles a grammar at import time, which took 4 of JupyterLab's 5.4 s to start on the
#: reference machine (benchmarks/course_start.py); no schema JupyterLab validates uses an IRI
#: format, and jsonschema skips a format whose checker is missing.
_LAUNCH = ("import sys; sys.modules['rfc3987_syntax'] = None; "
           "from jupyterlab.labapp import main; sys.argv[0] = 'jupyter-lab'; sys.exit(main())")


def jupyter_command(notebooks: Path, port: int, token: str) -> list[str]:
    """The JupyterLab command line ``archlab course`` runs (loopback, our token, no browser)."""
    cmd = [sys.executable, "-c", _LAUNCH, "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--ServerApp.root_dir={notebooks}",
           f"--IdentityProvider.token={token}", "--no-browser"]
    cmd += [f"--ContentsManager.hide_globs={glob}" for glob in _HIDE]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if _holds_course(root) and not args.replace:
        print(f"course: {root}/notebooks (already here; opened as it is)")
    else:
        copied = shipped.copy_course(root, replace=args.replace)
        print(f"course: copied {len(copied.notebooks)} notebooks and their data ({copied.files} "
              f"files) into {root}")
    if args.copy_only:
        return 0
    if importlib.util.find_spec("jupyterlab") is None:
        raise ArchlabError("opening the course needs JupyterLab, which is not installed: "
                           "pip install 'archlab[lab]' (or run with --copy-only)")
    port = args.port or _free_port()
    token = secrets.token_hex(24)
    notebooks = (root / "notebooks").resolve()
    # JupyterLab's log lives beside its private config, never in the learner's directory (a
    # checkout would gain an untracked file); a failure quotes its last lines instead.
    with tempfile.TemporaryDirectory(prefix="archlab-lab-config-") as config, \
            open(log := Path(config) / "jupyter-lab.log", "wb") as out:
        proc = subprocess.Popen(jupyter_command(notebooks, port, token), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=lab_environment(Path(config)))
        try:
            return _serve(proc, port, token, log, open_browser=not args.no_browser)
        finally:
            _stop(proc)


def lab_environment(config_dir: Path) -> dict[str, str]:
    """This process's environment, plus a Jupyter config directory holding :data:`LAB_DEFAULTS`
    (``labconfig/default_setting_overrides.json``) ahead of any already named."""
    labconfig = config_dir / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "default_setting_overrides.json").write_text(json.dumps(LAB_DEFAULTS, indent=1))
    env = dict(os.environ)
    paths = [str(config_dir), *filter(None, env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep))]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(paths)
    return env


def _serve(proc: subprocess.Popen, port: int, token: str, log: Path, *,
           open_browser: bool) -> int:
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + limits.JUPYTER_START_TIMEOUT
    while not _answering(f"{base}/api/status?token={token}"):
        if proc.poll() is not None:
            raise ArchlabError(f"JupyterLab exited at start (status {proc.returncode}; is port "
                               f"{port} taken? try --port){log_tail(log)}")
        if time.monotonic() > deadline:
            raise ArchlabError(f"JupyterLab did not answer within "
                               f"{limits.JUPYTER_START_TIMEOUT:.0f} s{log_tail(log)}")
        time.sleep(0.1)
    link = f"{base}/lab/tree/{shipped.FIRST_NOTEBOOK}?token={token}"
    print(f"open the course: {link}", flush=True)
    print("stop with Ctrl-C", flush=True)
    if open_browser and _can_show_a_browser():
        webbrowser.open(link)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        print("course: JupyterLab stopped")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    raise ArchlabError(f"JupyterLab exited by itself (status {code}){log_tail(log)}")


def log_tail(log: Path, lines: int = limits.JUPYTER_LOG_TAIL_LINES) -> str:
    """The last *lines* of JupyterLab's log, indented under an error message ("" if empty)."""
    try:
        text = log.read_bytes()[-limits.JUPYTER_LOG_TAIL_BYTES:].decode("utf-8", "replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "; JupyterLab said:\n" + "\n".join(f"  {line}" for line in tail) if tail else ""


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM: JupyterLab shuts its kernels down and exits
    try:
        proc.wait(timeout=limits.JUPYTER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
