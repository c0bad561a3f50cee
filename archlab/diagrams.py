"""Mermaid diagrams drawn from archlab's own data: documents, decisions, hosts, predictions.

What it is for
--------------
Some things read better as a picture than as a paragraph: the chain tag → list → manifest →
config, the point where ``docker pull`` checks a platform and the point where the kernel does,
two hosts side by side with and without emulation. Each function here returns a
:class:`Diagram`, Mermaid source built from archlab's data (an inspection, host profiles, a
prediction's steps, Docker's own message texts), so the picture cannot drift from what the
library says. JupyterLab 4.1 and later draw Mermaid natively, in markdown cells and in the
markdown a code cell returns.

How do I use it?
----------------
::

    from archlab import diagrams
    diagrams.manifest_tree(inspection)            # in Jupyter: the tree of a real inspection
    diagrams.hosts(["m1-desktop-4.3", "multipass-ubuntu-arm64"])
    print(diagrams.pull_decision().source)        # the Mermaid text, to paste anywhere
    diagrams.pull_decision().markdown()           # a fenced ```mermaid block

=============================  ==============================================================
function                       draws, from
=============================  ==============================================================
``document_chain()``           tag → list → manifest → config → layers, and where each kind of
                               document records the platform (archlab's media types)
``manifest_tree(insp)``        one real :class:`~archlab.inspect.Inspection`: its digest,
                               every entry with its platform, attestations marked
``pull_decision()``            Docker 20.10's pull: a list is matched, a single manifest is not
                               (Docker's message texts as the simulator prints them)
``check_points()``             pull time vs run time: who checks what, from CLI to kernel
``hosts(names)``               host profiles one under the other, in the order given: native
                               CPU, binfmt_misc handlers, what a foreign binary meets
=============================  ==============================================================

Colours follow the Okabe–Ito palette, which colour-blind readers can tell apart: bluish green
for "runs", vermillion for "fails", orange for "emulated", sky blue for documents.

Diagrams in markdown cells
--------------------------
A markdown cell that shows one of the static diagrams starts with a marker comment naming the
call, ``<!-- archlab.diagrams.pull_decision() -->``, followed by the fenced block;
``tests/test_diagrams.py`` checks that every such block is exactly what the call returns now
(``tools/sync_diagrams.py`` rewrites them after a change here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from archlab.hosts import Host
    from archlab.inspect import Inspection

__all__ = [
    "MARKER_RE",
    "Diagram",
    "check_points",
    "document_chain",
    "hosts",
    "manifest_tree",
    "pull_decision",
]

#: Okabe–Ito colours as Mermaid class definitions (fill, text colour).
_CLASSES: Final = (
    "classDef ok fill:#009E73,stroke:#004d38,color:#ffffff",
    "classDef fail fill:#D55E00,stroke:#7a3600,color:#ffffff",
    "classDef emu fill:#E69F00,stroke:#7a5500,color:#000000",
    "classDef doc fill:#56B4E9,stroke:#1f5f85,color:#000000",
    "classDef plain fill:#f4f4f4,stroke:#808080,color:#000000",
)

#: Entries per row in :func:`manifest_tree`.
_ROW: Final = 5

#: The marker a markdown cell puts before an embedded diagram: ``<!-- archlab.diagrams.f() -->``.
MARKER_RE: Final = re.compile(r"<!-- archlab\.diagrams\.([a-z_]+)\(\) -->\n```mermaid\n(.*?)```",
                              re.S)


@dataclass(frozen=True)
class Diagram:
    """Mermaid source and a title; shown as a drawing in JupyterLab."""

    source: str
    title: str = ""

    def markdown(self) -> str:
        """A fenced ```mermaid block (what a markdown cell holds)."""
        return f"```mermaid\n{self.source}\n```"

    def _repr_markdown_(self) -> str:
        head = f"**{self.title}**\n\n" if self.title else ""
        return head + self.markdown()

    def __repr__(self) -> str:
        return self.source


def _label(text: str) -> str:
    """A node label: quoted, with Mermaid's own escapes for quotes, line breaks as <br/>."""
    safe = text.replace('"', "#quot;").replace("\n", "<br/>")
    return f'"{safe}"'


def _diagram(lines: Iterable[str], title: str = "") -> Diagram:
    lines = list(lines)
    # Class definitions belong to flowcharts; a sequence diagram would not parse with them.
    body = [*lines, *_CLASSES] if lines[0].startswith("flowchart") else lines
    return Diagram("\n".join(body), title)


# ------------------------------------------------------------------------------- documents

_SHAPES: Final = {"box": ("[", "]"), "round": ("(", ")"), "stadium": ("([", "])"),
                  "diamond": ("{", "}")}


def _node(name: str, text: str, cls: str = "plain", shape: str = "box", indent: str = "  "
          ) -> str:
    left, right = _SHAPES[shape]
    tail = f":::{cls}" if cls else ""
    return f"{indent}{name}{left}{_label(text)}{right}{tail}"


def _edge(a: str, b: str, text: str = "", *, dotted: bool = False, indent: str = "  ") -> str:
    arrow = "-.->" if dotted else "-->"
    return f"{indent}{a} {arrow}|{_label(text)}| {b}" if text else f"{indent}{a} {arrow} {b}"


def document_chain() -> Diagram:
    """Tag → manifest list → image manifest → config and layers; where the platform is written.

    Drawn top-down with short labels: JupyterLab scales a diagram to the width of its panel,
    so a wide left-to-right chain would shrink its text below what a projector can show.
    """
    return _diagram([
        "flowchart TB",
        _node("tag", "tag\nbusybox:latest", shape="round"),
        _node("list", "manifest list\n(OCI: image index)\none entry per platform", "doc"),
        _node("single", "single image\nmanifest\nno platform field", "doc"),
        _node("man", "image manifest\nconfig + layers", "doc"),
        _node("cfg", 'config\n"architecture": "arm64"\n"os": "linux"', "doc"),
        _node("lay", "layers\nthe files,\ne.g. /bin/hello"),
        _edge("tag", "list", "a list"),
        _edge("tag", "single", "or one image", dotted=True),
        _edge("list", "man", "entry: digest\n+ platform"),
        _edge("man", "cfg", "config digest"),
        _edge("man", "lay", "layer digests"),
        _edge("single", "cfg", "config digest:\nthe only platform"),
    ], "Where a tag records the platform")


def manifest_tree(insp: Inspection, *, max_entries: int = 12) -> Diagram:
    """The documents behind one real inspection: the tag, its digest, each entry and platform.

    For a list, each entry is one node (attestations marked); past ``max_entries`` the rest are
    counted in one node. For a single manifest, the config and the platform it records.
    """
    from archlab.display import short_digest

    ref = insp.reference
    lines = ["flowchart TB", _node("tag", str(ref), shape="round")]
    if insp.is_multi_arch:
        kind = "OCI index" if insp.kind == "index" else "manifest list"
        lines += [_node("root", f"{kind}\n{short_digest(insp.digest)}", "doc"),
                  _edge("tag", "root")]
        shown = insp.entries[:max_entries]
        for n, e in enumerate(shown):
            if e.is_attestation:
                lines.append(_node(f"e{n}", f"attestation\nfor {short_digest(e.attests or '')}"))
            else:
                lines.append(_node(f"e{n}", f"{e.platform}\n{short_digest(e.digest)}", "doc"))
            lines.append(_edge("root", f"e{n}"))
        # Rows of _ROW entries: an invisible link puts each next row under the one above, so a
        # long list stays within a screen's width.
        for n in range(_ROW, len(shown)):
            lines.append(f"  e{n - _ROW} ~~~ e{n}")
        if len(insp.entries) > len(shown):
            more = len(insp.entries) - len(shown)
            lines += [_node("more", f"... {more} more entries"), _edge("root", "more")]
    else:
        lines += [_node("root", f"image manifest\n{short_digest(insp.digest)}\nno platform field",
                        "doc"),
                  _edge("tag", "root")]
        entry = insp.entries[0] if insp.entries else None
        platform = entry.config_platform if entry is not None else None
        text = f"config\nplatform: {platform}" if platform else "config\n(not fetched)"
        lines += [_node("cfg", text, "doc"), _edge("root", "cfg", "config digest")]
    return _diagram(lines, f"What {ref} points at")


# -------------------------------------------------------------------------------- decisions


def pull_decision() -> Diagram:
    """Docker 20.10's ``docker pull``: a list is matched against the platform, one image is not."""
    from archlab.simulate import runc_exec_error

    return _diagram([
        "flowchart LR",
        _node("fetch", "docker pull IMAGE:\nwhat does the tag name?", shape="stadium"),
        _node("match", "an entry for the platform? (--platform, else the daemon's own; "
              "both normalized)"),
        _node("pick", "pull the first\nmatching entry", "ok"),
        _node("err", "no matching manifest for linux/arm64/v8 in the manifest list entries",
              "fail"),
        _node("nocheck", "no platform check:\nany architecture is pulled", "emu"),
        _node("later", "checked at run time by the kernel:\n"
              + runc_exec_error("1.0.2", "/bin/hello"), "fail"),
        _edge("fetch", "match", "a list or OCI index"),
        _edge("match", "pick", "yes"),
        _edge("match", "err", "no"),
        _edge("fetch", "nocheck", "one image manifest"),
        _edge("nocheck", "later", "if the CPU cannot run it", dotted=True),
    ], "Docker 20.10's pull decision")


def check_points() -> Diagram:
    """Who checks the platform, and when: pull time (lists only) vs run time (every binary)."""
    return _diagram([
        "sequenceDiagram",
        "  participant CLI as docker CLI",
        "  participant D as dockerd",
        "  participant K as runc and the kernel",
        "  Note over CLI,D: pull time",
        "  CLI->>D: pull IMAGE",
        "  D->>D: a list: pick the platform's entry, or no matching manifest",
        "  D->>D: a single manifest: no check",
        "  Note over CLI,K: run time",
        "  CLI->>D: create, start",
        "  D-->>CLI: WARNING when image and host platforms differ",
        "  D->>K: runc execs the entrypoint",
        "  K->>K: e_machine native, or a binfmt_misc handler (qemu)? it runs",
        "  K-->>CLI: else ENOEXEC: exec format error, exit code 1",
    ], "Pull time and run time")


# ------------------------------------------------------------------------------------ hosts


def _host_block(n: int, host: Host, probe: str) -> list[str]:
    kernel = f"h{n}k"
    lines = [
        f"  subgraph h{n}[{_label(host.display_name)}]",
        "    direction LR",
        _node(f"h{n}p", f"{probe}\nprogram", shape="stadium", indent="    "),
        _node(kernel, f"{host.daemon_platform} kernel\nEngine {host.engine}", indent="    "),
        _edge(f"h{n}p", kernel, indent="    "),
    ]
    emu = host.emulator_for(probe)
    if host.runs_natively(probe):
        lines += [_node(f"h{n}r", f"{probe} binary runs natively", "ok", indent="    "),
                  _edge(kernel, f"h{n}r", indent="    ")]
    elif emu is not None:
        lines += [_node(f"h{n}b", f"binfmt_misc: a handler\nfor {probe}", "emu", indent="    "),
                  _node(f"h{n}q", f"{emu.describe()} runs it", "emu", indent="    "),
                  _edge(kernel, f"h{n}b", indent="    "),
                  _edge(f"h{n}b", f"h{n}q", indent="    ")]
    else:
        lines += [_node(f"h{n}x", "no handler:\nexec format error", "fail", indent="    "),
                  _edge(kernel, f"h{n}x", indent="    ")]
    lines.append("  end")
    return lines


def hosts(names: Sequence[str | Host], probe: str = "linux/amd64") -> Diagram:
    """Host profiles one under the other, in the order given: what happens to a ``probe``
    binary (amd64 by default) on each.

    Built from each profile's native and emulated platforms, so any profile can be drawn
    (``archlab hosts`` lists them). Hosts are stacked, one row each (program → kernel →
    handler → emulator), not set side by side: JupyterLab scales a diagram to its panel's
    width, and four hosts in a row would shrink the text to 9 px. Invisible links chain the
    hosts so that Mermaid keeps them in the order given; no arrow enters a host's box from
    outside, because Mermaid then ignores the box's own left-to-right direction, and arrows
    from one shared node drew the hosts as a staircase.
    """
    from archlab.hosts import get_host

    resolved = [get_host(n) for n in names]
    lines = ["flowchart TB"]
    for n, host in enumerate(resolved):
        lines += _host_block(n, host, probe)
    lines += [f"  h{n - 1} ~~~ h{n}" for n in range(1, len(resolved))]
    return _diagram(lines, f"One {probe} binary on {len(resolved)} hosts")


#: The static diagrams a markdown cell may embed, by name (see the module docstring).
STATIC: Final = {
    "document_chain": document_chain,
    "pull_decision": pull_decision,
    "check_points": check_points,
}
