"""ISO 15118-20 DC_PreChargeReq -> DC_PreChargeRes: pass the target voltage on, report the present one."""

from __future__ import annotations

from typing import Any

from josev.secc.events import EvTargets
from josev.secc.iso20 import common
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import HandlerError
from josev.v2g.iso20.rational import rf, rn

REQUEST = "DC_PreChargeReq"
RESPONSE = "DC_PreChargeRes"
SCHEMA = "iso20-dc"
#: Current limit of the pre-charge phase (IEC 61851-23: at most 2 A).
PRECHARGE_CURRENT = 2.0


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """FAILED_WrongChargeParameter for a target outside the EVSE's voltage range (clamped to the maximum with
    ``clamp_targets``)."""
    common.processing(req)
    common.check_session_ok(ctx)
    rf(req.get("EVPresentVoltage"), "EVPresentVoltage")
    v = rf(req.get("EVTargetVoltage"), "EVTargetVoltage")
    if v > ctx.evse.limits.max_voltage and ctx.config.clamp_targets:
        v = ctx.evse.limits.max_voltage
    if v < 0 or v > ctx.evse.limits.max_voltage:
        raise HandlerError("FAILED_WrongChargeParameter", f"target voltage {v} V outside the EVSE range")
    ctx.emit(EvTargets("precharge", v, PRECHARGE_CURRENT))
    return {"ResponseCode": "OK", "EVSEPresentVoltage": rn(ctx.evse.present_voltage)}, state


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """DC_PreChargeRes with a FAILED code."""
    return {"ResponseCode": code, "EVSEPresentVoltage": rn(ctx.evse.present_voltage)}
