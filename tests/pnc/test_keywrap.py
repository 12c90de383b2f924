"""The contract private key encrypted for the EV: decrypted independently with ``cryptography`` primitives, and
every tampering refused."""

from __future__ import annotations

import contextlib
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from josev.pki import Pki
from josev.pnc import PncError, keywrap


def test_iso2_round_trip_and_independent_decryption(iso2_pki: Pki) -> None:
    contract_key = iso2_pki.key("contract_leaf")
    ev_key = iso2_pki.key("oem_prov_leaf")
    assert isinstance(contract_key, ec.EllipticCurvePrivateKey) and isinstance(
        ev_key, ec.EllipticCurvePrivateKey
    )
    dh, enc = keywrap.encrypt_iso2(contract_key, ev_key.public_key())
    assert len(dh) == 65 and dh[0] == 4 and len(enc) == 48
    # independent decryption, step by step as [V2G2-818..820] describe it
    shared = ev_key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), dh))
    key = ConcatKDFHash(hashes.SHA256(), 16, otherinfo=b"\x01\x55\x56").derive(shared)
    dec = Cipher(algorithms.AES(key), modes.CBC(enc[:16])).decryptor()
    value = int.from_bytes(dec.update(enc[16:]) + dec.finalize(), "big")
    assert value == contract_key.private_numbers().private_value
    assert keywrap.decrypt_iso2(ev_key, dh, enc).private_numbers().private_value == value


def test_iso2_errors(iso2_pki: Pki, other_pki: Pki) -> None:
    contract_key = iso2_pki.key("contract_leaf")
    ev_key = iso2_pki.key("oem_prov_leaf")
    assert isinstance(contract_key, ec.EllipticCurvePrivateKey) and isinstance(
        ev_key, ec.EllipticCurvePrivateKey
    )
    dh, enc = keywrap.encrypt_iso2(contract_key, ev_key.public_key())
    with pytest.raises(PncError, match="47 bytes"):
        keywrap.decrypt_iso2(ev_key, dh, enc[:-1])
    with pytest.raises(PncError, match="not a secp256r1 point"):
        keywrap.decrypt_iso2(ev_key, b"\x04" + bytes(64), enc)
    wrong = other_pki.key("oem_prov_leaf")
    assert isinstance(wrong, ec.EllipticCurvePrivateKey)
    got = None
    with contextlib.suppress(PncError):
        got = keywrap.decrypt_iso2(wrong, dh, enc).private_numbers().private_value
    assert (
        got != contract_key.private_numbers().private_value
    )  # CBC has no tag: a wrong key gives another value


def test_iso20_round_trip_aad_and_tamper(iso20_pki: Pki) -> None:
    contract_key = iso20_pki.key("contract_leaf")
    ev_key = iso20_pki.key("oem_prov_leaf")
    assert isinstance(contract_key, ec.EllipticCurvePrivateKey) and isinstance(
        ev_key, ec.EllipticCurvePrivateKey
    )
    cert = iso20_pki.cert("contract_leaf")
    pcid = "WMIV1234567890ABCD"
    dh, enc = keywrap.encrypt_iso20(contract_key, ev_key.public_key(), pcid, cert)
    assert len(enc) == 94 and len(dh) == 133
    aad = keywrap.aad_iso20(pcid, cert)
    assert aad[:18] == pcid.encode() and aad[18:] == aad[18:].upper() and len(aad) == 18 + 40
    back = keywrap.decrypt_iso20(ev_key, dh, enc, pcid, cert)
    assert back.private_numbers().private_value == contract_key.private_numbers().private_value
    with pytest.raises(PncError, match="does not authenticate"):
        keywrap.decrypt_iso20(ev_key, dh, enc, "WMIV1234567890ABCE", cert)
    flipped = enc[:20] + bytes([enc[20] ^ 1]) + enc[21:]
    with pytest.raises(PncError, match="does not authenticate"):
        keywrap.decrypt_iso20(ev_key, dh, flipped, pcid, cert)
    with pytest.raises(ValueError, match="P-521"):
        keywrap.encrypt_iso20(
            iso20_pki.key("contract_leaf"), ec.generate_private_key(ec.SECP256R1()).public_key(), pcid, cert
        )  # type: ignore[arg-type]
    assert os.urandom(1)  # IVs are random: two encryptions differ
    assert keywrap.encrypt_iso20(contract_key, ev_key.public_key(), pcid, cert)[1] != enc
