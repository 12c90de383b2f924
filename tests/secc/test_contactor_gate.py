"""PowerDelivery waits for the contactor: the SECC service on a real mosquitto, our EV across a veth pair.

* the coordinator acknowledges ``HlcPowerDelivery`` only after 0.6 s (contactor closing): the EV sees its
  PowerDeliveryRes no earlier than that, and the session completes;
* the coordinator refuses (contactor did not close): the EV gets FAILED_ContactorError (ISO-2, -20) /
  FAILED_PowerDeliveryNotApplied (DIN), the session ends cleanly, the service keeps serving the next EV;
* the contactor wait as a state of the core, per protocol: tests/secc/test_contactor_wait.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from josev.api import coordinator as coord
from josev.api.base import Ack, CommandError
from josev.secc.service import SeccEvseConfig, SeccService
from josev.v2g.codec import exi_available
from tests.util.netns import NetnsLab

from .test_netns_e2e import ROOT


async def run_ev(ns: str, iface: str, protocol: str, codec: str) -> dict[str, Any]:
    """``josev ev`` in ``ns``; its JSON result whatever the exit code."""
    import json
    import sys

    proc = await asyncio.create_subprocess_exec(
        *("ip", "netns", "exec", ns, sys.executable, "-m", "josev.ev", "--iface", iface),
        *("--protocol", protocol, "--codec", codec, "--json", "--loops", "3"),
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
    result: dict[str, Any] = json.loads(out)
    return result


pytestmark = pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built")


@pytest.mark.netns
async def test_power_delivery_waits_for_the_contactor(netns_lab: NetnsLab, bus_factory: Any) -> None:
    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    from josev.api import secc as api
    from josev.observability.v2glog import V2gRecorder

    recorder = V2gRecorder()
    svc = SeccService(
        [SeccEvseConfig(evse=1, iface=pair.a, iso20=True)],
        codec="exi",
        contactor_timeout=2.0,
        recorder=recorder,
    )
    secc_bus = await bus_factory("secc")
    coord_bus = await bus_factory("coordinator")
    cli_bus = await bus_factory("cli")  # diagnostics and SetDcSupply: the coordinator's code sends neither
    mode = {"delay": 0.6, "refuse": False}
    seen: list[bool] = []

    async def power_delivery(cmd: coord.HlcPowerDelivery, evse: int | None) -> Ack:
        seen.append(cmd.on)
        await asyncio.sleep(float(mode["delay"]))
        if mode["refuse"]:
            raise CommandError("rejected", "contactor did not close")
        return Ack()

    coord_bus.serve(coord.HlcPowerDelivery, power_delivery)
    await asyncio.sleep(0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(secc_bus, stop))
    try:
        await asyncio.wait_for(svc.ready.wait(), 10)
        res = await run_ev(ev_ns.name, pair.b, "iso2-dc", "exi")
        r = res["results"][-1]
        assert r["outcome"] == "finished", r
        assert min(r["latency_ms"]["PowerDeliveryReq"]["p50"], 10_000) >= 600.0, r["latency_ms"]
        assert seen == [True, False]

        mode.update(delay=0.0, refuse=True)
        for protocol, code in (
            ("iso2-dc", "FAILED_ContactorError"),
            ("din", "FAILED_PowerDeliveryNotApplied"),
        ):
            res = await run_ev(ev_ns.name, pair.b, protocol, "exi")
            r = res["results"][-1]
            assert r["outcome"] == "failed" and code in r["detail"], r
            assert r["messages"][-1] == "PowerDeliveryReq"

        mode.update(refuse=False)  # the service is still there for the next EV
        res = await run_ev(ev_ns.name, pair.b, "iso2-dc", "exi")
        assert res["results"][-1]["outcome"] == "finished", res
        ended = svc.endpoints[1].stats.sessions_ended  # the core ended them with the code the EV got
        assert ended.get("FAILED_ContactorError") == 1, ended
        assert ended.get("FAILED_PowerDeliveryNotApplied") == 1, ended
        assert svc.endpoints[1].stats.errors == 0
        diag = await cli_bus.request(api.GetSeccDiagnostics(), 1)
        assert diag.iso20 and diag.tls_port is None and diag.connections == 4
        # every V2GTP frame of the four sessions is in the message log, both directions, per connection
        assert diag.v2g_messages == recorder.size[0] > 40
        per_conn = {(r.session, r.direction, r.udp) for r in recorder.records(evse=1)}
        assert {
            ("c1", "rx", False),
            ("c1", "tx", False),
            ("c4", "rx", False),
            ("c4", "tx", False),
            ("c1", "rx", True),  # the SDP exchange that led to a connection is logged with it
            ("c1", "tx", True),
        } <= per_conn
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
