"""archlab.digests: compute, validate, verify, short."""

from __future__ import annotations

import pytest

from archlab import digests
from archlab.errors import DigestMismatchError, ManifestError

# Published test vectors (FIPS 180 examples for the empty string and "abc").
EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ABC_SHA256 = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
ABC_SHA384 = (
    "sha384:cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
    "8086072ba1e7cc2358baeca134c825a7"
)
ABC_SHA512 = (
    "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
)
HEX64 = "a" * 64


@pytest.mark.parametrize(
    ("data", "algorithm", "expected"),
    [
        (b"", "sha256", EMPTY_SHA256),
        (b"abc", "sha256", ABC_SHA256),
        (b"abc", "sha384", ABC_SHA384),
        (b"abc", "sha512", ABC_SHA512),
    ],
)
def test_compute_known_vectors(data, algorithm, expected):
    assert digests.compute(data, algorithm) == expected


def test_compute_defaults_to_sha256():
    assert digests.compute(b"abc") == ABC_SHA256


def test_compute_refuses_unknown_algorithm():
    with pytest.raises(ManifestError, match="unsupported digest algorithm 'md5'"):
        digests.compute(b"abc", "md5")


@pytest.mark.parametrize("digest", [EMPTY_SHA256, ABC_SHA384, ABC_SHA512, "sha256:" + "0" * 64])
def test_validate_accepts_and_returns_well_formed(digest):
    assert digests.validate(digest) == digest


@pytest.mark.parametrize(
    ("digest", "fragment"),
    [
        (HEX64, "expected <algorithm>:<hex>"),
        ("", "expected <algorithm>:<hex>"),
        ("sha256:" + "a" * 63, "sha256 needs exactly 64 lowercase hex digits after the colon"),
        ("sha256:" + "a" * 65, "got 65 characters"),
        ("sha256:" + "A" * 64, "got 64 characters that are not all lowercase hex"),
        ("sha256:" + "g" * 64, "not all lowercase hex"),
        ("sha256:", "got 0 characters"),
        ("sha384:" + "a" * 64, "sha384 needs exactly 96"),
        ("sha512:" + "a" * 64, "sha512 needs exactly 128"),
        ("md5:" + "a" * 32, "unsupported algorithm 'md5'"),
        ("SHA256:" + HEX64, "unsupported algorithm 'SHA256'"),
        (" sha256:" + HEX64, "unsupported algorithm ' sha256'"),
    ],
)
def test_validate_rejects_and_quotes_the_string(digest, fragment):
    with pytest.raises(ManifestError) as info:
        digests.validate(digest)
    message = str(info.value)
    assert message.startswith(f"invalid digest {digest!r}: ")
    assert fragment in message


def test_validate_rejects_non_string():
    with pytest.raises(ManifestError, match="invalid digest 5: must be a string"):
        digests.validate(5)  # type: ignore[arg-type]


def test_verify_passes_silently_on_match():
    assert digests.verify(b"abc", ABC_SHA256, what="config of lab/busybox") is None


def test_verify_uses_the_expected_digests_algorithm():
    digests.verify(b"abc", ABC_SHA512, what="blob")
    with pytest.raises(DigestMismatchError):
        digests.verify(b"abd", ABC_SHA512, what="blob")


def test_verify_mismatch_message_is_exact():
    with pytest.raises(DigestMismatchError) as info:
        digests.verify(b"", ABC_SHA256, what="manifest 127.0.0.1:5000/lab/mysql:5.7")
    assert str(info.value) == (
        f"manifest 127.0.0.1:5000/lab/mysql:5.7: content has digest {EMPTY_SHA256}, "
        f"expected {ABC_SHA256} (the registry or a proxy altered it, or it was tampered with)"
    )


def test_mismatch_is_a_manifest_error():
    # Callers that catch ManifestError for "bad document" also see tampered ones.
    with pytest.raises(ManifestError):
        digests.verify(b"x", ABC_SHA256, what="blob")


def test_verify_with_malformed_expected_is_not_a_mismatch():
    with pytest.raises(ManifestError) as info:
        digests.verify(b"abc", "sha256:abc", what="blob")
    assert not isinstance(info.value, DigestMismatchError)
    assert "invalid digest 'sha256:abc'" in str(info.value)


@pytest.mark.parametrize(
    ("digest", "n", "expected"),
    [
        (ABC_SHA256, 12, "ba7816bf8f01"),
        (ABC_SHA256, 7, "ba7816b"),
        (ABC_SHA512, 12, "ddaf35a19361"),
        ("ba7816bf8f01cfea4141", 12, "ba7816bf8f01"),  # already bare, like an image ID
        ("sha256:abc", 12, "abc"),
    ],
)
def test_short(digest, n, expected):
    assert digests.short(digest, n) == expected


def test_short_default_is_docker_short_id_length():
    assert len(digests.short(ABC_SHA256)) == 12


def test_short_refuses_zero():
    with pytest.raises(ManifestError, match="at least 1"):
        digests.short(ABC_SHA256, 0)
