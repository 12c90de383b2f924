"""ISO 15118-20 AC_ChargeParameterDiscoveryReq -> AC_ChargeParameterDiscoveryRes (AC and AC BPT)."""

from __future__ import annotations

from typing import Any

from josev.secc.events import EvChargeParameters
from josev.secc.iso20 import common
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import HandlerError
from josev.v2g.iso20.rational import rf, rn

REQUEST = "AC_ChargeParameterDiscoveryReq"
RESPONSE = "AC_ChargeParameterDiscoveryRes"
SCHEMA = "iso20-ac"


def _total(mode: dict[str, Any], key: str) -> float:
    """Sum of the per-phase values (the _L2/_L3 ones are optional)."""
    out = rf(mode.get(key), key)
    for ph in ("_L2", "_L3"):
        if f"{key}{ph}" in mode:
            out += rf(mode[f"{key}{ph}"], key + ph)
    return out


def evse_parameters(ctx: Iso20Context, bpt: bool) -> dict[str, Any]:
    """The EVSE's AC (or BPT AC) charge parameters from the limits."""
    out: dict[str, Any] = {}
    out.update(common.phases(ctx, common.ac_pmax(ctx), "EVSEMaximumChargePower"))
    out.update(common.phases(ctx, 0.0, "EVSEMinimumChargePower"))
    out["EVSENominalFrequency"] = rn(ctx.station.nominal_frequency)
    if bpt:
        b = ctx.station.bpt
        out.update(common.phases(ctx, b.max_discharge_power if b else 0.0, "EVSEMaximumDischargePower"))
        out.update(common.phases(ctx, b.min_discharge_power if b else 0.0, "EVSEMinimumDischargePower"))
    return out


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """The request's energy transfer mode must match the selected service (AC or BPT AC)."""
    sel = ctx.require_selection()
    if not sel.ac:
        raise HandlerError("FAILED_WrongChargeParameter", "AC parameters for a DC service")
    key = "BPT_AC_CPDReqEnergyTransferMode" if sel.bpt else "AC_CPDReqEnergyTransferMode"
    mode = req.get(key)
    if not isinstance(mode, dict):
        raise HandlerError("FAILED_WrongChargeParameter", f"{key} missing for service {sel.service_id}")
    ev_max = _total(mode, "EVMaximumChargePower")
    ev_min = _total(mode, "EVMinimumChargePower")
    if ev_max < 0 or ev_min < 0 or ev_min > ev_max:
        raise HandlerError("FAILED_WrongChargeParameter", "EV charge power range invalid")
    if ev_min > common.ac_pmax(ctx):
        raise HandlerError("FAILED_WrongChargeParameter", "EV minimum power above the EVSE maximum")
    ctx.ev_params = {"max_charge_power": ev_max, "min_charge_power": ev_min}
    if sel.bpt:
        ctx.ev_params["max_discharge_power"] = _total(mode, "EVMaximumDischargePower")
        ctx.ev_params["min_discharge_power"] = _total(mode, "EVMinimumDischargePower")
    ctx.emit(EvChargeParameters("AC_BPT" if sel.bpt else "AC", max_power=ev_max))
    res_key = "BPT_AC_CPDResEnergyTransferMode" if sel.bpt else "AC_CPDResEnergyTransferMode"
    return {"ResponseCode": "OK", res_key: evse_parameters(ctx, sel.bpt)}, "ScheduleExchange"


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """AC_ChargeParameterDiscoveryRes with a FAILED code."""
    bpt = ctx.selection is not None and ctx.selection.bpt
    key = "BPT_AC_CPDResEnergyTransferMode" if bpt else "AC_CPDResEnergyTransferMode"
    return {"ResponseCode": code, key: evse_parameters(ctx, bpt)}
