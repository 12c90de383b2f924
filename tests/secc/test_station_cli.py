"""``josev station --sim --slac off`` as a process in one namespace, ``josev ev`` in another, linked by a veth
pair: the reference station serves DIN, ISO-2 AC and ISO-2 DC EVs one after the other, then stops on
SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from josev.secc.codec import exi_available
from tests.util.netns import NetnsLab

from .test_netns_e2e import run_ev

ROOT = Path(__file__).resolve().parents[2]
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


async def stop_station(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0


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
