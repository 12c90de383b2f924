"""Issue 19: where the PLC interface is captured, the V2G log of a session starts with the SLAC matching that
led to it. The whole link as in tests/secc/test_slac_e2e.py (SLAC through the modem emulator, then SDP and the
session; our EV with ``--slac on``); the SECC endpoint taps its interface (``capture_slac``). tshark sees the
HomePlug AV frames in the session's pcapng and ``josev v2g show`` prints the SLAC messages before SDP."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from josev.observability.v2glog import V2gRecorder
from josev.secc.events import Event
from josev.secc.evse import EvseView
from josev.secc.server import EvseEndpoint
from josev.sim.supply import SimPowerSupply
from josev.v2g.codec import exi_available, make_codec
from tests.product.tshark import fields, needs_tshark
from tests.secc.offload import disable_tx_checksum
from tests.secc.test_slac_e2e import ENV, _ev
from tests.util.netns import CAN_NETNS, NetnsLab

from .test_v2g_show import show

pytestmark = [
    pytest.mark.netns,
    needs_tshark,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]


async def test_session_log_starts_with_its_slac_matching(
    netns_lab: NetnsLab, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from josev.slac.driver import CoreDriver
    from josev.slac.evse import EvseSlac, EvseSlacConfig
    from josev.slac.rawsocket import RawSocket

    logs = tmp_path_factory.mktemp("v2g")
    evse_ns, plc_ns, ev_ns = netns_lab.netns("evse"), netns_lab.netns("plc"), netns_lab.netns("ev0")
    evse_side, ev_side = netns_lab.veth(evse_ns, plc_ns), netns_lab.veth(plc_ns, ev_ns)
    args = [sys.executable, "-m", "josev.sim.modem_shell"]
    args += ["--port", f"evse0={evse_side.b}:qualcomm", "--port", f"ev0={ev_side.a}:qualcomm"]
    args += ["--att", "evse0,ev0=20"]
    emu = plc_ns.popen(args, env=ENV, stdout=subprocess.PIPE, text=True)
    view = EvseView(energy_modes=("DC_extended",))
    supply = SimPowerSupply()

    def on_events(no: int, evs: list[Event]) -> None:
        supply.apply(view, evs)

    rec = V2gRecorder(directory=logs)
    ep = EvseEndpoint(
        1, evse_side.a, view, make_codec("exi"), on_events=on_events, recorder=rec, capture_slac=True
    )
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        assert emu.stdout is not None and emu.stdout.readline().strip() == "ready"
        with evse_ns.entered():
            disable_tx_checksum(evse_side.a)
            sock = RawSocket(evse_side.a)
            await ep.start()
        with ev_ns.entered():
            disable_tx_checksum(ev_side.b)
        assert ep._slac_tap is not None
        core = EvseSlac(EvseSlacConfig(mac=sock.mac, evse_id=b"DE*JSV*E000001*01"))
        driver = CoreDriver(core, sock, lambda e: None)
        task = asyncio.create_task(driver.run(stop))
        await driver.apply(core.start(driver.now()))
        await asyncio.sleep(0.1)
        await driver.apply(core.cp_state("A", driver.now()))
        await driver.apply(core.cp_state("B", driver.now()))
        code, res, err = await _ev(ev_ns.name, ev_side.b, "iso2-dc", "020000000001")
    finally:
        stop.set()
        if task is not None:
            await task
        await ep.close()
        emu.terminate()
        emu.wait(5)
    assert code == 0 and res["results"][-1]["outcome"] == "finished", (res, err)
    assert rec.flush()
    (path,) = logs.glob("v2g-evse1-*.pcapng")
    rows = fields(path, ["eth.src", "eth.dst", "eth.type"], "eth.type == 0x88e1")
    ev_mac, evse_mac = ev_side.mac("b").hex(":"), evse_side.mac("a").hex(":")
    assert [ev_mac, "ff:ff:ff:ff:ff:ff", "0x88e1"] in rows  # the EV's CM_SLAC_PARM.REQ (broadcast)
    assert any(r[0] == evse_mac for r in rows)  # the station's answers
    out = show(path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    i_parm, i_match, i_sdp = (
        text.index("CM_SLAC_PARM.REQ"),
        text.index("CM_SLAC_MATCH.CNF"),
        text.index("SECCDiscoveryReq"),
    )
    assert i_parm < i_match < i_sdp
