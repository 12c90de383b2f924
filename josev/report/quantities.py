"""The physical quantities of a message, whatever the protocol spells them (PhysicalValue of DIN / ISO 15118-2,
RationalNumber of ISO 15118-20, plain numbers)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

#: quantity -> element names carrying it (first found wins), per direction of the message.
EV_FIELDS: dict[str, tuple[str, ...]] = {
    "ev_target_voltage": ("EVTargetVoltage",),
    "ev_target_current": ("EVTargetCurrent",),
    "ev_max_voltage": ("EVMaximumVoltageLimit", "EVMaximumVoltage", "EVMaxVoltage"),
    "ev_max_current": ("EVMaximumCurrentLimit", "EVMaximumChargeCurrent", "EVMaxCurrent"),
    "ev_max_power": ("EVMaximumPowerLimit", "EVMaximumChargePower"),
    "ev_present_voltage": ("EVPresentVoltage",),
    "soc": ("EVRESSSOC", "PresentSOC"),
    "departure_s": ("DepartureTime",),
    "energy_request_wh": ("EVEnergyRequest", "EAmount", "EVTargetEnergyRequest"),
}
EVSE_FIELDS: dict[str, tuple[str, ...]] = {
    "evse_present_voltage": ("EVSEPresentVoltage",),
    "evse_present_current": ("EVSEPresentCurrent",),
    "evse_max_voltage": ("EVSEMaximumVoltageLimit", "EVSEMaximumVoltage", "EVSENominalVoltage"),
    "evse_max_current": ("EVSEMaximumCurrentLimit", "EVSEMaximumChargeCurrent", "EVSEMaxCurrent"),
    "evse_max_power": ("EVSEMaximumPowerLimit", "EVSEMaximumChargePower"),
}
UNITS = {
    "ev_target_voltage": "V",
    "ev_target_current": "A",
    "ev_max_voltage": "V",
    "ev_max_current": "A",
    "ev_max_power": "W",
    "ev_present_voltage": "V",
    "soc": "%",
    "departure_s": "s",
    "energy_request_wh": "Wh",
    "evse_present_voltage": "V",
    "evse_present_current": "A",
    "evse_max_voltage": "V",
    "evse_max_current": "A",
    "evse_max_power": "W",
}


class BadValue(ValueError):
    """A number element that breaks its schema type (multiplier or exponent out of range, not an integer)."""


def number(v: Any) -> float | None:
    """The float of a PhysicalValue / RationalNumber dict or a plain number; None when ``v`` is neither.

    Raises :class:`BadValue` for a PhysicalValue / RationalNumber outside its schema type."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if not isinstance(v, Mapping) or "Value" not in v:
        return None
    value = v.get("Value")
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadValue(f"Value {value!r} is not an integer")
    if "Multiplier" in v:
        m = v["Multiplier"]
        if not isinstance(m, int) or not -3 <= m <= 3:
            raise BadValue(f"Multiplier {m!r} outside -3..3")
        return value * 10.0**m
    if "Exponent" in v:
        e = v["Exponent"]
        if not isinstance(e, int) or not -128 <= e <= 127:
            raise BadValue(f"Exponent {e!r} outside -128..127")
        return value * 10.0**e
    return float(value)


def walk(body: Any) -> Iterator[tuple[str, Any]]:
    """Every (element name, value) pair of a decoded message, depth first (the Header's are skipped)."""
    if isinstance(body, Mapping):
        for k, v in body.items():
            if k == "Header":
                continue
            yield str(k), v
            if isinstance(v, Mapping) and "Value" not in v:
                yield from walk(v)
            elif isinstance(v, list):
                for item in v:
                    yield from walk(item)


def quantities(body: Mapping[str, Any], from_ev: bool) -> tuple[dict[str, float], list[str]]:
    """The quantities of a message (see :data:`EV_FIELDS` / :data:`EVSE_FIELDS`) and the elements whose
    number broke its schema type (as ``"Name: reason"``)."""
    fields = EV_FIELDS if from_ev else EVSE_FIELDS
    wanted = {name: q for q, names in fields.items() for name in names}
    out: dict[str, float] = {}
    bad: list[str] = []
    for name, v in walk(body):
        q = wanted.get(name)
        if q is None or q in out:
            continue
        try:
            f = number(v)
        except BadValue as e:
            bad.append(f"{name}: {e}")
            continue
        if f is not None and math.isfinite(f):
            out[q] = f
    return out, bad


def first_str(body: Mapping[str, Any], name: str) -> str | None:
    """The first string element ``name`` anywhere in the message."""
    for k, v in walk(body):
        if k == name and isinstance(v, str):
            return v
    return None
