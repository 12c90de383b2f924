"""OCSP answers for contract chains (RFC 6960), checked by the station itself (sans-IO).

The SECC gets the DER OCSPResponse of a certificate through the OCPP service (GetCertificateStatus); this module
decides what it says: ``good``, ``revoked`` or ``unknown``, and ``invalid`` for an answer that cannot be trusted
(not successful, not about this certificate, not signed by the issuer or by a responder the issuer delegated
with the OCSPSigning extended key usage, outside its thisUpdate / nextUpdate window). Facts from RFC 6960; the
code is ours.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

GOOD = "good"
REVOKED = "revoked"
UNKNOWN = "unknown"
INVALID = "invalid"
#: clock difference tolerated between the responder and the station
SKEW = dt.timedelta(minutes=5)


@dataclasses.dataclass(frozen=True)
class Status:
    """What an OCSP answer says about one certificate."""

    status: str  # good, revoked, unknown, invalid
    detail: str = ""


def _key_bits(key: object) -> bytes:
    """The subjectPublicKey BIT STRING contents (what issuerKeyHash / responder key hashes cover)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(key, ed448.Ed448PublicKey | ed25519.Ed25519PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raise ValueError(f"unsupported key type {type(key).__name__}")


def _hash(alg: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(alg)
    h.update(data)
    return h.finalize()


def _verify(signer: x509.Certificate, resp: ocsp.OCSPResponse) -> bool:
    key = signer.public_key()
    alg = resp.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and alg is not None:
            key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(alg))
        elif isinstance(key, rsa.RSAPublicKey) and alg is not None:
            key.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), alg)
        elif isinstance(key, ed448.Ed448PublicKey | ed25519.Ed25519PublicKey):
            key.verify(resp.signature, resp.tbs_response_bytes)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _names_signer(resp: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if resp.responder_key_hash is not None:
        # ResponderID byKey: SHA-1 of the key bits (RFC 6960 4.2.1), an identifier, not a security hash
        return resp.responder_key_hash == hashlib.sha1(_key_bits(cert.public_key())).digest()
    return resp.responder_name == cert.subject


def _signer(resp: ocsp.OCSPResponse, issuer: x509.Certificate, at: dt.datetime) -> x509.Certificate | None:
    """The issuer itself, or a delegated responder certificate the issuer signed for OCSP signing."""
    if _names_signer(resp, issuer):
        return issuer
    for cert in resp.certificates:
        if not _names_signer(resp, cert) or cert.issuer != issuer.subject:
            continue
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if (
            ExtendedKeyUsageOID.OCSP_SIGNING in eku
            and cert.not_valid_before_utc <= at <= cert.not_valid_after_utc
        ):
            return cert
    return None


def check(der: bytes, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> Status:
    """The status of ``cert`` (issued by ``issuer``) in the DER OCSPResponse ``der``, at time ``at``."""
    try:
        resp = ocsp.load_der_ocsp_response(der)
    except ValueError:
        return Status(INVALID, "not a DER OCSPResponse")
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return Status(INVALID, f"responder answered {resp.response_status.name}")
    signer = _signer(resp, issuer, at)
    if signer is None:
        return Status(INVALID, "signed neither by the issuer nor by a responder it delegated")
    if not _verify(signer, resp):
        return Status(INVALID, "the response signature does not verify")
    try:
        key_bits = _key_bits(issuer.public_key())
    except ValueError as e:
        return Status(INVALID, str(e))
    for single in resp.responses:
        alg = single.hash_algorithm
        if (
            single.serial_number != cert.serial_number
            or single.issuer_name_hash != _hash(alg, issuer.subject.public_bytes())
            or single.issuer_key_hash != _hash(alg, key_bits)
        ):
            continue
        if single.this_update_utc > at + SKEW:
            return Status(INVALID, "thisUpdate is in the future")
        if single.next_update_utc is not None and single.next_update_utc < at - SKEW:
            return Status(INVALID, "the response is stale (nextUpdate passed)")
        if single.certificate_status == ocsp.OCSPCertStatus.GOOD:
            return Status(GOOD)
        if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            when = single.revocation_time_utc
            return Status(REVOKED, f"revoked {when.isoformat() if when else ''}".strip())
        return Status(UNKNOWN, "the responder does not know the certificate")
    return Status(INVALID, "the response is about another certificate")
