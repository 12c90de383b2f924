"""ISO 15118-20 ScheduleExchangeReq -> ScheduleExchangeRes.

Scheduled control mode: one ScheduleTuple whose ChargingSchedule follows the smart-charging composite
(``josev.secc.schedule``: PowerScheduleEntries up to the EV's DepartureTime, at most MaximumSupportingPoints;
without a composite one entry at the EVSE's present charge limit) and, for BPT, a DischargingSchedule with the
coordinator's discharge limit as negative power. Dynamic control mode: an
empty ``Dynamic_SEResControlMode`` (the limits travel in every ChargeLoopRes). Ongoing while the EVSE has no
limits yet, FAILED after the ongoing limit. Also the target of a ScheduleRenegotiation.
"""

from __future__ import annotations

from typing import Any

from josev.secc import schedule
from josev.secc.iso20 import common
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import HandlerError
from josev.v2g.iso20.rational import opt_rf, rn

REQUEST = "ScheduleExchangeReq"
RESPONSE = "ScheduleExchangeRes"
SCHEMA = "iso20-cm"


def _schedule(
    ctx: Iso20Context,
    now: float,
    power: float,
    prices: bool = False,
    ents: list[tuple[int, float]] | None = None,
    horizon: float | None = None,
) -> dict[str, Any]:
    h = horizon or ctx.config.schedule_duration
    parts = schedule.durations(ents, h) if ents is not None else [(ctx.config.schedule_duration, power)]
    out: dict[str, Any] = {
        "PowerSchedule": {
            "TimeAnchor": common.timestamp(ctx, now),
            "PowerScheduleEntries": {
                "PowerScheduleEntry": [{"Duration": int(d), "Power": rn(w)} for d, w in parts]
            },
        }
    }
    if prices and ctx.config.price_levels:
        # optional in the XSD; some EVs (the open-source Josev) insist on one price schedule: one flat level
        out["PriceLevelSchedule"] = {
            "TimeAnchor": common.timestamp(ctx, now),
            "PriceScheduleID": 1,
            "NumberOfPriceLevels": 1,
            "PriceLevelScheduleEntries": {
                "PriceLevelScheduleEntry": [{"Duration": ctx.config.schedule_duration, "PriceLevel": 0}]
            },
        }
    return out


def scheduled(
    ctx: Iso20Context, now: float, horizon: float | None = None, max_entries: int | None = None
) -> dict[str, Any]:
    """Scheduled_SEResControlMode from the smart-charging composite capped by the present limit (first entry)
    and the rating (later ones), up to the EV's departure time or ``schedule_duration``; records the offer."""
    tid = ctx.evse.schedule_tuple_id
    h = horizon if horizon is not None and horizon > 0 else float(ctx.config.schedule_duration)
    ents = schedule.entries(
        ctx.evse.schedule,
        now,
        common.pmax(ctx),
        common.cap(ctx),
        h,
        min(max_entries or schedule.MAX_ENTRIES, ctx.evse.max_schedule_entries),
    )
    ctx.offered_schedule = schedule.offered(ents, now)
    ctx.schedule_version_seen = ctx.evse.schedule_version
    ctx.offered_pmax = max(w for _, w in ents)
    ctx.offered_discharge = common.discharge_max(ctx)
    tup: dict[str, Any] = {
        "ScheduleTupleID": tid,
        "ChargingSchedule": _schedule(ctx, now, ctx.offered_pmax, prices=True, ents=ents, horizon=h),
    }
    if ctx.selection is not None and ctx.selection.bpt:
        tup["DischargingSchedule"] = _schedule(ctx, now, -ctx.offered_discharge, prices=True)
    ctx.schedule_ids = (tid,)
    return {"ScheduleTuple": [tup]}


def _mode(
    ctx: Iso20Context, now: float, horizon: float | None = None, points: int | None = None
) -> tuple[str, dict[str, Any]]:
    sel = ctx.selection
    if sel is not None and sel.dynamic:
        return "Dynamic_SEResControlMode", {}
    return "Scheduled_SEResControlMode", scheduled(ctx, now, horizon, points)


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """See the module docstring."""
    sel = ctx.require_selection()
    points = req.get("MaximumSupportingPoints")
    if not isinstance(points, int) or not 12 <= points <= 1024:
        raise HandlerError(
            "FAILED_WrongChargeParameter", f"MaximumSupportingPoints {points!r} not in 12..1024"
        )
    want = "Dynamic_SEReqControlMode" if sel.dynamic else "Scheduled_SEReqControlMode"
    mode = req.get(want)
    if not isinstance(mode, dict):
        raise HandlerError("FAILED_WrongChargeParameter", f"{want} expected for the selected control mode")
    for k in ("EVTargetEnergyRequest", "EVMaximumEnergyRequest", "EVMinimumEnergyRequest"):
        v = opt_rf(mode.get(k), k)
        if v is not None:
            ctx.ev_params[k] = v
    common.check_session_ok(ctx)
    ev = ctx.evse
    if "needs" not in ctx.ongoing_since:  # OCPP K15: the needs went to the CSMS at ChargeParameterDiscovery
        ctx.ongoing_since["needs"] = now
        ctx.needs_version = ev.schedule_version
    waiting = schedule.waiting_for_csms(
        ev.csms_wait, ev.needs_status, ctx.ongoing_since["needs"], now, ctx.needs_version, ev.schedule_version
    )
    if common.pmax(ctx) <= 0 or waiting:
        if ctx.ongoing("schedule", now, ctx.timers.charge_parameter_ongoing):
            raise HandlerError("FAILED", "no EVSE limits")
        key, body = _mode(ctx, now)  # scheduled mode needs a tuple even in an Ongoing answer
        return {"ResponseCode": "OK", "EVSEProcessing": "Ongoing", key: body}, state
    ctx.done("schedule")
    ctx.done("needs")
    ctx.limits_version_seen = ctx.evse.limits_version
    dep = mode.get("DepartureTime")
    key, body = _mode(ctx, now, float(dep) if isinstance(dep, int) and dep > 0 else None, points)
    if sel.dynamic:
        ctx.offered_pmax = common.pmax(ctx)
        ctx.offered_discharge = common.discharge_max(ctx)
    nxt = "CableCheck" if not sel.ac and not ctx.renegotiating else "PowerDelivery"
    return {"ResponseCode": "OK", "EVSEProcessing": "Finished", key: body}, nxt


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """ScheduleExchangeRes with a FAILED code."""
    return {"ResponseCode": code, "EVSEProcessing": "Finished", "Dynamic_SEResControlMode": {}}
