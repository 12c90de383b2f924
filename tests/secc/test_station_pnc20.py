"""ISO 15118-20 Plug & Charge with certificate installation on the real reference station (``josev station --sim
--pnc on``), AC and DC, over TLS 1.3 across a veth pair between two network namespaces: our EV holds no contract,
only its OEM provisioning credentials; the station offers CertificateInstallation, relays the EV's request through
the OCPP service (Get15118EVCertificate, -20 schema) to the CSMS stand-in, whose certificate provisioning service
answers from the PKI; the EV checks the CPS signature, decrypts its contract key, pays with the contract, the
CSMS authorizes it (Authorize with the eMAID) and the car charges."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest
from cryptography import x509

from josev.pki import PROFILES, build_pki, write_pki
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
    """The station's PKI (the usual 159-bit random serial numbers: the EV lists its V2G root by serial number in
    CertificateInstallationReq)."""
    out = tmp_path_factory.mktemp("pki")
    write_pki(build_pki(PROFILES["iso2"]), out)
    write_pki(build_pki(PROFILES["iso20-p521"]), out)
    return out


def emaid_of(folder: Path) -> str:
    return contract.common_name(
        x509.load_der_x509_certificate((folder / "certs" / "contract_leaf.der").read_bytes())
    )


@pytest.mark.parametrize("modes", ["ac", "dc"])
async def test_pnc20_with_certificate_installation(
    netns_lab: NetnsLab, pki: Path, tmp_path: Path, modes: str
) -> None:
    log = tmp_path / "station.log"
    st_ns, ev_ns = netns_lab.netns("st"), netns_lab.netns("ev")
    pair = netns_lab.veth(st_ns, ev_ns)
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
            *("--iface", pair.a, "--slac", "off", "--stack", "real", "--modes", modes),
            *("--tls", "both", "--pki", str(pki), "--pnc", "on", "--metering-confirmation", "0.5"),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"station ready"), (line, tail(log))
        for _ in range(200):  # CertificateInstallation is offered once the OCPP service is registered
            if "CertificateInstallation offered" in log.read_text(errors="replace"):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(tail(log))
        res = await ev(
            ev_ns.name,
            pair.b,
            pki,
            f"iso20-{modes}",
            *("--provisioning", str(pki / "iso20-p521"), "--loop-interval", "0.1", "--loops", "30"),
        )
        r = res["results"][-1]
        assert r["outcome"] == "finished", (r["detail"], r["messages"], tail(log))
        assert r["tls"].startswith("TLSv1.3")
        msgs = r["messages"]
        assert msgs.index("CertificateInstallationReq") < msgs.index("AuthorizationReq")
        # the installed contract is the PKI's, the session paid with it
        emaid = emaid_of(pki / "iso20-p521")
        assert r["installed_emaid"] == emaid and r["authorization"] == "PnC"
        text = log.read_text(errors="replace")
        assert "certificate install answered by the CSMS" in text, tail(log)
        assert f"contract {emaid}: Accepted (certificate Accepted, csms)" in text, tail(log)
        # the metering confirmations the EV signed carry the station's meter register: the SECC checked each one
        # against the reading it sent and logs the verified ones (the simulated board's meter counts no energy
        # for a car on the other end of the link, so the register reads 0 Wh here: the unit tests in
        # tests/secc/iso20/test_metering_confirmation.py confirm advancing readings)
        confirmed = [int(x) for x in r["metering_confirmed_wh"]]
        assert len(confirmed) >= 2 and "MeteringConfirmationReq" in msgs, (msgs, tail(log))
        logged = [int(m) for m in re.findall(r"metering confirmation (\d+) Wh \(meter JOSEV-METER-1\)", text)]
        assert logged == confirmed, (logged, confirmed)
    finally:
        assert await stop_station(proc) == 0
