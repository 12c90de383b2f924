"""Ethernet II / IPv6 / TCP / UDP packet building (RFC 8200, RFC 9293, RFC 768), sans-IO.

Only what the V2G log export needs: well-formed headers with correct lengths and checksums (computed over the
IPv6 pseudo-header), so that Wireshark and tshark accept the rebuilt packets as if they had been captured on
the PLC link.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

ETHERTYPE_IPV6 = 0x86DD
NEXT_HEADER_TCP = 6
NEXT_HEADER_UDP = 17
IPV6_HEADER_LEN = 40
TCP_HEADER_LEN = 20
UDP_HEADER_LEN = 8
ETHERNET_HEADER_LEN = 14
DEFAULT_HOP_LIMIT = 64

# TCP flags
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10


class PacketError(ValueError):
    """An address, port or length that cannot go into a packet."""


def mac_bytes(mac: str) -> bytes:
    """``"02:00:00:00:00:01"`` (or ``-`` separated) as 6 bytes."""
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6:
        raise PacketError(f"invalid MAC address {mac!r}")
    try:
        out = bytes(int(p, 16) for p in parts)
    except ValueError:
        raise PacketError(f"invalid MAC address {mac!r}") from None
    return out


def ipv6_bytes(addr: str) -> bytes:
    """An IPv6 address (a ``%scope`` suffix is ignored) as 16 bytes."""
    try:
        return ipaddress.IPv6Address(addr.split("%", 1)[0]).packed
    except ValueError:
        raise PacketError(f"invalid IPv6 address {addr!r}") from None


def link_local_from_mac(mac: str) -> str:
    """The EUI-64 link-local address (``fe80::...``) a host with ``mac`` configures (RFC 4291 appendix A)."""
    b = bytearray(mac_bytes(mac))
    b[0] ^= 0x02
    iid = bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + iid))


def multicast_mac(addr: str) -> str:
    """The Ethernet destination of an IPv6 multicast address (33:33 + its last 32 bits, RFC 2464)."""
    tail = ipv6_bytes(addr)[-4:]
    return ":".join(f"{x:02x}" for x in b"\x33\x33" + tail)


def checksum16(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's-complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: bytes, dst: bytes, length: int, next_header: int) -> bytes:
    return src + dst + struct.pack("!I3xB", length, next_header)


def _port(p: int) -> int:
    if not 0 <= p <= 0xFFFF:
        raise PacketError(f"port out of range: {p}")
    return p


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of a link: MAC address, IPv6 address and port."""

    mac: str
    ip: str
    port: int


def tcp_segment(
    src: Endpoint,
    dst: Endpoint,
    *,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    window: int = 0xFFFF,
    mss: int | None = None,
) -> bytes:
    """A TCP segment (header + payload) with its checksum over the IPv6 pseudo-header.

    ``mss``: add the maximum-segment-size option (SYN segments).
    """
    options = struct.pack("!BBH", 2, 4, mss) if mss is not None else b""
    offset_words = (TCP_HEADER_LEN + len(options)) // 4
    header = struct.pack(
        "!HHIIBBHHH",
        _port(src.port),
        _port(dst.port),
        seq & 0xFFFFFFFF,
        ack & 0xFFFFFFFF if flags & ACK else 0,
        offset_words << 4,
        flags,
        window,
        0,
        0,
    )
    segment = header + options + payload
    csum = checksum16(
        _pseudo_header(ipv6_bytes(src.ip), ipv6_bytes(dst.ip), len(segment), NEXT_HEADER_TCP) + segment
    )
    return segment[:16] + struct.pack("!H", csum) + segment[18:]


def udp_datagram(src: Endpoint, dst: Endpoint, payload: bytes) -> bytes:
    """A UDP datagram with its (mandatory for IPv6) checksum."""
    length = UDP_HEADER_LEN + len(payload)
    if length > 0xFFFF:
        raise PacketError(f"UDP payload too long: {len(payload)} bytes")
    body = struct.pack("!HHHH", _port(src.port), _port(dst.port), length, 0) + payload
    csum = checksum16(_pseudo_header(ipv6_bytes(src.ip), ipv6_bytes(dst.ip), length, NEXT_HEADER_UDP) + body)
    return body[:6] + struct.pack("!H", csum or 0xFFFF) + body[8:]


def ipv6_packet(
    src_ip: str, dst_ip: str, next_header: int, payload: bytes, hop_limit: int = DEFAULT_HOP_LIMIT
) -> bytes:
    """An IPv6 packet: the fixed 40-byte header (no extension headers) and ``payload``."""
    if len(payload) > 0xFFFF:
        raise PacketError(f"IPv6 payload too long: {len(payload)} bytes (no jumbograms)")
    header = struct.pack("!IHBB", 6 << 28, len(payload), next_header, hop_limit)
    return header + ipv6_bytes(src_ip) + ipv6_bytes(dst_ip) + payload


def ethernet_frame(src_mac: str, dst_mac: str, ethertype: int, payload: bytes) -> bytes:
    """An Ethernet II frame (no FCS, as captured)."""
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ethertype) + payload


def tcp_frame(
    src: Endpoint,
    dst: Endpoint,
    *,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    mss: int | None = None,
) -> bytes:
    """A whole Ethernet/IPv6/TCP frame."""
    seg = tcp_segment(src, dst, seq=seq, ack=ack, flags=flags, payload=payload, mss=mss)
    return ethernet_frame(src.mac, dst.mac, ETHERTYPE_IPV6, ipv6_packet(src.ip, dst.ip, NEXT_HEADER_TCP, seg))


def udp_frame(src: Endpoint, dst: Endpoint, payload: bytes) -> bytes:
    """A whole Ethernet/IPv6/UDP frame (multicast destinations get their 33:33 MAC)."""
    dst_mac = multicast_mac(dst.ip) if ipv6_bytes(dst.ip)[0] == 0xFF else dst.mac
    dgram = udp_datagram(src, dst, payload)
    return ethernet_frame(
        src.mac, dst_mac, ETHERTYPE_IPV6, ipv6_packet(src.ip, dst.ip, NEXT_HEADER_UDP, dgram)
    )
