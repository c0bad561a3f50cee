"""Verify an image against its labels: what the list says, what the config says, what the binary is.

What it is for
--------------
Three places declare an image's platform: the list entry, the config, and the executable
itself. Docker trusts the first two; the kernel checks only the third. A buildx build whose
arm64 stage downloaded an amd64 binary, or a config copied across architectures, passes every
registry tool and fails at ``docker run`` with ``exec format error`` (or, under emulation,
runs slowly without anyone noticing). :func:`verify` reads all three witnesses for each entry
of a reference and gives a verdict.

How do I use it?
----------------
::

    from archlab.verify import verify, to_frame
    v = verify("127.0.0.1:5000/lab/mislabelled:latest", client=reg)
    [(str(c.declared), c.verdict) for c in v.checks]
    # [('linux/amd64', 'consistent'), ('linux/arm64/v8', 'binary disagrees')]
    v.ok                                   # False: something disagrees
    to_frame([v])                          # one row per entry, the witnesses side by side

    archlab verify REF [--platform P] [--json]     # exit 3 when a label disagrees

What the container would start
------------------------------
==========================  ===============================================================
step                        rule (runc and the kernel, as Docker 20.10 runs them)
==========================  ===============================================================
the command                 ``Entrypoint`` + ``Cmd`` from the config (``Cmd`` alone when
                            there is no Entrypoint); none at all: "not found"
a name without ``/``        looked up along ``PATH`` from the config's ``Env`` (Docker's
                            default PATH when it sets none): the first regular file with
                            an execute bit, as Go's ``exec.LookPath`` in runc
a relative path             from the config's ``WorkingDir`` (``/`` when unset)
the file                    found in the merged layers, top layer first, symbolic links
                            followed and whiteouts honoured (:mod:`archlab.rootfs`)
a ``#!`` script             its interpreter is checked the same way (at most
                            ``MAX_SHEBANG_DEPTH`` deep): it is what really runs
a dynamic ELF               its ``PT_INTERP`` loader must exist in the image (else
                            ``no such file or directory`` at run time)
==========================  ===============================================================

Verdicts (first that applies)
-----------------------------
============================  =================================================================
verdict                       when
============================  =================================================================
``not an image``              an attestation, signature, SBOM, Helm chart, WASM module or other
                              artifact (:mod:`archlab.artifacts`): nothing to run, not a failure
``not checked``               nothing archlab can read: a schema 1 manifest, a non-Linux
                              image, a nested index, a foreign layer
``not found``                 no command, or the command (or its ``#!`` interpreter) is not in
                              the image
``not an executable``         a directory, a file without an execute bit, or a file that is
                              neither ELF (EXEC/DYN) nor a ``#!`` script
``binary disagrees``          the ELF header (``e_machine``, class, byte order; ARM's float ABI
                              against the variant) names another platform than the config, and
                              than the list entry
``list and config disagree``  the list entry and the config name different platforms
``missing loader``            dynamically linked, and its loader is not in the image
``consistent``                all three witnesses agree, and the command would start
============================  =================================================================

Reading as little as possible
-----------------------------
Layers are read top-down and streamed; each stops as soon as the headers it must answer for
have gone by, and the response is closed, so the registry stops sending. A layer below the one
that answers is never requested. Nothing is written to disk; every bound of
:mod:`archlab.layers` applies, plus ``EXEC_HEAD_BYTES`` per file start. Each check says what was
read (:attr:`Check.layers`, :attr:`Check.partial`): a layer read to its end is digest-checked,
a partial read cannot be, and says so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from archlab import artifacts, limits, manifests, platforms
from archlab.elf import ElfError, ElfIdentity, read_identity
from archlab.errors import LayerError, NoMatchingManifestError
from archlab.platforms import Platform
from archlab.reference import Reference, parse_reference
from archlab.rootfs import Found, LayerRead, LayerSource, LazyRootfs

if TYPE_CHECKING:
    import pandas as pd

    from archlab.registry import AsyncRegistryClient, RegistryClient

__all__ = [
    "BINARY_DISAGREES", "CONSISTENT", "FRAME_COLUMNS", "LIST_CONFIG_DISAGREE",
    "MISSING_LOADER", "NOT_AN_EXECUTABLE", "NOT_AN_IMAGE", "NOT_CHECKED", "NOT_FOUND",
    "VERDICTS", "Check", "Launch", "Verification", "format_text", "judge", "to_frame",
    "to_json", "verify", "verify_async",
]

CONSISTENT: Final = "consistent"
LIST_CONFIG_DISAGREE: Final = "list and config disagree"
BINARY_DISAGREES: Final = "binary disagrees"
MISSING_LOADER: Final = "missing loader"
NOT_AN_EXECUTABLE: Final = "not an executable"
NOT_FOUND: Final = "not found"
NOT_AN_IMAGE: Final = "not an image"
NOT_CHECKED: Final = "not checked"
VERDICTS: tuple[str, ...] = (CONSISTENT, LIST_CONFIG_DISAGREE, BINARY_DISAGREES, MISSING_LOADER,
                             NOT_AN_EXECUTABLE, NOT_FOUND, NOT_AN_IMAGE, NOT_CHECKED)
#: Verdicts where a label is wrong.
DISAGREEMENTS = frozenset({LIST_CONFIG_DISAGREE, BINARY_DISAGREES})
#: Verdicts where the container would not start.
WONT_START = frozenset({MISSING_LOADER, NOT_AN_EXECUTABLE, NOT_FOUND})

#: PATH the daemon gives a container whose image sets none (moby: oci.DefaultPathEnv).
DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ET_EXEC_OR_DYN = (2, 3)


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class Launch:
    """What the container would start, as found in the image's merged layers."""

    argv: tuple[str, ...]
    #: The file finally executed (an ELF), as a path in the image: '/bin/busybox'.
    executable: str | None = None
    identity: ElfIdentity | None = None
    #: Symbolic links followed and ``#!`` interpreters met, in order, as text.
    steps: tuple[str, ...] = ()
    loader: str | None = None
    loader_present: bool | None = None
    #: Set when the launch fails before the ELF: (verdict, why).
    failure: tuple[str, str] | None = None
    layers: tuple[LayerRead, ...] = ()


@dataclass(frozen=True)
class Check:
    """One entry of a reference: its kind, the three witnesses, and the verdict."""

    digest: str
    entry_kind: str
    declared: Platform | None  # the list entry's platform (None for a single manifest)
    config: Platform | None
    verdict: str
    detail: str
    launch: Launch | None = None

    @property
    def binary(self) -> ElfIdentity | None:
        return self.launch.identity if self.launch else None

    @property
    def binary_platform(self) -> str | None:
        ident = self.binary
        return ident.platform_guess if ident else None

    @property
    def layers(self) -> tuple[LayerRead, ...]:
        return self.launch.layers if self.launch else ()

    @property
    def partial(self) -> bool:
        """True when some layer was not read to its end (or not at all)."""
        return any(r.status != "whole" for r in self.layers)

    @property
    def bytes_read(self) -> int:
        return sum(r.bytes_read for r in self.layers)


@dataclass(frozen=True)
class Verification:
    """Every entry of one reference, checked."""

    reference: Reference
    kind: str  # list / index / single / schema1
    digest: str
    checks: tuple[Check, ...]
    platform: str | None = None  # --platform, when one entry was asked for

    @property
    def ok(self) -> bool:
        """No entry disagrees and every image would start."""
        return not any(c.verdict in DISAGREEMENTS | WONT_START for c in self.checks)

    @property
    def disagrees(self) -> bool:
        return any(c.verdict in DISAGREEMENTS for c in self.checks)


# ---------------------------------------------------------------------------------------------
# The verdict (pure)


def _same_arch(p: Platform) -> tuple[str, str, str]:
    n = platforms.normalize(p)
    return n.os, n.architecture, n.variant or ""


def binary_mismatch(identity: ElfIdentity, platform: Platform) -> str | None:
    """Why the ELF ``identity`` is not for ``platform``, or None when it is."""
    guess = identity.platform_guess
    what = (f"e_machine {identity.machine} ({identity.machine_name}), {identity.elf_class}-bit "
            f"{'LSB' if identity.byte_order == 'little' else 'MSB'}")
    if guess is None:
        return f"the ELF header names no platform Docker knows ({what})"
    os_, _, arch = guess.partition("/")
    want_os, want_arch, want_variant = _same_arch(platform)
    if (os_, arch) != (want_os, want_arch):
        return f"the ELF header says {guess} ({what})"
    if arch == "arm" and identity.arm_float_abi:
        wants = "soft" if want_variant == "v5" else "hard"
        if identity.arm_float_abi != wants:
            return (f"the ELF header says {identity.arm_float_abi}-float ARM (EABI"
                    f"{identity.arm_eabi_version}), {platform} means {wants}-float")
    return None


def judge(declared: Platform | None, config: Platform | None,
          launch: Launch) -> tuple[str, str]:
    """(verdict, one line why) for one image entry; see the module's verdict table."""
    if launch.failure is not None:
        return launch.failure
    ident = launch.identity
    assert ident is not None and config is not None
    exe = launch.executable
    vs_config = binary_mismatch(ident, config)
    vs_list = binary_mismatch(ident, declared) if declared is not None else vs_config
    labels_differ = declared is not None and _same_arch(declared) != _same_arch(config)
    if vs_config and vs_list:
        said = f"the list and config say {config}" if not labels_differ else (
            f"the list says {declared}, the config {config}")
        return BINARY_DISAGREES, f"{said}; {vs_config.replace('the ELF header', f'{exe}')}"
    if labels_differ:
        agrees = "config" if vs_config is None else "list entry"
        return LIST_CONFIG_DISAGREE, (f"the list says {declared}, the config {config}; {exe} "
                                      f"is {ident.platform_guess}, as the {agrees} says")
    if launch.loader and not launch.loader_present:
        return MISSING_LOADER, (f"{exe} is dynamically linked and its loader {launch.loader} "
                                "is not in the image: the run fails with 'no such file or "
                                "directory'")
    link = f"dynamic ({launch.loader})" if launch.loader else "static"
    return CONSISTENT, f"{exe} is {ident.platform_guess}, {link}, as its labels say"


# ---------------------------------------------------------------------------------------------
# What would start (sync, over a LazyRootfs: it may read layers)


def command_of(config: manifests.ImageConfig) -> tuple[str, ...]:
    """Entrypoint + Cmd as the runtime joins them (Cmd alone without an Entrypoint)."""
    return tuple(config.entrypoint or ()) + tuple(config.cmd or ())


def _path_env(config: manifests.ImageConfig) -> str:
    for item in config.env:
        if item.startswith("PATH="):
            return item[5:]
    return DEFAULT_PATH


def _look_path(fs: LazyRootfs, name: str, path_env: str, cwd: str
               ) -> tuple[Found | None, str]:
    """Go's exec.LookPath inside the image: the first PATH entry holding an executable
    regular file called ``name`` (links followed)."""
    for folder in path_env.split(":"):
        candidate = f"{folder or cwd}/{name}"
        found = fs.resolve(candidate, cwd=cwd)
        if found is not None and found.entry.kind == "file" and found.entry.mode & 0o111:
            return found, candidate
    return None, ""


def find_launch(fs: LazyRootfs, config: manifests.ImageConfig) -> Launch:
    """Follow what the container would start through the image ``fs``."""
    argv = command_of(config)
    cwd = config.working_dir or "/"
    if not argv:
        return Launch(argv, failure=(NOT_FOUND, "the config names no command (no Entrypoint, "
                                                "no Cmd): docker run needs one"),
                      layers=fs.reads())
    steps: list[str] = []
    name = argv[0]
    if "/" in name:
        found = fs.resolve(name, cwd=cwd)
        shown = name
    else:
        found, shown = _look_path(fs, name, _path_env(config), cwd)
        if found is not None:
            steps.append(f"{name} -> {shown} (PATH)")
    for depth in range(limits.MAX_SHEBANG_DEPTH + 1):
        if found is None:
            where = "along PATH" if "/" not in shown and not steps else "in the image"
            return Launch(argv, steps=tuple(steps), layers=fs.reads(), failure=(
                NOT_FOUND, f"{shown or name} is not {where}" + (
                    f" (PATH={_path_env(config)})" if "/" not in (shown or name) else "")))
        steps.extend(found.chain)
        path = "/" + found.path
        entry = found.entry
        if entry.kind != "file":
            return Launch(argv, path, steps=tuple(steps), layers=fs.reads(), failure=(
                NOT_AN_EXECUTABLE, f"{path} is a {entry.kind}, not a file"))
        if not entry.mode & 0o111:
            return Launch(argv, path, steps=tuple(steps), layers=fs.reads(), failure=(
                NOT_AN_EXECUTABLE, f"{path} has no execute bit (mode {entry.mode:04o}): the "
                                   "run fails with 'permission denied'"))
        head = fs.head(found)
        try:
            ident = read_identity(head)
        except ElfError as exc:
            return Launch(argv, path, steps=tuple(steps), layers=fs.reads(), failure=(
                NOT_AN_EXECUTABLE, f"{path}: {exc}"))
        if ident.is_script:
            interp = ident.interpreter or ""
            steps.append(f"{path}: #!{interp}")
            if depth == limits.MAX_SHEBANG_DEPTH:
                break
            found, shown = fs.resolve(interp, cwd=cwd) if interp else None, interp
            continue
        if ident.e_type not in _ET_EXEC_OR_DYN:
            return Launch(argv, path, ident, tuple(steps), layers=fs.reads(), failure=(
                NOT_AN_EXECUTABLE, f"{path} is an ELF {ident.type_name} file, not an "
                                   "executable"))
        loader = ident.program_interpreter
        present = None
        if loader:
            target = fs.resolve(loader, cwd="/")
            present = target is not None and target.entry.kind == "file"
        return Launch(argv, path, ident, tuple(steps), loader, present, layers=fs.reads())
    return Launch(argv, steps=tuple(steps), layers=fs.reads(), failure=(
        NOT_AN_EXECUTABLE, f"more than {limits.MAX_SHEBANG_DEPTH} #! interpreters in a row "
                           "(the kernel gives up with ELOOP)"))


# ---------------------------------------------------------------------------------------------
# Layers from a registry, read by a worker thread while the event loop fetches


class _ResponseChunks:
    """A layer blob's compressed bytes as a plain iterator for a worker thread, fetched by a
    task on the client's event loop. One chunk is fetched ahead at most; :meth:`close` cancels
    the fetch and so drops the connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: AsyncRegistryClient,
                 ref: Reference, layer: manifests.Descriptor) -> None:
        self._loop = loop
        self._client = client
        self._ref = ref
        self._layer = layer
        self._queue: asyncio.Queue[bytes | BaseException] | None = None
        self._task: concurrent.futures.Future[None] | None = None
        self._done = False

    async def _produce(self) -> None:
        assert self._queue is not None
        try:
            async with self._client.stream_blob(self._ref, self._layer.digest,
                                                max_bytes=self._layer.size) as resp:
                async for chunk in resp.aiter_bytes():
                    if chunk:
                        await self._queue.put(chunk)
            await self._queue.put(b"")
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the reader, which raises it
            await self._queue.put(exc)

    async def _get(self) -> bytes | BaseException:
        assert self._queue is not None
        return await self._queue.get()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        if self._task is None:
            self._queue = asyncio.Queue(maxsize=1)
            self._task = asyncio.run_coroutine_threadsafe(self._produce(), self._loop)
        item = asyncio.run_coroutine_threadsafe(self._get(), self._loop).result()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if not item:
            self._done = True
            raise StopIteration
        return item

    def close(self) -> None:
        self._done = True
        if self._task is not None and not self._task.done():
            self._task.cancel()


def _sources(loop: asyncio.AbstractEventLoop, client: AsyncRegistryClient, ref: Reference,
             manifest: manifests.ImageManifest) -> list[LayerSource]:
    def opener(d: manifests.Descriptor) -> Any:
        return lambda: _ResponseChunks(loop, client, ref, d)

    return [LayerSource(d.digest, d.size, opener(d)) for d in manifest.layers]


# ---------------------------------------------------------------------------------------------
# The walk over a reference


async def _check_image(client: AsyncRegistryClient, ref: Reference, digest: str,
                       manifest: manifests.ImageManifest, declared: Platform | None) -> Check:
    config = await client.get_config(ref, manifest.config)
    plat = config.platform
    if plat.os != "linux":
        return Check(digest, artifacts.IMAGE, declared, plat, NOT_CHECKED,
                     f"a {plat.os or 'no-OS'} image: archlab reads Linux ELF executables only")
    if any(d.urls for d in manifest.layers):
        return Check(digest, artifacts.IMAGE, declared, plat, NOT_CHECKED,
                     "a foreign layer (served from its own URLs) is not read")
    loop = asyncio.get_running_loop()

    def work() -> Launch:
        with LazyRootfs(_sources(loop, client, ref, manifest)) as fs:
            launch = find_launch(fs, config)
        return Launch(launch.argv, launch.executable, launch.identity, launch.steps,
                      launch.loader, launch.loader_present, launch.failure, fs.reads())

    try:
        launch = await asyncio.to_thread(work)
    except LayerError as exc:
        raise LayerError(f"{ref.name}@{digest}: {exc}") from None
    verdict, detail = judge(declared, plat, launch)
    return Check(digest, artifacts.IMAGE, declared, plat, verdict, detail, launch)


async def _check_entry(client: AsyncRegistryClient, ref: Reference,
                       d: manifests.Descriptor) -> Check:
    kind = artifacts.classify_descriptor(d)
    if kind not in (None, artifacts.IMAGE):
        return _artifact_check(d.digest, kind, d.platform)
    if d.media_type in manifests.INDEX_TYPES:
        return Check(d.digest, artifacts.IMAGE, d.platform, None, NOT_CHECKED,
                     "a nested index: verify its entries by digest")
    child = (await client.get_manifest(ref.with_digest(d.digest))).manifest
    if not isinstance(child, manifests.ImageManifest):
        return Check(d.digest, artifacts.UNKNOWN_ARTIFACT, d.platform, None, NOT_CHECKED,
                     f"the entry is a {child.kind} document")
    kind = artifacts.classify_manifest(child, descriptor=d)
    if kind != artifacts.IMAGE:
        return _artifact_check(d.digest, kind, d.platform)
    return await _check_image(client, ref, d.digest, child, d.platform)


def _artifact_check(digest: str, kind: str, declared: Platform | None) -> Check:
    return Check(digest, kind, declared, None, NOT_AN_IMAGE,
                 f"a {kind}, not an image: there is nothing to run")


async def verify_async(ref: Reference | str, *, client: AsyncRegistryClient,
                       platform: str | Platform | None = None) -> Verification:
    """Check every entry of ``ref`` (or only the one Docker 20.10 pulls for ``platform``)."""
    ref = ref if isinstance(ref, Reference) else parse_reference(ref)
    fetched = await client.get_manifest(ref)
    doc = fetched.manifest
    asked = str(platform) if platform is not None else None
    if isinstance(doc, manifests.ImageIndex):
        entries = list(doc.manifests)
        if platform is not None:
            from archlab.inspect import daemon_host

            wanted = platform if isinstance(platform, Platform) else platforms.parse(
                platform, host=daemon_host(), rules=platforms.Rules.MOBY_20_10)
            matches = platforms.match_entries_20_10([d.platform for d in entries], wanted)
            if not matches:
                raise NoMatchingManifestError(
                    f"no matching manifest for {wanted} in the manifest list entries")
            entries = [entries[matches[0]]]
        checks = await asyncio.gather(*(_check_entry(client, ref, d) for d in entries))
        return Verification(ref, doc.kind, fetched.digest, tuple(checks), asked)
    if isinstance(doc, manifests.ImageManifest):
        kind = artifacts.classify_manifest(doc, tag=ref.tag)
        if kind != artifacts.IMAGE:
            check = _artifact_check(fetched.digest, kind, None)
        else:
            check = await _check_image(client, ref, fetched.digest, doc, None)
        return Verification(ref, "single", fetched.digest, (check,), asked)
    check = Check(fetched.digest, artifacts.IMAGE, None, doc.config_platform, NOT_CHECKED,
                  "a schema 1 manifest: its layers are not read")
    return Verification(ref, "schema1", fetched.digest, (check,), asked)


def verify(ref: Reference | str, *, client: RegistryClient | None = None,
           platform: str | Platform | None = None) -> Verification:
    """Blocking :func:`verify_async`; makes (and closes) a client when none is given."""
    if client is None:
        from archlab.registry import RegistryClient

        with RegistryClient() as own:
            return verify(ref, client=own, platform=platform)
    return client.run(lambda aio: verify_async(ref, client=aio, platform=platform))


# ---------------------------------------------------------------------------------------------
# Frames, text, JSON

FRAME_COLUMNS = [
    "ref", "entry_digest", "entry_kind", "list_platform", "config_platform", "binary_platform",
    "elf_class", "byte_order", "e_machine", "machine", "arm_eabi", "arm_float", "linkage",
    "executable", "verdict", "detail", "layers_read", "layers", "bytes_read", "bytes_total",
    "partial",
]


def _row(v: Verification, c: Check) -> dict[str, object]:
    ident = c.binary
    reads = c.layers
    return {
        "ref": str(v.reference), "entry_digest": c.digest, "entry_kind": c.entry_kind,
        "list_platform": str(c.declared) if c.declared else None,
        "config_platform": str(c.config) if c.config else None,
        "binary_platform": c.binary_platform,
        "elf_class": ident.elf_class if ident else None,
        "byte_order": ident.byte_order if ident else None,
        "e_machine": ident.machine if ident else None,
        "machine": ident.machine_name if ident else None,
        "arm_eabi": ident.arm_eabi_version if ident else None,
        "arm_float": ident.arm_float_abi if ident else None,
        "linkage": (None if ident is None else "dynamic" if c.launch and c.launch.loader
                    else "static"),
        "executable": c.launch.executable if c.launch else None,
        "verdict": c.verdict, "detail": c.detail,
        "layers_read": sum(r.status != "not read" for r in reads) if reads else None,
        "layers": len(reads) if reads else None,
        "bytes_read": c.bytes_read if reads else None,
        "bytes_total": sum(r.size for r in reads) if reads else None,
        "partial": c.partial if reads else None,
    }


def to_frame(verifications: Iterable[Verification]) -> pd.DataFrame:
    """One row per reference x entry: the three witnesses side by side, and the verdict."""
    import pandas as pd

    rows = [_row(v, c) for v in verifications for c in v.checks]
    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    dtypes: dict[str, str] = {c: "string" for c in FRAME_COLUMNS}
    dtypes.update(elf_class="Int64", e_machine="Int64", arm_eabi="Int64", layers_read="Int64",
                  layers="Int64", bytes_read="Int64", bytes_total="Int64", partial="boolean")
    return frame.astype(dtypes)


def witnesses(v: Verification) -> pd.DataFrame:
    """The three witnesses of each entry side by side (list, config, ELF) with the verdict:
    the short view of :func:`to_frame`."""
    frame = to_frame([v])
    return frame[["entry_kind", "list_platform", "config_platform", "binary_platform",
                  "machine", "executable", "verdict"]]


def _read_text(reads: Sequence[LayerRead]) -> str:
    if not reads:
        return ""
    opened = sum(r.status != "not read" for r in reads)
    got = sum(r.bytes_read for r in reads)
    total = sum(r.size for r in reads)
    state = "partial" if any(r.status != "whole" for r in reads) else "whole"
    unchecked = sum(r.status == "partial" for r in reads)
    note = f", {unchecked} read in part (digest not checkable)" if unchecked else ""
    return (f"{opened} of {len(reads)} layer{'s' if len(reads) != 1 else ''} opened, "
            f"{got} of {total} bytes ({state}{note})")


_KIND_TEXT = {"list": "manifest list", "index": "OCI image index",
              "single": "single-arch manifest", "schema1": "schema 1 manifest"}


def format_text(v: Verification) -> str:
    """Human output: one block per entry, the witnesses and the verdict."""
    lines = [f"Name:     {v.reference}", f"Digest:   {v.digest}",
             f"Kind:     {_KIND_TEXT.get(v.kind, v.kind)}"
             + (f", entry for {v.platform}" if v.platform else ""), ""]
    for c in v.checks:
        label = str(c.declared or c.config or "(no platform)")
        lines.append(f"  {label:<16} {c.digest[:19]}  {c.entry_kind:<8} {c.verdict}")
        if c.verdict not in (NOT_AN_IMAGE,):
            ident = c.binary
            binary = f"{ident.platform_guess or 'unknown'} ({ident.summary()})" if ident else "-"
            lines.append(f"      list: {c.declared or '-'}   config: {c.config or '-'}   "
                         f"binary: {binary}")
        if c.launch is not None:
            lines.append(f"      runs: {' '.join(c.launch.argv) or '(nothing)'}"
                         + (f"  [{'; '.join(c.launch.steps)}]" if c.launch.steps else ""))
        lines.append(f"      why:  {c.detail}")
        if c.layers:
            lines.append(f"      read: {_read_text(c.layers)}")
    return "\n".join(lines) + "\n"


def to_json(v: Verification) -> dict[str, object]:
    return {
        "name": str(v.reference), "digest": v.digest, "kind": v.kind, "platform": v.platform,
        "ok": v.ok,
        "entries": [{
            **{k: val for k, val in _row(v, c).items() if k != "ref"},
            "list_platform": c.declared.to_oci() if c.declared else None,
            "config_platform": c.config.to_oci() if c.config else None,
            "argv": list(c.launch.argv) if c.launch else None,
            "steps": list(c.launch.steps) if c.launch else None,
            "loader": c.launch.loader if c.launch else None,
            "loader_present": c.launch.loader_present if c.launch else None,
            "layers_detail": [asdict(r) for r in c.layers],
        } for c in v.checks],
    }


def dumps_json(vs: Sequence[Verification]) -> str:
    docs = [to_json(v) for v in vs]
    return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2) + "\n"

