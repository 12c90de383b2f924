"""The DC output machine and the DC coordinator core, with a fake clock (time passed in)."""

from __future__ import annotations

import pytest

from hal.types import CpState
from josev.coordinator.config import DcConfig
from josev.coordinator.dc import DTABLE, DcFlow, Di, Dp, accepts, classify_isolation, render_markdown
from josev.coordinator.dccore import DcEvseCore
from josev.coordinator.outputs import ContactorCmd, DcCmd, DcReport, ImdCmd, LockCmd
from josev.coordinator.states import St
from tests.coordinator.dc_helpers import check_dc_invariants, dc_core, to_phase


def phase_of(c: DcEvseCore) -> Dp:
    """The DC phase (a call, so mypy does not narrow it across inputs)."""
    return c.dc.phase


def state_of(c: DcEvseCore) -> St:
    """The main state (see phase_of)."""
    return c.state


EXPECTED = {
    (Dp.OFF, Di.CABLE_CHECK): Dp.EV_WAIT,
    (Dp.EV_WAIT, Di.CABLE_CHECK): Dp.EV_WAIT,
    (Dp.EV_WAIT, Di.EV_READY): Dp.CABLE_CHECK,
    (Dp.EV_WAIT, Di.TIMEOUT): Dp.OFF,
    (Dp.EV_WAIT, Di.SHUTDOWN): Dp.OFF,
    (Dp.EV_WAIT, Di.ISO_OK): Dp.EV_WAIT,
    (Dp.OFF, Di.EV_READY): Dp.OFF,
    (Dp.CABLE_CHECK, Di.ISO_OK): Dp.CHECKED,
    (Dp.CABLE_CHECK, Di.ISO_FAULT): Dp.FAULT,
    (Dp.CABLE_CHECK, Di.TIMEOUT): Dp.FAULT,
    (Dp.CHECKED, Di.PRECHARGE): Dp.PRECHARGE,
    (Dp.CHECKED, Di.CABLE_CHECK): Dp.EV_WAIT,
    (Dp.PRECHARGE, Di.POWER_ON): Dp.CHARGING,
    (Dp.CHARGING, Di.POWER_OFF): Dp.STOPPING,
    (Dp.CHARGING, Di.SHUTDOWN): Dp.STOPPING,
    (Dp.CHARGING, Di.ISO_FAULT): Dp.FAULT,
    (Dp.CHARGING, Di.OVER_VOLTAGE): Dp.FAULT,
    (Dp.PRECHARGE, Di.SHUTDOWN): Dp.STOPPING,
    (Dp.STOPPING, Di.CURRENT_LOW): Dp.WELDING,
    (Dp.STOPPING, Di.TIMEOUT): Dp.WELDING,
    (Dp.WELDING, Di.VOLTAGE_LOW): Dp.OFF,
    (Dp.WELDING, Di.TIMEOUT): Dp.FAULT,
    (Dp.FAULT, Di.RESET): Dp.OFF,
    (Dp.OFF, Di.POWER_ON): Dp.OFF,
    (Dp.CHECKED, Di.POWER_ON): Dp.CHECKED,
    (Dp.OFF, Di.PRECHARGE): Dp.OFF,
    (Dp.PRECHARGE, Di.CHARGE_TARGET): Dp.PRECHARGE,
    (Dp.FAULT, Di.CABLE_CHECK): Dp.FAULT,
}


def test_table_is_total_and_rendered() -> None:
    assert set(DTABLE) == {(p, i) for p in Dp for i in Di}
    md = render_markdown()
    for p in Dp:
        assert f"| {p.name} |" in md


@pytest.mark.parametrize(("phase", "inp"), [(p, i) for p in Dp for i in Di])
def test_every_pair(phase: Dp, inp: Di) -> None:
    f = DcFlow(DcConfig())
    f.phase = phase
    nxt, fault = DTABLE[(phase, inp)]
    assert f.feed(inp, 10.0) == fault
    assert f.phase is nxt
    if (phase, inp) in EXPECTED:
        assert nxt is EXPECTED[(phase, inp)]
    if nxt is not phase and nxt in (Dp.CABLE_CHECK, Dp.STOPPING, Dp.WELDING):
        assert f.deadline is not None and f.deadline > 10.0
    if fault is not None:
        assert nxt is Dp.FAULT
    if inp.name in ("CABLE_CHECK", "PRECHARGE", "POWER_ON") and not accepts(phase, inp):
        assert nxt is phase and fault is None


def test_isolation_levels() -> None:
    assert classify_isolation(None, 500) == "invalid"
    assert classify_isolation(10e6, 500) == "valid"
    assert classify_isolation(100e3, 500) == "warning"
    assert classify_isolation(40e3, 500) == "fault"


def test_full_session_outputs() -> None:
    c = dc_core()
    t = to_phase(c, Dp.OFF)
    out = c.cable_check(t)
    assert ContactorCmd(True) in out and DcCmd(True, 450.0, 1.0) in out and ImdCmd(True) in out
    assert c.dc.test_voltage_v == 450.0  # capped at the EV's maximum
    c.contactor_feedback(True, t)
    out = c.dc_measurement(300.0, 0.0, 10e6, t + 0.1)  # voltage not reached yet: no verdict
    assert phase_of(c) is Dp.CABLE_CHECK
    out = c.dc_measurement(449.0, 0.0, 10e6, t + 0.5)
    assert phase_of(c) is Dp.CHECKED and c.dc.isolation == "valid"
    assert DcCmd(False, 0.0, 0.0) in out and c.contactor_closed
    out = c.ev_target("precharge", 390.0, 2.0, t + 1)
    assert DcCmd(True, 390.0, 2.0) in out
    reports = [o for o in out if isinstance(o, DcReport)]
    assert reports and reports[-1].phase == "precharge"
    c.hlc_power(True, t + 2)
    assert state_of(c) is St.HLC_CHARGING and phase_of(c) is Dp.CHARGING
    assert c.contactor_confirmed(True)
    out = c.ev_target("charge", 400.0, 100.0, t + 3)
    assert DcCmd(True, 400.0, 100.0) in out
    out = c.hlc_power(False, t + 4)
    assert state_of(c) is St.HLC and phase_of(c) is Dp.STOPPING
    assert DcCmd(False, 0.0, 0.0) in out and ContactorCmd(False) not in out  # current still flowing
    assert ImdCmd(False) in out
    out = c.dc_measurement(400.0, 0.3, 10e6, t + 4.2)
    assert phase_of(c) is Dp.WELDING and ContactorCmd(False) in out
    c.contactor_feedback(False, t + 4.3)
    assert c.contactor_confirmed(False)
    c.dc_measurement(200.0, 0.0, None, t + 4.4)
    assert phase_of(c) is Dp.WELDING
    c.dc_measurement(40.0, 0.0, None, t + 4.6)
    assert phase_of(c) is Dp.OFF and not c.faults
    check_dc_invariants(c)


def test_cable_check_refusals() -> None:
    c = dc_core()
    with pytest.raises(PermissionError, match="no HLC session"):
        c.cable_check(0.0)
    c.cp(CpState.B, 0.0)
    c.slac(True, 0.0)
    with pytest.raises(PermissionError, match="not authorized"):
        c.cable_check(0.0)
    c.authorize(0.0, "tok")
    c.cp(CpState.C, 0.0)
    c.cable_check(0.0)
    assert phase_of(c) is Dp.CABLE_CHECK  # pilot at C: the test starts at once
    with pytest.raises(PermissionError, match="power_on not allowed"):
        c.hlc_power(True, 0.0)  # no precharge yet


def hlc_at_b(c: DcEvseCore) -> None:
    c.cp(CpState.B, 0.0)
    c.slac(True, 0.0)
    c.authorize(0.0, "tok")
    c.ev_parameters(450.0, 150.0, 60000.0, 0.0)


def test_cable_check_at_b_waits_for_c_then_tests() -> None:
    """The EV asks for the cable check before it closes S2: EV_WAIT (output off, contactor open, monitor stopped)
    until C, then the isolation test."""
    c = dc_core()
    hlc_at_b(c)
    out = c.cable_check(1.0)
    assert phase_of(c) is Dp.EV_WAIT and c.dc.deadline == 1.0 + DcConfig().ev_ready_timeout_s
    assert not c.want_closed() and not c.dc_targets.enabled
    assert not any(isinstance(o, ContactorCmd) and o.closed for o in out)
    assert not any(isinstance(o, ImdCmd) and o.running for o in out)
    assert [o.phase for o in out if isinstance(o, DcReport)] == ["ev_wait"]
    c.cable_check(1.5)  # the SECC asking again changes nothing
    assert phase_of(c) is Dp.EV_WAIT and c.dc.deadline == 1.0 + DcConfig().ev_ready_timeout_s
    c.poll(2.0)
    assert phase_of(c) is Dp.EV_WAIT
    out = c.cp(CpState.C, 2.5)
    assert phase_of(c) is Dp.CABLE_CHECK and c.dc.refused == ""
    assert c.want_closed() and c.dc_targets.enabled and c.dc_targets.voltage_v == 450.0
    assert ImdCmd(True) in out
    assert c.dc.deadline == 2.5 + DcConfig().cable_check_timeout_s
    c.contactor_feedback(True, 2.5)
    c.dc_measurement(450.0, 0.0, 10e6, 3.0)
    assert phase_of(c) is Dp.CHECKED and c.dc.isolation == "valid" and not c.faults
    check_dc_invariants(c)


def test_cable_check_at_b_without_c_ends_without_fault() -> None:
    c = dc_core()
    hlc_at_b(c)
    c.cable_check(1.0)
    bound = DcConfig().ev_ready_timeout_s
    assert c.next_deadline() == 1.0 + bound
    c.poll(1.0 + bound - 0.01)
    assert phase_of(c) is Dp.EV_WAIT
    c.poll(1.0 + bound)
    assert phase_of(c) is Dp.OFF and c.dc.refused == "ev_not_ready" and c.dc.fault == ""
    assert state_of(c) is St.HLC and not c.faults  # the session goes on; the SECC answers FAILED
    assert not c.want_closed()
    # a new request waits afresh
    c.cable_check(20.0)
    assert phase_of(c) is Dp.EV_WAIT and c.dc.refused == ""


def test_cable_check_at_b_stopped_by_unplug() -> None:
    c = dc_core()
    hlc_at_b(c)
    c.cable_check(1.0)
    c.cp(CpState.A, 2.0)
    assert phase_of(c) is Dp.OFF and state_of(c) is St.IDLE and c.dc.deadline is None


def test_cable_check_at_b_without_imd() -> None:
    c = dc_core(has_imd=False)
    hlc_at_b(c)
    c.cable_check(1.0)
    assert phase_of(c) is Dp.EV_WAIT
    c.cp(CpState.C, 1.2)
    assert phase_of(c) is Dp.CHECKED and c.dc.isolation == "no_imd"


def test_isolation_fault_is_a_safe_state() -> None:
    c = dc_core()
    t = to_phase(c, Dp.CABLE_CHECK)
    out = c.dc_measurement(450.0, 0.0, 30e3, t + 0.5)
    assert c.state is St.FAULTED and "isolation_fault" in c.faults
    assert c.dc.isolation == "fault" and c.dc.phase is Dp.FAULT
    assert DcCmd(False, 0.0, 0.0) in out and ContactorCmd(False) in out
    assert out.index(DcCmd(False, 0.0, 0.0)) < out.index(ContactorCmd(False))
    check_dc_invariants(c, out)
    c.clear_fault(None, t + 1)
    assert state_of(c) is St.IDLE and phase_of(c) is Dp.OFF


def test_isolation_fault_while_charging() -> None:
    c = dc_core()
    t = to_phase(c, Dp.CHARGING)
    c.dc_measurement(400.0, 100.0, 120e3, t)
    assert c.dc.isolation == "warning" and c.state is St.HLC_CHARGING
    out = c.dc_measurement(400.0, 100.0, 20e3, t + 0.1)
    assert state_of(c) is St.FAULTED and "isolation_fault" in c.faults and not c.dc_targets.enabled
    check_dc_invariants(c, out)


def test_cable_check_timeout_when_monitor_gives_nothing() -> None:
    c = dc_core(cable_check_timeout_s=3.0)
    t = to_phase(c, Dp.CABLE_CHECK)
    assert c.next_deadline() == pytest.approx(t + 3.0)
    c.dc_measurement(450.0, 0.0, None, t + 1)
    c.poll(t + 3.0)
    assert c.state is St.FAULTED and "isolation_timeout" in c.faults


def test_no_imd_reports_no_imd() -> None:
    c = dc_core(has_imd=False)
    to_phase(c, Dp.OFF)
    out = c.cable_check(0.0)
    assert c.dc.phase is Dp.CHECKED and c.dc.isolation == "no_imd"
    assert not any(isinstance(o, ImdCmd) and o.running for o in out)


def test_over_voltage_faults() -> None:
    c = dc_core()
    to_phase(c, Dp.FAULT)
    assert c.state is St.FAULTED and c.faults == ["over_voltage"]
    assert not c.contactor_closed and not c.dc_targets.enabled


def test_voltage_persisting_after_opening_faults() -> None:
    c = dc_core(welding_timeout_s=2.0)
    t = to_phase(c, Dp.WELDING)
    c.dc_measurement(380.0, 0.0, None, t + 1)  # the EV's contactor is still closed (welded)
    c.poll(t + 2.0)
    assert c.state is St.FAULTED and "dc_voltage_persists" in c.faults


def test_ramp_down_timeout_opens_anyway() -> None:
    c = dc_core(ramp_down_timeout_s=0.5)
    t = to_phase(c, Dp.STOPPING)
    assert c.contactor_closed
    c.dc_measurement(400.0, 50.0, None, t + 0.2)
    out = c.poll(t + 0.5)
    assert c.dc.phase is Dp.WELDING and ContactorCmd(False) in out


def test_targets_outside_their_phase_are_ignored() -> None:
    c = dc_core()
    t = to_phase(c, Dp.CABLE_CHECK)
    c.ev_target("precharge", 400.0, 2.0, t)
    c.ev_target("charge", 400.0, 100.0, t)
    assert c.dc.phase is Dp.CABLE_CHECK and c.dc_targets.current_a == 1.0
    t = to_phase(c2 := dc_core(), Dp.PRECHARGE)
    c2.ev_target("charge", 400.0, 100.0, t)
    assert c2.dc.phase is Dp.PRECHARGE and c2.dc_targets.current_a == 2.0


def test_limits_and_flags() -> None:
    c = dc_core(max_current_a=150.0, max_voltage_v=500.0, max_power_w=50000.0)
    t = to_phase(c, Dp.CHARGING)
    c.ev_target("charge", 480.0, 200.0, t)
    tg = c.dc_targets
    assert tg.voltage_v == 450.0 and tg.voltage_limit_achieved  # EV max 450
    assert tg.current_limit_achieved
    assert tg.current_a == pytest.approx(50000.0 / 450.0) and tg.power_limit_achieved
    # an OCPP limit in watts (converted to AC-equivalent amps) reduces the DC power
    c.set_limit("ocpp", 20000.0 / (3 * 230.0), t)
    c.ev_target("charge", 400.0, 100.0, t)
    assert c.dc_targets.current_a == pytest.approx(50.0) and c.dc_targets.power_limit_achieved
    check_dc_invariants(c)


def test_bpt_discharge_within_limits() -> None:
    c = dc_core(max_discharge_current_a=80.0, max_discharge_power_w=20000.0)
    t = to_phase(c, Dp.CHARGING)
    c.ev_target("charge", 400.0, -50.0, t)
    assert c.dc_targets.current_a == -50.0 and not c.dc_targets.current_limit_achieved
    c.ev_target("charge", 400.0, -120.0, t)
    assert c.dc_targets.current_a == -50.0 and c.dc_targets.current_limit_achieved  # 20 kW / 400 V
    assert c.dc.discharge_limits(c.balanced_power_w()) == (80.0, 20000.0)
    check_dc_invariants(c)


def test_no_bpt_no_discharge() -> None:
    c = dc_core()
    t = to_phase(c, Dp.CHARGING)
    c.ev_target("charge", 400.0, -50.0, t)
    assert c.dc_targets.current_a == 0.0 and c.dc_targets.current_limit_achieved
    assert c.dc.discharge_limits(1e9) == (None, None)


def test_ev_leaving_c_during_precharge_shuts_down() -> None:
    c = dc_core()
    t = to_phase(c, Dp.PRECHARGE)
    out = c.cp(CpState.B, t)
    assert c.dc.phase is Dp.STOPPING and not c.dc_targets.enabled and not c.contactor_closed
    check_dc_invariants(c, out)


def test_station_stop_while_charging() -> None:
    c = dc_core()
    t = to_phase(c, Dp.CHARGING)
    out = c.stop(t, "remote")
    assert c.state is St.STOPPING and c.dc.phase is Dp.STOPPING
    assert DcCmd(False, 0.0, 0.0) in out and c.contactor_closed
    out = c.dc_measurement(400.0, 0.0, None, t + 0.1)
    assert not c.contactor_closed and c.dc.phase is Dp.WELDING


def test_rcd_trip_while_charging_output_off_before_contactor() -> None:
    c = dc_core()
    t = to_phase(c, Dp.CHARGING)
    out = c.rcd(True, t)
    assert c.state is St.FAULTED
    assert out.index(DcCmd(False, 0.0, 0.0)) < out.index(ContactorCmd(False))
    check_dc_invariants(c, out)


def test_lock_held_while_voltage_present() -> None:
    c = dc_core(evse={"has_lock": True}, welding_timeout_s=2.0)
    t = to_phase(c, Dp.WELDING)
    c.dc_measurement(380.0, 0.0, None, t + 0.5)  # the EV's contactor is welded: the cable stays live
    out = c.poll(t + 2.0)
    assert c.state is St.FAULTED and LockCmd(False) not in out
    with pytest.raises(PermissionError):
        c.unlock(t + 2.1)
    out = c.dc_measurement(30.0, 0.0, None, t + 3.0)
    assert LockCmd(False) in out
    c.unlock(t + 3.1)


def test_lock_follows_session_when_voltage_low() -> None:
    c = dc_core(evse={"has_lock": True})
    t = to_phase(c, Dp.CHARGING)
    out = c.cp(CpState.A, t)  # unplugged under load (cable torn out): output off, lock kept while > 60 V
    assert c.state is St.IDLE and not c.dc_targets.enabled and LockCmd(False) not in out
    out = c.dc_measurement(10.0, 0.0, None, t + 1)
    assert LockCmd(False) in out


def test_max_current_follows_the_power_limit() -> None:
    c = dc_core(max_current_a=200.0, max_power_w=50000.0, min_voltage_v=150.0)
    t = to_phase(c, Dp.CHARGING)
    c.dc_measurement(400.0, 100.0, None, t)
    assert c.dc.max_current(c.balanced_power_w()) == pytest.approx(125.0)
    c.set_limit("station", 10000.0 / (3 * 230.0), t)  # load balancing gives this EVSE 10 kW
    assert c.dc.max_current(c.balanced_power_w()) == pytest.approx(25.0)
    c.dc_measurement(0.0, 0.0, None, t)
    assert c.dc.max_current(c.balanced_power_w()) == pytest.approx(10000.0 / 150.0)
