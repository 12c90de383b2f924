"""ISO 15118-2 PowerDeliveryReq -> PowerDeliveryRes: Start, Stop (incl. before a pause) and Renegotiate."""

from __future__ import annotations

from typing import Any

from josev.secc import common, schedule
from josev.secc.events import EvChargingProfile, PowerDeliveryRequested
from josev.secc.machine import Context, HandlerError
from josev.v2g.physical import to_float

REQUEST = "PowerDeliveryReq"
RESPONSE = "PowerDeliveryRes"


def _status(ctx: Context) -> tuple[str, dict[str, Any]]:
    ac = ctx.energy_mode.startswith("AC") if ctx.energy_mode else not ctx.evse.is_dc
    return (
        ("AC_EVSEStatus", common.ac_status(ctx)) if ac else ("DC_EVSEStatus", common.dc_status(ctx, "iso2"))
    )


def _check_profile(ctx: Context, req: dict[str, Any]) -> None:
    prof = req.get("ChargingProfile")
    if prof is None:
        return
    entries = prof.get("ProfileEntry") if isinstance(prof, dict) else None
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise HandlerError("FAILED_ChargingProfileInvalid", "ChargingProfile without entries")
    prof_abs: list[tuple[float, float]] = []
    start0 = ctx.offered_schedule[0][0] if ctx.offered_schedule else 0.0
    for e in entries:
        p = to_float(e["ChargingProfileEntryMaxPower"], "W")
        if p > ctx.offered_pmax * 1.0001 or p < 0:
            raise HandlerError(
                "FAILED_ChargingProfileInvalid", f"{p} W exceeds the offered {ctx.offered_pmax} W"
            )
        start = e.get("ChargingProfileEntryStart")
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise HandlerError("FAILED_ChargingProfileInvalid", f"ChargingProfileEntryStart {start!r}")
        prof_abs.append((start0 + start, p))
    # the profile's entries are relative to the offered SAScheduleTuple (ISO 15118-2 [V2G2-293])
    why = schedule.exceeds(ctx.offered_schedule, prof_abs)
    if why is not None:
        raise HandlerError("FAILED_ChargingProfileInvalid", why)
    ctx.emit(EvChargingProfile(tuple((round(t - start0), p) for t, p in sorted(prof_abs)), start0))


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Start only before charging, Stop/Renegotiate only while charging (Stop also before)."""
    progress = req.get("ChargeProgress")
    if req.get("SAScheduleTupleID") != ctx.schedule_id:
        raise HandlerError(
            "FAILED_TariffSelectionInvalid", f"SAScheduleTupleID {req.get('SAScheduleTupleID')!r}"
        )
    par = req.get("DC_EVPowerDeliveryParameter")
    if isinstance(par, dict):
        common.ev_soc(par)
    charging = state in ("ChargingStatus", "CurrentDemand")
    ac = bool(ctx.energy_mode and ctx.energy_mode.startswith("AC"))
    if progress == "Start":
        if charging:
            raise HandlerError("FAILED_SequenceError", f"Start in state {state}")
        _check_profile(ctx, req)
        if ctx.evse.status_code in common.SHUTDOWN_CODES or ctx.evse.stop_requested:
            raise HandlerError("FAILED_PowerDeliveryNotApplied", ctx.evse.status_code)
        ctx.renegotiating = False
        nxt = "ChargingStatus" if ac else "CurrentDemand"
    elif progress == "Stop":
        nxt = "StoppedCharging" if ac else "WeldingDetection"
    elif progress == "Renegotiate":
        if not charging:
            raise HandlerError("FAILED_SequenceError", f"Renegotiate in state {state}")
        ctx.renegotiating = True
        nxt = "ChargeParameterDiscovery"
    else:
        raise HandlerError("FAILED", f"ChargeProgress {progress!r}")
    ctx.emit(PowerDeliveryRequested(str(progress)))
    key, status = _status(ctx)
    return {"ResponseCode": "OK", key: status}, nxt


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """PowerDeliveryRes with a FAILED code."""
    key, status = _status(ctx)
    return {"ResponseCode": code, key: status}
