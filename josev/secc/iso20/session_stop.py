"""ISO 15118-20 SessionStopReq -> SessionStopRes: Terminate, Pause (the session can be rejoined with its
SessionID) or ServiceRenegotiation (back to ServiceDiscovery on the same connection)."""

from __future__ import annotations

from typing import Any

from josev.secc.events import SessionEnded
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import ENDED, HandlerError, PausedSession

REQUEST = "SessionStopReq"
RESPONSE = "SessionStopRes"
SCHEMA = "iso20-cm"

BEFORE_AUTHORIZATION = ("AuthorizationSetup", "Authorization")


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """See the module docstring."""
    kind = req.get("ChargingSession")
    if kind == "Terminate":
        ctx.emit(SessionEnded("terminate", detail=str(req.get("EVTerminationCode", ""))))
        return {"ResponseCode": "OK"}, ENDED
    if kind == "Pause":
        if state in BEFORE_AUTHORIZATION:
            raise HandlerError("FAILED_PauseNotAllowed", f"pause in state {state}")
        assert ctx.session_id is not None
        ctx.store.pause(PausedSession(ctx.session_id, "iso20", ctx.evcc_id, None, now))
        ctx.emit(SessionEnded("pause", paused=True))
        return {"ResponseCode": "OK"}, ENDED
    if kind == "ServiceRenegotiation":
        if not ctx.config.service_renegotiation:
            raise HandlerError("FAILED_NoServiceRenegotiationSupported", "service renegotiation is off")
        if state in BEFORE_AUTHORIZATION:
            raise HandlerError("FAILED_SequenceError", f"service renegotiation in state {state}")
        ctx.selection = None
        ctx.schedule_ids = ()
        ctx.renegotiating = False
        ctx.standby = False
        ctx.ongoing_since.clear()
        return {"ResponseCode": "OK"}, "ServiceDiscovery"
    raise HandlerError("FAILED", f"ChargingSession {kind!r}")


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """SessionStopRes with a FAILED code."""
    return {"ResponseCode": code}
