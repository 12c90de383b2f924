"""DIN SPEC 70121 ChargeParameterDiscoveryReq -> ChargeParameterDiscoveryRes (DC only)."""

from __future__ import annotations

from typing import Any

from josev.secc import common
from josev.secc.events import EvChargeParameters
from josev.secc.machine import Context, HandlerError
from josev.v2g.physical import opt_float, pv, to_float

REQUEST = "ChargeParameterDiscoveryReq"
RESPONSE = "ChargeParameterDiscoveryRes"


def _evse_param(ctx: Context) -> dict[str, Any]:
    lim = ctx.evse.limits
    return {
        "DC_EVSEStatus": common.dc_status(ctx, "din"),
        "EVSEMaximumCurrentLimit": pv(lim.max_current, "A"),
        "EVSEMaximumPowerLimit": pv(lim.max_power, "W"),
        "EVSEMaximumVoltageLimit": pv(lim.max_voltage, "V"),
        "EVSEMinimumCurrentLimit": pv(lim.min_current, "A"),
        "EVSEMinimumVoltageLimit": pv(lim.min_voltage, "V"),
        "EVSEPeakCurrentRipple": pv(lim.peak_current_ripple, "A"),
    }


def _schedule(ctx: Context, pmax: float, ents: list[tuple[int, float]] | None = None) -> dict[str, Any]:
    """An SAScheduleList with one PMax schedule: ``ents`` (the composite, see ``josev.secc.schedule``) or
    ``pmax`` W for 24 h. DIN SPEC 70121 makes SASchedules mandatory in every ChargeParameterDiscoveryRes, so
    the Ongoing and FAILED answers carry one too (PMax 0)."""
    if ents is not None:
        return {
            "SAScheduleTuple": [
                {
                    "SAScheduleTupleID": ctx.schedule_id,
                    "PMaxSchedule": {
                        "PMaxScheduleID": 1,
                        "PMaxScheduleEntry": common.pmax_entries(ents, None, "din"),
                    },
                }
            ]
        }
    return {
        "SAScheduleTuple": [
            {
                "SAScheduleTupleID": ctx.schedule_id,
                "PMaxSchedule": {
                    "PMaxScheduleID": 1,
                    "PMaxScheduleEntry": [
                        {
                            "RelativeTimeInterval": {"start": 0, "duration": 86400},
                            "PMax": int(max(0, min(pmax, 32767))),
                        }
                    ],
                },
            }
        ]
    }


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Check the EV's DC parameters and offer one PMax schedule from the EVSE limits."""
    mode = req.get("EVRequestedEnergyTransferType")
    if mode not in ctx.evse.energy_modes or not str(mode).startswith("DC"):
        raise HandlerError("FAILED_WrongEnergyTransferType", f"{mode!r} not offered")
    par = req.get("DC_EVChargeParameter")
    if not isinstance(par, dict):
        raise HandlerError("FAILED_WrongChargeParameter", "DC_EVChargeParameter missing")
    soc = common.ev_soc(par)
    ctx.energy_mode = str(mode)
    ctx.emit(
        EvChargeParameters(
            str(mode),
            to_float(par["EVMaximumVoltageLimit"], "V"),
            to_float(par["EVMaximumCurrentLimit"], "A"),
            None,
            opt_float(par.get("EVMaximumPowerLimit"), "W"),
            soc,
            opt_float(par.get("EVEnergyRequest"), "Wh"),
        )
    )
    if ctx.evse.limits.max_power <= 0:
        if ctx.ongoing("cpd", now, ctx.timers.charge_parameter_ongoing):
            raise HandlerError("FAILED", "no EVSE limits")
        return {
            "ResponseCode": "OK",
            "EVSEProcessing": "Ongoing",
            "SAScheduleList": _schedule(ctx, 0),
            "DC_EVSEChargeParameter": _evse_param(ctx),
        }, state
    ctx.done("cpd")
    ents = common.offer_schedule(ctx, now, None, None)
    return (
        {
            "ResponseCode": "OK",
            "EVSEProcessing": "Finished",
            "SAScheduleList": _schedule(ctx, ctx.offered_pmax, ents),
            "DC_EVSEChargeParameter": _evse_param(ctx),
        },
        "CableCheck",
    )


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """ChargeParameterDiscoveryRes with a FAILED code."""
    return {
        "ResponseCode": code,
        "EVSEProcessing": "Finished",
        "SAScheduleList": _schedule(ctx, 0),
        "DC_EVSEChargeParameter": _evse_param(ctx),
    }
