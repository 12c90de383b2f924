"""ISO 15118-20 SessionSetupReq -> SessionSetupRes (new session, or rejoin of a paused one)."""

from __future__ import annotations

from typing import Any

from josev.secc.events import SessionStarted
from josev.secc.iso20.context import Iso20Context
from josev.v2g.physical import ParameterError

REQUEST = "SessionSetupReq"
RESPONSE = "SessionSetupRes"
SCHEMA = "iso20-cm"


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """OK_OldSessionJoined when the SessionID names a paused -20 session of this EVSE, else a new session."""
    evcc = req.get("EVCCID")
    if not isinstance(evcc, str) or not 1 <= len(evcc) <= 255:
        raise ParameterError("EVCCID must be a string of 1..255 characters")
    ctx.evcc_id = evcc
    asked = ctx.session_id or ""
    paused = ctx.store.rejoin(asked, "iso20", evcc, now)  # same EV (EVCCID), within the pause limit
    if paused is not None:
        ctx.session_id = paused.session_id
        code = "OK_OldSessionJoined"
    else:
        paused = None
        ctx.session_id = ctx.new_session_id()
        code = "OK_NewSessionEstablished"
    ctx.emit(SessionStarted("iso20", ctx.session_id, evcc, paused is not None))
    return {"ResponseCode": code, "EVSEID": ctx.evse.evse_id}, "AuthorizationSetup"


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """SessionSetupRes with a FAILED code."""
    return {"ResponseCode": code, "EVSEID": ctx.evse.evse_id}
