"""TLS for ISO 15118: SECC/EVCC context factories, session upgrade with clear refusals, key disclosure.

See :mod:`josev.tls.contexts` for the profiles (-2: TLS 1.2, -20: TLS 1.3 with optional mutual
authentication), :mod:`josev.tls.session` for the asyncio helpers and :mod:`josev.tls.keylog` for the
debugging key log file and the dsV2Gshark UDP disclosure.
"""

from __future__ import annotations

from josev.tls.contexts import (
    ISO2_CIPHERS,
    ISO20_CIPHERSUITES,
    ISO20_GROUPS,
    TlsConfigError,
    TlsPolicy,
    evcc_context,
    policy_for,
    secc_context,
)
from josev.tls.keylog import KeyDisclosure, UdpDisclosure
from josev.tls.session import TlsInfo, TlsRefused, TlsStats, accept_tls, connect_tls

__all__ = [
    "ISO2_CIPHERS",
    "ISO20_CIPHERSUITES",
    "ISO20_GROUPS",
    "KeyDisclosure",
    "TlsConfigError",
    "TlsInfo",
    "TlsPolicy",
    "TlsRefused",
    "TlsStats",
    "UdpDisclosure",
    "accept_tls",
    "connect_tls",
    "evcc_context",
    "policy_for",
    "secc_context",
]
