"""The simulated DC output (power module, insulation monitor, EV battery) under a fake clock, and the HAL
service's DC commands and DcOutputState (logic unit tests; the bus path is in tests/coordinator/test_bus_dc.py)."""

from __future__ import annotations

import pytest

from hal.interfaces import DcPowerSupply, IsolationMonitor, safe_state
from hal.sim import FakeClock, SimBoard, SimEv
from hal.sim.dc import SimBattery
from hal.types import PilotMode, PilotOutput
from josev.api import hal as api
from josev.api.base import CommandError
from josev.halsvc import HalService, HalServiceConfig
from josev.halsvc.dc import DcPublisher


def dc_board(discharge: float = 0.0) -> tuple[SimBoard, FakeClock]:
    clk = FakeClock()
    return SimBoard.with_channels(1, clk, dc=True, dc_max_discharge_current_a=discharge), clk


def test_roles_present_and_protocols_met() -> None:
    b, _ = dc_board()
    ch = b.channel(1)
    assert isinstance(ch.dc_supply, DcPowerSupply) and isinstance(ch.isolation, IsolationMonitor)
    assert SimBoard.with_channels(1).channel(1).dc_supply is None


def test_voltage_ramps_with_the_slew_rate_and_bleeds_off() -> None:
    b, clk = dc_board()
    s = b.sim(1)
    assert s.dc is not None
    s.dc.slew_v_s = 400.0
    s.dc.set_target(380.0, 2.0)
    s.dc.set_enabled(True)
    clk.advance(0.5)
    assert s.dc.present() == (0.0, 0.0)  # contactor open: nothing on the cable
    s.contactor.set_closed(True)
    clk.advance(0.5)
    assert s.dc.present()[0] == pytest.approx(200.0)
    clk.advance(0.5)
    assert s.dc.present()[0] == pytest.approx(380.0)
    s.dc.set_enabled(False)
    clk.advance(0.2)
    assert s.dc.present()[0] == pytest.approx(180.0)  # discharge circuit 1000 V/s
    clk.advance(1.0)
    assert s.dc.present()[0] == 0.0


def test_target_clamped_to_ratings() -> None:
    b, _ = dc_board()
    s = b.sim(1)
    assert s.dc is not None
    s.dc.set_target(900.0, 500.0)
    assert s.dc.output() == (False, 500.0, 200.0)
    s.dc.set_target(400.0, -50.0)  # unidirectional module: no discharge
    assert s.dc.output()[2] == 0.0


def test_battery_charging_current_voltage_and_power_limits() -> None:
    b, clk = dc_board()
    s = b.sim(1)
    assert s.dc is not None
    ev = s.plug(SimEv(battery=SimBattery(soc=0.5, r_ohm=0.1)))
    assert ev.battery is not None
    ev.dc_contactor_closed = True
    s.contactor.set_closed(True)
    assert s.dc.present()[0] == pytest.approx(360.0)  # the battery holds the cable
    s.dc.set_target(400.0, 100.0)
    s.dc.set_enabled(True)
    clk.advance(0.1)
    assert s.dc.present()[1] == pytest.approx(50.0)  # 500 A/s ramp
    clk.advance(1.0)
    v, i = s.dc.present()
    assert i == pytest.approx(100.0, abs=0.5) and v == pytest.approx(360.0 + 10.0, abs=0.2)
    # voltage limit: the current falls back so the terminal voltage stays at the target
    s.dc.set_target(365.0, 100.0)
    clk.advance(1.0)
    assert s.dc.present()[0] <= 365.0 + 0.1  # within the step's state-of-charge drift
    # power limit
    s.dc.max_power_w = 10000.0
    s.dc.set_target(420.0, 200.0)
    clk.advance(1.0)
    v, i = s.dc.present()
    assert v * i <= 10000.0 * 1.01
    assert ev.battery.soc > 0.5 and s.energy_wh > 0
    reading = s.meter.read()
    assert reading.energy_wh == s.energy_wh and reading.power_w == pytest.approx(v * i)


def test_discharge_bpt() -> None:
    b, clk = dc_board(discharge=60.0)
    s = b.sim(1)
    assert s.dc is not None
    ev = s.plug(SimEv(battery=SimBattery(soc=0.8)))
    assert ev.battery is not None
    ev.dc_contactor_closed = True
    s.contactor.set_closed(True)
    s.dc.set_target(400.0, -100.0)
    assert s.dc.output()[2] == -60.0
    s.dc.set_enabled(True)
    clk.advance(2.0)
    v, i = s.dc.present()
    assert i == pytest.approx(-60.0) and v < ev.battery.ocv()
    assert ev.battery.soc < 0.8 and s.dc.exported_wh > 0
    assert s.energy_wh == 0.0  # the import register does not count discharge
    reading = s.meter.read()  # ... the export register does
    assert reading.energy_wh == 0.0 and reading.energy_export_wh == pytest.approx(s.dc.exported_wh)


def test_overshoot_injection() -> None:
    b, clk = dc_board()
    s = b.sim(1)
    assert s.dc is not None
    s.dc.overshoot_v = 50.0
    s.contactor.set_closed(True)
    s.dc.set_target(400.0, 2.0)
    s.dc.set_enabled(True)
    clk.advance(1.0)
    assert s.dc.present()[0] == pytest.approx(450.0)


def test_welded_ev_contactor_holds_voltage() -> None:
    b, clk = dc_board()
    s = b.sim(1)
    ev = s.plug(SimEv(battery=SimBattery(), dc_contactor_welded=True))
    assert s.dc is not None and ev.battery is not None
    clk.advance(1.0)
    assert s.dc.present()[0] == pytest.approx(ev.battery.ocv())


def test_isolation_monitor_duration_result_and_faults() -> None:
    b, clk = dc_board()
    imd = b.sim(1).imd
    assert imd is not None
    imd.measure_s = 0.4
    assert imd.resistance_ohm() is None and not imd.running()
    imd.start()
    clk.advance(0.3)
    assert imd.resistance_ohm() is None
    clk.advance(0.1)
    assert imd.resistance_ohm() == 10e6
    imd.resistance_ohm_value = 30e3
    assert imd.resistance_ohm() == 30e3
    imd.broken = True
    assert imd.resistance_ohm() is None
    imd.stop()
    assert not imd.running()


def test_safe_state_switches_dc_off_before_opening() -> None:
    b, clk = dc_board()
    s = b.sim(1)
    assert s.dc is not None
    ev = s.plug(SimEv(battery=SimBattery()))
    ev.dc_contactor_closed = True
    s.contactor.set_closed(True)
    s.dc.set_target(400.0, 100.0)
    s.dc.set_enabled(True)
    clk.advance(1.0)
    assert s.dc.present()[1] > 50
    safe_state(s.as_channel(), PilotOutput(PilotMode.F))
    assert s.dc.output() == (False, 0.0, 0.0) and not s.contactor.feedback()
    assert s.contactor.opens_under_load == 0


async def test_halsvc_dc_commands() -> None:
    clk = FakeClock()
    board = SimBoard.with_channels(2, clk, dc=True)
    board.channels[1] = SimBoard.with_channels(1, clk).sim(1)  # EVSE 2 is an AC channel
    svc = HalService(board, HalServiceConfig(watchdog_timeout_s=1.0), clock=clk.now)
    svc.channels[2] = board.channels[1].as_channel()
    await svc._set_contactor(api.SetContactor(closed=True), 1)
    await svc._set_dc_output(api.SetDcOutput(enabled=True, voltage_v=300.0, current_a=2.0), 1)
    await svc._set_isolation(api.SetIsolationMonitor(running=True), 1)
    clk.advance(1.0)
    st = svc._read_channel(1, svc.channels[1])
    assert st is not None
    from josev.halsvc.dc import read_dc

    msg = read_dc(svc.channels[1], clk.now())
    assert msg is not None and msg.enabled and msg.present_voltage_v == pytest.approx(300.0)
    assert msg.isolation_running and msg.isolation_resistance_ohm == 10e6
    with pytest.raises(CommandError, match="no DC power module"):
        await svc._set_dc_output(api.SetDcOutput(enabled=True, voltage_v=300.0), 2)
    with pytest.raises(CommandError, match="no insulation monitor"):
        await svc._set_isolation(api.SetIsolationMonitor(running=True), 2)
    svc.enter_safe_state("coordinator_timeout")
    dc1 = board.sim(1).dc
    assert dc1 is not None and not dc1.enabled
    with pytest.raises(CommandError, match="unavailable"):
        await svc._set_dc_output(api.SetDcOutput(enabled=True, voltage_v=300.0), 1)
    await svc._set_dc_output(api.SetDcOutput(enabled=False), 1)  # switching off is always allowed
    info = svc.board_info()
    assert info.channels[0].dc and info.channels[0].has_imd and info.channels[0].dc_max_voltage_v == 500.0


def test_dc_publisher_deadband_and_rate() -> None:
    p = DcPublisher(deadband_v=1.0, deadband_a=0.5, min_interval_s=0.05)

    def m(v: float, a: float = 0.0, enabled: bool = True) -> api.DcOutputState:
        return api.DcOutputState(enabled=enabled, present_voltage_v=v, present_current_a=a)

    assert p.offer(1, m(100.0), 0.0)
    assert not p.offer(1, m(100.5), 0.1)  # inside the deadband
    assert p.offer(1, m(120.0), 0.2)
    assert not p.offer(1, m(130.0), 0.21)  # too soon for a measurement-only change
    assert p.offer(1, m(130.0, enabled=False), 0.22)  # structural: at once


def test_auto_dc_ev_closes_after_precharge_and_opens_when_off() -> None:
    b, clk = dc_board()
    s = b.sim(1)
    assert s.dc is not None
    ev = s.plug(SimEv(battery=SimBattery(soc=0.5), auto_dc=True))
    s.contactor.set_closed(True)
    s.dc.set_target(360.0, 2.0)  # precharge
    s.dc.set_enabled(True)
    clk.advance(1.0)
    v, i = s.dc.present()
    assert v == pytest.approx(360.0) and i == 0.0 and not ev.dc_contactor_closed
    s.dc.set_target(400.0, 50.0)  # CurrentDemand
    clk.advance(0.5)
    assert s.dc.present()[1] > 0 and ev.dc_contactor_closed  # present() advances the simulation
    s.dc.set_enabled(False)
    clk.advance(0.5)
    assert s.dc.present()[0] < 60.0 and not ev.dc_contactor_closed


@pytest.mark.parametrize("target_v", [400.0, 500.0, 330.0])
def test_plugged_dc_car_takes_its_evs_target_current(target_v: float) -> None:
    """The car of ``plug_car`` (``josev run`` on the sim board) and of the station's car bridge (its battery
    re-centred under the EV's precharge voltage): precharged to the EV's target voltage, it takes the EV's target
    current, and the meter counts V x I. A battery at the target voltage itself took 0 A (0 Wh in every real-stack
    DC session)."""
    from josev.halsvc.simcar import DC_HEADROOM_V, dc_battery, plug_car

    b, clk = dc_board()
    s = b.sim(1)
    assert s.dc is not None
    ev = plug_car(s, auto_dc=True)
    if target_v != 400.0:
        ev.battery = dc_battery(target_v)  # what SimEvBridge does on the EV's PreCharge target
    assert ev.battery is not None and ev.battery.ocv() == pytest.approx(target_v - DC_HEADROOM_V)
    s.contactor.set_closed(True)
    s.dc.set_target(target_v, 2.0)  # precharge: the output rises to the EV's voltage, the car stays off
    s.dc.set_enabled(True)
    clk.advance(1.0)
    v, i = s.dc.present()
    assert v == pytest.approx(target_v) and i == 0.0 and not ev.dc_contactor_closed
    s.dc.set_target(target_v, 100.0)  # CurrentDemand: the car connects and takes its target current
    clk.advance(1.0)
    v, i = s.dc.present()
    assert ev.dc_contactor_closed and i == pytest.approx(100.0)
    assert v == pytest.approx(ev.battery.ocv() + 100.0 * ev.battery.r_ohm, abs=0.1) and v <= target_v
    e0 = s.energy_wh
    clk.advance(3.6)
    assert s.meter.read().energy_wh - e0 == pytest.approx(v * i / 1000.0, rel=0.01)  # 3.6 s: W / 1000 Wh
