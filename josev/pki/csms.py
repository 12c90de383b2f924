"""The CSMS side of the certificate messages, on a test PKI (used by the CSMS stand-in
:mod:`josev.sim.csms`): signing a station's CSR, answering contract authorizations and OCSP requests.

Facts from OCPP 2.0.1 (SignCertificate, Authorize with ``iso15118CertificateHashData``, GetCertificateStatus)
and RFC 6960 (OCSP); a certificate is found by its OCSP identity (issuer name hash, issuer key hash, serial).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp

from josev.pki.builder import Pki
from josev.pki.signing import CsrError, sign_csr

ONE_DAY = dt.timedelta(days=1)


def sign(pki: Pki, payload: dict[str, Any]) -> tuple[str, str]:
    """(certificateChain, certificateType) for a SignCertificate request; ``ValueError`` for a bad CSR."""
    use = payload.get("certificateType", "ChargingStationCertificate")
    if use == "V2GCertificate":
        issuer, chain = "cpo_sub_ca2", [pki.cert("cpo_sub_ca2"), pki.cert("cpo_sub_ca1")]
    else:
        issuer, chain = "csms_root", []
    key = pki.key(issuer)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise CsrError(f"{issuer} key cannot sign X.509 certificates here")
    return sign_csr(payload["csr"], pki.cert(issuer), key, use=use, chain=chain), use


def authorize(payload: dict[str, Any], revoked: set[int]) -> dict[str, Any]:
    """Authorize: every token Accepted; with certificate hash data the certificateStatus too (CertificateRevoked
    when a serial is in ``revoked``)."""
    out: dict[str, Any] = {"idTokenInfo": {"status": "Accepted"}}
    hashes_ = payload.get("iso15118CertificateHashData")
    if hashes_ is not None or "certificate" in payload:
        serials = {int(h["serialNumber"], 16) for h in hashes_ or []}
        bad = serials & revoked
        out["certificateStatus"] = "CertificateRevoked" if bad else "Accepted"
        if bad:
            out["idTokenInfo"] = {"status": "Blocked"}
    return out


def _key_bits(key: Any) -> bytes:
    """The subjectPublicKey BIT STRING contents of a public key (what OCSP's issuerKeyHash hashes)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    raw: bytes = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw


def _identity(cert: x509.Certificate, issuer: x509.Certificate) -> tuple[str, str, str]:
    return (
        hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        hashlib.sha256(_key_bits(issuer.public_key())).hexdigest(),
        format(cert.serial_number, "x"),
    )


def find(pki: Pki, req: dict[str, Any]) -> tuple[x509.Certificate, x509.Certificate, str] | None:
    """(certificate, issuer, issuer name) of the PKI that an OCSPRequestDataType names (SHA256 only)."""
    if req.get("hashAlgorithm", "SHA256") != "SHA256":
        return None
    want = (
        req["issuerNameHash"].lower(),
        req["issuerKeyHash"].lower(),
        req["serialNumber"].lower().lstrip("0"),
    )
    for item in pki.items.values():
        if item.spec.issuer is None:
            continue
        issuer = pki.cert(item.spec.issuer)
        name, key, serial = _identity(item.cert, issuer)
        if (name, key, serial.lstrip("0")) == want:
            return item.cert, issuer, item.spec.issuer
    return None


def certificate_status(pki: Pki, payload: dict[str, Any], revoked: set[int]) -> dict[str, Any]:
    """GetCertificateStatus: a signed OCSP response for a certificate of the PKI, else Failed."""
    found = find(pki, payload["ocspRequestData"])
    if found is None:
        return {"status": "Failed", "statusInfo": {"reasonCode": "UnknownCertificate"}}
    cert, issuer, issuer_name = found
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    bad = cert.serial_number in revoked
    resp = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=cert,
            issuer=issuer,
            algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.REVOKED if bad else ocsp.OCSPCertStatus.GOOD,
            this_update=now,
            next_update=now + ONE_DAY,
            revocation_time=now if bad else None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
        .sign(pki.key(issuer_name), hashes.SHA256())
    )
    der = resp.public_bytes(serialization.Encoding.DER)
    return {"status": "Accepted", "ocspResult": base64.b64encode(der).decode()}


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint (hex) of a certificate."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
