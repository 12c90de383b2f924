"""SECC Discovery Protocol (ISO 15118-2 clause 7.10.1), sans-IO.

The EV multicasts an SDP request (V2GTP payload type 0x9000, 2 bytes: security, transport protocol) to
``ff02::1`` UDP port 15118; the SECC answers unicast with its IPv6 address, TCP port, security and transport
(payload type 0x9001, 20 bytes).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from enum import IntEnum

from josev.v2g import v2gtp

SDP_PORT = 15118
SDP_MULTICAST = "ff02::1"


class Security(IntEnum):
    """SDP security byte."""

    TLS = 0x00
    NO_TLS = 0x10


class Transport(IntEnum):
    """SDP transport protocol byte."""

    TCP = 0x00
    UDP = 0x10  # reserved, never offered by the SECC


class SdpError(ValueError):
    """A malformed SDP datagram (to be dropped and counted)."""


@dataclass(frozen=True, slots=True)
class SdpRequest:
    """What the EV asks for."""

    security: int
    transport: int


@dataclass(frozen=True, slots=True)
class SdpResponse:
    """Where the SECC listens."""

    address: str
    port: int
    security: int
    transport: int = Transport.TCP


def encode_request(req: SdpRequest) -> bytes:
    """Full V2GTP frame of an SDP request."""
    return v2gtp.frame(v2gtp.PayloadType.SDP_REQUEST, bytes([req.security, req.transport]))


def decode_request(data: bytes) -> SdpRequest:
    """Parse an SDP request datagram or raise :class:`SdpError`."""
    try:
        fr = v2gtp.parse_datagram(data, max_payload=64)
    except v2gtp.V2gtpError as e:
        raise SdpError(e.reason) from e
    if fr.payload_type != v2gtp.PayloadType.SDP_REQUEST:
        raise SdpError(f"not an SDP request: payload type 0x{fr.payload_type:04x}")
    if len(fr.payload) != 2:
        raise SdpError(f"SDP request payload must be 2 bytes, got {len(fr.payload)}")
    return SdpRequest(fr.payload[0], fr.payload[1])


def encode_response(res: SdpResponse) -> bytes:
    """Full V2GTP frame of an SDP response."""
    addr = ipaddress.IPv6Address(res.address.split("%")[0]).packed
    payload = addr + struct.pack("!HBB", res.port, res.security, res.transport)
    return v2gtp.frame(v2gtp.PayloadType.SDP_RESPONSE, payload)


def decode_response(data: bytes) -> SdpResponse:
    """Parse an SDP response datagram or raise :class:`SdpError`."""
    try:
        fr = v2gtp.parse_datagram(data, max_payload=64)
    except v2gtp.V2gtpError as e:
        raise SdpError(e.reason) from e
    if fr.payload_type != v2gtp.PayloadType.SDP_RESPONSE or len(fr.payload) != 20:
        raise SdpError("not a 20-byte SDP response")
    port, sec, tr = struct.unpack("!HBB", fr.payload[16:])
    return SdpResponse(str(ipaddress.IPv6Address(fr.payload[:16])), port, sec, tr)


@dataclass(slots=True)
class SdpServer:
    """The SECC's SDP logic: request datagram in, response datagram (or ``None`` to stay silent) out.

    ``tls_port`` is ``None`` when TLS is not configured; ``enforce_tls`` refuses plain TCP (no answer to an EV
    asking for it, so the EV gives up or retries with TLS) -- the seam for ISO 15118-20 / TLS (issue 7).
    """

    address: str
    tcp_port: int
    tls_port: int | None = None
    enforce_tls: bool = False
    answered: int = 0
    dropped: int = 0

    def handle(self, data: bytes) -> bytes | None:
        """Answer one datagram; malformed ones are dropped and counted."""
        try:
            req = decode_request(data)
        except SdpError:
            self.dropped += 1
            return None
        if req.transport != Transport.TCP:
            self.dropped += 1
            return None
        if self.tls_port is not None and (req.security == Security.TLS or self.enforce_tls):
            res = SdpResponse(self.address, self.tls_port, Security.TLS)
        else:
            res = SdpResponse(self.address, self.tcp_port, Security.NO_TLS)
        self.answered += 1
        return encode_response(res)
