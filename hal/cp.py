"""Control-pilot voltage classification with voltage bands, hysteresis and debouncing.

Bands are the EVSE-side detection ranges of IEC 61851-1 (Annex A): A 11..13 V, B 8..10 V, C 5..7 V,
D 2..4 V, E -1..1 V, F -13..-11 V. A reading in a gap between bands is ambiguous and keeps the last state.
Hysteresis: once in a state, the state is kept while the voltage stays within its band widened by
``hysteresis_v`` on both sides; a new state is entered only from inside its nominal band, and only after
``debounce`` consecutive samples agree. Drivers feed raw plateau voltages; the result is a :class:`CpReading`.
"""

from __future__ import annotations

from hal.types import CpReading, CpState

BANDS: dict[CpState, tuple[float, float]] = {
    CpState.A: (11.0, 13.0),
    CpState.B: (8.0, 10.0),
    CpState.C: (5.0, 7.0),
    CpState.D: (2.0, 4.0),
    CpState.E: (-1.0, 1.0),
    CpState.F: (-13.0, -11.0),
}
"""Nominal detection band (low, high) of each state in volts on the positive plateau."""

DIODE_LOW_MAX_V = -11.0
"""While PWM runs and a vehicle is connected the negative plateau must be at or below this (or: no diode)"""


def nominal_state(volts: float) -> CpState | None:
    """The state whose nominal band contains ``volts`` (values beyond A or F saturate); None in a gap."""
    if volts > BANDS[CpState.A][1]:
        return CpState.A
    if volts < BANDS[CpState.F][0]:
        return CpState.F
    for state, (lo, hi) in BANDS.items():
        if lo <= volts <= hi:
            return state
    return None


class CpClassifier:
    """Stateful classifier of positive-plateau voltages (one per pilot input)."""

    def __init__(self, hysteresis_v: float = 0.5, debounce: int = 2) -> None:
        if not 0.0 <= hysteresis_v <= 0.5:
            raise ValueError("hysteresis must be within 0..0.5 V (half the 1 V gap between bands)")
        if debounce < 1:
            raise ValueError("debounce must be at least 1 sample")
        self.hysteresis_v = hysteresis_v
        self.debounce = debounce
        self.state: CpState | None = None
        self._candidate: CpState | None = None
        self._count = 0

    def _holds(self, volts: float) -> bool:
        if self.state is None:
            return False
        lo, hi = BANDS[self.state]
        if self.state is CpState.A:
            hi = float("inf")
        if self.state is CpState.F:
            lo = float("-inf")
        return lo - self.hysteresis_v <= volts <= hi + self.hysteresis_v

    def feed(self, high_v: float, low_v: float | None = None, pwm: bool = False) -> CpReading:
        """Classify one sample: ``high_v`` positive plateau, ``low_v`` negative plateau when ``pwm`` runs."""
        if not self._holds(high_v):
            cand = nominal_state(high_v)
            if cand is None:
                self._candidate, self._count = None, 0
            elif self.state is None:
                self.state = cand
            else:
                if cand == self._candidate:
                    self._count += 1
                else:
                    self._candidate, self._count = cand, 1
                if self._count >= self.debounce:
                    self.state, self._candidate, self._count = cand, None, 0
        else:
            self._candidate, self._count = None, 0
        state = self.state if self.state is not None else CpState.E
        diode = (
            pwm
            and low_v is not None
            and state in (CpState.B, CpState.C, CpState.D)
            and low_v > DIODE_LOW_MAX_V + self.hysteresis_v
        )
        return CpReading(state=state, high_v=high_v, low_v=low_v if pwm else None, diode_fault=diode)


PP_TABLE: tuple[tuple[float, float, float], ...] = (
    (60.0, 140.0, 63.0),
    (164.0, 308.0, 32.0),
    (400.0, 936.0, 20.0),
    (1100.0, 2460.0, 13.0),
)
"""Proximity coding resistor ranges (ohm low, ohm high, cable ampacity A), IEC 61851-1 Annex B / IEC 62196."""


def pp_ampacity(ohms: float | None) -> float | None:
    """Cable current capability for a PP resistor value; None when open / outside every range."""
    if ohms is None:
        return None
    for lo, hi, amps in PP_TABLE:
        if lo <= ohms <= hi:
            return amps
    return None
