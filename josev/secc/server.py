"""The SECC network shell for one EVSE: SDP on UDP 15118 (multicast ff02::1 on the EVSE's interface) and the
V2GTP TCP server on the interface's link-local address. All protocol logic lives in the sans-IO cores; this
module only moves bytes, keeps time and hands events to a callback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import socket
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from josev.observability import oplog
from josev.secc.events import ContactorRequested, SessionStarted
from josev.secc.evse import EvseView
from josev.secc.framelog import EndpointStats
from josev.secc.iso20.events import Iso20Event
from josev.secc.limits import Admission, ConnectionLimits, TokenBucket
from josev.secc.machine import SessionStore
from josev.secc.ratelog import PEER_LOG
from josev.secc.sdpshell import SdpProtocol, iface_mac, make_sdp_socket
from josev.secc.session import SeccSession, SessionConfig
from josev.v2g import sdp, v2gtp
from josev.v2g.codec import Codec
from josev.v2g.netif import wait_link_local

if TYPE_CHECKING:
    from josev.observability.slactap import SlacTap
    from josev.observability.v2glog import V2gRecorder
    from josev.secc.iso20.context import Iso20Config, Iso20Evse
    from josev.secc.scenario import ScenarioRunner
    from josev.tls import TlsInfo, TlsPolicy, TlsStats
    from josev.tls.contexts import Mode

log = logging.getLogger("josev.secc")

#: ``sink(evse_no, events)``: :mod:`josev.secc.events`; with ``iso20`` also the -20-only events of
#: :mod:`josev.secc.iso20.events` (consumers typed for either list are accepted).
EventSink = Callable[[int, list[Any]], None]
#: ``gate(evse_no, on) -> ok``: switches the contactor on the core's :class:`ContactorRequested`; its answer
#: goes back into the core (``contactor_result``), which only then builds the PowerDelivery response.
PowerGate = Callable[[int, bool], Awaitable[bool]]
#: ``sink(evse, connection, trace)``: the messages a core step decoded and built (``(schema, dict)`` pairs).
TraceSink = Callable[[int, str, list[tuple[str, dict[str, Any]]]], None]


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

    def contactor_result(self, ok: bool, now: float) -> CoreOutput: ...


#: Builds the core of a new connection: ``factory(endpoint, now)``.
CoreFactory = Callable[["EvseEndpoint", float], ConnectionCore]
READ_SIZE = 65536
DYN_PORT_MIN = 49152
SDP_PEERS = 16
SLAC_WINDOW = 120.0
"""SLAC frames captured this many seconds before a connection are logged with it (``capture_slac``)."""
"""EV addresses whose last SDP exchange is kept until their TCP connection comes (for the V2G log)."""


ACCEPT_BACKLOG = 8
"""The listen queue of a V2GTP port, which is also how many connections asyncio accepts in one go: an EVSE
serves one car (a few connections at most), and a burst of hundreds accepted at once kept the event loop from
the charging car's requests for tens of milliseconds (bench/hostile_load.py); the kernel holds back the rest."""


class EvseEndpoint:
    """SDP + V2GTP/TCP (and TLS) for one EVSE on its PLC interface.

    ``iso20``: the -20 adapter of ``view``; when given, every connection over TLS 1.3 also offers ISO 15118-20
    (the one connection core, :class:`~josev.secc.session.SeccSession`, negotiates it). ``tls``: the server context of a second listener
    announced by SDP (policy of ``tls_mode`` checked after every handshake); ``enforce_tls`` makes SDP announce
    only that one. ``recorder``: every V2GTP frame in and out is logged per EVSE and connection, the session's
    pcapng written when it ends (if the recorder has a directory). ``power_gate``: the cores hold a
    PowerDelivery Start/Stop response (``SessionConfig.contactor_wait``) and ask for the contactor
    (:class:`~josev.secc.events.ContactorRequested`); the gate's answer goes back into the core, which answers
    OK, or the contactor failure code and ends the session.
    ``limits``: connections per EVSE and per address, connection and frame rates, TLS handshake timeout
    (:mod:`josev.secc.limits`). ``on_trace``: called with every step's decoded messages (the live message
    stream, :mod:`josev.secc.msgstream`); a failing sink is logged, never fatal. ISO 15118-20 is offered only on connections that negotiated TLS 1.3.
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
        limits: ConnectionLimits | None = None,
        capture_slac: bool = False,
        on_trace: TraceSink | None = None,
        scenario: ScenarioRunner | None = None,
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
        #: the last accepted TLS handshake (version, cipher, mutual authentication)
        self.last_tls: TlsInfo | None = None
        self.tls_port: int | None = None
        self._tls_port_wanted = tls_port
        self._tls_server: asyncio.Server | None = None
        self.config = config or SessionConfig()
        if power_gate is not None and not self.config.contactor_wait:
            self.config = dataclasses.replace(self.config, contactor_wait=True)
        self.on_events = on_events
        self.on_trace = on_trace
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
        self.limits = limits or ConnectionLimits()
        self.admission = Admission(self.limits)
        self._conn_tasks: dict[int, asyncio.Task[None]] = {}
        self._sdp_seen: OrderedDict[str, deque[tuple[str, bytes, float, int]]] = OrderedDict()
        self._mac = ""
        self.capture_slac = capture_slac
        self._slac_tap: SlacTap | None = None
        #: scripted behaviours for testing EVs (:mod:`josev.secc.scenario`), applied to every connection
        self.scenario = scenario

    async def _listen(self, port: int, handler: Callable[..., Awaitable[None]]) -> asyncio.Server:
        """A TCP server on the link-local address; without a fixed port, one in the dynamic range
        49152..65535 as ISO 15118-2 / DIN SPEC 70121 require (EVs check it)."""
        host = f"{self.address}%{self.iface}"
        ports = [port] if port else random.sample(range(DYN_PORT_MIN, 65536), 50)
        for i, p in enumerate(ports):
            try:
                return await asyncio.start_server(
                    handler, host=host, port=p, family=socket.AF_INET6, backlog=ACCEPT_BACKLOG
                )
            except OSError:
                if i == len(ports) - 1:
                    raise
        raise AssertionError("unreachable")

    async def start(self, link_timeout: float = 10.0) -> None:
        """Bind the TCP server(s) and the SDP socket."""
        self.address = await wait_link_local(self.iface, link_timeout)
        self._mac = iface_mac(self.iface)
        if self.recorder is not None and self.capture_slac:
            from josev.observability.slactap import SlacTap

            tap = SlacTap(self.iface)
            if tap.open():
                self._slac_tap = tap
            else:
                log.info("EVSE %d: no SLAC frames in the V2G log (needs CAP_NET_RAW)", self.evse_no)
        self._server = await self._listen(self.tcp_port, self._client)
        self.tcp_port = self._server.sockets[0].getsockname()[1]
        if self.tls is not None:
            self._tls_server = await self._listen(self._tls_port_wanted, self._tls_client)
            self.tls_port = self._tls_server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        sock = make_sdp_socket(self.iface, self.sdp_port)
        server = sdp.SdpServer(self.address, self.tcp_port, self.tls_port, self.enforce_tls)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: SdpProtocol(server, self.stats, self._record_sdp if self.recorder else None), sock=sock
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
        if self._slac_tap is not None:
            self._slac_tap.close()
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

    def _emit(self, events: list[Iso20Event], forward: bool = True) -> None:
        """Count and log events; hand them to ``on_events`` unless ``forward`` is False."""
        if not events:
            return
        for ev in events:
            oplog.secc_event(log, self.evse_no, ev)
            reason = getattr(ev, "reason", None)
            if type(ev).__name__ == "SessionEnded" and isinstance(reason, str):
                self.stats.sessions_ended[reason] = self.stats.sessions_ended.get(reason, 0) + 1
                PEER_LOG.info(
                    "EVSE %d: session ended: %s %s", self.evse_no, reason, getattr(ev, "detail", "")
                )
            elif type(ev).__name__ == "SessionStarted":
                PEER_LOG.debug("EVSE %d: session started: %s", self.evse_no, ev)
            elif type(ev).__name__ == "LocalError":
                self.stats.errors += 1
                log.error("EVSE %d: our error (%s): %s", self.evse_no, getattr(ev, "what", ""), ev)
        if forward and self.on_events is not None:
            try:
                self.on_events(self.evse_no, events)
            except Exception:  # a broken consumer must not kill the session
                log.exception("EVSE %d: event consumer failed", self.evse_no)

    def _new_core(self, tls_version: str | None = None) -> ConnectionCore:
        """The core of a new connection; -20 is offered only over TLS 1.3 (ISO 15118-20 clause 7.7.3)."""
        now = self.clock()
        if self.core_factory is not None:
            return self.core_factory(self, now)
        if self.iso20 is not None:
            modes = self.view.energy_modes
            families = tuple(f for f in ("AC", "DC") if any(m.startswith(f) for m in modes)) or ("AC", "DC")
            return SeccSession(
                self.iso20,
                now,
                codec=self.codec,
                config=self.config,
                iso20=self.iso20_config,
                store=self.store,
                families=families,
                iso20_allowed=tls_version == "TLSv1.3",
            )
        return SeccSession(self.view, now, codec=self.codec, config=self.config, store=self.store)

    def _trace(self, conn: str, trace: list[tuple[str, dict[str, Any]]]) -> None:
        if self.on_trace is None or not trace:
            return
        try:
            self.on_trace(self.evse_no, conn, trace)
        except Exception:  # a live view must never break a session
            log.exception("EVSE %d: message stream failed", self.evse_no)

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

    def _record_sdp(self, direction: str, data: bytes, addr: Any) -> None:
        """Keep the last SDP exchange of each EV address (bounded) until its TCP connection comes: the V2G log
        then shows SDP with the real addresses, in the same file as the session."""
        if not isinstance(addr, tuple) or len(addr) < 2:
            return
        ip = str(addr[0]).split("%", 1)[0]
        seen = self._sdp_seen.get(ip)
        if seen is None:
            seen = self._sdp_seen[ip] = deque(maxlen=4)
            while len(self._sdp_seen) > SDP_PEERS:
                self._sdp_seen.popitem(last=False)
        seen.append((direction, bytes(data), self.wall_clock(), int(addr[1])))

    def _open_log(self, conn: str, writer: asyncio.StreamWriter) -> None:
        """Announce a connection's real addresses to the V2G log, with the SDP exchange that led to it."""
        rec = self.recorder
        if rec is None:
            return
        from josev.observability.packets import Endpoint
        from josev.observability.v2glog import default_endpoints, mac_from_link_local

        try:
            peer, sock = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
            ip, port = str(peer[0]).split("%", 1)[0], int(peer[1])
            default_ev, default_secc = default_endpoints(self.evse_no)
            ev = Endpoint(mac_from_link_local(ip) or default_ev.mac, ip, port)
            secc = Endpoint(self._mac or default_secc.mac, str(sock[0]).split("%", 1)[0], int(sock[1]))
            sdp_msgs = self._sdp_seen.pop(ip, ())
            sdp_port = next((p for d, _, _, p in sdp_msgs if d == "rx"), None)
            rec.open_session(self.evse_no, conn, ev=ev, secc=secc, ev_sdp_port=sdp_port)
            if self._slac_tap is not None:  # the SLAC matching that led to this connection
                for t, frame, received in self._slac_tap.take(self.wall_clock() - SLAC_WINDOW):
                    rec.record("rx" if received else "tx", frame, t, self.evse_no, conn, link=True)
            for d, data, t, _ in sdp_msgs:
                rec.record("rx" if d == "rx" else "tx", data, t, self.evse_no, conn, udp=True)
        except Exception:  # the log must never break a session
            log.exception("EVSE %d: V2G message log failed", self.evse_no)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.serve_stream(reader, writer, tls=False)

    async def _tls_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.serve_stream(reader, writer, tls=True)

    async def serve_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tls: bool
    ) -> None:
        """One accepted connection: admission (limits), then the TLS handshake with ``tls`` (bounded in time,
        the policy of ``tls_mode``), then the session until it ends. The V2GTP listeners call it; a test or
        benchmark may hand it the streams of its own listener (e.g. on loopback)."""
        task = asyncio.current_task()
        assert task is not None
        self._conn_no += 1
        cid = self._conn_no
        peer = writer.get_extra_info("peername")
        ip = str(peer[0]).split("%", 1)[0] if isinstance(peer, tuple) else str(peer)
        decision = self.admission.admit(cid, ip, self.clock())
        if not decision.admitted:
            self.stats.refused[decision.reason] = self.stats.refused.get(decision.reason, 0) + 1
            PEER_LOG.warning("EVSE %d: connection from %s refused: %s", self.evse_no, ip, decision.reason)
            writer.transport.abort()
            return
        for victim in decision.evict:
            self.stats.evicted += 1
            PEER_LOG.info("EVSE %d: closing connection c%d to admit one from %s", self.evse_no, victim, ip)
            vt = self._conn_tasks.get(victim)
            if vt is not None:
                vt.cancel()
        self._tasks.add(task)
        self._conn_tasks[cid] = task
        try:
            # a burst of connections is admitted one after the other within one loop iteration, each pushing
            # out the previous; yield once so that only the survivors start a TLS handshake (each allocates
            # large buffers: hundreds at once raised the memory for good)
            if tls:
                cast(asyncio.Transport, writer.transport).pause_reading()  # ClientHello stays in the kernel
            await asyncio.sleep(0)
            if cid not in self.admission.conns:
                return
            version: str | None = None
            if tls:
                from josev.tls import accept_tls

                assert self.tls is not None
                info = await accept_tls(
                    reader,
                    writer,
                    self.tls,
                    self.tls_policy,
                    stats=self.tls_stats,
                    handshake_timeout=self.limits.tls_handshake_timeout,
                    logger=PEER_LOG,
                )
                if info is None:
                    return
                self.last_tls = info
                version = info.version
            await self._serve(reader, writer, cid, version, tls=tls)
        except asyncio.CancelledError:
            pass  # pushed out by a newer connection, or the endpoint closes
        finally:
            self.admission.closed(cid)
            self._conn_tasks.pop(cid, None)
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.transport.abort()

    def _car_active(self, cid: int) -> bool:
        """True when another connection of this EVSE is in a V2G session."""
        return any(c.in_session for k, c in self.admission.conns.items() if k != cid)

    def _started(self, cid: int, conn: str, events: list[Any]) -> None:
        for e in events:
            if isinstance(e, SessionStarted):
                self.admission.session_started(cid, self.clock())
                if self.recorder is not None:
                    self.recorder.set_session_id(self.evse_no, conn, e.session_id)

    async def _contactor(self, session: ConnectionCore, out: CoreOutput) -> None:
        """The core asked for the contactor (PowerDelivery Start/Stop): switch it through ``power_gate`` and
        feed the answer back; what the core then sends (the held response) is added to ``out``."""
        req = next((e for e in out.events if isinstance(e, ContactorRequested)), None)
        if req is None or self.power_gate is None:
            return
        try:
            ok = await self.power_gate(self.evse_no, req.close)
        except Exception:
            log.exception("EVSE %d: power gate failed", self.evse_no)
            ok = False
        if not ok:
            log.warning(
                "EVSE %d: contactor not confirmed (%s): PowerDelivery failed", self.evse_no, req.close
            )
        res = session.contactor_result(ok, self.clock())
        out.send += res.send
        out.events += res.events
        out.trace += res.trace
        out.close = res.close

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        cid: int,
        tls_version: str | None,
        *,
        tls: bool,
    ) -> None:
        self.stats.connections += 1
        conn = f"c{cid}"
        session = self._new_core(tls_version)
        if hasattr(session, "tls"):
            session.tls = tls  # Plug & Charge (ISO 15118-2 Contract) is offered on TLS connections only
        self.sessions.add(session)
        splitter = v2gtp.RxSplitter()
        frames_allowed = TokenBucket(self.limits.frame_rate, self.limits.frame_burst, self.clock())
        peer = writer.get_extra_info("peername")
        PEER_LOG.info("EVSE %d: %s connection %s from %s", self.evse_no, tls_version or "TCP", conn, peer)
        self._open_log(conn, writer)
        started = False
        hook = None
        if self.scenario is not None:
            from josev.secc.scenario.hook import ConnectionHook, link_down

            hook = ConnectionHook(
                self.scenario.session(self.clock(), self.wall_clock(), self.evse_no, conn), self.codec
            )

        def emit(events: list[Any]) -> None:
            """A connection that has not started a session while another one charges on this EVSE (an EVSE
            has one car) must not end or disturb the car's session at the coordinator: its events are only
            counted and logged."""
            nonlocal started
            started = started or any(isinstance(e, SessionStarted) for e in events)
            self._emit(events, forward=started or not self._car_active(cid))

        try:
            while not session.closed:
                deadline = session.next_timer
                timeout = None if deadline is None else max(0.0, deadline - self.clock())
                try:
                    data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
                except TimeoutError:
                    out = session.on_timer(self.clock())
                    self._trace(conn, out.trace)
                    emit(list(out.events))
                    if out.send:  # a response that waited for the shell (e.g. certificate installation)
                        self._record("tx", list(out.send), conn)
                        for frame in out.send:
                            writer.write(frame)
                        await writer.drain()
                    if out.close:
                        break
                    continue
                if not data:
                    emit(list(session.connection_lost(self.clock())))
                    break
                frames = splitter.feed(data, self.limits.frame_burst + 1)  # a flood costs no more than this
                if not frames_allowed.take(len(frames), self.clock()):
                    self.stats.flood_closed += 1
                    PEER_LOG.warning(
                        "EVSE %d: %s from %s sends frames faster than %.0f/s: closed",
                        self.evse_no,
                        conn,
                        peer,
                        self.limits.frame_rate,
                    )
                    emit(list(session.connection_lost(self.clock())))
                    break
                self._record("rx", frames, conn)
                if hook is not None and (held := hook.intercept(data, self.clock(), self.wall_clock())):
                    self._trace(conn, hook.held_trace)
                    for frame in held:  # a scenario answers Ongoing for a while (the core answered once)
                        writer.write(frame)
                    self._record("tx", held, conn)
                    self.admission.progress(cid, self.clock())
                    await writer.drain()
                    continue
                out = session.receive(data, self.clock())
                await self._contactor(session, out)
                send, trace = out.send, out.trace
                if (
                    hook is not None
                ):  # the message stream shows what the EV gets: after the scenario's rewrite
                    send, plan = hook.after(out.trace, send, self.clock(), self.wall_clock())
                    trace = hook.sent_trace(trace, plan)
                    if plan.delay_s > 0:
                        await asyncio.sleep(plan.delay_s)
                    if plan.close:
                        self._trace(conn, trace)
                        if plan.link_down_s > 0:
                            await link_down(self.iface, plan.link_down_s)
                        writer.transport.abort()
                        emit(list(session.connection_lost(self.clock())))
                        break
                self._trace(conn, trace)
                for frame in send:
                    writer.write(frame)
                self._record("tx", send, conn)
                if send:
                    self.admission.progress(cid, self.clock())
                    await writer.drain()
                self._started(cid, conn, list(out.events))
                emit(list(out.events))
                if out.close:
                    break
        except (ConnectionError, OSError, ssl.SSLError) as e:
            emit(list(session.connection_lost(self.clock())))
            PEER_LOG.info("EVSE %d: connection error %s", self.evse_no, e)
        except asyncio.CancelledError:
            emit(list(session.connection_lost(self.clock())))
            raise
        except Exception:  # never let one broken session take the service down
            self.stats.errors += 1
            log.exception("EVSE %d: session crashed; closing the connection", self.evse_no)
            emit(list(session.connection_lost(self.clock())))
        finally:
            self.sessions.discard(session)
            if self.recorder is not None:
                with contextlib.suppress(Exception):
                    path = self.recorder.end_session(self.evse_no, conn)
                    if path is not None:
                        PEER_LOG.info("EVSE %d: V2G messages of %s go to %s", self.evse_no, conn, path)
                    if hook is not None and hook.write(path) is not None:
                        PEER_LOG.info("EVSE %d: scenario actions of %s go next to it", self.evse_no, conn)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
