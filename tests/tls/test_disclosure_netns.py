"""UDP disclosure with its field defaults (ff02::1, port 52345, chosen interface) across a veth pair
between two network namespaces this test creates and deletes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from josev.tls.keylog import DISCLOSURE_PORT

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"),
]

LINE = "CLIENT_RANDOM " + "ab" * 32 + " " + "cd" * 48

SENDER = f"""
from josev.tls.keylog import UdpDisclosure, parse_keylog_line, disclosure_datagrams
u = UdpDisclosure(iface="vd0")
assert u.send(disclosure_datagrams([parse_keylog_line({LINE!r})])) == 1
u.close()
"""

RECEIVER = f"""
import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", {DISCLOSURE_PORT}))
mreq = socket.inet_pton(socket.AF_INET6, "ff02::1") + struct.pack("@I", socket.if_nametoindex("vd1"))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
s.settimeout(5)
print("ready", flush=True)
data, addr = s.recvfrom(2048)
print(addr[0], addr[1], data.decode(), flush=True)
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _wait_link_local(ns: str, dev: str) -> None:
    """Wait (bounded) until ``dev`` has a usable IPv6 link-local address."""
    for _ in range(60):
        out = subprocess.run(
            ["ip", "-n", ns, "-6", "addr", "show", "dev", dev], capture_output=True, text=True, timeout=5
        ).stdout
        if "fe80:" in out and "tentative" not in out:
            return
        time.sleep(0.05)
    raise AssertionError(f"{ns}/{dev}: no link-local address after 3 s")


@pytest.fixture
def two_namespaces() -> Iterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:6]
    a, b = f"jsvtls-a-{tag}", f"jsvtls-b-{tag}"
    _ip("netns", "add", a)
    _ip("netns", "add", b)
    try:
        for ns in (a, b):
            _ip("-n", ns, "link", "set", "lo", "up")  # IPv6 multicast delivery needs the local table up
            _ip("netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
        _ip("link", "add", "vd0", "netns", a, "type", "veth", "peer", "name", "vd1", "netns", b)
        _ip("-n", a, "link", "set", "vd0", "up")
        _ip("-n", b, "link", "set", "vd1", "up")
        for ns, dev in ((a, "vd0"), (b, "vd1")):
            _wait_link_local(ns, dev)
        yield a, b
    finally:
        subprocess.run(["ip", "netns", "del", a], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", b], capture_output=True, timeout=10)


def test_disclosure_reaches_the_link(two_namespaces: tuple[str, str]) -> None:
    a, b = two_namespaces
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    rx = subprocess.Popen(
        ["ip", "netns", "exec", b, sys.executable, "-c", RECEIVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert rx.stdout is not None
        assert rx.stdout.readline().strip() == "ready"
        tx = subprocess.run(
            ["ip", "netns", "exec", a, sys.executable, "-c", SENDER],
            capture_output=True,
            text=True,
            timeout=20,
            env=env,
        )
        assert tx.returncode == 0, tx.stderr
        out, err = rx.communicate(timeout=10)
    finally:
        if rx.poll() is None:
            rx.kill()
            rx.wait(5)
    assert rx.returncode == 0, err
    src, sport, payload = out.strip().split(" ", 2)
    assert src.startswith("fe80:") and int(sport) == DISCLOSURE_PORT
    assert payload == LINE
