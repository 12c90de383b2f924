"""Property: whatever happens, a DC EVSE's output is never energised (module on, a target above zero, or the
contactor closed) outside the states and DC phases that allow it, and never beyond the EVSE's limits."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hal.types import CpState
from josev.coordinator.dc import Dp
from josev.coordinator.dccore import DcEvseCore
from josev.coordinator.outputs import Out
from tests.coordinator.dc_helpers import check_dc_invariants, dc_core, to_phase

volts = st.sampled_from([0.0, 30.0, 200.0, 380.0, 450.0, 470.0, 600.0])
amps = st.sampled_from([-300.0, -60.0, -1.0, 0.0, 0.5, 2.0, 80.0, 400.0])
ohms = st.sampled_from([None, 10e6, 120e3, 20e3])
actions = st.one_of(
    st.tuples(st.just("cp"), st.sampled_from(list(CpState)), st.booleans()),
    st.tuples(st.just("authorize")),
    st.tuples(st.just("deauthorize")),
    st.tuples(st.just("stop")),
    st.tuples(
        st.just("limit"), st.sampled_from(["ocpp", "station"]), st.sampled_from([None, 0, 10, 40, 500])
    ),
    st.tuples(st.just("slac"), st.booleans()),
    st.tuples(st.just("hlc_power"), st.booleans()),
    st.tuples(st.just("hlc_failed")),
    st.tuples(st.just("rcd"), st.booleans()),
    st.tuples(st.just("feedback"), st.booleans()),
    st.tuples(st.just("hw_fault")),
    st.tuples(st.just("clear")),
    st.tuples(st.just("available"), st.booleans()),
    st.tuples(st.just("cable_check"), st.sampled_from([None, 300.0, 900.0])),
    st.tuples(st.just("target"), st.sampled_from(["precharge", "charge"]), volts, amps),
    st.tuples(st.just("params"), st.sampled_from([None, 300.0, 450.0, 900.0])),
    st.tuples(st.just("measure"), volts, amps, ohms),
    st.tuples(st.just("wait"), st.floats(0.0, 30.0)),
    st.tuples(st.just("unlock")),
)


def run(c: DcEvseCore, act: tuple[Any, ...], t: float) -> list[Out]:
    name = act[0]
    try:
        if name == "cp":
            return c.cp(act[1], t, diode_fault=act[2])
        if name == "authorize":
            return c.authorize(t, "tok")
        if name == "deauthorize":
            return c.deauthorize(t)
        if name == "stop":
            return c.stop(t)
        if name == "limit":
            return c.set_limit(act[1], act[2], t)
        if name == "slac":
            return c.slac(act[1], t)
        if name == "hlc_power":
            return c.hlc_power(act[1], t)
        if name == "hlc_failed":
            return c.hlc_failed(t)
        if name == "rcd":
            return c.rcd(act[1], t)
        if name == "feedback":
            return c.contactor_feedback(act[1], t)
        if name == "hw_fault":
            return c.hw_fault("board", t)
        if name == "clear":
            return c.clear_fault(None, t)
        if name == "available":
            return c.set_available(act[1], t)
        if name == "cable_check":
            return c.cable_check(t, act[1])
        if name == "target":
            return c.ev_target(act[1], act[2], act[3], t)
        if name == "params":
            return c.ev_parameters(act[1], 200.0, 60000.0, t)
        if name == "measure":
            return c.dc_measurement(act[1], act[2], act[3], t)
        if name == "unlock":
            return c.unlock(t)
    except PermissionError:
        return []
    assert name == "wait"
    return c.poll(t)


@settings(max_examples=300, deadline=None)
@given(
    start=st.sampled_from([Dp.OFF, Dp.CABLE_CHECK, Dp.PRECHARGE, Dp.CHARGING, Dp.STOPPING, Dp.WELDING]),
    bpt=st.booleans(),
    lock=st.booleans(),
    steps=st.lists(actions, min_size=1, max_size=40),
)
def test_dc_output_never_energised_where_forbidden(
    start: Dp, bpt: bool, lock: bool, steps: list[tuple[Any, ...]]
) -> None:
    c = dc_core({"has_lock": lock}, max_discharge_current_a=50.0 if bpt else None)
    t = to_phase(c, start)
    check_dc_invariants(c)
    for act in steps:
        if act[0] == "wait":
            t += act[1]
        out = run(c, act, t)
        check_dc_invariants(c, out)
