"""Session events -> ``secc`` bus messages: the stateless part of the SECC service's mapping (pure functions).

The service adds the stateful ones (the -20 service selection and its standby flag, the coordinator commands).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from josev.api import ocpp
from josev.api import secc as api
from josev.secc import events as ev
from josev.secc import schedule
from josev.secc.evse import EvseView
from josev.secc.iso20 import events as ev20
from josev.secc.schedule import PowerSchedule

NORMAL_ENDS = frozenset({"terminate", "pause"})
"""SessionEnded reasons of a session the EV ended by the protocol (SessionStop); every other end is abnormal."""


def session_status(e: ev.SessionEnded) -> str:
    """``paused``, ``ended`` (SessionStop Terminate) or ``failed`` (anything else: a FAILED response code, a
    sequence / communication-setup timeout, the TCP connection lost, an undecodable message)."""
    if e.paused:
        return "paused"
    return "ended" if e.reason in NORMAL_ENDS else "failed"


def hlc_failed(e: ev.SessionEnded) -> bool:
    """The coordinator must hear that the high-level session ended abnormally (``HlcFailed``): it ends the HLC
    part (output off, contactor open) and waits for the EV's next V2G session on the same plug-in."""
    return session_status(e) == "failed"


def power_schedule(msg: ocpp.ChargingSchedule, view: EvseView, wall_offset: float) -> PowerSchedule:
    """The OCPP composite of an EVSE as a :class:`PowerSchedule` on the cores' clock (``wall_offset``: host
    wall clock minus the cores' clock). A DC EVSE converts amps like three phases of 230 V (the coordinator's
    rule); an AC EVSE with its phases and nominal voltage."""
    start = msg.schedule_start.timestamp() - msg.clock_offset_s - wall_offset
    if view.is_dc:
        phases, voltage = schedule.DC_PHASES, 230.0
    else:
        phases, voltage = view.limits.ac_phases, view.limits.ac_nominal_voltage
    return schedule.from_amps(
        start,
        [(p.start_s, p.limit, p.number_phases) for p in msg.periods],
        phases,
        voltage,
        msg.significance,
    )


def ev_schedule(e: ev.EvChargingProfile, wall_offset: float) -> api.EvChargingSchedule:
    """The EV's chosen profile as a bus message (wall-clock start)."""
    return api.EvChargingSchedule(
        start=_dt.datetime.fromtimestamp(e.offered_at + wall_offset, _dt.UTC),
        entries=[api.EvProfileEntry(start_s=s, max_power_w=w) for s, w in e.entries],
    )


TRANSFER = {
    "AC_single_phase_core": "AC_single_phase",
    "AC_three_phase_core": "AC_three_phase",
}


def needs_command(e: ev.EvChargeParameters, wall: float) -> ocpp.NotifyEvChargingNeeds:
    """OCPP NotifyEVChargingNeeds from the EV's ChargeParameterDiscovery (``wall``: the host clock now)."""
    dep = None
    if isinstance(e.departure_time, int) and e.departure_time > 0:
        dep = _dt.datetime.fromtimestamp(wall + e.departure_time, _dt.UTC)
    return ocpp.NotifyEvChargingNeeds(
        energy_transfer=TRANSFER.get(
            e.energy_mode, "AC_three_phase" if e.energy_mode.startswith("AC") else "DC"
        ),
        departure_time=dep,
        energy_amount_wh=None if e.energy_request is None else max(0.0, e.energy_request),
        ev_max_current_a=max(0.0, e.max_current or 0.0),
        ev_min_current_a=e.min_current,
        ev_max_voltage_v=max(0.0, e.max_voltage or 0.0),
        ev_max_power_w=e.max_power,
        soc_percent=e.soc,
    )


def message_for(e: Any) -> Any:
    """The message one event publishes (None: no message of its own)."""
    if isinstance(e, ev20.EvPowerRequest):
        return api.EvPower(
            present_power_w=e.present_power,
            max_charge_power_w=e.max_charge_power,
            max_discharge_power_w=e.max_discharge_power,
            soc_percent=e.soc,
            charging_complete=e.charging_complete,
        )
    if isinstance(e, ev.SessionStarted):
        return api.SeccSessionState(
            status="session", protocol=e.protocol, session_id=e.session_id, evcc_id=e.evcc_id
        )
    if isinstance(e, ev.SessionEnded):
        return api.SeccSessionState(status=session_status(e), reason=e.reason)
    if isinstance(e, ev.EvChargeParameters):
        return api.EvChargeParameters(
            energy_mode=e.energy_mode,
            max_voltage_v=e.max_voltage,
            max_current_a=e.max_current,
            min_current_a=e.min_current,
            max_power_w=e.max_power,
            soc_percent=e.soc,
            energy_request_wh=e.energy_request,
            departure_time_s=e.departure_time,
        )
    if isinstance(e, ev.EvTargets):
        return api.EvTarget(
            phase="charge" if e.phase == "charge" else "precharge",
            voltage_v=e.voltage,
            current_a=e.current,
            soc_percent=e.soc,
            charging_complete=e.charging_complete,
        )
    if isinstance(e, ev.PowerDeliveryRequested):
        return api.HlcEvent(step="power_delivery", detail=e.progress)
    if isinstance(e, ev.AuthorizationRequested):
        return api.HlcEvent(step="authorization_requested", detail=e.payment)
    if isinstance(e, ev.CableCheckRequested):
        return api.HlcEvent(step="cable_check")
    if isinstance(e, ev.WeldingDetectionRequested):
        return api.HlcEvent(step="welding_detection")
    if isinstance(e, ev.ProtocolViolation):
        detail = f"{e.request}: {e.response_code} {e.detail}"[:300]
        return api.HlcEvent(step="protocol_violation", detail=detail)
    if isinstance(e, ev.LocalError):
        return api.HlcEvent(step="local_error", detail=f"{e.what}: {e.detail}"[:300])
    return None
