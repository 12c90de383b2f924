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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from josev.observability import oplog
from josev.secc import sdp
from josev.secc.codec import Codec
from josev.secc.evse import EvseView
from josev.secc.iso20.events import Iso20Event
from josev.secc.machine import SessionStore
from josev.secc.netif import ifindex, wait_link_local
from josev.secc.powergate import fail_response, power_delivery_request
from josev.secc.session import SeccSession, SessionConfig
from josev.secc.v2gtp import HEADER_LEN

if TYPE_CHECKING:
    from josev.observability.v2glog import V2gRecorder
    from josev.secc.iso20.context import Iso20Config, Iso20Evse
    from josev.tls import TlsPolicy, TlsStats
    from josev.tls.contexts import Mode

log = logging.getLogger("josev.secc")

#: ``sink(evse_no, events)``: :mod:`josev.secc.events`; with ``iso20`` also the -20-only events of
#: :mod:`josev.secc.iso20.events` (consumers typed for either list are accepted).
EventSink = Callable[[int, list[Any]], None]
#: ``gate(evse_no, on) -> ok``: awaited before a PowerDelivery Start/Stop response leaves (contactor).
PowerGate = Callable[[int, bool], Awaitable[bool]]


class CoreOutput(Protocol):
    """What a core step returns (:class:`~josev.secc.session.Output` or the -20 one)."""

    send: list[bytes]
    events: Any
    close: bool
    trace: list[tuple[str, dict[str, Any]]]


class ConnectionCore(Protocol):
    """What the shell needs of a per-connection core (:class:`SeccSession`, or a -20 capable one)."""

    @property
    def closed(self) -> bool: ...

    @property
    def next_timer(self) -> float | None: ...

    def receive(self, data: bytes, now: float) -> CoreOutput: ...

    def on_timer(self, now: float) -> CoreOutput: ...

    def connection_lost(self, now: float) -> Any: ...


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
    def __init__(
        self,
        server: sdp.SdpServer,
        stats: EndpointStats,
        record: Callable[[str, bytes], None] | None = None,
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
            self.record("rx", data)
        if res is not None and self.transport is not None:
            self.transport.sendto(res, addr)
            if self.record is not None:
                self.record("tx", res)


class _RxSplitter:
    """Cuts the received byte stream into V2GTP frames for the message log (never raises)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out: list[bytes] = []
        while len(self.buf) >= HEADER_LEN:
            if self.buf[0] != 0x01 or self.buf[1] != 0xFE:
                out.append(bytes(self.buf))  # not V2GTP: log the bytes as they came
                self.buf.clear()
                break
            n = HEADER_LEN + int.from_bytes(self.buf[4:8], "big")
            if len(self.buf) < n:
                break
            out.append(bytes(self.buf[:n]))
            del self.buf[:n]
        return out


class EvseEndpoint:
    """SDP + V2GTP/TCP (and TLS) for one EVSE on its PLC interface.

    ``iso20``: the -20 adapter of ``view``; when given, every connection also offers ISO 15118-20
    (:func:`josev.secc.iso20.integration.make_connection`). ``tls``: the server context of a second listener
    announced by SDP (policy of ``tls_mode`` checked after every handshake); ``enforce_tls`` makes SDP announce
    only that one. ``recorder``: every V2GTP frame in and out is logged per EVSE and connection, the session's
    pcapng written when it ends (if the recorder has a directory). ``power_gate``: awaited before a
    PowerDelivery Start/Stop response is sent; False answers with the contactor failure code and closes.
    """

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
        iso20: Iso20Evse | None = None,
        tls_mode: Mode = "both",
        tls_port: int = 0,
        recorder: V2gRecorder | None = None,
        power_gate: PowerGate | None = None,
        wall_clock: Callable[[], float] = time.time,
        iso20_config: Iso20Config | None = None,
    ) -> None:
        from josev.tls import TlsStats, policy_for

        self.evse_no = evse_no
        self.iface = iface
        self.view = view
        self.codec = codec
        self.tcp_port = tcp_port
        self.sdp_port = sdp_port
        self.tls = tls
        self.enforce_tls = enforce_tls
        self.core_factory = core_factory
        self.iso20 = iso20
        if iso20_config is None:
            from josev.secc.iso20.context import Iso20Config

            # header TimeStamps are wall-clock seconds; the cores get the monotonic clock
            iso20_config = Iso20Config(wall_offset=wall_clock() - clock())
        self.iso20_config = iso20_config
        self.tls_policy: TlsPolicy = policy_for(tls_mode)
        self.tls_stats: TlsStats = TlsStats()
        self.tls_port: int | None = None
        self._tls_port_wanted = tls_port
        self._tls_server: asyncio.Server | None = None
        self.config = config or SessionConfig()
        self.on_events = on_events
        self.clock = clock
        self.wall_clock = wall_clock
        self.recorder = recorder
        self.power_gate = power_gate
        self.store = SessionStore()
        self.stats = EndpointStats()
        self.address = ""
        self.sessions: set[ConnectionCore] = set()
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._conn_no = 0

    async def _listen(self, port: int, handler: Callable[..., Awaitable[None]]) -> asyncio.Server:
        """A TCP server on the link-local address; without a fixed port, one in the dynamic range
        49152..65535 as ISO 15118-2 / DIN SPEC 70121 require (EVs check it)."""
        host = f"{self.address}%{self.iface}"
        ports = [port] if port else random.sample(range(DYN_PORT_MIN, 65536), 50)
        for i, p in enumerate(ports):
            try:
                return await asyncio.start_server(handler, host=host, port=p, family=socket.AF_INET6)
            except OSError:
                if i == len(ports) - 1:
                    raise
        raise AssertionError("unreachable")

    async def start(self, link_timeout: float = 10.0) -> None:
        """Bind the TCP server(s) and the SDP socket."""
        self.address = await wait_link_local(self.iface, link_timeout)
        self._server = await self._listen(self.tcp_port, self._client)
        self.tcp_port = self._server.sockets[0].getsockname()[1]
        if self.tls is not None:
            self._tls_server = await self._listen(self._tls_port_wanted, self._tls_client)
            self.tls_port = self._tls_server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        sock = make_sdp_socket(self.iface, self.sdp_port)
        server = sdp.SdpServer(self.address, self.tcp_port, self.tls_port, self.enforce_tls)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SdpProtocol(server, self.stats, self._record_sdp if self.recorder else None), sock=sock
        )
        self._udp = transport
        log.info(
            "EVSE %d: SECC on [%s%%%s]:%d%s%s, SDP on UDP %d",
            self.evse_no,
            self.address,
            self.iface,
            self.tcp_port,
            f", TLS on {self.tls_port}" if self.tls_port else "",
            ", ISO 15118-20 offered" if self.iso20 is not None else "",
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
        for srv in (self._server, self._tls_server):
            if srv is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(srv.wait_closed(), 2.0)

    def _emit(self, events: list[Iso20Event]) -> None:
        if not events:
            return
        for ev in events:
            oplog.secc_event(log, self.evse_no, ev)
            reason = getattr(ev, "reason", None)
            if type(ev).__name__ == "SessionEnded" and isinstance(reason, str):
                self.stats.sessions_ended[reason] = self.stats.sessions_ended.get(reason, 0) + 1
                log.info("EVSE %d: session ended: %s %s", self.evse_no, reason, getattr(ev, "detail", ""))
            elif type(ev).__name__ == "SessionStarted":
                log.debug("EVSE %d: session started: %s", self.evse_no, ev)
            elif type(ev).__name__ == "LocalError":
                self.stats.errors += 1
                log.error("EVSE %d: our error (%s): %s", self.evse_no, getattr(ev, "what", ""), ev)
        if self.on_events is not None:
            try:
                self.on_events(self.evse_no, events)
            except Exception:  # a broken consumer must not kill the session
                log.exception("EVSE %d: event consumer failed", self.evse_no)

    def _new_core(self) -> ConnectionCore:
        now = self.clock()
        if self.core_factory is not None:
            return self.core_factory(self, now)
        if self.iso20 is not None:
            from josev.secc.iso20 import integration

            modes = self.view.energy_modes
            families = tuple(f for f in ("AC", "DC") if any(m.startswith(f) for m in modes)) or ("AC", "DC")
            return integration.make_connection(
                self.iso20,
                now,
                self.codec,
                config=self.config,
                iso20=self.iso20_config,
                store=self.store,
                families=families,
            )
        return SeccSession(self.view, now, codec=self.codec, config=self.config, store=self.store)

    def _record(self, direction: str, frames: list[bytes], conn: str) -> None:
        rec = self.recorder
        if rec is None or not frames:
            return
        t = self.wall_clock()
        for f in frames:
            try:
                rec.record("rx" if direction == "rx" else "tx", f, t, self.evse_no, conn)
            except Exception:  # the log must never break a session
                log.exception("EVSE %d: V2G message log failed", self.evse_no)

    def _record_sdp(self, direction: str, data: bytes) -> None:
        rec = self.recorder
        if rec is None:
            return
        try:
            rec.record(
                "rx" if direction == "rx" else "tx", data, self.wall_clock(), self.evse_no, "sdp", udp=True
            )
        except Exception:  # the log must never break SDP
            log.exception("EVSE %d: V2G message log failed", self.evse_no)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, tls=False)

    async def _tls_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from josev.tls import accept_tls

        assert self.tls is not None
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            info = await accept_tls(reader, writer, self.tls, self.tls_policy, stats=self.tls_stats)
        finally:
            self._tasks.discard(task)
        if info is not None:
            await self._serve(reader, writer, tls=True)

    async def _gate(self, out: CoreOutput) -> tuple[list[bytes], bool]:
        """Hold a PowerDelivery Start/Stop response until the contactor is confirmed (see ``power_gate``)."""
        on = power_delivery_request(list(out.events))
        if on is None or self.power_gate is None:
            return out.send, False
        try:
            ok = await self.power_gate(self.evse_no, on)
        except Exception:
            log.exception("EVSE %d: power gate failed", self.evse_no)
            ok = False
        if ok:
            return out.send, False
        log.warning("EVSE %d: contactor not confirmed (%s): PowerDelivery failed", self.evse_no, on)
        failed = fail_response(self.codec, out.send, out.trace)
        return (failed if failed is not None else out.send), True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tls: bool) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.stats.connections += 1
        self._conn_no += 1
        conn = f"c{self._conn_no}"
        session = self._new_core()
        self.sessions.add(session)
        splitter = _RxSplitter()
        peer = writer.get_extra_info("peername")
        log.info("EVSE %d: %s connection from %s", self.evse_no, "TLS" if tls else "TCP", peer)
        try:
            while not session.closed:
                deadline = session.next_timer
                timeout = None if deadline is None else max(0.0, deadline - self.clock())
                try:
                    data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
                except TimeoutError:
                    out = session.on_timer(self.clock())
                    self._emit(list(out.events))
                    if out.close:
                        break
                    continue
                if not data:
                    self._emit(list(session.connection_lost(self.clock())))
                    break
                self._record("rx", splitter.feed(data), conn)
                out = session.receive(data, self.clock())
                send, failed = await self._gate(out)
                for frame in send:
                    writer.write(frame)
                self._record("tx", send, conn)
                if send:
                    await writer.drain()
                self._emit(list(out.events))
                if failed:
                    self._emit(list(session.connection_lost(self.clock())))
                    break
                if out.close:
                    break
        except (ConnectionError, OSError, ssl.SSLError) as e:
            self._emit(list(session.connection_lost(self.clock())))
            log.info("EVSE %d: connection error %s", self.evse_no, e)
        except asyncio.CancelledError:
            self._emit(list(session.connection_lost(self.clock())))
            raise
        except Exception:  # never let one broken session take the service down
            self.stats.errors += 1
            log.exception("EVSE %d: session crashed; closing the connection", self.evse_no)
            self._emit(list(session.connection_lost(self.clock())))
        finally:
            self.sessions.discard(session)
            self._tasks.discard(task)
            if self.recorder is not None:
                with contextlib.suppress(Exception):
                    path = self.recorder.end_session(self.evse_no, conn)
                    if path is not None:
                        log.info("EVSE %d: V2G messages of %s written to %s", self.evse_no, conn, path)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
