"""ISO 15118-20 DC_CableCheckReq -> DC_CableCheckRes: Ongoing while the isolation test runs, Finished when
the isolation is Valid/Warning (or there is no IMD), FAILED on a fault or after the cable check time."""

from __future__ import annotations

from typing import Any

from josev.secc.events import CableCheckRequested
from josev.secc.iso20 import common
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import HandlerError

REQUEST = "DC_CableCheckReq"
RESPONSE = "DC_CableCheckRes"
SCHEMA = "iso20-dc"


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """See the module docstring."""
    common.check_session_ok(ctx)
    if "cable_check" not in ctx.ongoing_since:
        ctx.emit(CableCheckRequested())
    iso = ctx.evse.isolation
    if iso == "Fault":
        raise HandlerError("FAILED", "isolation fault")
    if iso in ("Valid", "Warning", "No_IMD"):
        ctx.done("cable_check")
        return {"ResponseCode": "OK", "EVSEProcessing": "Finished"}, "PreCharge"
    if ctx.ongoing("cable_check", now, ctx.timers.cable_check):
        raise HandlerError("FAILED", "cable check timed out")
    return {"ResponseCode": "OK", "EVSEProcessing": "Ongoing"}, state


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """DC_CableCheckRes with a FAILED code."""
    return {"ResponseCode": code, "EVSEProcessing": "Finished"}
