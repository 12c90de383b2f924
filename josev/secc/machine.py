"""The table-driven session engine shared by DIN SPEC 70121 and ISO 15118-2.

Each protocol gives a :class:`ProtocolSpec`: its states, a transition table ``(state, request) -> allowed next
states`` and one handler module per request message. The engine checks the message shape, the SessionID and
the table, runs the handler, and turns every problem into the response code the standard names
(``FAILED_SequenceError``, ``FAILED_UnknownSession``, ``FAILED_WrongChargeParameter``, ``FAILED``...), after
which the session ends cleanly.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from josev.secc.events import Event, EventLog, ProtocolViolation, SessionEnded
from josev.secc.evse import EvseView
from josev.secc.timers import DEFAULT_TIMERS, SeccTimers
from josev.v2g.physical import ParameterError

ENDED = "Ended"


class HandlerError(Exception):
    """A handler refuses the request with ``code`` (a FAILED_* response code)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Pending:
    """A handler's answer "not yet": the response waits for an input of the shell (e.g. the CSMS's answer to a
    certificate installation), which the engine polls with :meth:`Engine.poll`. After ``limit`` seconds the
    request is answered with ``timeout_code``."""

    limit: float
    timeout_code: str = "FAILED"


class MalformedMessage(ValueError):
    """The message is not a V2G_Message with a header and exactly one body element."""


@dataclass(slots=True)
class PausedSession:
    """What survives a SessionStop(Pause) for the same EV to rejoin."""

    session_id: str
    protocol: str
    evcc_id: str
    payment: str | None
    at: float = 0.0
    """When it was paused (the cores' monotonic clock)."""


MAX_PAUSE_S = 3600.0
"""How long a paused session may be rejoined (``SessionStore.max_pause``)."""
MAX_PAUSED = 2
"""Paused sessions kept per EVSE (an EVSE has one car; the newest are kept)."""


@dataclass(slots=True)
class SessionStore:
    """Per-EVSE memory of paused sessions (by SessionID), bounded in number and age, each bound to the EVCCID
    of the EV that paused it."""

    paused: dict[str, PausedSession] = field(default_factory=dict)
    max_pause: float = MAX_PAUSE_S

    def pause(self, p: PausedSession) -> None:
        """Remember a paused session (the oldest beyond :data:`MAX_PAUSED` are forgotten)."""
        self.paused.pop(p.session_id, None)
        self.paused[p.session_id] = p
        while len(self.paused) > MAX_PAUSED:
            del self.paused[next(iter(self.paused))]

    def rejoin(self, session_id: str, protocol: str, evcc_id: str, now: float) -> PausedSession | None:
        """The paused session ``session_id`` if the same EV (EVCCID) asks for it with the same protocol within
        ``max_pause``; it is then taken out. A different EV gets None and leaves it to its owner; an expired
        one is dropped."""
        for sid in [k for k, v in self.paused.items() if now - v.at > self.max_pause]:
            del self.paused[sid]
        p = self.paused.get(session_id) if session_id.strip("0") else None
        if p is None or p.protocol != protocol or p.evcc_id.upper() != evcc_id.upper():
            return None
        del self.paused[session_id]
        return p


@dataclass(slots=True)
class Context:
    """Mutable per-connection session state that the handlers read and write."""

    protocol: str
    evse: EvseView
    timers: SeccTimers
    store: SessionStore
    new_session_id: Callable[[], str]
    events: EventLog = field(default_factory=EventLog)
    session_id: str | None = None
    evcc_id: str = ""
    payment: str | None = None
    energy_mode: str | None = None
    schedule_id: int = 1
    offered_pmax: float = 0.0
    #: the PMaxSchedule last offered, absolute (``josev.secc.schedule.Offered``), and the schedule version
    offered_schedule: tuple[tuple[float, float], ...] = ()
    schedule_version_seen: int = 0
    #: the composite's version when ChargeParameterDiscovery began (OCPP K15: a new profile ends the wait)
    needs_version: int = 0
    #: the time of the request being handled (the cores' clock)
    now: float = 0.0
    ongoing_since: dict[str, float] = field(default_factory=dict)
    requested: set[str] = field(default_factory=set)
    limits_version_seen: int = 0
    renegotiating: bool = False
    paused: bool = False
    #: the connection is TLS-protected (Plug & Charge needs it)
    tls: bool = False
    #: the Header of the request being handled (its Signature, for Plug & Charge)
    header: dict[str, Any] = field(default_factory=dict)
    #: Plug & Charge: the validated contract chain (a :class:`josev.pnc.contract.Chain`) and the challenge sent
    contract: Any = None
    gen_challenge: str | None = None
    #: extra header of the next response (a signature relayed from the certificate provisioning service)
    response_signature: dict[str, Any] | None = None
    #: a request waiting for the shell: the ticket the answer comes back under (``EvseView.pnc_answers``)
    ticket: str | None = None
    #: ISO 15118-2 MeteringReceipt: the MeterInfo sent with ReceiptRequired (the EV must sign exactly this) and
    #: when the last receipt was asked for
    meter_info: dict[str, Any] | None = None
    receipt_asked_at: float | None = None

    def emit(self, ev: Event) -> None:
        """Emit an event to the shell."""
        self.events.emit(ev)

    def ongoing(self, key: str, now: float, limit: float) -> bool:
        """Track an Ongoing loop; return True when it has lasted longer than ``limit``."""
        start = self.ongoing_since.setdefault(key, now)
        return now - start > limit

    def done(self, key: str) -> None:
        """Forget an Ongoing loop."""
        self.ongoing_since.pop(key, None)


class Handler(Protocol):
    """A request handler module."""

    REQUEST: str
    RESPONSE: str

    def handle(
        self, ctx: Context, req: dict[str, Any], now: float, state: str
    ) -> tuple[dict[str, Any] | Pending, str]:
        """Return the response body (or :class:`Pending`: the answer waits for the shell) and the next state."""
        ...

    def negative(self, ctx: Context, code: str) -> dict[str, Any]:
        """A schema-valid response body carrying the FAILED ``code``."""
        ...


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    """A protocol: states, transition table and handlers."""

    name: str
    schema: str
    states: tuple[str, ...]
    initial: str
    table: Mapping[tuple[str, str], frozenset[str]]
    handlers: Mapping[str, Handler]

    def __deepcopy__(self, memo: dict[int, Any]) -> ProtocolSpec:
        return self  # immutable; holds handler modules

    def format_table(self) -> str:
        """The table as aligned text (state, request -> next states)."""
        rows = [(s, r, ", ".join(sorted(n))) for (s, r), n in self.table.items()]
        w1 = max(len(r[0]) for r in rows)
        w2 = max(len(r[1]) for r in rows)
        return "\n".join(f"{s:<{w1}}  {r:<{w2}}  -> {n}" for s, r, n in rows)


@dataclass(slots=True)
class StepResult:
    """Outcome of one request: the response message (or None) and whether the session ends."""

    response: dict[str, Any] | None
    end: bool
    events: list[Event]


def split_message(msg: Any) -> tuple[str, str, dict[str, Any]]:
    """Return ``(session_id, body_name, body)`` of a V2G_Message dict or raise :class:`MalformedMessage`."""
    if not isinstance(msg, dict) or not isinstance(msg.get("V2G_Message"), dict):
        raise MalformedMessage("not a V2G_Message")
    v2g = msg["V2G_Message"]
    header, body = v2g.get("Header"), v2g.get("Body")
    if not isinstance(header, dict) or not isinstance(header.get("SessionID"), str):
        raise MalformedMessage("missing Header/SessionID")
    if not isinstance(body, dict) or len(body) != 1:
        raise MalformedMessage("Body must hold exactly one message")
    name, content = next(iter(body.items()))
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise MalformedMessage(f"{name} is not an object")
    return header["SessionID"].upper(), name, content


def random_session_id() -> str:
    """A fresh 8-byte SessionID in hex."""
    sid = "0" * 16
    while sid.strip("0") == "":
        sid = secrets.token_hex(8).upper()
    return sid


class Engine:
    """Runs one protocol's table for one connection."""

    def __init__(
        self,
        spec: ProtocolSpec,
        evse: EvseView,
        *,
        timers: SeccTimers = DEFAULT_TIMERS,
        store: SessionStore | None = None,
        new_session_id: Callable[[], str] = random_session_id,
        tls: bool = False,
    ) -> None:
        self.spec = spec
        self.state = spec.initial
        self.ctx = Context(spec.name, evse, timers, store or SessionStore(), new_session_id, tls=tls)
        self.ctx.limits_version_seen = evse.limits_version
        self.ctx.schedule_version_seen = evse.schedule_version
        self.ctx.schedule_id = evse.schedule_tuple_id
        #: the handler whose response waits for the shell, and until when (see :class:`Pending`)
        self.pending: tuple[Any, Pending, float, frozenset[str]] | None = None

    @property
    def ended(self) -> bool:
        """True once the session is over."""
        return self.state == ENDED

    def _wrap(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        sid = self.ctx.session_id or ("00" if self.spec.name == "din" else "0" * 16)
        header: dict[str, Any] = {"SessionID": sid}
        if self.ctx.response_signature is not None:
            header["Signature"] = self.ctx.response_signature
            self.ctx.response_signature = None
        return {"V2G_Message": {"Header": header, "Body": {name: body}}}

    def _fail(self, handler: Handler, code: str, detail: str) -> StepResult:
        self.ctx.emit(ProtocolViolation(handler.REQUEST, code, detail))
        self.ctx.emit(SessionEnded(code, detail=detail))
        self.state = ENDED
        return StepResult(self._wrap(handler.RESPONSE, handler.negative(self.ctx, code)), True, self._drain())

    def _drain(self) -> list[Event]:
        out = self.ctx.events.items
        self.ctx.events = EventLog()
        return out

    def step(self, msg: Any, now: float) -> StepResult:
        """Handle one decoded request."""
        if self.ended:
            return StepResult(None, True, [])
        self.ctx.now = now
        try:
            sid, name, body = split_message(msg)
        except MalformedMessage as e:
            return self.abort("malformed", str(e))
        handler = self.spec.handlers.get(name)
        if handler is None:
            return self.abort("unknown_message", f"{name} is not a {self.spec.name} request")
        if self.pending is not None:  # the EV may not send before the response it waits for
            return self._fail(
                handler, "FAILED_SequenceError", f"{name} while {self.pending[0].REQUEST} is pending"
            )
        allowed = self.spec.table.get((self.state, name))
        if allowed is None:
            return self._fail(handler, "FAILED_SequenceError", f"{name} not expected in state {self.state}")
        if name != "SessionSetupReq" and sid != self.ctx.session_id:
            return self._fail(handler, "FAILED_UnknownSession", f"SessionID {sid} != {self.ctx.session_id}")
        self.ctx.requested.add(name)
        self.ctx.header = msg["V2G_Message"]["Header"]
        if name == "SessionSetupReq":
            self.ctx.session_id = sid  # the handler decides new vs rejoined
        try:
            res, nxt = handler.handle(self.ctx, body, now, self.state)
        except HandlerError as e:
            return self._fail(handler, e.code, e.detail)
        except (ParameterError, KeyError, TypeError, ValueError, AttributeError) as e:
            code = "FAILED_WrongChargeParameter" if isinstance(e, ParameterError) else "FAILED"
            return self._fail(handler, code, f"bad {name}: {e!r}")
        if isinstance(res, Pending):
            self.pending = (handler, res, now + res.limit, allowed)
            return StepResult(None, False, self._drain())
        return self._finish(handler, res, nxt, allowed)

    def poll(self, now: float) -> StepResult | None:
        """A pending response (see :class:`Pending`): the response once the shell's input is there, the timeout
        answer after its limit, None while still waiting."""
        if self.pending is None or self.ended:
            return None
        handler, pending, deadline, allowed = self.pending
        try:
            out = getattr(handler, "resume")(self.ctx, now)  # noqa: B009 - only handlers that return Pending have it
        except HandlerError as e:
            self.pending = None
            return self._fail(handler, e.code, e.detail)
        if out is None:
            if now < deadline:
                return None
            self.pending = None
            return self._fail(
                handler, pending.timeout_code, f"{handler.REQUEST}: no answer within {pending.limit} s"
            )
        self.pending = None
        res, nxt = out
        return self._finish(handler, res, nxt, allowed)

    def _finish(self, handler: Handler, res: dict[str, Any], nxt: str, allowed: frozenset[str]) -> StepResult:
        name = handler.REQUEST
        if nxt not in allowed:  # our bug (LocalProtocolError): end cleanly instead of crashing the service
            return self._fail(
                handler, "FAILED", f"internal: {name} chose {nxt}, table allows {sorted(allowed)}"
            )
        self.state = nxt
        code = str(res.get("ResponseCode", ""))
        end = nxt == ENDED or code.startswith("FAILED")
        if code.startswith("FAILED"):
            self.ctx.emit(SessionEnded(code))
            self.state = ENDED
        return StepResult(self._wrap(handler.RESPONSE, res), end, self._drain())

    def abort(self, reason: str, detail: str = "") -> StepResult:
        """End without a response (undecodable input, timeout, connection lost)."""
        self.pending = None
        if not self.ended:
            self.ctx.emit(SessionEnded(reason, detail=detail))
            self.state = ENDED
        return StepResult(None, True, self._drain())
