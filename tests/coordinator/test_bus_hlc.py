"""HLC over the bus: SLAC status from the ``slac`` service, power delivery from the ``secc`` service."""

from __future__ import annotations

import asyncio

import pytest

from hal.sim import SimEv
from hal.types import CpState, PilotMode
from josev.api import coordinator as capi
from josev.api.base import CommandError
from josev.api.slac import SlacState
from tests.conftest import BusFactory
from tests.coordinator.rig import start_station, until

pytestmark = pytest.mark.asyncio


async def test_hlc_session_over_the_bus(bus_factory: BusFactory) -> None:
    st = await start_station(bus_factory, 1, evse={"hlc_offered": True})
    slac = await bus_factory("slac")
    secc = await bus_factory("secc")
    try:
        sim = st.board.sim(1)
        ev = sim.plug(SimEv(hlc_current_a=10.0))
        await until(lambda: st.obs.status[1].state == "hlc_wait", what="5 %")
        assert sim.cp.output().mode is PilotMode.PWM and sim.cp.output().duty_percent == 5.0
        assert st.obs.status[1].hlc
        await slac.publish(SlacState(status="matched", ev_mac="02:00:00:00:00:01"), 1)
        await until(lambda: st.obs.status[1].state == "hlc", what="hlc")
        await st.cli.request(capi.Authorize(id_token="EMAID1", source="pnc"), 1)  # secc code never sends it
        await secc.request(capi.HlcPowerDelivery(on=True), 1)
        assert not sim.contactor.feedback()  # EV still in B
        ev.requested = CpState.C
        await until(lambda: sim.contactor.feedback(), what="contactor closed")
        await asyncio.sleep(0.3)
        assert sim.current_a() == 10.0 and st.obs.status[1].state == "hlc_charging"
        await secc.request(capi.HlcPowerDelivery(on=False), 1)
        await until(lambda: not sim.contactor.feedback(), what="contactor open")
        ev.requested = CpState.B
        sim.unplug()
        await until(lambda: "ended" in st.obs.steps(1), what="ended")
        assert st.obs.last(1, "ended").auth_source == "pnc"
        assert st.obs.last(1, "ended").energy_wh > 0
    finally:
        await st.close()


async def test_slac_failure_falls_back_to_basic(bus_factory: BusFactory) -> None:
    st = await start_station(
        bus_factory,
        1,
        evse={"hlc_offered": True, "slac_retries": 0, "t_step_ef_s": 0.3, "free_charging": True},
    )
    slac = await bus_factory("slac")
    try:
        sim = st.board.sim(1)
        sim.plug(SimEv(auto_ready=True))
        await until(lambda: st.obs.status[1].state == "hlc_wait", what="5 %")
        await slac.publish(SlacState(status="failed", reason="timeout"), 1)
        await until(lambda: st.obs.status[1].state == "ef_pause", what="E/F")
        assert sim.cp.output().mode is PilotMode.F
        await until(lambda: st.obs.status[1].state == "charging", what="basic charging")
        assert sim.cp.output().duty_percent == 53.3
    finally:
        await st.close()


async def test_bad_commands_are_answered_and_service_keeps_running(bus_factory: BusFactory) -> None:
    st = await start_station(bus_factory, 1)
    try:
        cli = st.cli
        with pytest.raises(CommandError, match="invalid_request"):
            await cli.request(capi.Authorize(id_token="x"), 7)  # no EVSE 7
        import datetime as dt

        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        with pytest.raises(CommandError, match="rejected"):
            await cli.request(capi.Reserve(id_token="x", expires_at=past), 1)
        future = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
        await cli.request(capi.Reserve(id_token="tok", expires_at=future), 1)
        await until(lambda: st.obs.status[1].ocpp_status == "Reserved", what="reserved")
        with pytest.raises(CommandError, match="rejected"):
            await cli.request(capi.Authorize(id_token="other"), 1)
        await cli.request(capi.CancelReservation(), 1)
        await until(lambda: st.obs.status[1].ocpp_status == "Available", what="available")
        await cli.request(capi.SetAvailability(available=False), 1)
        await until(lambda: st.obs.status[1].ocpp_status == "Unavailable", what="unavailable")
        with pytest.raises(CommandError, match="rejected"):
            await cli.request(capi.Authorize(id_token="tok"), 1)
        await cli.request(capi.SetAvailability(available=True), 1)
        await until(lambda: st.obs.status[1].ocpp_status == "Available", what="available again")
        await cli.request(capi.SetLimit(source="ocpp", watts=6900.0), 1)
        await until(lambda: st.obs.status[1].limit_a == 10.0, what="10 A from 6.9 kW")
    finally:
        await st.close()
