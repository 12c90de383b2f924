"""Duty cycle from current (IEC 61851-1) and limit sharing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from josev.coordinator.duty import current_to_duty, duty_to_current
from josev.coordinator.limits import Demand, Limits, StationBalancer, share_station_limit


@pytest.mark.parametrize(
    ("amps", "duty"),
    [(6, 10.0), (10, 16.6), (16, 26.6), (32, 53.3), (51, 85.0), (63, 89.2), (80, 96.0), (100, 96.0)],
)
def test_duty_values(amps: float, duty: float) -> None:
    assert current_to_duty(amps) == duty


@pytest.mark.parametrize("amps", [0, 5.99, -1, float("nan")])
def test_below_six_amps_is_no_pwm(amps: float) -> None:
    assert current_to_duty(amps) is None


@given(st.floats(min_value=6.0, max_value=80.0))
def test_ev_never_reads_more_than_the_limit(amps: float) -> None:
    duty = current_to_duty(amps)
    assert duty is not None and 10.0 <= duty <= 96.0
    got = duty_to_current(duty)
    assert got is not None and got <= amps + 1e-9
    # within one 0.1 % step (0.25 A above 51 A); between 51 and 52.75 A the norm's two formulas overlap (a
    # duty up to 85 % is read with x0.6), so 51 A is the most an EV can be told there
    floor = 51.0 if 51.0 < amps < 52.75 else amps
    assert got >= floor - 0.3


def test_ev_side_decoding_regions() -> None:
    assert duty_to_current(5.0) is None
    assert duty_to_current(7.5) is None
    assert duty_to_current(9.0) == 6.0
    assert duty_to_current(96.5) == 80.0
    assert duty_to_current(98.0) is None


def test_limits_minimum_and_binding() -> None:
    lim = Limits()
    assert lim.effective() == float("inf") and lim.binding() is None
    lim.set("evse", 32)
    lim.set("cable", 20)
    lim.set("ocpp", None)
    assert lim.effective() == 20 and lim.binding() == "cable"
    with pytest.raises(ValueError):
        lim.set("nonsense", 1)
    with pytest.raises(ValueError):
        lim.set("ocpp", -1)


def test_share_equal_and_capped() -> None:
    d = {1: Demand(32, 0), 2: Demand(32, 1), 3: Demand(10, 2), 4: Demand(32, 3)}
    got = share_station_limit(64, d)
    assert got[3] == 10
    assert got[1] == got[2] == got[4] == pytest.approx(18)
    assert sum(got.values()) == pytest.approx(64)


def test_share_too_small_serves_first_sessions() -> None:
    d = {1: Demand(32, 5), 2: Demand(32, 1), 3: Demand(32, 2)}
    got = share_station_limit(13, d)
    assert got == {2: 6.5, 3: 6.5, 1: 0.0}
    assert share_station_limit(5, d) == {1: 0.0, 2: 0.0, 3: 0.0}


@given(
    st.floats(min_value=0, max_value=500),
    st.dictionaries(st.integers(1, 8), st.tuples(st.floats(0, 80), st.floats(0, 100)), max_size=8),
)
def test_share_properties(station: float, raw: dict[int, tuple[float, float]]) -> None:
    d = {e: Demand(cap, since) for e, (cap, since) in raw.items()}
    got = share_station_limit(station, d)
    assert set(got) == set(d)
    assert sum(got.values()) <= station + 1e-6
    for e, v in got.items():
        assert v == 0.0 or 6.0 - 1e-9 <= v <= d[e].cap_a + 1e-9


def test_balancer_defers_increases_until_evs_adapted() -> None:
    b = StationBalancer(adapt_s=5.0)
    d1 = {1: Demand(32, 0)}
    assert b.update(40, d1, 0.0) == {1: 32}
    d2 = {1: Demand(32, 0), 2: Demand(32, 1)}
    # EVSE 1 goes down to 20 at once, but may draw 32 for 5 s: EVSE 2 gets 8 now
    assert b.update(40, d2, 1.0) == {1: 20, 2: 8}
    assert b.next_change(1.0) == 6.0
    assert b.update(40, d2, 6.0) == {1: 20, 2: 20}
    assert b.next_change(6.0) is None  # nothing left to grant


def test_balancer_never_grants_below_six_amps() -> None:
    b = StationBalancer(adapt_s=5.0)
    b.update(34, {1: Demand(32, 0)}, 0.0)
    got = b.update(34, {1: Demand(32, 0), 2: Demand(32, 1)}, 1.0)
    assert got == {1: 17, 2: 0}  # only 2 A free while EVSE 1 adapts: EVSE 2 waits
    assert b.update(34, {1: Demand(32, 0), 2: Demand(32, 1)}, 6.1) == {1: 17, 2: 17}


@given(
    st.lists(
        st.tuples(
            st.floats(0, 3),
            st.floats(0, 100),
            st.dictionaries(st.integers(1, 5), st.floats(0, 40), max_size=5),
        ),
        max_size=25,
    )
)
def test_balancer_worst_case_never_exceeds_station(
    steps: list[tuple[float, float, dict[int, float]]],
) -> None:
    b = StationBalancer(adapt_s=5.0)
    now = 0.0
    limits: list[tuple[float, float]] = []
    for dt, limit, caps in steps:
        now += dt
        limits.append((now, limit))
        demands = {e: Demand(c, e) for e, c in caps.items()}
        b.update(limit, demands, now)
        worst = sum(b.worst(e, now) for e in b.offered)
        # a lowered station limit cannot make EVs adapt faster than adapt_s: compare with the highest limit
        # in force during the adaptation window
        before = [lim for t, lim in limits if t <= now - 5.0]
        allowed = max([lim for t, lim in limits if t > now - 5.0] + before[-1:])
        assert worst <= allowed + 1e-6
        for v in b.offered.values():
            assert v == 0.0 or v >= 6.0 - 1e-9
