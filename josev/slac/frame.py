"""Ethernet + HomePlug AV management-message framing (ethertype 0x88E1).

Layout: destination MAC (6), source MAC (6), ethertype 0x88E1 (2, big-endian), MMV (1), MMTYPE (2,
little-endian), then for MMV >= 1 the FMI (2: fragment count/number nibbles and sequence number), then the
MMENTRY. Frames shorter than 60 bytes are padded with zeros when sent; padding is ignored when parsed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from josev.slac.errors import (
    FragmentedFrame,
    NotHomePlug,
    TruncatedFrame,
    UnknownMessageType,
    UnsupportedVersion,
)
from josev.slac.messages import REGISTRY, Message
from josev.slac.messages.base import MMV_AV_1_0, MMV_AV_1_1, MMV_AV_2_0

ETH_P_HOMEPLUG = 0x88E1
ETH_P_8021Q = 0x8100
ETH_HEADER_LEN = 14
MIN_FRAME_LEN = 60
MAX_FRAME_LEN = 1514


@dataclass(frozen=True, slots=True)
class Frame:
    """A parsed management message with its Ethernet addresses."""

    dst: bytes
    src: bytes
    message: Message
    mmv: int = MMV_AV_1_1
    vlan: int | None = None
    """802.1Q VLAN id when the frame was tagged."""


def peek_mmtype(raw: bytes) -> int | None:
    """The MMTYPE of a HomePlug frame without parsing the entry (None when not even the header is there)."""
    if len(raw) < ETH_HEADER_LEN + 3 or raw[12:14] != b"\x88\xe1":
        return None
    return int(struct.unpack_from("<H", raw, 15)[0])


def parse_frame(raw: bytes) -> Frame:
    """Parse one Ethernet frame; raise a :class:`~josev.slac.errors.FrameError` subclass when it is bad."""
    if len(raw) < ETH_HEADER_LEN:
        raise TruncatedFrame(f"frame of {len(raw)} bytes is shorter than an Ethernet header")
    (ethertype,) = struct.unpack_from("!H", raw, 12)
    vlan: int | None = None
    if ethertype == ETH_P_8021Q:  # one 802.1Q tag: some boards separate EVSEs by VLAN
        if len(raw) < ETH_HEADER_LEN + 4:
            raise TruncatedFrame("frame ends inside the 802.1Q tag")
        vlan = struct.unpack_from("!H", raw, 14)[0] & 0x0FFF
        raw = raw[:12] + raw[16:]
        (ethertype,) = struct.unpack_from("!H", raw, 12)
    if ethertype != ETH_P_HOMEPLUG:
        raise NotHomePlug(f"ethertype {ethertype:#06x} is not HomePlug AV (0x88e1)")
    if len(raw) < ETH_HEADER_LEN + 3:
        raise TruncatedFrame("frame ends inside the HomePlug header")
    mmv = raw[14]
    (mmtype,) = struct.unpack_from("<H", raw, 15)
    offset = ETH_HEADER_LEN + 3
    if mmv not in (MMV_AV_1_0, MMV_AV_1_1, MMV_AV_2_0):
        raise UnsupportedVersion(f"MMV {mmv:#04x} is not 0, 1 or 2")
    if mmv != MMV_AV_1_0:
        if len(raw) < offset + 2:
            raise TruncatedFrame("frame ends inside the FMI")
        fmi = raw[offset]
        if fmi >> 4 != 0 or fmi & 0x0F != 0:
            raise FragmentedFrame(f"fragmented management message (FMI {fmi:#04x}) is not supported")
        offset += 2
    cls = REGISTRY.get(mmtype)
    if cls is None:
        raise UnknownMessageType(f"MMTYPE {mmtype:#06x} is not a known message")
    message = cls.decode(bytes(raw[offset:]))
    return Frame(bytes(raw[0:6]), bytes(raw[6:12]), message, mmv, vlan)


def encode_frame(dst: bytes, src: bytes, message: Message) -> bytes:
    """Build the Ethernet frame of ``message`` from ``src`` to ``dst``, padded to 60 bytes."""
    if len(dst) != 6 or len(src) != 6:
        raise ValueError("MAC addresses must be 6 bytes")
    header = dst + src + struct.pack("!H", ETH_P_HOMEPLUG) + struct.pack("<BH", message.MMV, message.mmtype())
    if message.MMV != MMV_AV_1_0:
        header += b"\x00\x00"
    raw = header + message.encode()
    if len(raw) > MAX_FRAME_LEN:
        raise ValueError(f"frame of {len(raw)} bytes exceeds the Ethernet MTU")
    return raw.ljust(MIN_FRAME_LEN, b"\x00")
