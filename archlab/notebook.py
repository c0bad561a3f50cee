"""Small helpers that keep the notebooks thin: one call, one table worth looking at.

What it is for
--------------
The notebooks in ``notebooks/`` retell the investigation one idea at a time. Each code cell is
meant to call *one* well-named function and show its result; the logic belongs in the library.
Most cells call archlab's own modules directly (:mod:`archlab.inspect`, :mod:`archlab.simulate`,
:mod:`archlab.history`). This module holds what is only about *showing*: where the shipped data
lives, an offline registry client for the lab images, and the handful of tables that put several
library answers side by side.

How do I use it?
----------------
::

    from archlab import notebook as nb
    nb.setup()                          # fixed matplotlib and pandas display settings
    reg = nb.lab_client()               # the lab images, replayed offline from data/snapshots/lab
    nb.lab_ref("mysql")                 # '127.0.0.1:5000/lab/mysql:5.7'
    nb.normalization_frame(["aarch64", "linux/x86_64"])   # containerd's table, per Docker version

Offline first, live when you ask
--------------------------------
=================================  ============================================================
client                             answers come from
=================================  ============================================================
``lab_client()``                   ``data/snapshots/lab``: every lab manifest and config,
                                   recorded once; replayed byte for byte, digests checked
``lab_client(layers=True)``        the same, plus each lab image's layer rebuilt in memory by
                                   :mod:`archlab.lab.scenarios` (deterministic bytes, checked
                                   against the digests the recorded manifests name), so a binary
                                   can be taken out of an image and run
``lab_client(live=True)``          a real registry: with ``archlab lab up --port 5000`` running,
                                   the same ``127.0.0.1:5000/lab/...`` references answer live;
                                   any other reference (``mysql:5.7``) goes to its registry
=================================  ============================================================

The rules the helpers keep
--------------------------
=============================  ===============================================================
rule                           why
=============================  ===============================================================
no paths, ports, times or      a notebook's stored outputs are compared by ``nbval`` on every
memory addresses in a result   machine; such values differ from one run to the next
errors become table cells      a table of five cases should show the one that fails next to
                               the four that work, not stop at it
one row per case, plain text   readable in a diff and in a terminal, not only in a browser
=============================  ===============================================================
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from archlab import decoding, digests, display, elf, platforms, shipped
from archlab.errors import ArchlabError, LabError, NoMatchingManifestError
from archlab.platforms import Platform, Rules

if TYPE_CHECKING:
    from archlab.compose import ComposeProject
    from archlab.emulation import RunResult
    from archlab.inspect import Inspection
    from archlab.registry import Exchange, RegistryClient
    from archlab.simulate import ImageFacts, Prediction
    from archlab.snapshot import Snapshot

__all__ = [
    "FIGSIZE",
    "HOST_COLUMNS",
    "LAB_HOST",
    "STORY_COMMANDS",
    "audit_grid",
    "compose_services_frame",
    "coverage_overview",
    "data_dir",
    "data_path",
    "describe",
    "digest_checks",
    "emulation_frame",
    "exchange_headers",
    "exchanges_summary",
    "exercise",
    "hosts_frame",
    "identity_frame",
    "lab_client",
    "lab_facts",
    "lab_ref",
    "lab_refs",
    "lab_snapshot",
    "media_types_frame",
    "new_axes",
    "normalization_frame",
    "outcome",
    "outcome_grid",
    "plot_timelines",
    "pretty_json",
    "run_hello_frame",
    "run_lab_frame",
    "runc_text_frame",
    "scenarios_frame",
    "selection_frame",
    "setup",
    "shipped_data",
    "shown_path",
    "story_compose",
    "story_predictions",
    "story_timeline",
    "suggestions_text",
    "transcripts",
    "why",
]

#: The registry host the shipped lab snapshot is stored under (any 127.0.0.1 port replays it).
LAB_HOST = "127.0.0.1:5000"

#: The figure size every notebook plot starts from, in inches.
FIGSIZE = (8.0, 4.0)


# ---------------------------------------------------------------------------------- setup


def setup(*, figsize: tuple[float, float] = FIGSIZE, dpi: int = 100) -> None:
    """Fix the plotting backend, figure size and pandas display so every run looks the same.

    Inside Jupyter the inline backend draws each figure under its cell; anywhere else (tests,
    scripts) the non-interactive ``Agg`` backend is used. pandas shows up to 40 columns and full
    ``sha256:`` digests (71 characters) without cutting them.
    """
    import matplotlib

    matplotlib.use("module://matplotlib_inline.backend_inline" if _in_ipython() else "Agg")
    matplotlib.rcParams.update({
        "figure.figsize": figsize,
        "figure.dpi": dpi,
        "figure.constrained_layout.use": True,
        "axes.titlesize": 12,
        "axes.labelsize": 10,
        "font.size": 10,
    })
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.max_rows", 80)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 110)
    # Every DataFrame a cell shows becomes a projector-ready table (archlab.display).
    display.install()


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def data_dir() -> Path:
    """The data the notebooks read: ``../data`` beside them, else the installed package's.

    A notebook's kernel runs in its own directory. In a checkout, and in a copy made by
    ``archlab course``, ``data/`` sits beside ``notebooks/``; using it there keeps every path a
    notebook prints (``../data/compose/story/docker-compose.yml``) the same in both, so their
    stored outputs are too. Anywhere else the data inside the package answers
    (:mod:`archlab.shipped`).
    """
    beside = Path.cwd().parent / "data"
    if (beside / "snapshots" / "lab" / "index.json").is_file():
        return beside
    return shipped.data_path()


def data_path(*parts: str) -> Path:
    """A file or directory of the data the notebooks read (``data_path("hosts")``)."""
    return data_dir().joinpath(*parts)


def shown_path(path: str | os.PathLike[str]) -> Path:
    """``path`` relative to the working directory, for paths that end up in printed messages.

    A notebook's kernel runs in ``notebooks/``, so ``data/compose/story/docker-compose.yml``
    becomes ``../data/compose/story/docker-compose.yml`` wherever the checkout lives, and the
    stored output stays the same on every machine.
    """
    try:
        return Path(os.path.relpath(path))
    except ValueError:  # another drive (Windows): nothing relative exists
        return Path(path)


def story_compose() -> Path:
    """The story's ``docker-compose.yml`` (with ``.env`` and ``api/`` beside it), see
    :func:`shown_path`."""
    return shown_path(data_path("compose", "story", "docker-compose.yml"))


# ------------------------------------------------------------------------------ the lab


def lab_ref(name: str, *, oci: bool = False) -> str:
    """The reference of a lab scenario on the lab host: ``lab_ref("mysql")`` is
    ``127.0.0.1:5000/lab/mysql:5.7``; ``oci=True`` names its OCI twin."""
    from archlab.lab import scenarios

    return scenarios.get(name, oci=oci).ref(LAB_HOST)


@cache
def lab_snapshot(*, layers: bool = False) -> Snapshot:
    """The shipped lab snapshot, verified; with ``layers=True`` also every lab image's layers.

    The layers are rebuilt by :mod:`archlab.lab.scenarios` (the same bytes on every machine) and
    added as recorded blob answers (:mod:`archlab.lab.offline`); the replay then checks them
    against the digests that the *recorded* manifests name, so a layer that differed from what
    the registry served would be refused, not run.
    """
    from archlab.lab.offline import lab_snapshot as offline_lab

    # Named by its place in the checkout, not its absolute path: the name appears in the
    # "not in snapshot ..." message of a reference the snapshot lacks.
    return offline_lab(layers=layers, source=Path("data/snapshots/lab"))


def lab_client(*, layers: bool = False, live: bool = False, **kwargs: Any) -> RegistryClient:
    """A registry client for the notebooks (see the module docstring's table).

    Offline (the default) it replays :func:`lab_snapshot`; ``live=True`` gives an ordinary
    :class:`~archlab.registry.RegistryClient` (cache, Docker credentials) for a running
    ``archlab lab up --port 5000`` or any public registry. Close it with ``.close()``, or let the
    kernel end.
    """
    if live:
        from archlab.registry import RegistryClient

        return RegistryClient(**kwargs)
    from archlab.snapshot import replay_client

    return replay_client(lab_snapshot(layers=layers), **kwargs)


def lab_refs(*, oci: bool = False) -> list[str]:
    """Every lab scenario's reference on the lab host, in the scenarios' order."""
    from archlab.lab import scenarios

    return [lab_ref(name, oci=oci) for name in scenarios.SCENARIO_NAMES]


def scenarios_frame(names: Sequence[str] | None = None, *, oci: bool = False) -> pd.DataFrame:
    """The lab images: reference, the story image each stands for, shape and platforms."""
    from archlab.lab import scenarios

    chosen = names or scenarios.SCENARIO_NAMES
    rows = []
    for name in chosen:
        s = scenarios.get(name, oci=oci)
        rows.append({
            "reference": s.ref(LAB_HOST),
            "stands for": s.story,
            "shape": s.kind,
            "platforms": ", ".join(s.platform_texts),
        })
    return pd.DataFrame(rows)


def shipped_data() -> pd.DataFrame:
    """What ``data/`` holds, counted: the notebooks run on this and nothing else."""
    from archlab import history
    from archlab.hosts import load_hosts

    snap = lab_snapshot()
    hist = history.load_history()
    n_snapshots = len(hist[["image", "tag", "date", "source_repo", "source_commit",
                            "source_path"]].drop_duplicates())
    # The hosts module reads the package's copy (the same files as ../data/hosts).
    shipped_hosts = [h for h in load_hosts().values()
                     if h.path is not None and h.path.parent == shipped.data_path("hosts")]
    rows = [
        {"data": "data/snapshots/lab",
         "what": "registry answers for every lab image (Docker and OCI twins)",
         "size": f"{len(snap.refs)} references, {len(snap.answers)} answers, "
                 f"recorded {snap.recorded_at[:10]}"},
        {"data": "data/history/official-images.csv",
         "what": "platform lists of official Docker Hub images, 2016-2026",
         "size": f"{hist['ref'].nunique()} image:tags, {n_snapshots} snapshots, "
                 f"{len(hist)} rows"},
        {"data": "data/hosts/*.yaml",
         "what": "Docker host profiles the simulator predicts for",
         "size": f"{len(shipped_hosts)} hosts: "
                 + ", ".join(sorted(h.name for h in shipped_hosts))},
    ]
    compose_dir = data_path("compose", "story")
    if compose_dir.is_dir():
        files = sorted(p.name for p in compose_dir.iterdir() if p.is_file())
        rows.append({"data": "data/compose/story/",
                     "what": "the story's docker-compose stack",
                     "size": ", ".join(files)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ manifests, HTTP


def pretty_json(raw: bytes | str, *, max_entries: int | None = None) -> str:
    """A manifest or config indented for reading. ``max_entries`` shortens a list's
    ``manifests`` array and says how many entries were left out."""
    doc = decoding.load_json(raw, what="document", max_bytes=len(raw))
    hidden = 0
    if max_entries is not None and isinstance(doc, dict):
        entries = doc.get("manifests")
        if isinstance(entries, list) and len(entries) > max_entries:
            hidden = len(entries) - max_entries
            doc = {**doc, "manifests": entries[:max_entries]}
    text = json.dumps(doc, indent=2)
    if hidden:
        text += f"\n... and {hidden} more entr{'y' if hidden == 1 else 'ies'} in \"manifests\""
    return text


def describe(insp: Inspection) -> str:
    """:func:`archlab.inspect.format_text` for a screen: digests shortened (``insp.digest`` and
    each entry's ``.digest`` hold them in full), long lines wrapped at spaces."""
    from archlab.inspect import format_text

    return display.wrap(display.shorten_digests(format_text(insp)))


def media_types_frame() -> pd.DataFrame:
    """The four kinds of document behind a tag, with their Docker and OCI media types."""
    from archlab import manifests as m

    return pd.DataFrame(
        [
            ("list / index: one entry per platform", m.DOCKER_MANIFEST_LIST, m.OCI_INDEX),
            ("image manifest: config + layers", m.DOCKER_MANIFEST_V2, m.OCI_MANIFEST),
            ("config: platform, entrypoint, history", m.DOCKER_CONFIG, m.OCI_CONFIG),
            ("layer: a tar of files, gzipped", m.DOCKER_LAYER_GZIP, m.OCI_LAYER_GZIP),
        ],
        columns=["document", "Docker media type", "OCI media type"],
    ).set_index("document")


def exchange_headers(exchange: Exchange) -> pd.DataFrame:
    """One traced HTTP exchange as a vertical table, every header value in full.

    ``Accept`` is split into one row per media type, in the order they were sent.
    """
    rows: list[dict[str, str]] = [
        {"direction": "request", "header": "(request line)",
         "value": f"{exchange.method} {_path_of(exchange.url)}"},
    ]
    for name, value in exchange.request_headers:
        parts = value.split(", ") if name == "accept" else [value]
        rows += [{"direction": "request", "header": name, "value": p} for p in parts]
    rows.append({"direction": "response", "header": "(status)", "value": str(exchange.status)})
    rows += [{"direction": "response", "header": name, "value": value}
             for name, value in exchange.response_headers]
    return pd.DataFrame(rows)


def exchanges_summary(exchanges: Iterable[Exchange]) -> pd.DataFrame:
    """Traced exchanges as a narrow table: the request line, the status, and what the answer
    said it was (kind, size, digest). ``exchange_headers`` shows one exchange in full."""
    rows = []
    for e in exchanges:
        headers = dict(e.response_headers)
        rows.append({
            "request": f"{e.method} {_path_of(e.url)}",
            "status": e.status,
            "Content-Type": headers.get("content-type", ""),
            "Content-Length": headers.get("content-length", ""),
            "Docker-Content-Digest": headers.get("docker-content-digest", ""),
        })
    return pd.DataFrame(rows)


def _path_of(url: str) -> str:
    import httpx

    u = httpx.URL(url)
    query = u.query.decode()
    return u.path + (f"?{query}" if query else "")


def digest_checks(client: RegistryClient, insp: Inspection, *, entries: int = 2) -> pd.DataFrame:
    """Hash the bytes behind an inspection again and compare with the digests they were named by.

    For a list: the list itself and its first ``entries`` entries (fetched by digest). For a
    single-arch manifest: the manifest and its config. Each row shows the digest the document
    was asked by or announced with, the sha256 of the bytes received, and whether they agree.
    """
    from archlab import manifests

    rows = [_check_row("the reference's manifest", insp.digest, insp.raw)]
    ref = insp.reference
    if insp.is_multi_arch:
        for e in insp.entries[:entries]:
            child = client.get_manifest(ref.with_digest(e.digest))
            rows.append(_check_row(f"entry {e.platform}", e.digest, child.raw))
    else:
        doc = manifests.parse_manifest(insp.raw, insp.media_type, source=str(ref))
        if isinstance(doc, manifests.ImageManifest):
            data = client.get_blob(ref, doc.config.digest, max_bytes=4 * 1024 * 1024,
                                   kind="config")
            rows.append(_check_row("its config", doc.config.digest, data))
    return pd.DataFrame(rows)


def _check_row(what: str, named: str, data: bytes) -> dict[str, object]:
    computed = digests.compute(data)
    return {"document": what, "bytes": len(data), "named by": named,
            "sha256 of the bytes": computed, "match": computed == named}


def new_axes(width: float, height: float, *, title: str | None = None) -> Any:
    """A fresh figure of ``width`` x ``height`` inches and its one Axes (optionally titled),
    for the plotting functions that take ``ax=``: tall tables need a tall figure."""
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(width, height))
    if title:
        ax.set_title(title)
    return ax


def plot_timelines(df: pd.DataFrame, refs: Sequence[str]) -> Any:
    """Stack :func:`archlab.history.plot_timeline` for several ``image:tag`` on one time axis,
    so the years line up; returns the figure."""
    import matplotlib.pyplot as plt

    from archlab import history

    heights = []
    for ref in refs:
        image, _, tag = ref.partition(":")
        names = {p for ps in history.timeline(df, image, tag)["platforms"] for p in ps}
        heights.append(max(len(names), 1) + 1.2)
    fig, axes = plt.subplots(len(refs), 1, sharex=True, squeeze=False,
                             figsize=(FIGSIZE[0], 0.35 * sum(heights) + 0.6),
                             gridspec_kw={"height_ratios": heights})
    for ax, ref in zip(axes[:, 0], refs, strict=True):
        image, _, tag = ref.partition(":")
        history.plot_timeline(df, image, tag, ax=ax)
        ax.set_xlabel("")
    axes[-1, 0].set_xlabel("snapshot date (newest build in it)")
    return fig


def coverage_overview(df: pd.DataFrame, *, title: str | None = None) -> Any:
    """Every image:tag's newest snapshot, every platform, in one figure that fits a screen:
    platforms as rows, image:tags as columns (:func:`archlab.history.plot_coverage_heatmap`'s
    colour-blind-safe colours); returns the Axes."""
    from archlab import history

    wide = history.coverage(df).T
    ax = new_axes(FIGSIZE[0] + 0.6, 4.6)
    ax.set_title(title or "Platforms in each official image's newest snapshot", loc="left")
    history.plot_coverage_heatmap(wide, ax)
    ax.set_xticks(range(len(wide.columns)), [str(c) for c in wide.columns], rotation=90,
                  ha="center", fontsize=7)
    ax.tick_params(axis="y", labelsize=8)
    # Thin white lines between cells, so a column can be followed down to its label.
    ax.set_xticks([x - 0.5 for x in range(len(wide.columns) + 1)], minor=True)
    ax.set_yticks([y - 0.5 for y in range(len(wide) + 1)], minor=True)
    ax.grid(which="minor", color="#ffffff", linewidth=0.6)
    ax.tick_params(which="minor", length=0)
    ax.legend(handles=ax.get_legend().legend_handles, loc="lower right",
              bbox_to_anchor=(1.0, 1.0), ncol=3, fontsize=8, frameon=False)
    return ax


# ------------------------------------------------------------------------------ platforms


def selection_frame(inspections: Iterable[Inspection], wanted: Sequence[str]) -> pd.DataFrame:
    """What Docker 20.10 would pull from each reference for each platform (one column each):
    the chosen entry's platform and short digest, or Docker's error text."""
    rows = {}
    for insp in inspections:
        cells = {}
        for spec in wanted:
            try:
                entry = insp.select(spec)
            except NoMatchingManifestError as exc:
                cells[spec] = str(exc)
                continue
            shown = entry.platform or entry.config_platform
            note = "" if insp.is_multi_arch else " (single-arch: not checked)"
            cells[spec] = f"{shown} {digests.short(entry.digest)}{note}"
        rows[str(insp.reference)] = cells
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(wanted))
    frame.index.name = "reference"
    return frame


#: Column titles of :func:`normalization_frame`, per rule set.
_RULE_TITLES = {
    Rules.MOBY_20_10: "20.10",
    Rules.CONTAINERD_1_6: "23-27",
    Rules.PLATFORMS_1_0: "28+",
}


def normalization_frame(
    specs: Iterable[str], *, host: Platform | str = "linux/arm64/v8"
) -> pd.DataFrame:
    """How a daemon on ``host`` reads each ``--platform`` text, per Docker version.

    ``20.10 prints`` is the parsed value as a 20.10 daemon prints it (in "no matching manifest
    for ..."); the other columns are what each version compares after normalizing. A text a
    version refuses shows ``refused:`` and the reason.
    """
    host_p = host if isinstance(host, Platform) else Platform(*host.split("/"))
    rows = []
    for spec in specs:
        row: dict[str, str] = {"you write": spec}
        for rules, title in _RULE_TITLES.items():
            try:
                parsed = platforms.parse(spec, host=host_p, rules=rules)
                normal = str(platforms.normalize(parsed, rules))
            except ArchlabError as exc:
                parsed, normal = None, f"refused: {str(exc).split(': ', 1)[-1]}"
            if rules is Rules.MOBY_20_10:
                row["20.10 prints"] = normal if parsed is None else str(parsed)
            row[f"compared as ({title})"] = normal
        rows.append(row)
    return pd.DataFrame(rows).set_index("you write")


# ----------------------------------------------------------------------- binaries, kernel


def identity_frame(platform_names: Iterable[str]) -> pd.DataFrame:
    """The ELF header fields the kernel checks, read from archlab's hello binary per platform."""
    rows = []
    for name in platform_names:
        data = elf.hello_binary(name)
        ident = elf.read_identity(data)
        rows.append({
            "binary for": name,
            "bytes": len(data),
            "class": f"{ident.elf_class}-bit",
            "byte order": ident.byte_order,
            "e_machine": ident.machine,
            "machine": ident.machine_name,
            "e_flags": f"{ident.flags:#x}",
            "read back as": ident.platform_guess,
        })
    return pd.DataFrame(rows)


def run_hello_frame(platform_names: Iterable[str], *, how: str = "native") -> pd.DataFrame:
    """Write each platform's hello binary to a private temporary directory and run it.

    ``how="native"``: a plain ``execve`` (:func:`archlab.emulation.run_native`);
    ``how="qemu"``: under ``qemu-<arch>-static``, started explicitly
    (:func:`archlab.emulation.run_emulated`). The result column holds what the program printed,
    or the errno and its text, or the missing-emulator line. The output depends on this
    machine's CPU (and on qemu being installed): the notebooks say so next to such cells.
    """
    from archlab.emulation import run_emulated, run_native

    if how not in ("native", "qemu"):
        raise LabError(f"how={how!r}: use 'native' (execve) or 'qemu' (explicit emulator)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="archlab-nb-") as tmp:
        for name in platform_names:
            path = Path(tmp) / name.replace("/", "_")
            path.write_bytes(elf.hello_binary(name))
            path.chmod(0o755)
            result = run_native(path) if how == "native" else run_emulated(path, name)
            rows.append({"binary for": name, **_run_columns(result)})
    return pd.DataFrame(rows).fillna("")


def _run_columns(result: RunResult) -> dict[str, object]:
    if result.mode == "exec-failed":
        said = f"errno {result.errno}: {result.error}"
    elif result.mode == "no-emulator":
        said = result.error
    else:
        said = result.stdout.rstrip("\n") or f"(exit code {result.exit_code})"
    emulator = os.path.basename(result.emulator) if result.emulator else ""
    if result.mode == "native" and emulator:
        # The host runs it natively; only this machine needed qemu to stand in for its CPU.
        # An emulator next to "native" would read as a contradiction, so it goes in the result.
        said += f" (here {emulator.split('-')[0]} stands in for the host's CPU)"
        emulator = ""
    return {"mode": result.mode, "emulator": emulator, "result": said}


def run_lab_frame(
    cases: Iterable[tuple[str, str]], client: RegistryClient
) -> pd.DataFrame:
    """Pull each ``(lab image, host profile)`` for the host's platform (the ``asks for``
    column), take ``/bin/hello`` out of the layer and run it as that host would
    (:func:`archlab.lab.run.run_from_registry`). A binary the host runs natively but this
    machine can only emulate says so in ``result``; ``emulator`` names what the *host* uses.

    ``client`` must serve layers (``lab_client(layers=True)`` or a live lab). A pull that Docker
    would refuse, or a host this machine cannot stand in for, becomes a row saying so.
    """
    from archlab.hosts import get_host
    from archlab.lab.run import run_from_registry

    rows = []
    for name, host_name in cases:
        host = get_host(host_name)
        wanted = str(host.daemon_platform)
        row: dict[str, object] = {"image": f"lab/{name}", "host": host.name, "asks for": wanted}
        try:
            result = run_from_registry(
                lab_ref(name), wanted, host.native, [e.platform for e in host.emulated],
                client=client,
            )
        except NoMatchingManifestError as exc:
            row.update({"binary": "", "mode": "pull refused", "emulator": "",
                        "result": str(exc)})
        except LabError as exc:
            row.update({"binary": "", "mode": "not reproducible here", "emulator": "",
                        "result": str(exc)})
        else:
            row.update({"binary": result.platform, **_run_columns(result)})
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def emulation_frame(host_names: Iterable[str], platform_names: Iterable[str]) -> pd.DataFrame:
    """Per host profile and binary platform: ``native``, the emulator that runs it (``qemu``,
    ``rosetta``), or ``exec format error`` when nothing does."""
    from archlab.hosts import get_host

    wanted = list(platform_names)
    rows = {}
    for name in host_names:
        host = get_host(name)
        cells = {}
        for p in wanted:
            if host.runs_natively(p):
                cells[p] = "native"
            elif (emu := host.emulator_for(p)) is not None:
                cells[p] = emu.method
            else:
                cells[p] = "exec format error"
        rows[host.name] = cells
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=wanted)
    frame.index.name = "host"
    return frame


def counts_frame(counts: Mapping[str, int], key: str, value: str = "count") -> pd.DataFrame:
    """A mapping of counts (``result.stats.requests``) as a two-column table, in its order:
    a raw ``dict`` repr is not something to read on a projector."""
    return pd.DataFrame({key: list(counts), value: list(counts.values())})


def runc_text_frame(versions: Iterable[str], path: str = "/bin/hello") -> pd.DataFrame:
    """The line each runc version prints when ``execve`` of ``path`` fails with ENOEXEC."""
    from archlab.simulate import runc_exec_error

    return pd.DataFrame([{"runc": v, "prints": runc_exec_error(v, path)} for v in versions])


# ------------------------------------------------------------------------ hosts, predictions


#: Columns of :func:`hosts_frame` (the profile's file path is left out: it differs per machine).
#: The profile keys :func:`hosts_frame` shows, and their headers in words: a header with a
#: space wraps, so the table fits a projector.
_HOST_HEADERS: Final = {"display_name": "machine", "daemon_platform": "daemon platform",
                        "native": "native", "emulated": "emulated", "engine": "engine",
                        "runc": "runc", "compose": "compose"}
HOST_COLUMNS = tuple(_HOST_HEADERS.values())


def hosts_frame(names: Iterable[str] | None = None) -> pd.DataFrame:
    """Host profiles side by side (all shipped ones when ``names`` is ``None``)."""
    from archlab.hosts import get_host, load_hosts

    hosts = [get_host(n) for n in names] if names is not None else list(load_hosts().values())
    rows = []
    for h in hosts:
        row = h.summary()
        # One "qemu: a, b, c" per emulator instead of "(qemu)" after every platform.
        by: dict[str, list[str]] = {}
        for e in h.emulated:
            by.setdefault(e.describe(), []).append(str(e.platform))
        row["emulated"] = "; ".join(f"{how}: {', '.join(ps)}" for how, ps in by.items())
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("name")
    frame = frame[list(_HOST_HEADERS)].rename(columns=_HOST_HEADERS)
    return frame.rename_axis("profile")


def compose_services_frame(project: ComposeProject) -> pd.DataFrame:
    """What :func:`archlab.compose.load_compose` read: per service its line, the image as
    written and after interpolation, the ``platform:`` pin and the build context."""
    rows = []
    for svc in project.services:
        rows.append({
            "service": svc.name,
            "line": svc.line,
            "image as written": svc.image_raw or "",
            "image": svc.image or "",
            "platform": svc.platform or "",
            "build": (f"{svc.build.context_raw} ({svc.build.dockerfile_raw})"
                      if svc.build is not None else ""),
        })
    return pd.DataFrame(rows).set_index("service")


def audit_grid(frame: pd.DataFrame, column: str = "outcome") -> pd.DataFrame:
    """An :func:`archlab.compose.audit` frame as service x host, services in file order."""
    grid = frame.pivot(index="service", columns="host", values=column)
    return grid.reindex(index=list(dict.fromkeys(frame["service"])),
                        columns=list(dict.fromkeys(frame["host"])))


def suggestions_text(frame: pd.DataFrame, *, width: int | None = display.TEXT_WIDTH) -> str:
    """Every row of an audit frame that has a suggestion, as a short readable paragraph:
    ``service on host: outcome``, Docker's message, then the suggestion and its kind (lines
    wrapped at ``width``; ``None`` keeps them whole)."""
    blocks = []
    for row in frame[frame["suggestion"].fillna("") != ""].itertuples():
        lines = [f"{row.service} on {row.host}: {row.outcome}"]
        if row.message:
            lines.append(f"  Docker says: {row.message}")
        lines.append(f"  suggestion ({row.suggestion_kind}): {row.suggestion}")
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks) if blocks else "(no suggestions: every service runs)"
    return text if width is None else display.wrap(text, width)


def story_transcript() -> display.Transcript:
    """The real ``docker-compose up`` of the story's stack on this machine, as recorded by
    ``tools/compose_transcript.py`` (``data/compose/story/transcript-this-machine.json``):
    the command, the versions, then stderr and stdout, each in its own order."""
    doc = json.loads(data_path("compose", "story", "transcript-this-machine.json").read_text())
    head = (f"$ {doc['command']}    # docker-compose {doc['compose']}, Engine {doc['engine']}, "
            f"exit code {doc['exit_code']}")
    text = "\n".join([head, "--- stderr", *doc["stderr"], "--- stdout", *doc["stdout"]])
    return display.Transcript(text)


def _plain(line: str) -> str:
    """A line with IDs, sizes and padding made comparable across runs."""
    import re

    line = re.sub(r"\b[0-9a-f]{12}\b", "<id>", line)
    line = re.sub(r"(Sending build context to Docker daemon)\s+\S+", r"\1 <size>", line)
    return re.sub(r"\s+", " ", line).strip()


def predicted_vs_recorded(frame: pd.DataFrame, host: str = "this-machine") -> pd.DataFrame:
    """Each line an :func:`archlab.compose.audit` frame predicts for ``host``, and whether the
    recorded real run (:func:`story_transcript`) printed it, IDs and padding aside.

    The audit predicts ``up --exit-code-from <service>`` for each service alone, on an empty
    image store; the recording is one plain ``up`` of the whole stack. So the two lines only
    ``--exit-code-from`` prints say so, and ``Attaching to`` counts when the real line names
    the service's container among the others.
    """
    from archlab.compose_v1 import EXIT_CODE_FROM_ONLY

    doc = json.loads(data_path("compose", "story", "transcript-this-machine.json").read_text())
    real = [_plain(x) for x in doc["stdout"] + doc["stderr"]]
    attached = next((x for x in real if x.startswith("Attaching to ")), "")
    rows = []
    for r in frame[frame["host"] == host].itertuples():
        for line in r.transcript:
            plain = _plain(line)
            if line in EXIT_CODE_FROM_ONLY:
                found = "only with --exit-code-from"
            elif plain in real or (plain.startswith("Attaching to ")
                                   and plain.removeprefix("Attaching to ") in attached):
                found = "yes"
            else:
                found = "no"
            rows.append({"service": r.service, "predicted line": line,
                         "in the real run": found, "approximate": bool(r.approximate)})
    return pd.DataFrame(rows)


def outcome(prediction: Prediction) -> str:
    """A prediction in a few words: how it ended, and the message that matters."""
    if prediction.run_mode == "native":
        return "runs natively"
    if prediction.run_mode == "emulated":
        return f"runs emulated ({prediction.emulator})" if prediction.emulator else "runs emulated"
    if prediction.run_mode == "exec-format-error":
        return "exec format error"
    if prediction.error:
        return f"fails: {prediction.error.removesuffix(' in the manifest list entries')}"
    if prediction.exit_code == 0 and prediction.image_platform is not None:
        return f"pulls {prediction.image_platform}"
    return f"exit code {prediction.exit_code}"


def outcome_grid(
    predictions: Iterable[Prediction],
    *,
    label: Callable[[Prediction], str] = outcome,
) -> pd.DataFrame:
    """Predictions as a command x host table of :func:`outcome` (or ``label``) texts."""
    rows = [{"command": p.command, "host": p.host, "outcome": label(p)} for p in predictions]
    frame = pd.DataFrame(rows)
    grid = frame.pivot(index="command", columns="host", values="outcome")
    # Keep the order in which commands and hosts were given, not alphabetical order.
    grid = grid.reindex(index=list(dict.fromkeys(frame["command"])),
                        columns=list(dict.fromkeys(frame["host"])))
    grid.columns.name = "host"
    return grid


def transcripts(predictions: Iterable[Prediction], *, width: int | None = display.TEXT_WIDTH
                ) -> display.Transcript | str:
    """Several predictions as one terminal session per host: a header line with the host and
    exit code, the command, then every line Docker would print, as a
    :class:`archlab.display.Transcript` (the browser wraps long lines; ``print`` marks each
    continuation with ``↪``). ``width=None`` gives the plain text, every line whole."""
    blocks = []
    for p in predictions:
        code = "unknown" if p.exit_code is None else p.exit_code
        blocks.append(f"### on {p.host} (exit code {code})\n{p.transcript(with_command=True)}")
    text = "\n\n".join(blocks)
    return text if width is None else display.Transcript(text, width)


def why(prediction: Prediction) -> display.Markdown:
    """A prediction for reading: the command and exit code, the transcript (wrapped), how the
    entrypoint ran, and every rule that fired with its source, as code so that a source such as
    ``moby@v20.10.12:...`` is never taken for an e-mail address."""
    code = "unknown" if prediction.exit_code is None else prediction.exit_code
    out = [f"**`{prediction.command}`** on `{prediction.host}` → exit code {code}", ""]
    if prediction.caveat:
        out += [f"_{prediction.caveat}._", ""]
    out += ["```", display.wrap_transcript(prediction.transcript() or "(no output)"), "```", ""]
    if prediction.run_mode:
        via = f" ({prediction.emulator})" if prediction.emulator else ""
        out += [f"Run mode: **{prediction.run_mode}**{via}", ""]
    out += ["Why:", ""]
    for n, step in enumerate(prediction.explanation, 1):
        out.append(f"{n}. **{step.rule}**: {step.detail}  ")
        out.append(f"   source: `{step.source}`")
    if any(ln.approximate for ln in prediction.lines):
        out += ["", "Some of these lines follow Docker's source code rather than a measured run: "
                    "their exact wording was not compared with a real Docker of this version."]
    return display.Markdown("\n".join(out))


def lab_facts(names: Iterable[str], client: RegistryClient) -> dict[str, ImageFacts]:
    """Simulator facts for lab images, by scenario name, with their layers read (so a run
    predicts what the entrypoint prints, and the ELF header of a mislabelled binary counts).
    ``client`` must serve layers: ``lab_client(layers=True)`` or a live lab."""
    from archlab.simulate import gather_facts_sync

    return {n: gather_facts_sync(lab_ref(n), client, layers=True) for n in names}


#: The story's commands, as (verb, lab image, --platform): what host A ran and host B broke on.
STORY_COMMANDS: tuple[tuple[str, str, str | None], ...] = (
    ("pull", "mysql", None),
    ("run", "mysql", "linux/x86_64"),
    ("run", "middleware", None),
    ("run", "redis", None),
    ("run", "ruby", None),
    ("run", "mariadb", None),
)


def story_predictions(
    facts: dict[str, ImageFacts],
    host_names: Iterable[str],
    commands: Sequence[tuple[str, str, str | None]] = STORY_COMMANDS,
) -> list[Prediction]:
    """Predict each of ``commands`` (see :data:`STORY_COMMANDS`) on each host, each from an
    empty image store, in command order then host order."""
    from archlab.simulate import simulate_pull, simulate_run

    hosts = list(host_names)
    out = []
    for verb, name, platform in commands:
        if verb not in ("pull", "run"):
            raise LabError(f"command {verb!r}: story_predictions knows 'pull' and 'run'")
        simulate = simulate_pull if verb == "pull" else simulate_run
        out += [simulate(facts[name], h, platform=platform) for h in hosts]
    return out


def exercise(key: str) -> Any:
    """The "predict, then check" exercise ``key`` (``"02.1"``), see :mod:`archlab.exercises`."""
    from archlab import exercises

    return exercises.get(key)


#: The story's hosts, A and B, as :func:`story_timeline` labels them.
STORY_HOSTS: tuple[str, str] = ("m1-desktop-4.3", "multipass-ubuntu-arm64")

#: The story's commands for :func:`story_timeline`: command verb, lab image, the
#: ``platform:`` pin (``--platform``) or ``None``, and what the command column shows. Each is
#: predicted on every host of :data:`STORY_HOSTS`; outcomes come from the simulator only.
TIMELINE_COMMANDS: tuple[tuple[str, str, str | None, str], ...] = (
    ("compose", "mysql", "linux/x86_64", "compose up db (mysql:5.7)"),
    ("compose", "mysql", None, "compose up db (mysql:5.7)"),
    ("pull", "mysql", None, "docker pull mysql:5.7"),
    ("compose", "middleware", None, "compose up some-middleware"),
    ("compose", "redis", None, "compose up redis (redis:4-alpine)"),
    ("compose", "ruby", None, "compose up api (built FROM ruby)"),
)


def story_timeline(
    hosts: Sequence[str] = STORY_HOSTS,
    commands: Sequence[tuple[str, str, str | None, str]] = TIMELINE_COMMANDS,
) -> pd.DataFrame:
    """The story step by step: each of ``commands`` on each of ``hosts`` (A, B, ...), with
    and without the ``platform:`` pin, and the line that decided it, as the simulator predicts
    it from the lab images. Nothing in a row is typed by hand but the command's label."""
    from archlab import explorer
    from archlab.hosts import get_host

    rows = []
    for verb, image, pin, shown in commands:
        service = shown.split(" ")[2] if verb == "compose" else None
        for letter, host in zip("ABCDEFGH", hosts, strict=False):
            p = explorer.predict(verb, image, host, pin, service=service)
            kind = explorer.outcome_kind(p)
            if p.run_mode == "emulated" and p.emulator:
                kind += f" ({p.emulator})"
            rows.append({
                "step": len(rows) + 1,
                "host": f"{letter}: {get_host(host).display_name}",
                "command": shown,
                "platform: pin": pin or "none",
                "outcome": kind,
                "the line that shows it": explorer.decisive_line(p).split(" | ", 1)[-1],
            })
    return pd.DataFrame(rows)
