"""The shipped data and the course: found through importlib.resources, copied, opened."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from archlab import cli, shipped
from archlab.cli import course as cli_course
from archlab.errors import ArchlabError

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_data_is_the_checkout_s_data_in_a_checkout():
    assert shipped.data_path() == REPO / "data"
    assert shipped.course_dir() == REPO / "notebooks"
    assert shipped.snapshot_names() == ["lab"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("lab", REPO / "data" / "snapshots" / "lab"),         # a shipped name
        ("./lab", Path("./lab")),                               # a path, even if it is absent
        ("snaps/lab", Path("snaps/lab")),
        ("no-such-snapshot", Path("no-such-snapshot")),         # not shipped: a path
        (Path("lab"), Path("lab")),                             # a Path is always a path
    ],
)
def test_snapshot_path_takes_a_shipped_name_or_a_path(value, expected):
    assert shipped.snapshot_path(value) == expected


def test_copy_course_puts_notebooks_and_data_side_by_side(tmp_path):
    copy = shipped.copy_course(tmp_path / "c")
    ipynbs = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert [p.name for p in copy.notebooks] == ipynbs
    assert copy.first == tmp_path / "c" / "notebooks" / "00-Start-Here.ipynb"
    assert (tmp_path / "c" / "notebooks" / "my-compose" / "docker-compose.yml").is_file()
    assert (tmp_path / "c" / "data" / "compose" / "story" / ".env").is_file()
    for name in ("__init__.py", "__pycache__"):
        assert not list((tmp_path / "c").rglob(name))
    wanted = subprocess.run(["git", "-C", str(REPO), "ls-files", "data", "notebooks"],
                            capture_output=True, text=True, check=True).stdout.split()
    wanted = [w for w in wanted if not w.endswith("__init__.py")]
    assert copy.files == len(wanted)


def test_copy_course_never_overwrites_silently(tmp_path):
    shipped.copy_course(tmp_path)
    edited = tmp_path / "notebooks" / "00-Start-Here.ipynb"
    edited.write_text("my notes")
    with pytest.raises(ArchlabError, match="already holds a course"):
        shipped.copy_course(tmp_path)
    assert edited.read_text() == "my notes"
    (tmp_path / "mine.txt").write_text("kept")
    shipped.copy_course(tmp_path, replace=True)
    assert json.loads(edited.read_text())["cells"]
    assert (tmp_path / "mine.txt").read_text() == "kept"


def test_course_without_jupyterlab_names_the_install(tmp_path, monkeypatch, capsys):
    real = cli_course.importlib.util.find_spec
    monkeypatch.setattr(cli_course.importlib.util, "find_spec",
                        lambda name, *a: None if name == "jupyterlab" else real(name, *a))
    assert cli.main(["course", str(tmp_path / "c"), "--no-browser"]) == 1
    out, err = capsys.readouterr()
    shipped_notebooks = len(list((REPO / "notebooks").glob("*.ipynb")))
    assert out.startswith(f"course: copied {shipped_notebooks} notebooks")
    assert err == ("archlab: opening the course needs JupyterLab, which is not installed: pip "
                   "install 'archlab[lab]' (or run with --copy-only)\n")


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_course_serves_00_through_the_link_it_prints(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "archlab", "course", str(tmp_path / "c"), "--no-browser",
         "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("open the course: ") or not line:
                break
        link = lines[-1].removeprefix("open the course: ").strip()
        assert link.startswith(f"http://127.0.0.1:{port}/lab/tree/00-Start-Here.ipynb?token="), (
            "".join(lines) + proc.stderr.read() if proc.poll() is not None else "".join(lines))
        with urllib.request.urlopen(link, timeout=10) as page:
            assert page.status == 200
            assert "JupyterLab" in page.read().decode()
        token = link.rsplit("=", 1)[1]
        api = f"http://127.0.0.1:{port}/api/contents/00-Start-Here.ipynb?token={token}"
        with urllib.request.urlopen(api, timeout=10) as nb:
            assert json.loads(nb.read())["name"] == "00-Start-Here.ipynb"
        with pytest.raises(urllib.error.HTTPError):  # the token is needed
            urllib.request.urlopen(api.split("?")[0], timeout=10)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.read().endswith("course: JupyterLab stopped\n")
        deadline = time.monotonic() + 10
        while not _refused(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _refused(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_lab_environment_gives_jupyterlab_the_course_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/etc/mine")
    env = cli_course.lab_environment(tmp_path)
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(tmp_path), "/etc/mine"]
    written = json.loads((tmp_path / "labconfig" / "default_setting_overrides.json").read_text())
    assert written["@jupyterlab/apputils-extension:notification"] == {
        "fetchNews": "false", "checkForUpdates": False}


def test_a_taken_port_fails_quoting_jupyterlab_and_leaves_no_log_behind(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "archlab", "course", str(tmp_path / "c"), "--no-browser",
             "--port", str(port)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    first, said = done.stderr.split("\n", 1)
    assert first == (f"archlab: JupyterLab exited at start (status 1; is port {port} taken? "
                     "try --port); JupyterLab said:")
    assert "already in use" in said, said
    assert all(line.startswith("  ") for line in said.splitlines())
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["data", "notebooks"]
