"""Minimal pcapng reader for the replay tests: Ethernet/IPv6/TCP, per-connection stream reassembly and V2GTP
frame extraction (test support only; the product never reads pcaps)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from josev.v2g import v2gtp


@dataclass
class Flow:
    """One direction of a TCP connection."""

    first: int
    isn: int | None = None
    segments: dict[int, bytes] = field(default_factory=dict)
    syn: bool = False

    def stream(self) -> bytes:
        if not self.segments:
            return b""
        start = self.isn if self.isn is not None else min(self.segments)
        out = bytearray()
        pos = start
        for seq in sorted(self.segments):
            data = self.segments[seq]
            if seq + len(data) <= pos:
                continue
            if seq > pos:
                break  # gap: stop at the hole
            out += data[pos - seq :]
            pos = seq + len(data)
        return bytes(out)


@dataclass
class Connection:
    """A TCP connection: client (EV) stream and server (SECC) stream."""

    first: int
    client: bytes
    server: bytes


def _packets(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out: list[bytes] = []
    off = 0
    endian = "<"
    linktypes: list[int] = []
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from(endian + "II", data, off)
        if btype == 0x0A0D0D0A:
            magic = data[off + 8 : off + 12]
            endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
            btype, blen = struct.unpack_from(endian + "II", data, off)
            linktypes = []
        if blen < 12 or off + blen > len(data):
            break
        body = data[off + 8 : off + blen - 4]
        if btype == 1:
            linktypes.append(struct.unpack_from(endian + "H", body, 0)[0])
        elif btype == 6:
            iface, _th, _tl, caplen, _orig = struct.unpack_from(endian + "IIIII", body, 0)
            if iface < len(linktypes) and linktypes[iface] == 1:
                out.append(body[20 : 20 + caplen])
        elif btype == 3 and linktypes and linktypes[0] == 1:
            out.append(body[4:])
        off += blen
    return out


def tcp_connections(path: Path) -> list[Connection]:
    """Reassembled IPv6 TCP connections in the order they started."""
    flows: dict[tuple[bytes, int, bytes, int], Flow] = {}
    for n, pkt in enumerate(_packets(path)):
        off = 12
        etype = struct.unpack_from("!H", pkt, off)[0]
        off += 2
        while etype == 0x8100 and len(pkt) >= off + 4:
            etype = struct.unpack_from("!H", pkt, off + 2)[0]
            off += 4
        if etype != 0x86DD or len(pkt) < off + 40:
            continue
        ip = pkt[off:]
        plen, nxt = struct.unpack_from("!HB", ip, 4)
        src, dst = ip[8:24], ip[24:40]
        if nxt != 6:
            continue
        tcp = ip[40 : 40 + plen]
        if len(tcp) < 20:
            continue
        sport, dport, seq = struct.unpack_from("!HHI", tcp, 0)
        hlen = (tcp[12] >> 4) * 4
        flags = tcp[13]
        key = (src, sport, dst, dport)
        flow = flows.setdefault(key, Flow(n))
        if flags & 0x02:
            flow.isn = (seq + 1) & 0xFFFFFFFF
            flow.syn = not flags & 0x10
        payload = tcp[hlen:]
        if payload:
            flow.segments.setdefault(seq, payload)
    conns: list[Connection] = []
    seen: set[tuple[bytes, int, bytes, int]] = set()
    for key, flow in sorted(flows.items(), key=lambda kv: kv[1].first):
        if key in seen:
            continue
        rkey = (key[2], key[3], key[0], key[1])
        rev = flows.get(rkey, Flow(flow.first))
        seen |= {key, rkey}
        client, server = (flow, rev) if (flow.syn or not rev.syn) else (rev, flow)
        if not client.syn and rev.syn:
            client, server = rev, flow
        conns.append(Connection(min(flow.first, rev.first), client.stream(), server.stream()))
    return conns


def v2gtp_payloads(stream: bytes) -> list[tuple[int, bytes]]:
    """V2GTP (payload type, payload) of a byte stream; stops at the first broken header."""
    d = v2gtp.Deframer(max_payload=1 << 20)
    try:
        return [(f.payload_type, f.payload) for f in d.feed(stream)]
    except v2gtp.V2gtpError:
        return []
