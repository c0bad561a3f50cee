"""``archlab verify REF...``: the list entry, the config and the binary of each image, compared.

Each reference is answered as soon as it is known. The exit status says the worst that was
found, so a CI pipeline can gate on it (see EPILOG).
"""

from __future__ import annotations

import argparse
import sys

from archlab.cli.options import add_client_options, open_registry
from archlab.errors import ArchlabError, NoMatchingManifestError

EXIT_DISAGREES = 3
EXIT_WONT_START = 4

EPILOG = """\
For each entry (or the one Docker 20.10 pulls for --platform), archlab fetches the config,
finds what the container would start (Entrypoint + Cmd, PATH from the config, symbolic links
followed in the merged layers, whiteouts honoured, a #! script's interpreter too) and reads
its ELF header: class, byte order, e_machine, ARM EABI and float ABI. Layers are streamed top
layer first and dropped as soon as the headers needed have passed; nothing is written to disk.
Attestations, signatures, SBOMs, Helm charts and WASM entries are named and skipped.

verdicts:
  consistent                 list, config and binary agree, and the command would start
  list and config disagree   the list entry and the config name different platforms
  binary disagrees           the ELF header names another platform than its labels
  missing loader             dynamically linked, and its loader is not in the image
  not an executable          a directory, no execute bit, or neither ELF nor #! script
  not found                  no command, or it (or its interpreter) is not in the image
  not an image               an artifact entry: nothing to run (not a failure)
  not checked                schema 1, a non-Linux image, a nested index, a foreign layer

exit status:
  0  every image entry is consistent (artifact entries are skipped)
  1  a failure archlab explains in one line (registry, reference, unsafe layer, ...)
  2  bad usage
  3  a label disagrees: "binary disagrees" or "list and config disagree"
  4  no label disagrees, but some image would not start (not found, not an
     executable, missing loader)

examples:
  archlab verify 127.0.0.1:5000/lab/mislabelled:latest
      -> linux/arm64/v8 ... binary disagrees (the ELF header says linux/amd64)   (exit 3)
  archlab verify 127.0.0.1:5000/lab/busybox:latest --platform linux/arm/v7
  archlab verify 127.0.0.1:5000/lab/mislabelled --json     # after `archlab lab up --port 5000`
  archlab verify 127.0.0.1:5000/lab/mislabelled --snapshot lab   # offline: the shipped lab
  archlab verify alpine:3.20 && docker push ...     # gate a pipeline on it
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "verify", parents=[common],
        help="check each image's binary against its list entry and config platform",
        description="Compare the three witnesses of each image's platform: the list entry, "
                    "the config, and the ELF header of what the container would start.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("refs", nargs="+", metavar="REF", help="image reference, e.g. mysql:5.7")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="check only the entry Docker Engine 20.10 would pull for it")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    add_client_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from archlab import verify as verify_mod
    results = []
    failed = False
    with open_registry(args) as reg:
        for ref in args.refs:
            try:
                v = verify_mod.verify(ref, client=reg, platform=args.platform)
            except NoMatchingManifestError as exc:
                print(str(exc), file=sys.stderr)  # Docker's text, bare
                failed = True
                continue
            except ArchlabError as exc:
                if len(args.refs) == 1:
                    raise
                print(f"archlab: {exc}", file=sys.stderr)
                failed = True
                continue
            results.append(v)
            if not args.json:
                if len(results) > 1:
                    print()
                sys.stdout.write(verify_mod.format_text(v))
                sys.stdout.flush()
    if args.json and results:
        sys.stdout.write(verify_mod.dumps_json(results))
    if any(v.disagrees for v in results):
        return EXIT_DISAGREES
    if any(not v.ok for v in results):
        return EXIT_WONT_START
    return 1 if failed else 0
