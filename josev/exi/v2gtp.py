"""V2GTP framing (ISO 15118-2 section 7.8.3) and the payload type -> EXI schema mapping."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Final

#: Payload types that carry EXI, with the schema when the type alone determines it (ISO 15118-20 Table 13:
#: 0x8001 is SAP, DIN 70121 or ISO 15118-2, decided by the negotiated protocol, so it maps to None).
PAYLOAD_SCHEMAS: Final[dict[int, str | None]] = {
    0x8001: None,
    0x8002: "iso20-cm",
    0x8003: "iso20-ac",
    0x8004: "iso20-dc",
    0x8005: "iso20-acdp",
    0x8006: "iso20-wpt",
}
SCHEMA_PAYLOADS: Final[dict[str, int]] = {
    "sap": 0x8001,
    "din": 0x8001,
    "iso2": 0x8001,
    "iso20-cm": 0x8002,
    "iso20-ac": 0x8003,
    "iso20-dc": 0x8004,
    "iso20-acdp": 0x8005,
    "iso20-wpt": 0x8006,
}
HEADER: Final = struct.Struct(">BBHI")
VERSION: Final = 0x01


class FrameError(ValueError):
    """A malformed V2GTP frame."""


@dataclass(frozen=True)
class Frame:
    """One V2GTP frame."""

    payload_type: int
    payload: bytes


def parse_frame(data: bytes) -> Frame:
    """Parse exactly one V2GTP frame (header + payload, nothing after)."""
    if len(data) < HEADER.size:
        raise FrameError(f"V2GTP frame too short ({len(data)} bytes, header is 8)")
    version, inverse, ptype, length = HEADER.unpack_from(data)
    if version != VERSION or inverse != (~version & 0xFF):
        raise FrameError(f"bad V2GTP version bytes {version:#04x} {inverse:#04x}")
    if length != len(data) - HEADER.size:
        raise FrameError(f"V2GTP length field {length} but {len(data) - HEADER.size} payload bytes")
    return Frame(ptype, bytes(data[HEADER.size :]))


def build_frame(payload_type: int, payload: bytes) -> bytes:
    """Build a V2GTP frame."""
    return HEADER.pack(VERSION, ~VERSION & 0xFF, payload_type, len(payload)) + payload


def schema_for_payload_type(payload_type: int, schema: str | None = None) -> str:
    """The EXI schema for a payload type; ``schema`` is required (and checked) for the ambiguous 0x8001."""
    if payload_type not in PAYLOAD_SCHEMAS:
        raise FrameError(f"payload type {payload_type:#06x} does not carry EXI")
    fixed = PAYLOAD_SCHEMAS[payload_type]
    if fixed is None:
        if schema is None:
            raise FrameError("payload type 0x8001 is SAP, DIN 70121 or ISO 15118-2: the schema must be given")
        if SCHEMA_PAYLOADS.get(schema) != payload_type:
            raise FrameError(f"schema {schema} does not use payload type {payload_type:#06x}")
        return schema
    if schema is not None and schema != fixed:
        raise FrameError(f"payload type {payload_type:#06x} is {fixed}, not {schema}")
    return fixed


def decode_frame(data: bytes, schema: str | None = None) -> tuple[str, dict[str, Any]]:
    """Decode a whole V2GTP frame carrying EXI: returns (schema, message). ``schema`` is required for 0x8001."""
    from josev import exi

    frame = parse_frame(data)
    name = schema_for_payload_type(frame.payload_type, schema)
    return name, exi.decode(name, frame.payload)


def encode_frame(schema: str, message: dict[str, Any]) -> bytes:
    """Encode a message and wrap it in a V2GTP frame with the schema's payload type."""
    from josev import exi

    if schema not in SCHEMA_PAYLOADS:
        raise FrameError(f"schema {schema} has no V2GTP payload type")
    return build_frame(SCHEMA_PAYLOADS[schema], exi.encode(schema, message))
