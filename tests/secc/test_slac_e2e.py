"""The whole link: SLAC (ISO 15118-3) through the PLC modem emulator, then SDP and the V2GTP/EXI session.

Topology: [station host, ns "evse"] --veth-- [modem emulator, ns "plc"] --veth-- [EV host, ns "ev"]. The
emulator only bridges IP traffic once SLAC put both modems in one network, so SDP and TCP prove the match.
The station side runs the EVSE SLAC core and our SECC endpoint in-process (sockets opened inside the "evse"
namespace); the EV is ``python -m josev.ev --slac on`` in its namespace.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from josev.secc.codec import exi_available, make_codec
from josev.secc.events import Event
from josev.secc.evse import EvseView
from josev.secc.server import EvseEndpoint
from josev.secc.simsupply import SimPowerSupply
from tests.conftest import ROOT
from tests.util.netns import NetnsLab

from .offload import disable_tx_checksum

pytestmark = [pytest.mark.netns, pytest.mark.slow]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


@pytest.mark.parametrize("protocol", ["din", "iso2-ac", "iso2-dc"])
async def test_slac_then_session(netns_lab: NetnsLab, protocol: str) -> None:
    if reason := exi_available():
        pytest.skip(reason)
    from josev.slac.driver import CoreDriver
    from josev.slac.evse import EvseSlac, EvseSlacConfig, S
    from josev.slac.rawsocket import RawSocket

    evse_ns, plc_ns, ev_ns = netns_lab.netns("evse"), netns_lab.netns("plc"), netns_lab.netns("ev")
    evse_side = netns_lab.veth(evse_ns, plc_ns)
    ev_side = netns_lab.veth(plc_ns, ev_ns)
    emu = plc_ns.popen(
        [
            sys.executable,
            "-m",
            "josev.slac.emulator_shell",
            "--port",
            f"evse0={evse_side.b}:qualcomm",
            "--port",
            f"ev0={ev_side.a}:qualcomm",
            "--att",
            "evse0,ev0=20",
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    view = EvseView(energy_modes=("AC_three_phase_core", "DC_extended"))
    supply = SimPowerSupply()
    events: list[Event] = []

    def on_events(no: int, evs: list[Event]) -> None:
        supply.apply(view, evs)
        events.extend(evs)

    ep = EvseEndpoint(1, evse_side.a, view, make_codec("exi"), on_events=on_events)
    stop = asyncio.Event()
    task = None
    try:
        assert emu.stdout is not None and emu.stdout.readline().strip() == "ready"
        with evse_ns.entered():
            disable_tx_checksum(evse_side.a)
            sock = RawSocket(evse_side.a)
            await ep.start()
        with ev_ns.entered():
            disable_tx_checksum(ev_side.b)
        core = EvseSlac(EvseSlacConfig(mac=sock.mac, evse_id=b"DE*JSV*E000001*01"))
        driver = CoreDriver(core, sock, lambda e: None)
        task = asyncio.create_task(driver.run(stop))
        await driver.apply(core.start(driver.now()))
        await asyncio.sleep(0.1)
        await driver.apply(core.cp_state("A", driver.now()))
        await driver.apply(core.cp_state("B", driver.now()))
        proc = await asyncio.create_subprocess_exec(
            "ip",
            "netns",
            "exec",
            ev_ns.name,
            sys.executable,
            "-m",
            "josev.ev",
            "--iface",
            ev_side.b,
            "--slac",
            "on",
            "--protocol",
            protocol,
            "--codec",
            "exi",
            "--json",
            "--loops",
            "3",
            env=ENV,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    finally:
        stop.set()
        if task is not None:
            await task
        await ep.close()
        emu.terminate()
        try:
            emu.wait(5)
        except subprocess.TimeoutExpired:
            emu.kill()
            emu.wait(5)
    assert proc.returncode == 0, (ep.stats, core.state, out.decode()[-2000:], err.decode()[-600:])
    res = json.loads(out)
    assert res["results"][0]["slac"]["status"] == "matched"
    assert res["results"][-1]["outcome"] == "finished"
    assert core.state is S.MATCHED
    assert ep.stats.sessions_ended == {"terminate": 1}
