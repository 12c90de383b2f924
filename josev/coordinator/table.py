"""The coordinator's transition table: ``(state, input) -> (next, action)``, total over every pair.

A next state is either a :class:`~josev.coordinator.states.St` or a :class:`Choice` between two targets on a
named guard (a yes/no question about the session, e.g. "is the session authorized?"). The table is built
once at import from the rules below and is printable (:func:`render_markdown`, :func:`render_mermaid`); the
documentation page embeds that rendering and a test checks they match.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from josev.coordinator.states import FAULT_INPUTS, In, St


class Act(enum.Enum):
    """Side effect of a transition (executed by the core, besides the per-state pilot/contactor/lock)."""

    NONE = "-"
    SESSION_START = "session_start"
    SESSION_END = "session_end"
    FAULT = "fault"
    FAULT_CLEAR = "fault_clear"
    AUTH = "auth"
    DEAUTH = "deauth"
    STOP = "stop"
    SLAC_FAIL = "slac_fail"
    HLC_FAIL = "hlc_fail"
    POWER_ON = "power_on"
    POWER_OFF = "power_off"
    INOPERATIVE = "inoperative"
    OPERATIVE = "operative"
    RESERVE = "reserve"
    UNRESERVE = "unreserve"
    FORCED_OPEN = "forced_open"


GUARDS = {
    "hlc": "HLC is offered on this EVSE and has not failed in this session",
    "authorized": "the session is authorized (or free charging is configured)",
    "limit_ok": "the effective current limit is at least 6 A",
    "retry_left": "SLAC retries (via E/F) remain",
    "fallback": "the configuration allows falling back to basic charging when HLC fails (AC only: a DC EVSE has "
    "no basic charging)",
    "v2g_retry": "the V2G session ended abnormally (FAILED, timeout, TCP lost) and V2G retries of this plug-in "
    "remain: the EV may start a new one (SDP, SessionSetup) on the same data link",
    "dc": "a DC EVSE: its own output ramps down to zero before the contactor opens",
    "power_on": "the SECC asked for power delivery (HLC PowerDelivery start)",
    "ev_ready": "the pilot reads C or D",
    "stop_requested": "a stop was requested (station, operator, deauthorization, HLC failure)",
}
"""Every guard a :class:`Choice` may name, with its meaning."""


@dataclass(frozen=True)
class Choice:
    """``then`` when ``guard`` holds, else ``otherwise``."""

    guard: str
    then: Target
    otherwise: Target

    def __post_init__(self) -> None:
        if self.guard not in GUARDS:
            raise ValueError(f"unknown guard {self.guard!r}")

    def __str__(self) -> str:
        return f"{self.guard} ? {_tname(self.then)} : {_tname(self.otherwise)}"


Target = St | Choice


@dataclass(frozen=True)
class Rule:
    """One table entry."""

    next: Target
    act: Act = Act.NONE


def _tname(t: Target) -> str:
    return t.name if isinstance(t, St) else f"({t})"


AUTH_TARGET = Choice("limit_ok", St.READY, St.SUSPENDED_EVSE)
PLUG_TARGET = Choice("hlc", St.HLC_WAIT, Choice("authorized", AUTH_TARGET, St.PLUGGED))
AFTER_EF = Choice("hlc", St.HLC_WAIT, Choice("authorized", AUTH_TARGET, St.PLUGGED))
AFTER_STOPPING = Choice("stop_requested", St.FINISHED, St.SUSPENDED_EVSE)

_ACTIVE = [s for s in St if s not in (St.UNAVAILABLE, St.FAULTED)]
_SESSION_END = Rule(St.IDLE, Act.SESSION_END)
_FAULT = Rule(St.FAULTED, Act.FAULT)


def _build() -> dict[tuple[St, In], Rule]:
    t: dict[tuple[St, In], Rule] = {}

    def put(states: Sequence[St] | St, inputs: list[In] | In | tuple[In, ...], rule: Rule) -> None:
        for s in [states] if isinstance(states, St) else states:
            for i in inputs if isinstance(inputs, list | tuple) else [inputs]:
                t[(s, i)] = rule

    # Faults: from every state to FAULTED (FAULTED records further reasons and stays).
    put([*_ACTIVE, St.UNAVAILABLE], FAULT_INPUTS, _FAULT)
    put(St.FAULTED, FAULT_INPUTS, Rule(St.FAULTED, Act.FAULT))
    # The pilot reading E or F while we drive it positive is a fault (short to PE / pilot failure).
    driven_positive = [s for s in _ACTIVE if s is not St.EF_PAUSE]
    put(driven_positive, [In.CP_E, In.CP_F], _FAULT)
    # Operator availability.
    put([St.IDLE, St.RESERVED], In.SET_UNAVAILABLE, Rule(St.UNAVAILABLE, Act.INOPERATIVE))
    put([s for s in St if s not in (St.IDLE, St.RESERVED)], In.SET_UNAVAILABLE, Rule(_SAME, Act.INOPERATIVE))
    put(St.UNAVAILABLE, In.SET_AVAILABLE, Rule(St.IDLE, Act.OPERATIVE))
    put([s for s in St if s is not St.UNAVAILABLE], In.SET_AVAILABLE, Rule(_SAME, Act.OPERATIVE))
    # Authorization that arrives before the plug (kept for a while by the core).
    put([St.IDLE, St.RESERVED], In.AUTHORIZED, Rule(_SAME, Act.AUTH))
    put([St.IDLE, St.RESERVED], In.DEAUTHORIZED, Rule(_SAME, Act.DEAUTH))

    # IDLE / RESERVED: plug-in starts a session.
    put([St.IDLE, St.RESERVED], [In.CP_B, In.CP_C, In.CP_D], Rule(PLUG_TARGET, Act.SESSION_START))
    put(St.IDLE, In.RESERVE, Rule(St.RESERVED, Act.RESERVE))
    put(St.RESERVED, [In.CANCEL_RESERVATION, In.TIMEOUT], Rule(St.IDLE, Act.UNRESERVE))

    # Unplug ends the session wherever the pilot is readable.
    put([s for s in St if s in _SESSION_STATES_READABLE], In.CP_A, _SESSION_END)

    # PLUGGED (basic, waiting for authorization).
    put(St.PLUGGED, In.AUTHORIZED, Rule(AUTH_TARGET, Act.AUTH))
    put(St.PLUGGED, In.STOP, Rule(St.FINISHED, Act.STOP))

    # HLC_WAIT: 5 %, waiting for SLAC.
    put(St.HLC_WAIT, In.AUTHORIZED, Rule(_SAME, Act.AUTH))
    put(St.HLC_WAIT, In.DEAUTHORIZED, Rule(_SAME, Act.DEAUTH))
    put(St.HLC_WAIT, In.SLAC_MATCHED, Rule(St.HLC))
    put(
        St.HLC_WAIT,
        [In.SLAC_FAILED, In.TIMEOUT],
        Rule(Choice("retry_left", St.EF_PAUSE, Choice("fallback", St.EF_PAUSE, St.FINISHED)), Act.SLAC_FAIL),
    )
    put(St.HLC_WAIT, In.HLC_FAILED, Rule(Choice("fallback", St.EF_PAUSE, St.FINISHED), Act.HLC_FAIL))
    put(St.HLC_WAIT, In.STOP, Rule(St.FINISHED, Act.STOP))

    # HLC: the SECC runs the session.
    put(St.HLC, In.AUTHORIZED, Rule(_SAME, Act.AUTH))
    put(St.HLC, In.DEAUTHORIZED, Rule(St.FINISHED, Act.DEAUTH))
    put(St.HLC, In.HLC_POWER_ON, Rule(Choice("ev_ready", St.HLC_CHARGING, St.HLC), Act.POWER_ON))
    put(St.HLC, [In.CP_C, In.CP_D], Rule(Choice("power_on", St.HLC_CHARGING, St.HLC)))
    put(St.HLC, In.HLC_POWER_OFF, Rule(_SAME, Act.POWER_OFF))
    # A V2G session that ended abnormally ends the HLC part (DC: output off, contactor open) but not the
    # plug-in: the EV may start a new one on the same data link, up to v2g_retries times.
    put(
        St.HLC,
        In.HLC_FAILED,
        Rule(Choice("v2g_retry", St.HLC, Choice("fallback", St.EF_PAUSE, St.FINISHED)), Act.HLC_FAIL),
    )
    put(St.HLC, In.SLAC_FAILED, Rule(Choice("fallback", St.EF_PAUSE, St.FINISHED), Act.HLC_FAIL))
    put(St.HLC, In.STOP, Rule(St.FINISHED, Act.STOP))

    # HLC_CHARGING: power flows under HLC control.
    put(St.HLC_CHARGING, In.CP_B, Rule(St.HLC))
    put(St.HLC_CHARGING, In.HLC_POWER_OFF, Rule(St.HLC, Act.POWER_OFF))
    # DC ramps its output down in HLC before opening; AC withdraws the PWM (STOPPING) and waits for B.
    put(
        St.HLC_CHARGING,
        In.HLC_FAILED,
        Rule(Choice("dc", Choice("v2g_retry", St.HLC, St.STOPPING), St.STOPPING), Act.HLC_FAIL),
    )
    put(St.HLC_CHARGING, In.SLAC_FAILED, Rule(St.STOPPING, Act.HLC_FAIL))
    put(St.HLC_CHARGING, In.STOP, Rule(St.STOPPING, Act.STOP))
    put(St.HLC_CHARGING, In.DEAUTHORIZED, Rule(St.STOPPING, Act.DEAUTH))

    # READY: PWM offers current; the EV decides when to start.
    put(St.READY, [In.CP_C, In.CP_D], Rule(St.CHARGING))
    put(St.READY, In.LIMIT_ZERO, Rule(St.SUSPENDED_EVSE))
    put(St.READY, In.STOP, Rule(St.FINISHED, Act.STOP))
    put(St.READY, In.DEAUTHORIZED, Rule(St.FINISHED, Act.DEAUTH))

    # CHARGING.
    put(St.CHARGING, In.CP_B, Rule(St.READY))
    put(St.CHARGING, In.LIMIT_ZERO, Rule(St.STOPPING))
    put(St.CHARGING, In.STOP, Rule(St.STOPPING, Act.STOP))
    put(St.CHARGING, In.DEAUTHORIZED, Rule(St.STOPPING, Act.DEAUTH))

    # STOPPING: X1 while the EV is still in C; open when it goes to B or after the timeout.
    put(St.STOPPING, In.CP_B, Rule(AFTER_STOPPING))
    put(St.STOPPING, In.TIMEOUT, Rule(AFTER_STOPPING, Act.FORCED_OPEN))
    put(St.STOPPING, In.LIMIT_OK, Rule(Choice("stop_requested", St.STOPPING, St.CHARGING)))
    put(St.STOPPING, In.STOP, Rule(St.STOPPING, Act.STOP))
    put(St.STOPPING, In.DEAUTHORIZED, Rule(St.STOPPING, Act.DEAUTH))

    # SUSPENDED_EVSE: authorized, limit below 6 A.
    put(St.SUSPENDED_EVSE, In.LIMIT_OK, Rule(St.READY))
    put(St.SUSPENDED_EVSE, In.STOP, Rule(St.FINISHED, Act.STOP))
    put(St.SUSPENDED_EVSE, In.DEAUTHORIZED, Rule(St.FINISHED, Act.DEAUTH))

    # FINISHED: a new authorization (e.g. a remote start) resumes; unplug ends the session.
    put(St.FINISHED, In.AUTHORIZED, Rule(AUTH_TARGET, Act.AUTH))

    # EF_PAUSE: E/F for T_step_EF, then back to 5 % or to basic charging.
    put(St.EF_PAUSE, In.TIMEOUT, Rule(AFTER_EF))
    put(St.EF_PAUSE, In.AUTHORIZED, Rule(_SAME, Act.AUTH))
    put(St.EF_PAUSE, In.STOP, Rule(St.FINISHED, Act.STOP))

    # FAULTED: leaves on a retry timeout (recoverable faults only) or when cleared.
    put(St.FAULTED, [In.TIMEOUT, In.FAULT_CLEARED], Rule(St.IDLE, Act.FAULT_CLEAR))

    full: dict[tuple[St, In], Rule] = {}
    for s in St:
        for i in In:
            r = t.get((s, i), Rule(_SAME))
            full[(s, i)] = Rule(_resolve_same(r.next, s), r.act)
    return full


class _Same(enum.Enum):
    SAME = "same"


_SAME: St = _Same.SAME  # type: ignore[assignment]
_SESSION_STATES_READABLE = frozenset(
    {
        St.PLUGGED,
        St.HLC_WAIT,
        St.HLC,
        St.HLC_CHARGING,
        St.READY,
        St.CHARGING,
        St.STOPPING,
        St.SUSPENDED_EVSE,
        St.FINISHED,
    }
)


def _resolve_same(t: Target, s: St) -> Target:
    if isinstance(t, Choice):
        return Choice(t.guard, _resolve_same(t.then, s), _resolve_same(t.otherwise, s))
    return s if t is _SAME else t


TABLE: dict[tuple[St, In], Rule] = _build()
"""The full table: every (state, input) pair has an entry; unlisted pairs stay put with no action."""


def is_noop(state: St, inp: In) -> bool:
    """True when the pair leaves the state unchanged without an action."""
    r = TABLE[(state, inp)]
    return r.next == state and r.act is Act.NONE


def render_markdown() -> str:
    """The table as Markdown, grouped by state; pairs that stay put without action are summarised."""
    lines = ["| state | input | next | action |", "|---|---|---|---|"]
    for s in St:
        for i in In:
            if is_noop(s, i):
                continue
            r = TABLE[(s, i)]
            lines.append(f"| {s.name} | {i.name} | {_tname(r.next)} | {r.act.value} |")
    lines.append("")
    lines.append("Every other (state, input) pair leaves the state unchanged and does nothing.")
    lines.append("")
    lines.append("| guard | meaning |")
    lines.append("|---|---|")
    for g, meaning in GUARDS.items():
        lines.append(f"| `{g}` | {meaning} |")
    return "\n".join(lines) + "\n"


def _targets(t: Target) -> list[St]:
    if isinstance(t, Choice):
        return _targets(t.then) + _targets(t.otherwise)
    return [t]


def render_mermaid() -> str:
    """A mermaid ``stateDiagram-v2`` of the state changes (self-loops and fault edges folded)."""
    edges: dict[tuple[St, St], list[str]] = {}
    for (s, i), r in TABLE.items():
        if i in FAULT_INPUTS or (i in (In.CP_E, In.CP_F) and r.next == St.FAULTED):
            continue
        for dst in _targets(r.next):
            names = edges.setdefault((s, dst), [])
            if dst != s and i.name not in names:
                names.append(i.name)
    lines = ["stateDiagram-v2", "    [*] --> IDLE"]
    for (s, dst), ins in edges.items():
        if s == dst:
            continue
        lines.append(f"    {s.name} --> {dst.name}: {', '.join(ins)}")
    lines.append("    note right of FAULTED: every fault input and a pilot reading E/F lead here")
    lines.append("    note left of HLC: HLC_FAILED with v2g_retry stays here for the EV's next V2G session")
    return "\n".join(lines) + "\n"
