"""Status vocabulary: OCPP 2.0.1 connector status and the detailed charging state operators see."""

from __future__ import annotations

from josev.coordinator.states import St

OCPP_STATUSES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
"""OCPP 2.0.1 ConnectorStatusEnumType."""
DETAILED_STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
)
"""Detailed charging state (as in OCPP 1.6 ChargePointStatus)."""


def ocpp_status(state: St) -> str:
    """OCPP 2.0.1 connector status of a coordinator state."""
    if state is St.IDLE:
        return "Available"
    if state is St.RESERVED:
        return "Reserved"
    if state is St.UNAVAILABLE:
        return "Unavailable"
    if state is St.FAULTED:
        return "Faulted"
    return "Occupied"


def detailed_status(state: St, charged_before: bool, stop_requested: bool) -> str:
    """Detailed status of a coordinator state (``charged_before``: the session has delivered power)."""
    if state is St.IDLE:
        return "Available"
    if state in (St.RESERVED, St.UNAVAILABLE, St.FAULTED):
        return {St.RESERVED: "Reserved", St.UNAVAILABLE: "Unavailable", St.FAULTED: "Faulted"}[state]
    if state in (St.CHARGING, St.HLC_CHARGING):
        return "Charging"
    if state is St.STOPPING:
        return "Finishing" if stop_requested else "SuspendedEVSE"
    if state is St.SUSPENDED_EVSE:
        return "SuspendedEVSE"
    if state is St.FINISHED:
        return "Finishing"
    if state in (St.READY, St.HLC) and charged_before:
        return "SuspendedEV"
    return "Preparing"


def connector_statuses(
    connectors: tuple[int, ...], in_use: int, ocpp: str, detailed: str
) -> list[tuple[int, str, str]]:
    """``(connector, OCPP status, detailed status)`` of every connector of an EVSE.

    The connector in use shows the EVSE's status. While it is Occupied the EVSE's other connectors cannot be
    used and show Unavailable (OCPP 2.0.1: one EVSE charges through one connector at a time); Available,
    Reserved, Unavailable and Faulted apply to every connector of the EVSE.
    """
    out = []
    for c in connectors:
        if c == in_use or ocpp != "Occupied":
            out.append((c, ocpp, detailed))
        else:
            out.append((c, "Unavailable", "Unavailable"))
    return out
