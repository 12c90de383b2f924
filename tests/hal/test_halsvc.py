"""HAL service pieces without a broker: the watchdog logic and the command handlers (logic unit tests)."""

from __future__ import annotations

import pytest

from hal.sim import FakeClock, SimBoard, SimEv
from hal.types import CpState, PilotMode
from josev.api import hal as api
from josev.api.base import CommandError
from josev.api.coordinator import Heartbeat
from josev.halsvc import HalService, HalServiceConfig
from josev.halsvc.watchdog import Watchdog


def test_watchdog() -> None:
    w = Watchdog(1.0, now=0.0)
    assert not w.check(1.0)
    assert w.check(1.01) and w.tripped and w.trips == 1
    assert not w.check(5.0)  # reported once
    assert w.kick(5.1) and not w.tripped
    assert not w.kick(5.2)
    assert w.deadline() == pytest.approx(6.2)
    with pytest.raises(ValueError):
        Watchdog(0, now=0)


async def test_commands_and_safe_hold() -> None:
    clk = FakeClock()
    board = SimBoard.with_channels(2, clk)
    svc = HalService(board, HalServiceConfig(watchdog_timeout_s=1.0), clock=clk.now)
    sim = board.sim(2)
    sim.plug(SimEv(requested=CpState.C))
    await svc._set_pilot(api.SetPilot(mode="pwm", duty_percent=26.6), 2)
    await svc._set_contactor(api.SetContactor(closed=True), 2)
    assert sim.contactor.feedback() and sim.current_a() > 0
    with pytest.raises(CommandError, match="no lock"):
        await svc._set_lock(api.SetLock(locked=True), 2)
    with pytest.raises(CommandError, match="no EVSE 3"):
        await svc._set_contactor(api.SetContactor(closed=True), 3)
    await svc._set_pilot(api.SetPilot(mode="e"), 1)  # the sim cannot drive E: F instead
    assert board.sim(1).cp.output().mode is PilotMode.F
    # silence -> safe state on every channel
    clk.advance(1.5)
    assert svc.watchdog.check(clk.now())
    svc.enter_safe_state("coordinator_timeout")
    assert not sim.contactor.feedback() and sim.cp.output().mode is PilotMode.F
    with pytest.raises(CommandError, match="unavailable"):
        await svc._set_contactor(api.SetContactor(closed=True), 2)
    with pytest.raises(CommandError, match="unavailable"):
        await svc._set_pilot(api.SetPilot(mode="x1"), 2)
    await svc._set_contactor(api.SetContactor(closed=False), 2)  # opening is always allowed
    await svc._set_pilot(api.SetPilot(mode="f"), 2)
    svc._heartbeat(Heartbeat(seq=1, interval_s=0.2), None)
    assert svc.safe == {}
    await svc._set_pilot(api.SetPilot(mode="x1"), 2)
    st = svc._read_channel(2, svc.channels[2])
    assert st is not None and st.pilot_mode == "x1" and not st.safe_state
    assert svc._read_channel(2, svc.channels[2]) is None  # unchanged: nothing to publish


def test_cp_changes_published_once() -> None:
    board = SimBoard.with_channels(1)
    svc = HalService(board)
    ch = svc.channels[1]
    first = svc._read_cp(1, ch)
    assert first is not None and first.state == "A"
    assert svc._read_cp(1, ch) is None
    board.sim(1).plug()
    nxt = svc._read_cp(1, ch)
    assert nxt is not None and nxt.state == "B" and nxt.seq == first.seq + 1


class _NullBus:
    def __init__(self) -> None:
        self.published: list[object] = []

    async def publish(self, msg: object, evse: int | None = None) -> None:
        self.published.append(msg)


async def test_read_errors_do_not_stop_the_poll_loop(tmp_path: object) -> None:
    from hal.types import HardwareError

    board = SimBoard.with_channels(2)
    svc = HalService(board)

    def broken() -> None:
        raise HardwareError("ADC file vanished")

    board.channels[0].cp.read = broken  # type: ignore[assignment, method-assign]
    bus = _NullBus()
    await svc._poll_once(bus)  # type: ignore[arg-type]
    assert any(isinstance(m, api.CpReadingState) for m in bus.published)  # EVSE 2 still served


async def test_sim_car_control_and_state() -> None:
    from josev.halsvc.simcar import SimCars

    clk = FakeClock()
    board = SimBoard.with_channels(2, clk)
    svc = HalService(board, HalServiceConfig(), clock=clk.now)
    assert isinstance(svc.cars, SimCars)
    assert svc.cars.changed(1) == api.SimCarState(plugged=False, cp=None, plug_ins=0)
    assert svc.cars.changed(1) is None  # unchanged
    await svc._sim_car(api.SimCarControl(action="plug", ready=True, max_current_a=10), 1)
    assert board.sim(1).ev is not None and board.sim(1).ev.requested.value == "C"
    assert svc.cars.changed(1) == api.SimCarState(plugged=True, cp="C", plug_ins=1)
    with pytest.raises(CommandError, match="already plugged"):
        await svc._sim_car(api.SimCarControl(action="plug"), 1)
    await svc._sim_car(api.SimCarControl(action="cp", cp="B"), 1)
    assert svc.cars.changed(1) == api.SimCarState(plugged=True, cp="B", plug_ins=1)
    await svc._sim_car(api.SimCarControl(action="unplug"), 1)
    assert svc.cars.changed(1) == api.SimCarState(plugged=False, cp=None, plug_ins=1)
    with pytest.raises(CommandError, match="no car"):
        await svc._sim_car(api.SimCarControl(action="cp", cp="C"), 1)
    with pytest.raises(CommandError, match="no EVSE 3"):
        await svc._sim_car(api.SimCarControl(action="plug"), 3)


async def test_sim_car_control_is_unavailable_on_a_real_board() -> None:
    clk = FakeClock()
    svc = HalService(SimBoard.with_channels(1, clk), HalServiceConfig(), clock=clk.now)
    svc.cars = None  # as on a real board
    with pytest.raises(CommandError, match="unavailable"):
        await svc._sim_car(api.SimCarControl(action="plug"), 1)
