"""Signing certificate requests with a CA of the test PKI: what a CSMS does with a station's SignCertificate
CSR (OCPP 2.0.1 A02/A03: the ChargingStationCertificate; ISO 15118 support profile: the SECC leaf).

The subject and the public key come from the CSR (whose signature is checked); the issuer adds the X.509 v3
extensions of the certificate profile: not a CA, keyUsage digitalSignature + keyAgreement, for a
``ChargingStationCertificate`` extendedKeyUsage clientAuth (TLS client of security profile 3), subject and
authority key identifiers.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

CertificateUse = Literal["ChargingStationCertificate", "V2GCertificate"]


class CsrError(ValueError):
    """A CSR that cannot be signed (unreadable, bad signature); the text says which."""


def sign_csr(
    csr_pem: str,
    issuer_cert: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    use: CertificateUse = "ChargingStationCertificate",
    days: int = 365,
    now: dt.datetime | None = None,
    chain: list[x509.Certificate] | None = None,
) -> str:
    """The signed leaf in PEM, followed by ``chain`` (the issuer's sub-CAs, nearest first; not the root)."""
    try:
        req = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise CsrError("not a PEM PKCS#10 certificate signing request") from None
    if not req.is_signature_valid:
        raise CsrError("the CSR's signature does not verify")
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
    pub = req.public_key()
    if not isinstance(pub, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise CsrError("the CSR's key is neither EC nor RSA")
    builder = (
        x509.CertificateBuilder()
        .subject_name(req.subject)
        .issuer_name(issuer_cert.subject)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if use == "ChargingStationCertificate":
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    algorithm = hashes.SHA256()
    leaf = builder.sign(issuer_key, algorithm)
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in [leaf, *(chain or [])])
