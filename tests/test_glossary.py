"""archlab.glossary: the generated glossary notebook, and a link at each term's first use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archlab import glossary
from archlab.errors import ArchlabError

REPO = Path(__file__).resolve().parents[1]
READING_ORDER = sorted((REPO / "notebooks").glob("0*.ipynb"))


def test_the_glossary_notebook_is_generated_from_the_terms():
    doc = json.loads((REPO / "notebooks" / glossary.GLOSSARY_NOTEBOOK).read_text())
    cells = ["".join(c["source"]) for c in doc["cells"]]
    assert cells == glossary.notebook_cells(), "run tools/write_glossary.py"
    assert all(c["cell_type"] == "markdown" for c in doc["cells"])
    assert doc["metadata"]["kernelspec"]["name"] == "python3"  # no kernel dialog on opening


def test_anchors_are_unique_and_match_jupyterlab_heading_ids():
    anchors = [t.anchor for t in glossary.TERMS]
    assert len(anchors) == len(set(anchors))
    for cell, term in zip(glossary.notebook_cells()[1:], glossary.TERMS, strict=True):
        heading = cell.split("\n")[0].removeprefix("### ")
        # an explicit anchor keeps old links working, whatever the heading's case
        assert heading.startswith(f'<a id="{term.anchor}"></a>')
        assert heading.removeprefix(f'<a id="{term.anchor}"></a>').lower() == term.name.lower()


def test_headings_are_in_proper_case():
    shown = {t.name: glossary.heading(t).split("</a>")[1] for t in glossary.TERMS}
    assert shown["OCI index"] == "OCI index" and shown["ELF"] == "ELF"
    assert shown["BuildKit"] == "BuildKit" and shown["Docker Engine"] == "Docker Engine"
    assert shown["manifest list"] == "Manifest list"
    assert shown["binfmt_misc"] == "binfmt_misc" and shown["runc"] == "runc"


def test_the_glossary_is_not_modified_by_opening_it():
    """JupyterLab completes a partial language_info when the kernel starts, which marked the
    glossary modified on opening: it stores the same metadata as the executed notebooks."""
    doc = json.loads((REPO / "notebooks" / glossary.GLOSSARY_NOTEBOOK).read_text())
    first = json.loads((REPO / "notebooks" / "00-Start-Here.ipynb").read_text())
    assert doc["metadata"] == {k: first["metadata"][k] for k in ("kernelspec", "language_info")}
    assert all("id" in c and c["metadata"] == {} for c in doc["cells"])


def test_the_terms_the_issue_names_are_defined():
    for name in ("manifest list", "OCI index", "platform", "variant", "normalization",
                 "default platform", "binfmt_misc", "qemu-user", "Rosetta", "runc",
                 "containerd", "BuildKit", "attestation", "Multipass"):
        assert glossary.get(name).definition


def test_links_and_unknown_terms():
    assert glossary.link("OCI index") == "[OCI index](Glossary.ipynb#oci-index)"
    assert glossary.link("variant", "variants") == "[variants](Glossary.ipynb#variant)"
    with pytest.raises(ArchlabError, match="no glossary term 'manifesto'"):
        glossary.get("manifesto")


def test_first_use_detection_skips_code_headings_and_other_terms(tmp_path):
    nb = tmp_path / "x.ipynb"
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["# runc in a title\n`runc` in code\n"]},
        {"cell_type": "markdown", "source": ["the [containerd image store](Glossary.ipynb#"
                                             "containerd-image-store), then runc here"]},
    ]}))
    uses = {u.term: u for u in glossary.first_uses([nb])}
    assert uses["runc"].cell == 1 and not uses["runc"].linked
    assert uses["containerd image store"].linked
    assert "containerd" not in uses  # only inside another term's link


def test_every_term_links_to_the_glossary_where_it_first_appears():
    uses = glossary.first_uses(READING_ORDER)
    unlinked = [f"{u.term}: {u.notebook} cell {u.cell}: {u.text.strip()[:80]}"
                for u in uses if not u.linked]
    assert unlinked == []
    assert len(uses) >= 25  # most terms are met in the course, each linked once
