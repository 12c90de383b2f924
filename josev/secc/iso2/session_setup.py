"""ISO 15118-2 SessionSetupReq -> SessionSetupRes (new session, or rejoin of a paused one)."""

from __future__ import annotations

from typing import Any

from josev.secc.events import SessionStarted
from josev.secc.machine import Context
from josev.v2g.physical import ParameterError

REQUEST = "SessionSetupReq"
RESPONSE = "SessionSetupRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """OK_OldSessionJoined when the SessionID names a paused session of this EVSE, else a new session."""
    evcc = req.get("EVCCID")
    if not isinstance(evcc, str) or not 1 <= len(evcc) <= 16:
        raise ParameterError("EVCCID must be 1..8 bytes of hexBinary")
    ctx.evcc_id = evcc
    asked = ctx.session_id or ""
    paused = ctx.store.rejoin(asked, "iso2", evcc, now)  # same EV (EVCCID), within the pause limit
    if paused is not None:
        ctx.session_id = paused.session_id
        code = "OK_OldSessionJoined"
    else:
        ctx.session_id = ctx.new_session_id()
        code = "OK_NewSessionEstablished"
    ctx.emit(SessionStarted("iso2", ctx.session_id, evcc, paused is not None))
    return {"ResponseCode": code, "EVSEID": ctx.evse.evse_id}, "ServiceDiscovery"


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """SessionSetupRes with a FAILED code."""
    return {"ResponseCode": code, "EVSEID": ctx.evse.evse_id}
