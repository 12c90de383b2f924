"""Messages of the ``hal`` service: the board's inputs as retained states, its outputs as commands.

Out (per EVSE, retained): :class:`CpReadingState` (published on every classified change of the control
pilot), :class:`ChannelState` (contactor, RCD, lock, proximity, pilot output, safe state),
:class:`MeterState` (one sample per meter poll, or the error), :class:`DcOutputState` (DC channels: the power
module and insulation monitor). Station scope: :class:`BoardInfo`.

In (commands, per EVSE, issued by the coordinator - or the CLI/bench for manual control): :class:`SetPilot`,
:class:`SetContactor`, :class:`SetLock`, :class:`ResetRcd`, and for DC channels :class:`SetDcOutput` and
:class:`SetIsolationMonitor`. While the HAL's watchdog holds the safe state
(the coordinator's :class:`josev.api.coordinator.Heartbeat` stopped), commands that would energise the
output are refused with ``unavailable``.

Simulator board only: :class:`SimCarState` and :class:`SimCarControl` (the CLI's and the benchmarks' hands on
the simulated car: plug, unplug, pilot state B/C/D).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from josev.api.base import Ack, Command, State, callers

CpLetter = Literal["A", "B", "C", "D", "E", "F"]
PilotModeName = Literal["x1", "pwm", "e", "f"]
LockName = Literal["unlocked", "locked", "moving", "fault"]
HAL_CALLERS = callers("coordinator")


class ChannelInfo(BaseModel):
    """Capabilities of one EVSE channel of the board."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_current_a: float
    """Rating of the channel (A per phase)."""
    phases: int
    """Phases switched by the contactor."""
    can_drive_e: bool
    """The pilot can drive state E (0 V)."""
    has_pp: bool
    """Socket outlet with proximity contact."""
    has_lock: bool
    """Socket with lock actuator."""
    has_rcd: bool
    """Residual-current monitor input present."""
    has_contactor_feedback: bool
    """Contactor mirror contact present."""
    has_meter: bool
    """A meter is attached."""
    dc: bool = False
    """DC channel (power module and insulation monitor)."""
    dc_max_voltage_v: float | None = None
    """DC: rated output voltage."""
    dc_max_current_a: float | None = None
    """DC: rated output current."""
    dc_max_power_w: float | None = None
    """DC: rated output power."""
    dc_max_discharge_current_a: float | None = None
    """DC: current the module can take back (BPT); 0: unidirectional."""
    has_imd: bool = False
    """DC: insulation monitor fitted."""


class BoardInfo(State):
    """What the board offers (published once at start)."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "board_info"

    board: str
    """Board / driver name."""
    channels: list[ChannelInfo]
    """One entry per EVSE (index 0 is EVSE 1)."""
    watchdog_timeout_s: float
    """The HAL goes to its safe state when the coordinator's heartbeat stops for this long."""


class CpReadingState(State):
    """The classified control-pilot state of an EVSE (published on change)."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "cp"
    per_evse: ClassVar[bool] = True

    state: CpLetter
    """IEC 61851-1 state, with the HAL's voltage bands, hysteresis and debouncing applied."""
    diode_fault: bool = False
    """PWM runs, a vehicle is connected, but the negative plateau is missing (no diode)."""
    high_v: float
    """Positive plateau (V)."""
    low_v: float | None = None
    """Negative plateau while PWM runs (V)."""
    pilot_mode: PilotModeName = "x1"
    """What the HAL drove on the pilot when it read this (E/F readings under an E/F output say nothing)."""
    seq: int = 0
    """Increments with every published change (lets a consumer see missed changes)."""
    t_mono: float = 0.0
    """HAL's monotonic clock when the change was detected (for latency measurements on one host)."""


class ChannelState(State):
    """Everything else the HAL knows about an EVSE's hardware (published on change)."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "channel"
    per_evse: ClassVar[bool] = True

    pilot_mode: PilotModeName
    """What the pilot is driven with."""
    duty_percent: float = 0.0
    """PWM duty cycle (pwm mode)."""
    contactor_commanded: bool
    """Last contactor command."""
    contactor_feedback: bool | None
    """Mirror contact (None: none fitted)."""
    rcd_tripped: bool | None
    """Residual-current monitor (None: none fitted)."""
    lock: LockName | None
    """Lock position (None: no lock)."""
    cable_ampacity_a: float | None
    """Cable capability from the PP resistor (None: no cable / no PP)."""
    safe_state: bool = False
    """The HAL holds this channel in its safe state (watchdog or hardware error)."""
    safe_reason: str = ""
    """Why (e.g. ``coordinator_timeout``)."""


class MeterState(State):
    """One meter sample of an EVSE, or why there is none."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "meter"
    per_evse: ClassVar[bool] = True

    ok: bool
    """False when the meter did not answer (then only ``error`` is meaningful)."""
    error: str = ""
    """What went wrong."""
    energy_wh: float = 0.0
    """Imported active energy register (Wh)."""
    power_w: float = 0.0
    """Total active power (W)."""
    voltage_v: list[float] = Field(default_factory=list)
    """Phase voltages (V)."""
    current_a: list[float] = Field(default_factory=list)
    """Phase currents (A)."""
    frequency_hz: float | None = None
    """Line frequency."""
    energy_export_wh: float | None = None
    """Exported active energy register (Wh): what the vehicle returned (bidirectional); None: no register."""


class DcOutputState(State):
    """The DC power module and insulation monitor of a DC channel.

    Published when the output is switched or retargeted, when the insulation measurement changes, and when the
    measured voltage / current move by more than the HAL's deadband (``dc_deadband_v`` / ``dc_deadband_a``),
    at most every ``dc_min_interval_s``."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "dc_output"
    per_evse: ClassVar[bool] = True

    enabled: bool
    """The module's output is on."""
    target_voltage_v: float = 0.0
    """Voltage the module regulates to."""
    target_current_a: float = 0.0
    """Current limit (signed: negative = discharge)."""
    present_voltage_v: float
    """Measured output voltage (cable side of the contactor)."""
    present_current_a: float
    """Measured output current (negative: discharge)."""
    isolation_running: bool = False
    """The insulation monitor is measuring."""
    isolation_resistance_ohm: float | None = None
    """Last insulation measurement (None: none available)."""
    has_imd: bool = True
    """An insulation monitor is fitted."""
    t_mono: float = 0.0
    """HAL's monotonic clock at the reading."""


class SetPilot(Command[Ack]):
    """Drive the pilot: ``x1`` (+12 V), ``pwm`` with ``duty_percent``, ``e`` (0 V, if possible) or ``f``."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "set_pilot"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = HAL_CALLERS
    grantable: ClassVar[bool] = False
    timeout_s: ClassVar[float] = 0.5

    mode: PilotModeName
    """Output mode."""
    duty_percent: float = Field(0.0, ge=0.0, lt=100.0)
    """Duty cycle for ``pwm`` (0 < duty < 100)."""

    @model_validator(mode="after")
    def _duty(self) -> SetPilot:
        if self.mode == "pwm" and self.duty_percent <= 0:
            raise ValueError("pwm needs a duty cycle above 0 %")
        if self.mode != "pwm" and self.duty_percent != 0:
            raise ValueError("duty_percent applies to pwm only")
        return self


class ContactorReply(Ack):
    """The contactor switched; when it opened, the meter's registers read right after (what a session's energy
    ends with: the value a transaction is billed by)."""

    energy_wh: float | None = None
    """Imported active energy register read after the contactor opened (None: closing, no meter, or the meter
    did not answer in time)."""
    energy_export_wh: float | None = None
    """Exported active energy register read at the same moment (None: none)."""


class SetContactor(Command[ContactorReply]):
    """Open or close the contactor (opening: the reply carries the meter reading taken right after)."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "set_contactor"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = HAL_CALLERS
    grantable: ClassVar[bool] = False
    timeout_s: ClassVar[float] = 0.5

    closed: bool
    """True: close."""


class SetLock(Command[Ack]):
    """Lock or unlock the connector."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "set_lock"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = HAL_CALLERS
    grantable: ClassVar[bool] = False

    locked: bool
    """True: lock."""


class ResetRcd(Command[Ack]):
    """Try to reset a latched residual-current trip."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "reset_rcd"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers()
    grantable: ClassVar[bool] = False


class SetDcOutput(Command[Ack]):
    """Switch and target the DC power module of a DC channel (refused while the HAL holds the safe state,
    unless it switches the output off)."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "set_dc_output"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = HAL_CALLERS
    grantable: ClassVar[bool] = False
    timeout_s: ClassVar[float] = 0.5

    enabled: bool
    """Output on."""
    voltage_v: float = Field(0.0, ge=0.0)
    """Target voltage."""
    current_a: float = 0.0
    """Current limit; negative: discharge (BPT), within the module's ``dc_max_discharge_current_a``."""


class SetIsolationMonitor(Command[Ack]):
    """Start or stop the insulation monitor of a DC channel."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "set_isolation_monitor"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = HAL_CALLERS
    grantable: ClassVar[bool] = False
    timeout_s: ClassVar[float] = 0.5

    running: bool
    """True: measure."""


# ---- simulator board only: the car's side ---------------------------------------------------------------

SimCarPilot = Literal["B", "C", "D"]


class SimCarState(State):
    """Simulator board only: the simulated car at this EVSE (published by the HAL on every change)."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "sim_car"
    per_evse: ClassVar[bool] = True

    plugged: bool
    """A car is plugged in."""
    cp: SimCarPilot | None = None
    """The state the car switches its pilot to (None when unplugged)."""
    plug_ins: int = 0
    """Plug-ins since the HAL started."""


class SimCarControl(Command[Ack]):
    """Simulator board only: plug in a simulated car, pull the plug, or switch the car's pilot state.

    On a real board the HAL answers ``unavailable``. ``plug`` puts a car in state B (C at once with
    ``ready``); with ``auto_ready`` it switches to C by itself when a usable PWM appears and back to B when it
    goes, like an AC car. On a DC channel the car has a ~400 V traction battery and closes its own contactors
    after precharge."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "sim_car_control"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers()
    grantable: ClassVar[bool] = False
    timeout_s: ClassVar[float] = 0.5

    action: Literal["plug", "unplug", "cp"]
    """What to do."""
    cp: SimCarPilot = "B"
    """With ``cp``: the pilot state."""
    ready: bool = False
    """With ``plug``: the car is ready to charge at once and stays in C (``auto_ready`` does not apply)."""
    auto_ready: bool = True
    """With ``plug``: follow the PWM like an AC car (C while a usable duty is offered, else B)."""
    max_current_a: float = Field(16.0, gt=0, le=80)
    """With ``plug``: what the on-board charger takes per phase."""
    phases: int = Field(3, ge=1, le=3)
    """With ``plug``: phases the on-board charger uses."""
    hlc_current_a: float = Field(0.0, ge=0, le=80)
    """With ``plug``: current drawn at 5 % duty (the car follows an ISO 15118 session's limits)."""
    cable_a: float | None = Field(32.0, gt=0)
    """With ``plug``: the cable's ampacity (proximity resistor); None: no PP resistor (tethered cable)."""
