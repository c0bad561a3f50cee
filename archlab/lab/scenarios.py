"""The lab's images: one small, real, reproducible image for every case the story turns on.

What it is for
--------------
The story (``story.md``) is about a handful of Docker Hub images and how each one is published:
busybox as a many-platform list, circleci/golang as a bare single-arch manifest, mysql:5.7 as a
list that holds only linux/amd64, and so on. This module rebuilds each of those *shapes* as a
tiny image whose only file is ``/bin/hello``, a static executable for the image's platform that
prints ``hello from linux/<arch>[/<variant>]`` (:func:`archlab.elf.hello_binary`). Pushed to a
local registry (``archlab lab up``), they let you pull, inspect and run every case for real.

How do I use it?
----------------
::

    from archlab.lab.scenarios import build_all, get
    for s in build_all(oci=False):
        print(s.reference, s.kind, s.digest)      # lab/busybox:latest multi-arch list sha256:...
    mysql = get("mysql")                          # Docker media types
    mysql.platform_texts                          # ('linux/amd64',)
    get("redis", oci=True).attestations           # the BuildKit-style attestation manifests

The scenarios
-------------
===================  ================================  =========================================
reference            twin in the story                 shape
===================  ================================  =========================================
lab/busybox:latest   busybox (official, multi-arch)    list, every platform archlab can build,
                                                       in busybox's order
lab/golang:latest    circleci/golang                   single-arch amd64 manifest
lab/mysql:5.7        mysql:5.7 in January 2022         list holding only linux/amd64
lab/mariadb:latest   mariadb, Docker's suggested swap  list: amd64 + arm64
lab/redis:4-alpine   redis:4-alpine                    multi-arch; the OCI twin is an index with
                                                       BuildKit-style attestation manifests
lab/ruby:latest      ruby, base of the ``api`` build   list, Debian-like platforms
lab/middleware       some-middleware (unofficial)      single-arch amd64 manifest
lab/armonly:latest   an arm64-only image (mirror case  single-arch arm64 manifest
                     of golang, on an amd64 host)
lab/mislabelled      a buildx image whose arm64 build  list amd64 + arm64, but the arm64 entry
                     downloaded an amd64 binary        (and its config) holds amd64 code
===================  ================================  =========================================

Every scenario exists twice: with Docker media types (``lab/busybox``) and with OCI media types
under a ``-oci`` repository suffix (``lab/busybox-oci``). The Docker twin of redis is a plain
list: Docker manifest lists have no place for attestations.

The rules that make the digests the same everywhere
---------------------------------------------------
=========================  ==================================================================
what                       rule
=========================  ==================================================================
files                      exactly one layer holding ``/bin/hello`` (0755) and its ``bin/`` dir
layer compression          stored gzip (:func:`archlab.lab.images.portable_gzip`): no zlib
                           version can change the bytes
config                     ``Entrypoint ["/bin/hello"]``, epoch timestamps, one label
                           ``org.opencontainers.image.title`` = ``lab/<name>`` (so golang and
                           middleware are different images that share a layer)
order                      platforms in the order of the table in :data:`SPECS`
=========================  ==================================================================

Same platform, same binary, same layer: the amd64 layer of busybox is byte-for-byte the one in
golang, mysql and mislabelled, which is what lets a push mount it across repositories instead
of uploading it again. ``tests/test_lab.py`` pins every top-level digest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Literal

from archlab import elf, manifests
from archlab.errors import LabError
from archlab.lab.images import Blob, BuiltImage, BuiltIndex, build_image, build_index
from archlab.platforms import Platform

__all__ = [
    "BUSYBOX_ORDER",
    "DOCKER_TYPES",
    "ENTRYPOINT",
    "HELLO_PATH",
    "OCI_SUFFIX",
    "OCI_TYPES",
    "SCENARIO_NAMES",
    "SPECS",
    "Scenario",
    "ScenarioSpec",
    "build_all",
    "build_scenario",
    "busybox_platforms",
    "get",
    "media_types_of",
]

HELLO_PATH = "/bin/hello"
ENTRYPOINT = (HELLO_PATH,)
OCI_SUFFIX = "-oci"
TITLE_LABEL = "org.opencontainers.image.title"

#: The order of the official busybox list (amd64 first, the arm family from old to new, ...).
BUSYBOX_ORDER = (
    "linux/amd64",
    "linux/arm/v5",
    "linux/arm/v6",
    "linux/arm/v7",
    "linux/arm64/v8",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
    "linux/mips64le",
)

Shape = Literal["list", "single"]


def busybox_platforms() -> tuple[str, ...]:
    """Every platform :func:`archlab.elf.hello_binary` can build, in busybox's list order.

    A platform archlab learns to build later but busybox's order does not name goes last.
    """
    known = {elf.normalize_platform(p): p for p in BUSYBOX_ORDER}
    ordered = [p for p in BUSYBOX_ORDER if elf.normalize_platform(p) in elf.HELLO_PLATFORMS]
    extra = [p for p in elf.HELLO_PLATFORMS if p not in known]
    return (*ordered, *extra)


@dataclass(frozen=True)
class ScenarioSpec:
    """What a scenario is, before any bytes: the recipe :func:`build_scenario` follows."""

    name: str
    tag: str
    story: str
    description: str
    shape: Shape
    platforms: tuple[str, ...]
    #: Entries (by platform text) whose binary is for another platform: ``{claimed: real}``.
    binary_for: tuple[tuple[str, str], ...] = ()
    #: OCI twin only: add BuildKit-style attestation manifests to the index.
    attestations: bool = False


SPECS: tuple[ScenarioSpec, ...] = (
    ScenarioSpec(
        "busybox", "latest", "busybox (official image, multi-arch)",
        "a list with one image per platform archlab can build, in busybox's order",
        "list", busybox_platforms(),
    ),
    ScenarioSpec(
        "golang", "latest", "circleci/golang (single-arch)",
        "a plain amd64 manifest: pulled on any host without a platform check",
        "single", ("linux/amd64",),
    ),
    ScenarioSpec(
        "mysql", "5.7", "mysql:5.7 in Jan 2022",
        "a list that holds only linux/amd64: an arm64 pull fails with 'no matching manifest'",
        "list", ("linux/amd64",),
    ),
    ScenarioSpec(
        "mariadb", "latest", "mariadb (the replacement Docker's docs suggested)",
        "a list with amd64 and arm64: both kinds of host get a native image",
        "list", ("linux/amd64", "linux/arm64/v8"),
    ),
    ScenarioSpec(
        "redis", "4-alpine", "redis:4-alpine (official, multi-arch)",
        "multi-arch, Alpine's platforms; the OCI twin carries one attestation per image",
        "list",
        ("linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8", "linux/386",
         "linux/ppc64le", "linux/s390x"),
        attestations=True,
    ),
    ScenarioSpec(
        "ruby", "latest", "ruby (official), base of the api service's Dockerfile",
        "a Debian-like multi-arch list, the FROM of a build: service",
        "list",
        ("linux/amd64", "linux/arm/v5", "linux/arm/v7", "linux/arm64/v8", "linux/386",
         "linux/mips64le", "linux/ppc64le", "linux/s390x"),
    ),
    ScenarioSpec(
        "middleware", "latest", "some-middleware/some-middleware:latest (unofficial)",
        "a plain amd64 manifest: pulls on arm64, then exec format error at run time",
        "single", ("linux/amd64",),
    ),
    ScenarioSpec(
        "armonly", "latest", "an arm64-only image (the mirror case on an amd64 host)",
        "a plain arm64 manifest: pulls on amd64, then exec format error at run time",
        "single", ("linux/arm64/v8",),
    ),
    ScenarioSpec(
        "mislabelled", "latest", "a buildx image whose arm64 build fetched an amd64 binary",
        "a list whose arm64 entry and config say arm64 while /bin/hello inside is amd64",
        "list", ("linux/amd64", "linux/arm64/v8"),
        binary_for=(("linux/arm64/v8", "linux/amd64"),),
    ),
)

SCENARIO_NAMES: tuple[str, ...] = tuple(s.name for s in SPECS)


@dataclass(frozen=True)
class Scenario:
    """One lab image, built: where it goes, what it stands for, and its exact bytes."""

    name: str
    repository: str
    tag: str
    story: str
    description: str
    kind: str
    oci: bool
    built: BuiltImage | BuiltIndex

    @property
    def reference(self) -> str:
        """``repository:tag`` without a registry, e.g. ``lab/mysql:5.7``."""
        return f"{self.repository}:{self.tag}"

    def ref(self, host: str) -> str:
        """The full reference on a registry at ``host``, e.g. ``127.0.0.1:5000/lab/mysql:5.7``."""
        return f"{host}/{self.reference}"

    @property
    def manifest(self) -> Blob:
        """The top-level document: the list/index, or the manifest of a single-arch image."""
        return self.built.manifest

    @property
    def digest(self) -> str:
        return self.built.manifest.digest

    @property
    def media_type(self) -> str:
        return self.built.manifest.media_type

    @property
    def is_list(self) -> bool:
        return isinstance(self.built, BuiltIndex)

    @property
    def images(self) -> tuple[BuiltImage, ...]:
        """The runnable images, in list order (attestations left out)."""
        return self.built.images if isinstance(self.built, BuiltIndex) else (self.built,)

    @property
    def attestations(self) -> tuple[BuiltImage, ...]:
        return self.built.attestations if isinstance(self.built, BuiltIndex) else ()

    @property
    def platform_texts(self) -> tuple[str, ...]:
        """Platforms the scenario *claims*, e.g. ``('linux/amd64', 'linux/arm64/v8')``."""
        return tuple(str(img.platform) for img in self.images)

    def children(self) -> Iterator[BuiltImage]:
        """Images then attestations: everything pushed by digest before the top document."""
        yield from self.images
        yield from self.attestations


def _platform(text: str) -> Platform:
    return Platform(*text.split("/"))


def _kind(spec: ScenarioSpec, oci: bool) -> str:
    if spec.shape == "single":
        return "single-arch"
    noun = "index" if oci else "list"
    if spec.binary_for:
        return f"mislabelled {noun}"
    if spec.attestations and oci:
        return "index + attestations"
    if len(spec.platforms) == 1:
        return f"{_platform(spec.platforms[0]).architecture}-only {noun}"
    return f"multi-arch {noun}"


def _image(spec: ScenarioSpec, platform: str, oci: bool) -> BuiltImage:
    binary_platform = dict(spec.binary_for).get(platform, platform)
    return build_image(
        _platform(platform),
        {HELLO_PATH: elf.hello_binary(binary_platform)},
        entrypoint=list(ENTRYPOINT),
        oci=oci,
        labels={TITLE_LABEL: f"lab/{spec.name}"},
        portable=True,
    )


def build_scenario(spec: ScenarioSpec, *, oci: bool) -> Scenario:
    """Build one scenario in Docker (``oci=False``) or OCI media types; same input, same bytes."""
    images = [_image(spec, p, oci) for p in spec.platforms]
    built: BuiltImage | BuiltIndex
    if spec.shape == "single":
        if len(images) != 1:
            raise LabError(f"scenario {spec.name!r}: a single-arch image needs one platform")
        built = images[0]
    else:
        built = build_index(images, oci=oci, attestations=spec.attestations and oci)
    return Scenario(
        name=spec.name,
        repository=f"lab/{spec.name}{OCI_SUFFIX if oci else ''}",
        tag=spec.tag,
        story=spec.story,
        description=spec.description,
        kind=_kind(spec, oci),
        oci=oci,
        built=built,
    )


@cache
def _built(oci: bool) -> tuple[Scenario, ...]:
    return tuple(build_scenario(spec, oci=oci) for spec in SPECS)


def build_all(oci: bool | None = None) -> tuple[Scenario, ...]:
    """Every scenario: Docker twins (``oci=False``), OCI twins (``True``) or both (``None``).

    Both means every Docker twin first, then every OCI twin: pushed in that order, each OCI
    twin finds its layers already in the registry and mounts them.
    """
    if oci is None:
        return _built(False) + _built(True)
    return _built(oci)


def get(name: str, *, oci: bool = False) -> Scenario:
    """The scenario called ``name`` (``"mysql"``; ``"mysql-oci"`` is the OCI twin too)."""
    base = name.removeprefix("lab/")
    if base.endswith(OCI_SUFFIX):
        base, oci = base.removesuffix(OCI_SUFFIX), True
    for s in _built(oci):
        if s.name == base:
            return s
    raise LabError(
        f"no lab scenario called {name!r}: the scenarios are {', '.join(SCENARIO_NAMES)} "
        f"(add {OCI_SUFFIX!r} for the OCI twin)"
    )


def media_types_of(scenario: Scenario) -> frozenset[str]:
    """Every media type the scenario's documents use (top document, manifests, configs, layers)."""
    types = {scenario.media_type}
    for img in scenario.children():
        types.add(img.manifest.media_type)
        types.add(img.config.media_type)
        types.update(layer.media_type for layer in img.layers)
    return frozenset(types)


#: Media types that may appear in a scenario of each flavour (attestation layers are in-toto).
DOCKER_TYPES = frozenset({
    manifests.DOCKER_MANIFEST_LIST, manifests.DOCKER_MANIFEST_V2, manifests.DOCKER_CONFIG,
    manifests.DOCKER_LAYER_GZIP,
})
OCI_TYPES = frozenset({
    manifests.OCI_INDEX, manifests.OCI_MANIFEST, manifests.OCI_CONFIG, manifests.OCI_LAYER_GZIP,
    manifests.IN_TOTO,
})
