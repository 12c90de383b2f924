"""Network namespaces and veth pairs for tests (needs root; everything is removed on exit).

Usage::

    with NetnsLab() as lab:
        ev = lab.netns("ev")                        # a fresh namespace, unique name per run
        pair = lab.veth(None, ev)                   # root-ns end <-> ev end, both up, IPv6 link-local ready
        with ev.entered():                          # sockets created here live in the ev namespace
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88E1))
        ev.run(["ip", "-6", "addr"])                # run a command inside
        proc = ev.popen([sys.executable, "-m", "..."])

As a pytest fixture: ``from tests.util.netns import netns_lab`` in a conftest/test module, then take
``netns_lab`` as an argument. :data:`needs_root` skips tests when not root or when ``ip`` is missing.
Interface names are at most 15 characters: ``<prefix><run id><n><side>``.

Every veth end is created with TX checksum offload off (:func:`disable_tx_checksum`): with offload on, a veth
leaves partial checksums in the frames, which is fine veth-to-veth but wrong as soon as a packet socket relays
the frames (a PLC modem emulator, a capture replayed elsewhere): the receiver then drops every TCP/UDP segment.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import secrets
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

CLONE_NEWNET = 0x40000000
HAVE_IP = shutil.which("ip") is not None
CAN_NETNS = os.geteuid() == 0 and HAVE_IP
needs_root = pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)")

_libc = ctypes.CDLL(None, use_errno=True)
_setns_lock = threading.Lock()


SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x00000017


def disable_tx_checksum(ifname: str) -> None:
    """Turn TX checksum offload off on ``ifname`` (SIOCETHTOOL, no ethtool binary needed). Call it in the
    namespace that owns the interface (e.g. inside ``Netns.entered()``)."""
    val = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
    ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(val)).ljust(40, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, SIOCETHTOOL, ifr)


def _ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *(("-n", netns) if netns else ()), *args]
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=10)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns failed: {os.strerror(err)}")


@dataclass
class Netns:
    """One named network namespace."""

    name: str

    @property
    def path(self) -> str:
        """Its bind mount."""
        return f"/run/netns/{self.name}"

    def run(
        self, cmd: Sequence[str], check: bool = True, timeout: float = 10.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` inside the namespace and wait for it."""
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *cmd],
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, cmd: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``cmd`` inside the namespace (the caller waits/kills it)."""
        return subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], **kwargs)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Switch the calling thread into the namespace (sockets opened now stay in it), then back."""
        with _setns_lock:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            target = os.open(self.path, os.O_RDONLY)
            try:
                _setns(target)
                try:
                    yield
                finally:
                    _setns(own)
            finally:
                os.close(target)
                os.close(own)


@dataclass
class VethPair:
    """Two connected interfaces; ``a_ns`` / ``b_ns`` None = the test's own namespace."""

    a: str
    b: str
    a_ns: Netns | None
    b_ns: Netns | None

    def mac(self, side: str) -> bytes:
        """MAC address of side ``"a"`` or ``"b"``."""
        ifname, ns = (self.a, self.a_ns) if side == "a" else (self.b, self.b_ns)
        out = _ip("-br", "link", "show", "dev", ifname, netns=ns.name if ns else None).stdout.split()
        return bytes.fromhex(out[2].replace(":", ""))

    def link_local(self, side: str) -> str:
        """The IPv6 link-local address of a side (without scope)."""
        ifname, ns = (self.a, self.a_ns) if side == "a" else (self.b, self.b_ns)
        return _link_local(ifname, ns)


def _link_local(ifname: str, ns: Netns | None) -> str:
    out = _ip(
        "-6", "-o", "addr", "show", "dev", ifname, "scope", "link", netns=ns.name if ns else None
    ).stdout
    for line in out.splitlines():
        if "tentative" not in line:
            parts = line.split()
            return parts[parts.index("inet6") + 1].split("/")[0]
    raise LookupError(f"{ifname}: no usable IPv6 link-local address")


class NetnsLab:
    """Creates namespaces and veth pairs with unique names and deletes all of them on :meth:`close`."""

    def __init__(self, prefix: str = "j") -> None:
        if not CAN_NETNS:
            raise PermissionError("network namespaces need root and iproute2")
        self.run_id = prefix + secrets.token_hex(2)
        self._namespaces: list[Netns] = []
        self._root_links: list[str] = []
        self._n = 0

    def __enter__(self) -> NetnsLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def netns(self, tag: str = "ns") -> Netns:
        """A new namespace with loopback up."""
        name = f"{self.run_id}-{tag}-{len(self._namespaces)}"
        _ip("netns", "add", name)
        ns = Netns(name)
        self._namespaces.append(ns)
        _ip("link", "set", "lo", "up", netns=name)
        return ns

    def veth(
        self, a_ns: Netns | None, b_ns: Netns | None, ipv6: bool = True, timeout: float = 5.0
    ) -> VethPair:
        """A veth pair between two namespaces (None = this one), up; with ``ipv6`` DAD is disabled and the
        link-local addresses are waited for."""
        n = self._n
        self._n += 1
        a, b = f"{self.run_id}{n}a", f"{self.run_id}{n}b"
        _ip("link", "add", a, "type", "veth", "peer", "name", b)
        if a_ns is None:
            self._root_links.append(a)
        elif b_ns is None:
            self._root_links.append(b)
        for ifname, ns in ((a, a_ns), (b, b_ns)):
            if ns is not None:
                _ip("link", "set", ifname, "netns", ns.name)
            nsname = ns.name if ns else None
            sysctl = ["sysctl", "-q", "-w"]
            conf = f"net.ipv6.conf.{ifname}"
            cmds = [[*sysctl, f"{conf}.accept_dad=0"], [*sysctl, f"{conf}.disable_ipv6={0 if ipv6 else 1}"]]
            for cmd in cmds:
                full = ["ip", "netns", "exec", nsname, *cmd] if nsname else cmd
                subprocess.run(full, check=True, capture_output=True, timeout=10)
            _ip("link", "set", ifname, "up", netns=nsname)
            if ns is None:
                disable_tx_checksum(ifname)
            else:
                with ns.entered():
                    disable_tx_checksum(ifname)
        pair = VethPair(a, b, a_ns, b_ns)
        if ipv6:
            deadline = time.monotonic() + timeout
            for side in ("a", "b"):
                while True:
                    try:
                        pair.link_local(side)
                        break
                    except LookupError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.02)
        return pair

    def close(self) -> None:
        """Delete every namespace (and the veths in them) and the veth ends left in this namespace."""
        for link in self._root_links:
            _ip("link", "del", link, check=False)
        for ns in self._namespaces:
            _ip("netns", "del", ns.name, check=False)
        self._root_links.clear()
        self._namespaces.clear()


@pytest.fixture
def netns_lab() -> Iterator[NetnsLab]:
    """A :class:`NetnsLab` removed after the test (skips when not root)."""
    if not CAN_NETNS:
        pytest.skip("needs root and iproute2 (network namespaces)")
    with NetnsLab() as lab:
        yield lab
