"""A certificate provisioning service (CPS) for tests and the reference station: answers an EV's ISO 15118-2
CertificateInstallationReq / CertificateUpdateReq with a CertificateInstallationRes / UpdateRes built from a
``josev pki`` PKI (sans-IO; the CSMS stand-in calls it for Get15118EVCertificate).

The response carries the CPS chain (SAProvisioningCertificateChain), the contract chain, the contract private key
encrypted for the EV (:mod:`josev.pnc.keywrap`, ECDH with the OEM provisioning key or the old contract key), the
ephemeral DH public key and the EMAID, and in its header the CPS leaf's signature over those four elements, as
ISO 15118-2 [V2G2-811..825] describes. The request's own signature (by the OEM provisioning / old contract key) is
checked first; a bad one is refused.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448

from josev.pnc import PncError, contract, keywrap, xmlsig

SIGNED = ("ContractSignatureCertChain", "ContractSignatureEncryptedPrivateKey", "DHpublickey", "eMAID")
IDS = {
    "ContractSignatureCertChain": "id1",
    "ContractSignatureEncryptedPrivateKey": "id2",
    "DHpublickey": "id3",
    "eMAID": "id4",
}


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


def _der(pki: Any, name: str) -> bytes:
    return bytes(pki.cert(name).public_bytes(serialization.Encoding.DER))


def answer_iso2(pki: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The response V2G_Message (dict) to a decoded CertificateInstallationReq / CertificateUpdateReq message.

    Raises :class:`PncError` when the request is unusable (bad signature, unknown key)."""
    v2g = request["V2G_Message"]
    name, body = next(iter(v2g["Body"].items()))
    if name == "CertificateInstallationReq":
        ev_cert = contract.load_der(body["OEMProvisioningCert"], "OEM provisioning certificate")
        res_name = "CertificateInstallationRes"
    elif name == "CertificateUpdateReq":
        ev_cert = contract.load_der(body["ContractSignatureCertChain"]["Certificate"], "contract certificate")
        res_name = "CertificateUpdateRes"
    else:
        raise PncError("FAILED", f"{name} is not a certificate request")
    ev_key = ev_cert.public_key()
    if not isinstance(ev_key, ec.EllipticCurvePublicKey):
        raise PncError("FAILED_CertChainError", "the EV's key is not a P-256 key")
    xmlsig.verify(
        v2g["Header"].get("Signature"),
        [(body["Id"], xmlsig.fragment("iso2", name, body))],
        ev_key,
        [xmlsig.ISO2],
    )
    res = answer_body(pki, request)
    if res_name == "CertificateUpdateRes":
        res["RetryCounter"] = 0
    cps_key = pki.key("cps_leaf")
    assert isinstance(cps_key, ec.EllipticCurvePrivateKey)
    refs = [(IDS[e], xmlsig.fragment("iso2", e, res[e])) for e in SIGNED]
    header = {"SessionID": v2g["Header"]["SessionID"], "Signature": xmlsig.sign(xmlsig.ISO2, cps_key, refs)}
    return {"V2G_Message": {"Header": header, "Body": {res_name: res}}}


def answer_body(pki: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The response body (without the header signature) for the EV that signed ``request``: the PKI's contract,
    its key encrypted for the EV's key."""
    v2g = request["V2G_Message"]
    name, body = next(iter(v2g["Body"].items()))
    field = "OEMProvisioningCert" if name == "CertificateInstallationReq" else None
    der = body[field] if field else body["ContractSignatureCertChain"]["Certificate"]
    ev_key = contract.load_der(der, "EV certificate").public_key()
    if not isinstance(ev_key, ec.EllipticCurvePublicKey):
        raise PncError("FAILED_CertChainError", "the EV's key is not a P-256 key")
    contract_key = pki.key("contract_leaf")
    assert isinstance(contract_key, ec.EllipticCurvePrivateKey)
    dh, encrypted = keywrap.encrypt_iso2(contract_key, ev_key)
    emaid = contract.common_name(pki.cert("contract_leaf"))
    res: dict[str, Any] = {
        "ResponseCode": "OK",
        "SAProvisioningCertificateChain": {
            "Certificate": _b64(_der(pki, "cps_leaf")),
            "SubCertificates": {
                "Certificate": [_b64(_der(pki, "cps_sub_ca2")), _b64(_der(pki, "cps_sub_ca1"))]
            },
        },
        "ContractSignatureCertChain": {
            "Id": IDS["ContractSignatureCertChain"],
            "Certificate": _b64(_der(pki, "contract_leaf")),
            "SubCertificates": {
                "Certificate": [_b64(_der(pki, "mo_sub_ca2")), _b64(_der(pki, "mo_sub_ca1"))]
            },
        },
        "ContractSignatureEncryptedPrivateKey": {
            "Id": IDS["ContractSignatureEncryptedPrivateKey"],
            "value": _b64(encrypted),
        },
        "DHpublickey": {"Id": IDS["DHpublickey"], "value": _b64(dh)},
        "eMAID": {"Id": IDS["eMAID"], "value": emaid},
    }
    return res


def verify_iso2_response(response: dict[str, Any], v2g_roots: list[Any], at: Any) -> contract.Chain:
    """The EV side: the CPS chain up to a V2G root and its signature over the four elements; returns the CPS
    chain. Raises :class:`PncError`."""
    v2g = response["V2G_Message"]
    body = next(iter(v2g["Body"].values()))
    sa = body["SAProvisioningCertificateChain"]
    leaf = contract.load_der(sa["Certificate"], "CPS certificate")
    subs = [
        contract.load_der(c, "CPS Sub-CA") for c in (sa.get("SubCertificates") or {}).get("Certificate", [])
    ]
    chain = contract.validate(leaf, subs, v2g_roots, at, protocol="iso2")
    refs = [(body[e]["Id"], xmlsig.fragment("iso2", e, body[e])) for e in SIGNED]
    xmlsig.verify(v2g["Header"].get("Signature"), refs, chain.public_key, [xmlsig.ISO2])
    return chain


# --- ISO 15118-20 -------------------------------------------------------------------------------------------

ISO20_SIGNED = "SignedInstallationData"
ISO20_SIGNED_ID = "ID1"
ISO20_NO_CERTIFICATE = "WARNING_NoCertificateAvailable"


def _chain20(pki: Any, leaf: str, subs: tuple[str, ...]) -> dict[str, Any]:
    return {
        "Certificate": _b64(_der(pki, leaf)),
        "SubCertificates": {"Certificate": [_b64(_der(pki, s)) for s in subs]},
    }


def _lists_root(root_ids: Any, root: Any) -> bool:
    ids = (root_ids or {}).get("RootCertificateID") or []
    ids = ids if isinstance(ids, list) else [ids]
    return any(
        int(i.get("X509SerialNumber", -1)) == root.serial_number
        and str(i.get("X509IssuerName", "")) == root.issuer.rfc4514_string()
        for i in ids
        if isinstance(i, dict)
    )


def _ev_key20(body: dict[str, Any]) -> tuple[Any, Any]:
    chain = body.get("OEMProvisioningCertificateChain") or {}
    cert = contract.load_der(chain.get("Certificate", ""), "OEM provisioning certificate")
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | ed448.Ed448PublicKey) or not any(
        s.key_fits(key) for s in xmlsig.ISO20_SUITES
    ):
        raise PncError("FAILED", "the OEM provisioning key is neither P-521 nor Ed448")
    return cert, key


def answer_iso20(pki: Any, request: dict[str, Any], remaining: int = 0) -> dict[str, Any]:
    """The ISO 15118-20 CertificateInstallationRes message (dict) to a decoded CertificateInstallationReq
    message, built from a ``josev pki`` -20 profile: the CPS chain, ``SignedInstallationData`` (the PKI's
    contract chain, the contract key encrypted for the EV's OEM provisioning key with ECDH P-521 and AES-GCM,
    :func:`josev.pnc.keywrap.encrypt_iso20`) and the CPS leaf's header signature over it.
    ``remaining``: RemainingContractCertificateChains (further contracts the CPS holds for this EV).

    Raises :class:`PncError` when the request cannot be answered: the EV's signature over
    OEMProvisioningCertificateChain does not verify (``FAILED_SignatureError``), the EV does not list the
    PKI's V2G root among its trusted roots, or its key is an Ed448 key (X448 key agreement is not implemented:
    ``WARNING_NoCertificateAvailable``)."""
    name, body = next(iter(request.items()))
    if name != "CertificateInstallationReq":
        raise PncError("FAILED", f"{name} is not an ISO 15118-20 certificate request")
    oem, ev_key = _ev_key20(body)
    chain = body["OEMProvisioningCertificateChain"]
    ref_id = str(chain.get("Id") or "")
    xmlsig.verify(
        body["Header"].get("Signature"),
        [(ref_id, xmlsig.fragment("iso20-cm", "OEMProvisioningCertificateChain", chain))],
        ev_key,
        xmlsig.ISO20_SUITES,
    )
    if not _lists_root(body.get("ListOfRootCertificateIDs"), pki.cert("v2g_root")):
        raise PncError(ISO20_NO_CERTIFICATE, "the EV does not trust the V2G root of this CPS")
    if not isinstance(ev_key, ec.EllipticCurvePublicKey):
        raise PncError(
            ISO20_NO_CERTIFICATE, "X448 key agreement (Ed448 OEM provisioning keys) is not implemented"
        )
    contract_key = pki.key("contract_leaf")
    assert isinstance(contract_key, ec.EllipticCurvePrivateKey)
    leaf = pki.cert("contract_leaf")
    dh, encrypted = keywrap.encrypt_iso20(contract_key, ev_key, contract.common_name(oem), leaf)
    signed = {
        "Id": ISO20_SIGNED_ID,
        "ContractCertificateChain": _chain20(pki, "contract_leaf", ("mo_sub_ca2", "mo_sub_ca1")),
        "ECDHCurve": "SECP521",
        "DHPublicKey": _b64(dh),
        "SECP521_EncryptedPrivateKey": _b64(encrypted),
    }
    cps_key = pki.key("cps_leaf")
    suite = next(s for s in xmlsig.ISO20_SUITES if s.key_fits(cps_key))
    signature = xmlsig.sign(
        suite, cps_key, [(ISO20_SIGNED_ID, xmlsig.fragment("iso20-cm", ISO20_SIGNED, signed))]
    )
    header = {**{k: v for k, v in body["Header"].items() if k != "Signature"}, "Signature": signature}
    res = {
        "Header": header,
        "ResponseCode": "OK",
        "EVSEProcessing": "Finished",
        "CPSCertificateChain": _chain20(pki, "cps_leaf", ("cps_sub_ca2", "cps_sub_ca1")),
        "SignedInstallationData": signed,
        "RemainingContractCertificateChains": remaining,
    }
    return {"CertificateInstallationRes": res}


def verify_iso20_response(response: dict[str, Any], v2g_roots: list[Any], at: Any) -> contract.Chain:
    """The EV side (ISO 15118-20): the CPS chain up to a trusted V2G root and its signature over
    ``SignedInstallationData``; returns the CPS chain. Raises :class:`PncError`."""
    body = response["CertificateInstallationRes"]
    cps_chain = body["CPSCertificateChain"]
    leaf = contract.load_der(cps_chain["Certificate"], "CPS certificate")
    subs = [
        contract.load_der(c, "CPS Sub-CA")
        for c in (cps_chain.get("SubCertificates") or {}).get("Certificate", [])
    ]
    chain = contract.validate(leaf, subs, v2g_roots, at, protocol="iso20")
    signed = body["SignedInstallationData"]
    refs = [(str(signed.get("Id") or ""), xmlsig.fragment("iso20-cm", ISO20_SIGNED, signed))]
    xmlsig.verify(body["Header"].get("Signature"), refs, chain.public_key, xmlsig.ISO20_SUITES)
    return chain
