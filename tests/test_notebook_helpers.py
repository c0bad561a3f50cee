"""``archlab.notebook``: the helpers the notebooks call, checked against the shipped data.

Everything here runs offline from ``data/``. Tests that execute a foreign binary under qemu skip
(or fail with ``ARCHLAB_REQUIRE_QEMU=1``) when the emulator is missing, like test_emulation.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from archlab import notebook as nb
from archlab.emulation import host_native_platforms, qemu_for
from archlab.errors import LabError, NotFoundError
from archlab.inspect import inspect
from archlab.lab import scenarios
from archlab.platforms import Platform

MULTIPASS = "multipass-ubuntu-arm64"
M1 = "m1-desktop-4.3"
NO_MATCH_ARM64 = "no matching manifest for linux/arm64/v8 in the manifest list entries"

REPO = Path(__file__).resolve().parents[1]


def require_qemu(platform: str) -> None:
    if qemu_for(platform) is None:
        if os.environ.get("ARCHLAB_REQUIRE_QEMU") == "1":
            pytest.fail(f"no qemu emulator for {platform}")
        pytest.skip(f"no qemu emulator for {platform} (apt-get install qemu-user-static)")


@pytest.fixture(scope="module")
def reg():
    client = nb.lab_client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def reg_layers():
    client = nb.lab_client(layers=True)
    yield client
    client.close()


@pytest.fixture(scope="module")
def story_facts(reg_layers):
    return nb.lab_facts(["mysql", "middleware", "redis"], reg_layers)


# ------------------------------------------------------------------------- the lab


@pytest.mark.parametrize(
    ("name", "oci", "expected"),
    [
        ("mysql", False, "127.0.0.1:5000/lab/mysql:5.7"),
        ("mysql", True, "127.0.0.1:5000/lab/mysql-oci:5.7"),
        ("busybox", False, "127.0.0.1:5000/lab/busybox:latest"),
        ("redis", False, "127.0.0.1:5000/lab/redis:4-alpine"),
    ],
)
def test_lab_ref(name, oci, expected):
    assert nb.lab_ref(name, oci=oci) == expected


def test_lab_ref_unknown_name_names_the_scenarios():
    with pytest.raises(LabError, match="mysql"):
        nb.lab_ref("postgres")


def test_lab_refs_follow_the_scenarios():
    refs = nb.lab_refs()
    assert len(refs) == len(scenarios.SCENARIO_NAMES)
    assert refs[2] == "127.0.0.1:5000/lab/mysql:5.7"
    assert nb.lab_refs(oci=True)[2] == "127.0.0.1:5000/lab/mysql-oci:5.7"


def test_missing_reference_names_the_snapshot_without_an_absolute_path(reg):
    with pytest.raises(NotFoundError) as err:
        reg.get_manifest("127.0.0.1:5000/lab/postgres:latest")
    assert "not in snapshot data/snapshots/lab (recorded on " in str(err.value)
    assert str(REPO) not in str(err.value)


def test_lab_client_replays_the_snapshot(reg):
    got = inspect(nb.lab_ref("mysql"), client=reg)
    assert got.kind == "list"
    assert got.digest == scenarios.get("mysql").digest
    assert [str(p) for p in got.platforms] == ["linux/amd64"]


def _golang_layer() -> str:
    return scenarios.get("golang").images[0].layers[0].digest


def test_layers_are_only_served_when_asked_for(reg, reg_layers):
    ref = nb.lab_ref("golang")
    digest = _golang_layer()
    with pytest.raises(NotFoundError):
        reg.get_blob(ref, digest, max_bytes=1 << 20, kind="layer", use_cache=False)
    data = reg_layers.get_blob(ref, digest, max_bytes=1 << 20, kind="layer", use_cache=False)
    assert data == scenarios.get("golang").images[0].layers[0].data


def test_layered_snapshot_keeps_every_recorded_answer():
    plain, layered = nb.lab_snapshot(), nb.lab_snapshot(layers=True)
    assert set(plain.answers) <= set(layered.answers)
    added = set(layered.answers) - set(plain.answers)
    assert added and all(a.kind == "blob" for a in added)
    # One answer per (repository, digest): a registry answers by repository, so the same layer
    # bytes are served for the Docker twin and the OCI twin alike.
    keys = [(a.repository, a.reference) for a in added]
    assert len(keys) == len(set(keys))
    assert {("lab/golang", _golang_layer()), ("lab/golang-oci", _golang_layer())} <= set(keys)


def test_scenarios_frame_has_one_row_per_scenario():
    frame = nb.scenarios_frame()
    assert len(frame) == len(scenarios.SCENARIO_NAMES)
    mysql = frame.set_index("reference").loc["127.0.0.1:5000/lab/mysql:5.7"]
    assert mysql["platforms"] == "linux/amd64"
    assert mysql["shape"] == "amd64-only list"


def test_shipped_data_counts_what_is_there():
    frame = nb.shipped_data().set_index("data")
    snap = nb.lab_snapshot()
    lab = frame.loc["data/snapshots/lab", "size"]
    assert lab.startswith(f"{len(snap.refs)} references, {len(snap.answers)} answers")
    assert "m1-desktop-4.3" in frame.loc["data/hosts/*.yaml", "size"]
    assert not any("/work" in str(v) or str(REPO) in str(v) for v in frame.to_numpy().ravel())


# ---------------------------------------------------------------- manifests and HTTP


def test_pretty_json_shortens_long_lists(reg):
    busybox = inspect(nb.lab_ref("busybox"), client=reg)
    short = nb.pretty_json(busybox.raw, max_entries=2)
    assert short.count('"digest"') == 2
    assert short.endswith('... and 8 more entries in "manifests"')
    full = nb.pretty_json(busybox.raw)
    assert full.count('"digest"') == 10 and "more entr" not in full


def test_pretty_json_leaves_a_manifest_alone(reg):
    golang = inspect(nb.lab_ref("golang"), client=reg)
    text = nb.pretty_json(golang.raw, max_entries=1)
    assert '"layers"' in text and "more entr" not in text


def test_media_types_frame_pairs_docker_and_oci_types():
    frame = nb.media_types_frame()
    assert frame.iloc[0].tolist() == [
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ]
    assert frame.iloc[2, 0] == "application/vnd.docker.container.image.v1+json"


def test_exchange_headers_split_accept_and_hide_the_host(reg):
    ref = inspect(nb.lab_ref("busybox"), client=reg).reference
    with reg.trace() as log:
        reg.resolve(ref)
    table = nb.exchange_headers(log[0])
    first = table.iloc[0]
    assert first["value"] == "HEAD /v2/lab/busybox/manifests/latest"
    accepts = table[table["header"] == "accept"]["value"].tolist()
    assert "application/vnd.docker.distribution.manifest.list.v2+json" in accepts
    assert all(", " not in a for a in accepts)
    response = table[table["direction"] == "response"].set_index("header")["value"]
    assert response["(status)"] == "200"
    assert response["docker-content-digest"] == scenarios.get("busybox").digest


@pytest.mark.parametrize(
    ("name", "documents"),
    [
        ("busybox", ["the reference's manifest", "entry linux/amd64", "entry linux/arm/v5"]),
        ("golang", ["the reference's manifest", "its config"]),
    ],
)
def test_digest_checks(reg, name, documents):
    frame = nb.digest_checks(reg, inspect(nb.lab_ref(name), client=reg))
    assert frame["document"].tolist() == documents
    assert frame["match"].all()
    assert (frame["named by"] == frame["sha256 of the bytes"]).all()


def test_new_axes_has_the_size_and_title_asked_for():
    import matplotlib

    matplotlib.use("Agg")
    ax = nb.new_axes(5, 7, title="coverage")
    assert tuple(ax.figure.get_size_inches()) == (5.0, 7.0)
    assert ax.get_title() == "coverage"
    matplotlib.pyplot.close(ax.figure)


def test_plot_timelines_shares_one_time_axis():
    import matplotlib

    from archlab import history

    matplotlib.use("Agg")
    fig = nb.plot_timelines(history.load_history(), ["mysql:5.7", "mysql:latest"])
    top, bottom = fig.axes
    assert top.get_title() == "mysql:5.7: platforms per snapshot"
    assert top.get_xlim() == bottom.get_xlim()
    assert [t.get_text() for t in bottom.get_yticklabels()] == ["linux/amd64", "linux/arm64"]
    matplotlib.pyplot.close(fig)


# ------------------------------------------------------------------------ platforms


def test_selection_frame_shows_dockers_choice_and_its_error(reg):
    insps = [inspect(nb.lab_ref(n), client=reg) for n in ("busybox", "mysql", "golang")]
    frame = nb.selection_frame(insps, ["linux/arm64/v8", "linux/arm/v7"])
    busybox = scenarios.get("busybox")
    arm7 = next(i for i in busybox.images if str(i.platform) == "linux/arm/v7")
    assert frame.loc[nb.lab_ref("busybox"), "linux/arm/v7"] == (
        f"linux/arm/v7 {arm7.manifest.digest[7:19]}"
    )
    assert frame.loc[nb.lab_ref("mysql"), "linux/arm64/v8"] == NO_MATCH_ARM64
    assert frame.loc[nb.lab_ref("golang"), "linux/arm/v7"].endswith("(single-arch: not checked)")


@pytest.mark.parametrize(
    ("spec", "column", "expected"),
    [
        ("linux/arm64/v8", "20.10 prints", "linux/arm64/v8"),
        ("linux/arm64/v8", "compared as (20.10)", "linux/arm64"),
        ("aarch64", "compared as (28+)", "linux/arm64"),  # one part: the host's OS fills in
        ("linux/x86_64", "compared as (20.10)", "linux/amd64"),
        ("linux/amd64/v1", "compared as (20.10)", "linux/amd64/v1"),
        ("linux/amd64/v1", "compared as (23-27)", "linux/amd64"),
        ("linux/armhf", "compared as (20.10)", "linux/arm/v7"),
        ("linux/armel", "compared as (20.10)", "linux/arm/v6"),
        ("linux/arm", "20.10 prints", "linux/arm"),
        ("linux/arm64/v8.0", "compared as (28+)", "linux/arm64"),
    ],
)
def test_normalization_frame(spec, column, expected):
    assert nb.normalization_frame([spec]).loc[spec, column] == expected


def test_normalization_frame_shows_refusals():
    frame = nb.normalization_frame(["linux/arm64/v8.0", "a/b/c/d"])
    assert frame.loc["linux/arm64/v8.0", "compared as (20.10)"].startswith("refused: ")
    assert "too many parts" in frame.loc["a/b/c/d", "compared as (28+)"]


def test_normalization_frame_uses_the_given_host_for_one_part_specs():
    frame = nb.normalization_frame(["s390x"], host=Platform("windows", "amd64"))
    assert frame.loc["s390x", "20.10 prints"] == "windows/s390x"


# ------------------------------------------------------------------ binaries, kernel


@pytest.mark.parametrize(
    ("platform", "machine", "order"),
    [("linux/amd64", 62, "little"), ("linux/arm64", 183, "little"),
     ("linux/arm/v7", 40, "little"), ("linux/s390x", 22, "big"), ("linux/386", 3, "little")],
)
def test_identity_frame(platform, machine, order):
    row = nb.identity_frame([platform]).iloc[0]
    assert row["e_machine"] == machine
    assert row["byte order"] == order


def test_run_hello_frame_native_for_this_cpu():
    here = sorted(host_native_platforms())
    if not here:
        pytest.skip("this CPU runs none of archlab's hello platforms")
    row = nb.run_hello_frame([here[0]], how="native").iloc[0]
    assert row["mode"] == "native"
    assert row["result"] == f"hello from {here[0]}"
    assert row["emulator"] == ""


def test_run_hello_frame_under_qemu_names_the_emulator_not_its_path():
    require_qemu("linux/s390x")
    row = nb.run_hello_frame(["linux/s390x"], how="qemu").iloc[0]
    assert (row["mode"], row["emulator"], row["result"]) == (
        "emulated", "qemu-s390x-static", "hello from linux/s390x")


def test_run_hello_frame_refuses_unknown_modes():
    with pytest.raises(LabError, match="how='docker'"):
        nb.run_hello_frame(["linux/amd64"], how="docker")


def test_run_lab_frame_pull_refused_is_a_row(reg_layers):
    row = nb.run_lab_frame([("mysql", MULTIPASS)], reg_layers).iloc[0]
    assert (row["mode"], row["result"], row["asks for"]) == (
        "pull refused", NO_MATCH_ARM64, "linux/arm64/v8")


def test_run_lab_frame_runs_the_binary_from_the_layer(reg_layers):
    require_qemu("linux/amd64")  # the M1 profile emulates amd64, on any machine
    row = nb.run_lab_frame([("middleware", M1)], reg_layers).iloc[0]
    assert (row["binary"], row["mode"], row["result"]) == (
        "linux/amd64", "emulated", "hello from linux/amd64")


def test_run_lab_frame_names_no_emulator_for_a_native_run(reg_layers):
    """busybox on the arm64 VM runs natively there; on an amd64 machine qemu stands in, which
    the result says, while the emulator column (what the host uses) stays empty."""
    if "linux/arm64" in host_native_platforms():
        pytest.skip("this machine runs arm64 natively: no stand-in needed")
    require_qemu("linux/arm64")
    row = nb.run_lab_frame([("busybox", MULTIPASS)], reg_layers).iloc[0]
    assert (row["mode"], row["emulator"]) == ("native", "")
    assert row["result"] == "hello from linux/arm64 (here qemu stands in for the host's CPU)"


def test_run_lab_frame_says_why_it_cannot_reproduce_in_words(reg_layers):
    if "linux/amd64" not in host_native_platforms():
        pytest.skip("only an amd64 machine runs the middleware natively")
    row = nb.run_lab_frame([("middleware", MULTIPASS)], reg_layers).iloc[0]
    assert row["mode"] == "not reproducible here"
    assert row["result"].endswith("a host that runs linux/arm64 natively and nothing emulated "
                                  "would give")
    assert "[" not in row["result"]


def test_run_lab_frame_needs_layers(reg):
    with pytest.raises(NotFoundError):
        nb.run_lab_frame([("busybox", "this-machine")], reg)


def test_emulation_frame():
    frame = nb.emulation_frame([M1, MULTIPASS, "apple-silicon-rosetta"],
                               ["linux/arm64", "linux/amd64"])
    assert frame.loc[M1].tolist() == ["native", "qemu"]
    assert frame.loc[MULTIPASS].tolist() == ["native", "exec format error"]
    assert frame.loc["apple-silicon-rosetta", "linux/amd64"] == "rosetta"


@pytest.mark.parametrize(
    ("runc", "text"),
    [
        ("1.0.2", "standard_init_linux.go:228: exec user process caused: exec format error"),
        ("1.1.5", "exec /bin/hello: exec format error"),
    ],
)
def test_runc_text_frame(runc, text):
    assert nb.runc_text_frame([runc]).iloc[0]["prints"] == text


# ----------------------------------------------------------------- hosts, predictions


def test_hosts_frame_leaves_out_paths():
    frame = nb.hosts_frame([M1, MULTIPASS])
    assert list(frame.index) == [M1, MULTIPASS]
    assert list(frame.columns) == list(nb.HOST_COLUMNS)
    assert frame.loc[MULTIPASS, "engine"] == "20.10.12"


def test_outcomes_of_the_story(story_facts):
    preds = nb.story_predictions(story_facts, [M1, MULTIPASS],
                                 commands=[("pull", "mysql", None), ("run", "middleware", None),
                                           ("run", "redis", None)])
    assert [nb.outcome(p) for p in preds] == [
        "fails: no matching manifest for linux/arm64/v8",
        "fails: no matching manifest for linux/arm64/v8",
        "runs emulated (qemu)",
        "exec format error",
        "runs natively",
        "runs natively",
    ]


def test_outcome_of_a_successful_pull(story_facts):
    from archlab.simulate import simulate_pull

    assert nb.outcome(simulate_pull(story_facts["mysql"], "this-machine")) == "pulls linux/amd64"


def test_outcome_grid_keeps_the_given_order(story_facts):
    hosts = [MULTIPASS, M1]  # not alphabetical
    preds = nb.story_predictions(story_facts, hosts,
                                 commands=[("run", "redis", None), ("pull", "mysql", None)])
    grid = nb.outcome_grid(preds)
    assert list(grid.columns) == hosts
    assert grid.index[0].startswith("docker run") and grid.index[1].startswith("docker pull")
    assert grid.loc[grid.index[1], MULTIPASS].startswith("fails: no matching manifest")


def test_story_predictions_cover_every_command_and_host(story_facts):
    facts = {**story_facts, "ruby": story_facts["redis"], "mariadb": story_facts["redis"]}
    preds = nb.story_predictions(facts, [M1, MULTIPASS, "this-machine"])
    assert len(preds) == len(nb.STORY_COMMANDS) * 3
    with pytest.raises(LabError, match="'create'"):
        nb.story_predictions(story_facts, [M1], commands=[("create", "mysql", None)])


def test_transcripts_show_host_exit_code_and_command(story_facts):
    preds = nb.story_predictions(story_facts, [MULTIPASS], commands=[("pull", "mysql", None)])
    assert nb.transcripts(preds).text == nb.transcripts(preds, width=None) == (
        f"### on {MULTIPASS} (exit code 1)\n"
        f"$ docker pull {nb.lab_ref('mysql')}\n"
        "5.7: Pulling from lab/mysql\n"
        f"{NO_MATCH_ARM64}"
    )


# ------------------------------------------------------------------------------ compose


def test_story_compose_is_relative_to_the_working_directory(monkeypatch):
    monkeypatch.chdir(REPO / "notebooks")
    assert nb.story_compose() == Path("../data/compose/story/docker-compose.yml")
    assert nb.story_compose().is_file()
    monkeypatch.chdir(REPO)
    assert nb.story_compose() == Path("data/compose/story/docker-compose.yml")


def test_compose_services_frame_shows_interpolation():
    from archlab.compose import load_compose

    project = load_compose(nb.data_path("compose", "story", "docker-compose.yml"), env={})
    frame = nb.compose_services_frame(project)
    assert list(frame.index) == ["db", "redis", "api", "some-middleware"]
    db = frame.loc["db"]
    assert (db["image as written"], db["image"], db["platform"]) == (
        "${LAB}/lab/mysql:5.7", "127.0.0.1:5000/lab/mysql:5.7", "linux/x86_64")
    assert frame.loc["api", "build"] == "./api (Dockerfile)"
    assert frame.loc["api", "image"] == ""


def test_audit_grid_keeps_file_and_host_order():
    frame = pd.DataFrame({
        "service": ["db", "db", "api", "api"],
        "host": ["b-host", "a-host", "b-host", "a-host"],
        "outcome": ["exec-format-error", "runs-emulated", "runs-native", "runs-native"],
    })
    grid = nb.audit_grid(frame)
    assert list(grid.index) == ["db", "api"] and list(grid.columns) == ["b-host", "a-host"]
    assert grid.loc["db", "b-host"] == "exec-format-error"


def test_suggestions_text_lists_only_rows_with_a_suggestion():
    frame = pd.DataFrame({
        "service": ["db", "redis"], "host": ["vm", "vm"],
        "outcome": ["exec-format-error", "runs-native"],
        "message": ["exec format error", ""],
        "suggestion_kind": ["replace", ""], "suggestion": ["image: mariadb", ""],
    })
    assert nb.suggestions_text(frame) == (
        "db on vm: exec-format-error\n"
        "  Docker says: exec format error\n"
        "  suggestion (replace): image: mariadb"
    )
    assert nb.suggestions_text(frame.iloc[1:]) == "(no suggestions: every service runs)"


# ------------------------------------------------------------------------------ setup


def test_setup_fixes_display_settings():
    import matplotlib

    # setup() changes process-wide settings: restore them for the other tests.
    with matplotlib.rc_context(), pd.option_context("display.max_colwidth", 50):
        nb.setup(figsize=(6.0, 3.0))
        assert matplotlib.get_backend().lower() == "agg"  # not inside Jupyter
        assert tuple(matplotlib.rcParams["figure.figsize"]) == (6.0, 3.0)
        assert pd.get_option("display.max_colwidth") >= 71  # a full sha256: digest
        nb.setup()
        assert tuple(matplotlib.rcParams["figure.figsize"]) == nb.FIGSIZE


def test_the_shipped_compose_transcript_and_the_prediction_for_this_machine() -> None:
    """The real docker-compose up (data/compose/story) against the audit for this-machine:
    only the ruby twin's layer lines differ (redis brought that layer first)."""
    from archlab.compose import audit, load_compose

    text = nb.story_transcript().text
    assert text.splitlines()[0].startswith("$ docker-compose up    # docker-compose 1.29.2, ")
    assert "Successfully tagged story_api:latest" in text
    story = load_compose(nb.story_compose(), env={})
    frame = audit(story, ["this-machine"], client=nb.lab_client())
    table = nb.predicted_vs_recorded(frame)
    assert not table["approximate"].any()
    missing = table[table["in the real run"] == "no"]
    assert set(missing["service"]) == {"api"}
    assert all(line.startswith("7136800c56d7: ") for line in missing["predicted line"])
    assert (table["in the real run"] == "yes").sum() >= 40


def test_the_story_timeline_has_every_command_on_every_host():
    """00's timeline once showed redis and api for host B only, and the pull for B only."""
    from archlab import explorer

    frame = nb.story_timeline()
    assert len(frame) == len(nb.TIMELINE_COMMANDS) * len(nb.STORY_HOSTS)
    for (verb, image, pin, shown), group in zip(nb.TIMELINE_COMMANDS,
                                                 [frame.iloc[i:i + 2] for i in
                                                  range(0, len(frame), 2)], strict=True):
        assert list(group["command"]) == [shown, shown]
        assert [h[0] for h in group["host"]] == ["A", "B"]
        assert set(group["platform: pin"]) == {pin or "none"}
        for host, (_, row) in zip(nb.STORY_HOSTS, group.iterrows(), strict=True):
            service = shown.split(" ")[2] if verb == "compose" else None
            p = explorer.predict(verb, image, host, pin, service=service)
            assert row["the line that shows it"] == \
                explorer.decisive_line(p).split(" | ", 1)[-1]
    pinned = frame[frame["platform: pin"] == "linux/x86_64"]
    assert list(pinned["outcome"]) == ["runs emulated (qemu)", "exec format error"]
    assert list(frame["step"]) == list(range(1, len(frame) + 1))


def test_counts_frame_is_a_table_not_a_dict_repr():
    from archlab import display

    frame = nb.counts_frame({"GET manifest": 16, "HEAD manifest": 1}, "request", "requests")
    assert list(frame.columns) == ["request", "requests"]
    assert display.table(frame).rows() == [["GET manifest", "16"], ["HEAD manifest", "1"]]
    assert "{" not in repr(display.table(frame))


def test_why_says_when_the_wording_is_not_modelled():
    from archlab import explorer
    from archlab.simulate import COMPOSE_V2_CAVEAT

    v2 = nb.why(explorer.predict("compose", "mysql", "m1-desktop-4.3", "linux/x86_64")).text
    assert v2.split("\n")[2] == f"_{COMPOSE_V2_CAVEAT}._"
    v1 = nb.why(explorer.predict("compose", "mysql", "multipass-ubuntu-arm64", "linux/x86_64"))
    assert COMPOSE_V2_CAVEAT not in v1.text
