"""Building blocks shared by the ISO 15118-20 handlers."""

from __future__ import annotations

from typing import Any

from josev.secc import schedule
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import HandlerError
from josev.v2g.iso20.rational import rn

FAILED = "FAILED"
SHUTDOWN_CODES = frozenset(
    {"EVSE_Shutdown", "EVSE_EmergencyShutdown", "EVSE_Malfunction", "EVSE_UtilityInterruptEvent"}
)
ZERO = {"Exponent": 0, "Value": 0}


def notification(ctx: Iso20Context) -> str | None:
    """EVSENotification to send now, or None (-20 has no "None" value: EVSEStatus is left out then)."""
    if ctx.evse.stop_requested or ctx.evse.status_code in SHUTDOWN_CODES:
        return "Terminate"
    if ctx.standby and ctx.station.exit_standby:
        return "ExitStandby"
    sel = ctx.selection
    if sel is not None and sel.bpt and ctx.station.bpt is None and ctx.config.service_renegotiation:
        return "ServiceRenegotiation"  # the coordinator withdrew discharging: the EV picks another service
    if sel is not None and not sel.dynamic and renegotiation_needed(ctx):
        return "ScheduleRenegotiation"
    return None


def renegotiation_needed(ctx: Iso20Context) -> bool:
    """Scheduled mode: whether the offered schedule no longer holds (:func:`josev.secc.schedule.renegotiate`).
    Dynamic mode needs none: the limits of every ChargeLoopRes follow the composite."""
    ev = ctx.evse
    c = schedule.renegotiate(
        ev.schedule,
        ctx.offered_schedule,
        ctx.now,
        pmax(ctx),
        cap(ctx),
        (ev.schedule_version, ev.limits_version),
        (ctx.schedule_version_seen, ctx.limits_version_seen),
    )
    ctx.schedule_version_seen, ctx.limits_version_seen = c.schedule_seen, c.limits_seen
    return c.renegotiate


def cap(ctx: Iso20Context) -> float:
    """The rated power the later periods of a schedule are capped by."""
    rated = ctx.evse.rated_power
    return rated if rated is not None else pmax(ctx)


def with_status(ctx: Iso20Context, res: dict[str, Any]) -> dict[str, Any]:
    """Add ``EVSEStatus`` to ``res`` when there is something to notify."""
    note = notification(ctx)
    if note is not None:
        res["EVSEStatus"] = {
            "NotificationMaxDelay": ctx.config.notification_max_delay,
            "EVSENotification": note,
        }
    return res


def check_session_ok(ctx: Iso20Context) -> None:
    """Refuse with FAILED when the EVSE is shut down."""
    if ctx.evse.status_code in SHUTDOWN_CODES:
        raise HandlerError(FAILED, f"EVSE status {ctx.evse.status_code}")


def processing(req: dict[str, Any]) -> str:
    """EVProcessing of a request, checked."""
    p = req.get("EVProcessing")
    if p not in ("Finished", "Ongoing", "Ongoing_WaitingForCustomerInteraction"):
        raise HandlerError(FAILED, f"EVProcessing {p!r}")
    return str(p)


def ac_pmax(ctx: Iso20Context) -> float:
    """Total AC charge power the EVSE can offer now (W)."""
    lim = ctx.evse.limits
    return min(lim.ac_nominal_voltage * lim.ac_max_current * lim.ac_phases, lim.max_power)


def dc_pmax(ctx: Iso20Context) -> float:
    """DC charge power the EVSE can offer now (W)."""
    lim = ctx.evse.limits
    return min(lim.max_power, lim.max_voltage * lim.max_current)


def pmax(ctx: Iso20Context) -> float:
    """Charge power of the selected service."""
    sel = ctx.selection
    return ac_pmax(ctx) if sel is not None and sel.ac else dc_pmax(ctx)


def discharge_max(ctx: Iso20Context) -> float:
    """Discharge power (positive magnitude) the EVSE can take now; 0 without BPT."""
    bpt = ctx.station.bpt
    sel = ctx.selection
    if bpt is None or sel is None or not sel.bpt:
        return 0.0
    if sel.ac:
        return bpt.max_discharge_power
    return min(bpt.max_discharge_power, ctx.evse.limits.max_voltage * bpt.max_discharge_current)


def phases(ctx: Iso20Context, total: float, key: str) -> dict[str, Any]:
    """``key`` (and ``key_L2``/``key_L3`` on a three-phase EVSE) for a total power split over the phases."""
    n = ctx.evse.limits.ac_phases
    if n != 3:
        return {key: rn(total)}
    per = total / 3
    return {key: rn(per), f"{key}_L2": rn(per), f"{key}_L3": rn(per)}


def meter_info(ctx: Iso20Context) -> dict[str, Any]:
    """MeterInfo from the station's meter."""
    st = ctx.station
    out: dict[str, Any] = {"MeterID": st.meter_id, "ChargedEnergyReadingWh": int(st.charged_wh)}
    sel = ctx.selection
    if sel is not None and sel.bpt:
        out["BPT_DischargedEnergyReadingWh"] = int(st.discharged_wh)
    return out


def target_power(ctx: Iso20Context, ev_max: float, ev_max_discharge: float) -> float:
    """Dynamic mode: the power the EVSE asks for (W, negative = discharge), within both sides' limits."""
    if ctx.standby:
        return 0.0
    hi = min(pmax(ctx), max(ev_max, 0.0))
    lo = -min(discharge_max(ctx), max(ev_max_discharge, 0.0))
    want = ctx.station.power_setpoint
    if want is None:
        return hi
    return max(lo, min(hi, want))


def timestamp(ctx: Iso20Context, now: float) -> int:
    """Seconds since the epoch for headers and time anchors (``now`` + the configured wall offset)."""
    return max(0, int(ctx.config.wall_offset + now))
