"""NMK generation and NID derivation (HomePlug AV 1.1, 4.4.3.1).

The NID is PBKDF1 over SHA-256 of the NMK (no salt, 5 iterations): the leftmost 52 bits of the digest,
followed by the 2-bit security level (0 = simple connect, 1 = secure) in bits 4..5 of the last octet.
"""

from __future__ import annotations

import hashlib
import secrets

SECURITY_LEVEL_SIMPLE_CONNECT = 0
SECURITY_LEVEL_SECURE = 1


def new_nmk() -> bytes:
    """A fresh random 16-byte Network Membership Key."""
    return secrets.token_bytes(16)


def nid_from_nmk(nmk: bytes, security_level: int = SECURITY_LEVEL_SIMPLE_CONNECT) -> bytes:
    """The 7-byte NID of ``nmk`` with the given security level."""
    if len(nmk) != 16:
        raise ValueError("NMK must be 16 bytes")
    if security_level not in (0, 1):
        raise ValueError("security level must be 0 (simple connect) or 1 (secure)")
    digest = hashlib.sha256(nmk).digest()
    for _ in range(4):
        digest = hashlib.sha256(digest).digest()
    return digest[:6] + bytes([(digest[6] >> 4) | (security_level << 4)])


def security_level_of(nid: bytes) -> int:
    """The security level bits of a NID."""
    return (nid[6] >> 4) & 0x03
