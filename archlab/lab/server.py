"""Start a real container registry on 127.0.0.1: Debian's ``docker-registry`` (distribution 2.8).

What it is
----------
The CNCF *distribution* project (``github.com/distribution/distribution``, formerly
``docker/distribution``) is the reference implementation of the registry HTTP API v2, the
protocol Docker speaks to Docker Hub and that the OCI distribution spec grew out of. It is the
program inside the ``registry:2`` image. Debian packages it as ``docker-registry`` (binary
``/usr/bin/docker-registry``, version 2.8.2). It is the same code the story points at: the
``manifestlist`` and ``schema2`` packages that decide what a manifest list is live in this
binary, so what archlab shows against it is what that code does, not an imitation.

How do I use this module?
-------------------------
::

    from archlab.lab.server import RegistryServer, HtpasswdAuth

    with RegistryServer() as reg:                       # free port, temp storage
        httpx.get(f"{reg.url}/v2/")                     # 200, body {}

    with RegistryServer(auth=HtpasswdAuth({"student": "s3cret"})) as reg:
        mark = reg.log_mark()
        ...                                             # talk to reg.url
        reg.requests_since(mark)                        # [("GET", "/v2/", 401), ...]

    RegistryServer(port=5000, storage=Path("~/lab").expanduser()).start()   # kept data

``start()`` returns once ``GET /v2/`` answers (about 30 ms) and raises
:class:`~archlab.errors.LabError` with the tail of the registry's log if it does not.
``stop()`` sends SIGTERM to the process it started (SIGKILL if that is ignored) and is safe to
call twice; a finalizer does the same at interpreter exit, so a crashed session leaves no registry
behind. Nothing here ever signals a process by name.

The configuration written
-------------------------
Each start writes ``config.yml`` into a fresh private temporary directory (mode 0700) and runs
``docker-registry serve <that file>`` with every ``REGISTRY_*`` variable removed from the
environment (distribution lets those override any key of the file).

=================================  ===========================================================
key                                value and why
=================================  ===========================================================
``version``                        ``0.1``, the only configuration version 2.8 knows
``log.level``                      ``warn``: errors and auth refusals, not every request twice
``log.accesslog.disabled``         ``false``: one Apache combined-format line per request; this
                                   is what :meth:`RegistryServer.requests_since` reads
``storage.filesystem``             ``rootdirectory`` = ``storage`` or a temporary directory
``storage.delete.enabled``         ``true``, so ``DELETE /v2/<name>/manifests/<digest>`` works
``http.addr``                      ``127.0.0.1:<port>``; never any other interface
``http.secret``                    random per start (silences "No HTTP secret provided")
``http.headers``                   ``X-Content-Type-Options: nosniff`` and ``X-Archlab-Instance``,
                                   a random id that proves the answer came from *this* process
``auth``                           absent, ``htpasswd`` or ``token`` (table below)
=================================  ===========================================================

The registry writes both its log and its access log to standard output; both go to
``log_path`` (``registry.log`` next to the configuration), never to our own stdout.

Auth variants
-------------

======================  ====================================  ==================================
``auth=``               unauthenticated ``GET /v2/``          how a client gets in
======================  ====================================  ==================================
``None``                ``200``, body ``{}``                  it is already in
``HtpasswdAuth(users)`` ``401``, ``Www-Authenticate: Basic    HTTP Basic with a listed user;
                        realm="archlab"``                     bcrypt hashes (``$2b$``, cost 5)
                                                              are written to a 0600 file
``TokenAuth(...)``      ``401``, ``Www-Authenticate: Bearer   fetch a JWT from ``realm`` for the
                        realm="<url>",service="<service>"``   ``scope`` the challenge names, send
                                                              ``Authorization: Bearer <jwt>``
======================  ====================================  ==================================

For a repository endpoint the Bearer challenge also carries
``scope="repository:<name>:pull"`` (or ``pull,push``). A token whose ``access`` claim lacks the
action needed gets 401 ``UNAUTHORIZED`` again; the token must be RS256-signed by a key whose
certificate is in ``cert_pem_path`` (the registry's ``rootcertbundle``), with ``iss`` equal to
``issuer`` and ``aud`` equal to ``service``. A token that lacks an action is answered with the
same challenge plus ``error="insufficient_scope"``; ``exp`` and ``nbf`` are checked with 60 s of
leeway (a token 59 s past ``exp`` still works, 61 s does not). Plain HTTP is fine for both on
2.8.2.

What clients meet (measured against 2.8.2)
------------------------------------------
A registry answers a manifest GET according to ``Accept``; this is where "which manifest did I
get?" surprises come from.

=========================  ==========================  ===========================================
stored                     ``Accept`` sent             answer
=========================  ==========================  ===========================================
Docker manifest list       list (with the others)      the list as stored; digest = sha256(body)
Docker manifest list       only schema2 manifest       the **linux/amd64 child**, substituted
Docker list or schema2     none, or only OCI types     converted to signed **schema1** (amd64);
                                                       digest header != sha256(body)
OCI index / manifest       none, or only Docker types  404 ``MANIFEST_UNKNOWN`` "OCI index found,
                                                       but accept header does not support OCI
                                                       indexes" (or "... OCI manifests")
=========================  ==========================  ===========================================

Also: children of a list must be pushed first, in the same repository (else 400
``MANIFEST_BLOB_UNKNOWN``); a manifest PUT needs ``Content-Type`` (else 400
``MANIFEST_INVALID``); manifests are deleted by digest only; there is no referrers API (404);
``POST .../blobs/uploads/?digest=`` still opens a normal upload session (202 + ``Location``).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, NamedTuple, TypeAlias

import httpx
import yaml

from archlab.errors import LabError

__all__ = [
    "DEBIAN_BINARY",
    "MISSING_BINARY_HINT",
    "HtpasswdAuth",
    "LoggedRequest",
    "RegistryAuth",
    "RegistryServer",
    "TokenAuth",
    "address",
    "base_url",
    "build_config",
    "find_free_port",
    "find_registry_binary",
    "parse_access_log",
]

HOST = "127.0.0.1"
DEBIAN_BINARY = Path("/usr/bin/docker-registry")
MISSING_BINARY_HINT = (
    'install Debian\'s package with "apt-get install docker-registry" (distribution 2.8), '
    "or pass binary=..."
)
INSTANCE_HEADER = "X-Archlab-Instance"

# Our own probes (readiness, log barriers) carry this query so they never show up in counts.
_INTERNAL_QUERY = "archlab-internal"
_AUTO_PORT_ATTEMPTS = 3
_LOG_TAIL_LINES = 15
_ACCESS_LINE = re.compile(
    r'^\S+ \S+ .*? \[[^\]]+\] "(?P<method>[A-Z]+) (?P<uri>\S+) [^"]*" (?P<status>\d{3}) '
)


# --- auth variants -------------------------------------------------------------------------


@dataclass(frozen=True)
class HtpasswdAuth:
    """HTTP Basic auth from plain ``users`` (name → password), hashed with bcrypt at start."""

    users: Mapping[str, str] = field(repr=False)
    realm: str = "archlab"

    def __post_init__(self) -> None:
        for name in self.users:
            if not name or ":" in name or any(c in name for c in "\r\n"):
                raise LabError(
                    f"htpasswd user name {name!r} is not usable: it must be non-empty and "
                    "contain no ':' or line break"
                )
        # A read-only copy: the hashes written at start must match what the object shows.
        object.__setattr__(self, "users", MappingProxyType(dict(self.users)))

    def write_config(self, conf_dir: Path) -> dict:
        """Write ``htpasswd`` (0600) into ``conf_dir``; return the ``auth`` section."""
        try:
            import bcrypt
        except ImportError as exc:  # pragma: no cover - bcrypt ships with archlab's dev extra
            raise LabError(
                "HtpasswdAuth needs the bcrypt package: pip install bcrypt"
            ) from exc
        # Cost 5 is the htpasswd -B default; the lab protects nothing, so speed wins.
        lines = [
            f"{name}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
            for name, pw in self.users.items()
        ]
        path = conf_dir / "htpasswd"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.writelines(lines)
        return {"htpasswd": {"realm": self.realm, "path": str(path)}}


@dataclass(frozen=True)
class TokenAuth:
    """Bearer tokens from an external issuer, as in distribution's token spec."""

    realm_url: str
    service: str
    issuer: str
    cert_pem_path: Path

    def write_config(self, conf_dir: Path) -> dict:
        """Return the ``auth`` section; the certificate must already exist."""
        cert = Path(self.cert_pem_path)
        if not cert.is_file():
            raise LabError(
                f"token auth certificate {cert} does not exist: pass the PEM certificate "
                "whose key signs the issuer's tokens as cert_pem_path"
            )
        return {
            "token": {
                "realm": self.realm_url,
                "service": self.service,
                "issuer": self.issuer,
                "rootcertbundle": str(cert.resolve()),
            }
        }


RegistryAuth: TypeAlias = HtpasswdAuth | TokenAuth | None


# --- pure helpers ----------------------------------------------------------------------------


class LoggedRequest(NamedTuple):
    """One line of the registry's access log: method, path (query dropped) and status."""

    method: str
    path: str
    status: int


def parse_access_log(text: str) -> list[LoggedRequest]:
    """The requests in ``text``, skipping non-access lines and archlab's own probes."""
    out = []
    for line in text.splitlines():
        m = _ACCESS_LINE.match(line)
        if m is None:
            continue
        path, _, query = m["uri"].partition("?")
        if query.startswith(_INTERNAL_QUERY):
            continue
        out.append(LoggedRequest(m["method"], path, int(m["status"])))
    return out


def build_config(
    *, port: int, data_dir: Path, secret: str, instance: str, auth: dict | None = None
) -> dict:
    """The registry configuration as a dict (see the module docstring for each key)."""
    config: dict = {
        "version": "0.1",
        "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(data_dir)},
            "delete": {"enabled": True},
        },
        "http": {
            "addr": f"{HOST}:{port}",
            "secret": secret,
            "headers": {"X-Content-Type-Options": ["nosniff"], INSTANCE_HEADER: [instance]},
        },
    }
    if auth:
        config["auth"] = auth
    return config


def address(port: int) -> str:
    """``127.0.0.1:PORT``: how a lab registry on ``port`` is named in an image reference."""
    return f"{HOST}:{port}"


def base_url(port: int) -> str:
    """The lab registry's base URL: plain HTTP, which only loopback gets by default."""
    return f"http://{address(port)}"


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    # SO_REUSEADDR as Go's listener uses it: only a live listener makes the port "in use",
    # not TIME_WAIT leftovers of an earlier run.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def find_registry_binary(binary: str | os.PathLike | None = None) -> Path:
    """The registry executable: ``binary``, else ``docker-registry`` on PATH, else Debian's."""
    if binary is not None:
        path = Path(binary)
        if os.sep not in str(binary):  # a bare name is looked up on PATH, as a shell would
            path = Path(shutil.which(path) or path)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise LabError(f"docker-registry not found at {path}: {MISSING_BINARY_HINT}")
    found = shutil.which("docker-registry")
    if found:
        return Path(found)
    if DEBIAN_BINARY.is_file() and os.access(DEBIAN_BINARY, os.X_OK):
        return DEBIAN_BINARY
    raise LabError(f"docker-registry not found: {MISSING_BINARY_HINT}")


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The lines of the log worth showing: a Go panic or fatal line if any, else the last ones."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    all_lines = text.splitlines()
    # A panic is followed by a goroutine dump that would push the one useful line out of view.
    fatal = [ln for ln in all_lines if ln.startswith("panic:") or "level=fatal" in ln]
    return "\n".join(fatal[-lines:] or all_lines[-lines:]) or "(log is empty)"


# --- the running process ---------------------------------------------------------------------


@dataclass
class _Run:
    """Everything one start owns; kept apart from RegistryServer so the finalizer can hold it."""

    proc: subprocess.Popen
    log_file: IO[bytes]
    client: httpx.Client
    conf_dir: tempfile.TemporaryDirectory
    data_tmp: tempfile.TemporaryDirectory | None
    stop_timeout: float


def _shutdown(run: _Run) -> None:
    proc = run.proc
    # Our own child, not yet reaped: its PID cannot have been reused, so signalling it is safe.
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(run.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    run.client.close()
    run.log_file.close()
    run.conf_dir.cleanup()
    if run.data_tmp is not None:
        run.data_tmp.cleanup()


class RegistryServer:
    """One ``docker-registry serve`` process on 127.0.0.1, started and stopped by us.

    ``port=None`` picks a free port at each start; ``storage=None`` uses a temporary directory
    removed at stop, a given ``storage`` path is created if needed and kept.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        storage: Path | str | None = None,
        auth: RegistryAuth = None,
        binary: str | os.PathLike | None = None,
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self._want_port = port
        self._storage = Path(storage).expanduser() if storage is not None else None
        self.auth = auth
        self._binary = binary
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._port: int | None = port
        self._data_dir: Path | None = self._storage
        self._log_path: Path | None = None
        self._run: _Run | None = None
        self._finalizer: weakref.finalize | None = None
        self._syncs = 0

    # -- properties

    @property
    def port(self) -> int:
        if self._port is None:
            raise LabError("the registry has no port yet: call start() first")
        return self._port

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the registry part of an image reference."""
        return address(self.port)

    @property
    def url(self) -> str:
        return base_url(self.port)

    @property
    def pid(self) -> int | None:
        """PID of the running registry, ``None`` when stopped."""
        return self._run.proc.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._run is not None and self._run.proc.poll() is None

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise LabError("the registry has no storage yet: call start() first")
        return self._data_dir

    @property
    def log_path(self) -> Path:
        if self._log_path is None:
            raise LabError("the registry has no log yet: call start() first")
        return self._log_path

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        where = self.url if self._port is not None else "port=auto"
        auth = "none" if self.auth is None else type(self.auth).__name__
        return f"<RegistryServer {where} auth={auth} {state}>"

    # -- lifecycle

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> RegistryServer:
        """Start the registry and wait until it answers; no-op if it is already running."""
        if self.running:
            return self
        self.stop()  # a registry that died on its own still holds temp dirs
        binary = find_registry_binary(self._binary)
        if self._want_port is not None:
            if not port_is_free(self._want_port):
                raise LabError(self._port_in_use(self._want_port))
            self._start_once(binary, self._want_port)
            return self
        for attempt in range(_AUTO_PORT_ATTEMPTS):
            try:
                self._start_once(binary, find_free_port())
                return self
            except _PortRaced:
                # Someone took the port between find_free_port() and the registry's bind.
                if attempt == _AUTO_PORT_ATTEMPTS - 1:
                    raise LabError(
                        f"could not find a free port on {HOST} in {_AUTO_PORT_ATTEMPTS} tries"
                    ) from None
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the registry (SIGTERM, then SIGKILL after ``stop_timeout``); idempotent."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._run = None
        if self._want_port is None:
            self._port = None
        if self._storage is None:
            self._data_dir = None
        self._log_path = None

    @staticmethod
    def _port_in_use(port: int) -> str:
        return (
            f"port {port} on {HOST} is already in use by another process: stop it, "
            "or pass port=None to pick a free port"
        )

    def _start_once(self, binary: Path, port: int) -> None:
        conf_tmp = tempfile.TemporaryDirectory(prefix="archlab-registry-")
        conf_dir = Path(conf_tmp.name)
        data_tmp = None
        if self._storage is None:
            data_tmp = tempfile.TemporaryDirectory(prefix="archlab-registry-data-")
            data_dir = Path(data_tmp.name)
        else:
            data_dir = self._storage
            try:
                data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                conf_tmp.cleanup()
                raise LabError(f"cannot use {data_dir} as the registry's storage: "
                               f"{exc.strerror or exc}; choose a writable directory") from None
        instance = secrets.token_hex(8)
        try:
            auth = self.auth.write_config(conf_dir) if self.auth is not None else None
            config = build_config(
                port=port,
                data_dir=data_dir,
                secret=secrets.token_urlsafe(32),
                instance=instance,
                auth=auth,
            )
            config_path = conf_dir / "config.yml"
            fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                yaml.safe_dump(config, fh, sort_keys=False)
        except BaseException:
            conf_tmp.cleanup()
            if data_tmp is not None:
                data_tmp.cleanup()
            raise
        log_path = conf_dir / "registry.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 - closed by _shutdown
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        try:
            proc = subprocess.Popen(
                [str(binary), "serve", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                close_fds=True,
            )
        except OSError as exc:
            log_file.close()
            conf_tmp.cleanup()
            if data_tmp is not None:
                data_tmp.cleanup()
            raise LabError(f"cannot run {binary}: {exc.strerror}") from exc
        # verify=False: only plain http to loopback, and it skips loading the CA bundle.
        client = httpx.Client(verify=False, trust_env=False, timeout=2.0)
        run = _Run(proc, log_file, client, conf_tmp, data_tmp, self.stop_timeout)
        self._run = run
        self._finalizer = weakref.finalize(self, _shutdown, run)
        self._port, self._data_dir, self._log_path = port, data_dir, log_path
        try:
            self._wait_ready(run, port, instance, log_path)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, run: _Run, port: int, instance: str, log_path: Path) -> None:
        url = f"http://{HOST}:{port}/v2/?{_INTERNAL_QUERY}=ready"
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = run.proc.poll()
            if code is not None:
                log = _tail(log_path)
                if "address already in use" in log:
                    if self._want_port is None:
                        raise _PortRaced()
                    raise LabError(self._port_in_use(port))
                raise LabError(
                    f"docker-registry exited with status {code} before answering on "
                    f"{HOST}:{port}; its log says:\n{log}"
                )
            try:
                # A short timeout: a port held by a silent listener must not stall the loop.
                resp = run.client.get(url, timeout=0.5)
            except httpx.TransportError:
                pass
            else:
                # The instance header rules out another server answering on a raced port.
                if resp.status_code in (200, 401) and resp.headers.get(INSTANCE_HEADER) == instance:
                    return
            if time.monotonic() > deadline:
                raise LabError(
                    f"docker-registry did not answer GET /v2/ on {HOST}:{port} within "
                    f"{self.start_timeout:g} s; its log says:\n{_tail(log_path)}"
                )
            time.sleep(0.005)

    # -- access log

    def log_mark(self) -> int:
        """A position in the access log; pass it to :meth:`requests_since`."""
        return self._barrier()

    def requests_since(self, mark: int) -> list[LoggedRequest]:
        """Every request the registry logged after ``mark``, in order, without our own probes.

        Both calls place a barrier (one tagged ``GET /v2/``, then wait for its log line),
        because the registry may write a request's line just after the client has read the
        body of a large blob. Requests finished between the two calls are counted exactly.
        """
        end = self._barrier()
        with open(self.log_path, "rb") as fh:
            fh.seek(mark)
            text = fh.read(max(0, end - mark)).decode(errors="replace")
        return parse_access_log(text)

    def _barrier(self) -> int:
        """Send a tagged probe, wait for its access-log line; return the offset just after it."""
        run = self._run
        if run is None or not self.running:
            raise LabError("the registry is not running: call start() first")
        # The probe's line is written after this point, so there is no need to scan earlier.
        start = self.log_path.stat().st_size
        self._syncs += 1
        token = f"{_INTERNAL_QUERY}=sync-{self._syncs}-{secrets.token_hex(4)}"
        try:
            run.client.get(f"{self.url}/v2/?{token}")
        except httpx.TransportError as exc:
            raise LabError(f"the registry at {self.url} stopped answering: {exc}") from exc
        needle = f"?{token} ".encode()
        deadline = time.monotonic() + 2.0
        while True:
            with open(self.log_path, "rb") as fh:
                fh.seek(start)
                data = fh.read()
            at = data.find(needle)
            eol = data.find(b"\n", at) if at >= 0 else -1
            if eol >= 0:
                return start + eol + 1
            if time.monotonic() > deadline:
                raise LabError(
                    f"the registry at {self.url} did not log its access line within 2 s: "
                    "is log.accesslog disabled?"
                )
            time.sleep(0.001)


class _PortRaced(Exception):
    """Internal: the automatically picked port was taken before the registry could bind it."""
