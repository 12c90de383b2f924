"""ISO 15118 smart charging towards the CSMS (OCPP 2.0.1 K15-K17), sans-IO.

* K15 ``NotifyEVChargingNeeds``: what the EV asked for in ChargeParameterDiscovery (from the SECC); the CSMS
  answers Accepted (a charging profile follows), Processing (it works on one) or Rejected (none comes). The
  answer goes back to the SECC, which keeps the EV waiting (EVSEProcessing Ongoing, bounded) for the profile.
* K16: a profile the CSMS sends during charging changes the composite; the SECC asks the EV to renegotiate
  (``josev.secc.schedule``) - nothing to send here.
* K17 ``NotifyEVChargingSchedule``: the schedule the EV chose (ISO 15118-2: PowerDelivery's ChargingProfile,
  from the offer; -20 scheduled mode: its EVPowerProfile, from the TimeAnchor), as (start s, W) periods.

Times from the SECC are the host's clock; the CSMS gets them on the station clock (``Station.clock_offset``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from josev.ocpp.effects import StationRequest

if TYPE_CHECKING:
    from josev.ocpp.core import Station

REPLY = "ev_needs_reply"
"""StationRequest kind carrying the answer to the SECC (``ref``, ``reply``)."""
CTRLR = "ISO15118Ctrlr"


def _up(st: Station) -> bool:
    return st.online and st.registration == "Accepted"


def _station_time(st: Station, host: datetime) -> str:
    t = datetime.fromtimestamp(host.timestamp() + st.clock_offset, UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _reply(st: Station, ref: int, status: str, reason: str | None = None) -> None:
    st.emit(StationRequest(REPLY, {"ref": ref, "reply": {"status": status, "reason": reason}}))


def _int(x: float) -> int:
    return round(x)


def needs_payload(st: Station, evse: int, needs: dict[str, Any]) -> dict[str, Any]:
    """The NotifyEVChargingNeedsRequest for the SECC's ``NotifyEvChargingNeeds`` (as a dict)."""
    transfer = needs["energy_transfer"]
    cn: dict[str, Any] = {"requestedEnergyTransfer": transfer}
    if needs.get("departure_time") is not None:
        cn["departureTime"] = _station_time(st, needs["departure_time"])
    if transfer == "DC":
        dc: dict[str, Any] = {
            "evMaxCurrent": _int(needs["ev_max_current_a"]),
            "evMaxVoltage": _int(needs["ev_max_voltage_v"]),
        }
        if needs.get("energy_amount_wh") is not None:
            dc["energyAmount"] = _int(needs["energy_amount_wh"])
        if needs.get("ev_max_power_w") is not None:
            dc["evMaxPower"] = _int(needs["ev_max_power_w"])
        if needs.get("soc_percent") is not None:
            dc["stateOfCharge"] = int(needs["soc_percent"])
        cn["dcChargingParameters"] = dc
    else:
        cn["acChargingParameters"] = {
            "energyAmount": _int(needs.get("energy_amount_wh") or 0),
            "evMinCurrent": _int(needs.get("ev_min_current_a") or 0),
            "evMaxCurrent": _int(needs["ev_max_current_a"]),
            "evMaxVoltage": _int(needs["ev_max_voltage_v"]),
        }
    out: dict[str, Any] = {"chargingNeeds": cn, "evseId": evse}
    if needs.get("max_schedule_tuples") is not None:
        out["maxScheduleTuples"] = int(needs["max_schedule_tuples"])
    return out


def notify_needs(st: Station, evse: int, ref: int, needs: dict[str, Any], now: float) -> None:
    """K15: send NotifyEVChargingNeeds; the answer (or NoAnswer) goes to the SECC under ``ref``."""
    if evse not in st.evses:
        _reply(st, ref, "NoAnswer", f"EVSE {evse} does not exist")
        return
    if not _up(st):
        _reply(st, ref, "NoAnswer", "the CSMS is not connected")
        return

    def on_result(s: Station, p: dict[str, Any], t: float) -> None:
        info = p.get("statusInfo") or {}
        reason = info.get("reasonCode")
        if info.get("additionalInfo"):
            reason = f"{reason}: {info['additionalInfo']}"
        _reply(s, ref, str(p["status"]), reason)

    def on_error(s: Station, why: str, t: float) -> None:
        _reply(s, ref, "NoAnswer", f"CSMS: {why}")

    st.send(
        "NotifyEVChargingNeeds", needs_payload(st, evse, needs), now, on_result=on_result, on_error=on_error
    )


def notify_schedule(
    st: Station, evse: int, time_base: datetime, periods: list[tuple[int, float]], now: float
) -> None:
    """K17: send NotifyEVChargingSchedule with the EV's chosen profile (W)."""
    if evse not in st.evses or not _up(st):
        return
    payload = {
        "timeBase": _station_time(st, time_base),
        "evseId": evse,
        "chargingSchedule": {
            "id": 1,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": int(s), "limit": round(w, 1)} for s, w in periods],
        },
    }
    st.send("NotifyEVChargingSchedule", payload, now)
