"""XML signatures of ISO 15118 over EXI (ISO 15118-2 Annex J / 7.9.2.4, ISO 15118-20 7.9.2.4).

A signed message carries, in its header, a ``Signature`` whose ``SignedInfo`` lists one ``Reference`` per signed
element (``URI="#<Id>"``). The digest of a reference is the hash of the element **encoded as an EXI fragment**
with the message's own schema; the ``SignatureValue`` is the signature over ``SignedInfo`` encoded as an EXI
fragment with the XML Signature schema. Both use the canonical-EXI transform. ECDSA values are the raw
big-endian ``r || s`` (not DER).

The suites (digest, signature algorithm, key type) are the ones the standards name: ISO 15118-2 ECDSA P-256
with SHA-256; ISO 15118-20 ECDSA P-521 with SHA-512, or Ed448 (PureEdDSA) with a SHAKE256 digest. Pure
functions: bytes and keys in, a signature dict out, or :class:`~josev.pnc.PncError` with
``FAILED_SignatureError`` and the exact reason.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from josev import exi
from josev.pnc import PncError

C14N_EXI = "http://www.w3.org/TR/canonical-exi/"
SIGNATURE_ERROR = "FAILED_SignatureError"

PublicKey = ec.EllipticCurvePublicKey | ed448.Ed448PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed448.Ed448PrivateKey


@dataclasses.dataclass(frozen=True)
class Suite:
    """One signature suite of the standards."""

    name: str
    digest_uri: str
    signature_uri: str
    curve: str  # "secp256r1", "secp521r1" or "ed448"
    #: bytes of r and of s in the raw ECDSA value (0 for EdDSA: the 114-byte Ed448 signature as is)
    coordinate_bytes: int

    def digest(self, data: bytes) -> bytes:
        """The reference digest of ``data``."""
        if self.curve == "secp256r1":
            return hashlib.sha256(data).digest()
        if self.curve == "secp521r1":
            return hashlib.sha512(data).digest()
        return hashlib.shake_256(data).digest(64)

    def key_fits(self, key: PublicKey | PrivateKey) -> bool:
        """Whether ``key`` is of this suite's type."""
        if isinstance(key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
            return self.curve == "ed448"
        return key.curve.name == self.curve

    def sign_raw(self, key: PrivateKey, data: bytes) -> bytes:
        """The raw signature value over ``data``."""
        if isinstance(key, ed448.Ed448PrivateKey):
            return key.sign(data)
        hash_alg: hashes.HashAlgorithm = hashes.SHA256() if self.curve == "secp256r1" else hashes.SHA512()
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_alg)))
        n = self.coordinate_bytes
        return r.to_bytes(n, "big") + s.to_bytes(n, "big")

    def verify_raw(self, key: PublicKey, value: bytes, data: bytes) -> None:
        """Raise :class:`PncError` unless ``value`` is a valid signature over ``data`` by ``key``."""
        try:
            if isinstance(key, ed448.Ed448PublicKey):
                if len(value) != 114:
                    raise PncError(SIGNATURE_ERROR, f"Ed448 signature of {len(value)} bytes (114 expected)")
                key.verify(value, data)
                return
            n = self.coordinate_bytes
            if len(value) != 2 * n:
                raise PncError(SIGNATURE_ERROR, f"ECDSA signature of {len(value)} bytes ({2 * n} expected)")
            r, s = int.from_bytes(value[:n], "big"), int.from_bytes(value[n:], "big")
            hash_alg: hashes.HashAlgorithm = hashes.SHA256() if self.curve == "secp256r1" else hashes.SHA512()
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hash_alg))
        except InvalidSignature:
            raise PncError(
                SIGNATURE_ERROR, "the signature value does not verify with the signer's key"
            ) from None


ISO2 = Suite(
    "iso2",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "secp256r1",
    32,
)
ISO20_P521 = Suite(
    "iso20-p521",
    "http://www.w3.org/2001/04/xmlenc#sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    "secp521r1",
    66,
)
ISO20_ED448 = Suite(
    "iso20-ed448",
    "http://www.w3.org/2007/05/xmldsig-more#shake256",
    "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed448",
    "ed448",
    0,
)
SUITES: dict[str, Suite] = {s.name: s for s in (ISO2, ISO20_P521, ISO20_ED448)}
ISO20_SUITES = (ISO20_P521, ISO20_ED448)


def fragment(schema: str, name: str, element: Mapping[str, Any]) -> bytes:
    """``element`` (the content of the element ``name``, its ``Id`` included) as the EXI fragment that is
    digested; ``schema`` is the message's schema (``iso2``, ``iso20-cm`` ...)."""
    return exi.encode_fragment(schema, {name: dict(element)})


def signed_info_bytes(signed_info: Mapping[str, Any]) -> bytes:
    """``SignedInfo`` as the EXI fragment (XML Signature schema) that the signature value covers."""
    try:
        return exi.encode_fragment("xmldsig", {"SignedInfo": dict(signed_info)})
    except exi.ExiError as e:
        raise PncError(SIGNATURE_ERROR, f"SignedInfo cannot be EXI-encoded: {e}") from None


def sign(suite: Suite, key: PrivateKey, references: Sequence[tuple[str, bytes]]) -> dict[str, Any]:
    """The ``Signature`` header element over ``references`` (``(Id, EXI fragment)`` pairs)."""
    if not suite.key_fits(key):
        raise ValueError(f"a {suite.curve} key is needed for {suite.name} signatures")
    signed_info = {
        "CanonicalizationMethod": {"Algorithm": C14N_EXI},
        "SignatureMethod": {"Algorithm": suite.signature_uri},
        "Reference": [
            {
                "URI": f"#{ref_id}",
                "Transforms": {"Transform": [{"Algorithm": C14N_EXI}]},
                "DigestMethod": {"Algorithm": suite.digest_uri},
                "DigestValue": base64.b64encode(suite.digest(data)).decode(),
            }
            for ref_id, data in references
        ],
    }
    value = suite.sign_raw(key, signed_info_bytes(signed_info))
    return {"SignedInfo": signed_info, "SignatureValue": {"value": base64.b64encode(value).decode()}}


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise PncError(SIGNATURE_ERROR, f"{what} missing")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PncError(SIGNATURE_ERROR, f"{what} is not base64") from None


def verify(
    signature: Mapping[str, Any] | None,
    references: Sequence[tuple[str, bytes]],
    key: PublicKey,
    suites: Iterable[Suite],
) -> Suite:
    """Check ``signature`` against the expected ``(Id, EXI fragment)`` references and the signer's ``key``.

    Strict: the canonical-EXI method and transform, exactly the expected references (none missing, extra or
    repeated), the digest and signature algorithms of one of ``suites`` matching the key type, every digest, and
    the signature value. Returns the suite used; raises :class:`PncError` (``FAILED_SignatureError``)."""
    if not signature:
        raise PncError(SIGNATURE_ERROR, "the message carries no Signature")
    si = signature.get("SignedInfo")
    if not isinstance(si, Mapping):
        raise PncError(SIGNATURE_ERROR, "Signature without SignedInfo")
    if (si.get("CanonicalizationMethod") or {}).get("Algorithm") != C14N_EXI:
        raise PncError(SIGNATURE_ERROR, "CanonicalizationMethod is not canonical EXI")
    method = (si.get("SignatureMethod") or {}).get("Algorithm")
    suite = next((s for s in suites if s.signature_uri == method and s.key_fits(key)), None)
    if suite is None:
        raise PncError(SIGNATURE_ERROR, f"SignatureMethod {method!r} does not fit the signer's key")
    refs = si.get("Reference") or []
    uris = [r.get("URI") for r in refs if isinstance(r, Mapping)]
    expected = [f"#{ref_id}" for ref_id, _ in references]
    if len(uris) != len(refs) or sorted(map(str, uris)) != sorted(expected):
        raise PncError(SIGNATURE_ERROR, f"references {uris} do not match the signed elements {expected}")
    by_uri = {r["URI"]: r for r in refs}
    for ref_id, data in references:
        ref = by_uri[f"#{ref_id}"]
        transforms = (ref.get("Transforms") or {}).get("Transform") or []
        if len(transforms) != 1 or transforms[0].get("Algorithm") != C14N_EXI:
            raise PncError(
                SIGNATURE_ERROR, f"reference #{ref_id}: exactly one canonical-EXI transform required"
            )
        if (ref.get("DigestMethod") or {}).get("Algorithm") != suite.digest_uri:
            raise PncError(SIGNATURE_ERROR, f"reference #{ref_id}: digest method is not {suite.digest_uri}")
        if not hmac.compare_digest(
            _b64(ref.get("DigestValue"), f"#{ref_id} DigestValue"), suite.digest(data)
        ):
            raise PncError(SIGNATURE_ERROR, f"reference #{ref_id}: digest does not match the element")
    value = _b64((signature.get("SignatureValue") or {}).get("value"), "SignatureValue")
    suite.verify_raw(key, value, signed_info_bytes(si))
    return suite
