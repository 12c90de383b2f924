"""Contract chains against the station's trust anchors: every rule, each failure with its response code."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from josev.pki import PROFILES, Override, Pki, build_pki
from josev.pnc import PncError, contract

from .conftest import NOW


def _chain(pki: Pki) -> tuple[x509.Certificate, list[x509.Certificate]]:
    return pki.cert("contract_leaf"), [pki.cert("mo_sub_ca2"), pki.cert("mo_sub_ca1")]


def test_valid_chain_to_mo_root(iso2_pki: Pki) -> None:
    leaf, subs = _chain(iso2_pki)
    chain = contract.validate(
        leaf,
        subs,
        [iso2_pki.cert("v2g_root"), iso2_pki.cert("mo_root")],
        NOW,
        emaid="de8eocab123456",
    )
    assert chain.root == iso2_pki.cert("mo_root")
    assert chain.common_name == "DE8EOCAB123456"
    assert contract.normalize_emaid("DE-8EO-CAB123456") == "DE8EOCAB123456"


def test_expired_and_not_yet_valid(iso2_pki: Pki) -> None:
    leaf, subs = _chain(iso2_pki)
    roots = [iso2_pki.cert("mo_root")]
    later = leaf.not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(PncError) as e:
        contract.validate(leaf, subs, roots, later)
    assert e.value.code == "FAILED_CertificateExpired" and "expired" in e.value.detail
    with pytest.raises(PncError) as e:
        contract.validate(leaf, subs, roots, leaf.not_valid_before_utc - dt.timedelta(days=1))
    assert e.value.code == "FAILED_CertificateExpired" and "not yet valid" in e.value.detail


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unknown-root", "does not lead to an installed root"),
        ("wrong-order", "is not signed by"),
        ("missing-sub", "does not lead to an installed root"),
        ("too-many", "at most 2"),
        ("emaid", "does not match the contract certificate"),
        ("iso20-keys", "key not allowed in iso20"),
        ("oem-leaf-under-mo", "does not lead to an installed root"),
    ],
)
def test_chain_errors(iso2_pki: Pki, other_pki: Pki, case: str, reason: str) -> None:
    leaf, subs = _chain(iso2_pki)
    roots = [iso2_pki.cert("mo_root"), iso2_pki.cert("v2g_root")]
    protocol, emaid = "iso2", None
    if case == "unknown-root":
        leaf, subs = _chain(other_pki)
    elif case == "wrong-order":
        subs = subs[::-1]
    elif case == "missing-sub":
        subs = subs[:1]
    elif case == "too-many":
        subs = [*subs, iso2_pki.cert("mo_root")]
    elif case == "emaid":
        emaid = "DE8EOCAB999999"
    elif case == "iso20-keys":
        protocol = "iso20"
    elif case == "oem-leaf-under-mo":
        roots = [iso2_pki.cert("mo_root")]
        leaf, subs = (
            iso2_pki.cert("oem_prov_leaf"),
            [iso2_pki.cert("oem_sub_ca2"), iso2_pki.cert("oem_sub_ca1")],
        )
    with pytest.raises(PncError) as e:
        contract.validate(leaf, subs, roots, NOW, protocol=protocol, emaid=emaid)
    assert e.value.code == "FAILED_CertChainError"
    assert reason in e.value.detail


def test_no_roots_and_ca_as_leaf(iso2_pki: Pki) -> None:
    leaf, subs = _chain(iso2_pki)
    with pytest.raises(PncError) as e:
        contract.validate(leaf, subs, [], NOW)
    assert e.value.code == "FAILED_NoCertificateAvailable"
    with pytest.raises(PncError, match="is a CA certificate"):
        contract.validate(subs[0], subs[1:], [iso2_pki.cert("mo_root")], NOW)


def test_expired_root_refused() -> None:
    pki = build_pki(
        PROFILES["iso2"],
        now=NOW,
        overrides={
            "mo_root": Override(not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=1))
        },
    )
    leaf, subs = _chain(pki)
    with pytest.raises(PncError) as e:
        contract.validate(leaf, subs, [pki.cert("mo_root")], NOW)
    assert e.value.code == "FAILED_CertificateExpired"


def test_load_der_errors() -> None:
    with pytest.raises(PncError, match="not base64"):
        contract.load_der("%%%", "contract certificate")
    with pytest.raises(PncError, match=r"not a DER X\.509"):
        contract.load_der(b"\x30\x03\x02\x01\x01", "contract certificate")


def test_certificate_hash_data_independently(iso2_pki: Pki) -> None:
    leaf, subs = _chain(iso2_pki)
    chain = contract.validate(leaf, subs, [iso2_pki.cert("mo_root")], NOW)
    data = chain.hash_data()
    assert len(data) == 3
    issuer = subs[0]
    # independent: RFC 6960 issuerKeyHash is SHA-256 over the public key bits; for an uncompressed P-256 point
    # they are the X9.62 encoding
    point = issuer.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert data[0] == {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(issuer.subject.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(point).hexdigest(),
        "serialNumber": f"{leaf.serial_number:x}",
    }
    assert (
        data[2]["issuerNameHash"]
        == hashlib.sha256(iso2_pki.cert("mo_root").subject.public_bytes()).hexdigest()
    )
