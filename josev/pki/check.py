"""Validate a PKI: chain signatures, validity, profile conformance, key files.

:func:`check_pki` returns :class:`Finding` rows (``error`` or ``warning``); an empty list of errors means the
PKI is usable. ``josev pki check`` prints them and exits non-zero on errors.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.x509.oid import NameOID

from josev.pki.builder import Pki, usage_for
from josev.pki.profiles import BY_NAME, CertSpec, KeyType, KeyUsage, chain_of
from josev.pki.store import key_mode_ok

Severity = Literal["error", "warning"]


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem found by :func:`check_pki`."""

    severity: Severity
    cert: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.upper():7} {self.cert}: {self.message}"


def _pub_bytes(key: object) -> bytes:
    assert isinstance(key, ec.EllipticCurvePublicKey | ed448.Ed448PublicKey)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_type(cert: x509.Certificate) -> KeyType | None:
    pub = cert.public_key()
    if isinstance(pub, ed448.Ed448PublicKey):
        return KeyType.ED448
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return {"secp256r1": KeyType.SECP256R1, "secp521r1": KeyType.SECP521R1}.get(pub.curve.name)
    return None


def _usage_of(cert: x509.Certificate) -> set[KeyUsage] | None:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    out = set()
    for u in KeyUsage:
        if getattr(ku, u.value):
            out.add(u)
    return out


def check_cert(
    name: str, spec: CertSpec, cert: x509.Certificate, pki: Pki, now: dt.datetime
) -> list[Finding]:
    """Profile and validity checks of one certificate."""
    f: list[Finding] = []

    def err(msg: str) -> None:
        f.append(Finding("error", name, msg))

    if cert.version is not x509.Version.v3:
        err("not an X.509 v3 certificate")
    if now < cert.not_valid_before_utc:
        err(f"not yet valid (notBefore {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC)")
    if now > cert.not_valid_after_utc:
        err(f"expired (notAfter {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)")
    expected_kt = pki.profile.key_type
    if not spec.iso15118 and expected_kt is KeyType.ED448:
        expected_kt = KeyType.SECP256R1
    kt = _key_type(cert)
    if kt is not expected_kt:
        got = kt.value if kt else "unsupported"
        err(f"key type {got}, profile {pki.profile.name} wants {expected_kt.value}")
    h = cert.signature_hash_algorithm
    want_hash = pki.profile.hash_name if expected_kt is not KeyType.SECP256R1 else "sha256"
    if expected_kt is KeyType.ED448:
        want_hash = None
    if (h.name if h else None) != want_hash:
        err(f"signature hash {h.name if h else 'none'}, expected {want_hash or 'none (Ed448)'}")
    try:
        bc_ext = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        bc = bc_ext.value
        if not bc_ext.critical:
            err("basicConstraints not critical")
        if bc.ca != spec.ca:
            err(f"basicConstraints CA={bc.ca}, expected {spec.ca}")
        if bc.path_length != spec.path_length:
            err(f"pathLenConstraint {bc.path_length}, expected {spec.path_length}")
    except x509.ExtensionNotFound:
        err("basicConstraints missing")
    usage = _usage_of(cert)
    if usage is None:
        err("keyUsage missing")
    elif usage != set(want := usage_for(spec, cert.public_key())):
        err(f"keyUsage {sorted(u.name for u in usage)}, expected {sorted(u.name for u in want)}")
    try:
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        err("subjectKeyIdentifier missing")
    if spec.issuer is not None:
        try:
            cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        except x509.ExtensionNotFound:
            err("authorityKeyIdentifier missing")
    if spec.domain_component is not None:
        dcs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.DOMAIN_COMPONENT)]
        if dcs != [spec.domain_component]:
            err(f"subject DC={dcs}, expected DC={spec.domain_component}")
    if not cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        err("subject has no CN")
    return f


def _verify_sig(child: x509.Certificate, parent: x509.Certificate) -> str | None:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature) as exc:
        return str(exc) or type(exc).__name__
    return None


def check_pki(pki: Pki, now: dt.datetime, base: Path | None = None) -> list[Finding]:
    """Every check on ``pki`` at ``now``; with ``base`` (its folder) also the key files' modes."""
    findings: list[Finding] = []
    for name, item in pki.items.items():
        spec = BY_NAME[name]
        findings += check_cert(name, spec, item.cert, pki, now)
        if _pub_bytes(item.key.public_key()) != _pub_bytes(item.cert.public_key()):
            findings.append(Finding("error", name, "private key does not match the certificate"))
        if spec.issuer is None:
            if (why := _verify_sig(item.cert, item.cert)) is not None:
                findings.append(Finding("error", name, f"self-signature does not verify: {why}"))
            continue
        if spec.issuer not in pki.items:
            findings.append(Finding("error", name, f"issuer {spec.issuer} missing"))
            continue
        parent = pki.cert(spec.issuer)
        if (why := _verify_sig(item.cert, parent)) is not None:
            findings.append(Finding("error", name, f"not issued by {spec.issuer}: {why}"))
        if item.cert.not_valid_after_utc > parent.not_valid_after_utc:
            findings.append(Finding("warning", name, f"outlives its issuer {spec.issuer}"))
        # path length: number of CA certificates below each CA on this path
        path = chain_of(name)
        for depth, ca_name in enumerate(path[1:], start=0):
            ca_cert = pki.items.get(ca_name)
            if ca_cert is None:
                break
            bc = ca_cert.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            intermediates_below = depth
            if bc.path_length is not None and intermediates_below > bc.path_length:
                findings.append(
                    Finding("error", name, f"path length of {ca_name} ({bc.path_length}) exceeded")
                )
    if base is not None:
        for key_file in sorted((base / "keys").glob("*.key")):
            if not key_mode_ok(key_file):
                findings.append(
                    Finding("error", key_file.stem, f"{key_file} is readable by group/others (chmod 600)")
                )
    return findings


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint, colon separated hex."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()
