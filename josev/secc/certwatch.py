"""Publish the expiry of the SECC's certificates on the bus (``secc/station/state/certificate_expiry``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from pathlib import Path

from josev.api.secc import CertificateExpiry, CertificateInfo
from josev.bus.client import Bus
from josev.pki.expiry import certs_in_dir, expiry_report

log = logging.getLogger("josev.secc")


def report(pki_dir: Path, now: dt.datetime, warn_days: float = 30.0) -> CertificateExpiry:
    """The expiry state of every certificate below ``pki_dir``."""
    entries = expiry_report(certs_in_dir(pki_dir), now)
    certs = [
        CertificateInfo(name=e.name, subject=e.subject, not_after=e.not_after, days_left=e.days_left)
        for e in entries
    ]
    return CertificateExpiry(
        certificates=certs,
        soonest_days_left=min((c.days_left for c in certs), default=None),
        expired=[c.name for c in certs if c.days_left < 0],
        warn_days=warn_days,
    )


async def run(
    bus: Bus, pki_dir: Path, stop: asyncio.Event, *, period_s: float = 6 * 3600.0, warn_days: float = 30.0
) -> None:
    """Publish at once and every ``period_s`` until ``stop``; warn about certificates close to expiry."""
    while not stop.is_set():
        try:
            state = report(pki_dir, dt.datetime.now(dt.UTC), warn_days)
        except (OSError, ValueError) as exc:
            log.error("cannot read the certificates in %s: %s", pki_dir, exc)
        else:
            await bus.publish(state)
            for c in state.certificates:
                if c.days_left < 0:
                    log.error("certificate %s (%s) expired %.0f days ago", c.name, c.subject, -c.days_left)
                elif c.days_left < warn_days:
                    log.warning("certificate %s (%s) expires in %.1f days", c.name, c.subject, c.days_left)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), period_s)
