"""``josev station --sim --tls ...`` as a process in one namespace and ``josev ev`` in another, across a veth pair,
over real SDP (asking for TLS), TCP and TLS with a PKI made by ``josev pki``:

* TLS 1.3 (station ``--tls iso20``, the ISO 15118-20 P-521 PKI, mutual authentication with the EV's OEM
  provisioning chain): -20 AC, DC, AC BPT and DC BPT, each scheduled and dynamic;
* TLS 1.2 (station ``--tls iso2``): ISO-2 AC and DC;
* the station's V2G message log: one pcapng file per session, holding the EV's and the station's frames, and
  the TLS key log (``--tls-keylog``) with the secrets of every session.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from josev.pki import create
from josev.v2g.codec import exi_available
from tests.util.netns import CAN_NETNS, NetnsLab

from .stationproc import stop_station

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]


@dataclass
class Lab:
    """A station process in ``st`` (TLS mode ``tls``) and an EV namespace linked to it."""

    ev_ns: str
    ev_iface: str
    pki: Path
    tls: str
    logs: Path
    proc: asyncio.subprocess.Process


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2", "iso20-p521"))
    return out


async def start(lab: NetnsLab, pki: Path, tls: str, logs: Path) -> Lab:
    st_ns, ev_ns = lab.netns("st"), lab.netns("ev")
    pair = lab.veth(st_ns, ev_ns)
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
        pair.a,
        "--slac",
        "off",
        "--stack",
        "lite",  # AC and DC on one EVSE (the real stack is in test_station_real.py)
        "--modes",
        "both",
        "--tls",
        tls,
        "--pki",
        str(pki),
        "--v2g-log-dir",
        str(logs),
        "--tls-keylog",
        str(logs.parent / "keys.log"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
    except TimeoutError:
        proc.kill()
        raise
    assert line.startswith(b"station ready") and b"TLS" in line, line
    return Lab(ev_ns.name, pair.b, pki, tls, logs, proc)


@pytest.fixture
async def station20(netns_lab: NetnsLab, pki: Path, tmp_path: Path) -> AsyncIterator[Lab]:
    lab = await start(netns_lab, pki, "iso20", tmp_path / "v2g")
    try:
        yield lab
    finally:
        assert await stop_station(lab.proc) == 0


async def ev(lab: Lab, protocol: str, *extra: str, timeout: float = 40.0) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        lab.ev_ns,
        sys.executable,
        "-m",
        "josev.ev",
        "--iface",
        lab.ev_iface,
        "--protocol",
        protocol,
        "--pki",
        str(lab.pki),
        "--station-tls",
        lab.tls,
        "--json",
        "--loops",
        "3",
        *extra,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert out, err.decode()[-3000:]
    result: dict[str, Any] = json.loads(out)
    return result


COMBOS = [(p, d) for p in ("iso20-ac", "iso20-dc", "iso20-ac-bpt", "iso20-dc-bpt") for d in (False, True)]


async def test_iso20_over_tls13_all_services(station20: Lab) -> None:
    """One station, eight EVs in a row: every -20 service, scheduled and dynamic, over TLS 1.3."""
    for protocol, dynamic in COMBOS:
        extra = ("--dynamic", "--standby-after", "1") if dynamic else ()
        res = await ev(station20, protocol, *extra)
        r = res["results"][-1]
        assert r["outcome"] == "finished", (protocol, dynamic, r["detail"], r["messages"])
        assert r["tls"].startswith("TLSv1.3 TLS_AES_256_GCM_SHA384"), r["tls"]
        loop_req = "AC_ChargeLoopReq" if "-ac" in protocol else "DC_ChargeLoopReq"
        assert r["messages"].count(loop_req) >= 3, r["messages"]
        if "-dc" in protocol:
            assert "DC_CableCheckReq" in r["messages"] and "DC_PreChargeReq" in r["messages"]
    await asyncio.sleep(0.3)
    files = sorted(station20.logs.glob("*.pcapng"))
    assert len(files) == len(COMBOS), files  # one pcapng per session
    assert all(f.stat().st_size > 500 for f in files)
    keys = (station20.logs.parent / "keys.log").read_text().splitlines()  # --tls-keylog, for Wireshark
    assert sum(line.startswith("CLIENT_TRAFFIC_SECRET_0 ") for line in keys) == len(COMBOS)


async def test_iso20_pause_and_resume_over_two_tls_connections(station20: Lab) -> None:
    res = await ev(station20, "iso20-dc-bpt", "--pause-after", "1", "--loops", "3")
    outcomes = [r["outcome"] for r in res["results"]]
    assert outcomes == ["paused", "finished"], res
    assert res["results"][0]["session_id"] == res["results"][1]["session_id"]


async def test_iso2_over_tls12(netns_lab: NetnsLab, pki: Path, tmp_path: Path) -> None:
    lab = await start(netns_lab, pki, "iso2", tmp_path / "v2g")
    try:
        for protocol in ("iso2-ac", "iso2-dc"):
            res = await ev(lab, protocol, "--tls", "iso2")
            r = res["results"][-1]
            assert r["outcome"] == "finished", (protocol, r["detail"])
            assert r["tls"] == "TLSv1.2 ECDHE-ECDSA-AES128-SHA256", r["tls"]
        # a -20 EV (TLS 1.3 only) is refused by a TLS 1.2 station, which keeps serving
        res = await ev(lab, "iso20-ac", "--tls", "iso20")
        assert res["results"][-1]["outcome"] == "failed"
        res = await ev(lab, "iso2-dc", "--tls", "iso2")
        assert res["results"][-1]["outcome"] == "finished"
    finally:
        assert await stop_station(lab.proc) == 0
