"""One of every manifest kind, built in memory and pushed to a test registry.

Used by the registry, inspect and CLI tests: a Docker list (amd64, arm64/v8, arm/v7), an
amd64-only list (mysql:5.7 in 2022), an OCI index with BuildKit-style attestations, a schema2
and an OCI single-arch manifest.
"""

from __future__ import annotations

from pathlib import Path

from archlab.cache import ContentCache, TagIndex
from archlab.lab.images import BuiltImage, BuiltIndex, build_image, build_index
from archlab.lab.publish import push_image, push_index
from archlab.platforms import Platform
from archlab.reference import Reference, parse_reference
from archlab.registry import AsyncRegistryClient, RegistryClient

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")
ARMV7 = Platform("linux", "arm", "v7")


def make_image(p: Platform, oci: bool = False) -> BuiltImage:
    return build_image(p, {"etc/hello": f"hello {p}\n".encode()}, entrypoint=["/bin/true"],
                       oci=oci, executable=())


def client(tmp_path: Path, **kw: object) -> RegistryClient:
    """A client with its own cache under ``tmp_path`` and no ~/.docker/config.json."""
    kw.setdefault("cache", ContentCache(tmp_path / "cache" / "blobs"))
    kw.setdefault("tag_index", TagIndex(tmp_path / "cache" / "blobs"))
    kw.setdefault("use_docker_config", False)
    return RegistryClient(**kw)


KINDS = ("list", "amd64only", "index", "schema2", "oci")
"""One of every manifest kind a survey meets; the single-arch ones are the last two."""


def build_corpus() -> dict[str, BuiltImage | BuiltIndex]:
    """The corpus images by kind (reproducible: the same digests on every call)."""
    return {
        "list": build_index([make_image(AMD64), make_image(ARM64), make_image(ARMV7)]),
        "amd64only": build_index([make_image(AMD64)]),
        "index": build_index([make_image(AMD64, True), make_image(ARM64, True)], oci=True,
                             attestations=True),
        "schema2": make_image(AMD64),
        "oci": make_image(ARM64, oci=True),
    }


def push_corpus(
    host: str, repo_name: str, tmp_path: Path
) -> tuple[dict[str, Reference], dict[str, BuiltImage | BuiltIndex]]:
    refs = {key: parse_reference(f"{host}/{repo_name}:{key}") for key in KINDS}
    built = build_corpus()

    async def push(aio: AsyncRegistryClient) -> None:
        for key, ref in refs.items():
            b = built[key]
            if isinstance(b, BuiltIndex):
                await push_index(aio, ref, b)
            else:
                await push_image(aio, ref, b)

    with client(tmp_path, cache=False, tag_index=False) as reg:
        reg.run(push)
    return refs, built
