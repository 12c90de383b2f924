"""Test PKI made with ``cryptography``: roots, a CSMS server certificate, firmware signing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        c, k = folder / f"{name}.pem", folder / f"{name}.key"
        c.write_text(self.pem)
        k.write_text(self.key_pem())
        return c, k


def make_cert(
    cn: str,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    san: list[str] | None = None,
    days: int = 30,
    not_before: dt.datetime | None = None,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in san]), critical=False)
    cert = b.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(cert, key)


def sign(data: bytes, signer: Issued) -> bytes:
    return signer.key.sign(data, ec.ECDSA(hashes.SHA256()))
