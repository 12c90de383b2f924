"""The HAL interfaces: one small protocol per role.

A board driver implements :class:`Board`; each EVSE channel of the board is a :class:`Channel` that bundles
the role objects the channel has (a role the hardware lacks is ``None``). All methods are synchronous and
quick (a register write, a sysfs file, a GPIO line); a slow role (a Modbus meter) documents its latency
and the HAL service calls it from a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hal.types import BoardCapabilities, CpReading, LockState, MeterReading, PilotOutput


@runtime_checkable
class ControlPilot(Protocol):
    """The control-pilot line: drive it (X1, PWM duty, E, F) and read its classified state."""

    def set_output(self, out: PilotOutput) -> None:
        """Drive the pilot (mode and, for PWM, the duty cycle in percent)."""

    def output(self) -> PilotOutput:
        """What the pilot is driven with now."""

    def read(self) -> CpReading:
        """Measure and classify the pilot (state with hysteresis, plateau voltages, diode check)."""


@runtime_checkable
class ProximityPilot(Protocol):
    """The proximity contact of a socket outlet: the cable's current capability from its coding resistor."""

    def cable_ampacity(self) -> float | None:
        """Current capability of the inserted cable in A; None when no cable (or an invalid resistor)."""


@runtime_checkable
class Contactor(Protocol):
    """The supply switching device with an optional feedback (mirror) contact."""

    def set_closed(self, closed: bool) -> None:
        """Command the contactor closed or open."""

    def commanded(self) -> bool:
        """The last command (True: closed)."""

    def feedback(self) -> bool | None:
        """Auxiliary contact: True when the contacts are closed; None without feedback."""


@runtime_checkable
class Lock(Protocol):
    """Connector lock actuator."""

    def set_locked(self, locked: bool) -> None:
        """Start moving the lock (returns at once; poll :meth:`state`)."""

    def state(self) -> LockState:
        """Current lock position."""


@runtime_checkable
class ResidualCurrentMonitor(Protocol):
    """RCD / RDC-DD (6 mA DC) input."""

    def tripped(self) -> bool:
        """True while a residual-current fault is latched."""

    def reset(self) -> None:
        """Try to clear a latched trip (the hardware may refuse while the fault persists)."""


@runtime_checkable
class PowerMeter(Protocol):
    """Energy meter of one EVSE."""

    def read(self) -> MeterReading:
        """One sample; raises :class:`hal.types.MeterError` when the meter does not answer."""


@runtime_checkable
class DcPowerSupply(Protocol):
    """DC power module (DC charging)."""

    def set_target(self, voltage_v: float, current_a: float) -> None:
        """Set the voltage and current limit the module regulates to (negative current: discharge, BPT)."""

    def set_enabled(self, enabled: bool) -> None:
        """Switch the module output on or off."""

    def present(self) -> tuple[float, float]:
        """Measured output (voltage V, current A; a negative current flows back from the EV)."""

    def output(self) -> tuple[bool, float, float]:
        """What the module is commanded to: (enabled, target voltage V, target current A)."""


@runtime_checkable
class IsolationMonitor(Protocol):
    """Insulation monitoring device of a DC output (IEC 61557-8)."""

    def start(self) -> None:
        """Start a measurement (before cable check)."""

    def stop(self) -> None:
        """Stop measuring (self-test off, output unloaded)."""

    def resistance_ohm(self) -> float | None:
        """Measured insulation resistance, None while no valid measurement is available."""

    def running(self) -> bool:
        """A measurement is running (started and not stopped)."""


@dataclass
class Channel:
    """The roles one EVSE channel of a board offers; a role the hardware lacks is None."""

    cp: ControlPilot
    contactor: Contactor
    pp: ProximityPilot | None = None
    lock: Lock | None = None
    rcd: ResidualCurrentMonitor | None = None
    meter: PowerMeter | None = None
    dc_supply: DcPowerSupply | None = None
    isolation: IsolationMonitor | None = None


@runtime_checkable
class Display(Protocol):
    """A text display (per EVSE or shared): shows the lines the station wants the driver to read.

    A board that has one exposes it as its ``display`` attribute; the HAL service feeds it the OCPP service's
    display state (``josev.api.display.DisplayState``)."""

    def show(self, evse: int, lines: list[str]) -> None:
        """Show ``lines`` (display order; the first is the most important) for EVSE ``evse``."""


@runtime_checkable
class Board(Protocol):
    """A charging-station board: capabilities and one :class:`Channel` per EVSE (ids from 1)."""

    def capabilities(self) -> BoardCapabilities:
        """What the board offers."""

    def channel(self, evse: int) -> Channel:
        """The roles of EVSE ``evse`` (1-based); KeyError for an unknown id."""

    def close(self) -> None:
        """Release the hardware (files, GPIO lines, serial ports)."""


def safe_state(channel: Channel, pilot: PilotOutput) -> None:
    """Put a channel into its safe state: DC output off (target 0 V / 0 A), contactor open, then the pilot to
    ``pilot`` (X1 or F).

    Used by the HAL service's watchdog and on shutdown; never raises for one failing role.
    """
    errors: list[BaseException] = []
    if channel.dc_supply is not None:
        try:
            channel.dc_supply.set_enabled(False)
            channel.dc_supply.set_target(0.0, 0.0)
        except Exception as exc:
            errors.append(exc)
    try:
        channel.contactor.set_closed(False)
    except Exception as exc:
        errors.append(exc)
    try:
        channel.cp.set_output(pilot)
    except Exception as exc:
        errors.append(exc)
    if errors:
        raise ExceptionGroup("safe state incomplete", [e for e in errors if isinstance(e, Exception)])
