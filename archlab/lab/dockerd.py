"""A private, throwaway Docker Engine 20.10 daemon: the oracle archlab's predictions answer to.

What it is for
--------------
:mod:`archlab.simulate` predicts, line for line, what ``docker pull``, ``run`` and ``create``
print. The only judge of such a prediction is a real Docker. This module starts one: Debian's
``docker.io`` package (Engine 20.10.24, the ``this-machine`` host profile), with the exact
flags registry-lab.md §4 measured, in a temporary directory of its own, so that it shares
nothing with a Docker the machine may already run (no socket, no image store, no network, no
iptables rules). It is for *checking* predictions (tests, notebooks, benchmarks); nothing in
archlab's own logic depends on it.

How do I use it?
----------------
::

    from archlab.lab.dockerd import DockerDaemon
    from archlab.lab.instance import lab_registry

    with lab_registry() as lab, DockerDaemon() as docker:
        r = docker.docker("pull", "--platform", "linux/arm64", lab.ref("mysql"))
        r.returncode, r.stderr      # (1, 'no matching manifest for linux/arm64 in the ...\\n')
        docker.reset()              # no containers, no images: the next command starts clean
        docker.reset(prediction.store_after)   # or: the store a simulation ended with

Starting needs root on Linux and the ``docker.io`` package; anything missing raises
:class:`~archlab.errors.LabError` saying what to install or how to run. Ready takes about a
quarter of a second; stopping takes one to three.

How the daemon is started
-------------------------
``dockerd --config-file <root>/daemon.json`` (the file holds ``{}``: no ``/etc/docker`` setting
leaks in) plus these flags, each with its reason:

==============================================  ===============================================
flag                                            why
==============================================  ===============================================
``--bridge=none``                               no ``docker0``; runs use ``--network none``
``--iptables=false --ip6tables=false``          never touch the host's firewall
``--ip-forward=false --ip-masq=false``          nor its sysctls and NAT
``--userland-proxy=false``                      no ``docker-proxy`` processes
``--storage-driver=vfs``                        plain directories: works on any filesystem,
                                                no overlay mounts (slow only for big images)
``--data-root <root>/docker``                   images and containers, removed at stop
``--exec-root <root>/exec``                     sockets, its own containerd, netns files
``--pidfile <root>/docker.pid``                 not ``/var/run/docker.pid``
``-H unix://<root>/docker.sock``                a socket of its own, never the system's
==============================================  ===============================================

Registries on ``127.0.0.0/8`` are insecure by default in 20.10, so a plain-HTTP lab registry
on 127.0.0.1 needs no ``insecure-registries`` entry.

The rules
---------
=============================  ==============================================================
what                           rule
=============================  ==============================================================
binaries                       ``dockerd`` from ``/usr/sbin`` or ``/usr/bin`` (Debian puts it in
                               ``/usr/sbin``); the client is ``/usr/bin/docker``, the 20.10 CLI
                               of the same package (a newer CLI in ``/usr/local/bin`` talks to
                               it too, but is not what was calibrated)
client environment             every ``DOCKER_*`` variable removed (``DOCKER_DEFAULT_PLATFORM``
                               or ``DOCKER_CONTENT_TRUST`` would change the output), then
                               ``DOCKER_HOST`` = our socket and ``DOCKER_CONFIG`` = a private
                               directory (no user credentials, contexts or helpers)
client calls                   no stdin, output captured as text, a timeout (``LabError``)
stop                           SIGTERM to the PID we started (our unreaped child, so it cannot
                               be a recycled PID), SIGKILL after ``stop_timeout``; then any
                               process left whose command line names our exec-root (containerd,
                               a shim) is stopped the same way, by PID
mounts                         dockerd bind-mounts its data-root on itself while it runs; the
                               directory is removed only after the daemon has exited and no
                               mount under the root is left (leftovers are unmounted first)
binfmt_misc                    never touched: a foreign binary fails with ``exec format
                               error``, exactly as on the ``this-machine`` profile
=============================  ==============================================================
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from archlab.errors import LabError
from archlab.reference import parse_reference

if TYPE_CHECKING:  # only for a type hint: checking predictions is not archlab's logic
    from archlab.simulate import LocalStore

__all__ = [
    "APT_HINT",
    "DOCKERD_CANDIDATES",
    "DOCKER_CLIENT",
    "DockerDaemon",
    "check_can_run",
    "daemon_flags",
    "find_docker_binaries",
    "mounts_under",
]

DOCKERD_CANDIDATES: tuple[Path, ...] = (Path("/usr/sbin/dockerd"), Path("/usr/bin/dockerd"))
DOCKER_CLIENT = Path("/usr/bin/docker")
APT_HINT = "install Debian's Docker Engine 20.10: apt-get install --no-install-recommends docker.io"
#: Where runc, containerd and docker-init live on Debian; dockerd finds them on PATH.
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_LOG_TAIL_LINES = 15
_MAX_TMP_LEN = 40  # sun_path holds 108 bytes: <tmp>/archlab-dockerd-XXXXXXXX/exec/containerd/
#                   containerd.sock.ttrpc is the deepest socket, 64 bytes past <tmp>


def daemon_flags(root: Path) -> list[str]:
    """The arguments after ``dockerd`` for a daemon living in ``root`` (registry-lab.md §4)."""
    return [
        "--config-file", str(root / "daemon.json"),
        "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
        "--ip-masq=false", "--userland-proxy=false", "--storage-driver=vfs",
        "--data-root", str(root / "docker"),
        "--exec-root", str(root / "exec"),
        "--pidfile", str(root / "docker.pid"),
        "-H", f"unix://{root / 'docker.sock'}",
    ]


def find_docker_binaries(dockerd: str | os.PathLike | None = None,
                         docker: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """``(dockerd, docker)``: the given paths, else Debian's; ``LabError`` with the apt hint."""
    daemon = [Path(dockerd)] if dockerd is not None else list(DOCKERD_CANDIDATES)
    found = next((p for p in daemon if p.is_file() and os.access(p, os.X_OK)), None)
    if found is None:
        raise LabError(f"dockerd not found at {' or '.join(map(str, daemon))}: {APT_HINT}")
    client = Path(docker) if docker is not None else DOCKER_CLIENT
    if not (client.is_file() and os.access(client, os.X_OK)):
        raise LabError(f"the docker client is not at {client}: {APT_HINT}")
    return found, client


def check_can_run(dockerd: str | os.PathLike | None = None,
                  docker: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """``(dockerd, docker)`` if this machine can run the daemon, else ``LabError`` saying why."""
    if not sys.platform.startswith("linux"):
        raise LabError(f"a Docker daemon runs only on Linux, not on {sys.platform}: use a Linux "
                       "machine or VM")
    if os.geteuid() != 0:
        raise LabError("dockerd needs root (it mounts, makes namespaces and cgroups): run as "
                       "root, e.g. with sudo, or in CI")
    return find_docker_binaries(dockerd, docker)


def _unescape_mount(field: str) -> str:
    # /proc/self/mounts writes space, tab, newline and backslash as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mounts_under(root: Path | str) -> list[str]:
    """Mount points at or below ``root`` in ``/proc/self/mounts``, deepest first."""
    base = os.path.realpath(root)
    try:
        text = Path("/proc/self/mounts").read_text()
    except OSError:
        return []
    points = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        point = _unescape_mount(parts[1])
        if point == base or point.startswith(base + os.sep):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _alive(pid: int) -> bool:
    return _state(pid) not in (None, "Z", "X")


@dataclass
class _Run:
    """What one start owns; kept apart from the daemon object so a finalizer can hold it."""

    proc: subprocess.Popen
    root: Path
    log: IO[bytes]
    stop_timeout: float


def _ours(run: _Run) -> list[int]:
    """PIDs of live processes (not dockerd) whose command line names our exec-root."""
    marker = str(run.root / "exec")
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == run.proc.pid:
            continue
        cmd = _cmdline(int(entry))
        if cmd and marker in cmd and _alive(int(entry)):
            pids.append(int(entry))
    return pids


def _signal_and_wait(pids: Iterable[int], marker: str, timeout: float) -> list[int]:
    """SIGTERM, then SIGKILL: each PID only while its command line still names ``marker``."""
    pending = list(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pending:
            cmd = _cmdline(pid)
            if cmd and marker in cmd:  # checked right before the signal: never a recycled PID
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            pending = [p for p in pending if _alive(p)]
            time.sleep(0.02)
        if not pending:
            return []
    return pending


def _shutdown(run: _Run) -> None:
    marker = str(run.root / "exec")
    children = _ours(run)  # containerd and shims, noted while dockerd can still vouch for them
    proc = run.proc
    if proc.poll() is None:  # our own child, not yet reaped: its PID is still ours
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(run.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # dockerd stops its containerd on SIGTERM; after a SIGKILL it cannot, so we do.
    left = _signal_and_wait(set(children) | set(_ours(run)), marker, run.stop_timeout)
    run.log.close()
    for point in mounts_under(run.root):  # only after a SIGKILL or a crash
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
    if left or mounts_under(run.root):
        # Removing files under a live mount or a running containerd would do harm; keep them.
        return
    shutil.rmtree(run.root, ignore_errors=True)


class DockerDaemon:
    """One ``dockerd`` started by us in a private temporary directory (see the module docs).

    ``with DockerDaemon() as d:`` starts it and waits until ``docker version`` answers; leaving
    the block stops it and removes everything it wrote.
    """

    def __init__(
        self,
        *,
        dockerd: str | os.PathLike | None = None,
        docker: str | os.PathLike | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        command_timeout: float = 120.0,
    ) -> None:
        self._dockerd_arg = dockerd
        self._docker_arg = docker
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.command_timeout = command_timeout
        self._run: _Run | None = None
        self._finalizer: weakref.finalize | None = None
        self.dockerd_path: Path | None = None
        self.docker_path: Path | None = None
        #: ``docker version``'s server version once started, e.g. ``20.10.24+dfsg1``.
        self.server_version: str | None = None

    # -- where things are

    @property
    def root(self) -> Path:
        if self._run is None:
            raise LabError("the Docker daemon is not started: call start() or use `with`")
        return self._run.root

    @property
    def data_root(self) -> Path:
        return self.root / "docker"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` value: ``unix://<root>/docker.sock``."""
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        return self.root / "dockerd.log"

    @property
    def pid(self) -> int | None:
        """PID of the running dockerd, ``None`` when stopped."""
        return self._run.proc.pid if self.running and self._run else None

    @property
    def running(self) -> bool:
        return self._run is not None and self._run.proc.poll() is None

    def __repr__(self) -> str:
        state = f"pid={self.pid} {self.host}" if self.running else "stopped"
        return f"<DockerDaemon {state}>"

    # -- lifecycle

    def __enter__(self) -> DockerDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> DockerDaemon:
        """Start dockerd and wait until the client gets an answer; no-op if running."""
        if self.running:
            return self
        self.stop()
        self.dockerd_path, self.docker_path = check_can_run(self._dockerd_arg,
                                                            self._docker_arg)
        base = tempfile.gettempdir()
        if len(base) > _MAX_TMP_LEN:
            base = "/tmp"  # a unix socket path must stay short
        root = Path(tempfile.mkdtemp(prefix="archlab-dockerd-", dir=base))
        (root / "daemon.json").write_text("{}\n")
        for sub in ("docker", "exec", "client"):
            (root / sub).mkdir(mode=0o700)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("DOCKER_") and k.lower() not in
               ("http_proxy", "https_proxy", "no_proxy", "all_proxy")}
        env["PATH"] = _SYSTEM_PATH
        log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - closed by _shutdown
        try:
            proc = subprocess.Popen(
                [str(self.dockerd_path), *daemon_flags(root)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                close_fds=True, cwd=root,
                start_new_session=True,  # a Ctrl-C reaches us, and we stop it in order
            )
        except OSError as exc:
            log.close()
            shutil.rmtree(root, ignore_errors=True)
            raise LabError(f"cannot run {self.dockerd_path}: {exc.strerror}") from exc
        run = _Run(proc, root, log, self.stop_timeout)
        self._run = run
        self._finalizer = weakref.finalize(self, _shutdown, run)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._run is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = self._run.proc.poll()
            if code is not None:
                raise LabError(f"dockerd exited with status {code} before answering; its log "
                               f"says:\n{self.log_tail()}")
            try:
                r = self.docker("version", "--format", "{{.Server.Version}}", timeout=5)
            except LabError:
                r = None
            if r is not None and r.returncode == 0 and r.stdout.strip():
                self.server_version = r.stdout.strip()
                return
            if time.monotonic() > deadline:
                raise LabError(f"dockerd did not answer on {self.host} within "
                               f"{self.start_timeout:g} s; its log says:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop dockerd and its containerd by PID, then remove the directory; idempotent."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._run = None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The end of dockerd's log (errors first, if there are any)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, LabError):
            return "(no log)"
        all_lines = text.splitlines()
        bad = [ln for ln in all_lines if "level=error" in ln or "level=fatal" in ln]
        return "\n".join(bad[-lines:] or all_lines[-lines:]) or "(log is empty)"

    # -- the client

    def client_env(self) -> dict[str, str]:
        """The environment ``docker`` runs with: ours, minus ``DOCKER_*``, plus our socket."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_HOST"] = self.host
        env["DOCKER_CONFIG"] = str(self.root / "client")
        return env

    def docker(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``/usr/bin/docker ARGS`` against this daemon; never raises on a non-zero exit."""
        if self._run is None or self.docker_path is None:
            raise LabError("the Docker daemon is not started: call start() or use `with`")
        argv = [str(self.docker_path), *args]
        try:
            return subprocess.run(argv, env=self.client_env(), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True,
                                  timeout=timeout or self.command_timeout)
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"`docker {' '.join(args)}` did not finish within "
                           f"{exc.timeout:g} s; dockerd's log says:\n{self.log_tail()}"
                           ) from None

    def _ok(self, *args: str) -> str:
        r = self.docker(*args)
        if r.returncode != 0:
            raise LabError(f"`docker {' '.join(args)}` failed ({r.returncode}): "
                           f"{r.stderr.strip() or r.stdout.strip()}")
        return r.stdout

    def containers(self) -> list[str]:
        """IDs of every container, running or not."""
        return self._ok("ps", "-aq", "--no-trunc").split()

    def images(self) -> list[str]:
        """IDs of every image, intermediate ones included."""
        return sorted(set(self._ok("images", "-aq", "--no-trunc").split()))

    def tags(self) -> list[str]:
        """Every ``repository:tag`` the daemon has (untagged images left out)."""
        out = self._ok("images", "--format", "{{.Repository}}:{{.Tag}}")
        return sorted({t for t in out.split() if "<none>" not in t})

    def image_platform(self, ref: str) -> str:
        """``os/arch[/variant]`` of a local image, from its config (as ``docker inspect``)."""
        fmt = "{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}"
        return self._ok("image", "inspect", "--format", fmt, ref).strip()

    def reset(self, store: LocalStore | None = None) -> None:
        """Remove every container and image; then, given a store, pull what it holds.

        A :class:`~archlab.simulate.LocalStore` is recreated tag by tag: the image is pulled
        by its root digest with the platform of the list entry (or of the image) and tagged.
        Images the store invented (no ``root_digest``: built, or made up) cannot be pulled.
        """
        ids = self.containers()
        if ids:
            self._ok("rm", "-f", *ids)
        ids = self.images()
        if ids:
            self._ok("rmi", "-f", *ids)
        left = self.containers() + self.images()
        if left:
            raise LabError(f"the daemon still holds {left} after a reset; its log says:\n"
                           f"{self.log_tail()}")
        if store is not None:
            self._materialize(store)

    def _materialize(self, store: LocalStore) -> None:
        for key, images in store.tags.items():
            ref = parse_reference(key)
            if ref.digest or not images:
                continue  # name@digest entries come with the pull by digest below
            img = images[0]
            if img.root_digest is None:
                raise LabError(f"{key} has no root digest in the store (a built or invented "
                               "image): only pulled images can be recreated in a real daemon")
            platform = img.entry_platform or img.platform
            by_digest = f"{ref.name}@{img.root_digest}"
            self._ok("pull", "--platform", str(platform), by_digest)
            self._ok("tag", by_digest, str(ref))

