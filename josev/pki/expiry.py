"""Certificate expiry figures for the bus and ``josev pki show``.

Pure functions: the current time is passed in. :func:`expiry_report` is what the station publishes
(one entry per certificate: days left until notAfter, negative once expired).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509

from josev.pki.store import find_profiles, load_cert


@dataclasses.dataclass(frozen=True)
class CertExpiry:
    """Expiry of one certificate."""

    name: str
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    days_left: float
    """Days from ``now`` until notAfter (negative: expired that many days ago)."""

    @property
    def expired(self) -> bool:
        """True once notAfter has passed."""
        return self.days_left < 0

    def not_yet_valid(self, now: dt.datetime) -> bool:
        """True before notBefore."""
        return now < self.not_before


def cert_expiry(name: str, cert: x509.Certificate, now: dt.datetime) -> CertExpiry:
    """Expiry figures of ``cert`` at ``now`` (an aware datetime)."""
    na = cert.not_valid_after_utc
    return CertExpiry(
        name=name,
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=na,
        days_left=(na - now).total_seconds() / 86400.0,
    )


def expiry_report(certs: Mapping[str, x509.Certificate], now: dt.datetime) -> list[CertExpiry]:
    """Per-certificate expiry, soonest first."""
    return sorted((cert_expiry(n, c, now) for n, c in certs.items()), key=lambda e: e.days_left)


def days_to_expiry(certs: Mapping[str, x509.Certificate], now: dt.datetime) -> dict[str, int]:
    """``{name: whole days until notAfter}`` (floor, so 0 means "expires within a day", -1 "expired")."""
    return {e.name: int(e.days_left // 1) for e in expiry_report(certs, now)}


def certs_in_dir(directory: Path) -> dict[str, x509.Certificate]:
    """Every certificate of a josev PKI folder, named ``<profile>/<name>``; a plain folder of ``*.pem``
    files works too (named by file stem)."""
    out: dict[str, x509.Certificate] = {}
    try:
        profiles = find_profiles(directory)
    except Exception:
        profiles = []
    if profiles:
        for base in profiles:
            for pem in sorted((base / "certs").glob("*.pem")):
                out[f"{base.name}/{pem.stem}"] = load_cert(pem)
        return out
    for pem in sorted(directory.glob("*.pem")):
        out[pem.stem] = load_cert(pem)
    return out
