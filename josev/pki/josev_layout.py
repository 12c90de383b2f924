"""Write a PKI in the ``PKI_PATH`` layout the open-source Josev (PyPI ``iso15118``) reads.

That stack reads every certificate and key from ``$PKI_PATH/iso15118_2/`` - for ISO 15118-2 and, in its
current releases, for ISO 15118-20 too - and uses secp256r1 keys only. Its layout (learned from its
``shared/security.py`` and ``shared/pki/create_certs.sh``; nothing is copied from there)::

    iso15118_2/certs/<x>Cert.pem, <x>Cert.der      for x in v2gRootCA, cpoSubCA1/2, seccLeaf, cpsSubCA1/2,
                                                   cpsLeaf, oemRootCA, oemSubCA1/2, oemLeaf, moRootCA,
                                                   moSubCA1/2, contractLeaf
    iso15118_2/certs/cpoCertChain.pem              SECC leaf + CPO Sub-CA 2 + Sub-CA 1 (the SECC's TLS chain)
    iso15118_2/certs/oemCertChain.pem              OEM leaf + OEM Sub-CA 2 + Sub-CA 1 (EV's TLS 1.3 chain)
    iso15118_2/certs/intermediateMOCACerts.pem     MO Sub-CA 2 + Sub-CA 1
    iso15118_2/certs/intermediateCPSCACerts.pem    CPS Sub-CA 2 + Sub-CA 1
    iso15118_2/certs/moCertChain.p12, cpsCertChain.p12   PKCS#12 of the leaf, key and sub-CAs
    iso15118_2/private_keys/<x>.key                "EC PRIVATE KEY" PEM encrypted with the password
    iso15118_2/private_keys/moSubCA2.pkcs8.der     encrypted PKCS#8 DER of the MO Sub-CA 2 key
    iso15118_2/private_keys/<x>Password.txt        the password (seccLeaf, oemLeaf, contractLeaf, cpsLeaf,
                                                   moSubCA2Leaf)

Point that stack at it with ``PKI_PATH=DIR/josev/`` (trailing slash: it joins paths by string).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from josev.pki.builder import Pki, PkiError
from josev.pki.profiles import KeyType
from josev.pki.store import KEY_DIR_MODE, cert_pem, chain_pem, key_pem, write_private

JOSEV_NAMES: dict[str, str] = {
    "v2g_root": "v2gRootCA",
    "cpo_sub_ca1": "cpoSubCA1",
    "cpo_sub_ca2": "cpoSubCA2",
    "secc_leaf": "seccLeaf",
    "cps_sub_ca1": "cpsSubCA1",
    "cps_sub_ca2": "cpsSubCA2",
    "cps_leaf": "cpsLeaf",
    "oem_root": "oemRootCA",
    "oem_sub_ca1": "oemSubCA1",
    "oem_sub_ca2": "oemSubCA2",
    "oem_prov_leaf": "oemLeaf",
    "mo_root": "moRootCA",
    "mo_sub_ca1": "moSubCA1",
    "mo_sub_ca2": "moSubCA2",
    "contract_leaf": "contractLeaf",
}
"""Our certificate names -> the file stems that stack uses."""

PASSWORD_FILES = {
    "seccLeafPassword.txt",
    "oemLeafPassword.txt",
    "contractLeafPassword.txt",
    "cpsLeafPassword.txt",
    "moSubCA2LeafPassword.txt",
}

DEFAULT_PASSWORD = "12345"
"""The password that stack falls back to when a password file is missing; a test PKI, not a secret."""


def write_josev_layout(pki: Pki, pki_path: Path, password: str = DEFAULT_PASSWORD) -> Path:
    """Write ``pki`` (an ``iso2`` PKI with every ISO 15118 certificate) under ``pki_path``/iso15118_2."""
    if pki.profile.key_type is not KeyType.SECP256R1:
        raise PkiError("the open-source Josev reads secp256r1 keys only: use the iso2 profile for its layout")
    missing = [n for n in JOSEV_NAMES if n not in pki.items]
    if missing:
        raise PkiError(f"josev layout needs every ISO 15118 certificate; missing: {', '.join(missing)}")
    base = pki_path / "iso15118_2"
    certs = base / "certs"
    keys = base / "private_keys"
    certs.mkdir(parents=True, exist_ok=True)
    keys.mkdir(parents=True, exist_ok=True)
    os.chmod(keys, KEY_DIR_MODE)
    pw = password.encode()
    for ours, theirs in JOSEV_NAMES.items():
        item = pki.items[ours]
        (certs / f"{theirs}Cert.pem").write_bytes(cert_pem(item.cert))
        (certs / f"{theirs}Cert.der").write_bytes(item.cert.public_bytes(serialization.Encoding.DER))
        write_private(keys / f"{theirs}.key", key_pem(item.key, pw or None, traditional=True))
    (certs / "cpoCertChain.pem").write_bytes(chain_pem(pki, ("secc_leaf", "cpo_sub_ca2", "cpo_sub_ca1")))
    (certs / "oemCertChain.pem").write_bytes(chain_pem(pki, ("oem_prov_leaf", "oem_sub_ca2", "oem_sub_ca1")))
    (certs / "intermediateMOCACerts.pem").write_bytes(chain_pem(pki, ("mo_sub_ca2", "mo_sub_ca1")))
    (certs / "intermediateCPSCACerts.pem").write_bytes(chain_pem(pki, ("cps_sub_ca2", "cps_sub_ca1")))
    for leaf, subs, label, fname in (
        ("contract_leaf", ("mo_sub_ca2", "mo_sub_ca1"), b"contract_leaf_cert", "moCertChain.p12"),
        ("cps_leaf", ("cps_sub_ca2", "cps_sub_ca1"), b"cps_leaf_cert", "cpsCertChain.p12"),
    ):
        key = pki.key(leaf)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(pw) if pw else serialization.NoEncryption()
        )
        p12 = pkcs12.serialize_key_and_certificates(
            label, key, pki.cert(leaf), [pki.cert(s) for s in subs], enc
        )
        write_private(certs / fname, p12)
    pkcs8_enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(pw) if pw else serialization.NoEncryption()
    )
    write_private(
        keys / "moSubCA2.pkcs8.der",
        pki.key("mo_sub_ca2").private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, pkcs8_enc
        ),
    )
    for fname in PASSWORD_FILES:
        write_private(keys / fname, (password + "\n").encode())
    return base
