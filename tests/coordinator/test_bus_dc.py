"""DC sessions over a real mosquitto: sim board (DC power module, insulation monitor, EV battery) + HAL service +
coordinator, driven by synthetic SECC messages (EvChargeParameters, EvTarget, StartCableCheck, HlcPowerDelivery)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hal.sim import SimEv
from hal.sim.dc import SimBattery
from hal.types import CpState
from josev.api import coordinator as capi
from josev.api import secc as sapi
from josev.api.base import CommandError
from josev.api.slac import SlacState
from josev.bus import Bus
from josev.coordinator.config import DcConfig
from josev.coordinator.dc import Dp
from josev.coordinator.dccore import DcEvseCore
from tests.conftest import BusFactory
from tests.coordinator.rig import Station, start_station, until

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


class DcWatch:
    """Every DcSupplyState seen on the bus."""

    def __init__(self, bus: Bus) -> None:
        self.seen: list[capi.DcSupplyState] = []
        bus.subscribe(capi.DcSupplyState, lambda m, e: self.seen.append(m), evse=1)

    @property
    def last(self) -> capi.DcSupplyState:
        return self.seen[-1]


async def dc_station(bus_factory: BusFactory, bpt: bool = False, **dc: Any) -> tuple[Station, Bus, DcWatch]:
    caps: dict[str, Any] = {"dc": True, "dc_max_discharge_current_a": 100.0 if bpt else 0.0}
    if bpt:
        dc.setdefault("max_discharge_current_a", 80.0)
        dc.setdefault("max_discharge_power_w", 20000.0)
    st = await start_station(
        bus_factory, 1, evse={"hlc_offered": True, "dc": DcConfig(**dc)}, board_caps=caps
    )
    secc = await bus_factory("secc")
    return st, secc, DcWatch(st.cli)


async def to_precharged(
    st: Station, secc: Bus, watch: DcWatch, ev: SimEv, bus_factory: BusFactory
) -> capi.CableCheckResult:
    """Plug, SLAC, parameters, authorization, C, cable check, precharge to the battery voltage."""
    slac = await bus_factory("slac")
    sim = st.board.sim(1)
    sim.plug(ev)
    await until(lambda: st.obs.status[1].state == "hlc_wait", what="5 %")
    assert st.obs.status[1].dc
    await slac.publish(SlacState(status="matched", ev_mac="02:00:00:00:00:01"), 1)
    await until(lambda: st.obs.status[1].state == "hlc", what="hlc")
    await secc.publish(
        sapi.EvChargeParameters(energy_mode="DC_extended", max_voltage_v=420.0, max_current_a=150.0), 1
    )
    await st.cli.request(capi.Authorize(id_token="EMAID", source="eim"), 1)  # secc code never sends it
    ev.requested = CpState.C
    assert st.coordinator is not None
    core = st.coordinator.cores[1]
    await until(lambda: core.cp_state is CpState.C, what="pilot C")
    t0 = time.monotonic()
    res = await secc.request(capi.StartCableCheck(), 1, timeout=5.0)
    took = time.monotonic() - t0
    assert sim.imd is not None and took >= sim.imd.measure_s
    assert any(m.phase == "cable_check" for m in watch.seen)
    if res.isolation == "fault":
        return res
    assert ev.battery is not None
    ocv = ev.battery.ocv()
    await secc.publish(sapi.EvTarget(phase="precharge", voltage_v=ocv, current_a=2.0), 1)
    await until(
        lambda: watch.last.phase == "precharge" and abs(watch.last.present_voltage_v - ocv) < 5.0,
        what="precharged",
    )
    if not ev.auto_dc:  # else the sim EV closes its contactors itself on the first CurrentDemand target
        sim.settle()
        ev.dc_contactor_closed = True
    return res


async def test_dc_session_cable_check_precharge_charge_stop_welding(bus_factory: BusFactory) -> None:
    st, secc, watch = await dc_station(bus_factory)
    try:
        sim = st.board.sim(1)
        assert sim.imd is not None and sim.dc is not None
        sim.imd.measure_s = 0.3
        ev = SimEv(battery=SimBattery(soc=0.5))
        res = await to_precharged(st, secc, watch, ev, bus_factory)
        assert res.isolation == "valid" and res.voltage_v == 420.0  # capped at the EV's maximum
        await secc.request(capi.HlcPowerDelivery(on=True), 1)
        assert sim.contactor.feedback()
        await until(lambda: st.obs.status[1].state == "hlc_charging", what="hlc_charging")
        await secc.publish(sapi.EvTarget(phase="charge", voltage_v=400.0, current_a=60.0), 1)
        await until(lambda: abs(watch.last.present_current_a - 60.0) < 1.0, what="60 A flowing")
        s = watch.last
        assert s.phase == "charging" and s.ready and s.isolation == "valid" and s.output_enabled
        assert s.max_voltage_v == 420.0 and s.max_discharge_current_a is None
        # a request above the EVSE's current rating is clamped and flagged
        await secc.publish(sapi.EvTarget(phase="charge", voltage_v=400.0, current_a=500.0), 1)
        await until(lambda: watch.last.current_limit_achieved, what="current limit flag")
        await until(lambda: sim.dc is not None and sim.dc.i > 100.0, what="more current")
        assert sim.dc.i <= 200.0 + 1e-6
        # PowerDelivery stop: the reply comes only once the contactor is open (current ramped down first)
        await secc.request(capi.HlcPowerDelivery(on=False), 1)
        assert not sim.contactor.feedback() and sim.contactor.opens_under_load == 0
        assert abs(sim.dc.present()[1]) < 1.0
        assert watch.last.phase in ("welding_detection", "stopping") or not watch.last.contactor_closed
        # the battery still holds the cable up until the EV opens its own contactor: welding detection waits
        await until(lambda: watch.last.phase == "welding_detection", what="welding detection")
        assert watch.last.present_voltage_v > 300.0
        sim.settle()
        ev.dc_contactor_closed = False
        await until(lambda: watch.last.phase == "off", what="voltage below 60 V")
        assert sim.dc.present()[0] < 60.0
        steps = st.obs.steps(1)
        assert "charging_started" in steps and "charging_stopped" in steps
        ev.requested = CpState.B
        sim.unplug()
        await until(lambda: "ended" in st.obs.steps(1), what="ended")
        assert st.obs.last(1, "ended").energy_wh > 0
        assert st.obs.status[1].faults == []
    finally:
        await st.close()


async def test_bpt_discharge_within_limits(bus_factory: BusFactory) -> None:
    st, secc, watch = await dc_station(bus_factory, bpt=True)
    try:
        sim = st.board.sim(1)
        assert sim.imd is not None and sim.dc is not None
        sim.imd.measure_s = 0.1
        ev = SimEv(battery=SimBattery(soc=0.8), auto_dc=True)
        await to_precharged(st, secc, watch, ev, bus_factory)
        await until(lambda: st.obs.status[1].max_discharge_current_a == 80.0, what="BPT limits in EvseStatus")
        assert st.obs.status[1].max_discharge_power_w == 20000.0
        await secc.request(capi.HlcPowerDelivery(on=True), 1)
        soc0 = ev.battery.soc if ev.battery else 0.0
        await secc.publish(sapi.EvTarget(phase="charge", voltage_v=400.0, current_a=-40.0), 1)
        await until(lambda: abs(watch.last.present_current_a + 40.0) < 1.0, what="-40 A discharge")
        s = watch.last
        assert s.max_discharge_current_a == 80.0 and s.max_discharge_power_w == 20000.0
        assert not s.current_limit_achieved
        # beyond the discharge limits: clamped (20 kW at ~380 V -> about 52 A, below the 80 A rating)
        await secc.publish(sapi.EvTarget(phase="charge", voltage_v=400.0, current_a=-150.0), 1)
        await until(lambda: watch.last.current_limit_achieved, what="discharge clamped")
        await until(lambda: watch.last.present_current_a < -45.0, what="more discharge")
        assert watch.last.present_current_a >= -80.0
        assert -watch.last.target_current_a * max(watch.last.present_voltage_v, 1.0) <= 20000.0 + 1.0
        assert ev.battery is not None and ev.battery.soc < soc0 and sim.dc.exported_wh > 0
        await secc.request(capi.HlcPowerDelivery(on=False), 1)
        assert not sim.contactor.feedback() and sim.contactor.opens_under_load == 0
        await until(lambda: watch.last.phase == "off", what="welding detection passed")
        assert not ev.dc_contactor_closed
        # the session's energy: what the vehicle returned, from the meter's export register
        ev.requested = CpState.B
        sim.unplug()
        await until(lambda: "ended" in st.obs.steps(1), what="ended")
        ended = st.obs.last(1, "ended")
        assert ended.energy_export_wh > 0
        assert ended.energy_export_wh == pytest.approx(sim.energy_export_wh, rel=0.05)
    finally:
        await st.close()


async def test_isolation_fault_puts_the_evse_in_safe_state(bus_factory: BusFactory) -> None:
    st, secc, watch = await dc_station(bus_factory)
    try:
        sim = st.board.sim(1)
        assert sim.imd is not None and sim.dc is not None
        sim.imd.measure_s = 0.1
        sim.imd.resistance_ohm_value = 30e3  # 60 ohm/V at 500 V: fault
        res = await to_precharged(st, secc, watch, SimEv(battery=SimBattery()), bus_factory)
        assert res.isolation == "fault"
        await until(lambda: st.obs.status[1].state == "faulted", what="faulted")
        assert "isolation_fault" in st.obs.status[1].faults
        dc = sim.dc
        await until(lambda: not sim.contactor.feedback() and not dc.enabled, what="output off")
        await until(lambda: watch.last.isolation == "fault" and not watch.last.ready, what="reported")
        with pytest.raises(CommandError) as err:
            await secc.request(capi.HlcPowerDelivery(on=True), 1)
        assert err.value.code == "unavailable"
    finally:
        await st.close()


async def test_power_delivery_stop_refused_when_contactor_welded(bus_factory: BusFactory) -> None:
    st, secc, watch = await dc_station(bus_factory)
    try:
        sim = st.board.sim(1)
        assert sim.imd is not None
        sim.imd.measure_s = 0.1
        ev = SimEv(battery=SimBattery())
        await to_precharged(st, secc, watch, ev, bus_factory)
        await secc.request(capi.HlcPowerDelivery(on=True), 1)
        sim.contactor.weld()
        t0 = time.monotonic()
        with pytest.raises(CommandError) as err:
            await secc.request(capi.HlcPowerDelivery(on=False), 1)
        assert time.monotonic() - t0 < 2.0
        assert err.value.code == "unavailable" and "contactor_welded" in err.value.message
        await until(lambda: st.obs.status[1].state == "faulted", what="faulted")
    finally:
        await st.close()


async def test_cable_check_waits_for_c_and_refusals(bus_factory: BusFactory) -> None:
    st, secc, watch = await dc_station(bus_factory)
    slac = await bus_factory("slac")
    try:
        sim = st.board.sim(1)
        assert sim.imd is not None
        sim.imd.measure_s = 0.1
        ev = sim.plug(SimEv(battery=SimBattery()))
        await until(lambda: st.obs.status[1].state == "hlc_wait", what="5 %")
        await slac.publish(SlacState(status="matched", ev_mac="02:00:00:00:00:01"), 1)
        await until(lambda: st.obs.status[1].state == "hlc", what="hlc")
        with pytest.raises(CommandError) as err:
            await secc.request(capi.StartCableCheck(), 1, timeout=5.0)
        assert err.value.code == "rejected" and "not authorized" in err.value.message
        await st.cli.request(capi.Authorize(id_token="EMAID", source="eim"), 1)  # secc code never sends it
        with pytest.raises(CommandError) as err:
            await secc.request(capi.HlcPowerDelivery(on=True), 1)  # no cable check / precharge yet
        assert err.value.code == "rejected"
        # the EV switches to C after asking for the cable check: the coordinator waits for it (EV_WAIT) with the
        # output off and the contactor open
        res_task = asyncio.create_task(secc.request(capi.StartCableCheck(), 1, timeout=8.0))
        await asyncio.sleep(2.5)
        assert not res_task.done() and not sim.contactor.feedback()
        assert st.coordinator is not None
        core = st.coordinator.cores[1]
        assert isinstance(core, DcEvseCore) and core.dc.phase is Dp.EV_WAIT
        assert watch.last.phase == "cable_check" and not watch.last.output_enabled
        ev.requested = CpState.C
        res = await res_task
        assert res.isolation == "valid"
        await until(lambda: watch.last.phase == "checked", what="DcSupplyState checked")
        assert sim.contactor.feedback() and st.obs.status[1].state == "hlc"
    finally:
        await st.close()


async def test_cable_check_on_ac_evse_is_rejected(bus_factory: BusFactory) -> None:
    st = await start_station(bus_factory, 1, evse={"hlc_offered": True})
    secc = await bus_factory("secc")
    try:
        with pytest.raises(CommandError) as err:
            await secc.request(capi.StartCableCheck(), 1)
        assert err.value.code == "rejected" and "not a DC EVSE" in err.value.message
        assert not st.obs.status[1].dc and st.obs.status[1].max_discharge_current_a is None
    finally:
        await st.close()


async def test_power_delivery_times_out_when_contactor_never_confirms(bus_factory: BusFactory) -> None:
    # AC HLC, EV already in C; the contactor does not close and its supervision would only fault after 3 s:
    # the command gives up after power_delivery_timeout_s
    st = await start_station(
        bus_factory,
        1,
        evse={"hlc_offered": True, "contactor_timeout_s": 3.0, "power_delivery_timeout_s": 0.5},
    )
    secc = await bus_factory("secc")
    slac = await bus_factory("slac")
    try:
        sim = st.board.sim(1)
        sim.contactor.stuck_open = True
        sim.plug(SimEv(requested=CpState.C, hlc_current_a=10.0))
        await until(lambda: st.obs.status[1].state == "hlc_wait", what="5 %")
        await slac.publish(SlacState(status="matched", ev_mac="02:00:00:00:00:01"), 1)
        await until(lambda: st.obs.status[1].state == "hlc", what="hlc")
        await st.cli.request(capi.Authorize(id_token="EMAID", source="eim"), 1)  # secc code never sends it
        t0 = time.monotonic()
        with pytest.raises(CommandError) as err:
            await secc.request(capi.HlcPowerDelivery(on=True), 1)
        took = time.monotonic() - t0
        assert err.value.code == "rejected" and "did not close" in err.value.message
        assert 0.45 <= took < 1.5
    finally:
        await st.close()


async def test_dc_supply_state_rate_while_active(bus_factory: BusFactory) -> None:
    st, secc, watch = await dc_station(bus_factory, publish_hz=20.0)
    try:
        sim = st.board.sim(1)
        assert sim.imd is not None
        sim.imd.measure_s = 0.1
        await to_precharged(st, secc, watch, SimEv(battery=SimBattery(), auto_dc=True), bus_factory)
        n0 = len(watch.seen)
        await asyncio.sleep(1.0)
        n = len(watch.seen) - n0
        assert 15 <= n <= 40, n  # 20 Hz steady (plus changes), nothing while idle
        await secc.request(capi.HlcPowerDelivery(on=True), 1)
        await secc.request(capi.HlcPowerDelivery(on=False), 1)
        await until(lambda: watch.last.phase == "off", what="off")
        await asyncio.sleep(0.2)
        n0 = len(watch.seen)
        await asyncio.sleep(0.5)
        assert len(watch.seen) == n0  # output off: no periodic publishing
    finally:
        await st.close()


async def test_over_voltage_during_precharge_faults(bus_factory: BusFactory) -> None:
    st, secc, watch = await dc_station(bus_factory)
    slac = await bus_factory("slac")
    try:
        sim = st.board.sim(1)
        assert sim.imd is not None and sim.dc is not None
        sim.imd.measure_s = 0.1
        ev = sim.plug(SimEv(battery=SimBattery(), requested=CpState.B))
        await until(lambda: st.obs.status[1].state == "hlc_wait", what="5 %")
        await slac.publish(SlacState(status="matched", ev_mac="02:00:00:00:00:01"), 1)
        await secc.publish(sapi.EvChargeParameters(energy_mode="DC_extended", max_voltage_v=420.0), 1)
        await st.cli.request(capi.Authorize(id_token="EMAID", source="eim"), 1)  # secc code never sends it
        ev.requested = CpState.C
        await secc.request(capi.StartCableCheck(), 1, timeout=5.0)
        sim.dc.overshoot_v = 80.0  # the module runs away above its target
        await secc.publish(sapi.EvTarget(phase="precharge", voltage_v=400.0, current_a=2.0), 1)
        await until(lambda: st.obs.status[1].state == "faulted", what="faulted")
        assert st.obs.status[1].faults == ["over_voltage"]
        dc = sim.dc
        await until(lambda: not dc.enabled and not sim.contactor.feedback(), what="output off")
        await until(
            lambda: watch.last.phase == "fault" and watch.last.fault == "over_voltage", what="reported"
        )
    finally:
        await st.close()
