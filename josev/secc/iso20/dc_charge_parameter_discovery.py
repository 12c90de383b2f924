"""ISO 15118-20 DC_ChargeParameterDiscoveryReq -> DC_ChargeParameterDiscoveryRes (DC and DC BPT)."""

from __future__ import annotations

from typing import Any

from josev.secc.events import EvChargeParameters
from josev.secc.iso20 import common
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import HandlerError
from josev.v2g.iso20.rational import rf, rn

REQUEST = "DC_ChargeParameterDiscoveryReq"
RESPONSE = "DC_ChargeParameterDiscoveryRes"
SCHEMA = "iso20-dc"


def evse_parameters(ctx: Iso20Context, bpt: bool) -> dict[str, Any]:
    """The EVSE's DC (or BPT DC) charge parameters from the limits."""
    lim = ctx.evse.limits
    out: dict[str, Any] = {
        "EVSEMaximumChargePower": rn(common.dc_pmax(ctx)),
        "EVSEMinimumChargePower": rn(0.0),
        "EVSEMaximumChargeCurrent": rn(lim.max_current),
        "EVSEMinimumChargeCurrent": rn(lim.min_current),
        "EVSEMaximumVoltage": rn(lim.max_voltage),
        "EVSEMinimumVoltage": rn(lim.min_voltage),
    }
    if bpt:
        b = ctx.station.bpt
        out["EVSEMaximumDischargePower"] = rn(b.max_discharge_power if b else 0.0)
        out["EVSEMinimumDischargePower"] = rn(b.min_discharge_power if b else 0.0)
        out["EVSEMaximumDischargeCurrent"] = rn(b.max_discharge_current if b else 0.0)
        out["EVSEMinimumDischargeCurrent"] = rn(b.min_discharge_current if b else 0.0)
    return out


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """The request's energy transfer mode must match the selected service; voltage ranges must overlap."""
    sel = ctx.require_selection()
    if sel.ac:
        raise HandlerError("FAILED_WrongChargeParameter", "DC parameters for an AC service")
    key = "BPT_DC_CPDReqEnergyTransferMode" if sel.bpt else "DC_CPDReqEnergyTransferMode"
    mode = req.get(key)
    if not isinstance(mode, dict):
        raise HandlerError("FAILED_WrongChargeParameter", f"{key} missing for service {sel.service_id}")
    p = {
        "max_charge_power": rf(mode.get("EVMaximumChargePower"), "EVMaximumChargePower"),
        "min_charge_power": rf(mode.get("EVMinimumChargePower"), "EVMinimumChargePower"),
        "max_charge_current": rf(mode.get("EVMaximumChargeCurrent"), "EVMaximumChargeCurrent"),
        "min_charge_current": rf(mode.get("EVMinimumChargeCurrent"), "EVMinimumChargeCurrent"),
        "max_voltage": rf(mode.get("EVMaximumVoltage"), "EVMaximumVoltage"),
        "min_voltage": rf(mode.get("EVMinimumVoltage"), "EVMinimumVoltage"),
    }
    if sel.bpt:
        p["max_discharge_power"] = rf(mode.get("EVMaximumDischargePower"), "EVMaximumDischargePower")
        p["max_discharge_current"] = rf(mode.get("EVMaximumDischargeCurrent"), "EVMaximumDischargeCurrent")
    lim = ctx.evse.limits
    if p["max_voltage"] < lim.min_voltage or p["min_voltage"] > lim.max_voltage:
        raise HandlerError("FAILED_WrongChargeParameter", "EV and EVSE voltage ranges do not overlap")
    if p["min_voltage"] > p["max_voltage"] or p["max_charge_current"] < 0 or p["max_charge_power"] < 0:
        raise HandlerError("FAILED_WrongChargeParameter", "EV charge parameters invalid")
    ctx.ev_params = p
    # the present state of charge is not part of -20 DC_ChargeParameterDiscoveryReq (TargetSOC is where the EV wants
    # to end, not where it is): the charge loop's DisplayParameters carry it later
    ctx.emit(
        EvChargeParameters(
            "DC_BPT" if sel.bpt else "DC",
            max_voltage=p["max_voltage"],
            max_current=p["max_charge_current"],
            min_current=p["min_charge_current"],
            max_power=p["max_charge_power"],
        )
    )
    res_key = "BPT_DC_CPDResEnergyTransferMode" if sel.bpt else "DC_CPDResEnergyTransferMode"
    return {"ResponseCode": "OK", res_key: evse_parameters(ctx, sel.bpt)}, "ScheduleExchange"


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """DC_ChargeParameterDiscoveryRes with a FAILED code."""
    bpt = ctx.selection is not None and ctx.selection.bpt
    key = "BPT_DC_CPDResEnergyTransferMode" if bpt else "DC_CPDResEnergyTransferMode"
    return {"ResponseCode": code, key: evse_parameters(ctx, bpt)}
