"""archlab.diagrams: Mermaid drawn from archlab's data, and the blocks notebooks embed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archlab import diagrams
from archlab import notebook as nb
from archlab.inspect import inspect

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def reg():
    client = nb.lab_client()
    yield client
    client.close()


def test_a_list_tree_names_every_entry_and_the_list(reg):
    insp = inspect(nb.lab_ref("busybox"), client=reg)
    source = diagrams.manifest_tree(insp).source
    assert source.startswith("flowchart TB")
    assert f"manifest list<br/>sha256:{insp.digest[7:13]}…" in source
    for entry in insp.entries:
        assert f'"{entry.platform}<br/>sha256:{entry.digest[7:13]}…"' in source
    # rows of five: each entry from the sixth on sits under the one five before it
    assert "e0 ~~~ e5" in source and "e4 ~~~ e9" in source


def test_a_single_manifest_tree_shows_the_config_platform(reg):
    source = diagrams.manifest_tree(inspect(nb.lab_ref("golang"), client=reg)).source
    assert "no platform field" in source
    assert '"config<br/>platform: linux/amd64"' in source


def test_attestations_are_drawn_as_such(reg):
    insp = inspect(nb.lab_ref("redis", oci=True), client=reg)
    source = diagrams.manifest_tree(insp, max_entries=len(insp.entries)).source
    assert source.count("attestation<br/>for sha256:") == sum(e.is_attestation
                                                                for e in insp.entries)
    assert "unknown/unknown" not in source


def test_long_lists_are_cut_with_a_count(reg):
    insp = inspect(nb.lab_ref("busybox"), client=reg)
    source = diagrams.manifest_tree(insp, max_entries=3).source
    assert f'"... {len(insp.entries) - 3} more entries"' in source


@pytest.mark.parametrize(("host", "expected"), [
    ("m1-desktop-4.3", '"qemu runs it"'),
    ("apple-silicon-rosetta", '"rosetta runs it"'),
    ("multipass-ubuntu-arm64", '"no handler:<br/>exec format error"'),
    ("this-machine", '"linux/amd64 binary runs natively"'),
])
def test_hosts_follow_their_profiles(host, expected):
    source = diagrams.hosts([host]).source
    assert expected in source


def test_labels_escape_quotes_and_sequence_diagrams_have_no_class_lines():
    assert diagrams._label('say "hi"\nthere') == '"say #quot;hi#quot;<br/>there"'
    assert "classDef" not in diagrams.check_points().source
    assert "classDef ok" in diagrams.pull_decision().source


def test_markdown_is_a_fenced_block_with_a_title():
    d = diagrams.document_chain()
    assert d.markdown() == f"```mermaid\n{d.source}\n```"
    assert d._repr_markdown_().startswith(f"**{d.title}**\n\n```mermaid\n")


def test_embedded_diagrams_are_what_the_library_draws_now():
    embedded = 0
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            for m in diagrams.MARKER_RE.finditer(source):
                assert m.group(1) in diagrams.STATIC, f"{path.name}: unknown diagram {m.group(1)}"
                assert m.group(2).rstrip("\n") == diagrams.STATIC[m.group(1)]().source, (
                    f"{path.name}: {m.group(1)} is out of date: run tools/sync_diagrams.py")
                embedded += 1
    assert embedded >= 3


def test_diagrams_in_at_least_four_notebooks():
    with_diagrams = [p.name for p in NOTEBOOKS
                     if "```mermaid" in p.read_text() or "diagrams." in p.read_text()]
    assert len(with_diagrams) >= 4, with_diagrams


def test_hosts_are_stacked_in_the_order_given():
    """Four hosts side by side shrank the text to 9 px: they are stacked, chained in order."""
    names = ["this-machine", "m1-desktop-4.3", "multipass-ubuntu-arm64", "apple-silicon-rosetta"]
    source = diagrams.hosts(names).source
    assert source.startswith("flowchart TB")
    assert "h0 ~~~ h1" in source and "h1 ~~~ h2" in source and "h2 ~~~ h3" in source
    titles = [line.split('"')[1] for line in source.split("\n") if "subgraph" in line]
    from archlab.hosts import get_host
    assert titles == [get_host(n).display_name for n in names]
    # no arrow enters a box from outside, so each keeps its own left-to-right direction
    assert source.count("    direction LR") == 4
    assert all(f'h{n}p(["linux/amd64<br/>program"])' in source for n in range(4))
    assert not [line for line in source.split("\n") if "-->" in line and "    " not in line]


def test_the_document_chain_is_drawn_top_down():
    assert diagrams.document_chain().source.startswith("flowchart TB")
