"""Session events -> ``secc`` bus messages: the stateless part of the SECC service's mapping (pure functions).

The service adds the stateful ones (the -20 service selection and its standby flag, the coordinator commands).
"""

from __future__ import annotations

from typing import Any

from josev.api import secc as api
from josev.secc import events as ev
from josev.secc.iso20 import events as ev20

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
