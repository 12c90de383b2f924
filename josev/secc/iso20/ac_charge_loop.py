"""ISO 15118-20 AC_ChargeLoopReq -> AC_ChargeLoopRes (AC and AC BPT, scheduled and dynamic).

The request's control mode must be the selected one (FAILED_WrongChargeParameter otherwise). In dynamic mode
the EVSE sets the target active power (the station's setpoint within the EV's and the EVSE's limits, negative
= discharge for BPT, 0 in standby); in scheduled mode the EV follows the schedule and the EVSE reports only.
"""

from __future__ import annotations

from typing import Any

from josev.secc.iso20 import common, metering_confirmation
from josev.secc.iso20.context import Iso20Context, Selection
from josev.secc.iso20.events import EvPowerRequest
from josev.secc.machine import HandlerError
from josev.v2g.iso20.rational import opt_rf

REQUEST = "AC_ChargeLoopReq"
RESPONSE = "AC_ChargeLoopRes"
SCHEMA = "iso20-ac"


def mode_names(sel: Selection) -> tuple[str, str]:
    """(request, response) control mode element names of the selection."""
    base = ("BPT_" if sel.bpt else "") + ("Dynamic" if sel.dynamic else "Scheduled") + "_AC_CL"
    return base + "ReqControlMode", base + "ResControlMode"


def _sum(mode: dict[str, Any], key: str) -> float | None:
    v = opt_rf(mode.get(key), key)
    if v is None:
        return None
    for ph in ("_L2", "_L3"):
        v += opt_rf(mode.get(key + ph), key + ph) or 0.0
    return v


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """See the module docstring."""
    sel = ctx.require_selection()
    if not sel.ac:
        raise HandlerError("FAILED_WrongChargeParameter", "AC charge loop in a DC session")
    common.check_session_ok(ctx)
    req_name, res_name = mode_names(sel)
    mode = req.get(req_name)
    if not isinstance(mode, dict):
        raise HandlerError("FAILED_WrongChargeParameter", f"{req_name} expected")
    present = _sum(mode, "EVPresentActivePower")
    if present is None:
        raise HandlerError("FAILED_WrongChargeParameter", "EVPresentActivePower missing")
    ev_max = _sum(mode, "EVMaximumChargePower")
    ev_max_dis = _sum(mode, "EVMaximumDischargePower")
    disp = req.get("DisplayParameters") or {}
    soc = disp.get("PresentSOC") if isinstance(disp, dict) else None
    complete = bool(disp.get("ChargingComplete", False)) if isinstance(disp, dict) else False
    ctx.emit(EvPowerRequest(present, ev_max, ev_max_dis, soc if isinstance(soc, int) else None, complete))
    body: dict[str, Any] = {}
    if sel.dynamic:
        hi = ev_max if ev_max is not None else ctx.ev_params.get("max_charge_power", 0.0)
        lo = ev_max_dis if ev_max_dis is not None else ctx.ev_params.get("max_discharge_power", 0.0)
        body.update(common.phases(ctx, common.target_power(ctx, hi, lo), "EVSETargetActivePower"))
    body.update(common.phases(ctx, ctx.station.present_power, "EVSEPresentActivePower"))
    res: dict[str, Any] = {"ResponseCode": "OK", res_name: body}
    if req.get("MeterInfoRequested") is True:
        res["MeterInfo"] = common.meter_info(ctx)
    return metering_confirmation.request_if_due(ctx, common.with_status(ctx, res), now), state


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """AC_ChargeLoopRes with a FAILED code."""
    return {"ResponseCode": code, "Scheduled_AC_CLResControlMode": {}}
