"""``ssl.SSLContext`` factories for the SECC (server) and the EVCC (our EV simulator, client).

ISO 15118-2 (TLS 1.2 only):
    cipher suite TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 (OpenSSL ``ECDHE-ECDSA-AES128-SHA256``) on
    secp256r1. -2 also names TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256 (static ECDH), which OpenSSL 3 no
    longer implements, so it cannot be offered. The SECC does not ask for a client certificate.

ISO 15118-20 (TLS 1.3 only):
    cipher suites TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256, groups secp521r1 and x448
    (secp256r1 is added by default for EVs that only offer it, e.g. the open-source Josev EV; ``strict=True``
    removes it). The SECC always sends a CertificateRequest; an EV that answers with its vehicle/OEM chain is
    verified against the OEM root(s) (mutual authentication), an EV that sends none gets server-only TLS
    unless ``require_client_cert``.

``both``: one listener for EVs of either generation (the application protocol is only chosen after the
handshake): TLS 1.2 with the -2 suite, TLS 1.3 with the -20 suites.

Every factory checks its own certificate first and raises :class:`TlsConfigError` (clear message, no key
material) when it is missing, unreadable, expired or does not match the key. :class:`TlsPolicy` is checked
again after every handshake by :mod:`josev.tls.session`, so a session outside the policy is refused even on
a Python where the TLS 1.3 settings of :mod:`josev.tls._openssl` are unavailable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from josev.pki.builder import PkiError
from josev.pki.store import load_cert, load_key
from josev.tls import _openssl
from josev.tls.keylog import prepare_keylog_file

log = logging.getLogger(__name__)

ISO2_CIPHERS: tuple[str, ...] = ("ECDHE-ECDSA-AES128-SHA256",)
"""TLS 1.2 suites of ISO 15118-2 that OpenSSL 3 implements (OpenSSL names)."""
ISO2_CIPHERS_IANA: tuple[str, ...] = ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",)
ISO2_CURVE = "prime256v1"
"""secp256r1 in OpenSSL's naming."""
ISO20_CIPHERSUITES: tuple[str, ...] = ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
ISO20_GROUPS: tuple[str, ...] = ("secp521r1", "X448")
COMPAT_GROUPS: tuple[str, ...] = ("prime256v1",)
"""Added after the -20 groups unless ``strict``: EVs that offer secp256r1 only still connect."""

Mode = Literal["iso2", "iso20", "both"]


class TlsConfigError(Exception):
    """A TLS context cannot be built from the given files; the message names the file and the reason."""


@dataclasses.dataclass(frozen=True)
class TlsPolicy:
    """What a finished handshake must satisfy (checked by :func:`josev.tls.session.check_policy`)."""

    versions: frozenset[str]
    """Allowed ``SSLObject.version()`` values (``TLSv1.2``, ``TLSv1.3``)."""
    ciphers: frozenset[str]
    """Allowed ``SSLObject.cipher()[0]`` names (OpenSSL names for 1.2, IANA names for 1.3)."""
    require_peer_cert: bool = False


def policy_for(mode: Mode, require_client_cert: bool = False) -> TlsPolicy:
    """The :class:`TlsPolicy` of ``mode``."""
    versions: set[str] = set()
    ciphers: set[str] = set()
    if mode in ("iso2", "both"):
        versions.add("TLSv1.2")
        ciphers.update(ISO2_CIPHERS)
    if mode in ("iso20", "both"):
        versions.add("TLSv1.3")
        ciphers.update(ISO20_CIPHERSUITES)
    return TlsPolicy(frozenset(versions), frozenset(ciphers), require_client_cert)


def _check_own_cert(chain: Path, key: Path, password: bytes | None, now: dt.datetime | None) -> None:
    try:
        cert = load_cert(chain)
        priv = load_key(key, password)
    except PkiError as exc:
        raise TlsConfigError(str(exc)) from exc
    now = now or dt.datetime.now(dt.UTC)
    subject = cert.subject.rfc4514_string()
    if now > cert.not_valid_after_utc:
        raise TlsConfigError(f"{chain}: certificate {subject} expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    if now < cert.not_valid_before_utc:
        raise TlsConfigError(f"{chain}: certificate {subject} not valid before {cert.not_valid_before_utc}")
    from cryptography.hazmat.primitives import serialization as s

    fmt = (s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
    if priv.public_key().public_bytes(*fmt) != cert.public_key().public_bytes(*fmt):
        raise TlsConfigError(f"{key}: private key does not belong to the first certificate of {chain}")


def _versions(ctx: ssl.SSLContext, mode: Mode) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if mode == "iso20" else ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2 if mode == "iso2" else ssl.TLSVersion.TLSv1_3


def _suites(ctx: ssl.SSLContext, mode: Mode, strict: bool) -> None:
    # TLS <= 1.2 list; with "iso20" no 1.2 suite is reachable anyway (minimum version 1.3)
    ctx.set_ciphers(":".join(ISO2_CIPHERS))
    if mode == "iso2":
        ctx.set_ecdh_curve(ISO2_CURVE)
        return
    if not _openssl.set_tls13_ciphersuites(ctx, ":".join(ISO20_CIPHERSUITES)):
        log.warning("TLS 1.3 cipher suites not settable here; foreign suites are refused after the handshake")
    groups = ISO20_GROUPS if strict else ISO20_GROUPS + COMPAT_GROUPS
    if mode == "both" and ISO2_CURVE not in groups:
        groups = groups + COMPAT_GROUPS
    if not _openssl.set_groups(ctx, ":".join(groups)):
        log.warning("TLS 1.3 groups not settable here; OpenSSL's default groups apply")


def _keylog(ctx: ssl.SSLContext, keylog: Path | None) -> None:
    if keylog is not None:
        prepare_keylog_file(keylog)
        ctx.keylog_filename = str(keylog)


def secc_context(
    mode: Mode,
    cert_chain: Path,
    key: Path,
    *,
    key_password: bytes | None = None,
    oem_roots: Path | None = None,
    require_client_cert: bool = False,
    strict: bool = False,
    keylog: Path | None = None,
    now: dt.datetime | None = None,
) -> ssl.SSLContext:
    """Server context of the SECC.

    ``cert_chain``: PEM with the SECC leaf first, then CPO Sub-CA 2 and Sub-CA 1. ``oem_roots``: PEM file of
    trusted OEM root(s) for -20 mutual authentication (ignored in ``iso2`` mode). ``keylog``: write TLS
    secrets in the NSS key log format there (debugging only; off when None).
    """
    _check_own_cert(cert_chain, key, key_password, now)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _versions(ctx, mode)
    _suites(ctx, mode, strict)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        ctx.load_cert_chain(str(cert_chain), str(key), key_password)
    except ssl.SSLError as exc:
        raise TlsConfigError(f"{cert_chain}/{key}: OpenSSL refused the chain or key ({exc.reason})") from exc
    if mode != "iso2" and (oem_roots is not None or require_client_cert):
        if oem_roots is None:
            raise TlsConfigError("require_client_cert needs oem_roots (the trusted OEM root certificates)")
        try:
            ctx.load_verify_locations(cafile=str(oem_roots))
        except (ssl.SSLError, OSError) as exc:
            raise TlsConfigError(f"{oem_roots}: cannot load OEM root(s): {exc}") from exc
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    else:
        ctx.verify_mode = ssl.CERT_NONE
    _keylog(ctx, keylog)
    return ctx


def evcc_context(
    mode: Mode,
    v2g_roots: Path,
    *,
    client_chain: Path | None = None,
    client_key: Path | None = None,
    key_password: bytes | None = None,
    strict: bool = True,
    keylog: Path | None = None,
    ciphers: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> ssl.SSLContext:
    """Client context of our EV: verifies the SECC chain against ``v2g_roots`` (no host name check: the
    SECC is addressed by link-local IP). In -20 the EV presents ``client_chain`` (vehicle/OEM leaf + OEM
    sub-CAs) with ``client_key`` when given. ``ciphers`` overrides the TLS 1.2 list (tests use it)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _versions(ctx, mode)
    _suites(ctx, mode, strict)
    if ciphers is not None:
        ctx.set_ciphers(":".join(ciphers))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(cafile=str(v2g_roots))
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(f"{v2g_roots}: cannot load V2G root(s): {exc}") from exc
    if client_chain is not None:
        if client_key is None:
            raise TlsConfigError("client_chain given without client_key")
        _check_own_cert(client_chain, client_key, key_password, now)
        try:
            ctx.load_cert_chain(str(client_chain), str(client_key), key_password)
        except ssl.SSLError as exc:
            raise TlsConfigError(f"{client_chain}: OpenSSL refused the chain or key ({exc.reason})") from exc
    _keylog(ctx, keylog)
    return ctx
