"""ISO 15118-20 PowerDeliveryReq -> PowerDeliveryRes: Start (also leaving Standby), Stop, Standby and
ScheduleRenegotiation; ``EVProcessing=Ongoing`` means the EV is not ready yet (answered OK, nothing changes).

Start checks the EV power profile against what ScheduleExchange offered: the selected ScheduleTupleID
(FAILED_ScheduleSelectionInvalid), the profile's control mode and powers (FAILED_EVPowerProfileInvalid).
In scheduled mode the accepted profile is reported (``EvChargingProfile``, for OCPP NotifyEVChargingSchedule).
"""

from __future__ import annotations

from typing import Any

from josev.secc import schedule
from josev.secc.events import EvChargingProfile, PowerDeliveryRequested
from josev.secc.iso20 import common
from josev.secc.iso20.context import Iso20Context, Selection
from josev.secc.iso20.events import StandbyChanged
from josev.secc.machine import HandlerError
from josev.v2g.iso20.rational import rf

REQUEST = "PowerDeliveryReq"
RESPONSE = "PowerDeliveryRes"
SCHEMA = "iso20-cm"

CHARGING = ("ChargeLoop", "Standby")
TOLERANCE = 1.0001


def ev_profile(timed: list[tuple[float, float]]) -> EvChargingProfile:
    """The EV's EVPowerProfile ((start on the cores' clock, W) per entry, the first at the TimeAnchor) as
    (start s from the TimeAnchor, W); an entry of no duration gives way to the next one (same start)."""
    at0 = timed[0][0]
    starts: dict[int, float] = {}
    for t, p in timed:
        starts[round(t - at0)] = p
    return EvChargingProfile(tuple(sorted(starts.items())), at0)


def _check_profile(ctx: Iso20Context, sel: Selection, req: dict[str, Any]) -> EvChargingProfile | None:
    """Check the EVPowerProfile; the scheduled mode's profile to report (None in dynamic mode)."""
    prof = req.get("EVPowerProfile")
    if prof is None:
        if not sel.dynamic:
            raise HandlerError("FAILED_ScheduleSelectionInvalid", "scheduled mode needs an EVPowerProfile")
        return None
    if not isinstance(prof, dict):
        raise HandlerError("FAILED_EVPowerProfileInvalid", "EVPowerProfile is not an object")
    if sel.dynamic:
        if "Dynamic_EVPPTControlMode" not in prof:
            raise HandlerError("FAILED_EVPowerProfileInvalid", "dynamic mode needs Dynamic_EVPPTControlMode")
    else:
        mode = prof.get("Scheduled_EVPPTControlMode")
        if not isinstance(mode, dict):
            raise HandlerError(
                "FAILED_EVPowerProfileInvalid", "scheduled mode needs Scheduled_EVPPTControlMode"
            )
        if mode.get("SelectedScheduleTupleID") not in ctx.schedule_ids:
            raise HandlerError(
                "FAILED_ScheduleSelectionInvalid", f"ScheduleTupleID {mode.get('SelectedScheduleTupleID')!r}"
            )
    entries = (prof.get("EVPowerProfileEntries") or {}).get("EVPowerProfileEntry")
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        raise HandlerError("FAILED_EVPowerProfileInvalid", "EVPowerProfile without entries")
    hi = ctx.offered_pmax * TOLERANCE
    lo = -ctx.offered_discharge * TOLERANCE
    anchor = prof.get("TimeAnchor")
    at = float(anchor) - ctx.config.wall_offset if isinstance(anchor, int) else ctx.now
    timed: list[tuple[float, float]] = []
    for e in entries:
        p = rf(e.get("Power") if isinstance(e, dict) else None, "Power")
        if not lo <= p <= hi:
            raise HandlerError(
                "FAILED_EVPowerProfileInvalid", f"{p} W outside the offered {lo:.0f}..{hi:.0f} W"
            )
        timed.append((at, p))
        d = e.get("Duration") if isinstance(e, dict) else None
        at += d if isinstance(d, int) and d > 0 else 0
    if not sel.dynamic and not (ctx.selection is not None and ctx.selection.bpt):
        # scheduled charging: the profile over time within the offered ChargingSchedule
        why = schedule.exceeds(ctx.offered_schedule, timed)
        if why is not None:
            raise HandlerError("FAILED_EVPowerProfileInvalid", why)
    return None if sel.dynamic else ev_profile(timed)


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """See the module docstring; the table limits where each ChargeProgress is possible."""
    sel = ctx.require_selection()
    if common.processing(req) != "Finished":
        return common.with_status(ctx, {"ResponseCode": "OK"}), state
    progress = req.get("ChargeProgress")
    channel = req.get("BPT_ChannelSelection")
    if channel is not None and (not sel.bpt or channel not in ("Charge", "Discharge")):
        raise HandlerError("FAILED_WrongChargeParameter", f"BPT_ChannelSelection {channel!r}")
    if progress == "Start":
        if state == "ChargeLoop":
            raise HandlerError("FAILED_SequenceError", "Start while charging")
        chosen = _check_profile(ctx, sel, req) if state != "Standby" else None
        if ctx.evse.status_code in common.SHUTDOWN_CODES or ctx.evse.stop_requested:
            raise HandlerError("FAILED_PowerDeliveryNotApplied", ctx.evse.status_code)
        if chosen is not None:
            ctx.emit(chosen)
        if ctx.standby:
            ctx.standby = False
            ctx.station.exit_standby = False
            ctx.emit(StandbyChanged(False))
        ctx.renegotiating = False
        nxt = "ChargeLoop"
    elif progress == "Stop":
        ctx.standby = False
        nxt = "PostCharge"
    elif progress == "Standby":
        if state != "ChargeLoop":
            raise HandlerError("FAILED_SequenceError", f"Standby in state {state}")
        if not ctx.config.standby_allowed or not sel.dynamic:
            return common.with_status(ctx, {"ResponseCode": "WARNING_StandbyNotAllowed"}), state
        ctx.standby = True
        ctx.emit(StandbyChanged(True))
        nxt = "Standby"
    elif progress == "ScheduleRenegotiation":
        if state != "ChargeLoop":
            raise HandlerError("FAILED_SequenceError", f"ScheduleRenegotiation in state {state}")
        ctx.renegotiating = True
        nxt = "ScheduleExchange"
    else:
        raise HandlerError("FAILED", f"ChargeProgress {progress!r}")
    ctx.emit(PowerDeliveryRequested(str(progress)))
    return common.with_status(ctx, {"ResponseCode": "OK"}), nxt


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """PowerDeliveryRes with a FAILED code."""
    return {"ResponseCode": code}
