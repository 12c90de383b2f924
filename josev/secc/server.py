"""The SECC network shell for one EVSE: SDP on UDP 15118 (multicast ff02::1 on the EVSE's interface) and the
V2GTP TCP server on the interface's link-local address. All protocol logic lives in the sans-IO cores; this
module only moves bytes, keeps time and hands events to a callback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

from josev.secc import sdp
from josev.secc.codec import Codec
from josev.secc.events import Event
from josev.secc.evse import EvseView
from josev.secc.machine import SessionStore
from josev.secc.netif import ifindex, wait_link_local
from josev.secc.session import Output, SeccSession, SessionConfig

log = logging.getLogger("josev.secc")

EventSink = Callable[[int, list[Event]], None]


class ConnectionCore(Protocol):
    """What the shell needs of a per-connection core (:class:`SeccSession`, or a -20 capable one)."""

    @property
    def closed(self) -> bool: ...

    @property
    def next_timer(self) -> float | None: ...

    def receive(self, data: bytes, now: float) -> Output: ...

    def on_timer(self, now: float) -> Output: ...

    def connection_lost(self, now: float) -> list[Event]: ...


#: Builds the core of a new connection: ``factory(endpoint, now)``.
CoreFactory = Callable[["EvseEndpoint", float], ConnectionCore]
READ_SIZE = 65536
DYN_PORT_MIN = 49152


@dataclass
class EndpointStats:
    """Counters of one EVSE endpoint."""

    sdp_answered: int = 0
    sdp_dropped: int = 0
    connections: int = 0
    sessions_ended: dict[str, int] = field(default_factory=dict)
    errors: int = 0


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


class _SdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: sdp.SdpServer, stats: EndpointStats) -> None:
        self.server = server
        self.stats = stats
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        res = self.server.handle(data)
        self.stats.sdp_answered = self.server.answered
        self.stats.sdp_dropped = self.server.dropped
        if res is not None and self.transport is not None:
            self.transport.sendto(res, addr)


class EvseEndpoint:
    """SDP + V2GTP/TCP for one EVSE on its PLC interface."""

    def __init__(
        self,
        evse_no: int,
        iface: str,
        view: EvseView,
        codec: Codec,
        *,
        tcp_port: int = 0,
        config: SessionConfig | None = None,
        on_events: EventSink | None = None,
        sdp_port: int = sdp.SDP_PORT,
        tls: ssl.SSLContext | None = None,
        core_factory: CoreFactory | None = None,
        enforce_tls: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.evse_no = evse_no
        self.iface = iface
        self.view = view
        self.codec = codec
        self.tcp_port = tcp_port
        self.sdp_port = sdp_port
        self.tls = tls
        self.enforce_tls = enforce_tls
        self.core_factory = core_factory
        self.tls_port: int | None = None
        self._tls_server: asyncio.Server | None = None
        self.config = config or SessionConfig()
        self.on_events = on_events
        self.clock = clock
        self.store = SessionStore()
        self.stats = EndpointStats()
        self.address = ""
        self.sessions: set[ConnectionCore] = set()
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _listen(self, port: int, tls: ssl.SSLContext | None) -> asyncio.Server:
        """A TCP server on the link-local address; without a fixed port, one in the dynamic range
        49152..65535 as ISO 15118-2 / DIN SPEC 70121 require (EVs check it)."""
        host = f"{self.address}%{self.iface}"
        ports = [port] if port else random.sample(range(DYN_PORT_MIN, 65536), 50)
        for i, p in enumerate(ports):
            try:
                return await asyncio.start_server(
                    self._client, host=host, port=p, ssl=tls, family=socket.AF_INET6
                )
            except OSError:
                if i == len(ports) - 1:
                    raise
        raise AssertionError("unreachable")

    async def start(self, link_timeout: float = 10.0) -> None:
        """Bind the TCP server and the SDP socket."""
        self.address = await wait_link_local(self.iface, link_timeout)
        self._server = await self._listen(self.tcp_port, None)
        self.tcp_port = self._server.sockets[0].getsockname()[1]
        if self.tls is not None:  # seam for issue 7: TLS listener announced by SDP when configured
            self._tls_server = await self._listen(0, self.tls)
            self.tls_port = self._tls_server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        sock = make_sdp_socket(self.iface, self.sdp_port)
        server = sdp.SdpServer(self.address, self.tcp_port, self.tls_port, self.enforce_tls)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SdpProtocol(server, self.stats), sock=sock
        )
        self._udp = transport
        log.info(
            "EVSE %d: SECC on [%s%%%s]:%d, SDP on UDP %d",
            self.evse_no,
            self.address,
            self.iface,
            self.tcp_port,
            self.sdp_port,
        )

    async def close(self) -> None:
        """Stop listening and end every open session."""
        if self._udp is not None:
            self._udp.close()
        for srv in (self._server, self._tls_server):
            if srv is not None:
                srv.close()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    def _emit(self, events: list[Event]) -> None:
        if not events:
            return
        for ev in events:
            reason = getattr(ev, "reason", None)
            if type(ev).__name__ == "SessionEnded" and isinstance(reason, str):
                self.stats.sessions_ended[reason] = self.stats.sessions_ended.get(reason, 0) + 1
                log.info("EVSE %d: session ended: %s %s", self.evse_no, reason, getattr(ev, "detail", ""))
            elif type(ev).__name__ == "SessionStarted":
                log.info("EVSE %d: session started: %s", self.evse_no, ev)
        if self.on_events is not None:
            try:
                self.on_events(self.evse_no, events)
            except Exception:  # a broken consumer must not kill the session
                log.exception("EVSE %d: event consumer failed", self.evse_no)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.stats.connections += 1
        session = (
            self.core_factory(self, self.clock())
            if self.core_factory is not None
            else SeccSession(self.view, self.clock(), codec=self.codec, config=self.config, store=self.store)
        )
        self.sessions.add(session)
        peer = writer.get_extra_info("peername")
        log.info("EVSE %d: connection from %s", self.evse_no, peer)
        try:
            while not session.closed:
                deadline = session.next_timer
                timeout = None if deadline is None else max(0.0, deadline - self.clock())
                try:
                    data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
                except TimeoutError:
                    out = session.on_timer(self.clock())
                    self._emit(out.events)
                    continue
                if not data:
                    self._emit(session.connection_lost(self.clock()))
                    break
                out = session.receive(data, self.clock())
                for frame in out.send:
                    writer.write(frame)
                if out.send:
                    await writer.drain()
                self._emit(out.events)
                if out.close:
                    break
        except (ConnectionError, OSError) as e:
            self._emit(session.connection_lost(self.clock()))
            log.info("EVSE %d: connection error %s", self.evse_no, e)
        except asyncio.CancelledError:
            self._emit(session.connection_lost(self.clock()))
            raise
        except Exception:  # never let one broken session take the service down
            self.stats.errors += 1
            log.exception("EVSE %d: session crashed; closing the connection", self.evse_no)
            self._emit(session.connection_lost(self.clock()))
        finally:
            self.sessions.discard(session)
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
