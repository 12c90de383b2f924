"""Our EV simulator (``python -m josev.ev`` in its own network namespace) against our SECC endpoint across a
veth pair: real SDP multicast on UDP 15118 and V2GTP over TCP on IPv6 link-local addresses.

Runs with the real EXI codec when ``josev.exi`` is built; the ``json`` variant uses the debug stand-in codec
so the network path (SDP, TCP, framing, timers, sessions) is proven even before the codec exists.
SLAC is not part of these runs yet (``--slac off`` equivalent: the link is taken as matched).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from josev.secc.events import Event, EvTargets, SessionEnded, SessionStarted
from josev.secc.evse import EvseView
from josev.secc.server import EvseEndpoint
from josev.sim.supply import SimPowerSupply
from josev.v2g.codec import exi_available, make_codec
from tests.util.netns import NetnsLab

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.netns]


def codec_or_skip(name: str) -> None:
    reason = exi_available()
    if name == "exi" and reason:
        pytest.skip(reason)
    if name == "json" and not reason:
        pytest.skip("the EXI variant covers the network path (JSON stand-in only runs without the codec)")


class Station:
    """One EVSE endpoint with the simulated power supply, recording events."""

    def __init__(self, no: int, iface: str, protocol: str, codec: str) -> None:
        ac = protocol == "iso2-ac"
        self.view = EvseView(energy_modes=("AC_three_phase_core",) if ac else ("DC_extended",))
        self.supply = SimPowerSupply()
        self.events: list[Event] = []
        self.ep = EvseEndpoint(no, iface, self.view, make_codec(codec), on_events=self._on)

    def _on(self, no: int, evs: list[Event]) -> None:
        self.supply.apply(self.view, evs)
        self.events += evs


async def run_ev(ns: str, iface: str, protocol: str, codec: str, *extra: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        ns,
        sys.executable,
        "-m",
        "josev.ev",
        "--iface",
        iface,
        "--protocol",
        protocol,
        "--codec",
        codec,
        "--json",
        "--loops",
        "4",
        *extra,
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
    assert proc.returncode == 0, (out.decode(), err.decode()[-3000:])
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.mark.parametrize("codec", ["exi", "json"])
@pytest.mark.parametrize("protocol", ["din", "iso2-ac", "iso2-dc"])
async def test_ev_charges_at_station(netns_lab: NetnsLab, protocol: str, codec: str) -> None:
    codec_or_skip(codec)
    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    st = Station(1, pair.a, protocol, codec)
    await st.ep.start()
    try:
        res = await run_ev(ev_ns.name, pair.b, protocol, codec)
    finally:
        await st.ep.close()
    r = res["results"][-1]
    assert r["outcome"] == "finished" and r["loops"] == 4
    assert st.ep.stats.sdp_answered >= 1 and st.ep.stats.connections == 1
    assert st.ep.stats.sessions_ended == {"terminate": 1}
    if protocol != "iso2-ac":
        assert any(isinstance(e, EvTargets) and e.phase == "charge" and e.current > 0 for e in st.events)


@pytest.mark.parametrize("codec", ["exi", "json"])
async def test_pause_and_resume_over_tcp(netns_lab: NetnsLab, codec: str) -> None:
    codec_or_skip(codec)
    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    st = Station(1, pair.a, "iso2-dc", codec)
    await st.ep.start()
    try:
        res = await run_ev(ev_ns.name, pair.b, "iso2-dc", codec, "--pause-after", "2")
    finally:
        await st.ep.close()
    first, second = res["results"]
    assert first["outcome"] == "paused" and second["outcome"] == "finished"
    assert first["session_id"] == second["session_id"]
    assert st.ep.stats.connections == 2
    ended = [e for e in st.events if isinstance(e, SessionEnded)]
    assert [e.reason for e in ended] == ["pause", "terminate"]


@pytest.mark.parametrize("codec", ["exi", "json"])
async def test_two_evses_two_evs_at_once(netns_lab: NetnsLab, codec: str) -> None:
    codec_or_skip(codec)
    ns1, ns2 = netns_lab.netns("ev1"), netns_lab.netns("ev2")
    p1, p2 = netns_lab.veth(None, ns1), netns_lab.veth(None, ns2)
    s1, s2 = Station(1, p1.a, "iso2-dc", codec), Station(2, p2.a, "din", codec)
    await s1.ep.start()
    await s2.ep.start()
    try:
        r1, r2 = await asyncio.gather(
            run_ev(ns1.name, p1.b, "iso2-dc", codec, "--evcc-id", "020000000011"),
            run_ev(ns2.name, p2.b, "din", codec, "--evcc-id", "020000000022"),
        )
    finally:
        await s1.ep.close()
        await s2.ep.close()
    assert r1["results"][-1]["outcome"] == "finished" and r2["results"][-1]["outcome"] == "finished"
    for st, evcc in ((s1, "020000000011"), (s2, "020000000022")):
        assert st.ep.stats.connections == 1
        started = [e for e in st.events if isinstance(e, SessionStarted)]
        assert [e.evcc_id for e in started] == [evcc]


async def _hostile(address: str, iface: str, port: int, payload: bytes, hold: float = 0.3) -> bytes:
    """Connect to the SECC, send ``payload``, return what comes back before it closes (bounded)."""
    import socket

    reader, writer = await asyncio.open_connection(f"{address}%{iface}", port, family=socket.AF_INET6)
    writer.write(payload)
    await writer.drain()
    try:
        data = await asyncio.wait_for(reader.read(65536), hold + 2.0)
    except TimeoutError:
        data = b"<open>"
    writer.close()
    return data


async def test_hostile_ev_does_not_disturb_other_evse(netns_lab: NetnsLab) -> None:
    from josev.secc.session import SessionConfig
    from josev.secc.timers import SeccTimers
    from josev.v2g import v2gtp

    ns1, ns2 = netns_lab.netns("ev1"), netns_lab.netns("ev2")
    p1, p2 = netns_lab.veth(None, ns1), netns_lab.veth(None, ns2)
    victim, good = Station(1, p1.a, "iso2-dc", "json"), Station(2, p2.a, "iso2-dc", "json")
    victim.ep.config = SessionConfig(timers=SeccTimers(communication_setup=0.5))
    await victim.ep.start()
    await good.ep.start()
    try:
        ev_task = asyncio.create_task(run_ev(ns2.name, p2.b, "iso2-dc", "json", "--loops", "30"))
        attacks = [
            b"\x02\xfd\x80\x01\x00\x00\x00\x01x",  # bad version: closed
            b"\x01\xfe\x80\x01\xff\xff\xff\xff",  # oversized: closed
            v2gtp.frame(0x8001, b"sap:{not json"),  # undecodable: closed
            v2gtp.frame(0x8001, b'sap:{"supportedAppProtocolReq":{"AppProtocol":[]}}'),
            b"",  # silent: communication setup timeout
        ]
        answers = [await _hostile(victim.ep.address, p1.a, victim.ep.tcp_port, a) for a in attacks]
        assert all(a == b"" for a in answers)
        r = await ev_task
        # the attacked EVSE still serves a well-behaved EV afterwards
        r1 = await run_ev(ns1.name, p1.b, "iso2-dc", "json")
    finally:
        await victim.ep.close()
        await good.ep.close()
    assert r["results"][-1]["outcome"] == "finished"
    assert r1["results"][-1]["outcome"] == "finished"
    ended = victim.ep.stats.sessions_ended
    assert ended["v2gtp_error"] == 2 and ended["decode_error"] == 1 and ended["malformed"] == 1
    assert ended["communication_setup_timeout"] == 1 and ended["terminate"] == 1
    assert victim.ep.stats.errors == 0 and good.ep.stats.errors == 0
