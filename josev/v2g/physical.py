"""PhysicalValue helpers for DIN / ISO 15118-2 (Multiplier, Unit, Value with Value an int16)."""

from __future__ import annotations

import math
from typing import Any


class ParameterError(ValueError):
    """A parameter in a request is missing or out of range."""


def pv(value: float, unit: str) -> dict[str, Any]:
    """A PhysicalValue dict for ``value`` with the finest multiplier (-3..3) that fits an int16."""
    for mult in range(-3, 4):
        v = round(value / 10**mult)
        if -32768 <= v <= 32767:
            return {"Multiplier": mult, "Unit": unit, "Value": int(v)}
    raise ParameterError(f"{value} {unit} does not fit a PhysicalValue")


def to_float(d: Any, unit: str | None = None) -> float:
    """The float of a PhysicalValue dict; raises :class:`ParameterError` when it is malformed."""
    if not isinstance(d, dict):
        raise ParameterError("PhysicalValue missing")
    m, v = d.get("Multiplier"), d.get("Value")
    if not isinstance(m, int) or not isinstance(v, int) or isinstance(m, bool) or isinstance(v, bool):
        raise ParameterError("PhysicalValue needs integer Multiplier and Value")
    if not -3 <= m <= 3:
        raise ParameterError(f"Multiplier {m} out of range -3..3")
    if unit is not None and "Unit" in d and d["Unit"] != unit:
        raise ParameterError(f"unit {d['Unit']!r}, expected {unit!r}")
    out = v * 10.0**m
    if not math.isfinite(out):
        raise ParameterError("PhysicalValue not finite")
    return out


def opt_float(d: Any, unit: str | None = None) -> float | None:
    """Like :func:`to_float` but ``None`` for an absent value."""
    return None if d is None else to_float(d, unit)
