"""Evaluating charging profiles and the composite schedule of an EVSE (sans-IO: times are UNIX seconds of the
station clock, passed in).

A profile is the OCPP ``ChargingProfileType`` dict; only its first ``chargingSchedule`` is evaluated (the
others exist for ISO 15118 schedule choice). Rules:

* **Validity**: a profile counts only in ``[validFrom, validTo)``.
* **Start of the schedule**: ``Absolute`` at ``startSchedule``; ``Relative`` at the start of the EVSE's
  transaction (without one: at the start of the evaluated window, i.e. the schedule would start now);
  ``Recurring`` at ``startSchedule`` + k x 24 h (``Daily``) or 7 days (``Weekly``), the latest such start at or
  before the time (nothing before ``startSchedule`` itself).
* A schedule gives no value before its start, after its ``duration`` (for a recurring one: of each
  recurrence), and the last period lasts until then.
* **Stack levels**: of the profiles of one purpose that give a value, the highest ``stackLevel`` wins. For
  ``TxDefaultProfile`` the profiles installed on the EVSE itself win over those installed on EVSE 0.
  ``TxProfile`` (only those bound to the EVSE's running transaction) wins over ``TxDefaultProfile``.
* **Combination** per EVSE: min(ChargingStationMaxProfile, TxProfile or TxDefaultProfile, local limits,
  hardware limit). For EVSE 0 (the grid connection): min(ChargingStationMaxProfile, station local limits,
  hardware limit).
* **Units**: A are per phase, W are total; converted with the number of phases of the period (the
  transaction profile's ``numberPhases``, default 3, never more than the EVSE has) and the nominal voltage.
  Limits are rounded down to 0.1 (OCPP allows one fraction digit), so the result never exceeds an input.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DAY = 86400
WEEK = 7 * DAY
RECURRENCE = {"Daily": DAY, "Weekly": WEEK}


@functools.lru_cache(maxsize=4096)
def ts(text: str) -> float:
    """UNIX seconds of an RFC 3339 date-time (cached: profiles are evaluated many times)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def iso(t: float) -> str:
    """RFC 3339 UTC text (milliseconds) of UNIX seconds."""
    dt = datetime.fromtimestamp(t, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Installed:
    """A profile installed for one EVSE (0: the station), with the source that set it."""

    evse: int
    profile: dict[str, Any]
    source: str = "CSO"

    @property
    def id(self) -> int:
        """The chargingProfile id."""
        return int(self.profile["id"])

    @property
    def purpose(self) -> str:
        """chargingProfilePurpose."""
        return str(self.profile["chargingProfilePurpose"])

    @property
    def stack(self) -> int:
        """stackLevel."""
        return int(self.profile["stackLevel"])


@dataclass(frozen=True, slots=True)
class EvseInfo:
    """What the composite needs to know about an EVSE: phases, nominal voltage and the hardware limit (A)."""

    phases: int = 3
    voltage_v: float = 230.0
    max_a: float | None = None


@dataclass(frozen=True, slots=True)
class Limit:
    """A constant local limit (site capacity, an external EMS ...) in ``unit`` A or W."""

    value: float
    unit: str = "A"
    source: str = "EMS"


@dataclass(frozen=True, slots=True)
class Value:
    """What one profile gives at one instant."""

    limit: float
    unit: str
    phases: int | None = None
    phase_to_use: int | None = None


@dataclass(frozen=True, slots=True)
class Period:
    """One period of a composite schedule: from ``start`` (UNIX s) on, ``limit`` in the schedule's unit."""

    start: float
    limit: float
    phases: int


@dataclass(slots=True)
class Composite:
    """A composite schedule (see :func:`composite`)."""

    evse: int
    start: float
    duration: int
    unit: str
    periods: list[Period] = field(default_factory=list)

    def at(self, t: float) -> float:
        """The limit at ``t`` (inside the window)."""
        value = self.periods[0].limit
        for p in self.periods:
            if p.start <= t:
                value = p.limit
        return value

    def to_ocpp(self, start_text: str | None = None) -> dict[str, Any]:
        """The CompositeScheduleType of GetCompositeScheduleResponse."""
        return {
            "evseId": self.evse,
            "duration": self.duration,
            "scheduleStart": start_text or iso(self.start),
            "chargingRateUnit": self.unit,
            "chargingSchedulePeriod": [
                {"startPeriod": round(p.start - self.start), "limit": p.limit, "numberPhases": p.phases}
                for p in self.periods
            ],
        }


def _schedule(profile: dict[str, Any]) -> dict[str, Any]:
    return dict(profile["chargingSchedule"][0])


def _start_of(profile: dict[str, Any], t: float, tx_start: float | None, window_start: float) -> float | None:
    """Start of the (current recurrence of the) schedule that covers ``t``; None if it has not started."""
    sched = _schedule(profile)
    kind = profile["chargingProfileKind"]
    if kind == "Relative":
        return tx_start if tx_start is not None else window_start
    anchor = ts(sched["startSchedule"])
    if kind == "Absolute":
        return anchor
    period = RECURRENCE[profile.get("recurrencyKind", "Daily")]
    if t < anchor:
        return None
    return anchor + math.floor((t - anchor) / period) * period


def value_at(
    profile: dict[str, Any], t: float, tx_start: float | None = None, window_start: float | None = None
) -> Value | None:
    """What one profile gives at ``t`` (None: nothing - not valid, not started, or past its duration)."""
    if "validFrom" in profile and t < ts(profile["validFrom"]):
        return None
    if "validTo" in profile and t >= ts(profile["validTo"]):
        return None
    start = _start_of(profile, t, tx_start, t if window_start is None else window_start)
    if start is None or t < start:
        return None
    sched = _schedule(profile)
    offset = t - start
    if "duration" in sched and offset >= sched["duration"]:
        return None
    current = None
    for p in sched["chargingSchedulePeriod"]:
        if p["startPeriod"] <= offset + 1e-9:
            current = p
    if current is None:
        return None
    return Value(
        float(current["limit"]),
        sched["chargingRateUnit"],
        current.get("numberPhases"),
        current.get("phaseToUse"),
    )


def breaks(
    profile: dict[str, Any],
    lo: float,
    hi: float,
    tx_start: float | None = None,
    window_start: float | None = None,
) -> set[float]:
    """Every instant in ``(lo, hi)`` where the profile's value may change."""
    out: set[float] = set()
    for key in ("validFrom", "validTo"):
        if key in profile:
            out.add(ts(profile[key]))
    sched = _schedule(profile)
    offsets = [float(p["startPeriod"]) for p in sched["chargingSchedulePeriod"]]
    if "duration" in sched:
        offsets.append(float(sched["duration"]))
    kind = profile["chargingProfileKind"]
    if kind == "Recurring":
        anchor = ts(sched["startSchedule"])
        period = RECURRENCE[profile.get("recurrencyKind", "Daily")]
        k = max(0, math.floor((lo - anchor) / period))
        while anchor + k * period < hi:
            base = anchor + k * period
            out.update(base + o for o in offsets)
            k += 1
    else:
        first = _start_of(profile, lo, tx_start, lo if window_start is None else window_start)
        if first is not None:
            out.update(first + o for o in offsets)
    return {b for b in out if lo < b < hi}


def _to_unit(v: float, unit: str, out_unit: str, phases: int, voltage: float) -> float:
    if unit == out_unit:
        return v
    return v * phases * voltage if out_unit == "W" else v / (phases * voltage)


def floor1(x: float) -> float:
    """Round down to one fraction digit (never above ``x``)."""
    return math.floor(x * 10 + 1e-6) / 10


@dataclass(frozen=True, slots=True)
class Tx:
    """The running transaction of an EVSE: its id and start (UNIX s of the station clock)."""

    id: str
    start: float


@dataclass(frozen=True, slots=True)
class _Stacks:
    """The profiles that can apply to one EVSE, by role, each from the highest stack level down."""

    cs_max: list[Installed]
    ext: list[Installed]
    tx: list[Installed]
    default_evse: list[Installed]
    default_0: list[Installed]

    @staticmethod
    def of(profiles: Sequence[Installed], evse: int, tx: Tx | None) -> _Stacks:
        mine = sorted((p for p in profiles if p.evse in (0, evse)), key=lambda p: -p.stack)

        def by(purpose: str) -> list[Installed]:
            return [p for p in mine if p.purpose == purpose]

        tx_id = tx.id if tx is not None and evse > 0 else None
        defaults = by("TxDefaultProfile") if evse > 0 else []
        return _Stacks(
            cs_max=by("ChargingStationMaxProfile"),
            ext=by("ChargingStationExternalConstraints"),
            tx=[p for p in by("TxProfile") if tx_id is not None and p.profile.get("transactionId") == tx_id],
            default_evse=[p for p in defaults if p.evse == evse],
            default_0=[p for p in defaults if p.evse == 0],
        )


def _first(cands: list[Installed], t: float, tx_start: float | None, window_start: float) -> Value | None:
    for c in cands:
        v = value_at(c.profile, t, tx_start, window_start)
        if v is not None:
            return v
    return None


def _limit(
    stacks: _Stacks, t: float, unit: str, info: EvseInfo, tx: Tx | None, local: Sequence[Limit], ws: float
) -> tuple[float | None, int]:
    tx_start = tx.start if tx is not None else None
    cs_max = _first(stacks.cs_max, t, tx_start, ws)
    ext = _first(stacks.ext, t, tx_start, ws)
    txv = (
        _first(stacks.tx, t, tx_start, ws)
        or _first(stacks.default_evse, t, tx_start, ws)
        or _first(stacks.default_0, t, tx_start, ws)
    )
    phases = info.phases
    for v in (txv, cs_max, ext):
        if v is not None and v.phases is not None:
            phases = min(info.phases, v.phases)
            break
    vals: list[float] = []
    for v in (cs_max, ext, txv):
        if v is not None:
            vals.append(_to_unit(v.limit, v.unit, unit, phases, info.voltage_v))
    for lim in local:
        vals.append(_to_unit(lim.value, lim.unit, unit, phases, info.voltage_v))
    if info.max_a is not None:
        vals.append(_to_unit(info.max_a, "A", unit, phases, info.voltage_v))
    if not vals:
        return None, phases
    return floor1(max(0.0, min(vals))), phases


def limit_at(
    profiles: Sequence[Installed],
    evse: int,
    t: float,
    unit: str,
    info: EvseInfo,
    tx: Tx | None = None,
    local: Sequence[Limit] = (),
    window_start: float | None = None,
) -> tuple[float | None, int]:
    """The combined limit at ``t`` in ``unit`` (None: nothing limits) and the number of phases it assumes."""
    ws = t if window_start is None else window_start
    return _limit(_Stacks.of(profiles, evse, tx), t, unit, info, tx, local, ws)


def composite(
    profiles: Sequence[Installed],
    evse: int,
    start: float,
    duration: int,
    unit: str,
    info: EvseInfo,
    tx: Tx | None = None,
    local: Sequence[Limit] = (),
) -> Composite:
    """The composite schedule of ``evse`` over ``[start, start + duration)`` in ``unit`` (A or W).

    Periods where nothing limits carry the hardware limit, or -1 if the EVSE has none either (callers that
    report to the CSMS always pass a hardware limit). Consecutive equal periods are merged."""
    end = start + duration
    tx_start = tx.start if tx is not None else None
    profiles = [p for p in profiles if p.evse in (0, evse)]
    points = {start}
    for p in profiles:
        points |= breaks(p.profile, start, end, tx_start, start)
    out = Composite(evse, start, duration, unit)
    stacks = _Stacks.of(profiles, evse, tx)
    for t in sorted(points):
        limit, phases = _limit(stacks, t, unit, info, tx, local, start)
        value = -1.0 if limit is None else limit
        if out.periods and out.periods[-1].limit == value and out.periods[-1].phases == phases:
            continue
        out.periods.append(Period(t, value, phases))
    return out


def next_change(
    profiles: Sequence[Installed], now: float, horizon: float = 8 * DAY, tx_starts: Iterable[float] = ()
) -> float | None:
    """The next instant after ``now`` (within ``horizon``) where any profile's value may change."""
    found: set[float] = set()
    starts: list[float | None] = list(tx_starts) or [None]
    for p in profiles:
        if p.profile["chargingProfileKind"] == "Relative" and starts == [None]:
            continue  # not started: it starts with a transaction
        for s in starts:
            found |= breaks(p.profile, now, now + horizon, s, now)
    return min(found) if found else None
