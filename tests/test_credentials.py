"""Where credentials come from: Docker's config.json lookup order, key spellings and helpers.

Helpers are real executables (``docker-credential-archlab*`` shell scripts) put first on PATH;
configs are real files under ``$DOCKER_CONFIG``.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import time
from pathlib import Path

import pytest

from archlab.credentials import (
    DOCKER_HUB_KEY,
    Credentials,
    DockerConfig,
    credential_source,
    default_config_path,
    load_docker_config,
    resolve,
)
from archlab.errors import AuthError, InvalidReferenceError

SECRET = "s3cret"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "dockercfg"
    directory.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    return directory


@pytest.fixture
def write_config(config_dir: Path):
    def write(doc: dict | str) -> Path:
        path = config_dir / "config.json"
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    return write


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")
    return directory


@pytest.fixture
def make_helper(bin_dir: Path):
    """Write ``docker-credential-<name>``; its stdin is saved to ``<bin>/<name>.stdin``."""

    def make(name: str, body: str) -> Path:
        script = bin_dir / f"docker-credential-{name}"
        script.write_text(
            "#!/bin/sh\n"
            '[ "$1" = get ] || { echo "unexpected action $1" >&2; exit 2; }\n'
            "server=$(cat)\n"
            f"printf '%s' \"$server\" > '{bin_dir}/{name}.stdin'\n"
            f"{body}\n"
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return script

    return make


def answering(username: str, secret: str = SECRET) -> str:
    """Shell that prints the helper protocol's JSON answer."""
    return (
        "printf '{\"ServerURL\":\"%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}' "
        f"\"$server\" '{username}' '{secret}'"
    )


NOT_FOUND = "echo 'credentials not found in native keychain'; exit 1"


@pytest.fixture
def helpers(make_helper, bin_dir: Path):
    """The standard cast: two answering helpers, one with no credentials, one token helper."""
    make_helper("archlabtest", answering("from-archlabtest"))
    make_helper("archlabstore", answering("from-archlabstore"))
    make_helper("archlabnotfound", NOT_FOUND)
    make_helper("archlabtoken", answering("<token>", "idtok-123"))
    return bin_dir


def sent_to(bin_dir: Path, name: str) -> str | None:
    log = bin_dir / f"{name}.stdin"
    return log.read_text() if log.exists() else None


# --- the lookup order ---------------------------------------------------------------------

EVERYTHING = {
    "credHelpers": {"ghcr.io": "archlabtest"},
    "credsStore": "archlabstore",
    "auths": {"ghcr.io": {"auth": b64("carol:pw")}, "quay.io": {"auth": b64("dave:pw")}},
}


@pytest.mark.parametrize(
    ("config", "host", "kind", "username"),
    [
        pytest.param(EVERYTHING, "ghcr.io", "credHelpers", "from-archlabtest", id="1-credHelpers"),
        pytest.param(EVERYTHING, "quay.io", "credsStore", "from-archlabstore", id="2-credsStore"),
        pytest.param(
            {"credHelpers": {"gcr.io": "archlabtest"}, "auths": {"ghcr.io": {"auth": b64("c:p")}}},
            "ghcr.io", "auths", "c", id="3-auths-when-no-helper-applies",
        ),
        pytest.param({}, "ghcr.io", "none", None, id="4-nothing"),
        pytest.param(
            {"credsStore": "archlabnotfound", "auths": {"ghcr.io": {"auth": b64("carol:pw")}}},
            "ghcr.io", "credsStore", None, id="store-says-not-found-auths-not-consulted",
        ),
        pytest.param(
            {"credHelpers": {"ghcr.io": "archlabnotfound"}, "credsStore": "archlabstore"},
            "ghcr.io", "credHelpers", None, id="credHelper-not-found-is-final",
        ),
        pytest.param(
            {"auths": {"ghcr.io": {}}}, "ghcr.io", "none", None, id="empty-auths-placeholder",
        ),
    ],
)
def test_lookup_order(write_config, helpers, config, host, kind, username):
    write_config(config)
    assert credential_source(host).kind == kind
    creds = resolve(host)
    if username is None:
        assert creds is None
    else:
        assert creds is not None
        assert creds.username == username


def test_credential_source_runs_no_helper(write_config, helpers):
    write_config(EVERYTHING)
    source = credential_source("ghcr.io")
    assert (source.helper, source.key, source.server_url) == (
        "docker-credential-archlabtest", "ghcr.io", "ghcr.io",
    )
    assert sent_to(helpers, "archlabtest") is None


def test_helper_answer_becomes_username_and_password(write_config, helpers):
    path = write_config({"credsStore": "archlabstore"})
    creds = resolve("ghcr.io")
    assert creds is not None
    assert (creds.username, creds.password, creds.identity_token) == (
        "from-archlabstore", SECRET, "",
    )
    assert creds.kind == "basic"
    assert "docker-credential-archlabstore" in creds.source
    assert str(path) in creds.source


def test_token_username_means_identity_token(write_config, helpers):
    write_config({"credHelpers": {"ghcr.io": "archlabtoken"}})
    creds = resolve("ghcr.io")
    assert creds is not None
    assert (creds.username, creds.password, creds.identity_token) == ("", "", "idtok-123")
    assert creds.kind == "identity_token"


@pytest.mark.parametrize(
    ("asked", "expected_stdin"),
    [
        ("docker.io", DOCKER_HUB_KEY),
        ("index.docker.io", DOCKER_HUB_KEY),
        ("registry-1.docker.io", DOCKER_HUB_KEY),
        ("https://index.docker.io/v1/", DOCKER_HUB_KEY),
        ("ghcr.io", "ghcr.io"),
        ("https://ghcr.io/v2/", "ghcr.io"),
        ("localhost:5000", "localhost:5000"),
        ("http://localhost:5000/v2/", "localhost:5000"),
    ],
)
def test_helper_is_sent_dockers_server_address(write_config, helpers, asked, expected_stdin):
    write_config({"credsStore": "archlabtest"})
    assert resolve(asked) is not None
    assert sent_to(helpers, "archlabtest") == expected_stdin


def test_reused_config_object_is_not_reread(write_config, helpers, config_dir):
    write_config({"auths": {"ghcr.io": {"auth": b64("carol:pw")}}})
    config = load_docker_config()
    (config_dir / "config.json").unlink()
    creds = resolve("ghcr.io", config)
    assert creds is not None
    assert creds.username == "carol"


# --- which keys belong to a registry ---------------------------------------------------------

HUB_KEYS = [
    "https://index.docker.io/v1/",
    "https://index.docker.io/v1",
    "index.docker.io",
    "docker.io",
    "registry-1.docker.io",
    "https://registry-1.docker.io/v2/",
    "http://docker.io",
]
HUB_HOSTS = ["docker.io", "index.docker.io", "registry-1.docker.io"]


@pytest.mark.parametrize("key", HUB_KEYS)
@pytest.mark.parametrize("host", HUB_HOSTS)
def test_docker_hub_auths_key_variants(write_config, key, host):
    write_config({"auths": {key: {"auth": b64("hubuser:pw")}}})
    creds = resolve(host)
    assert creds is not None
    assert creds.username == "hubuser"


@pytest.mark.parametrize("key", ["https://index.docker.io/v1/", "docker.io", "index.docker.io"])
def test_docker_hub_cred_helper_key_variants(write_config, helpers, key):
    write_config({"credHelpers": {key: "archlabtest"}})
    assert resolve("registry-1.docker.io") is not None
    assert sent_to(helpers, "archlabtest") == DOCKER_HUB_KEY


@pytest.mark.parametrize(
    ("key", "host", "matches"),
    [
        ("ghcr.io", "ghcr.io", True),
        ("https://ghcr.io", "ghcr.io", True),
        ("http://ghcr.io", "ghcr.io", True),
        ("https://ghcr.io/v1/", "ghcr.io", True),
        ("https://ghcr.io/v2/", "ghcr.io", True),
        ("GHCR.IO", "ghcr.io", True),
        ("localhost:5000", "localhost:5000", True),
        ("http://localhost:5000/v2/", "localhost:5000", True),
        ("localhost", "localhost:5000", False),
        ("localhost:5000", "localhost", False),
        ("ghcr.io:443", "ghcr.io", False),
        ("gcr.io", "ghcr.io", False),
        ("https://ghcr.io.example.com/v2/", "ghcr.io", False),
        ("evil.example/ghcr.io", "ghcr.io", False),
        ("https://index.docker.io/v1/", "ghcr.io", False),
        ("ghcr.io", "docker.io", False),
    ],
)
def test_other_registry_key_variants(write_config, key, host, matches):
    write_config({"auths": {key: {"username": "u", "password": "p"}}})
    assert (resolve(host) is not None) == matches


def test_exact_key_beats_converted_key(write_config):
    write_config({
        "auths": {
            "https://ghcr.io/v2/": {"auth": b64("converted:pw")},
            "ghcr.io": {"auth": b64("exact:pw")},
        }
    })
    creds = resolve("ghcr.io")
    assert creds is not None
    assert creds.username == "exact"


def test_hub_config_key_beats_bare_hub_hostnames(write_config):
    write_config({
        "auths": {
            "docker.io": {"auth": b64("bare:pw")},
            DOCKER_HUB_KEY: {"auth": b64("canonical:pw")},
        }
    })
    creds = resolve("registry-1.docker.io")
    assert creds is not None
    assert creds.username == "canonical"


def test_empty_registry_host_is_refused(write_config):
    write_config({})
    with pytest.raises(InvalidReferenceError, match="no registry host"):
        resolve("https://")


# --- what an auths entry can hold ------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"auth": b64("alice:s3cret")}, ("alice", "s3cret", "", "")),
        ({"auth": b64("alice:pa:ss:word")}, ("alice", "pa:ss:word", "", "")),
        ({"auth": b64("alice:")}, ("alice", "", "", "")),
        ({"auth": b64("alice:pw\x00\x00")}, ("alice", "pw", "", "")),
        (
            {"auth": b64("alice:fromauth"), "username": "bob", "password": "fromfields"},
            ("alice", "fromauth", "", ""),
        ),
        ({"username": "bob", "password": "plain"}, ("bob", "plain", "", "")),
        ({"identitytoken": "refresh-xyz"}, ("", "", "refresh-xyz", "")),
        ({"registrytoken": "bearer-xyz"}, ("", "", "", "bearer-xyz")),
    ],
)
def test_auths_entry_fields(write_config, entry, expected):
    write_config({"auths": {"ghcr.io": entry}})
    creds = resolve("ghcr.io")
    assert creds is not None
    assert (creds.username, creds.password, creds.identity_token, creds.registry_token) == expected


@pytest.mark.parametrize(
    ("auth", "complaint"),
    [
        ("not base64!", "is not valid base64"),
        (b64("no-colon-here"), "must be base64 of 'username:password'"),
        (b64(":password-without-user"), "must be base64 of 'username:password'"),
    ],
)
def test_broken_auth_field_names_entry_and_file_not_value(write_config, auth, complaint):
    path = write_config({"auths": {"ghcr.io": {"auth": auth}}, "credHelpers": {}})
    with pytest.raises(AuthError) as info:
        resolve("ghcr.io")
    message = str(info.value)
    assert complaint in message
    assert "auths['ghcr.io'].auth" in message
    assert str(path) in message
    assert auth not in message


def test_broken_auth_field_of_another_registry_does_not_matter(write_config):
    write_config({
        "auths": {"other.example": {"auth": "%%%"}, "ghcr.io": {"auth": b64("carol:pw")}}
    })
    creds = resolve("ghcr.io")
    assert creds is not None
    assert creds.username == "carol"


# --- loading the file -----------------------------------------------------------------------


def test_default_path_follows_docker_config(config_dir):
    assert default_config_path() == config_dir / "config.json"


def test_default_path_without_docker_config(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_config_path() == tmp_path / ".docker" / "config.json"


def test_missing_file_is_an_empty_config(config_dir):
    config = load_docker_config()
    assert config == DockerConfig(path=config_dir / "config.json")
    assert resolve("ghcr.io") is None


def test_empty_file_is_an_empty_config(write_config):
    write_config("  \n")
    assert resolve("ghcr.io") is None


def test_load_accepts_the_directory(write_config, config_dir):
    write_config({"credsStore": "archlabtest"})
    assert load_docker_config(config_dir).creds_store == "archlabtest"


def test_load_reads_all_three_sections(write_config):
    write_config({
        "auths": {"ghcr.io": {"auth": b64("a:b")}},
        "credsStore": "desktop",
        "credHelpers": {"gcr.io": "gcloud"},
        "psFormat": "table {{.ID}}",
    })
    config = load_docker_config()
    assert list(config.auths) == ["ghcr.io"]
    assert config.creds_store == "desktop"
    assert dict(config.cred_helpers) == {"gcr.io": "gcloud"}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"auths": {,}}', "line 1 column 12"),
        ('{\n  "auths": {\n    "ghcr.io": {}\n  },\n}\n', "line 5 column 1"),
        ('{"credsStore": "desktop"', "line 1 column 25"),
    ],
)
def test_malformed_json_names_file_and_position(write_config, text, where):
    path = write_config(text)
    with pytest.raises(AuthError) as info:
        load_docker_config()
    message = str(info.value)
    assert str(path) in message
    assert "not valid JSON" in message
    assert where in message


def test_deep_json_config_is_one_auth_error(write_config):
    # json.loads raised RecursionError here (issue 10).
    path = write_config('{"auths": ' + "[" * 100_000)
    with pytest.raises(AuthError) as info:
        load_docker_config()
    assert str(info.value) == (f"Docker config {path}: nests arrays and objects 100001 deep, "
                               "more than the 64 archlab reads; no real document is nested "
                               "that deeply")


def test_config_with_a_bom_is_read(config_dir):
    (config_dir / "config.json").write_bytes(
        b'\xef\xbb\xbf{"auths": {"ghcr.io": {"auth": "' + b64("carol:pw").encode() + b'"}}}')
    assert list(load_docker_config().auths) == ["ghcr.io"]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_config_that_is_not_a_regular_file_is_refused(config_dir, kind):
    # A FIFO blocked open() forever; a link to /dev/zero was read until memory ran out.
    path = config_dir / "config.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    with pytest.raises(AuthError, match=r"config\.json: cannot read the Docker config: it is "
                       r"(a named pipe|a character device|a directory)"):
        load_docker_config(config_dir)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "must hold a JSON object"),
        ({"auths": []}, "auths must be an object"),
        ({"auths": {"ghcr.io": "x"}}, "auths['ghcr.io'] must be an object"),
        ({"credsStore": 1}, "credsStore must be a string"),
        ({"credHelpers": ["x"]}, "credHelpers must be an object"),
    ],
)
def test_wrong_shapes_are_named(write_config, doc, field):
    write_config(doc)
    with pytest.raises(AuthError, match=field.replace("[", r"\[")):
        load_docker_config()


# --- helper failures --------------------------------------------------------------------------


def test_missing_helper_names_binary_and_config(write_config, bin_dir):
    path = write_config({"credsStore": "archlabmissing"})
    with pytest.raises(AuthError) as info:
        resolve("ghcr.io")
    message = str(info.value)
    assert "\n" not in message
    assert "credential helper docker-credential-archlabmissing is not on PATH" in message
    assert f"credsStore in {path}" in message


def test_missing_cred_helper_names_its_key(write_config, bin_dir):
    write_config({"credHelpers": {"ghcr.io": "archlabmissing"}})
    with pytest.raises(AuthError, match=r"credHelpers\['ghcr.io'\] in "):
        resolve("ghcr.io")


def test_failing_helper_is_reported_with_its_message(write_config, make_helper):
    make_helper("archlabfail", "echo 'pass store is locked' >&2; exit 3")
    write_config({"credsStore": "archlabfail"})
    with pytest.raises(AuthError) as info:
        resolve("ghcr.io")
    assert "exit status 3" in str(info.value)
    assert "pass store is locked" in str(info.value)


def test_non_json_answer_is_not_echoed(write_config, make_helper):
    make_helper("archlabgarbage", f"echo 'Username=alice Secret={SECRET}'")
    write_config({"credsStore": "archlabgarbage"})
    with pytest.raises(AuthError, match="not a JSON object") as info:
        resolve("ghcr.io")
    assert SECRET not in str(info.value)


def test_deep_json_answer_is_not_a_json_object(write_config, make_helper):
    make_helper("archlabdeep", "head -c 100000 /dev/zero | tr '\\0' '['")
    write_config({"credsStore": "archlabdeep"})
    with pytest.raises(AuthError, match="not a JSON object"):
        resolve("ghcr.io")


def test_endless_answer_is_cut_off_and_the_helper_killed(write_config, make_helper):
    make_helper("archlabendless", f"exec yes '{SECRET}'")
    write_config({"credsStore": "archlabendless"})
    with pytest.raises(AuthError) as info:
        resolve("ghcr.io")
    assert str(info.value).startswith(
        "credential helper docker-credential-archlabendless answered ghcr.io with more than "
        "1024 KiB (credsStore in ")
    assert SECRET not in str(info.value)


def test_empty_answer_means_anonymous(write_config, make_helper):
    make_helper("archlabempty", 'printf \'{"ServerURL":"","Username":"","Secret":""}\'')
    write_config({"credsStore": "archlabempty"})
    assert resolve("ghcr.io") is None


def _gone_or_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_hanging_helper_times_out_and_is_killed(write_config, make_helper, bin_dir):
    pidfile = bin_dir / "sleeper.pid"
    # The sleep is a grandchild that does not hold our pipes: killing only the helper's own pid
    # would return at once but leave the sleep running.
    make_helper(
        "archlabhang", f"sleep 60 </dev/null >/dev/null 2>&1 & echo $! > '{pidfile}'; wait"
    )
    write_config({"credsStore": "archlabhang"})
    with pytest.raises(AuthError, match=r"did not answer within 0\.5 s"):
        resolve("ghcr.io", timeout=0.5)
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while not _gone_or_zombie(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert _gone_or_zombie(pid)
    finally:
        if not _gone_or_zombie(pid):
            os.kill(pid, signal.SIGKILL)  # the test's own sleeper; do not leave it behind


# --- secrets stay hidden --------------------------------------------------------------------


@pytest.mark.parametrize(
    "creds",
    [
        Credentials(username="alice", password=SECRET),
        Credentials(identity_token=SECRET),
        Credentials(registry_token=SECRET),
    ],
)
def test_repr_masks_secrets(creds):
    for shown in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert SECRET not in shown
        assert "***" in shown


def test_repr_keeps_username_and_shows_which_secret_is_set():
    shown = repr(Credentials(username="alice", password=SECRET))
    assert "username='alice'" in shown
    assert "password='***'" in shown
    assert "identity_token=''" in shown


def test_resolved_credentials_and_loaded_config_hide_secrets(write_config, helpers):
    write_config({
        "credHelpers": {"ghcr.io": "archlabtest"},
        "auths": {"quay.io": {"auth": b64(f"dave:{SECRET}"), "password": SECRET}},
    })
    config = load_docker_config()
    assert SECRET not in repr(config)
    assert b64(f"dave:{SECRET}") not in repr(config)
    for host in ("ghcr.io", "quay.io"):
        creds = resolve(host, config)
        assert creds is not None
        assert creds.password == SECRET
        assert SECRET not in repr(creds)
        assert SECRET not in creds.source


@pytest.mark.parametrize(
    ("creds", "kind"),
    [
        (Credentials(username="a", password="b"), "basic"),
        (Credentials(identity_token="t"), "identity_token"),
        (Credentials(username="a", password="b", registry_token="t"), "registry_token"),
        (Credentials(identity_token="i", registry_token="t"), "registry_token"),
    ],
)
def test_kind_prefers_ready_tokens(creds, kind):
    assert creds.kind == kind
