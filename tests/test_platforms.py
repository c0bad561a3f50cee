"""Tests for archlab.platforms: one row per rule of pull-semantics.md §1.3, §1.6, §2, §3.

Rows name the rule set; the expected values come from the spec tables and the Go sources they
cite, not from running the implementation.
"""

from __future__ import annotations

import doctest
import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import archlab.platforms as platforms
from archlab import limits
from archlab.errors import PlatformError
from archlab.platforms import (
    ALL,
    CURRENT_RULES,
    Matcher,
    Platform,
    Rules,
    amd64_variant_from_cpuinfo,
    any_of,
    cpu_variant_from_cpuinfo,
    default_spec,
    exact,
    goarch_from_machine,
    host_platform,
    match_entries,
    match_entries_20_10,
    match_entries_modern,
    maximum_spec,
    normalize,
    normalize_arch,
    normalize_os,
    only,
    only_strict,
    only_with_fallback,
    only_with_fallback_20_10,
    ordered,
    parse,
    platform_vector,
    with_default,
)

M20, C16, P10 = Rules.MOBY_20_10, Rules.CONTAINERD_1_6, Rules.PLATFORMS_1_0
MODERN = (C16, P10)
ALL_RULES = (M20, C16, P10)

LINUX_AMD64 = default_spec("linux", "amd64")
LINUX_ARM64 = default_spec("linux", "arm64")  # Docker Desktop's VM on an M1, or arm64 Ubuntu
DARWIN_ARM64 = default_spec("darwin", "arm64")  # the docker CLI on an M1 Mac


def P(spec: str) -> Platform:
    """Build a raw Platform from ``os/arch[/variant]`` without any parsing rules."""
    return Platform(*spec.split("/"))


def names(ps: list[Platform]) -> list[str]:
    return [str(p) for p in ps]


def test_module_docstring_examples_hold():
    result = doctest.testmod(platforms, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10
    assert result.failed == 0


def test_current_rules_are_platforms_1_0():
    assert CURRENT_RULES is P10
    assert str(parse("linux/arm64/v8.2", host=LINUX_AMD64)) == "linux/arm64/v8.2"


# ---------------------------------------------------------------------------------------------
# §3.1 normalization: (arch, variant) -> expected per rule set

NORMALIZE_ARCH_ROWS = [
    # arch, variant, MOBY_20_10, CONTAINERD_1_6, PLATFORMS_1_0
    ("i386", "", ("386", ""), ("386", ""), ("386", "")),
    ("i386", "v7", ("386", ""), ("386", ""), ("386", "")),
    ("x86_64", "", ("amd64", ""), ("amd64", ""), ("amd64", "")),
    ("x86_64", "v3", ("amd64", ""), ("amd64", "v3"), ("amd64", "v3")),
    ("x86-64", "v1", ("amd64", ""), ("amd64", ""), ("amd64", "")),
    ("x86-64", "v2", ("amd64", ""), ("amd64", "v2"), ("amd64", "v2")),
    ("x86_64", "v4", ("amd64", ""), ("amd64", "v4"), ("amd64", "v4")),
    ("amd64", "v1", ("amd64", "v1"), ("amd64", ""), ("amd64", "")),
    ("amd64", "v3", ("amd64", "v3"), ("amd64", "v3"), ("amd64", "v3")),
    ("aarch64", "", ("arm64", ""), ("arm64", ""), ("arm64", "")),
    ("aarch64", "8", ("arm64", ""), ("arm64", ""), ("arm64", "")),
    ("arm64", "v8", ("arm64", ""), ("arm64", ""), ("arm64", "")),
    ("arm64", "v8.0", ("arm64", "v8.0"), ("arm64", "v8.0"), ("arm64", "")),
    ("arm64", "9", ("arm64", "9"), ("arm64", "9"), ("arm64", "v9")),
    ("arm64", "9.0", ("arm64", "9.0"), ("arm64", "9.0"), ("arm64", "v9")),
    ("arm64", "v9.0", ("arm64", "v9.0"), ("arm64", "v9.0"), ("arm64", "v9")),
    ("arm64", "v8.2", ("arm64", "v8.2"), ("arm64", "v8.2"), ("arm64", "v8.2")),
    ("armhf", "", ("arm", "v7"), ("arm", "v7"), ("arm", "v7")),
    ("armhf", "v6", ("arm", "v7"), ("arm", "v7"), ("arm", "v7")),
    ("armel", "", ("arm", "v6"), ("arm", "v6"), ("arm", "v6")),
    ("armel", "v7", ("arm", "v6"), ("arm", "v6"), ("arm", "v6")),
    ("arm", "", ("arm", "v7"), ("arm", "v7"), ("arm", "v7")),
    ("arm", "7", ("arm", "v7"), ("arm", "v7"), ("arm", "v7")),
    ("arm", "5", ("arm", "v5"), ("arm", "v5"), ("arm", "v5")),
    ("arm", "6", ("arm", "v6"), ("arm", "v6"), ("arm", "v6")),
    ("arm", "8", ("arm", "v8"), ("arm", "v8"), ("arm", "v8")),
    ("arm", "v6", ("arm", "v6"), ("arm", "v6"), ("arm", "v6")),
    ("AArch64", "V8", ("arm64", ""), ("arm64", ""), ("arm64", "")),  # lowercased first
    ("X86_64", "V3", ("amd64", ""), ("amd64", "v3"), ("amd64", "v3")),
    ("RISCV64", "", ("riscv64", ""), ("riscv64", ""), ("riscv64", "")),
    ("ppc64le", "", ("ppc64le", ""), ("ppc64le", ""), ("ppc64le", "")),
]


@pytest.mark.parametrize(
    ("arch", "variant", "rules", "expected"),
    [
        pytest.param(arch, variant, rules, want, id=f"{rules.name}-{arch}/{variant or '-'}")
        for arch, variant, *wants in NORMALIZE_ARCH_ROWS
        for rules, want in zip((M20, C16, P10), wants, strict=True)
    ],
)
def test_normalize_arch_table(arch, variant, rules, expected):
    assert normalize_arch(arch, variant, rules) == expected
    got = normalize(Platform("linux", arch, variant), rules)
    assert (got.architecture, got.variant) == expected


@pytest.mark.parametrize(
    ("os_", "goos", "expected"),
    [
        ("", "linux", "linux"),  # the daemon's runtime.GOOS
        ("", "darwin", "darwin"),  # another process, e.g. the CLI on a Mac
        ("Linux", "linux", "linux"),
        ("macos", "linux", "darwin"),
        ("MacOS", "linux", "darwin"),
        ("windows", "linux", "windows"),
    ],
)
def test_normalize_os_table(os_, goos, expected):
    assert normalize_os(os_, goos=goos) == expected
    for rules in Rules:
        assert normalize(Platform(os_, "amd64"), rules, goos=goos).os == expected


def test_normalize_os_defaults_to_the_daemon_os():
    assert normalize_os("") == "linux"
    assert normalize(Platform("", "arm64", "v8")) == Platform("linux", "arm64")


@pytest.mark.parametrize(
    ("rules", "os_version", "features"),
    [
        (M20, "", ()),  # 20.10 Normalize drops both
        (C16, "10.0.17763", ("win32k", "a", "win32k")),  # kept as given
        (P10, "10.0.17763", ("a", "win32k")),  # kept, sorted, deduplicated
    ],
)
def test_normalize_os_version_and_features(rules, os_version, features):
    raw = Platform("windows", "amd64", "", "10.0.17763", ("win32k", "a", "win32k"))
    got = normalize(raw, rules)
    assert (got.os_version, got.os_features) == (os_version, features)


# ---------------------------------------------------------------------------------------------
# §3.2 parse

ARM_V6_HOST = default_spec("linux", "arm", "v6")  # Raspberry Pi Zero
ARM_V7_HOST = default_spec("linux", "arm")

PARSE_ROWS = [
    # spec, host, rules, expected (os, arch, variant)
    ("linux", LINUX_ARM64, ALL_RULES, ("linux", "arm64", "")),
    ("linux", ARM_V6_HOST, ALL_RULES, ("linux", "arm", "v6")),
    ("linux", ARM_V7_HOST, ALL_RULES, ("linux", "arm", "")),  # v7 is left out
    ("windows", LINUX_AMD64, ALL_RULES, ("windows", "amd64", "")),
    ("Linux", LINUX_AMD64, ALL_RULES, ("linux", "amd64", "")),
    ("macos", DARWIN_ARM64, ALL_RULES, ("darwin", "arm64", "")),
    ("amd64", DARWIN_ARM64, ALL_RULES, ("darwin", "amd64", "")),  # the macOS CLI trap (§1.3)
    ("amd64", LINUX_ARM64, ALL_RULES, ("linux", "amd64", "")),  # the same on the daemon
    ("aarch64", LINUX_AMD64, ALL_RULES, ("linux", "arm64", "")),
    ("x86_64", LINUX_ARM64, ALL_RULES, ("linux", "amd64", "")),
    ("i386", LINUX_AMD64, ALL_RULES, ("linux", "386", "")),
    ("armhf", LINUX_AMD64, ALL_RULES, ("linux", "arm", "")),  # arm/v7, then v7 dropped
    ("armel", LINUX_AMD64, ALL_RULES, ("linux", "arm", "v6")),
    ("ios", LINUX_AMD64, MODERN, ("ios", "amd64", "")),  # a known OS only after 20.10
    ("loong64", LINUX_AMD64, MODERN, ("linux", "loong64", "")),
    ("linux/arm", LINUX_AMD64, ALL_RULES, ("linux", "arm", "")),  # not normalize()'s arm/v7
    ("linux/armhf", LINUX_AMD64, ALL_RULES, ("linux", "arm", "")),
    ("linux/armel", LINUX_AMD64, ALL_RULES, ("linux", "arm", "v6")),
    ("linux/arm/v7", LINUX_AMD64, ALL_RULES, ("linux", "arm", "v7")),
    ("linux/arm/7", LINUX_AMD64, ALL_RULES, ("linux", "arm", "v7")),
    ("linux/arm/v6", LINUX_AMD64, ALL_RULES, ("linux", "arm", "v6")),
    ("linux/arm64", LINUX_AMD64, ALL_RULES, ("linux", "arm64", "")),
    ("linux/aarch64", LINUX_AMD64, ALL_RULES, ("linux", "arm64", "")),
    ("linux/arm64/v8", LINUX_AMD64, ALL_RULES, ("linux", "arm64", "v8")),  # v8 restored
    ("linux/arm64/8", LINUX_AMD64, ALL_RULES, ("linux", "arm64", "v8")),
    ("linux/aarch64/v8", LINUX_AMD64, ALL_RULES, ("linux", "arm64", "v8")),
    ("Linux/X86_64", LINUX_ARM64, ALL_RULES, ("linux", "amd64", "")),
    ("linux/x86_64", LINUX_ARM64, ALL_RULES, ("linux", "amd64", "")),  # compose platform:
    ("linux/x86_64/v3", LINUX_AMD64, (M20,), ("linux", "amd64", "")),
    ("linux/x86_64/v3", LINUX_AMD64, MODERN, ("linux", "amd64", "v3")),
    ("linux/amd64/v1", LINUX_AMD64, (M20,), ("linux", "amd64", "v1")),
    ("linux/amd64/v1", LINUX_AMD64, MODERN, ("linux", "amd64", "")),
    ("macos/arm64", LINUX_AMD64, ALL_RULES, ("darwin", "arm64", "")),
    ("linux/arm64/v8.2", LINUX_AMD64, (P10,), ("linux", "arm64", "v8.2")),
    ("linux/arm64/v8.0", LINUX_AMD64, (P10,), ("linux", "arm64", "v8")),  # "" then v8 again
    ("linux/arm64/v9.0", LINUX_AMD64, (P10,), ("linux", "arm64", "v9")),
    ("linux/arm64/9", LINUX_AMD64, (C16,), ("linux", "arm64", "9")),
]


@pytest.mark.parametrize(
    ("spec", "host", "rules", "expected"),
    [
        pytest.param(spec, host, rules, want, id=f"{rules.name}-{spec}-on-{host}")
        for spec, host, rule_set, want in PARSE_ROWS
        for rules in rule_set
    ],
)
def test_parse_table(spec, host, rules, expected):
    got = parse(spec, host=host, rules=rules)
    assert (got.os, got.architecture, got.variant) == expected
    assert (got.os_version, got.os_features) == ("", ())


@pytest.mark.parametrize(
    ("spec", "os_version", "features", "formatted"),
    [
        ("windows(10.0.17763)/amd64", "10.0.17763", (), "windows(10.0.17763)/amd64"),
        ("windows(10.0.20348+win32k)/amd64", "10.0.20348", ("win32k",),
         "windows(10.0.20348+win32k)/amd64"),
        ("linux(+b+a)/arm64", "", ("b", "a"), "linux(+a+b)/arm64"),  # kept in order, printed sorted
        ("linux(1%2B2+a%2Bb)/amd64", "1+2", ("a+b",), "linux(1%2B2+a%2Bb)/amd64"),
        ("windows(10.0.17763)", "10.0.17763", (), "windows(10.0.17763)/amd64"),  # one part
    ],
)
def test_parse_os_options_in_platforms_1_0(spec, os_version, features, formatted):
    got = parse(spec, host=LINUX_AMD64, rules=P10)
    assert (got.os_version, got.os_features) == (os_version, features)
    assert got.format_all() == formatted


@pytest.mark.parametrize("rules", [M20, C16])
@pytest.mark.parametrize(
    "spec", ["windows(10.0.17763)/amd64", "linux/arm64/v8.2", "linux/arm64/v9.0"]
)
def test_older_grammar_refuses_dots_and_os_options(spec, rules):
    with pytest.raises(PlatformError, match=re.escape(f'"{spec}"')):
        parse(spec, host=LINUX_AMD64, rules=rules)


PARSE_ERROR_ROWS = [
    # spec, rules, words the message must contain
    ("linux/arm64/v8/x", ALL_RULES, ["too many parts"]),
    ("linux/*", ALL_RULES, ["wildcards"]),
    ("*", ALL_RULES, ["wildcards"]),
    ("", ALL_RULES, ["empty platform specifier"]),
    ("linux//amd64", ALL_RULES, ['component ""']),
    ("linux/amd64/", ALL_RULES, ['component ""']),
    ("/amd64", (M20, C16), ['component ""']),
    ("/amd64", (P10,), ['OS component ""']),
    ("linux/arm 64", ALL_RULES, ['component "arm 64"']),
    ("linux/arm64/v8!", ALL_RULES, ['component "v8!"']),
    ("foo", ALL_RULES, ["neither a known operating system nor a known architecture"]),
    ("ios", (M20,), ["neither a known operating system"]),
    ("loong64", (M20,), ["neither a known operating system"]),
    ("windows(10%zz)/amd64", (P10,), ["bad %-escape", '"10%zz"']),
    ("linux.x/amd64", (P10,), ['OS component "linux.x"']),
]


@pytest.mark.parametrize(
    ("spec", "rules", "words"),
    [
        pytest.param(spec, rules, words, id=f"{rules.name}-{spec or 'empty'}")
        for spec, rule_set, words in PARSE_ERROR_ROWS
        for rules in rule_set
    ],
)
def test_parse_errors_name_the_specifier_and_the_problem(spec, rules, words):
    with pytest.raises(PlatformError) as info:
        parse(spec, host=LINUX_AMD64, rules=rules)
    message = str(info.value)
    assert message.startswith(f'"{spec}"')
    for word in words:
        assert word in message


def test_parse_error_text_for_too_many_parts_is_exact():
    with pytest.raises(PlatformError) as info:
        parse("linux/arm64/v8/x")
    assert str(info.value) == '"linux/arm64/v8/x": too many parts; expected os[/arch[/variant]]'


def test_parse_refuses_a_non_string():
    with pytest.raises(PlatformError, match="must be a string"):
        parse(None)  # type: ignore[arg-type]


def test_parse_without_host_uses_this_machine():
    me = host_platform()
    assert parse("linux/arm64").os == "linux"  # two parts never consult the host
    assert parse("amd64").os == me.os
    assert parse("linux").architecture == me.architecture


# ---------------------------------------------------------------------------------------------
# Format / FormatAll and the Platform value


@pytest.mark.parametrize(
    ("platform", "text"),
    [
        (Platform("linux", "arm64", "v8"), "linux/arm64/v8"),
        (Platform("linux", "amd64"), "linux/amd64"),
        (Platform("linux", "arm", "v7"), "linux/arm/v7"),
        (Platform("", "amd64"), "unknown"),  # Docker prints "(unknown)" for a config without os
        (Platform("linux", ""), "linux"),
        (Platform("linux", "", "v7"), "linux/v7"),  # empty parts are skipped, not kept as //
        (Platform("unknown", "unknown"), "unknown/unknown"),
        (Platform("windows", "amd64", "", "10.0.17763"), "windows/amd64"),  # Format: no version
    ],
)
def test_format(platform, text):
    assert str(platform) == text


@pytest.mark.parametrize(
    ("platform", "text"),
    [
        (Platform("linux", "arm64", "v8"), "linux/arm64/v8"),
        (Platform("windows", "amd64", "", "10.0.17763"), "windows(10.0.17763)/amd64"),
        (Platform("windows", "amd64", "", "10.0.17763", ("win32k",)),
         "windows(10.0.17763+win32k)/amd64"),
        (Platform("windows", "amd64", "", "", ("win32k",)), "windows(+win32k)/amd64"),
        (Platform("linux", "amd64", "", "", ("b", "a", "b", "")), "linux(+a+b)/amd64"),
        (Platform("linux", "amd64", "", "1+2/3"), "linux(1%2B2%2F3)/amd64"),
        (Platform("linux", "amd64", "", "50%"), "linux(50%25)/amd64"),
        (Platform("", "amd64", "", "1"), "unknown"),
    ],
)
def test_format_all(platform, text):
    assert platform.format_all() == text


@pytest.mark.parametrize(
    "platform",
    [
        Platform("windows", "amd64", "", "10.0.17763", ("win32k",)),
        Platform("linux", "arm64", "v8.2", "5.15", ("a", "b")),
        Platform("linux", "amd64", "", "1+2(3)", ("x/y", "50%")),
    ],
)
def test_format_all_round_trips_through_parse_1_0(platform):
    assert parse(platform.format_all(), rules=P10) == normalize(platform, P10)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"architecture": "arm64", "os": "linux", "variant": "v8"},
         Platform("linux", "arm64", "v8")),
        ({"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1",
          "os.features": ["win32k"]},
         Platform("windows", "amd64", "", "10.0.17763.1", ("win32k",))),
        ({"architecture": "amd64"}, Platform("", "amd64")),  # a config without os
        ({"architecture": "amd64", "os": "linux", "variant": None, "os.features": None},
         Platform("linux", "amd64")),  # JSON null reads as empty, like Go
        ({"architecture": "unknown", "os": "unknown", "features": ["sse4"]},
         Platform("unknown", "unknown")),  # other keys ignored
    ],
)
def test_from_oci(doc, expected):
    assert Platform.from_oci(doc) == expected


@pytest.mark.parametrize(
    ("doc", "field_name"),
    [
        ({"architecture": 64, "os": "linux"}, '"architecture"'),
        ({"architecture": "amd64", "os": ["linux"]}, '"os"'),
        ({"architecture": "arm", "os": "linux", "variant": 7}, '"variant"'),
        ({"architecture": "amd64", "os": "windows", "os.version": 10}, '"os.version"'),
        ({"architecture": "amd64", "os": "windows", "os.features": "win32k"}, '"os.features"'),
        ({"architecture": "amd64", "os": "windows", "os.features": [1]}, '"os.features"'),
    ],
)
def test_from_oci_names_the_bad_field(doc, field_name):
    with pytest.raises(PlatformError, match=re.escape(field_name)):
        Platform.from_oci(doc)


def test_from_oci_refuses_a_non_object():
    with pytest.raises(PlatformError, match="JSON object"):
        Platform.from_oci(["linux", "amd64"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("platform", "doc"),
    [
        (Platform("linux", "amd64"), {"architecture": "amd64", "os": "linux"}),
        (Platform("linux", "arm", "v7"), {"architecture": "arm", "os": "linux", "variant": "v7"}),
        (Platform("windows", "amd64", "", "10.0.17763", ("win32k",)),
         {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763",
          "os.features": ["win32k"]}),
    ],
)
def test_to_oci_omits_empty_fields_and_round_trips(platform, doc):
    assert platform.to_oci() == doc
    assert list(platform.to_oci()) == list(doc)  # Go's field order
    assert Platform.from_oci(platform.to_oci()) == platform


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"os": None, "architecture": "amd64"}, "os"),
        ({"os": "linux", "architecture": 64}, "architecture"),
        ({"os": "linux", "architecture": "arm", "variant": 7}, "variant"),
        ({"os": "linux", "architecture": "amd64", "os_features": "win32k"}, "os_features"),
        ({"os": "linux", "architecture": "amd64", "os_features": (1,)}, "os_features"),
    ],
)
def test_platform_checks_its_field_types(kwargs, field_name):
    with pytest.raises(PlatformError, match=f"Platform.{field_name}"):
        Platform(**kwargs)


def test_platform_features_list_becomes_a_hashable_tuple():
    p = Platform("windows", "amd64", os_features=["win32k"])  # type: ignore[arg-type]
    assert p.os_features == ("win32k",)
    assert {p: 1}[Platform("windows", "amd64", os_features=("win32k",))] == 1


@pytest.mark.parametrize(
    ("platform", "unknown"),
    [
        (Platform("unknown", "unknown"), True),  # BuildKit attestation entries (§3.4)
        (Platform("linux", "unknown"), True),
        (Platform("unknown", "amd64"), True),
        (Platform("linux", "amd64"), False),
        (Platform("", "amd64"), False),  # prints "unknown" but is not the placeholder
    ],
)
def test_is_unknown(platform, unknown):
    assert platform.is_unknown is unknown


# ---------------------------------------------------------------------------------------------
# §3.3 matchers

VECTOR_ROWS = [
    # target, MOBY_20_10, CONTAINERD_1_6, PLATFORMS_1_0 (the candidates in preference order)
    ("linux/amd64",
     ["linux/amd64"],
     ["linux/amd64", "linux/386"],
     ["linux/amd64", "linux/386"]),
    ("linux/amd64/v3",
     ["linux/amd64/v3"],
     ["linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"],
     ["linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]),
    ("linux/386", ["linux/386"], ["linux/386"], ["linux/386"]),
    ("linux/arm/v8",
     ["linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
     ["linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
     ["linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm/v7",
     ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
     ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
     ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm",  # normalizes to arm/v7
     ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
     ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
     ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm/v6",
     ["linux/arm/v6", "linux/arm/v5"],
     ["linux/arm/v6", "linux/arm/v5"],
     ["linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm/v5", ["linux/arm/v5"], ["linux/arm/v5"], ["linux/arm/v5"]),
    ("linux/arm64",
     ["linux/arm64"],
     ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
     ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm64/v8",
     ["linux/arm64"],
     ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"],
     ["linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm64/v8.2",
     ["linux/arm64/v8.2"],
     ["linux/arm64/v8.2", "linux/arm/v8.2"],
     ["linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64",
      "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm64/v9",
     ["linux/arm64/v9"],
     ["linux/arm64/v9", "linux/arm/v9", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6",
      "linux/arm/v5"],
     ["linux/arm64/v9", "linux/arm64/v8.5", "linux/arm64/v8.4", "linux/arm64/v8.3",
      "linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64",
      "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm64/v9.2",
     ["linux/arm64/v9.2"],
     ["linux/arm64/v9.2", "linux/arm/v9.2"],
     ["linux/arm64/v9.2", "linux/arm64/v9.1", "linux/arm64/v9",
      "linux/arm64/v8.7", "linux/arm64/v8.6", "linux/arm64/v8.5", "linux/arm64/v8.4",
      "linux/arm64/v8.3", "linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64",
      "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm64/v9.5",  # v8.(N+5) capped at v8.9
     ["linux/arm64/v9.5"],
     ["linux/arm64/v9.5", "linux/arm/v9.5"],
     ["linux/arm64/v9.5", "linux/arm64/v9.4", "linux/arm64/v9.3", "linux/arm64/v9.2",
      "linux/arm64/v9.1", "linux/arm64/v9",
      "linux/arm64/v8.9", "linux/arm64/v8.8", "linux/arm64/v8.7", "linux/arm64/v8.6",
      "linux/arm64/v8.5", "linux/arm64/v8.4", "linux/arm64/v8.3", "linux/arm64/v8.2",
      "linux/arm64/v8.1", "linux/arm64",
      "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
    ("linux/arm64/v9.8",  # beyond the lookup table
     ["linux/arm64/v9.8"],
     ["linux/arm64/v9.8", "linux/arm/v9.8"],
     []),
    ("linux/arm64/foo",
     ["linux/arm64/foo"],
     ["linux/arm64/foo", "linux/arm/foo"],
     []),
    ("linux/riscv64", ["linux/riscv64"], ["linux/riscv64"], ["linux/riscv64"]),
    ("windows/amd64", ["windows/amd64"], ["windows/amd64", "windows/386"],
     ["windows/amd64", "windows/386"]),
]


@pytest.mark.parametrize("variant", ["v999999999999", "v" + "9" * 5000, "v99999999999999999999"])
@pytest.mark.parametrize("arch", ["amd64", "arm"])
def test_platform_vector_of_an_absurd_variant_is_short(arch, variant):
    # Found by fuzzing: v999999999999 counted down a trillion candidates (it hung), and 5000
    # digits raised ValueError from int(). Levels are counted from MAX_VARIANT_LEVEL at most.
    for rules in (C16, P10):
        vector = names(platform_vector(P(f"linux/{arch}/{variant}"), rules))
        assert len(vector) <= 2 + limits.MAX_VARIANT_LEVEL
        assert vector[0] == f"linux/{arch}/{variant}"


@pytest.mark.parametrize(
    ("target", "rules", "expected"),
    [
        pytest.param(target, rules, want, id=f"{rules.name}-{target}")
        for target, *wants in VECTOR_ROWS
        for rules, want in zip((M20, C16, P10), wants, strict=True)
    ],
)
def test_platform_vector_table(target, rules, expected):
    assert names(platform_vector(P(target), rules)) == expected
    m = only(P(target), rules)
    for candidate in expected:  # everything in the vector is accepted ...
        assert m.match(P(candidate))
    for better, worse in itertools.pairwise(expected):  # ... in that order
        assert m.less(P(better), P(worse))
        assert not m.less(P(worse), P(better))


ONLY_ROWS = [
    # rules, target, accepted, refused
    (M20, "linux/amd64", ["linux/amd64", "linux/x86_64"], ["linux/386", "linux/arm64"]),
    (M20, "linux/arm64/v8", ["linux/arm64", "linux/aarch64", "linux/arm64/v8"],
     ["linux/arm/v8", "linux/arm/v7", "linux/amd64"]),
    (M20, "linux/arm/v8", ["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7"],
     ["linux/arm/v4", "linux/arm64", "windows/arm"]),
    (M20, "linux/arm/v7", ["linux/arm", "linux/armhf", "linux/armel", "linux/arm/v5"],
     ["linux/arm/v8", "linux/arm/v4"]),
    (M20, "linux/arm/v6", ["linux/arm/v6", "linux/armel", "linux/arm/v5"],
     ["linux/arm", "linux/arm/v7"]),
    (C16, "linux/amd64", ["linux/amd64", "linux/386", "linux/i386", "linux/amd64/v1"],
     ["linux/amd64/v2", "linux/arm64", "windows/amd64"]),
    (C16, "linux/amd64/v3", ["linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"],
     ["linux/amd64/v4"]),
    (C16, "linux/arm64", ["linux/arm64", "linux/arm64/v8", "linux/arm", "linux/arm/v5"],
     ["linux/arm/v4", "linux/arm/v9", "linux/arm64/v9", "linux/amd64"]),
    (P10, "linux/arm64", ["linux/arm64/v8.0", "linux/arm/v8"], ["linux/arm64/v8.1"]),
    (P10, "linux/arm64/v8.2", ["linux/arm64/v8.1", "linux/arm64/v8", "linux/arm/v7"],
     ["linux/arm64/v8.3", "linux/arm64/v9"]),
    (P10, "linux/arm64/v9", ["linux/arm64/v9.0", "linux/arm64/v8.5", "linux/arm/v5"],
     ["linux/arm64/v8.6", "linux/arm64/v9.1", "linux/arm/v9"]),
    (P10, "linux/arm64/v9.3", ["linux/arm64/v8.8"], ["linux/arm64/v8.9", "linux/arm64/v9.4"]),
    (P10, "linux/arm64/v9.8", [], ["linux/arm64/v9.8", "linux/arm64", "linux/arm/v7"]),
]


@pytest.mark.parametrize(
    ("rules", "target", "accepted", "refused"),
    [pytest.param(*row, id=f"{row[0].name}-{row[1]}") for row in ONLY_ROWS],
)
def test_only_accepts_and_refuses(rules, target, accepted, refused):
    m = only(P(target), rules)
    assert isinstance(m, Matcher)
    assert [c for c in accepted if m.match(P(c))] == accepted
    assert [c for c in refused if m.match(P(c))] == []


@pytest.mark.parametrize("rules", list(Rules))
def test_exact_is_new_matcher(rules):
    m = exact(P("linux/arm64/v8"), rules)
    assert m.match(P("linux/arm64"))
    assert m.match(P("Linux/AArch64/8"))
    assert not m.match(P("linux/arm/v8"))
    assert not m.match(P("linux/arm64/v9"))
    assert m.less(P("linux/arm64"), P("linux/amd64"))
    assert not m.less(P("linux/amd64"), P("linux/arm64"))


@pytest.mark.parametrize(
    ("rules", "target", "candidate", "accepted"),
    [
        (C16, "linux/amd64", "linux/386", False),
        (C16, "linux/amd64", "linux/x86_64", True),  # non-canonical forms still match
        (C16, "linux/arm/v7", "linux/arm/v6", False),
        (C16, "linux/arm64", "linux/arm64/v8", True),
        (C16, "linux/arm64", "linux/arm/v8", False),
        (P10, "linux/arm64/v8.2", "linux/arm64/v8.1", False),
        (M20, "linux/arm/v7", "linux/arm", True),
    ],
)
def test_only_strict_has_no_fallbacks(rules, target, candidate, accepted):
    assert only_strict(P(target), rules).match(P(candidate)) is accepted


@pytest.mark.parametrize(
    ("rules", "candidate_features", "accepted"),
    [
        (P10, (), True),
        (P10, ("win32k",), True),
        (P10, ("a", "win32k"), True),
        (P10, ("other",), False),  # a feature the target lacks
        (C16, ("other",), True),  # before rc.3 features were not compared
        (M20, ("other",), True),
    ],
)
def test_os_features_must_be_a_subset_from_platforms_1_0(rules, candidate_features, accepted):
    target = Platform("windows", "amd64", "", "", ("win32k", "a"))
    candidate = Platform("windows", "amd64", "", "", candidate_features)
    assert exact(target, rules).match(candidate) is accepted


def test_ordered_prefers_more_features_on_a_tie_in_platforms_1_0():
    target = Platform("windows", "amd64", "", "", ("a", "b"))
    more, fewer = Platform("windows", "amd64", "", "", ("a", "b")), Platform("windows", "amd64")
    assert ordered(target, rules=P10).less(more, fewer)
    assert not ordered(target, rules=P10).less(fewer, more)
    assert not ordered(target, rules=C16).less(more, fewer)  # a plain tie before rc.3


def test_ordered_ranks_by_the_first_matcher_hit():
    m = ordered(P("linux/arm64"), P("linux/amd64"), rules=C16)
    assert m.match(P("linux/amd64")) and not m.match(P("linux/386"))
    assert m.less(P("linux/aarch64"), P("linux/amd64"))
    assert not m.less(P("linux/amd64"), P("linux/arm64"))
    assert m.less(P("linux/amd64"), P("linux/s390x"))  # a match beats a non-match
    assert not m.less(P("linux/s390x"), P("linux/ppc64le"))


def test_any_of_matches_without_preference():
    m = any_of(P("linux/arm64"), P("linux/amd64"), rules=C16)
    assert m.match(P("linux/amd64")) and m.match(P("linux/aarch64"))
    assert not m.match(P("linux/386"))
    assert not m.less(P("linux/arm64"), P("linux/amd64"))
    assert not m.less(P("linux/amd64"), P("linux/arm64"))
    assert m.less(P("linux/amd64"), P("linux/386"))
    assert not m.less(P("linux/386"), P("linux/amd64"))


def test_all_matches_everything_and_prefers_nothing():
    for candidate in (P("linux/amd64"), P("unknown/unknown"), Platform("", "")):
        assert ALL.match(candidate)
    assert not ALL.less(P("linux/amd64"), P("linux/arm64"))


@pytest.mark.parametrize("rules", list(Rules))
@pytest.mark.parametrize("target", ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/386"])
def test_attestation_entries_never_match(target, rules):
    # §3.4: BuildKit's attestation manifests carry platform unknown/unknown.
    attestation = P("unknown/unknown")
    assert not only(P(target), rules).match(attestation)
    assert not only_with_fallback(P(target), rules).match(attestation)


# ---------------------------------------------------------------------------------------------
# §1.3 OnlyPlatformWithFallback (the create-time warning)

FALLBACK_ROWS = [
    # rules, host, image config platform, matches (False = Docker prints the warning)
    (M20, "linux/arm/v8", "linux/arm", True),  # moby's own test: no variant -> fallback
    (M20, "linux/arm/v8", "linux/arm/v8", True),
    (M20, "linux/arm/v8", "linux/amd64", False),
    (M20, "linux/arm/v6", "linux/arm", True),  # Pi Zero: arm normalizes to v7, fallback saves it
    (M20, "linux/arm/v6", "linux/arm/v7", False),  # an explicit variant gets no fallback
    (M20, "linux/arm64/v8", "linux/amd64", False),  # the blog's WARNING
    (M20, "linux/arm64/v8", "linux/arm64", True),
    (M20, "linux/arm64/v8", "linux/arm/v7", False),  # no arm64 -> arm in 20.10
    (M20, "linux/amd64", "linux/386", False),  # docker/for-mac#5657
    (C16, "linux/amd64/v3", "linux/386", True),  # 23+: maximumSpec + 386 fallback
    (C16, "linux/amd64/v3", "linux/amd64", True),
    (C16, "linux/amd64/v2", "linux/amd64/v3", False),  # image needs more than the CPU has
    (C16, "linux/arm64/v8", "linux/arm/v7", True),
    (P10, "linux/arm64/v8", "linux/amd64", False),
]


@pytest.mark.parametrize(
    ("rules", "host", "image", "matches"),
    [pytest.param(*row, id=f"{row[0].name}-{row[1]}-{row[2]}") for row in FALLBACK_ROWS],
)
def test_only_with_fallback(rules, host, image, matches):
    assert only_with_fallback(P(host), rules).match(P(image)) is matches
    if rules is M20:
        assert only_with_fallback_20_10(P(host)).match(P(image)) is matches


def test_only_with_fallback_prefers_only_matches_over_fallback_ones():
    m = only_with_fallback_20_10(P("linux/arm/v6"))
    assert m.less(P("linux/arm/v6"), P("linux/arm"))  # Only hit beats fallback hit
    assert not m.less(P("linux/arm"), P("linux/arm/v6"))
    assert m.less(P("linux/arm"), P("linux/amd64"))  # fallback hit beats a miss


def test_create_warning_text_on_an_arm64_daemon():
    image = Platform.from_oci({"architecture": "amd64", "os": "linux"})
    assert not only_with_fallback_20_10(LINUX_ARM64).match(image)
    warning = (
        f"The requested image's platform ({image}) does not match the detected host platform "
        f"({LINUX_ARM64}) and no specific platform was requested"
    )
    assert warning == (
        "The requested image's platform (linux/amd64) does not match the detected host "
        "platform (linux/arm64/v8) and no specific platform was requested"
    )


# ---------------------------------------------------------------------------------------------
# §1.6 matching examples (20.10, Linux daemon) and §2 changes in 23+

MYSQL_57_2022 = [P("linux/amd64")]
ALPINE = [P("linux/amd64"), P("linux/arm/v6"), P("linux/arm/v7"), P("linux/arm64/v8"),
          P("linux/386"), P("linux/ppc64le"), P("linux/s390x")]

ENTRY_ROWS_20_10 = [
    # host, --platform (None = no flag), entries, expected indices, text Docker prints if none
    (LINUX_ARM64, None, MYSQL_57_2022, [], "linux/arm64/v8"),
    (LINUX_ARM64, None, [P("linux/amd64"), P("linux/arm64")], [1], None),
    (LINUX_ARM64, None, [P("linux/amd64"), P("linux/arm64/v8")], [1], None),
    (LINUX_ARM64, None, [P("linux/arm/v7")], [], "linux/arm64/v8"),
    (LINUX_AMD64, None, [P("linux/386")], [], "linux/amd64"),
    (LINUX_ARM64, "linux/x86_64", [P("linux/arm64"), P("linux/amd64")], [1], None),
    (LINUX_ARM64, "linux/arm64", MYSQL_57_2022, [], "linux/arm64"),
    (LINUX_ARM64, "linux/arm64/v8", MYSQL_57_2022, [], "linux/arm64/v8"),
    (ARM_V7_HOST, None, [P("linux/amd64"), P("linux/arm/v6")], [1], None),  # variant-less fallback
    (ARM_V7_HOST, "linux/arm/v5", ALPINE, [1, 2], None),  # every arm entry, in list order
    (LINUX_AMD64, None, ALPINE, [0], None),
    (LINUX_ARM64, None, [*ALPINE, P("unknown/unknown")], [3], None),  # attestation skipped
    (LINUX_ARM64, None, [None, P("linux/arm64")], [1], None),  # no platform: Go's zero value
]


@pytest.mark.parametrize(
    ("host", "flag", "entries", "expected", "printed"),
    [pytest.param(*row, id=f"{row[0]}-{row[1]}-{i}") for i, row in enumerate(ENTRY_ROWS_20_10)],
)
def test_match_entries_20_10(host, flag, entries, expected, printed):
    # The daemon parses --platform itself; without it the target is DefaultSpec.
    requested = parse(flag, host=host, rules=M20) if flag else None
    target = with_default(requested, host)
    assert match_entries_20_10(entries, target) == expected
    assert match_entries(entries, target, M20) == expected
    if printed is not None:
        assert str(target) == printed  # "no matching manifest for <this> in the manifest list"


ENTRY_ROWS_MODERN = [
    # host, --platform, entries, expected indices best first (same for 1.6 and 1.0 here)
    (LINUX_ARM64, None, MYSQL_57_2022, []),
    (LINUX_ARM64, None, [P("linux/arm/v7")], [0]),  # arm64 now takes 32-bit arm
    (LINUX_ARM64, None, [P("linux/arm/v7"), P("linux/amd64"), P("linux/arm64/v8")], [2, 0]),
    (maximum_spec(LINUX_AMD64, "v3", rules=C16), None, [P("linux/386")], [0]),
    (maximum_spec(LINUX_AMD64, "v3", rules=C16), None,
     [P("linux/386"), P("linux/amd64/v2"), P("linux/amd64")], [1, 2, 0]),
    (ARM_V7_HOST, "linux/arm/v5", ALPINE, []),  # the deprecated fallback is gone (#44390)
    (ARM_V7_HOST, None, ALPINE, [2, 1]),
    (LINUX_ARM64, None, [None, P("linux/arm/v6"), P("linux/arm64")], [2, 1, 0]),  # None last
    (LINUX_ARM64, None, [None, P("linux/amd64"), None], [0, 2]),
    (LINUX_AMD64, None, [None, P("linux/386"), None, P("linux/amd64")], [3, 1, 0, 2]),
    (LINUX_AMD64, None, [P("linux/amd64"), P("linux/x86_64"), P("linux/amd64")], [0, 1, 2]),
    (LINUX_ARM64, None, [*ALPINE, P("unknown/unknown")], [3, 2, 1]),
]


@pytest.mark.parametrize("rules", MODERN)
@pytest.mark.parametrize(
    ("host", "flag", "entries", "expected"),
    [pytest.param(*row, id=f"{row[0]}-{row[1]}-{i}") for i, row in enumerate(ENTRY_ROWS_MODERN)],
)
def test_match_entries_modern(host, flag, entries, expected, rules):
    requested = parse(flag, host=host, rules=rules) if flag else None
    target = with_default(requested, host)
    assert match_entries_modern(entries, target, rules) == expected
    assert match_entries(entries, target, rules) == expected


def test_match_entries_modern_refuses_the_20_10_rules():
    with pytest.raises(PlatformError, match="match_entries_20_10"):
        match_entries_modern([P("linux/amd64")], LINUX_AMD64, M20)


def test_match_entries_needs_an_architecture():
    with pytest.raises(PlatformError, match="with_default"):
        match_entries_20_10([P("linux/amd64")], Platform("linux", ""))


@pytest.mark.parametrize(
    ("requested", "host", "expected"),
    [
        (None, LINUX_ARM64, Platform("linux", "arm64", "v8")),
        (Platform("", "amd64"), LINUX_ARM64, Platform("linux", "amd64")),
        (Platform("windows", ""), LINUX_ARM64, Platform("windows", "arm64", "v8")),
        (Platform("linux", "arm", "v6"), LINUX_ARM64, Platform("linux", "arm", "v6")),
    ],
)
def test_with_default(requested, host, expected):
    assert with_default(requested, host) == expected


# ---------------------------------------------------------------------------------------------
# §1.2 host defaults

CPUINFO_AARCH64 = """\
processor\t: 0
BogoMIPS\t: 48.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm
CPU implementer\t: 0x61
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0x000
CPU revision\t: 0

processor\t: 1
BogoMIPS\t: 48.00
CPU architecture: 8
"""

CPUINFO_RPI3_ARMV7 = """\
processor\t: 0
model name\t: ARMv7 Processor rev 4 (v7l)
BogoMIPS\t: 38.40
Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32
CPU implementer\t: 0x41
CPU architecture: 7
CPU variant\t: 0x0
CPU part\t: 0xd03
CPU revision\t: 4

Hardware\t: BCM2835
Revision\t: a02082
Model\t\t: Raspberry Pi 3 Model B Rev 1.2
"""

CPUINFO_RPI_ZERO = """\
processor\t: 0
model name\t: ARMv6-compatible processor rev 7 (v6l)
BogoMIPS\t: 697.95
Features\t: half thumb fastmult vfp edsp java tls
CPU implementer\t: 0x41
CPU architecture: 7
CPU variant\t: 0x0
CPU part\t: 0xb76
CPU revision\t: 7

Hardware\t: BCM2835
Revision\t: 9000c1
Model\t\t: Raspberry Pi Zero W Rev 1.1
"""

CPUINFO_KIRKWOOD = """\
Processor\t: Feroceon 88FR131 rev 1 (v5l)
BogoMIPS\t: 1191.11
Features\t: swp half thumb fastmult edsp
CPU implementer\t: 0x56
CPU architecture: 5TE
CPU variant\t: 0x2
"""

CPUINFO_X86_HASWELL = """\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 60
model name\t: Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush \
dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon \
pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor \
ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid sse4_1 sse4_2 x2apic movbe popcnt \
tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm cpuid_fault epb invpcid_single pti \
ssbd ibrs ibpb stibp tpr_shadow vnmi flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 avx2 \
smep bmi2 erms invpcid xsaveopt dtherm ida arat pln pts md_clear flush_l1d
"""

CPUINFO_X86_SKYLAKE_SP = CPUINFO_X86_HASWELL.replace(
    "Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz", "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz"
).replace("flush_l1d", "flush_l1d avx512f avx512dq avx512cd avx512bw avx512vl")

CPUINFO_X86_NEHALEM = """\
processor\t: 0
model name\t: Intel(R) Core(TM) i7 CPU         920  @ 2.67GHz
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts \
acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx rdtscp lm constant_tsc arch_perfmon pebs bts \
rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni dtes64 monitor ds_cpl vmx est tm2 \
ssse3 cx16 xtpr pdcm sse4_1 sse4_2 popcnt lahf_lm pti ssbd ibrs ibpb stibp tpr_shadow vnmi \
flexpriority ept vpid dtherm ida
"""

CPUINFO_X86_CORE2 = """\
processor\t: 0
model name\t: Intel(R) Core(TM)2 Duo CPU     E8400  @ 3.00GHz
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts \
acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx lm constant_tsc arch_perfmon pebs bts rep_good \
nopl cpuid aperfmperf pni dtes64 monitor ds_cpl vmx smx est tm2 ssse3 cx16 xtpr pdcm sse4_1 \
lahf_lm pti tpr_shadow vnmi flexpriority dtherm
"""

CPUINFO_ROWS = [
    # text, goarch, rules, machine, expected
    (CPUINFO_AARCH64, "arm64", ALL_RULES, "", "v8"),  # Docker Desktop's VM on an M1
    (CPUINFO_AARCH64, "arm", (M20,), "", "v7"),  # 32-bit userland on aarch64 (20.10 only)
    (CPUINFO_AARCH64, "arm", MODERN, "", "v8"),
    (CPUINFO_RPI3_ARMV7, "arm", ALL_RULES, "", "v7"),
    (CPUINFO_RPI_ZERO, "arm", ALL_RULES, "", "v6"),  # reports 7, model name says ARMv6
    (CPUINFO_KIRKWOOD, "arm", ALL_RULES, "", "v5"),
    ("CPU architecture: 6TEJ\n", "arm", ALL_RULES, "", "v6"),
    ("CPU architecture: 6\n", "arm", ALL_RULES, "", "v6"),
    ("CPU architecture: 5TEJ\n", "arm", ALL_RULES, "", "v5"),
    ("CPU architecture: 5T\n", "arm", ALL_RULES, "", "v5"),
    ("CPU architecture: 5\n", "arm", ALL_RULES, "", "v5"),
    ("CPU architecture: 7M\n", "arm", ALL_RULES, "", "v7"),
    ("CPU architecture: ?(12)\n", "arm", ALL_RULES, "", "v7"),
    ("CPU architecture: 4T\n", "arm", ALL_RULES, "", "v4"),
    ("cpu ARCHITECTURE : AArch64\n", "arm64", ALL_RULES, "", "v8"),  # case-insensitive
    ("CPU architecture: ?(11)\n", "arm", ALL_RULES, "", "unknown"),
    (CPUINFO_X86_HASWELL, "amd64", ALL_RULES, "", ""),  # only arm and arm64 have variants
    ("processor\t: 0\n", "arm", ALL_RULES, "", ""),  # no such line
    ("processor\t: 0\n", "arm", (M20,), "armv7l", ""),  # 20.10 had no uname fallback
    ("processor\t: 0\n", "arm", MODERN, "armv7l", "v7"),  # qemu-user: uname -m fallback
    ("processor\t: 0\n", "arm64", MODERN, "aarch64", "v8"),
    ("processor\t: 0\n", "arm", MODERN, "armv6l", "v6"),
    ("processor\t: 0\n", "arm", MODERN, "x86_64", ""),
]


@pytest.mark.parametrize(
    ("text", "goarch", "rules", "machine", "expected"),
    [
        pytest.param(text, goarch, rules, machine, want,
                     id=f"{rules.name}-{goarch}-{i}-{machine or 'nomachine'}")
        for i, (text, goarch, rule_set, machine, want) in enumerate(CPUINFO_ROWS)
        for rules in rule_set
    ],
)
def test_cpu_variant_from_cpuinfo(text, goarch, rules, machine, expected):
    assert cpu_variant_from_cpuinfo(text, goarch, machine=machine, rules=rules) == expected


@pytest.mark.parametrize(
    ("text", "level"),
    [
        (CPUINFO_X86_CORE2, "v1"),  # no sse4_2/popcnt
        (CPUINFO_X86_NEHALEM, "v2"),
        (CPUINFO_X86_HASWELL, "v3"),
        (CPUINFO_X86_SKYLAKE_SP, "v4"),
        (CPUINFO_X86_HASWELL.replace(" abm", ""), "v2"),  # no LZCNT, no v3
        (CPUINFO_X86_NEHALEM.replace(" lahf_lm", ""), "v1"),  # each v2 flag counts
        (CPUINFO_X86_NEHALEM.replace(" sse4_2", ""), "v1"),
        (CPUINFO_X86_SKYLAKE_SP.replace(" avx512vl", ""), "v3"),
        (CPUINFO_AARCH64, "v1"),  # no flags line at all
    ],
)
def test_amd64_variant_from_cpuinfo(text, level):
    assert amd64_variant_from_cpuinfo(text) == level


@pytest.mark.parametrize(
    ("machine", "goarch"),
    [
        ("x86_64", "amd64"), ("AMD64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64"),
        ("ARM64", "arm64"), ("armv7l", "arm"), ("armv6l", "arm"), ("armv5tel", "arm"),
        ("i686", "386"), ("i386", "386"), ("ppc64le", "ppc64le"), ("s390x", "s390x"),
        ("riscv64", "riscv64"), ("loongarch64", "loong64"), ("mips64", "mips64"),
        ("weird9000", "weird9000"),
    ],
)
def test_goarch_from_machine(machine, goarch):
    assert goarch_from_machine(machine) == goarch


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("linux", "arm64"), "linux/arm64/v8"),  # the daemon in Docker Desktop's VM on an M1
        (("darwin", "arm64"), "darwin/arm64/v8"),  # the CLI on the Mac itself
        (("linux", "amd64"), "linux/amd64"),
        (("linux", "arm"), "linux/arm/v7"),
        (("linux", "arm", "v6"), "linux/arm/v6"),
        (("linux", "arm64", ""), "linux/arm64"),  # cpuinfo could not be read
        (("windows", "amd64"), "windows/amd64"),
    ],
)
def test_default_spec(args, text):
    assert str(default_spec(*args)) == text


def test_default_spec_is_not_normalized_but_matches_its_normalized_self():
    host = default_spec("linux", "arm64")
    assert host.variant == "v8"
    assert normalize(host).variant == ""
    for rules in Rules:
        assert exact(host, rules).match(Platform("linux", "arm64"))


def test_default_spec_refuses_a_variant_for_non_arm():
    with pytest.raises(PlatformError, match="maximum_spec"):
        default_spec("linux", "amd64", "v3")


@pytest.mark.parametrize(
    ("host", "variant", "rules", "text"),
    [
        (LINUX_AMD64, "v3", C16, "linux/amd64/v3"),
        (LINUX_AMD64, "v4", P10, "linux/amd64/v4"),
        (LINUX_AMD64, "v3", M20, "linux/amd64"),  # 20.10 had no maximumSpec
        (LINUX_ARM64, None, P10, "linux/arm64/v8"),
        (LINUX_ARM64, "v3", C16, "linux/arm64/v8"),  # only amd64 gets a level
    ],
)
def test_maximum_spec(host, variant, rules, text):
    assert str(maximum_spec(host, variant, rules=rules)) == text


@pytest.mark.parametrize("variant", [None, "v5", "3", ""])
def test_maximum_spec_needs_a_valid_amd64_level(variant):
    with pytest.raises(PlatformError, match="amd64_variant"):
        maximum_spec(LINUX_AMD64, variant, rules=C16)


@pytest.mark.parametrize(
    ("system", "machine", "cpuinfo", "rules", "text"),
    [
        ("Linux", "aarch64", CPUINFO_AARCH64, P10, "linux/arm64/v8"),
        ("Linux", "armv7l", CPUINFO_RPI3_ARMV7, P10, "linux/arm/v7"),
        ("Linux", "armv6l", CPUINFO_RPI_ZERO, M20, "linux/arm/v6"),
        ("Linux", "armv7l", None, P10, "linux/arm"),  # unreadable cpuinfo: no variant
        ("Linux", "armv7l", "processor\t: 0\n", P10, "linux/arm/v7"),  # uname fallback
        ("Linux", "x86_64", None, P10, "linux/amd64"),
        ("Darwin", "arm64", None, P10, "darwin/arm64/v8"),
        ("Windows", "ARM64", None, C16, "windows/arm64/v8"),
        ("Windows", "AMD64", None, C16, "windows/amd64"),
        ("FreeBSD", "arm64", None, P10, "freebsd/arm64/v8"),
        ("FreeBSD", "arm64", None, M20, "freebsd/arm64"),
        ("Linux", "weird9000", None, P10, "linux/weird9000"),  # never fails
    ],
)
def test_host_platform(monkeypatch, system, machine, cpuinfo, rules, text):
    monkeypatch.setattr(platforms._pyplatform, "system", lambda: system)
    monkeypatch.setattr(platforms._pyplatform, "machine", lambda: machine)
    monkeypatch.setattr(platforms, "_read_cpuinfo", lambda: cpuinfo)
    assert str(host_platform(rules)) == text


def test_host_maximum_spec_reads_the_amd64_level(monkeypatch):
    monkeypatch.setattr(platforms._pyplatform, "system", lambda: "Linux")
    monkeypatch.setattr(platforms._pyplatform, "machine", lambda: "x86_64")
    monkeypatch.setattr(platforms, "_read_cpuinfo", lambda: CPUINFO_X86_HASWELL)
    assert str(platforms.host_maximum_spec(C16)) == "linux/amd64/v3"
    assert str(platforms.host_maximum_spec(M20)) == "linux/amd64"


def test_host_platform_on_this_machine_is_a_platform():
    me = host_platform()
    assert isinstance(me, Platform)
    assert me.os and me.architecture


# ---------------------------------------------------------------------------------------------
# Which Engine uses which rules


@pytest.mark.parametrize(
    ("version", "rules"),
    [
        ("20.10.11", M20), ("v20.10.12", M20), ("22.06.0-beta.0", C16), ("23.0.0", C16),
        ("24.0.1", C16), ("27.5.1", C16), ("28.0.0", P10), ("29.0", P10),
    ],
)
def test_rules_for_engine(version, rules):
    assert Rules.for_engine(version) is rules


@pytest.mark.parametrize("version", ["19.03.15", "latest", ""])
def test_rules_for_engine_refuses_what_it_does_not_model(version):
    with pytest.raises(PlatformError):
        Rules.for_engine(version)


# ---------------------------------------------------------------------------------------------
# Properties

_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8)
_OS = st.one_of(st.sampled_from(["linux", "Linux", "windows", "darwin", "macos", ""]), _TOKEN)
_ARCH = st.one_of(
    st.sampled_from(["amd64", "x86_64", "x86-64", "i386", "386", "arm", "armhf", "armel",
                     "arm64", "aarch64", "AArch64", "riscv64", "ppc64le", "s390x"]),
    _TOKEN,
)
_VARIANT = st.one_of(
    st.sampled_from(["", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "5", "6", "7", "8",
                     "9", "V8", "unknown"]),
    _TOKEN,
)
_DOTTED_VARIANT = st.sampled_from(["v8.0", "v8.2", "9.0", "v9.0", "v9.3", "v9.9"])
_FEATURES = st.lists(st.sampled_from(["win32k", "a", "b"]), max_size=3).map(tuple)


@given(os_=_OS, arch=_ARCH, variant=st.one_of(_VARIANT, _DOTTED_VARIANT),
       os_version=st.sampled_from(["", "10.0.17763"]), features=_FEATURES,
       rules=st.sampled_from(list(Rules)))
def test_normalize_is_idempotent(os_, arch, variant, os_version, features, rules):
    once = normalize(Platform(os_, arch, variant, os_version, features), rules)
    assert normalize(once, rules) == once


@given(os_=_OS, arch=_ARCH, variant=_VARIANT, rules=st.sampled_from(list(Rules)))
def test_parse_of_format_gives_back_a_normalized_platform(os_, arch, variant, rules):
    p = normalize(Platform(os_, arch, variant), rules)
    assert parse(str(p), host=LINUX_AMD64, rules=rules) == p


@given(arch=st.sampled_from(["arm64", "aarch64"]), variant=_DOTTED_VARIANT)
def test_parse_of_format_with_dotted_arm64_variants(arch, variant):
    p = normalize(Platform("linux", arch, variant), P10)
    assert parse(str(p), host=LINUX_AMD64, rules=P10) == p


@given(os_=_OS, arch=_ARCH, variant=_VARIANT, rules=st.sampled_from(list(Rules)))
def test_only_always_accepts_its_own_target_unless_arm64_is_unknown(os_, arch, variant, rules):
    p = Platform(os_, arch, variant)
    n = normalize(p, rules)
    unknown_arm64 = (rules is P10 and n.architecture == "arm64"
                     and (n.variant or "v8") not in platforms._ARM64_TABLE)
    assert only(p, rules).match(p) is not unknown_arm64
    assert only_strict(p, rules).match(p)
