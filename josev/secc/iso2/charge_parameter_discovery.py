"""ISO 15118-2 ChargeParameterDiscoveryReq -> ChargeParameterDiscoveryRes (AC and DC), with an SAScheduleList
whose PMaxSchedule follows the smart-charging composite (``josev.secc.schedule``; a flat 24 h schedule at the
EVSE limit without one), up to the EV's DepartureTime and MaxEntriesSAScheduleTuple."""

from __future__ import annotations

from typing import Any

from josev import exi
from josev.secc import common, schedule
from josev.secc.events import EvChargeParameters, LocalError
from josev.secc.machine import Context, HandlerError
from josev.v2g import sales_tariff
from josev.v2g.physical import opt_float, pv, to_float

REQUEST = "ChargeParameterDiscoveryReq"
RESPONSE = "ChargeParameterDiscoveryRes"


def _evse_param(ctx: Context) -> tuple[str, dict[str, Any]]:
    lim = ctx.evse.limits
    ac = ctx.energy_mode.startswith("AC") if ctx.energy_mode else not ctx.evse.is_dc
    if ac:
        return "AC_EVSEChargeParameter", {
            "AC_EVSEStatus": common.ac_status(ctx),
            "EVSENominalVoltage": pv(lim.ac_nominal_voltage, "V"),
            "EVSEMaxCurrent": pv(lim.ac_max_current, "A"),
        }
    return "DC_EVSEChargeParameter", {
        "DC_EVSEStatus": common.dc_status(ctx, "iso2"),
        "EVSEMaximumCurrentLimit": pv(lim.max_current, "A"),
        "EVSEMaximumPowerLimit": pv(lim.max_power, "W"),
        "EVSEMaximumVoltageLimit": pv(lim.max_voltage, "V"),
        "EVSEMinimumCurrentLimit": pv(lim.min_current, "A"),
        "EVSEMinimumVoltageLimit": pv(lim.min_voltage, "V"),
        "EVSEPeakCurrentRipple": pv(lim.peak_current_ripple, "A"),
    }


def _ev_params(ctx: Context, mode: str, req: dict[str, Any]) -> EvChargeParameters:
    if mode.startswith("AC"):
        par = req.get("AC_EVChargeParameter")
        if not isinstance(par, dict):
            raise HandlerError("FAILED_WrongChargeParameter", "AC mode needs AC_EVChargeParameter")
        return EvChargeParameters(
            mode,
            to_float(par["EVMaxVoltage"], "V"),
            to_float(par["EVMaxCurrent"], "A"),
            to_float(par["EVMinCurrent"], "A"),
            None,
            None,
            to_float(par["EAmount"], "Wh"),
            par.get("DepartureTime"),
        )
    par = req.get("DC_EVChargeParameter")
    if not isinstance(par, dict):
        raise HandlerError("FAILED_WrongChargeParameter", "DC mode needs DC_EVChargeParameter")
    soc = common.ev_soc(par)
    out = EvChargeParameters(
        mode,
        to_float(par["EVMaximumVoltageLimit"], "V"),
        to_float(par["EVMaximumCurrentLimit"], "A"),
        None,
        opt_float(par.get("EVMaximumPowerLimit"), "W"),
        soc,
        opt_float(par.get("EVEnergyRequest"), "Wh"),
        par.get("DepartureTime"),
    )
    if out.max_voltage is not None and out.max_voltage < ctx.evse.limits.min_voltage:
        raise HandlerError("FAILED_WrongChargeParameter", "EV maximum voltage below EVSE minimum")
    return out


def _sales_tariff(ctx: Context, tup: dict[str, Any], horizon: int) -> None:
    """Plug & Charge: add the station's SalesTariff, signed with the SECC key in the response header."""
    ev = ctx.evse
    if ctx.payment != "Contract" or ev.sales_tariff is None or ev.tariff_key is None:
        return
    el = sales_tariff.element(ev.sales_tariff, horizon)
    try:
        sig = sales_tariff.sign(el, ev.tariff_key)
    except (ValueError, exi.ExiError) as e:  # a key of the wrong type, an unencodable tariff: none is sent
        ctx.emit(LocalError("sales_tariff", str(e)[:200]))
        return
    tup["SalesTariff"] = el
    ctx.response_signature = sig


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Check mode and parameters; Ongoing while the EVSE has no limits yet; else Finished with a schedule."""
    mode = req.get("RequestedEnergyTransferMode")
    if not isinstance(mode, str) or mode not in ctx.evse.energy_modes:
        raise HandlerError("FAILED_WrongEnergyTransferMode", f"{mode!r} not offered")
    if ctx.renegotiating and ctx.energy_mode is not None and mode != ctx.energy_mode:
        raise HandlerError("FAILED_WrongEnergyTransferMode", "mode changed during renegotiation")
    ctx.energy_mode = mode
    params = _ev_params(ctx, mode, req)
    if "needs" not in ctx.ongoing_since:  # once per negotiation: the shell tells the CSMS (OCPP K15)
        ctx.emit(params)
        ctx.ongoing_since["needs"] = now
        ctx.needs_version = ctx.evse.schedule_version
    key, param = _evse_param(ctx)
    ev = ctx.evse
    waiting = schedule.waiting_for_csms(
        ev.csms_wait, ev.needs_status, ctx.ongoing_since["needs"], now, ctx.needs_version, ev.schedule_version
    )
    if ev.limits.max_power <= 0 or waiting:
        if ctx.ongoing("cpd", now, ctx.timers.charge_parameter_ongoing):
            raise HandlerError("FAILED", "no EVSE limits")
        return {"ResponseCode": "OK", "EVSEProcessing": "Ongoing", key: param}, state
    ctx.done("cpd")
    ctx.done("needs")
    par = req.get("AC_EVChargeParameter") or req.get("DC_EVChargeParameter") or {}
    horizon = par.get("DepartureTime") if isinstance(par, dict) else None
    max_entries = req.get("MaxEntriesSAScheduleTuple")
    ents = common.offer_schedule(
        ctx,
        now,
        float(horizon) if isinstance(horizon, int) else None,
        max_entries if isinstance(max_entries, int) and max_entries > 0 else None,
    )
    key, param = _evse_param(ctx)  # notification cleared now that the new limits are offered
    tup: dict[str, Any] = {
        "SAScheduleTupleID": ctx.schedule_id,
        "PMaxSchedule": {
            "PMaxScheduleEntry": common.pmax_entries(
                ents, float(horizon) if isinstance(horizon, int) else None, "iso2"
            )
        },
    }
    _sales_tariff(
        ctx, tup, horizon if isinstance(horizon, int) and horizon > 0 else schedule.DEFAULT_HORIZON_S
    )
    sched = {"SAScheduleTuple": [tup]}
    nxt = "PowerDelivery" if mode.startswith("AC") else "Renegotiated" if ctx.renegotiating else "CableCheck"
    return {"ResponseCode": "OK", "EVSEProcessing": "Finished", "SAScheduleList": sched, key: param}, nxt


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """ChargeParameterDiscoveryRes with a FAILED code."""
    key, param = _evse_param(ctx)
    return {"ResponseCode": code, "EVSEProcessing": "Finished", key: param}
