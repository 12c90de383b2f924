"""The contract certificate's private key, encrypted for one EV (CertificateInstallationRes / UpdateRes).

The sender (the certificate provisioning service, here the CSMS stand-in) does an ephemeral ECDH with the EV's
key (the OEM provisioning certificate, or the contract certificate being updated), derives a symmetric key and
encrypts the private key; the station only relays the result and never sees the key in clear.

- ISO 15118-2 ([V2G2-818..820]): ECDH on P-256, NIST SP 800-56A concatenation KDF with SHA-256, OtherInfo
  ``AlgorithmID 0x01 || PartyUInfo 0x55 || PartyVInfo 0x56``, a 128-bit key, AES-128-CBC over the 32-byte private
  value, the 16-byte IV in front: 48 bytes. ``DHpublickey`` is the ephemeral public key as an uncompressed point.
- ISO 15118-20 ([V2G20-2492..2499]): ECDH on P-521, AES-GCM-256 with a 96-bit IV, the private value padded to 66
  bytes, AAD = PCID (18 characters) followed by the contract certificate's SKI in upper-case hex;
  ``IV || ciphertext || tag`` = 94 bytes. The 256-bit session key is derived with the same concatenation KDF
  (SHA-512) and OtherInfo as in ISO 15118-2 (an assumption of ours: no independent -20 implementation was at
  hand to check it against). X448 (Ed448 contracts) is not supported.
"""

from __future__ import annotations

import os

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from josev.pnc import PncError

OTHER_INFO = bytes((0x01, 0x55, 0x56))
ISO2_ENCRYPTED_LEN = 16 + 32
ISO20_ENCRYPTED_LEN = 12 + 66 + 16


def _kdf(shared: bytes, hash_alg: hashes.HashAlgorithm, length: int) -> bytes:
    return ConcatKDFHash(algorithm=hash_alg, length=length, otherinfo=OTHER_INFO).derive(shared)


def point(key: ec.EllipticCurvePublicKey) -> bytes:
    """An EC public key as the uncompressed point carried in ``DHpublickey``."""
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _public(curve: ec.EllipticCurve, data: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, data)
    except ValueError:
        raise PncError("FAILED", f"DHpublickey is not a {curve.name} point") from None


def encrypt_iso2(
    contract_key: ec.EllipticCurvePrivateKey, ev_key: ec.EllipticCurvePublicKey
) -> tuple[bytes, bytes]:
    """``(DHpublickey, ContractSignatureEncryptedPrivateKey)`` for ISO 15118-2."""
    if not isinstance(contract_key.curve, ec.SECP256R1) or not isinstance(ev_key.curve, ec.SECP256R1):
        raise ValueError("ISO 15118-2 key encryption needs P-256 keys")
    eph = ec.generate_private_key(ec.SECP256R1())
    key = _kdf(eph.exchange(ec.ECDH(), ev_key), hashes.SHA256(), 16)
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    value = contract_key.private_numbers().private_value.to_bytes(32, "big")
    return point(eph.public_key()), iv + enc.update(value) + enc.finalize()


def decrypt_iso2(
    ev_key: ec.EllipticCurvePrivateKey, dh_public: bytes, encrypted: bytes
) -> ec.EllipticCurvePrivateKey:
    """The EV side: the contract private key from ``DHpublickey`` and the encrypted value (ISO 15118-2)."""
    if len(encrypted) != ISO2_ENCRYPTED_LEN:
        raise PncError(
            "FAILED", f"encrypted private key of {len(encrypted)} bytes ({ISO2_ENCRYPTED_LEN} expected)"
        )
    key = _kdf(ev_key.exchange(ec.ECDH(), _public(ec.SECP256R1(), dh_public)), hashes.SHA256(), 16)
    dec = Cipher(algorithms.AES(key), modes.CBC(encrypted[:16])).decryptor()
    value = int.from_bytes(dec.update(encrypted[16:]) + dec.finalize(), "big")
    return _check_private(value, ec.SECP256R1())


def aad_iso20(pcid: str, contract: x509.Certificate) -> bytes:
    """[V2G20-2492]: PCID (18 capital letters and digits) then the contract certificate's SKI in hex."""
    ski = contract.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    return pcid.replace("-", "").upper().encode() + ski.hex().upper().encode()


def encrypt_iso20(
    contract_key: ec.EllipticCurvePrivateKey,
    ev_key: ec.EllipticCurvePublicKey,
    pcid: str,
    contract: x509.Certificate,
) -> tuple[bytes, bytes]:
    """``(DHPublicKey, SECP521_EncryptedPrivateKey)`` for ISO 15118-20 (P-521)."""
    if not isinstance(contract_key.curve, ec.SECP521R1) or not isinstance(ev_key.curve, ec.SECP521R1):
        raise ValueError("ISO 15118-20 key encryption is implemented for P-521 keys")
    eph = ec.generate_private_key(ec.SECP521R1())
    key = _kdf(eph.exchange(ec.ECDH(), ev_key), hashes.SHA512(), 32)
    iv = os.urandom(12)
    value = contract_key.private_numbers().private_value.to_bytes(66, "big")
    return point(eph.public_key()), iv + AESGCM(key).encrypt(iv, value, aad_iso20(pcid, contract))


def decrypt_iso20(
    ev_key: ec.EllipticCurvePrivateKey,
    dh_public: bytes,
    encrypted: bytes,
    pcid: str,
    contract: x509.Certificate,
) -> ec.EllipticCurvePrivateKey:
    """The EV side of :func:`encrypt_iso20`; a wrong AAD, key or tampered value raises :class:`PncError`."""
    if len(encrypted) != ISO20_ENCRYPTED_LEN:
        raise PncError(
            "FAILED", f"encrypted private key of {len(encrypted)} bytes ({ISO20_ENCRYPTED_LEN} expected)"
        )
    key = _kdf(ev_key.exchange(ec.ECDH(), _public(ec.SECP521R1(), dh_public)), hashes.SHA512(), 32)
    try:
        value = AESGCM(key).decrypt(encrypted[:12], encrypted[12:], aad_iso20(pcid, contract))
    except InvalidTag:
        raise PncError("FAILED", "the encrypted private key does not authenticate") from None
    return _check_private(int.from_bytes(value, "big"), ec.SECP521R1())


def _check_private(value: int, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    try:
        return ec.derive_private_key(value, curve)
    except ValueError:
        raise PncError("FAILED", "the decrypted private key is not valid for the curve") from None
