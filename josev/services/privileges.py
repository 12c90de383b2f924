"""Dropping root: a station started as root outside systemd runs its services as the configured user.

``josev run`` as root (a board's init script, a shell) resolves ``[station] user``/``group`` first
(:func:`resolve`; an unknown name is a configuration error naming the key), gives the state it will write to
that user (:func:`give_state`), starts the broker (mosquitto drops to the same user itself, ``user`` option),
then switches every process to the user (:func:`drop_to`). Only the process that runs SLAC keeps one
capability, CAP_NET_RAW, for its AF_PACKET sockets; every other process (and mosquitto) has none. A launcher
that starts SLAC as a child process keeps CAP_NET_RAW permitted but not effective and hands it to that child
alone (:func:`pass_on_to_child`, as an ambient capability across exec).

Not root: nothing to switch, and the launcher leaves the capabilities it was given alone (systemd's
``AmbientCapabilities`` decide per unit; :func:`drop_to` without an identity trims them when called).

Uses prctl/capset through ctypes on libc (the capability packages on PyPI are unmaintained or need
libcap's headers to build).
"""

from __future__ import annotations

import ctypes
import grp
import os
import pwd
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CAP_NET_RAW = 13
CAP_LAST = 63
"""The highest capability number tried when trimming the bounding set (EINVAL past the kernel's last)."""

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_PR_CAPBSET_DROP = 24
_PR_SET_KEEPCAPS = 8
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4

_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int

DEFAULT_USER = "josev"
"""The user a root-started station switches to when ``[station] user`` is not set (and the user exists;
``josev systemd install`` and the Debian/Yocto packages create it)."""


class PrivilegeError(RuntimeError):
    """The station cannot run as the configured user (unknown user, unreadable state, failed switch)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        """The configuration key at fault (``station.user``), if any."""


@dataclass(frozen=True)
class Identity:
    """Who the services run as."""

    user: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    """Supplementary groups (the user's groups from /etc/group, e.g. ``dialout`` for serial meters)."""


def resolve(user: str | None, group: str | None, *, euid: int | None = None) -> Identity | None:
    """The identity to switch to, or None to stay as we are.

    Only a process started as root switches. ``user`` unset: the ``josev`` user if it exists (else None, and
    the caller warns); set: it must exist (:class:`PrivilegeError` naming ``station.user``); ``"root"``
    means stay root on purpose. ``group`` (default: the user's primary group) must exist likewise."""
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        return None
    name = user if user is not None else DEFAULT_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if user is None:
            return None
        raise PrivilegeError(
            f"no user {name!r} on this system: create it (useradd --system --no-create-home {name}) or"
            ' set another (user = "root" keeps every service root)',
            "station.user",
        ) from None
    if entry.pw_uid == 0:
        return None
    gid = entry.pw_gid
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise PrivilegeError(f"no group {group!r} on this system", "station.group") from None
    groups = tuple(sorted(set(os.getgrouplist(name, gid))))
    return Identity(name, entry.pw_uid, gid, groups)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mask(caps: Iterable[int]) -> int:
    out = 0
    for c in caps:
        out |= 1 << c
    return out


def set_capabilities(
    effective: Iterable[int], permitted: Iterable[int], inheritable: Iterable[int] = ()
) -> None:
    """capset(2) of the calling process: exactly these sets."""
    eff, prm, inh = _mask(effective), _mask(permitted), _mask(inheritable)
    data = (_CapData * 2)()
    for i in range(2):
        data[i].effective = (eff >> (32 * i)) & 0xFFFFFFFF
        data[i].permitted = (prm >> (32 * i)) & 0xFFFFFFFF
        data[i].inheritable = (inh >> (32 * i)) & 0xFFFFFFFF
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def _trim_bounding_set(keep: int) -> None:
    """Drop every capability but ``keep`` from the bounding set (needs CAP_SETPCAP: call it while root)."""
    for cap in range(CAP_LAST + 1):
        if not keep & (1 << cap) and _prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            if ctypes.get_errno() == 22:  # EINVAL: past the kernel's last capability
                break
            _check(-1, f"prctl(PR_CAPBSET_DROP, {cap})")


def drop_to(
    identity: Identity | None, *, keep: frozenset[int] = frozenset(), pass_on: frozenset[int] = frozenset()
) -> str:
    """Switch this process to ``identity`` (None: stay who we are) keeping only ``keep`` effective and
    ``pass_on`` permitted for children (:func:`pass_on_to_child`); returns what was done (for the log).

    Sets PR_SET_NO_NEW_PRIVS: nothing exec'd later gains privileges through setuid or file capabilities."""
    held = keep | pass_on
    _check(_prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    if identity is not None:
        _trim_bounding_set(_mask(held))
        if held:
            _check(_prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)")
        os.setgroups(list(identity.groups))
        os.setresgid(identity.gid, identity.gid, identity.gid)
        os.setresuid(identity.uid, identity.uid, identity.uid)
        if held:
            _check(_prctl(_PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)")
    try:
        set_capabilities(keep, held, pass_on)
    except OSError:
        if keep or pass_on:
            raise
    _check(_prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    caps = ", ".join(name_of(c) for c in sorted(keep)) or "none"
    who = (
        f"user {identity.user} (uid {identity.uid}, gid {identity.gid})" if identity else f"uid {os.getuid()}"
    )
    return f"running as {who}; capabilities: {caps}" + (
        f" (passed on to children: {', '.join(name_of(c) for c in sorted(pass_on))})" if pass_on else ""
    )


def pass_on_to_child(caps: frozenset[int]) -> None:
    """Raise ``caps`` as ambient capabilities (a ``preexec_fn``: in the forked child before exec), so the
    exec'd child has them effective although it is not root. They must be permitted and inheritable here
    (:func:`drop_to` with ``pass_on``)."""
    for cap in sorted(caps):
        _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, cap, 0, 0)


def name_of(cap: int) -> str:
    """``CAP_NET_RAW`` for 13, ``cap<N>`` for the rest."""
    return "CAP_NET_RAW" if cap == CAP_NET_RAW else f"cap{cap}"


def permitted(pid: int | str = "self") -> frozenset[int]:
    """The permitted capabilities of a process (``CapPrm`` of /proc/<pid>/status)."""
    return caps_of(proc_status(pid)["CapPrm"])


def caps_of(hex_mask: str) -> frozenset[int]:
    """The capability numbers of a ``CapEff``-style hex mask."""
    mask = int(hex_mask, 16)
    return frozenset(c for c in range(64) if mask & (1 << c))


def proc_status(pid: int | str = "self") -> dict[str, str]:
    """The fields of ``/proc/<pid>/status``."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


# -- state files ------------------------------------------------------------------------------------------

_NEVER = {
    Path(p) for p in ("/", "/etc", "/usr", "/var", "/var/lib", "/tmp", "/home", "/root", "/opt", "/run")
}
"""Directories :func:`give_state` never takes over (a misconfigured path must not chown the system)."""


def give_state(identity: Identity, paths: Iterable[tuple[str, Path, bool]]) -> list[Path]:
    """Make the state the services write owned by ``identity`` (while still root): each ``(key, path,
    is_dir)``; a missing directory is created, a directory's whole tree and a file (with its SQLite
    ``-wal``/``-shm``/``-journal`` companions) are given to the user when root or another user owns them; a
    file's directory is created when missing. Symbolic links are not followed. Returns what was changed."""
    changed: list[Path] = []
    for key, path, is_dir in paths:
        path = path.absolute()
        if path in _NEVER or (is_dir and path.parent == Path("/")):
            raise PrivilegeError(
                f"{key} = {str(path)!r}: refusing to hand a system directory to the service user", key
            )
        target_dir = path if is_dir else path.parent
        if not target_dir.exists():
            target_dir.mkdir(parents=True, mode=0o750)
            _chown(target_dir, identity, changed)
        if is_dir:
            for root, dirs, files in os.walk(path):
                for n in [*dirs, *files]:
                    _chown(Path(root) / n, identity, changed)
            _chown(path, identity, changed)
        else:
            for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
                if p.exists() or p.is_symlink():
                    _chown(p, identity, changed)
    return changed


def _chown(path: Path, identity: Identity, changed: list[Path]) -> None:
    st = os.lstat(path)
    if st.st_uid == identity.uid or stat.S_ISLNK(st.st_mode):
        return
    os.lchown(path, identity.uid, identity.gid)
    changed.append(path)


def check_access(paths: Iterable[tuple[str, Path, bool]]) -> list[str]:
    """After the switch: one line per state path this process cannot write (or its directory, for a file
    that does not exist yet), naming the key."""
    problems = []
    for key, path, is_dir in paths:
        if path.exists():
            ok = os.access(path, os.W_OK | os.R_OK | (os.X_OK if is_dir else 0))
        else:
            parent = path if is_dir else path.parent
            while not parent.exists() and parent != parent.parent:
                parent = parent.parent
            ok = os.access(parent, os.W_OK | os.X_OK)
        if not ok:
            problems.append(
                f"{key} = {str(path)!r}: not writable by uid {os.getuid()} (owned by uid"
                f" {_owner(path)}; chown it to the service user or start the station as root once)"
            )
    return problems


def check_code() -> list[str]:
    """After the switch: the Python installation and josev must stay readable (modules are imported lazily;
    e.g. a Python under /root, mode 0700, is not)."""
    import sysconfig

    import josev

    frozen = bool(getattr(sys, "frozen", False))
    out = []
    for what, folder in (
        ("the Python installation", Path(sysconfig.get_paths()["stdlib"])),
        ("the josev package", Path(josev.__file__).parent),
    ):
        if frozen and what == "the Python installation":
            continue  # a frozen bundle has no stdlib folder on disk: its modules are in the bundle's archive
        if not os.access(folder, os.R_OK | os.X_OK):
            out.append(
                f"{what} at {folder} is not readable by uid {os.getuid()}: install it where that user can read it"
            )
    return out


def _owner(path: Path) -> str:
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return str(path.stat().st_uid)
    except OSError:
        return "?"
