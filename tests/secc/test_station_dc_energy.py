"""DC energy billing on the real reference station (``josev station --sim --stack real``): what the station bills
for a DC session is what it told the EV it delivered.

Our EV simulator charges in its own namespace across a veth pair (ISO 15118-2 over TLS 1.2, DIN SPEC 70121,
ISO 15118-20 over TLS 1.3); it records the EVSE present voltage and current of every CurrentDemandRes /
DC_ChargeLoopRes with its own clock. The integral of V x I over the charge loop is the energy the SECC reported;
the energy billed must match it: the TransactionEvent Ended minus Started import register at the CSMS stand-in,
and the coordinator's session energy (both from the HAL meter, fed by the simulated DC supply).

Before the fix the simulated car's battery sat at the EV's own target voltage (400 V), so the voltage-limited
supply drove 0 A into it: every DC session reported 0 A to the EV and billed 0 Wh.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from josev.pki import create
from josev.v2g.codec import exi_available
from tests.util.netns import CAN_NETNS, NetnsLab

from .stationproc import ROOT, ev, stop_station, tail

pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]

LOOPS = 8
INTERVAL_S = 0.5
REL_TOL = 0.10
"""Relative tolerance between the billed energy and the EV's integral."""
ABS_TOL_WH = 2.0
"""Plus this much: energy flows from the moment the first target reaches the supply (a bus hop after the EV's first
sample) until the output ramps down after PowerDelivery Stop (a bus hop after its last); at ~21 kW each 0.1 s
of difference between those two delays is 0.6 Wh; the session figure is rounded to 0.1 Wh."""

ENDED = re.compile(r"session \S+ ended \((\w+)\): ([\d.]+) Wh delivered")
TX = re.compile(r"csms_sim: \S+ TransactionEvent (Started|Ended) register ([\d.]+) Wh")


def ev_energy_wh(present: list[list[float]]) -> float:
    """The energy the EV was told it got: each loop's present V x I over the time since the previous response
    (the first response still shows the precharge values; the current flows from the first target on)."""
    return sum(v * i * (t - t0) for (t0, _, _), (t, v, i) in itertools.pairwise(present)) / 3600.0


def csms_billed(text: str) -> list[float]:
    """What the CSMS stand-in bills per transaction: the import register of TransactionEvent Ended minus that of
    its Started (the station starts transactions at plug-in, one EVSE: they do not overlap)."""
    started: list[float] = []
    billed: list[float] = []
    for m in TX.finditer(text):
        if m[1] == "Started":
            started.append(float(m[2]))
        elif len(started) > len(billed):
            billed.append(float(m[2]) - started[len(billed)])
    return billed


async def ended_sessions(
    log: Path, n: int, timeout: float = 15.0
) -> tuple[list[tuple[str, float]], list[float]]:
    """Wait for the ``n``-th coordinator "session ... ended" line and the ``n``-th TransactionEvent Ended at the
    CSMS; all of both so far."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        text = await asyncio.to_thread(log.read_text, errors="replace")
        found = [(m[1], float(m[2])) for m in ENDED.finditer(text)]
        billed = csms_billed(text)
        if (len(found) >= n and len(billed) >= n) or loop.time() > end:
            return found, billed
        await asyncio.sleep(0.2)


async def test_dc_energy_billed_is_what_the_ev_was_told(netns_lab: NetnsLab, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    create(pki, ("iso2", "iso20-p521"))
    log = tmp_path / "station.log"
    st_ns, ev_ns = netns_lab.netns("st"), netns_lab.netns("ev")
    pair = netns_lab.veth(st_ns, ev_ns)
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
            *("--iface", pair.a, "--slac", "off", "--stack", "real", "--modes", "dc"),
            *("--tls", "both", "--pki", str(pki)),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    evs = [("iso2-dc", ("--tls", "iso2")), ("din", ("--tls", "off")), ("iso20-dc", ())]
    seen: list[tuple[str, float, float, float, dict[str, Any]]] = []
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"station ready"), (line, tail(log))
        for n, (protocol, extra) in enumerate(evs, 1):
            opts = ("--loops", str(LOOPS), "--loop-interval", str(INTERVAL_S))
            res = await ev(ev_ns.name, pair.b, pki, protocol, *extra, *opts)
            r = res["results"][-1]
            assert r["outcome"] == "finished", (protocol, r["detail"], r["messages"], tail(log))
            # the session ends when the car is unplugged (the station's car bridge replugs it after the stop)
            ended, billed = await ended_sessions(log, n)
            assert len(ended) == n and len(billed) == n, (protocol, ended, billed, tail(log))
            seen.append((protocol, ended[-1][1], billed[-1], ev_energy_wh(r["present"]), r))
            await asyncio.sleep(1.0)  # the bridge plugs the next car in 0.5 s after the unplug
    finally:
        assert await stop_station(proc) == 0
    for protocol, session, csms, told, r in seen:
        present = r["present"]
        print(f"{protocol}: CSMS {csms:.3f} Wh, session {session:.1f} Wh, EV integral {told:.2f} Wh")  # -s
        # the CSMS bills what the coordinator counted for the session (the same meter; session energy is
        # rounded to 0.1 Wh)
        assert abs(csms - session) <= 0.1, (protocol, csms, session)
        assert len(present) == LOOPS, (protocol, present)
        # the EV got current: 0 A into a battery at the EV's own target voltage was the defect
        charging = present[1:]
        assert all(i > 10.0 and 300.0 < v < 450.0 for _, v, i in charging), (protocol, present)
        assert told > 10.0, (protocol, told, present)  # ~21 kW for ~3.5 s: ~21 Wh
        assert abs(csms - told) <= REL_TOL * told + ABS_TOL_WH, (protocol, csms, told, present)
