"""A scenario's record (:class:`~josev.secc.scenario.model.TakenAction`) as the conformance report reads it
(:class:`josev.report.model.StationAction`): the one place where a scenario kind meets a reaction rule
(:data:`josev.report.reaction.REACTIONS`).

========================================  ==================  ===============================================
scenario action                            report kind         the EV must
========================================  ==================  ===============================================
``delay`` (answer late)                    ``late``            wait up to its timeout, then end the session
``code`` FAILED...                         ``failed``          end the session
``code`` WARNING... / OK...                ``code``            (noted; no rule)
``ongoing`` (EVSEProcessing Ongoing)       ``ongoing``         repeat the request until the real answer
``notify`` StopCharging, Pause, Terminate  ``stop_charging``   stop charging (PowerDelivery Stop, SessionStop)
``notify`` ReNegotiation, Schedule...      ``renegotiate``     renegotiate (ChargeParameterDiscovery / ScheduleExchange)
``status`` with a FAILED code              ``failed``          end the session
``status`` EVSE_(Emergency)Shutdown        ``stop_charging``   stop charging
``limit``                                  ``limit``           keep its target within the new maximum
``close_tcp`` / ``link_down``              ``drop_link``       send nothing more on the dropped connection
the same, in the EVSE's next connection    ``reconnect``       start again with SDP and supportedAppProtocol
========================================  ==================  ===============================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from josev.report.model import StationAction
from josev.secc.scenario.model import TakenAction

STOP_NOTIFICATIONS = frozenset({"StopCharging", "Pause", "Terminate"})
RENEGOTIATE_NOTIFICATIONS = frozenset({"ReNegotiation", "ScheduleRenegotiation"})
SHUTDOWN_STATUS = frozenset({"EVSE_Shutdown", "EVSE_EmergencyShutdown"})


def _kind(a: TakenAction) -> str | None:
    """The report's kind of one scenario action; None for records the report does not evaluate on their own."""
    d = a.data
    if d.get("previous"):
        return "reconnect" if a.kind in ("close_tcp", "link_down") else None
    if a.kind == "delay":
        return "late"
    if a.kind == "code":
        return "failed" if str(d.get("code", "")).startswith("FAILED") else "code"
    if a.kind == "ongoing":
        return None if d.get("end") or "for_s" not in d else "ongoing"
    if a.kind == "notify":
        note = d.get("notification")
        if note in STOP_NOTIFICATIONS:
            return "stop_charging"
        return "renegotiate" if note in RENEGOTIATE_NOTIFICATIONS else "notify"
    if a.kind == "status":
        if str(d.get("code", "")).startswith("FAILED"):
            return "failed"
        return "stop_charging" if d.get("status_code") in SHUTDOWN_STATUS else "status"
    if a.kind == "limit":
        return "limit" if d else None  # without data: a later answer capped to the same limit
    if a.kind in ("close_tcp", "link_down"):
        return "drop_link"
    return a.kind


def to_report(taken: Sequence[TakenAction]) -> list[StationAction]:
    """The report's actions of one session's scenario record, in order. An Ongoing hold and its end become one
    ``ongoing`` action (``detail["until"]``: when the station gave the real answer, ``repeats``: how many
    repeated requests it held); every action keeps the scenario's own words (``note``) and kind (``scenario``)."""
    out: list[StationAction] = []
    for i, a in enumerate(taken):
        kind = _kind(a)
        if kind is None:
            continue
        detail: dict[str, Any] = {"scenario": a.kind, "note": a.detail}
        d = a.data
        if kind == "late":
            detail["delay"] = d.get("delay_s")
        elif kind == "ongoing":
            detail["for"] = d.get("for_s")
            end = next((b for b in taken[i + 1 :] if b.kind == "ongoing" and b.data.get("end")), None)
            if end is not None:
                detail["until"] = end.t
                detail["repeats"] = end.data.get("repeats")
        elif kind == "limit":
            detail.update({k: v for k, v in d.items() if k in ("current_a", "power_w", "voltage_v")})
        elif kind in ("failed", "code"):
            detail["code"] = d.get("code")
        for key in ("notification", "status_code", "isolation"):
            if key in d:
                detail[key] = d[key]
        if a.kind == "link_down":
            detail["link_down_s"] = d.get("for_s")
        if kind == "reconnect":
            detail["dropped_at"] = a.t
        out.append(StationAction(a.t, kind, a.request + "Req" if a.request else "", detail))
    return out
