"""Configuration of one EVSE's coordinator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MeterLossAction = Literal["stop", "continue", "fault"]


@dataclass(frozen=True)
class EvseConfig:
    """Settings of one EVSE. Times in seconds, currents per phase in amps."""

    evse: int = 1
    """EVSE id (1-based)."""
    evse_max_a: float = 32.0
    """Rating of the EVSE."""
    connector_max_a: float = 32.0
    """Rating of the connector / attached cable."""
    phases: int = 3
    """Phases switched by the contactor."""
    voltage_v: float = 230.0
    """Phase-to-neutral voltage (for power <-> current)."""
    hlc_offered: bool = False
    """Offer ISO 15118 / DIN 70121 with a 5 % pilot before authorization."""
    basic_fallback: bool = True
    """When HLC fails, fall back to basic (PWM) charging (via E/F)."""
    slac_retries: int = 1
    """How often to retry SLAC via an E/F toggle before giving up on HLC."""
    slac_init_timeout_s: float = 50.0
    """TT_EVSE_SLAC_init (ISO 15118-3: 20..50 s): time allowed for SLAC to match at 5 %."""
    t_step_ef_s: float = 4.0
    """T_step_EF (ISO 15118-3, at least 4 s): duration of an E/F toggle."""
    stop_timeout_s: float = 6.0
    """After withdrawing the PWM, wait this long for the EV to go to B before opening under load."""
    fault_retry_s: float = 10.0
    """Recoverable faults (pilot short, diode) are retried after this time in F."""
    preauth_timeout_s: float = 60.0
    """An authorization given before plug-in is kept this long."""
    free_charging: bool = False
    """Every session is authorized at plug-in."""
    meter_loss: MeterLossAction = "stop"
    """What a lost meter does to a session: stop it, continue unmetered, or fault the EVSE."""
    can_drive_e: bool = False
    """The board can drive state E (0 V); otherwise E/F toggles use F."""
    has_lock: bool = False
    """A socket with a lock: locked while a session may draw power."""
    contactor_feedback: bool = True
    """Supervise the contactor feedback (welding / failure to close)."""
    contactor_timeout_s: float = 0.5
    """Time the feedback has to follow a command."""
    pwm_resolution: float = 0.1
    """Duty-cycle step of the PWM output (percent)."""
