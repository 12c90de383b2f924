"""Build the report of one session from its decoded messages (sans-IO)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from josev.report import reaction
from josev.report.model import Report, ReportMessage, StationAction
from josev.report.quantities import quantities
from josev.report.rules import Collector, framing_rules, session_limits, value_rules
from josev.report.timing import pair_responses, timing_rules, timings

SERIES = (
    "ev_target_voltage",
    "ev_target_current",
    "ev_target_power",
    "evse_present_voltage",
    "evse_present_current",
    "evse_present_power",
    "ev_max_voltage",
    "evse_max_voltage",
    "soc",
)


def _direction(m: ReportMessage) -> str:
    if m.kind == "SLAC":
        return "PLC"
    return "EV->SECC" if m.from_ev else "SECC->EV"


def build_report(
    messages: Iterable[ReportMessage],
    actions: Sequence[StationAction] = (),
    meta: Mapping[str, Any] | None = None,
) -> Report:
    """The report of one session: ``messages`` in time order (they are sorted stably), ``actions`` what the
    station did on purpose, ``meta`` free information (file, EVSE, ...) copied into the report."""
    msgs = sorted(messages, key=lambda m: m.t)
    t0 = msgs[0].t if msgs else 0.0
    lim = session_limits(msgs)
    pairs = pair_responses(msgs)
    out = Collector()
    framing_rules(msgs, t0, out)
    value_rules(msgs, t0, out)
    timing_rules(msgs, pairs, lim, out)
    table, per_request = timings(msgs, pairs, lim)
    reactions = reaction.evaluate(actions, msgs, t0, lim)

    rows: list[dict[str, Any]] = []
    series: dict[str, list[float | None]] = {"t": [], **{k: [] for k in SERIES}}
    for i, m in enumerate(msgs):
        q, _ = quantities(m.body, m.from_ev) if m.body else ({}, [])
        if "ev_target_voltage" in q and "ev_target_current" in q:
            q["ev_target_power"] = q["ev_target_voltage"] * q["ev_target_current"]
        if "evse_present_voltage" in q and "evse_present_current" in q:
            q["evse_present_power"] = q["evse_present_voltage"] * q["evse_present_current"]
        code = m.body.get("ResponseCode") if m.body else None
        processing = m.body.get("EVSEProcessing") if m.body else None
        rt = pairs.get(i)
        rows.append(
            {
                "i": i,
                "t": round(m.t - t0, 6),
                "dir": _direction(m),
                "kind": m.kind,
                "name": m.name,
                "code": code if isinstance(code, str) else "",
                "processing": processing if isinstance(processing, str) else "",
                "rt_ms": round(rt[1] * 1e3, 3) if rt else None,
                "size": m.size,
                "values": {k: round(v, 6) for k, v in q.items()},
                "error": m.error,
            }
        )
        plotted = {k: v for k, v in q.items() if k in SERIES}
        if plotted:
            series["t"].append(round(m.t - t0, 6))
            for k in SERIES:
                series[k].append(plotted.get(k))
    families = sorted({m.family for m in msgs if m.family})
    namespace = ""
    for m in msgs:
        if m.kind == "sap" and not m.from_ev and isinstance(m.body.get("SchemaID"), int):
            namespace = _namespace_of(msgs, m.body["SchemaID"])
    info: dict[str, Any] = {
        "protocol": lim.standard if families else "",
        "families": families,
        "namespace": namespace,
        "start": dt.datetime.fromtimestamp(t0, dt.UTC).isoformat(timespec="milliseconds") if msgs else None,
        "start_epoch": t0 if msgs else None,
        "duration_s": round(msgs[-1].t - t0, 6) if msgs else 0.0,
        "messages": len(msgs),
        "ev_requests": sum(1 for m in msgs if m.from_ev and m.is_request),
        "session_id": _session_id(msgs),
    }
    info.update(meta or {})
    return Report(
        meta=info,
        messages=msgs,
        rows=rows,
        timings=table,
        findings=out.findings(),
        actions=list(actions),
        reactions=reactions,
        series=series,
        response_times=per_request,
    )


def _namespace_of(msgs: Sequence[ReportMessage], schema_id: int) -> str:
    for m in msgs:
        if m.kind == "sap" and m.from_ev:
            entries = m.body.get("AppProtocol") or []
            entries = entries if isinstance(entries, list) else [entries]
            for e in entries:
                if isinstance(e, Mapping) and e.get("SchemaID") == schema_id:
                    return str(e.get("ProtocolNamespace", ""))
    return ""


def _session_id(msgs: Sequence[ReportMessage]) -> str:
    for m in msgs:
        if not m.from_ev and m.base == "SessionSetup":
            header = m.body.get("Header")
            sid = header.get("SessionID") if isinstance(header, Mapping) else None
            if sid is None:
                sid = m.body.get("SessionID")
            if sid:
                return str(sid)
    return ""
