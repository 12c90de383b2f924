"""Certificate profiles of the ISO 15118 V2G PKI (ISO 15118-2 Annex F, ISO 15118-20).

A :class:`Profile` fixes the cryptography (key type, signature hash); the table :data:`CERTS` fixes the
hierarchy: who issues whom, basic constraints and path length, key usage, the subject's domain component and
the default validity. Nothing here touches the disk; :mod:`josev.pki.builder` turns it into certificates.

Cryptography per profile:

* ``iso2``: ECDSA on secp256r1 with SHA-256 (ISO 15118-2).
* ``iso20-p521``: ECDSA on secp521r1 with SHA-512 (ISO 15118-20).
* ``iso20-ed448``: Ed448 (ISO 15118-20; the signature has no separate hash).

Hierarchy (``issuer -> subject``)::

    v2g_root -> cpo_sub_ca1 -> cpo_sub_ca2 -> secc_leaf
    v2g_root -> cps_sub_ca1 -> cps_sub_ca2 -> cps_leaf          (certificate provisioning service)
    mo_root  -> mo_sub_ca1  -> mo_sub_ca2  -> contract_leaf
    oem_root -> oem_sub_ca1 -> oem_sub_ca2 -> oem_prov_leaf
    csms_root -> csms_server, csms_root -> cs_client            (OCPP TLS, not part of ISO 15118)

Sub-CA 1 carries pathLenConstraint 1, Sub-CA 2 pathLenConstraint 0, roots none; leaves are CA:FALSE. All
CA certificates have keyCertSign + cRLSign, all certificates a subject key identifier, all non-root ones an
authority key identifier. The subject's DC names the branch (V2G for the V2G root, CPO for the CPO sub-CAs and
the SECC leaf, CPS, MO, OEM), as in the dSPACE test PKI seen in the TLS captures of ``../shared/captures``. The default validity periods are test defaults chosen inside the bounds the
standard and the Hubject certificate policy give (roots 40 years, sub-CAs 4 and 2 years, SECC leaf 1 year,
contract 2 years); every one is adjustable through ``validity_days`` of :func:`josev.pki.builder.build_pki`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping


class KeyType(enum.Enum):
    """Key algorithm of every certificate in one PKI."""

    SECP256R1 = "secp256r1"
    SECP521R1 = "secp521r1"
    ED448 = "ed448"


@dataclasses.dataclass(frozen=True)
class Profile:
    """The cryptographic profile of one PKI."""

    name: str
    """Short name used on the command line and as folder name (``iso2``, ``iso20-p521``, ``iso20-ed448``)."""
    key_type: KeyType
    hash_name: str | None
    """Signature hash (``sha256``/``sha512``); ``None`` for Ed448, which hashes internally."""
    standard: str
    """The standard the profile implements (``ISO 15118-2`` or ``ISO 15118-20``)."""


ISO2 = Profile("iso2", KeyType.SECP256R1, "sha256", "ISO 15118-2")
ISO20_P521 = Profile("iso20-p521", KeyType.SECP521R1, "sha512", "ISO 15118-20")
ISO20_ED448 = Profile("iso20-ed448", KeyType.ED448, None, "ISO 15118-20")

PROFILES: Mapping[str, Profile] = {p.name: p for p in (ISO2, ISO20_P521, ISO20_ED448)}
"""Every profile by name."""


class KeyUsage(enum.Enum):
    """The key usage bits this PKI uses (RFC 5280 names)."""

    DIGITAL_SIGNATURE = "digital_signature"
    NON_REPUDIATION = "content_commitment"
    KEY_ENCIPHERMENT = "key_encipherment"
    KEY_AGREEMENT = "key_agreement"
    KEY_CERT_SIGN = "key_cert_sign"
    CRL_SIGN = "crl_sign"


CA_USAGE = frozenset({KeyUsage.KEY_CERT_SIGN, KeyUsage.CRL_SIGN})
TLS_LEAF_USAGE = frozenset({KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT})
CONTRACT_USAGE = frozenset({KeyUsage.DIGITAL_SIGNATURE, KeyUsage.NON_REPUDIATION})
OCPP_LEAF_USAGE = frozenset({KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT})


@dataclasses.dataclass(frozen=True)
class CertSpec:
    """One certificate of the hierarchy (a row of :data:`CERTS`)."""

    name: str
    """File stem and key in the manifest (``secc_leaf``...)."""
    issuer: str | None
    """Name of the issuing certificate; ``None`` for a self-signed root."""
    ca: bool
    path_length: int | None
    """pathLenConstraint of a CA (``None``: unlimited / not a CA)."""
    usage: frozenset[KeyUsage]
    domain_component: str | None
    """The DC attribute of the subject (``V2G``, ``CPO``, ``MO``, ``OEM``, ``CPS``), None for OCPP certs."""
    common_name: str
    """Default common name (the SECC leaf, contract and provisioning leaves get identifiers here)."""
    validity_days: int
    role: str
    """Human description shown by ``josev pki show``."""
    iso15118: bool = True
    """False for the OCPP (CSMS) certificates, which follow the OCPP security whitepaper, not Annex F."""
    server_auth: bool = False
    """Add extendedKeyUsage serverAuth and a subjectAltName (OCPP server certificate)."""
    client_auth: bool = False
    """Add extendedKeyUsage clientAuth (OCPP charging-station certificate)."""


_Y = 365

CERTS: tuple[CertSpec, ...] = (
    CertSpec("v2g_root", None, True, None, CA_USAGE, "V2G", "V2GRootCA", 40 * _Y, "V2G root CA"),
    CertSpec("cpo_sub_ca1", "v2g_root", True, 1, CA_USAGE, "CPO", "CPOSubCA1", 4 * _Y, "CPO Sub-CA 1"),
    CertSpec("cpo_sub_ca2", "cpo_sub_ca1", True, 0, CA_USAGE, "CPO", "CPOSubCA2", 2 * _Y, "CPO Sub-CA 2"),
    CertSpec(
        "secc_leaf", "cpo_sub_ca2", False, None, TLS_LEAF_USAGE, "CPO", "DE*JSV*E0001*1", _Y, "SECC leaf"
    ),
    CertSpec("cps_sub_ca1", "v2g_root", True, 1, CA_USAGE, "CPS", "ProvSubCA1", 4 * _Y, "CPS Sub-CA 1"),
    CertSpec("cps_sub_ca2", "cps_sub_ca1", True, 0, CA_USAGE, "CPS", "ProvSubCA2", 2 * _Y, "CPS Sub-CA 2"),
    CertSpec(
        "cps_leaf",
        "cps_sub_ca2",
        False,
        None,
        frozenset({KeyUsage.DIGITAL_SIGNATURE}),
        "CPS",
        "CPS Leaf",
        90,
        "certificate provisioning service leaf",
    ),
    CertSpec("mo_root", None, True, None, CA_USAGE, "MO", "MORootCA", 40 * _Y, "MO root CA"),
    CertSpec("mo_sub_ca1", "mo_root", True, 1, CA_USAGE, "MO", "MOSubCA1", 4 * _Y, "MO Sub-CA 1"),
    CertSpec("mo_sub_ca2", "mo_sub_ca1", True, 0, CA_USAGE, "MO", "MOSubCA2", 2 * _Y, "MO Sub-CA 2"),
    CertSpec(
        "contract_leaf",
        "mo_sub_ca2",
        False,
        None,
        CONTRACT_USAGE,
        "MO",
        "DEJSVC000000011",  # 15 characters: ISO 15118-2 eMAIDType allows 14..15
        2 * _Y,
        "contract certificate (CN = EMAID)",
    ),
    CertSpec("oem_root", None, True, None, CA_USAGE, "OEM", "OEMRootCA", 40 * _Y, "OEM root CA"),
    CertSpec("oem_sub_ca1", "oem_root", True, 1, CA_USAGE, "OEM", "OEMSubCA1", 10 * _Y, "OEM Sub-CA 1"),
    CertSpec("oem_sub_ca2", "oem_sub_ca1", True, 0, CA_USAGE, "OEM", "OEMSubCA2", 5 * _Y, "OEM Sub-CA 2"),
    CertSpec(
        "oem_prov_leaf",
        "oem_sub_ca2",
        False,
        None,
        TLS_LEAF_USAGE,
        "OEM",
        "JSVPC000000000001",
        4 * _Y,
        "OEM provisioning / vehicle certificate (CN = PCID)",
    ),
    CertSpec(
        "csms_root",
        None,
        True,
        None,
        CA_USAGE,
        None,
        "josev test CSMS root CA",
        10 * _Y,
        "CSMS (OCPP) root CA",
        iso15118=False,
    ),
    CertSpec(
        "csms_server",
        "csms_root",
        False,
        None,
        OCPP_LEAF_USAGE,
        None,
        "localhost",
        _Y,
        "CSMS server (OCPP, SAN localhost/127.0.0.1/::1)",
        iso15118=False,
        server_auth=True,
    ),
    CertSpec(
        "cs_client",
        "csms_root",
        False,
        None,
        OCPP_LEAF_USAGE,
        None,
        "JSV-CS-0001",
        _Y,
        "charging station client (OCPP security profile 3)",
        iso15118=False,
        client_auth=True,
    ),
)
"""The whole hierarchy, issuers before subjects."""

BY_NAME: Mapping[str, CertSpec] = {c.name: c for c in CERTS}
"""Rows of :data:`CERTS` by name."""

ROOTS = ("v2g_root", "mo_root", "oem_root", "csms_root")
"""Self-signed trust anchors."""

CHAINS: Mapping[str, tuple[str, ...]] = {
    "secc": ("secc_leaf", "cpo_sub_ca2", "cpo_sub_ca1"),
    "cps": ("cps_leaf", "cps_sub_ca2", "cps_sub_ca1"),
    "contract": ("contract_leaf", "mo_sub_ca2", "mo_sub_ca1"),
    "oem": ("oem_prov_leaf", "oem_sub_ca2", "oem_sub_ca1"),
    "csms": ("csms_server",),
    "cs": ("cs_client",),
}
"""Chain files (leaf first, root excluded) a TLS endpoint presents, and the root each ends at."""

CHAIN_ROOT: Mapping[str, str] = {
    "secc": "v2g_root",
    "cps": "v2g_root",
    "contract": "mo_root",
    "oem": "oem_root",
    "csms": "csms_root",
    "cs": "csms_root",
}
"""Trust anchor of every chain in :data:`CHAINS`."""


def chain_of(name: str) -> list[str]:
    """Names from certificate ``name`` up to and including its root."""
    out = [name]
    spec = BY_NAME[name]
    while spec.issuer is not None:
        out.append(spec.issuer)
        spec = BY_NAME[spec.issuer]
    return out
