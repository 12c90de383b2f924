"""Issue 22, SLAC lock-out, over real AF_PACKET sockets across veth pairs (the topology of test_netns.py):
another host on the EVSE's wire sends CM_SLAC_PARM.REQ several times and then nothing. Before, each of its
timeouts counted as one of the C_conn_max_match attempts of the station, SLAC gave up after three and the
car could not match until unplugged. Now the stranger uses up only its own attempts and the car matches."""

from __future__ import annotations

import asyncio

from josev.slac.driver import CoreDriver
from josev.slac.events import AttemptFailed, SlacEvent
from josev.slac.evse import EvseSlac, EvseSlacConfig, S
from josev.slac.frame import encode_frame
from josev.slac.messages import CmSlacParmReq
from josev.slac.rawsocket import ETH_P_ALL, RawSocket
from josev.slac.timers import SlacTimings

from .test_netns import Topology, pytestmark, run_ev, topology

__all__ = ["pytestmark", "topology"]

STRANGER = bytes.fromhex("02bad0000001")


async def test_stranger_parm_requests_do_not_lock_out_the_car(topology: Topology) -> None:
    topo = topology
    with topo.evse_ns.entered():
        sock = RawSocket(topo.evse_side[0].a)
    with topo.plc_ns.entered():
        stranger = RawSocket(topo.evse_side[0].b, ETH_P_ALL)
    core = EvseSlac(EvseSlacConfig(mac=sock.mac, evse_id=b"DE*JOS*E000001*01"))
    t = SlacTimings()
    events: list[SlacEvent] = []
    driver = CoreDriver(core, sock, events.append)
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(stop))
    try:
        await driver.apply(core.start(driver.now()))
        await asyncio.sleep(0.2)
        await driver.apply(core.cp_state("A", driver.now()))
        await driver.apply(core.cp_state("B", driver.now()))
        for i in range(t.C_conn_max_match + 1):
            stranger.send(encode_frame(b"\xff" * 6, STRANGER, CmSlacParmReq(bytes([i]) * 8)))
            await asyncio.sleep(t.TT_match_sequence + 0.2)  # ... then nothing
        waiting: S = core.state
        assert waiting is S.WAIT_PARM, waiting
        assert core.attempts[STRANGER] == t.C_conn_max_match and STRANGER in core.blocked
        result = await run_ev(topo, 0)
        for _ in range(50):
            if core.state is S.MATCHED:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        stranger.close()
    assert result["status"] == "matched", result
    assert core.state is S.MATCHED and core.ev_mac == topo.ev_side[0].mac("b")
    assert core.attempts[topo.ev_side[0].mac("b")] == 0
    assert len([e for e in events if isinstance(e, AttemptFailed)]) == t.C_conn_max_match
