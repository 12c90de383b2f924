"""Value and sequence rules: every EV value against its own announced limits, the station's limits and the
schema's ranges; what the session's messages say about the EV's framing and its end."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from josev.report.limits import BY_FAMILY, ISO2, Limits
from josev.report.model import Finding, ReportMessage, Severity
from josev.report.quantities import quantities

SCHEMA_SOC = "schema percentValueType 0..100 (V2G_CI_MsgDataTypes.xsd; ISO 15118-20 CommonTypes)"
DEPARTURE_TOLERANCE_S = 60.0
"""How far two announcements of the departure time may disagree (after subtracting the time between them)."""
POWER_TOLERANCE = 1.01


@dataclass
class _Agg:
    """Occurrences of one rule: the first finding is kept, the rest counted."""

    first: Finding
    count: int = 1
    worst: float | None = None


@dataclass
class Collector:
    """Findings, one per rule and message name (the first occurrence; later ones are counted in its text)."""

    items: dict[tuple[str, str], _Agg] = field(default_factory=dict)

    def add(self, f: Finding) -> None:
        key = (f.rule, f.message_name)
        agg = self.items.get(key)
        if agg is None:
            self.items[key] = _Agg(f, 1, f.value)
            return
        agg.count += 1
        if f.value is not None and (agg.worst is None or abs(f.value) > abs(agg.worst)):
            agg.worst = f.value

    def findings(self) -> list[Finding]:
        out = []
        for agg in self.items.values():
            f = agg.first
            if agg.count > 1:
                worst = f", worst {agg.worst:g}" if agg.worst is not None and agg.worst != f.value else ""
                f = Finding(
                    f.severity,
                    f.rule,
                    f.clause,
                    f"{f.text} (in {agg.count} messages{worst}; the first is shown)",
                    f.t,
                    f.message,
                    f.message_name,
                    f.subject,
                    f.value,
                    f.limit,
                )
            out.append(f)
        order = {"error": 0, "warning": 1, "info": 2, "ok": 3}
        return sorted(out, key=lambda f: (order[f.severity], f.t if f.t is not None else 0.0))


def session_limits(messages: Sequence[ReportMessage]) -> Limits:
    """The limits of the session's protocol (ISO 15118-2 when nothing was negotiated)."""
    fam = next((m.family for m in messages if m.family), "")
    return BY_FAMILY.get(fam, ISO2)


def _add(
    out: Collector,
    m: ReportMessage,
    i: int,
    rel: float,
    sev: Severity,
    rule: str,
    clause: str,
    text: str,
    value: float | None,
    limit: float | None,
) -> None:
    out.add(Finding(sev, rule, clause, text, rel, i, m.name, "EV" if m.from_ev else "station", value, limit))


def value_rules(messages: Sequence[ReportMessage], t0: float, out: Collector) -> None:
    """EV values against the EV's own announced maxima, the station's maxima and the schema ranges."""
    ev_max: dict[str, float] = {}
    evse_max: dict[str, float] = {}
    departure_abs: tuple[float, float] | None = None  # (announced at, absolute departure)
    lim = session_limits(messages)
    for i, m in enumerate(messages):
        if not m.family or not m.body:
            continue
        q, bad = quantities(m.body, m.from_ev)
        rel = m.t - t0

        f = functools.partial(_add, out, m, i, rel)

        for b in bad:
            f("error", "value-outside-schema-type", lim.clause_values, f"{m.name}: {b}", None, None)
        if not m.from_ev:
            for k in ("evse_max_voltage", "evse_max_current", "evse_max_power"):
                if k in q:
                    evse_max[k] = q[k]
            continue
        for k in ("ev_max_voltage", "ev_max_current", "ev_max_power"):
            if k in q:
                ev_max[k] = q[k]
        tv, ti = q.get("ev_target_voltage"), q.get("ev_target_current")
        if tv is not None and "ev_max_voltage" in ev_max and tv > ev_max["ev_max_voltage"]:
            f(
                "error",
                "ev-target-voltage-above-ev-max",
                f"{lim.clause_values}: EVTargetVoltage within the EV's EVMaximumVoltageLimit",
                f"EVTargetVoltage {tv:g} V is above the EV's own maximum voltage {ev_max['ev_max_voltage']:g} V",
                tv,
                ev_max["ev_max_voltage"],
            )
        if ti is not None and "ev_max_current" in ev_max and ti > ev_max["ev_max_current"]:
            f(
                "error",
                "ev-target-current-above-ev-max",
                f"{lim.clause_values}: EVTargetCurrent within the EV's EVMaximumCurrentLimit",
                f"EVTargetCurrent {ti:g} A is above the EV's own maximum current {ev_max['ev_max_current']:g} A",
                ti,
                ev_max["ev_max_current"],
            )
        if tv is not None and ti is not None and "ev_max_power" in ev_max and ti > 0:
            p = tv * ti
            if p > ev_max["ev_max_power"] * POWER_TOLERANCE:
                f(
                    "warning",
                    "ev-target-power-above-ev-max",
                    f"{lim.clause_values}: EVMaximumPowerLimit",
                    f"EVTargetVoltage x EVTargetCurrent = {p:g} W is above the EV's own maximum power "
                    f"{ev_max['ev_max_power']:g} W",
                    p,
                    ev_max["ev_max_power"],
                )
        if tv is not None and "evse_max_voltage" in evse_max and tv > evse_max["evse_max_voltage"]:
            f(
                "warning",
                "ev-target-voltage-above-evse-max",
                f"{lim.clause_values}: EVSEMaximumVoltageLimit announced by the station",
                f"EVTargetVoltage {tv:g} V is above the station's maximum voltage {evse_max['evse_max_voltage']:g} V",
                tv,
                evse_max["evse_max_voltage"],
            )
        if ti is not None and "evse_max_current" in evse_max and ti > evse_max["evse_max_current"]:
            f(
                "warning",
                "ev-target-current-above-evse-max",
                f"{lim.clause_values}: EVSEMaximumCurrentLimit announced by the station",
                f"EVTargetCurrent {ti:g} A is above the station's maximum current {evse_max['evse_max_current']:g} A",
                ti,
                evse_max["evse_max_current"],
            )
        soc = q.get("soc")
        if soc is not None and not 0.0 <= soc <= 100.0:
            f(
                "error",
                "soc-out-of-range",
                SCHEMA_SOC,
                f"state of charge {soc:g} % is outside 0..100 %",
                soc,
                100.0,
            )
        dep = q.get("departure_s")
        if dep is not None:
            if dep < 0:
                f(
                    "error",
                    "departure-negative",
                    f"{lim.clause_values}: DepartureTime (seconds from now, unsignedInt)",
                    f"DepartureTime {dep:g} s is negative",
                    dep,
                    0.0,
                )
            elif departure_abs is not None:
                then, before = departure_abs
                drift = (m.t + dep) - before
                if abs(drift) > DEPARTURE_TOLERANCE_S:
                    f(
                        "warning",
                        "departure-inconsistent",
                        f"{lim.clause_values}: DepartureTime is counted from the message it is sent in",
                        f"DepartureTime {dep:g} s puts the departure {drift:+.0f} s away from the one announced "
                        f"{m.t - then:.1f} s earlier (tolerance {DEPARTURE_TOLERANCE_S:g} s)",
                        drift,
                        DEPARTURE_TOLERANCE_S,
                    )
            if dep >= 0:
                departure_abs = (m.t, m.t + dep)


def framing_rules(messages: Sequence[ReportMessage], t0: float, out: Collector) -> None:
    """Bytes that are not V2GTP, payloads the codec rejects, a session that ends without SessionStopReq."""
    lim = session_limits(messages)
    for i, m in enumerate(messages):
        who = "EV" if m.from_ev else "station"
        if m.kind == "raw":
            out.add(
                Finding(
                    "error" if m.from_ev else "warning",
                    "not-v2gtp",
                    "ISO 15118-2:2014 7.8.3 / ISO 15118-20 7.8.3 (V2GTP header: version 0x01, inverse 0xFE, payload "
                    "type, length)",
                    f"the {who} sent {m.size} bytes that are not a V2GTP message ({m.error or m.name})",
                    m.t - t0,
                    i,
                    m.name,
                    "EV" if m.from_ev else "station",
                )
            )
        elif m.kind == "undecodable":
            out.add(
                Finding(
                    "error" if m.from_ev else "warning",
                    "exi-undecodable",
                    "EXI stream per the schema negotiated in supportedAppProtocol (ISO 15118-2:2014 7.9, "
                    "DIN SPEC 70121 8.x, ISO 15118-20 7.9)",
                    f"the {who} sent a V2GTP payload of {m.size} bytes that does not decode: {m.error}",
                    m.t - t0,
                    i,
                    m.name,
                    "EV" if m.from_ev else "station",
                )
            )
    v2g = [m for m in messages if m.family or m.kind == "sap"]
    if not v2g:
        if any(m.kind in ("raw", "undecodable", "TLS") for m in messages):
            last = messages[-1]
            out.add(
                Finding(
                    "error",
                    "no-v2g-session",
                    "ISO 15118-2:2014 8.2 / ISO 15118-20 8.2 (the session starts with supportedAppProtocolReq)",
                    "the connection carried no decodable V2G message; it ended "
                    f"{last.t - t0:.3f} s after its first byte",
                    last.t - t0,
                    len(messages) - 1,
                    last.name,
                    "session",
                )
            )
        return
    ev_requests = [(i, m) for i, m in enumerate(messages) if m.from_ev and m.is_request]
    if ev_requests and not any(m.base == "SessionStop" for _, m in ev_requests):
        i, last = ev_requests[-1]
        failed = any(
            not m.from_ev
            and isinstance(m.body.get("ResponseCode"), str)
            and "FAILED" in m.body["ResponseCode"]
            for m in messages
        )
        out.add(
            Finding(
                "info" if failed else "warning",
                "no-session-stop",
                f"{lim.clause_values}: a session ends with SessionStopReq",
                f"the EV ended the connection without SessionStopReq; its last request was {last.name} at "
                f"+{last.t - t0:.3f} s" + (" (after a FAILED response)" if failed else ""),
                last.t - t0,
                i,
                last.name,
                "EV",
            )
        )
