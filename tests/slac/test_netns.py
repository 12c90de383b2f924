"""SLAC over real AF_PACKET raw sockets across veth pairs and network namespaces (root only).

Topology per EVSE: [EVSE host, ns "evse"] --veth-- [modem emulator, ns "plc"] --veth-- [EV host, ns "ev<i>"].
The EV runs as its own process (``python -m josev.slac.ev_run``) inside its namespace.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from josev.api.coordinator import PilotState
from josev.api.slac import CpStateInput, GetSlacDiagnostics, SlacState
from josev.broker import PrivateBroker
from josev.bus import Bus
from josev.slac.driver import CoreDriver
from josev.slac.ev import E, EvSlac, EvSlacConfig, Validate
from josev.slac.events import SlacEvent, ToggleRequest, ValidationWindow
from josev.slac.evse import EvseSlac, EvseSlacConfig, S
from josev.slac.frame import encode_frame
from josev.slac.messages import CmSlacParmReq, CmStartAttenCharInd
from josev.slac.rawsocket import ETH_P_ALL, RawSocket
from josev.slac.service import SlacEvseSettings, SlacService, SlacSettings
from tests.conftest import ROOT, BusFactory
from tests.util.netns import Netns, NetnsLab, VethPair, needs_root

pytestmark = [needs_root, pytest.mark.netns]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


@dataclass
class Topology:
    evse_ns: Netns
    plc_ns: Netns
    ev_ns: list[Netns]
    evse_side: list[VethPair]  # a: EVSE host, b: emulator
    ev_side: list[VethPair]  # a: emulator, b: EV host
    emulator: subprocess.Popen[str]


@pytest.fixture
def topology(netns_lab: NetnsLab, request: pytest.FixtureRequest) -> Iterator[Topology]:
    n, vendor = getattr(request, "param", (1, "qualcomm"))
    evse_ns, plc_ns = netns_lab.netns("evse"), netns_lab.netns("plc")
    ev_ns = [netns_lab.netns(f"ev{i}") for i in range(n)]
    evse_side = [netns_lab.veth(evse_ns, plc_ns, ipv6=False) for _ in range(n)]
    ev_side = [netns_lab.veth(plc_ns, ev_ns[i], ipv6=False) for i in range(n)]
    args = [sys.executable, "-m", "josev.sim.modem_shell"]
    for i in range(n):
        args += ["--port", f"evse{i}={evse_side[i].b}:{vendor}", "--port", f"ev{i}={ev_side[i].a}:{vendor}"]
        args += ["--att", f"evse{i},ev{i}={20 + i}"]
        args += [f"--att=evse{j},ev{i}=60" for j in range(n) if j != i]  # crosstalk between the cables
    emu = plc_ns.popen(args, env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert emu.stdout is not None and emu.stdout.readline().strip() == "ready"
        yield Topology(evse_ns, plc_ns, ev_ns, evse_side, ev_side, emu)
    finally:
        emu.terminate()
        try:
            emu.wait(5)
        except subprocess.TimeoutExpired:
            emu.kill()
            emu.wait(5)


async def run_ev(topo: Topology, i: int, validate: str = "never") -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        topo.ev_ns[i].name,
        sys.executable,
        "-m",
        "josev.slac.ev_run",
        "--iface",
        topo.ev_side[i].b,
        "--timeout",
        "15",
        "--validate",
        validate,
        env=ENV,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    result: dict[str, object] = json.loads(out)
    return result


async def test_evse_and_ev_match_over_raw_sockets(topology: Topology) -> None:
    topo = topology
    with topo.evse_ns.entered():
        sock = RawSocket(topo.evse_side[0].a)
    with topo.plc_ns.entered():
        intruder = RawSocket(topo.evse_side[0].b, ETH_P_ALL)  # puts garbage on the EVSE's wire
    core = EvseSlac(EvseSlacConfig(mac=sock.mac, evse_id=b"DE*JOS*E000001*01"))
    events: list[SlacEvent] = []
    driver = CoreDriver(core, sock, events.append)
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(stop))
    try:
        await driver.apply(core.start(driver.now()))
        await asyncio.sleep(0.2)
        await driver.apply(core.cp_state("A", driver.now()))
        await driver.apply(core.cp_state("B", driver.now()))
        good = encode_frame(b"\xff" * 6, topo.ev_side[0].mac("b"), CmStartAttenCharInd(bytes(6), bytes(8)))
        for bad in (
            good[:20],
            good[:14] + b"\x07" + good[15:],
            good[:15] + b"\x38\x60" + good[17:],
            good,
            encode_frame(sock.mac, bytes.fromhex("02cc00000001"), CmSlacParmReq(bytes(8), 0, 1)),
        ):
            intruder.send(bad)
        t0 = time.monotonic()
        result = await run_ev(topo, 0)
        elapsed = time.monotonic() - t0
        for _ in range(50):
            if core.state is S.MATCHED:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        intruder.close()
    assert result["status"] == "matched", result
    assert core.state is S.MATCHED and core.ev_mac == topo.ev_side[0].mac("b")
    assert result["nmk"] == core.nmk.hex() and result["nid"] == core.nid.hex()
    assert result["evse_mac"] == sock.mac.hex(":") and result["vendor"] == "qualcomm"
    c = core.counters
    assert c["truncated"] == 1 and c["malformed"] == 1 and c["unknown_mmtype"] == 1
    assert c["foreign_ev"] == 1 and c["unsupported"] == 1
    assert elapsed < 10


@pytest.mark.parametrize("topology", [(1, "lumissil")], indirect=True)
async def test_lumissil_modem_over_raw_sockets(topology: Topology) -> None:
    with topology.evse_ns.entered():
        sock = RawSocket(topology.evse_side[0].a)
    core = EvseSlac(EvseSlacConfig(mac=sock.mac))
    driver = CoreDriver(core, sock)
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(stop))
    try:
        await driver.apply(core.start(driver.now()))
        await driver.apply(core.cp_state("B", driver.now()))
        result = await run_ev(topology, 0)
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await task
    assert result["status"] == "matched" and result["vendor"] == "lumissil"
    assert core.modem.vendor is not None and core.modem.vendor.value == "lumissil"
    assert result["nmk"] == core.nmk.hex()


@pytest.mark.parametrize("topology", [(3, "qualcomm")], indirect=True)
async def test_service_with_several_evse_interfaces_on_the_bus(
    topology: Topology, broker: PrivateBroker, bus_factory: BusFactory
) -> None:
    topo = topology
    n = len(topo.evse_side)

    def opener(ifname: str) -> RawSocket:
        with topo.evse_ns.entered():
            return RawSocket(ifname)

    settings = SlacSettings(
        evses=tuple(SlacEvseSettings(i + 1, topo.evse_side[i].a, f"EVSE{i + 1}") for i in range(n)),
        socket_factory=opener,
    )
    service = SlacService(settings)
    slac_bus = Bus("slac", broker.settings("slac"))
    await slac_bus.connect()
    coordinator = await bus_factory("coordinator")
    seen: dict[int, list[SlacState]] = {i + 1: [] for i in range(n)}
    coordinator.subscribe(SlacState, lambda msg, evse: seen[evse or 0].append(msg))
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(slac_bus, stop))
    try:
        for _ in range(100):
            if len(service.evses) == n and all(seen.values()):
                break
            await asyncio.sleep(0.05)
        # EVSE 1 gets its CP from the coordinator's retained PilotState, the others by command
        await coordinator.publish(PilotState(cp="B", pilot_mode="pwm", duty_percent=5.0), evse=1)
        # CpStateInput is a tool's command (the coordinator publishes PilotState)
        cli = await bus_factory("cli")
        for i in range(1, n):
            await cli.request(CpStateInput(state="B"), evse=i + 1)
        results = await asyncio.gather(*(run_ev(topo, i) for i in range(n)))
        for _ in range(60):
            if all(s and s[-1].status == "matched" for s in seen.values()):
                break
            await asyncio.sleep(0.05)
        diag = await cli.request(GetSlacDiagnostics(), evse=1)
        await coordinator.publish(PilotState(cp="A", pilot_mode="x1"), evse=1)
        for _ in range(40):
            if seen[1][-1].status == "unmatched":
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        await slac_bus.close()
    for i in range(n):
        assert results[i]["status"] == "matched", results[i]
        matched = [s for s in seen[i + 1] if s.status == "matched"][-1]
        assert matched.ev_mac == results[i]["mac"] and matched.nid == results[i]["nid"]
        assert matched.interface == topo.evse_side[i].a and matched.modem == "qualcomm"
        assert results[i]["evse_mac"] == topo.evse_side[i].mac("a").hex(":")
    assert len({r["nmk"] for r in results}) == n
    assert diag.status == "matched" and diag.counters["rx"] > 10
    assert seen[1][-1].status == "unmatched" and seen[1][-1].ev_mac is None


async def test_cm_validate_over_raw_sockets_with_cp_toggles(topology: Topology) -> None:
    """Both cores in this process, sockets in their namespaces; the EV's S2 toggles drive the EVSE's CP."""
    topo = topology
    with topo.evse_ns.entered():
        evse_sock = RawSocket(topo.evse_side[0].a)
    with topo.ev_ns[0].entered():
        ev_sock = RawSocket(topo.ev_side[0].b)
    evse = EvseSlac(EvseSlacConfig(mac=evse_sock.mac))
    ev = EvSlac(EvSlacConfig(mac=ev_sock.mac, validate=Validate.ALWAYS))
    windows: list[ValidationWindow] = []
    toggles: list[asyncio.Task[None]] = []

    async def bcb(count: int, state_s: float) -> None:
        for _ in range(count):
            await asyncio.sleep(state_s)
            await evse_driver.apply(evse.cp_state("C", evse_driver.now()))
            await asyncio.sleep(state_s)
            await evse_driver.apply(evse.cp_state("B", evse_driver.now()))

    def on_ev(event: SlacEvent) -> None:
        if isinstance(event, ToggleRequest):
            toggles.append(asyncio.create_task(bcb(event.count, event.state_duration)))

    def on_evse(event: SlacEvent) -> None:
        if isinstance(event, ValidationWindow):
            windows.append(event)

    evse_driver, ev_driver = CoreDriver(evse, evse_sock, on_evse), CoreDriver(ev, ev_sock, on_ev)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(evse_driver.run(stop)), asyncio.create_task(ev_driver.run(stop))]
    try:
        await evse_driver.apply(evse.start(evse_driver.now()))
        await ev_driver.apply(ev.probe_modem(ev_driver.now()))
        await asyncio.sleep(0.2)
        await evse_driver.apply(evse.cp_state("B", evse_driver.now()))
        await ev_driver.apply(ev.start(ev_driver.now()))
        for _ in range(200):
            if ev.state is E.MATCHED and evse.state is S.MATCHED:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*tasks, *toggles)
    assert ev.state is E.MATCHED and evse.state is S.MATCHED
    assert ev.nmk == evse.nmk and ev.nid == evse.nid
    assert [w.open for w in windows] == [True, False] and windows[-1].toggles == 1
