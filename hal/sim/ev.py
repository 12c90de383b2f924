"""The software EV: what is plugged into a simulated channel and how it behaves on the pilot."""

from __future__ import annotations

from dataclasses import dataclass

from hal.sim.dc import SimBattery
from hal.types import CpState, PilotMode, PilotOutput


def duty_to_current(duty_percent: float) -> float | None:
    """Current the EV may draw for a PWM duty cycle (IEC 61851-1, EV side); None: digital / not allowed.

    3-7 %: digital communication (no current from the duty); 8-10 %: 6 A; 10-85 %: duty x 0.6;
    85-96 %: (duty - 64) x 2.5; 96-97 %: 80 A; anything else: charging not allowed.
    """
    if 8.0 <= duty_percent < 10.0:
        return 6.0
    if 10.0 <= duty_percent <= 85.0:
        return duty_percent * 0.6
    if 85.0 < duty_percent <= 96.0:
        return (duty_percent - 64.0) * 2.5
    if 96.0 < duty_percent <= 97.0:
        return 80.0
    return None


@dataclass
class SimEv:
    """A simulated vehicle. Change its fields (or use the helpers) to script a session."""

    requested: CpState = CpState.B
    """State the EV switches its pilot resistors to: B (not ready), C (ready) or D (ready, ventilation)."""
    max_current_a: float = 16.0
    """Largest current the on-board charger takes per phase."""
    phases: int = 3
    """Phases the on-board charger uses."""
    hlc_current_a: float = 0.0
    """Current drawn at 5 % duty (set by an HLC test: the EV follows the SECC's limits, not the duty); negative:
    the car discharges into the grid (ISO 15118-20 AC BPT)."""
    diode_fault: bool = False
    """The EV's pilot diode is missing / shorted."""
    short_to_pe: bool = False
    """The pilot is shorted to PE (state E)."""
    auto_ready: bool = False
    """Switch to C by itself as soon as a PWM with a usable duty appears (and back to B when it goes)."""
    adapt_s: float = 0.0
    """Time the EV takes to follow a lower duty cycle (IEC 61851-1 allows 5 s); it keeps drawing the old
    current meanwhile."""
    battery: SimBattery | None = None
    """DC: the traction battery the DC output charges (the load of :class:`hal.sim.dc.SimDcSupply`)."""
    dc_contactor_closed: bool = False
    """DC: the EV's own contactors connect the battery to the inlet (closed after precharge)."""
    dc_contactor_welded: bool = False
    """DC fault injection: the EV's contactors stay closed whatever it commands."""
    auto_dc: bool = False
    """DC: drive the EV's contactors like a car does: close once the output is precharged to the battery voltage
    (within 20 V) and the module is asked for more than precharge current (CurrentDemand), open when the module
    switches off or the EVSE contactor opens."""

    def pilot_level(self) -> float:
        """Positive plateau voltage the EV's resistors produce: 9 V (B), 6 V (C), 3 V (D), 0 V (shorted)."""
        if self.short_to_pe:
            return 0.0
        return {CpState.B: 9.0, CpState.C: 6.0, CpState.D: 3.0}.get(self.requested, 9.0)

    def react(self, pilot: PilotOutput) -> None:
        """Follow the pilot when ``auto_ready`` (the behaviour of a plain EV that wants to charge)."""
        if not self.auto_ready:
            return
        usable = pilot.mode is PilotMode.PWM and (
            duty_to_current(pilot.duty_percent) is not None or pilot.duty_percent <= 7.0
        )
        if usable and self.requested is CpState.B:
            self.requested = CpState.C
        elif not usable and self.requested in (CpState.C, CpState.D):
            self.requested = CpState.B

    def draw(self, pilot: PilotOutput) -> float:
        """Per-phase current the EV draws for a pilot while its contactor is closed."""
        if self.requested not in (CpState.C, CpState.D) or self.short_to_pe:
            return 0.0
        if pilot.mode is not PilotMode.PWM:
            return 0.0
        if pilot.duty_percent <= 7.0:
            return min(self.hlc_current_a, self.max_current_a)
        allowed = duty_to_current(pilot.duty_percent)
        return 0.0 if allowed is None else min(allowed, self.max_current_a)
