"""Contract (and provisioning) certificate chains of Plug & Charge: parse, validate against the trust anchors the
station holds, EMAID rules, and the OCSP certificate hash data that OCPP 2.0.1 carries (sans-IO).

The checks are the ones ISO 15118-2 (PaymentDetails, 7.9.2.3) and -20 (AuthorizationSetup/Authorization) ask of
the SECC: at most two Sub-CAs, every signature up to an installed root (MO root or V2G root), every certificate
valid at the given time, CA flags, path lengths and key usages, the key type of the protocol, and the EMAID the
EV sent matching the leaf. Each failure raises :class:`~josev.pnc.PncError` with the response code to answer.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import itertools
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from josev.pnc import PncError

CHAIN_ERROR = "FAILED_CertChainError"
EXPIRED = "FAILED_CertificateExpired"
REVOKED = "FAILED_CertificateRevoked"
NO_CERTIFICATE = "FAILED_NoCertificateAvailable"
MAX_SUB_CAS = 2

#: key types each protocol allows in a contract / provisioning chain
CURVES = {"iso2": frozenset({"secp256r1"}), "iso20": frozenset({"secp521r1", "ed448"})}


@dataclasses.dataclass(frozen=True)
class Chain:
    """A validated chain: the leaf, its Sub-CAs (leaf side first) and the trust anchor it leads to."""

    leaf: x509.Certificate
    sub_cas: tuple[x509.Certificate, ...]
    root: x509.Certificate

    @property
    def common_name(self) -> str:
        """The leaf's CN (the EMAID of a contract certificate, the PCID of a provisioning certificate)."""
        return common_name(self.leaf)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey | ed448.Ed448PublicKey:
        """The leaf's key (its type was checked by :func:`validate`)."""
        key = self.leaf.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey | ed448.Ed448PublicKey):
            raise PncError(CHAIN_ERROR, "the leaf key is neither EC nor Ed448")
        return key

    def hash_data(self) -> list[dict[str, str]]:
        """OCPP ``OCSPRequestDataType`` of the leaf and every Sub-CA (for Authorize / GetCertificateStatus)."""
        issuers = (*self.sub_cas, self.root)
        return [certificate_hash_data(c, i) for c, i in zip((self.leaf, *self.sub_cas), issuers, strict=True)]


def load_der(data: bytes | str, what: str) -> x509.Certificate:
    """A DER certificate from bytes or base64 text (as EXI messages carry it)."""
    if isinstance(data, str):
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise PncError(CHAIN_ERROR, f"{what}: not base64") from None
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise PncError(CHAIN_ERROR, f"{what}: not a DER X.509 certificate") from None


def common_name(cert: x509.Certificate) -> str:
    """The subject CN ('' when absent)."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def normalize_emaid(emaid: str) -> str:
    """An EMAID compared the way ISO 15118-2 Annex H writes it: case-insensitive, separators ignored."""
    return emaid.replace("-", "").replace(" ", "").upper()


def _key_type(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.curve.name
    return type(key).__name__


def _label(cert: x509.Certificate) -> str:
    return common_name(cert) or cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def validate(
    leaf: x509.Certificate,
    sub_cas: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    at: dt.datetime,
    *,
    protocol: str = "iso2",
    emaid: str | None = None,
) -> Chain:
    """Validate ``leaf`` and ``sub_cas`` (leaf side first) up to one of ``roots`` at time ``at``.

    Raises :class:`PncError`: ``FAILED_CertificateExpired`` for a certificate outside its validity,
    ``FAILED_CertChainError`` for anything else (unknown root, bad signature, CA flags, path length, key usage,
    key type, EMAID mismatch)."""
    if not roots:
        raise PncError(NO_CERTIFICATE, "no trust anchor (MO or V2G root) is installed", "unknown_root")
    if len(sub_cas) > MAX_SUB_CAS:
        raise PncError(CHAIN_ERROR, f"{len(sub_cas)} Sub-CAs (at most {MAX_SUB_CAS})")
    chain = [leaf, *sub_cas]
    allowed = CURVES[protocol]
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            state = "expired" if at > cert.not_valid_after_utc else "not yet valid"
            raise PncError(EXPIRED, f"{_label(cert)} is {state}", state.replace(" ", "_"))
        if _key_type(cert) not in allowed:
            raise PncError(CHAIN_ERROR, f"{_label(cert)}: {_key_type(cert)} key not allowed in {protocol}")
    for child, parent in itertools.pairwise(chain):
        if not _issued_by(child, parent):
            raise PncError(CHAIN_ERROR, f"{_label(child)} is not signed by {_label(parent)}")
    anchor = next((r for r in roots if _issued_by(chain[-1], r)), None)
    if anchor is None:
        raise PncError(CHAIN_ERROR, f"{_label(chain[-1])} does not lead to an installed root", "unknown_root")
    if not anchor.not_valid_before_utc <= at <= anchor.not_valid_after_utc:
        raise PncError(EXPIRED, f"root {_label(anchor)} is outside its validity")
    # CA flags, path lengths, key usages
    for depth, ca in enumerate(sub_cas):
        bc = _ext(ca, x509.BasicConstraints)
        if not isinstance(bc, x509.BasicConstraints) or not bc.ca:
            raise PncError(CHAIN_ERROR, f"{_label(ca)} is not a CA certificate")
        if bc.path_length is not None and bc.path_length < depth:
            raise PncError(CHAIN_ERROR, f"{_label(ca)}: path length {bc.path_length} exceeded")
        ku = _ext(ca, x509.KeyUsage)
        if not isinstance(ku, x509.KeyUsage) or not ku.key_cert_sign:
            raise PncError(CHAIN_ERROR, f"{_label(ca)} may not sign certificates (keyUsage)")
    bc = _ext(leaf, x509.BasicConstraints)
    if isinstance(bc, x509.BasicConstraints) and bc.ca:
        raise PncError(CHAIN_ERROR, f"leaf {_label(leaf)} is a CA certificate")
    ku = _ext(leaf, x509.KeyUsage)
    if not isinstance(ku, x509.KeyUsage) or not ku.digital_signature:
        raise PncError(CHAIN_ERROR, f"leaf {_label(leaf)} may not sign (keyUsage digitalSignature missing)")
    if emaid is not None and normalize_emaid(common_name(leaf)) != normalize_emaid(emaid):
        raise PncError(CHAIN_ERROR, f"EMAID {emaid!r} does not match the contract certificate")
    return Chain(leaf, tuple(sub_cas), anchor)


def ocsp_url(cert: x509.Certificate) -> str | None:
    """The OCSP responder URL of the Authority Information Access extension, if any."""
    aia = _ext(cert, x509.AuthorityInformationAccess)
    if not isinstance(aia, x509.AuthorityInformationAccess):
        return None
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            desc.access_location, x509.UniformResourceIdentifier
        ):
            return str(desc.access_location.value)
    return None


def certificate_hash_data(cert: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """OCPP 2.0.1 ``OCSPRequestDataType`` (SHA256): hashes of the issuer's DER name and public key bits, the
    serial number in hex without leading zeros, and the responder URL when the certificate names one."""
    key_der = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    out = {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(issuer.subject.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(_subject_public_key_bits(key_der)).hexdigest(),
        "serialNumber": f"{cert.serial_number:x}",
    }
    url = ocsp_url(cert)
    if url:
        out["responderURL"] = url
    return out


def _subject_public_key_bits(spki_der: bytes) -> bytes:
    """The content of the subjectPublicKey BIT STRING of a DER SubjectPublicKeyInfo (without the unused-bits
    octet): what RFC 6960 hashes as issuerKeyHash."""

    def header(data: bytes, pos: int) -> tuple[int, int]:  # -> (content start, content length)
        length = data[pos + 1]
        pos += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(data[pos : pos + n], "big")
            pos += n
        return pos, length

    start, _ = header(spki_der, 0)  # SEQUENCE SubjectPublicKeyInfo
    alg_start, alg_len = header(spki_der, start)  # SEQUENCE AlgorithmIdentifier
    bits_start, bits_len = header(spki_der, alg_start + alg_len)  # BIT STRING
    return spki_der[bits_start + 1 : bits_start + bits_len]
