"""Interface helpers for the shells: IPv6 link-local address and index of an interface (Linux)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time

IFA_F_TENTATIVE = 0x40
IFA_F_DADFAILED = 0x08


def link_local(ifname: str) -> str | None:
    """The usable (non-tentative) IPv6 link-local address of ``ifname`` in this namespace, if any."""
    lines: list[str] = []
    for path in ("/proc/thread-self/net/if_inet6", "/proc/net/if_inet6"):  # thread-self: setns() threads
        try:
            with open(path) as f:
                lines = f.read().splitlines()
            break
        except OSError:
            continue
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[5] != ifname or int(parts[3], 16) != 0x20:
            continue
        if int(parts[4], 16) & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
            continue
        return str(ipaddress.IPv6Address(bytes.fromhex(parts[0])))
    return None


async def wait_link_local(ifname: str, wait_s: float = 10.0) -> str:
    """Wait until ``ifname`` has a usable link-local address (raises TimeoutError)."""
    deadline = time.monotonic() + wait_s
    while True:
        addr = link_local(ifname)
        if addr is not None:
            return addr
        if time.monotonic() > deadline:
            raise TimeoutError(f"{ifname}: no IPv6 link-local address after {wait_s} s")
        await asyncio.sleep(0.05)


def ifindex(ifname: str) -> int:
    """Interface index (raises OSError when the interface does not exist)."""
    return socket.if_nametoindex(ifname)
