"""The course's glossary: every term a learner meets, defined once, linked where it first appears.

What it is for
--------------
The story uses words a newcomer has not met: manifest list, OCI index, variant,
normalization, binfmt_misc, runc, BuildKit, Multipass. Each is defined here once, in plain
words; ``notebooks/Glossary.ipynb`` is generated from :data:`TERMS`; and the first time a
notebook uses a term (in reading order, 00 first) the word links to its entry.

How do I use it?
----------------
::

    from archlab import glossary
    glossary.get("binfmt_misc").definition
    glossary.link("manifest list")           # '[manifest list](Glossary.ipynb#manifest-list)'
    glossary.first_uses(sorted(Path("notebooks").glob("0*.ipynb")))   # where each term appears

The rules
---------
=================================  ==========================================================
rule                               how it is checked
=================================  ==========================================================
the glossary notebook is           ``tests/test_glossary.py`` compares ``Glossary.ipynb``
generated, never edited by hand    with :func:`notebook_cells` (``tools/write_glossary.py``
                                   rewrites it)
a term's first use links to it     :func:`first_uses` finds each term's first occurrence in
                                   markdown text, in reading order, and says whether it sits
                                   inside a link to its entry
headings, code and diagrams do     a heading is a title, not a first use; text in backticks,
not count                          code blocks and Mermaid blocks are code
=================================  ==========================================================

An anchor is the term in lower case with spaces as ``-``. Each entry's heading is the term in
its proper case (``OCI index``, ``Docker Engine``) and carries that anchor explicitly
(``<a id="oci-index"></a>``): JupyterLab's own heading ids keep the heading's case, so without
it ``Glossary.ipynb#oci-index`` would no longer open the glossary at the entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from archlab.errors import ArchlabError

__all__ = [
    "GLOSSARY_NOTEBOOK",
    "TERMS",
    "FirstUse",
    "Term",
    "first_uses",
    "get",
    "heading",
    "link",
    "notebook_cells",
]

#: The glossary notebook's file name, beside the other notebooks.
GLOSSARY_NOTEBOOK: Final = "Glossary.ipynb"


@dataclass(frozen=True)
class Term:
    """One glossary entry: its name, how a text may spell it, and what it means."""

    name: str
    definition: str
    #: Regular expressions (case-insensitive, whole words) that count as a use of the term.
    spellings: tuple[str, ...] = ()

    @property
    def anchor(self) -> str:
        return self.name.lower().replace(" ", "-")

    @property
    def pattern(self) -> re.Pattern[str]:
        alts = self.spellings or (re.escape(self.name),)
        return re.compile(r"(?<![\w/#.-])(?:" + "|".join(alts) + r")(?![\w/-])", re.I)


TERMS: Final = (
    Term("tag", "The human-friendly name after the colon in `mysql:5.7`. A registry maps "
         "each tag to one document, and may move it to another document later.", (r"tags?",)),
    Term("registry", "A server that stores images and answers the Docker registry HTTP API: "
         "Docker Hub, GHCR, or the local one `archlab lab up` starts.",
         (r"registry", r"registries")),
    Term("manifest list", "A JSON document with one entry per platform, each entry pointing at "
         "an image manifest by its digest. Docker's name for what OCI calls an image index; a "
         "tag that names one is multi-arch.", (r"manifest lists?",)),
    Term("OCI index", "The Open Container Initiative's version of the manifest list "
         "(`application/vnd.oci.image.index.v1+json`, also called an image index). Docker treats "
         "it exactly like a manifest list.", (r"OCI index(?:es)?", r"image index(?:es)?")),
    Term("image manifest", "A JSON document describing one image: its config and its layers, "
         "each by digest. It has no platform field of its own; a tag that names one directly is "
         "single-arch.", (r"image manifests?", r"single manifests?")),
    Term("config", "The image's configuration, a JSON blob the manifest points to. It records "
         "the image's platform (`architecture`, `os`, `variant`), its entrypoint and its "
         "history.", (r"configs?",)),
    Term("layer", "A compressed tar archive of files. An image is its layers unpacked on top of "
         "each other; `/bin/hello` of the lab images lives in their one layer.", (r"layers?",)),
    Term("digest", "`sha256:` and the SHA-256 hash of a document's exact bytes: its name and its "
         "checksum at once. Every manifest, config and layer is fetched by digest and checked "
         "against it.", (r"digests?",)),
    Term("media type", "The kind of a document, such as "
         "`application/vnd.docker.distribution.manifest.list.v2+json`, given in its `mediaType` "
         "field and in the HTTP `Content-Type`.", (r"media types?",)),
    Term("platform", "Operating system, CPU architecture and, for ARM, a variant, written "
         "`os/arch/variant`: `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`.", (r"platforms?",)),
    Term("variant", "The CPU generation within an architecture: `v5`, `v6`, `v7` for 32-bit ARM, "
         "`v8` for arm64, `v1`-`v4` levels for amd64 in newer Engines.", (r"variants?",)),
    Term("normalization", "containerd's rewriting of platform names before they are compared: "
         "`aarch64` is `arm64`, `x86_64` is `amd64`, `armhf` is `arm/v7`, and a default variant "
         "such as arm64's `v8` is dropped.", (r"normaliz(?:ation|es?|ed|ing)",)),
    Term("default platform", "The platform a daemon asks for when no `--platform` is given: "
         "containerd's DefaultSpec, the daemon's own OS and CPU plus, on ARM, the variant read "
         "from `/proc/cpuinfo` (`linux/arm64/v8`).", (r"default platforms?", r"DefaultSpec")),
    Term("Docker Engine", "The Docker daemon (`dockerd`) and its API; the `docker` command is its "
         "client. 20.10 is the Engine of the story.", (r"Docker Engines?", r"dockerd")),
    Term("Docker Desktop", "Docker's application for macOS and Windows. It runs the Engine "
         "inside a small Linux virtual machine, with emulation for other CPUs set up.",
         (r"Docker Desktop",)),
    Term("Multipass", "Canonical's tool for Ubuntu virtual machines. The story's host B is an "
         "Ubuntu arm64 VM made with it on the M1 Mac: plain Linux, no emulation.",
         (r"Multipass",)),
    Term("emulation", "Running a program built for another CPU by translating its instructions: "
         "slower, and some programs crash under it (Docker calls it best effort).",
         (r"emulation", r"emulat(?:es?|ed|ing|or|ors)")),
    Term("qemu-user", "qemu's user-mode emulators (`qemu-x86_64`, `qemu-aarch64`, ...): they run "
         "one foreign Linux program, passing its system calls to this kernel.",
         (r"qemu-user(?:-static)?", r"qemu")),
    Term("binfmt_misc", "A Linux kernel feature: a table of handlers that says which "
         "interpreter runs files whose first bytes match a pattern. With a qemu handler "
         "registered, `execve` of a foreign binary quietly becomes qemu running it.",
         (r"binfmt_misc", r"binfmt")),
    Term("Rosetta", "Apple's translator from x86-64 to Apple silicon. Docker Desktop 4.25 and "
         "later use it, instead of qemu, to run amd64 containers.", (r"Rosetta",)),
    Term("ELF", "The file format of Linux executables. Its header says 32- or 64-bit, the byte "
         "order, and in `e_machine` the CPU the code is for.", (r"ELF",)),
    Term("e_machine", "The two bytes at offset 18 of an ELF header that name the instruction "
         "set: 62 for x86-64, 183 for AArch64, 40 for 32-bit ARM.", (r"e_machine",)),
    Term("exec format error", "The text of ENOEXEC, errno 8: the kernel found no way to execute "
         "the file, typically a binary for another CPU with no emulator registered.",
         (r"exec format error", r"ENOEXEC")),
    Term("runc", "The small program that creates a container's processes for containerd and "
         "`execve`s its entrypoint; it prints the `exec format error` line.", (r"runc",)),
    Term("containerd", "The daemon under Docker Engine that pulls, stores and runs images; its "
         "`platforms` package holds the normalization and matching rules.", (r"containerd",)),
    Term("containerd image store", "Keeping images in containerd rather than in Docker's older "
         "graphdriver storage: the default for new installs from Engine 29. It can hold one "
         "image for several platforms.", (r"containerd (?:image )?store",)),
    Term("BuildKit", "Docker's image builder (`docker build`, `docker buildx`). It builds for "
         "several platforms at once and adds attestations.", (r"BuildKit", r"buildx")),
    Term("attestation", "A manifest BuildKit adds to an index next to each image, with "
         "provenance or an SBOM, listed with the platform `unknown/unknown`. It is not a "
         "runnable platform.", (r"attestations?",)),
    Term("SBOM", "A software bill of materials: the list of packages and versions inside an "
         "image. BuildKit can attach one as an attestation; other tools attach it as a referrer.",
         (r"SBOMs?",)),
    Term("provenance", "A record of how an image was built: from which source, by which steps, "
         "on which builder. It is attached next to the image, like an SBOM.", (r"provenance",)),
    Term("cosign", "Sigstore's tool for signing images. `cosign sign` stores the signature in the "
         "image's own repository, under a tag made from the signed image's digest: "
         "`sha256-<hex>.sig`.", (r"cosign",)),
    Term("referrers", "OCI 1.1's way to attach documents (signatures, SBOMs) to an image: each "
         "names the image as its `subject`, and a registry's referrers API lists them. A registry "
         "without that API gets a list under the tag `sha256-<hex of the image's digest>`.",
         (r"referrers(?: API)?",)),
    Term("Helm chart", "A package of Kubernetes configuration. `helm push` stores it in an OCI "
         "registry as an artifact with its own media types: not an image, and for no platform.",
         (r"Helm charts?",)),
    Term("WebAssembly", "A portable bytecode, WASM for short. Docker can build and run WASM "
         "modules under the platform `wasi/wasm`; they are not programs for any CPU.",
         (r"WebAssembly", r"WASM")),
    Term("compose", "Docker Compose, which starts the services of a `docker-compose.yml` "
         "together: v1 was the Python `docker-compose`, v2 the `docker compose` plugin.",
         (r"docker-compose", r"compose")),
    Term("host profile", "archlab's description of one Docker host (Engine, runc, daemon "
         "platform, what runs natively and what is emulated), a YAML file; `archlab hosts` lists "
         "them.", (r"host profiles?",)),
    Term("simulator", "archlab's replay of Docker's decisions for a host profile and an image: "
         "the lines Docker prints and the rules that fired, checked against a real Engine "
         "20.10.", (r"simulator",)),
    Term("snapshot", "What a registry answered, recorded by archlab, so notebooks and tests can "
         "replay it offline with identical results.", (r"snapshots?",)),
)

_BY_NAME: Final = {t.name.lower(): t for t in TERMS}


def get(name: str) -> Term:
    """The term called ``name`` (any case)."""
    try:
        return _BY_NAME[name.lower()]
    except KeyError:
        raise ArchlabError(f"no glossary term {name!r}: the terms are "
                           f"{', '.join(t.name for t in TERMS)}") from None


def link(name: str, text: str | None = None) -> str:
    """A markdown link from a notebook to the term's entry in the glossary notebook."""
    term = get(name)
    return f"[{text or term.name}]({GLOSSARY_NOTEBOOK}#{term.anchor})"


def notebook_cells() -> list[str]:
    """The glossary notebook's markdown cells: a title, then one cell per term."""
    head = ("<small>[contents](00-Start-Here.ipynb)</small>\n\n# Glossary\n\n"
            "The words of the course, each in a few plain sentences. A notebook links a term "
            "here the first time it uses it; your browser's back button returns you there.\n\n"
            + " · ".join(f"[{t.name}](#{t.anchor})" for t in TERMS))
    return [head, *(f"### {heading(t)}\n\n{t.definition}" for t in TERMS)]


#: Term names that are written in lower case even at the start of a heading: commands, kernel
#: and ELF identifiers, and projects that spell themselves that way.
_LOWER_CASE_NAMES: Final = re.compile(r"^(?:binfmt_misc|e_machine|qemu-user|runc|containerd\b)")


def heading(term: Term) -> str:
    """The entry's heading: the term in proper case, with its anchor as an explicit id."""
    name = term.name
    if not _LOWER_CASE_NAMES.match(name):
        name = name[0].upper() + name[1:]
    return f'<a id="{term.anchor}"></a>{name}'


# ------------------------------------------------------------------------------ first uses


@dataclass(frozen=True)
class FirstUse:
    """Where a term first appears in the course's text, and whether it is linked there."""

    term: str
    notebook: str
    cell: int
    text: str
    linked: bool


_CODE: Final = re.compile(r"```.*?```|`[^`]*`", re.S)
_LINK: Final = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_HEADING: Final = re.compile(r"^#{1,6} .*$|^<small>.*$", re.M)


def _prose(source: str) -> str:
    """Markdown with code, headings and navigation blanked out (same length, same offsets)."""
    blank = _CODE.sub(lambda m: " " * len(m.group(0)), source)
    return _HEADING.sub(lambda m: " " * len(m.group(0)), blank)


def _first_use(term: Term, cells: Sequence[tuple[str, int, str, str]]) -> FirstUse | None:
    own = f"{GLOSSARY_NOTEBOOK}#{term.anchor}"
    for name, n, src, prose in cells:
        links = [(lm.start(), lm.end(), lm.group(2)) for lm in _LINK.finditer(src)]
        for m in term.pattern.finditer(prose):
            inside = [url for start, end, url in links if start <= m.start() < end]
            if inside and inside[0] != own and inside[0].startswith(GLOSSARY_NOTEBOOK + "#"):
                continue  # part of another term's link ("containerd" in "containerd image store")
            line_start = src.rfind("\n", 0, m.start()) + 1
            line_end = src.find("\n", m.end())
            text = src[line_start:line_end if line_end >= 0 else None]
            return FirstUse(term.name, name, n, text, bool(inside) and inside[0] == own)
    return None


def first_uses(notebooks: Sequence[str | Path], terms: Iterable[Term] = TERMS) -> list[FirstUse]:
    """Each term's first use in the markdown of ``notebooks`` (in the order given)."""
    cells = []
    for path in notebooks:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        for n, cell in enumerate(doc["cells"]):
            if cell["cell_type"] == "markdown":
                src = "".join(cell["source"])
                cells.append((Path(path).name, n, src, _prose(src)))
    found = []
    for term in terms:
        use = _first_use(term, cells)
        if use is not None:
            found.append(use)
    return found
