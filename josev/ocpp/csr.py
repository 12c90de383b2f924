"""Station key pairs and certificate signing requests (A02/A03, ISO 15118 M-block SignV2GCertificate).

The key pair is generated on the station and never leaves it: the private key is written as PKCS#8 PEM with
mode 0600 from the first byte (its folder 0700), only the CSR (public key + subject, signed) goes to the CSMS.
Keys are ECDSA secp256r1 (OCPP 2.0.1 part 2 and ISO 15118-2 both accept it; the CSMS signs with it).

Subjects (OCPP 2.0.1 part 2, certificate properties; ISO 15118-2 SECC certificate):

* ``ChargingStationCertificate``: ``O`` = ``SecurityCtrlr.OrganizationName``, ``CN`` = the station's serial
  number.
* ``V2GCertificate``: ``CN`` = ``ISO15118Ctrlr.SeccId``, ``O`` = ``ISO15118Ctrlr.OrganizationName``,
  ``C`` = ``ISO15118Ctrlr.CountryName``, ``DC`` = ``CPO``.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KEY_MODE = 0o600
DIR_MODE = 0o700


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A fresh secp256r1 key pair."""
    return ec.generate_private_key(ec.SECP256R1())


def subject(
    common_name: str,
    organization: str | None = None,
    country: str | None = None,
    domain_component: str | None = None,
) -> x509.Name:
    """An X.509 name from its parts (empty parts left out)."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if domain_component:
        attrs.append(x509.NameAttribute(NameOID.DOMAIN_COMPONENT, domain_component))
    return x509.Name(attrs)


def build_csr(key: ec.EllipticCurvePrivateKey, name: x509.Name) -> str:
    """A PKCS#10 CSR in PEM signed with ``key`` (ecdsa-with-SHA256)."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def public_der(key: ec.EllipticCurvePublicKey | object) -> bytes:
    """DER SubjectPublicKeyInfo of a public key (for comparing keys)."""
    assert hasattr(key, "public_bytes")
    der: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write ``key`` as PKCS#8 PEM, mode 0600 from the first byte whatever the umask; atomically replaced."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path.parent, DIR_MODE)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    try:
        os.fchmod(fd, KEY_MODE)
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_private(path: Path) -> ec.EllipticCurvePrivateKey:
    """Load a key written by :func:`write_private` (ValueError naming the file if it is not one)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable private key ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return key


def write_public(path: Path, text: str) -> None:
    """Write a certificate (chain) file atomically, mode 0644."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
