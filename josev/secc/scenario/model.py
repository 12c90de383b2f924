"""The typed form of a station scenario: what the station does to which request, and the record of what it did.

A scenario (:class:`Scenario`) is station settings (:class:`StationSettings`: how SDP and TLS are offered) plus a
list of :class:`Action`: *when* (the request, the protocols, the n-th occurrence or a time into the session) and
*what* (:data:`KINDS`). :class:`TakenAction` is one action the station actually took, with its time (the
conformance report reads it as a :class:`josev.report.model.StationAction`: :mod:`josev.secc.scenario.toreport`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: What an action does; the fields each kind takes are in :data:`KIND_FIELDS`.
KINDS: dict[str, str] = {
    "delay": "answer late: delay_s, or timeout_margin_s past (negative: before) the standard's EV timeout",
    "code": "answer with another ResponseCode (FAILED..., WARNING...)",
    "ongoing": "answer EVSEProcessing=Ongoing for for_s seconds, then the real answer",
    "notify": "set EVSENotification (StopCharging, ReNegotiation; -20: Pause, Terminate, ScheduleRenegotiation)",
    "status": "set the EVSE status: status_code (EVSE_EmergencyShutdown...), isolation (Fault...), with code",
    "limit": "from this request on, lower the EVSE's maximum current_a / power_w / voltage_v in every answer",
    "close_tcp": "drop the TCP (TLS) connection instead of answering",
    "link_down": "take the PLC link (the station's interface) down for for_s seconds instead of answering",
}

#: Fields an action of each kind takes (beyond the matching fields of :data:`MATCH_FIELDS`).
KIND_FIELDS: dict[str, frozenset[str]] = {
    "delay": frozenset({"delay_s", "timeout_margin_s"}),
    "code": frozenset({"code"}),
    "ongoing": frozenset({"for_s"}),
    "notify": frozenset({"notification", "max_delay_s"}),
    "status": frozenset({"status_code", "isolation", "code"}),
    "limit": frozenset({"current_a", "power_w", "voltage_v"}),
    "close_tcp": frozenset(),
    "link_down": frozenset({"for_s"}),
}

#: Fields every action takes: which request, on which protocols, the n-th one or the first after ``after_s``.
MATCH_FIELDS = frozenset({"kind", "request", "protocols", "nth", "after_s"})

PROTOCOLS = ("din", "iso2", "iso20")


@dataclass(frozen=True, slots=True)
class Action:
    """One scripted behaviour: applies to the ``nth`` ``request`` of a session (counted per session) on one of
    ``protocols``, or (``after_s``) to the first such request at least that many seconds into the session."""

    kind: str
    request: str
    line: int
    protocols: tuple[str, ...] = PROTOCOLS
    nth: int = 1
    after_s: float | None = None
    delay_s: float | None = None
    timeout_margin_s: float | None = None
    code: str | None = None
    for_s: float = 0.0
    notification: str | None = None
    max_delay_s: int = 0
    status_code: str | None = None
    isolation: str | None = None
    current_a: float | None = None
    power_w: float | None = None
    voltage_v: float | None = None


@dataclass(frozen=True, slots=True)
class StationSettings:
    """How the station offers itself: ``tls`` (off | iso2 | iso20 | both; iso20 = TLS 1.3 only) and
    ``enforce_tls`` (SDP announces TLS only). None: the command line decides."""

    tls: str | None = None
    enforce_tls: bool | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed, checked scenario file."""

    name: str
    description: str
    actions: tuple[Action, ...] = ()
    station: StationSettings = field(default_factory=StationSettings)
    source: str = ""


@dataclass(frozen=True, slots=True)
class TakenAction:
    """One action the station took: ``t`` (wall clock, seconds since the epoch, like the pcapng timestamps),
    ``kind`` (:data:`KINDS`), the ``request`` it answered (without ``Req``), a ``detail`` for people and the
    same in ``data`` for the report (``delay_s``, ``code``, ``for_s``, ``notification``, ``max_delay_s``,
    ``status_code``, ``isolation``, ``current_a``/``power_w``/``voltage_v``; empty for follow-up records such as
    the end of an Ongoing hold)."""

    t: float
    kind: str
    request: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The action as a JSON object."""
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TakenAction:
        """The action of a JSON object written by :meth:`to_json` (``data`` may be missing)."""
        data = d.get("data") or {}
        if not isinstance(data, dict):
            raise ValueError(f"'data' of a scenario action must be an object, got {data!r}")
        return cls(float(d["t"]), str(d["kind"]), str(d["request"]), str(d["detail"]), dict(data))
