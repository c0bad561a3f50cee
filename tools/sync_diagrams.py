#!/usr/bin/env python3
"""Rewrite the Mermaid blocks that notebooks embed from archlab.diagrams, after a change there.

A markdown cell embeds a static diagram as a marker comment naming the call, then its block:

    <!-- archlab.diagrams.pull_decision() -->
    ```mermaid
    ...
    ```

tests/test_diagrams.py fails when a block differs from what the call returns now; this tool
replaces every such block in notebooks/*.ipynb with the current text (outputs are untouched):

    .venv/bin/python tools/sync_diagrams.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from archlab import diagrams

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def main() -> None:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        changed = 0
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            new = diagrams.MARKER_RE.sub(
                lambda m: f"<!-- archlab.diagrams.{m.group(1)}() -->\n"
                          f"{diagrams.STATIC[m.group(1)]().markdown()}", cell.source)
            if new != cell.source:
                cell.source = new
                changed += 1
        if changed:
            nbformat.write(nb, path)
            print(f"{path.name}: {changed} diagram cell(s) rewritten")


if __name__ == "__main__":
    main()
