"""``archlab inspect``: the library API, its frame, and the command line against a real registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archlab import inspect as insp
from archlab.cli import main
from archlab.errors import NoMatchingManifestError
from tests.corpus import client

LAB_SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "snapshots" / "lab"


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    """The CLI's cache and Docker config go to tmp, never to the user's."""
    monkeypatch.setenv("ARCHLAB_CACHE_DIR", str(tmp_path / "clicache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_inspection_and_frame(corpus, tmp_path):
    refs, built = corpus
    with client(tmp_path) as reg:
        got = insp.inspect(refs["list"], client=reg)
    assert got.kind == "list" and got.is_multi_arch
    assert got.digest == built["list"].manifest.digest
    assert [str(p) for p in got.platforms] == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    frame = insp.to_frame([got])
    assert list(frame.columns) == insp.FRAME_COLUMNS
    assert frame["architecture"].tolist() == ["amd64", "arm64", "arm"]
    assert frame["variant"].fillna("").tolist() == ["", "v8", "v7"]
    assert set(frame["list_digest"]) == {built["list"].manifest.digest}
    assert frame["entry_digest"].tolist() == [i.manifest.digest for i in built["list"].images]


def test_index_with_attestations_marks_them(corpus, tmp_path):
    refs, built = corpus
    with client(tmp_path) as reg:
        got = insp.inspect(refs["index"], client=reg)
    assert got.kind == "index"
    assert [str(p) for p in got.platforms] == ["linux/amd64", "linux/arm64/v8"]
    atts = [e for e in got.entries if e.is_attestation]
    assert [a.attests for a in atts] == [i.manifest.digest for i in built["index"].images]
    frame = insp.to_frame([got])
    assert frame["is_attestation"].tolist() == [False, False, True, True]


def test_single_arch_platform_comes_from_config(corpus, tmp_path):
    refs, _ = corpus
    with client(tmp_path) as reg:
        s2 = insp.inspect(refs["schema2"], client=reg)
        oci = insp.inspect(refs["oci"], client=reg)
    assert s2.kind == "single" and str(s2.entries[0].config_platform) == "linux/amd64"
    assert s2.entries[0].platform is None  # a bare manifest carries none: the config does
    assert str(oci.entries[0].config_platform) == "linux/arm64/v8"
    frame = insp.to_frame([s2, oci])
    assert frame["list_digest"].isna().all()
    assert frame["config_platform"].tolist() == ["linux/amd64", "linux/arm64/v8"]


def test_configs_all_reads_every_entry_config(corpus, tmp_path):
    refs, _ = corpus
    with client(tmp_path) as reg:
        got = insp.inspect(refs["index"], client=reg, configs="all")
    images = [e for e in got.entries if not e.is_attestation]
    assert [str(e.config_platform) for e in images] == ["linux/amd64", "linux/arm64/v8"]
    assert all(e.config_platform is None for e in got.entries if e.is_attestation)


@pytest.mark.parametrize(("key", "wanted", "index"), [
    ("list", "linux/arm64", 1), ("list", "linux/arm64/v8", 1), ("list", "linux/aarch64", 1),
    ("list", "linux/arm/v7", 2), ("list", "linux/x86_64", 0), ("index", "linux/arm64", 1),
])
def test_select_as_docker_20_10(corpus, tmp_path, key, wanted, index):
    refs, _ = corpus
    with client(tmp_path) as reg:
        got = insp.inspect(refs[key], client=reg)
    assert got.select(wanted) == got.entries[index]


@pytest.mark.parametrize(("wanted", "text"), [
    ("linux/arm64", "no matching manifest for linux/arm64 in the manifest list entries"),
    ("linux/arm64/v8", "no matching manifest for linux/arm64/v8 in the manifest list entries"),
    ("linux/386", "no matching manifest for linux/386 in the manifest list entries"),
])
def test_select_on_amd64_only_list_gives_dockers_text(corpus, tmp_path, wanted, text):
    refs, _ = corpus
    with client(tmp_path) as reg:
        got = insp.inspect(refs["amd64only"], client=reg)
    with pytest.raises(NoMatchingManifestError) as err:
        got.select(wanted)
    assert str(err.value) == text


# ---------------------------------------------------------------------- command line


def test_cli_list_output(corpus, capsys, cache_env):
    refs, built = corpus
    code, out, err = run_cli(capsys, "inspect", str(refs["list"]))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"Name:      {refs['list']}"
    assert lines[1] == "MediaType: application/vnd.docker.distribution.manifest.list.v2+json"
    assert lines[2] == f"Digest:    {built['list'].manifest.digest}"
    assert lines[3] == "Kind:      manifest list (multi-arch) (3 images)"
    assert [ln.strip() for ln in lines if "Platform:" in ln] == [
        "Platform:    linux/amd64", "Platform:    linux/arm64/v8", "Platform:    linux/arm/v7"]


def test_cli_index_output_marks_attestations(corpus, capsys, cache_env):
    refs, built = corpus
    code, out, _ = run_cli(capsys, "inspect", str(refs["index"]))
    assert code == 0
    assert "Kind:      OCI image index (multi-arch) (2 images, 2 attestations)" in out
    amd64 = built["index"].images[0].manifest.digest
    assert f"    Attestation: yes, for {amd64}" in out.splitlines()
    assert out.count("Platform:    unknown/unknown") == 2


@pytest.mark.parametrize(("key", "media_type", "platform"), [
    ("schema2", "application/vnd.docker.distribution.manifest.v2+json", "linux/amd64"),
    ("oci", "application/vnd.oci.image.manifest.v1+json", "linux/arm64/v8"),
])
def test_cli_single_arch_output(corpus, capsys, cache_env, key, media_type, platform):
    refs, built = corpus
    code, out, _ = run_cli(capsys, "inspect", str(refs[key]))
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == f"MediaType: {media_type}"
    assert lines[3] == "Kind:      single-arch image manifest"
    cfg = built[key].config
    assert lines[4] == f"Config:    {cfg.digest} ({cfg.size} bytes)"
    assert lines[5] == f"Platform:  {platform} (from the image config)"


def test_cli_json_has_the_same_facts(corpus, capsys, cache_env):
    refs, built = corpus
    code, out, _ = run_cli(capsys, "inspect", "--json", str(refs["index"]), str(refs["schema2"]))
    assert code == 0
    docs = json.loads(out)
    assert [d["kind"] for d in docs] == ["index", "single"]
    assert docs[0]["digest"] == built["index"].manifest.digest
    assert [m["isAttestation"] for m in docs[0]["manifests"]] == [False, False, True, True]
    assert docs[0]["manifests"][1]["platform"] == {
        "architecture": "arm64", "os": "linux", "variant": "v8"}
    assert docs[1]["manifests"][0]["configPlatform"] == {"architecture": "amd64", "os": "linux"}


def test_cli_raw_prints_served_bytes(corpus, capsys, cache_env):
    refs, built = corpus
    code, out, _ = run_cli(capsys, "inspect", "--raw", str(refs["list"]))
    assert code == 0
    assert out.rstrip("\n").encode() == built["list"].manifest.data


def test_cli_platform_selects_entry(corpus, capsys, cache_env):
    refs, built = corpus
    code, out, _ = run_cli(capsys, "inspect", str(refs["list"]), "--platform", "linux/arm64")
    assert code == 0
    chosen = built["list"].images[1].manifest.digest
    assert f"Selected (Docker 20.10 rules): {refs['list'].name}@{chosen}" in out


def test_cli_platform_on_amd64_only_list_prints_dockers_error(corpus, capsys, cache_env):
    refs, _ = corpus
    code, out, err = run_cli(capsys, "inspect", str(refs["amd64only"]), "--platform",
                             "linux/arm64")
    assert code == 1
    assert out == ""
    assert err == "no matching manifest for linux/arm64 in the manifest list entries\n"


# ---------------------------------------------------------------------- one clear line


def test_cli_malformed_reference(capsys, cache_env):
    code, out, err = run_cli(capsys, "inspect", "Mysql:5.7")
    assert code == 1 and out == ""
    assert err.startswith('archlab: invalid reference "Mysql:5.7": repository name "Mysql"')
    assert err.count("\n") == 1


def test_cli_unreachable_host(capsys, cache_env):
    from archlab.lab.server import find_free_port

    port = find_free_port()
    code, _, err = run_cli(capsys, "inspect", f"127.0.0.1:{port}/lab/mysql:5.7")
    assert code == 1
    assert err.startswith(f"archlab: cannot reach registry 127.0.0.1:{port} (")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_missing_tag(corpus, capsys, cache_env):
    refs, _ = corpus
    missing = refs["list"].with_tag("8.0")
    code, _, err = run_cli(capsys, "inspect", str(missing))
    assert code == 1
    assert err.startswith(f"archlab: {missing}: manifest not found on {missing.registry}")
    assert err.count("\n") == 1


def test_cli_missing_credentials(htpasswd_registry, capsys, cache_env):
    ref = f"{htpasswd_registry.host}/lab/mysql:5.7"
    code, _, err = run_cli(capsys, "inspect", ref)
    assert code == 1
    assert err == (
        f"archlab: docker.io/{ref}: registry {htpasswd_registry.host} requires a username and "
        f"password and none were found: run `docker login {htpasswd_registry.host}` or pass "
        "credentials=\n"
    ).replace("docker.io/", "")


def test_cli_without_command_prints_help(capsys):
    code, out, _ = run_cli(capsys)
    assert code == 2 and "inspect" in out


def test_cli_inspect_from_shipped_snapshot_with_trace(capsys, cache_env):
    """Offline: the shipped lab snapshot answers, and --trace shows the one exchange."""
    code, out, err = run_cli(capsys, "inspect", "--snapshot", str(LAB_SNAPSHOT), "--trace",
                             "127.0.0.1:5000/lab/golang:latest")
    assert code == 0
    assert "Platform:  linux/amd64 (from the image config)" in out
    trace = err.splitlines()
    assert trace[0].startswith("> GET 200 http://127.0.0.1:5000/v2/lab/golang/manifests/latest")
    assert trace[1].startswith("> GET 200 http://127.0.0.1:5000/v2/lab/golang/blobs/sha256:")
    assert len(trace) == 2
