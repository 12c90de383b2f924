"""V2GTP framing (ISO 15118-2 clause 7.8.3, DIN SPEC 70121 clause 8.7.3), sans-IO.

A frame is an 8-byte header (version 0x01, inverse version 0xFE, 16-bit payload type, 32-bit payload length)
followed by the payload. :class:`Deframer` turns a TCP byte stream into frames and reports header errors the
way the standards require: a wrong version pattern or an oversized payload means the connection must be closed
([V2G2-064]..[V2G2-067]); an unknown payload type means the message is discarded and the stream continues.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

HEADER_LEN = 8
VERSION = 0x01
INVERSE_VERSION = 0xFE
#: Default maximum payload accepted (bytes); large enough for PnC certificate chains.
DEFAULT_MAX_PAYLOAD = 64 * 1024


class PayloadType(IntEnum):
    """V2GTP payload types."""

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


KNOWN_PAYLOAD_TYPES = frozenset(int(p) for p in PayloadType)


class V2gtpError(Exception):
    """A V2GTP header error. ``fatal`` means the connection must be closed."""

    def __init__(self, reason: str, *, fatal: bool) -> None:
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
    return struct.pack("!BBHI", VERSION, INVERSE_VERSION, payload_type, len(payload)) + payload


def parse_header(header: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> tuple[int, int]:
    """Check an 8-byte header; return ``(payload_type, length)`` or raise a fatal :class:`V2gtpError`."""
    if len(header) != HEADER_LEN:
        raise V2gtpError(f"header must be {HEADER_LEN} bytes, got {len(header)}", fatal=True)
    version, inverse, ptype, length = struct.unpack("!BBHI", header)
    if version != VERSION or inverse != INVERSE_VERSION or (version ^ 0xFF) != inverse:
        raise V2gtpError(f"bad protocol version 0x{version:02x}/0x{inverse:02x}", fatal=True)
    if length > max_payload:
        raise V2gtpError(f"payload length {length} exceeds maximum {max_payload}", fatal=True)
    return ptype, length


def parse_datagram(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Frame:
    """Parse a whole UDP datagram as exactly one V2GTP frame (SDP)."""
    ptype, length = parse_header(data[:HEADER_LEN], max_payload)
    if len(data) != HEADER_LEN + length:
        raise V2gtpError(f"datagram length {len(data)} does not match header length {length}", fatal=True)
    return Frame(ptype, bytes(data[HEADER_LEN:]))


class Deframer:
    """Incremental V2GTP stream parser.

    ``feed(data)`` returns the complete frames found. Frames with an unknown payload type are dropped and
    counted in ``discarded``; a fatal header error raises :class:`V2gtpError`, after which the deframer
    stays broken.
    """

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buf = bytearray()
        self._need: tuple[int, int] | None = None
        self.discarded = 0
        self.broken: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes from the stream and return the complete frames now available."""
        if self.broken is not None:
            raise V2gtpError(f"stream already broken: {self.broken}", fatal=True)
        self._buf += data
        out: list[Frame] = []
        while True:
            if self._need is None:
                if len(self._buf) < HEADER_LEN:
                    return out
                try:
                    self._need = parse_header(bytes(self._buf[:HEADER_LEN]), self.max_payload)
                except V2gtpError as e:
                    self.broken = e.reason
                    raise
                del self._buf[:HEADER_LEN]
            ptype, length = self._need
            if len(self._buf) < length:
                return out
            payload = bytes(self._buf[:length])
            del self._buf[:length]
            self._need = None
            if ptype in KNOWN_PAYLOAD_TYPES:
                out.append(Frame(ptype, payload))
            else:
                self.discarded += 1
