"""Two OpenSSL settings Python's ``ssl`` module (3.11) does not expose: TLS 1.3 cipher suites and groups.

``ssl.SSLContext.set_ciphers`` only governs TLS <= 1.2 and ``set_ecdh_curve`` accepts a single group, yet
ISO 15118-20 names two TLS 1.3 cipher suites and two key-exchange groups. We reach the context's ``SSL_CTX``
through ``ctypes`` and call ``SSL_CTX_set_ciphersuites`` / ``SSL_CTX_set1_groups_list`` of the very libssl
the ``_ssl`` extension is linked against.

This relies on CPython's object layout (the ``SSL_CTX *`` is the first field after the object header). The
pointer is validated before any write: ``SSL_CTX_get_options`` on it must return ``ctx.options``, and
flipping an option bit through Python must show through the pointer. If anything does not match, nothing is
written and the functions return False; callers then fall back to the post-handshake policy check in
:mod:`josev.tls.contexts` (which refuses a session with a foreign suite), and log that they did.
"""

from __future__ import annotations

import ctypes
import logging
import ssl
from typing import Any

log = logging.getLogger(__name__)

_SSL_CTRL_SET_GROUPS_LIST = 92

_lib: Any = None


def _libssl() -> Any:
    global _lib
    if _lib is None:
        import _ssl

        lib = ctypes.CDLL(_ssl.__file__)
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_set_ciphersuites.restype = ctypes.c_int
        lib.SSL_CTX_set_ciphersuites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.SSL_CTX_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
        _lib = lib
    return _lib


def _ctx_pointer(ctx: ssl.SSLContext) -> int | None:
    """The ``SSL_CTX *`` of ``ctx``, or None when it cannot be validated."""
    try:
        lib = _libssl()
        ptr = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
        if not ptr:
            return None
        if lib.SSL_CTX_get_options(ptr) != ctx.options:
            return None
        probe = ssl.OP_NO_TICKET
        had = bool(ctx.options & probe)
        ctx.options ^= probe
        seen = bool(lib.SSL_CTX_get_options(ptr) & probe)
        ctx.options ^= probe
        if seen == had:
            return None
        return int(ptr)
    except (OSError, AttributeError, ValueError) as exc:  # pragma: no cover - other Python builds
        log.debug("cannot reach SSL_CTX: %s", exc)
        return None


def set_tls13_ciphersuites(ctx: ssl.SSLContext, suites: str) -> bool:
    """Restrict the TLS 1.3 cipher suites of ``ctx`` to ``suites`` (colon separated IANA names)."""
    ptr = _ctx_pointer(ctx)
    if ptr is None:
        return False
    ok = _libssl().SSL_CTX_set_ciphersuites(ptr, suites.encode()) == 1
    if ok:
        tls13 = [c["name"] for c in ctx.get_ciphers() if c.get("protocol") == "TLSv1.3"]
        ok = tls13 == suites.split(":")
    return bool(ok)


def set_groups(ctx: ssl.SSLContext, groups: str) -> bool:
    """Restrict the key-exchange groups of ``ctx`` to ``groups`` (colon separated OpenSSL names)."""
    ptr = _ctx_pointer(ctx)
    if ptr is None:
        return False
    buf = ctypes.c_char_p(groups.encode())
    return bool(
        _libssl().SSL_CTX_ctrl(ptr, _SSL_CTRL_SET_GROUPS_LIST, 0, ctypes.cast(buf, ctypes.c_void_p)) == 1
    )
