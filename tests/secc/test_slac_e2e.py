"""The whole link: SLAC (ISO 15118-3) through the PLC modem emulator, then SDP and the V2GTP/EXI session.

Topology per EVSE i: [station host, ns "evse"] --veth-- [modem emulator, ns "plc"] --veth-- [EV host, ns
"ev<i>"], with crosstalk between the cables when there are two. The emulator only bridges IP traffic once SLAC
put both modems in one network, so SDP and TCP prove the match. The station side runs the EVSE SLAC cores and
our SECC endpoints in-process (sockets opened inside the "evse" namespace); each EV is
``python -m josev.ev --slac on`` in its namespace.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from josev.secc.events import Event
from josev.secc.evse import EvseView
from josev.secc.server import EvseEndpoint
from josev.sim.supply import SimPowerSupply
from josev.v2g.codec import exi_available, make_codec
from tests.conftest import ROOT
from tests.util.netns import NetnsLab

from .offload import disable_tx_checksum

pytestmark = [pytest.mark.netns, pytest.mark.slow]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


async def _ev(ns: str, iface: str, protocol: str, evcc_id: str) -> tuple[int, dict[str, Any], str]:
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
        "--slac",
        "on",
        "--protocol",
        protocol,
        "--codec",
        "exi",
        "--json",
        "--loops",
        "3",
        "--evcc-id",
        evcc_id,
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
    try:
        res: dict[str, Any] = json.loads(out)
    except ValueError:
        res = {}
    return proc.returncode or 0, res, err.decode()[-1500:]


async def run_link(lab: NetnsLab, protocols: list[str]) -> None:
    from josev.slac.driver import CoreDriver
    from josev.slac.evse import EvseSlac, EvseSlacConfig, S
    from josev.slac.rawsocket import RawSocket

    n = len(protocols)
    evse_ns, plc_ns = lab.netns("evse"), lab.netns("plc")
    ev_ns = [lab.netns(f"ev{i}") for i in range(n)]
    evse_side = [lab.veth(evse_ns, plc_ns) for _ in range(n)]
    ev_side = [lab.veth(plc_ns, ev_ns[i]) for i in range(n)]
    args = [sys.executable, "-m", "josev.sim.modem_shell"]
    for i in range(n):
        args += ["--port", f"evse{i}={evse_side[i].b}:qualcomm", "--port", f"ev{i}={ev_side[i].a}:qualcomm"]
        args += ["--att", f"evse{i},ev{i}={20 + i}"]
        args += [f"--att=evse{j},ev{i}=60" for j in range(n) if j != i]
    emu = plc_ns.popen(args, env=ENV, stdout=subprocess.PIPE, text=True)
    views = [EvseView(energy_modes=("AC_three_phase_core", "DC_extended")) for _ in range(n)]
    supply = SimPowerSupply()
    events: dict[int, list[Event]] = {i: [] for i in range(n)}

    def on_events(no: int, evs: list[Event]) -> None:
        supply.apply(views[no], evs)
        events[no].extend(evs)

    eps = [
        EvseEndpoint(i, evse_side[i].a, views[i], make_codec("exi"), on_events=on_events) for i in range(n)
    ]
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    cores = []
    try:
        assert emu.stdout is not None and emu.stdout.readline().strip() == "ready"
        socks = []
        with evse_ns.entered():
            for i in range(n):
                disable_tx_checksum(evse_side[i].a)
                socks.append(RawSocket(evse_side[i].a))
                await eps[i].start()
        for i in range(n):
            with ev_ns[i].entered():
                disable_tx_checksum(ev_side[i].b)
        for i in range(n):
            core = EvseSlac(EvseSlacConfig(mac=socks[i].mac, evse_id=f"DE*JSV*E00000{i}*01".encode()))
            driver = CoreDriver(core, socks[i], lambda e: None)
            tasks.append(asyncio.create_task(driver.run(stop)))
            await driver.apply(core.start(driver.now()))
            await asyncio.sleep(0.1)
            await driver.apply(core.cp_state("A", driver.now()))
            await driver.apply(core.cp_state("B", driver.now()))
            cores.append(core)
        results = await asyncio.gather(
            *[_ev(ev_ns[i].name, ev_side[i].b, protocols[i], f"0200000000{i:02d}") for i in range(n)]
        )
    finally:
        stop.set()
        for t in tasks:
            await t
        for ep in eps:
            await ep.close()
        emu.terminate()
        try:
            emu.wait(5)
        except subprocess.TimeoutExpired:
            emu.kill()
            emu.wait(5)
    for i, (code, res, err) in enumerate(results):
        assert code == 0, (i, eps[i].stats, res, err)
        assert res["results"][0]["slac"]["status"] == "matched"
        assert res["results"][-1]["outcome"] == "finished"
        assert cores[i].state is S.MATCHED
        assert eps[i].stats.sessions_ended == {"terminate": 1}
        started = [e for e in events[i] if type(e).__name__ == "SessionStarted"]
        assert [getattr(e, "evcc_id", None) for e in started] == [f"0200000000{i:02d}"]


def _need_codec() -> None:
    if reason := exi_available():
        pytest.skip(reason)


@pytest.mark.parametrize("protocol", ["din", "iso2-ac", "iso2-dc"])
async def test_slac_then_session(netns_lab: NetnsLab, protocol: str) -> None:
    _need_codec()
    await run_link(netns_lab, [protocol])


async def test_two_evses_two_evs_with_slac(netns_lab: NetnsLab) -> None:
    _need_codec()
    await run_link(netns_lab, ["iso2-dc", "din"])
