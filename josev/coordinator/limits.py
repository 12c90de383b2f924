"""Current limits: the effective limit of one EVSE, and sharing a station limit between EVSEs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from josev.coordinator.duty import MIN_CURRENT_A

LIMIT_SOURCES = ("cable", "connector", "evse", "station", "ocpp", "hlc", "operator")
"""Where a limit can come from; the effective limit is the minimum of all that are set."""


@dataclass
class Limits:
    """Per-phase current limits of one EVSE by source (A); ``None`` means that source does not limit."""

    values: dict[str, float | None] = field(default_factory=dict)

    def set(self, source: str, amps: float | None) -> None:
        """Set (or clear, with None) the limit of one source."""
        if source not in LIMIT_SOURCES:
            raise ValueError(f"unknown limit source {source!r}; one of {', '.join(LIMIT_SOURCES)}")
        if amps is not None and (amps != amps or amps < 0):
            raise ValueError(f"limit must be a non-negative number of amps, got {amps}")
        self.values[source] = amps

    def effective(self) -> float:
        """The minimum of every set limit (inf when nothing limits)."""
        vals = [v for v in self.values.values() if v is not None]
        return min(vals) if vals else float("inf")

    def binding(self) -> str | None:
        """The source that sets the effective limit (None when nothing limits)."""
        best: tuple[float, str] | None = None
        for src, v in self.values.items():
            if v is not None and (best is None or v < best[0]):
                best = (v, src)
        return None if best is None else best[1]


@dataclass(frozen=True)
class Demand:
    """What one EVSE asks of the station limit: its own cap and when its session started (priority)."""

    cap_a: float
    since: float


def share_station_limit(station_a: float, demands: Mapping[int, Demand]) -> dict[int, float]:
    """Split ``station_a`` (per phase) between the EVSEs in ``demands`` (water-filling).

    Every EVSE gets at most its cap; what one cannot use goes to the others. When the station cannot give
    every EVSE the 6 A minimum, the EVSEs whose sessions started first get it and the rest get 0 (they are
    suspended until capacity frees up) - never a share that would be below 6 A.
    """
    if station_a < 0:
        raise ValueError("station limit must be non-negative")
    order = sorted(demands, key=lambda e: (demands[e].since, e))
    order = [e for e in order if demands[e].cap_a >= MIN_CURRENT_A]
    served = order[: int(station_a // MIN_CURRENT_A + 1e-9)]
    result = {e: 0.0 for e in demands}
    remaining = station_a
    active = list(served)
    while active:
        share = remaining / len(active)
        capped = [e for e in active if demands[e].cap_a <= share]
        if not capped:
            for e in active:
                result[e] = share
            break
        for e in capped:
            result[e] = demands[e].cap_a
            remaining -= demands[e].cap_a
            active.remove(e)
    return result


class StationBalancer:
    """Applies :func:`share_station_limit` over time without overloading the station while EVs adapt.

    An EV may take ``adapt_s`` (IEC 61851-1: 5 s) to follow a lower duty cycle, so until then it must be
    counted at the higher value it was last offered. Reductions apply at once; increases are granted only
    from the capacity left after counting every EVSE at the most it may still draw, in session order, and
    never as a share below 6 A. :meth:`next_change` says when curtailed increases can be granted.
    """

    def __init__(self, adapt_s: float = 5.0) -> None:
        self.adapt_s = adapt_s
        self.offered: dict[int, float] = {}
        self._history: dict[int, list[tuple[float, float]]] = {}

    def worst(self, evse: int, now: float) -> float:
        """The most ``evse`` may still draw: the largest offer within the last ``adapt_s``."""
        hist = self._history.get(evse, [])
        recent = [v for t, v in hist if t > now - self.adapt_s]
        return max([self.offered.get(evse, 0.0), *recent])

    def _offer(self, evse: int, value: float, now: float) -> None:
        old = self.offered.get(evse, 0.0)
        if value != old:
            self._history.setdefault(evse, []).append((now, old))
            self.offered[evse] = value
        self._history[evse] = [(t, v) for t, v in self._history.get(evse, []) if t > now - self.adapt_s]

    def update(self, station_a: float, demands: Mapping[int, Demand], now: float) -> dict[int, float]:
        """New offers for every EVSE in ``demands`` (EVSEs not in it are offered 0)."""
        target = share_station_limit(station_a, demands)
        for e in list(self.offered):
            if e not in target:
                target[e] = 0.0
        rising = sorted(
            (e for e in target if target[e] > self.offered.get(e, 0.0)),
            key=lambda e: (demands[e].since, e) if e in demands else (float("inf"), e),
        )
        for e, v in target.items():
            if e not in rising:
                self._offer(e, v, now)
        budget = station_a - sum(self.worst(e, now) for e in target)
        for e in rising:
            cur, worst = self.offered.get(e, 0.0), self.worst(e, now)
            grant = max(cur, min(target[e], worst + budget))
            if grant < MIN_CURRENT_A:
                grant = cur if cur >= MIN_CURRENT_A else 0.0
            budget -= max(0.0, grant - worst)
            self._offer(e, grant, now)
        return {e: self.offered.get(e, 0.0) for e in target}

    def next_change(self, now: float) -> float | None:
        """When an old (higher) offer leaves the adaptation window (None: nothing pending)."""
        times = [
            t + self.adapt_s
            for e, h in self._history.items()
            for t, v in h
            if t + self.adapt_s > now and v > self.offered.get(e, 0.0)
        ]
        return min(times) if times else None
