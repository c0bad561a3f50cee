"""archlab.decoding: files, text, JSON and YAML read within limits, refused with one line."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
import yaml

from archlab import decoding, limits
from archlab.errors import ArchlabError, ComposeError, InputError, ManifestError

# --------------------------------------------------------------------------------------------
# Files


def test_read_file_returns_a_regular_files_bytes(tmp_path: Path) -> None:
    f = tmp_path / "config.json"
    f.write_bytes(b'{"auths": {}}')
    assert decoding.read_file(f, max_bytes=100, what="docker config") == b'{"auths": {}}'


def test_read_file_follows_a_symlink_to_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "real.yml").write_text("a: 1\n")
    (tmp_path / "link.yml").symlink_to(tmp_path / "real.yml")
    assert decoding.read_file(tmp_path / "link.yml", max_bytes=100, what="x") == b"a: 1\n"


def _fifo(tmp_path: Path) -> Path:
    p = tmp_path / "pipe"
    os.mkfifo(p)
    return p


def _zero_link(tmp_path: Path) -> Path:
    p = tmp_path / "blob"
    p.symlink_to("/dev/zero")
    return p


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda tmp: tmp, "a directory"),
        (_fifo, "a named pipe (FIFO)"),  # would block forever in open() without O_NONBLOCK
        (_zero_link, "a character device"),  # would read until memory runs out
        (lambda tmp: Path("/dev/null"), "a character device"),
    ],
    ids=["directory", "fifo", "symlink-to-dev-zero", "dev-null"],
)
def test_read_file_refuses_what_is_not_a_regular_file(tmp_path: Path, make, kind: str) -> None:
    path = make(tmp_path)
    with pytest.raises(InputError) as info:
        decoding.read_file(path, max_bytes=limits.MAX_INPUT_FILE_BYTES, what="compose file")
    assert str(info.value) == (f"{path}: cannot read the compose file: it is {kind}, not a "
                               "regular file (archlab reads only files, or links to files)")


def test_read_file_refuses_a_file_larger_than_the_cap_before_reading(tmp_path: Path) -> None:
    f = tmp_path / "big"
    f.write_bytes(b"x" * 101)
    with pytest.raises(InputError, match=r"big: the refs file is 101 bytes, more than the "
                       r"100 bytes archlab reads; is it the right file\?$"):
        decoding.read_file(f, max_bytes=100, what="refs file")
    assert decoding.read_file(f, max_bytes=101, what="refs file") == b"x" * 101


def test_read_file_stops_one_byte_past_the_cap_when_the_size_lies() -> None:
    # /proc files report st_size 0 but have content: the read itself must stop at the cap.
    with pytest.raises(InputError, match=r"is more than 10 bytes, more than the 10 bytes"):
        decoding.read_file("/proc/self/status", max_bytes=10, what="status")


def test_read_file_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"/nope: no such docker config$"):
        decoding.read_file(tmp_path / "nope", max_bytes=10, what="docker config")
    assert decoding.read_file(tmp_path / "nope", max_bytes=10, what="x", missing_ok=True) is None
    # A parent that is a file: as missing as a missing parent.
    (tmp_path / "file").write_text("x")
    assert decoding.read_file(tmp_path / "file" / "meta.json", max_bytes=10, what="x",
                              missing_ok=True) is None


def test_read_file_raises_the_callers_error_class(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="it is a directory"):
        decoding.read_file(tmp_path, max_bytes=10, what="compose file", error=ComposeError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_read_file_unreadable(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_text("x")
    f.chmod(0)
    with pytest.raises(InputError, match=r"secret: cannot read the x: Permission denied$"):
        decoding.read_file(f, max_bytes=10, what="x")


# --------------------------------------------------------------------------------------------
# Text


def test_decode_text_skips_one_bom() -> None:
    assert decoding.decode_text(b"\xef\xbb\xbfbusybox\n", what="refs") == "busybox\n"


def test_decode_text_refuses_a_bom_when_asked() -> None:
    with pytest.raises(InputError, match="byte-order mark"):
        decoding.decode_text(b"\xef\xbb\xbf{}", what="m", allow_bom=False)


def test_decode_text_names_the_first_bad_byte_and_its_line() -> None:
    with pytest.raises(InputError) as info:
        decoding.decode_text(b"busybox\nmy\xe9sql\n", what="refs.txt")
    assert str(info.value) == ("refs.txt: is not UTF-8 text (byte 0xe9 at offset 10, line 2); "
                               "save it as UTF-8")


def test_read_text(tmp_path: Path) -> None:
    f = tmp_path / "refs.txt"
    f.write_bytes(b"\xef\xbb\xbfbusybox\n")
    assert decoding.read_text(f, max_bytes=100, what="refs file") == "busybox\n"


# --------------------------------------------------------------------------------------------
# JSON


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "{{{"]', 1),  # brackets inside strings do not count
        (r'["\"[[[", "\\", [[]]]', 3),  # nor after escaped quotes and backslashes
        ("[[[]][[]]]", 3),
        ('["unterminated [[[[', 1),  # an unterminated string runs to the end
        ('"\\', 0),  # a lone backslash at the end
    ],
)
def test_json_depth(text: str, depth: int) -> None:
    assert decoding.json_depth(text) == depth


def test_load_json_reads_a_document() -> None:
    assert decoding.load_json(b'{"a": [1, 2.5, "x", null, true]}', what="doc") == {
        "a": [1, 2.5, "x", None, True]}


def test_load_json_depth_at_the_limit_is_read_and_one_more_refused() -> None:
    assert decoding.load_json("[" * 64 + "]" * 64, what="doc", max_depth=64)
    with pytest.raises(InputError) as info:
        decoding.load_json("[" * 65 + "]" * 65, what="doc", max_depth=64)
    assert str(info.value) == ("doc: nests arrays and objects 65 deep, more than the 64 archlab "
                               "reads; no real document is nested that deeply")


def test_load_json_deep_document_is_refused_not_a_recursion_error() -> None:
    # json.loads raises RecursionError here: the exception this module exists to prevent.
    with pytest.raises(RecursionError):
        import json
        json.loads("[" * 200_000)
    with pytest.raises(ManifestError, match="nests arrays and objects 200000 deep"):
        decoding.load_json("[" * 200_000, what="manifest", error=ManifestError,
                           max_bytes=1_000_000)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "doc: is not valid JSON (Expecting value: line 1 column 1 (char 0))"),
        (b"<html>", "doc: is not valid JSON (Expecting value: line 1 column 1 (char 0))"),
        (b"NaN", "doc: is not valid JSON (NaN is not a JSON value)"),
        (b"[Infinity]", "doc: is not valid JSON (Infinity is not a JSON value)"),
        (b'{"a": "\xff"}', "doc: is not UTF-8 text (byte 0xff at offset 7, line 1); save it as "
                           "UTF-8"),
        (b"[1, 2, 3, 4]", "doc: is 12 bytes, more than the 10 bytes archlab reads"),
    ],
)
def test_load_json_refusals(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        decoding.load_json(data, what="doc", max_bytes=10)
    assert str(info.value) == message


def test_load_json_refuses_integers_past_pythons_digit_limit() -> None:
    with pytest.raises(InputError, match=r"doc: is not valid JSON \(Exceeds the limit"):
        decoding.load_json("1" * 5000, what="doc")


def test_load_json_bom() -> None:
    assert decoding.load_json(b"\xef\xbb\xbf{}", what="config.json") == {}
    assert decoding.load_json("\ufeff{}", what="config.json") == {}
    with pytest.raises(ManifestError, match="manifest x: starts with a UTF-8 byte-order mark"):
        decoding.load_json(b"\xef\xbb\xbf{}", what="manifest x", error=ManifestError,
                           allow_bom=False)


def test_load_json_scan_is_linear_on_unterminated_escaped_quotes() -> None:
    # '"\"\"\"...' never closes: a backtracking string regex would be quadratic here.
    with pytest.raises(InputError, match="Unterminated string"):
        decoding.load_json('"' + '\\"' * 500_000, what="doc")


# --------------------------------------------------------------------------------------------
# YAML

BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcdefgh", "bcdefghi",
                                                                  strict=True))


def test_load_yaml_reads_a_document_with_anchors_and_merges() -> None:
    text = "x: &base {image: busybox}\nsvc:\n  <<: *base\n  platform: linux/arm64\n"
    assert decoding.load_yaml(text, what="f.yml") == {
        "x": {"image": "busybox"}, "svc": {"image": "busybox", "platform": "linux/arm64"}}


def test_load_yaml_refuses_a_billion_laughs_before_memory_grows() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as info:
            decoding.load_yaml(BILLION_LAUGHS, what="docker-compose.yml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        "docker-compose.yml:5:4: expands to more than 100000 nodes once its aliases are "
        "followed (a 'billion laughs' document?); archlab reads no more")
    assert peak < 20 * limits.MiB


def test_load_yaml_counts_alias_uses() -> None:
    text = "a: &a x\nb: [" + ", ".join(["*a"] * 11) + "]\n"
    assert decoding.load_yaml(text, what="f.yml", max_aliases=11)["b"] == ["x"] * 11
    with pytest.raises(InputError, match=r"^f.yml:2:45: more than 10 aliases"):
        decoding.load_yaml(text, what="f.yml", max_aliases=10)


def test_load_yaml_refuses_a_cycle() -> None:
    # SafeLoader builds a list that contains itself; every walk of it would never end.
    with pytest.raises(InputError, match=r"^f.yml:1:8: alias \*a refers to a node that "
                       "contains it"):
        decoding.load_yaml("a: &a [*a]", what="f.yml")


@pytest.mark.parametrize("text", ["[" * 10_000, "a:\n" + "".join(
    " " * i + "a:\n" for i in range(1, 100)), "- " * 1000 + "x"])
def test_load_yaml_refuses_deep_nesting_not_a_recursion_error(text: str) -> None:
    with pytest.raises(InputError, match="nests collections more than 64 deep"):
        decoding.load_yaml(text, what="f.yml")


@pytest.mark.parametrize("step", ["{{<<: *a{}}}", "[*a{}]"])
def test_load_yaml_counts_depth_through_aliases(step: str) -> None:
    # 200 anchors, each one level deeper than the last: few nodes, but any reader that walks
    # the tree recursively (compose's merge and line index) recursed once per level.
    text = "a0: &a0 {x: 1}\n" + "".join(
        f"a{i}: &a{i} " + step.format(i - 1) + "\n" for i in range(1, 200))
    with pytest.raises(InputError, match=r"^f.yml:65:6: nests collections more than 64 deep "
                       "once its aliases are followed"):
        decoding.load_yaml(text, what="f.yml")


def test_load_yaml_depth_at_the_limit_is_read() -> None:
    assert decoding.load_yaml("[" * 64 + "]" * 64, what="f.yml") is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 2001-02-30", "f.yml:1:4: cannot read this value: day is out of range for month"),
        ("a: [1, 2\nb: 3", "f.yml:2:2: expected ',' or ']', but got ':' "
                           "(while parsing a flow sequence)"),
        ("a: 1\n---\nb: 2", "f.yml:2:1: expected a single document in the stream, but found "
                            "another document"),
        ("a: *nope", "f.yml:1:4: found undefined alias 'nope'"),
        ("a: !!python/object:os.system x", "f.yml:1:4: could not determine a constructor for "
                                           "the tag 'tag:yaml.org,2002:python/object:os.system'"),
        ("{[1]: 2}", "f.yml:1:2: found unhashable key (while constructing a mapping)"),
    ],
)
def test_load_yaml_errors_name_line_and_column(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        decoding.load_yaml(text, what="f.yml")
    assert str(info.value) == message


def test_load_yaml_refuses_an_integer_past_pythons_digit_limit() -> None:
    with pytest.raises(InputError, match=r"^f.yml:1:4: cannot read this value: Exceeds"):
        decoding.load_yaml("a: " + "1" * 5000, what="f.yml")


def test_load_yaml_bom_empty_and_size() -> None:
    assert decoding.load_yaml("\ufeffa: 1", what="f.yml") == {"a": 1}
    assert decoding.load_yaml(b"\xef\xbb\xbfa: 1", what="f.yml") == {"a": 1}
    assert decoding.load_yaml("", what="f.yml") is None
    with pytest.raises(InputError, match=r"^f.yml: is 11 characters, more than the 10 bytes"):
        decoding.load_yaml("a: 12345678", what="f.yml", max_bytes=10)


def test_compose_yaml_keeps_marks_and_construct_yaml_builds_values() -> None:
    node = decoding.compose_yaml("services:\n  db:\n    image: mysql\n", what="c.yml",
                                 error=ComposeError)
    assert isinstance(node, yaml.MappingNode)
    db = node.value[0][1].value[0][1]
    assert db.start_mark.line + 1 == 3
    assert decoding.construct_yaml(node, what="c.yml") == {"services": {"db": {"image": "mysql"}}}


def test_compose_yaml_raises_the_callers_error_class() -> None:
    with pytest.raises(ComposeError):
        decoding.compose_yaml(BILLION_LAUGHS, what="c.yml", error=ComposeError)
    assert issubclass(InputError, ArchlabError) and issubclass(InputError, ValueError)


# --------------------------------------------------------------------------------------------
# Text in messages


@pytest.mark.parametrize(("text", "index", "display"), [
    ("busybox", None, "busybox"),
    ("a b", None, "a b"),
    ("mysql:5.7é", None, "mysql:5.7é"),
    ("a\x1b[31mb", 1, "a\\x1b[31mb"),
    ("\ufeffx", 0, "\\ufeffx"),
    ("x\u202ey", 1, "x\\u202ey"),
    ("tab\there", 3, "tab\\there"),
    ("nbsp\u00a0", 4, "nbsp\\xa0"),
    ("\ud800", 0, "\\ud800"),
])
def test_first_unprintable_and_shown(text: str, index: int | None, display: str) -> None:
    assert decoding.first_unprintable(text) == index
    assert decoding.shown(text) == display
    assert decoding.shown(text).isprintable()


def test_read_file_escapes_a_path_it_names(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        decoding.read_file(tmp_path / "a\x1b[2Jb", max_bytes=10, what="refs file")
    assert str(info.value) == f"{tmp_path}/a\\x1b[2Jb: no such refs file"
