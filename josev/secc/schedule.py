"""The station's power schedule as the car sees it, sans-IO.

The OCPP service publishes the composite schedule of each EVSE (``josev.api.ocpp.ChargingSchedule``, A per
phase from a start on the station clock). The SECC shell turns it into a :class:`PowerSchedule` on the cores'
clock (W, with the phase/voltage rule of the composite: W = A x phases x nominal voltage; a DC EVSE counts as
three phases of 230 V, like the coordinator's AC-equivalent limit), and the cores build from it:

* ISO 15118-2 / DIN SPEC 70121: the PMaxSchedule of the SAScheduleTuple (:func:`entries`, relative to the
  response, at most ``max_entries`` entries, up to the EV's departure time or 24 h);
* ISO 15118-20 scheduled mode: the PowerScheduleEntries of the ChargingSchedule (durations);
* the check of the EV's ChargingProfile / EVPowerProfile against what was offered (:func:`exceeds`);
* station-initiated renegotiation when the composite changes by more than the OCPP
  ``LimitChangeSignificance`` (:func:`differs`).

Times here are seconds on the cores' clock (``now``); an offered schedule is kept as absolute breakpoints
(:data:`Offered`), so it can be compared with a new composite or with an EV profile at any later time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_HORIZON_S = 86_400
"""Length of the schedule offered when the EV gives no departure time (ISO 15118-2: 24 h)."""
MAX_ENTRIES = 1024
"""Most PMaxScheduleEntries / PowerScheduleEntries the schemas allow in one schedule."""
DC_PHASES = 3
"""A DC EVSE converts the composite's amps like a three-phase AC EVSE (the coordinator's rule)."""

ANSWER_WAIT_S = 3.0
"""How long the EV waits for the CSMS's answer to NotifyEVChargingNeeds at most (within ``csms_wait``)."""

Offered = tuple[tuple[float, float], ...]
"""An offered schedule: (absolute start on the cores' clock, W), ascending; the last value holds on."""


@dataclass(frozen=True, slots=True)
class PowerSchedule:
    """The composite of one EVSE in W on the cores' clock: ``periods`` are (offset from ``start`` in s, W)."""

    start: float
    periods: tuple[tuple[int, float], ...]
    significance: float = 0.1
    """Relative change that makes the car renegotiate (OCPP LimitChangeSignificance / 100)."""

    def breakpoints(self) -> Offered:
        """The periods as absolute (start, W)."""
        return tuple((self.start + s, w) for s, w in self.periods)


def watts(amps: float, period_phases: int, evse_phases: int, voltage: float) -> float:
    """The composite's limit (A per phase) as power: the fewer of the period's and the EVSE's phases."""
    return amps * min(period_phases, evse_phases) * voltage


def from_amps(
    start: float,
    periods: list[tuple[int, float, int]],
    evse_phases: int,
    voltage: float,
    significance: float = 0.1,
) -> PowerSchedule:
    """A :class:`PowerSchedule` from the composite's (start_s, A, numberPhases) periods."""
    out: list[tuple[int, float]] = []
    for s, a, ph in sorted(periods):
        w = round(watts(a, ph, evse_phases, voltage), 1)
        if out and out[-1][1] == w:
            continue
        out.append((s, w))
    return PowerSchedule(start, tuple(out), significance)


def value_at(points: Offered, t: float) -> float | None:
    """The value of ``points`` at absolute time ``t`` (the first value before the first point); None if
    empty."""
    if not points:
        return None
    v = points[0][1]
    for s, w in points:
        if s > t:
            break
        v = w
    return v


def entries(
    sched: PowerSchedule | None,
    now: float,
    cap_now: float,
    cap: float,
    horizon: float = DEFAULT_HORIZON_S,
    max_entries: int = MAX_ENTRIES,
) -> list[tuple[int, float]]:
    """The schedule to offer at ``now``: (start relative to ``now`` in s, W), first at 0.

    The first entry is also capped by ``cap_now`` (the EVSE's present limit: cable, rating, station share),
    the later ones by ``cap`` (the EVSE's rated power). Entries run up to ``horizon`` seconds (the EV's
    departure time, 24 h by default); equal neighbours merge; at most ``max_entries`` (the last ones are
    dropped: the car renegotiates long before)."""
    horizon = max(1.0, horizon)
    if sched is None or not sched.periods:
        return [(0, max(0.0, min(cap_now, cap)))]
    pts = sched.breakpoints()
    first = value_at(pts, now)
    assert first is not None
    out: list[tuple[int, float]] = [(0, max(0.0, min(first, cap_now, cap)))]
    for t, w in pts:
        if t <= now:
            continue
        rel = max(
            1, math.ceil(t - now - 1e-6)
        )  # whole seconds (the coordinator enforces the boundary itself)
        if rel >= horizon:
            break
        w = max(0.0, min(w, cap))
        if w == out[-1][1]:
            continue
        out.append((rel, w))
    return out[: max(1, max_entries)]


def durations(ents: list[tuple[int, float]], horizon: float) -> list[tuple[int, float]]:
    """(duration s, W) of consecutive entries; the last one runs to ``horizon`` (ISO 15118-20 style)."""
    out: list[tuple[int, float]] = []
    for i, (s, w) in enumerate(ents):
        end = ents[i + 1][0] if i + 1 < len(ents) else int(max(horizon, s + 1))
        out.append((end - s, w))
    return out


def offered(ents: list[tuple[int, float]], now: float) -> Offered:
    """Entries relative to ``now`` as an absolute :data:`Offered`."""
    return tuple((now + s, w) for s, w in ents)


def exceeds(
    offer: Offered, profile: list[tuple[float, float]], tolerance: float = 1.0001, grace: float = 1.0
) -> str | None:
    """Why an EV profile (absolute start, W) goes above the offered schedule, or None when it stays within.
    A profile entry holds until the next one; it is checked just after its own start and after every offered
    change it spans by more than ``grace`` (checked ``grace`` seconds after the change: both sides count in whole
    seconds, a boundary that moved by less is the same boundary, earlier or later)."""
    if not offer:
        return None
    prof = sorted(profile)
    for i, (start, p) in enumerate(prof):
        end = prof[i + 1][0] if i + 1 < len(prof) else float("inf")
        times = [start] + [t for t, _ in offer if start < t < end - grace]
        for t in times:
            at = min(t + grace, (t + end) / 2)
            allowed = value_at(offer, at)
            if allowed is not None and p > allowed * tolerance + 0.5:
                return f"{p:.0f} W at +{t - offer[0][0]:.0f} s exceeds the offered {allowed:.0f} W"
    return None


def differs(old: Offered, new: Offered, since: float, until: float, significance: float) -> bool:
    """True when ``new`` differs from ``old`` by more than ``significance`` (relative) anywhere in
    [since, until). Compared one second after ``since`` and after each change (offers are in whole seconds:
    a boundary that moved by less than a second is the same boundary)."""
    if not old or not new:
        return bool(old) != bool(new)
    times = {since + 1.0} | {t + 1.0 for t, _ in old + new if since <= t + 1.0 < until}
    for t in times:
        a = value_at(old, t)
        b = value_at(new, t)
        assert a is not None and b is not None
        if abs(a - b) > significance * max(abs(a), abs(b), 1e-9):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Check:
    """Outcome of :func:`renegotiate`: ask the car, and which versions were seen to be harmless."""

    renegotiate: bool
    schedule_seen: int
    limits_seen: int


def renegotiate(
    sched: PowerSchedule | None,
    offer: Offered,
    now: float,
    present: float,
    cap: float,
    versions: tuple[int, int],
    seen: tuple[int, int],
) -> Check:
    """Whether the car must renegotiate its schedule. ``versions`` / ``seen``: (schedule, limits) versions of
    the EVSE now and when the offer was made; ``present``: the EVSE's present limit (W), ``cap`` its rating.

    Without a composite: whenever the limits changed since the offer (the station had only a flat schedule).
    With one: when the composite moved by more than its significance from the offer (from now to the offer's
    end), or when the present limit moved that far from the offered value around now (a period boundary of the
    offered schedule is no change: the car already has it)."""
    sv, lv = versions
    s_seen, l_seen = seen
    if sched is None or not offer:
        return Check(lv != l_seen, s_seen, l_seen)
    if sv != s_seen:
        new = offered(entries(sched, now, present, cap), now)
        if differs(offer, new, now, max(offer[-1][0] + 1.0, now + 2.0), sched.significance):
            return Check(True, s_seen, l_seen)
        s_seen = sv
    if lv != l_seen:
        for t in (now - 2.0, now, now + 2.0):
            v = value_at(offer, t)
            if v is not None and abs(present - v) <= sched.significance * max(v, present, 1e-9):
                return Check(False, s_seen, lv)
        return Check(True, s_seen, l_seen)
    return Check(False, s_seen, l_seen)


def waiting_for_csms(
    wait_s: float, status: str | None, started: float, now: float, version_then: int, version_now: int
) -> bool:
    """OCPP K15: keep the EV waiting (EVSEProcessing Ongoing)? While the CSMS has not answered
    NotifyEVChargingNeeds (at most :data:`ANSWER_WAIT_S`), and after Accepted / Processing until its new
    profile changed the composite (``version_now`` != ``version_then``), at most ``wait_s`` in all. Rejected or
    no answer: the schedule at hand is offered at once."""
    if wait_s <= 0:
        return False
    elapsed = now - started
    if status is None:
        return elapsed < min(ANSWER_WAIT_S, wait_s)
    if status in ("Accepted", "Processing"):
        return version_now == version_then and elapsed < wait_s
    return False
