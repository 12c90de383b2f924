"""ISO 15118-2 MeteringReceipt on the real reference station (``josev station --sim --pnc on --metering-receipt``):
our EV signs the station meter's readings over TLS 1.2 across a veth pair (the unit tests are in
``test_pnc_receipt_iso2.py``; this module starts processes, so it is not in the fast tier)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from josev.pki import create
from josev.v2g.codec import exi_available
from tests.util.netns import CAN_NETNS, NetnsLab

from .stationproc import sim_station

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
    async with sim_station(
        netns_lab,
        tmp_path,
        *("--slac", "off", "--stack", "real", "--modes", "ac"),
        *("--tls", "iso2", "--pki", str(pki), "--pnc", "on", "--metering-receipt", "0"),
    ) as st:
        res = await st.ev(
            *(pki, "iso2-ac", "--tls", "iso2", "--contract", str(pki / "iso2")),
            *("--loop-interval", "1.0"),
        )
        r = res["results"][-1]
        assert r["outcome"] == "finished", (r["detail"], r["messages"], st.tail())
        assert r["tls"].startswith("TLSv1.2")
        receipts = r["receipts"]
        assert len(receipts) == r["messages"].count("MeteringReceiptReq") == r["loops"] == 3
        assert {x["MeterID"] for x in receipts} == {"DE*JSV*E0001"}
        assert all(x["TMeter"] > 1_700_000_000 for x in receipts)
        readings = [x["MeterReading"] for x in receipts]
        text = st.text()
        # what the SECC had the EV sign is what the SECC got verified, reading for reading
        logged = [int(x) for x in re.findall(r"metering receipt signed: meter \S+ reading (\d+) Wh", text)]
        assert logged == readings, st.tail()
        # and it is the station meter's count (the simulated meter starts at 0, so register = session energy): the
        # car draws 16 A x 3 phases (~11 kW, ~3 Wh a second); the coordinator's figure at the stop is at most one
        # meter poll (1 s) and one loop (1 s) beyond the last receipt
        stopped = re.findall(r"charging stopped, ([\d.]+) Wh delivered", text)
        assert stopped, st.tail()
        # the register only grows; the first receipt may come before the first meter poll saw energy (0 Wh, a
        # loaded machine), two of them within one poll may repeat it, but the car charges between the first and
        # the last (2 loops of 1 s at ~3 Wh/s)
        assert 0 <= readings[0] <= readings[1] <= readings[2] and readings[2] > readings[0], readings
        assert 0 <= float(stopped[-1]) - readings[-1] <= 10, (readings, stopped)
