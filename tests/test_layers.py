"""Layers read as tar within bounds: every hostile kind refused with archlab's own one-line
error, in bounded memory (each bomb is opened in a subprocess whose peak RSS is measured:
its peak resident size, VmHWM, must stay below 300 MB, the target of issue 10, while the
pax bomb took Python's tarfile past 1 GB)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import zlib

import pytest

from archlab import limits
from archlab.errors import LayerError, NotInLayerError
from archlab.layers import LayerLimits, Rootfs, open_layer
from tests import tarbombs

PEAK_MB = 300

_OPEN_IN_A_SUBPROCESS = """
import json, sys, tempfile
from archlab.emulation import extract_file_from_layer
from archlab.errors import LayerError
from archlab.simulate import _rootfs
data = open(sys.argv[1], "rb").read()
errors = []
for how in ("extract", "facts"):
    try:
        if how == "extract":
            with tempfile.TemporaryDirectory() as tmp:
                extract_file_from_layer(data, "bin/hello", tmp)
        else:
            _rootfs([data])
        errors.append(None)
    except LayerError as exc:
        errors.append(str(exc))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child of a big
# pytest process would report the parent's size. VmHWM belongs to this program's memory alone.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"errors": errors, "peak_mb": int(hwm.split()[1]) // 1024}))
"""


@pytest.mark.parametrize("kind", sorted(tarbombs.KINDS))
def test_every_bomb_is_refused_in_bounded_memory(tmp_path, kind):
    path = tmp_path / "layer"
    path.write_bytes(tarbombs.bomb(kind))
    done = subprocess.run([sys.executable, "-c", _OPEN_IN_A_SUBPROCESS, str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    for error in result["errors"]:
        assert error is not None and tarbombs.KINDS[kind] in error, error
        assert "\n" not in error
    assert result["peak_mb"] < PEAK_MB, result


def _tar(entries: list[tuple[str, bytes | None, bytes, str]], *, gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, kind, link in entries:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o755
            info.size = len(data) if data is not None else 0
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    return zlib.compress(raw, wbits=16 + zlib.MAX_WBITS) if gz else raw


@pytest.mark.parametrize("gz", [True, False])
def test_long_pax_names_and_links_as_python_writes_them(gz):
    deep = "/".join(["d" * 50] * 6) + "/hello"  # 300+ bytes: needs a pax path
    layer = open_layer(_tar([(deep, b"hi", tarfile.REGTYPE, ""),
                             ("short", None, tarfile.SYMTYPE, "/" + deep)], gz=gz))
    assert set(layer.entries) == {deep, "short"}
    assert layer.read("short", max_bytes=10) == b"hi"


def test_gnu_long_names_are_read():
    deep = "g" * 300
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(deep)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    assert open_layer(buf.getvalue()).read(deep, max_bytes=3) == b"abc"


def test_the_upper_layer_wins_and_links_cross_layers():
    lower = _tar([("usr/bin/tool", b"lower", tarfile.REGTYPE, ""),
                  ("etc/v", b"1", tarfile.REGTYPE, "")])
    upper = _tar([("etc/v", b"2", tarfile.REGTYPE, ""),
                  ("bin", None, tarfile.SYMTYPE, "usr/bin")])
    root = Rootfs([open_layer(lower), open_layer(upper)])
    assert root.read("etc/v", max_bytes=1) == b"2"
    assert root.read("bin/tool", max_bytes=10) == b"lower"
    assert root.read("bin/tool", max_bytes=2, prefix=True) == b"lo"
    with pytest.raises(NotInLayerError):
        root.read("bin/other", max_bytes=10)


def test_an_empty_layer_is_fine():
    assert dict(open_layer(bytes(1024)).entries) == {}
    assert dict(open_layer(zlib.compress(bytes(1024), wbits=31)).entries) == {}


def test_limits_can_be_raised_or_lowered_per_call():
    data = _tar([(f"f{i}", b"", tarfile.REGTYPE, "") for i in range(5)])
    assert len(open_layer(data).entries) == 5
    with pytest.raises(LayerError, match="more than 4 entries"):
        open_layer(data, bounds=LayerLimits(max_members=4))
    assert LayerLimits().max_members == limits.MAX_LAYER_MEMBERS


@pytest.mark.parametrize(("data", "words"), [
    (b"\x1f\x8b\x08\x00" + b"\xff" * 64, "invalid gzip"),
    (zlib.compress(b"x" * 600, wbits=31), "bad header checksum at byte 0"),
    (zlib.compress(tarbombs.header(b"f", 100) + b"x" * 10, wbits=31), "truncated"),
    (zlib.compress(tarbombs.header(b"f", 0), wbits=31)[:-12], "truncated"),
    (b"PK\x03\x04" + bytes(600), "neither a gzip signature nor a tar header"),
])
def test_unreadable_layers_are_one_line(data, words):
    with pytest.raises(LayerError, match=words) as err:
        open_layer(data)
    assert "\n" not in str(err.value)
