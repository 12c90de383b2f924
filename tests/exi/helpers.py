"""Shared helpers of the EXI codec tests: the ../shared vectors (tests skip cleanly when absent) and the
EXIficient oracle availability."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.exi.oracle import available

HERE = Path(__file__).resolve().parent

ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared"
CAPTURED = SHARED / "vectors" / "captured_exi.jsonl"
PUBLIC = SHARED / "vectors" / "public_vectors.md"

FAMILY_SCHEMA = {"sap": "sap", "din": "din", "iso2": "iso2", "cm": "iso20-cm", "ac": "iso20-ac"}
NS_SCHEMA = {
    "urn:iso:15118:2:2010:AppProtocol": "sap",
    "urn:din:70121:2012:MsgDef": "din",
    "urn:iso:15118:2:2013:MsgDef": "iso2",
    "urn:iso:std:iso:15118:-20:CommonMessages": "iso20-cm",
    "urn:iso:std:iso:15118:-20:AC": "iso20-ac",
    "urn:iso:std:iso:15118:-20:DC": "iso20-dc",
    "urn:iso:std:iso:15118:-20:WPT": "iso20-wpt",
    "urn:iso:std:iso:15118:-20:ACDP": "iso20-acdp",
}

needs_shared = pytest.mark.skipif(not CAPTURED.exists(), reason="../shared vectors not present")
needs_oracle = pytest.mark.skipif(
    not available(), reason="EXIficient oracle (.venv-peers iso15118 + java) missing"
)


def captured() -> list[dict[str, Any]]:
    if not CAPTURED.exists():
        return []
    return [json.loads(line) for line in CAPTURED.read_text().splitlines() if line.strip()]


def public_vectors() -> list[dict[str, Any]]:
    """The EXI vectors of public_vectors.md: id, schema, hex, decoded (None for BAD-*)."""
    if not PUBLIC.exists():
        return []
    out = []
    for sec in re.split(r"\n### ", PUBLIC.read_text())[1:]:
        vid = sec.split(":")[0].strip()
        schema = re.search(r"- Schema: .*?`([^`]+)`", sec)
        hexm = re.search(r"- Hex: `([0-9a-f]+)`", sec)
        if not schema or not hexm:
            continue  # SDP frames: not EXI
        dec = re.search(r"- Decoded: `(.*)`", sec)
        out.append(
            {
                "id": vid,
                "schema": NS_SCHEMA[schema.group(1)],
                "hex": hexm.group(1),
                "decoded": json.loads(dec.group(1)) if dec else None,
            }
        )
    return out
