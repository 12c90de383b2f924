"""Property test of the composite schedule: for random profile sets (every purpose and kind, stack levels,
validity windows, durations, A and W, phases, a running transaction, EMS limits), the composite's value at any
instant equals the limit evaluated directly at that instant - i.e. no change point is missed or invented -
and never exceeds any single input that applies then."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from josev.ocpp.smartcharging import composite as C

T0 = C.ts("2026-01-05T00:00:00Z")
DAY = 86400


@st.composite
def profiles(draw: Any) -> list[C.Installed]:
    out = []
    for pid in range(draw(st.integers(0, 6))):
        purpose = draw(st.sampled_from(["TxDefaultProfile", "TxProfile", "ChargingStationMaxProfile"]))
        kind = draw(st.sampled_from(["Absolute", "Relative", "Recurring"]))
        unit = draw(st.sampled_from(["A", "W"]))
        starts = sorted(set(draw(st.lists(st.integers(1, 30000), max_size=4))))
        periods = [{"startPeriod": 0, "limit": float(draw(st.integers(0, 400)) / 10)}]
        for sp in starts:
            p: dict[str, Any] = {"startPeriod": sp, "limit": float(draw(st.integers(0, 400)) / 10)}
            if draw(st.booleans()):
                p["numberPhases"] = draw(st.integers(1, 3))
            periods.append(p)
        if unit == "W":
            for p in periods:
                p["limit"] = round(p["limit"] * 690, 1)
        sched: dict[str, Any] = {"id": 1, "chargingRateUnit": unit, "chargingSchedulePeriod": periods}
        if draw(st.booleans()):
            sched["duration"] = (
                starts[-1] + draw(st.integers(1, 20000)) if starts else draw(st.integers(1, 40000))
            )
        prof: dict[str, Any] = {
            "id": pid,
            "stackLevel": draw(st.integers(0, 3)),
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind,
            "chargingSchedule": [sched],
        }
        if kind != "Relative":
            sched["startSchedule"] = C.iso(T0 + draw(st.integers(-2 * DAY, DAY)))
        if kind == "Recurring":
            prof["recurrencyKind"] = draw(st.sampled_from(["Daily", "Weekly"]))
        if draw(st.booleans()):
            prof["validFrom"] = C.iso(T0 + draw(st.integers(-DAY, DAY)))
        if draw(st.booleans()):
            prof["validTo"] = C.iso(T0 + draw(st.integers(DAY // 2, 3 * DAY)))
        if purpose == "TxProfile":
            prof["transactionId"] = draw(st.sampled_from(["tx-1", "tx-2"]))
        evse = 0 if purpose == "ChargingStationMaxProfile" else draw(st.sampled_from([0, 1, 2]))
        if purpose == "TxProfile":
            evse = 1
        out.append(C.Installed(evse, prof))
    return out


@settings(max_examples=150, deadline=None)
@given(
    profiles(),
    st.integers(-DAY, DAY),
    st.sampled_from(["A", "W"]),
    st.none() | st.integers(-40000, 0),
    st.none() | st.integers(6, 40),
    st.lists(st.integers(0, 2 * DAY), min_size=5, max_size=20),
)
def test_composite_equals_pointwise_limit(
    installed: list[C.Installed],
    start_off: int,
    unit: str,
    tx_off: int | None,
    ems: int | None,
    probes: list[int],
) -> None:
    start = T0 + start_off
    duration = 2 * DAY
    info = C.EvseInfo(phases=3, voltage_v=230.0, max_a=32.0)
    tx = None if tx_off is None else C.Tx("tx-1", start + tx_off)
    local = [] if ems is None else [C.Limit(float(ems), "A")]
    comp = C.composite(installed, 1, start, duration, unit, info, tx, local)
    assert comp.periods[0].start == start
    assert all(a.start < b.start for a, b in zip(comp.periods, comp.periods[1:], strict=False))
    for off in [0, *probes]:
        t = start + min(off, duration - 1)
        want, _ = C.limit_at(installed, 1, t, unit, info, tx, local, window_start=start)
        assert want is not None  # the hardware limit always applies
        assert comp.at(t) == want, (off, comp.periods)
        assert want <= C.floor1(32.0 if unit == "A" else 32.0 * 690) + 1e-9
        if ems is not None and unit == "A":
            assert want <= ems
