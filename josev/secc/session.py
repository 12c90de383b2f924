"""One SECC connection, sans-IO: V2GTP bytes, the current time and the contactor's answer in; bytes to send,
events, close and the next timer out. The one connection core of DIN SPEC 70121, ISO 15118-2 and ISO 15118-20.

The connection starts with supportedAppProtocol, decoded and negotiated once here: DIN / ISO 15118-2 always (as
configured), the ISO 15118-20 namespaces too when the connection is built with the -20 adapter of the EVSE
(:class:`~josev.secc.iso20.context.Iso20Evse`) and ``iso20_allowed`` (TLS 1.3). The one
:class:`~josev.secc.machine.Engine` then runs the negotiated protocol's spec; each protocol's V2GTP payload
types (DIN / ISO 15118-2 0x8001; -20 0x8002 CommonMessages, 0x8003 AC, 0x8004 DC) say which frames belong to the
session and in which schema, and every response goes out with its schema's payload type.
:meth:`SeccSession.handle_message` is the same path on decoded dicts (EXIficient JSON dialect), which is how the
cores are unit-tested without the EXI codec.

With ``SessionConfig.contactor_wait`` a PowerDelivery Start/Stop response waits for the contactor: the step emits
:class:`~josev.secc.events.ContactorRequested` and sends nothing; the shell switches the contactor and feeds the
outcome back with :meth:`SeccSession.contactor_result`, which sends the response (or the contactor failure code
and ends the session).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from josev.secc.events import LocalError, SessionEnded
from josev.secc.evse import EvseView
from josev.secc.iso20.context import Iso20Config, Iso20Evse
from josev.secc.iso20.events import Iso20Event
from josev.secc.machine import Engine, ProtocolSpec, SessionStore, StepResult, random_session_id
from josev.secc.timers import DEFAULT_TIMERS, SeccTimers
from josev.v2g import sap, v2gtp
from josev.v2g.codec import Codec, CodecError
from josev.v2g.iso20.namespaces import FAMILY_BY_URI, NAMESPACES


def spec_for(protocol: sap.AppProtocol) -> ProtocolSpec[Any]:
    """The protocol spec of a negotiated protocol."""
    if protocol is sap.AppProtocol.DIN:
        from josev.secc.din import SPEC as DIN

        return DIN
    if protocol is sap.AppProtocol.ISO2:
        from josev.secc.iso2 import SPEC as ISO2

        return ISO2
    if protocol is sap.AppProtocol.ISO20:
        from josev.secc.iso20 import SPEC as ISO20

        return ISO20
    raise ValueError(f"{protocol} not implemented")


@dataclass(slots=True)
class MessageOutput:
    """Dict-level result: the response (with its schema) or None, events and whether to close."""

    response: dict[str, Any] | None
    schema: str
    events: list[Iso20Event]
    close: bool


@dataclass(slots=True)
class Output:
    """Byte-level result of :meth:`SeccSession.receive` / :meth:`SeccSession.on_timer`."""

    send: list[bytes] = field(default_factory=list)
    events: list[Iso20Event] = field(default_factory=list)
    close: bool = False
    #: Messages (schema, dict) exchanged in this step, for logging and tests.
    trace: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass(slots=True)
class SessionConfig:
    """Per-EVSE SECC settings."""

    enabled: tuple[sap.AppProtocol, ...] = (sap.AppProtocol.ISO2, sap.AppProtocol.DIN)
    timers: SeccTimers = DEFAULT_TIMERS
    max_payload: int = v2gtp.DEFAULT_MAX_PAYLOAD
    new_session_id: Callable[[], str] = random_session_id
    #: hold a PowerDelivery Start/Stop response until :meth:`SeccSession.contactor_result`
    contactor_wait: bool = False


class SeccSession:
    """The SECC side of one TCP (or TLS) connection, for every protocol (see the module docstring).

    ``evse``: the EVSE view, or its -20 adapter to offer ISO 15118-20 too (``families``: the -20 namespaces, AC
    and/or DC; ``iso20``: the -20 settings; ``iso20_allowed`` False on a connection without TLS 1.3, where -20
    is not offered: ISO 15118-20 requires TLS 1.3)."""

    def __init__(
        self,
        evse: EvseView | Iso20Evse,
        now: float,
        *,
        codec: Codec | None = None,
        config: SessionConfig | None = None,
        store: SessionStore | None = None,
        tls: bool = False,
        iso20: Iso20Config | None = None,
        families: tuple[str, ...] = ("AC", "DC"),
        iso20_allowed: bool = True,
    ) -> None:
        self.station = evse if isinstance(evse, Iso20Evse) else None
        self.evse = evse.view if isinstance(evse, Iso20Evse) else evse
        self.tls = tls
        """The connection is TLS-protected (ISO 15118-2 offers Contract only then)."""
        self.codec = codec
        self.config = config or SessionConfig()
        self.store = store if store is not None else SessionStore()
        self.iso20 = iso20 or Iso20Config()
        self.families = families
        self.iso20_allowed = iso20_allowed
        self.protocol: sap.AppProtocol | None = None
        self.family: str | None = None
        """-20: ``AC`` or ``DC`` from the negotiated namespace."""
        self.engine: Engine[Any] | None = None
        self.closed = False
        self.deadline: float | None = now + self.config.timers.communication_setup
        self._setup_done = False
        self._deframer = v2gtp.Deframer(self.config.max_payload)
        self._last: float | None = now

    #: how often a response waiting for the shell (certificate installation) is polled, seconds
    POLL_S = 0.02

    @property
    def next_timer(self) -> float | None:
        """When :meth:`on_timer` must be called next (None when closed)."""
        if self.closed:
            return None
        if self.engine is not None and self.engine.pending is not None and self._last is not None:
            poll = self._last + self.POLL_S
            return poll if self.deadline is None else min(poll, self.deadline)
        return self.deadline

    @property
    def state(self) -> str:
        """Current state name (``SupportedAppProtocol`` before negotiation)."""
        if self.closed and self.engine is None:
            return "Ended"
        return self.engine.state if self.engine else "SupportedAppProtocol"

    @property
    def schema(self) -> str:
        """The schema of the next expected message (-20: of CommonMessages)."""
        return self.engine.spec.schema if self.engine is not None else "sap"

    @property
    def contactor(self) -> bool | None:
        """While a PowerDeliveryRes waits for the contactor: True (close) / False (open); else None."""
        return self.engine.contactor if self.engine is not None and not self.closed else None

    def _end(self, reason: str, detail: str = "") -> list[Iso20Event]:
        self.closed = True
        self.deadline = None
        if self.engine is not None:
            return self.engine.abort(reason, detail).events
        return [SessionEnded(reason, detail=detail)]

    def _offers_iso20(self) -> bool:
        return self.station is not None and self.iso20_allowed

    def _negotiate(self, msg: Any, now: float) -> MessageOutput:
        """supportedAppProtocol: pick the protocol and build its engine."""
        enabled = self.config.enabled
        supported = sap.SUPPORTED
        if self._offers_iso20():
            enabled = (*enabled, sap.AppProtocol.ISO20)
            supported += tuple(ns for ns in NAMESPACES if FAMILY_BY_URI[ns.uri] in self.families)
        try:
            neg = sap.negotiate(msg, enabled, supported)
        except sap.SapError as e:
            return MessageOutput(None, "sap", self._end("malformed", str(e)), True)
        if neg.protocol is None:
            return MessageOutput(neg.response, "sap", self._end("Failed_NoNegotiation"), True)
        self.protocol = neg.protocol
        timers, sid = self.config.timers, self.config.new_session_id
        if neg.protocol is sap.AppProtocol.ISO20:
            entries = msg["supportedAppProtocolReq"]["AppProtocol"]
            entries = entries if isinstance(entries, list) else [entries]
            uri = next(e["ProtocolNamespace"] for e in entries if e["SchemaID"] == neg.schema_id)
            self.family = FAMILY_BY_URI[uri]
            engine: Engine[Any] = Engine(
                spec_for(neg.protocol),
                self.station,
                config=self.iso20,
                timers=timers,
                store=self.store,
                new_session_id=sid,
                family=self.family,
            )
        else:
            engine = Engine(
                spec_for(neg.protocol),
                self.evse,
                timers=timers,
                store=self.store,
                new_session_id=sid,
                tls=self.tls,
            )
        engine.contactor_wait = self.config.contactor_wait
        self.engine = engine
        return MessageOutput(neg.response, "sap", [], False)

    def _stepped(self, step: StepResult, now: float) -> MessageOutput:
        """Timers after an engine step."""
        assert self.engine is not None
        if step.end:
            self.closed = True
            self.deadline = None
        else:
            if self.engine.state != "SessionSetup":
                self._setup_done = True
            if self._setup_done:
                self.deadline = now + self.config.timers.sequence
        return MessageOutput(step.response, step.schema, step.events, step.end)

    def handle_message(self, msg: Any, now: float) -> MessageOutput:
        """Handle one decoded message (dict) and return the response dict."""
        if self.closed:
            return MessageOutput(None, self.schema, [], True)
        if self.engine is None:
            return self._negotiate(msg, now)
        return self._stepped(self.engine.step(msg, now), now)

    def receive(self, data: bytes, now: float) -> Output:
        """Feed bytes from the TCP stream."""
        out = Output()
        self._last = now
        if self.closed:
            out.close = True
            return out
        try:
            frames = self._deframer.feed(data)
        except v2gtp.V2gtpError as e:
            out.events += self._end("v2gtp_error", e.reason)
            out.close = True
            return out
        for fr in frames:
            if self.closed:
                break
            if self.engine is None:
                schema: str | None = "sap" if fr.payload_type == v2gtp.PayloadType.EXI else None
            else:
                schema = self.engine.spec.payload_schemas.get(fr.payload_type)
            if schema is None:
                continue  # a payload type that is not part of this session (SAP again, ACDP, WPT...): ignored
            if self.codec is None:
                raise RuntimeError("receive() needs a codec; use handle_message() for dicts")
            try:
                msg = self.codec.decode(schema, fr.payload)
            except CodecError as e:
                out.events += self._end("decode_error", str(e))
                break
            out.trace.append((schema, msg))
            res = self.handle_message(msg, now)
            out.events += res.events
            if res.response is not None and not self._send(res.response, out, res.schema):
                break
        out.close = self.closed
        return out

    def poll_message(self, now: float) -> MessageOutput | None:
        """Dict-level :meth:`on_timer` for a pending request: its response once the shell's input is there."""
        if self.closed or self.engine is None or self.engine.pending is None:
            return None
        step = self.engine.poll(now)
        if step is None:
            return None
        if step.end:
            self.closed = True
            self.deadline = None
        return MessageOutput(step.response, step.schema, step.events, step.end)

    def _send(self, response: dict[str, Any], out: Output, schema: str) -> bool:
        """Encode and frame ``response`` into ``out``; an encoding failure (our bug) ends the session."""
        assert self.codec is not None
        try:
            payload = self.codec.encode(schema, response)
        except CodecError as e:  # our own bug: report it, end the session cleanly
            out.events += self._end("encode_error", str(e))
            out.events.append(LocalError("encode", f"{schema}: {e}"))
            return False
        out.trace.append((schema, response))
        out.send.append(v2gtp.frame(v2gtp.SCHEMA_PAYLOADS[schema], payload))
        return True

    def _answer(self, step: StepResult, now: float, out: Output) -> Output:
        """Send a held response (pending input or contactor) and restart the sequence timer."""
        out.events += step.events
        if step.response is not None:
            self._send(step.response, out, step.schema)
        if step.end:
            self.closed = True
            self.deadline = None
        elif not self.closed:
            self.deadline = now + self.config.timers.sequence
        out.close = self.closed
        return out

    def on_timer(self, now: float) -> Output:
        """Check the communication-setup and sequence timeouts, and answer a pending request once its input
        is there (or its wait is over)."""
        out = Output()
        self._last = now
        if not self.closed and self.engine is not None and self.engine.pending is not None:
            step = self.engine.poll(now)
            if step is not None:
                return self._answer(step, now, out)
        if not self.closed and self.deadline is not None and now >= self.deadline:
            reason = "sequence_timeout" if self._setup_done else "communication_setup_timeout"
            out.events += self._end(reason)
        out.close = self.closed
        return out

    def contactor_result(self, ok: bool, now: float) -> Output:
        """The shell's answer to :class:`~josev.secc.events.ContactorRequested`: the contactor switched
        (``ok``) or not. Sends the held PowerDeliveryRes; on failure with the contactor failure code
        (``FAILED_ContactorError``, DIN ``FAILED_PowerDeliveryNotApplied``), and the session ends."""
        out = Output()
        self._last = now
        if self.closed or self.engine is None:
            out.close = self.closed
            return out
        step = self.engine.contactor_result(ok, now)
        if step is None:
            out.close = self.closed
            return out
        return self._answer(step, now, out)

    def connection_lost(self, now: float) -> list[Iso20Event]:
        """The peer closed the connection."""
        if self.closed:
            return []
        return self._end("connection_lost")
