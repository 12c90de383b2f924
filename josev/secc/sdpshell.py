"""The SDP shell of an EVSE: the UDP socket on port 15118 of the EVSE's interface (member of ff02::1 there)
and the datagram protocol that hands each request to the sans-IO :class:`~josev.v2g.sdp.SdpServer`."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any, cast

from josev.secc.framelog import EndpointStats
from josev.v2g import sdp
from josev.v2g.netif import ifindex


def make_sdp_socket(iface: str, port: int = sdp.SDP_PORT) -> socket.socket:
    """A UDP socket bound to ``[::]:port`` on ``iface`` only, member of ff02::1 there."""
    idx = ifindex(iface)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(("::", port, 0, idx))
        mreq = socket.inet_pton(socket.AF_INET6, sdp.SDP_MULTICAST) + struct.pack("@I", idx)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        s.setblocking(False)
    except OSError:
        s.close()
        raise
    return s


def iface_mac(iface: str) -> str:
    """The interface's MAC address (empty when unknown)."""
    try:
        with open(f"/sys/class/net/{iface}/address") as f:
            return f.read().strip()
    except OSError:
        return ""


class SdpProtocol(asyncio.DatagramProtocol):
    def __init__(
        self,
        server: sdp.SdpServer,
        stats: EndpointStats,
        record: Callable[[str, bytes, Any], None] | None = None,
    ) -> None:
        self.server = server
        self.stats = stats
        self.record = record
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        res = self.server.handle(data)
        self.stats.sdp_answered = self.server.answered
        self.stats.sdp_dropped = self.server.dropped
        if self.record is not None:
            self.record("rx", data, addr)
        if res is not None and self.transport is not None:
            self.transport.sendto(res, addr)
            if self.record is not None:
                self.record("tx", res, addr)
