"""The SECC service on a real mosquitto: an EV charges through it (netns + veth), the session shows up on the
bus, PowerDelivery reaches a stand-in coordinator, a limit change from the coordinator makes the EV
renegotiate (station-initiated), SetDcSupply and diagnostics work."""

from __future__ import annotations

import asyncio
from typing import Any

from josev.api import coordinator as coord
from josev.api import secc as api
from josev.api.base import Ack
from josev.secc.service import SeccEvseConfig, SeccService
from tests.util.netns import NetnsLab

from .test_netns_e2e import run_ev


async def test_secc_service_on_the_bus(netns_lab: NetnsLab, bus_factory: Any) -> None:
    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    svc = SeccService([SeccEvseConfig(evse=1, iface=pair.a)], codec="json")
    secc_bus = await bus_factory("secc")
    coord_bus = await bus_factory("coordinator")
    cli_bus = await bus_factory("cli")  # diagnostics and SetDcSupply: the coordinator's code sends neither
    seen: list[tuple[str, Any]] = []
    power: list[bool] = []

    def record(msg: Any, evse: int | None) -> None:
        seen.append((type(msg).__name__, msg))

    async def power_delivery(cmd: coord.HlcPowerDelivery, evse: int | None) -> Ack:
        power.append(cmd.on)
        return Ack()

    for cls in (api.SeccSessionState, api.EvChargeParameters, api.EvTarget, api.HlcEvent):
        coord_bus.subscribe(cls, record)
    coord_bus.serve(coord.HlcPowerDelivery, power_delivery)
    await asyncio.sleep(0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(secc_bus, stop))
    try:
        await asyncio.wait_for(svc.ready.wait(), 10)

        async def lower_limit_during_charge() -> None:
            while not any(n == "EvTarget" and m.phase == "charge" for n, m in seen):
                await asyncio.sleep(0.02)
            await coord_bus.publish(
                coord.EvseStatus(
                    state="charging",
                    ocpp_status="Occupied",
                    detailed_status="Charging",
                    charging_state="Charging",
                    limit_a=32.0,
                    max_power_w=20_000.0,
                    pilot_mode="pwm",
                    contactor_closed=True,
                ),
                1,
            )

        changer = asyncio.create_task(lower_limit_during_charge())
        res = await run_ev(
            ev_ns.name, pair.b, "iso2-dc", "json", "--loops", "300", "--seconds-per-loop", "0.1"
        )
        await asyncio.wait_for(changer, 5)
        ack = await cli_bus.request(api.SetDcSupply(present_voltage_v=12.5, isolation="Valid"), 1)
        assert isinstance(ack, Ack)
        diag = await cli_bus.request(api.GetSeccDiagnostics(), 1)
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    r = res["results"][-1]
    assert r["outcome"] == "finished" and r["renegotiations"] >= 1
    names = [n for n, _ in seen]
    states = [m.status for n, m in seen if n == "SeccSessionState"]
    assert states[0] == "idle" and "session" in states and states[-1] == "ended"
    assert "EvChargeParameters" in names and "EvTarget" in names
    steps = [m.step for n, m in seen if n == "HlcEvent"]
    assert {"authorization_requested", "cable_check", "power_delivery", "welding_detection"} <= set(steps)
    assert power[0] is True and power[-1] is False
    assert svc.views[1].present_voltage == 12.5
    assert diag.connections == 1 and diag.sessions_ended == {"terminate": 1} and diag.sdp_answered >= 1
