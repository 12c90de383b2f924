"""Offline decryption of a recorded TLS session from its disclosed secrets (sans-IO).

Input: the two reassembled TCP byte streams of one connection (client -> server, server -> client) and key
log lines (from a key log file or from dsV2Gshark disclosure datagrams in the same capture). Output: the
application data of each direction - for V2G, the V2GTP stream. Every record is authenticated while it is
decrypted (AEAD tag, or HMAC for CBC suites), so a wrong secret or a corrupt stream raises
:class:`DecryptError` instead of yielding garbage.

Supported: TLS 1.3 with TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256
(handshake and application traffic secret 0; KeyUpdate is not), and TLS 1.2 with
ECDHE-ECDSA-AES128-SHA256 (ISO 15118-2; MAC-then-encrypt, or encrypt-then-MAC when negotiated as OpenSSL
does) and ECDHE-ECDSA-AES128-GCM-SHA256. This lets the test suites replay
the encrypted ISO 15118 captures in ``../shared/captures`` and lets a developer read a session recorded
with josev's key disclosure without Wireshark.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import struct
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from josev.tls.keylog import KeyLogLine

CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APP = 20, 21, 22, 23

TLS13_SUITES: dict[int, tuple[str, int, str]] = {
    0x1301: ("TLS_AES_128_GCM_SHA256", 16, "sha256"),
    0x1302: ("TLS_AES_256_GCM_SHA384", 32, "sha384"),
    0x1303: ("TLS_CHACHA20_POLY1305_SHA256", 32, "sha256"),
}
TLS12_SUITES: dict[int, str] = {0xC023: "ECDHE-ECDSA-AES128-SHA256", 0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256"}


class DecryptError(Exception):
    """The session cannot be decrypted: unsupported, secrets missing or wrong, stream corrupt."""


@dataclasses.dataclass
class DecryptedSession:
    """Result of :func:`decrypt_session`."""

    version: str
    cipher: str
    client_random: str
    client_app: bytes
    """Application data sent by the client (the EV), concatenated."""
    server_app: bytes
    """Application data sent by the server (the SECC), concatenated."""
    records: int
    """Encrypted records decrypted and authenticated."""


def records(stream: bytes) -> list[tuple[int, bytes, bytes]]:
    """Split a TLS byte stream into ``(content type, 5-byte header, fragment)``; a truncated tail is dropped."""
    out, i = [], 0
    while i + 5 <= len(stream):
        ctype, _ver, length = struct.unpack_from(">BHH", stream, i)
        if ctype not in (CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APP) or length > 18432:
            raise DecryptError(f"not a TLS record at offset {i}")
        if i + 5 + length > len(stream):
            break
        out.append((ctype, stream[i : i + 5], stream[i + 5 : i + 5 + length]))
        i += 5 + length
    return out


def _hello(stream: bytes, msg_type: int) -> bytes:
    """Body of the first handshake message (ClientHello=1 / ServerHello=2) in a cleartext stream."""
    for ctype, _hdr, frag in records(stream)[:3]:
        if ctype == CT_HANDSHAKE and frag and frag[0] == msg_type:
            return frag[4:]
    raise DecryptError(f"no {'ClientHello' if msg_type == 1 else 'ServerHello'} at the start of the stream")


def _server_hello(stream: bytes) -> tuple[bytes, int, bool, bool]:
    """(server random, cipher suite, is TLS 1.3, encrypt-then-MAC) from the ServerHello."""
    body = _hello(stream, 2)
    random = body[2:34]
    sid_len = body[34]
    pos = 35 + sid_len
    suite = struct.unpack_from(">H", body, pos)[0]
    pos += 3  # suite + compression
    tls13 = etm = False
    if pos + 2 <= len(body):
        ext_len = struct.unpack_from(">H", body, pos)[0]
        pos += 2
        end = pos + ext_len
        while pos + 4 <= end:
            etype, elen = struct.unpack_from(">HH", body, pos)
            if etype == 43 and elen == 2 and body[pos + 4 : pos + 6] == b"\x03\x04":  # supported_versions
                tls13 = True
            if etype == 22:  # encrypt_then_mac (RFC 7366)
                etm = True
            pos += 4 + elen
    return random, suite, tls13, etm


def _hkdf_label(secret: bytes, label: str, length: int, hash_name: str) -> bytes:
    full = b"tls13 " + label.encode()
    info = struct.pack(">HB", length, len(full)) + full + b"\x00"
    algo: hashes.HashAlgorithm = hashes.SHA384() if hash_name == "sha384" else hashes.SHA256()
    return HKDFExpand(algo, length, info).derive(secret)


class _Tls13Keys:
    """The traffic keys of one direction, handshake first, then application."""

    def __init__(self, secrets: list[bytes], suite: int) -> None:
        _name, key_len, hash_name = TLS13_SUITES[suite]
        self.keys = [
            (_hkdf_label(s, "key", key_len, hash_name), _hkdf_label(s, "iv", 12, hash_name)) for s in secrets
        ]
        self.chacha = suite == 0x1303
        self.index = 0
        self.seq = 0

    def _open(self, index: int, seq: int, header: bytes, frag: bytes) -> bytes:
        key, iv = self.keys[index]
        nonce = bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, "big"), strict=True))
        aead = ChaCha20Poly1305(key) if self.chacha else AESGCM(key)
        return aead.decrypt(nonce, frag, header)

    def decrypt(self, header: bytes, frag: bytes) -> tuple[int, bytes]:
        for index in range(self.index, len(self.keys)):
            seq = self.seq if index == self.index else 0
            try:
                inner = self._open(index, seq, header, frag)
            except InvalidTag:
                continue
            self.index, self.seq = index, seq + 1
            body = inner.rstrip(b"\x00")
            if not body:
                raise DecryptError("TLS 1.3 record without content type")
            return body[-1], body[:-1]
        raise DecryptError("TLS 1.3 record does not authenticate with the disclosed secrets")


def _prf_sha256(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    out, a, full_seed = b"", label + seed, label + seed
    while len(out) < length:
        a = hmac.new(secret, a, hashlib.sha256).digest()
        out += hmac.new(secret, a + full_seed, hashlib.sha256).digest()
    return out[:length]


class _Tls12Keys:
    """Key block slice of one direction of a TLS 1.2 session."""

    def __init__(
        self, master: bytes, client_random: bytes, server_random: bytes, suite: int, client: bool, etm: bool
    ) -> None:
        self.gcm = suite == 0xC02B
        self.etm = etm
        mac_len, key_len, iv_len = (0, 16, 4) if self.gcm else (32, 16, 0)
        block = _prf_sha256(
            master, b"key expansion", server_random + client_random, 2 * (mac_len + key_len + iv_len)
        )
        c_mac, s_mac = block[:mac_len], block[mac_len : 2 * mac_len]
        p = 2 * mac_len
        c_key, s_key = block[p : p + key_len], block[p + key_len : p + 2 * key_len]
        p += 2 * key_len
        c_iv, s_iv = block[p : p + iv_len], block[p + iv_len : p + 2 * iv_len]
        self.mac, self.key, self.iv = (c_mac, c_key, c_iv) if client else (s_mac, s_key, s_iv)
        self.seq = 0

    def decrypt(self, header: bytes, frag: bytes) -> bytes:
        ctype, version = header[0], header[1:3]
        seq = self.seq.to_bytes(8, "big")
        self.seq += 1
        if self.gcm:
            nonce, ct = self.iv + frag[:8], frag[8:]
            aad = seq + bytes([ctype]) + version + struct.pack(">H", len(ct) - 16)
            try:
                return AESGCM(self.key).decrypt(nonce, ct, aad)
            except InvalidTag as exc:
                raise DecryptError(
                    "TLS 1.2 record does not authenticate with the disclosed master secret"
                ) from exc
        if self.etm:
            body, mac = frag[:-32], frag[-32:]
            expect = hmac.new(
                self.mac, seq + bytes([ctype]) + version + struct.pack(">H", len(body)) + body, hashlib.sha256
            ).digest()
            if len(body) < 32 or len(body) % 16 or not hmac.compare_digest(mac, expect):
                raise DecryptError("TLS 1.2 record MAC wrong: the master secret does not match")
            dec = Cipher(algorithms.AES(self.key), modes.CBC(body[:16])).decryptor()
            plain = dec.update(body[16:]) + dec.finalize()
            return plain[: -plain[-1] - 1]
        if len(frag) < 32 or len(frag) % 16:
            raise DecryptError("TLS 1.2 CBC record of impossible length")
        dec = Cipher(algorithms.AES(self.key), modes.CBC(frag[:16])).decryptor()
        plain = dec.update(frag[16:]) + dec.finalize()
        pad = plain[-1]
        if pad + 1 + 32 > len(plain) or plain[-pad - 1 :] != bytes([pad]) * (pad + 1):
            raise DecryptError("TLS 1.2 record padding wrong: the master secret does not match")
        content, mac = plain[: -pad - 1 - 32], plain[-pad - 1 - 32 : -pad - 1]
        expect = hmac.new(
            self.mac,
            seq + bytes([ctype]) + version + struct.pack(">H", len(content)) + content,
            hashlib.sha256,
        ).digest()
        if not hmac.compare_digest(mac, expect):
            raise DecryptError("TLS 1.2 record MAC wrong: the master secret does not match")
        return content


def _secrets_for(keylog: Iterable[KeyLogLine], client_random: str) -> dict[str, bytes]:
    return {kl.label: bytes.fromhex(kl.secret) for kl in keylog if kl.client_random == client_random}


def decrypt_session(
    client_stream: bytes, server_stream: bytes, keylog: Iterable[KeyLogLine]
) -> DecryptedSession:
    """Decrypt one TLS connection; see the module docstring."""
    client_random = _hello(client_stream, 1)[2:34]
    server_random, suite, tls13, etm = _server_hello(server_stream)
    secrets = _secrets_for(keylog, client_random.hex())
    app: dict[bool, bytearray] = {True: bytearray(), False: bytearray()}
    count = 0
    if tls13:
        if suite not in TLS13_SUITES:
            raise DecryptError(f"TLS 1.3 cipher suite 0x{suite:04x} not supported")
        need = ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET")
        if any(n not in secrets for n in need):
            raise DecryptError(f"no TLS 1.3 handshake secrets for client random {client_random.hex()}")
        for is_client, stream in ((True, client_stream), (False, server_stream)):
            side = "CLIENT" if is_client else "SERVER"
            chain = [secrets[f"{side}_HANDSHAKE_TRAFFIC_SECRET"]]
            if f"{side}_TRAFFIC_SECRET_0" in secrets:
                chain.append(secrets[f"{side}_TRAFFIC_SECRET_0"])
            keys = _Tls13Keys(chain, suite)
            for ctype, header, frag in records(stream):
                if ctype != CT_APP:
                    continue  # cleartext hello, compatibility CCS, cleartext alert
                inner_type, content = keys.decrypt(header, frag)
                count += 1
                if inner_type == CT_APP:
                    app[is_client] += content
        name = TLS13_SUITES[suite][0]
    else:
        if suite not in TLS12_SUITES:
            raise DecryptError(f"TLS 1.2 cipher suite 0x{suite:04x} not supported")
        if "CLIENT_RANDOM" not in secrets:
            raise DecryptError(f"no master secret (CLIENT_RANDOM) for client random {client_random.hex()}")
        for is_client, stream in ((True, client_stream), (False, server_stream)):
            k12 = _Tls12Keys(secrets["CLIENT_RANDOM"], client_random, server_random, suite, is_client, etm)
            encrypted = False
            for ctype, header, frag in records(stream):
                if ctype == CT_CCS:
                    encrypted = True
                    continue
                if not encrypted:
                    continue
                content = k12.decrypt(header, frag)
                count += 1
                if ctype == CT_APP:
                    app[is_client] += content
        name = TLS12_SUITES[suite]
    return DecryptedSession(
        version="TLSv1.3" if tls13 else "TLSv1.2",
        cipher=name,
        client_random=client_random.hex(),
        client_app=bytes(app[True]),
        server_app=bytes(app[False]),
        records=count,
    )
