"""PWM duty cycle for a current limit (IEC 61851-1, Annex A, EVSE side)."""

from __future__ import annotations

import math

MIN_CURRENT_A = 6.0
"""Smallest current a PWM duty cycle can announce; below it the EVSE stops offering power (X1)."""
MAX_CURRENT_A = 80.0
"""Largest current a duty cycle can announce."""
HLC_DUTY = 5.0
"""Nominal duty cycle requesting high-level communication (ISO 15118-3)."""


def current_to_duty(amps: float, resolution: float = 0.1) -> float | None:
    """Duty cycle (percent) announcing at most ``amps``; None when ``amps`` is below 6 A (no PWM: X1).

    6..51 A: duty = I / 0.6 (10..85 %); 51..80 A: duty = I / 2.5 + 64 (85..96 %, at least 85 %, because the
    EV reads a duty up to 85 % as duty x 0.6); above 80 A: 96 %.
    The result is rounded *down* to ``resolution`` so the EV never reads more than the limit, but never
    below 10 % (6 A).
    """
    if math.isnan(amps) or amps < MIN_CURRENT_A:
        return None
    amps = min(amps, MAX_CURRENT_A)
    # just above 51 A the second formula gives less than 85 %, which the EV reads with x0.6 (below 51 A):
    # 85 % (= 51 A) is then the better, still safe, announcement
    duty = amps / 0.6 if amps <= 51.0 else max(85.0, amps / 2.5 + 64.0)
    steps = math.floor(duty / resolution + 1e-9)
    return max(10.0, round(steps * resolution, 6))


def duty_to_current(duty: float) -> float | None:
    """What an EV reads from ``duty`` (the inverse, for checks); None for digital-only or forbidden values."""
    if 8.0 <= duty < 10.0:
        return 6.0
    if 10.0 <= duty <= 85.0:
        return duty * 0.6
    if 85.0 < duty <= 96.0:
        return (duty - 64.0) * 2.5
    if 96.0 < duty <= 97.0:
        return 80.0
    return None
