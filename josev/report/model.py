"""The report's data: decoded messages in, findings and a JSON-able report out (no IO, no plotting)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info", "ok"]
"""``error``: a rule of the standard is broken; ``warning``: suspicious or a "should"; ``info``: noted;
``ok``: a checked reaction that was right (shown in the reaction section)."""

FORMAT = "josev-report/1"


@dataclass(frozen=True, slots=True)
class ReportMessage:
    """One message of the session as the report sees it."""

    t: float
    """Wall-clock time (seconds since the epoch) the station sent or received it."""
    from_ev: bool
    kind: str
    """``sap``, ``din``, ``iso2``, ``iso20-cm``/``-dc``/``-ac``/``-acdp``; ``SDP``, ``SLAC``; ``raw`` (bytes that
    are not a V2GTP message), ``undecodable`` (a V2GTP payload the codec rejected), ``TLS``."""
    name: str
    """The message name (``CurrentDemandReq``); for raw data a short description."""
    body: Mapping[str, Any] = field(default_factory=dict)
    """The decoded message element (its fields), empty for raw data."""
    connection: int = 0
    size: int = 0
    """Bytes on the wire (V2GTP header included)."""
    error: str = ""
    """Why it could not be decoded."""

    @property
    def family(self) -> str:
        """``din``, ``iso2``, ``iso20`` or ``""``."""
        if self.kind in ("din", "iso2"):
            return self.kind
        return "iso20" if self.kind.startswith("iso20") else ""

    @property
    def is_request(self) -> bool:
        return self.name.endswith("Req")

    @property
    def is_response(self) -> bool:
        return self.name.endswith("Res")

    @property
    def base(self) -> str:
        """The message name without ``Req``/``Res``."""
        return self.name[:-3] if self.is_request or self.is_response else self.name


@dataclass(frozen=True, slots=True)
class StationAction:
    """Something the station did on purpose (a test scenario), whose consequence the EV must handle.

    ``kind`` (see :data:`josev.report.reaction.REACTIONS`): ``failed`` (answered ``request`` with a FAILED
    code), ``late`` (answered ``request`` after ``detail["delay"]`` s, or ``no_response``: never),
    ``stop_charging`` (asked the EV to stop, e.g. EVSENotification StopCharging / EVSE_Shutdown), ``ongoing``
    (answered ``request`` with EVSEProcessing Ongoing), ``drop_link`` (closed the connection / link).
    ``detail`` may carry ``within`` (seconds the EV has to react, overriding the rule's default) and free text
    (``note``)."""

    t: float
    """Wall-clock time (seconds since the epoch, the clock of the V2G log) the station did it."""
    kind: str
    request: str = ""
    """The request it concerns (``CurrentDemandReq``), if any."""
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t, "kind": self.kind, "request": self.request, "detail": dict(self.detail)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StationAction:
        """The inverse of :meth:`to_dict`; raises ValueError naming what is wrong."""
        t, kind = d.get("t"), d.get("kind")
        if not isinstance(t, int | float) or isinstance(t, bool) or not isinstance(kind, str) or not kind:
            raise ValueError(f"a station action needs a number 't' and a text 'kind', got {dict(d)!r}")
        detail = d.get("detail") or {}
        if not isinstance(detail, Mapping):
            raise ValueError(f"'detail' of a station action must be an object, got {detail!r}")
        return cls(float(t), kind, str(d.get("request") or ""), dict(detail))


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation about the session: which rule, which clause, which message, when."""

    severity: Severity
    rule: str
    """A stable id (``ev-target-voltage-above-ev-max``)."""
    clause: str
    """Where the rule comes from (standard, clause / table / requirement id)."""
    text: str
    """What happened, with the values, for a person."""
    t: float | None = None
    """Seconds since the session's first message."""
    message: int | None = None
    """Index into the report's message list."""
    message_name: str = ""
    subject: Literal["EV", "station", "session"] = "EV"
    value: float | None = None
    limit: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Timing:
    """Response times of one request type against the limits of its protocol."""

    request: str
    count: int
    min_s: float
    median_s: float
    max_s: float
    ev_timeout_s: float | None
    """V2G_EVCC_Msg_Timeout: how long the EV waits for this response."""
    performance_s: float | None
    """V2G_SECC_Msg_Performance_Time: how long the station has to answer."""
    over_performance: int
    clause: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    """The conformance report of one session."""

    meta: dict[str, Any]
    messages: list[ReportMessage]
    rows: list[dict[str, Any]]
    """Per message: index, relative time, direction, kind, name, response code, response time, values."""
    timings: list[Timing]
    findings: list[Finding]
    actions: list[StationAction]
    reactions: list[Finding]
    series: dict[str, list[float | None]]
    """Time-aligned values for the plots: ``t`` plus one list per quantity (None where not given)."""
    response_times: dict[str, list[tuple[float, float]]]
    """Per request type: (relative time of the request, response time in s)."""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings + self.reactions if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings + self.reactions if f.severity == "warning"]

    @property
    def verdict(self) -> str:
        if not any(m.family for m in self.messages):
            return "no V2G session"
        return "fail" if self.errors else "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "session": self.meta,
            "summary": {
                "verdict": self.verdict,
                "errors": len(self.errors),
                "warnings": len(self.warnings),
                "messages": len(self.messages),
            },
            "findings": [f.to_dict() for f in self.findings],
            "actions": [a.to_dict() for a in self.actions],
            "reactions": [f.to_dict() for f in self.reactions],
            "timings": [t.to_dict() for t in self.timings],
            "messages": self.rows,
            "series": self.series,
            "response_times": {k: [list(p) for p in v] for k, v in self.response_times.items()},
        }
