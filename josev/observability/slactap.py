"""A tap on the PLC interface for the V2G log: the SLAC frames (HomePlug AV, ethertype 0x88E1) the station's
interface sent and received, kept in a small bounded buffer until the car's V2G connection comes, so that the
log of a session starts with its SLAC matching.

Opening an AF_PACKET socket needs CAP_NET_RAW; without it :meth:`SlacTap.open` returns False and the log simply
has no SLAC frames. Frames are only appended to a ``deque(maxlen=...)`` on the event loop: a flood of frames
costs O(1) each and at most ``max_frames`` are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import socket
import struct
import time
from collections import deque
from collections.abc import Callable

ETH_P_HOMEPLUG = 0x88E1
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26

# classic BPF: A = ethertype; accept HomePlug AV, drop everything else (so IP traffic never reaches us)
_BPF = (
    (0x28, 0, 0, 12),  # ldh [12]
    (0x15, 0, 1, ETH_P_HOMEPLUG),  # jeq #0x88e1, accept, drop
    (0x06, 0, 0, 0x40000),  # ret #262144
    (0x06, 0, 0, 0),  # ret #0
)


def _homeplug_filter() -> bytes:
    """``struct sock_fprog`` for SO_ATTACH_FILTER (the program buffer must outlive the call: kept global)."""
    global _PROG
    _PROG = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in _BPF))
    return struct.pack("HL", len(_BPF), ctypes.addressof(_PROG))


_PROG: ctypes.Array[ctypes.c_char] | None = None


class SlacTap:
    """Recent SLAC frames of one interface: ``(wall time, frame, received)``."""

    def __init__(self, iface: str, max_frames: int = 256, clock: Callable[[], float] = time.time) -> None:
        self.iface = iface
        self.clock = clock
        self.frames: deque[tuple[float, bytes, bool]] = deque(maxlen=max_frames)
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self) -> bool:
        """Start capturing in the running loop; False when the socket cannot be opened (no CAP_NET_RAW)."""
        try:  # ETH_P_ALL: only such a socket also sees the frames the station itself sends
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except OSError:
            return False
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, _homeplug_filter())
            s.bind((self.iface, ETH_P_ALL))
            s.setblocking(False)
        except OSError:
            s.close()
            return False
        self._sock = s
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(s.fileno(), self._readable)
        return True

    def _readable(self) -> None:
        assert self._sock is not None
        for _ in range(64):  # a flood is read in bounded batches
            try:
                data, addr = self._sock.recvfrom(2048)
            except OSError:
                return
            self.frames.append((self.clock(), data, addr[2] != PACKET_OUTGOING))

    def take(self, since: float) -> list[tuple[float, bytes, bool]]:
        """The frames captured at or after ``since`` (they are handed over once)."""
        out = [f for f in self.frames if f[0] >= since]
        self.frames.clear()
        return out

    def close(self) -> None:
        """Stop capturing."""
        if self._sock is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
