"""ISO 15118-20 DC_ChargeLoopReq -> DC_ChargeLoopRes (DC and DC BPT, scheduled and dynamic).

Scheduled mode: the EV sends target voltage and current, the SECC passes them on. Dynamic mode: the EV sends
its limits and the SECC chooses the current (the station's power setpoint within both sides' limits; negative
= discharge with BPT; 0 in standby). Every response carries the present values, the limit flags and the
EVSE limits of the control mode.
"""

from __future__ import annotations

from typing import Any

from josev.secc.events import EvTargets
from josev.secc.iso20 import common, metering_confirmation
from josev.secc.iso20.context import Iso20Context, Selection
from josev.secc.machine import HandlerError
from josev.v2g.iso20.rational import opt_rf, rf, rn

REQUEST = "DC_ChargeLoopReq"
RESPONSE = "DC_ChargeLoopRes"
SCHEMA = "iso20-dc"


def mode_names(sel: Selection) -> tuple[str, str]:
    """(request, response) control mode element names of the selection."""
    base = ("BPT_" if sel.bpt else "") + ("Dynamic" if sel.dynamic else "Scheduled") + "_DC_CL"
    return base + "ReqControlMode", base + "ResControlMode"


def _limits(ctx: Iso20Context, sel: Selection) -> dict[str, Any]:
    lim = ctx.evse.limits
    out: dict[str, Any] = {
        "EVSEMaximumChargePower": rn(common.dc_pmax(ctx)),
        "EVSEMinimumChargePower": rn(0.0),
        "EVSEMaximumChargeCurrent": rn(lim.max_current),
        "EVSEMaximumVoltage": rn(lim.max_voltage),
    }
    if sel.bpt:
        b = ctx.station.bpt
        out["EVSEMaximumDischargePower"] = rn(common.discharge_max(ctx))
        out["EVSEMinimumDischargePower"] = rn(b.min_discharge_power if b else 0.0)
        out["EVSEMaximumDischargeCurrent"] = rn(b.max_discharge_current if b else 0.0)
        out["EVSEMinimumVoltage"] = rn(lim.min_voltage)
    return out


def _targets(
    ctx: Iso20Context, sel: Selection, mode: dict[str, Any], present_v: float
) -> tuple[float, float]:
    """(voltage, current) to ask the power module for."""
    if not sel.dynamic:
        v = rf(mode.get("EVTargetVoltage"), "EVTargetVoltage")
        i = rf(mode.get("EVTargetCurrent"), "EVTargetCurrent")
        if v < 0 or (i < 0 and not sel.bpt):
            raise HandlerError("FAILED_WrongChargeParameter", "negative target")
        return v, 0.0 if ctx.standby else i
    ev_pmax = rf(mode.get("EVMaximumChargePower"), "EVMaximumChargePower")
    ev_imax = rf(mode.get("EVMaximumChargeCurrent"), "EVMaximumChargeCurrent")
    ev_vmax = rf(mode.get("EVMaximumVoltage"), "EVMaximumVoltage")
    ev_dis = opt_rf(mode.get("EVMaximumDischargePower"), "EVMaximumDischargePower") or 0.0
    v = min(max(present_v, 0.0), ev_vmax)
    p = common.target_power(ctx, ev_pmax, ev_dis)
    i = p / v if v > 1.0 else 0.0
    return v, max(-ctx.evse.limits.max_current, min(i, ev_imax, ctx.evse.limits.max_current))


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """See the module docstring."""
    sel = ctx.require_selection()
    if sel.ac:
        raise HandlerError("FAILED_WrongChargeParameter", "DC charge loop in an AC session")
    common.check_session_ok(ctx)
    req_name, res_name = mode_names(sel)
    mode = req.get(req_name)
    if not isinstance(mode, dict):
        raise HandlerError("FAILED_WrongChargeParameter", f"{req_name} expected")
    present_v = rf(req.get("EVPresentVoltage"), "EVPresentVoltage")
    v, i = _targets(ctx, sel, mode, present_v)
    lim = ctx.evse.limits
    if v > lim.max_voltage and ctx.config.clamp_targets:
        v = lim.max_voltage
        i = max(-lim.max_current, min(i, lim.max_current))
    if v > lim.max_voltage * 1.0001:
        raise HandlerError("FAILED_WrongChargeParameter", f"target voltage {v} V above the EVSE maximum")
    disp = req.get("DisplayParameters") or {}
    soc = disp.get("PresentSOC") if isinstance(disp, dict) else None
    complete = bool(disp.get("ChargingComplete", False)) if isinstance(disp, dict) else False
    ctx.emit(EvTargets("charge", v, i, soc if isinstance(soc, int) else None, complete))
    pv, pi = ctx.evse.present_voltage, ctx.evse.present_current
    res: dict[str, Any] = {
        "ResponseCode": "OK",
        "EVSEPresentCurrent": rn(pi),
        "EVSEPresentVoltage": rn(pv),
        "EVSEPowerLimitAchieved": pv * pi >= common.dc_pmax(ctx) * 0.999,
        "EVSECurrentLimitAchieved": abs(pi) >= lim.max_current * 0.999,
        "EVSEVoltageLimitAchieved": pv >= lim.max_voltage * 0.999,
        res_name: _limits(ctx, sel),
    }
    if req.get("MeterInfoRequested") is True:
        res["MeterInfo"] = common.meter_info(ctx)
    return metering_confirmation.request_if_due(ctx, common.with_status(ctx, res), now), state


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """DC_ChargeLoopRes with a FAILED code."""
    return {
        "ResponseCode": code,
        "EVSEPresentCurrent": rn(ctx.evse.present_current),
        "EVSEPresentVoltage": rn(ctx.evse.present_voltage),
        "EVSEPowerLimitAchieved": False,
        "EVSECurrentLimitAchieved": False,
        "EVSEVoltageLimitAchieved": False,
        "Scheduled_DC_CLResControlMode": {},
    }
