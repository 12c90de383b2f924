"""XML signatures over EXI fragments: what we sign verifies with an independent computation (hashlib over the
fragment bytes, ``cryptography`` over the SignedInfo fragment), and every tampering is refused with
FAILED_SignatureError and the reason."""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from josev import exi
from josev.pki import Pki
from josev.pnc import PncError, xmlsig

AUTH = {"Id": "ID1", "GenChallenge": base64.b64encode(bytes(range(16))).decode()}


def _auth_fragment(body: dict[str, Any] = AUTH) -> bytes:
    return xmlsig.fragment("iso2", "AuthorizationReq", body)


def test_iso2_signature_checked_independently(iso2_pki: Pki) -> None:
    key = iso2_pki.key("contract_leaf")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    frag = _auth_fragment()
    sig = xmlsig.sign(xmlsig.ISO2, key, [("ID1", frag)])
    # independent: the digest is SHA-256 over the EXI fragment of the element, as EXIficient encodes it
    assert frag == exi.encode_fragment("iso2", {"AuthorizationReq": AUTH})
    ref = sig["SignedInfo"]["Reference"][0]
    assert ref["URI"] == "#ID1"
    assert base64.b64decode(ref["DigestValue"]) == hashlib.sha256(frag).digest()
    # independent: ECDSA P-256/SHA-256 over the SignedInfo fragment of the XML Signature schema, raw r||s
    raw = base64.b64decode(sig["SignatureValue"]["value"])
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    si_bytes = exi.encode_fragment("xmldsig", {"SignedInfo": sig["SignedInfo"]})
    key.public_key().verify(der, si_bytes, ec.ECDSA(hashes.SHA256()))
    # and our verifier accepts it
    assert xmlsig.verify(sig, [("ID1", frag)], key.public_key(), [xmlsig.ISO2]) is xmlsig.ISO2
    # the signature survives the trip through the message codec (it is carried in the header)
    header = {"SessionID": "0102030405060708", "Signature": sig}
    msg = {"V2G_Message": {"Header": header, "Body": {"AuthorizationReq": AUTH}}}
    back = exi.decode("iso2", exi.encode("iso2", msg))
    assert xmlsig.verify(
        back["V2G_Message"]["Header"]["Signature"], [("ID1", frag)], key.public_key(), [xmlsig.ISO2]
    )


def test_independent_signature_verified_by_us(iso2_pki: Pki) -> None:
    """A signature built here by hand (not by xmlsig.sign) is accepted."""
    key = iso2_pki.key("contract_leaf")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    frag = _auth_fragment()
    si = {
        "CanonicalizationMethod": {"Algorithm": "http://www.w3.org/TR/canonical-exi/"},
        "SignatureMethod": {"Algorithm": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"},
        "Reference": [
            {
                "URI": "#ID1",
                "Transforms": {"Transform": [{"Algorithm": "http://www.w3.org/TR/canonical-exi/"}]},
                "DigestMethod": {"Algorithm": "http://www.w3.org/2001/04/xmlenc#sha256"},
                "DigestValue": base64.b64encode(hashlib.sha256(frag).digest()).decode(),
            }
        ],
    }
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(
        key.sign(exi.encode_fragment("xmldsig", {"SignedInfo": si}), ec.ECDSA(hashes.SHA256()))
    )
    sig = {
        "SignedInfo": si,
        "SignatureValue": {"value": base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()},
    }
    xmlsig.verify(sig, [("ID1", frag)], key.public_key(), [xmlsig.ISO2])


def _mutations() -> list[tuple[str, Any, str]]:
    def set_path(path: list[Any], value: Any) -> Any:
        def f(sig: dict[str, Any]) -> None:
            node: Any = sig
            for p in path[:-1]:
                node = node[p]
            node[path[-1]] = value

        return f

    return [
        (
            "digest",
            set_path(["SignedInfo", "Reference", 0, "DigestValue"], base64.b64encode(bytes(32)).decode()),
            "digest does not match",
        ),
        ("uri", set_path(["SignedInfo", "Reference", 0, "URI"], "#ID2"), "do not match the signed elements"),
        (
            "c14n",
            set_path(
                ["SignedInfo", "CanonicalizationMethod", "Algorithm"],
                "http://www.w3.org/2001/10/xml-exc-c14n#",
            ),
            "canonical EXI",
        ),
        (
            "method",
            set_path(
                ["SignedInfo", "SignatureMethod", "Algorithm"], "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
            ),
            "does not fit",
        ),
        (
            "digest-method",
            set_path(
                ["SignedInfo", "Reference", 0, "DigestMethod", "Algorithm"],
                "http://www.w3.org/2000/09/xmldsig#sha1",
            ),
            "digest method",
        ),
        (
            "value",
            set_path(["SignatureValue", "value"], base64.b64encode(bytes(64)).decode()),
            "does not verify",
        ),
        (
            "value-length",
            set_path(["SignatureValue", "value"], base64.b64encode(bytes(63)).decode()),
            "63 bytes",
        ),
        ("not-base64", set_path(["SignatureValue", "value"], "***"), "not base64"),
        (
            "two-transforms",
            set_path(
                ["SignedInfo", "Reference", 0, "Transforms", "Transform"],
                [{"Algorithm": "http://www.w3.org/TR/canonical-exi/"}] * 2,
            ),
            "exactly one",
        ),
    ]


@pytest.mark.parametrize(("what", "mutate", "reason"), _mutations(), ids=[m[0] for m in _mutations()])
def test_tampering_is_refused(iso2_pki: Pki, what: str, mutate: Any, reason: str) -> None:
    key = iso2_pki.key("contract_leaf")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    frag = _auth_fragment()
    sig = copy.deepcopy(xmlsig.sign(xmlsig.ISO2, key, [("ID1", frag)]))
    mutate(sig)
    with pytest.raises(PncError) as e:
        xmlsig.verify(sig, [("ID1", frag)], key.public_key(), [xmlsig.ISO2])
    assert e.value.code == "FAILED_SignatureError"
    assert reason in e.value.detail


def test_changed_element_wrong_key_missing_and_extra_references(iso2_pki: Pki, other_pki: Pki) -> None:
    key = iso2_pki.key("contract_leaf")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    frag = _auth_fragment()
    sig = xmlsig.sign(xmlsig.ISO2, key, [("ID1", frag)])
    replayed = _auth_fragment({"Id": "ID1", "GenChallenge": base64.b64encode(bytes(16)).decode()})
    with pytest.raises(PncError, match="digest does not match"):
        xmlsig.verify(sig, [("ID1", replayed)], key.public_key(), [xmlsig.ISO2])
    other = other_pki.key("contract_leaf")
    assert isinstance(other, ec.EllipticCurvePrivateKey)
    with pytest.raises(PncError, match="does not verify"):
        xmlsig.verify(sig, [("ID1", frag)], other.public_key(), [xmlsig.ISO2])
    with pytest.raises(PncError, match="do not match"):
        xmlsig.verify(sig, [("ID1", frag), ("ID2", frag)], key.public_key(), [xmlsig.ISO2])
    two = xmlsig.sign(xmlsig.ISO2, key, [("ID1", frag), ("ID2", frag)])
    with pytest.raises(PncError, match="do not match"):
        xmlsig.verify(two, [("ID1", frag)], key.public_key(), [xmlsig.ISO2])
    with pytest.raises(PncError, match="no Signature"):
        xmlsig.verify(None, [("ID1", frag)], key.public_key(), [xmlsig.ISO2])
    with pytest.raises(ValueError, match="secp521r1"):
        xmlsig.sign(xmlsig.ISO20_P521, key, [("ID1", frag)])


def test_iso20_p521_and_ed448(iso20_pki: Pki, ed448_pki: Pki) -> None:
    body = {
        "Header": {"SessionID": "0102030405060708", "TimeStamp": 1},
        "PnC_AReqAuthorizationMode": {
            "Id": "ID1",
            "GenChallenge": base64.b64encode(bytes(16)).decode(),
            "ContractCertificateChain": {
                "Certificate": base64.b64encode(b"x").decode(),
                "SubCertificates": {"Certificate": [base64.b64encode(b"y").decode()]},
            },
        },
    }
    frag = xmlsig.fragment("iso20-cm", "PnC_AReqAuthorizationMode", body["PnC_AReqAuthorizationMode"])
    p521 = iso20_pki.key("contract_leaf")
    assert isinstance(p521, ec.EllipticCurvePrivateKey)
    sig = xmlsig.sign(xmlsig.ISO20_P521, p521, [("ID1", frag)])
    ref = sig["SignedInfo"]["Reference"][0]
    assert base64.b64decode(ref["DigestValue"]) == hashlib.sha512(frag).digest()
    raw = base64.b64decode(sig["SignatureValue"]["value"])
    assert len(raw) == 132
    der = encode_dss_signature(int.from_bytes(raw[:66], "big"), int.from_bytes(raw[66:], "big"))
    p521.public_key().verify(
        der, exi.encode_fragment("xmldsig", {"SignedInfo": sig["SignedInfo"]}), ec.ECDSA(hashes.SHA512())
    )
    assert xmlsig.verify(sig, [("ID1", frag)], p521.public_key(), xmlsig.ISO20_SUITES) is xmlsig.ISO20_P521
    ed = ed448_pki.key("contract_leaf")
    sig2 = xmlsig.sign(xmlsig.ISO20_ED448, ed, [("ID1", frag)])
    assert len(base64.b64decode(sig2["SignatureValue"]["value"])) == 114
    ed.public_key().verify(
        base64.b64decode(sig2["SignatureValue"]["value"]),
        exi.encode_fragment("xmldsig", {"SignedInfo": sig2["SignedInfo"]}),
    )  # type: ignore[union-attr]
    assert xmlsig.verify(sig2, [("ID1", frag)], ed.public_key(), xmlsig.ISO20_SUITES) is xmlsig.ISO20_ED448
    # an ISO-2 suite is not accepted for a -20 message, nor a P-521 signature checked against an Ed448 key
    with pytest.raises(PncError, match="does not fit"):
        xmlsig.verify(sig, [("ID1", frag)], p521.public_key(), [xmlsig.ISO2])
    with pytest.raises(PncError, match="does not fit"):
        xmlsig.verify(sig, [("ID1", frag)], ed.public_key(), xmlsig.ISO20_SUITES)
