"""Property: whatever happens, the contactor is never closed in a state (or pilot reading) that forbids it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hal.types import CpState, MeterReading
from josev.coordinator import ContactorCmd, EvseCore, St
from josev.coordinator.states import CONTACTOR_CLOSED_STATES
from tests.coordinator.helpers import check_invariants, reach

actions = st.one_of(
    st.tuples(st.just("cp"), st.sampled_from(list(CpState)), st.booleans()),
    st.tuples(st.just("authorize"), st.sampled_from(["tok", "other", None])),
    st.tuples(st.just("deauthorize")),
    st.tuples(st.just("stop")),
    st.tuples(
        st.just("limit"),
        st.sampled_from(["ocpp", "station", "cable"]),
        st.sampled_from([None, 0, 5, 6, 16, 40]),
    ),
    st.tuples(st.just("slac"), st.booleans()),
    st.tuples(st.just("hlc_power"), st.booleans()),
    st.tuples(st.just("hlc_failed")),
    st.tuples(st.just("rcd"), st.booleans()),
    st.tuples(st.just("feedback"), st.booleans()),
    st.tuples(st.just("hw_fault")),
    st.tuples(st.just("clear")),
    st.tuples(st.just("meter"), st.booleans()),
    st.tuples(st.just("available"), st.booleans()),
    st.tuples(st.just("reserve")),
    st.tuples(st.just("cancel")),
    st.tuples(st.just("wait"), st.floats(0.0, 60.0)),
)
cp_actions = st.tuples(st.just("cp"), st.sampled_from([CpState.A, CpState.B, CpState.C]), st.just(False))
feedback_actions = st.tuples(st.just("feedback"), st.booleans())
hazard_actions = st.one_of(
    st.tuples(st.just("rcd"), st.just(True)),
    st.tuples(st.just("cp"), st.sampled_from([CpState.E, CpState.F]), st.just(False)),
    st.tuples(st.just("cp"), st.just(CpState.C), st.just(True)),
)
power_states = [St.READY, St.CHARGING, St.STOPPING, St.HLC, St.HLC_CHARGING, St.SUSPENDED_EVSE]


def run(c: EvseCore, act: tuple[Any, ...], t: float) -> list[Any]:
    name = act[0]
    if name == "cp":
        return c.cp(act[1], t, diode_fault=act[2])
    if name == "authorize":
        try:
            return c.authorize(t, act[1])
        except PermissionError:
            return []
    if name == "reserve":
        try:
            return c.reserve("tok", t + 30, t)
        except PermissionError:
            return []
    simple = {
        "deauthorize": lambda: c.deauthorize(t),
        "stop": lambda: c.stop(t),
        "hlc_failed": lambda: c.hlc_failed(t),
        "hw_fault": lambda: c.hw_fault("lock_failed", t),
        "clear": lambda: c.clear_fault(None, t),
        "cancel": lambda: c.cancel_reservation(t),
    }
    if name in simple:
        return simple[name]()
    if name == "limit":
        return c.set_limit(act[1], act[2], t)
    if name == "slac":
        return c.slac(act[1], t)
    if name == "hlc_power":
        return c.hlc_power(act[1], t)
    if name == "rcd":
        return c.rcd(act[1], t)
    if name == "feedback":
        return c.contactor_feedback(act[1], t)
    if name == "meter":
        return c.meter(MeterReading(energy_wh=t, power_w=0.0) if act[1] else None, t)
    if name == "available":
        return c.set_available(act[1], t)
    raise AssertionError(name)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(st.sampled_from(list(St)), st.sampled_from(power_states)),
    st.lists(st.one_of(actions, cp_actions, cp_actions, feedback_actions, hazard_actions), max_size=40),
    st.booleans(),
    st.sampled_from(["stop", "continue", "fault"]),
)
def test_contactor_never_closed_where_forbidden(
    start: St, seq: list[tuple[Any, ...]], fallback: bool, meter_loss: str
) -> None:
    """From every state (reached by a real path), any sequence of inputs keeps the safety invariants."""
    c, t = reach(start, basic_fallback=fallback, meter_loss=meter_loss)
    rcd_tripped = False
    for act in seq:
        t += 0.01
        if act[0] == "wait":
            t += act[1]
            outs = []
            while (d := c.next_deadline()) is not None and d <= t:
                outs += c.poll(d)
            outs += c.poll(t)
        else:
            outs = run(c, act, t)
        for o in outs:
            if isinstance(o, ContactorCmd) and o.closed:
                assert c.history and c.history[-1][3] in CONTACTOR_CLOSED_STATES
        check_invariants(c, outs)
        # hazards open the contactor at once, whatever the state: RCD trip (until reset), pilot short or
        # failure, missing diode, unplug
        if act[0] == "rcd":
            rcd_tripped = act[1]
        elif act[0] == "clear":
            rcd_tripped = False
        if rcd_tripped:
            assert not c.contactor_closed
        if act[0] == "cp" and (act[2] or act[1] in (CpState.A, CpState.E, CpState.F)):
            assert not c.contactor_closed, act
