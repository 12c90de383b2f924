"""Messages of the ``hal`` service: the board's inputs as retained states, its outputs as commands.

Out (per EVSE, retained): :class:`CpReadingState` (published on every classified change of the control
pilot), :class:`ChannelState` (contactor, RCD, lock, proximity, pilot output, safe state),
:class:`MeterState` (one sample per meter poll, or the error). Station scope: :class:`BoardInfo`.

In (commands, per EVSE, issued by the coordinator - or the CLI/bench for manual control): :class:`SetPilot`,
:class:`SetContactor`, :class:`SetLock`, :class:`ResetRcd`. While the HAL's watchdog holds the safe state
(the coordinator's :class:`josev.api.coordinator.Heartbeat` stopped), commands that would energise the
output are refused with ``unavailable``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from josev.api.base import Ack, Command, State

CpLetter = Literal["A", "B", "C", "D", "E", "F"]
PilotModeName = Literal["x1", "pwm", "e", "f"]
LockName = Literal["unlocked", "locked", "moving", "fault"]
HAL_CALLERS = frozenset({"coordinator", "cli", "bench"})


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


class SetPilot(Command[Ack]):
    """Drive the pilot: ``x1`` (+12 V), ``pwm`` with ``duty_percent``, ``e`` (0 V, if possible) or ``f``."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "set_pilot"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = HAL_CALLERS
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


class SetContactor(Command[Ack]):
    """Open or close the contactor."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "set_contactor"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = HAL_CALLERS
    timeout_s: ClassVar[float] = 0.5

    closed: bool
    """True: close."""


class SetLock(Command[Ack]):
    """Lock or unlock the connector."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "set_lock"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = HAL_CALLERS

    locked: bool
    """True: lock."""


class ResetRcd(Command[Ack]):
    """Try to reset a latched residual-current trip."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "reset_rcd"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = HAL_CALLERS
