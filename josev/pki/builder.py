"""Build a complete ISO 15118 test PKI in memory with ``cryptography``.

:func:`build_pki` follows the table in :mod:`josev.pki.profiles`; the result is a :class:`Pki` holding every
certificate and private key. Writing it to disk is :mod:`josev.pki.store`'s job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from collections.abc import Iterable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from josev.pki.profiles import BY_NAME, CERTS, ISO2, CertSpec, KeyType, KeyUsage, Profile

PrivateKey = ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey
"""The private key types a V2G PKI uses."""


class PkiError(Exception):
    """A PKI could not be built, read or used; the message says which file or certificate and why."""


@dataclasses.dataclass(frozen=True)
class Override:
    """Per-certificate deviations from the profile (tests use these for expired or odd certificates)."""

    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    common_name: str | None = None
    organization: str | None = None
    serial: int | None = None


@dataclasses.dataclass
class Issued:
    """One certificate with its private key."""

    spec: CertSpec
    cert: x509.Certificate
    key: PrivateKey


@dataclasses.dataclass
class Pki:
    """A set of issued certificates of one profile, by name (see :data:`josev.pki.profiles.CERTS`)."""

    profile: Profile
    items: dict[str, Issued]

    def cert(self, name: str) -> x509.Certificate:
        """The certificate called ``name``."""
        return self.items[name].cert

    def key(self, name: str) -> PrivateKey:
        """The private key of certificate ``name``."""
        return self.items[name].key


def generate_key(key_type: KeyType) -> PrivateKey:
    """A fresh private key of ``key_type``."""
    if key_type is KeyType.SECP256R1:
        return ec.generate_private_key(ec.SECP256R1())
    if key_type is KeyType.SECP521R1:
        return ec.generate_private_key(ec.SECP521R1())
    return ed448.Ed448PrivateKey.generate()


def _hash(profile: Profile) -> hashes.SHA256 | hashes.SHA512 | None:
    if profile.hash_name is None:
        return None
    return hashes.SHA512() if profile.hash_name == "sha512" else hashes.SHA256()


def _name(spec: CertSpec, ov: Override, organization: str) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COMMON_NAME, ov.common_name or spec.common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ov.organization or organization),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
    ]
    if spec.domain_component is not None:
        attrs.append(x509.NameAttribute(NameOID.DOMAIN_COMPONENT, spec.domain_component))
    return x509.Name(attrs)


def _key_usage(usage: Iterable[KeyUsage]) -> x509.KeyUsage:
    flags = {u.value: False for u in KeyUsage}
    for u in usage:
        flags[u.value] = True
    return x509.KeyUsage(
        digital_signature=flags["digital_signature"],
        content_commitment=flags["content_commitment"],
        key_encipherment=flags["key_encipherment"],
        data_encipherment=False,
        key_agreement=flags["key_agreement"],
        key_cert_sign=flags["key_cert_sign"],
        crl_sign=flags["crl_sign"],
        encipher_only=False,
        decipher_only=False,
    )


def usage_for(spec: CertSpec, public_key: object) -> frozenset[KeyUsage]:
    """Key usage of ``spec`` for this key: Ed448 keys sign only, so keyAgreement is dropped (RFC 8410)."""
    if isinstance(public_key, ed448.Ed448PublicKey):
        return spec.usage - {KeyUsage.KEY_AGREEMENT}
    return spec.usage


def issue(
    spec: CertSpec,
    profile: Profile,
    key: PrivateKey,
    issuer: Issued | None,
    now: dt.datetime,
    *,
    validity_days: int | None = None,
    override: Override | None = None,
    organization: str = "josev test PKI",
    serial: int | None = None,
) -> Issued:
    """Issue one certificate for ``spec`` signed by ``issuer`` (self-signed when ``issuer`` is None)."""
    ov = override or Override()
    subject = _name(spec, ov, organization)
    not_before = ov.not_before or (now - dt.timedelta(minutes=5))
    not_after = ov.not_after or (now + dt.timedelta(days=validity_days or spec.validity_days))
    pub = key.public_key()
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(pub)
        .serial_number(serial if serial is not None else ov.serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=spec.ca, path_length=spec.path_length), critical=True)
        .add_extension(_key_usage(usage_for(spec, pub)), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    )
    signer = key
    if issuer is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        signer = issuer.key
    if spec.server_auth:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        b = b.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(ov.common_name or spec.common_name),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
    if spec.client_auth:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    cert = b.sign(signer, _hash(profile))
    return Issued(spec, cert, key)


def build_pki(
    profile: Profile = ISO2,
    *,
    now: dt.datetime | None = None,
    names: Iterable[str] | None = None,
    validity_days: Mapping[str, int] | None = None,
    overrides: Mapping[str, Override] | None = None,
    organization: str = "josev test PKI",
) -> Pki:
    """Build the PKI of ``profile``.

    ``names`` limits which certificates are made (their issuers are always made too); ``validity_days`` and
    ``overrides`` adjust single certificates, e.g. ``{"secc_leaf": Override(common_name=evse_id)}``.
    OCPP (CSMS) certificates always use the ECDSA curve of the profile, or secp256r1 under Ed448, because
    OCPP clients rarely accept Ed448.
    """
    now = now or dt.datetime.now(dt.UTC)
    wanted = _with_issuers(names) if names is not None else {c.name for c in CERTS}
    unknown = [n for n in (validity_days or {}) if n not in BY_NAME] + [
        n for n in (overrides or {}) if n not in BY_NAME
    ]
    if unknown:
        raise PkiError(f"unknown certificate name(s): {', '.join(sorted(unknown))}")
    items: dict[str, Issued] = {}
    for spec in CERTS:
        if spec.name not in wanted:
            continue
        key_type = profile.key_type
        prof = profile
        if not spec.iso15118 and key_type is KeyType.ED448:
            key_type, prof = KeyType.SECP256R1, ISO2
        issuer = items[spec.issuer] if spec.issuer else None
        items[spec.name] = issue(
            spec,
            prof,
            generate_key(key_type),
            issuer,
            now,
            validity_days=(validity_days or {}).get(spec.name),
            override=(overrides or {}).get(spec.name),
            organization=organization,
        )
    return Pki(profile, items)


def _with_issuers(names: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for n in names:
        if n not in BY_NAME:
            raise PkiError(f"unknown certificate name: {n}")
        spec: CertSpec | None = BY_NAME[n]
        while spec is not None:
            out.add(spec.name)
            spec = BY_NAME[spec.issuer] if spec.issuer else None
    return out
