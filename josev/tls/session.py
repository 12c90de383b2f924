"""TLS on an asyncio stream: upgrade, policy check, clear refusal log lines, counters, key disclosure.

The SECC accepts TCP with ``asyncio.start_server`` and calls :func:`accept_tls` on the new stream; our EV
calls :func:`connect_tls`. A refused handshake (version too low, no common cipher suite, untrusted or expired
chain, missing client certificate, timeout) is logged once as ``TLS ... refused: <reason>``, counted in
:class:`TlsStats` and the connection is closed; nothing is raised into the server and other sessions are
unaffected.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import ssl
from typing import Any

from cryptography import x509

from josev.tls.contexts import TlsPolicy
from josev.tls.keylog import KeyDisclosure

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TlsInfo:
    """What was negotiated."""

    version: str
    cipher: str
    peer_cert: x509.Certificate | None
    """The peer's leaf certificate (the EV's vehicle/OEM certificate in -20 mutual TLS), if any."""

    @property
    def mutual(self) -> bool:
        """True when the peer authenticated with a certificate."""
        return self.peer_cert is not None

    @property
    def peer_subject(self) -> str:
        """RFC 4514 subject of the peer certificate, or ``-``."""
        return self.peer_cert.subject.rfc4514_string() if self.peer_cert else "-"


class TlsRefused(Exception):
    """A client-side handshake was refused; ``reason`` is the short key, the message the explanation."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclasses.dataclass
class TlsStats:
    """Counters of accepted and refused handshakes (refusals by reason key)."""

    accepted: int = 0
    refused: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


_REASONS: dict[str, tuple[str, str]] = {
    "NO_SHARED_CIPHER": ("cipher", "no cipher suite in common: the peer offered none of the allowed suites"),
    "NO_CIPHERS_AVAILABLE": ("cipher", "no cipher suite available for the offered protocol version"),
    "NO_SUITABLE_SIGNATURE_ALGORITHM": ("cipher", "no signature algorithm in common"),
    "NO_SUITABLE_KEY_SHARE": ("group", "no key-exchange group in common"),
    "SSLV3_ALERT_HANDSHAKE_FAILURE": (
        "handshake",
        "the peer aborted the handshake (handshake_failure alert)",
    ),
    "UNSUPPORTED_PROTOCOL": ("version", "TLS version not allowed: the peer's version is below the minimum"),
    "TLSV1_ALERT_PROTOCOL_VERSION": ("version", "TLS version not allowed (protocol_version alert)"),
    "WRONG_VERSION_NUMBER": ("version", "TLS version not allowed or not TLS at all"),
    "VERSION_TOO_LOW": ("version", "TLS version too low"),
    "TLSV1_ALERT_UNKNOWN_CA": ("chain", "the peer does not trust our certificate chain (unknown_ca alert)"),
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": ("expired", "the peer refused our certificate as expired"),
    "SSLV3_ALERT_BAD_CERTIFICATE": ("chain", "the peer refused our certificate (bad_certificate alert)"),
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": ("client-cert", "the EV presented no certificate, one is required"),
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": ("client-cert", "the SECC requires a client certificate"),
}


def describe(exc: BaseException) -> tuple[str, str]:
    """``(reason key, human explanation)`` of a handshake failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        msg = exc.verify_message or exc.reason or "verification failed"
        key = "expired" if "expired" in msg else "not-yet-valid" if "not yet valid" in msg else "chain"
        return key, f"peer certificate rejected: {msg}"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        if reason in _REASONS:
            return _REASONS[reason]
        return "tls", f"TLS error {reason or exc}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timeout", "handshake timed out"
    if isinstance(exc, ConnectionAbortedError) and "taking longer" in str(exc):
        return "timeout", "handshake timed out"
    if isinstance(exc, ConnectionError | EOFError | OSError):
        return "closed", f"peer closed the connection during the handshake ({type(exc).__name__})"
    return "error", f"{type(exc).__name__}: {exc}"


def check_policy(info: TlsInfo, policy: TlsPolicy) -> str | None:
    """None when ``info`` satisfies ``policy``, else why not."""
    if info.version not in policy.versions:
        return f"TLS version {info.version} not allowed (allowed: {', '.join(sorted(policy.versions))})"
    if info.cipher not in policy.ciphers:
        return f"cipher suite {info.cipher} not allowed (allowed: {', '.join(sorted(policy.ciphers))})"
    if policy.require_peer_cert and info.peer_cert is None:
        return "peer presented no certificate"
    return None


def _info(sslobj: Any) -> TlsInfo:
    der = sslobj.getpeercert(binary_form=True)
    cipher = sslobj.cipher()
    return TlsInfo(
        version=sslobj.version() or "?",
        cipher=cipher[0] if cipher else "?",
        peer_cert=x509.load_der_x509_certificate(der) if der else None,
    )


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"[{peer[0]}]:{peer[1]}"
    return str(peer)


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):  # transport may already be gone
        writer.close()


async def accept_tls(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ctx: ssl.SSLContext,
    policy: TlsPolicy,
    *,
    handshake_timeout: float = 5.0,
    disclosure: KeyDisclosure | None = None,
    stats: TlsStats | None = None,
    logger: logging.Logger = log,
) -> TlsInfo | None:
    """Upgrade an accepted TCP stream to TLS (server side). Returns the :class:`TlsInfo`, or None when the
    handshake or the policy refused the peer (logged, counted, connection closed)."""
    peer = _peer(writer)
    try:
        await writer.start_tls(ctx, ssl_handshake_timeout=handshake_timeout)
    except Exception as exc:
        key, text = describe(exc)
        logger.warning("TLS handshake with %s refused: %s", peer, text)
        if stats is not None:
            stats.refused[key] += 1
        _close(writer)
        return None
    finally:
        if disclosure is not None:
            disclosure.flush()
    info = _info(writer.get_extra_info("ssl_object"))
    why = check_policy(info, policy)
    if why is not None:
        logger.warning("TLS session with %s refused: %s", peer, why)
        if stats is not None:
            stats.refused["policy"] += 1
        _close(writer)
        return None
    if stats is not None:
        stats.accepted += 1
    logger.info(
        "TLS %s %s with %s, %s",
        info.version,
        info.cipher,
        peer,
        f"mutual, EV certificate {info.peer_subject}" if info.mutual else "server-authenticated",
    )
    return info


async def connect_tls(
    host: str,
    port: int,
    ctx: ssl.SSLContext,
    policy: TlsPolicy,
    *,
    handshake_timeout: float = 5.0,
    disclosure: KeyDisclosure | None = None,
    logger: logging.Logger = log,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, TlsInfo]:
    """Connect and handshake (client side); raises :class:`TlsRefused` with a clear reason on failure."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host, port, ssl=ctx, server_hostname="", ssl_handshake_timeout=handshake_timeout
            ),
            handshake_timeout + 1.0,
        )
    except Exception as exc:
        key, text = describe(exc)
        logger.warning("TLS handshake with [%s]:%s refused: %s", host, port, text)
        raise TlsRefused(key, text) from exc
    finally:
        if disclosure is not None:
            disclosure.flush()
    info = _info(writer.get_extra_info("ssl_object"))
    why = check_policy(info, dataclasses.replace(policy, require_peer_cert=False))
    if why is not None:
        logger.warning("TLS session with [%s]:%s refused: %s", host, port, why)
        _close(writer)
        raise TlsRefused("policy", why)
    return reader, writer, info
