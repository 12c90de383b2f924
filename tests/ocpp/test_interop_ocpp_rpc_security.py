"""Interop of Advanced Security and the ISO 15118 support profile with the independent strict CSMS (npm
``ocpp-rpc`` in strict mode, ``tests/ocpp/peers/csms_strict.js`` served over Node's own TLS):

1. the station, on security profile 2 at peer A, gets its certificate through TriggerMessage ->
   SignCertificate -> CertificateSigned (the CSR signed here with the test CSMS root), and is moved to peer B
   (SetNetworkProfile profile 3, NetworkConfigurationPriority, Reset);
2. peer B requires a client certificate from that root (Node ``requestCert``/``rejectUnauthorized``): the
   station connects with the certificate it obtained, without Basic Auth;
3. at peer B a Plug & Charge exchange: Authorize with the eMAID, iso15118CertificateHashData and the contract
   chain, Get15118EVCertificate with a real ISO 15118-2 EXI CertificateInstallationRes, GetCertificateStatus
   with a real OCSP response.

Zero strict-validation failures in both directions are required on both peers."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

import tests.ocpp.test_interop_ocpp_rpc as base
from josev.ocpp import iso15118
from josev.ocpp.security import hash_data
from josev.pki import build_pki
from josev.pki.signing import sign_csr
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.exi_samples import installation_res

pytestmark = base.pytestmark

PW = "Secret-Password-0001"
ISO2_NS = "urn:iso:15118:2:2013:MsgDef"


class TlsStrictCsms(base.StrictCsms):
    """The strict peer over TLS; with ``client_ca`` it requires a client certificate from it."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        super().__init__()
        self.env = dict(os.environ, CSMS_TLS_CERT=str(cert), CSMS_TLS_KEY=str(key))
        if client_ca is not None:
            self.env["CSMS_TLS_CA"] = str(client_ca)

    async def start(self) -> None:
        assert base.NODE is not None
        self.proc = await asyncio.create_subprocess_exec(
            base.NODE,
            str(base.PEERS / "csms_strict.js"),
            cwd=str(base.PEERS),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self.env,
        )
        self._reader = asyncio.create_task(self._read())
        first = await self.wait(lambda m: m["type"] == "listening", timeout=10)
        self.port = first["port"]

    @property
    def url(self) -> str:
        return f"wss://localhost:{self.port}"

    async def set_reply(self, method: str, reply: dict[str, Any]) -> None:
        await self.call("__reply", {"method": method, "reply": reply})


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


async def reply_of(sut: StationUnderTest, fn: Any, ref: int) -> dict[str, Any]:
    st = sut.st
    await sut.client.feed(lambda now: st._station_input(lambda: fn(st, ref, now), now))
    for _ in range(500):
        for r in sut.requests:
            if r.kind == "iso15118_reply" and r.data["ref"] == ref:
                return dict(r.data["reply"])
        await asyncio.sleep(0.01)
    raise AssertionError("no reply")


@pytest.mark.timeout(60)
async def test_ocpp_rpc_strict_profile_3_and_plug_and_charge(tmp_path: Path) -> None:
    pki = build_pki()
    root, server = pki.cert("csms_root"), pki.cert("csms_server")
    root_file = write(tmp_path / "csms-root.pem", pem(root))
    cert_file = write(tmp_path / "server.pem", pem(server))
    key_file = tmp_path / "server.key"
    key_file.write_bytes(
        pki.key("csms_server").private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    peer_a = TlsStrictCsms(cert_file, key_file)
    peer_b = TlsStrictCsms(cert_file, key_file, client_ca=root_file)
    await peer_a.start()
    await peer_b.start()
    sut = StationUnderTest(
        make_config(
            tmp_path,
            peer_a.url,
            security_profile=2,
            basic_auth_password=PW,
            csms_root_certificates=[root_file],
            variables={"ISO15118Ctrlr/PnCEnabled": "true", "SecurityCtrlr/OrganizationName": "Josev CPO"},
        )
    )
    try:
        await sut.start()
        tls_a = await peer_a.wait(lambda m: m["type"] == "tls")
        assert tls_a["basicAuth"] and tls_a["fingerprint256"] is None  # profile 2: no client certificate
        await peer_a.wait_call("BootNotification")
        res = await peer_a.call(
            "InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": pem(root)}
        )
        assert res["status"] == "Accepted"
        res = await peer_a.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        assert res["status"] == "Accepted"
        req = await peer_a.wait_call("SignCertificate")
        chain = sign_csr(req["csr"], root, pki.key("csms_root"))  # type: ignore[arg-type]
        res = await peer_a.call(
            "CertificateSigned", {"certificateChain": chain, "certificateType": "ChargingStationCertificate"}
        )
        assert res["status"] == "Accepted"
        conn = {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": peer_b.url,
            "messageTimeout": 10,
            "securityProfile": 3,
            "ocppInterface": "Wired0",
        }
        res = await peer_a.call("SetNetworkProfile", {"configurationSlot": 2, "connectionData": conn})
        assert res["status"] == "Accepted"
        res = await peer_a.call(
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
        assert (await peer_a.call("Reset", {"type": "Immediate"}))["status"] == "Accepted"

        # profile 3 at peer B with the certificate obtained above
        tls_b = await peer_b.wait(lambda m: m["type"] == "tls", timeout=15)
        leaf = x509.load_pem_x509_certificate(chain.encode())
        fp = leaf.fingerprint(hashes.SHA256()).hex().upper()
        assert tls_b["authorized"] is True and not tls_b["basicAuth"]
        assert tls_b["fingerprint256"].replace(":", "") == fp
        await peer_b.wait_call("BootNotification", timeout=10)
        await peer_b.wait_call(
            "SecurityEventNotification", lambda p: "security profile 2 -> 3" in p.get("techInfo", "")
        )
        assert sut.st.dm.get("SecurityCtrlr", "SecurityProfile") == "3"

        # Plug & Charge messages
        contract, sub2, sub1 = pki.cert("contract_leaf"), pki.cert("mo_sub_ca2"), pki.cert("mo_sub_ca1")
        items = []
        for cert, issuer in ((contract, sub2), (sub2, sub1)):
            h = hash_data(cert, issuer.public_key())
            items.append(
                {
                    "hash_algorithm": "SHA256",
                    "issuer_name_hash": h["issuerNameHash"],
                    "issuer_key_hash": h["issuerKeyHash"],
                    "serial_number": h["serialNumber"],
                    "responder_url": "http://ocsp.example/ocsp",
                }
            )
        await peer_b.set_reply(
            "Authorize", {"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "Accepted"}
        )
        contract_chain = pem(contract) + pem(sub2) + pem(sub1)
        rep = await reply_of(
            sut,
            lambda st, ref, now: iso15118.authorize_contract(
                st, 1, ref, "DEJOSC00000001", items, contract_chain, now
            ),
            1,
        )
        assert rep == {"status": "Accepted", "certificate_status": "Accepted", "source": "csms"}
        sent = await peer_b.wait_call("Authorize")
        assert sent["idToken"]["type"] == "eMAID" and len(sent["iso15118CertificateHashData"]) == 2
        exi_res = installation_res()
        await peer_b.set_reply("Get15118EVCertificate", {"status": "Accepted", "exiResponse": exi_res})
        exi_req = base64.b64encode(b"\x80\x98\x02\x10request").decode()
        rep = await reply_of(
            sut,
            lambda st, ref, now: iso15118.install_ev_certificate(st, ref, "Install", ISO2_NS, exi_req, now),
            2,
        )
        assert rep == {"status": "Accepted", "exi_response": exi_res}
        await peer_b.wait_call("Get15118EVCertificate")
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        ocsp_res = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=contract,
                issuer=sub2,
                algorithm=hashes.SHA256(),
                cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=now,
                next_update=now + dt.timedelta(hours=4),
                revocation_time=None,
                revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, sub2)
            .sign(pki.key("mo_sub_ca2"), hashes.SHA256())
        )
        der = base64.b64encode(ocsp_res.public_bytes(serialization.Encoding.DER)).decode()
        await peer_b.set_reply("GetCertificateStatus", {"status": "Accepted", "ocspResult": der})
        rep = await reply_of(sut, lambda st, ref, now: iso15118.get_ocsp_status(st, ref, items[0], now), 3)
        assert rep["status"] == "Accepted" and rep["ocsp_result"] == der
        await peer_b.wait_call("GetCertificateStatus")
        # V2G and MO roots, the V2G certificate by SignV2GCertificate
        for typ, name in (("V2GRootCertificate", "v2g_root"), ("MORootCertificate", "mo_root")):
            res = await peer_b.call(
                "InstallCertificate", {"certificateType": typ, "certificate": pem(pki.cert(name))}
            )
            assert res["status"] == "Accepted"
        assert (await peer_b.call("TriggerMessage", {"requestedMessage": "SignV2GCertificate"}))[
            "status"
        ] == "Accepted"
        req = await peer_b.wait_call(
            "SignCertificate", lambda p: p.get("certificateType") == "V2GCertificate"
        )
        v2g_chain = sign_csr(
            req["csr"],
            pki.cert("cpo_sub_ca2"),
            pki.key("cpo_sub_ca2"),  # type: ignore[arg-type]
            use="V2GCertificate",
            chain=[pki.cert("cpo_sub_ca2"), pki.cert("cpo_sub_ca1")],
        )
        res = await peer_b.call(
            "CertificateSigned", {"certificateChain": v2g_chain, "certificateType": "V2GCertificate"}
        )
        assert res["status"] == "Accepted"
        ids = await peer_b.call("GetInstalledCertificateIds", {})
        assert {e["certificateType"] for e in ids["certificateHashDataChain"]} >= {
            "V2GRootCertificate",
            "MORootCertificate",
            "V2GCertificateChain",
            "CSMSRootCertificate",
        }
        await asyncio.sleep(0.3)
        assert peer_a.failures() == [], peer_a.failures()
        assert peer_b.failures() == [], peer_b.failures()
    finally:
        await sut.close()
        await peer_a.close()
        await peer_b.close()
