"""The ISO 15118 V2G test PKI: build, write, read, check, expiry.

Typical use::

    from josev.pki import create
    create(Path("pki"), profiles=["iso2", "iso20-p521"], josev_layout=True)

See ``docs/pki.md`` for the layout and the certificate profiles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from josev.pki.builder import Issued, Override, Pki, PkiError, build_pki
from josev.pki.check import Finding, check_pki
from josev.pki.expiry import CertExpiry, days_to_expiry, expiry_report
from josev.pki.josev_layout import DEFAULT_PASSWORD, write_josev_layout
from josev.pki.profiles import PROFILES, Profile
from josev.pki.store import load_pki, write_pki

__all__ = [
    "PROFILES",
    "CertExpiry",
    "Finding",
    "Issued",
    "Override",
    "Pki",
    "PkiError",
    "Profile",
    "build_pki",
    "check_pki",
    "create",
    "days_to_expiry",
    "expiry_report",
    "load_pki",
    "write_josev_layout",
    "write_pki",
]


def create(
    out: Path,
    profiles: Iterable[str] = ("iso2", "iso20-p521"),
    *,
    josev_layout: bool = False,
    josev_password: str = DEFAULT_PASSWORD,
    secc_id: str | None = None,
    emaid: str | None = None,
    pcid: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Path]:
    """Create the PKIs of ``profiles`` under ``out``; returns ``{profile: folder}``.

    With ``josev_layout`` the ``iso2`` PKI is also written as ``out/josev/iso15118_2`` (use
    ``PKI_PATH=out/josev/``). ``secc_id``, ``emaid`` and ``pcid`` set the CN of the SECC, contract and
    OEM provisioning leaves.
    """
    overrides: dict[str, Override] = {}
    if secc_id:
        overrides["secc_leaf"] = Override(common_name=secc_id)
    if emaid:
        overrides["contract_leaf"] = Override(common_name=emaid)
    if pcid:
        overrides["oem_prov_leaf"] = Override(common_name=pcid)
    names = list(profiles)
    if josev_layout and "iso2" not in names:
        names.insert(0, "iso2")
    bad = [p for p in names if p not in PROFILES]
    if bad:
        raise PkiError(f"unknown profile(s) {', '.join(bad)}; known: {', '.join(PROFILES)}")
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name in names:
        pki = build_pki(PROFILES[name], now=now, overrides=overrides)
        written[name] = write_pki(pki, out)
        if josev_layout and name == "iso2":
            written["josev"] = write_josev_layout(pki, out / "josev", josev_password).parent
    return written
