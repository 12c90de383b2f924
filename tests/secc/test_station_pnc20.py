"""ISO 15118-20 Plug & Charge with certificate installation on the real reference station (``josev station --sim
--pnc on``), AC and DC, over TLS 1.3 across a veth pair between two network namespaces: our EV holds no contract,
only its OEM provisioning credentials; the station offers CertificateInstallation, relays the EV's request through
the OCPP service (Get15118EVCertificate, -20 schema) to the CSMS stand-in, whose certificate provisioning service
answers from the PKI; the EV checks the CPS signature, decrypts its contract key, pays with the contract, the
CSMS authorizes it (Authorize with the eMAID) and the car charges."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography import x509

from josev.pki import PROFILES, build_pki, write_pki
from josev.pnc import contract
from josev.v2g.codec import exi_available
from tests.util.netns import CAN_NETNS, NetnsLab

from .stationproc import sim_station

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
    async with sim_station(
        netns_lab,
        tmp_path,
        *("--slac", "off", "--stack", "real", "--modes", modes),
        *("--tls", "both", "--pki", str(pki), "--pnc", "on", "--metering-confirmation", "0.5"),
    ) as st:
        # CertificateInstallation is offered once the OCPP service is registered
        await st.wait_for_log("CertificateInstallation offered")
        res = await st.ev(
            pki,
            f"iso20-{modes}",
            *("--provisioning", str(pki / "iso20-p521"), "--loop-interval", "0.1", "--loops", "30"),
        )
        r = res["results"][-1]
        assert r["outcome"] == "finished", (r["detail"], r["messages"], st.tail())
        assert r["tls"].startswith("TLSv1.3")
        msgs = r["messages"]
        assert msgs.index("CertificateInstallationReq") < msgs.index("AuthorizationReq")
        # the installed contract is the PKI's, the session paid with it
        emaid = emaid_of(pki / "iso20-p521")
        assert r["installed_emaid"] == emaid and r["authorization"] == "PnC"
        text = st.text()
        assert "certificate install answered by the CSMS" in text, st.tail()
        assert f"contract {emaid}: Accepted (certificate Accepted, csms)" in text, st.tail()
        # the metering confirmations the EV signed carry the station's meter register: the SECC checked each one
        # against the reading it sent and logs the verified ones (the simulated board's meter counts no energy
        # for a car on the other end of the link, so the register reads 0 Wh here: the unit tests in
        # tests/secc/iso20/test_metering_confirmation.py confirm advancing readings)
        confirmed = [int(x) for x in r["metering_confirmed_wh"]]
        assert len(confirmed) >= 2 and "MeteringConfirmationReq" in msgs, (msgs, st.tail())
        logged = [int(m) for m in re.findall(r"metering confirmation (\d+) Wh \(meter JOSEV-METER-1\)", text)]
        assert logged == confirmed, (logged, confirmed)
