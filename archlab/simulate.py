"""Predict what ``docker pull``, ``docker run``, ``docker create`` and compose print, and why.

The story's three puzzles (why does the M1 run what the Ubuntu VM cannot? why does one image fail
at pull and another only at run?) have one answer: a chain of small decisions in the Docker CLI,
the daemon, containerd's ``platforms`` package and runc, each taken with facts about the image
and about the host. This module replays that chain without running Docker. It takes

* :class:`ImageFacts`: the manifests and configs a registry serves for one reference (fetched
  by :func:`gather_facts`, or built in memory with :func:`facts_from_built`),
* a :class:`~archlab.hosts.Host` profile (Engine version, daemon platform, native and emulated
  platforms, runc version), and
* a :class:`LocalStore`: what the daemon already has, because 20.10's answers depend on it,

and returns a :class:`Prediction`: the exact lines on stdout and stderr in terminal order, the
exit code, the entry chosen from a list, how the entrypoint ran (native, emulated or exec format
error), and an ``explanation``: the rules that fired, in plain words, each with its source.

How do I use it?
================

::

    from archlab.hosts import get_host
    from archlab.simulate import gather_facts_sync, simulate_run, explain
    from archlab.registry import RegistryClient
    with RegistryClient() as reg:
        facts = gather_facts_sync("127.0.0.1:5000/lab/mysql:5.7", reg)
    p = simulate_run(facts, get_host("multipass-ubuntu-arm64"))
    print(p.transcript())     # Unable to find image ... / docker: no matching manifest for ...
    print(explain(p))         # why, step by step, with moby/cli/runc line references

Every function is pure except :func:`gather_facts` (network) and :func:`facts_from_built`
(reads the in-memory layers of lab images). ``prediction.store_after`` is the daemon's store
after the command, so ``simulate_pull`` followed by ``simulate_run(..., store=p.store_after)``
replays a session.

The decision tree
=================

::

    docker pull IMG [--platform P]            (P is parsed by the *daemon*: "arm64" -> linux/arm64)
    ├── root is a list / OCI index ........... choose an entry for P, or for the host when no P
    │   ├── 20.10 ........................... exact match after normalizing, FIRST in list order;
    │   │                                     32-bit arm only: any variant of arm as a fallback
    │   ├── 23.0+ ........................... Only(P) with fallbacks (amd64 takes 386, arm64
    │   │                                     takes arm/v8..v5), best first; no arm fallback
    │   └── no entry ........................ "no matching manifest for <P or DefaultSpec> in the
    │                                         manifest list entries", exit 1
    ├── root is one image manifest .......... NOT CHECKED: any architecture is pulled
    ├── what is pulled is an artifact ....... see "When a pull lands on an artifact" below
    └── after the pull, only if P was given, graphdriver 20.10.8+:
        GetImage(name, P) ................... "WARNING: image with reference ... does not match
                                              the specified platform" (20.10.8-23.x look up
                                              <name>:latest, not the tag just pulled!)

    docker run / docker create IMG [--platform P]   (P parsed by the *CLI*: darwin on a Mac)
    ├── create: GetImage(IMG, P) ............ P given: the local image must match Only(P)
    │   └── NotFound ........................ "Unable to find image 'IMG' locally", pull as
    │                                         above, create once more
    │       └── still a mismatch ............ "docker: Error response from daemon: image with
    │                                         reference IMG was found but does not match ..."
    ├── no P: image vs host ................. "WARNING: The requested image's platform (...) does
    │                                         not match the detected host platform (...) and no
    │                                         specific platform was requested" (still created)
    └── start: runc execs the entrypoint .... native CPU -> runs; binfmt qemu/Rosetta -> runs
                                              emulated; otherwise ENOEXEC -> "exec format error",
                                              exit 1 (text by runc version)

Version table
=============

================  ===========================================================================
Engine            what changes in the prediction
================  ===========================================================================
20.10.0-20.10.7   lists: exact match, first entry, arm variant fallback; create warning
20.10.8-23.x      + pull ``--platform`` warning for single-arch images, looked up as
                  ``<name>:latest`` (absent ``:latest``: no warning; other ``:latest``: warning
                  about the wrong image)
20.10.22          an artifact's foreign config or layer type: ``unsupported media type``
                  (was: the download started, then ``invalid rootfs ...``)
23.0              lists: ``Only()`` vectors (386, arm fallbacks), entries without a platform
                  (artifacts too) match any platform, last; nested indexes, arm variant
                  fallback removed; host = ``maximumSpec`` (amd64 gets its ``v1``-``v4``
                  level)
24.0.0            the ``:latest`` lookup turns into an error when ``:latest`` is absent
24.0.1            the warning looks up the tag that was pulled (``ref.String()``)
26.0 / 28.2       schema 1 disabled / removed
27.2.1            containerd store: "no matching manifest ...: no match for platform in
                  manifest <digest>: not found"
27.4              GetImage mismatch text: "... was found but its platform (X) does not match
                  the specified platform (Y)" (containerd store: "does not provide ...")
29 (containerd)   pull target = host platform (with amd64 level); no post-pull warning; run
                  lookup ``OnlyStrict(P)`` with P, any platform (host preferred) without
================  ===========================================================================

When a pull lands on an artifact
================================

A tag can name something that is not an image (a Helm chart, a cosign signature, a referrers
index; :mod:`archlab.artifacts`), and ``--platform`` can select a list entry that is not one
(an attestation through ``unknown/unknown``, a ``wasi/wasm`` entry, or from 23.0 an entry
without a platform):

=============================  ==================================================================
what Docker reaches            what it prints
=============================  ==================================================================
a Docker schema 2 manifest,    ``Error response from daemon: Encountered remote "<type>"(unknown)
tagged, whose config type is   when fetching`` (``(plugin)`` for a plugin), before ``Pulling
not an image's                 from``; graphdriver, every version
an OCI manifest (or any list   20.10.22+ (and 23+): ``unsupported media type <type>`` after
child) with a foreign config   ``Pulling from``, the config's type checked before each layer's.
or layer type                  20.10.0-20.10.21: the downloads start, then ``invalid rootfs in
                               image configuration`` (a config without rootfs) or, approximate,
                               ``failed to register layer: ...`` (a layer that is no tar)
a list entry without a         20.10: never matches. 23.0+: matches any platform, after the
platform                       real matches: an arm64 host lands on an amd64 image's chart.
                               containerd store: judged by its config's os/arch, so an
                               artifact never matches
an entry or config for an OS   ``operating system is not supported``. A config's OS is seen
other than Linux               only once the downloads started (their lines may show); for it
                               20.10 says ``image operating system "windows" cannot be used on
                               this platform`` for Windows, 23+ that text for any OS, followed
                               by ``: operating system is not supported``
the containerd store           approximate: it fetches anything; unpacking pairs the config's
                               ``diff_ids`` with the layers of a layer type. Unequal counts:
                               ``failed to unpack image on snapshotter overlayfs: mismatched
                               image rootfs and manifest layers``; equal (a Helm chart: none
                               and none): kept as an image, and ``docker run`` then fails with
                               ``No command specified``
=============================  ==================================================================

runc's exec-format-error text: ``standard_init_linux.go:211: exec user process caused "exec
format error"`` (up to 1.0.0-rc10), ``...:219: exec user process caused: exec format error``
(rc91-rc93), ``standard_init_linux.go:228: exec user process caused: exec format error``
(rc94-1.0.3), ``exec /path: exec format error`` (1.1.0 and later).

What was calibrated
===================

Against the real Debian docker.io 20.10.24 (profile ``this-machine``) with lab images: every
line of ``docker pull`` / ``run`` / ``create`` for lists (amd64+arm64, amd64 only, 386 only,
arm/v7 only, OCI with attestations), single amd64 and arm64 manifests and a mislabelled image,
with no ``--platform`` and with linux/amd64, arm64, arm64/v8, 386, arm/v5, arm/v6, arm/v8,
x86_64, bare ``arm64``, darwin/amd64 and malformed values, from an empty store and with local
images (``:latest`` bug, "Already exists", "Image is up to date"), and every artifact shape
of the lab (signature, referrers, Helm chart, WASM, image + chart, unknown artifact, an
attestation reached through ``unknown/unknown``) in both manifest flavours. Two things are not
deterministic there and are marked on the lines: a layer's ``Waiting``, ``Verifying Checksum``
and ``Download complete`` may be skipped (one transfer carries a layer's whole progress, and
its watcher writes only the latest update; the ``Downloading``/``Extracting`` bars in between,
which a non-terminal never shows, can replace them; measured in 160 pulls: ``Verifying
Checksum`` missing in 1 of 5, ``Download complete`` in 1 of 80, ``Pull complete``, the last
update, never), and ``docker create`` prints a random container ID.
:meth:`Prediction.compare` knows both; ``tests/test_oracle.py`` checks all of it against the
real daemon. Lines for other Engines follow pull-semantics.md; where no source gives the exact text,
the line is marked ``approximate``.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

import pandas as pd

from archlab import artifacts, digests, limits
from archlab.elf import ElfError, read_identity
from archlab.errors import (
    InvalidReferenceError,
    LabError,
    LayerError,
    ManifestError,
    PlatformError,
)
from archlab.hosts import Host, _version_tuple, get_host
from archlab.layers import Rootfs, open_layer
from archlab.manifests import (
    CONFIG_TYPES,
    DOCKER_MANIFEST_V2,
    IMAGE_TYPES,
    INDEX_TYPES,
    Descriptor,
    ImageConfig,
    ImageIndex,
    ImageManifest,
    Manifest,
    Schema1Manifest,
    parse_config,
    parse_manifest,
)
from archlab.platforms import (
    Platform,
    Rules,
    exact,
    match_entries_modern,
    maximum_spec,
    normalize,
    only,
    only_strict,
    only_with_fallback,
    parse,
    platform_vector,
)
from archlab.reference import Reference, parse_reference

if TYPE_CHECKING:  # the lab builder and the registry client are only needed by two helpers
    from archlab.lab.images import BuiltImage, BuiltIndex
    from archlab.registry import AsyncRegistryClient, RegistryClient

__all__ = [
    "COMPOSE_V2_CAVEAT",
    "CONTAINER_ID_PATTERN",
    "MAX_LAYER_BYTES",
    "ImageFacts",
    "LocalImage",
    "LocalStore",
    "OutputLine",
    "Prediction",
    "Step",
    "docker_parse_error",
    "explain",
    "facts_from_built",
    "gather_facts",
    "gather_facts_sync",
    "predictions_frame",
    "runc_exec_error",
    "selects_attestations",
    "simulate_compose_service",
    "simulate_create",
    "simulate_pull",
    "simulate_run",
]

#: What a ``docker create`` container ID line must match (the ID is random).
CONTAINER_ID_PATTERN: Final = r"[0-9a-f]{64}"
_MAX_DOWNLOADS: Final = 3  # dockerd's default --max-concurrent-downloads
_DEFAULT_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_HELLO_RE: Final = re.compile(rb"hello from [a-z0-9/._-]+\n")
_EMPTY: Mapping[str, Any] = MappingProxyType({})

# Sources, as pull-semantics.md cites them (repo@ref:path#lines, or the PR that changed it).
_SRC: Final[dict[str, str]] = {
    "cli_pull": "cli@v20.10.12:cli/command/image/pull.go RunPull; client/image_create.go",
    "daemon_parse": "moby@v20.10.12:api/server/router/image/image_routes.go#L45-57",
    "parse": "containerd platforms.Parse (moby@v20.10.12:vendor/.../platforms/platforms.go)",
    "pulling_from": "moby@v20.10.12:distribution/pull_v2.go#L435",
    "type_switch": "moby@v20.10.12:distribution/pull_v2.go#L442-477",
    "filter_20_10": "moby@v20.10.12:distribution/pull_v2_unix.go#L20-69",
    "no_match": "moby@v20.10.12:distribution/pull_v2.go#L833-846",
    "first_entry": "moby@v20.10.12:distribution/pull_v2.go#L850-851",
    "list_digest": "moby@v20.10.12:distribution/pull_v2.go#L899",
    "single": "moby@v20.10.12:distribution/pull_v2.go#L620-787; image/store.go Create",
    "os_check": "moby@v20.10.12:distribution/pull_v2.go#L705 (system.IsOSSupported)",
    "layers": "moby@v20.10.12:distribution/xfer/download.go; measured on docker.io 20.10.24",
    "image_exists": "moby@v20.10.12:distribution/pull_v2.go pullSchema2 (ImageStore.Get)",
    "status": "moby@v20.10.12:distribution/pull.go#L168-170",
    "pull_warning": "moby@v20.10.12:daemon/images/image_pull.go#L58-76 (moby #42325, #42633)",
    "latest_fix": "moby #45558, PR #45561 / backport #45562 (commit f450ea64), 24.0.1",
    "getimage": "moby@v20.10.12:daemon/images/image.go#L48-184",
    "getimage_27_4": "moby #48691 (backport of #48631), 27.4.0; moby@master:"
                     "daemon/images/image.go#L197",
    "create_warning": "moby@v20.10.12:daemon/create.go#L85-96 (moby #41556)",
    "fallback": "moby@v20.10.12:daemon/images/image.go#L228-251 (OnlyPlatformWithFallback)",
    "cli_create": "cli@v20.10.12:cli/command/container/create.go#L238-276",
    "cli_warnings": "cli@v20.10.12:cli/command/container/create.go#L278-280",
    "client_parse": "cli@v20.10.12:cli/command/container/create.go#L245; docker/for-mac#6356",
    "run_errors": "cli@v20.10.12:cli/command/container/run.go#L129-131, L282-306",
    "jsonmessage": "moby@v20.10.12:pkg/jsonmessage/jsonmessage.go#L26",
    "modern": "moby@v23.0.0:distribution/pull_v2_unix.go (moby #43434, #43675)",
    "arm_removed": "moby #44390 / #44414 (23.0.0)",
    "maximum_spec": "moby #43434 (23.0.0, commits fcc42d56, 482d1d15)",
    "schema1": "moby@v20.10.12:distribution/pull_v2.go#L449-454, L592-597",
    "schema1_off": "moby@v26.0.0:distribution/errors.go#L220-227 (moby #47459)",
    "c8d_pull": "moby@master:daemon/containerd/image_pull.go; containerd@v1.7.0:images/image.go",
    "c8d_text": "moby #48414 / #48415 (27.2.1); before: containerd's text alone (#46517)",
    "c8d_prefix": "observed: link-assistant/hive-mind#962 (Docker Desktop, 2025)",
    "c8d_lookup": "moby@master:daemon/containerd/image.go#L27-41, platform_matchers.go",
    "runc": "runc@v1.0.2:libcontainer/standard_init_linux.go#L227-228; "
            "runc@v1.1.0:libcontainer/system/linux.go Exec",
    "enoexec": "golang/go:src/syscall/zerrors_linux_*.go (errno 8: exec format error)",
    "exit_1": "runc@v1.0.2:libcontainer/factory_linux.go StartInitialization (inferred from "
              "the code)",
    "qemu": "docker/docs desktop/mac/apple-silicon.md; binfmt_misc (tonistiigi/binfmt)",
    "rosetta": "docker/docs content/desktop/release-notes.md (4.25.0)",
    "compose_221": "compose@v2.2.1:pkg/compose/pull.go#L127-130, convergence.go#L426-435",
    "compose_213": "compose PR #9998 (v2.13.0)",
    "compose_v1": "compose@1.25.0:compose/service.py#L391-395, L1235",
    "measured": "registry-lab.md §4; archlab calibration on docker.io 20.10.24",
    "config_class": "moby@v20.10.12:distribution/pull_v2.go#L413-427 (invalidManifestClassError, "
                    "errors.go#L205); registry.go#L23-55 (ImageTypes, mediaTypeClasses); "
                    "moby@v23.0.0:distribution/pull_v2.go#L500-519 (validateMediaType)",
    "media_types": "moby@v20.10.24:distribution/pull_v2.go#L621-656 (checkSupportedMediaType), "
                   "registry.go#L22-36 (supportedMediaTypes); moby #44367, backports #44405 "
                   "and #44413 (20.10.22)",
    "rootfs_invalid": "moby@v20.10.12:distribution/pull_v2.go#L735-750 (errRootFSInvalid, L44); "
                      "moby #44367: before 20.10.22 an OCI artifact gave 'invalid rootfs in "
                      "image configuration'",
    "register_layer": "moby@v20.10.12:distribution/xfer/download.go#L361-368; "
                      "daemon/graphdriver/overlay2 ApplyDiff -> pkg/chrootarchive untar "
                      "('Error processing tar file(%v): %s'); Go archive/tar [INFERRED]",
    "config_os": "moby@v20.10.12:distribution/config.go#L152-171 (PlatformFromConfig: "
                 "system.ErrNotSupportedOperatingSystem); xfer/download.go#L124; "
                 "moby@v23.0.0:distribution/config.go#L136-152 (wrapped); "
                 "moby@v25.0.0:image/image_os.go CheckOS",
    "c8d_entry": "containerd@v1.7.0:images/image.go#L166-183 (Manifest: an entry without a "
                 "platform is judged by its config's os/arch)",
    "c8d_artifact": "containerd@v2.1.0:client/pull.go (Unpack after an unpacker that unpacked "
                    "nothing), client/image.go getLayers ('mismatched image rootfs and manifest "
                    "layers'); observed: searlsco/posse_party#27 (Desktop 4.56, a cache "
                    "manifest); a Helm chart pulls: rancher/rancher#55085 [INFERRED]",
    "no_command": "moby@v20.10.12:daemon/create.go#L324 ('No command specified') "
                  "[INFERRED for an artifact stored by the containerd store]",
}


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class OutputLine:
    """One line a terminal shows. ``pattern`` (a regex) replaces ``text`` when comparing."""

    stream: Literal["stdout", "stderr"]
    text: str
    optional: bool = False  # may be missing in a real run (racy progress)
    pattern: str | None = None
    approximate: bool = False  # not calibrated: the wording is the best source-based guess
    group: int | None = None  # consecutive lines of one group may come in any order

    def matches(self, actual: str) -> bool:
        if self.pattern is not None:
            return re.fullmatch(self.pattern, actual) is not None
        return actual == self.text


@dataclass(frozen=True)
class Step:
    """One rule that fired: its name, what it did here in plain words, and its source."""

    rule: str
    detail: str
    source: str


@dataclass(frozen=True)
class LocalImage:
    """An image in the daemon's store: its ID (config digest) and platform, and where from."""

    config_digest: str
    platform: Platform
    layers: tuple[str, ...] = ()
    entry_platform: Platform | None = None  # the list entry it was pulled through, if any
    root_digest: str | None = None  # the list (or manifest) digest it was pulled by
    #: False for an artifact the containerd store kept as an image: its config names nothing
    #: to run, so a create fails.
    has_command: bool = True


@dataclass(frozen=True)
class LocalStore:
    """What the daemon already has: tags (normalized ``name:tag``) -> images, plus layers.

    A graphdriver tag points at one image; a containerd-store tag points at one root (list or
    manifest) whose content may be present for several platforms, hence the tuple.
    """

    tags: Mapping[str, tuple[LocalImage, ...]] = field(default_factory=lambda: _EMPTY)
    images: Mapping[str, LocalImage] = field(default_factory=lambda: _EMPTY)
    layers: frozenset[str] = frozenset()

    @classmethod
    def empty(cls) -> LocalStore:
        return cls()

    def get(self, ref: Reference | str) -> tuple[LocalImage, ...]:
        """The images behind ``ref`` (``mysql`` means ``docker.io/library/mysql:latest``)."""
        return self.tags.get(_key(ref), ())

    def has_image(self, config_digest: str) -> bool:
        return config_digest in self.images

    def has_layer(self, digest: str) -> bool:
        return digest in self.layers

    def tagged(self, ref: Reference | str, images: Sequence[LocalImage]) -> LocalStore:
        """A copy where ``ref`` points at ``images`` (their layers and IDs recorded too)."""
        tags = dict(self.tags)
        tags[_key(ref)] = tuple(images)
        all_images = dict(self.images)
        layers = set(self.layers)
        for img in images:
            all_images[img.config_digest] = img
            layers.update(img.layers)
        return LocalStore(MappingProxyType(tags), MappingProxyType(all_images), frozenset(layers))

    def with_image(
        self,
        ref: Reference | str,
        platform: Platform | str,
        *,
        config_digest: str | None = None,
        layers: Iterable[str] = (),
    ) -> LocalStore:
        """A copy with ``ref`` tagged to an image of ``platform`` (e.g. built or pulled earlier).

        Without ``config_digest`` a stable fake ID is made from the reference and platform.
        """
        p = _platform(platform)
        if config_digest is None:
            config_digest = digests.compute(f"{_key(ref)} {p}".encode())
        return self.tagged(ref, [LocalImage(config_digest, p, tuple(layers))])

    def describe(self) -> list[str]:
        return [f"{k} -> {', '.join(str(i.platform) for i in v)}" for k, v in self.tags.items()]


def _key(ref: Reference | str) -> str:
    r = ref if isinstance(ref, Reference) else parse_reference(ref)
    return str(r)


def _platform(p: Platform | str) -> Platform:
    if isinstance(p, Platform):
        return p
    parts = p.split("/")
    return Platform(*parts) if len(parts) > 1 else Platform("linux", p)


@dataclass(frozen=True)
class ImageFacts:
    """Everything a registry says about one reference, as Docker would fetch it.

    ``children`` are the manifests a list names, by digest (artifacts too, and attestations
    when gathered with ``attestations=True``: ``--platform`` can land on any of them);
    ``configs`` the configs Docker would read as an
    image's (:data:`_DOCKER_IMAGE_CONFIG_TYPES`: not a Helm chart's or the empty ``{}``), by
    config digest. Optional, per config digest: ``binary_platforms`` (the platform
    read from the entrypoint's ELF header: a mislabelled image's binary may not be what its
    config says), ``outputs`` (the lines the entrypoint prints when it runs) and ``files`` (paths
    in the image, to resolve a command without ``/`` along ``PATH``).
    """

    reference: Reference
    root: Manifest
    root_digest: str
    root_media_type: str
    children: Mapping[str, Manifest] = field(default_factory=lambda: _EMPTY)
    configs: Mapping[str, ImageConfig] = field(default_factory=lambda: _EMPTY)
    binary_platforms: Mapping[str, Platform] = field(default_factory=lambda: _EMPTY)
    outputs: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    files: Mapping[str, frozenset[str]] = field(default_factory=lambda: _EMPTY)

    @property
    def is_list(self) -> bool:
        return isinstance(self.root, ImageIndex)

    def config_for(self, manifest: ImageManifest) -> ImageConfig:
        try:
            return self.configs[manifest.config.digest]
        except KeyError:
            raise ManifestError(
                f"facts for {self.reference} lack the config {manifest.config.digest} of "
                f"manifest {manifest.digest}; collect them with gather_facts()"
            ) from None

    def with_outputs(self, outputs: Mapping[str, Sequence[str]]) -> ImageFacts:
        """A copy whose entrypoints print ``outputs`` (config digest -> lines)."""
        merged = {**self.outputs, **{k: tuple(v) for k, v in outputs.items()}}
        return replace(self, outputs=MappingProxyType(merged))


@dataclass(frozen=True)
class Prediction:
    """What a command would print and do on one host, and why (see the module docstring)."""

    command: str
    host: str
    lines: tuple[OutputLine, ...]
    exit_code: int | None
    chosen_digest: str | None = None
    image_platform: Platform | None = None
    run_mode: Literal["native", "emulated", "exec-format-error"] | None = None
    emulator: str | None = None
    container_output: tuple[str, ...] | None = None
    warnings: tuple[str, ...] = ()
    error: str | None = None
    explanation: tuple[Step, ...] = ()
    store_after: LocalStore = field(default_factory=LocalStore, repr=False, compare=False)
    #: In plain words, why the lines are not to be read as exact (Compose v2's, for one);
    #: shown after the command wherever the transcript is.
    caveat: str | None = None

    @property
    def stdout_lines(self) -> list[str]:
        return [ln.text for ln in self.lines if ln.stream == "stdout"]

    @property
    def stderr_lines(self) -> list[str]:
        return [ln.text for ln in self.lines if ln.stream == "stderr"]

    def transcript(self, *, with_command: bool = False) -> str:
        """stdout and stderr interleaved as a terminal shows them."""
        body = [ln.text for ln in self.lines]
        if with_command:
            body.insert(0, f"$ {self.command}" + (f"    # {self.caveat}" if self.caveat else ""))
        return "\n".join(body)

    def compare(self, stdout: str, stderr: str, exit_code: int | None = None) -> list[str]:
        """Differences from a real run (empty when it matches); optional lines may be absent."""
        problems: list[str] = []
        for stream, text in (("stdout", stdout), ("stderr", stderr)):
            expected = [ln for ln in self.lines if ln.stream == stream]
            problems += _diff_stream(stream, expected, text.splitlines())
        if exit_code is not None and exit_code != self.exit_code:
            problems.append(f"exit code: expected {self.exit_code}, got {exit_code}")
        return problems

    def matches(self, stdout: str, stderr: str, exit_code: int | None = None) -> bool:
        return not self.compare(stdout, stderr, exit_code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "command": self.command,
            "exit_code": self.exit_code,
            "stdout": self.stdout_lines,
            "stderr": self.stderr_lines,
            "lines": [
                {"stream": ln.stream, "text": ln.text, "optional": ln.optional,
                 "pattern": ln.pattern, "approximate": ln.approximate, "group": ln.group}
                for ln in self.lines
            ],
            "chosen_digest": self.chosen_digest,
            "image_platform": None if self.image_platform is None else str(self.image_platform),
            "run_mode": self.run_mode,
            "emulator": self.emulator,
            "caveat": self.caveat,
            "container_output": None if self.container_output is None
            else list(self.container_output),
            "warnings": list(self.warnings),
            "error": self.error,
            "explanation": [{"rule": s.rule, "detail": s.detail, "source": s.source}
                            for s in self.explanation],
        }


def _diff_stream(stream: str, expected: list[OutputLine], got: list[str]) -> list[str]:
    i = j = 0
    while i < len(expected) and j < len(got):
        if expected[i].group is not None:
            # A run of lines in any order (parallel layer downloads): consume what matches.
            end = i
            while end < len(expected) and expected[end].group == expected[i].group:
                end += 1
            pending = expected[i:end]
            while j < len(got):
                hit = next((k for k, ln in enumerate(pending) if ln.matches(got[j])), None)
                if hit is None:
                    break
                pending.pop(hit)
                j += 1
            left = [ln.text for ln in pending if not ln.optional]
            if left:
                seen = got[j] if j < len(got) else "end of output"
                return [f"{stream} line {j + 1}: expected one of {left!r}, got {seen!r}"]
            i = end
            continue
        if expected[i].matches(got[j]):
            i, j = i + 1, j + 1
        elif expected[i].optional:
            i += 1
        else:
            return [f"{stream} line {j + 1}: expected {expected[i].text!r}, got {got[j]!r}"]
    missing = [ln.text for ln in expected[i:] if not ln.optional]
    if missing:
        return [f"{stream}: missing line(s) {missing!r}"]
    if j < len(got):
        return [f"{stream}: unexpected line(s) {got[j:]!r}"]
    return []


# ---------------------------------------------------------------------------------------------
# Small rule helpers, each one fact from pull-semantics.md


def runc_exec_error(runc_version: str, path: str) -> str:
    """What runc writes to the container's stderr when ``execve`` fails with ENOEXEC."""
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)(?:-rc\.?(\d+))?", runc_version)
    if m is None:
        raise LabError(f"runc version {runc_version!r} is not like 1.0.2 or 1.0.0-rc94")
    version = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    rc = int(m.group(4)) if m.group(4) else None
    if version >= (1, 1, 0):
        return f"exec {path}: exec format error"
    if version < (1, 0, 0) or (rc is not None and rc <= 10):
        return 'standard_init_linux.go:211: exec user process caused "exec format error"'
    if rc is not None and rc <= 93:
        return "standard_init_linux.go:219: exec user process caused: exec format error"
    return "standard_init_linux.go:228: exec user process caused: exec format error"


_COMPONENT_RE: Final = re.compile(r"^[A-Za-z0-9_-]+$")


def docker_parse_error(spec: str, host: Platform, rules: Rules) -> str | None:
    """containerd Parse's error for ``spec`` as Docker prints it (``None`` if it parses)."""
    q = json.dumps(spec)
    if "*" in spec:
        return f"{q}: wildcards not yet supported: invalid argument"
    parts = spec.split("/")
    for part in parts:
        if not _COMPONENT_RE.match(part):
            return (f"{json.dumps(part)} is an invalid component of {q}: platform specifier "
                    f'component must match "^[A-Za-z0-9_-]+$": invalid argument')
    if len(parts) > 3:
        return f"{q}: cannot parse platform specifier: invalid argument"
    try:
        parse(spec, host=host, rules=rules)
    except PlatformError:  # a single part that is neither a known OS nor a known arch
        return f"{q}: unknown operating system or architecture: invalid argument"
    return None


def _fmt(p: Platform, engine: tuple[int, int, int]) -> str:
    return p.format_all() if engine >= (27, 4, 0) else str(p)


@dataclass(frozen=True)
class _Engine:
    host: Host

    @property
    def v(self) -> tuple[int, int, int]:
        return self.host.engine_version

    @property
    def rules(self) -> Rules:
        return self.host.rules

    @property
    def c8d(self) -> bool:
        return self.host.containerd_store

    @property
    def modern(self) -> bool:
        return self.v >= (23, 0, 0)

    @property
    def default_spec(self) -> Platform:
        return self.host.daemon_platform

    @property
    def host_spec(self) -> Platform:
        """The host as 23+ sees it (maximumSpec: amd64 with its level), else DefaultSpec."""
        if not self.modern or self.default_spec.architecture != "amd64":
            return self.default_spec
        return maximum_spec(self.default_spec, self.host.amd64_level or "v1", rules=self.rules)

    def mismatch_text(self, ref_text: str, wanted: Platform, actual: Platform | None) -> str:
        if self.c8d:
            return (f"image with reference {_familiar(ref_text)} was found but does not "
                    f"provide the specified platform ({wanted.format_all()})")
        if self.v >= (27, 4, 0):
            return (f"image with reference {_familiar(ref_text)} was found but its platform "
                    f"({(actual or Platform('', '')).format_all()}) does not match the "
                    f"specified platform ({wanted.format_all()})")
        return (f"image with reference {ref_text} was found but does not match the specified "
                f"platform: wanted {wanted}, actual: {actual}")


def _familiar(text: str) -> str:
    try:
        return parse_reference(text).familiar()
    except InvalidReferenceError:  # an image ID or odd input is shown as given
        return text


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


class _Ctx:
    """Collects lines and steps while a flow runs."""

    def __init__(self) -> None:
        self.lines: list[OutputLine] = []
        self.steps: list[Step] = []
        self.groups = 0

    def new_group(self) -> int:
        self.groups += 1
        return self.groups

    def line(self, stream: str, text: str, **kw: Any) -> None:
        self.lines.append(OutputLine(stream, text, **kw))  # type: ignore[arg-type]

    def step(self, rule: str, detail: str, source: str) -> None:
        self.steps.append(Step(rule, detail, _SRC.get(source, source)))


# ---------------------------------------------------------------------------------------------
# The pull


@dataclass
class _Pulled:
    error: str | None = None
    in_stream: bool = True  # an error inside the JSON stream is printed raw, without a prefix
    image: LocalImage | None = None
    chosen: str | None = None
    store: LocalStore = field(default_factory=LocalStore)
    warnings: list[str] = field(default_factory=list)
    approximate: bool = False  # the error's wording has no exact source


def _name_only(ref: Reference) -> str:
    """The ``fromImage`` the CLI sends: the familiar name, no tag."""
    return ref.familiar_name()


def _pull(ctx: _Ctx, facts: ImageFacts, host: Host, platform_raw: str | None,
          store: LocalStore, stream: str) -> _Pulled:
    eng = _Engine(host)
    ref = facts.reference
    want: Platform | None = None
    if platform_raw is not None:
        err = docker_parse_error(platform_raw.lower(), eng.default_spec, eng.rules)
        if err is not None:
            ctx.step("daemon parses --platform",
                     f"the daemon cannot parse {platform_raw!r} and refuses the request before "
                     "any progress is written", "daemon_parse")
            return _Pulled(error=err, in_stream=False, store=store)
        want = parse(platform_raw.lower(), host=eng.default_spec, rules=eng.rules)
        ctx.step("daemon parses --platform",
                 f"{platform_raw!r} is parsed by the daemon, on Linux, as {want}", "daemon_parse")

    tag_or_digest = ref.familiar() if ref.digest else (ref.tag or "latest")
    pulling = f"{tag_or_digest}: Pulling from {ref.path}"
    root = facts.root

    if isinstance(root, ImageIndex):
        if not eng.c8d:
            ctx.line(stream, pulling)
        chosen = _choose(ctx, facts, root, want, eng)
        if chosen is None:
            shown = want if want is not None else eng.default_spec
            msg = f"no matching manifest for {shown} in the manifest list entries"
            if eng.c8d:
                inner = f"no match for platform in manifest {facts.root_digest}: not found"
                msg = f"{msg}: {inner}" if eng.v >= (27, 2, 1) else inner
                ctx.step("containerd store error", "the containerd store reports the failed "
                         "match with its own error, answered before any progress", "c8d_text")
                ctx.step("printed as a daemon error", "it comes back as the HTTP answer, hence "
                         "'Error response from daemon:' (inferred from the code)", "c8d_prefix")
                return _Pulled(error=msg, in_stream=False, store=store)
            ctx.step("no matching manifest",
                     "no entry of the list fits, so the pull fails; the message shows the "
                     "platform unnormalized (the --platform as parsed, or the daemon's "
                     "DefaultSpec)", "no_match")
            ctx.step("error inside the progress stream",
                     "the 'Pulling from' line was already sent, so the error arrives in the JSON "
                     "stream and the CLI prints it without 'Error response from daemon:'",
                     "jsonmessage")
            return _Pulled(error=msg, store=store)
        if eng.c8d:
            ctx.line(stream, pulling, approximate=True)
        manifest = facts.children.get(chosen.digest)
        assert isinstance(manifest, ImageManifest | Schema1Manifest)
        entry_platform = chosen.platform
        pull_platform = chosen.platform
    elif isinstance(root, ImageManifest | Schema1Manifest):
        refused = (_config_class_error(root) if isinstance(root, ImageManifest)
                   and not eng.c8d else None)
        if refused is not None:
            ctx.step("config type refused", f"the tag names a Docker schema 2 manifest whose "
                     f"config type {root.config.media_type!r} is not an image's: the daemon "
                     "refuses it before any progress is written, so the CLI prints it as "
                     "'Error response from daemon:'", "config_class")
            return _Pulled(error=refused, in_stream=False, store=store)
        ctx.line(stream, pulling, approximate=eng.c8d)
        manifest, entry_platform, pull_platform = root, None, want
        ctx.step("single manifest: no platform check",
                 "the tag names one image manifest, not a list: Docker pulls it whatever "
                 "architecture its config says"
                 + (" (the --platform value is not compared here)" if want is not None else
                    " (nothing compares it with the host here)"),
                 "c8d_pull" if eng.c8d else "single")
    else:  # pragma: no cover - parse_manifest returns only the three kinds
        return _Pulled(error="unsupported manifest format", store=store)

    if isinstance(manifest, Schema1Manifest):
        return _pull_schema1(ctx, facts, manifest, eng, store, stream, want)

    present = store.has_image(manifest.config.digest)  # then no check below runs at all
    if not eng.c8d and not present and eng.v >= (20, 10, 22):
        unsupported = _unsupported_type(manifest)
        if unsupported is not None:
            what = "config" if unsupported == manifest.config.media_type else "a layer"
            ctx.step("media types checked", f"{what} of the manifest Docker is pulling has "
                     f"the type {unsupported!r}, which is neither an OCI image type nor a "
                     "Docker one: 20.10.22+ refuses it before downloading anything (an "
                     "artifact, not an image)", "media_types")
            return _Pulled(error=f"unsupported media type {unsupported}", store=store)

    if (not eng.c8d and pull_platform is not None and pull_platform.os
            and normalize(pull_platform, eng.rules).os != "linux"):
        ctx.step("OS check", f"a Linux daemon cannot store layers for {pull_platform.os}",
                 "os_check")
        return _Pulled(error="operating system is not supported", store=store)

    if not present:
        if eng.c8d and _is_artifact_for_c8d(manifest):
            return _pull_artifact_c8d(ctx, facts, manifest, store, stream)
        late = _pull_fails_late(ctx, facts, manifest, eng, stream)
        if late is not None:
            return _Pulled(error=late[0], store=store, approximate=late[1])

    config = facts.config_for(manifest)
    layer_digests = tuple(layer.digest for layer in manifest.layers)
    image = LocalImage(config.digest, config.platform, layer_digests, entry_platform,
                       facts.root_digest)
    _layer_lines(ctx, stream, manifest, store, config, eng)

    prior = store.get(ref)
    up_to_date = bool(prior) and (
        prior[0].root_digest == facts.root_digest if eng.c8d
        else prior[0].config_digest == config.digest
    )
    if eng.c8d and prior and prior[0].root_digest == facts.root_digest:
        others = [i for i in prior if i.config_digest != image.config_digest]
        up_to_date = len(others) < len(prior)
        images = (*others, image)
    else:
        images = (image,)
    after = store.tagged(ref, images)
    if not ref.digest:  # Docker also records name@digest, so a later run by digest is local
        after = after.tagged(replace(ref, tag=None, digest=facts.root_digest), images)
    shown_ref = ref.familiar()
    ctx.line(stream, f"Digest: {facts.root_digest}", approximate=eng.c8d)
    status = "Image is up to date" if up_to_date else "Downloaded newer image"
    ctx.line(stream, f"Status: {status} for {shown_ref}", approximate=eng.c8d)
    what = "the list" if facts.is_list else "the manifest"
    ctx.step("digest and status",
             f"'Digest:' is the digest the reference resolved to ({what}); "
             + ("the tag already pointed at this image, so it is 'up to date'" if up_to_date
                else "the tag now points at a new image: 'Downloaded newer image'"),
             "list_digest" if facts.is_list else "status")

    result = _Pulled(image=image, chosen=manifest.digest, store=after)
    if want is not None:
        result.error = _post_pull_check(ctx, facts, eng, want, after, stream, result.warnings)
        result.approximate = result.error is not None  # 24.0.0's error text is inferred
    elif not eng.c8d and eng.v >= (20, 10, 8) and not facts.is_list:
        ctx.step("no warning without --platform",
                 "without --platform Docker never compares a single-arch image with the host "
                 "at pull time", "pull_warning")
    return result


def _choose(ctx: _Ctx, facts: ImageFacts, index: ImageIndex, want: Platform | None,
            eng: _Engine) -> Descriptor | None:
    """The list entry Docker pulls, or None."""
    entries = list(index.manifests)
    platforms = [d.platform for d in entries]
    if not eng.modern and not eng.c8d:
        target = _with_default(want, eng.default_spec)
        wanted = normalize(target, eng.rules)
        m = exact(wanted, eng.rules)
        found = [i for i, p in enumerate(platforms) if p is not None and m.match(p)]
        how = (f"exact match for {target} (normalized {wanted}), the first one in list order "
               "wins; 20.10 has no fallbacks such as amd64 -> 386 or arm64 -> arm/v7")
        source = "filter_20_10"
        if not found and wanted.architecture == "arm":
            found = [i for i, p in enumerate(platforms)
                     if p is not None and (p.os, p.architecture) == (wanted.os, "arm")]
            if found:
                how = (f"no exact match for {target}; the deprecated 32-bit arm fallback takes "
                       "any variant of arm (removed in 23.0)")
        found = _gathered(facts, entries, found)
        ctx.step("choose a list entry (20.10)",
                 f"{how}: " + (f"entry {found[0] + 1} ({platforms[found[0]]})" if found
                               else "no entry fits"),
                 source)
        if found:
            ctx.step("first match", "Docker takes the first matching entry, no sorting",
                     "first_entry")
        return entries[found[0]] if found else None
    target = _with_default(want, eng.host_spec)
    if eng.c8d:  # containerd reads the config of an entry without a platform
        platforms = [p if p is not None else _config_platform(facts, d)
                     for p, d in zip(platforms, entries, strict=True)]
    order = match_entries_modern(platforms, target, eng.rules)
    order = _gathered(facts, entries, order)
    vector = ", ".join(str(p) for p in platform_vector(target, eng.rules))
    unlisted = ("an entry without a platform is judged by its config's os/arch (an "
                "artifact's config names none)" if eng.c8d else
                "entries without a platform match anything and come last")
    ctx.step("choose a list entry (23.0+)" if not eng.c8d else "choose a list entry "
             "(containerd store)",
             f"Only({target}) accepts {vector}; {unlisted}; the best match wins: "
             + (f"entry {order[0] + 1} ({platforms[order[0]] or 'no platform'})" if order
                else "no entry fits"),
             "c8d_entry" if eng.c8d else "modern")
    return entries[order[0]] if order else None


#: Config types a graphdriver pull takes for an image's: 20.10's ``ImageTypes``, 23's
#: ``defaultImageTypes`` (compared exactly, as moby does).
_DOCKER_IMAGE_CONFIG_TYPES: Final = artifacts.IMAGE_CONFIG_TYPES
_PLUGIN_CONFIG: Final = "application/vnd.docker.plugin.v1+json"
#: moby's ``supportedMediaTypes`` (20.10.22+): each matches itself, or as a prefix before ".".
_SUPPORTED_MEDIA_TYPES: Final = ("application/vnd.oci.image", "application/vnd.docker",
                                 "application/octet-stream", "application/json", "text/html", "")
#: containerd's ``IsLayerType`` for Docker's types (any ``application/vnd.oci.image.layer.``).
_C8D_DOCKER_LAYERS: Final = frozenset({
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd"})
_SNAPSHOTTER: Final = "overlayfs"  # the containerd store's default on Linux and in Desktop
_TAR_BLOCK: Final = 512  # a tar header block: a shorter blob ends inside the first header


def _config_class_error(m: ImageManifest) -> str | None:
    """20.10+'s refusal of a *Docker schema 2* manifest whose config is not an image's (the
    check runs on the tagged manifest only, before ``Pulling from``); OCI manifests pass."""
    mt = m.config.media_type
    if m.media_type != DOCKER_MANIFEST_V2 or mt in _DOCKER_IMAGE_CONFIG_TYPES:
        return None
    kind = "plugin" if mt == _PLUGIN_CONFIG else "unknown"
    return f"Encountered remote {json.dumps(mt, ensure_ascii=False)}({kind}) when fetching"


def _unsupported_type(m: ImageManifest) -> str | None:
    """The first type ``checkSupportedMediaType`` refuses: the config's, then each layer's."""
    for mt in (m.config.media_type, *(layer.media_type for layer in m.layers)):
        low = mt.lower()
        if not any(low == ok or low.startswith(ok + ".") for ok in _SUPPORTED_MEDIA_TYPES):
            return mt
    return None


def _fs_layer_lines(ctx: _Ctx, stream: str, manifest: ImageManifest, *,
                    registered: bool = False) -> None:
    """What the downloads print before a failure found in the config: they start together with
    the config's fetch and race it, so every line may be missing (measured on 20.10.24). With
    *registered*, a layer may even be unpacked (``Pull complete``) before the config's check
    fails: seen on 20.10.24 under load for a config naming another OS."""
    for layer in manifest.layers:
        ctx.line(stream, f"{_short(layer.digest)}: Pulling fs layer", optional=True)
    group = ctx.new_group()
    states = ("Verifying Checksum", "Download complete", *(("Pull complete",) * registered))
    for layer in manifest.layers:
        for state in states:
            ctx.line(stream, f"{_short(layer.digest)}: {state}", optional=True, group=group)


def _pull_fails_late(ctx: _Ctx, facts: ImageFacts, manifest: ImageManifest, eng: _Engine,
                     stream: str) -> tuple[str, bool] | None:
    """A graphdriver pull that starts downloading and then fails: an artifact before 20.10.22
    (no media type check yet), or a config for another OS. (error, approximate), or None."""
    if eng.c8d:
        return None
    config = facts.configs.get(manifest.config.digest)
    if eng.v < (20, 10, 22):
        if config is None or not _has_rootfs(config):
            _fs_layer_lines(ctx, stream, manifest)
            ctx.step("no rootfs in the config", f"the config ({manifest.config.media_type!r}) "
                     "is not an image config and has no rootfs: before 20.10.22 the pull "
                     "starts the downloads and then fails with this unrelated-sounding error",
                     "rootfs_invalid")
            return "invalid rootfs in image configuration", False
        not_tar = next((d for d in manifest.layers if not _is_tar(d.media_type)), None)
        if not_tar is not None:
            _fs_layer_lines(ctx, stream, manifest)
            why = ("unexpected EOF" if not_tar.size < _TAR_BLOCK
                   else "archive/tar: invalid tar header")
            ctx.step("a layer that is not a tar", f"{_short(not_tar.digest)} "
                     f"({not_tar.media_type!r}) is downloaded and unpacked as a tar, which it "
                     "is not: the tar reader fails (text as overlay2 would print it)",
                     "register_layer")
            return (f"failed to register layer: Error processing tar file(exit status 1): "
                    f"{why}", True)
    if config is not None and config.os and normalize(config.platform, eng.rules).os != "linux":
        _fs_layer_lines(ctx, stream, manifest, registered=True)
        ctx.step("config OS", f"the config says os {config.os!r}: a Linux daemon stores no "
                 "layers for it, and says so once the config has arrived", "config_os")
        said = f"image operating system {json.dumps(config.os)} cannot be used on this platform"
        if eng.v >= (23, 0, 0):  # one message for every OS, wrapping the cause
            return f"{said}: operating system is not supported", False
        if config.os == "windows":  # 20.10: its own message, checked first
            return said, False
        return "operating system is not supported", False
    return None


def _has_rootfs(config: ImageConfig) -> bool:
    """Whether the config has a ``rootfs`` at all (an empty one is valid: a layerless image)."""
    try:
        return isinstance(json.loads(config.raw).get("rootfs"), dict)
    except (ValueError, AttributeError):  # it parsed once as a config; be safe anyway
        return False


def _is_artifact_for_c8d(manifest: ImageManifest) -> bool:
    return manifest.config.media_type not in CONFIG_TYPES or not all(
        _c8d_layer_type(d.media_type) for d in manifest.layers)


def _c8d_layer_type(media_type: str) -> bool:
    return (media_type.startswith("application/vnd.oci.image.layer.")
            or media_type.split("+")[0] in _C8D_DOCKER_LAYERS
            or media_type in _C8D_DOCKER_LAYERS)


def _pull_artifact_c8d(ctx: _Ctx, facts: ImageFacts, manifest: ImageManifest,
                       store: LocalStore, stream: str) -> _Pulled:
    """The containerd store fetches anything; unpacking pairs the config's ``diff_ids`` with
    the layers of a layer type. Unequal counts fail; equal ones (none and none, as in a Helm
    chart) store an image with nothing in it [approximate: not calibrated]."""
    config = facts.configs.get(manifest.config.digest)
    diff_ids = len(config.diff_ids) if config is not None else 0
    layers = [d for d in manifest.layers if _c8d_layer_type(d.media_type)]
    for layer in layers:
        ctx.line(stream, f"{_short(layer.digest)}: Pulling fs layer", approximate=True)
    if diff_ids != len(layers):
        ctx.step("containerd unpacks an artifact",
                 f"the config lists {diff_ids} layer(s), the manifest has {len(layers)} of a "
                 "layer type: unpacking fails", "c8d_artifact")
        return _Pulled(error=f"failed to unpack image on snapshotter {_SNAPSHOTTER}: "
                             "mismatched image rootfs and manifest layers", store=store,
                       approximate=True)
    ctx.step("containerd stores an artifact",
             "the config lists as many layers as the manifest has of a layer type (here "
             f"{diff_ids}), so the containerd store keeps the artifact as an image with "
             "nothing to run", "c8d_artifact")
    platform = config.platform if config is not None else Platform("", "")
    image = LocalImage(manifest.config.digest, platform, tuple(d.digest for d in layers), None,
                       facts.root_digest, has_command=bool(config and (config.entrypoint
                                                                         or config.cmd)))
    after = store.tagged(facts.reference, (image,))
    ctx.line(stream, f"Digest: {facts.root_digest}", approximate=True)
    ctx.line(stream, f"Status: Downloaded newer image for {facts.reference.familiar()}",
             approximate=True)
    return _Pulled(image=image, chosen=manifest.digest, store=after)


def _gathered(facts: ImageFacts, entries: Sequence[Descriptor], found: list[int]) -> list[int]:
    """The matching entries whose manifest the facts hold (one of an unknown type was not
    fetched: Docker skips it too). An attestation that was not gathered is an error, not a
    skip: Docker would pull it."""
    for i in found:
        if entries[i].digest in facts.children:
            break
        if entries[i].is_attestation:
            raise ManifestError(
                f"facts for {facts.reference} lack the attestation manifest "
                f"{entries[i].digest} that this platform selects; gather them with "
                "gather_facts(..., attestations=True)")
    return [i for i in found if entries[i].digest in facts.children]


def _config_platform(facts: ImageFacts, d: Descriptor) -> Platform:
    child = facts.children.get(d.digest)
    config = facts.configs.get(child.config.digest) if isinstance(child, ImageManifest) else None
    return Platform(config.os, config.architecture) if config is not None else Platform("", "")


def _with_default(p: Platform | None, host: Platform) -> Platform:
    if p is None:
        return host
    if p.architecture:
        return Platform(p.os or host.os, p.architecture, p.variant)
    return Platform(p.os or host.os, host.architecture, host.variant)


def _layer_lines(ctx: _Ctx, stream: str, manifest: ImageManifest, store: LocalStore,
                 config: ImageConfig, eng: _Engine) -> None:
    if store.has_image(config.digest):
        ctx.step("image already present",
                 "the daemon already has an image with this config digest (image ID), so no "
                 "layer is downloaded and no layer line is printed", "image_exists")
        return
    approx = eng.c8d
    new = [layer for layer in manifest.layers if not store.has_layer(layer.digest)]
    for layer in manifest.layers:
        state = "Pulling fs layer" if layer in new else "Already exists"
        ctx.line(stream, f"{_short(layer.digest)}: {state}", approximate=approx)
    # Downloads run in parallel (3 at a time): their lines come in any order.
    group = ctx.new_group()
    for n, layer in enumerate(new):
        short = _short(layer.digest)
        if n >= _MAX_DOWNLOADS:
            ctx.line(stream, f"{short}: Waiting", optional=True, approximate=approx, group=group)
        ctx.line(stream, f"{short}: Verifying Checksum", optional=True, approximate=approx,
                 group=group)
        ctx.line(stream, f"{short}: Download complete", optional=True, approximate=approx,
                 group=group)
    for layer in new:
        ctx.line(stream, f"{_short(layer.digest)}: Pull complete", approximate=approx)
    ctx.step("layer progress",
             "stdout is not a terminal, so each progress event is one line: every layer is "
             "announced in order, downloads finish in any order (3 at a time, later ones "
             "'Waiting'), layers are registered in order ('Pull complete'). The transcript shows "
             "every line Docker can print here; in a real run 'Verifying Checksum' is missing "
             "about one time in five, and 'Download complete' rarely, because the progress keeps "
             "only the latest update per layer",
             "layers")


def _post_pull_check(ctx: _Ctx, facts: ImageFacts, eng: _Engine, want: Platform,
                     after: LocalStore, stream: str, warnings: list[str]) -> str | None:
    """The graphdriver's post-pull GetImage(…, platform) warning; returns a hard error if any."""
    ref = facts.reference
    if eng.c8d:
        ctx.step("no post-pull warning", "the containerd store has no post-pull platform "
                 "warning", "c8d_pull")
        return None
    if eng.v < (20, 10, 8):
        ctx.step("no post-pull warning", "the pull --platform warning came in 20.10.8",
                 "pull_warning")
        return None
    if eng.v >= (24, 0, 1):
        lookup, shown = ref, str(ref)
        why = "24.0.1+ looks up the reference that was pulled"
        src = "latest_fix"
    else:
        lookup = parse_reference(_name_only(ref))
        shown = _name_only(ref)
        why = (f"the daemon looks up {shown!r} without the tag, i.e. {lookup.familiar()!r}, "
               "not the tag just pulled (fixed in 24.0.1)")
        src = "pull_warning"
    found = after.get(lookup)
    if not found:
        if eng.v == (24, 0, 0):
            ctx.step("24.0.0 regression", f"{why}; it is absent, and 24.0.0 turns that into an "
                     "error (its wording inferred from the code)", "latest_fix")
            return f"No such image: {lookup.familiar()}"
        ctx.step("post-pull check skipped", f"{why}; there is no such image, so no warning is "
                 "printed even if the pulled image does not match --platform", src)
        return None
    img = found[0]
    if _getimage_ok(img, want, eng):
        ctx.step("post-pull check", f"{why}; that image ({img.platform}) matches Only({want}), "
                 "so nothing is printed", src)
        return None
    text = eng.mismatch_text(shown, want, img.platform)
    warnings.append(text)
    ctx.line(stream, f"WARNING: {text}")
    ctx.step("post-pull warning", f"{why}; that image is {img.platform}, which Only({want}) "
             "does not accept: the pull still succeeds, with a warning", src)
    return None


def _getimage_ok(img: LocalImage, want: Platform, eng: _Engine) -> bool:
    m = only_strict(want, eng.rules) if eng.c8d else only(want, eng.rules)
    if m.match(img.platform):
        return True
    return img.entry_platform is not None and not eng.c8d and m.match(img.entry_platform)


def _pull_schema1(ctx: _Ctx, facts: ImageFacts, manifest: Schema1Manifest, eng: _Engine,
                  store: LocalStore, stream: str, want: Platform | None) -> _Pulled:
    ref = facts.reference
    if eng.v >= (26, 0, 0):
        removed = eng.v >= (28, 2, 0)
        text = ("Docker Image Format v1 and Docker Image manifest version 2, schema 1 support "
                + ("has been removed." if removed else
                   "is disabled by default and will be removed in an upcoming release."))
        ctx.step("schema 1", "schema 1 images are " + ("no longer supported" if removed
                 else "refused unless DOCKER_ENABLE_DEPRECATED_PULL_SCHEMA_1_IMAGE is set"),
                 "schema1_off")
        return _Pulled(error=("" if removed else "[DEPRECATION NOTICE] ") + text, store=store,
                       approximate=True)
    if ref.is_docker_hub:
        ctx.line(stream, f"Image {ref.familiar()} uses outdated schema1 manifest format. Please "
                 "upgrade to a schema2 image for better future compatibility. More information "
                 "at https://docs.docker.com/registry/spec/deprecated-schema-v1/",
                 approximate=True)
    platform = manifest.config_platform
    image = LocalImage(digests.compute(manifest.raw), platform, manifest.fs_layers, None,
                       facts.root_digest)
    ctx.step("schema 1", "only the OS is checked; the config is synthesized from history[0]",
             "schema1")
    after = store.tagged(ref, (image,))
    ctx.line(stream, f"Digest: {facts.root_digest}", approximate=True)
    ctx.line(stream, f"Status: Downloaded newer image for {ref.familiar()}", approximate=True)
    return _Pulled(image=image, chosen=manifest.digest, store=after)


# ---------------------------------------------------------------------------------------------
# Create, start, exec


@dataclass
class _Created:
    error: str | None = None
    daemon_error: bool = False  # printed with "Error response from daemon: "
    in_stream: bool = False
    approximate: bool = False
    image: LocalImage | None = None
    chosen: str | None = None
    warnings: list[str] = field(default_factory=list)  # post-pull and create warnings
    create_warnings: list[str] = field(default_factory=list)  # printed by the CLI after create
    store: LocalStore = field(default_factory=LocalStore)


def _lookup(store: LocalStore, typed: str, want: Platform | None, eng: _Engine
            ) -> tuple[LocalImage | None, str | None]:
    """GetImage: (image, None) or (None, NotFound text)."""
    ref = parse_reference(typed)
    found = store.get(ref)
    if not found:
        return None, f"No such image: {ref.familiar()}"
    if want is None:
        if eng.c8d and len(found) > 1:
            host = only(eng.host_spec, eng.rules)
            best = [i for i in found if host.match(i.platform)]
            return (best or list(found))[0], None
        return found[0], None
    for img in found:
        if _getimage_ok(img, want, eng):
            return img, None
    return None, eng.mismatch_text(typed, want, found[0].platform)


def _create(ctx: _Ctx, facts: ImageFacts, host: Host, typed: str, platform_raw: str | None,
            store: LocalStore, *, pull: bool = True, pull_platform: str | None = None
            ) -> _Created:
    """The CLI's create flow; ``pull=False`` is compose's (it pulls only missing images)."""
    eng = _Engine(host)
    want: Platform | None = None
    if platform_raw is not None:
        err = docker_parse_error(platform_raw, host.client_platform, eng.rules)
        if err is not None:
            ctx.step("CLI parses --platform", f"the CLI cannot parse {platform_raw!r}",
                     "client_parse")
            return _Created(error=f"error parsing specified platform: {err}", store=store)
        want = parse(platform_raw, host=host.client_platform, rules=eng.rules)
        trap = host.client_os != "linux" and want.os == host.client_os
        ctx.step("CLI parses --platform",
                 f"for create the CLI parses {platform_raw!r} itself, on {host.client_os}: "
                 f"{want}" + (" (a bare architecture takes the CLI's own OS: the Docker "
                              "Desktop trap)" if trap else ""), "client_parse")

    img, notfound = _lookup(store, typed, want, eng)
    if img is None:
        assert notfound is not None
        mismatch = not notfound.startswith("No such image")
        ctx.step("create looks up the image",
                 f"GetImage({typed!r}" + (f", {want})" if want else ")") + ": "
                 + ("a local image exists but does not match; a mismatch counts as 'not "
                    "found', so the CLI pulls" if mismatch
                    else "the image is not in the local store, so the CLI pulls"),
                 "getimage" if not eng.c8d else "c8d_lookup")
        if not pull:
            return _Created(error=notfound, daemon_error=True, store=store)
        ctx.line("stderr", f"Unable to find image '{parse_reference(typed).familiar()}' locally")
        given = pull_platform if pull_platform is not None else platform_raw
        ctx.step("CLI pulls and retries", "the CLI prints 'Unable to find image', pulls "
                 + ("with the same --platform text (parsed by the daemon this time)"
                    if given is not None else
                    "with no --platform (the daemon picks for its own platform)")
                 + " and creates once more", "cli_create")
        pulled = _pull(ctx, facts, host, given, store, "stderr")
        if pulled.error is not None and pulled.image is None:
            return _Created(error=pulled.error, daemon_error=not pulled.in_stream,
                            in_stream=pulled.in_stream, store=pulled.store,
                            approximate=pulled.approximate)
        store = pulled.store
        pull_warnings = pulled.warnings
        if pulled.error is not None:  # 24.0.0's hard error after a successful download
            return _Created(error=pulled.error, in_stream=True, store=store, approximate=True)
        img, notfound = _lookup(store, typed, want, eng)
        if img is None:
            assert notfound is not None
            ctx.step("second create fails",
                     f"the pulled image is {pulled.image.platform if pulled.image else '?'}, "
                     f"which Only({want}) does not accept: the create fails", "getimage")
            return _Created(error=notfound, daemon_error=True, store=store,
                            chosen=pulled.chosen, warnings=pull_warnings)
        chosen = pulled.chosen
    else:
        chosen = None
        pull_warnings = []
        ctx.step("local image used", f"{typed!r} is in the local store ({img.platform}); "
                 "docker run does not pull it again", "cli_create")

    if not img.has_command:
        ctx.step("nothing to run", "the image is an artifact the containerd store kept: its "
                 "config names no Entrypoint or Cmd, so the create fails", "no_command")
        return _Created(error="No command specified", daemon_error=True, store=store,
                        chosen=chosen, approximate=True)
    created = _Created(image=img, chosen=chosen, store=store, warnings=list(pull_warnings))
    create_warnings: list[str] = []
    if want is None:
        detected = eng.host_spec
        if not only_with_fallback(detected, eng.rules).match(img.platform):
            shown = _fmt(img.platform, eng.v) if img.platform.os else "unknown"
            text = (f"The requested image's platform ({shown}) does not match the detected "
                    f"host platform ({_fmt(detected, eng.v)}) and no specific platform was "
                    "requested")
            create_warnings.append(text)
            ctx.step("create warning", f"no --platform: the image ({img.platform}) does not "
                     f"fit the host ({detected}); the container is created anyway, with a "
                     "warning", "create_warning")
        else:
            ctx.step("host check", f"no --platform: the image ({img.platform}) fits the host "
                     f"({detected}). This is the create-time check (moby's "
                     "OnlyPlatformWithFallback), not the pull's choice of a list entry: it "
                     "accepts the host's own platform, an older variant of the same CPU (arm/v6 "
                     "on an arm/v7 host) and an image that records no variant; it only decides "
                     "whether to warn", "fallback")
    created.create_warnings = create_warnings
    created.warnings += create_warnings
    return created


def _exec(ctx: _Ctx, facts: ImageFacts, host: Host, img: LocalImage, args: Sequence[str]
          ) -> tuple[str, str | None, tuple[str, ...] | None, int | None, str | None]:
    """(run_mode, emulator, container output, exit code, runc error line)."""
    config = facts.configs.get(img.config_digest)
    binary = facts.binary_platforms.get(img.config_digest)
    platform = binary or img.platform
    source = "the ELF header of the entrypoint" if binary else "the image config"
    if host.runs_natively(platform):
        output = facts.outputs.get(img.config_digest)
        ctx.step("exec: native", f"the entrypoint is {platform} ({source}); this CPU runs "
                 f"{', '.join(str(n) for n in host.native)} natively", "runc")
        return "native", None, output, (0 if output is not None else None), None
    emu = host.emulator_for(platform)
    if emu is not None:
        output = facts.outputs.get(img.config_digest)
        ctx.step("exec: emulated", f"the entrypoint is {platform} ({source}), foreign to this "
                 f"CPU; binfmt_misc hands it to {emu.describe()}, which runs it (slower, best "
                 "effort)", "rosetta" if emu.method == "rosetta" else "qemu")
        return "emulated", emu.describe(), output, (0 if output is not None else None), None
    path = _argv0(facts, config, args)
    text = runc_exec_error(host.runc, path)
    ctx.step("exec: exec format error",
             f"the entrypoint is {platform} ({source}); the kernel has no handler for it "
             "(no native support, no binfmt emulator), execve fails with ENOEXEC",
             "enoexec")
    ctx.step("runc prints it", f"runc {host.runc} reports it as {text!r} on the container's "
             "stderr; the container exits with code 1", "runc")
    return "exec-format-error", None, None, 1, text


def _argv0(facts: ImageFacts, config: ImageConfig | None, args: Sequence[str]) -> str:
    if config is None:
        return args[0] if args else "<entrypoint>"
    argv = list(config.entrypoint or ()) + list(args or (config.cmd or ()))
    if not argv:
        return "<entrypoint>"
    name = argv[0]
    if "/" in name:
        return name
    files = facts.files.get(config.digest)
    path_var = next((e.split("=", 1)[1] for e in config.env if e.startswith("PATH=")),
                    _DEFAULT_PATH)
    for d in path_var.split(":"):
        candidate = posixpath.join(d, name)
        if files is not None and candidate.lstrip("/") in files:
            return candidate
    return name


# ---------------------------------------------------------------------------------------------
# Public entry points


def _typed(facts: ImageFacts, typed: str | None) -> str:
    return typed if typed is not None else facts.reference.familiar()


def _command(verb: str, platform: str | None, options: Sequence[str], typed: str,
             args: Sequence[str] = ()) -> str:
    parts = ["docker", verb]
    if platform is not None:
        parts += ["--platform", platform]
    parts += [*options, typed, *args]
    return " ".join(parts)


def simulate_pull(
    facts: ImageFacts,
    host: Host | str,
    *,
    platform: str | None = None,
    store: LocalStore | None = None,
    typed: str | None = None,
) -> Prediction:
    """``docker pull [--platform P] IMAGE`` on ``host``.

    ``typed`` is the reference as the user typed it (default: the familiar form of
    ``facts.reference``); it only matters for "Using default tag: latest".
    """
    host = get_host(host)
    store = store or LocalStore()
    typed = _typed(facts, typed)
    ctx = _Ctx()
    bare = parse_reference(typed, default_tag=None)
    if bare.tag is None and bare.digest is None:
        ctx.line("stdout", "Using default tag: latest")
    pulled = _pull(ctx, facts, host, platform, store, "stdout")
    exit_code = 0
    error = pulled.error
    if error is not None:
        ctx.line("stderr", error if pulled.in_stream else f"Error response from daemon: {error}",
                 approximate=pulled.approximate)
        exit_code = 1
        ctx.step("docker pull fails", "the CLI prints the error on stderr and exits 1",
                 "jsonmessage" if pulled.in_stream else "cli_pull")
    else:
        ctx.line("stdout", str(facts.reference))
        ctx.step("CLI prints the reference", "on success the CLI ends with the full reference",
                 "cli_pull")
    return Prediction(
        command=_command("pull", platform, (), typed),
        host=host.name,
        lines=tuple(ctx.lines),
        exit_code=exit_code,
        chosen_digest=pulled.chosen,
        image_platform=pulled.image.platform if pulled.image else None,
        warnings=tuple(pulled.warnings),
        error=error,
        explanation=tuple(ctx.steps),
        store_after=pulled.store,
    )


def _cli_error(ctx: _Ctx, verb: str, created: _Created) -> int:
    assert created.error is not None
    msg = created.error
    if created.daemon_error:
        msg = f"Error response from daemon: {msg}"
    if verb == "run":
        ctx.line("stderr", f"docker: {msg}.", approximate=created.approximate)
        ctx.line("stderr", "See 'docker run --help'.")
        ctx.step("docker run fails", "docker run prints 'docker: <error>.' and a help hint on "
                 "stderr and exits 125", "run_errors")
        return 125
    ctx.line("stderr", msg, approximate=created.approximate)
    ctx.step("docker create fails", "docker create prints the error as it is and exits 1",
             "measured")
    return 1


def _container(verb: str, facts: ImageFacts, host: Host | str, platform: str | None,
               store: LocalStore | None, typed: str | None, options: Sequence[str],
               args: Sequence[str]) -> Prediction:
    host = get_host(host)
    store = store or LocalStore()
    typed = _typed(facts, typed)
    ctx = _Ctx()
    created = _create(ctx, facts, host, typed, platform, store)
    base = dict(command=_command(verb, platform, options, typed, args), host=host.name,
                chosen_digest=created.chosen)
    if created.error is not None:
        code = _cli_error(ctx, verb, created)
        return Prediction(lines=tuple(ctx.lines), exit_code=code, error=created.error,
                          warnings=tuple(created.warnings), explanation=tuple(ctx.steps),
                          store_after=created.store, **base)
    img = created.image
    assert img is not None
    for w in created.create_warnings:
        ctx.line("stderr", f"WARNING: {w}")
    if created.create_warnings:
        ctx.step("CLI prints warnings", "the CLI prints each create warning as 'WARNING: ...' "
                 "on stderr", "cli_warnings")
    common = dict(image_platform=img.platform, warnings=tuple(created.warnings),
                  store_after=created.store, **base)
    if verb == "create":
        ctx.line("stdout", "<container id>", pattern=CONTAINER_ID_PATTERN)
        return Prediction(lines=tuple(ctx.lines), exit_code=0, explanation=tuple(ctx.steps),
                          **common)
    mode, emulator, output, code, runc_line = _exec(ctx, facts, host, img, args)
    for text in output or ():
        ctx.line("stdout", text)
    if runc_line is not None:
        ctx.line("stderr", runc_line)
    return Prediction(lines=tuple(ctx.lines), exit_code=code, run_mode=mode,  # type: ignore[arg-type]
                      emulator=emulator, container_output=output, error=runc_line,
                      explanation=tuple(ctx.steps), **common)


def simulate_run(
    facts: ImageFacts,
    host: Host | str,
    *,
    platform: str | None = None,
    store: LocalStore | None = None,
    args: Sequence[str] = (),
    typed: str | None = None,
    options: Sequence[str] = (),
) -> Prediction:
    """``docker run [--platform P] [options] IMAGE [args]``: create, pull if needed, start, exec.

    ``options`` (e.g. ``("--rm", "--network", "none")``) only go into the command line.
    The exit code is the container's (1 for an exec format error, ``None`` when the facts do not
    say what the entrypoint does), or 125 when the CLI fails before starting it.
    """
    return _container("run", facts, host, platform, store, typed, options, args)


def simulate_create(
    facts: ImageFacts,
    host: Host | str,
    *,
    platform: str | None = None,
    store: LocalStore | None = None,
    typed: str | None = None,
    options: Sequence[str] = (),
) -> Prediction:
    """``docker create [--platform P] IMAGE``: like run without the start; prints the ID."""
    return _container("create", facts, host, platform, store, typed, options, ())


#: What a Compose v2 prediction says about its own lines (:attr:`Prediction.caveat`).
COMPOSE_V2_CAVEAT: Final = "Compose v2: outcome predicted, wording not modelled"


def simulate_compose_service(
    facts: ImageFacts,
    host: Host | str,
    platform: str | None = None,
    *,
    service: str = "app",
    store: LocalStore | None = None,
    compose_version: str | None = None,
    typed: str | None = None,
    project: str = "project",
) -> Prediction:
    """``docker compose up <service>`` for one service with ``image:`` and ``platform:``.

    Compose v2 (2.2.1 in Desktop 4.3) pulls a missing image with the raw ``platform:`` string
    (the daemon parses it) and creates with the value parsed on the client; create warnings are
    printed only from 2.13.0 (``! <service> <warning>``); its progress display is not modelled
    line for line, so its lines are marked approximate. Compose v1 uses ``platform`` for the
    pull only; from an empty store its lines are :mod:`archlab.compose_v1`'s for ``up
    --exit-code-from <service>`` in project ``project``, measured on 1.29.2 (approximate for
    other 1.x, whose wording no source says differs).
    """
    host = get_host(host)
    version = compose_version or host.compose
    if version is None:
        raise LabError(f"host {host.name!r} has no compose; pass compose_version='2.2.1'")
    cv = _version_tuple(version)
    typed = _typed(facts, typed)
    if cv < (2, 0, 0) and not (store and store.tags):
        from archlab import compose_v1  # it builds on this module

        return compose_v1.predict("up --exit-code-from", compose_v1.Service(service, typed,
                                                                           platform),
                                  facts, host, project=project, version=version)
    store = store or LocalStore()
    ctx = _Ctx()
    v2 = cv >= (2, 0, 0)
    caveat = COMPOSE_V2_CAVEAT if v2 else None
    chosen = None
    if not store.get(parse_reference(typed)):
        ctx.step("compose pulls the missing image",
                 f"compose {version} pulls with platform {platform!r} as written; the daemon "
                 "parses it", "compose_221" if v2 else "compose_v1")
        pulled = _pull(ctx, facts, host, platform, store, "stdout")
        ctx.lines = [replace(ln, approximate=True) for ln in ctx.lines]
        if pulled.error is not None and pulled.image is None:
            msg = pulled.error
            if not pulled.in_stream:
                msg = f"Error response from daemon: {msg}"
            ctx.line("stderr", msg, approximate=True)
            return Prediction(command=f"docker compose up {service}" if v2
                              else f"docker-compose up {service}", host=host.name,
                              lines=tuple(ctx.lines), exit_code=1, error=pulled.error,
                              explanation=tuple(ctx.steps), store_after=pulled.store,
                              caveat=caveat)
        store, chosen = pulled.store, pulled.chosen
    create_platform = platform if v2 else None
    if not v2:
        ctx.step("compose v1 creates without platform", "compose 1.x passes platform to the "
                 "pull only; the create has none, so the host check applies", "compose_v1")
    created = _create(ctx, facts, host, typed, create_platform, store, pull=False)
    command = f"docker compose up {service}" if v2 else f"docker-compose up {service}"
    if created.error is not None:
        msg = created.error
        if created.daemon_error:
            msg = f"Error response from daemon: {msg}"
        ctx.line("stderr", msg, approximate=True)
        return Prediction(command=command, host=host.name, lines=tuple(ctx.lines), exit_code=1,
                          chosen_digest=chosen or created.chosen, error=created.error,
                          explanation=tuple(ctx.steps), store_after=created.store,
                          caveat=caveat)
    img = created.image
    assert img is not None
    if created.create_warnings:
        if v2 and cv >= (2, 13, 0):
            for w in created.create_warnings:
                ctx.line("stderr", f"! {service} {w}", approximate=True)
            ctx.step("compose prints warnings", "compose 2.13+ shows engine create warnings",
                     "compose_213")
        else:
            ctx.step("warning not shown", f"compose {version} does not print the engine's "
                     "create warnings" + ("" if v2 else " (measured on compose 1.29.2)"),
                     "compose_221" if v2 else "compose_v1")
    mode, emulator, output, code, runc_line = _exec(ctx, facts, host, img, ())
    for text in output or ():
        ctx.line("stdout", text, approximate=True)
    if runc_line is not None:
        ctx.line("stdout", runc_line, approximate=True)
    if code is not None:
        ctx.line("stdout", f"{service} exited with code {code}", approximate=True)
    return Prediction(command=command, host=host.name, lines=tuple(ctx.lines), exit_code=code,
                      chosen_digest=chosen or created.chosen, image_platform=img.platform,
                      run_mode=mode, emulator=emulator,  # type: ignore[arg-type]
                      container_output=output, warnings=tuple(created.warnings),
                      error=runc_line, explanation=tuple(ctx.steps),
                      store_after=created.store, caveat=caveat)


# ---------------------------------------------------------------------------------------------
# Showing predictions


def explain(prediction: Prediction) -> str:
    """Markdown for a notebook: the command, the transcript, and every rule that fired."""
    out = [f"**`{prediction.command}`** on `{prediction.host}` → exit code "
           f"{prediction.exit_code if prediction.exit_code is not None else 'unknown'}", ""]
    if prediction.caveat:
        out += [f"_{prediction.caveat}._", ""]
    out += ["```", prediction.transcript() or "(no output)", "```", ""]
    if prediction.run_mode:
        via = f" ({prediction.emulator})" if prediction.emulator else ""
        out.append(f"Run mode: **{prediction.run_mode}**{via}")
        out.append("")
    out.append("Why:")
    out.append("")
    for n, s in enumerate(prediction.explanation, 1):
        out.append(f"{n}. **{s.rule}**: {s.detail}  ")
        out.append(f"   _source: {s.source}_")
    if any(ln.approximate for ln in prediction.lines):
        out += ["", "_Lines marked approximate were not calibrated against a real Docker._"]
    return "\n".join(out)


def predictions_frame(predictions: Iterable[Prediction]) -> pd.DataFrame:
    """One row per prediction: host, command, exit code, run mode, chosen entry, texts."""
    rows = []
    for p in predictions:
        rows.append({
            "host": p.host,
            "command": p.command,
            "exit_code": p.exit_code,
            "run_mode": p.run_mode,
            "emulator": p.emulator,
            "chosen": _short(p.chosen_digest) if p.chosen_digest else None,
            "image_platform": str(p.image_platform) if p.image_platform else None,
            "warning": "; ".join(p.warnings) or None,
            "error": p.error,
            "stdout": "\n".join(p.stdout_lines),
            "stderr": "\n".join(p.stderr_lines),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Facts: from a registry, or from lab images built in memory


#: Cap on one layer :func:`gather_facts` fetches with ``layers=True`` (lab layers are ~10 KiB).
MAX_LAYER_BYTES: Final = limits.MAX_LAYER_BYTES
#: Cap on what one such layer may unpack to (see :mod:`archlab.layers` for the others).
MAX_LAYER_UNPACKED_BYTES: Final = limits.MAX_LAYER_UNPACKED_BYTES


async def gather_facts(ref: Reference | str, client: AsyncRegistryClient, *,
                       layers: bool = False, attestations: bool = False) -> ImageFacts:
    """Fetch the root manifest, every child and every image-type config of ``ref``.

    Attestation manifests are fetched only with ``attestations=True``: a pull reaches one only
    through ``--platform unknown/unknown`` (:func:`selects_attestations`), and each is one more
    manifest GET, which Docker Hub counts.

    ``layers=True`` also fetches each image's layers (verified, at most
    :data:`MAX_LAYER_BYTES` each) and reads the entrypoint file, as :func:`facts_from_built`
    does: ``binary_platforms`` from its ELF header (a mislabelled image runs what the binary
    is, not what the config says), ``outputs`` from a lab hello binary, and ``files``.
    """
    ref = ref if isinstance(ref, Reference) else parse_reference(ref)
    root = await client.get_manifest(ref)
    children: dict[str, Manifest] = {}

    async def walk(index: ImageIndex) -> None:
        wanted = [d for d in index.manifests
                  if d.media_type in INDEX_TYPES + IMAGE_TYPES and d.digest not in children
                  and (attestations or not d.is_attestation)]
        fetched = await asyncio.gather(*(client.get_manifest(ref.with_digest(d.digest))
                                         for d in wanted))
        for d, f in zip(wanted, fetched, strict=True):
            children[d.digest] = f.manifest
        for f in fetched:
            if isinstance(f.manifest, ImageIndex):
                await walk(f.manifest)

    if isinstance(root.manifest, ImageIndex):
        await walk(root.manifest)
    images = [m for m in (root.manifest, *children.values()) if isinstance(m, ImageManifest)]
    # An artifact's config (a Helm chart's, the empty {}) is not fetched: Docker refuses it
    # by its type, and it need not parse as an image config.
    unique = {m.config.digest: m for m in images if _reads_config(m)}
    configs = await asyncio.gather(*(client.get_config(ref, m.config) for m in unique.values()))
    facts = ImageFacts(
        reference=ref,
        root=root.manifest,
        root_digest=root.digest,
        root_media_type=root.media_type,
        children=MappingProxyType(children),
        configs=MappingProxyType({c.digest: c for c in configs}),
    )
    if not layers:
        return facts
    binaries: dict[str, Platform] = {}
    outs: dict[str, tuple[str, ...]] = {}
    files: dict[str, frozenset[str]] = {}
    for manifest in unique.values():
        blobs = await asyncio.gather(*(
            client.get_blob(ref, d.digest, max_bytes=MAX_LAYER_BYTES, expected_size=d.size,
                            kind="layer")
            for d in manifest.layers if _is_tar(d.media_type)))
        rootfs = _rootfs(blobs)  # lower layers first, as the rootfs is stacked
        del blobs
        config = facts.configs[manifest.config.digest]
        binary, output = _entrypoint_facts(config, rootfs)
        files[config.digest] = frozenset(rootfs.entries)
        if binary is not None:
            binaries[config.digest] = binary
        if output is not None:
            outs[config.digest] = output
    return replace(facts, binary_platforms=MappingProxyType(binaries),
                   outputs=MappingProxyType(outs), files=MappingProxyType(files))


def gather_facts_sync(ref: Reference | str, client: RegistryClient, *,
                      layers: bool = False, attestations: bool = False) -> ImageFacts:
    """:func:`gather_facts` through the blocking :class:`~archlab.registry.RegistryClient`."""
    return client.run(lambda aio: gather_facts(ref, aio, layers=layers,
                                               attestations=attestations))


def selects_attestations(platform: str | None) -> bool:
    """Whether ``--platform`` can select a BuildKit attestation entry (``unknown/unknown``),
    i.e. whether :func:`gather_facts` needs ``attestations=True`` for it."""
    return platform is not None and "unknown" in platform.lower().split("/")


def _is_tar(media_type: str) -> bool:
    return media_type.endswith(("tar+gzip", "tar.gzip", "tar"))


def _reads_config(manifest: ImageManifest) -> bool:
    return manifest.config.media_type in _DOCKER_IMAGE_CONFIG_TYPES


def _rootfs(layers: Sequence[bytes]) -> Rootfs:
    """The layers (lowest first) stacked, each read within :mod:`archlab.layers`' bounds: a
    verified digest only says the registry meant these bytes, and 64 MiB of gzip can unpack
    to 64 GiB. Only the index is kept; the entrypoint is read from it on its own."""
    return Rootfs([open_layer(data) for data in layers])


def _image_facts(img: BuiltImage, ref: Reference, outputs: Mapping[str, Sequence[str]] | None
                 ) -> tuple[ImageManifest, ImageConfig, Platform | None, tuple[str, ...] | None,
                            frozenset[str]]:
    manifest = parse_manifest(img.manifest.data, img.manifest.media_type, source=str(ref))
    assert isinstance(manifest, ImageManifest)
    config = parse_config(img.config.data, source=f"{ref}@{img.config.digest}",
                          media_type=img.config.media_type)
    rootfs = _rootfs([layer.data for layer in img.layers if _is_tar(layer.media_type)])
    binary_platform, output = _entrypoint_facts(config, rootfs)
    if outputs and config.digest in outputs:
        output = tuple(outputs[config.digest])
    return manifest, config, binary_platform, output, frozenset(rootfs.entries)


def _entrypoint_facts(config: ImageConfig, rootfs: Rootfs
                      ) -> tuple[Platform | None, tuple[str, ...] | None]:
    """(platform from the entrypoint's ELF header, the line a lab hello binary prints).

    Only the first ``MAX_ENTRYPOINT_READ_BYTES`` of the file are read: the ELF header is at
    its start, and a lab hello binary is a few hundred bytes."""
    argv = list(config.entrypoint or ()) + list(config.cmd or ())
    binary_platform = output = None
    data = None
    if argv:
        try:
            data = rootfs.read(argv[0].lstrip("/"),
                               max_bytes=limits.MAX_ENTRYPOINT_READ_BYTES, prefix=True)
        except LayerError:  # missing, a directory, a device, a link loop: no facts from it
            data = None
        if data:
            try:
                guess = read_identity(data).platform_guess
            except ElfError:
                guess = None
            if guess:
                binary_platform = _platform(guess)
            hello = _HELLO_RE.search(data)
            if hello:
                output = (hello.group().decode().rstrip("\n"),)
    return binary_platform, output


def facts_from_built(
    reference: Reference | str,
    built: BuiltImage | BuiltIndex,
    *,
    outputs: Mapping[str, Sequence[str]] | None = None,
) -> ImageFacts:
    """Facts for a lab image built in memory (:mod:`archlab.lab.images`), no registry needed.

    The manifests and configs are parsed from their exact bytes. The entrypoint file is read
    from the layers: its ELF header gives ``binary_platforms`` and, for archlab's hello
    binaries, its ``hello from <platform>`` line gives ``outputs`` (override with
    ``outputs={config_digest: lines}``).
    """
    ref = reference if isinstance(reference, Reference) else parse_reference(reference)
    children: dict[str, Manifest] = {}
    configs: dict[str, ImageConfig] = {}
    binaries: dict[str, Platform] = {}
    outs: dict[str, tuple[str, ...]] = {}
    files: dict[str, frozenset[str]] = {}
    from archlab.lab.images import BuiltIndex  # the lab builder: only this helper needs it

    for img in built.children() if isinstance(built, BuiltIndex) else [built]:
        manifest = parse_manifest(img.manifest.data, img.manifest.media_type, source=str(ref))
        assert isinstance(manifest, ImageManifest)
        children[manifest.digest] = manifest
        if not _reads_config(manifest):
            continue
        _, config, binary, output, names = _image_facts(img, ref, outputs)
        configs[config.digest] = config
        files[config.digest] = names
        if binary is not None:
            binaries[config.digest] = binary
        if output is not None:
            outs[config.digest] = output
    root = parse_manifest(built.manifest.data, built.manifest.media_type, source=str(ref))
    return ImageFacts(
        reference=ref,
        root=root,
        root_digest=root.digest,
        root_media_type=built.manifest.media_type,
        children=MappingProxyType(children if isinstance(root, ImageIndex) else {}),
        configs=MappingProxyType(configs),
        binary_platforms=MappingProxyType(binaries),
        outputs=MappingProxyType(outs),
        files=MappingProxyType(files),
    )
