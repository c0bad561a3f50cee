#!/usr/bin/env python3
"""Turn the repo-info snapshot JSON files into ``data/history/official-images.csv``.

Run by hand from the repository root whenever the reference snapshots change::

    .venv/bin/python tools/import_repo_info.py                      # default paths
    .venv/bin/python tools/import_repo_info.py SOURCE_DIR -o OUT.csv
    .venv/bin/python tools/import_repo_info.py --check              # exit 1 if the CSV is stale

``SOURCE_DIR`` defaults to ``../shared/reference/repo-info`` relative to the repository root;
it holds one ``<image>__<tag>__<date>.json`` per snapshot (plus ``index.json``, used only as a
cross-check). The output has one row per (snapshot × platform entry) and is byte-for-byte
deterministic: rows are sorted, every number is an integer written without separators or
exponent, booleans are ``true``/``false``, and a missing value is an empty field. Column
meanings and the decisions made here are documented in ``data/history/README.md``.

Decisions taken here rather than left to every reader:

=====================  ===================================================================
column                 rule
=====================  ===================================================================
``kind``               top-level MIME: Docker list → ``list``, OCI index → ``index``,
                       a single-manifest MIME → ``single``; no MIME printed → ``unknown``
                       (the old 2016–2017 format; never guessed from the entry count)
``platform``           ``str(archlab.platforms.normalize(Platform(...)))`` so that
                       ``arm64/v8`` and ``arm64`` compare equal; ``unknown/unknown`` entries
                       are left as they are (they are not platforms)
``is_attestation``     ``unknown/unknown`` entry; ``attestation_basis`` says whether its
                       layers were seen to be in-toto (``in-toto-layers``) or were not
                       transcribed, so only the platform pair decided (``unknown-platform``)
``date_evidence``      compact form of the source's evidence line:
                       ``history|history-portion|layer-last-modified <UTC timestamp>``
=====================  ===================================================================

A snapshot whose platform list is empty (mysql:5.7.36 from maxmood96) still gets one row, with
``entry_count`` 0 and empty entry columns, so that no snapshot disappears silently.

The snapshots were transcribed by hand, so the import refuses (one line naming the file and
the fault) anything that contradicts itself or its provenance:

==========================  =================================================================
check                       why
==========================  =================================================================
platforms = manifests       ``entry_index`` must mean "position in the list"; both sections
(same length and strings)   of a file list the same entries in the same order
digests well formed         ``sha256:`` + 64 lowercase hex for the list and every entry;
                            ``source.commit`` 40 hex: a typo would break provenance
``Platforms: N``            where the source printed that count, it equals the list length
``source.path``             is ``repos/<image>/remote/<tag>.md`` of the file's image and tag
``date`` = evidence day     the date is the UTC day of the instant its evidence line names
file name                   ``<image>__<tag>__<date|undated>[__<owner>].json`` agrees with the
                            content; the owner suffix (two copies of one day) is the source
                            repository's owner
one file per source         no two files read the same repository, commit and path (a
                            snapshot transcribed twice would be counted twice)
``index.json``              lists the same files, and per file the same platform strings,
                            list digest, date, repository, commit and path
==========================  =================================================================
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "reference" / "repo-info"
DEFAULT_OUTPUT = REPO_ROOT / "data" / "history" / "official-images.csv"

COLUMNS = (
    "image",
    "tag",
    "date",
    "date_evidence",
    "list_digest",
    "list_media_type",
    "kind",
    "entry_count",
    "entry_index",
    "platform_string",
    "os",
    "architecture",
    "variant",
    "os_version",
    "platform_raw",
    "platform",
    "is_attestation",
    "attestation_basis",
    "entry_digest",
    "entry_media_type",
    "total_size_bytes",
    "config_digest",
    "layer_count",
    "partial",
    "source_repo",
    "source_path",
    "source_commit",
    "source_file",
)

KIND_BY_MEDIA_TYPE = {
    "application/vnd.docker.distribution.manifest.list.v2+json": "list",
    "application/vnd.oci.image.index.v1+json": "index",
    "application/vnd.docker.distribution.manifest.v2+json": "single",
    "application/vnd.oci.image.manifest.v1+json": "single",
}
IN_TOTO = "application/vnd.in-toto+json"

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")

# The source states its evidence as a sentence; keep only the kind and the instant it names.
_EVIDENCE = re.compile(
    r'^newest (?P<what>"# <date>" Dockerfile-history line|layer "Last Modified") in the file'
    r'(?P<portion> \(portion read\))?: "(?P<when>[^"]+)"'
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE,
                        help=f"folder with the snapshot JSON files (default: {DEFAULT_SOURCE})")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"CSV to write (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if OUTPUT differs from what would be written")
    args = parser.parse_args(argv)

    text = render_csv(import_rows(args.source))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"{args.output} is stale; re-run tools/import_repo_info.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(text.encode("utf-8"))
    print(f"wrote {text.count(chr(10)) - 1} rows to {args.output}")
    return 0


def import_rows(source: Path) -> list[dict[str, str]]:
    """Read every snapshot in ``source`` and return the sorted CSV rows (all values ``str``)."""
    files = sorted(p for p in source.glob("*.json") if p.name != "index.json")
    if not files:
        raise SystemExit(f"no snapshot JSON files in {source}; pass the repo-info folder")
    documents = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in files}
    _check_names_and_sources(documents)
    _cross_check_index(source / "index.json", documents)
    rows = [row for name, doc in documents.items() for row in snapshot_rows(doc, name)]
    rows.sort(key=_sort_key)
    return rows


def snapshot_rows(doc: dict[str, Any], file_name: str) -> list[dict[str, str]]:
    """One row per platform entry of one snapshot (one placeholder row for an empty list)."""
    src = doc["source"]
    platforms = doc["platforms"] or []
    manifests = doc["manifests"] or []
    # The reference files keep ``platforms`` and ``manifests`` parallel; rely on it only
    # after checking, because entry_index must mean "position in the list".
    if len(manifests) != len(platforms):
        raise SystemExit(f"{file_name}: {len(platforms)} platforms but {len(manifests)} manifests")
    _check_document(doc, file_name)
    base = {
        "image": doc["image"],
        "tag": doc["tag"],
        "date": src.get("date") or "",
        "date_evidence": _evidence(src.get("date_evidence"), file_name),
        "list_digest": doc.get("list_digest") or "",
        "list_media_type": doc.get("list_mime") or "",
        "kind": KIND_BY_MEDIA_TYPE.get(doc.get("list_mime") or "", "unknown"),
        "entry_count": str(len(platforms)),
        "partial": _bool(bool(doc.get("partial"))),
        "source_repo": src["repo"],
        "source_path": src["path"],
        "source_commit": src["commit"],
        "source_file": file_name,
    }
    if not platforms:
        return [_complete(base)]
    rows = []
    for index, (plat, man) in enumerate(zip(platforms, manifests, strict=True)):
        if plat["platform_string"] != man["platform_string"]:
            raise SystemExit(f"{file_name}: entry {index} platform and manifest sections disagree")
        rows.append(_complete({**base, "entry_index": str(index), **_entry(plat, man)}))
    return rows


def _entry(plat: dict[str, Any], man: dict[str, Any]) -> dict[str, str]:
    os_, arch = plat["os"] or "", plat["architecture"] or ""
    variant, os_version = plat.get("variant") or "", plat.get("os_version") or ""
    raw = "/".join(part for part in (os_, arch, variant) if part)
    layer_types = {layer["mime"] for layer in man.get("layers") or []}
    attestation, basis = False, ""
    if os_ == "unknown" and arch == "unknown":
        if IN_TOTO in layer_types:
            attestation, basis = True, "in-toto-layers"
        elif not layer_types:
            attestation, basis = True, "unknown-platform"
        else:
            # unknown/unknown with ordinary layers would contradict the source README's rule;
            # say so instead of calling it an attestation.
            basis = "unknown-platform-without-in-toto"
    return {
        "platform_string": plat["platform_string"],
        "os": os_,
        "architecture": arch,
        "variant": variant,
        "os_version": os_version,
        "platform_raw": raw,
        "platform": raw if os_ == "unknown" else _normalized(os_, arch, variant, os_version),
        "is_attestation": _bool(attestation),
        "attestation_basis": basis,
        "entry_digest": man.get("manifest_digest") or "",
        "entry_media_type": man.get("manifest_mime") or "",
        "total_size_bytes": _int(man.get("total_size_bytes")),
        "config_digest": man.get("image_id") or "",
        "layer_count": _int(man.get("layer_count")),
    }


def _normalized(os_: str, arch: str, variant: str, os_version: str) -> str:
    sys.path.insert(0, str(REPO_ROOT))  # so the script runs from a checkout without install
    from archlab.platforms import Platform, normalize

    return str(normalize(Platform(os_, arch, variant=variant, os_version=os_version)))


def _evidence(line: str | None, file_name: str) -> str:
    if not line:
        return ""
    match = _EVIDENCE.match(line)
    if not match:
        raise SystemExit(f"{file_name}: unrecognised date_evidence {line!r}; extend _EVIDENCE")
    when = datetime.strptime(match["when"], "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    if match["what"].startswith("layer"):
        kind = "layer-last-modified"
    else:
        kind = "history-portion" if match["portion"] else "history"
    return f"{kind} {when:%Y-%m-%dT%H:%M:%SZ}"


def _check_document(doc: dict[str, Any], file_name: str) -> None:
    """The self-consistency checks of the module docstring's table, for one snapshot."""
    src = doc["source"]
    digests = [("list_digest", doc.get("list_digest"))] + [
        (f"manifests[{i}].manifest_digest", man.get("manifest_digest"))
        for i, man in enumerate(doc["manifests"] or [])
    ]
    for field, value in digests:
        if value is not None and not _DIGEST.match(value):
            raise SystemExit(f"{file_name}: {field} {value!r} is not sha256:<64 hex>; "
                             "correct the transcription")
    if not _COMMIT.match(src["commit"] or ""):
        raise SystemExit(f"{file_name}: source.commit {src['commit']!r} is not a full 40-hex SHA; "
                         "copy the full SHA of the commit read")
    count = doc.get("platforms_count_line")
    listed = len(doc["platforms"] or [])
    if count is not None and count != listed:
        raise SystemExit(f"{file_name}: the source printed 'Platforms: {count}' but {listed} "
                         "platforms were transcribed; re-read the list")
    path = f"repos/{doc['image']}/remote/{doc['tag']}.md"
    if src["path"] != path:
        raise SystemExit(f"{file_name}: source.path {src['path']!r} should be {path!r}")
    evidence = _EVIDENCE.match(src.get("date_evidence") or "")
    if src.get("date") and evidence:
        day = datetime.strptime(evidence["when"], "%a, %d %b %Y %H:%M:%S GMT").date()
        if day.isoformat() != src["date"]:
            raise SystemExit(f"{file_name}: date {src['date']} but its evidence names "
                             f"{day.isoformat()}; correct one of them")


def _check_names_and_sources(documents: dict[str, dict[str, Any]]) -> None:
    read_from: dict[tuple[str, str, str], str] = {}
    for name, doc in documents.items():
        src = doc["source"]
        parts = name.removesuffix(".json").split("__")
        expected = [doc["image"], doc["tag"], src.get("date") or "undated"]
        owner = src["repo"].split("/")[0]
        if parts[:3] != expected or parts[3:] not in ([], [owner]):
            raise SystemExit(f"{name}: file name disagrees with its content; expected "
                             f"{'__'.join(expected)}.json (or __{owner}.json as a suffix)")
        key = (src["repo"], src["commit"], src["path"])
        if key in read_from:
            raise SystemExit(f"{name} and {read_from[key]} were both read from "
                             f"{src['repo']}@{src['commit'][:10]}:{src['path']}; keep one")
        read_from[key] = name


def _cross_check_index(index_path: Path, documents: dict[str, dict[str, Any]]) -> None:
    if not index_path.exists():
        return
    index = json.loads(index_path.read_text(encoding="utf-8"))
    listed = {entry["file"]: entry for entry in index["files"]}
    if set(listed) != set(documents):
        diff = sorted(set(listed) ^ set(documents))
        raise SystemExit(f"index.json and the folder disagree about these files: {diff}")
    for name, entry in listed.items():
        doc = documents[name]
        strings = [p["platform_string"] for p in doc["platforms"] or []]
        if strings != list(entry["platforms"] or []):
            raise SystemExit(f"{name}: platform list differs from index.json")
        mine = {"list_digest": doc.get("list_digest"), **{
            key: doc["source"].get(key) for key in ("date", "repo", "commit", "path")}}
        for key, value in mine.items():
            if key in entry and entry[key] != value:
                raise SystemExit(f"{name}: {key} {value!r} differs from index.json's "
                                 f"{entry[key]!r}")


def _complete(row: dict[str, str]) -> dict[str, str]:
    return {column: row.get(column, "") for column in COLUMNS}


def _sort_key(row: dict[str, str]) -> tuple[Any, ...]:
    # Undated snapshots sort after dated ones; the placeholder row of an empty list first.
    return (
        row["image"],
        row["tag"],
        row["date"] == "",
        row["date"],
        row["source_repo"],
        row["source_commit"],
        row["source_path"],
        int(row["entry_index"]) if row["entry_index"] else -1,
    )


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _int(value: Any) -> str:
    return "" if value is None else str(int(value))


def render_csv(rows: Iterable[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


if __name__ == "__main__":
    sys.exit(main())
