"""``josev station --sim`` as a process in one namespace, ``josev ev`` in another, linked by a veth pair: the
lite station (``--stack lite --modes both --slac off``) serves DIN, ISO-2 AC and ISO-2 DC EVs one after the
other, then stops on SIGTERM; the real station (default ``--stack real``, DC) behind the PLC modem emulator
with SLAC serves two EVs in a row."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from josev.v2g.codec import exi_available
from tests.util.netns import NetnsLab

from .stationproc import ROOT, stop_station
from .test_netns_e2e import run_ev

pytestmark = [pytest.mark.netns]


async def start_station(ns: str, iface: str, codec: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        ns,
        sys.executable,
        "-u",
        "-m",
        "josev.cli.station",
        "--sim",
        "--iface",
        iface,
        "--slac",
        "off",
        "--stack",
        "lite",
        "--modes",
        "both",
        "--codec",
        codec,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
    except TimeoutError:
        proc.kill()
        raise
    assert line.startswith(b"station ready"), line
    return proc


@pytest.mark.parametrize("codec", ["exi", "json"])
async def test_station_process_serves_all_protocols(netns_lab: NetnsLab, codec: str) -> None:
    reason = exi_available()
    if codec == "exi" and reason:
        pytest.skip(reason)
    if codec == "json" and not reason:
        pytest.skip("the EXI variant covers it (JSON stand-in only runs without the codec)")
    st_ns, ev_ns = netns_lab.netns("st"), netns_lab.netns("ev")
    pair = netns_lab.veth(st_ns, ev_ns)
    proc = await start_station(st_ns.name, pair.a, codec)
    try:
        for protocol in ("din", "iso2-ac", "iso2-dc"):
            res = await run_ev(ev_ns.name, pair.b, protocol, codec)
            assert res["results"][-1]["outcome"] == "finished", (protocol, res)
    finally:
        code = await stop_station(proc)
    assert code == 0


@pytest.mark.slow
async def test_station_with_slac_serves_evs_in_a_row(netns_lab: NetnsLab, tmp_path: Path) -> None:
    """``josev station --sim --slac on --tls both`` (the real stack: HAL sim, coordinator, SLAC, SECC, OCPP)
    behind the PLC modem emulator: an EV matches with SLAC and charges; after the session the simulated car is
    unplugged and plugged in again, and the next EV matches and charges too: ISO-2 DC, DIN, then ISO 15118-20 DC
    over TLS 1.3. (The veth ends have TX checksum offload off, see tests/util/netns.py: the emulator relays
    frames with a packet socket.)"""
    import os
    import subprocess

    if reason := exi_available():
        pytest.skip(reason)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    st_ns, plc_ns, ev_ns = netns_lab.netns("st"), netns_lab.netns("plc"), netns_lab.netns("ev")
    st_side, ev_side = netns_lab.veth(st_ns, plc_ns), netns_lab.veth(plc_ns, ev_ns)
    pki = tmp_path / "pki"
    emu = plc_ns.popen(
        [
            sys.executable,
            "-m",
            "josev.sim.modem_shell",
            "--port",
            f"evse0={st_side.b}:qualcomm",
            "--port",
            f"ev0={ev_side.a}:qualcomm",
            "--att",
            "evse0,ev0=20",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    proc = None
    try:
        assert emu.stdout is not None and emu.stdout.readline().strip() == "ready"
        proc = await asyncio.create_subprocess_exec(
            "ip",
            "netns",
            "exec",
            st_ns.name,
            sys.executable,
            "-u",
            "-m",
            "josev.cli.station",
            "--sim",
            "--iface",
            st_side.a,
            "--slac",
            "on",
            "--tls",
            "both",
            "--pki",
            str(pki),  # created by the station
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"station ready"), line
        tls = ("--pki", str(pki), "--station-tls", "both")
        for protocol, extra in (("iso2-dc", ()), ("din", ()), ("iso20-dc", tls)):
            res = await run_ev(ev_ns.name, ev_side.b, protocol, "exi", "--slac", "on", *extra)
            assert res["results"][0]["slac"]["status"] == "matched", res
            assert res["results"][-1]["outcome"] == "finished", res
            await asyncio.sleep(1.0)  # the car is replugged; SLAC starts over
        assert res["results"][-1]["tls"].startswith("TLSv1.3"), res
    finally:
        if proc is not None:
            await stop_station(proc)
        emu.terminate()
        try:
            emu.wait(5)
        except subprocess.TimeoutExpired:
            emu.kill()
            emu.wait(5)
