"""The ISO 15118 support profile, station side, against the scripted CSMS (real websockets on loopback), with
the V2G PKI of ``josev pki`` (iso2 profile). Our reading of the OCTT cases the station can reach:

* TC_M_01/M_02-style InstallCertificate of V2GRootCertificate / MORootCertificate, GetInstalledCertificateIds
  with the V2GCertificateChain, DeleteCertificate - the SECC's trust stores follow (v2g_certificate request).
* TC_A_xx SignV2GCertificate: TriggerMessage SignV2GCertificate -> SignCertificate (V2GCertificate, CN =
  SeccId, O, C, DC=CPO) -> CertificateSigned chain to the installed V2G root -> installed for the SECC.
* TC_M_xx Get15118EVCertificate install/update: EXI passed through unchanged; an answer that does not decode
  refused with InvalidMessages.
* TC_M_xx GetCertificateStatus: the OCSP answer cached until nextUpdate.
* TC_C_xx Authorize with iso15118CertificateHashData: the CSMS's certificateStatus applied; an unknown
  certificateStatus refused with InvalidMessages; offline contract validation per ContractValidationOffline;
  security events queued offline and delivered in order.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from josev.ocpp import iso15118
from josev.ocpp.security import hash_data
from josev.pki import Pki, build_pki
from josev.pki.signing import sign_csr
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.exi_samples import installation_res
from tests.ocpp.harness import ScriptedCsms

REFS = itertools.count(1000)
ISO2_NS = "urn:iso:15118:2:2013:MsgDef"
PNC = {
    "ISO15118Ctrlr/PnCEnabled": "true",
    "ISO15118Ctrlr/SeccId": "DE*JOS*E0001",
    "ISO15118Ctrlr/OrganizationName": "Josev CPO",
    "ISO15118Ctrlr/CountryName": "DE",
}


@pytest.fixture(scope="module")
def v2g() -> Pki:
    return build_pki()


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
async def pnc(tmp_path: Path) -> AsyncIterator[tuple[ScriptedCsms, StationUnderTest]]:
    csms = ScriptedCsms()
    await csms.start()
    sut = StationUnderTest(make_config(tmp_path, csms.url, variables=PNC))
    await sut.start()
    await csms.wait_for("StatusNotification", count=2)
    yield csms, sut
    await sut.close()
    await csms.stop()


async def ask(sut: StationUnderTest, fn: Callable[[Any, int, float], None]) -> dict[str, Any]:
    """Feed a SECC request into the core and wait for its iso15118_reply."""
    ref = next(REFS)
    st = sut.st
    await sut.client.feed(lambda now: st._station_input(lambda: fn(st, ref, now), now))
    for _ in range(500):
        for r in sut.requests:
            if r.kind == "iso15118_reply" and r.data["ref"] == ref:
                return dict(r.data["reply"])
        await asyncio.sleep(0.01)
    raise AssertionError("no iso15118_reply")


def read_text(path: str) -> str:
    return Path(path).read_text()


def file_mode(path: str) -> int:
    return Path(path).stat().st_mode & 0o777


def trust_updates(sut: StationUnderTest) -> list[dict[str, Any]]:
    return [r.data for r in sut.requests if r.kind == "v2g_certificate"]


async def wait_updates(sut: StationUnderTest, n: int) -> dict[str, Any]:
    for _ in range(300):
        if len(trust_updates(sut)) >= n:
            return trust_updates(sut)[n - 1]
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {n} v2g_certificate announcements")


def ocsp_item(cert: x509.Certificate, issuer: x509.Certificate) -> dict[str, Any]:
    h = hash_data(cert, issuer.public_key())
    return {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": h["issuerNameHash"],
        "issuer_key_hash": h["issuerKeyHash"],
        "serial_number": h["serialNumber"],
        "responder_url": "http://ocsp.example/",
    }


def ocsp_der(v2g: Pki, status: ocsp.OCSPCertStatus, next_update: dt.datetime) -> str:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    resp = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=v2g.cert("contract_leaf"),
            issuer=v2g.cert("mo_sub_ca2"),
            algorithm=hashes.SHA256(),
            cert_status=status,
            this_update=now,
            next_update=next_update,
            revocation_time=now if status == ocsp.OCSPCertStatus.REVOKED else None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, v2g.cert("mo_sub_ca2"))
        .sign(v2g.key("mo_sub_ca2"), hashes.SHA256())
    )
    return base64.b64encode(resp.public_bytes(serialization.Encoding.DER)).decode()


async def test_tc_m_v2g_and_mo_roots_install_get_delete(
    pnc: tuple[ScriptedCsms, StationUnderTest], v2g: Pki
) -> None:
    csms, sut = pnc
    for typ, name in [("V2GRootCertificate", "v2g_root"), ("MORootCertificate", "mo_root")]:
        res = await csms.call(
            "InstallCertificate", {"certificateType": typ, "certificate": pem(v2g.cert(name))}
        )
        assert res["status"] == "Accepted"
    state = await wait_updates(sut, 2)  # the SECC's trust stores follow at once
    assert state["v2g_roots"] == [pem(v2g.cert("v2g_root"))]
    assert state["mo_roots"] == [pem(v2g.cert("mo_root"))]
    res = await csms.call("GetInstalledCertificateIds", {"certificateType": ["MORootCertificate"]})
    [entry] = res["certificateHashDataChain"]
    assert entry["certificateType"] == "MORootCertificate"
    assert entry["certificateHashData"] == hash_data(v2g.cert("mo_root"))
    res = await csms.call("DeleteCertificate", {"certificateHashData": hash_data(v2g.cert("mo_root"))})
    assert res["status"] == "Accepted"
    state = await wait_updates(sut, 3)
    assert state["mo_roots"] == [] and len(state["v2g_roots"]) == 1


async def test_tc_sign_v2g_certificate(pnc: tuple[ScriptedCsms, StationUnderTest], v2g: Pki) -> None:
    csms, sut = pnc
    res = await csms.call(
        "InstallCertificate",
        {"certificateType": "V2GRootCertificate", "certificate": pem(v2g.cert("v2g_root"))},
    )
    assert res["status"] == "Accepted"
    csms.responders["SignCertificate"] = lambda p: {"status": "Accepted"}
    res = await csms.call("TriggerMessage", {"requestedMessage": "SignV2GCertificate"})
    assert res["status"] == "Accepted"
    req = await csms.wait_for("SignCertificate")
    assert req["certificateType"] == "V2GCertificate"
    csr = x509.load_pem_x509_csr(req["csr"].encode())
    subj = {a.oid: a.value for a in csr.subject}
    assert subj[NameOID.COMMON_NAME] == "DE*JOS*E0001"
    assert subj[NameOID.ORGANIZATION_NAME] == "Josev CPO"
    assert subj[NameOID.COUNTRY_NAME] == "DE"
    assert subj[NameOID.DOMAIN_COMPONENT] == "CPO"
    chain = sign_csr(
        req["csr"],
        v2g.cert("cpo_sub_ca2"),
        v2g.key("cpo_sub_ca2"),  # type: ignore[arg-type]
        use="V2GCertificate",
        chain=[v2g.cert("cpo_sub_ca2"), v2g.cert("cpo_sub_ca1")],
    )
    # a chain to the CSMS root instead of the V2G root is refused, nothing installed
    res = await csms.call(
        "CertificateSigned", {"certificateChain": chain, "certificateType": "ChargingStationCertificate"}
    )
    assert res["status"] == "Rejected"
    res = await csms.call(
        "CertificateSigned", {"certificateChain": chain, "certificateType": "V2GCertificate"}
    )
    assert res["status"] == "Accepted"
    state = await wait_updates(sut, 2)
    assert state["chain"] is not None and read_text(state["chain"]) == chain
    assert file_mode(state["key"]) == 0o600
    leaf = x509.load_pem_x509_certificate(chain.encode())
    res = await csms.call("GetInstalledCertificateIds", {"certificateType": ["V2GCertificateChain"]})
    [entry] = res["certificateHashDataChain"]
    assert entry["certificateHashData"] == hash_data(leaf, v2g.cert("cpo_sub_ca2").public_key())
    assert [c["serialNumber"] for c in entry["childCertificateHashData"]] == [
        format(v2g.cert("cpo_sub_ca2").serial_number, "x"),
        format(v2g.cert("cpo_sub_ca1").serial_number, "x"),
    ]
    # the V2G chain may be deleted (unlike the station certificate); the SECC is told
    res = await csms.call("DeleteCertificate", {"certificateHashData": entry["certificateHashData"]})
    assert res["status"] == "Accepted"
    state = await wait_updates(sut, 3)
    assert state["chain"] is None
    ev = await csms.wait_for(
        "SecurityEventNotification", lambda p: p["type"] == "InvalidChargingStationCertificate"
    )
    assert "ChargingStationCertificate" in ev["techInfo"]


async def test_sign_v2g_refused_when_pnc_disabled(csms: ScriptedCsms, station: StationUnderTest) -> None:
    res = await csms.call("TriggerMessage", {"requestedMessage": "SignV2GCertificate"})
    assert res["status"] == "Rejected"
    reply = await ask(
        station, lambda st, ref, now: iso15118.authorize_contract(st, 1, ref, "DEJOSC1", [], None, now)
    )
    assert reply["status"] == "Invalid" and "PnCEnabled" in reply["reason"]
    assert csms.actions("Authorize") == []


def install(action: str, exi_req: str) -> Callable[[Any, int, float], None]:
    return lambda st, ref, now: iso15118.install_ev_certificate(st, ref, action, ISO2_NS, exi_req, now)


async def test_tc_get_15118_ev_certificate_install_and_update(
    pnc: tuple[ScriptedCsms, StationUnderTest],
) -> None:
    csms, sut = pnc
    exi_res = installation_res()
    csms.responders["Get15118EVCertificate"] = lambda p: {"status": "Accepted", "exiResponse": exi_res}
    exi_req = base64.b64encode(b"\x80\x98\x02\x10fake-request").decode()
    for action in ("Install", "Update"):
        reply = await ask(
            sut,
            install(action, exi_req),
        )
        assert reply == {"status": "Accepted", "exi_response": exi_res}  # unchanged, byte for byte
        sent = csms.actions("Get15118EVCertificate")[-1]
        assert sent == {"iso15118SchemaVersion": ISO2_NS, "action": action, "exiRequest": exi_req}
    # an answer whose EXI does not decode: Failed to the SECC, InvalidMessages
    broken = base64.b64encode(base64.b64decode(exi_res)[:100]).decode()
    csms.responders["Get15118EVCertificate"] = lambda p: {"status": "Accepted", "exiResponse": broken}
    reply = await ask(
        sut, lambda st, ref, now: iso15118.install_ev_certificate(st, ref, "Install", ISO2_NS, exi_req, now)
    )
    assert reply["status"] == "Failed" and "does not decode as iso2" in reply["reason"]
    ev = await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "InvalidMessages")
    assert "Get15118EVCertificate" in ev["techInfo"]


async def test_tc_get_certificate_status_cached_until_next_update(
    pnc: tuple[ScriptedCsms, StationUnderTest], v2g: Pki
) -> None:
    csms, sut = pnc
    item = ocsp_item(v2g.cert("contract_leaf"), v2g.cert("mo_sub_ca2"))
    next_update = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    good = ocsp_der(v2g, ocsp.OCSPCertStatus.GOOD, next_update)
    csms.responders["GetCertificateStatus"] = lambda p: {"status": "Accepted", "ocspResult": good}
    first = await ask(sut, lambda st, ref, now: iso15118.get_ocsp_status(st, ref, item, now))
    assert first["status"] == "Accepted" and first["ocsp_result"] == good
    sent = csms.actions("GetCertificateStatus")[0]["ocspRequestData"]
    assert sent["serialNumber"] == item["serial_number"] and sent["responderURL"] == "http://ocsp.example/"
    second = await ask(sut, lambda st, ref, now: iso15118.get_ocsp_status(st, ref, item, now))
    assert second["cached"] is True and second["ocsp_result"] == good
    assert len(csms.actions("GetCertificateStatus")) == 1
    # past nextUpdate: asked again
    sut.st.clock_offset += 7200
    await ask(sut, lambda st, ref, now: iso15118.get_ocsp_status(st, ref, item, now))
    assert len(csms.actions("GetCertificateStatus")) == 2
    # garbage instead of an OCSPResponse
    sut.st.clock_offset += 7200
    csms.responders["GetCertificateStatus"] = lambda p: {"status": "Accepted", "ocspResult": "bm90IG9jc3A="}
    bad = await ask(sut, lambda st, ref, now: iso15118.get_ocsp_status(st, ref, item, now))
    assert bad == {"status": "Failed"}
    await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "InvalidMessages")


async def test_tc_authorize_with_certificate(pnc: tuple[ScriptedCsms, StationUnderTest], v2g: Pki) -> None:
    csms, sut = pnc
    items = [
        ocsp_item(v2g.cert("contract_leaf"), v2g.cert("mo_sub_ca2")),
        ocsp_item(v2g.cert("mo_sub_ca2"), v2g.cert("mo_sub_ca1")),
    ]
    chain = pem(v2g.cert("contract_leaf")) + pem(v2g.cert("mo_sub_ca2")) + pem(v2g.cert("mo_sub_ca1"))
    csms.responders["Authorize"] = lambda p: {
        "idTokenInfo": {"status": "Accepted"},
        "certificateStatus": "Accepted",
    }
    sut.requests.clear()
    reply = await ask(
        sut, lambda st, ref, now: iso15118.authorize_contract(st, 1, ref, "DEJOSC00000001", items, chain, now)
    )
    assert reply == {"status": "Accepted", "certificate_status": "Accepted", "source": "csms"}
    sent = csms.actions("Authorize")[-1]
    assert sent["idToken"] == {"idToken": "DEJOSC00000001", "type": "eMAID"}
    assert [h["serialNumber"] for h in sent["iso15118CertificateHashData"]] == [
        i["serial_number"] for i in items
    ]
    assert sent["certificate"] == chain  # CentralContractValidationAllowed
    auth = [r.data for r in sut.requests if r.kind == "authorization"]
    assert auth[-1]["status"] == "Accepted" and auth[-1]["evse"] == 1  # the coordinator is told
    # the CSMS accepts the token but the certificate is revoked: not accepted
    csms.responders["Authorize"] = lambda p: {
        "idTokenInfo": {"status": "Accepted"},
        "certificateStatus": "CertificateRevoked",
    }
    reply = await ask(
        sut, lambda st, ref, now: iso15118.authorize_contract(st, 2, ref, "DEJOSC00000002", items, chain, now)
    )
    assert reply["status"] == "Invalid" and reply["certificate_status"] == "CertificateRevoked"
    # an unknown certificateStatus: refused, InvalidMessages
    csms.responders["Authorize"] = lambda p: {
        "idTokenInfo": {"status": "Accepted"},
        "certificateStatus": "Fine",
    }
    reply = await ask(
        sut, lambda st, ref, now: iso15118.authorize_contract(st, 2, ref, "DEJOSC00000003", items, chain, now)
    )
    assert reply["status"] == "Invalid" and reply["source"] == "station"
    ev = await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "InvalidMessages")
    assert "Authorize" in ev["techInfo"]
    # without CentralContractValidationAllowed the chain is not sent
    sut.st.dm.put("ISO15118Ctrlr", "CentralContractValidationAllowed", "false")
    csms.responders["Authorize"] = lambda p: {
        "idTokenInfo": {"status": "Accepted"},
        "certificateStatus": "Accepted",
    }
    await ask(
        sut, lambda st, ref, now: iso15118.authorize_contract(st, 2, ref, "DEJOSC00000004", items, chain, now)
    )
    assert "certificate" not in csms.actions("Authorize")[-1]


async def test_offline_contract_validation_and_queued_security_events(
    pnc: tuple[ScriptedCsms, StationUnderTest], v2g: Pki
) -> None:
    csms, sut = pnc
    await csms.call(
        "InstallCertificate",
        {"certificateType": "MORootCertificate", "certificate": pem(v2g.cert("mo_root"))},
    )
    item = ocsp_item(v2g.cert("contract_leaf"), v2g.cert("mo_sub_ca2"))
    chain = pem(v2g.cert("contract_leaf")) + pem(v2g.cert("mo_sub_ca2")) + pem(v2g.cert("mo_sub_ca1"))
    await csms.stop()
    for _ in range(200):
        if not sut.st.online:
            break
        await asyncio.sleep(0.01)
    assert not sut.st.online

    def authorize(emaid: str, ch: str | None = chain) -> Callable[[Any, int, float], None]:
        return lambda st, ref, now: iso15118.authorize_contract(st, 1, ref, emaid, [item], ch, now)

    reply = await ask(sut, authorize("DEJOSC1"))
    assert reply["status"] == "Unknown" and "ContractValidationOffline is false" in reply["reason"]
    sut.st.dm.put("ISO15118Ctrlr", "ContractValidationOffline", "true")
    reply = await ask(sut, authorize("DEJOSC2"))
    assert reply == {"status": "Accepted", "certificate_status": "Accepted", "source": "offline"}
    # a chain that does not lead to the MO root
    other = pem(v2g.cert("oem_prov_leaf")) + pem(v2g.cert("oem_sub_ca2")) + pem(v2g.cert("oem_sub_ca1"))
    reply = await ask(sut, authorize("DEJOSC3", other))
    assert reply["status"] == "Invalid" and reply["certificate_status"] == "CertChainError"
    # a cached OCSP answer that says revoked
    revoked = ocsp_der(v2g, ocsp.OCSPCertStatus.REVOKED, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    key = f"ocsp:SHA256:{item['issuer_name_hash']}:{item['issuer_key_hash']}:{item['serial_number']}"
    sut.st.store.put(key, {"result": revoked, "next_update": sut.st.wall(0) + 10**10})
    reply = await ask(sut, authorize("DEJOSC4"))
    assert reply["certificate_status"] == "CertificateRevoked"
    # security events of the SECC while offline: queued, delivered later in order
    for i in range(3):
        await sut.client.feed(
            lambda now, i=i: sut.st._station_input(
                lambda: iso15118.secc_security_event(sut.st, "InvalidTLSVersion", f"handshake {i}", now), now
            )
        )
    reply = await ask(
        sut, lambda st, ref, now: iso15118.install_ev_certificate(st, ref, "Install", ISO2_NS, "gA==", now)
    )
    assert reply == {"status": "Failed", "reason": "CSMS unreachable"}
    await csms.start()
    await csms.wait_for("SecurityEventNotification", lambda p: p.get("techInfo") == "handshake 2", timeout=10)
    seen = [
        p["techInfo"] for p in csms.actions("SecurityEventNotification") if p["type"] == "InvalidTLSVersion"
    ]
    assert seen == ["handshake 0", "handshake 1", "handshake 2"]
