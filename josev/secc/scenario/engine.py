"""The scenario engine, sans-IO: given the request the EV sent and the response the core produced (dicts), the
time and the protocol, it says what the station does instead (:class:`Plan`: another response, a delay, drop
the connection, take the link down) and records every action it took (:class:`TakenAction`).

:class:`ScenarioRunner` lives as long as the station (one per scenario; the record of every session);
:class:`SessionScript` lives as long as one connection (its request counts, its held Ongoing answer).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from josev.report.model import StationAction
from josev.secc.scenario import requests, rewrite
from josev.secc.scenario.model import Action, Scenario, TakenAction
from josev.secc.scenario.toreport import to_report


@dataclass(slots=True)
class Plan:
    """What to do with one response: send ``response`` (None: the core's, unchanged) after ``delay_s``; or,
    with ``close``, drop the connection without answering; ``link_down_s``: take the link down that long first.
    """

    response: dict[str, Any] | None = None
    delay_s: float = 0.0
    close: bool = False
    link_down_s: float = 0.0


@dataclass(slots=True)
class _Held:
    request: str
    response: dict[str, Any]
    until: float
    repeats: int = 0


SESSIONS_KEPT = 64
"""Connections whose actions are kept for the report (:meth:`ScenarioRunner.report_actions`) until it takes them."""
RECONNECT_WINDOW_S = 60.0
"""A new connection on an EVSE this soon after the scenario dropped the previous one is the EV coming back: its
report judges how (V2G_SECC_Sequence_Timeout, 60 s, is as long as a station waits for an EV anyway)."""


class ScenarioRunner:
    """The station-wide side of a scenario: the record of every action taken, and each connection's script by
    (EVSE, connection) until the conformance report takes its actions."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.record: list[TakenAction] = []
        self._sessions: OrderedDict[tuple[int, str], SessionScript] = OrderedDict()
        self._dropped: dict[int, TakenAction] = {}

    def session(self, now: float, wall: float, evse: int = 0, connection: str = "") -> SessionScript:
        """The script of a new connection (``now``: monotonic clock, ``wall``: epoch seconds) of ``evse``,
        named ``connection`` like the V2G log names it (``c1``)."""
        script = SessionScript(self, now, wall, evse=evse)
        drop = self._dropped.pop(evse, None)
        if drop is not None and 0.0 <= wall - drop.t <= RECONNECT_WINDOW_S:
            script.before.append(
                TakenAction(drop.t, drop.kind, drop.request, drop.detail, {**drop.data, "previous": True})
            )
        if connection:
            self._sessions[(evse, connection)] = script
            while len(self._sessions) > SESSIONS_KEPT:
                self._sessions.popitem(last=False)
        return script

    def report_actions(self, evse: int, connection: str) -> list[StationAction]:
        """The actions taken in that connection, as the conformance report reads them (taken once: the
        :class:`~josev.report.files.ReportingRecorder` asks when the session's pcapng is written)."""
        script = self._sessions.pop((evse, connection), None)
        return [] if script is None else to_report(script.before + script.taken)


@dataclass
class SessionScript:
    """One connection's view of the scenario."""

    runner: ScenarioRunner
    start: float
    wall_start: float
    counts: dict[str, int] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    limits: dict[str, float] = field(default_factory=dict)
    taken: list[TakenAction] = field(default_factory=list)
    protocol: str = ""
    evse: int = 0
    before: list[TakenAction] = field(default_factory=list)
    """What the scenario did to this EVSE's previous connection that this one answers (a dropped connection
    or link: the EV coming back); for the report, not part of this session's record."""
    _held: _Held | None = None

    def _take(
        self, wall: float, kind: str, request: str, detail: str, data: dict[str, Any] | None = None
    ) -> None:
        act = TakenAction(round(wall, 6), kind, request, detail, data or {})
        self.taken.append(act)
        self.runner.record.append(act)
        if kind in ("close_tcp", "link_down"):
            self.runner._dropped[self.evse] = act

    def _due(self, a: Action, index: int, protocol: str, request: str, count: int, elapsed: float) -> bool:
        if index in self.done or protocol not in a.protocols or not requests.matches(a.request, request):
            return False
        if a.after_s is not None:
            return elapsed >= a.after_s
        return count == a.nth

    @property
    def holding(self) -> bool:
        """True while an Ongoing answer is held: the shell asks :meth:`held_answer` before the core."""
        return self._held is not None

    def held_answer(self, request: str, now: float, wall: float) -> dict[str, Any] | None:
        """While an ``ongoing`` action holds the core's answer to ``request``: the answer to a repeated request
        (Ongoing until the time is up, then the core's own answer). None: hand the request to the core (another
        request, or the core itself had answered Ongoing)."""
        held = self._held
        if held is None or request != held.request:
            self._held = None
            return None
        held.repeats += 1
        if now < held.until:
            out = copy.deepcopy(held.response)
            el = rewrite.body(out)
            assert el is not None
            rewrite.set_processing(el, "Ongoing")
            return out
        self._held = None
        el = rewrite.body(held.response)
        if el is None or el.get("EVSEProcessing") != "Finished":  # the core was still processing: it answers
            self._take(
                wall,
                "ongoing",
                request,
                f"back to the station after {held.repeats} repeated requests",
                {"end": True, "repeats": held.repeats},
            )
            return None
        self._take(
            wall,
            "ongoing",
            request,
            f"real answer after {held.repeats} repeated requests",
            {"end": True, "repeats": held.repeats},
        )
        return held.response

    def on_exchange(
        self, schema: str, request: str, response: dict[str, Any], now: float, wall: float
    ) -> Plan:
        """The core answered ``request`` (name without ``Req``) with ``response`` (not modified here)."""
        protocol = requests.protocol_of(schema)
        self.protocol = protocol
        count = self.counts[request] = self.counts.get(request, 0) + 1
        elapsed = now - self.start
        plan = Plan()
        out = copy.deepcopy(response)
        el = rewrite.body(out)
        if el is None:
            return plan
        changed = False
        for i, a in enumerate(self.runner.scenario.actions):
            if not self._due(a, i, protocol, request, count, elapsed):
                continue
            self.done.add(i)
            if a.kind == "limit":
                for q in ("current_a", "power_w", "voltage_v"):
                    v = getattr(a, q)
                    if v is not None:
                        self.limits[q] = v
                self._take(
                    wall,
                    "limit",
                    request,
                    ", ".join(f"{q} {v:g}" for q, v in self.limits.items()),
                    dict(self.limits),
                )
            elif a.kind == "delay":
                if a.delay_s is not None:
                    plan.delay_s = a.delay_s
                    detail = f"answered {a.delay_s:g} s late"
                else:
                    t = requests.timeout(protocol, request)
                    plan.delay_s = max(0.0, t + (a.timeout_margin_s or 0.0))
                    detail = f"answered {plan.delay_s:g} s late (EV timeout {t:g} s, margin {a.timeout_margin_s:+g} s)"
                self._take(wall, "delay", request, detail, {"delay_s": plan.delay_s})
            elif a.kind == "code" and a.code is not None:
                self._take(wall, "code", request, rewrite.set_code(el, a.code), {"code": a.code})
                changed = True
            elif a.kind == "ongoing":
                if rewrite.set_processing(el, "Ongoing"):
                    self._held = _Held(request, copy.deepcopy(response), now + a.for_s)
                    self._take(
                        wall,
                        "ongoing",
                        request,
                        f"EVSEProcessing Ongoing for {a.for_s:g} s",
                        {"for_s": a.for_s},
                    )
                    changed = True
            elif a.kind == "notify" and a.notification is not None:
                detail = rewrite.set_notification(el, protocol, a.notification, a.max_delay_s)
                if detail:
                    note = {"notification": a.notification, "max_delay_s": a.max_delay_s}
                    self._take(wall, "notify", request, detail, note)
                    changed = True
            elif a.kind == "status":
                detail = rewrite.set_status(el, protocol, a.status_code, a.isolation)
                if a.code is not None:
                    detail = ", ".join(filter(None, (detail, rewrite.set_code(el, a.code))))
                if detail:
                    status = {"status_code": a.status_code, "isolation": a.isolation, "code": a.code}
                    self._take(wall, "status", request, detail, {k: v for k, v in status.items() if v})
                    changed = True
            elif a.kind == "close_tcp":
                plan.close = True
                self._take(
                    wall, "close_tcp", request, "TCP connection dropped instead of answering", {"close": True}
                )
            elif a.kind == "link_down":
                plan.close = True
                plan.link_down_s = a.for_s
                self._take(
                    wall,
                    "link_down",
                    request,
                    f"link down for {a.for_s:g} s instead of answering",
                    {"for_s": a.for_s},
                )
        if self.limits:
            capped = rewrite.cap_limits(el, self.limits)
            if capped:
                changed = True
                if request not in ("CurrentDemand", "ChargingStatus", "DC_ChargeLoop", "AC_ChargeLoop"):
                    self._take(wall, "limit", request, "; ".join(capped))
        if changed:
            plan.response = out
        return plan

    def summary(self) -> dict[str, Any]:
        """The session's record as JSON (``scenario.json``)."""
        sc = self.runner.scenario
        return {
            "scenario": sc.name,
            "description": sc.description,
            "source": sc.source,
            "protocol": self.protocol,
            "started": round(self.wall_start, 6),
            "actions": [a.to_json() for a in self.taken],
        }
