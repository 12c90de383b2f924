"""The one table-driven session engine of DIN SPEC 70121, ISO 15118-2 and ISO 15118-20.

Each protocol gives a :class:`ProtocolSpec`: its states, a transition table ``(state, request) -> allowed next
states``, one handler module per request message, and the bits in which the protocols differ as data: how a
message is split into SessionID, request and header (a ``V2G_Message`` envelope, or a -20 root element with its
own Header), how a response is wrapped, the EXI schemas and V2GTP payload types, the per-connection context and
the contactor failure code. The engine checks the message shape, the SessionID and the table, runs the handler,
and turns every problem into the response code the standard names (``FAILED_SequenceError``,
``FAILED_UnknownSession``, ``FAILED_WrongChargeParameter``, ``FAILED``...), after which the session ends
cleanly; ``OK`` and ``WARNING_*`` codes keep it going.

Waits are states of the engine: a response waiting for the shell (:class:`Pending`, e.g. a certificate
installation waiting for the CSMS), and a PowerDelivery Start/Stop waiting for the contactor
(:class:`ContactorRequested` out, :meth:`Engine.contactor_result` in) when ``contactor_wait`` is on.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from josev.secc.events import (
    ContactorRequested,
    Event,
    PowerDeliveryRequested,
    ProtocolViolation,
    SessionEnded,
)
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


class ContextBase:
    """What every protocol's context does: collect the events for the shell, track Ongoing loops."""

    __slots__ = ()
    events: list[Any]
    ongoing_since: dict[str, float]

    def emit(self, ev: Any) -> None:
        """Emit an event to the shell."""
        self.events.append(ev)

    def drain(self) -> list[Any]:
        """The events emitted since the last drain."""
        out = list(self.events)
        self.events.clear()
        return out

    def ongoing(self, key: str, now: float, limit: float) -> bool:
        """Track an Ongoing loop; return True when it has lasted longer than ``limit``."""
        start = self.ongoing_since.setdefault(key, now)
        return now - start > limit

    def done(self, key: str) -> None:
        """Forget an Ongoing loop."""
        self.ongoing_since.pop(key, None)


@dataclass(slots=True)
class Context(ContextBase):
    """Mutable per-connection session state that the handlers read and write."""

    protocol: str
    evse: EvseView
    timers: SeccTimers
    store: SessionStore
    new_session_id: Callable[[], str]
    events: list[Event] = field(default_factory=list)
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


class Handler(Protocol):
    """A DIN / ISO 15118-2 request handler module (a -20 one, :class:`josev.secc.iso20.context.Iso20Handler`,
    has the same shape on its own context plus ``SCHEMA``)."""

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


class SessionContext(Protocol):
    """What the engine reads and writes of a protocol's per-connection context."""

    session_id: str | None
    now: float
    header: dict[str, Any]
    requested: set[str]
    response_signature: dict[str, Any] | None

    def emit(self, ev: Any) -> None:
        """Emit an event to the shell."""
        ...

    def drain(self) -> list[Any]:
        """The events emitted since the last drain."""
        ...


C = TypeVar("C", bound=SessionContext)


@dataclass(frozen=True, slots=True)
class EngineSetup:
    """What a protocol's context is built from (:attr:`ProtocolSpec.new_context`)."""

    protocol: str
    evse: Any
    """The :class:`EvseView` (DIN, ISO 15118-2) or the -20 adapter around it (``Iso20Evse``)."""
    timers: SeccTimers
    store: SessionStore
    new_session_id: Callable[[], str]
    tls: bool = False
    config: Any = None
    """Protocol settings (-20: ``Iso20Config``)."""
    family: str | None = None
    """-20: ``AC`` or ``DC`` from the negotiated namespace."""


Split = tuple[str, str, dict[str, Any], dict[str, Any]]
"""``(session_id, request name, request content, header)`` of a decoded message."""


@dataclass(frozen=True, slots=True)
class ProtocolSpec(Generic[C]):
    """A protocol: states, transition table and handlers, and what sets it apart from the others."""

    name: str
    schema: str
    """The EXI schema of the requests (a -20 handler module names its own, ``SCHEMA``)."""
    states: tuple[str, ...]
    initial: str
    table: Mapping[tuple[str, str], frozenset[str]]
    handlers: Mapping[str, Any]
    new_context: Callable[[EngineSetup], C]
    split: Callable[[Any], Split] | None = None
    wrap: Callable[[C, str, dict[str, Any], float], dict[str, Any]] | None = None
    payload_schemas: Mapping[int, str] = field(default_factory=dict)
    """V2GTP payload type of a request -> its EXI schema (other payload types are not part of the session)."""
    contactor_failed: str = "FAILED_ContactorError"
    """The PowerDeliveryRes code when the contactor did not switch (DIN: ``FAILED_PowerDeliveryNotApplied``)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> ProtocolSpec[C]:
        return self  # immutable; holds handler modules

    def schema_of(self, handler: Any) -> str:
        """The EXI schema of ``handler``'s request and response."""
        return str(getattr(handler, "SCHEMA", self.schema))

    def format_table(self) -> str:
        """The table as aligned text (state, request -> next states)."""
        rows = [(s, r, ", ".join(sorted(n))) for (s, r), n in self.table.items()]
        w1 = max(len(r[0]) for r in rows)
        w2 = max(len(r[1]) for r in rows)
        return "\n".join(f"{s:<{w1}}  {r:<{w2}}  -> {n}" for s, r, n in rows)


@dataclass(slots=True)
class StepResult:
    """Outcome of one request: the response message (or None) and its schema, whether the session ends, the
    events."""

    response: dict[str, Any] | None
    schema: str
    end: bool
    events: list[Any]


def random_session_id() -> str:
    """A fresh 8-byte SessionID in hex."""
    sid = "0" * 16
    while sid.strip("0") == "":
        sid = secrets.token_hex(8).upper()
    return sid


def contactor_wanted(events: list[Any]) -> bool | None:
    """True (close) / False (open) when ``events`` hold a PowerDelivery Start/Stop, else None."""
    for e in events:
        if isinstance(e, PowerDeliveryRequested) and e.progress in ("Start", "Stop"):
            return e.progress == "Start"
    return None


@dataclass(slots=True)
class _Held:
    """A response the engine holds back (see :class:`Pending` and :meth:`Engine.contactor_result`)."""

    handler: Any
    allowed: frozenset[str]
    pending: Pending | None = None
    deadline: float = 0.0
    #: a PowerDeliveryRes waiting for the contactor: the response, the next state, close (True) / open
    response: dict[str, Any] | None = None
    nxt: str = ""
    close: bool = False


class Engine(Generic[C]):
    """Runs one protocol's table for one connection."""

    def __init__(
        self,
        spec: ProtocolSpec[C],
        evse: Any,
        *,
        timers: SeccTimers = DEFAULT_TIMERS,
        store: SessionStore | None = None,
        new_session_id: Callable[[], str] = random_session_id,
        tls: bool = False,
        config: Any = None,
        family: str | None = None,
        contactor_wait: bool = False,
    ) -> None:
        self.spec = spec
        self.state = spec.initial
        setup = EngineSetup(
            spec.name, evse, timers, store or SessionStore(), new_session_id, tls, config, family
        )
        self.ctx: C = spec.new_context(setup)
        self.contactor_wait = contactor_wait
        """Hold a PowerDelivery Start/Stop response until :meth:`contactor_result` (the shell switches the
        contactor in between); off, the response leaves at once."""
        self._held: _Held | None = None

    @property
    def ended(self) -> bool:
        """True once the session is over."""
        return self.state == ENDED

    @property
    def pending(self) -> _Held | None:
        """The request whose response waits for the shell's input (:class:`Pending`), or None."""
        held = self._held
        return held if held is not None and held.pending is not None else None

    @property
    def contactor(self) -> bool | None:
        """While a PowerDeliveryRes waits for the contactor: True (close) / False (open); else None."""
        held = self._held
        return held.close if held is not None and held.response is not None else None

    def _wrap(self, name: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        assert self.spec.wrap is not None
        return self.spec.wrap(self.ctx, name, body, now)

    def _fail(self, handler: Any, code: str, detail: str, now: float) -> StepResult:
        self._held = None
        self.ctx.response_signature = None
        self.ctx.emit(ProtocolViolation(handler.REQUEST, code, detail))
        self.ctx.emit(SessionEnded(code, detail=detail))
        self.state = ENDED
        try:
            body = handler.negative(self.ctx, code)
        except Exception:  # a negative answer must never be the reason a session crashes
            body = {"ResponseCode": code}
        schema = self.spec.schema_of(handler)
        return StepResult(self._wrap(handler.RESPONSE, body, now), schema, True, self.ctx.drain())

    def step(self, msg: Any, now: float) -> StepResult:
        """Handle one decoded request."""
        if self.ended:
            return StepResult(None, self.spec.schema, True, [])
        self.ctx.now = now
        try:
            assert self.spec.split is not None
            sid, name, body, header = self.spec.split(msg)
        except MalformedMessage as e:
            return self.abort("malformed", str(e))
        handler = self.spec.handlers.get(name)
        if handler is None:
            return self.abort("unknown_message", f"{name} is not a {self.spec.name} request")
        if self._held is not None:  # the EV may not send before the response it waits for
            return self._fail(
                handler, "FAILED_SequenceError", f"{name} while {self._held.handler.REQUEST} is pending", now
            )
        allowed = self.spec.table.get((self.state, name))
        if allowed is None:
            return self._fail(
                handler, "FAILED_SequenceError", f"{name} not expected in state {self.state}", now
            )
        if name == "SessionSetupReq":
            self.ctx.session_id = sid  # the handler decides new vs rejoined
        elif sid != self.ctx.session_id:
            return self._fail(
                handler, "FAILED_UnknownSession", f"SessionID {sid} != {self.ctx.session_id}", now
            )
        self.ctx.requested.add(name)
        self.ctx.header = header
        try:
            res, nxt = handler.handle(self.ctx, body, now, self.state)
        except HandlerError as e:
            return self._fail(handler, e.code, e.detail, now)
        except (ParameterError, KeyError, TypeError, ValueError, AttributeError) as e:
            code = "FAILED_WrongChargeParameter" if isinstance(e, ParameterError) else "FAILED"
            return self._fail(handler, code, f"bad {name}: {e!r}", now)
        if isinstance(res, Pending):
            self._held = _Held(handler, allowed, pending=res, deadline=now + res.limit)
            return StepResult(None, self.spec.schema_of(handler), False, self.ctx.drain())
        return self._finish(handler, res, nxt, allowed, now)

    def poll(self, now: float) -> StepResult | None:
        """A pending response (see :class:`Pending`): the response once the shell's input is there (the
        handler's ``resume``), the handler's ``expired`` answer (or ``timeout_code``) after its limit, None while
        still waiting."""
        held = self.pending
        if held is None or held.pending is None or self.ended:
            return None
        handler, pending = held.handler, held.pending
        try:
            out = getattr(handler, "resume")(self.ctx, now)  # noqa: B009 - only handlers that return Pending
            if out is None and now >= held.deadline:
                expired = getattr(handler, "expired", None)
                if expired is None:
                    raise HandlerError(
                        pending.timeout_code, f"{handler.REQUEST}: no answer within {pending.limit} s"
                    )
                out = expired(self.ctx, now)
        except HandlerError as e:
            return self._fail(handler, e.code, e.detail, now)
        if out is None:
            return None
        self._held = None
        res, nxt = out
        return self._finish(handler, res, nxt, held.allowed, now)

    def _finish(
        self, handler: Any, res: dict[str, Any], nxt: str, allowed: frozenset[str], now: float
    ) -> StepResult:
        name = handler.REQUEST
        if nxt not in allowed:  # our bug (LocalProtocolError): end cleanly instead of crashing the service
            return self._fail(
                handler, "FAILED", f"internal: {name} chose {nxt}, table allows {sorted(allowed)}", now
            )
        code = str(res.get("ResponseCode", ""))
        if self.contactor_wait and name == "PowerDeliveryReq" and not code.startswith("FAILED"):
            events = self.ctx.drain()
            close = contactor_wanted(events)
            for e in events:
                self.ctx.emit(e)
            if close is not None:  # hold the response until the shell has switched the contactor
                self._held = _Held(handler, allowed, response=res, nxt=nxt, close=close)
                self.ctx.emit(ContactorRequested(close))
                return StepResult(None, self.spec.schema_of(handler), False, self.ctx.drain())
        self.state = nxt
        if code.startswith("FAILED"):
            self.ctx.emit(SessionEnded(code))
            self.state = ENDED
        return StepResult(
            self._wrap(handler.RESPONSE, res, now), self.spec.schema_of(handler), self.ended, self.ctx.drain()
        )

    def contactor_result(self, ok: bool, now: float) -> StepResult | None:
        """The shell's answer to :class:`ContactorRequested`: the held PowerDeliveryRes, as it was (``ok``) or
        with the contactor failure code, which ends the session. None when no response waits for it."""
        held = self._held
        if held is None or held.response is None or self.ended:
            return None
        self._held = None
        res = held.response
        if not ok:
            res = {**res, "ResponseCode": self.spec.contactor_failed}
        self.ctx.now = now
        self.state = held.nxt
        if not ok:
            self.ctx.emit(SessionEnded(self.spec.contactor_failed, detail="contactor not confirmed"))
            self.state = ENDED
        schema = self.spec.schema_of(held.handler)
        return StepResult(self._wrap(held.handler.RESPONSE, res, now), schema, self.ended, self.ctx.drain())

    def abort(self, reason: str, detail: str = "") -> StepResult:
        """End without a response (undecodable input, timeout, connection lost)."""
        self._held = None
        if not self.ended:
            self.ctx.emit(SessionEnded(reason, detail=detail))
            self.state = ENDED
        return StepResult(None, self.spec.schema, True, self.ctx.drain())
