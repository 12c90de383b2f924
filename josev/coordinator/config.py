"""Configuration of one EVSE's coordinator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MeterLossAction = Literal["stop", "continue", "fault"]


@dataclass(frozen=True)
class DcConfig:
    """Settings of a DC EVSE's output (``[[evse]] kind = "dc"``). Voltages in V, currents in A, power in W."""

    max_voltage_v: float = 500.0
    """Rated output voltage."""
    min_voltage_v: float = 150.0
    """Lowest regulated output voltage."""
    max_current_a: float = 200.0
    """Rated output current."""
    min_current_a: float = 0.0
    """Lowest regulated output current."""
    max_power_w: float = 50000.0
    """Rated output power."""
    max_discharge_current_a: float | None = None
    """BPT: discharge current limit; None: the EVSE cannot take power back."""
    max_discharge_power_w: float | None = None
    """BPT: discharge power limit (None with BPT: ``max_power_w``)."""
    has_imd: bool = True
    """An insulation monitor is fitted (without, the cable check reports ``no_imd``)."""
    cable_check_voltage_v: float = 500.0
    """Test voltage of the cable check (capped at the EV's maximum voltage)."""
    cable_check_current_a: float = 1.0
    """Current limit while the test voltage is applied."""
    ev_ready_timeout_s: float = 8.0
    """A cable check asked for while the pilot still reads B waits this long for C/D (the SECC answers
    CableCheckRes Ongoing meanwhile); then it is refused (``ev_not_ready``: the SECC answers FAILED). Together
    with ``cable_check_timeout_s`` it stays within the SECC's CableCheck budget (ISO 15118-2
    V2G_SECC_CableCheck_Performance_Time, 38 s) and the StartCableCheck bus timeout (30 s)."""
    cable_check_timeout_s: float = 20.0
    """The isolation test must be over by then (else fault ``isolation_timeout``)."""
    precharge_current_a: float = 2.0
    """Current limit during precharge (DIN 70121 / ISO 15118-2: at most 2 A)."""
    ramp_down_timeout_s: float = 1.0
    """After a stop the current must fall below ``zero_current_a`` within this time before the contactor opens
    (it opens anyway afterwards)."""
    zero_current_a: float = 1.0
    """Current considered zero for opening the contactor."""
    welding_voltage_v: float = 60.0
    """After opening, the output voltage must fall below this (IEC 61851-23: 60 V) ..."""
    welding_timeout_s: float = 5.0
    """... within this time, else fault ``dc_voltage_persists``."""
    over_voltage_margin_v: float = 10.0
    """Over-voltage: measured voltage above the lower of the EV's and the EVSE's maximum plus this margin."""
    publish_hz: float = 20.0
    """DcSupplyState rate while the output is active."""

    @property
    def bpt(self) -> bool:
        """The EVSE can discharge."""
        return self.max_discharge_current_a is not None and self.max_discharge_current_a > 0


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
    v2g_retries: int = 3
    """New V2G sessions accepted on the same plug-in after one ended abnormally (FAILED response, timeout, TCP
    connection lost): the HLC part ends (output off, contactor open) and the EV may start again with SDP and
    SessionSetup (ISO 15118-2/-20, DIN 70121) while the data link stays up; after that many, HLC has failed."""
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
    power_delivery_timeout_s: float = 1.5
    """HlcPowerDelivery waits this long for the contactor feedback before it is rejected."""
    dc: DcConfig | None = None
    """DC EVSE settings; None for an AC EVSE."""
    connectors: tuple[int, ...] = (1,)
    """Connector ids of this EVSE; the first carries the session (one pilot per EVSE)."""
    ac_max_discharge_a: float | None = None
    """AC bidirectional (ISO 15118-20 AC BPT): discharge current per phase the EVSE accepts; None: no discharge."""
