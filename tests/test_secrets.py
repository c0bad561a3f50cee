"""Secret planting: no credential or token ever reaches a file archlab writes or its output.

Unique secrets are planted everywhere a credential lives: a password in a Docker config
(``DOCKER_CONFIG``), the Basic credentials made from it, and the bearer tokens issued for it,
by a real token issuer and by a crafted registry whose token realm sits under
``/v2/<name>/manifests/`` (where a recorder once mistook the token answer for a manifest and
saved it). Every command that talks to a registry then runs against all three registries with
``--trace``, and every file archlab wrote (cache, snapshot, outputs, results, state) and
everything it printed is searched for each secret.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest

from archlab.cli import main
from archlab.credentials import Credentials
from archlab.lab.publish import push_image
from archlab.lab.server import HtpasswdAuth, RegistryServer, TokenAuth
from archlab.reference import parse_reference
from archlab.snapshot import record
from tests.corpus import AMD64, ARM64, client, make_image
from tests.faultproxy import FaultProxy, Request

try:
    from tokenissuer import TokenIssuer
except ImportError:
    from tests.tokenissuer import TokenIssuer

USER = "planted"
PASSWORD = f"pw-{secrets.token_hex(12)}"
CRAFTED_TOKEN = f"tok-{secrets.token_hex(16)}"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
IMAGE = make_image(ARM64)


def _crafted_realm(proxy: FaultProxy, repository: str) -> str:
    return f"{proxy.url}/v2/{repository}/manifests/token"


def crafted_registry(proxy: FaultProxy, repository: str) -> None:
    """Turn ``proxy`` into a bearer-token registry whose issuer answers at a manifest path."""
    realm = _crafted_realm(proxy, repository)

    def issue(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.headers.get("authorization") != f"Basic {BASIC}":
            return 401, {}, b'{"details": "bad credentials"}'
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"token": CRAFTED_TOKEN, "expires_in": 300}).encode()

    proxy.add(path_contains="/manifests/token", answer=issue)
    proxy.add(when=lambda r: r.headers.get("authorization") != f"Bearer {CRAFTED_TOKEN}",
              status=401, body=b'{"errors":[{"code":"UNAUTHORIZED"}]}', headers={
                  "WWW-Authenticate": f'Bearer realm="{realm}",service="crafted",'
                                      f'scope="repository:{repository}:pull"'})


@pytest.fixture(scope="module")
def planted(registry, registry_binary, tmp_path_factory):
    """Three registries holding ``t/secret:1``, each behind the planted credentials:
    htpasswd (Basic), a real token issuer, and the crafted realm; yields their hosts and the
    issuer (whose tokens are secrets too)."""
    push_dir = tmp_path_factory.mktemp("push")
    with TokenIssuer(users={USER: PASSWORD}) as issuer, \
            RegistryServer(binary=registry_binary,
                           auth=HtpasswdAuth({USER: PASSWORD})) as basic, \
            RegistryServer(binary=registry_binary, auth=TokenAuth(
                realm_url=issuer.realm, service=issuer.service, issuer=issuer.issuer,
                cert_pem_path=issuer.cert_path)) as bearer, \
            FaultProxy(registry.url) as crafted:
        creds = {h: Credentials(username=USER, password=PASSWORD)
                 for h in (basic.host, bearer.host)}
        async def push(aio):
            for host in (basic.host, bearer.host, registry.host):  # crafted reads the open one
                for tag, image in (("1", IMAGE), ("2", make_image(AMD64))):
                    await push_image(aio, parse_reference(f"{host}/t/secret:{tag}"), image)

        with client(push_dir, cache=False, tag_index=False, credentials=creds) as reg:
            reg.run(push)
        crafted_registry(crafted, "t/secret")
        yield {"basic": basic.host, "bearer": bearer.host, "crafted": crafted.host}, issuer


def test_a_token_from_a_realm_under_manifests_is_never_recorded(planted, tmp_path):
    hosts, _ = planted
    ref = f"{hosts['crafted']}/t/secret:1"
    creds = {hosts["crafted"]: Credentials(username=USER, password=PASSWORD)}
    summary = record([ref], tmp_path / "snap", credentials=creds, use_docker_config=False,
                     recorded_at="2024-01-01T00:00:00Z")
    assert summary.failed == ()
    assert {a.reference for a in summary.snapshot.answers if a.kind == "manifest"} >= {"1"}
    assert "token" not in {a.reference for a in summary.snapshot.answers}
    for path in (tmp_path / "snap").rglob("*"):
        if path.is_file():
            assert CRAFTED_TOKEN.encode() not in path.read_bytes(), path


def _every_command(hosts: dict[str, str], work: Path) -> list[list[str]]:
    refs = [f"{h}/t/secret:1" for h in hosts.values()]
    compose = work / "docker-compose.yml"
    compose.write_text("services:\n" + "".join(
        f"  {name}:\n    image: {h}/t/secret:1\n" for name, h in hosts.items()))
    argv: list[list[str]] = []
    for ref in refs:
        argv += [["inspect", ref], ["inspect", ref, "--raw"], ["inspect", ref, "--json"],
                 ["simulate", ref, "--host", "multipass-ubuntu-arm64"]]
    argv += [
        ["survey", *refs, "--out", str(work / "cov.csv"), "--rows", str(work / "rows.json"),
         "--resume", str(work / "survey.jsonl"), "--no-progress"],
        ["survey", *refs, "--out", str(work / "cov.json"), "--resume",
         str(work / "survey.jsonl"), "--no-progress"],  # a resumed run
        ["snapshot", "record", *refs, "--out", str(work / "snap"), "--include-layers"],
        ["snapshot", "record", *refs, "--out", str(work / "snap-tags"), "--tags"],
        ["compose", str(compose), "--host", "multipass-ubuntu-arm64", "--host",
         "m1-desktop-4.3", "--json"],
        ["compose", str(compose), "--why"],
    ]
    return [[*a, "--trace"] for a in argv]


def test_no_secret_reaches_a_file_or_the_terminal(planted, tmp_path, monkeypatch, capsys):
    hosts, issuer = planted
    issuer.reset()
    home = tmp_path / "home"
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    (docker_config / "config.json").write_text(json.dumps(
        {"auths": {h: {"auth": BASIC} for h in hosts.values()}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
    for var, sub in (("HOME", "home"), ("XDG_CACHE_HOME", "home/.cache"),
                     ("XDG_STATE_HOME", "home/.local/state"),
                     ("XDG_CONFIG_HOME", "home/.config"), ("ARCHLAB_CACHE_DIR", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()

    printed = []
    for argv in _every_command(hosts, work):
        code = main(argv)
        out, err = capsys.readouterr()
        printed.append((argv, out, err))
        assert code == 0 or argv[0] in ("simulate", "compose"), (argv, err)
        quiet = argv[0] == "snapshot" or "sent no requests" in err  # a resumed survey
        assert "\n> " in f"\n{err}" or quiet, (argv, err)  # the exchanges were traced

    tokens = [t.token for t in issuer.issued]
    assert tokens, "the real issuer handed out no token: the test would prove nothing"
    assert any("[Bearer]" in err for _, _, err in printed)  # bearer tokens were really sent
    planted_secrets = {"password": PASSWORD, "basic": BASIC, "crafted token": CRAFTED_TOKEN,
                       **{f"issued token {i}": t for i, t in enumerate(tokens)}}
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != docker_config]
    assert any(p.suffix == ".jsonl" for p in written) and any(
        "snap" in p.parts for p in written) and any("cache" in p.parts for p in written)
    for path in written:
        content = path.read_bytes()
        for what, secret in planted_secrets.items():
            assert secret.encode() not in content, f"the {what} was written to {path}"
    for argv, out, err in printed:
        for what, secret in planted_secrets.items():
            assert secret not in out + err, f"`archlab {' '.join(argv)}` printed the {what}"
