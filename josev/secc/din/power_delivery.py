"""DIN SPEC 70121 PowerDeliveryReq -> PowerDeliveryRes (ReadyToChargeState true = start, false = stop)."""

from __future__ import annotations

from typing import Any

from josev.secc import common
from josev.secc.events import PowerDeliveryRequested
from josev.secc.machine import Context, HandlerError

REQUEST = "PowerDeliveryReq"
RESPONSE = "PowerDeliveryRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Start from PreCharge, stop from PreCharge or CurrentDemand."""
    ready = req.get("ReadyToChargeState")
    if not isinstance(ready, bool):
        raise HandlerError("FAILED", "ReadyToChargeState missing")
    par = req.get("DC_EVPowerDeliveryParameter")
    if isinstance(par, dict):
        common.ev_soc(par)
    if ready:
        if state != "PreCharge":
            raise HandlerError("FAILED_SequenceError", "start while charging")
        if ctx.evse.status_code in common.SHUTDOWN_CODES:
            raise HandlerError("FAILED_PowerDeliveryNotApplied", ctx.evse.status_code)
        ctx.emit(PowerDeliveryRequested("Start"))
        nxt = "CurrentDemand"
    else:
        ctx.emit(PowerDeliveryRequested("Stop"))
        nxt = "WeldingDetection"
    return {"ResponseCode": "OK", "DC_EVSEStatus": common.dc_status(ctx, "din")}, nxt


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """PowerDeliveryRes with a FAILED code."""
    return {"ResponseCode": code, "DC_EVSEStatus": common.dc_status(ctx, "din")}
