"""EXI corpus round trip with the installed native module, for the emulated wheel tests (scripts/dist-test.sh).

Usage: python3 dist_roundtrip.py captured_exi.jsonl
Decodes every captured message with josev._exi, re-encodes it and compares the bytes; prints the count, the
failures and a sha256 over every decoded JSON document, so that architectures can be compared: a width or
alignment bug in a cross-built module shows as a failure or a different digest. Standard library + josev.
"""

from __future__ import annotations

import hashlib
import json
import sys

from josev import _exi

FAMILY_SCHEMA = {"sap": "sap", "din": "din", "iso2": "iso2", "cm": "iso20-cm", "ac": "iso20-ac"}


def main(argv: list[str]) -> int:
    digest = hashlib.sha256()
    ok = bad = 0
    with open(argv[0]) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            vec = json.loads(line)
            schema = FAMILY_SCHEMA[vec["family"]]
            data = bytes.fromhex(vec["exi_hex"])
            try:
                text = _exi.decode_json(schema, data)
                again = _exi.encode_json(schema, text)
            except ValueError as exc:
                bad += 1
                print(f"line {n} ({schema}): {exc}", file=sys.stderr)
                continue
            digest.update(text.encode())
            if again == data:
                ok += 1
            else:
                bad += 1
                print(f"line {n} ({schema}): re-encoded bytes differ", file=sys.stderr)
    print(f"exi round trip: {ok} ok, {bad} failed, decoded sha256 {digest.hexdigest()[:16]}")
    return 1 if bad or not ok else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
