"""ISO 15118-20 DC_WeldingDetectionReq -> DC_WeldingDetectionRes: the present voltage, so the EV can check its
contactors after the power was switched off."""

from __future__ import annotations

from typing import Any

from josev.secc.events import WeldingDetectionRequested
from josev.secc.iso20 import common
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import HandlerError
from josev.v2g.iso20.rational import rn

REQUEST = "DC_WeldingDetectionReq"
RESPONSE = "DC_WeldingDetectionRes"
SCHEMA = "iso20-dc"


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Only in a DC session, after PowerDelivery(Stop)."""
    if ctx.selection is not None and ctx.selection.ac:
        raise HandlerError("FAILED_SequenceError", "WeldingDetection in an AC session")
    common.processing(req)
    if "welding" not in ctx.ongoing_since:
        ctx.ongoing_since["welding"] = now
        ctx.emit(WeldingDetectionRequested())
    return {"ResponseCode": "OK", "EVSEPresentVoltage": rn(ctx.evse.present_voltage)}, "WeldingDetection"


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """DC_WeldingDetectionRes with a FAILED code."""
    return {"ResponseCode": code, "EVSEPresentVoltage": rn(ctx.evse.present_voltage)}
