"""Plug & Charge crypto against an implementation nobody here wrote: the open-source Josev (PyPI ``iso15118``)
with its EXIficient codec verifies our ISO 15118-2 signature (decoding our EXI message and re-encoding the signed
element with its own codec), signs a request we verify, and decrypts / encrypts the contract key both ways."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from josev import exi
from josev.pki import Pki
from josev.pnc import keywrap, xmlsig

ROOT = Path(__file__).resolve().parents[2]
PEER_PY = ROOT / ".venv-peers" / "bin" / "python"
SCRIPT = Path(__file__).with_name("peer_josev_security.py")

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        not PEER_PY.exists() or shutil.which("java") is None, reason="needs .venv-peers and java"
    ),
]


def peer(req: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [str(PEER_PY), str(SCRIPT)], input=json.dumps(req), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _der_key(key: ec.EllipticCurvePrivateKey) -> str:
    return base64.b64encode(
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    ).decode()


def test_their_codec_and_verifier_accept_our_signature(iso2_pki: Pki) -> None:
    key = iso2_pki.key("contract_leaf")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    body = {"Id": "ID1", "GenChallenge": base64.b64encode(bytes(range(16))).decode()}
    frag = xmlsig.fragment("iso2", "AuthorizationReq", body)
    sig = xmlsig.sign(xmlsig.ISO2, key, [("ID1", frag)])
    msg = {
        "V2G_Message": {
            "Header": {"SessionID": "0102030405060708", "Signature": sig},
            "Body": {"AuthorizationReq": body},
        }
    }
    cert = base64.b64encode(iso2_pki.cert("contract_leaf").public_bytes(serialization.Encoding.DER)).decode()
    res = peer(
        {
            "op": "verify_our_signature",
            "exi": base64.b64encode(exi.encode("iso2", msg)).decode(),
            "cert": cert,
        }
    )
    assert res["fragment"] == frag.hex()  # the same signed bytes from two codecs
    assert res["ok"] is True


def test_we_accept_their_signature(iso2_pki: Pki) -> None:
    key = iso2_pki.key("contract_leaf")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    challenge = base64.b64encode(bytes(range(16, 32))).decode()
    res = peer({"op": "their_signature", "key": _der_key(key), "challenge": challenge})
    frag = xmlsig.fragment("iso2", "AuthorizationReq", {"Id": "ID1", "GenChallenge": challenge})
    assert res["fragment"] == frag.hex()
    # their whole signed message, encoded by their codec, decoded by ours
    doc = exi.decode("iso2", bytes.fromhex(res["exi"]))["V2G_Message"]
    assert doc["Body"]["AuthorizationReq"] == {"Id": "ID1", "GenChallenge": challenge}
    back = doc["Header"]["Signature"]
    assert xmlsig.verify(back, [("ID1", frag)], key.public_key(), [xmlsig.ISO2]) is xmlsig.ISO2


def test_contract_key_both_ways(iso2_pki: Pki) -> None:
    contract_key = iso2_pki.key("contract_leaf")
    ev_key = iso2_pki.key("oem_prov_leaf")
    assert isinstance(contract_key, ec.EllipticCurvePrivateKey) and isinstance(
        ev_key, ec.EllipticCurvePrivateKey
    )
    dh, enc = keywrap.encrypt_iso2(contract_key, ev_key.public_key())
    res = peer(
        {
            "op": "decrypt_our_key",
            "ev_key": _der_key(ev_key),
            "dh": base64.b64encode(dh).decode(),
            "enc": base64.b64encode(enc).decode(),
        }
    )
    assert int(res["value"], 16) == contract_key.private_numbers().private_value
    oem = base64.b64encode(iso2_pki.cert("oem_prov_leaf").public_bytes(serialization.Encoding.DER)).decode()
    res = peer({"op": "their_encrypted_key", "contract_key": _der_key(contract_key), "oem_cert": oem})
    got = keywrap.decrypt_iso2(ev_key, base64.b64decode(res["dh"]), base64.b64decode(res["enc"]))
    assert got.private_numbers().private_value == contract_key.private_numbers().private_value
