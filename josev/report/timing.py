"""Timing: response times per request type against the protocol's limits, the EV's pace between a response and
its next request, and the loops (cable check, pre-charge, EVSEProcessing Ongoing) against their timers."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from josev.report.limits import LOOP_OF_REQUEST, SAP_TIMEOUT, Limits
from josev.report.model import Finding, ReportMessage, Timing
from josev.report.rules import Collector


def pair_responses(messages: Sequence[ReportMessage]) -> dict[int, tuple[int, float]]:
    """Response index -> (request index, response time) for each answered request (per connection)."""
    pending: dict[tuple[int, str], int] = {}
    out: dict[int, tuple[int, float]] = {}
    for i, m in enumerate(messages):
        if m.from_ev and m.is_request:
            pending[(m.connection, m.base)] = i
        elif not m.from_ev and m.is_response:
            j = pending.pop((m.connection, m.base), None)
            if j is not None:
                out[i] = (j, m.t - messages[j].t)
    return out


def _limits_of(base: str, lim: Limits) -> tuple[float | None, float | None]:
    """(EV message timeout, station performance time) of a request (SDP is not timed here)."""
    if base == "SECCDiscovery":
        return None, None
    if base == "supportedAppProtocol":
        return SAP_TIMEOUT, lim.performance_default
    return lim.ev_timeout_of(base), lim.performance_of(base)


def timings(
    messages: Sequence[ReportMessage], pairs: dict[int, tuple[int, float]], lim: Limits
) -> tuple[list[Timing], dict[str, list[tuple[float, float]]]]:
    """The timing table (first-seen order of the requests) and the response-time series per request."""
    t0 = messages[0].t if messages else 0.0
    per: dict[str, list[tuple[float, float]]] = {}
    for _, (j, rt) in sorted(pairs.items()):
        per.setdefault(messages[j].name, []).append((messages[j].t - t0, rt))
    table = []
    for name, pts in per.items():
        base = name[:-3]
        rts = [rt for _, rt in pts]
        timeout, perf = _limits_of(base, lim)
        over = sum(1 for rt in rts if perf is not None and rt > perf)
        table.append(
            Timing(
                name,
                len(rts),
                min(rts),
                statistics.median(rts),
                max(rts),
                timeout,
                perf,
                over,
                lim.timeout_table,
            )
        )
    return table, per


def timing_rules(
    messages: Sequence[ReportMessage], pairs: dict[int, tuple[int, float]], lim: Limits, out: Collector
) -> None:
    if not messages:
        return
    t0 = messages[0].t
    # the station's answers against the EV's timeout and the station's performance time
    for i, (j, rt) in pairs.items():
        req = messages[j]
        timeout, perf = _limits_of(req.base, lim)
        if timeout is not None and rt > timeout:
            out.add(
                Finding(
                    "warning",
                    "station-response-after-ev-timeout",
                    f"{lim.timeout_table}: V2G_EVCC_Msg_Timeout",
                    f"the station answered {req.name} after {rt * 1e3:.0f} ms, later than the EV's "
                    f"V2G_EVCC_Msg_Timeout of {timeout * 1e3:.0f} ms",
                    messages[i].t - t0,
                    i,
                    messages[i].name,
                    "station",
                    rt,
                    timeout,
                )
            )
        elif perf is not None and rt > perf:
            out.add(
                Finding(
                    "info",
                    "station-response-after-performance-time",
                    f"{lim.timeout_table}: V2G_SECC_Msg_Performance_Time",
                    f"the station answered {req.name} after {rt * 1e3:.1f} ms (V2G_SECC_Msg_Performance_Time "
                    f"{perf * 1e3:.0f} ms)",
                    messages[i].t - t0,
                    i,
                    messages[i].name,
                    "station",
                    rt,
                    perf,
                )
            )
    # the EV's pace: from a response to its next request; a request while one is still unanswered
    last_res: dict[int, float] = {}
    waiting: dict[int, int] = {}
    for i, m in enumerate(messages):
        if not (m.family or m.kind == "sap"):
            continue
        if not m.from_ev and m.is_response:
            last_res[m.connection] = m.t
            waiting.pop(m.connection, None)
            continue
        if not (m.from_ev and m.is_request):
            continue
        if m.connection in waiting:
            prev = messages[waiting[m.connection]]
            out.add(
                Finding(
                    "error",
                    "request-while-waiting",
                    f"{lim.standard}: request-response messaging, one request at a time ({lim.timeout_table})",
                    f"the EV sent {m.name} while its {prev.name} (+{prev.t - t0:.3f} s) was still unanswered",
                    m.t - t0,
                    i,
                    m.name,
                )
            )
        waiting[m.connection] = i
        if m.connection in last_res:
            gap = m.t - last_res[m.connection]
            if gap > lim.secc_sequence_timeout:
                out.add(
                    Finding(
                        "error",
                        "ev-sequence-timeout",
                        f"{lim.timeout_table}: V2G_SECC_Sequence_Timeout",
                        f"the EV sent {m.name} {gap:.1f} s after the previous response; the station may close the "
                        f"session after V2G_SECC_Sequence_Timeout ({lim.secc_sequence_timeout:g} s)",
                        m.t - t0,
                        i,
                        m.name,
                        "EV",
                        gap,
                        lim.secc_sequence_timeout,
                    )
                )
            elif lim.ev_sequence_performance is not None and gap > lim.ev_sequence_performance:
                out.add(
                    Finding(
                        "warning",
                        "ev-sequence-performance",
                        f"{lim.timeout_table}: V2G_EVCC_Sequence_Performance_Time, [V2G2-485]",
                        f"the EV sent {m.name} {gap:.1f} s after the previous response "
                        f"(V2G_EVCC_Sequence_Performance_Time {lim.ev_sequence_performance:g} s)",
                        m.t - t0,
                        i,
                        m.name,
                        "EV",
                        gap,
                        lim.ev_sequence_performance,
                    )
                )
    loop_rules(messages, lim, out)


def loop_rules(messages: Sequence[ReportMessage], lim: Limits, out: Collector) -> None:
    """A repeated request (cable check, pre-charge, an Ongoing answer) must not go on past its loop timer."""
    t0 = messages[0].t
    run: tuple[str, int] | None = None  # (request base, index of the first request of the run)
    for i, m in enumerate(messages):
        if not (m.from_ev and m.is_request and m.family):
            continue
        loop = LOOP_OF_REQUEST.get(m.base)
        if run is None or run[0] != m.base:
            run = (m.base, i) if loop else None
            continue
        if loop is None or loop not in lim.loops:
            continue
        param, limit, clause = lim.loops[loop]
        first = messages[run[1]]
        elapsed = m.t - first.t
        if elapsed > limit:
            out.add(
                Finding(
                    "error",
                    f"ev-{loop.lower()}-loop-too-long",
                    f"{clause}: {param}",
                    f"the EV was still sending {m.name} {elapsed:.1f} s after its first one "
                    f"(+{first.t - t0:.3f} s); {param} is {limit:g} s",
                    m.t - t0,
                    i,
                    m.name,
                    "EV",
                    elapsed,
                    limit,
                )
            )
