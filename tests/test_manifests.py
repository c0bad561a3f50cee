"""archlab.manifests: every document kind parsed from real bytes, and every malformation refused."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from archlab import manifests as m
from archlab.errors import ManifestError

# Digests from the story (docker buildx imagetools inspect, January 2022).
BUSYBOX_AMD64 = "sha256:62ffc2ed7554e4c6d360bce40bbcf196573dd27c4ce080641a2c59867e732dee"
BUSYBOX_ARMV5 = "sha256:ca038f83e1a3a6a08b539830ca3beefb503a3989cc1f19c265ae4e624a45a9cc"
MYSQL_AMD64 = "sha256:238cf050a7270dd6940602e70f1e5a11eeaf4e02035f445b7f613ff5e0641f7d"
GOLANG_CONFIG = "sha256:3376bfde60d59ef847fa36fedb4c1695e8950c0db240c47f332fc7a7d5d124c6"


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


IMG_AMD64, IMG_ARM, IMG_NOPLAT, ATT, UNK = (sha(s) for s in ("amd64", "arm", "np", "att", "unk"))


# --------------------------------------------------------------------------------------------
# Document builders: plain dicts, serialised the way registries' clients do.


def entry(digest: str, platform: dict | None, media_type: str = m.OCI_MANIFEST, **extra) -> dict:
    d: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": 527}
    if platform is not None:
        d["platform"] = platform
    d.update(extra)
    return d


def plat(os: str, arch: str, variant: str | None = None) -> dict:
    p = {"architecture": arch, "os": os}
    if variant:
        p["variant"] = variant
    return p


def docker_list(*entries: dict) -> dict:
    return {"schemaVersion": 2, "mediaType": m.DOCKER_MANIFEST_LIST, "manifests": list(entries)}


def busybox_list() -> dict:
    return docker_list(
        entry(BUSYBOX_AMD64, plat("linux", "amd64"), m.DOCKER_MANIFEST_V2),
        entry(BUSYBOX_ARMV5, plat("linux", "arm", "v5"), m.DOCKER_MANIFEST_V2),
    )


def mysql_list() -> dict:
    return docker_list(entry(MYSQL_AMD64, plat("linux", "amd64"), m.DOCKER_MANIFEST_V2))


def oci_index() -> dict:
    """What BuildKit pushes: images, an attestation, and two entries that only look like one."""
    return {
        "schemaVersion": 2,
        "mediaType": m.OCI_INDEX,
        "manifests": [
            entry(IMG_AMD64, plat("linux", "amd64")),
            entry(IMG_ARM, plat("linux", "arm", "v7")),
            entry(
                ATT,
                plat("unknown", "unknown"),
                annotations={
                    "vnd.docker.reference.type": "attestation-manifest",
                    "vnd.docker.reference.digest": IMG_AMD64,
                },
            ),
            entry(UNK, plat("unknown", "unknown")),
            entry(IMG_NOPLAT, None),
        ],
        "annotations": {"org.opencontainers.image.created": "2022-01-02T00:00:00Z"},
    }


def docker_v2(config_digest: str = GOLANG_CONFIG) -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": m.DOCKER_MANIFEST_V2,
        "config": {"mediaType": m.DOCKER_CONFIG, "size": 12844, "digest": config_digest},
        "layers": [
            {"mediaType": m.DOCKER_LAYER_GZIP, "size": 100, "digest": sha("l1")},
            {"mediaType": m.DOCKER_LAYER_GZIP, "size": 250, "digest": sha("l2")},
        ],
    }


def oci_manifest() -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": m.OCI_MANIFEST,
        "artifactType": "application/vnd.example+json",
        "config": {"mediaType": m.OCI_CONFIG, "size": 350, "digest": sha("cfg")},
        "layers": [{"mediaType": m.OCI_LAYER_GZIP, "size": 900, "digest": sha("l")}],
        "subject": {"mediaType": m.OCI_MANIFEST, "size": 527, "digest": IMG_AMD64},
        "annotations": {"org.opencontainers.image.title": "golang"},
    }


def schema1(arch: str = "amd64", os: str = "linux") -> dict:
    v1 = {"id": "a" * 64, "architecture": arch, "os": os, "config": {"Cmd": ["sh"]}}
    return {
        "schemaVersion": 1,
        "name": "library/busybox",
        "tag": "latest",
        "architecture": arch,
        "fsLayers": [{"blobSum": sha("l2")}, {"blobSum": sha("l1")}],
        "history": [
            {"v1Compatibility": json.dumps(v1)},
            {"v1Compatibility": json.dumps({"id": "b" * 64})},
        ],
    }


def image_config(**overrides) -> dict:
    doc = {
        "architecture": "arm",
        "os": "linux",
        "variant": "v7",
        "created": "2022-01-02T00:00:00Z",
        "config": {
            "Env": ["PATH=/bin"],
            "Entrypoint": ["/bin/busybox"],
            "Cmd": ["uname", "-m"],
            "WorkingDir": "/",
            "User": "nobody",
        },
        "rootfs": {"type": "layers", "diff_ids": [sha("tar")]},
        "history": [{"created_by": "build_push.py"}, {"created_by": "x", "empty_layer": True}],
    }
    doc.update(overrides)
    return doc


def pretty(doc: dict) -> bytes:
    """Go's json.MarshalIndent(doc, "", "   "), which libtrust and distribution use."""
    return json.dumps(doc, indent=3).encode()


# --------------------------------------------------------------------------------------------
# A real libtrust-style JWS for schema 1, signed with a P-256 key (ES256).


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_schema1(payload: bytes, keys: list[ec.EllipticCurvePrivateKey]) -> bytes:
    """Embed ES256 signatures the way libtrust's PrettySignature does."""
    length = len(payload) - 2  # everything before the final "\n}"
    tail = payload[length:]
    assert tail == b"\n}"
    sigs = []
    for key in keys:
        protected = b64url(
            json.dumps(
                {"formatLength": length, "formatTail": b64url(tail), "time": "2022-01-02T00:00:00Z"}
            ).encode()
        )
        der = key.sign(f"{protected}.{b64url(payload)}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        numbers = key.public_key().public_numbers()
        sigs.append(
            {
                "header": {
                    "jwk": {
                        "crv": "P-256",
                        "kty": "EC",
                        "x": b64url(numbers.x.to_bytes(32, "big")),
                        "y": b64url(numbers.y.to_bytes(32, "big")),
                    },
                    "alg": "ES256",
                },
                "signature": b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
                "protected": protected,
            }
        )
    sig_json = json.dumps(sigs, indent=3).replace("\n", "\n   ")
    return payload[:length] + b',\n   "signatures": ' + sig_json.encode() + b"\n}"


def jws_verifies(raw: bytes, payload: bytes) -> bool:
    doc = json.loads(raw)
    for sig in doc["signatures"]:
        jwk = sig["header"]["jwk"]
        key = ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64url_decode(jwk["x"]), "big"),
            int.from_bytes(b64url_decode(jwk["y"]), "big"),
            ec.SECP256R1(),
        ).public_key()
        rs = b64url_decode(sig["signature"])
        der = encode_dss_signature(int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big"))
        signed = f"{sig['protected']}.{b64url(payload)}".encode()
        try:
            key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        except Exception:
            return False
    return True


@pytest.fixture(scope="module")
def keys() -> list[ec.EllipticCurvePrivateKey]:
    return [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]


# --------------------------------------------------------------------------------------------
# Media-type constants


def test_accept_all_lists_every_manifest_type_lists_first():
    assert m.ACCEPT_ALL[:2] == (m.DOCKER_MANIFEST_LIST, m.OCI_INDEX)
    assert set(m.ACCEPT_ALL) == {
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
    }
    assert len(m.ACCEPT_ALL) == 6
    assert m.DOCKER_CONFIG == "application/vnd.docker.container.image.v1+json"
    assert m.IN_TOTO == "application/vnd.in-toto+json"
    assert set(m.INDEX_TYPES) | set(m.IMAGE_TYPES) <= set(m.ACCEPT_ALL)


# --------------------------------------------------------------------------------------------
# Indexes


def test_story_busybox_list_entries_in_order():
    raw = json.dumps(busybox_list()).encode()
    doc = m.parse_manifest(raw, m.DOCKER_MANIFEST_LIST, source="docker.io/library/busybox:latest")
    assert isinstance(doc, m.ImageIndex)
    assert doc.kind == "list"
    assert [e.digest for e in doc.manifests] == [BUSYBOX_AMD64, BUSYBOX_ARMV5]
    got = [(e.platform.os, e.platform.architecture, e.platform.variant) for e in doc.manifests]
    assert got == [("linux", "amd64", ""), ("linux", "arm", "v5")]
    assert all(e.media_type == m.DOCKER_MANIFEST_V2 for e in doc.manifests)
    assert doc.images == doc.manifests and doc.attestations == ()


def test_story_mysql_list_has_only_amd64():
    doc = m.parse_manifest(json.dumps(mysql_list()).encode(), m.DOCKER_MANIFEST_LIST)
    assert [(e.digest, e.platform.architecture) for e in doc.manifests] == [(MYSQL_AMD64, "amd64")]


def test_oci_index_entries_attestations_and_platforms():
    doc = m.parse_manifest(json.dumps(oci_index()).encode(), m.OCI_INDEX)
    assert isinstance(doc, m.ImageIndex)
    assert doc.kind == "index"
    e = doc.manifests
    assert [d.digest for d in e] == [IMG_AMD64, IMG_ARM, ATT, UNK, IMG_NOPLAT]
    assert [d.is_attestation for d in e] == [False, False, True, False, False]
    assert [d.platform_unknown for d in e] == [False, False, True, True, False]
    assert [d.attests for d in e] == [None, None, IMG_AMD64, None, None]
    assert e[4].platform is None
    assert doc.images == (e[0], e[1], e[3], e[4])
    assert doc.attestations == (e[2],)
    assert doc.annotations == {"org.opencontainers.image.created": "2022-01-02T00:00:00Z"}


@pytest.mark.parametrize(
    ("platform", "annotations", "is_attestation", "platform_unknown"),
    [
        (
            plat("unknown", "unknown"),
            {"vnd.docker.reference.type": "attestation-manifest"},
            True,
            True,
        ),
        (plat("unknown", "unknown"), {}, False, True),
        (plat("unknown", "unknown"), {"vnd.docker.reference.type": "sbom"}, False, True),
        (plat("linux", "unknown"), {}, False, False),
        (None, {"vnd.docker.reference.type": "attestation-manifest"}, True, False),
        (plat("linux", "amd64"), {"vnd.docker.reference.digest": IMG_AMD64}, False, False),
    ],
)
def test_attestation_is_recognised_by_annotation_not_platform(
    platform, annotations, is_attestation, platform_unknown
):
    index = {"schemaVersion": 2, "manifests": [entry(ATT, platform, annotations=annotations)]}
    (d,) = m.parse_manifest(json.dumps(index).encode(), m.OCI_INDEX).manifests
    assert d.is_attestation is is_attestation
    assert d.platform_unknown is platform_unknown


def test_index_keeps_exact_bytes_and_digests_them():
    raw = json.dumps(busybox_list(), indent=2).encode() + b"\n"
    doc = m.parse_manifest(raw, m.DOCKER_MANIFEST_LIST)
    assert doc.raw == raw
    assert doc.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    # The same JSON with other whitespace is a different document.
    other = m.parse_manifest(json.dumps(busybox_list()).encode(), m.DOCKER_MANIFEST_LIST)
    assert other.manifests == doc.manifests
    assert other.digest != doc.digest


def test_empty_index_is_valid():
    doc = m.parse_manifest(b'{"schemaVersion": 2, "manifests": []}', m.OCI_INDEX)
    assert doc.manifests == ()


def test_platform_optional_fields():
    p = plat("windows", "amd64") | {"os.version": "10.0.17763.2366", "os.features": ["win32k"]}
    doc = m.parse_manifest(json.dumps(docker_list(entry(IMG_AMD64, p))).encode())
    got = doc.manifests[0].platform
    assert (got.os, got.architecture, got.os_version, tuple(got.os_features)) == (
        "windows",
        "amd64",
        "10.0.17763.2366",
        ("win32k",),
    )


def test_descriptor_optional_fields_and_null_means_absent():
    e = entry(
        IMG_AMD64,
        plat("linux", "amd64"),
        urls=["https://example.test/l"],
        artifactType="application/x",
    )
    e2 = entry(IMG_ARM, plat("linux", "arm", None) | {"variant": None}, annotations=None)
    doc = m.parse_manifest(json.dumps(docker_list(e, e2)).encode())
    d, d2 = doc.manifests
    assert d.urls == ("https://example.test/l",)
    assert d.artifact_type == "application/x"
    assert d2.urls == () and d2.artifact_type == "" and dict(d2.annotations) == {}


# --------------------------------------------------------------------------------------------
# Values are frozen and hashable


def test_values_are_frozen_and_hashable():
    doc = m.parse_manifest(json.dumps(oci_index()).encode(), m.OCI_INDEX)
    att = doc.attestations[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        att.digest = IMG_ARM  # type: ignore[misc]
    with pytest.raises(TypeError):
        att.annotations["vnd.docker.reference.type"] = "x"  # type: ignore[index]
    assert len({*doc.manifests, *doc.manifests}) == 5
    assert hash(doc) == hash(m.parse_manifest(doc.raw, m.OCI_INDEX))


def test_raw_bytes_stay_out_of_repr():
    doc = m.parse_manifest(json.dumps(oci_index()).encode(), m.OCI_INDEX)
    assert "raw=" not in repr(doc)
    assert doc.digest in repr(doc)


# --------------------------------------------------------------------------------------------
# Image manifests


def test_docker_schema2_story_golang():
    raw = json.dumps(docker_v2(), indent=3).encode()
    doc = m.parse_manifest(raw, m.DOCKER_MANIFEST_V2, source="docker.io/circleci/golang:latest")
    assert isinstance(doc, m.ImageManifest)
    assert doc.kind == "schema2"
    assert (doc.config.media_type, doc.config.size, doc.config.digest) == (
        m.DOCKER_CONFIG,
        12844,
        GOLANG_CONFIG,
    )
    assert [layer.digest for layer in doc.layers] == [sha("l1"), sha("l2")]
    assert doc.layers_size == 350
    assert doc.subject is None and doc.artifact_type == ""
    assert doc.digest == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_oci_manifest_with_subject_and_artifact_type():
    doc = m.parse_manifest(json.dumps(oci_manifest()).encode(), m.OCI_MANIFEST)
    assert isinstance(doc, m.ImageManifest)
    assert doc.kind == "oci"
    assert doc.artifact_type == "application/vnd.example+json"
    assert doc.subject is not None and doc.subject.digest == IMG_AMD64
    assert doc.annotations["org.opencontainers.image.title"] == "golang"
    assert doc.config.media_type == m.OCI_CONFIG


# --------------------------------------------------------------------------------------------
# Schema 1


def test_unsigned_schema1():
    raw = pretty(schema1("arm"))
    doc = m.parse_manifest(raw, m.DOCKER_SCHEMA1, source="lab/old:1")
    assert isinstance(doc, m.Schema1Manifest)
    assert doc.kind == "schema1"
    assert (doc.name, doc.tag, doc.architecture) == ("library/busybox", "latest", "arm")
    assert doc.fs_layers == (sha("l2"), sha("l1"))
    assert len(doc.history) == 2 and json.loads(doc.history[1]) == {"id": "b" * 64}
    assert doc.signed is False and doc.signatures == 0
    assert doc.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert m.schema1_payload(raw) == raw
    cp = doc.config_platform
    assert (cp.os, cp.architecture) == ("linux", "arm")


def test_schema1_config_platform_comes_from_history_not_top_level():
    d = schema1("amd64")
    d["history"][0]["v1Compatibility"] = json.dumps({"architecture": "s390x", "os": "linux"})
    doc = m.parse_manifest(pretty(d))
    assert doc.architecture == "amd64"
    assert doc.config_platform.architecture == "s390x"


@pytest.mark.parametrize("n_keys", [1, 2])
def test_signed_schema1_digest_is_over_the_payload(keys, n_keys):
    payload = pretty(schema1())
    raw = sign_schema1(payload, keys[:n_keys])
    assert json.loads(raw)["signatures"]  # really embedded
    doc = m.parse_manifest(raw, m.DOCKER_SCHEMA1_SIGNED, source="docker.io/library/busybox:1.0")
    assert isinstance(doc, m.Schema1Manifest)
    assert doc.signed is True and doc.signatures == n_keys
    assert doc.media_type == m.DOCKER_SCHEMA1_SIGNED
    assert doc.raw == raw
    assert m.schema1_payload(raw) == payload
    assert doc.digest == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert doc.digest != "sha256:" + hashlib.sha256(raw).hexdigest()
    # The signatures verify over the payload we cut out: it is the signed content.
    assert jws_verifies(raw, m.schema1_payload(raw))
    assert not jws_verifies(raw, raw)
    # And the digest equals that of the unsigned form.
    assert doc.digest == m.parse_manifest(payload, m.DOCKER_SCHEMA1).digest


def test_signed_schema1_detected_without_content_type(keys):
    raw = sign_schema1(pretty(schema1()), keys[:1])
    doc = m.parse_manifest(raw)
    assert isinstance(doc, m.Schema1Manifest)
    assert doc.media_type == m.DOCKER_SCHEMA1_SIGNED


def _resign(raw: bytes, **protected_changes) -> bytes:
    doc = json.loads(raw)
    for sig in doc["signatures"]:
        header = json.loads(b64url_decode(sig["protected"]))
        header.update(protected_changes)
        header = {k: v for k, v in header.items() if v is not None}
        sig["protected"] = b64url(json.dumps(header).encode())
    return pretty(doc)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda raw: _resign(raw, formatLength=None),
            "signatures[0].protected.formatLength is missing",
        ),
        (
            lambda raw: _resign(raw, formatTail=None),
            "signatures[0].protected.formatTail is missing",
        ),
        (
            lambda raw: _resign(raw, formatLength="12"),
            'signatures[0].protected.formatLength must be an integer, got "12"',
        ),
        (lambda raw: _resign(raw, formatLength=10**6), "outside the document's"),
        (lambda raw: _resign(raw, formatLength=20), "do not cut a JSON object out"),
        (
            lambda raw: raw.replace(b'"protected": "', b'"protected": "!!'),
            "signatures[0].protected is not base64url-encoded JSON",
        ),
        (lambda raw: pretty(json.loads(raw) | {"signatures": []}), "signatures is empty"),
        (
            lambda raw: pretty(json.loads(raw) | {"signatures": {}}),
            "signatures must be a list, got {}",
        ),
    ],
)
def test_signed_schema1_broken_signature_blocks(keys, mutate, fragment):
    raw = mutate(sign_schema1(pretty(schema1()), keys[:1]))
    with pytest.raises(ManifestError) as info:
        m.parse_manifest(raw, m.DOCKER_SCHEMA1_SIGNED, source="lab/old:1")
    assert str(info.value).startswith("manifest lab/old:1: ")
    assert fragment in str(info.value)


def test_signed_schema1_signatures_must_agree(keys):
    raw = sign_schema1(pretty(schema1()), keys)
    doc = json.loads(raw)
    header = json.loads(b64url_decode(doc["signatures"][1]["protected"]))
    header["formatTail"] = b64url(b"}")
    doc["signatures"][1]["protected"] = b64url(json.dumps(header).encode())
    with pytest.raises(ManifestError, match="disagrees with signatures\\[0\\]"):
        m.parse_manifest(pretty(doc), m.DOCKER_SCHEMA1_SIGNED)


# --------------------------------------------------------------------------------------------
# Configs


def test_config_fields_and_platform():
    raw = json.dumps(image_config()).encode()
    cfg = m.parse_config(raw, source=sha("cfg"), media_type=m.DOCKER_CONFIG + "; charset=utf-8")
    assert (cfg.architecture, cfg.os, cfg.variant) == ("arm", "linux", "v7")
    p = cfg.platform
    assert (p.os, p.architecture, p.variant) == ("linux", "arm", "v7")
    assert cfg.entrypoint == ("/bin/busybox",) and cfg.cmd == ("uname", "-m")
    assert cfg.env == ("PATH=/bin",)
    assert (cfg.working_dir, cfg.user) == ("/", "nobody")
    assert cfg.diff_ids == (sha("tar"),)
    assert cfg.created == "2022-01-02T00:00:00Z"
    assert cfg.history_length == 2
    assert cfg.media_type == m.DOCKER_CONFIG
    assert cfg.raw == raw and cfg.digest == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_config_windows_fields():
    raw = json.dumps(
        image_config(
            architecture="amd64",
            os="windows",
            variant=None,
            **{"os.version": "10.0.17763.2366", "os.features": ["win32k"]},
        )
    ).encode()
    cfg = m.parse_config(raw)
    assert (cfg.os_version, cfg.os_features) == ("10.0.17763.2366", ("win32k",))
    assert cfg.platform.os_version == "10.0.17763.2366"


@pytest.mark.parametrize("os_value", ["", None, "absent"])
def test_config_empty_or_missing_os_is_allowed(os_value):
    d = image_config(os=os_value)
    if os_value == "absent":
        del d["os"]
    cfg = m.parse_config(json.dumps(d).encode())
    assert cfg.os == ""
    assert cfg.architecture == "arm"


def test_config_minimal_and_string_commands():
    cfg = m.parse_config(b'{"architecture": "amd64", "os": "linux"}')
    assert (cfg.entrypoint, cfg.cmd, cfg.env, cfg.diff_ids, cfg.created, cfg.history_length) == (
        None,
        None,
        (),
        (),
        None,
        0,
    )
    assert cfg.media_type == ""
    # Docker's strslice accepts a bare string for Entrypoint/Cmd; null means unset.
    d = image_config(config={"Entrypoint": "/bin/sh", "Cmd": None})
    cfg = m.parse_config(json.dumps(d).encode())
    assert cfg.entrypoint == ("/bin/sh",) and cfg.cmd is None


def test_attestation_config_platform_is_unknown():
    cfg = m.parse_config(
        b'{"architecture": "unknown", "os": "unknown", "rootfs": '
        b'{"type": "layers", "diff_ids": []}}'
    )
    assert (cfg.platform.os, cfg.platform.architecture) == ("unknown", "unknown")


# --------------------------------------------------------------------------------------------
# Dispatch


def _mt(doc: dict, media_type: str | None) -> dict:
    doc = copy.deepcopy(doc)
    if media_type is None:
        doc.pop("mediaType", None)
    else:
        doc["mediaType"] = media_type
    return doc


@pytest.mark.parametrize(
    ("doc", "content_type", "cls", "media_type"),
    [
        (busybox_list(), m.DOCKER_MANIFEST_LIST, m.ImageIndex, m.DOCKER_MANIFEST_LIST),
        (
            busybox_list(),
            m.DOCKER_MANIFEST_LIST.upper() + "; charset=utf-8",
            m.ImageIndex,
            m.DOCKER_MANIFEST_LIST,
        ),
        (busybox_list(), None, m.ImageIndex, m.DOCKER_MANIFEST_LIST),
        (busybox_list(), "application/json", m.ImageIndex, m.DOCKER_MANIFEST_LIST),
        (oci_index(), m.OCI_INDEX, m.ImageIndex, m.OCI_INDEX),
        (_mt(oci_index(), None), m.OCI_INDEX, m.ImageIndex, m.OCI_INDEX),
        (_mt(oci_index(), None), None, m.ImageIndex, m.OCI_INDEX),
        (_mt(oci_index(), None), "text/plain", m.ImageIndex, m.OCI_INDEX),
        (docker_v2(), m.DOCKER_MANIFEST_V2, m.ImageManifest, m.DOCKER_MANIFEST_V2),
        (docker_v2(), None, m.ImageManifest, m.DOCKER_MANIFEST_V2),
        (_mt(oci_manifest(), None), None, m.ImageManifest, m.OCI_MANIFEST),
        (_mt(oci_manifest(), None), "application/octet-stream", m.ImageManifest, m.OCI_MANIFEST),
        (schema1(), None, m.Schema1Manifest, m.DOCKER_SCHEMA1),
        (schema1(), m.DOCKER_SCHEMA1_SIGNED, m.Schema1Manifest, m.DOCKER_SCHEMA1_SIGNED),
        (
            _mt(schema1(), m.DOCKER_SCHEMA1),
            m.DOCKER_SCHEMA1_SIGNED,
            m.Schema1Manifest,
            m.DOCKER_SCHEMA1_SIGNED,
        ),
    ],
)
def test_dispatch(doc, content_type, cls, media_type):
    parsed = m.parse_manifest(pretty(doc), content_type)
    assert type(parsed) is cls
    assert parsed.media_type == media_type


@pytest.mark.parametrize(
    ("doc", "content_type", "message"),
    [
        (
            busybox_list(),
            m.OCI_INDEX,
            "manifest lab/busybox:latest: mediaType is "
            "'application/vnd.docker.distribution.manifest.list.v2+json' but the registry sent "
            "Content-Type 'application/vnd.oci.image.index.v1+json'; "
            "the document is not what it was served as",
        ),
        (
            oci_manifest(),
            m.DOCKER_MANIFEST_V2,
            "manifest lab/busybox:latest: mediaType is "
            "'application/vnd.oci.image.manifest.v1+json' but the registry sent "
            "Content-Type 'application/vnd.docker.distribution.manifest.v2+json'; "
            "the document is not what it was served as",
        ),
        (
            _mt(busybox_list(), None),
            m.DOCKER_MANIFEST_LIST,
            "manifest lab/busybox:latest: mediaType is missing; a Docker manifest list must "
            "declare 'application/vnd.docker.distribution.manifest.list.v2+json'",
        ),
        (
            _mt(docker_v2(), None),
            m.DOCKER_MANIFEST_V2,
            "manifest lab/busybox:latest: mediaType is missing; a Docker schema 2 manifest must "
            "declare 'application/vnd.docker.distribution.manifest.v2+json'",
        ),
        (
            busybox_list() | {"layers": []},
            None,
            "manifest lab/busybox:latest: layers must not appear in a Docker manifest list",
        ),
        (
            oci_manifest() | {"manifests": []},
            None,
            "manifest lab/busybox:latest: manifests must not appear in an OCI image manifest",
        ),
        (
            {"schemaVersion": 2, "manifests": [], "layers": []},
            None,
            "manifest lab/busybox:latest: has both manifests and config/layers; "
            "cannot tell index from manifest",
        ),
        (
            schema1() | {"layers": []},
            None,
            "manifest lab/busybox:latest: mixes schema 1 fsLayers with layers",
        ),
        (
            {"schemaVersion": 2},
            None,  # moby falls back to "index" and then finds no manifests
            "manifest lab/busybox:latest: manifests is missing",
        ),
    ],
)
def test_dispatch_conflicts(doc, content_type, message):
    with pytest.raises(ManifestError) as info:
        m.parse_manifest(pretty(doc), content_type, source="lab/busybox:latest")
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("doc", "content_type", "shown"),
    [
        (busybox_list(), m.IN_TOTO, m.IN_TOTO),
        (busybox_list(), m.DOCKER_CONFIG, m.DOCKER_CONFIG),
        (busybox_list(), "text/html; charset=utf-8", "text/html"),
        (
            _mt(oci_manifest(), "application/vnd.cncf.helm.chart.v1"),
            None,
            "application/vnd.cncf.helm.chart.v1",
        ),
    ],
)
def test_unsupported_manifest_format(doc, content_type, shown):
    with pytest.raises(ManifestError) as info:
        m.parse_manifest(pretty(doc), content_type, source="lab/x:1")
    text = str(info.value)
    assert text.startswith(f"manifest lab/x:1: unsupported manifest format {shown!r}")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "is empty, not a JSON document"),
        (b"  \n", "is empty, not a JSON document"),
        (b"<html><body>Sign in</body></html>", "is not valid JSON (Expecting value"),
        (b'{"schemaVersion": 2,', "is not valid JSON ("),
        (b"\x80\x81\x82", "is not UTF-8 text (byte 0x80 at offset 0, line 1)"),
        # Go's decoder refuses a byte-order mark, so Docker would not pull this either.
        (b"\xef\xbb\xbf{}", "starts with a UTF-8 byte-order mark"),
        # json.loads raised RecursionError on these (issue 10): depth is checked first.
        (b"[" * 100_000, "nests arrays and objects 100000 deep, more than the 64"),
        (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "nests arrays and objects 5000 deep"),
        (b"[]", "must be a JSON object, got list []"),
        (b'"manifest"', 'must be a JSON object, got str "manifest"'),
        (b"null", "must be a JSON object, got NoneType null"),
    ],
)
def test_not_a_json_object(raw, problem):
    with pytest.raises(ManifestError) as info:
        m.parse_manifest(raw, m.DOCKER_MANIFEST_LIST, source="lab/x:1")
    assert str(info.value).startswith(f"manifest lab/x:1: {problem}")
    with pytest.raises(ManifestError) as info:
        m.parse_config(raw, source="lab/x:1")
    assert str(info.value).startswith(f"config lab/x:1: {problem}")


def test_str_instead_of_bytes_is_refused():
    with pytest.raises(ManifestError, match="got str, not bytes"):
        m.parse_manifest(json.dumps(busybox_list()))  # type: ignore[arg-type]


def test_default_source_label():
    with pytest.raises(ManifestError) as info:
        m.parse_manifest(b"[]")
    assert str(info.value).startswith("manifest: must be a JSON object")
    with pytest.raises(ManifestError) as info:
        m.parse_config(b"[]")
    assert str(info.value).startswith("config: must be a JSON object")


# --------------------------------------------------------------------------------------------
# Field errors: one row per required field / wrong type; the message names the JSON path.

DELETE = object()


def mutated(doc: dict, path: tuple, value: Any) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


BAD_DIGEST = "sha256:" + "A" * 64

LIST_CASES = [
    (("schemaVersion",), DELETE, "schemaVersion is missing"),
    (("schemaVersion",), "2", 'schemaVersion must be an integer, got "2"'),
    (("schemaVersion",), 2.0, "schemaVersion must be an integer, got 2.0"),
    (("schemaVersion",), 1, "schemaVersion must be 2 for a Docker manifest list, got 1"),
    (("mediaType",), 5, "mediaType must be a string, got 5"),
    (("manifests",), DELETE, "manifests is missing"),
    (("manifests",), None, "manifests must be a list, got null"),
    (("manifests",), {}, "manifests must be a list, got {}"),
    (("manifests", 0), "x", 'manifests[0] must be an object, got "x"'),
    (("manifests", 1, "mediaType"), DELETE, "manifests[1].mediaType is missing"),
    (("manifests", 0, "mediaType"), 5, "manifests[0].mediaType must be a string, got 5"),
    (("manifests", 0, "digest"), DELETE, "manifests[0].digest is missing"),
    (("manifests", 0, "digest"), 5, "manifests[0].digest must be a string, got 5"),
    (
        ("manifests", 0, "digest"),
        BAD_DIGEST,
        f"manifests[0].digest is not a valid digest: invalid digest '{BAD_DIGEST}'",
    ),
    (("manifests", 0, "digest"), "sha256:abc", "manifests[0].digest is not a valid digest"),
    (("manifests", 0, "size"), DELETE, "manifests[0].size is missing"),
    (("manifests", 0, "size"), "527", 'manifests[0].size must be an integer, got "527"'),
    (("manifests", 0, "size"), True, "manifests[0].size must be an integer, got true"),
    (("manifests", 0, "size"), 527.5, "manifests[0].size must be an integer, got 527.5"),
    (("manifests", 0, "size"), -1, "manifests[0].size must not be negative, got -1"),
    (
        ("manifests", 0, "platform"),
        "linux/amd64",
        'manifests[0].platform must be an object, got "linux/amd64"',
    ),
    (
        ("manifests", 0, "platform", "architecture"),
        DELETE,
        "manifests[0].platform.architecture is missing",
    ),
    (("manifests", 1, "platform", "os"), DELETE, "manifests[1].platform.os is missing"),
    (
        ("manifests", 1, "platform", "os"),
        None,
        "manifests[1].platform.os must be a string, got null",
    ),
    (
        ("manifests", 1, "platform", "variant"),
        5,
        "manifests[1].platform.variant must be a string, got 5",
    ),
    (
        ("manifests", 0, "platform", "os.version"),
        10,
        'manifests[0].platform["os.version"] must be a string, got 10',
    ),
    (
        ("manifests", 0, "platform", "os.features"),
        "sse4",
        'manifests[0].platform["os.features"] must be a list, got "sse4"',
    ),
    (
        ("manifests", 0, "platform", "os.features"),
        [1],
        'manifests[0].platform["os.features"][0] must be a string, got 1',
    ),
    (
        ("manifests", 0, "platform", "features"),
        "sse4",
        'manifests[0].platform.features must be a list, got "sse4"',
    ),
    (("manifests", 0, "annotations"), [], "manifests[0].annotations must be an object, got []"),
    (
        ("manifests", 0, "annotations"),
        {"a.b": 1},
        'manifests[0].annotations["a.b"] must be a string, got 1',
    ),
    (("manifests", 0, "urls"), "http://x", 'manifests[0].urls must be a list, got "http://x"'),
    (("manifests", 0, "artifactType"), 1, "manifests[0].artifactType must be a string, got 1"),
    (("annotations",), "x", 'annotations must be an object, got "x"'),
    (("subject",), "x", 'subject must be an object, got "x"'),
]


@pytest.mark.parametrize(("path", "value", "problem"), LIST_CASES)
def test_list_field_errors(path, value, problem):
    raw = pretty(mutated(busybox_list(), path, value))
    with pytest.raises(ManifestError) as info:
        m.parse_manifest(raw, m.DOCKER_MANIFEST_LIST, source="docker.io/library/busybox:latest")
    assert str(info.value).startswith(f"manifest docker.io/library/busybox:latest: {problem}")


def test_the_example_message_exactly():
    raw = pretty(mutated(mysql_list(), ("manifests", 0, "platform", "architecture"), 5))
    with pytest.raises(ManifestError) as info:
        m.parse_manifest(raw, m.DOCKER_MANIFEST_LIST, source="docker.io/library/mysql:5.7")
    assert str(info.value) == (
        "manifest docker.io/library/mysql:5.7: manifests[0].platform.architecture "
        "must be a string, got 5"
    )


IMAGE_CASES = [
    (("schemaVersion",), 1, "schemaVersion must be 2 for an OCI image manifest, got 1"),
    (("config",), DELETE, "config is missing"),
    (("config",), "x", 'config must be an object, got "x"'),
    (("config", "digest"), DELETE, "config.digest is missing"),
    (("config", "digest"), "md5:" + "a" * 32, "config.digest is not a valid digest"),
    (("config", "size"), -5, "config.size must not be negative, got -5"),
    (("config", "mediaType"), ["x"], 'config.mediaType must be a string, got ["x"]'),
    (("layers",), DELETE, "layers is missing"),
    (("layers",), {"0": {}}, "layers must be a list"),
    (("layers", 0), None, "layers[0] must be an object, got null"),
    (("layers", 0, "size"), DELETE, "layers[0].size is missing"),
    (("layers", 0, "digest"), "", "layers[0].digest is not a valid digest"),
    (("subject", "digest"), BAD_DIGEST, "subject.digest is not a valid digest"),
    (("artifactType",), 5, "artifactType must be a string, got 5"),
    (
        ("annotations", "org.opencontainers.image.title"),
        False,
        'annotations["org.opencontainers.image.title"] must be a string, got false',
    ),
]


@pytest.mark.parametrize(("path", "value", "problem"), IMAGE_CASES)
def test_oci_manifest_field_errors(path, value, problem):
    raw = pretty(mutated(oci_manifest(), path, value))
    with pytest.raises(ManifestError) as info:
        m.parse_manifest(raw, m.OCI_MANIFEST, source=IMG_AMD64)
    assert str(info.value).startswith(f"manifest {IMG_AMD64}: {problem}")


def test_schema2_wrong_schema_version_names_docker_kind():
    raw = pretty(mutated(docker_v2(), ("schemaVersion",), 1))
    with pytest.raises(ManifestError, match="must be 2 for a Docker schema 2 manifest, got 1"):
        m.parse_manifest(raw, m.DOCKER_MANIFEST_V2)


SCHEMA1_CASES = [
    (("schemaVersion",), 2, "schemaVersion must be 1 for a Docker schema 1 manifest, got 2"),
    (("name",), DELETE, "name is missing"),
    (("tag",), 5, "tag must be a string, got 5"),
    (("architecture",), DELETE, "architecture is missing"),
    (("fsLayers",), DELETE, "fsLayers is missing"),
    (("fsLayers",), [], "fsLayers is empty"),
    (("fsLayers", 0), "x", 'fsLayers[0] must be an object, got "x"'),
    (("fsLayers", 1, "blobSum"), DELETE, "fsLayers[1].blobSum is missing"),
    (("fsLayers", 1, "blobSum"), "sha256:1", "fsLayers[1].blobSum is not a valid digest"),
    (("history",), DELETE, "history is missing"),
    (
        ("history",),
        [{"v1Compatibility": "{}"}],
        "history has 1 entries but fsLayers has 2; they must pair up one to one",
    ),
    (("history", 0), 5, "history[0] must be an object, got 5"),
    (("history", 0, "v1Compatibility"), DELETE, "history[0].v1Compatibility is missing"),
    (
        ("history", 1, "v1Compatibility"),
        "not json",
        'history[1].v1Compatibility must hold a JSON object, got "not json"',
    ),
    (  # json.loads raised RecursionError on this nested document (issue 10)
        ("history", 1, "v1Compatibility"),
        "[" * 50_000,
        'history[1].v1Compatibility must hold a JSON object, got "[[[[[[',
    ),
    (
        ("history", 0, "v1Compatibility"),
        '{"os": 5}',
        "history[0].v1Compatibility.os must be a string, got 5",
    ),
    (
        ("history", 0, "v1Compatibility"),
        '{"architecture": ["amd64"]}',
        'history[0].v1Compatibility.architecture must be a string, got ["amd64"]',
    ),
]


@pytest.mark.parametrize(("path", "value", "problem"), SCHEMA1_CASES)
def test_schema1_field_errors(path, value, problem):
    raw = pretty(mutated(schema1(), path, value))
    with pytest.raises(ManifestError) as info:
        m.parse_manifest(raw, m.DOCKER_SCHEMA1, source="lab/old:1")
    assert str(info.value).startswith(f"manifest lab/old:1: {problem}")


def test_signed_schema1_field_errors_are_found_in_the_payload(keys):
    raw = sign_schema1(pretty(mutated(schema1(), ("tag",), 5)), keys[:1])
    with pytest.raises(ManifestError, match="tag must be a string, got 5"):
        m.parse_manifest(raw, m.DOCKER_SCHEMA1_SIGNED)


CONFIG_CASES = [
    (("architecture",), 5, "architecture must be a string, got 5"),
    (("os",), ["linux"], 'os must be a string, got ["linux"]'),
    (("variant",), 7, "variant must be a string, got 7"),
    (("os.version",), 10, '["os.version"] must be a string, got 10'),
    (("os.features",), "win32k", '["os.features"] must be a list, got "win32k"'),
    (("created",), 5, "created must be a string, got 5"),
    (("config",), "x", 'config must be an object, got "x"'),
    (("config", "Entrypoint"), 5, "config.Entrypoint must be a list, got 5"),
    (("config", "Cmd"), ["uname", 1], "config.Cmd[1] must be a string, got 1"),
    (("config", "Env"), "PATH=/bin", 'config.Env must be a list, got "PATH=/bin"'),
    (("config", "WorkingDir"), 1, "config.WorkingDir must be a string, got 1"),
    (("config", "User"), 0, "config.User must be a string, got 0"),
    (("rootfs",), "layers", 'rootfs must be an object, got "layers"'),
    (("rootfs", "type"), 1, "rootfs.type must be a string, got 1"),
    (("rootfs", "diff_ids"), "x", 'rootfs.diff_ids must be a list, got "x"'),
    (("rootfs", "diff_ids", 0), "sha256:zz", "rootfs.diff_ids[0] is not a valid digest"),
    (("history",), {}, "history must be a list, got {}"),
]


@pytest.mark.parametrize(("path", "value", "problem"), CONFIG_CASES)
def test_config_field_errors(path, value, problem):
    raw = json.dumps(mutated(image_config(), path, value)).encode()
    with pytest.raises(ManifestError) as info:
        m.parse_config(raw, source=GOLANG_CONFIG)
    assert str(info.value).startswith(f"config {GOLANG_CONFIG}: {problem}")
