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
    assert "Measured: a real Docker Engine 20.10 prints these lines word for word" in text
    later = explorer.report(explorer.predict("run", "middleware", "linux-arm64-docker29"),
                            "29.1.2")
    flat = " ".join(later.split())
    assert "Not measured:" in flat and "for Engine 29.1.2;" in flat


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
