"""The SECC publishes its decoded messages (``[secc] publish_messages``): the SECC service on a real
mosquitto, our EV across a veth pair, a bus subscriber that sees what the live view sees.

* every message of an ISO-2 DC session, in order, with its SessionID and the values the EV sent;
* a PowerDeliveryRes that the contactor gate turned into a failure is published as the EV received it
  (FAILED_PowerDeliveryNotApplied for DIN), not as the core first built it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from josev.api import coordinator as coord
from josev.api import secc as api
from josev.api.base import Ack, CommandError
from josev.secc.msgstream import MessageStream
from josev.secc.service import SeccEvseConfig, SeccService
from josev.v2g.codec import exi_available
from tests.secc.test_netns_e2e import ROOT
from tests.util.netns import NetnsLab

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]


async def run_ev(ns: str, iface: str, protocol: str, *extra: str) -> dict[str, Any]:
    """``josev ev`` in ``ns``; its last result whatever the exit code."""
    import json
    import sys

    proc = await asyncio.create_subprocess_exec(
        *("ip", "netns", "exec", ns, sys.executable, "-m", "josev.ev", "--iface", iface),
        *("--protocol", protocol, "--json", *extra),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 40)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert out, err.decode()[-3000:]
    result: dict[str, Any] = json.loads(out)["results"][-1]
    return result


async def test_the_secc_publishes_what_it_decodes(netns_lab: NetnsLab, bus_factory: Any) -> None:
    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    svc = SeccService(
        [SeccEvseConfig(evse=1, iface=pair.a, iso20=True)],
        codec="exi",
        contactor_timeout=2.0,
        messages=MessageStream(rate=100.0),
    )
    secc_bus = await bus_factory("secc")
    coord_bus = await bus_factory("coordinator")
    viewer = await bus_factory("web")  # the live view's user: it reads, like the page does
    refuse = {"on": False}

    async def power_delivery(cmd: coord.HlcPowerDelivery, evse: int | None) -> Ack:
        if refuse["on"] and cmd.on:
            raise CommandError("rejected", "contactor did not close")
        return Ack()

    coord_bus.serve(coord.HlcPowerDelivery, power_delivery)
    seen: list[api.V2gMessage] = []
    viewer.subscribe(api.V2gMessage, lambda m, e: seen.append(m) if e == 1 else None)
    await asyncio.sleep(0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(secc_bus, stop))
    try:
        await asyncio.wait_for(svc.ready.wait(), 10)
        res = await run_ev(ev_ns.name, pair.b, "iso2-dc", "--loops", "5")
        assert res["outcome"] == "finished", res
        await asyncio.sleep(0.5)
        requests = [m.message for m in seen if m.sender == "ev"]
        assert requests == ["supportedAppProtocolReq", *res["messages"]]
        assert [m.message for m in seen if m.sender == "secc"] == [q[:-3] + "Res" for q in requests]
        assert [m.seq for m in seen] == list(range(len(seen)))  # nothing dropped at this rate
        assert {m.connection for m in seen} == {"c1"} and {m.protocol for m in seen} == {"sap", "iso2"}
        assert {m.session_id for m in seen[3:]} == {res["session_id"]}
        setup = next(m for m in seen if m.message == "SessionSetupReq")
        assert setup.body == {"EVCCID": "020000000001"}
        cd = [m for m in seen if m.message == "CurrentDemandReq"]
        assert len(cd) == 5 and cd[0].body["EVTargetVoltage"] == {
            "Multiplier": -1,
            "Unit": "V",
            "Value": 4000,
        }
        assert all(m.response_code == "OK" for m in seen if m.message == "CurrentDemandRes")

        seen.clear()
        refuse["on"] = True
        res = await run_ev(ev_ns.name, pair.b, "din", "--loops", "3")
        assert res["outcome"] == "failed" and "FAILED_PowerDeliveryNotApplied" in res["detail"], res
        await asyncio.sleep(0.5)
        last = [m for m in seen if m.message == "PowerDeliveryRes"][-1]
        assert (last.protocol, last.response_code) == ("din", "FAILED_PowerDeliveryNotApplied")
        assert svc.messages is not None and svc.messages.dropped == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
