"""The test PKI: structure (own checks and openssl as oracle), profiles, key file modes, expiry."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import DNSName
from cryptography.x509.verification import PolicyBuilder, Store

from josev.pki import Override, build_pki, check_pki, create, days_to_expiry, load_pki, write_pki
from josev.pki.profiles import CERTS, CHAIN_ROOT, CHAINS, ISO2, ISO20_ED448, ISO20_P521, PROFILES, Profile
from josev.pki.store import load_cert

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
OPENSSL = shutil.which("openssl") or ""


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pki")
    return create(out, list(PROFILES), josev_layout=True, secc_id="DE*ABC*E777*1", emaid="DEABCC1234567X")


@pytest.mark.parametrize("profile", list(PROFILES))
def test_structure_clean(written: dict[str, Path], profile: str) -> None:
    pki = load_pki(written[profile])
    assert set(pki.items) == {c.name for c in CERTS}
    now = dt.datetime.now(dt.UTC)
    assert [str(f) for f in check_pki(pki, now, written[profile])] == []


@pytest.mark.parametrize("profile", [ISO2, ISO20_P521, ISO20_ED448])
def test_profile_crypto(written: dict[str, Path], profile: Profile) -> None:
    pki = load_pki(written[profile.name])
    secc = pki.cert("secc_leaf")
    sig = secc.signature_algorithm_oid._name
    assert (
        sig
        == {"iso2": "ecdsa-with-SHA256", "iso20-p521": "ecdsa-with-SHA512", "iso20-ed448": "ed448"}[
            profile.name
        ]
    )
    dc = [a.value for a in secc.subject.get_attributes_for_oid(x509.NameOID.DOMAIN_COMPONENT)]
    assert dc == ["CPO"]
    assert secc.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "DE*ABC*E777*1"
    bc = pki.cert("cpo_sub_ca1").extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 1
    bc = pki.cert("cpo_sub_ca2").extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.value.path_length == 0
    ku = secc.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    assert ku.value.key_agreement == (profile is not ISO20_ED448)  # Ed448 only signs
    assert (
        load_cert(written[profile.name] / "certs" / "contract_leaf.der")
        .subject.rfc4514_string()
        .startswith("DC=MO,C=DE,O=josev test PKI,CN=DEABCC1234567X")
    )


@pytest.mark.skipif(not OPENSSL, reason="openssl CLI not installed")
@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("chain", list(CHAINS))
def test_chains_verify_with_openssl(written: dict[str, Path], profile: str, chain: str) -> None:
    d = written[profile]
    chain_file = d / "chains" / f"{chain}.pem"
    leaf = d / "certs" / f"{CHAINS[chain][0]}.pem"
    res = subprocess.run(
        [
            OPENSSL,
            "verify",
            "-x509_strict",
            "-CAfile",
            str(d / "certs" / f"{CHAIN_ROOT[chain]}.pem"),
            "-untrusted",
            str(chain_file),
            str(leaf),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 0 and res.stdout.strip().endswith("OK"), res.stdout + res.stderr


@pytest.mark.skipif(not OPENSSL, reason="openssl CLI not installed")
def test_openssl_refuses_foreign_chain(written: dict[str, Path]) -> None:
    d = written["iso2"]
    res = subprocess.run(
        [
            OPENSSL,
            "verify",
            "-CAfile",
            str(d / "certs" / "mo_root.pem"),
            "-untrusted",
            str(d / "chains" / "secc.pem"),
            str(d / "certs" / "secc_leaf.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode != 0


def test_csms_server_chain_verifies_as_web_pki(written: dict[str, Path]) -> None:
    pki = load_pki(written["iso2"])
    verifier = (
        PolicyBuilder()
        .store(Store([pki.cert("csms_root")]))
        .time(dt.datetime.now(dt.UTC))
        .build_server_verifier(DNSName("localhost"))
    )
    chain = verifier.verify(pki.cert("csms_server"), [])
    assert chain[-1] == pki.cert("csms_root")


def test_key_files_are_0600_even_with_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        victim = tmp_path / "iso2" / "keys" / "secc_leaf.key"
        victim.parent.mkdir(parents=True)
        victim.write_text("old")
        os.chmod(victim, 0o666)
        base = write_pki(build_pki(ISO2, names=["secc_leaf"]), tmp_path)
        jbase = create(tmp_path / "j", ["iso2"], josev_layout=True)["josev"]
    finally:
        os.umask(old)
    keys = list((base / "keys").iterdir())
    assert keys and all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    assert stat.S_IMODE((base / "keys").stat().st_mode) == 0o700
    jkeys = list((jbase / "iso15118_2" / "private_keys").iterdir())
    assert len(jkeys) == 21 and all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in jkeys)
    # certificates are public
    assert stat.S_IMODE((base / "certs" / "secc_leaf.pem").stat().st_mode) & 0o044


def test_check_finds_problems(tmp_path: Path) -> None:
    gone = Override(not_before=NOW - dt.timedelta(days=10), not_after=NOW - dt.timedelta(days=1))
    pki = build_pki(ISO2, now=NOW, overrides={"secc_leaf": gone})
    other = build_pki(ISO2, now=NOW, names=["cpo_sub_ca2"])
    pki.items["cpo_sub_ca2"] = other.items["cpo_sub_ca2"]  # signed by a foreign Sub-CA 1
    pki.items["contract_leaf"].key = other.key("cpo_sub_ca2")  # key of another certificate
    base = write_pki(pki, tmp_path)
    os.chmod(base / "keys" / "mo_root.key", 0o644)
    findings = [str(f) for f in check_pki(load_pki(base), NOW, base)]
    assert any(f.startswith("ERROR   secc_leaf: expired") for f in findings)
    assert any("cpo_sub_ca2: not issued by cpo_sub_ca1" in f for f in findings)
    assert any("contract_leaf: private key does not match" in f for f in findings)
    assert any("mo_root.key is readable by group/others" in f for f in findings)


def test_check_flags_wrong_profile() -> None:
    pki = build_pki(ISO20_P521, now=NOW, names=["secc_leaf"])
    pki.profile = ISO2  # claims -2, is -20
    findings = [str(f) for f in check_pki(pki, NOW)]
    assert any("key type secp521r1, profile iso2 wants secp256r1" in f for f in findings)
    assert any("signature hash sha512, expected sha256" in f for f in findings)


def test_days_to_expiry() -> None:
    pki = build_pki(ISO2, now=NOW, names=["secc_leaf"], validity_days={"secc_leaf": 30})
    days = days_to_expiry({n: i.cert for n, i in pki.items.items()}, NOW + dt.timedelta(days=10, hours=1))
    assert days["secc_leaf"] == 19
    assert days["v2g_root"] == 40 * 365 - 11
    later = days_to_expiry({"secc_leaf": pki.cert("secc_leaf")}, NOW + dt.timedelta(days=30, hours=1))
    assert later["secc_leaf"] == -1  # expired within the last day


def test_josev_layout_keys_encrypted(written: dict[str, Path]) -> None:
    keys = written["josev"] / "iso15118_2" / "private_keys"
    pem = (keys / "seccLeaf.key").read_bytes()
    assert b"BEGIN EC PRIVATE KEY" in pem and b"ENCRYPTED" in pem
    assert (keys / "seccLeafPassword.txt").read_text().strip() == "12345"
    serialization.load_pem_private_key(pem, b"12345")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, None)
    certs = written["josev"] / "iso15118_2" / "certs"
    chain = x509.load_pem_x509_certificates((certs / "cpoCertChain.pem").read_bytes())
    assert [c.subject.rfc4514_string().split(",")[-1] for c in chain] == [
        "CN=DE*ABC*E777*1",
        "CN=CPOSubCA2",
        "CN=CPOSubCA1",
    ]
    root = x509.load_der_x509_certificate((certs / "v2gRootCACert.der").read_bytes())
    assert chain[2].issuer == root.subject
    chain[2].verify_directly_issued_by(root)


def test_ed448_leaves_have_no_key_agreement() -> None:
    pki = build_pki(ISO20_ED448, now=NOW, names=["secc_leaf", "oem_prov_leaf"])
    for name in ("secc_leaf", "oem_prov_leaf"):
        ku = pki.cert(name).extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.digital_signature and not ku.key_agreement
    assert check_pki(pki, NOW) == []


def test_key_errors_never_contain_key_material(tmp_path: Path) -> None:
    from josev.pki import PkiError
    from josev.pki.store import key_pem, load_key

    pem = key_pem(build_pki(ISO2, now=NOW, names=["v2g_root"]).key("v2g_root"))
    broken = tmp_path / "broken.key"
    broken.write_bytes(pem.replace(b"\n", b"\n#", 3))
    with pytest.raises(PkiError) as info:
        load_key(broken)
    body = pem.decode().splitlines()[1]
    assert "broken.key" in str(info.value) and body not in str(info.value) and "BEGIN" not in str(info.value)
