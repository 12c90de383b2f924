"""The live view shows what the EV got (``--web`` with ``--scenario``): the SECC publishes each step's decoded
messages after the scenario rewrote the response and when it is sent, and the answers an Ongoing hold gives
without the core. The SECC service on a real mosquitto, our EV across a veth pair, a bus subscriber that sees
what the page sees; the same session's pcapng holds the same answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from josev.api import coordinator as coord
from josev.api import secc as api
from josev.api.base import Ack
from josev.observability.v2glog import V2gRecorder
from josev.secc import scenario as sc
from josev.secc.msgstream import MessageStream
from josev.secc.service import SeccEvseConfig, SeccService
from josev.v2g.codec import exi_available, make_codec
from tests.util.netns import NetnsLab
from tests.web.test_secc_stream import run_ev

from .pcap import tcp_connections, v2gtp_payloads

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]

SCENARIO = """
description = "Ongoing ChargeParameterDiscovery for 0.5 s, then StopCharging with the 2nd CurrentDemand"

[[action]]
kind = "ongoing"
request = "ChargeParameterDiscovery"
for_s = 0.5

[[action]]
kind = "notify"
request = "CurrentDemand"
nth = 2
notification = "StopCharging"
"""


async def test_the_stream_shows_the_rewritten_answers(
    netns_lab: NetnsLab, bus_factory: Any, tmp_path: Path
) -> None:
    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    runner = sc.ScenarioRunner(sc.parse(SCENARIO, name="t"))
    recorder = V2gRecorder(directory=tmp_path)
    svc = SeccService(
        [SeccEvseConfig(evse=1, iface=pair.a, iso20=False)],
        codec="exi",
        messages=MessageStream(rate=200.0),
        scenario=runner,
        recorder=recorder,
    )
    secc_bus = await bus_factory("secc")
    coord_bus = await bus_factory("coordinator")
    coord_bus.serve(coord.HlcPowerDelivery, lambda cmd, evse: Ack())
    viewer = await bus_factory("web")
    seen: list[api.V2gMessage] = []
    viewer.subscribe(api.V2gMessage, lambda m, e: seen.append(m) if e == 1 else None)
    await asyncio.sleep(0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(secc_bus, stop))
    try:
        await asyncio.wait_for(svc.ready.wait(), 10)
        res = await run_ev(ev_ns.name, pair.b, "iso2-dc", "--loops", "4")
        assert res["outcome"] == "finished" and res["loops"] == 2, res
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    requests = [m.message for m in seen if m.sender == "ev"]
    assert requests == ["supportedAppProtocolReq", *res["messages"]]
    # every request has its answer on the page, the held Ongoing ones included
    assert [m.message for m in seen if m.sender == "secc"] == [q[:-3] + "Res" for q in requests]
    cpd = [m.body.get("EVSEProcessing") for m in seen if m.message == "ChargeParameterDiscoveryRes"]
    assert len(cpd) == res["messages"].count("ChargeParameterDiscoveryReq") >= 3, cpd
    assert cpd[:-1] == ["Ongoing"] * (len(cpd) - 1) and cpd[-1] == "Finished", cpd
    notes = [m.body["DC_EVSEStatus"]["EVSENotification"] for m in seen if m.message == "CurrentDemandRes"]
    assert notes == ["None", "StopCharging"], notes  # as the EV got it, not as the core built it
    # the pcapng of the session holds the same answers (the bytes sent)
    assert recorder.flush(10.0)
    assert logged_notifications(tmp_path) == notes


def logged_notifications(logs: Path) -> list[str]:
    """EVSENotification of every CurrentDemandRes in the session's pcapng."""
    (path,) = logs.glob("v2g-*.pcapng")
    codec = make_codec("exi")
    (conn,) = tcp_connections(path)
    sent = [codec.decode("iso2", p)["V2G_Message"]["Body"] for _, p in v2gtp_payloads(conn.server)[1:]]
    return [
        b["CurrentDemandRes"]["DC_EVSEStatus"]["EVSENotification"] for b in sent if "CurrentDemandRes" in b
    ]
