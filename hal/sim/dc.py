"""Simulated DC output: a power module with slew-rate limited ramps, an isolation monitor and an EV battery.

The model has one node, the cable side of the EVSE contactor, where the output voltage is measured:

* EV battery connected (the EV closed its DC contactor): the node sits at the battery's terminal voltage
  ``ocv + i * r``; with the EVSE contactor closed and the module enabled the current ramps (``slew_a_s``)
  toward the target current, reduced so the voltage stays at or below the target voltage and the power within
  ``max_power_w``. A negative target current discharges the battery (BPT), down to
  ``-max_discharge_current_a`` (0 when the module cannot take power back).
* no battery on the node, EVSE contactor closed and module enabled: the voltage ramps (``slew_v_s``) toward
  the target voltage (cable check, precharge); no current flows.
* otherwise the output discharge circuit pulls the node down at ``discharge_v_s``.

Everything advances in :meth:`SimDcSupply.advance`, called by the channel's ``settle()`` before every change,
so a :class:`~hal.sim.clock.FakeClock` gives exact, deterministic ramps. Fault injection:
``supply.overshoot_v`` (the module regulates above its target: over-voltage), ``imd.resistance_ohm_value``
(insulation fault), ``imd.broken`` (never delivers a measurement), ``ev.dc_contactor_welded``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hal.sim.board import SimChannel


@dataclass
class SimBattery:
    """The traction battery of a simulated DC EV: open-circuit voltage linear in the state of charge."""

    capacity_wh: float = 60000.0
    """Usable energy."""
    soc: float = 0.5
    """State of charge (0..1)."""
    v_empty: float = 320.0
    """Open-circuit voltage at 0 %."""
    v_full: float = 400.0
    """Open-circuit voltage at 100 %."""
    r_ohm: float = 0.05
    """Internal resistance."""

    def ocv(self) -> float:
        """Open-circuit voltage now."""
        return self.v_empty + (self.v_full - self.v_empty) * self.soc

    def charge(self, energy_wh: float) -> None:
        """Add (or, negative, take) energy."""
        self.soc = min(1.0, max(0.0, self.soc + energy_wh / self.capacity_wh))


def _toward(value: float, goal: float, step: float) -> float:
    if abs(goal - value) <= step:
        return goal
    return value + step if goal > value else value - step


class SimDcSupply:
    """Simulated DC power module of one channel (implements :class:`hal.interfaces.DcPowerSupply`)."""

    def __init__(
        self,
        ch: SimChannel,
        max_voltage_v: float = 500.0,
        max_current_a: float = 200.0,
        max_power_w: float = 50000.0,
        max_discharge_current_a: float = 0.0,
    ) -> None:
        self._ch = ch
        self.max_voltage_v = max_voltage_v
        self.max_current_a = max_current_a
        self.max_power_w = max_power_w
        self.max_discharge_current_a = max_discharge_current_a
        """Largest current the module can take back (BPT); 0: unidirectional."""
        self.slew_v_s = 1000.0
        """Voltage ramp (V/s) of the regulated output."""
        self.slew_a_s = 500.0
        """Current ramp (A/s)."""
        self.discharge_v_s = 1000.0
        """Fall rate of the output when nothing drives it (output discharge circuit)."""
        self.overshoot_v = 0.0
        """Fault injection: the module regulates this much above its voltage target."""
        self.target_v = 0.0
        self.target_a = 0.0
        self.enabled = False
        self.v = 0.0
        self.i = 0.0
        self.exported_wh = 0.0
        """Energy fed back from the EV (discharge), for tests."""

    # ---- interface ---------------------------------------------------------------------------------

    def set_target(self, voltage_v: float, current_a: float) -> None:
        """Voltage and (signed) current the module regulates to; clamped to the module's ratings."""
        self._ch.settle()
        self.target_v = max(0.0, min(voltage_v, self.max_voltage_v))
        self.target_a = max(-self.max_discharge_current_a, min(current_a, self.max_current_a))

    def set_enabled(self, enabled: bool) -> None:
        """Switch the output on or off."""
        self._ch.settle()
        self.enabled = enabled

    def present(self) -> tuple[float, float]:
        """Measured output (voltage V, current A; negative current: discharge)."""
        self._ch.settle()
        return self.v, self.i

    def output(self) -> tuple[bool, float, float]:
        """(enabled, target voltage, target current)."""
        return self.enabled, self.target_v, self.target_a

    # ---- simulation --------------------------------------------------------------------------------

    def _battery(self) -> SimBattery | None:
        ev = self._ch.ev
        if ev is None or ev.battery is None or not (ev.dc_contactor_closed or ev.dc_contactor_welded):
            return None
        return ev.battery

    def _auto_ev(self, driving: bool) -> None:
        ev = self._ch.ev
        if ev is None or not ev.auto_dc or ev.battery is None:
            return
        if ev.dc_contactor_closed and not driving:
            ev.dc_contactor_closed = False
        elif (
            not ev.dc_contactor_closed
            and driving
            and abs(self.v - ev.battery.ocv()) < 20.0
            and abs(self.target_a) > 2.0 + 1e-9
        ):
            ev.dc_contactor_closed = True

    def advance(self, dt: float) -> float:
        """Move the output ``dt`` seconds forward; returns the energy delivered to the EV (Wh, signed)."""
        driving = self.enabled and self._ch.contactor.feedback()
        self._auto_ev(driving)
        bat = self._battery()
        if bat is not None:
            goal = 0.0
            if driving:
                goal = self.target_a
                if goal > 0:
                    room = (self.target_v + self.overshoot_v - bat.ocv()) / bat.r_ohm
                    goal = max(0.0, min(goal, room))
                v_est = max(bat.ocv(), 1.0)
                cap = self.max_power_w / v_est
                goal = max(-cap, min(goal, cap))
            i0 = self.i
            self.i = _toward(self.i, goal, self.slew_a_s * dt) if driving else 0.0
            i_avg = (i0 + self.i) / 2 if driving else 0.0
            energy = (bat.ocv() + i_avg * bat.r_ohm) * i_avg * dt / 3600.0
            bat.charge(energy)
            self.v = bat.ocv() + self.i * bat.r_ohm
            if energy < 0:
                self.exported_wh -= energy
            return energy
        self.i = 0.0
        if driving:
            self.v = _toward(self.v, self.target_v + self.overshoot_v, self.slew_v_s * dt)
        else:
            self.v = _toward(self.v, 0.0, self.discharge_v_s * dt)
        return 0.0


class SimIsolationMonitor:
    """Simulated insulation monitor: a measurement takes ``measure_s`` after :meth:`start`."""

    def __init__(self, ch: SimChannel) -> None:
        self._ch = ch
        self.resistance_ohm_value = 10e6
        """What a measurement finds (fault injection: e.g. ``40e3`` is an insulation fault at 400 V)."""
        self.measure_s = 0.5
        """Duration of one measurement."""
        self.broken = False
        """Fault injection: the monitor never delivers a value."""
        self._running = False
        self._since = 0.0

    def start(self) -> None:
        """Start measuring."""
        if not self._running:
            self._running = True
            self._since = self._ch.clock.now()

    def stop(self) -> None:
        """Stop measuring."""
        self._running = False

    def running(self) -> bool:
        """Measuring."""
        return self._running

    def resistance_ohm(self) -> float | None:
        """The measured resistance, None while measuring (or stopped, or broken)."""
        if not self._running or self.broken or self._ch.clock.now() - self._since < self.measure_s:
            return None
        return self.resistance_ohm_value
