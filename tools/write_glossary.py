#!/usr/bin/env python3
"""Write notebooks/Glossary.ipynb from archlab.glossary.TERMS (markdown cells only).

The glossary is generated, never edited by hand: tests/test_glossary.py checks that the file
holds exactly what archlab.glossary.notebook_cells() returns. Run this after changing a term:

    .venv/bin/python tools/write_glossary.py
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from archlab import glossary

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / glossary.GLOSSARY_NOTEBOOK


def main() -> None:
    nb = nbformat.v4.new_notebook()
    # The kernel's full language_info, as the executed notebooks store it: with only
    # {"name": "python"}, JupyterLab fills in the rest when the kernel starts and marks the
    # glossary modified the moment it is opened.
    first = json.loads((NOTEBOOK.parent / "00-Start-Here.ipynb").read_text(encoding="utf-8"))
    nb.metadata = {"kernelspec": first["metadata"]["kernelspec"],
                   "language_info": first["metadata"]["language_info"]}
    nb.cells = [nbformat.v4.new_markdown_cell(text) for text in glossary.notebook_cells()]
    for n, cell in enumerate(nb.cells):
        cell["id"] = f"gl-{n:02d}"  # stable ids: a regenerated glossary diffs by its text only
    nbformat.write(nb, NOTEBOOK)
    print(f"wrote {NOTEBOOK} ({len(glossary.TERMS)} terms)")


if __name__ == "__main__":
    main()
