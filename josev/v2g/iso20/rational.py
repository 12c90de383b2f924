"""RationalNumberType helpers of ISO 15118-20 (``Value`` an int16 scaled by ``10**Exponent``, ``Exponent`` an
int8)."""

from __future__ import annotations

import math
from typing import Any

from josev.v2g.physical import ParameterError

INT16 = (-32768, 32767)


def rn(value: float) -> dict[str, int]:
    """The rational number for ``value`` with the finest exponent (from -3 up) whose Value fits an int16."""
    if not math.isfinite(value):
        raise ParameterError(f"{value} is not finite")
    for exp in range(-3, 128):
        v = round(value / 10**exp)
        if INT16[0] <= v <= INT16[1]:
            return {"Exponent": exp, "Value": int(v)}
    raise ParameterError(f"{value} does not fit a RationalNumber")


def rf(d: Any, name: str = "value") -> float:
    """The float of a rational number dict; :class:`ParameterError` when it is missing or malformed."""
    if not isinstance(d, dict):
        raise ParameterError(f"{name} missing")
    e, v = d.get("Exponent"), d.get("Value")
    if not isinstance(e, int) or not isinstance(v, int) or isinstance(e, bool) or isinstance(v, bool):
        raise ParameterError(f"{name}: rational number needs integer Exponent and Value")
    if not -128 <= e <= 127 or not INT16[0] <= v <= INT16[1]:
        raise ParameterError(f"{name}: Exponent/Value out of range")
    return v * 10.0**e


def opt_rf(d: Any, name: str = "value") -> float | None:
    """Like :func:`rf` but ``None`` for an absent value."""
    return None if d is None else rf(d, name)
