"""Render a guest's statement document into the QEMU arguments that deliver it.

The guest_view scenario boots the TCG guest with exactly what a host without
libvirt would pass (statement_document.qemu_arguments: -fw_cfg with the
base64 document, -smbios type=11 with the OEM string), so the guest reads
bytes the collection's own renderer produced.

    statement_args.py --statements FILE --host NAME [--domain NAME] [--issued T] --output FILE

FILE holds the hint engine's statements ({name: {granted, reasons: [{code,
message}]}}); the output is a JSON list of QEMU arguments, and the document
text is printed on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def statement_document():
    """Import the renderer as Ansible would, from this checkout."""
    try:
        from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document as sd
        return sd
    except ImportError:
        pass
    root = os.path.join(REPO_ROOT, ".cache", "collections")
    link = os.path.join(root, "ansible_collections", "hvfleet", "smt")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if not os.path.lexists(link):
            os.symlink(REPO_ROOT, link)
    sys.path.insert(0, root)
    from ansible_collections.hvfleet.smt.plugins.module_utils import statement_document as sd
    return sd


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--statements", required=True, help="JSON file with the engine's statements")
    parser.add_argument("--host", required=True)
    parser.add_argument("--domain", default=None)
    parser.add_argument("--issued", default=None, help="UTC time like 2026-11-25T05:00:00Z (default: now)")
    parser.add_argument("--output", required=True, help="where to write the JSON list of QEMU arguments")
    args = parser.parse_args(argv)
    sd = statement_document()
    try:
        with open(args.statements, encoding="utf-8") as handle:
            data = json.load(handle)
        statements = sd.statements_from_data(data, source=args.statements)
        issued = args.issued or datetime.now(timezone.utc)
        text = sd.encode_document(sd.build_document(statements, args.host, args.domain, issued))
    except (OSError, ValueError, sd.RenderError) as err:
        print("statement_args: error: %s" % err, file=sys.stderr)
        return 1
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(sd.qemu_arguments(text), handle)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
