"""One SECC connection that also speaks ISO 15118-20, sans-IO: V2GTP bytes and the current time in; bytes to
send, events, close and the next timer out (the interface of :class:`josev.secc.session.SeccSession`).

supportedAppProtocol is answered here with the -20 namespaces added to the station's DIN / ISO 15118-2 ones.
When the EV picks a -20 namespace, the one engine (:class:`~josev.secc.machine.Engine`) runs the session on the -20
payload types (0x8002 CommonMessages, 0x8003 AC, 0x8004 DC; each response goes out with its schema's type).
When it picks DIN or ISO 15118-2, the connection hands the very same SAP frame to a
:class:`~josev.secc.session.SeccSession` and forwards everything to it from then on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from josev.secc.events import LocalError, SessionEnded
from josev.secc.evse import EvseView
from josev.secc.iso20 import SPEC
from josev.secc.iso20.context import Iso20Config, Iso20Context, Iso20Evse
from josev.secc.iso20.events import Iso20Event
from josev.secc.machine import Engine, SessionStore
from josev.secc.session import SeccSession, SessionConfig
from josev.v2g import sap, v2gtp
from josev.v2g.codec import Codec, CodecError
from josev.v2g.iso20.namespaces import FAMILY_BY_URI, NAMESPACES

SCHEMA_BY_PAYLOAD: dict[int, str] = {
    v2gtp.PayloadType.EXI_20_MAIN: "iso20-cm",
    v2gtp.PayloadType.EXI_20_AC: "iso20-ac",
    v2gtp.PayloadType.EXI_20_DC: "iso20-dc",
}


@dataclass(slots=True)
class Iso20Output:
    """Byte-level result of :meth:`Iso20Connection.receive` / :meth:`Iso20Connection.on_timer`."""

    send: list[bytes] = field(default_factory=list)
    events: list[Iso20Event] = field(default_factory=list)
    close: bool = False
    #: Messages (schema, dict) exchanged in this step, for logging and tests.
    trace: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class Iso20Connection:
    """The SECC side of one TCP/TLS connection with -20 enabled (see the module docstring)."""

    def __init__(
        self,
        station: Iso20Evse,
        now: float,
        *,
        codec: Codec,
        config: SessionConfig | None = None,
        iso20: Iso20Config | None = None,
        store: SessionStore | None = None,
        families: tuple[str, ...] = ("AC", "DC"),
        iso20_allowed: bool = True,
    ) -> None:
        self.station = station
        self.iso20_allowed = iso20_allowed
        """False on a connection without TLS 1.3: -20 is not offered in supportedAppProtocol (ISO 15118-20
        requires TLS 1.3), DIN / ISO 15118-2 still are."""
        self.codec = codec
        self.config = config or SessionConfig()
        self.iso20 = iso20 or Iso20Config()
        self.store = store if store is not None else SessionStore()
        self.families = families
        self.engine: Engine[Iso20Context] | None = None
        self.legacy: SeccSession | None = None
        #: the connection is TLS-protected (the legacy ISO 15118-2 session offers Contract only then)
        self.tls = False
        self.family: str | None = None
        self.closed = False
        self.deadline: float | None = now + self.config.timers.communication_setup
        self._setup_done = False
        self._deframer = v2gtp.Deframer(self.config.max_payload)
        self._last = now

    #: how often a response waiting for the shell (certificate installation) is polled, seconds
    POLL_S = 0.02

    @property
    def evse(self) -> EvseView:
        """The shared EVSE view."""
        return self.station.view

    @property
    def next_timer(self) -> float | None:
        """When :meth:`on_timer` must be called next (None when closed)."""
        if self.legacy is not None:
            return self.legacy.next_timer
        if self.closed:
            return None
        if self.engine is not None and self.engine.pending is not None:
            poll = self._last + self.POLL_S
            return poll if self.deadline is None else min(poll, self.deadline)
        return self.deadline

    @property
    def state(self) -> str:
        """Current state name (``SupportedAppProtocol`` before negotiation)."""
        if self.legacy is not None:
            return self.legacy.state
        if self.engine is not None:
            return self.engine.state
        return "Ended" if self.closed else "SupportedAppProtocol"

    @property
    def protocol(self) -> str | None:
        """``iso20``, ``iso2``, ``din`` or None before negotiation."""
        if self.legacy is not None:
            return self.legacy.protocol.value if self.legacy.protocol else None
        return "iso20" if self.engine is not None else None

    def _end(self, reason: str, detail: str = "") -> list[Iso20Event]:
        self.closed = True
        self.deadline = None
        if self.engine is not None:
            return self.engine.abort(reason, detail).events
        return [SessionEnded(reason, detail=detail)]

    def _supported(self) -> tuple[sap.Namespace, ...]:
        if not self.iso20_allowed:
            return sap.SUPPORTED
        mine = tuple(ns for ns in NAMESPACES if FAMILY_BY_URI[ns.uri] in self.families)
        return sap.SUPPORTED + mine

    def _negotiate(self, raw: bytes, now: float, out: Iso20Output) -> None:
        try:
            msg = self.codec.decode("sap", raw)
        except CodecError as e:
            out.events += self._end("decode_error", str(e))
            return
        out.trace.append(("sap", msg))
        try:
            enabled = (
                (*self.config.enabled, sap.AppProtocol.ISO20) if self.iso20_allowed else self.config.enabled
            )
            neg = sap.negotiate(msg, enabled, self._supported())
        except sap.SapError as e:
            out.events += self._end("malformed", str(e))
            return
        if neg.protocol is not sap.AppProtocol.ISO20:
            # DIN / ISO 15118-2 (or no match): the legacy session negotiates the same frame again and answers
            self.legacy = SeccSession(
                self.evse, now, codec=self.codec, config=self.config, store=self.store, tls=self.tls
            )
            res = self.legacy.receive(v2gtp.frame(v2gtp.PayloadType.EXI, raw), now)
            out.send += res.send
            out.events += res.events
            out.trace[-1:] = res.trace  # the legacy session traced the same request again
            self.closed = self.legacy.closed
            return
        entries = msg["supportedAppProtocolReq"]["AppProtocol"]
        entries = entries if isinstance(entries, list) else [entries]
        uri = next(e["ProtocolNamespace"] for e in entries if e["SchemaID"] == neg.schema_id)
        self.family = FAMILY_BY_URI[uri]
        self.engine = Engine(
            SPEC,
            self.station,
            config=self.iso20,
            timers=self.config.timers,
            store=self.store,
            new_session_id=self.config.new_session_id,
            family=self.family,
        )
        self._send(out, "sap", neg.response)

    def _send(self, out: Iso20Output, schema: str, msg: dict[str, Any]) -> None:
        try:
            payload = self.codec.encode(schema, msg)
        except CodecError as e:  # our own bug: report it, end the session cleanly
            out.events += self._end("encode_error", str(e))
            out.events.append(LocalError("encode", f"{schema}: {e}"))
            return
        out.trace.append((schema, msg))
        out.send.append(v2gtp.frame(v2gtp.SCHEMA_PAYLOADS[schema], payload))

    def handle_message(
        self, msg: Any, now: float
    ) -> tuple[dict[str, Any] | None, str, list[Iso20Event], bool]:
        """Dict-level step of a negotiated -20 session: (response, schema, events, close)."""
        assert self.engine is not None
        step = self.engine.step(msg, now)
        if step.end:
            self.closed = True
            self.deadline = None
        else:
            if self.engine.state != "SessionSetup":
                self._setup_done = True
            if self._setup_done:
                self.deadline = now + self.config.timers.sequence
        return step.response, step.schema, step.events, step.end

    def receive(self, data: bytes, now: float) -> Iso20Output:
        """Feed bytes from the TCP/TLS stream."""
        out = Iso20Output()
        self._last = now
        if self.legacy is not None:
            res = self.legacy.receive(data, now)
            out.send, out.events, out.close, out.trace = res.send, list(res.events), res.close, res.trace
            self.closed = self.legacy.closed
            return out
        if self.closed:
            out.close = True
            return out
        try:
            frames = self._deframer.feed(data)
        except v2gtp.V2gtpError as e:
            out.events += self._end("v2gtp_error", e.reason)
            out.close = True
            return out
        for i, fr in enumerate(frames):
            if self.closed:
                break
            if self.legacy is not None:  # negotiated DIN/ISO-2 in this very read: pass the rest on
                rest = b"".join(v2gtp.frame(f.payload_type, f.payload) for f in frames[i:])
                res = self.legacy.receive(rest, now)
                out.send += res.send
                out.events += res.events
                out.trace += res.trace
                self.closed = self.legacy.closed
                break
            if self.engine is None:
                if fr.payload_type == v2gtp.PayloadType.EXI:
                    self._negotiate(fr.payload, now, out)
                continue
            schema = SCHEMA_BY_PAYLOAD.get(fr.payload_type)
            if schema is None:
                continue  # SAP again, ACDP, WPT, ...: not part of this session, discarded
            try:
                msg = self.codec.decode(schema, fr.payload)
            except CodecError as e:
                out.events += self._end("decode_error", str(e))
                break
            out.trace.append((schema, msg))
            response, res_schema, events, _end = self.handle_message(msg, now)
            out.events += events
            if response is not None:
                self._send(out, res_schema, response)
        out.close = self.closed
        return out

    def on_timer(self, now: float) -> Iso20Output:
        """Check the communication-setup and sequence timeouts, and answer a pending request (certificate
        installation) once the shell's input is there or its wait is over."""
        out = Iso20Output()
        self._last = now
        if self.legacy is not None:
            res = self.legacy.on_timer(now)
            out.events, out.close = list(res.events), res.close
            out.send += res.send
            out.trace += res.trace
            self.closed = self.legacy.closed
            return out
        if not self.closed and self.engine is not None and self.engine.pending is not None:
            step = self.engine.poll(now)
            if step is not None:
                out.events += step.events
                if step.response is not None:
                    self._send(out, step.schema, step.response)
                if step.end:
                    self.closed = True
                    self.deadline = None
                else:
                    self.deadline = now + self.config.timers.sequence
                out.close = self.closed
                return out
        if not self.closed and self.deadline is not None and now >= self.deadline:
            reason = "sequence_timeout" if self._setup_done else "communication_setup_timeout"
            out.events += self._end(reason)
        out.close = self.closed
        return out

    def connection_lost(self, now: float) -> list[Iso20Event]:
        """The peer closed the connection."""
        if self.legacy is not None:
            self.closed = True
            return list(self.legacy.connection_lost(now))
        if self.closed:
            return []
        return self._end("connection_lost")
