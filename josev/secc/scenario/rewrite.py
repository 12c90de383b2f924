"""Pure rewrites of a response dict (EXIficient JSON dialect, as the cores produce it): the response code,
EVSEProcessing, the EVSE status and notification, the advertised maximum limits. Each returns a description
of what it changed (for the record), empty when there was nothing to change."""

from __future__ import annotations

from typing import Any

from josev.v2g.iso20.rational import rf, rn
from josev.v2g.physical import ParameterError, pv, to_float

#: The keys of the EVSE's advertised maximum limits, per quantity (DIN / ISO-2 PhysicalValue, -20 RationalNumber).
LIMIT_KEYS: dict[str, tuple[str, ...]] = {
    "current_a": ("EVSEMaximumCurrentLimit", "EVSEMaxCurrent", "EVSEMaximumChargeCurrent"),
    "power_w": ("EVSEMaximumPowerLimit", "EVSEMaximumChargePower"),
    "voltage_v": ("EVSEMaximumVoltageLimit", "EVSEMaximumVoltage"),
}
UNITS = {"current_a": "A", "power_w": "W", "voltage_v": "V"}


def message_name(msg: dict[str, Any]) -> str:
    """The name of the message in a V2G_Message (DIN / ISO-2) or a bare -20 / SAP message dict."""
    if "V2G_Message" in msg:
        body = msg["V2G_Message"].get("Body") or {}
        return str(next(iter(body), ""))
    return str(next(iter(msg), ""))


def body(msg: dict[str, Any]) -> dict[str, Any] | None:
    """The response (or request) element of ``msg``."""
    name = message_name(msg)
    if not name:
        return None
    el = msg["V2G_Message"]["Body"][name] if "V2G_Message" in msg else msg[name]
    return el if isinstance(el, dict) else None


def set_code(res: dict[str, Any], code: str) -> str:
    old = res.get("ResponseCode")
    res["ResponseCode"] = code
    return f"ResponseCode {old} -> {code}"


def set_processing(res: dict[str, Any], value: str) -> bool:
    """EVSEProcessing of ``res`` set to ``value``; False when the message has no EVSEProcessing."""
    if "EVSEProcessing" not in res:
        return False
    res["EVSEProcessing"] = value
    return True


def _status(res: dict[str, Any]) -> dict[str, Any] | None:
    for key in ("DC_EVSEStatus", "AC_EVSEStatus", "EVSEStatus"):
        st = res.get(key)
        if isinstance(st, dict):
            return st
    return None


def set_notification(res: dict[str, Any], protocol: str, note: str, max_delay_s: int) -> str:
    """EVSENotification (and NotificationMaxDelay) of the response's EVSE status."""
    if protocol == "iso20":
        res["EVSEStatus"] = {"NotificationMaxDelay": max_delay_s, "EVSENotification": note}
        return f"EVSENotification {note}"
    st = _status(res)
    if st is None:
        return ""
    st["EVSENotification"] = note
    st["NotificationMaxDelay"] = max_delay_s
    return f"EVSENotification {note}"


def set_status(res: dict[str, Any], protocol: str, status_code: str | None, isolation: str | None) -> str:
    """The EVSE status code / isolation status (DIN / ISO-2 DC_EVSEStatus). -20 has neither: a shutdown is
    told with EVSENotification Terminate."""
    if protocol == "iso20":
        if status_code is None:
            return ""
        res["EVSEStatus"] = {"NotificationMaxDelay": 0, "EVSENotification": "Terminate"}
        return f"{status_code}: EVSENotification Terminate"
    st = res.get("DC_EVSEStatus")
    if not isinstance(st, dict):
        return ""
    done = []
    if status_code is not None:
        st["EVSEStatusCode"] = status_code
        done.append(f"EVSEStatusCode {status_code}")
    if isolation is not None:
        st["EVSEIsolationStatus"] = isolation
        done.append(f"EVSEIsolationStatus {isolation}")
    return ", ".join(done)


def _read(v: Any) -> float | None:
    if not isinstance(v, dict):
        return None
    try:
        return rf(v) if "Exponent" in v else to_float(v)
    except (ParameterError, ValueError, TypeError):
        return None


def cap_limits(el: Any, limits: dict[str, float]) -> list[str]:
    """Lower every advertised maximum in ``el`` (searched recursively) to ``limits`` (quantity -> value);
    returns ``key old -> new`` for each value changed."""
    changed: list[str] = []
    if isinstance(el, list):
        for x in el:
            changed += cap_limits(x, limits)
        return changed
    if not isinstance(el, dict):
        return changed
    for key, v in list(el.items()):
        for q, cap in limits.items():
            if key in LIMIT_KEYS[q]:
                old = _read(v)
                if old is not None and old > cap:
                    el[key] = rn(cap) if "Exponent" in v else pv(cap, v.get("Unit") or UNITS[q])
                    changed.append(f"{key} {old:g} -> {cap:g} {UNITS[q]}")
                break
        else:
            if isinstance(v, (dict, list)):
                changed += cap_limits(v, limits)
    return changed
