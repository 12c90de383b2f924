"""DIN SPEC 70121 SessionStopReq -> SessionStopRes."""

from __future__ import annotations

from typing import Any

from josev.secc.events import SessionEnded
from josev.secc.machine import ENDED, Context

REQUEST = "SessionStopReq"
RESPONSE = "SessionStopRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """End the session."""
    ctx.emit(SessionEnded("terminate"))
    return {"ResponseCode": "OK"}, ENDED


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """SessionStopRes with a FAILED code."""
    return {"ResponseCode": code}
