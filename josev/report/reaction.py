"""The car's reaction to what the station did on purpose (:class:`~josev.report.model.StationAction`).

Each action kind has a rule the EV must follow afterwards (:data:`REACTIONS`); the evaluation returns one
finding per action: ``ok`` when the EV did what the rule asks, ``error``/``warning`` when not. A FAILED response
code in the session counts as a ``failed`` action even when no scenario announced it (``detail["implicit"]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from josev.report.limits import Limits
from josev.report.model import Finding, ReportMessage, StationAction
from josev.report.quantities import first_str, number

STOP_DEFAULT_S = 10.0
"""How long an EV has to stop after the station asked it to when no NotificationMaxDelay was sent."""
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


def _stop(a: StationAction, msgs: Sequence[ReportMessage], t0: float, lim: Limits) -> Finding:
    delay = None
    for _, m in _after(msgs, a.t - 1e-6):
        if not m.from_ev:
            for k in ("NotificationMaxDelay",):
                v = next((v for name, v in _items(m.body) if name == k), None)
                delay = number(v) if v is not None else None
            if delay is not None:
                break
    within = _within(a, delay if delay is not None else STOP_DEFAULT_S)
    clause = lim.clause_stop
    for i, m in _ev_requests_after(msgs, a.t):
        if _is_stop(m):
            took = m.t - a.t
            return _finding(
                a, took <= within, "ev-stops-when-asked", clause,
                f"the station asked the EV to stop at +{a.t - t0:.3f} s; the EV sent {m.name} {took:.3f} s later "
                f"(allowed {within:g} s)",
                t0, (i, m), took, within,
            )  # fmt: skip
    return _finding(
        a, False, "ev-stops-when-asked", clause,
        f"the station asked the EV to stop at +{a.t - t0:.3f} s; the EV never sent PowerDeliveryReq(Stop) or "
        "SessionStopReq",
        t0, None, None, within,
    )  # fmt: skip


def _items(body: object) -> list[tuple[str, object]]:
    from josev.report.quantities import walk

    return list(walk(body))


def _ongoing(a: StationAction, msgs: Sequence[ReportMessage], t0: float, lim: Limits) -> Finding:
    clause = f"{lim.timeout_table}: EVSEProcessing Ongoing, the EV repeats its request"
    later = _ev_requests_after(msgs, a.t)
    if not later:
        return _finding(
            a, False, "ev-retries-after-ongoing", clause,
            f"the station answered {a.request} with EVSEProcessing Ongoing; the EV sent no further request",
            t0,
        )  # fmt: skip
    i, m = later[0]
    same = (a.request[:-3] if a.request.endswith(("Req", "Res")) else a.request) == m.base
    return _finding(
        a, same, "ev-retries-after-ongoing", clause,
        f"the station answered {a.request} with EVSEProcessing Ongoing; the EV's next request was {m.name} "
        f"{m.t - a.t:.3f} s later" + ("" if same else " (it must repeat the request)"),
        t0, (i, m), m.t - a.t, None,
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
