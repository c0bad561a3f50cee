"""Tests for archlab.reference: Docker's reference grammar, normalization and familiar form.

Expected values come from Docker's behaviour (distribution/reference and its tests, the
`docker pull` output quoted in pull-semantics.md), not from running the code under test.
"""

from __future__ import annotations

import doctest
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archlab.reference
from archlab.errors import ArchlabError, InvalidReferenceError
from archlab.reference import Reference, parse_reference, split_docker_domain

SHA = "sha256:" + "0123456789abcdef" * 4
SHA512 = "sha512:" + "fedcba9876543210" * 8
SHA384 = "sha384:" + "a1" * 48
HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"


# -- valid references --------------------------------------------------------------------------

# input, normalized str(), familiar()
NORMALIZATION = [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("circleci/golang", "docker.io/circleci/golang:latest", "circleci/golang:latest"),
    ("circleci/golang:1.17", "docker.io/circleci/golang:1.17", "circleci/golang:1.17"),
    ("mysql:5.7", "docker.io/library/mysql:5.7", "mysql:5.7"),
    ("library/mysql:5.7", "docker.io/library/mysql:5.7", "mysql:5.7"),
    ("docker.io/mysql", "docker.io/library/mysql:latest", "mysql:latest"),
    ("docker.io/library/mysql:8", "docker.io/library/mysql:8", "mysql:8"),
    ("index.docker.io/library/mysql", "docker.io/library/mysql:latest", "mysql:latest"),
    ("index.docker.io/mysql", "docker.io/library/mysql:latest", "mysql:latest"),
    ("index.docker.io/docker/docker", "docker.io/docker/docker:latest", "docker/docker:latest"),
    # Only one-component official names lose "library/" in the familiar form.
    ("library/foo/bar", "docker.io/library/foo/bar:latest", "library/foo/bar:latest"),
    # The reference package does not know the API host as a Docker Hub name.
    ("registry-1.docker.io/mysql", "registry-1.docker.io/mysql:latest",
     "registry-1.docker.io/mysql:latest"),
    ("localhost/foo", "localhost/foo:latest", "localhost/foo:latest"),
    ("localhost:5000/foo:bar", "localhost:5000/foo:bar", "localhost:5000/foo:bar"),
    ("127.0.0.1:5000/lab/mysql:5.7", "127.0.0.1:5000/lab/mysql:5.7",
     "127.0.0.1:5000/lab/mysql:5.7"),
    ("192.168.0.1:8/debian", "192.168.0.1:8/debian:latest", "192.168.0.1:8/debian:latest"),
    (f"ghcr.io/owner/img@{SHA}", f"ghcr.io/owner/img@{SHA}", f"ghcr.io/owner/img@{SHA}"),
    (f"mysql@{SHA}", f"docker.io/library/mysql@{SHA}", f"mysql@{SHA}"),
    (f"mysql:5.7@{SHA}", f"docker.io/library/mysql:5.7@{SHA}", f"mysql:5.7@{SHA}"),
    (f"quay.io/a/b:v1@{SHA512}", f"quay.io/a/b:v1@{SHA512}", f"quay.io/a/b:v1@{SHA512}"),
    (f"a/b@{SHA384}", f"docker.io/a/b@{SHA384}", f"a/b@{SHA384}"),
    ("Foo.Example.com/bar", "Foo.Example.com/bar:latest", "Foo.Example.com/bar:latest"),
    ("LOCALDOMAIN/debian", "LOCALDOMAIN/debian:latest", "LOCALDOMAIN/debian:latest"),
    ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
    ("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest",
     "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest"),
    # No "/", so "192.168.0.1" is a Docker Hub name and ":80" its tag.
    ("192.168.0.1:80", "docker.io/library/192.168.0.1:80", "192.168.0.1:80"),
    # A hex name is fine once a registry disambiguates it from an image ID.
    (f"docker.io/{HEX64}", f"docker.io/library/{HEX64}:latest", f"{HEX64}:latest"),
    ("d/docker", "docker.io/d/docker:latest", "d/docker:latest"),
    ("dock__er/do-ck---er.x_y", "docker.io/dock__er/do-ck---er.x_y:latest",
     "dock__er/do-ck---er.x_y:latest"),
    ("foo:_Tag.1-x", "docker.io/library/foo:_Tag.1-x", "foo:_Tag.1-x"),
    ("foo:" + "t" * 128, "docker.io/library/foo:" + "t" * 128, "foo:" + "t" * 128),
]


@pytest.mark.parametrize(("text", "normalized", "familiar"), NORMALIZATION)
def test_normalized_and_familiar_forms(text, normalized, familiar):
    ref = parse_reference(text)
    assert str(ref) == normalized
    assert ref.familiar() == familiar


# input, registry, repository, tag, digest
FIELDS = [
    ("busybox", "docker.io", "library/busybox", "latest", None),
    ("circleci/golang", "docker.io", "circleci/golang", "latest", None),
    ("index.docker.io/library/mysql", "docker.io", "library/mysql", "latest", None),
    ("registry-1.docker.io/library/mysql", "registry-1.docker.io", "library/mysql", "latest", None),
    ("localhost:5000/foo:bar", "localhost:5000", "foo", "bar", None),
    ("127.0.0.1:5000/lab/mysql:5.7", "127.0.0.1:5000", "lab/mysql", "5.7", None),
    (f"ghcr.io/owner/img@{SHA}", "ghcr.io", "owner/img", None, SHA),
    (f"mysql:5.7@{SHA}", "docker.io", "library/mysql", "5.7", SHA),
    ("Foo.Example.com/bar", "Foo.Example.com", "bar", "latest", None),
    ("[::1]:5000/x", "[::1]:5000", "x", "latest", None),
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), FIELDS)
def test_fields(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ref.path == repository
    assert ref.name == f"{registry}/{repository}"


@pytest.mark.parametrize(
    ("text", "familiar_name"),
    [
        ("mysql:5.7", "mysql"),
        ("docker.io/library/mysql", "mysql"),
        ("circleci/golang", "circleci/golang"),
        ("library/foo/bar", "library/foo/bar"),
        ("127.0.0.1:5000/lab/mysql:5.7", "127.0.0.1:5000/lab/mysql"),
        (f"ghcr.io/owner/img@{SHA}", "ghcr.io/owner/img"),
    ],
)
def test_familiar_name(text, familiar_name):
    assert parse_reference(text).familiar_name() == familiar_name


@pytest.mark.parametrize(
    ("text", "api_host", "is_docker_hub"),
    [
        ("mysql", "registry-1.docker.io", True),
        ("docker.io/circleci/golang", "registry-1.docker.io", True),
        ("index.docker.io/library/mysql", "registry-1.docker.io", True),
        # Already the API host; kept, but Docker does not call it the official index.
        ("registry-1.docker.io/library/mysql", "registry-1.docker.io", False),
        ("ghcr.io/owner/img", "ghcr.io", False),
        ("localhost:5000/foo", "localhost:5000", False),
        ("127.0.0.1:5000/lab/mysql", "127.0.0.1:5000", False),
        ("[::1]:5000/x", "[::1]:5000", False),
        ("Foo.Example.com/bar", "Foo.Example.com", False),
    ],
)
def test_api_host(text, api_host, is_docker_hub):
    ref = parse_reference(text)
    assert ref.api_host == api_host
    assert ref.is_docker_hub is is_docker_hub


@pytest.mark.parametrize(
    ("text", "loopback"),
    [
        ("localhost/foo", True),
        ("localhost:5000/foo", True),
        ("127.0.0.1/foo", True),
        ("127.0.0.1:5000/lab/mysql", True),
        ("127.3.2.1:80/foo", True),
        ("[::1]/x", True),
        ("[::1]:5000/x", True),
        ("LOCALHOST:5000/foo", True),
        ("128.0.0.1:5000/foo", False),
        ("192.168.0.1:5000/foo", False),
        ("[fc00::1]:5000/x", False),
        ("localhost.example.com/foo", False),
        ("mysql", False),
        ("ghcr.io/o/i", False),
    ],
)
def test_is_loopback(text, loopback):
    assert parse_reference(text).is_loopback is loopback


@pytest.mark.parametrize(
    ("text", "api_ref", "pinned"),
    [
        ("mysql", "latest", False),
        ("mysql:5.7", "5.7", False),
        (f"mysql@{SHA}", SHA, True),
        # With both, the registry is asked by digest; the tag is only a label.
        (f"mysql:5.7@{SHA}", SHA, True),
    ],
)
def test_api_ref_and_pinned(text, api_ref, pinned):
    ref = parse_reference(text)
    assert ref.api_ref == api_ref
    assert ref.pinned is pinned


def test_latest_is_added_only_without_tag_and_digest():
    assert parse_reference("mysql").tag == "latest"
    assert parse_reference(f"mysql@{SHA}").tag is None
    assert parse_reference("mysql:5.7").tag == "5.7"


def test_default_tag_none_keeps_no_tag():
    ref = parse_reference("mysql", default_tag=None)
    assert ref.tag is None and ref.digest is None
    assert str(ref) == "docker.io/library/mysql"
    assert ref.familiar() == "mysql"
    # Asked as docker pull would ask.
    assert ref.api_ref == "latest"


def test_other_default_tag():
    assert parse_reference("mysql", default_tag="8.0").tag == "8.0"
    assert parse_reference("mysql:5.7", default_tag="8.0").tag == "5.7"
    with pytest.raises(InvalidReferenceError, match="default_tag"):
        parse_reference("mysql", default_tag="bad tag")


def test_with_tag_and_with_digest_keep_the_other_part():
    ref = parse_reference("mysql:5.7")
    pinned = ref.with_digest(SHA)
    assert str(pinned) == f"docker.io/library/mysql:5.7@{SHA}"
    assert str(pinned.with_tag("8.0")) == f"docker.io/library/mysql:8.0@{SHA}"
    assert ref.tag == "5.7" and ref.digest is None  # the original is unchanged


@pytest.mark.parametrize(
    ("method", "value", "fragment"),
    [
        ("with_tag", "5.7:x", 'tag "5.7:x"'),
        ("with_tag", "", "tag"),
        ("with_digest", "sha256:abc", "has 3 hex digits"),
        ("with_digest", "md5:" + "a" * 32, 'algorithm "md5"'),
    ],
)
def test_with_refuses_invalid_parts(method, value, fragment):
    ref = parse_reference("mysql")
    with pytest.raises(InvalidReferenceError) as info:
        getattr(ref, method)(value)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("mysql", ("docker.io", "library/mysql")),
        ("mysql:5.7", ("docker.io", "library/mysql:5.7")),
        ("circleci/golang", ("docker.io", "circleci/golang")),
        ("index.docker.io/mysql", ("docker.io", "library/mysql")),
        ("docker.io/a/b", ("docker.io", "a/b")),
        ("localhost/foo", ("localhost", "foo")),
        ("localhost:5000/lab/mysql", ("localhost:5000", "lab/mysql")),
        ("Host/x", ("Host", "x")),
        ("registry-1.docker.io/mysql", ("registry-1.docker.io", "mysql")),
    ],
)
def test_split_docker_domain(text, pair):
    assert split_docker_domain(text) == pair


# -- invalid references ------------------------------------------------------------------------

# input, fragments the message must contain (besides the quoted input)
INVALID = [
    ("", ["empty", "NAME[:TAG][@DIGEST]"]),
    (":tag", ["repository name is empty"]),
    (f"@{SHA}", ["repository name is empty"]),
    ("docker.io/", ["repository name is empty"]),
    ("Mysql:5.7", ['repository name "Mysql" must be lowercase']),
    ("docker/Docker", ['repository name "docker/Docker" must be lowercase']),
    ("docker.io/docker/Docker", ['"docker/Docker" must be lowercase']),
    ("mysql:5.7:x", ['tag "5.7:x"', '":" is not allowed']),
    ("mysql:", ['tag after ":" is empty']),
    ("mysql:-x", ['tag "-x"', 'starts with "-"']),
    ("mysql:.x", ['tag ".x"', 'starts with "."']),
    ("mysql:a b", ['tag "a b"', '" " is not allowed']),
    ("mysql:" + "t" * 129, ["129 characters long", "1 to 128"]),
    ("mysql@sha256:abc", ['"sha256:abc"', "has 3 hex digits", "sha256 needs 64"]),
    ("mysql@sha256:" + "a" * 65, ["has 65 hex digits"]),
    ("mysql@sha512:" + "a" * 64, ["has 64 hex digits", "sha512 needs 128"]),
    ("mysql@md5:" + "a" * 32, ['digest algorithm "md5" is not supported', "sha256"]),
    ("mysql@SHA256:" + "a" * 64, ['digest algorithm "SHA256" is not supported']),
    ("mysql@sha256:" + "A" * 64, ["must use lowercase hex digits"]),
    ("mysql@sha256:" + "g" * 64, ["expected ALGORITHM:HEX"]),
    ("mysql@sha256", ["expected ALGORITHM:HEX"]),
    ("mysql@", ["expected ALGORITHM:HEX"]),
    (HEX64, ["image ID", "cannot specify 64-byte hexadecimal strings"]),
    ("mysql/", ["empty path component"]),
    ("/mysql", ["empty path component"]),
    ("docker//docker", ["empty path component"]),
    ("docker.io/docker///docker", ["empty path component"]),
    ("a..b", ['path component "a..b"', "lowercase letters and digits"]),
    # A "." makes the first component a registry, so this fails as one, as in Docker.
    ("dock_.er/docker", ['registry "dock_.er" is invalid']),
    ("docker.io/dock_.er/docker", ['path component "dock_.er"']),
    ("-docker/docker", ['path component "-docker"']),
    ("docker-/docker", ['path component "docker-"']),
    ("____/____", ['path component "____"']),
    ("foo_bar.com/x", ['registry "foo_bar.com" is invalid', ":PORT"]),
    ("-docker.io/docker/docker", ['registry "-docker.io"']),
    ("https://github.com/docker/docker", ['registry "https:"']),
    ("localhost:port/foo", ['registry "localhost:port"']),
    ("fc00::1:5000/debian", ['registry "fc00::1:5000"']),
    ("[fe80::1%eth0]:5000/debian", ['registry "[fe80::1%eth0]:5000"']),
    ("[2001:db8:3:4::192.0.2.33]:5000/debian", ['registry "[2001:db8:3:4::192.0.2.33]:5000"']),
    ("[fc00::1]:5000", ["invalid"]),
    ("a" * 238, ["256 characters long", "at most 255"]),
    ("example.com/" + "a" * 244, ["256 characters long"]),
]


@pytest.mark.parametrize(("text", "fragments"), INVALID)
def test_invalid_references(text, fragments):
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    message = str(info.value)
    assert message.startswith(f'invalid reference "{text}": ')
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(("text", "message"), [
    ("busy\x1b[31mbox", 'invalid reference "busy\\x1b[31mbox": character 5 is \\x1b, which is '
                        "not printable; a reference is printable text"),
    ("mysql:5.7\r", 'invalid reference "mysql:5.7\\r": character 10 is \\r, which is not '
                    "printable; a reference is printable text"),
    ("lab/\u202emysql", 'invalid reference "lab/\\u202emysql": character 5 is \\u202e, which '
                         "is not printable; a reference is printable text"),
    ("\ufeffbusybox", 'invalid reference "\\ufeffbusybox": character 1 is \\ufeff, which is '
                      "not printable; a reference is printable text (a byte-order mark: save "
                      "the file without one)"),
])
def test_unprintable_characters_are_named_and_escaped(text, message):
    # They were echoed raw: an ESC sequence recoloured the terminal (issue 10).
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    assert str(info.value) == message
    assert str(info.value).isprintable()


def test_uppercase_message_is_exact():
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference("Mysql:5.7")
    assert str(info.value) == (
        'invalid reference "Mysql:5.7": repository name "Mysql" must be lowercase'
        ' (did you mean "mysql"?)'
    )


def test_error_is_catchable_as_archlab_and_value_error():
    with pytest.raises(ArchlabError):
        parse_reference("")
    with pytest.raises(ValueError):
        parse_reference("")


def test_name_length_counts_the_normalized_name():
    # docker.io/library/ is 18 characters, so 237 more make exactly 255 (Docker 20.10's rule).
    assert len(parse_reference("a" * 237).name) == 255
    assert len(parse_reference("example.com/" + "a" * 243).name) == 255


def test_tag_with_64_hex_is_not_an_image_id():
    # Only the bare ID is refused; as a tag (or with a registry) the same hex is fine.
    assert parse_reference(f"mysql:{HEX64}").tag == HEX64


# -- the constructor keeps the normalized form -------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        (("docker.io", "mysql"), 'write "library/mysql"'),
        (("index.docker.io", "library/mysql"), 'write "docker.io"'),
        (("myhost", "x"), "read back as part of the repository path"),
        (("docker.io", "library/Mysql"), "must be lowercase"),
        (("bad_host.com", "x"), 'registry "bad_host.com"'),
        (("docker.io", "library/mysql", "a:b"), 'tag "a:b"'),
        (("docker.io", "library/mysql", None, "sha256:00"), "has 2 hex digits"),
    ],
)
def test_constructor_refuses_unnormalized_values(fields, fragment):
    with pytest.raises(InvalidReferenceError) as info:
        Reference(*fields)
    assert fragment in str(info.value)


def test_reference_is_frozen_and_hashable():
    ref = parse_reference("mysql:5.7")
    with pytest.raises(AttributeError):
        ref.tag = "8.0"  # type: ignore[misc]
    assert {ref, parse_reference("docker.io/library/mysql:5.7")} == {ref}


def test_familiar_form_quirk_is_kept():
    # Docker shortens docker.io/foo.bar/baz to foo.bar/baz, which reads back with registry foo.bar.
    ref = parse_reference("docker.io/foo.bar/baz:1")
    assert ref.familiar() == "foo.bar/baz:1"
    assert parse_reference(ref.familiar()).registry == "foo.bar"


def test_docstring_examples():
    result = doctest.testmod(archlab.reference, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# -- properties --------------------------------------------------------------------------------

_alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?", fullmatch=True)
_port = st.integers(1, 65535).map(lambda p: f":{p}")


@st.composite
def _components(draw):
    parts = [draw(_alnum)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(st.sampled_from([".", "_", "__", "-", "---"])), draw(_alnum)]
    return "".join(parts)


@st.composite
def _hostnames(draw):
    labels = draw(st.lists(_label, min_size=1, max_size=3))
    port = draw(st.one_of(st.just(""), _port))
    return ".".join(labels) + port


def _reads_as_registry(host: str) -> bool:
    return "." in host or ":" in host or host == "localhost" or host != host.lower()


_registries = st.one_of(
    st.just("docker.io"),
    st.sampled_from(
        ["localhost", "localhost:5000", "127.0.0.1:5000", "[::1]:5000", "[fc00::1]", "ghcr.io",
         "registry-1.docker.io", "MyHost", "Foo.Example.COM:443"]
    ),
    _hostnames().filter(lambda h: _reads_as_registry(h) and h != "index.docker.io"),
)
_tags = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True))
_digests = st.one_of(
    st.none(),
    st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}"),
    st.text("0123456789abcdef", min_size=128, max_size=128).map(lambda h: f"sha512:{h}"),
)


@st.composite
def references(draw):
    registry = draw(_registries)
    parts = draw(st.lists(_components(), min_size=1, max_size=3))
    if registry == "docker.io" and len(parts) == 1:
        parts = ["library", *parts]
    return Reference(registry, "/".join(parts), draw(_tags), draw(_digests))


@given(references())
@settings(max_examples=300)
def test_normalized_string_round_trips(ref):
    assert parse_reference(str(ref), default_tag=None) == ref
    if ref.tag is not None or ref.digest is not None:
        assert parse_reference(str(ref)) == ref


@given(references())
@settings(max_examples=300)
def test_familiar_string_round_trips(ref):
    first = ref.familiar_name().split("/")[0]
    if ref.is_docker_hub and "/" in ref.familiar_name() and _reads_as_registry(first):
        # Docker's own quirk (see test_familiar_form_quirk_is_kept): the first component is
        # read as a registry, which is then either a different one or not a valid host at all.
        try:
            again = parse_reference(ref.familiar(), default_tag=None)
        except InvalidReferenceError as exc:
            assert f'registry "{first}" is invalid' in str(exc)
        else:
            assert again.registry == first
    else:
        assert parse_reference(ref.familiar(), default_tag=None) == ref


# Docker's whole-reference grammar, assembled here independently of the module under test.
_DOCKER_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOCKER_DOMAIN = (
    r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
    r"|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_DOCKER_REFERENCE = re.compile(
    rf"{_DOCKER_DOMAIN}/{_DOCKER_COMPONENT}(?:/{_DOCKER_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)


@given(st.text(alphabet="aAbz09.:-_/@[]Ss2568h", max_size=40))
@settings(max_examples=500)
def test_arbitrary_text_is_parsed_or_refused_cleanly(text):
    try:
        ref = parse_reference(text)
    except InvalidReferenceError as exc:
        assert str(exc).startswith(f'invalid reference "{text}": ')
        return
    assert _DOCKER_REFERENCE.fullmatch(str(ref))
    assert len(ref.name) <= 255
    assert parse_reference(str(ref)) == ref
