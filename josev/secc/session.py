"""One SECC connection, sans-IO: V2GTP bytes and the current time in; bytes to send, events, close and the
next timer out.

The connection starts with supportedAppProtocol; the negotiated protocol's :class:`~josev.secc.machine.Engine`
then runs the session. :meth:`SeccSession.handle_message` is the same path on decoded dicts (EXIficient JSON
dialect), which is how the cores are unit-tested without the EXI codec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from josev.secc.events import Event, LocalError, SessionEnded
from josev.secc.evse import EvseView
from josev.secc.machine import Engine, ProtocolSpec, SessionStore, random_session_id
from josev.secc.timers import DEFAULT_TIMERS, SeccTimers
from josev.v2g import sap, v2gtp
from josev.v2g.codec import Codec, CodecError


def spec_for(protocol: sap.AppProtocol) -> ProtocolSpec[Any]:
    """The protocol spec of a negotiated protocol."""
    if protocol is sap.AppProtocol.DIN:
        from josev.secc.din import SPEC as DIN

        return DIN
    if protocol is sap.AppProtocol.ISO2:
        from josev.secc.iso2 import SPEC as ISO2

        return ISO2
    raise ValueError(f"{protocol} not implemented")  # ISO 15118-20: issue 7


@dataclass(slots=True)
class MessageOutput:
    """Dict-level result: the response (with its schema) or None, events and whether to close."""

    response: dict[str, Any] | None
    schema: str
    events: list[Event]
    close: bool


@dataclass(slots=True)
class Output:
    """Byte-level result of :meth:`SeccSession.receive` / :meth:`SeccSession.on_timer`."""

    send: list[bytes] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
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


class SeccSession:
    """The SECC side of one TCP (or TLS) connection."""

    def __init__(
        self,
        evse: EvseView,
        now: float,
        *,
        codec: Codec | None = None,
        config: SessionConfig | None = None,
        store: SessionStore | None = None,
        tls: bool = False,
    ) -> None:
        self.evse = evse
        self.tls = tls
        self.codec = codec
        self.config = config or SessionConfig()
        self.store = store if store is not None else SessionStore()
        self.protocol: sap.AppProtocol | None = None
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
        """The schema of the next expected message."""
        return self.protocol.value if self.protocol else "sap"

    def _end(self, reason: str, detail: str = "") -> list[Event]:
        self.closed = True
        self.deadline = None
        if self.engine is not None:
            return self.engine.abort(reason, detail).events
        return [SessionEnded(reason, detail=detail)]

    def handle_message(self, msg: Any, now: float) -> MessageOutput:
        """Handle one decoded message (dict) and return the response dict."""
        if self.closed:
            return MessageOutput(None, self.schema, [], True)
        if self.engine is None:
            try:
                neg = sap.negotiate(msg, self.config.enabled)
            except sap.SapError as e:
                return MessageOutput(None, "sap", self._end("malformed", str(e)), True)
            if neg.protocol is None:
                return MessageOutput(neg.response, "sap", self._end("Failed_NoNegotiation"), True)
            self.protocol = neg.protocol
            self.engine = Engine(
                spec_for(neg.protocol),
                self.evse,
                timers=self.config.timers,
                store=self.store,
                new_session_id=self.config.new_session_id,
                tls=self.tls,
            )
            return MessageOutput(neg.response, "sap", [], False)
        step = self.engine.step(msg, now)
        if step.end:
            self.closed = True
            self.deadline = None
        else:
            if self.engine.state != "SessionSetup":
                self._setup_done = True
            if self._setup_done:
                self.deadline = now + self.config.timers.sequence
        return MessageOutput(step.response, self.schema, step.events, step.end)

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
            if fr.payload_type != v2gtp.PayloadType.EXI:
                continue  # other payload types are not part of SAP/DIN/ISO 15118-2: ignored
            schema = self.schema
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
        return MessageOutput(step.response, self.schema, step.events, step.end)

    def _send(self, response: dict[str, Any], out: Output, schema: str | None = None) -> bool:
        """Encode and frame ``response`` into ``out``; an encoding failure (our bug) ends the session."""
        schema = schema or self.schema
        assert self.codec is not None
        try:
            payload = self.codec.encode(schema, response)
        except CodecError as e:  # our own bug: report it, end the session cleanly
            out.events += self._end("encode_error", str(e))
            out.events.append(LocalError("encode", f"{schema}: {e}"))
            return False
        out.trace.append((schema, response))
        out.send.append(v2gtp.frame(v2gtp.PayloadType.EXI, payload))
        return True

    def on_timer(self, now: float) -> Output:
        """Check the communication-setup and sequence timeouts, and answer a pending request once its input
        is there."""
        out = Output()
        self._last = now
        if not self.closed and self.engine is not None and self.engine.pending is not None:
            step = self.engine.poll(now)
            if step is not None:
                out.events += step.events
                if step.response is not None:
                    self._send(step.response, out)
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

    def connection_lost(self, now: float) -> list[Event]:
        """The peer closed the connection."""
        if self.closed:
            return []
        return self._end("connection_lost")
