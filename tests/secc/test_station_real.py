"""``josev station --sim --stack real``: the real station services (HAL simulator board, coordinator with its DC
flow, SLAC stand-in for ``--slac off``, SECC, OCPP) plus the CSMS stand-in and the simulated car's pilot, as one
process in a namespace; our EV simulator in another, across a veth pair, over real SDP, TCP and TLS.

The EV charges only if the whole chain works: the coordinator must see the car (plug, CP C), authorize it
(free charging), run the cable check on the simulated IMD, regulate the simulated DC supply to the EV's
PreCharge / CurrentDemand targets (present voltage and current reach the EV through ``DcSupplyState``), and
confirm the contactor before the SECC answers PowerDelivery; the OCPP service reports the transaction to the
CSMS stand-in (read from the station's log).
"""

from __future__ import annotations

import asyncio
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


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2", "iso20-p521"))
    return out


async def run_station(
    lab: NetnsLab,
    pki: Path,
    log: Path,
    modes: str,
    evs: list[tuple[str, tuple[str, ...]]],
    refused: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Start the station, charge the ``evs`` one after the other (``refused``: protocol -> expected failure)."""
    refused = refused or {}
    st_ns, ev_ns = lab.netns("st"), lab.netns("ev")
    pair = lab.veth(st_ns, ev_ns)
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
            *("--iface", pair.a, "--slac", "off", "--stack", "real", "--modes", modes),
            *("--tls", "both", "--pki", str(pki)),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    results = []
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"station ready"), (line, tail(log))
        for protocol, extra in evs:
            res = await ev(ev_ns.name, pair.b, pki, protocol, *extra)
            r = res["results"][-1]
            if protocol in refused:
                assert r["outcome"] == "failed" and refused[protocol] in r["detail"], (protocol, r, tail(log))
                continue
            assert r["outcome"] == "finished", (protocol, r["detail"], r["messages"], tail(log))
            results.append(r)
            await asyncio.sleep(1.0)  # the car is unplugged and plugged in again: a new coordinator session
    finally:
        assert await stop_station(proc) == 0
    return results


def transactions(log: Path) -> tuple[int, int]:
    text = log.read_text(errors="replace")
    return text.count("TransactionEvent Started"), text.count("TransactionEvent Ended")


async def test_real_dc_station(netns_lab: NetnsLab, pki: Path, tmp_path: Path) -> None:
    log = tmp_path / "station.log"
    evs = [
        ("iso2-dc", ("--tls", "iso2")),
        ("din", ("--tls", "off")),
        ("iso20-dc", ()),
        ("iso20-dc-bpt", ("--dynamic",)),
        ("iso20-dc-bpt", ("--discharge",)),  # scheduled, discharge channel: the simulated supply takes energy
    ]
    results = await run_station(netns_lab, pki, log, "dc", evs)
    assert results[0]["tls"].startswith("TLSv1.2") and results[2]["tls"].startswith("TLSv1.3")
    assert all("CableCheckReq" in r["messages"] or "DC_CableCheckReq" in r["messages"] for r in results)
    text = log.read_text(errors="replace")
    assert "BootNotification" in text
    started, ended = transactions(log)
    assert started >= len(evs) and ended >= len(evs), text[-3000:]
    assert "cable check refused" not in text and "not confirmed" not in text, text[-3000:]


async def test_real_ac_station(netns_lab: NetnsLab, pki: Path, tmp_path: Path) -> None:
    log = tmp_path / "station.log"
    evs = [("iso2-ac", ("--tls", "iso2")), ("iso20-ac", ("--dynamic",)), ("iso20-ac-bpt", ())]
    # --bpt on (the default) gives the AC EVSE discharge limits, so AC_BPT (ServiceID 5) is offered and charges
    results = await run_station(netns_lab, pki, log, "ac", evs)
    assert len(results) == 3
    assert "AC_ChargeLoopReq" in results[2]["messages"]
    started, ended = transactions(log)
    assert started >= len(evs) and ended >= len(evs), tail(log)
