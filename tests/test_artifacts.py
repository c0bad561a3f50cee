"""archlab.artifacts: every kind of entry named from its documents, and kept out of platforms."""

from __future__ import annotations

import json

import pytest

from archlab import artifacts, manifests
from archlab.inspect import format_text, inspect
from archlab.manifests import parse_manifest
from archlab.registry import RegistryClient

D = "sha256:" + "a" * 64
SIG_TAG = "sha256-" + "b" * 64 + ".sig"


def manifest(config_type=manifests.OCI_CONFIG, layer_types=(manifests.OCI_LAYER_GZIP,),
             artifact_type=None):
    doc = {"schemaVersion": 2, "mediaType": manifests.OCI_MANIFEST,
           "config": {"mediaType": config_type, "digest": D, "size": 2},
           "layers": [{"mediaType": t, "digest": D, "size": 2} for t in layer_types]}
    if artifact_type:
        doc["artifactType"] = artifact_type
    return parse_manifest(json.dumps(doc).encode(), manifests.OCI_MANIFEST)


@pytest.mark.parametrize(("doc", "tag", "kind"), [
    (manifest(), None, "image"),
    (manifest(manifests.DOCKER_CONFIG, (manifests.DOCKER_LAYER_GZIP,)), None, "image"),
    (manifest("application/octet-stream"), None, "image"),  # Docker takes it as an image
    (manifest(artifacts.HELM_CONFIG, (artifacts.HELM_CHART_LAYER,)), None, "helm chart"),
    (manifest(layer_types=(artifacts.COSIGN_SIGNATURE,)), SIG_TAG, "signature"),
    (manifest(layer_types=(manifests.OCI_LAYER_GZIP,)), SIG_TAG, "signature"),  # by its tag
    (manifest(artifacts.OCI_EMPTY, (artifacts.SPDX_JSON,), artifacts.SPDX_JSON), None, "sbom"),
    (manifest(layer_types=(manifests.IN_TOTO,)), None, "attestation"),
    (manifest(artifacts.WASM_CONFIG, (artifacts.WASM_LAYER,)), None, "wasm"),
    (manifest(artifacts.OCI_EMPTY, ("application/x-thing",), "application/x-thing"), None,
     "unknown artifact"),
    (manifest("application/vnd.example.config+json"), None, "unknown artifact"),
])
def test_classify_manifest(doc, tag, kind) -> None:
    assert artifacts.classify_manifest(doc, tag=tag) == kind


def _entry(platform=None, annotations=None, artifact_type=None,
           media_type=manifests.OCI_MANIFEST):
    d = {"mediaType": media_type, "digest": D, "size": 2}
    if platform:
        d["platform"] = platform
    if annotations:
        d["annotations"] = annotations
    if artifact_type:
        d["artifactType"] = artifact_type
    doc = {"schemaVersion": 2, "mediaType": manifests.OCI_INDEX, "manifests": [d]}
    return parse_manifest(json.dumps(doc).encode(), manifests.OCI_INDEX).manifests[0]


@pytest.mark.parametrize(("entry", "kind"), [
    (_entry({"os": "linux", "architecture": "arm64"}), "image"),
    (_entry({"os": "wasi", "architecture": "wasm"}), "wasm"),
    (_entry({"os": "unknown", "architecture": "unknown"},
            {"vnd.docker.reference.type": "attestation-manifest"}), "attestation"),
    (_entry(artifact_type=artifacts.NOTARY_SIGNATURE), "signature"),
    (_entry({"os": "unknown", "architecture": "unknown"}), None),  # only its manifest can say
    (_entry(media_type="application/vnd.example+json"), "unknown artifact"),
])
def test_classify_descriptor(entry, kind) -> None:
    assert artifacts.classify_descriptor(entry) == kind


def test_inspect_names_a_helm_chart_and_counts_no_platform(registry, repo_name) -> None:
    chart, cfg = b"chart-bytes", b'{"name":"demo","version":"0.1.0","apiVersion":"v2"}'
    with RegistryClient(cache=False, tag_index=False, use_docker_config=False) as reg:
        ref = f"{registry.host}/{repo_name}:0.1.0"
        for blob in (chart, cfg):
            reg.push_blob(ref, blob)
        from archlab.digests import compute
        doc = {"schemaVersion": 2, "mediaType": manifests.OCI_MANIFEST,
               "config": {"mediaType": artifacts.HELM_CONFIG, "digest": compute(cfg),
                          "size": len(cfg)},
               "layers": [{"mediaType": artifacts.HELM_CHART_LAYER, "digest": compute(chart),
                           "size": len(chart)}]}
        reg.push_manifest(ref, json.dumps(doc).encode(), manifests.OCI_MANIFEST)
        insp = inspect(ref, client=reg)
    assert insp.entries[0].kind == "helm chart"
    assert insp.platforms == []
    assert "Artifact:  helm chart (not an image" in format_text(insp)


# ---------------------------------------------------------------------- the lab's artifacts

# scenario -> the kind of each entry (or of the tagged manifest), in document order
LAB_KINDS = {
    "signed": ["signature"], "referrers": ["sbom", "attestation"], "helm": ["helm chart"],
    "wasm": ["wasm"], "mixed": ["image", "helm chart"], "artifact": ["unknown artifact"],
}


@pytest.fixture(scope="module")
def lab_reg():
    """The shipped lab snapshot, replayed: no registry needed."""
    from archlab.lab.offline import lab_snapshot
    from archlab.snapshot import replay_client

    with replay_client(lab_snapshot(layers=False)) as reg:
        yield reg


@pytest.mark.parametrize("oci", [False, True], ids=["docker", "oci"])
@pytest.mark.parametrize("name", sorted(LAB_KINDS))
def test_inspect_names_every_lab_artifact(lab_reg, name, oci) -> None:
    from archlab.lab import scenarios

    s = scenarios.get(name, oci=oci)
    insp = inspect(s.ref("127.0.0.1:5000"), client=lab_reg)
    assert [e.kind for e in insp.entries] == LAB_KINDS[name]
    assert [str(p) for p in insp.platforms] == (["linux/amd64"] if name == "mixed" else [])
    text = format_text(insp)
    assert sum(ln.lstrip().startswith("Artifact:") for ln in text.splitlines()) == sum(
        k != "image" for k in LAB_KINDS[name])
    if not s.is_list:  # an artifact's config names no platform: no line claims one
        assert "Platform:" not in text and "Note:" not in text
    else:  # a referrer attestation is counted as BuildKit's are
        assert {"referrers": "(0 images, 1 attestation, 1 sbom)", "wasm": "(0 images, 1 wasm)",
                "mixed": "(1 image, 1 helm chart)"}[name] in text


def test_a_survey_counts_no_artifact_as_a_platform(lab_reg) -> None:
    from archlab.lab import scenarios
    from archlab.survey import survey

    chosen = [s for s in scenarios.build_all() if s.name in LAB_KINDS]
    result = survey([s.ref("127.0.0.1:5000") for s in chosen], ["linux/amd64", "linux/arm64"],
                    client=lab_reg, progress=False)
    frame = result.frame
    for s in chosen:
        rows = frame[frame["input"] == s.ref("127.0.0.1:5000")]
        assert list(rows["entry_kind"]) == LAB_KINDS[s.name], s.reference
        assert not rows["error"].notna().any()
    covered = result.coverage
    assert {ref for ref, row in covered.iterrows() if row.any()} == {
        s.ref("127.0.0.1:5000") for s in chosen if s.name == "mixed"}
    for s in chosen:  # why: a tagged artifact is "not an image", a list holds no entry
        why = set(result.outcomes.loc[s.ref("127.0.0.1:5000")])
        assert why == ({"not an image"} if not s.is_list else
                       {"native", "missing"} if s.name == "mixed" else {"missing"}), s.reference
