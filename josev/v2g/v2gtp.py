"""V2GTP framing (ISO 15118-2 clause 7.8.3, DIN SPEC 70121 clause 8.7.3, ISO 15118-20 clause 7.8.3), sans-IO.

The one V2GTP framer of josev: the SECC session cores, the SECC shell's message log, the EV simulator, the
EXI command line and the tests all use it.

A frame is an 8-byte header (version 0x01, inverse version 0xFE, 16-bit payload type, 32-bit payload length)
followed by the payload. :class:`Deframer` turns a TCP byte stream into frames and reports header errors the
way the standards require: a wrong version pattern or an oversized payload means the connection must be closed
([V2G2-064]..[V2G2-067]); an unknown payload type means the message is discarded and the stream continues.
:func:`parse_frame` checks one whole frame (a UDP datagram, a frame given on the command line);
:class:`RxSplitter` cuts a received stream into frames for the message log and never raises.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

HEADER: Final = struct.Struct("!BBHI")
HEADER_LEN: Final = HEADER.size
VERSION: Final = 0x01
INVERSE_VERSION: Final = 0xFE
#: Default maximum payload accepted (bytes); large enough for PnC certificate chains.
DEFAULT_MAX_PAYLOAD: Final = 64 * 1024


class PayloadType(IntEnum):
    """V2GTP payload types (ISO 15118-20 Table 13)."""

    EXI = 0x8001  # SAP, DIN and ISO 15118-2 messages
    EXI_20_MAIN = 0x8002  # ISO 15118-20 CommonMessages
    EXI_20_AC = 0x8003
    EXI_20_DC = 0x8004
    EXI_20_ACDP = 0x8005
    EXI_20_WPT = 0x8006
    EXI_20_SCHEDULE_RENEGOTIATION = 0x8101
    EXI_20_METERING_CONFIRMATION = 0x8102
    EXI_20_ACDP_SYSTEM_STATUS = 0x8103
    EXI_20_PARKING_STATUS = 0x8104
    SDP_REQUEST = 0x9000
    SDP_RESPONSE = 0x9001
    SDP_REQUEST_EMSP = 0x9002
    SDP_RESPONSE_EMSP = 0x9003


KNOWN_PAYLOAD_TYPES: Final = frozenset(int(p) for p in PayloadType)

#: Payload types that carry EXI, with the schema when the type alone determines it (0x8001 is SAP, DIN 70121
#: or ISO 15118-2, decided by the negotiated protocol, so it maps to None).
PAYLOAD_SCHEMAS: Final[dict[int, str | None]] = {
    PayloadType.EXI: None,
    PayloadType.EXI_20_MAIN: "iso20-cm",
    PayloadType.EXI_20_AC: "iso20-ac",
    PayloadType.EXI_20_DC: "iso20-dc",
    PayloadType.EXI_20_ACDP: "iso20-acdp",
    PayloadType.EXI_20_WPT: "iso20-wpt",
}
#: The payload type each EXI schema is sent with.
SCHEMA_PAYLOADS: Final[dict[str, int]] = {
    "sap": PayloadType.EXI,
    "din": PayloadType.EXI,
    "iso2": PayloadType.EXI,
    "iso20-cm": PayloadType.EXI_20_MAIN,
    "iso20-ac": PayloadType.EXI_20_AC,
    "iso20-dc": PayloadType.EXI_20_DC,
    "iso20-acdp": PayloadType.EXI_20_ACDP,
    "iso20-wpt": PayloadType.EXI_20_WPT,
}


class V2gtpError(ValueError):
    """A malformed V2GTP frame or header. ``fatal`` means the connection must be closed."""

    def __init__(self, reason: str, *, fatal: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal


@dataclass(frozen=True, slots=True)
class Frame:
    """One V2GTP message."""

    payload_type: int
    payload: bytes


def frame(payload_type: int, payload: bytes) -> bytes:
    """Return ``payload`` with a V2GTP header in front."""
    return HEADER.pack(VERSION, INVERSE_VERSION, payload_type, len(payload)) + payload


def _check(version: int, inverse: int, length: int, max_payload: int | None) -> None:
    if version != VERSION or inverse != INVERSE_VERSION:
        raise V2gtpError(
            f"bad V2GTP protocol version 0x{version:02x}, inverse 0x{inverse:02x} "
            f"(must be 0x{VERSION:02x}, 0x{INVERSE_VERSION:02x})"
        )
    if max_payload is not None and length > max_payload:
        raise V2gtpError(f"V2GTP payload length {length} exceeds the maximum {max_payload}")


def parse_header(header: bytes, max_payload: int | None = DEFAULT_MAX_PAYLOAD) -> tuple[int, int]:
    """Check an 8-byte header; return ``(payload_type, length)`` or raise a fatal :class:`V2gtpError`."""
    if len(header) != HEADER_LEN:
        raise V2gtpError(f"V2GTP header must be {HEADER_LEN} bytes, got {len(header)}")
    version, inverse, ptype, length = HEADER.unpack(header)
    _check(version, inverse, length, max_payload)
    return ptype, length


def parse_frame(data: bytes, max_payload: int | None = None) -> Frame:
    """Parse exactly one whole V2GTP frame (header + payload, nothing after), e.g. an SDP datagram."""
    if len(data) < HEADER_LEN:
        raise V2gtpError(f"V2GTP frame too short ({len(data)} bytes, header is {HEADER_LEN})")
    version, inverse, ptype, length = HEADER.unpack_from(data)
    _check(version, inverse, length, max_payload)
    if length != len(data) - HEADER_LEN:
        raise V2gtpError(f"V2GTP length field {length} but {len(data) - HEADER_LEN} payload bytes")
    return Frame(ptype, bytes(data[HEADER_LEN:]))


def parse_datagram(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Frame:
    """Parse a whole UDP datagram as exactly one V2GTP frame (SDP), at most ``max_payload`` long."""
    return parse_frame(data, max_payload)


class Deframer:
    """Incremental V2GTP stream parser.

    ``feed(data)`` returns the complete frames found. Frames with an unknown payload type are dropped and
    counted in ``discarded``; a fatal header error raises :class:`V2gtpError`, after which the deframer
    stays broken.
    """

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buf = bytearray()
        self.discarded = 0
        self.broken: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes from the stream and return the complete frames now available."""
        if self.broken is not None:
            raise V2gtpError(f"V2GTP stream already broken: {self.broken}")
        buf = self._buf
        buf += data
        out: list[Frame] = []
        pos, end = 0, len(buf)
        try:
            while end - pos >= HEADER_LEN:
                version, inverse, ptype, length = HEADER.unpack_from(buf, pos)
                if version != VERSION or inverse != INVERSE_VERSION or length > self.max_payload:
                    try:
                        _check(version, inverse, length, self.max_payload)
                    except V2gtpError as e:
                        self.broken = e.reason
                        raise
                start = pos + HEADER_LEN
                if end - start < length:
                    break
                pos = start + length
                if ptype in KNOWN_PAYLOAD_TYPES:
                    out.append(Frame(ptype, bytes(buf[start:pos])))
                else:
                    self.discarded += 1
        finally:
            del buf[:pos]
        return out


class RxSplitter:
    """Cuts a received byte stream into V2GTP frames for the message log; never raises, has no length limit
    (the session's :class:`Deframer` enforces it)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes, max_frames: int = 1 << 30) -> list[bytes]:
        """The complete frames so far, at most ``max_frames`` (the rest stays buffered)."""
        self.buf += data
        out: list[bytes] = []
        while len(self.buf) >= HEADER_LEN and len(out) < max_frames:
            if self.buf[0] != VERSION or self.buf[1] != INVERSE_VERSION:
                out.append(bytes(self.buf))  # not V2GTP: log the bytes as they came
                self.buf.clear()
                break
            n = HEADER_LEN + int.from_bytes(self.buf[4:8], "big")
            if len(self.buf) < n:
                break
            out.append(bytes(self.buf[:n]))
            del self.buf[:n]
        return out


def schema_for_payload_type(payload_type: int, schema: str | None = None) -> str:
    """The EXI schema for a payload type; ``schema`` is required (and checked) for the ambiguous 0x8001."""
    if payload_type not in PAYLOAD_SCHEMAS:
        raise V2gtpError(f"payload type {payload_type:#06x} does not carry EXI")
    fixed = PAYLOAD_SCHEMAS[payload_type]
    if fixed is None:
        if schema is None:
            raise V2gtpError("payload type 0x8001 is SAP, DIN 70121 or ISO 15118-2: the schema must be given")
        if SCHEMA_PAYLOADS.get(schema) != payload_type:
            raise V2gtpError(f"schema {schema} does not use payload type {payload_type:#06x}")
        return schema
    if schema is not None and schema != fixed:
        raise V2gtpError(f"payload type {payload_type:#06x} is {fixed}, not {schema}")
    return fixed


def decode_frame(data: bytes, schema: str | None = None) -> tuple[str, dict[str, Any]]:
    """Decode a whole V2GTP frame carrying EXI: returns (schema, message). ``schema`` is required for 0x8001."""
    from josev import exi

    f = parse_frame(data)
    name = schema_for_payload_type(f.payload_type, schema)
    return name, exi.decode(name, f.payload)


def encode_frame(schema: str, message: dict[str, Any]) -> bytes:
    """Encode a message and wrap it in a V2GTP frame with the schema's payload type."""
    from josev import exi

    if schema not in SCHEMA_PAYLOADS:
        raise V2gtpError(f"schema {schema} has no V2GTP payload type")
    return frame(SCHEMA_PAYLOADS[schema], exi.encode(schema, message))
