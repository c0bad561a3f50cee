#!/usr/bin/env python3
"""Write notebooks/Glossary.ipynb from archlab.glossary.TERMS (markdown cells only).

The glossary is generated, never edited by hand: tests/test_glossary.py checks that the file
holds exactly what archlab.glossary.notebook_cells() returns. Run this after changing a term:

    .venv/bin/python tools/write_glossary.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from archlab import glossary

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / glossary.GLOSSARY_NOTEBOOK


def main() -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                  "name": "python3"},
                   "language_info": {"name": "python"}}
    nb.cells = [nbformat.v4.new_markdown_cell(text) for text in glossary.notebook_cells()]
    for n, cell in enumerate(nb.cells):
        cell["id"] = f"gl-{n:02d}"  # stable ids: a regenerated glossary diffs by its text only
    nbformat.write(nb, NOTEBOOK)
    print(f"wrote {NOTEBOOK} ({len(glossary.TERMS)} terms)")


if __name__ == "__main__":
    main()
