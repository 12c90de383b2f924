"""OCTT group A, Advanced Security: the station certificate and security profile 3, with real TLS handshakes
against scripted CSMSs that require and verify a client certificate (``ssl.CERT_REQUIRED``).

Our reading of the cases: TC_A_07 (profile 3 connection with the station certificate), TC_A_11 (the CSMS
triggers SignChargingStationCertificate, signs the CSR, CertificateSigned installs it, used on the next
connection; upgrade 2 -> 3 per A05), TC_A_14 (CertificateSigned with an invalid chain: other root, key
mismatch, garbage), TC_A_15 (expired certificate), TC_A_21 (TriggerMessage SignChargingStationCertificate
while a certificate is installed: renewal, the old one kept until the new one is accepted), TC_A_23 (no
CertificateSigned: SignCertificate repeated after CertSigningWaitMinimum, doubled, CertSigningRepeatTimes),
TC_M_23 (DeleteCertificate of the station certificate refused)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import ssl
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from josev.ocpp import certificates
from josev.ocpp.security import hash_data, profiles
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.pki import Issued, make_cert

PW = "Secret-Password-0001"


def sign_csr(csr_pem: str, issuer: Issued, *, days: int = 30, start: dt.datetime | None = None) -> str:
    """What the CSMS's CA does with a CSR: a leaf with the CSR's subject and key."""
    req = x509.load_pem_x509_csr(csr_pem.encode())
    assert req.is_signature_valid
    begin = start or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(req.subject)
        .issuer_name(issuer.cert.subject)
        .public_key(req.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(begin)
        .not_valid_after(begin + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(issuer.key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def server_ctx(tmp_path: Path, leaf: Issued, client_roots: list[Issued] | None = None) -> ssl.SSLContext:
    """A CSMS TLS context; with ``client_roots`` it requires a client certificate issued by one of them."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    c, k = leaf.write(tmp_path, f"server-{id(ctx)}")
    ctx.load_cert_chain(c, k)
    if client_roots is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata="\n".join(r.pem for r in client_roots))
    return ctx


def peer_cert(csms: ScriptedCsms) -> x509.Certificate | None:
    assert csms.conn is not None
    der = csms.conn.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


class Pki:
    def __init__(self) -> None:
        self.root = make_cert("CSMS Root", ca=True)
        self.server = make_cert("localhost", self.root, san=["localhost"])
        self.other = make_cert("Other Root", ca=True)


def conn_data(url: str, profile: int) -> dict[str, Any]:
    return {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": url,
        "messageTimeout": 10,
        "securityProfile": profile,
        "ocppInterface": "Wired0",
    }


async def profile2_station(
    tmp_path: Path, pki: Pki, **variables: str
) -> tuple[ScriptedCsms, StationUnderTest]:
    """A station on security profile 2 with the CSMS root installed (InstallCertificate)."""
    csms = ScriptedCsms(ssl_context=server_ctx(tmp_path, pki.server), password=PW)
    await csms.start()
    root_file, _ = pki.root.write(tmp_path, "csms-root")
    sut = StationUnderTest(
        make_config(
            tmp_path,
            csms.url,
            security_profile=2,
            basic_auth_password=PW,
            csms_root_certificates=[root_file],
            variables={"SecurityCtrlr/OrganizationName": "Josev CPO", **variables},
        )
    )
    await sut.start()
    await csms.wait_for("StatusNotification", count=2)
    res = await csms.call(
        "InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": pki.root.pem}
    )
    assert res["status"] == "Accepted"
    return csms, sut


async def obtain_certificate(csms: ScriptedCsms, sut: StationUnderTest, issuer: Issued, n: int = 1) -> str:
    """TriggerMessage SignChargingStationCertificate -> SignCertificate -> CertificateSigned (Accepted)."""
    csms.responders["SignCertificate"] = lambda p: {"status": "Accepted"}
    res = await csms.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
    assert res == {"status": "Accepted"}
    req = await csms.wait_for("SignCertificate", count=n)
    chain = sign_csr(req["csr"], issuer)
    res = await csms.call(
        "CertificateSigned", {"certificateChain": chain, "certificateType": req["certificateType"]}
    )
    assert res["status"] == "Accepted", res
    return chain


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_tc_a_11_a_07_certificate_by_csr_then_upgrade_2_to_3(tmp_path: Path) -> None:
    pki = Pki()
    csms2, sut = await profile2_station(tmp_path, pki)
    csms3 = ScriptedCsms(ssl_context=server_ctx(tmp_path, pki.server, client_roots=[pki.root]))
    await csms3.start()
    try:
        # A05.FR.03: no profile 3 without a valid station certificate
        res = await csms2.call(
            "SetNetworkProfile", {"configurationSlot": 2, "connectionData": conn_data(csms3.url, 3)}
        )
        assert res["status"] == "Rejected" and res["statusInfo"]["reasonCode"] == "NoValidCSCertificate"

        csms2.responders["SignCertificate"] = lambda p: {"status": "Accepted"}
        res = await csms2.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        assert res["status"] == "Accepted"
        req = await csms2.wait_for("SignCertificate")
        assert req["certificateType"] == "ChargingStationCertificate"
        csr = x509.load_pem_x509_csr(req["csr"].encode())
        assert csr.is_signature_valid
        assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "SN-1"
        assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Josev CPO"
        keys = sut.st.key_dir
        pending = keys / "cs.pending.key"
        assert mode(pending) == 0o600 and mode(keys) == 0o700
        assert "PRIVATE KEY" not in req["csr"]
        # the pending key is the CSR's key, generated on the station
        key = serialization.load_pem_private_key(pending.read_bytes(), None)
        assert key.public_key().public_numbers() == csr.public_key().public_numbers()  # type: ignore[union-attr]

        chain = sign_csr(req["csr"], pki.root)
        res = await csms2.call(
            "CertificateSigned", {"certificateChain": chain, "certificateType": "ChargingStationCertificate"}
        )
        assert res == {"status": "Accepted"}
        assert not pending.exists()
        assert mode(keys / "cs.key") == 0o600
        assert (keys / "cs.pem").read_text() == chain
        assert csms2.connections == 1  # used from the next connection on, no reconnect now

        # A05: SetNetworkProfile (3) + NetworkConfigurationPriority + Reset
        res = await csms2.call(
            "SetNetworkProfile", {"configurationSlot": 2, "connectionData": conn_data(csms3.url, 3)}
        )
        assert res["status"] == "Accepted"
        res = await csms2.call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "NetworkConfigurationPriority"},
                        "attributeValue": "2,1",
                    }
                ]
            },
        )
        assert res["setVariableResult"][0]["attributeStatus"] == "RebootRequired"
        assert (await csms2.call("Reset", {"type": "Immediate"}))["status"] == "Accepted"
        boot = await csms3.wait_for("BootNotification", timeout=10)
        assert boot["reason"] == "RemoteReset"
        # TC_A_07: the CSMS verified our client certificate in a real handshake
        presented = peer_cert(csms3)
        assert presented is not None
        assert presented == x509.load_pem_x509_certificate(chain.encode())
        assert csms3.auth_headers[-1] is None  # profile 3: no Basic Auth
        await csms3.wait_for(
            "SecurityEventNotification", lambda p: "security profile 2 -> 3" in p.get("techInfo", "")
        )
        st = sut.st
        assert st.dm.get("SecurityCtrlr", "SecurityProfile") == "3"
        assert sorted(profiles(st)) == [2]  # the profile-2 slot is gone (A05.FR.06)
        # never a downgrade
        res = await csms3.call(
            "SetNetworkProfile", {"configurationSlot": 1, "connectionData": conn_data(csms2.url, 2)}
        )
        assert res["status"] == "Rejected" and res["statusInfo"]["reasonCode"] == "InvalidSecProfile"
        # TC_M_23: the station certificate cannot be deleted
        h = hash_data(presented, pki.root.cert.public_key())
        res = await csms3.call("DeleteCertificate", {"certificateHashData": h})
        assert res["status"] == "Failed"
        assert (keys / "cs.pem").exists()
    finally:
        await sut.close()
        await csms2.stop()
        await csms3.stop()


async def test_tc_a_07_fallback_when_profile_3_refused(tmp_path: Path) -> None:
    """The new profile-3 CSMS does not accept our certificate (it trusts another CA): FailedToAuthenticateAtCsms,
    the station falls back to the profile-2 slot and stays on profile 2."""
    pki = Pki()
    csms2, sut = await profile2_station(
        tmp_path, pki, **{"OCPPCommCtrlr/NetworkProfileConnectionAttempts": "2"}
    )
    strict = ScriptedCsms(ssl_context=server_ctx(tmp_path, pki.server, client_roots=[pki.other]))
    await strict.start()
    try:
        await obtain_certificate(csms2, sut, pki.root)
        res = await csms2.call(
            "SetNetworkProfile", {"configurationSlot": 2, "connectionData": conn_data(strict.url, 3)}
        )
        assert res["status"] == "Accepted"
        await csms2.call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "NetworkConfigurationPriority"},
                        "attributeValue": "2,1",
                    }
                ]
            },
        )
        await csms2.call("Reset", {"type": "Immediate"})
        ev = await csms2.wait_for(
            "SecurityEventNotification", lambda p: p["type"] == "FailedToAuthenticateAtCsms", timeout=15
        )
        assert "client certificate refused" in ev["techInfo"]
        assert strict.connections == 0
        assert await csms2.wait_for("BootNotification", lambda p: p["reason"] == "RemoteReset")
        assert sut.st.dm.get("SecurityCtrlr", "SecurityProfile") == "2"
        assert sorted(profiles(sut.st)) == [1, 2]
    finally:
        await sut.close()
        await csms2.stop()
        await strict.stop()


async def test_tc_a_07_expired_client_certificate_refused(tmp_path: Path) -> None:
    """A profile-3 station whose certificate has expired: the CSMS refuses the handshake, the station reports
    it (FailedToAuthenticateAtCsms, delivered once a connection works again)."""
    pki = Pki()
    csms2, sut = await profile2_station(tmp_path, pki)
    csms3 = ScriptedCsms(ssl_context=server_ctx(tmp_path, pki.server, client_roots=[pki.root]))
    await csms3.start()
    try:
        await obtain_certificate(csms2, sut, pki.root)
        # the installed certificate expires (same key, validity in the past)
        keys = sut.st.key_dir
        key = serialization.load_pem_private_key((keys / "cs.key").read_bytes(), None)
        old = x509.load_pem_x509_certificate((keys / "cs.pem").read_bytes())
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        expired = (
            x509.CertificateBuilder()
            .subject_name(old.subject)
            .issuer_name(pki.root.cert.subject)
            .public_key(key.public_key())  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=10))
            .sign(pki.root.key, hashes.SHA256())
        )
        (keys / "cs.pem").write_bytes(expired.public_bytes(serialization.Encoding.PEM))
        # the profile-3 slot goes in directly (the certificate was valid when it was set)
        prof = profiles(sut.st)
        prof[2] = conn_data(csms3.url, 3)
        from josev.ocpp.security import save_profiles

        save_profiles(sut.st.store, prof)
        sut.st.dm.put("OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1")
        await csms2.call("Reset", {"type": "Immediate"})
        ev = await csms2.wait_for(
            "SecurityEventNotification", lambda p: p["type"] == "FailedToAuthenticateAtCsms", timeout=15
        )
        assert "client certificate refused" in ev["techInfo"]
        assert csms3.connections == 0
        assert not certificates.valid_station_certificate(sut.st, time.time())
    finally:
        await sut.close()
        await csms2.stop()
        await csms3.stop()


@pytest.mark.parametrize("problem", ["other-root", "key-mismatch", "garbage", "expired", "not-yet-valid"])
async def test_tc_a_14_a_15_invalid_certificate_signed(tmp_path: Path, problem: str) -> None:
    pki = Pki()
    csms, sut = await profile2_station(tmp_path, pki)
    try:
        first = await obtain_certificate(csms, sut, pki.root)  # the certificate to keep
        keys = sut.st.key_dir
        old_key = (keys / "cs.key").read_bytes()
        res = await csms.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        req = await csms.wait_for("SignCertificate", count=2)
        if problem == "other-root":
            chain = sign_csr(req["csr"], pki.other)
        elif problem == "key-mismatch":
            chain = make_cert("SN-1", pki.root).pem
        elif problem == "garbage":
            chain = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
        elif problem == "expired":
            chain = sign_csr(
                req["csr"], pki.root, days=5, start=dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
            )
        else:
            chain = sign_csr(req["csr"], pki.root, start=dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
        res = await csms.call(
            "CertificateSigned", {"certificateChain": chain, "certificateType": "ChargingStationCertificate"}
        )
        assert res["status"] == "Rejected"
        ev = await csms.wait_for(
            "SecurityEventNotification", lambda p: p["type"] == "InvalidChargingStationCertificate"
        )
        want = {
            "other-root": "does not lead to an installed CSMSRootCertificate",
            "key-mismatch": "public key is not the key of the outstanding CSR",
            "garbage": "not a PEM certificate chain",
            "expired": "not valid now",
            "not-yet-valid": "not valid now",
        }[problem]
        assert want in ev["techInfo"]
        assert want in res["statusInfo"]["additionalInfo"]
        # nothing installed, the old certificate and key kept
        assert (keys / "cs.pem").read_text() == first
        assert (keys / "cs.key").read_bytes() == old_key
        assert "PRIVATE" not in ev["techInfo"]
    finally:
        await sut.close()
        await csms.stop()


async def test_tc_a_21_renewal_replaces_certificate(tmp_path: Path) -> None:
    pki = Pki()
    csms, sut = await profile2_station(tmp_path, pki)
    try:
        first = await obtain_certificate(csms, sut, pki.root)
        second = await obtain_certificate(csms, sut, pki.root, n=2)
        keys = sut.st.key_dir
        assert (keys / "cs.pem").read_text() == second != first
        new = x509.load_pem_x509_certificate(second.encode())
        key = serialization.load_pem_private_key((keys / "cs.key").read_bytes(), None)
        assert key.public_key().public_numbers() == new.public_key().public_numbers()  # type: ignore[union-attr]
        # a CertificateSigned without an outstanding request is refused
        res = await csms.call("CertificateSigned", {"certificateChain": second})
        assert res["status"] == "Rejected"
        assert "no SignCertificate" in res["statusInfo"]["additionalInfo"]
    finally:
        await sut.close()
        await csms.stop()


async def test_tc_a_23_sign_certificate_repeated_with_back_off(tmp_path: Path) -> None:
    pki = Pki()
    csms, sut = await profile2_station(
        tmp_path,
        pki,
        **{"SecurityCtrlr/CertSigningWaitMinimum": "1", "SecurityCtrlr/CertSigningRepeatTimes": "2"},
    )
    try:
        stamps: list[float] = []

        def answer(p: dict[str, Any]) -> dict[str, Any]:
            stamps.append(time.monotonic())
            return {"status": "Accepted"}

        csms.responders["SignCertificate"] = answer
        await csms.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        await csms.wait_for("SignCertificate", count=3, timeout=8)
        await asyncio.sleep(4.5)  # no fourth attempt (CertSigningRepeatTimes = 2)
        reqs = csms.actions("SignCertificate")
        assert len(reqs) == 3
        assert len({r["csr"] for r in reqs}) == 1  # the same CSR, the same pending key
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert 0.9 <= gaps[0] < 1.8 and 1.9 <= gaps[1] < 3.0, gaps
        # the CSMS signs after the station gave up: refused
        res = await csms.call("CertificateSigned", {"certificateChain": sign_csr(reqs[0]["csr"], pki.root)})
        assert res["status"] == "Rejected"
    finally:
        await sut.close()
        await csms.stop()


async def test_sign_certificate_rejected_by_csms_no_retry(tmp_path: Path) -> None:
    pki = Pki()
    csms, sut = await profile2_station(tmp_path, pki, **{"SecurityCtrlr/CertSigningWaitMinimum": "1"})
    try:
        csms.responders["SignCertificate"] = lambda p: {"status": "Rejected"}
        await csms.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        await csms.wait_for("SignCertificate")
        await asyncio.sleep(1.5)
        assert len(csms.actions("SignCertificate")) == 1
    finally:
        await sut.close()
        await csms.stop()


async def test_outstanding_csr_survives_a_reboot(tmp_path: Path) -> None:
    """The pending key is on disk and the CSR in the database: after a reboot the station repeats the same
    SignCertificate and still accepts the CertificateSigned for it."""
    pki = Pki()
    csms, sut = await profile2_station(
        tmp_path,
        pki,
        **{"SecurityCtrlr/CertSigningWaitMinimum": "1", "SecurityCtrlr/CertSigningRepeatTimes": "5"},
    )
    try:
        csms.responders["SignCertificate"] = lambda p: {"status": "Accepted"}
        await csms.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        first = await csms.wait_for("SignCertificate")
        await csms.call("Reset", {"type": "Immediate"})
        await csms.wait_for("BootNotification", lambda p: p["reason"] == "RemoteReset")
        again = await csms.wait_for("SignCertificate", count=2, timeout=5)
        assert again["csr"] == first["csr"]
        assert sut.client.reboots == 1
        res = await csms.call(
            "CertificateSigned",
            {
                "certificateChain": sign_csr(first["csr"], pki.root),
                "certificateType": "ChargingStationCertificate",
            },
        )
        assert res["status"] == "Accepted"
    finally:
        await sut.close()
        await csms.stop()


async def test_a03_station_renews_a_certificate_that_expires_soon(tmp_path: Path) -> None:
    pki = Pki()
    csms, sut = await profile2_station(tmp_path, pki)
    try:
        csms.responders["SignCertificate"] = lambda p: {"status": "Accepted"}
        await csms.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        req = await csms.wait_for("SignCertificate")
        short = sign_csr(req["csr"], pki.root, days=10)  # less than 30 days left
        res = await csms.call("CertificateSigned", {"certificateChain": short})
        assert res["status"] == "Accepted"
        await csms.call("Reset", {"type": "Immediate"})
        renew = await csms.wait_for("SignCertificate", count=2, timeout=5)  # without a trigger
        assert renew["certificateType"] == "ChargingStationCertificate" and renew["csr"] != req["csr"]
        assert sut.st.key_dir.joinpath("cs.pem").read_text() == short  # kept until the new one is accepted
    finally:
        await sut.close()
        await csms.stop()
