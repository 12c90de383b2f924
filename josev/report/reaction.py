"""The car's reaction to what the station did on purpose (:class:`~josev.report.model.StationAction`).

Each action kind has a rule the EV must follow afterwards (:data:`REACTIONS`); the evaluation returns one
finding per action: ``ok`` when the EV did what the rule asks, ``error``/``warning`` when not. A FAILED response
code in the session counts as a ``failed`` action even when no scenario announced it (``detail["implicit"]``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from josev.report.limits import LOOP_OF_REQUEST, Limits
from josev.report.model import Finding, ReportMessage, StationAction
from josev.report.quantities import first_str, number, quantities

STOP_DEFAULT_S = 10.0
"""How long an EV has to stop after the station asked it to when no NotificationMaxDelay was sent."""
AT_ONCE_S = 2.0
"""NotificationMaxDelay 0 (or an emergency shutdown) means at once: the EV's next request must be the stop (or
the renegotiation), and the report bounds its time by the default V2G_EVCC_Msg_Timeout (the standards give the
order, not a figure)."""
LIMIT_LOOPS = 2
"""Charge-loop requests an EV may take to bring its target within a lowered EVSE maximum (the report's bound:
the standards say the EV's request respects the EVSE's present limits, without a figure)."""
FAILED_STOP_S = 2.0
"""How long an EV has to end the session after a FAILED response (it waits for nothing: the default
V2G_EVCC_Msg_Timeout is used as the bound)."""


@dataclass(frozen=True)
class Reaction:
    rule: str
    expect: str
    """What the EV must do, in words (shown in the report)."""
    clause: Callable[[Limits], str]
    evaluate: Callable[[StationAction, Sequence[ReportMessage], float, Limits], Finding]


def _after(messages: Sequence[ReportMessage], t: float) -> list[tuple[int, ReportMessage]]:
    return [(i, m) for i, m in enumerate(messages) if m.t > t]


def _ev_requests_after(messages: Sequence[ReportMessage], t: float) -> list[tuple[int, ReportMessage]]:
    return [(i, m) for i, m in _after(messages, t) if m.from_ev and m.is_request]


def _within(a: StationAction, default: float) -> float:
    w = a.detail.get("within")
    return float(w) if isinstance(w, int | float) and not isinstance(w, bool) else default


def _finding(
    a: StationAction,
    ok: bool,
    rule: str,
    clause: str,
    text: str,
    t0: float,
    at: tuple[int, ReportMessage] | None = None,
    value: float | None = None,
    limit: float | None = None,
    bad: str = "error",
) -> Finding:
    sev = "ok" if ok else bad
    i, m = at if at is not None else (None, None)
    return Finding(
        sev,  # type: ignore[arg-type]
        rule,
        clause,
        text,
        (m.t if m is not None else a.t) - t0,
        i,
        m.name if m is not None else a.request,
        "EV",
        value,
        limit,
    )


def _failed(a: StationAction, msgs: Sequence[ReportMessage], t0: float, lim: Limits) -> Finding:
    within = _within(a, FAILED_STOP_S)
    clause = lim.clause_failed
    later = _ev_requests_after(msgs, a.t)
    wrong = [(i, m) for i, m in later if m.base != "SessionStop"]
    what = f"{a.request or 'a request'} answered FAILED at +{a.t - t0:.3f} s"
    if wrong:
        i, m = wrong[0]
        return _finding(
            a, False, "ev-continued-after-failed", clause,
            f"{what}; the EV went on with {m.name} {m.t - a.t:.3f} s later instead of ending the session",
            t0, (i, m), m.t - a.t, within,
        )  # fmt: skip
    ev_after = [(i, m) for i, m in _after(msgs, a.t) if m.from_ev]
    end = ev_after[-1][1].t if ev_after else a.t
    took = end - a.t
    ok = took <= within
    how = "with SessionStopReq" if later else "by closing the connection"
    return _finding(
        a, ok, "ev-stops-after-failed", clause,
        f"{what}; the EV ended the session {how} {took:.3f} s later (allowed {within:g} s)",
        t0, ev_after[-1] if ev_after else None, took, within,
    )  # fmt: skip


def _late(a: StationAction, msgs: Sequence[ReportMessage], t0: float, lim: Limits) -> Finding:
    base = a.request[:-3] if a.request.endswith(("Req", "Res")) else a.request
    timeout = lim.ev_timeout_of(base)
    delay = a.detail.get("delay")
    delay_f = float(delay) if isinstance(delay, int | float) and not isinstance(delay, bool) else None
    clause = f"{lim.timeout_table}: V2G_EVCC_Msg_Timeout"
    later = _ev_requests_after(msgs, a.t)
    if delay_f is None or delay_f > timeout:
        after_timeout = [(i, m) for i, m in later if m.t > a.t + timeout and m.base != "SessionStop"]
        what = "never" if delay_f is None else f"after {delay_f:g} s"
        if after_timeout:
            i, m = after_timeout[0]
            return _finding(
                a, False, "ev-ignored-msg-timeout", clause,
                f"the station answered {a.request} {what}, beyond the EV's V2G_EVCC_Msg_Timeout of {timeout:g} s; "
                f"the EV still sent {m.name} {m.t - a.t:.3f} s later instead of ending the session",
                t0, (i, m), m.t - a.t, timeout,
            )  # fmt: skip
        return _finding(
            a, True, "ev-stops-after-msg-timeout", clause,
            f"the station answered {a.request} {what} (V2G_EVCC_Msg_Timeout {timeout:g} s); the EV sent no further "
            "request but SessionStopReq",
            t0, None, None, timeout,
        )  # fmt: skip
    went_on = [(i, m) for i, m in later if m.t >= a.t + delay_f]
    if went_on:
        i, m = went_on[0]
        return _finding(
            a, True, "ev-accepts-late-response", clause,
            f"the station answered {a.request} after {delay_f:g} s, within V2G_EVCC_Msg_Timeout {timeout:g} s; "
            f"the EV went on with {m.name}",
            t0, (i, m), delay_f, timeout,
        )  # fmt: skip
    return _finding(
        a, False, "ev-gave-up-before-timeout", clause,
        f"the station answered {a.request} after {delay_f:g} s, within V2G_EVCC_Msg_Timeout {timeout:g} s, "
        "but the EV sent nothing more",
        t0, None, delay_f, timeout, bad="warning",
    )  # fmt: skip


def _is_stop(m: ReportMessage) -> bool:
    if m.base == "SessionStop":
        return True
    if m.base != "PowerDelivery":
        return False
    progress = first_str(m.body, "ChargeProgress")
    ready = m.body.get("ReadyToChargeState")
    return progress == "Stop" or ready is False


def _notification_delay(a: StationAction, msgs: Sequence[ReportMessage]) -> float | None:
    """NotificationMaxDelay of the first station message at or after the action that carries one."""
    for _, m in _after(msgs, a.t - 1e-6):
        if not m.from_ev:
            v = next((v for name, v in _items(m.body) if name == "NotificationMaxDelay"), None)
            delay = number(v) if v is not None else None
            if delay is not None:
                return delay
    return None


def _stop(a: StationAction, msgs: Sequence[ReportMessage], t0: float, lim: Limits) -> Finding:
    delay = _notification_delay(a, msgs)
    at_once = delay == 0 and "within" not in a.detail  # NotificationMaxDelay 0: the next request must stop
    within = _within(a, AT_ONCE_S if delay == 0 else STOP_DEFAULT_S if delay is None else delay)
    clause = lim.clause_stop
    asked = f"the station asked the EV to stop at +{a.t - t0:.3f} s"
    if a.detail.get("status_code"):
        asked += f" ({a.detail['status_code']})"
    elif a.detail.get("notification"):
        asked += f" (EVSENotification {a.detail['notification']}, NotificationMaxDelay {delay or 0:g} s)"
    later = _ev_requests_after(msgs, a.t)
    if at_once and later and not _is_stop(later[0][1]):
        i, m = later[0]
        return _finding(
            a, False, "ev-stops-when-asked", clause,
            f"{asked}; the EV's next request was {m.name} {m.t - a.t:.3f} s later instead of stopping at once",
            t0, (i, m), m.t - a.t, within,
        )  # fmt: skip
    for i, m in later:
        if _is_stop(m):
            took = m.t - a.t
            return _finding(
                a, took <= within, "ev-stops-when-asked", clause,
                f"{asked}; the EV sent {m.name} {took:.3f} s later (allowed {within:g} s)",
                t0, (i, m), took, within,
            )  # fmt: skip
    return _finding(
        a, False, "ev-stops-when-asked", clause,
        f"{asked}; the EV never sent PowerDeliveryReq(Stop) or SessionStopReq",
        t0, None, None, within,
    )  # fmt: skip


def _items(body: object) -> list[tuple[str, object]]:
    from josev.report.quantities import walk

    return list(walk(body))


def _ongoing(a: StationAction, msgs: Sequence[ReportMessage], t0: float, lim: Limits) -> Finding:
    base = a.request[:-3] if a.request.endswith(("Req", "Res")) else a.request
    loop = lim.loops.get(LOOP_OF_REQUEST.get(base, "Ongoing")) or lim.loops.get("Ongoing")
    param, timer, clause = loop if loop else ("", None, f"{lim.timeout_table}: EVSEProcessing Ongoing")
    clause = f"{clause}: EVSEProcessing Ongoing, the EV repeats its request" + (
        f" within {param}" if param else ""
    )
    until = a.detail.get("until")
    until_f = float(until) if isinstance(until, int | float) and not isinstance(until, bool) else None
    later = _ev_requests_after(msgs, a.t)
    what = f"the station answered {a.request} with EVSEProcessing Ongoing"
    if not later:
        return _finding(
            a, False, "ev-retries-after-ongoing", clause, f"{what}; the EV sent no further request", t0,
            None, 0.0, timer,
        )  # fmt: skip
    repeats = []
    for i, m in later:
        if m.base != base:
            break
        repeats.append((i, m))
    held = [r for r in repeats if until_f is None or r[1].t <= until_f + 1e-3]
    polled = (held[-1][1].t - a.t) if held else 0.0
    gaps = [b[1].t - x[1].t for x, b in itertools.pairwise(held)]
    nxt = later[len(repeats)] if len(repeats) < len(later) else None
    if not repeats:
        i, m = later[0]
        return _finding(
            a, False, "ev-retries-after-ongoing", clause,
            f"{what}; the EV's next request was {m.name} {m.t - a.t:.3f} s later (it must repeat the request)",
            t0, (i, m), m.t - a.t, timer,
        )  # fmt: skip
    how = f"the EV repeated it {len(held)} time(s) over {polled:.3f} s" + (
        f" (at most {max(gaps):.3f} s apart)" if gaps else ""
    )
    if until_f is not None and nxt is None and repeats[-1][1].t < until_f - 1e-6:
        gave_up_early = timer is not None and polled < timer
        return _finding(
            a, not gave_up_early, "ev-retries-after-ongoing", clause,
            f"{what} until +{until_f - t0:.3f} s; {how}, then gave up"
            + (f" before {param} ({timer:g} s)" if gave_up_early else ""),
            t0, repeats[-1], polled, timer, bad="warning",
        )  # fmt: skip
    if nxt is not None and until_f is not None and nxt[1].t < until_f - 1e-6:
        i, m = nxt
        return _finding(
            a, False, "ev-retries-after-ongoing", clause,
            f"{what}; {how}, then sent {m.name} while the station still answered Ongoing",
            t0, (i, m), polled, timer,
        )  # fmt: skip
    ok = timer is None or polled <= timer
    end = f", then went on with {nxt[1].name}" if nxt is not None else ""
    return _finding(
        a, ok, "ev-retries-after-ongoing", clause,
        f"{what}" + (f" until +{until_f - t0:.3f} s" if until_f is not None else "") + f"; {how}{end}",
        t0, nxt or repeats[0], polled, timer,
    )  # fmt: skip


def _target_over(m: ReportMessage, caps: dict[str, float]) -> list[str] | None:
    """What of the EV's target breaks ``caps`` (empty: within); None when the message has no target."""
    q, _ = quantities(m.body, True)
    cur, volt = q.get("ev_target_current"), q.get("ev_target_voltage")
    if cur is None and volt is None:
        return None
    over = []
    if "current_a" in caps and cur is not None and cur > caps["current_a"] * 1.001 + 0.01:
        over.append(f"EVTargetCurrent {cur:g} A > {caps['current_a']:g} A")
    if "voltage_v" in caps and volt is not None and volt > caps["voltage_v"] * 1.001 + 0.01:
        over.append(f"EVTargetVoltage {volt:g} V > {caps['voltage_v']:g} V")
    if (
        "power_w" in caps
        and cur is not None
        and volt is not None
        and cur * volt > caps["power_w"] * 1.001 + 1
    ):
        over.append(f"target power {cur * volt:g} W > {caps['power_w']:g} W")
    return over


def _limit(a: StationAction, msgs: Sequence[ReportMessage], t0: float, lim: Limits) -> Finding:
    caps = {
        k: float(v)
        for k in ("current_a", "power_w", "voltage_v")
        if isinstance(v := a.detail.get(k), int | float)
    }
    clause = lim.clause_limit
    units = {"current_a": "A", "power_w": "W", "voltage_v": "V"}
    lowered = ", ".join(f"{v:g} {units[k]}" for k, v in caps.items())
    what = f"the station lowered its maximum to {lowered} at +{a.t - t0:.3f} s"
    loops = [(i, m) for i, m in _ev_requests_after(msgs, a.t) if m.base in lim.charge_loop]
    checked = [(i, m, over) for i, m in loops if (over := _target_over(m, caps)) is not None]
    if not checked:
        return Finding(
            "info", "ev-target-follows-limit", clause,
            f"{what}; no charge-loop request with a target followed, nothing to check",
            a.t - t0, None, a.request, "EV", None, float(LIMIT_LOOPS),
        )  # fmt: skip
    first = next((n for n, (_, _, over) in enumerate(checked, 1) if not over), None)
    if first is None:
        i, m, over = checked[-1]
        return _finding(
            a, False, "ev-target-follows-limit", clause,
            f"{what}; none of the EV's {len(checked)} following charge-loop requests kept within it "
            f"(last: {'; '.join(over)})",
            t0, (i, m), float(len(checked)), float(LIMIT_LOOPS),
        )  # fmt: skip
    again = next(((i, m, over) for i, m, over in checked[first:] if over), None)
    i, m, _ = checked[first - 1]
    if again is not None:
        j, m2, over = again
        return _finding(
            a, False, "ev-target-follows-limit", clause,
            f"{what}; the EV followed at its request {first} but went above it again: {m2.name} {'; '.join(over)}",
            t0, (j, m2), float(first), float(LIMIT_LOOPS),
        )  # fmt: skip
    return _finding(
        a, first <= LIMIT_LOOPS, "ev-target-follows-limit", clause,
        f"{what}; the EV's target kept within it from its charge-loop request {first} on ({m.name} "
        f"{m.t - a.t:.3f} s later; allowed {LIMIT_LOOPS} requests)",
        t0, (i, m), float(first), float(LIMIT_LOOPS),
    )  # fmt: skip


def _is_renegotiation(m: ReportMessage) -> bool:
    if m.base in ("ChargeParameterDiscovery", "ScheduleExchange"):
        return True
    return m.base == "PowerDelivery" and first_str(m.body, "ChargeProgress") == "Renegotiate"


def _renegotiate(a: StationAction, msgs: Sequence[ReportMessage], t0: float, lim: Limits) -> Finding:
    delay = _notification_delay(a, msgs)
    within = _within(a, delay if delay else AT_ONCE_S)
    clause = lim.clause_renegotiate
    what = f"the station asked the EV to renegotiate at +{a.t - t0:.3f} s"
    for i, m in _ev_requests_after(msgs, a.t):
        if _is_renegotiation(m):
            took = m.t - a.t
            return _finding(
                a, took <= within, "ev-renegotiates-when-asked", clause,
                f"{what}; the EV sent {m.name} {took:.3f} s later (allowed {within:g} s)",
                t0, (i, m), took, within,
            )  # fmt: skip
        if _is_stop(m):
            return _finding(
                a, False, "ev-renegotiates-when-asked", clause,
                f"{what}; the EV stopped ({m.name}) instead of renegotiating",
                t0, (i, m), m.t - a.t, within, bad="warning",
            )  # fmt: skip
    return _finding(
        a, False, "ev-renegotiates-when-asked", clause, f"{what}; the EV never renegotiated",
        t0, None, None, within,
    )  # fmt: skip


def _drop(a: StationAction, msgs: Sequence[ReportMessage], t0: float, lim: Limits) -> Finding:
    later = [(i, m) for i, m in _after(msgs, a.t) if m.from_ev]
    clause = f"{lim.standard}: a new session starts with SDP and supportedAppProtocol on a new connection"
    if later:
        i, m = later[0]
        return _finding(
            a, False, "ev-silent-after-link-drop", clause,
            f"the station dropped the link at +{a.t - t0:.3f} s, yet {len(later)} EV message(s) followed on this "
            f"connection (first {m.name})",
            t0, (i, m), bad="warning",
        )  # fmt: skip
    return _finding(
        a, True, "ev-silent-after-link-drop", clause,
        f"the station dropped the link at +{a.t - t0:.3f} s; the EV sent nothing more on this connection",
        t0,
    )  # fmt: skip


def _reconnect(a: StationAction, msgs: Sequence[ReportMessage], t0: float, lim: Limits) -> Finding:
    """This session follows a connection (or link) the station dropped at ``a.t``: the EV must start again from
    SDP and supportedAppProtocolReq (a new V2G communication session)."""
    clause = (
        f"{lim.standard}: after a lost connection the EV starts again with SDP and supportedAppProtocolReq"
    )
    what = (
        f"the station dropped the EVSE's previous {'link' if a.detail.get('link_down_s') else 'connection'}"
    )
    ev = [(i, m) for i, m in _after(msgs, a.t) if m.from_ev]
    if not ev:
        return _finding(a, False, "ev-reconnects-after-drop", clause, f"{what}; no EV message followed", t0,
                        bad="warning")  # fmt: skip
    i, m = ev[0]
    took = m.t - a.t
    firsts = [x.name for _, x in ev if x.is_request][:2]
    ok = bool(firsts) and firsts[0] in ("SECCDiscoveryReq", "supportedAppProtocolReq")
    if firsts and firsts[0] == "SECCDiscoveryReq":
        ok = len(firsts) > 1 and firsts[1] == "supportedAppProtocolReq"
    setup = next((x for _, x in ev if x.base == "SessionSetup"), None)
    sid = first_str(setup.body, "SessionID") if setup is not None else None
    resumed = bool(sid) and set(str(sid)) != {"0"}
    how = f"{' then '.join(firsts)}" + (f", resuming SessionID {sid}" if resumed else "")
    return _finding(
        a, ok, "ev-reconnects-after-drop", clause,
        f"{what} {took:.3f} s before this session; the EV began with {how}"
        + ("" if ok else " (it must start with SDP / supportedAppProtocolReq)"),
        t0, (i, m), took, None, bad="warning",
    )  # fmt: skip


REACTIONS: dict[str, Reaction] = {
    "failed": Reaction("ev-stops-after-failed", "end the session (SessionStopReq or close) and send nothing else",
                       lambda lim: lim.clause_failed, _failed),
    "late": Reaction("ev-stops-after-msg-timeout", "wait up to V2G_EVCC_Msg_Timeout, then end the session",
                     lambda lim: lim.timeout_table, _late),
    "no_response": Reaction("ev-stops-after-msg-timeout", "end the session after V2G_EVCC_Msg_Timeout",
                            lambda lim: lim.timeout_table, _late),
    "stop_charging": Reaction("ev-stops-when-asked", "send PowerDeliveryReq(Stop) within NotificationMaxDelay",
                              lambda lim: lim.clause_stop, _stop),
    "ongoing": Reaction("ev-retries-after-ongoing", "repeat the same request",
                        lambda lim: lim.timeout_table, _ongoing),
    "drop_link": Reaction("ev-silent-after-link-drop", "send nothing more on the dropped connection",
                          lambda lim: lim.standard, _drop),
    "reconnect": Reaction("ev-reconnects-after-drop", "start a new session with SDP and supportedAppProtocolReq",
                          lambda lim: lim.standard, _reconnect),
    "limit": Reaction("ev-target-follows-limit", f"keep its target within the new maximum within {LIMIT_LOOPS} "
                      "charge-loop requests", lambda lim: lim.clause_limit, _limit),
    "renegotiate": Reaction("ev-renegotiates-when-asked", "renegotiate (PowerDelivery Renegotiate / "
                            "ChargeParameterDiscovery / ScheduleExchange) within NotificationMaxDelay",
                            lambda lim: lim.clause_renegotiate, _renegotiate),
}  # fmt: skip


def implicit_actions(messages: Sequence[ReportMessage]) -> list[StationAction]:
    """FAILED response codes the station sent, as ``failed`` actions."""
    out = []
    for m in messages:
        code = m.body.get("ResponseCode") if not m.from_ev else None
        if isinstance(code, str) and code.startswith("FAILED"):
            out.append(StationAction(m.t, "failed", m.base + "Req", {"implicit": True, "code": code}))
    return out


def evaluate(
    actions: Sequence[StationAction], messages: Sequence[ReportMessage], t0: float, lim: Limits
) -> list[Finding]:
    """One finding per action (explicit ones first, then FAILED codes no action announced)."""
    out: list[Finding] = []
    explicit_failed = [a.t for a in actions if a.kind == "failed"]
    todo = list(actions) + [
        a for a in implicit_actions(messages) if not any(abs(a.t - t) < 1.0 for t in explicit_failed)
    ]
    for a in sorted(todo, key=lambda a: a.t):
        r = REACTIONS.get(a.kind)
        if r is None:
            out.append(
                Finding("info", "unknown-station-action", "", f"no rule for the station action {a.kind!r} "
                        f"({a.request}) at +{a.t - t0:.3f} s", a.t - t0, None, a.request, "station")
            )  # fmt: skip
            continue
        out.append(r.evaluate(a, messages, t0, lim))
    return out
