"""Value types shared by every HAL interface and driver."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class CpState(enum.Enum):
    """Control-pilot state as seen by the EVSE (IEC 61851-1, Annex A).

    A: no vehicle (+12 V); B: vehicle connected, not ready (+9 V); C: ready, charging (+6 V);
    D: ready, ventilation required (+3 V); E: short to PE / no supply (0 V); F: EVSE not available (-12 V).
    """

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"


class PilotMode(enum.Enum):
    """What the EVSE drives on the control pilot."""

    X1 = "x1"
    """Constant +12 V, no oscillator (states A1/B1/C1)."""
    PWM = "pwm"
    """1 kHz +-12 V square wave with a duty cycle (states A2/B2/C2)."""
    E = "e"
    """0 V (pilot switched off / shorted), used for the ISO 15118-3 E/F toggles when the board can."""
    F = "f"
    """Constant -12 V: EVSE not available."""


@dataclass(frozen=True, slots=True)
class PilotOutput:
    """A pilot command: a mode and, for PWM, the duty cycle in percent (0 < duty < 100)."""

    mode: PilotMode
    duty_percent: float = 0.0

    def __post_init__(self) -> None:
        if self.mode is PilotMode.PWM and not 0.0 < self.duty_percent < 100.0:
            raise ValueError(f"PWM duty cycle must be in (0, 100) %, got {self.duty_percent}")
        if self.mode is not PilotMode.PWM and self.duty_percent != 0.0:
            raise ValueError(f"duty cycle only applies to PWM, not {self.mode.value}")


@dataclass(frozen=True, slots=True)
class CpReading:
    """One classified control-pilot reading."""

    state: CpState
    """Classified state (with hysteresis)."""
    high_v: float
    """Voltage of the positive plateau (or the constant level)."""
    low_v: float | None = None
    """Voltage of the negative plateau while PWM runs (None without PWM)."""
    diode_fault: bool = False
    """True when the negative plateau is missing while the EV is connected (no diode in the EV)."""


class LockState(enum.Enum):
    """Connector lock position."""

    UNLOCKED = "unlocked"
    LOCKED = "locked"
    MOVING = "moving"
    FAULT = "fault"


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One power-meter sample. Per-phase lists hold one value per phase (1 or 3)."""

    energy_wh: float
    """Imported active energy register (Wh), monotonic."""
    power_w: float
    """Total active power (W)."""
    voltage_v: tuple[float, ...] = ()
    """Phase-to-neutral voltages (V)."""
    current_a: tuple[float, ...] = ()
    """Phase currents (A)."""
    frequency_hz: float | None = None
    """Line frequency, when the meter reports it."""
    energy_export_wh: float | None = None
    """Exported active energy register (Wh), monotonic: energy the vehicle returned (bidirectional power
    transfer). None when the meter has no such register."""


class MeterError(Exception):
    """The meter could not be read (no answer, CRC error, bad register map)."""


class HardwareError(Exception):
    """A driver could not talk to its hardware (missing device, I/O error)."""


@dataclass(frozen=True, slots=True)
class ChannelCapabilities:
    """What one EVSE channel of a board can do."""

    max_current_a: float = 32.0
    """Rated current of the EVSE / connector (A)."""
    phases: int = 3
    """Number of phases switched by the contactor."""
    nominal_voltage_v: float = 230.0
    """Phase-to-neutral voltage used to convert between power and current."""
    can_drive_e: bool = False
    """The pilot output can produce state E (0 V); otherwise E/F toggles use F."""
    has_pp: bool = False
    """Socket outlet with a proximity pilot (case B); False for an attached cable (case C)."""
    has_lock: bool = False
    """Socket with a lock actuator."""
    has_rcd: bool = True
    """A residual-current monitor input is present."""
    has_contactor_feedback: bool = True
    """The contactor has an auxiliary feedback contact (needed for welding detection)."""
    has_meter: bool = False
    """A power meter is attached to this channel."""
    dc: bool = False
    """DC channel (power supply and isolation monitor present)."""
    dc_max_voltage_v: float = 500.0
    """DC: rated output voltage of the power module."""
    dc_max_current_a: float = 200.0
    """DC: rated output current."""
    dc_max_power_w: float = 50000.0
    """DC: rated output power."""
    dc_max_discharge_current_a: float = 0.0
    """DC: current the module can take back from the EV (BPT); 0: unidirectional."""
    has_imd: bool = True
    """DC: an insulation monitoring device is fitted."""


@dataclass(frozen=True, slots=True)
class BoardCapabilities:
    """What a board offers: its name and one entry per EVSE channel (EVSE ids start at 1)."""

    name: str
    channels: tuple[ChannelCapabilities, ...] = field(default_factory=lambda: (ChannelCapabilities(),))
