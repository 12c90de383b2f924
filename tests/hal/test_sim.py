"""The simulated board and EV under a fake clock."""

from __future__ import annotations

import pytest

from hal.interfaces import Board, Contactor, ControlPilot, PowerMeter, safe_state
from hal.sim import FakeClock, SimBoard, SimEv
from hal.types import CpState, LockState, MeterError, PilotMode, PilotOutput

PWM16 = PilotOutput(PilotMode.PWM, 26.6)


def req(ev: SimEv) -> CpState:
    return ev.requested


def board(n: int = 1) -> tuple[SimBoard, FakeClock]:
    clk = FakeClock()
    return SimBoard.with_channels(n, clk, has_pp=True, has_lock=True), clk


def test_protocols_are_met() -> None:
    b, _ = board()
    ch = b.channel(1)
    assert isinstance(b, Board) and isinstance(ch.cp, ControlPilot)
    assert isinstance(ch.contactor, Contactor) and isinstance(ch.meter, PowerMeter)
    with pytest.raises(KeyError):
        b.channel(2)


def test_pilot_states_follow_ev() -> None:
    b, _ = board()
    s = b.sim(1)
    cp = s.cp
    assert cp.read().state is CpState.A
    ev = s.plug(SimEv(), cable_a=20.0)
    assert cp.read().state is CpState.B and s.pp.cable_ampacity() == 20.0
    assert s.pp.resistance_ohm() == pytest.approx(668.0)
    ev.requested = CpState.C
    cp.set_output(PWM16)
    r = cp.read()
    assert r.state is CpState.C and r.low_v == -12.0 and not r.diode_fault
    ev.diode_fault = True
    assert cp.read().diode_fault
    ev.diode_fault = False
    ev.short_to_pe = True
    assert cp.read().state is CpState.E
    cp.set_output(PilotOutput(PilotMode.F))
    assert cp.read().state is CpState.F


def test_energy_integrates_deterministically() -> None:
    b, clk = board()
    s = b.sim(1)
    ev = s.plug(SimEv(max_current_a=32.0, phases=3))
    ev.requested = CpState.C
    s.cp.set_output(PWM16)  # 15.96 A
    s.contactor.set_closed(True)
    clk.advance(3600.0)
    r = s.meter.read()
    assert r.current_a[0] == pytest.approx(15.96)
    assert r.power_w == pytest.approx(15.96 * 230 * 3)
    assert r.energy_wh == pytest.approx(15.96 * 230 * 3)
    ev.requested = CpState.B
    clk.advance(100)
    assert s.meter.read().energy_wh == pytest.approx(15.96 * 230 * 3)


def test_faults_rcd_weld_meter_lock() -> None:
    b, _clk = board()
    s = b.sim(1)
    ev = s.plug(SimEv(requested=CpState.C))
    s.cp.set_output(PWM16)
    s.contactor.set_closed(True)
    assert s.current_a() > 0
    s.rcd.trip()
    assert s.rcd.tripped() and s.current_a() == 0
    s.rcd.reset()
    assert not s.rcd.tripped()
    s.contactor.weld()
    s.contactor.set_closed(False)
    assert s.contactor.feedback() is True and s.contactor.commanded() is False
    s.meter.lost = True
    with pytest.raises(MeterError):
        s.meter.read()
    s.lock.set_locked(True)
    assert s.lock.state() is LockState.LOCKED
    s.lock.jammed = True
    s.lock.set_locked(False)
    assert s.lock.state() is LockState.FAULT
    assert req(ev) is CpState.C


def test_opening_under_load_is_counted_and_auto_ev_stops_first() -> None:
    b, _ = board()
    s = b.sim(1)
    ev = s.plug(SimEv(auto_ready=True))
    s.cp.set_output(PWM16)
    assert req(ev) is CpState.C
    s.contactor.set_closed(True)
    s.contactor.set_closed(False)
    assert s.contactor.opens_under_load == 1
    s.contactor.set_closed(True)
    s.cp.set_output(PilotOutput(PilotMode.X1))  # the EV stops drawing and goes to B
    assert req(ev) is CpState.B and s.current_a() == 0
    s.contactor.set_closed(False)
    assert s.contactor.opens_under_load == 1


def test_safe_state_and_script() -> None:
    b, clk = board(2)
    s = b.sim(2)
    s.plug(SimEv(requested=CpState.C))
    s.cp.set_output(PWM16)
    s.contactor.set_closed(True)
    safe_state(b.channel(2), PilotOutput(PilotMode.F))
    assert not s.contactor.feedback() and s.cp.output().mode is PilotMode.F
    b.at(5.0, lambda: b.sim(1).plug())
    b.at(2.0, lambda: b.sim(1).plug(cable_a=13.0))
    clk.advance(3.0)
    assert b.run_due() == 1 and b.sim(1).cable_a == 13.0 and b.due() == 5.0


def test_pilot_output_validation() -> None:
    with pytest.raises(ValueError):
        PilotOutput(PilotMode.PWM, 0.0)
    with pytest.raises(ValueError):
        PilotOutput(PilotMode.X1, 50.0)


def test_ev_adapts_to_lower_duty_after_a_delay() -> None:
    b, clk = board()
    s = b.sim(1)
    s.plug(SimEv(requested=CpState.C, max_current_a=32.0, phases=1, adapt_s=2.0))
    s.cp.set_output(PilotOutput(PilotMode.PWM, 53.3))  # 31.98 A
    s.contactor.set_closed(True)
    clk.advance(1.0)
    s.cp.set_output(PWM16)  # 15.96 A, but the EV needs 2 s
    assert s.current_a() == pytest.approx(31.98)
    clk.advance(1.9)
    assert s.current_a() == pytest.approx(31.98)
    clk.advance(0.2)
    assert s.current_a() == pytest.approx(15.96)
    e = s.meter.read().energy_wh
    assert e == pytest.approx((31.98 * 3.0 + 15.96 * 0.1) * 230 / 3600)
    s.cp.set_output(PilotOutput(PilotMode.PWM, 53.3))  # increases apply at once
    assert s.current_a() == pytest.approx(31.98)


def test_ac_discharge_counts_on_the_export_register() -> None:
    """An AC car with a negative HLC current (ISO 15118-20 AC BPT) feeds the export register, not the import."""
    from hal.sim import SimBoard
    from hal.sim.clock import FakeClock
    from hal.sim.ev import SimEv
    from hal.types import CpState, PilotMode, PilotOutput

    clk = FakeClock()
    board = SimBoard.with_channels(1, clk)
    ch = board.sim(1)
    ch.plug(SimEv(requested=CpState.C, hlc_current_a=-16.0, phases=3))
    ch.cp.set_output(PilotOutput(PilotMode.PWM, 5.0))
    ch.contactor.set_closed(True)
    clk.advance(3600.0)
    r = ch.meter.read()
    assert r.energy_wh == 0.0
    assert r.energy_export_wh == pytest.approx(16.0 * 230.0 * 3 * 1.0, rel=1e-6)  # 1 h at 11 kW, in Wh
    assert r.power_w < 0
