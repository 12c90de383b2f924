"""ISO 15118-2 SessionStopReq -> SessionStopRes (Terminate, or Pause: the session can be rejoined)."""

from __future__ import annotations

from typing import Any

from josev.secc.events import SessionEnded
from josev.secc.machine import ENDED, Context, HandlerError, PausedSession

REQUEST = "SessionStopReq"
RESPONSE = "SessionStopRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Terminate, or remember the session for a later SessionSetup with the same SessionID."""
    kind = req.get("ChargingSession", "Terminate")
    if kind not in ("Terminate", "Pause"):
        raise HandlerError("FAILED", f"ChargingSession {kind!r}")
    if kind == "Pause":
        assert ctx.session_id is not None
        ctx.store.pause(PausedSession(ctx.session_id, "iso2", ctx.evcc_id, ctx.payment, now))
        ctx.paused = True
    ctx.emit(SessionEnded(kind.lower(), paused=kind == "Pause"))
    return {"ResponseCode": "OK"}, ENDED


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """SessionStopRes with a FAILED code."""
    return {"ResponseCode": code}
