"""Reading V2G traffic back from a capture (pcapng, or classic pcap), sans-IO: bytes in, frames out.

:func:`read_packets` walks the blocks of a pcapng file (Enhanced and Simple Packet Blocks, per-interface
link type and timestamp resolution, packet comments) or the records of a classic pcap file.
:func:`v2g_frames` then takes what the V2G log and a real PLC capture carry: IPv6 UDP datagrams on port
15118 (SDP), TCP streams cut into V2GTP frames per direction (in order of sequence numbers; retransmitted
bytes are dropped) and HomePlug AV frames (SLAC). Malformed input raises :class:`CaptureError` naming the
offset; what is not V2G is skipped.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from josev.v2g import v2gtp

LINKTYPE_ETHERNET = 1
ETH_IPV6 = 0x86DD
ETH_VLAN = 0x8100
ETH_HOMEPLUG = 0x88E1
SDP_PORT = 15118


class CaptureError(ValueError):
    """The file is not a capture this reader understands, or is cut short."""


@dataclass(frozen=True, slots=True)
class CapturedPacket:
    """One link-layer frame: capture time (s), bytes, link type and comment."""

    timestamp: float
    data: bytes
    linktype: int = LINKTYPE_ETHERNET
    comment: str = ""


def _pcapng(data: bytes) -> Iterator[CapturedPacket]:
    off = 0
    endian = "<"
    ifaces: list[tuple[int, float]] = []  # (linktype, seconds per tick)
    while off + 12 <= len(data):
        btype = struct.unpack_from(endian + "I", data, off)[0]
        if btype == 0x0A0D0D0A:  # section header: byte order first
            magic = data[off + 8 : off + 12]
            endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">" if magic == b"\x1a\x2b\x3c\x4d" else ""
            if not endian:
                raise CaptureError(f"offset {off}: bad byte-order magic")
            ifaces = []
        blen = struct.unpack_from(endian + "I", data, off + 4)[0]
        if blen < 12 or blen % 4 or off + blen > len(data):
            raise CaptureError(f"offset {off}: block length {blen} does not fit the file")
        body = data[off + 8 : off + blen - 4]
        if btype == 0x00000001:
            linktype = struct.unpack_from(endian + "H", body, 0)[0]
            ifaces.append((linktype, _tsresol(body[8:], endian)))
        elif btype == 0x00000006:
            iface, hi, lo, caplen = struct.unpack_from(endian + "IIII", body, 0)
            if iface >= len(ifaces):
                raise CaptureError(f"offset {off}: packet of undeclared interface {iface}")
            linktype, tick = ifaces[iface]
            pkt = body[20 : 20 + caplen]
            opts = body[20 + caplen + (-caplen % 4) :]
            yield CapturedPacket(((hi << 32) | lo) * tick, pkt, linktype, _comment(opts, endian))
        elif btype == 0x00000003 and ifaces:
            yield CapturedPacket(0.0, body[4:], ifaces[0][0])
        off += blen
    if off != len(data):
        raise CaptureError(f"offset {off}: file ends inside a block")


def _options(opts: bytes, endian: str) -> Iterator[tuple[int, bytes]]:
    off = 0
    while off + 4 <= len(opts):
        code, length = struct.unpack_from(endian + "HH", opts, off)
        if code == 0:
            return
        yield code, opts[off + 4 : off + 4 + length]
        off += 4 + length + (-length % 4)


def _tsresol(opts: bytes, endian: str) -> float:
    for code, value in _options(opts, endian):
        if code == 9 and value:
            r = value[0]
            return 2.0 ** -(r & 0x7F) if r & 0x80 else 10.0**-r
    return 1e-6


def _comment(opts: bytes, endian: str) -> str:
    return next((v.decode(errors="replace") for c, v in _options(opts, endian) if c == 1), "")


def _pcap(data: bytes) -> Iterator[CapturedPacket]:
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    tick = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    off = 24
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack_from(endian + "IIII", data, off)
        if off + 16 + caplen > len(data):
            raise CaptureError(f"offset {off}: record cut short")
        yield CapturedPacket(sec + frac * tick, data[off + 16 : off + 16 + caplen], linktype)
        off += 16 + caplen


def read_packets(data: bytes) -> list[CapturedPacket]:
    """Every packet of a pcapng or pcap file (raises :class:`CaptureError`)."""
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        return list(_pcapng(data))
    if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        if len(data) < 24:
            raise CaptureError("pcap header cut short")
        return list(_pcap(data))
    raise CaptureError("not a pcapng or pcap file")


@dataclass(frozen=True, slots=True)
class V2gFrame:
    """One V2G-relevant frame found in a capture."""

    timestamp: float
    kind: str
    """``sdp``, ``tcp`` (a V2GTP frame of a TCP stream) or ``slac`` (a HomePlug AV frame)."""
    src: str
    """``[ip]:port`` or a MAC address (SLAC)."""
    dst: str
    data: bytes
    """The whole V2GTP frame (SDP, TCP) or Ethernet frame (SLAC)."""
    from_ev: bool
    connection: int = 0
    """TCP connection number in the capture (1, 2, ...; 0 for SDP and SLAC)."""
    comment: str = ""


@dataclass
class _Stream:
    no: int
    client: tuple[str, int]
    next_seq: int | None = None
    frames: v2gtp.RxSplitter = field(default_factory=v2gtp.RxSplitter)


def _ep(ip: bytes, port: int) -> tuple[str, int]:
    return str(ipaddress.IPv6Address(ip)), port


def v2g_frames(packets: list[CapturedPacket]) -> list[V2gFrame]:
    """SDP datagrams, V2GTP frames of TCP streams and SLAC frames, in capture order."""
    out: list[V2gFrame] = []
    streams: dict[tuple[tuple[str, int], tuple[str, int]], _Stream] = {}
    conns = 0
    for p in packets:
        if p.linktype != LINKTYPE_ETHERNET or len(p.data) < 14:
            continue
        eth = p.data
        (etype,) = struct.unpack_from("!H", eth, 12)
        off = 14
        if etype == ETH_VLAN and len(eth) >= 18:
            (etype,) = struct.unpack_from("!H", eth, 16)
            off = 18
        if etype == ETH_HOMEPLUG:
            src, dst = eth[6:12].hex(":"), eth[0:6].hex(":")
            out.append(V2gFrame(p.timestamp, "slac", src, dst, eth, False, 0, p.comment))
            continue
        if etype != ETH_IPV6 or len(eth) < off + 40:
            continue
        plen, nh = struct.unpack_from("!HB", eth, off + 4)
        sip, dip = eth[off + 8 : off + 24], eth[off + 24 : off + 40]
        l4 = eth[off + 40 : off + 40 + plen]
        if nh == 17 and len(l4) >= 8:
            sport, dport = struct.unpack_from("!HH", l4, 0)
            if SDP_PORT not in (sport, dport):
                continue
            s, d = _ep(sip, sport), _ep(dip, dport)
            out.append(
                V2gFrame(p.timestamp, "sdp", _fmt(s), _fmt(d), l4[8:], dport == SDP_PORT, 0, p.comment)
            )
        elif nh == 6 and len(l4) >= 20:
            sport, dport, seq = struct.unpack_from("!HHI", l4, 0)
            flags = l4[13]
            hlen = (l4[12] >> 4) * 4
            payload = l4[hlen:]
            s, d = _ep(sip, sport), _ep(dip, dport)
            key = (s, d)
            st = streams.get(key)
            if st is None:
                rev = streams.get((d, s))
                if flags & 0x02 and not flags & 0x10:  # SYN: s is the client (the EV)
                    conns += 1
                    st = streams[key] = _Stream(conns, s)
                    streams[(d, s)] = _Stream(conns, s)
                elif rev is not None:
                    st = streams[key] = _Stream(rev.no, rev.client)
                elif payload:  # a capture that starts mid-connection: the higher port is the EV's
                    conns += 1
                    client = s if sport > dport else d
                    st = streams[key] = _Stream(conns, client)
                    streams[(d, s)] = _Stream(conns, client)
                else:
                    continue
            if flags & 0x02:
                st.next_seq = (seq + 1) & 0xFFFFFFFF
                continue
            if not payload:
                continue
            if st.next_seq is not None:
                skip = (st.next_seq - seq) & 0xFFFFFFFF
                if skip >= len(payload) and skip < 0x80000000:
                    continue  # retransmission
                if skip < 0x80000000:
                    payload = payload[skip:]
            st.next_seq = (seq + len(l4) - hlen) & 0xFFFFFFFF
            from_ev = s == st.client
            for frame in st.frames.feed(payload):
                comment = p.comment if frame[:2] == b"\x01\xfe" else ""  # not V2GTP: the bytes as they came
                out.append(V2gFrame(p.timestamp, "tcp", _fmt(s), _fmt(d), frame, from_ev, st.no, comment))
    return out


def _fmt(ep: tuple[str, int]) -> str:
    return f"[{ep[0]}]:{ep[1]}"
