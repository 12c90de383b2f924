"""Building blocks shared by the DIN SPEC 70121 and ISO 15118-2 handlers (the two schemas differ mainly in
element order and a few names; ``dialect`` is ``"din"`` or ``"iso2"``)."""

from __future__ import annotations

from typing import Any

from josev.secc import schedule
from josev.secc.events import EvTargets
from josev.secc.machine import Context, HandlerError
from josev.v2g.physical import ParameterError, pv, to_float

FAILED = "FAILED"
READY = "EVSE_Ready"
SHUTDOWN_CODES = frozenset(
    {"EVSE_Shutdown", "EVSE_EmergencyShutdown", "EVSE_Malfunction", "EVSE_UtilityInterruptEvent"}
)


def notification(ctx: Context, dialect: str) -> str:
    """EVSENotification: StopCharging on a station stop, ReNegotiation (ISO 15118-2) when the offered schedule
    no longer holds (see :func:`renegotiation_needed`)."""
    if ctx.evse.stop_requested:
        return "StopCharging"
    if dialect == "iso2" and renegotiation_needed(ctx):
        return "ReNegotiation"
    return "None"


def renegotiation_needed(ctx: Context) -> bool:
    """Whether the offered schedule no longer holds (:func:`josev.secc.schedule.renegotiate`)."""
    ev = ctx.evse
    c = schedule.renegotiate(
        ev.schedule,
        ctx.offered_schedule,
        ctx.now,
        offered_pmax(ctx),
        _cap(ctx),
        (ev.schedule_version, ev.limits_version),
        (ctx.schedule_version_seen, ctx.limits_version_seen),
    )
    ctx.schedule_version_seen, ctx.limits_version_seen = c.schedule_seen, c.limits_seen
    return c.renegotiate


def _cap(ctx: Context) -> float:
    """The rated power the later periods of a schedule are capped by."""
    rated = ctx.evse.rated_power
    return rated if rated is not None else offered_pmax(ctx)


def offer_schedule(
    ctx: Context, now: float, horizon: float | None, max_entries: int | None
) -> list[tuple[int, float]]:
    """The PMaxSchedule entries to offer now, (relative start s, W), from the composite capped by the EVSE's
    present limit (first entry) and rating; records the offer (``offered_schedule``, ``offered_pmax``)."""
    h = horizon if horizon is not None and horizon > 0 else schedule.DEFAULT_HORIZON_S
    n = min(max_entries or schedule.MAX_ENTRIES, ctx.evse.max_schedule_entries, schedule.MAX_ENTRIES)
    ents = schedule.entries(ctx.evse.schedule, now, offered_pmax(ctx), _cap(ctx), h, n)
    ctx.offered_schedule = schedule.offered(ents, now)
    ctx.offered_pmax = max(w for _, w in ents)
    ctx.limits_version_seen = ctx.evse.limits_version
    ctx.schedule_version_seen = ctx.evse.schedule_version
    return ents


def pmax_entries(ents: list[tuple[int, float]], horizon: float | None, dialect: str) -> list[dict[str, Any]]:
    """PMaxScheduleEntry list; the last entry carries the duration up to the horizon."""
    h = int(horizon if horizon is not None and horizon > 0 else schedule.DEFAULT_HORIZON_S)
    out: list[dict[str, Any]] = []
    for i, (start, w) in enumerate(ents):
        iv: dict[str, Any] = {"start": start}
        if i == len(ents) - 1:
            iv["duration"] = max(1, h - start)
        pmax: Any = int(max(0, min(w, 32767))) if dialect == "din" else pv(w, "W")
        out.append({"RelativeTimeInterval": iv, "PMax": pmax})
    return out


def isolation(ctx: Context, dialect: str) -> str:
    """EVSEIsolationStatus in the dialect's enumeration (DIN has no No_IMD)."""
    iso = ctx.evse.isolation
    if dialect == "din" and iso == "No_IMD":
        return "Invalid"
    return iso


def dc_status(ctx: Context, dialect: str, status_code: str | None = None) -> dict[str, Any]:
    """DC_EVSEStatus in schema order."""
    code = status_code or ctx.evse.status_code
    if ctx.evse.stop_requested and code == READY:
        code = "EVSE_Shutdown"
    note = notification(ctx, dialect)
    if dialect == "din":
        return {
            "EVSEIsolationStatus": isolation(ctx, dialect),
            "EVSEStatusCode": code,
            "NotificationMaxDelay": 0,
            "EVSENotification": note,
        }
    return {
        "NotificationMaxDelay": 0,
        "EVSENotification": note,
        "EVSEIsolationStatus": isolation(ctx, dialect),
        "EVSEStatusCode": code,
    }


def ac_status(ctx: Context) -> dict[str, Any]:
    """AC_EVSEStatus (ISO 15118-2)."""
    return {"NotificationMaxDelay": 0, "EVSENotification": notification(ctx, "iso2"), "RCD": ctx.evse.rcd}


def ev_soc(req: dict[str, Any]) -> int | None:
    """EVRESSSOC from a DC_EVStatus, checked."""
    st = req.get("DC_EVStatus")
    if not isinstance(st, dict):
        raise ParameterError("DC_EVStatus missing")
    soc = st.get("EVRESSSOC")
    if not isinstance(soc, int) or isinstance(soc, bool) or not 0 <= soc <= 100:
        raise ParameterError("EVRESSSOC must be 0..100")
    return soc


def check_session_ok(ctx: Context) -> None:
    """Refuse with FAILED when the EVSE is shut down."""
    if ctx.evse.status_code in SHUTDOWN_CODES:
        raise HandlerError(FAILED, f"EVSE status {ctx.evse.status_code}")


def offered_pmax(ctx: Context) -> float:
    """Maximum power offered in the SAScheduleList, from the EVSE limits."""
    lim = ctx.evse.limits
    if ctx.energy_mode is not None and ctx.energy_mode.startswith("AC"):
        phases = 1 if ctx.energy_mode == "AC_single_phase_core" else lim.ac_phases
        return lim.ac_nominal_voltage * lim.ac_max_current * phases
    return min(lim.max_power, lim.max_voltage * lim.max_current)


# --- DC messages common to both protocols -------------------------------------------------------------


def cable_check(ctx: Context, req: dict[str, Any], now: float, dialect: str) -> dict[str, Any]:
    """CableCheck: Ongoing while the isolation test runs, Finished when Valid/Warning, FAILED on Fault."""
    ev_soc(req)
    check_session_ok(ctx)
    if "cable_check" not in ctx.ongoing_since:
        from josev.secc.events import CableCheckRequested

        ctx.emit(CableCheckRequested())
    iso = ctx.evse.isolation
    if iso == "Fault":
        raise HandlerError(FAILED, "isolation fault")
    finished = iso in ("Valid", "Warning") or (dialect == "iso2" and iso == "No_IMD")
    if finished:
        ctx.done("cable_check")
        status = dc_status(ctx, dialect)
    else:
        if ctx.ongoing("cable_check", now, ctx.timers.cable_check):
            raise HandlerError(FAILED, "cable check timed out")
        status = dc_status(ctx, dialect, "EVSE_IsolationMonitoringActive")
    return {
        "ResponseCode": "OK",
        "DC_EVSEStatus": status,
        "EVSEProcessing": "Finished" if finished else "Ongoing",
    }


def cable_check_negative(ctx: Context, code: str, dialect: str) -> dict[str, Any]:
    """CableCheckRes with a FAILED code."""
    return {"ResponseCode": code, "DC_EVSEStatus": dc_status(ctx, dialect), "EVSEProcessing": "Finished"}


def pre_charge(ctx: Context, req: dict[str, Any], dialect: str) -> dict[str, Any]:
    """PreCharge: pass the target on, report the present voltage."""
    soc = ev_soc(req)
    check_session_ok(ctx)
    v = to_float(req["EVTargetVoltage"], "V")
    i = to_float(req["EVTargetCurrent"], "A")
    if v < 0 or i < 0:
        raise ParameterError("negative PreCharge target")
    if v > ctx.evse.limits.max_voltage:
        raise HandlerError(FAILED, f"target voltage {v} above EVSE maximum")
    ctx.emit(EvTargets("precharge", v, i, soc))
    return {
        "ResponseCode": "OK",
        "DC_EVSEStatus": dc_status(ctx, dialect),
        "EVSEPresentVoltage": pv(ctx.evse.present_voltage, "V"),
    }


def pre_charge_negative(ctx: Context, code: str, dialect: str) -> dict[str, Any]:
    """PreChargeRes with a FAILED code."""
    return {
        "ResponseCode": code,
        "DC_EVSEStatus": dc_status(ctx, dialect),
        "EVSEPresentVoltage": pv(ctx.evse.present_voltage, "V"),
    }


def current_demand(ctx: Context, req: dict[str, Any], dialect: str) -> dict[str, Any]:
    """CurrentDemand: targets to the shell, present values and limits back."""
    soc = ev_soc(req)
    check_session_ok(ctx)
    v = to_float(req["EVTargetVoltage"], "V")
    i = to_float(req["EVTargetCurrent"], "A")
    if v < 0 or i < 0:
        raise ParameterError("negative CurrentDemand target")
    complete = req.get("ChargingComplete") is True
    ctx.emit(EvTargets("charge", v, i, soc, complete))
    lim = ctx.evse.limits
    res: dict[str, Any] = {
        "ResponseCode": "OK",
        "DC_EVSEStatus": dc_status(ctx, dialect),
        "EVSEPresentVoltage": pv(ctx.evse.present_voltage, "V"),
        "EVSEPresentCurrent": pv(ctx.evse.present_current, "A"),
        "EVSECurrentLimitAchieved": i >= lim.max_current,
        "EVSEVoltageLimitAchieved": v >= lim.max_voltage,
        "EVSEPowerLimitAchieved": v * i >= lim.max_power,
        "EVSEMaximumVoltageLimit": pv(lim.max_voltage, "V"),
        "EVSEMaximumCurrentLimit": pv(lim.max_current, "A"),
        "EVSEMaximumPowerLimit": pv(lim.max_power, "W"),
    }
    if dialect == "iso2":
        res["EVSEID"] = ctx.evse.evse_id
        res["SAScheduleTupleID"] = ctx.schedule_id
    return res


def current_demand_negative(ctx: Context, code: str, dialect: str) -> dict[str, Any]:
    """CurrentDemandRes with a FAILED code (mandatory fields filled)."""
    res: dict[str, Any] = {
        "ResponseCode": code,
        "DC_EVSEStatus": dc_status(ctx, dialect),
        "EVSEPresentVoltage": pv(ctx.evse.present_voltage, "V"),
        "EVSEPresentCurrent": pv(ctx.evse.present_current, "A"),
        "EVSECurrentLimitAchieved": False,
        "EVSEVoltageLimitAchieved": False,
        "EVSEPowerLimitAchieved": False,
    }
    if dialect == "iso2":
        res["EVSEID"] = ctx.evse.evse_id
        res["SAScheduleTupleID"] = ctx.schedule_id
    return res


def welding_detection(ctx: Context, req: dict[str, Any], dialect: str) -> dict[str, Any]:
    """WeldingDetection: report the present voltage so the EV can check its contactors."""
    ev_soc(req)
    if "welding" not in ctx.ongoing_since:
        from josev.secc.events import WeldingDetectionRequested

        ctx.ongoing_since["welding"] = 0.0
        ctx.emit(WeldingDetectionRequested())
    return {
        "ResponseCode": "OK",
        "DC_EVSEStatus": dc_status(ctx, dialect),
        "EVSEPresentVoltage": pv(ctx.evse.present_voltage, "V"),
    }


def welding_detection_negative(ctx: Context, code: str, dialect: str) -> dict[str, Any]:
    """WeldingDetectionRes with a FAILED code."""
    return {
        "ResponseCode": code,
        "DC_EVSEStatus": dc_status(ctx, dialect),
        "EVSEPresentVoltage": pv(ctx.evse.present_voltage, "V"),
    }


def authorization(ctx: Context, now: float, request: str) -> dict[str, Any]:
    """Authorization / ContractAuthentication for EIM and ExternalPayment: Ongoing until decided."""
    from josev.secc.events import AuthorizationRequested

    if "auth" not in ctx.ongoing_since:
        ctx.emit(AuthorizationRequested(ctx.payment or "ExternalPayment"))
    decided = ctx.evse.authorized
    if decided is True:
        ctx.done("auth")
        ctx.ongoing_since["auth_done"] = now
        return {"ResponseCode": "OK", "EVSEProcessing": "Finished"}
    if decided is False:
        raise HandlerError(FAILED, f"{request}: authorization rejected")
    if ctx.ongoing("auth", now, ctx.timers.authorization_ongoing):
        raise HandlerError(FAILED, f"{request}: authorization timed out")
    return {"ResponseCode": "OK", "EVSEProcessing": "Ongoing"}
