"""What the simulated EV takes from the station's schedule (pure functions): the PMaxSchedule of an ISO 15118-2 /
DIN SAScheduleList, the SalesTariff rows, and the power a schedule allows at a given time."""

from __future__ import annotations

from typing import Any

from josev.v2g.physical import to_float


def schedule_power(sched: list[tuple[float, float]], now: float) -> float | None:
    """The power the schedule allows at ``now`` ((absolute start, W) entries); None without a schedule."""
    allowed = None
    for start, w in sched:
        if start > now:
            break
        allowed = w
    if allowed is None and sched:
        allowed = sched[0][1]
    return allowed


def first_tuple(res: dict[str, Any]) -> dict[str, Any] | None:
    """The first SAScheduleTuple of a ChargeParameterDiscoveryRes (None without one)."""
    tuples = (res.get("SAScheduleList") or {}).get("SAScheduleTuple") or []
    if isinstance(tuples, dict):
        tuples = [tuples]
    return tuples[0] if tuples and isinstance(tuples[0], dict) else None


def pmax_entries(tup: dict[str, Any]) -> list[tuple[int, float]]:
    """(start s, W) of a tuple's PMaxSchedule (PMax: a PhysicalValue in ISO 15118-2, W in DIN)."""
    ents = (tup.get("PMaxSchedule") or {}).get("PMaxScheduleEntry") or []
    if isinstance(ents, dict):
        ents = [ents]
    out: list[tuple[int, float]] = []
    for e in ents:
        p = e.get("PMax")
        w = float(p) if isinstance(p, int | float) else to_float(p)
        out.append((int((e.get("RelativeTimeInterval") or {}).get("start", 0)), w))
    return out


def tariff_rows(tariff: dict[str, Any]) -> list[tuple[int, int | None]]:
    """(start s, EPriceLevel) of a SalesTariff."""
    rows = tariff.get("SalesTariffEntry") or []
    if isinstance(rows, dict):
        rows = [rows]
    return [
        (int(r["RelativeTimeInterval"]["start"]), r.get("EPriceLevel")) for r in rows if isinstance(r, dict)
    ]
