"""Every parser archlab runs on untrusted input, with a hypothesis strategy that feeds it.

One :class:`Target` per parser: a strategy that draws inputs (random text and bytes, and
valid documents with random parts replaced, removed or cut off, which reach much deeper
into a parser than noise does) and a ``run`` that hands one input to the parser the way
archlab does (through a file where archlab reads a file). The contract every target is
held to: **the parser returns, or raises an** :class:`~archlab.errors.ArchlabError`;
any other exception is a bug.

``tests/test_properties.py`` runs every target with hypothesis' default example count in
CI; ``benchmarks/fuzz_parsers.py`` runs each for 10,000 examples or more and records what
it saw.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import shutil
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from archlab import decoding, digests, hub, manifests, platforms, snapshot, survey
from archlab.cache import ContentCache, TagIndex
from archlab.compose import load_compose, load_replacements, read_env_file
from archlab.credentials import credential_source, load_docker_config
from archlab.dockerfile import from_images
from archlab.hosts import load_host_file
from archlab.reference import parse_reference
from archlab.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SNAPSHOT = ROOT / "data" / "snapshots" / "lab"
SHIPPED_HOST = ROOT / "data" / "hosts" / "m1-desktop-4.3.yaml"

# ---------------------------------------------------------------------------------------------
# Building blocks

DIGEST = "sha256:" + "a" * 64
INTERESTING = [
    "", " ", "linux", "windows", "darwin", "unknown", "amd64", "arm64", "arm", "386", "s390x",
    "aarch64", "x86_64", "armhf", "v5", "v6", "v7", "v8", "v9", "*", "linux/arm64/v8",
    "linux/arm/v7", "windows/amd64", "10.0.17763.1", DIGEST, "sha256:", "sha256:tr",
    "sha512:" + "b" * 128, "md5:" + "c" * 32, "sha256:" + "A" * 64,
    manifests.DOCKER_MANIFEST_LIST, manifests.OCI_INDEX, manifests.DOCKER_MANIFEST_V2,
    manifests.OCI_MANIFEST, manifests.DOCKER_SCHEMA1, manifests.DOCKER_SCHEMA1_SIGNED,
    manifests.DOCKER_CONFIG, "application/json", "text/html",
    "vnd.docker.reference.type", "attestation-manifest", "busybox", "mysql:5.7",
    "127.0.0.1:5000/lab/mysql:5.7", "[::1]:5000/x", "${A}", "${A:-x}", "${A?no}", "$$", "$",
    "${", "}", "\\", '"', "'", "\x00", "\x1b[31m", "\ufeff", "\u202e", "é", "\ud800",
    "-1", "0", "1e400", "null", "true", "~", "<<", "&a", "*a", "!!binary", "2001-02-30",
]
# What a person might put in a reference, a platform or a Dockerfile, and a little more.
NAME_CHARS = string.ascii_letters + string.digits + "._-/:@[]%+ ${}\\\"'#=\t\n\x00é\ufeff\u202e"


def text(alphabet: str = NAME_CHARS, max_size: int = 40) -> st.SearchStrategy[str]:
    chars = st.sampled_from(alphabet) | st.characters()
    return st.text(chars, max_size=max_size) | st.sampled_from(INTERESTING)


SCALARS = (st.none() | st.booleans() | st.integers() | st.sampled_from([2**63, -(2**63), 2**64])
           | st.floats(allow_nan=False, allow_infinity=False) | text())
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=16,
)


# Keys as YAML writes them unquoted (null:, true:, 16:) as well as strings; JSON makes them
# strings again.
KEYS = text(max_size=12) | st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)


def _slots(doc: Any, at: tuple = ()) -> list[tuple]:
    """Every path into ``doc`` (dict keys and list indexes), outermost first."""
    out = [at]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _slots(v, (*at, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _slots(v, (*at, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, template: Any) -> Any:
    """``template`` with up to four random edits: a value replaced, a key or item removed,
    a key added, a container emptied. Most drawn documents are nearly valid."""
    doc = copy.deepcopy(template)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3, 4]))):
        path = draw(st.sampled_from(_slots(doc)))
        if not path:
            if draw(st.booleans()):
                doc = draw(JSON)
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "scalar", "rename"]))
        if op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(KEYS)] = draw(JSON)
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(KEYS)] = parent.pop(key)
        elif op == "scalar":
            parent[key] = draw(st.sampled_from(INTERESTING))
        else:
            parent[key] = draw(JSON)
    return doc


@st.composite
def damaged_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` cut off, with a byte flipped or inserted, or left alone."""
    op = draw(st.sampled_from(["keep", "keep", "cut", "flip", "insert"]))
    if not data or op == "keep":
        return data
    at = draw(st.integers(0, len(data) - 1))
    if op == "cut":
        return data[:at]
    if op == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    return data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]


def json_bytes(template: Any, dumps: Callable[[Any], str] = json.dumps
               ) -> st.SearchStrategy[bytes]:
    """Documents shaped like ``template``, serialised, sometimes damaged; and plain noise."""
    shaped = mutated(template).map(lambda d: dumps(d).encode())
    return (shaped | shaped.flatmap(damaged_bytes) | st.binary(max_size=200)
            | JSON.map(lambda d: json.dumps(d).encode())
            | st.sampled_from([b"[" * 5000, b'{"a":' * 3000, b"\xef\xbb\xbf{}", b"NaN",
                               b"1" * 5000]))


def yaml_text(template: Any) -> st.SearchStrategy[str]:
    """YAML shaped like ``template`` (edited), YAML-ish token soup, and plain text."""
    shaped = mutated(template).map(lambda d: yaml.safe_dump(d, allow_unicode=True))
    tokens = st.sampled_from(
        ["services:", "image:", "platform:", "build:", "  ", "    ", "\n", "- ", ": ", "&a ",
         "*a", "<<: ", "[", "]", "{", "}", ", ", "!!str ", "!!binary ", "? ", "'", '"', "|",
         ">", "#", "---", "...", "%YAML 1.1", "${A}", "$${", "x", "1", "null", "2001-02-30",
         "\t", "\ufeff", "\x00"])
    soup = st.lists(tokens | text(max_size=8), max_size=30).map("".join)
    return shaped | soup | text(max_size=200)


# ---------------------------------------------------------------------------------------------
# Templates: one valid document of each kind

PLATFORM = {"architecture": "arm64", "os": "linux", "variant": "v8"}
DESCRIPTOR = {"mediaType": manifests.OCI_MANIFEST, "digest": DIGEST, "size": 527,
              "platform": PLATFORM}
INDEX = {"schemaVersion": 2, "mediaType": manifests.OCI_INDEX, "manifests": [
    DESCRIPTOR,
    {"mediaType": manifests.OCI_MANIFEST, "digest": DIGEST, "size": 840,
     "platform": {"architecture": "unknown", "os": "unknown"},
     "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                     "vnd.docker.reference.digest": DIGEST}}]}
LIST = {**INDEX, "mediaType": manifests.DOCKER_MANIFEST_LIST}
IMAGE = {"schemaVersion": 2, "mediaType": manifests.DOCKER_MANIFEST_V2,
         "config": {"mediaType": manifests.DOCKER_CONFIG, "digest": DIGEST, "size": 1469},
         "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                     "digest": DIGEST, "size": 772788}],
         "annotations": {"a": "b"}, "subject": DESCRIPTOR}
SCHEMA1 = {"schemaVersion": 1, "name": "lab/old", "tag": "1", "architecture": "amd64",
           "fsLayers": [{"blobSum": DIGEST}],
           "history": [{"v1Compatibility": json.dumps({"os": "linux", "architecture": "amd64"})}]}


def _signed(doc: dict) -> bytes:
    """``doc`` as libtrust's pretty JWS: the payload with signatures spliced in before its
    last brace, the protected header saying where (signature bytes are not checked)."""
    payload = json.dumps(doc, indent=3).encode()
    protected = base64.urlsafe_b64encode(json.dumps(
        {"formatLength": len(payload) - 1, "formatTail": "fQ"}).encode()).rstrip(b"=").decode()
    sigs = json.dumps([{"header": {"alg": "ES256"}, "signature": "x", "protected": protected}])
    return payload[:-1] + b',\n   "signatures": ' + sigs.encode() + b"\n}"


SIGNED_SCHEMA1 = _signed(SCHEMA1)
CONFIG = {"architecture": "arm", "os": "linux", "variant": "v7", "os.features": ["x"],
          "config": {"Entrypoint": ["/bin/sh"], "Cmd": "echo", "Env": ["A=1"],
                     "WorkingDir": "/", "User": "0"},
          "rootfs": {"type": "layers", "diff_ids": [DIGEST]},
          "created": "2022-01-01T00:00:00Z", "history": [{"created_by": "x"}]}
COMPOSE = {"services": {
    "db": {"image": "${LAB:-127.0.0.1:5000}/lab/mysql:5.7", "platform": "linux/x86_64",
           "environment": ["A=1"]},
    "web": {"build": {"context": ".", "dockerfile": "Dockerfile", "args": {"A": "1"},
                      "target": "prod"}, "platform": "linux/arm64"},
    "cache": {"image": "redis", "build": "."}},
    "x-base": {"image": "busybox"}}
REPLACEMENTS = {"replacements": [{"image": "mysql", "use": "mariadb:latest", "why": "x",
                                  "source": "y"}]}
DOCKER_CONFIG = {"auths": {"ghcr.io": {"auth": "Y2Fyb2w6cHc=", "identitytoken": "t"},
                           "https://index.docker.io/v1/": {"username": "u", "password": "p"}},
                 "credHelpers": {"gcr.io": "gcloud"}, "psFormat": "table"}
RESULTS_LINE = {"archlab_survey": 1, "input": "busybox", "rows": [
    {"input": "busybox", "ref": "docker.io/library/busybox:latest", "kind": "list",
     "digest": DIGEST, "os": "linux", "architecture": "arm64", "variant": "v8",
     "is_attestation": False, "size": 527, "error": None}]}
CACHE_META = {"digest": DIGEST, "media_type": manifests.OCI_MANIFEST, "size": 20,
              "content_digest": DIGEST}
HUB_PAGE = {"count": 2, "next": "https://hub.example/v2/namespaces/library/repositories/mysql/"
                                "tags?page=2", "results": [
    {"name": "5.7", "digest": DIGEST, "media_type": manifests.DOCKER_MANIFEST_LIST,
     "tag_status": "active", "tag_last_pushed": "2026-01-01T00:00:00Z", "full_size": 1000,
     "images": [{"os": "linux", "architecture": "amd64", "variant": None, "digest": DIGEST,
                 "size": 1000, "status": "active", "last_pushed": "2026-01-01T00:00:00Z"}]}]}
TAG_HINTS = {"registry": "ghcr.io", "repository": "org/app", "tags": {
    "v1": {"digest": DIGEST, "media_type": manifests.OCI_INDEX,
           "recorded_at": "2026-01-01T00:00:00Z"}}}


def _shipped_host() -> dict:
    return yaml.safe_load(SHIPPED_HOST.read_text())


def _canonical(doc: Any) -> str:
    """As ``Snapshot.index_bytes`` writes an index (anything else is refused as edited)."""
    doc = json.loads(json.dumps(doc))  # keys that are not strings become strings, as in JSON
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def _shipped_index() -> dict:
    return json.loads((SHIPPED_SNAPSHOT / "index.json").read_text())


# ---------------------------------------------------------------------------------------------
# Dockerfiles, .env files, references and platforms: line-shaped text

_INSTRUCTIONS = ["FROM", "from", "ARG", "RUN", "COPY", "ENV", "LABEL", "WORKDIR", "ONBUILD",
                 "# escape=`", "# escape=\\", "# syntax=docker/dockerfile:1", "#", ""]
_WORDS = ["busybox", "mysql:5.7", "${BASE}", "${BASE:-alpine}", "$TARGETPLATFORM", "scratch",
          "--platform=${BUILDPLATFORM}", "--platform=linux/arm64", "--platform=", "--mount=x",
          "AS", "as", "build", "1x", "base", "=", "BASE=alpine", "BASE", '["a", "b"]',
          '["a", 1]', "[" * 80, "<<EOF", "EOF", "\\", "`", "'", '"', "${", "}", "&&"]


def _line_soup(first: list[str], words: list[str], sep: st.SearchStrategy[str]
               ) -> st.SearchStrategy[str]:
    word = st.sampled_from(words) | text(max_size=10)
    line = st.builds(lambda a, b: " ".join([a, *b]), st.sampled_from(first),
                     st.lists(word, max_size=5))
    return st.builds(lambda lines, s: s.join(lines), st.lists(line, max_size=8), sep)


_IMAGE = st.sampled_from(["busybox", "mysql:5.7", "${BASE}", "${BASE:-alpine}", "scratch",
                          "base", "0", "127.0.0.1:5000/lab/x@" + DIGEST, "$UNSET", "${A:?no}",
                          "Busybox"]) | text(max_size=12)
_FLAG = st.sampled_from(["", "--platform=$BUILDPLATFORM ", "--platform=${TARGETPLATFORM} ",
                         "--platform=linux/arm64 ", "--platform= ", "--platform=x/y/z/w ",
                         "--other=1 "])
_STAGE = st.builds(lambda flag, image, name, body: f"FROM {flag}{image}{name}\n" + "".join(body),
                   _FLAG, _IMAGE, st.sampled_from(["", " AS base", " as build", " AS 1x", " AS"]),
                   st.lists(st.sampled_from(
                       ["RUN make\n", 'RUN ["a", "b"]\n', "RUN --mount=x echo \\\n  next\n",
                        "ARG BASE\n", "ARG A=1\n", "COPY --from=base / /\n", "ENV A=b\n",
                        "RUN <<EOF\nFROM inside\nEOF\n", "# comment\n", "\n",
                        "COPY --from=0 / /\n", "COPY --from=" + "9" * 5000 + " / /\n",
                        "COPY --from=\u00b2 / /\n"]), max_size=4))
_STRUCTURED_DOCKERFILE = st.builds(
    lambda head, args, stages: head + "".join(args) + "".join(stages),
    st.sampled_from(["", "# escape=`\n", "# syntax=docker/dockerfile:1\n", "\ufeff"]),
    st.lists(st.sampled_from(["ARG BASE=alpine\n", "ARG BASE\n", "ARG =x\n", "ARG A B\n"]),
             max_size=2),
    st.lists(_STAGE, min_size=1, max_size=3))
DOCKERFILE = (_STRUCTURED_DOCKERFILE | _STRUCTURED_DOCKERFILE.flatmap(
    lambda t: damaged_bytes(t.encode("utf-8", "surrogatepass")).map(
        lambda b: b.decode("utf-8", "replace")))
    | _line_soup(_INSTRUCTIONS, _WORDS, st.sampled_from(["\n", "\\\n", "`\n", "\r\n"]))
    | text(max_size=200))
ENV_FILE = (_line_soup(["A=", "export A=", "B_1=", "#", "", "1A=", "A", "a-b="],
                       ["'x'", '"x\\n"', '"${A}"', "${B:-d}", "${C?no}", "#c", "$$", "'",
                        '"', "x", "${"], st.just("\n"))
            | text(max_size=100))
REFERENCE = (text() | st.builds(
    lambda reg, path, tag, dig: reg + path + tag + dig,
    st.sampled_from(["", "docker.io/", "127.0.0.1:5000/", "[::1]:5000/", "localhost/",
                     "Example.com/", "host:99999/", "[fe80::1%eth0]:5000/", "a.b:0/"]),
    st.lists(st.sampled_from(["library", "mysql", "a__b", "a---b", "a.b", "A", "", "_x", "x-"]),
             min_size=1, max_size=4).map("/".join),
    st.sampled_from(["", ":5.7", ":latest", ":-x", ":" + "t" * 129, ":é", ":"]),
    st.sampled_from(["", "@" + DIGEST, "@sha256:abc", "@md5:" + "c" * 32, "@"]),
))
PLATFORM_SPEC = text("linux/arm64v8amd.-_*, windowsdarwin0123456789") | st.builds(
    lambda arch, level: f"linux/{arch}/v{level}", st.sampled_from(["amd64", "arm", "arm64"]),
    st.integers() | st.sampled_from(["9" * 30, "9" * 5000, "\u00b2", "+3", "-1"])) | st.builds(
    lambda parts: "/".join(parts),
    st.lists(st.sampled_from(["linux", "windows", "darwin", "arm64", "aarch64", "arm", "armhf",
                              "armel", "amd64", "x86_64", "i386", "v7", "v8", "v3", "", "*",
                              "Linux", "ARM64"]), max_size=4))


# ---------------------------------------------------------------------------------------------
# The targets


@dataclass(frozen=True, repr=False)
class Target:
    """One parser: ``run(example, workdir)`` feeds it one drawn input."""

    name: str
    strategy: st.SearchStrategy[Any]
    run: Callable[[Any, Path], Any]
    what: str

    def __repr__(self) -> str:
        return f"Target({self.name!r})"


def _write(workdir: Path, name: str, data: str | bytes) -> Path:
    path = workdir / name
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    path.write_bytes(data)
    return path


def _manifest(example: tuple[bytes, str | None], _: Path) -> Any:
    raw, media_type = example
    doc = manifests.parse_manifest(raw, media_type, source="fuzz")
    if isinstance(doc, manifests.Schema1Manifest):
        return doc.config_platform
    if isinstance(doc, manifests.ImageIndex):
        return [(str(d.platform), d.is_attestation, d.attests) for d in doc.manifests]
    return doc


def _config(raw: bytes, _: Path) -> Any:
    return str(manifests.parse_config(raw, source="fuzz").platform)


def _reference(text_: str, _: Path) -> Any:
    ref = parse_reference(text_)
    return str(ref), ref.familiar, ref.api_host


def _platform(spec: str, _: Path) -> Any:
    p = platforms.parse(spec)
    return str(platforms.normalize(p)), [str(x) for x in platforms.platform_vector(p)]


def _compose(text_: str, workdir: Path) -> Any:
    path = _write(workdir, "docker-compose.yml", text_)
    return load_compose(path, env={"LAB": "127.0.0.1:5000"}, allow_unset=True)


def _env_file(text_: str, workdir: Path) -> Any:
    return read_env_file(_write(workdir, "fuzz.env", text_), {"A": "a"})


def _replacements(text_: str, workdir: Path) -> Any:
    return load_replacements([_write(workdir, "replacements.yaml", text_)])


def _dockerfile(text_: str, workdir: Path) -> Any:
    return from_images(_write(workdir, "Dockerfile", text_), {"BASE": "alpine"},
                       build_platform="linux/amd64", target_platform="linux/arm64")


_host_files = iter(range(10**9))


def _host(text_: str, workdir: Path) -> Any:
    # A new name each time: profiles are cached by path, mtime and size.
    return load_host_file(_write(workdir, f"box{next(_host_files)}.yaml", text_))


def _docker_config(raw: bytes, workdir: Path) -> Any:
    config = load_docker_config(_write(workdir, "config.json", raw))
    return [credential_source(h, config) for h in ("ghcr.io", "docker.io", "gcr.io")]


def _results(raw: bytes, workdir: Path) -> Any:
    return survey._load_results(_write(workdir, "results.jsonl", raw))


def _refs_file(raw: bytes, workdir: Path) -> Any:
    return survey.read_refs(_write(workdir, "refs.txt", raw))


def _snapshot(example: tuple[bytes, bytes | None], workdir: Path) -> Any:
    raw, integrity = example
    snap = workdir / "snapshot"
    if not (snap / "blobs").exists():
        shutil.copytree(SHIPPED_SNAPSHOT, snap, dirs_exist_ok=True)
    _write(snap, "index.json", raw)
    # None: sealed to match, as a consistent editor would (only a pin catches that), so that
    # the fields are parsed at all; else a drawn integrity record.
    _write(snap, "integrity.json", snapshot._integrity_bytes(digests.compute(raw))
           if integrity is None else integrity)
    loaded = load_snapshot(snap)
    return loaded.to_frame(), loaded.hosts, loaded.describe(), loaded.integrity


_CACHED = b'{"schemaVersion": 2}'


def _cache_meta(raw: bytes, workdir: Path) -> Any:
    cache = ContentCache(workdir / "cache" / "blobs")
    digest = "sha256:" + hashlib.sha256(_CACHED).hexdigest()
    cache.put(digest, _CACHED, media_type=manifests.OCI_MANIFEST)
    (meta,) = cache.root.rglob("*.meta.json")
    meta.write_bytes(raw)
    return cache.get(digest)


def _tag_hints(raw: bytes, workdir: Path) -> Any:
    tags = TagIndex(workdir / "cache" / "blobs")
    tags.directory.mkdir(parents=True, exist_ok=True)
    path = tags._path("ghcr.io", "org/app")
    path.write_bytes(raw)
    return tags.recall("ghcr.io", "org/app", "v1")


def _hub_page(raw: bytes, _: Path) -> Any:
    page = hub.parse_page(raw, what="hub page")
    return [(t.name, [i.platform for i in t.images]) for t in page.tags], page.next


def _json(raw: bytes, _: Path) -> Any:
    return decoding.load_json(raw, what="fuzz")


def _yaml(text_: str, _: Path) -> Any:
    return decoding.load_yaml(text_, what="fuzz")


MEDIA_TYPES = st.none() | st.sampled_from([*manifests.ACCEPT_ALL, "application/json",
                                           "text/html", manifests.DOCKER_CONFIG]) | text()

TARGETS: tuple[Target, ...] = (
    Target("reference", REFERENCE, _reference, "reference.parse_reference"),
    Target("platform", PLATFORM_SPEC, _platform,
           "platforms.parse, normalize, platform_vector"),
    Target("manifest", st.sampled_from([INDEX, LIST, IMAGE, SCHEMA1]).flatmap(
        lambda doc: st.tuples(json_bytes(doc), st.just(doc.get("mediaType")) | MEDIA_TYPES))
        | st.tuples(damaged_bytes(SIGNED_SCHEMA1), st.sampled_from(
            [None, manifests.DOCKER_SCHEMA1_SIGNED, manifests.DOCKER_SCHEMA1])),
        _manifest, "manifests.parse_manifest (lists, indexes, schema 2, schema 1 signed or not)"),
    Target("config", json_bytes(CONFIG), _config, "manifests.parse_config"),
    Target("compose", yaml_text(COMPOSE), _compose, "compose.load_compose (a file)"),
    Target("env-file", ENV_FILE, _env_file, "compose.read_env_file (a file)"),
    Target("replacements", yaml_text(REPLACEMENTS), _replacements,
           "compose.load_replacements (a file)"),
    Target("dockerfile", DOCKERFILE, _dockerfile, "dockerfile.from_images (a file)"),
    Target("host-profile", yaml_text(_shipped_host()), _host, "hosts.load_host_file (a file)"),
    Target("docker-config", json_bytes(DOCKER_CONFIG), _docker_config,
           "credentials.load_docker_config, credential_source (a file)"),
    Target("snapshot-index", st.tuples(
        json_bytes(_shipped_index(), _canonical),
        st.none() | json_bytes({"format": "archlab-snapshot-integrity", "version": 2,
                                "root": DIGEST})), _snapshot,
           "snapshot.load_snapshot, to_frame (index.json and integrity.json over the shipped "
           "lab snapshot's blobs)"),
    Target("cache-metadata", json_bytes(CACHE_META), _cache_meta,
           "cache.ContentCache.get (a blob's .meta.json)"),
    Target("tag-hints", json_bytes(TAG_HINTS), _tag_hints, "cache.TagIndex.recall (a hint file)"),
    Target("results-file", st.lists(json_bytes(RESULTS_LINE), max_size=3).map(b"\n".join),
           _results, "survey results file (JSON lines)"),
    Target("refs-file", st.lists(REFERENCE, max_size=5).map(
        lambda refs: "\n".join(refs).encode("utf-8", "surrogatepass")).flatmap(damaged_bytes),
        _refs_file, "survey.read_refs (a file)"),
    Target("hub-page", json_bytes(HUB_PAGE), _hub_page,
           "hub.parse_page (a page of Docker Hub's tag listing)"),
    Target("json", json_bytes(CONFIG), _json, "decoding.load_json"),
    Target("yaml", yaml_text(COMPOSE), _yaml, "decoding.load_yaml"),
)
