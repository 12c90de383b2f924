"""AF_PACKET raw socket bound to one interface, driven by asyncio (needs CAP_NET_RAW to open).

Frames are whole Ethernet frames (header included). Frames the host itself sent (PACKET_OUTGOING) are dropped
so a socket bound to ETH_P_ALL does not hear itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from josev.slac.frame import ETH_P_HOMEPLUG

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
_RECV_SIZE = 65535


class RawSocket:
    """A non-blocking packet socket on ``ifname`` for ``ethertype`` (ETH_P_ALL for every frame)."""

    def __init__(self, ifname: str, ethertype: int = ETH_P_HOMEPLUG) -> None:
        self.ifname = ifname
        self.ethertype = ethertype
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
        try:
            self.sock.bind((ifname, ethertype))
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise
        self.mac: bytes = self.sock.getsockname()[4]
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1024)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0

    def attach(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start reading in the running loop."""
        self._loop = loop or asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.dropped += 1
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            try:
                self._queue.put_nowait(data)
            except asyncio.QueueFull:
                self.dropped += 1

    async def recv(self) -> bytes:
        """The next received frame."""
        return await self._queue.get()

    def send(self, frame: bytes) -> None:
        """Send one frame (drops and counts it when the device queue is full)."""
        try:
            self.sock.send(frame)
        except (BlockingIOError, OSError):
            self.dropped += 1

    def close(self) -> None:
        """Stop reading and close."""
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
