"""TLS of the SECC from a PKI folder made by ``josev pki create``: which profile serves which mode, the server
context, and the matching EV-side context for our EV simulator.

``iso2`` and ``both`` use ``DIR/iso2`` (a secp256r1 SECC chain: the only one a TLS 1.2 ISO 15118-2 EV can
verify; TLS 1.3 EVs accept it too); ``iso20`` uses ``DIR/iso20-p521``. The SECC asks -20 EVs for their OEM
provisioning chain (mutual TLS when they present one) against the OEM root of the same profile.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from josev.tls.contexts import Mode

log = logging.getLogger("josev.secc")

TlsChoice = Literal["off", "iso2", "iso20", "both"]
PROFILE_OF: dict[str, str] = {"iso2": "iso2", "iso20": "iso20-p521", "both": "iso2"}


@dataclass(frozen=True)
class SeccTls:
    """TLS settings of the SECC's second listener."""

    mode: Mode
    pki_dir: Path
    """The folder ``josev pki create --out`` wrote (holding ``iso2/`` and ``iso20-p521/``)."""
    enforce: bool = False
    """Announce only the TLS listener in SDP (EVs asking for plain TCP get the TLS port too)."""
    require_client_cert: bool = False
    """-20: refuse EVs without an OEM chain."""
    strict: bool = False
    """-20: no secp256r1 fallback group (refuses EVs that only offer it, e.g. the open-source Josev EV)."""
    keylog: Path | None = None
    """NSS key log file for Wireshark (debugging only)."""

    @property
    def profile_dir(self) -> Path:
        """The profile folder used for ``mode``."""
        return self.pki_dir / PROFILE_OF[self.mode]

    def context(self) -> ssl.SSLContext:
        """The server context (raises :class:`josev.tls.TlsConfigError` with a clear message)."""
        from josev.tls import secc_context

        base = self.profile_dir
        oem = base / "certs" / "oem_root.pem"
        return secc_context(
            self.mode,
            base / "chains" / "secc.pem",
            base / "keys" / "secc_leaf.key",
            oem_roots=oem if self.mode != "iso2" and oem.exists() else None,
            require_client_cert=self.require_client_cert,
            strict=self.strict,
            keylog=self.keylog,
        )


def ensure_pki(pki_dir: Path) -> Path:
    """Create a test PKI in ``pki_dir`` (both profiles, plus the open-source Josev layout) unless one is there."""
    from josev.pki import create

    if (
        not (pki_dir / "iso2" / "manifest.json").exists()
        or not (pki_dir / "iso20-p521" / "manifest.json").exists()
    ):
        log.info("creating a test PKI in %s", pki_dir)
        create(pki_dir, ("iso2", "iso20-p521"), josev_layout=True)
    return pki_dir


def ev_context(
    pki_dir: Path, mode: Mode, station_mode: Mode | None = None, *, mutual: bool = True
) -> ssl.SSLContext:
    """Our EV's context (TLS ``mode``) against a station in ``station_mode`` (default: ``mode``) using
    ``pki_dir``: trusts that profile's V2G root; a -20 EV presents the profile's OEM provisioning chain."""
    from josev.tls import evcc_context

    base = pki_dir / PROFILE_OF[station_mode or mode]
    roots = base / "certs" / "v2g_root.pem"
    if mode == "iso20" and mutual:
        return evcc_context(
            mode,
            roots,
            client_chain=base / "chains" / "oem.pem",
            client_key=base / "keys" / "oem_prov_leaf.key",
            strict=False,
        )
    return evcc_context(mode, roots, strict=False)
