"""Network namespaces and veth pairs for the demo and the EV developer's lab (``ip netns``; root, or the root of a
user namespace).

The veth ends get IPv6 link-local addresses at once (DAD off) and TX checksum offload off: frames relayed by the
PLC modem emulator through an AF_PACKET socket would otherwise carry partial checksums and be dropped.
``python -m josev.netlab offload IFACE`` switches offload off from inside a namespace (``ip netns exec``).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from josev.reexec import module_command

CLONE_NEWNET = 0x40000000
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17


IP_MISSING = (
    "the `ip` command (iproute2) is not installed: network namespaces need it (apt-get install iproute2)"
)


class NetlabError(RuntimeError):
    """A namespace or link could not be set up."""


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip`` (inside ``netns`` when given)."""
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise NetlabError(IP_MISSING) from exc
    if check and out.returncode != 0:
        raise NetlabError(f"{' '.join(cmd)}: {out.stderr.strip()}")
    return out


def disable_tx_checksum(iface: str) -> None:
    """Switch TX checksum offload off on ``iface`` (in the caller's namespace)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        data = struct.pack("II", ETHTOOL_STXCSUM, 0)
        buf = ctypes.create_string_buffer(data)
        ifreq = struct.pack("16sP", iface.encode()[:15], ctypes.addressof(buf))
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)


def setns(path: str) -> None:
    """Move the calling thread into the network namespace at ``path``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetlabError(f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


@dataclass
class Netns:
    """One network namespace."""

    name: str

    @property
    def path(self) -> str:
        """Its file under /run/netns."""
        return f"/run/netns/{self.name}"

    def exec_args(self, cmd: Sequence[str]) -> list[str]:
        """``cmd`` run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(self, cmd: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace."""
        try:
            out = subprocess.run(self.exec_args(cmd), capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise NetlabError(IP_MISSING) from exc
        if check and out.returncode != 0:
            raise NetlabError(f"in {self.name}: {' '.join(cmd)}: {out.stderr.strip()}")
        return out

    def popen(self, cmd: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a process inside the namespace."""
        try:
            return subprocess.Popen(self.exec_args(cmd), **kwargs)
        except FileNotFoundError as exc:
            raise NetlabError(IP_MISSING) from exc

    def link_local(self, iface: str, timeout: float = 10.0) -> str:
        """The IPv6 link-local address of ``iface`` (waits until it is usable)."""
        deadline = time.monotonic() + timeout
        while True:
            out = ip("-6", "-o", "addr", "show", "dev", iface, "scope", "link", netns=self.name, check=False)
            for line in out.stdout.splitlines():
                if "tentative" not in line:
                    return line.split()[3].split("/")[0]
            if time.monotonic() > deadline:
                raise NetlabError(f"{iface} in {self.name} got no link-local address within {timeout} s")
            time.sleep(0.05)


@dataclass
class Lab:
    """Namespaces and veth pairs that are all removed by :meth:`close` (names unique per lab)."""

    prefix: str = field(default_factory=lambda: f"jl{os.getpid() % 100000}")
    spaces: list[Netns] = field(default_factory=list)

    def netns(self, tag: str) -> Netns:
        """A new namespace ``<prefix>-<tag>`` with loopback up."""
        ns = Netns(f"{self.prefix}-{tag}")
        ip("netns", "add", ns.name)
        self.spaces.append(ns)
        ip("link", "set", "lo", "up", netns=ns.name)
        return ns

    def veth(self, a: Netns, a_name: str, b: Netns, b_name: str) -> None:
        """A veth pair with end ``a_name`` in ``a`` and ``b_name`` in ``b``, up, DAD and TX offload off."""
        tmp_a, tmp_b = f"{self.prefix}{len(self.spaces)}a{a_name}"[:15], f"{self.prefix}b{b_name}"[:15]
        ip("link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        for tmp, ns, name in ((tmp_a, a, a_name), (tmp_b, b, b_name)):
            ip("link", "set", tmp, "netns", ns.name)
            ip("link", "set", tmp, "name", name, netns=ns.name)
            ns.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{name}.accept_dad=0"])
            ip("link", "set", name, "up", netns=ns.name)
            ns.run([*module_command("josev.netlab"), "offload", name])

    def close(self) -> None:
        """Delete every namespace (and with them their veth ends)."""
        for ns in reversed(self.spaces):
            ip("netns", "del", ns.name, check=False)
        self.spaces.clear()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def lab(prefix: str | None = None) -> Iterator[Lab]:
    """A :class:`Lab` that is always cleaned up."""
    lb = Lab(prefix) if prefix else Lab()
    try:
        yield lb
    finally:
        lb.close()


def can_create_namespaces() -> bool:
    """Whether this process may create network namespaces here (root, or root of a user namespace, and the
    ``ip`` command installed)."""
    if shutil.which("ip") is None:
        return False
    probe = f"jlprobe{os.getpid()}"
    ok = ip("netns", "add", probe, check=False).returncode == 0
    if ok:
        ip("netns", "del", probe, check=False)
    return ok


def main(argv: list[str]) -> int:
    """``python -m josev.netlab offload IFACE``."""
    if len(argv) == 2 and argv[0] == "offload":
        disable_tx_checksum(argv[1])
        return 0
    print("usage: python -m josev.netlab offload IFACE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
