"""archlab.explorer: host x lab image x --platform x command, offline, with and without widgets."""

from __future__ import annotations

import pytest

from archlab import display, explorer
from archlab.errors import LabError


@pytest.mark.parametrize(("command", "image", "host", "platform", "kind"), [
    ("pull", "mysql", "multipass-ubuntu-arm64", None, "pull error"),
    ("pull", "golang", "multipass-ubuntu-arm64", None, "pulls"),
    ("run", "middleware", "multipass-ubuntu-arm64", None, "exec format error"),
    ("run", "middleware", "m1-desktop-4.3", None, "runs emulated"),
    ("run", "redis", "raspberry-pi-os-32", None, "runs natively"),
    ("run", "busybox", "ubuntu-amd64-qemu", "linux/s390x", "runs emulated"),
    ("create", "golang", "this-machine", None, "created"),
    ("compose", "mysql", "multipass-ubuntu-arm64", "linux/x86_64", "exec format error"),
])
def test_predict_and_its_outcome(command, image, host, platform, kind):
    p = explorer.predict(command, image, host, platform)
    assert explorer.outcome_kind(p) == kind
    assert p.host == host


def test_the_decisive_line_is_the_one_that_tells():
    p = explorer.predict("run", "middleware", "multipass-ubuntu-arm64")
    assert explorer.decisive_line(p) == ("standard_init_linux.go:228: exec user process caused: "
                                         "exec format error")
    p = explorer.predict("run", "middleware", "apple-silicon-rosetta")
    assert explorer.decisive_line(p) == "hello from linux/amd64"


def test_report_fits_a_screen_and_says_how_far_to_trust_it():
    p = explorer.predict("run", "middleware", "multipass-ubuntu-arm64")
    text = explorer.report(p, "20.10.12")
    assert all(len(line) <= display.TEXT_WIDTH or " " not in line.strip()
               for line in text.split("\n"))
    assert "Digest: sha256:2c6a2f…" in text
    assert "outcome: exec format error, exit code 1" in text
    flat = " ".join(text.split())
    assert ("Measured on an amd64 Docker Engine 20.10.24 (Debian's docker.io), word for word; "
            "Engine 20.10.12 runs the same code for these lines") in flat
    later = explorer.report(explorer.predict("run", "middleware", "linux-arm64-docker29"),
                            "29.1.2")
    flat = " ".join(later.split())
    assert "None of these 10 lines was measured: they follow" in flat
    assert "for Engine 29.1.2;" in flat


def test_the_trust_paragraph_names_the_engine_really_measured():
    # The Pi runs 20.10.21 on arm/v7; archlab measured an amd64 20.10.24, and says so.
    pi = explorer.calibration_note(explorer.predict("pull", "mariadb", "raspberry-pi-os-32"),
                                   "20.10.21")
    assert pi.startswith("Measured on an amd64 Docker Engine 20.10.24")
    assert "Engine 20.10.21 runs the same code" in pi
    here = explorer.calibration_note(explorer.predict("run", "redis", "this-machine"), "20.10.24")
    assert here.startswith("Measured: archlab checks these lines word for word against an amd64")


def test_compose_v2_transcripts_say_their_wording_is_not_modelled():
    from archlab.simulate import COMPOSE_V2_CAVEAT

    v2 = explorer.predict("compose", "mysql", "m1-desktop-4.3", "linux/x86_64")
    assert v2.caveat == COMPOSE_V2_CAVEAT
    assert v2.transcript(with_command=True).split("\n")[0] == (
        "$ docker compose up mysql    # Compose v2: outcome predicted, wording not modelled")
    text = " ".join(explorer.report(v2, "20.10.11").split())
    assert "# on m1-desktop-4.3; Compose v2: outcome predicted, wording not modelled" in text
    assert "Compose v2: outcome predicted, wording not modelled. None of these 9 lines" in text
    v1 = explorer.predict("compose", "mysql", "multipass-ubuntu-arm64", "linux/x86_64")
    assert v1.caveat is None
    assert "#" not in v1.transcript(with_command=True).split("\n")[0]


def test_unknown_inputs_say_what_exists():
    with pytest.raises(LabError, match="choose one of pull, run, create, compose"):
        explorer.predict("push", "busybox", "this-machine")
    with pytest.raises(LabError, match="no lab image called 'nginx'"):
        explorer.predict("run", "nginx", "this-machine")


def test_without_ipywidgets_the_form_is_plain_text(monkeypatch):
    monkeypatch.setattr(explorer, "_widgets_available", lambda: False)
    shown = explorer.form(host="raspberry-pi-os-32", image="mariadb", command="pull")
    assert isinstance(shown, explorer.Fallback)
    text = repr(shown)
    assert text.startswith("(ipywidgets is not installed")
    assert "no matching manifest for linux/arm/v7 in the manifest list entries" in text
    assert "explorer.predict(command, image, host, platform)" in text


def test_the_form_answers_a_new_choice():
    pytest.importorskip("ipywidgets")
    form = explorer.form(host="multipass-ubuntu-arm64", image="middleware", command="run")
    bundle = form._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/plain"].startswith("$ docker run 127.0.0.1:5000/lab/middleware:latest")
    host = form.children[0].children[0]
    out = form.children[3]
    assert "# on multipass-ubuntu-arm64" in out.value
    host.value = "m1-desktop-4.3"
    assert "# on m1-desktop-4.3" in out.value and "runs emulated (qemu)" in out.value
    platform = form.children[1].children[0]
    platform.value = "linux/arm64"  # the single amd64 image: pulled, then a mismatch on create
    assert "--platform linux/arm64" in out.value


def test_a_long_docker_line_in_a_report_wraps_with_the_transcript_mark():
    """The WARNING of an emulated run is longer than a screen: its continuation starts with
    the mark, never with the indent that prose continuations get."""
    p = explorer.predict("run", "middleware", "m1-desktop-4.3")
    warning = next(ln.text for ln in p.lines if ln.text.startswith("WARNING"))
    assert len(warning) > display.TEXT_WIDTH
    lines = explorer.report(p, "20.10.11").split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("WARNING"))
    assert lines[at + 1].startswith(display.TRANSCRIPT_MARK)
    assert " ".join([lines[at], *(x.removeprefix(display.TRANSCRIPT_MARK)
                                  for x in lines[at + 1:at + 3])]).startswith(warning)
