"""Issue 22: bounded fuzzing of the live SECC (V2GTP/EXI over TCP), SDP (UDP multicast) and SLAC (AF_PACKET)
inputs over real sockets, with a fixed time budget and a deterministic seed (``FUZZ_SECONDS`` per target,
default 8; ``FUZZ_SEED``, default 22). Seeds are the frames of a real session of our EV simulator. After the
fuzz the services still run, no core raised (``errors`` stays 0) and a real EV still completes its session
or matches."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from typing import Any

import pytest

from josev.observability.v2glog import V2gRecorder
from josev.secc.limits import ConnectionLimits
from josev.slac.driver import CoreDriver
from josev.slac.events import SlacEvent
from josev.slac.evse import EvseSlac, EvseSlacConfig, S
from josev.slac.frame import encode_frame
from josev.slac.messages import (
    CmAttenCharRsp,
    CmMnbcSoundInd,
    CmSlacMatchReq,
    CmSlacParmReq,
    CmStartAttenCharInd,
    CmValidateReq,
)
from josev.slac.rawsocket import ETH_P_ALL, RawSocket
from josev.v2g import v2gtp
from josev.v2g.codec import CodecError, exi_available, make_codec
from josev.v2g.sdp import SDP_PORT
from tests.slac.test_netns import Topology, topology
from tests.slac.test_netns import run_ev as run_slac_ev
from tests.util.netns import CAN_NETNS, Netns, NetnsLab

from .lab import Station, run_ev
from .mutate import mutate

__all__ = ["topology"]
pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]

SECONDS = float(os.environ.get("FUZZ_SECONDS", "8"))
SEED = int(os.environ.get("FUZZ_SEED", "22"))
OPEN = ConnectionLimits(peer_burst=10**6, peer_rate=10**6, max_per_peer=64, max_connections=64)
"""The fuzzer opens connections as fast as it can: the limits (tested elsewhere) would refuse most."""


def with_session_id(codec: Any, frame: bytes, sid: str) -> bytes:
    """An ISO 15118-2 request frame re-encoded with the SessionID ``sid`` (so that it reaches its handler)."""
    msg = codec.decode("iso2", frame[8:])
    msg["V2G_Message"]["Header"]["SessionID"] = sid
    return v2gtp.frame(v2gtp.PayloadType.EXI, codec.encode("iso2", msg))


def recv_frame(s: socket.socket) -> bytes:
    data = b""
    while len(data) < 8 or len(data) < 8 + int.from_bytes(data[4:8], "big"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def fuzz_tcp(
    ns: Netns, iface: str, addr: str, port: int, seeds: list[bytes], seconds: float, seed: int
) -> int:
    """Connections that run a valid prefix of the session (SAP, SessionSetup, then requests carrying the new
    SessionID) and then send mutated frames; returns how many connections were made."""
    rng = random.Random(seed)
    codec = make_codec("exi")
    n = 0
    end = time.monotonic() + seconds
    with ns.entered():
        idx = socket.if_nametoindex(iface)
    while time.monotonic() < end:
        with ns.entered():
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(0.3)
        try:
            s.connect((addr, port, 0, idx))
            k = rng.randrange(len(seeds))
            sid = ""
            for i, f in enumerate(seeds[:k]):  # reach deeper states with valid requests first
                s.sendall(with_session_id(codec, f, sid) if i >= 2 and sid else f)
                res = recv_frame(s)
                if i == 1 and len(res) > 8:
                    sid = codec.decode("iso2", res[8:])["V2G_Message"]["Header"]["SessionID"]
            target = with_session_id(codec, seeds[k], sid) if k >= 2 and sid else seeds[k]
            for _ in range(rng.randint(1, 3)):
                s.sendall(mutate(rng, target))
            s.settimeout(0.05)
            s.recv(65536)
        except (OSError, CodecError, KeyError, TypeError):
            pass
        finally:
            s.close()
        n += 1
    return n


async def test_fuzz_live_secc_and_sdp(netns_lab: NetnsLab) -> None:
    ns = netns_lab.netns("fz")
    pair = netns_lab.veth(None, ns)
    rec = V2gRecorder()
    st = Station(1, pair.a, recorder=rec, limits=OPEN)
    await st.ep.start()
    try:
        first = await run_ev(ns.name, pair.b, "iso2-dc", "--seconds-per-loop", "1", loops=2)
        assert first["results"][-1]["outcome"] == "finished"
        seeds = [r.data for r in rec.records() if r.direction == "rx" and not r.udp]
        sdp_seed = next(r.data for r in rec.records() if r.direction == "rx" and r.udp)
        assert len(seeds) > 10
        conns = await asyncio.to_thread(
            fuzz_tcp, ns, pair.b, st.ep.address, st.ep.tcp_port, seeds, SECONDS, SEED
        )
        sdp_sent = await asyncio.to_thread(fuzz_sdp, ns, pair.b, sdp_seed, SECONDS / 2, SEED)
        after = await run_ev(ns.name, pair.b, "iso2-dc", "--seconds-per-loop", "1", loops=2)
    finally:
        await st.ep.close()
    assert after["results"][-1]["outcome"] == "finished", after
    stats = st.ep.stats
    assert stats.errors == 0, stats  # no core raised: every input got an answer or a clean end
    assert conns > 50 and sdp_sent > 100, (conns, sdp_sent)
    print(f"SECC fuzz: {conns} connections; SDP fuzz: {sdp_sent} datagrams; ended {stats.sessions_ended}")


def fuzz_sdp(ns: Netns, iface: str, seed_frame: bytes, seconds: float, seed: int) -> int:
    rng = random.Random(seed + 1)
    n = 0
    end = time.monotonic() + seconds
    with ns.entered():
        idx = socket.if_nametoindex(iface)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        while time.monotonic() < end:
            s.sendto(mutate(rng, seed_frame), ("ff02::1", SDP_PORT, 0, idx))
            n += 1
            if n % 50 == 0:
                time.sleep(0.005)
    finally:
        s.close()
    return n


async def test_fuzz_live_slac(topology: Topology) -> None:
    topo = topology
    with topo.evse_ns.entered():
        sock = RawSocket(topo.evse_side[0].a)
    with topo.plc_ns.entered():
        intruder = RawSocket(topo.evse_side[0].b, ETH_P_ALL)
    core = EvseSlac(EvseSlacConfig(mac=sock.mac, evse_id=b"DE*JOS*E000001*01"))
    events: list[SlacEvent] = []
    driver = CoreDriver(core, sock, events.append)
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(stop))
    rng = random.Random(SEED + 2)
    ev_mac = bytes.fromhex("02fa57000001")
    run = bytes(range(8))
    seeds = [
        encode_frame(b"\xff" * 6, ev_mac, CmSlacParmReq(run)),
        encode_frame(b"\xff" * 6, ev_mac, CmStartAttenCharInd(forwarding_sta=ev_mac, run_id=run)),
        encode_frame(b"\xff" * 6, ev_mac, CmMnbcSoundInd(sender_id=bytes(17), count=1, run_id=run)),
        encode_frame(sock.mac, ev_mac, CmAttenCharRsp(source_address=ev_mac, run_id=run)),
        encode_frame(sock.mac, ev_mac, CmValidateReq(timer=0, result=1)),
        encode_frame(sock.mac, ev_mac, CmSlacMatchReq(pev_mac=ev_mac, evse_mac=sock.mac, run_id=run)),
    ]
    sent = 0
    try:
        await driver.apply(core.start(driver.now()))
        await driver.apply(core.cp_state("A", driver.now()))
        await driver.apply(core.cp_state("B", driver.now()))
        end = time.monotonic() + SECONDS / 2
        while time.monotonic() < end:
            f = mutate(rng, rng.choice(seeds))
            if len(f) >= 14:
                intruder.send(f[:1514])
                sent += 1
            if sent % 20 == 0:
                await asyncio.sleep(0.002)
        await asyncio.sleep(1.0)  # whatever the fuzz started times out
        await driver.apply(core.cp_state("A", driver.now()))  # unplug and plug in: a fresh start
        await driver.apply(core.cp_state("B", driver.now()))
        result = await run_slac_ev(topo, 0)
        for _ in range(50):
            if core.state is S.MATCHED:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        intruder.close()
    assert not task.cancelled() and task.exception() is None
    assert result["status"] == "matched", (result, core.counters)
    assert sent > 500, sent
    print(f"SLAC fuzz: {sent} frames; counters {dict(core.counters)}")
