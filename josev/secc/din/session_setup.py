"""DIN SPEC 70121 SessionSetupReq -> SessionSetupRes."""

from __future__ import annotations

from typing import Any

from josev.secc.events import SessionStarted
from josev.secc.machine import Context
from josev.v2g.physical import ParameterError

REQUEST = "SessionSetupReq"
RESPONSE = "SessionSetupRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Start a new session (DIN has no pause, so no rejoin)."""
    evcc = req.get("EVCCID")
    if not isinstance(evcc, str) or not 1 <= len(evcc) <= 16:
        raise ParameterError("EVCCID must be 1..8 bytes of hexBinary")
    ctx.evcc_id = evcc
    ctx.session_id = ctx.new_session_id()
    ctx.emit(SessionStarted("din", ctx.session_id, evcc, False))
    return {"ResponseCode": "OK_NewSessionEstablished", "EVSEID": ctx.evse.din_evse_id}, "ServiceDiscovery"


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """SessionSetupRes with a FAILED code."""
    return {"ResponseCode": code, "EVSEID": ctx.evse.din_evse_id}
