"""Find registry credentials the way the docker CLI does, without archlab ever keeping them.

archlab never asks for a password and never writes one down. When a registry wants credentials,
archlab reads them from the same place ``docker login`` put them: the Docker client config
(``config.json``) and the credential helper programs it names. Every lookup starts afresh and the
secret lives only in the returned :class:`Credentials` value, whose ``repr`` hides it.

How do I use it?
----------------
::

    from archlab.credentials import resolve

    creds = resolve("ghcr.io")          # None means: talk to the registry anonymously
    if creds is not None:
        print(creds)                    # Credentials(username='alice', password='***', ...)

``resolve`` loads the config itself. Load it once with :func:`load_docker_config` and pass it in
when you look up several registries. :func:`credential_source` tells you which rule below would
apply. It runs no helper, so it is safe to show in a notebook.

Which file?
-----------
``$DOCKER_CONFIG/config.json`` when ``DOCKER_CONFIG`` is set, else ``~/.docker/config.json``.
A missing file is an empty config: every registry is anonymous. A file that is not valid JSON is an
:class:`~archlab.errors.AuthError` naming the file, line and column; so is one that is not a
regular file, is larger than ``limits.MAX_INPUT_FILE_BYTES`` or nests deeper than
``limits.MAX_JSON_DEPTH`` (read by :mod:`archlab.decoding`). A leading UTF-8 byte-order mark is
skipped. A helper's answer is held to ``limits.MAX_HELPER_OUTPUT_BYTES``.

The lookup order
----------------
The first row whose config entry applies decides. A row that applies is final: when a helper
says it has nothing for this registry, the answer is "anonymous". archlab does not go on to read
``auths`` (Docker does not either, because with a helper ``auths`` only keeps empty placeholders).

====  ===============  ===================================  ====================================
step  config entry     applies when                         credentials come from
====  ===============  ===================================  ====================================
1     ``credHelpers``  it has a key for this registry       ``docker-credential-<value> get``
2     ``credsStore``   it is set (whatever the registry)    ``docker-credential-<value> get``
3     ``auths``        it has a non-empty key for it        the entry itself (see below)
4     (nothing)        none of the above                    nobody: ``resolve`` returns None
====  ===============  ===================================  ====================================

Which keys count as "this registry"?
------------------------------------
Config keys are written in several ways over the years (``docker login`` once wrote URLs with
``/v1/`` paths). Like Docker's ``ConvertToHostname``, archlab drops an ``http://`` or ``https://``
prefix and anything from the first ``/`` on, then compares host names (with port). An exact key
wins over a converted one; among converted keys, the first in the file wins.

====================  ===============================  =========================================
you ask for           a helper gets on stdin           ``auths``/``credHelpers`` keys that match
====================  ===============================  =========================================
``docker.io``         ``https://index.docker.io/v1/``  ``https://index.docker.io/v1/``, or any
                                                       of the three Hub host names
``index.docker.io``   ``https://index.docker.io/v1/``  (same as above)
``ghcr.io``           ``ghcr.io``                      ``ghcr.io``, ``https://ghcr.io``,
                                                       ``http://ghcr.io/v2/``, ...
``localhost:5000``    ``localhost:5000``               ``localhost:5000``,
                                                       ``https://localhost:5000/v1/``, ...
====================  ===============================  =========================================

Docker Hub is the odd one: its config key is ``https://index.docker.io/v1/``, the address of the
retired v1 index, although pulls go to ``registry-1.docker.io`` (which also counts as Hub here).

What an ``auths`` entry can hold
--------------------------------
``auth``: base64 of ``user:password``. When present it overrides ``username`` and ``password``.
``username`` and ``password``: plain text. ``identitytoken``: an OAuth refresh token, which the
client trades for a bearer token. ``registrytoken``: a bearer token to send as it is. An entry with
none of these (``{}``, which ``docker login`` writes next to a ``credsStore``) gives no
credentials. A broken ``auth`` value is an AuthError only when that entry is the one used.

Talking to a credential helper
------------------------------
archlab runs ``docker-credential-<name> get``, writes the server address to its stdin and reads
``{"ServerURL": ..., "Username": ..., "Secret": ...}`` from its stdout.

=============================================  ===============================================
what the helper does                           what ``resolve`` does
=============================================  ===============================================
prints JSON with a Username and a Secret       ``Credentials(username=..., password=Secret)``
prints the Username ``<token>``                ``Credentials(identity_token=Secret)``
exits non-zero: ``credentials not found ...``  None (anonymous)
is not on ``PATH``                             AuthError naming the helper and the config file
gives no answer within ``timeout`` (10 s)      AuthError
exits non-zero for any other reason            AuthError quoting its first line
exits 0 but prints no JSON object              AuthError (the output is not echoed)
=============================================  ===============================================

A helper named in a copied config but not installed is a classic trap: ``"credsStore":
"desktop"`` copied from a Mac into a Linux VM makes every pull fail. Docker then prints
``error getting credentials``. archlab says which binary is missing and which file asked for it.

Secrets stay secret: nothing here logs, prints or writes a password or token. Error messages quote
config keys and helper names, never values.
"""

from __future__ import annotations

import base64
import binascii
import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from archlab import decoding, limits
from archlab.errors import AuthError, InputError, InvalidReferenceError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
"""The key under which Docker stores Docker Hub credentials, and what Hub's helper is asked for."""

DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
"""Host names that all mean Docker Hub."""

HELPER_PREFIX = "docker-credential-"
TOKEN_USERNAME = "<token>"
DEFAULT_HELPER_TIMEOUT = limits.HELPER_TIMEOUT

_MASK = "***"


@dataclass(frozen=True, repr=False)
class Credentials:
    """What to authenticate with at one registry. Only one way is normally filled in.

    ``registry_token`` is sent as a bearer token as it is. ``identity_token`` is a refresh
    token, traded for a bearer token at the registry's token endpoint. Otherwise
    ``username``/``password`` are used for Basic auth, or sent to the token endpoint with it.
    ``source`` says where they came from, for messages. It never holds a secret.
    """

    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""
    source: str = ""

    @property
    def kind(self) -> Literal["registry_token", "identity_token", "basic"]:
        """Which kind of credential to use, in the order a client should prefer them."""
        if self.registry_token:
            return "registry_token"
        if self.identity_token:
            return "identity_token"
        return "basic"

    def __repr__(self) -> str:
        def hide(secret: str) -> str:
            return repr(_MASK) if secret else "''"

        return (
            f"Credentials(username={self.username!r}, password={hide(self.password)}, "
            f"identity_token={hide(self.identity_token)}, "
            f"registry_token={hide(self.registry_token)}, source={self.source!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class AuthEntry:
    """One ``auths`` entry of config.json, as written (``auth`` still base64)."""

    key: str
    auth: str = ""
    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""

    @property
    def is_empty(self) -> bool:
        return not (
            self.auth or self.username or self.password or self.identity_token
            or self.registry_token
        )

    def __repr__(self) -> str:
        filled = [
            name
            for name in ("auth", "username", "password", "identity_token", "registry_token")
            if getattr(self, name)
        ]
        return f"AuthEntry(key={self.key!r}, fields={filled!r})"


@dataclass(frozen=True)
class DockerConfig:
    """The credential-related parts of a Docker client config.json.

    ``path`` is the file it came from (None when built in code). It is kept for error messages.
    """

    path: Path | None = None
    auths: Mapping[str, AuthEntry] = field(default_factory=dict)
    creds_store: str = ""
    cred_helpers: Mapping[str, str] = field(default_factory=dict)

    def where(self) -> str:
        return str(self.path) if self.path is not None else "the Docker config given in code"


@dataclass(frozen=True)
class CredentialSource:
    """Which lookup row applies to a registry. Pure data: no helper has been run.

    ``kind`` is ``credHelpers``, ``credsStore``, ``auths`` or ``none``. ``key`` is the config key
    that matched (empty for ``credsStore``/``none``). ``helper`` is the helper binary name, if
    any. ``server_url`` is what a helper is sent on stdin.
    """

    kind: Literal["credHelpers", "credsStore", "auths", "none"]
    server_url: str
    key: str = ""
    helper: str = ""


def default_config_path() -> Path:
    """Where Docker keeps its config: ``$DOCKER_CONFIG/config.json``, else ``~/.docker/...``."""
    directory = os.environ.get("DOCKER_CONFIG")
    base = Path(directory).expanduser() if directory else Path.home() / ".docker"
    return base / "config.json"


def load_docker_config(path: Path | None = None) -> DockerConfig:
    """Read a Docker config.json. ``path`` may be the file or the directory holding it.

    A missing file gives an empty config. An unreadable or malformed one raises AuthError.
    """
    if path is None:
        path = default_config_path()
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    raw = decoding.read_file(path, max_bytes=limits.MAX_INPUT_FILE_BYTES, what="Docker config",
                             error=AuthError, missing_ok=True)
    if raw is None:
        return DockerConfig(path=path)
    fix = "fix the file or point DOCKER_CONFIG at another directory"
    text = decoding.decode_text(raw, what=f"Docker config {path}", error=AuthError)
    if not text.strip():
        return DockerConfig(path=path)  # docker treats an empty file as an empty config
    doc = decoding.load_json(text, what=f"Docker config {path}", error=AuthError,
                             max_bytes=limits.MAX_INPUT_FILE_BYTES, hint=fix)
    if not isinstance(doc, dict):
        raise AuthError(f"Docker config {path} must hold a JSON object, not {_json_type(doc)}")
    return DockerConfig(
        path=path,
        auths=_parse_auths(doc.get("auths"), path),
        creds_store=_parse_str(doc.get("credsStore"), "credsStore", path),
        cred_helpers=_parse_helpers(doc.get("credHelpers"), path),
    )


def credential_source(registry_host: str, config: DockerConfig | None = None) -> CredentialSource:
    """Say which lookup row applies to ``registry_host``, without running any helper."""
    if config is None:
        config = load_docker_config()
    host = _hostname(registry_host)
    hub = host in DOCKER_HUB_HOSTS
    server_url = DOCKER_HUB_KEY if hub else host

    key = _first_matching(config.cred_helpers, host, hub, lambda name: bool(name))
    if key is not None:
        return CredentialSource(
            "credHelpers", server_url, key=key, helper=HELPER_PREFIX + config.cred_helpers[key]
        )
    if config.creds_store:
        return CredentialSource("credsStore", server_url, helper=HELPER_PREFIX + config.creds_store)
    key = _first_matching(config.auths, host, hub, lambda entry: not entry.is_empty)
    if key is not None:
        return CredentialSource("auths", server_url, key=key)
    return CredentialSource("none", server_url)


def resolve(
    registry_host: str,
    config: DockerConfig | None = None,
    *,
    timeout: float = DEFAULT_HELPER_TIMEOUT,
) -> Credentials | None:
    """Credentials for ``registry_host`` from Docker's config, or None for anonymous access.

    ``registry_host`` is a host name with optional port (``ghcr.io``, ``localhost:5000``). A URL
    is accepted too. Any Docker Hub name maps to Hub's config key. ``timeout`` bounds each
    helper run, in seconds.
    """
    if config is None:
        config = load_docker_config()
    source = credential_source(registry_host, config)
    if source.kind == "none":
        return None
    if source.kind == "auths":
        return _from_auth_entry(config.auths[source.key], config)
    asked_by = (
        f"credHelpers[{source.key!r}]" if source.kind == "credHelpers" else "credsStore"
    )
    return _run_helper(source.helper, source.server_url, asked_by, config, timeout)


# --- config parsing -------------------------------------------------------------------------


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _parse_str(value: object, name: str, path: Path) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AuthError(
            f"Docker config {path}: {name} must be a string naming a helper, "
            f"not {_json_type(value)}"
        )
    return value


def _parse_helpers(value: object, path: Path) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AuthError(
            f"Docker config {path}: credHelpers must be an object mapping registry to helper, "
            f"not {_json_type(value)}"
        )
    return {k: _parse_str(v, f"credHelpers[{k!r}]", path) for k, v in value.items()}


def _parse_auths(value: object, path: Path) -> dict[str, AuthEntry]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AuthError(
            f"Docker config {path}: auths must be an object keyed by registry, "
            f"not {_json_type(value)}"
        )
    entries = {}
    for key, body in value.items():
        if not isinstance(body, dict):
            raise AuthError(
                f"Docker config {path}: auths[{key!r}] must be an object, not {_json_type(body)}"
            )

        def text(name: str, key: str = key, body: dict = body) -> str:
            return _parse_str(body.get(name), f"auths[{key!r}].{name}", path)

        entries[key] = AuthEntry(
            key=key,
            auth=text("auth"),
            username=text("username"),
            password=text("password"),
            identity_token=text("identitytoken"),
            registry_token=text("registrytoken"),
        )
    return entries


def _from_auth_entry(entry: AuthEntry, config: DockerConfig) -> Credentials:
    source = f"auths[{entry.key!r}] in {config.where()}"
    username, password = entry.username, entry.password
    if entry.auth:
        username, password = _decode_auth(entry, config)
    return Credentials(
        username=username,
        password=password,
        identity_token=entry.identity_token,
        registry_token=entry.registry_token,
        source=source,
    )


def _decode_auth(entry: AuthEntry, config: DockerConfig) -> tuple[str, str]:
    problem = f"auths[{entry.key!r}].auth in {config.where()}"
    fix = "run `docker login` again or remove that entry"
    try:
        decoded = base64.b64decode(entry.auth, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise AuthError(f"{problem} is not valid base64; {fix}") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise AuthError(f"{problem} must be base64 of 'username:password'; {fix}")
    return username, password.strip("\x00")


# --- key matching -------------------------------------------------------------------------


def _hostname(address: str) -> str:
    """Docker's ConvertToHostname: drop the scheme and any path; keep host and port."""
    stripped = address.strip()
    for scheme in ("http://", "https://"):
        if stripped.lower().startswith(scheme):
            stripped = stripped[len(scheme):]
            break
    host = stripped.split("/", 1)[0].lower()
    if not host:
        raise InvalidReferenceError(
            f"no registry host in {address!r}; give a host name such as 'ghcr.io' or "
            "'localhost:5000'"
        )
    return host


def _key_host(key: str) -> str | None:
    try:
        return _hostname(key)
    except InvalidReferenceError:
        return None  # a blank key in the file matches nothing


def _first_matching(table: Mapping[str, object], host: str, hub: bool, usable) -> str | None:
    """The key of ``table`` that belongs to ``host``: exact spellings first, then file order."""
    exact = [DOCKER_HUB_KEY, *sorted(DOCKER_HUB_HOSTS)] if hub else [host]
    for key in exact:
        if key in table and usable(table[key]):
            return key
    for key, value in table.items():
        key_host = _key_host(key)
        matches = key_host in DOCKER_HUB_HOSTS if hub else key_host == host
        if matches and usable(value):
            return key
    return None


# --- credential helpers -------------------------------------------------------------------


def _run_helper(
    binary: str, server_url: str, asked_by: str, config: DockerConfig, timeout: float
) -> Credentials | None:
    executable = shutil.which(binary)
    if executable is None:
        raise AuthError(
            f"credential helper {binary} is not on PATH, but {asked_by} in {config.where()} "
            f"asks for it; install {binary} or remove that entry from the file"
        )
    try:
        # A session of its own lets a timeout kill the helper together with anything it started.
        proc = subprocess.Popen(
            [executable, "get"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise AuthError(f"credential helper {executable} could not be started: {exc}") from None
    try:
        out, err = _communicate(proc, server_url.encode(), timeout, limits.MAX_HELPER_OUTPUT_BYTES)
    except _TooMuch:
        _kill(proc)
        # The output is not echoed: it may well contain the secret.
        raise AuthError(
            f"credential helper {binary} answered {server_url} with more than "
            f"{limits.MAX_HELPER_OUTPUT_BYTES // limits.KiB} KiB ({asked_by} in "
            f"{config.where()}); a real answer is a few hundred bytes"
        ) from None
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise AuthError(
            f"credential helper {binary} did not answer within {timeout:g} s when asked for "
            f"{server_url} ({asked_by} in {config.where()}); is it waiting for a keychain "
            "unlock or a GUI prompt?"
        ) from None

    stdout = out.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        message = stdout or err.decode("utf-8", "replace").strip()
        if "credentials not found" in message.lower():
            return None
        first_line = message.splitlines()[0][:200] if message else "no output"
        raise AuthError(
            f"credential helper {binary} failed for {server_url} "
            f"(exit status {proc.returncode}): {first_line}"
        )
    try:
        answer = decoding.load_json(stdout, what="helper answer")
    except InputError:
        answer = None
    if not isinstance(answer, dict):
        # The output is not echoed: it may well contain the secret.
        raise AuthError(
            f"credential helper {binary} answered {server_url} with something that is not a "
            'JSON object like {"ServerURL": ..., "Username": ..., "Secret": ...}'
        )
    username = answer.get("Username") or ""
    secret = answer.get("Secret") or ""
    if not isinstance(username, str) or not isinstance(secret, str):
        raise AuthError(
            f"credential helper {binary}: Username and Secret must be strings in its answer "
            f"for {server_url}"
        )
    if not username and not secret:
        return None
    source = f"{binary} ({asked_by} in {config.where()})"
    if username == TOKEN_USERNAME:
        return Credentials(identity_token=secret, source=source)
    return Credentials(username=username, password=secret, source=source)


class _TooMuch(Exception):
    """A helper wrote more than archlab reads."""


def _communicate(proc: subprocess.Popen, data: bytes, timeout: float, max_bytes: int
                 ) -> tuple[bytes, bytes]:
    """``proc.communicate(data, timeout)``, but holding at most ``max_bytes`` of each stream.

    ``communicate`` keeps all a helper prints; a broken or hostile one could print until
    memory runs out. Raises ``subprocess.TimeoutExpired`` or :class:`_TooMuch`.
    """
    deadline = time.monotonic() + timeout
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:  # a server URL is far below a pipe's buffer: this write never blocks
        proc.stdin.write(data)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    held = {out_fd: bytearray(), err_fd: bytearray()}
    with selectors.DefaultSelector() as selector:
        for fd in held:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                held[key.fd] += chunk
                if len(held[key.fd]) > max_bytes:
                    raise _TooMuch
    proc.stdout.close()
    proc.stderr.close()
    proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
    return bytes(held[out_fd]), bytes(held[err_fd])


def _kill(proc: subprocess.Popen) -> None:
    """Kill a helper that overran its time, and the process group it leads."""
    killpg = getattr(os, "killpg", None)
    try:
        if killpg is not None:
            killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows has no process groups of this kind
            proc.kill()
    except ProcessLookupError:
        pass
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
