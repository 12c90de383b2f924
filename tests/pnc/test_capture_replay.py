"""Plug & Charge replay of real captures (RiseV2G EV and SECC, dSPACE DS5366 test PKI): decrypt the TLS session
from its disclosed secrets, deframe V2GTP, decode every EXI message with our codec, and verify every XML signature
the capture holds with our code (:mod:`josev.pnc.xmlsig`, the reference lists of :mod:`josev.pnc.cps`), then run
our contract-chain check (:func:`josev.pnc.contract.validate`) at the capture's own time.

The roots (V2G root, MO root) are not in the captures: the chains are checked up to their topmost Sub-CA, which
stands in as the trust anchor (every signature, validity, CA flag, path length and key usage below it is ours to
check; the topmost Sub-CA's own signature by its root is not). See docs/pnc.md, "Replay of real captures".
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from josev import exi
from josev.observability.pcapread import read_packets, v2g_frames
from josev.pnc import PncError, contract, cps, xmlsig
from josev.tls.decrypt import CT_HANDSHAKE, decrypt_session, records
from josev.v2g import v2gtp

from ..tls.test_decrypt import _capture

SHARED = Path(__file__).resolve().parents[3] / "shared"
pytestmark = pytest.mark.skipif(
    not (SHARED / "captures").is_dir(), reason="../shared (captures) is not present"
)

CONTRACT = "ISO-2_DC_PnC_TLS_Contract_DS5366_RiseV2G.pcapng"
INSTALL = "ISO-2_DC_PnC_TLS_CertInstallation_DS5366_RiseV2G.pcapng"
UPDATE = "ISO-2_DC_PnC_TLS_CertUpdate_DS5366_RiseV2G.pcapng"
METERING = "ISO-2_AC_PnC_TLS_Contract_MeteringReceipt_DS5366_RiseV2G.pcapng"
TARIFF = "ISO-2_DC_SalesTariffSchedule_DS5366_RiseV2G.pcapng"
#: EXI messages of each TLS capture, both directions, supportedAppProtocol included: every one decodes
MESSAGES = {CONTRACT: 190, INSTALL: 194, UPDATE: 194, METERING: 62}


@dataclasses.dataclass
class Replay:
    """A decoded session: requests and responses in order (one response per request), the SECC's TLS chain and
    the capture time."""

    at: dt.datetime
    requests: list[dict[str, Any]]
    responses: list[dict[str, Any]]
    secc_chain: list[x509.Certificate]
    request_exi: list[bytes]

    def bodies(self, name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """``(header, body)`` of every message ``name``."""
        out = []
        for msg in (*self.requests, *self.responses):
            v2g = msg["V2G_Message"]
            if name in v2g["Body"]:
                out.append((v2g["Header"], v2g["Body"][name]))
        return out

    def one(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        (found,) = self.bodies(name)
        return found


def _messages(stream: bytes) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Every V2GTP frame of a stream decoded (the first is supportedAppProtocol, the rest ISO 15118-2), and the
    EXI payloads; our encoder gives each payload back byte for byte."""
    out, payloads, i = [], [], 0
    while i < len(stream):
        n = 8 + int.from_bytes(stream[i + 4 : i + 8], "big")
        frame = v2gtp.parse_frame(stream[i : i + n])
        assert frame.payload_type == 0x8001
        schema = "sap" if i == 0 else "iso2"
        out.append(exi.decode(schema, frame.payload))
        assert exi.encode(schema, out[-1]) == frame.payload
        payloads.append(frame.payload)
        i += n
    return out, payloads


def _tls_chain(server: bytes) -> list[x509.Certificate]:
    """The Certificate handshake message of the (cleartext) TLS 1.2 server flight."""
    hs = b"".join(f for t, _, f in records(server)[:6] if t == CT_HANDSHAKE)
    i, out = 0, list[x509.Certificate]()
    while i + 4 <= len(hs) and not out:
        mtype, length = hs[i], int.from_bytes(hs[i + 1 : i + 4], "big")
        body, j = hs[i + 4 : i + 4 + length], 3
        while mtype == 11 and j < len(body):
            n = int.from_bytes(body[j : j + 3], "big")
            out.append(x509.load_der_x509_certificate(body[j + 3 : j + 3 + n]))
            j += 3 + n
        i += 4 + length
    return out


def _capture_time(name: str) -> dt.datetime:
    first = read_packets((SHARED / "captures" / name).read_bytes())[0]
    return dt.datetime.fromtimestamp(first.timestamp, dt.UTC)


_CACHE: dict[str, Replay] = {}


def replay(name: str) -> Replay:
    if name not in _CACHE:
        client, server, keylog = _capture(name)
        s = decrypt_session(client, server, keylog)
        (reqs, raw), (ress, _) = _messages(s.client_app), _messages(s.server_app)
        assert len(reqs) == len(ress) == MESSAGES[name] // 2
        _CACHE[name] = Replay(_capture_time(name), reqs[1:], ress[1:], _tls_chain(server), raw[1:])
    return _CACHE[name]


def _chain(element: dict[str, Any]) -> tuple[x509.Certificate, list[x509.Certificate]]:
    leaf = contract.load_der(element["Certificate"], "leaf")
    subs = [
        contract.load_der(c, "Sub-CA") for c in (element.get("SubCertificates") or {}).get("Certificate", [])
    ]
    return leaf, subs


def _key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def _flip(data: bytes, at: int = -1) -> bytes:
    """``data`` with one byte changed."""
    b = bytearray(data)
    b[at] ^= 0x01
    return bytes(b)


def _check(signature: dict[str, Any], refs: list[tuple[str, bytes]], key: ec.EllipticCurvePublicKey) -> int:
    """Verify with our code; a one-byte change of any signed element, and of the signature value, must fail."""
    assert xmlsig.verify(signature, refs, key, [xmlsig.ISO2]) is xmlsig.ISO2
    for k in range(len(refs)):
        bad = [(i, _flip(d) if j == k else d) for j, (i, d) in enumerate(refs)]
        with pytest.raises(PncError, match="digest does not match"):
            xmlsig.verify(signature, bad, key, [xmlsig.ISO2])
    value = base64.b64decode(signature["SignatureValue"]["value"])
    bad_sig = {**signature, "SignatureValue": {"value": base64.b64encode(_flip(value, 5)).decode()}}
    with pytest.raises(PncError, match="signature value does not verify"):
        xmlsig.verify(bad_sig, refs, key, [xmlsig.ISO2])
    return 1


def _contract_chain(r: Replay) -> tuple[x509.Certificate, list[x509.Certificate], str]:
    """The contract chain and eMAID of PaymentDetailsReq."""
    _, pd = r.one("PaymentDetailsReq")
    leaf, subs = _chain(pd["ContractSignatureCertChain"])
    return leaf, subs, pd["eMAID"]


def _validate_to_top_sub_ca(leaf: x509.Certificate, subs: list[x509.Certificate], at: dt.datetime) -> str:
    """Our chain check with the topmost Sub-CA as the anchor (the root is not in the capture); returns the CN of
    the root the topmost Sub-CA names as its issuer."""
    with pytest.raises(PncError) as e:  # the roots are not in the capture: no anchor at all fails
        contract.validate(leaf, subs, [], at)
    assert e.value.code == contract.NO_CERTIFICATE
    chain = contract.validate(leaf, subs[:-1], [subs[-1]], at, protocol="iso2")
    assert chain.root is subs[-1]
    too_late = max(c.not_valid_after_utc for c in (leaf, *subs)) + dt.timedelta(days=1)
    with pytest.raises(PncError) as e:
        contract.validate(leaf, subs[:-1], [subs[-1]], too_late)
    assert e.value.code == contract.EXPIRED
    return str(subs[-1].issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def _authorization(r: Replay) -> int:
    """AuthorizationReq: the contract key over the body, and the GenChallenge of PaymentDetailsRes."""
    leaf, subs, emaid = _contract_chain(r)
    _, pd_res = r.one("PaymentDetailsRes")
    header, body = r.one("AuthorizationReq")
    assert body["GenChallenge"] == pd_res["GenChallenge"]
    assert len(base64.b64decode(body["GenChallenge"])) == 16
    refs = [(body["Id"], xmlsig.fragment("iso2", "AuthorizationReq", body))]
    n = _check(header["Signature"], refs, _key(leaf))
    # a one-byte change of the challenge itself (the value the SECC compares) fails too
    challenge = _flip(base64.b64decode(body["GenChallenge"]), 0)
    changed = {**body, "GenChallenge": base64.b64encode(challenge).decode()}
    with pytest.raises(PncError, match="digest does not match"):
        xmlsig.verify(
            header["Signature"],
            [(body["Id"], xmlsig.fragment("iso2", "AuthorizationReq", changed))],
            _key(leaf),
            [xmlsig.ISO2],
        )
    assert contract.common_name(leaf) == emaid
    assert _validate_to_top_sub_ca(leaf, subs, r.at) == "MO RootCA Test-PKI"
    return n


def _signature_count(r: Replay) -> int:
    return sum(1 for m in (*r.requests, *r.responses) if m["V2G_Message"]["Header"].get("Signature"))


def test_contract_capture() -> None:
    r = replay(CONTRACT)
    assert len(r.requests) == len(r.responses) > 30
    assert r.at.year == 2025
    assert _contract_chain(r)[2] == "DEABC123456789Y"
    assert _signature_count(r) == 1
    assert _authorization(r) == 1


def _provisioning_response(r: Replay, name: str) -> int:
    """CertificateInstallationRes / CertificateUpdateRes: the CPS leaf over the four signed elements, checked
    with :func:`josev.pnc.cps.verify_iso2_response` (chain cut at the topmost Sub-CA, see the module doc)."""
    header, body = r.one(name)
    leaf, subs = _chain(body["SAProvisioningCertificateChain"])
    assert [contract.common_name(c) for c in (leaf, *subs)] == [
        "CPS Prov Test-PKI",
        "CPS SubCA2 Test-PKI",
        "CPS SubCA1 Test-PKI",
    ]
    assert _validate_to_top_sub_ca(leaf, subs, r.at) == "V2G RootCA Test-PKI"
    cut = dict(body["SAProvisioningCertificateChain"])
    cut["SubCertificates"] = {"Certificate": cut["SubCertificates"]["Certificate"][:-1]}
    response = {
        "V2G_Message": {"Header": header, "Body": {name: {**body, "SAProvisioningCertificateChain": cut}}}
    }
    chain = cps.verify_iso2_response(response, [subs[-1]], r.at)
    assert chain.leaf == leaf
    refs = [(body[e]["Id"], xmlsig.fragment("iso2", e, body[e])) for e in cps.SIGNED]
    assert [i for i, _ in refs] == ["ID1", "ID2", "ID3", "ID4"]
    n = _check(header["Signature"], refs, _key(leaf))
    # the eMAID value changed by one character: verification fails
    emaid = body["eMAID"]["value"]
    changed = {**body["eMAID"], "value": emaid[:-1] + chr(ord(emaid[-1]) ^ 1)}
    bad = [(i, xmlsig.fragment("iso2", "eMAID", changed) if i == "ID4" else d) for i, d in refs]
    with pytest.raises(PncError, match="#ID4: digest does not match"):
        xmlsig.verify(header["Signature"], bad, _key(leaf), [xmlsig.ISO2])
    # the new contract chain (leads to the MO root, as the one of PaymentDetailsReq)
    new_leaf, new_subs = _chain(body["ContractSignatureCertChain"])
    assert contract.common_name(new_leaf) == emaid
    assert _validate_to_top_sub_ca(new_leaf, new_subs, r.at) == "MO RootCA Test-PKI"
    return n


def test_cert_installation_capture() -> None:
    r = replay(INSTALL)
    assert r.at.isoformat()[:10] == "2025-10-27"
    assert _signature_count(r) == 3
    # CertificateInstallationReq: the OEM provisioning key over the request body
    header, body = r.one("CertificateInstallationReq")
    oem = contract.load_der(body["OEMProvisioningCert"], "OEM provisioning certificate")
    assert contract.common_name(oem) == "OEM Prov Test-PKI"
    assert oem.not_valid_before_utc <= r.at <= oem.not_valid_after_utc
    # the request carries the OEM leaf only (ISO 15118-2 has no OEM Sub-CAs in it): nothing above it to check
    assert "OEM SubCA2 Test-PKI" in oem.issuer.rfc4514_string()
    n = _check(
        header["Signature"],
        [(body["Id"], xmlsig.fragment("iso2", "CertificateInstallationReq", body))],
        _key(oem),
    )
    n += _provisioning_response(r, "CertificateInstallationRes")
    # the installed contract is the one the EV then presents and signs AuthorizationReq with
    _, res = r.one("CertificateInstallationRes")
    leaf, _, emaid = _contract_chain(r)
    assert emaid == res["eMAID"]["value"] == "DEABC123456789Y"
    assert leaf == _chain(res["ContractSignatureCertChain"])[0]
    n += _authorization(r)
    assert n == 3


def test_cert_update_capture() -> None:
    r = replay(UPDATE)
    assert _signature_count(r) == 3
    # CertificateUpdateReq: the old contract key over the request body
    header, body = r.one("CertificateUpdateReq")
    old, old_subs = _chain(body["ContractSignatureCertChain"])
    assert contract.common_name(old) == body["eMAID"] == "DEABC123456789Y"
    assert _validate_to_top_sub_ca(old, old_subs, r.at) == "MO RootCA Test-PKI"
    n = _check(
        header["Signature"], [(body["Id"], xmlsig.fragment("iso2", "CertificateUpdateReq", body))], _key(old)
    )
    n += _provisioning_response(r, "CertificateUpdateRes")
    _, res = r.one("CertificateUpdateRes")
    new = _chain(res["ContractSignatureCertChain"])[0]
    assert new != old and new.serial_number != old.serial_number  # a new contract certificate, same eMAID
    leaf, _, emaid = _contract_chain(r)
    assert leaf == new and emaid == res["eMAID"]["value"] == "DEABC123456789Y"
    n += _authorization(r)
    assert n == 3


def test_metering_receipt_capture() -> None:
    """AC PnC with two MeteringReceiptReq (contract key over the body, MeterInfo as the SECC sent it). RiseV2G's EV
    then repeats a Signature in the header of the following unsigned requests (ChargingStatusReq from the second
    one on, and the final PowerDeliveryReq): its reference ``#id1`` names no element of those bodies; each is a
    fresh ECDSA value over the SignedInfo of the MeteringReceiptReq before it, and verifies against that element."""
    r = replay(METERING)
    assert r.at.isoformat()[:10] == "2025-10-27"
    assert _signature_count(r) == 11
    n = _authorization(r)
    leaf = _contract_chain(r)[0]
    receipts = stray = 0
    last: tuple[dict[str, Any], list[tuple[str, bytes]]] | None = None
    for req, res in zip(r.requests, r.responses, strict=True):
        (name, body), header = next(iter(req["V2G_Message"]["Body"].items())), req["V2G_Message"]["Header"]
        if name == "MeteringReceiptReq":
            refs = [(body["Id"], xmlsig.fragment("iso2", "MeteringReceiptReq", body))]
            n += _check(header["Signature"], refs, _key(leaf))
            receipts += 1
            last = (header["Signature"]["SignedInfo"], refs)
            assert res["V2G_Message"]["Body"]["MeteringReceiptRes"]["ResponseCode"] == "OK"
        elif name != "AuthorizationReq" and "Signature" in header:
            assert name in ("ChargingStatusReq", "PowerDeliveryReq") and "Id" not in body and last is not None
            assert header["Signature"]["SignedInfo"] == last[0]
            n += _check(header["Signature"], last[1], _key(leaf))
            stray += 1
    assert (receipts, stray, n) == (2, 8, 11)
    # the EV signed the MeterInfo the SECC sent in the ChargingStatusRes before each receipt
    infos = [b["MeterInfo"] for _, b in r.bodies("ChargingStatusRes") if "MeterInfo" in b]
    assert infos == [b["MeterInfo"] for _, b in r.bodies("MeteringReceiptReq")]
    assert [i["MeterReading"] for i in infos] == [12, 14]


def test_sales_tariff_capture_is_unsigned() -> None:
    """The RiseV2G SalesTariff capture is plain TCP (SDP security 0x10, EIM): every message decodes, its
    SalesTariff carries no Id and no message carries a Signature, so there is nothing to verify (0 signatures)."""
    frames = v2g_frames(read_packets((SHARED / "captures" / TARIFF).read_bytes()))
    sdp = [f for f in frames if f.kind == "sdp" and f.from_ev]
    assert [f.data[8] for f in sdp] == [0x10]  # SDP request: security 0x10 = no TLS
    tcp = [f for f in frames if f.kind == "tcp"]
    ev = [f for f in tcp if f.from_ev]
    secc = [f for f in tcp if not f.from_ev]
    assert len(ev) == len(secc) == 105
    decoded = [
        exi.decode("sap" if k == 0 else "iso2", v2gtp.parse_frame(f.data).payload)
        for side in (ev, secc)
        for k, f in enumerate(side)
    ]
    assert sum(1 for m in decoded if "V2G_Message" in m and m["V2G_Message"]["Header"].get("Signature")) == 0
    ((_, cpd),) = [
        (h, b)
        for m in decoded
        if "V2G_Message" in m
        for h, b in [
            (m["V2G_Message"]["Header"], m["V2G_Message"]["Body"].get("ChargeParameterDiscoveryRes"))
        ]
        if b is not None
    ]
    (tuple_,) = cpd["SAScheduleList"]["SAScheduleTuple"]
    tariff = tuple_["SalesTariff"]
    assert (tariff["SalesTariffID"], tariff["NumEPriceLevels"], len(tariff["SalesTariffEntry"])) == (80, 3, 5)
    assert "Id" not in tariff


@pytest.mark.parametrize("name", [CONTRACT, INSTALL, UPDATE, METERING])
def test_secc_tls_chain_at_capture_time(name: str) -> None:
    """The SECC chain of the TLS handshake (CPO EVSE leaf, two CPO Sub-CAs) passes our chain check at the capture's
    time up to its topmost Sub-CA, which names the V2G root as issuer; the V2G root the EV lists in its
    certificate requests is that same root (by name: the root itself is not in the capture)."""
    r = replay(name)
    leaf, *subs = r.secc_chain
    assert [contract.common_name(c) for c in r.secc_chain] == [
        "CPO EVSE Test-PKI",
        "CPO SubCA2 Test-PKI",
        "CPO SubCA1 Test-PKI",
    ]
    assert _validate_to_top_sub_ca(leaf, subs, r.at) == "V2G RootCA Test-PKI"
    # why the capture's time: the SECC leaf (90 days) has expired since
    with pytest.raises(PncError) as e:
        contract.validate(leaf, subs[:-1], [subs[-1]], dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    assert (e.value.code, e.value.detail) == (contract.EXPIRED, "CPO EVSE Test-PKI is expired")
    for req_name in ("CertificateInstallationReq", "CertificateUpdateReq"):
        for _, body in r.bodies(req_name):
            (root_id,) = body["ListOfRootCertificateIDs"]["RootCertificateID"]
            assert x509.Name.from_rfc4514_string(root_id["X509IssuerName"]) == subs[-1].issuer
            assert root_id["X509SerialNumber"] == 16


PEER_PY = Path(__file__).resolve().parents[2] / ".venv-peers" / "bin" / "python"


@pytest.mark.interop
@pytest.mark.skipif(not PEER_PY.exists() or shutil.which("java") is None, reason="needs .venv-peers and java")
@pytest.mark.parametrize("name", [CONTRACT, METERING])
def test_exificient_oracle_agrees_on_captured_authorization(name: str) -> None:
    """The open-source Josev decodes the captured AuthorizationReq with EXIficient, re-encodes the signed element
    with EXIficient and verifies it with its own security code: the same fragment bytes as ours, and valid."""
    from .test_interop_josev_security import peer

    r = replay(name)
    (k,) = [i for i, m in enumerate(r.requests) if "AuthorizationReq" in m["V2G_Message"]["Body"]]
    leaf = _contract_chain(r)[0]
    _, body = r.one("AuthorizationReq")
    res = peer(
        {
            "op": "verify_our_signature",
            "exi": base64.b64encode(r.request_exi[k]).decode(),
            "cert": base64.b64encode(leaf.public_bytes(serialization.Encoding.DER)).decode(),
        }
    )
    assert res["fragment"] == xmlsig.fragment("iso2", "AuthorizationReq", body).hex()
    assert res["ok"] is True
