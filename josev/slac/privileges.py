"""Privilege handling: the SLAC service needs CAP_NET_RAW only to open its AF_PACKET sockets.

Open every socket first, then call :func:`drop_privileges`: as root it switches to an unprivileged user (the
open sockets keep working); otherwise it clears all capabilities of the process (e.g. a python started with
``setcap cap_net_raw+ep``). ``PR_SET_NO_NEW_PRIVS`` is set in both cases.
"""

from __future__ import annotations

import ctypes
import os
import pwd

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_PR_SET_NO_NEW_PRIVS = 38
_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def clear_capabilities() -> None:
    """Drop every capability of the calling thread's process (effective, permitted, inheritable)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def no_new_privs() -> None:
    """Forbid gaining privileges through exec (setuid binaries, file capabilities)."""
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")


def drop_privileges(user: str | None = None) -> str:
    """Give up privileges after the raw sockets are open; returns what was done."""
    if os.geteuid() == 0 and user:
        entry = pwd.getpwnam(user)
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
        no_new_privs()
        return f"switched to user {user}"
    clear_capabilities()
    no_new_privs()
    return "cleared capabilities"
