"""Runs the -20 table for one connection, on decoded messages.

A -20 message is one root element (``{"SessionSetupReq": {"Header": {...}, ...}}``) in one of the -20 schemas
(CommonMessages, AC, DC). The engine checks the shape, the SessionID and the table, runs the handler, adds the
header and turns every problem into the response code the standard names (``FAILED_SequenceError``,
``FAILED_UnknownSession``, ``FAILED_WrongChargeParameter``, ``FAILED``), after which the session ends cleanly.
``WARNING_*`` codes do not end the session.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from josev.secc.events import ProtocolViolation, SessionEnded
from josev.secc.iso20 import SPEC, common
from josev.secc.iso20.context import (
    ENDED,
    HandlerError,
    Iso20Config,
    Iso20Context,
    Iso20Evse,
    Iso20Handler,
    Iso20Spec,
)
from josev.secc.iso20.events import Iso20Event
from josev.secc.machine import MalformedMessage, Pending, SessionStore, random_session_id
from josev.secc.timers import DEFAULT_TIMERS, SeccTimers
from josev.v2g.physical import ParameterError

_SID = re.compile(r"^[0-9A-Fa-f]{16}$")
ZERO_SID = "0" * 16


@dataclass(slots=True)
class Iso20Step:
    """Outcome of one request: the response message and its schema (or None), end flag, events."""

    response: dict[str, Any] | None
    schema: str
    end: bool
    events: list[Iso20Event]


def split(msg: Any) -> tuple[str, str, dict[str, Any]]:
    """``(session_id, root name, content)`` of a -20 message or :class:`MalformedMessage`."""
    if not isinstance(msg, dict) or len(msg) != 1:
        raise MalformedMessage("a -20 message has exactly one root element")
    name, content = next(iter(msg.items()))
    if not isinstance(content, dict):
        raise MalformedMessage(f"{name} is not an object")
    header = content.get("Header")
    if not isinstance(header, dict) or not isinstance(header.get("SessionID"), str):
        raise MalformedMessage("missing Header/SessionID")
    sid = header["SessionID"]
    if not _SID.match(sid):
        raise MalformedMessage(f"SessionID {sid!r} is not 8 bytes of hex")
    if not isinstance(header.get("TimeStamp"), int):
        raise MalformedMessage("missing Header/TimeStamp")
    return sid.upper(), name, content


class Iso20Engine:
    """One -20 session (sans-IO)."""

    def __init__(
        self,
        station: Iso20Evse,
        config: Iso20Config | None = None,
        *,
        spec: Iso20Spec = SPEC,
        timers: SeccTimers = DEFAULT_TIMERS,
        store: SessionStore | None = None,
        new_session_id: Callable[[], str] = random_session_id,
        family: str | None = None,
    ) -> None:
        self.spec = spec
        self.state = spec.initial
        self.ctx = Iso20Context(
            station,
            config or Iso20Config(),
            timers,
            store if store is not None else SessionStore(),
            new_session_id,
            family=family,
        )
        self.ctx.limits_version_seen = station.view.limits_version
        #: the handler whose response waits for the shell, until when, and the allowed next states: the -20
        #: analogue of :class:`josev.secc.machine.Pending` (certificate installation waiting for the CSMS)
        self.pending: tuple[Any, Pending, float, frozenset[str]] | None = None

    @property
    def ended(self) -> bool:
        """True once the session is over."""
        return self.state == ENDED

    def _wrap(self, name: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        header: dict[str, Any] = {
            "SessionID": self.ctx.session_id or ZERO_SID,
            "TimeStamp": common.timestamp(self.ctx, now),
        }
        if self.ctx.response_signature is not None:
            header["Signature"] = self.ctx.response_signature
            self.ctx.response_signature = None
        return {name: {"Header": header, **body}}

    def _drain(self) -> list[Iso20Event]:
        out = self.ctx.events
        self.ctx.events = []
        return out

    def _fail(self, handler: Iso20Handler, code: str, detail: str, now: float) -> Iso20Step:
        self.pending = None
        self.ctx.response_signature = None
        self.ctx.emit(ProtocolViolation(handler.REQUEST, code, detail))
        self.ctx.emit(SessionEnded(code, detail=detail))
        self.state = ENDED
        try:
            body = handler.negative(self.ctx, code)
        except Exception:  # a negative answer must never be the reason a session crashes
            body = {"ResponseCode": code}
        return Iso20Step(self._wrap(handler.RESPONSE, body, now), handler.SCHEMA, True, self._drain())

    def step(self, msg: Any, now: float) -> Iso20Step:
        """Handle one decoded request."""
        if self.ended:
            return Iso20Step(None, "iso20-cm", True, [])
        self.ctx.now = now
        try:
            sid, name, body = split(msg)
        except MalformedMessage as e:
            return self.abort("malformed", str(e))
        handler = self.spec.handlers.get(name)
        if handler is None:
            return self.abort("unknown_message", f"{name} is not a -20 request")
        if self.pending is not None:  # the EV may not send before the response it waits for
            return self._fail(
                handler, "FAILED_SequenceError", f"{name} while {self.pending[0].REQUEST} is pending", now
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
        try:
            res, nxt = handler.handle(self.ctx, body, now, self.state)
        except HandlerError as e:
            return self._fail(handler, e.code, e.detail, now)
        except (ParameterError, KeyError, TypeError, ValueError, AttributeError) as e:
            code = "FAILED_WrongChargeParameter" if isinstance(e, ParameterError) else "FAILED"
            return self._fail(handler, code, f"bad {name}: {e!r}", now)
        if isinstance(res, Pending):
            self.pending = (handler, res, now + res.limit, allowed)
            return Iso20Step(None, handler.SCHEMA, False, self._drain())
        return self._finish(handler, res, nxt, allowed, now)

    def poll(self, now: float) -> Iso20Step | None:
        """A pending response: the response once the shell's input is there (the handler's ``resume``), the
        handler's ``expired`` answer (or ``timeout_code``) after the limit, None while still waiting."""
        if self.pending is None or self.ended:
            return None
        handler, pending, deadline, allowed = self.pending
        try:
            out = getattr(handler, "resume")(self.ctx, now)  # noqa: B009 - only handlers that return Pending
            if out is None and now >= deadline:
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
        self.pending = None
        res, nxt = out
        return self._finish(handler, res, nxt, allowed, now)

    def _finish(
        self, handler: Any, res: dict[str, Any], nxt: str, allowed: frozenset[str], now: float
    ) -> Iso20Step:
        name = handler.REQUEST
        if nxt not in allowed:  # our bug (LocalProtocolError): end cleanly instead of crashing the service
            return self._fail(
                handler, "FAILED", f"internal: {name} chose {nxt}, table allows {sorted(allowed)}", now
            )
        self.state = nxt
        code = str(res.get("ResponseCode", ""))
        if code.startswith("FAILED"):
            self.ctx.emit(SessionEnded(code))
            self.state = ENDED
        return Iso20Step(self._wrap(handler.RESPONSE, res, now), handler.SCHEMA, self.ended, self._drain())

    def abort(self, reason: str, detail: str = "") -> Iso20Step:
        """End without a response (undecodable input, timeout, connection lost)."""
        self.pending = None
        if not self.ended:
            self.ctx.emit(SessionEnded(reason, detail=detail))
            self.state = ENDED
        return Iso20Step(None, "iso20-cm", True, self._drain())
