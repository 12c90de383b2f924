"""Basic (PWM-only) AC sessions over a real mosquitto: sim board + HAL service + coordinator service."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from hal.sim import SimEv
from hal.types import CpState, PilotMode
from josev.api import coordinator as capi
from josev.coordinator.service import StationConfig
from tests.conftest import BusFactory
from tests.coordinator.rig import start_station, until

pytestmark = pytest.mark.asyncio


async def test_basic_session_plug_to_unplug_with_energy(bus_factory: BusFactory) -> None:
    st = await start_station(bus_factory, 1)
    try:
        sim = st.board.sim(1)
        ev = sim.plug(SimEv(auto_ready=True, max_current_a=16.0, phases=3))
        await until(lambda: st.obs.status[1].state == "plugged", what="plugged")
        assert sim.cp.output().mode is PilotMode.X1  # no PWM before authorization
        await st.cli.request(capi.Authorize(id_token="card-1", source="cli"), 1)
        await until(lambda: st.obs.status[1].state == "charging", what="charging")
        assert sim.cp.output().duty_percent == 53.3 and ev.requested is CpState.C
        await until(lambda: sim.contactor.feedback(), what="contactor closed")
        await asyncio.sleep(1.0)
        ev.requested = CpState.B  # the EV ends charging
        await until(lambda: not sim.contactor.feedback(), what="contactor open")
        await asyncio.sleep(0.3)  # one more meter sample after the stop
        energy = sim.energy_wh
        assert energy > 16 * 230 * 3 * 0.9 / 3600  # at least ~0.9 s at 11 kW
        sim.unplug()
        await until(lambda: "ended" in st.obs.steps(1), what="session end")
        assert st.obs.steps(1) == ["started", "authorized", "charging_started", "charging_stopped", "ended"]
        ended = st.obs.last(1, "ended")
        assert ended.energy_wh == pytest.approx(energy, rel=0.02)
        assert ended.id_token == "card-1" and ended.reason == "ev_disconnected"
        await until(lambda: st.obs.status[1].ocpp_status == "Available", what="available again")
        assert sim.contactor.opens_under_load == 0
    finally:
        await st.close()


async def test_four_evses_share_station_limit(bus_factory: BusFactory) -> None:
    st = await start_station(
        bus_factory,
        4,
        evse={"free_charging": True},
        station=StationConfig(station_limit_a=40.0, heartbeat_s=0.1, ev_adapt_s=0.5),
    )
    peak = 0.0

    async def sample() -> None:  # the station current never exceeds the limit, at any moment
        nonlocal peak
        while True:
            peak = max(peak, sum(st.board.sim(e).current_a() for e in range(1, 5)))
            await asyncio.sleep(0.002)

    sampler = asyncio.create_task(sample())
    try:
        evs = []

        def charging(e: int) -> bool:
            return st.obs.status[e].state == "charging"

        for e in range(1, 5):
            # each EV takes 0.3 s to follow a lower duty cycle; the balancer assumes up to 0.5 s
            evs.append(st.board.sim(e).plug(SimEv(auto_ready=True, max_current_a=32.0, adapt_s=0.3)))
            await until(partial(charging, e), what=f"EVSE {e} charging")
            await asyncio.sleep(0.2)
        await until(
            lambda: all(st.board.sim(e).cp.output().duty_percent == 16.6 for e in range(1, 5)),
            what="10 A each",
        )
        total = sum(st.board.sim(e).current_a() for e in range(1, 5))
        assert total <= 40.0 and total == pytest.approx(4 * 9.96)
        for s in st.obs.status.values():
            assert s.limit_a == 10.0 and s.limit_source == "station"
        # the first EV leaves: its share goes to the others (40 / 3 = 13.3 A)
        evs[0].requested = CpState.B
        await until(lambda: st.obs.status[1].state == "ready", what="EVSE 1 suspended by EV")
        st.board.sim(1).unplug()
        await until(
            lambda: all(st.board.sim(e).cp.output().duty_percent == 22.2 for e in range(2, 5)),
            what="13.3 A each",
        )
        await asyncio.sleep(0.3)
        for e in range(2, 5):
            evs[e - 1].requested = CpState.B
        for e in range(2, 5):
            st.board.sim(e).unplug()
        await until(lambda: all(st.obs.steps(e)[-1] == "ended" for e in range(1, 5)), what="all ended")
        for e in range(1, 5):
            assert st.obs.last(e, "ended").energy_wh > 0
            assert st.board.sim(e).contactor.opens_under_load == 0
        assert 39.0 < peak <= 40.0
    finally:
        sampler.cancel()
        await st.close()


@pytest.mark.parametrize("policy", ["stop", "continue"])
async def test_meter_lost_mid_session(bus_factory: BusFactory, policy: str) -> None:
    st = await start_station(bus_factory, 1, evse={"free_charging": True, "meter_loss": policy})
    try:
        sim = st.board.sim(1)
        ev = sim.plug(SimEv(auto_ready=True))
        await until(lambda: st.obs.status[1].state == "charging", what="charging")
        await asyncio.sleep(0.3)
        sim.meter.lost = True
        if policy == "stop":
            await until(lambda: "stopped" in st.obs.steps(1), what="stop on meter loss")
            stopped = st.obs.last(1, "stopped")
            assert stopped.reason == "meter_lost" and stopped.unmetered and stopped.energy_wh > 0
            await until(lambda: st.obs.status[1].state == "finished", what="finished")
            assert not sim.contactor.feedback() and sim.contactor.opens_under_load == 0
            assert ev.requested is CpState.B
        else:
            await asyncio.sleep(0.5)
            assert st.obs.status[1].state == "charging" and sim.contactor.feedback()
            ev.requested = CpState.B
            sim.unplug()
            await until(lambda: "ended" in st.obs.steps(1), what="end")
            assert st.obs.last(1, "ended").unmetered
    finally:
        await st.close()


async def test_hal_safe_state_is_mirrored_and_recovers(bus_factory: BusFactory) -> None:
    st = await start_station(bus_factory, 1, evse={"free_charging": True})
    pilots: list[capi.PilotState] = []
    st.cli.subscribe(capi.PilotState, lambda m, e: pilots.append(m))
    try:
        sim = st.board.sim(1)
        ev = sim.plug(SimEv(auto_ready=True))
        await until(lambda: st.obs.status[1].state == "charging", what="charging")
        await until(lambda: any(p.cp == "C" and p.pilot_mode == "pwm" for p in pilots), what="PilotState C")
        st.hal.enter_safe_state("test")  # as the watchdog does
        await until(lambda: st.obs.status[1].state == "faulted", what="coordinator mirrors the HAL")
        assert st.obs.status[1].faults == ["hal_safe_state"] and not sim.contactor.feedback()
        assert st.obs.last(1, "ended").reason == "hal_safe_state"
        st.hal.safe.clear()  # as a returning heartbeat does
        await until(lambda: st.obs.status[1].state == "charging", what="new session after recovery")
        assert ev.requested is CpState.C and sim.contactor.feedback()
        assert st.obs.steps(1).count("started") == 2
    finally:
        await st.close()
