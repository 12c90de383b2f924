"""ISO 15118-2 MeteringReceipt on the real reference station (``josev station --sim --pnc on --metering-receipt``):
our EV signs the station meter's readings over TLS 1.2 across a veth pair (the unit tests are in
``test_pnc_receipt_iso2.py``; this module starts processes, so it is not in the fast tier)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from josev.pki import create
from josev.secc.codec import exi_available
from tests.util.netns import CAN_NETNS, NetnsLab

from .test_station_cli import stop_station
from .test_station_real import ROOT, ev, tail

# -- our EV against the real station, across a veth pair ---------------------------------------------------


@pytest.mark.netns
@pytest.mark.slow
@pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)")
@pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built")
async def test_receipts_on_the_real_station(netns_lab: NetnsLab, tmp_path: Path) -> None:
    """``josev station --sim --pnc on --metering-receipt 0``: every CurrentDemandRes asks the EV to sign the
    station meter's reading (the simulated meter of the HAL, through the coordinator's SessionMeter); the EV signs
    each with its contract key over TLS 1.2; the SECC verifies and logs each reading it got signed."""
    pki = tmp_path / "pki"
    create(pki, ("iso2",))
    log = tmp_path / "station.log"
    st_ns, ev_ns = netns_lab.netns("st"), netns_lab.netns("ev")
    pair = netns_lab.veth(st_ns, ev_ns)
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
            *("--iface", pair.a, "--slac", "off", "--stack", "real", "--modes", "ac"),
            *("--tls", "iso2", "--pki", str(pki), "--pnc", "on", "--metering-receipt", "0"),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"station ready"), (line, tail(log))
        res = await ev(
            *(ev_ns.name, pair.b, pki, "iso2-ac", "--tls", "iso2", "--contract", str(pki / "iso2")),
            *("--loop-interval", "1.0"),
        )
        r = res["results"][-1]
        assert r["outcome"] == "finished", (r["detail"], r["messages"], tail(log))
        assert r["tls"].startswith("TLSv1.2")
        receipts = r["receipts"]
        assert len(receipts) == r["messages"].count("MeteringReceiptReq") == r["loops"] == 3
        assert {x["MeterID"] for x in receipts} == {"DE*JSV*E0001"}
        assert all(x["TMeter"] > 1_700_000_000 for x in receipts)
        readings = [x["MeterReading"] for x in receipts]
        text = log.read_text(errors="replace")
        # what the SECC had the EV sign is what the SECC got verified, reading for reading
        logged = [int(x) for x in re.findall(r"metering receipt signed: meter \S+ reading (\d+) Wh", text)]
        assert logged == readings, tail(log)
        # and it is the station meter's count (the simulated meter starts at 0, so register = session energy): the
        # car draws 16 A x 3 phases (~11 kW, ~3 Wh a second); the coordinator's figure at the stop is at most one
        # meter poll (1 s) and one loop (1 s) beyond the last receipt
        stopped = re.findall(r"charging stopped, ([\d.]+) Wh delivered", text)
        assert stopped, tail(log)
        assert 0 < readings[0] < readings[1] < readings[2], readings
        assert 0 <= float(stopped[-1]) - readings[-1] <= 10, (readings, stopped)
    finally:
        assert await stop_station(proc) == 0
