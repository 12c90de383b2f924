"""Minimal pcapng reading for the TLS tests: IPv6 UDP payloads and reassembled TCP streams (test helper)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

Endpoint = tuple[bytes, int]


def frames(path: Path) -> Iterator[bytes]:
    """Ethernet frames of the enhanced packet blocks of a pcapng file."""
    data, i, order = path.read_bytes(), 0, "<"
    while i + 12 <= len(data):
        btype, blen = struct.unpack_from(order + "II", data, i)
        if btype == 0x0A0D0D0A:
            order = "<" if data[i + 8 : i + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            btype, blen = struct.unpack_from(order + "II", data, i)
        if btype == 6:
            cap = struct.unpack_from(order + "I", data, i + 20)[0]
            yield data[i + 28 : i + 28 + cap]
        i += blen


def udp6(path: Path) -> list[tuple[int, int, bytes]]:
    """(source port, destination port, payload) of every IPv6 UDP datagram."""
    out = []
    for fr in frames(path):
        if fr[12:14] == b"\x86\xdd" and fr[20] == 17:
            sport, dport = struct.unpack(">HH", fr[54:58])
            out.append((sport, dport, fr[62:]))
    return out


def tcp6_streams(path: Path) -> dict[tuple[Endpoint, Endpoint], bytes]:
    """Reassembled payload per TCP direction ``((src, sport), (dst, dport))`` (in-order, retransmits dropped)."""
    segs: dict[tuple[Endpoint, Endpoint], list[tuple[int, int, bytes]]] = {}
    for fr in frames(path):
        if fr[12:14] != b"\x86\xdd" or fr[20] != 6:
            continue
        pl = fr[54:]
        sport, dport, seq = struct.unpack(">HHI", pl[:8])
        segs.setdefault(((fr[22:38], sport), (fr[38:54], dport)), []).append(
            (seq, pl[13], pl[(pl[12] >> 4) * 4 :])
        )
    out = {}
    for key, lst in segs.items():
        syn = [seq + 1 for seq, flags, _ in lst if flags & 0x02]
        data = {seq: d for seq, _, d in lst if d}
        pos = syn[0] if syn else min(data, default=0)
        stream = bytearray()
        for seq in sorted(data):
            chunk = data[seq]
            if seq + len(chunk) <= pos:
                continue
            stream += chunk[max(0, pos - seq) :]
            pos = seq + len(chunk)
        out[key] = bytes(stream)
    return out
