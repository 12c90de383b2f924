"""States, inputs and status vocabulary of the per-EVSE coordinator."""

from __future__ import annotations

import enum


class St(enum.Enum):
    """Coordinator state of one EVSE."""

    UNAVAILABLE = "unavailable"
    IDLE = "idle"
    RESERVED = "reserved"
    PLUGGED = "plugged"
    HLC_WAIT = "hlc_wait"
    HLC = "hlc"
    HLC_CHARGING = "hlc_charging"
    READY = "ready"
    CHARGING = "charging"
    STOPPING = "stopping"
    SUSPENDED_EVSE = "suspended_evse"
    FINISHED = "finished"
    EF_PAUSE = "ef_pause"
    FAULTED = "faulted"


STATE_DOC: dict[St, str] = {
    St.UNAVAILABLE: "Set inoperative by the operator; pilot F.",
    St.IDLE: "No vehicle; pilot X1 (+12 V).",
    St.RESERVED: "No vehicle, reserved for one id token; pilot X1.",
    St.PLUGGED: "Vehicle connected, basic charging, waiting for authorization; pilot X1.",
    St.HLC_WAIT: "Vehicle connected, 5 % pilot, waiting for SLAC to match (ISO 15118-3).",
    St.HLC: "SLAC matched, the SECC runs the session; pilot 5 %; contactor open.",
    St.HLC_CHARGING: "HLC session with power delivery; contactor closed.",
    St.READY: "Authorized, PWM offers the current limit, waiting for the EV to become ready (C/D).",
    St.CHARGING: "EV ready (C/D) and contactor closed.",
    St.STOPPING: "Power offer withdrawn (X1) while the EV still draws: wait for it to go to B before opening.",
    St.SUSPENDED_EVSE: "Authorized but the limit is below 6 A; pilot X1; contactor open.",
    St.FINISHED: "Charging ended (stop by station/operator/EV), vehicle still connected; pilot X1.",
    St.EF_PAUSE: "Pilot driven to E or F for T_step_EF (ISO 15118-3 retry, or leaving 5 % for basic charging).",
    St.FAULTED: "Safe state after a fault: pilot F, contactor open, reason reported.",
}
"""What each state means."""


class In(enum.Enum):
    """Inputs of the coordinator state machine."""

    CP_A = "cp_a"
    CP_B = "cp_b"
    CP_C = "cp_c"
    CP_D = "cp_d"
    CP_E = "cp_e"
    CP_F = "cp_f"
    DIODE_FAULT = "diode_fault"
    RCD_TRIP = "rcd_trip"
    CONTACTOR_FAULT = "contactor_fault"
    HW_FAULT = "hw_fault"
    FAULT_CLEARED = "fault_cleared"
    AUTHORIZED = "authorized"
    DEAUTHORIZED = "deauthorized"
    STOP = "stop"
    LIMIT_OK = "limit_ok"
    LIMIT_ZERO = "limit_zero"
    SLAC_MATCHED = "slac_matched"
    SLAC_FAILED = "slac_failed"
    HLC_POWER_ON = "hlc_power_on"
    HLC_POWER_OFF = "hlc_power_off"
    HLC_FAILED = "hlc_failed"
    TIMEOUT = "timeout"
    SET_UNAVAILABLE = "set_unavailable"
    SET_AVAILABLE = "set_available"
    RESERVE = "reserve"
    CANCEL_RESERVATION = "cancel_reservation"


CP_INPUTS = (In.CP_A, In.CP_B, In.CP_C, In.CP_D, In.CP_E, In.CP_F)
FAULT_INPUTS = (In.DIODE_FAULT, In.RCD_TRIP, In.CONTACTOR_FAULT, In.HW_FAULT)

CONTACTOR_CLOSED_STATES = frozenset({St.CHARGING, St.HLC_CHARGING, St.STOPPING})
"""The only states in which the contactor may be closed."""
SESSION_STATES = frozenset(
    {
        St.PLUGGED,
        St.HLC_WAIT,
        St.HLC,
        St.HLC_CHARGING,
        St.READY,
        St.CHARGING,
        St.STOPPING,
        St.SUSPENDED_EVSE,
        St.FINISHED,
        St.EF_PAUSE,
    }
)
"""States in which a vehicle session is open."""
POWER_STATES = frozenset({St.READY, St.CHARGING, St.STOPPING, St.SUSPENDED_EVSE, St.HLC, St.HLC_CHARGING})
"""States that take part in load balancing (they want a share of the station limit)."""
LOCKED_STATES = frozenset(
    {St.READY, St.CHARGING, St.STOPPING, St.SUSPENDED_EVSE, St.HLC_WAIT, St.HLC, St.HLC_CHARGING, St.EF_PAUSE}
)
"""States in which a socket's lock is engaged."""
