"""Plug & Charge end to end on the real reference station (``josev station --sim --pnc on``): our EV pays with
its contract over TLS (ISO 15118-2 over TLS 1.2, ISO 15118-20 over TLS 1.3) across a veth pair; the SECC checks
the chain and the signature, asks the OCPP service, which asks the CSMS stand-in (Authorize with the eMAID and
the certificate hash data); the coordinator authorizes and the car charges. A car whose contract chains to an
unknown MO root is refused at PaymentDetails and never charges."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from cryptography import x509

from josev.pki import create
from josev.pnc import contract
from josev.secc.codec import exi_available
from tests.util.netns import CAN_NETNS, NetnsLab

from .test_station_cli import stop_station
from .test_station_real import ev, tail

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2", "iso20-p521"), emaid="DE8EOCAB123456")
    return out


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("foreign")
    create(out, ("iso2",))
    return out


def emaid_of(folder: Path) -> str:
    return contract.common_name(
        x509.load_der_x509_certificate((folder / "certs" / "contract_leaf.der").read_bytes())
    )


async def test_pnc_on_the_real_station(netns_lab: NetnsLab, pki: Path, foreign: Path, tmp_path: Path) -> None:
    log = tmp_path / "station.log"
    st_ns, ev_ns = netns_lab.netns("st"), netns_lab.netns("ev")
    pair = netns_lab.veth(st_ns, ev_ns)
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
            *("--iface", pair.a, "--slac", "off", "--stack", "real", "--modes", "dc"),
            *("--tls", "both", "--pki", str(pki), "--pnc", "on"),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"station ready"), (line, tail(log))
        # ISO 15118-2 DC over TLS 1.2, paying with the contract
        res = await ev(ev_ns.name, pair.b, pki, "iso2-dc", "--tls", "iso2", "--contract", str(pki / "iso2"))
        r = res["results"][-1]
        assert r["outcome"] == "finished", (r["detail"], r["messages"], tail(log))
        assert "PaymentDetailsReq" in r["messages"] and r["tls"].startswith("TLSv1.2")
        emaid2 = emaid_of(pki / "iso2")
        text = log.read_text(errors="replace")
        assert f"contract {emaid2}: Accepted (certificate Accepted, csms)" in text, tail(log)
        await asyncio.sleep(1.0)
        # ISO 15118-20 DC over TLS 1.3 with a P-521 contract
        res = await ev(ev_ns.name, pair.b, pki, "iso20-dc", "--contract", str(pki / "iso20-p521"))
        r = res["results"][-1]
        assert r["outcome"] == "finished", (r["detail"], r["messages"], tail(log))
        assert r["tls"].startswith("TLSv1.3")
        emaid20 = emaid_of(pki / "iso20-p521")
        text = log.read_text(errors="replace")
        assert f"contract {emaid20}: Accepted (certificate Accepted, csms)" in text, tail(log)
        await asyncio.sleep(1.0)
        # a contract of another mobility operator (unknown root): refused before anything reaches the CSMS
        res = await ev(
            ev_ns.name, pair.b, pki, "iso2-dc", "--tls", "iso2", "--contract", str(foreign / "iso2")
        )
        r = res["results"][-1]
        assert r["outcome"] == "failed" and "FAILED_CertChainError" in r["detail"], (r, tail(log))
        assert f"contract {emaid_of(foreign / 'iso2')}" not in log.read_text(errors="replace")
    finally:
        assert await stop_station(proc) == 0
