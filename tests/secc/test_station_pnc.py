"""Plug & Charge end to end on the real reference station (``josev station --sim --pnc on``): our EV pays with
its contract over TLS (ISO 15118-2 over TLS 1.2, ISO 15118-20 over TLS 1.3) across a veth pair; the SECC checks
the chain and the signature, asks the OCPP service, which asks the CSMS stand-in (Authorize with the eMAID and
the certificate hash data); the coordinator authorizes and the car charges. A car whose contract chains to an
unknown MO root is refused at PaymentDetails and never charges."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from josev.pki import create
from josev.pnc import contract
from josev.v2g.codec import exi_available
from tests.util.netns import CAN_NETNS, NetnsLab

from .stationproc import sim_station
from .test_pnc_install_iso2 import reissued_contract

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
    async with sim_station(
        netns_lab,
        tmp_path,
        *("--slac", "off", "--stack", "real", "--modes", "dc"),
        *("--tls", "both", "--pki", str(pki), "--pnc", "on"),
    ) as st:
        # ISO 15118-2 DC over TLS 1.2, paying with the contract
        res = await st.ev(pki, "iso2-dc", "--tls", "iso2", "--contract", str(pki / "iso2"))
        r = res["results"][-1]
        assert r["outcome"] == "finished", (r["detail"], r["messages"], st.tail())
        assert "PaymentDetailsReq" in r["messages"] and r["tls"].startswith("TLSv1.2")
        emaid2 = emaid_of(pki / "iso2")
        text = st.text()
        assert f"contract {emaid2}: Accepted (certificate Accepted, csms)" in text, st.tail()
        await asyncio.sleep(1.0)
        # ISO 15118-20 DC over TLS 1.3 with a P-521 contract
        res = await st.ev(pki, "iso20-dc", "--contract", str(pki / "iso20-p521"))
        r = res["results"][-1]
        assert r["outcome"] == "finished", (r["detail"], r["messages"], st.tail())
        assert r["tls"].startswith("TLSv1.3")
        emaid20 = emaid_of(pki / "iso20-p521")
        text = st.text()
        assert f"contract {emaid20}: Accepted (certificate Accepted, csms)" in text, st.tail()
        await asyncio.sleep(1.0)
        # a contract of another mobility operator (unknown root): refused before anything reaches the CSMS
        res = await st.ev(pki, "iso2-dc", "--tls", "iso2", "--contract", str(foreign / "iso2"))
        r = res["results"][-1]
        assert r["outcome"] == "failed" and "FAILED_CertChainError" in r["detail"], (r, st.tail())
        assert f"contract {emaid_of(foreign / 'iso2')}" not in st.text()


def expiring_contract_folder(pki: Path, out: Path, days: float) -> Path:
    """A profile folder (the layout ``josev ev --contract`` reads) with a contract of the PKI's EMAID from its MO
    Sub-CA 2 that expires in ``days``: the old contract of an EV that must renew it."""
    certs = pki / "iso2" / "certs"
    issuer_key = serialization.load_pem_private_key(
        (pki / "iso2" / "keys" / "mo_sub_ca2.key").read_bytes(), None
    )
    subs = tuple((certs / f"{n}.der").read_bytes() for n in ("mo_sub_ca2", "mo_sub_ca1"))
    old = reissued_contract(
        x509.load_der_x509_certificate((certs / "contract_leaf.der").read_bytes()),
        x509.load_der_x509_certificate(subs[0]),
        issuer_key,
        subs,
        dt.datetime.now(dt.UTC) + dt.timedelta(days=days),
    )
    (out / "certs").mkdir(parents=True)
    (out / "keys").mkdir()
    (out / "certs" / "contract_leaf.der").write_bytes(old.leaf_der)
    for name, der in zip(("mo_sub_ca2", "mo_sub_ca1"), subs, strict=True):
        (out / "certs" / f"{name}.der").write_bytes(der)
    pem = old.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (out / "keys" / "contract_leaf.key").write_bytes(pem)
    return out


def contract_facts(pki: Path) -> dict[str, str]:
    """What the EV must report for the PKI's contract: EMAID, SHA-256 of the leaf and of its public key."""
    der = (pki / "iso2" / "certs" / "contract_leaf.der").read_bytes()
    spki = (
        x509.load_der_x509_certificate(der)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return {
        "emaid": emaid_of(pki / "iso2"),
        "leaf_sha256": hashlib.sha256(der).hexdigest(),
        "key_sha256": hashlib.sha256(spki).hexdigest(),
    }


@pytest.mark.parametrize("mode", ["dc", "ac"])
async def test_certificate_installation_and_update_on_the_real_station(
    netns_lab: NetnsLab, pki: Path, tmp_path: Path, mode: str
) -> None:
    """An EV without a contract (OEM provisioning credentials only) installs one over TLS: the SECC checks its
    signature and asks the CSMS stand-in (Get15118EVCertificate), whose CPS answers from the PKI; the EV checks the
    CPS signature (four signed EXI fragments, eMAID among them), decrypts the contract key and pays with it; the
    station authorizes the contract. With DC, an EV whose contract expires in 10 days renews it first
    (CertificateUpdate) and pays with the new one."""
    want = contract_facts(pki)
    async with sim_station(
        netns_lab,
        tmp_path,
        *("--slac", "off", "--stack", "real", "--modes", mode),
        *("--tls", "both", "--pki", str(pki), "--pnc", "on"),
    ) as st:
        res = await st.ev(pki, f"iso2-{mode}", "--tls", "iso2", "--provisioning", str(pki / "iso2"))
        r = res["results"][-1]
        assert r["outcome"] == "finished", (r["detail"], r["messages"], st.tail())
        assert r["tls"].startswith("TLSv1.2")
        names = r["messages"]
        assert names.index("CertificateInstallationReq") < names.index("PaymentDetailsReq")
        assert r["contract"] == {"how": "install", **want}  # the PKI's contract, the key that belongs to it
        text = st.text()
        assert f"contract {want['emaid']}: Accepted (certificate Accepted, csms)" in text, st.tail()
        if mode != "dc":
            return
        await asyncio.sleep(1.0)
        old = expiring_contract_folder(pki, tmp_path / "old", days=10)
        res = await st.ev(
            pki,
            "iso2-dc",
            *("--tls", "iso2", "--contract", str(old), "--provisioning", str(pki / "iso2")),
            *("--renew-within-days", "30"),
        )
        r = res["results"][-1]
        assert r["outcome"] == "finished", (r["detail"], r["messages"], st.tail())
        names = r["messages"]
        assert "CertificateInstallationReq" not in names
        assert names.index("CertificateUpdateReq") < names.index("PaymentDetailsReq")
        assert r["contract"] == {"how": "update", **want}
        assert st.text().count(f"contract {want['emaid']}: Accepted") == 2, st.tail()
