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
