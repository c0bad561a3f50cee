"""The lab registry instance: ``archlab lab up | status | down`` and ``with lab_registry()``.

What it is for
--------------
Every lab scenario (:mod:`archlab.lab.scenarios`) pushed to a real ``docker-registry`` on
127.0.0.1, so that ``archlab inspect``, skopeo, a real Docker daemon or a notebook can pull them.
Two ways to get one:

* **A long-lived registry** for a terminal session: ``archlab lab up`` starts it *detached* (its
  own session, output to a log file), pushes the scenarios and returns; it keeps serving until
  ``archlab lab down``. Its storage persists, so a second ``up`` uploads nothing.
* **A throwaway registry** for a notebook or a test::

      from archlab.lab.instance import lab_registry
      with lab_registry() as lab:                  # temporary storage, free port
          lab.url                                  # 'http://127.0.0.1:41234'
          lab.ref("mysql")                         # '127.0.0.1:41234/lab/mysql:5.7'
          lab.ref("busybox", oci=True)             # '127.0.0.1:41234/lab/busybox-oci:latest'
      with lab_registry(["mysql", "mariadb"], oci=False) as lab: ...   # a subset
      with lab_registry(reuse=True) as lab: ...    # the `lab up` registry if one is running

Where things live
-----------------
=====================  ==========================================================================
what                   where
=====================  ==========================================================================
state (JSON)           ``$ARCHLAB_STATE_DIR/lab.json``, else ``platformdirs.user_state_dir(
                       "archlab")/lab.json``: pid, port, storage, started-at, binary, config and
                       log paths, the instance id. Never credentials (the lab has none).
config and log         ``<state dir>/lab-registry/config.yml`` (0600: it holds the registry's
                       random ``http.secret``) and ``registry.log`` (rewritten at each start)
storage                ``--storage DIR``, else ``platformdirs.user_data_dir("archlab")/
                       lab-registry``; kept across ``down``/``up``
=====================  ==========================================================================

The rules
---------
===============================  =================================================================
situation                        what ``up`` does
===============================  =================================================================
no state file                    start a registry (chosen ``--port`` or a free one), push
state names a live registry      reuse it, push (every blob is found present: 0 uploaded); a
                                 different ``--port``/``--storage`` is an error (``down`` first)
state names a dead process, or   remove the stale state and start again on the same storage
a PID that is no longer ours     (and the same port when it is free)
===============================  =================================================================

"Ours" is checked before any signal is sent: ``/proc/<pid>/cmdline`` must be exactly
``<binary> serve <config>`` as recorded at start, and the process must not be a zombie. So a
recycled PID is never signalled. ``down`` sends SIGTERM (SIGKILL after a timeout), then removes
the state and the config. Concurrent ``up``/``down`` calls are serialised with a lock file.

===============================  =================================================================
situation                        what happens
===============================  =================================================================
``lab.json`` missing, damaged    ``down`` (and ``up``, before it starts another) finds the
or not ours                      registry by its command line instead: ``<binary> serve
                                 <state dir>/lab-registry/config.yml``, run by our user, not a
                                 zombie. That config path is private to this state dir, so
                                 nothing else matches; nothing is ever found or killed by name
``up`` fails after starting      the registry it started is stopped and its state removed (a
(unwritable storage, a push      registry it merely reused is left running); an unusable state
refused, Ctrl-C)                 or storage directory is one ``LabError`` line
``down`` returns                 only once the port refuses connections (bounded by the stop
                                 timeout): a Go registry's threads may hold the listener a
                                 moment after its main thread is a zombie, and a ``down``
                                 followed by ``up`` on the same port must not race it
===============================  =================================================================

Pushing
-------
Blobs go before the manifests that name them, children before their list (the registry refuses
anything else). Each blob is HEADed first; a missing blob that this run has already seen in
another lab repository is **mounted** from there (``POST ...?mount=<digest>&from=<repo>``)
instead of uploaded. :class:`PushSummary` counts the three outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import platformdirs
import yaml

from archlab import decoding, limits
from archlab.cache import file_lock
from archlab.errors import ArchlabError, LabError, NotFoundError
from archlab.lab import scenarios as sc
from archlab.lab.images import Blob
from archlab.lab.scenarios import Scenario
from archlab.lab.server import (
    _INTERNAL_QUERY,  # our probes carry it so access-log counts leave them out
    HOST,
    INSTANCE_HEADER,
    MISSING_BINARY_HINT,
    RegistryServer,
    address,
    base_url,
    build_config,
    find_free_port,
    find_registry_binary,
    port_is_free,
)
from archlab.reference import Reference, parse_reference
from archlab.registry import AsyncRegistryClient, RegistryClient

__all__ = [
    "STATE_DIR_ENV",
    "DownResult",
    "Lab",
    "LabState",
    "LabStatus",
    "PushSummary",
    "UpResult",
    "default_storage",
    "down",
    "lab_registry",
    "push_scenarios",
    "push_scenarios_async",
    "read_state",
    "running_state",
    "select_scenarios",
    "state_dir",
    "status",
    "stop_foreground",
    "up",
]

STATE_DIR_ENV = "ARCHLAB_STATE_DIR"
STATE_FILE = "lab.json"
RUN_DIR = "lab-registry"
START_TIMEOUT = limits.LAB_START_TIMEOUT
STOP_TIMEOUT = limits.LAB_STOP_TIMEOUT
_START_ATTEMPTS = 3  # a free port may be taken between choosing it and the registry's bind


# --- paths -------------------------------------------------------------------------------------


def state_dir() -> Path:
    """``$ARCHLAB_STATE_DIR``, else ``platformdirs.user_state_dir("archlab")``."""
    override = os.environ.get(STATE_DIR_ENV)
    return Path(override).expanduser() if override else Path(platformdirs.user_state_dir("archlab"))


def default_storage() -> Path:
    """Where ``lab up`` keeps the registry's data unless ``--storage`` says otherwise."""
    return Path(platformdirs.user_data_dir("archlab")) / "lab-registry"


# --- state -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabState:
    """What ``lab up`` records about the registry it started (``lab.json``)."""

    pid: int
    port: int
    storage: str
    started_at: str
    binary: str
    config: str
    log: str
    instance: str

    @property
    def host(self) -> str:
        return address(self.port)

    @property
    def url(self) -> str:
        return base_url(self.port)


def _state_path() -> Path:
    return state_dir() / STATE_FILE


def read_state() -> LabState | None:
    """The recorded state, or ``None`` when there is none (or it is unreadable: then stale)."""
    try:
        data = decoding.read_file(_state_path(), max_bytes=limits.MAX_INPUT_FILE_BYTES,
                                  what="lab state", missing_ok=True)
        if data is None:
            return None
        doc = decoding.load_json(data, what=str(_state_path()))
        state = LabState(**{k: doc[k] for k in LabState.__dataclass_fields__})
    except (ArchlabError, KeyError, TypeError):
        # Not a small regular file of valid JSON with our fields (truncated, a link to
        # /dev/zero, foreign): it describes no process we can trust. Treat it as absent.
        return None
    types_ok = (isinstance(state.pid, int) and not isinstance(state.pid, bool) and state.pid > 1
                and isinstance(state.port, int) and 0 < state.port < 65536
                and all(isinstance(getattr(state, k), str) for k in
                        ("storage", "started_at", "binary", "config", "log", "instance")))
    return state if types_ok else None


def _write_state(state: LabState) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    tmp.replace(path)  # atomic: a concurrent reader sees the old or the new file, never half


def _remove_state(state: LabState | None = None) -> None:
    """Remove the state file (only if it still describes ``state``, when given)."""
    if state is not None and read_state() != state:
        return
    with contextlib.suppress(FileNotFoundError):
        _state_path().unlink()
    if state is not None:
        with contextlib.suppress(FileNotFoundError):
            Path(state.config).unlink()


def _locked() -> contextlib.AbstractContextManager[None]:
    directory = state_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable("state directory", directory, exc) from None
    return file_lock(directory / "lab.lock")


def _unusable(what: str, path: Path, exc: OSError) -> LabError:
    fix = (f"set {STATE_DIR_ENV} to a writable directory" if what == "state directory"
           else "choose a writable directory with --storage")
    return LabError(f"cannot use {path} as the lab's {what}: {exc.strerror or exc}; {fix}")


def _config_path() -> Path:
    """Where ``up`` writes the registry's config: the mark by which our registry is found."""
    return state_dir() / RUN_DIR / "config.yml"


# --- processes ---------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (an exited child nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the command name, which is in parentheses and may hold spaces.
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _is_ours(state: LabState) -> bool:
    """Whether ``state.pid`` is still the registry we started (same argv), alive."""
    try:
        raw = Path(f"/proc/{state.pid}/cmdline").read_bytes()
    except OSError:
        return False
    argv = raw.rstrip(b"\0").split(b"\0")
    want = [os.fsencode(state.binary), b"serve", os.fsencode(state.config)]
    return argv == want and _alive(state.pid)


def _answers(state: LabState, timeout: float = 1.0) -> bool:
    """``GET /v2/`` answers, and from this very instance (its random header)."""
    try:
        with httpx.Client(verify=False, trust_env=False, timeout=timeout) as client:
            resp = client.get(f"{state.url}/v2/?{_INTERNAL_QUERY}=lab-status")
    except httpx.HTTPError:
        return False
    return resp.status_code == 200 and resp.headers.get(INSTANCE_HEADER) == state.instance


def _find_ours() -> list[LabState]:
    """Registries serving *this* state dir's config, found from ``/proc`` when ``lab.json``
    cannot say (missing, damaged). A match needs the exact argv ``<binary> serve <config>``
    with our config path, our user, and a live (not zombie) process. The port, storage and
    instance come from the config when it is readable (it is ours: 0600)."""
    config = _config_path()
    wanted = {os.fsencode(config), os.fsencode(os.path.abspath(config))}
    with contextlib.suppress(OSError):
        wanted.add(os.fsencode(config.resolve()))
    found = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            owner = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if len(argv) != 3 or argv[1] != b"serve" or argv[2] not in wanted:
            continue
        if owner != os.getuid() or not _alive(pid):
            continue
        port, storage, instance = _from_config(Path(os.fsdecode(argv[2])))
        found.append(LabState(pid=pid, port=port, storage=storage, started_at="",
                              binary=os.fsdecode(argv[0]), config=os.fsdecode(argv[2]),
                              log=str(config.parent / "registry.log"), instance=instance))
    return found


def _from_config(config: Path) -> tuple[int, str, str]:
    """(port, storage, instance) from our registry config; (0, "", "") if unreadable."""
    try:
        text = decoding.read_file(config, max_bytes=limits.MAX_INPUT_FILE_BYTES,
                                  what="lab registry config")
        doc = decoding.load_yaml(text, what=str(config))
        port = int(str(doc["http"]["addr"]).rpartition(":")[2])
        storage = str(doc["storage"]["filesystem"]["rootdirectory"])
        instance = str(doc["http"]["headers"][INSTANCE_HEADER][0])
    except (ArchlabError, KeyError, TypeError, ValueError, IndexError):
        return 0, "", ""
    return port, storage, instance


def _stop_found() -> list[LabState]:
    """Stop every registry :func:`_find_ours` finds; returns them."""
    found = _find_ours()
    for state in found:
        _terminate(state)
    return found


def running_state() -> LabState | None:
    """The state of a ``lab up`` registry that is running and answering, else ``None``."""
    state = read_state()
    if state is not None and _is_ours(state) and _answers(state):
        return state
    return None


def _registry_binary(binary: str | os.PathLike | None) -> Path:
    try:
        return find_registry_binary(binary).absolute()
    except LabError:
        where = f" at {binary}" if binary is not None else ""
        hint = MISSING_BINARY_HINT.replace("pass binary=...", "name it with --binary PATH")
        raise LabError(f"docker-registry not found{where}: {hint}") from None


def _log_tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(log is empty)"


def _spawn(binary: Path, config: Path, log: Path, env: dict[str, str], detach: bool) -> tuple[
    int, subprocess.Popen | None
]:
    """Start ``binary serve config`` with all output to ``log``; return its PID (and Popen)."""
    if detach:
        # sh starts the registry in the background and exits at once: the registry is
        # re-parented, so it outlives us and never becomes our zombie. New session: no SIGHUP
        # when the terminal closes, no Ctrl-C from it either.
        script = 'log=$1; shift; "$@" </dev/null >"$log" 2>&1 & echo $!'
        done = subprocess.run(
            ["/bin/sh", "-c", script, "archlab-lab", str(log), str(binary), "serve", str(config)],
            capture_output=True, env=env, start_new_session=True, timeout=10, check=False,
        )
        if done.returncode != 0 or not done.stdout.strip().isdigit():
            raise LabError(f"could not start {binary}: {done.stderr.decode(errors='replace')}")
        return int(done.stdout), None
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [str(binary), "serve", str(config)], stdin=subprocess.DEVNULL, stdout=fh,
            stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    return proc.pid, proc


class _PortTaken(Exception):
    pass


def _start(
    port: int | None, storage: Path, binary: Path, *, detach: bool, timeout: float = START_TIMEOUT
) -> tuple[LabState, subprocess.Popen | None]:
    run_dir = state_dir() / RUN_DIR
    try:
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise _unusable("state directory", run_dir, exc) from None
    try:
        storage.mkdir(parents=True, exist_ok=True)
        if not os.access(storage, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise _unusable("storage", storage, exc) from None
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    for _ in range(1 if port is not None else _START_ATTEMPTS):
        chosen = port if port is not None else find_free_port()
        if not port_is_free(chosen):
            if port is None:
                continue
            raise LabError(
                f"port {chosen} on {HOST} is already in use: choose another with --port, "
                "or leave it out to pick a free one"
            )
        instance = secrets.token_hex(8)
        config = run_dir / "config.yml"
        doc = build_config(port=chosen, data_dir=storage.resolve(),
                           secret=secrets.token_urlsafe(32), instance=instance)
        try:
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as fh:
                yaml.safe_dump(doc, fh, sort_keys=False)
        except OSError as exc:
            raise _unusable("state directory", run_dir, exc) from None
        log = run_dir / "registry.log"
        pid, proc = _spawn(binary, config, log, env, detach)
        state = LabState(
            pid=pid, port=chosen, storage=str(storage.resolve()),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            binary=str(binary), config=str(config), log=str(log), instance=instance,
        )
        try:
            _wait_ready(state, timeout)
        except _PortTaken:
            if port is not None:
                raise LabError(f"port {chosen} on {HOST} was taken by another process") from None
            continue
        except BaseException:
            _terminate(state)
            if proc is not None:
                proc.wait()
            raise
        return state, proc
    raise LabError(f"could not find a free port on {HOST} in {_START_ATTEMPTS} tries")


def _wait_ready(state: LabState, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not _alive(state.pid):
            tail = _log_tail(Path(state.log))
            if "address already in use" in tail:
                raise _PortTaken()
            raise LabError(f"docker-registry exited before answering on {state.host}; "
                           f"its log ({state.log}) says:\n{tail}")
        if _answers(state, timeout=0.5):
            return
        if time.monotonic() > deadline:
            raise LabError(f"docker-registry did not answer on {state.host} within {timeout:g} s; "
                           f"its log ({state.log}) says:\n{_log_tail(Path(state.log))}")
        time.sleep(0.005)


def _terminate(state: LabState, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM (then SIGKILL) ``state.pid``, re-checking it is ours before each signal, then
    wait (bounded by ``timeout``) until its port refuses connections."""
    deadline = time.monotonic() + 2 * timeout
    signalled = False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _is_ours(state):
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, sig)
            signalled = True
        until = time.monotonic() + timeout
        while _alive(state.pid) and time.monotonic() < until:
            time.sleep(0.01)
        if not _alive(state.pid):
            break
    # A zombie leader is not the end: Go's other threads may still hold the listening socket
    # for a moment (test_up_status_down saw the port answer after `down` ~4 times in 30
    # under load). The registry is not our child, so we cannot reap it; wait for the port.
    while signalled and state.port and _port_open(state.port) and time.monotonic() < deadline:
        if _alive(state.pid):
            break  # still running (SIGKILL refused?): the caller reports it
        time.sleep(0.01)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


# --- pushing -----------------------------------------------------------------------------------


@dataclass
class PushSummary:
    """What pushing the scenarios did, blob by blob (one count per repository and blob)."""

    uploaded: int = 0
    present: int = 0
    mounted: int = 0
    manifests: int = 0
    uploaded_bytes: int = 0
    references: int = 0
    #: references whose tag already named the right digest (their manifests were not re-sent)
    manifests_present: int = 0
    seconds: float = 0.0

    @property
    def blobs(self) -> int:
        return self.uploaded + self.present + self.mounted

    def line(self) -> str:
        """``57 blobs uploaded, 0 already present, 40 mounted from another lab repository``."""
        return (f"{self.uploaded} blobs uploaded, {self.present} already present, "
                f"{self.mounted} mounted from another lab repository")


@dataclass(frozen=True)
class _BlobJob:
    ref: Reference
    blob: Blob
    mount_from: str | None  # None: this repository is the blob's first home in the plan


def _plan(host: str, scenarios: Iterable[Scenario]) -> tuple[list[_BlobJob], list[_BlobJob]]:
    """Each distinct (repository, blob) once: first homes, then the rest (mountable)."""
    homes: dict[str, str] = {}
    first: list[_BlobJob] = []
    rest: list[_BlobJob] = []
    seen: set[tuple[str, str]] = set()
    for scenario in scenarios:
        ref = parse_reference(scenario.ref(host))
        for image in scenario.children():
            for blob in image.blobs():
                if (ref.repository, blob.digest) in seen:  # lab/mislabelled: one layer twice
                    continue
                seen.add((ref.repository, blob.digest))
                home = homes.setdefault(blob.digest, ref.repository)
                if home == ref.repository:
                    first.append(_BlobJob(ref, blob, None))
                else:
                    rest.append(_BlobJob(ref, blob, home))
    return first, rest


async def _push_blob(client: AsyncRegistryClient, job: _BlobJob, s: PushSummary) -> None:
    if job.mount_from is None:
        # push_blob HEADs first and answers False when the registry already has the blob.
        if await client.push_blob(job.ref, job.blob.data):
            s.uploaded += 1
            s.uploaded_bytes += job.blob.size
        else:
            s.present += 1
        return
    # Here False would also mean "mounted", so look first.
    if await client.blob_exists(job.ref, job.blob.digest):
        s.present += 1
    elif await client.push_blob(job.ref, job.blob.data, mount_from=job.mount_from):
        s.uploaded += 1  # the registry refused the mount and took an upload instead
        s.uploaded_bytes += job.blob.size
    else:
        s.mounted += 1


async def _tag_is(client: AsyncRegistryClient, ref: Reference, digest: str) -> bool:
    try:
        return (await client.resolve(ref)).digest == digest
    except NotFoundError:
        return False


async def push_scenarios_async(
    client: AsyncRegistryClient, host: str, scenarios: Iterable[Scenario]
) -> PushSummary:
    """Push ``scenarios`` to the registry at ``host``; see :class:`PushSummary`.

    Four waves, each one concurrent (the client caps requests per host): blobs in their first
    repository, blobs elsewhere (mounted from there), image manifests, then the lists. Every
    wave needs the one before it, so the outcome is the same whatever the timing.
    """
    chosen = tuple(scenarios)
    summary = PushSummary()
    start = time.perf_counter()
    first, rest = _plan(host, chosen)
    for wave in (first, rest):
        await _all(_push_blob(client, job, summary) for job in wave)
    refs = [parse_reference(scenario.ref(host)) for scenario in chosen]
    # A tag that already names the scenario's digest needs no manifest PUT: the registry
    # accepted that document only once every child and blob under it was there.
    done = await _all(
        (_tag_is(client, r, s.digest) for r, s in zip(refs, chosen, strict=True))
    )
    images, lists = [], []
    for scenario, ref, complete in zip(chosen, refs, done, strict=True):
        if complete:
            summary.manifests_present += 1
            continue
        for image in scenario.children():
            # Only a single-manifest scenario's own document goes under the tag: list
            # entries and the untagged images artifacts refer to are pushed by digest.
            by_tag = image is scenario.built
            target = ref if by_tag else ref.with_digest(image.manifest.digest)
            images.append((target, image.manifest))
        if scenario.is_list:
            lists.append((ref, scenario.manifest))
    for wave in (images, lists):
        await _all(client.push_manifest(r, m.data, m.media_type) for r, m in wave)
        summary.manifests += len(wave)
    summary.references = len(chosen)
    summary.seconds = time.perf_counter() - start
    return summary


async def _all(coros: Iterable[Any]) -> list[Any]:
    """Every coroutine run to its end, then the first failure raised: a failed push must not
    leave the others running against a client that is being closed ("Task exception was
    never retrieved", and a registry that ``up`` is about to stop)."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _lab_client() -> RegistryClient:
    # The lab holds no secrets and must not touch the user's Docker credentials or cache.
    return RegistryClient(use_docker_config=False, cache=False, tag_index=False)


def push_scenarios(host: str, scenarios: Iterable[Scenario]) -> PushSummary:
    """Blocking :func:`push_scenarios_async` with a client of its own."""
    chosen = tuple(scenarios)
    with _lab_client() as client:
        return client.run(lambda aio: push_scenarios_async(aio, host, chosen))


def select_scenarios(
    names: Iterable[str | Scenario] | None = None, *, oci: bool | None = None
) -> tuple[Scenario, ...]:
    """Scenarios by name, in :func:`~archlab.lab.scenarios.build_all` order (Docker twins first).

    ``oci=None`` takes both twins of each name, ``False``/``True`` one of them; a name ending in
    ``-oci`` always means the OCI twin.
    """
    everything = sc.build_all(oci)
    if names is None:
        return everything
    wanted: set[tuple[str, bool]] = set()
    for item in names:
        if isinstance(item, Scenario):
            wanted.add((item.name, item.oci))
            continue
        one = sc.get(item, oci=bool(oci))  # validates the name
        if item.removeprefix("lab/").endswith(sc.OCI_SUFFIX) or oci is not None:
            wanted.add((one.name, one.oci))
        else:
            wanted.update({(one.name, False), (one.name, True)})
    return tuple(s for s in sc.build_all(None) if (s.name, s.oci) in wanted)


# --- up / status / down ------------------------------------------------------------------------


@dataclass(frozen=True)
class UpResult:
    """What ``lab up`` did: the registry (new or reused) and the push."""

    state: LabState
    started: bool
    summary: PushSummary
    scenarios: tuple[Scenario, ...]
    process: subprocess.Popen | None = field(default=None, compare=False)


def up(
    *,
    port: int | None = None,
    storage: str | os.PathLike | None = None,
    binary: str | os.PathLike | None = None,
    foreground: bool = False,
    scenarios: Iterable[str | Scenario] | None = None,
) -> UpResult:
    """Make sure the lab registry runs (see the rules table), then push every scenario.

    With ``foreground=True`` the registry is our child (``UpResult.process``); the caller waits
    on it and calls :func:`stop_foreground`. A registry already running is reused either way.
    """
    chosen = select_scenarios(scenarios)
    with _locked():
        state = read_state()
        if state is not None and _is_ours(state):
            if not _answers(state):
                raise LabError(
                    f"the lab registry (pid {state.pid}) does not answer on {state.url}: "
                    "run `archlab lab down`, then `archlab lab up`"
                )
            _check_same(state, port, storage)
            if foreground:
                raise LabError(
                    f"the lab registry already runs detached on {state.url} (pid {state.pid}): "
                    "run `archlab lab down` first to serve it in the foreground"
                )
            started, proc = False, None
        else:
            if state is not None:
                _remove_state()  # stale: its process is gone or the PID belongs to another
            else:
                _stop_found()  # lab.json lost or damaged: never leave its registry running
            reg_binary = _registry_binary(binary)
            where = Path(storage).expanduser() if storage is not None else (
                Path(state.storage) if state is not None else default_storage())
            want = port
            if want is None and state is not None and port_is_free(state.port):
                want = state.port  # keep the references printed last time valid
            state, proc = _start(want, where, reg_binary, detach=not foreground)
            try:
                _write_state(state)
            except BaseException as exc:
                _stop_started(state, proc)
                if isinstance(exc, OSError):
                    raise _unusable("state directory", state_dir(), exc) from None
                raise
            started = True
    try:
        summary = push_scenarios(state.host, chosen)
    except BaseException:
        if started:  # a registry this call started never outlives its failure
            _stop_started(state, proc)
            with _locked():
                _remove_state(state)
        raise
    return UpResult(state, started, summary, chosen, proc)


def _stop_started(state: LabState, proc: subprocess.Popen | None) -> None:
    _terminate(state)
    if proc is not None:
        proc.wait()


def _check_same(state: LabState, port: int | None, storage: str | os.PathLike | None) -> None:
    if port is not None and port != state.port:
        raise LabError(
            f"the lab registry already runs on port {state.port} (pid {state.pid}): run "
            f"`archlab lab down` first to move it to port {port}"
        )
    if storage is not None and Path(storage).expanduser().resolve() != Path(state.storage):
        raise LabError(
            f"the lab registry already runs with storage {state.storage} (pid {state.pid}): "
            f"run `archlab lab down` first to switch to {storage}"
        )


def stop_foreground(state: LabState, proc: subprocess.Popen) -> None:
    """Stop a registry started by ``up(foreground=True)`` and forget its state."""
    _terminate(state)
    proc.wait()
    with _locked():
        _remove_state(state)


@dataclass(frozen=True)
class LabStatus:
    """Is the lab registry running, and which scenarios does it hold?"""

    state: LabState | None
    running: bool
    answering: bool
    #: (scenario, "present" | "missing" | "different") for each scenario, when answering.
    scenarios: tuple[tuple[Scenario, str], ...] = ()

    @property
    def present(self) -> int:
        return sum(1 for _, s in self.scenarios if s == "present")


async def _presence(client: AsyncRegistryClient, host: str,
                    scenarios: tuple[Scenario, ...]) -> tuple[tuple[Scenario, str], ...]:
    out = []
    for s in scenarios:
        try:
            got = await client.resolve(s.ref(host))
        except NotFoundError:
            out.append((s, "missing"))
            continue
        out.append((s, "present" if got.digest == s.digest else "different"))
    return tuple(out)


def status() -> LabStatus:
    """The recorded registry's health, and each scenario's presence (HEAD per tag)."""
    state = read_state()
    if state is None or not _is_ours(state):
        return LabStatus(state, running=False, answering=False)
    if not _answers(state):
        return LabStatus(state, running=True, answering=False)
    everything = sc.build_all()
    with _lab_client() as client:
        found = client.run(lambda aio: _presence(aio, state.host, everything))
    return LabStatus(state, running=True, answering=True, scenarios=found)


@dataclass(frozen=True)
class DownResult:
    """``"stopped"``, ``"not-running"`` or ``"stale"`` (state removed, nothing signalled)."""

    outcome: str
    state: LabState | None
    #: True when lab.json was missing or damaged and the registry was found by its config path.
    found_without_state: bool = False


def down(timeout: float = STOP_TIMEOUT) -> DownResult:
    """Stop the ``lab up`` registry by its recorded PID, after checking it is ours."""
    with _locked():
        state = read_state()
        if state is None or not _is_ours(state):
            # lab.json missing, damaged or stale: our registry may still run; find it by its
            # config path (see the module docstring), never by name.
            found = _stop_found()
            damaged = state is None and _state_path().exists()
            if state is not None or damaged:
                with contextlib.suppress(OSError):
                    _state_path().unlink()
                with contextlib.suppress(OSError):
                    if state is not None:
                        Path(state.config).unlink()
            if found:
                still = [s for s in found if _alive(s.pid)]
                if still:
                    raise LabError(f"the lab registry (pid {still[0].pid}) did not stop "
                                   "after SIGKILL")
                return DownResult("stopped", found[0], found_without_state=True)
            if state is None:
                return DownResult("stale" if damaged else "not-running", None)
            return DownResult("stale", state)
        _terminate(state, timeout)
        if _alive(state.pid):
            raise LabError(f"the lab registry (pid {state.pid}) did not stop after SIGKILL")
        _remove_state(state)
        return DownResult("stopped", state)


# --- the context manager -----------------------------------------------------------------------


@dataclass(frozen=True)
class Lab:
    """A lab registry with scenarios pushed: where it is and how to name its images."""

    url: str
    host: str
    scenarios: tuple[Scenario, ...]
    summary: PushSummary
    #: The temporary registry we started, or ``None`` when reusing a ``lab up`` instance.
    server: RegistryServer | None = None
    state: LabState | None = None

    def scenario(self, name: str, *, oci: bool = False) -> Scenario:
        wanted = sc.get(name, oci=oci)
        if wanted not in self.scenarios:
            raise LabError(
                f"{wanted.reference} was not pushed to this lab: add {wanted.name!r} to "
                "lab_registry(...)'s scenarios"
            )
        return wanted

    def ref(self, name: str, *, oci: bool = False) -> str:
        """``lab.ref("mysql")`` -> ``'127.0.0.1:PORT/lab/mysql:5.7'``."""
        return self.scenario(name, oci=oci).ref(self.host)

    def reference(self, name: str, *, oci: bool = False) -> Reference:
        return parse_reference(self.ref(name, oci=oci))

    def client(self) -> RegistryClient:
        """A client fit for the lab: no Docker credentials, no on-disk cache. Close it."""
        return _lab_client()


@contextlib.contextmanager
def lab_registry(
    scenarios: Iterable[str | Scenario] | None = None,
    *,
    oci: bool | None = None,
    reuse: bool = False,
    binary: str | os.PathLike | None = None,
) -> Iterator[Lab]:
    """A registry on 127.0.0.1 holding the lab scenarios for the duration of the block.

    A temporary registry (free port, temporary storage) is started and stopped on exit. With
    ``reuse=True`` a running ``archlab lab up`` registry is used instead when there is one (it
    is left running; the chosen scenarios are pushed to it, which costs HEADs only).
    """
    chosen = select_scenarios(scenarios, oci=oci)
    if reuse:
        state = running_state()
        if state is not None:
            summary = push_scenarios(state.host, chosen)
            yield Lab(state.url, state.host, chosen, summary, state=state)
            return
    server = RegistryServer(binary=_registry_binary(binary))
    with server:
        summary = push_scenarios(server.host, chosen)
        yield Lab(server.url, server.host, chosen, summary, server=server)
