"""The reusable namespace helper (tests/util/netns.py): isolation, IPv6 link-local, clean-up."""

from __future__ import annotations

import socket
import subprocess

from tests.util.netns import NetnsLab, needs_root


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@needs_root
def test_namespaces_veths_and_cleanup() -> None:
    with NetnsLab() as lab:
        a, b = lab.netns("a"), lab.netns("b")
        pairs = [lab.veth(a, b), lab.veth(None, b)]
        assert {a.name, b.name} <= _netns_names()
        ll = pairs[0].link_local("b")
        assert ll.startswith("fe80:")
        # a UDP datagram over IPv6 link-local across the first pair (DAD is off: usable at once)
        with b.entered():
            rx = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            rx.bind((ll, 0, 0, socket.if_nametoindex(pairs[0].b)))
            rx.settimeout(5)
        with a.entered():
            tx = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            tx.sendto(b"hello", (ll, rx.getsockname()[1], 0, socket.if_nametoindex(pairs[0].a)))
        assert rx.recvfrom(100)[0] == b"hello"
        rx.close()
        tx.close()
        assert "link/ether" in a.run(["ip", "link", "show", pairs[0].a]).stdout
        # a socket opened while "entered" lives in that namespace: it sees b's interfaces only
        with b.entered():
            names = {name for _, name in socket.if_nameindex()}
        assert pairs[0].b in names and pairs[1].b in names and pairs[0].a not in names
        root_end = pairs[1].a
        assert root_end in {name for _, name in socket.if_nameindex()}
    assert not {a.name, b.name} & _netns_names()
    assert root_end not in {name for _, name in socket.if_nameindex()}


@needs_root
def test_names_are_unique_per_lab(netns_lab: NetnsLab) -> None:
    with NetnsLab() as other:
        assert other.run_id != netns_lab.run_id
        x, y = netns_lab.netns("x"), other.netns("x")
        assert x.name != y.name
