"""Coordinator sessions with a fake clock: timers, HLC rules, faults, authorization paths, meter loss."""

from __future__ import annotations

import pytest

from hal.types import CpState, MeterReading, PilotMode, PilotOutput
from josev.coordinator import ContactorCmd, EvseConfig, EvseCore, LockCmd, PilotCmd, SessionOut, St
from josev.coordinator.core import Out
from tests.coordinator.helpers import check_invariants, reach


def st(c: EvseCore) -> St:
    """The state (a call, so mypy does not narrow it across inputs)."""
    return c.state


def kinds(outs: list[Out]) -> list[str]:
    return [o.kind for o in outs if isinstance(o, SessionOut)]


def pilots(outs: list[Out]) -> list[PilotOutput]:
    return [o.out for o in outs if isinstance(o, PilotCmd)]


def test_basic_session_order_of_commands() -> None:
    c = EvseCore(EvseConfig(has_lock=True))
    c.start(0)
    assert kinds(c.cp(CpState.B, 1)) == ["started"]
    out = c.authorize(2, "card", "rfid")
    assert out[0] == SessionOut("authorized", "s1-1", id_token="card", auth_source="rfid")
    assert LockCmd(True) in out and pilots(out) == [PilotOutput(PilotMode.PWM, 53.3)]
    out = c.cp(CpState.C, 3)
    assert ContactorCmd(True) in out and st(c) is St.CHARGING
    c.contactor_feedback(True, 3.05)
    out = c.cp(CpState.B, 10)  # EV stops by itself: contactor opens at once, PWM stays
    assert out.index(ContactorCmd(False)) >= 0 and st(c) is St.READY
    assert "charging_stopped" in kinds(out)
    c.contactor_feedback(False, 10.05)
    out = c.cp(CpState.A, 20)
    assert LockCmd(False) in out
    assert kinds(out) == ["ended"] and st(c) is St.IDLE


def test_station_stop_waits_for_ev_then_forces_open() -> None:
    c, _t = reach(St.CHARGING, stop_timeout_s=6.0, contactor_feedback=False)
    out = c.stop(10.0, "remote")
    assert pilots(out) == [PilotOutput(PilotMode.X1)] and c.contactor_closed
    assert c.next_deadline() == 16.0
    assert c.poll(15.9) == []
    out = c.poll(16.0)
    assert ContactorCmd(False) in out and "forced_open" in kinds(out) and st(c) is St.FINISHED
    check_invariants(c)


def test_contactor_opens_before_pilot_on_fault() -> None:
    c, _t = reach(St.CHARGING)
    out = c.rcd(True, 1.0)
    cmds = [o for o in out if isinstance(o, ContactorCmd | PilotCmd)]
    assert cmds[0] == ContactorCmd(False) and cmds[1] == PilotCmd(PilotOutput(PilotMode.F))
    assert c.faults == ["rcd_trip"] and st(c) is St.FAULTED
    assert c.next_deadline() is not None  # contactor supervision only; rcd is latched: no retry timer
    c.contactor_feedback(False, 1.05)
    assert c.next_deadline() is None
    c.rcd(False, 5.0)  # RCD reset
    assert st(c) is St.IDLE and c.faults == []


def test_pilot_short_retries_after_timeout() -> None:
    c, _t = reach(St.PLUGGED, fault_retry_s=10.0)
    out = c.cp(CpState.E, 1.0)
    assert st(c) is St.FAULTED and c.faults == ["pilot_short"] and kinds(out) == ["stopped", "ended"]
    c.cp(CpState.F, 1.1)  # reading under our own F: ignored
    assert c.next_deadline() == 11.0
    out = c.poll(11.0)
    assert st(c) is St.IDLE and pilots(out) == [PilotOutput(PilotMode.X1)]
    assert c.cp_state is None  # a reading under F says nothing: wait for a fresh one
    assert kinds(c.cp(CpState.B, 11.1)) == ["started"]


def test_welded_contactor_is_latched_fault() -> None:
    c, _t = reach(St.CHARGING)
    c.cp(CpState.B, 5.0)
    assert c.next_deadline() == pytest.approx(5.5)
    c.poll(5.5)  # feedback never dropped
    assert st(c) is St.FAULTED and c.faults == ["contactor_welded"]
    assert c.next_deadline() is None
    c.poll(100.0)
    assert st(c) is St.FAULTED
    c.clear_fault(None, 101.0)
    assert st(c) is St.IDLE


def test_hlc_retry_then_fallback_to_basic() -> None:
    c = EvseCore(EvseConfig(hlc_offered=True, slac_retries=1, slac_init_timeout_s=20, t_step_ef_s=4))
    c.start(0)
    out = c.cp(CpState.B, 0)
    assert pilots(out) == [PilotOutput(PilotMode.PWM, 5.0)] and st(c) is St.HLC_WAIT
    c.authorize(1.0, "tok")  # 5 % stays while HLC may still come
    assert st(c) is St.HLC_WAIT
    out = c.poll(20.0)
    assert st(c) is St.EF_PAUSE and pilots(out) == [PilotOutput(PilotMode.F)]
    out = c.poll(24.0)  # retry SLAC at 5 %
    assert st(c) is St.HLC_WAIT and pilots(out) == [PilotOutput(PilotMode.PWM, 5.0)]
    c.cp(CpState.B, 24.1)
    c.poll(44.0)  # no retries left: fall back via E/F
    assert st(c) is St.EF_PAUSE
    out = c.poll(48.0)
    assert st(c) is St.READY and pilots(out) == [PilotOutput(PilotMode.PWM, 53.3)]


def test_hlc_no_fallback_finishes() -> None:
    c = EvseCore(EvseConfig(hlc_offered=True, slac_retries=0, basic_fallback=False, can_drive_e=True))
    c.start(0)
    c.cp(CpState.B, 0)
    out = c.slac(False, 1.0)
    assert st(c) is St.FINISHED and "stopped" in kinds(out)
    assert c.session is not None and c.session.stop_reason == "slac_failed"


def test_hlc_power_needs_request_and_c() -> None:
    c, _t = reach(St.HLC)
    c.cp(CpState.C, 1.0)
    assert st(c) is St.HLC and not c.contactor_closed
    out = c.hlc_power(True, 2.0)
    assert st(c) is St.HLC_CHARGING and ContactorCmd(True) in out
    assert c.pilot == PilotOutput(PilotMode.PWM, 5.0)
    out = c.hlc_power(False, 3.0)
    assert st(c) is St.HLC and ContactorCmd(False) in out


def test_preauth_before_plug_and_expiry() -> None:
    c = EvseCore(EvseConfig(preauth_timeout_s=30))
    c.start(0)
    c.authorize(0.0, "card", "local")
    c.cp(CpState.B, 10.0)
    assert st(c) is St.READY and c.session is not None and c.session.auth_source == "local"
    c2 = EvseCore(EvseConfig(preauth_timeout_s=30))
    c2.start(0)
    c2.authorize(0.0, "card", "local")
    c2.cp(CpState.B, 31.0)
    assert st(c2) is St.PLUGGED


def test_free_charging() -> None:
    c = EvseCore(EvseConfig(free_charging=True))
    c.start(0)
    out = c.cp(CpState.C, 0.0)  # EV plugged in already ready
    assert st(c) is St.CHARGING and kinds(out) == ["started", "authorized", "charging_started"]


def test_reservation_only_for_its_token() -> None:
    c, _t = reach(St.RESERVED)
    with pytest.raises(PermissionError):
        c.authorize(1.0, "other")
    c.authorize(1.0, "tok")
    c.cp(CpState.B, 2.0)
    assert st(c) is St.READY and c.reserved_for is None


def test_reservation_expires() -> None:
    c = EvseCore()
    c.start(0)
    c.reserve("tok", 50.0, 0.0)
    assert c.next_deadline() == 50.0
    c.poll(50.0)
    assert st(c) is St.IDLE


def test_unavailable_after_session() -> None:
    c, _t = reach(St.CHARGING, contactor_feedback=False)
    c.set_available(False, 1.0)
    assert st(c) is St.CHARGING
    c.cp(CpState.B, 2.0)
    c.cp(CpState.A, 3.0)
    assert st(c) is St.UNAVAILABLE and c.pilot.mode is PilotMode.F
    c.set_available(True, 4.0)
    assert st(c) is St.IDLE


def test_limit_changes_and_suspension() -> None:
    c, _t = reach(St.CHARGING, contactor_feedback=False)
    assert pilots(c.set_limit("ocpp", 10.0, 1.0)) == [PilotOutput(PilotMode.PWM, 16.6)]
    out = c.set_limit("station", 3.0, 2.0)
    assert st(c) is St.STOPPING and pilots(out) == [PilotOutput(PilotMode.X1)]
    c.cp(CpState.B, 3.0)
    assert st(c) is St.SUSPENDED_EVSE and not c.contactor_closed
    out = c.set_limit("station", 20.0, 4.0)
    assert st(c) is St.READY and pilots(out) == [PilotOutput(PilotMode.PWM, 16.6)]
    c.set_limit("cable", 13.0, 5.0)
    assert c.pilot == PilotOutput(PilotMode.PWM, 16.6)
    c.set_limit("ocpp", None, 5.0)
    assert c.pilot == PilotOutput(PilotMode.PWM, 21.6)


def test_meter_energy_and_loss_stop() -> None:
    c, _t = reach(St.CHARGING, contactor_feedback=False)
    c.meter(MeterReading(energy_wh=1000.0, power_w=0), 1.0)
    c.meter(MeterReading(energy_wh=1500.0, power_w=11000), 2.0)
    out = c.meter(None, 3.0)
    stopped = next(o for o in out if isinstance(o, SessionOut) and o.kind == "stopped")
    assert stopped.reason == "meter_lost" and stopped.energy_wh == 500.0 and stopped.unmetered
    assert st(c) is St.STOPPING


def test_meter_loss_continue_and_fault() -> None:
    c, _ = reach(St.CHARGING, meter_loss="continue", contactor_feedback=False)
    c.meter(None, 1.0)
    assert st(c) is St.CHARGING and c.session is not None and c.session.unmetered
    c2, _t = reach(St.CHARGING, meter_loss="fault", contactor_feedback=False)
    c2.meter(None, 1.0)
    assert st(c2) is St.FAULTED and c2.faults == ["meter_lost"]
    c2.meter(MeterReading(energy_wh=1.0, power_w=0.0), 2.0)
    assert st(c2) is St.IDLE


def test_diode_fault_only_under_pwm_reading() -> None:
    c, _t = reach(St.READY)
    c.cp(CpState.B, 1.0, diode_fault=True)
    assert st(c) is St.FAULTED and c.faults == ["diode_fault"]
