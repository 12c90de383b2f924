"""Minimal pcapng reader for the test captures (Ethernet link type only)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path


def ethernet_frames(path: Path) -> Iterator[bytes]:
    """Every packet of an Ethernet interface in the capture."""
    data = path.read_bytes()
    pos = 0
    endian = "<"
    linktypes: list[int] = []
    while pos + 12 <= len(data):
        btype = struct.unpack_from(endian + "I", data, pos)[0]
        if btype == 0x0A0D0D0A:  # section header: byte order magic decides the endianness
            magic = data[pos + 8 : pos + 12]
            endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
            linktypes = []
        blen = struct.unpack_from(endian + "I", data, pos + 4)[0]
        if blen < 12 or pos + blen > len(data):
            break
        body = data[pos + 8 : pos + blen - 4]
        if btype == 1:  # interface description
            linktypes.append(struct.unpack_from(endian + "H", body, 0)[0])
        elif btype == 6:  # enhanced packet
            iface, _, _, caplen, _ = struct.unpack_from(endian + "IIIII", body, 0)
            if iface < len(linktypes) and linktypes[iface] == 1:
                yield body[20 : 20 + caplen]
        elif btype == 3 and linktypes and linktypes[0] == 1:  # simple packet
            (origlen,) = struct.unpack_from(endian + "I", body, 0)
            yield body[4 : 4 + origlen]
        pos += blen
