"""Turn off TX checksum offload on an interface (SIOCETHTOOL / ETHTOOL_STXCSUM), no ethtool binary needed.

Frames that a packet socket relays between veths (the PLC modem emulator) keep the partial checksum a veth
leaves with offload on, and the receiver then drops every UDP/TCP segment; with offload off the kernel
computes the checksums in software before the frame leaves.
"""

from __future__ import annotations

import ctypes
import fcntl
import socket
import struct

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x00000017


def disable_tx_checksum(ifname: str) -> None:
    """Call in the namespace that owns ``ifname`` (e.g. inside ``Netns.entered()``)."""
    val = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
    ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(val)).ljust(40, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, SIOCETHTOOL, ifr)
