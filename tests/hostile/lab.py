"""Test support for hostile peers: an in-process SECC endpoint per EVSE, attackers that open real sockets
inside an EV namespace, our EV simulator as the charging car, and an event-loop lag meter."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

from josev.observability.v2glog import V2gRecorder
from josev.secc.events import Event
from josev.secc.evse import EvseView
from josev.secc.limits import ConnectionLimits
from josev.secc.server import EvseEndpoint
from josev.sim.supply import SimPowerSupply
from josev.v2g.codec import make_codec
from tests.util.netns import Netns

ROOT = Path(__file__).resolve().parents[2]


def rss_kb() -> int:
    """This process's resident set size (kB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError("VmRSS")


def tiny_frames(n: int, payload_type: int = 0x1234) -> bytes:
    """``n`` V2GTP frames of an unknown payload type with an empty payload (8 bytes each)."""
    return struct.pack("!BBHI", 1, 0xFE, payload_type, 0) * n


class Station:
    """One EVSE endpoint (DC, simulated power supply) recording its events."""

    def __init__(
        self,
        no: int,
        iface: str,
        *,
        recorder: V2gRecorder | None = None,
        limits: ConnectionLimits | None = None,
        **kw: Any,
    ) -> None:
        self.view = EvseView(energy_modes=("DC_extended",))
        self.supply = SimPowerSupply()
        self.events: list[Event] = []
        self.ep = EvseEndpoint(
            no,
            iface,
            self.view,
            make_codec("exi"),
            on_events=self._on,
            recorder=recorder,
            limits=limits,
            **kw,
        )

    def _on(self, no: int, evs: list[Any]) -> None:
        self.supply.apply(self.view, evs)
        self.events += evs


class LoopLag:
    """Measures how late a 10 ms ticker wakes up (the event loop's blocking time)."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.max = 0.0
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(self.period)
            lag = time.monotonic() - t - self.period
            self.samples.append(lag)
            self.max = max(self.max, lag)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def connect_from(ns: Netns, iface: str, addr: str, port: int) -> socket.socket:
    """A TCP connection from inside ``ns`` (over ``iface``) to ``[addr]:port``; returned non-blocking."""
    with ns.entered():
        idx = socket.if_nametoindex(iface)
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect((addr, port, 0, idx))
    s.setblocking(False)
    return s


async def run_ev(
    ns: str, iface: str, protocol: str, *extra: str, timeout: float = 60.0, loops: int = 4, check: bool = True
) -> dict[str, Any]:
    """Our EV simulator in ``ns``: its JSON result (asserting a clean exit)."""
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        ns,
        sys.executable,
        "-m",
        "josev.ev",
        "--iface",
        iface,
        "--protocol",
        protocol,
        "--json",
        "--loops",
        str(loops),
        *extra,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0 or not check, (out.decode(), err.decode()[-3000:])
    result: dict[str, Any] = json.loads(out)
    return result


def add_addresses(ns: Netns, iface: str, n: int) -> list[str]:
    """``n`` extra link-local addresses on ``iface`` in ``ns`` (an attacker posing as many hosts)."""
    out = []
    for i in range(n):
        addr = f"fe80::bad:{i + 1:x}"
        ns.run(["ip", "addr", "add", f"{addr}/64", "dev", iface, "nodad"])
        out.append(addr)
    return out


def connect_many(
    ns: Netns, iface: str, sources: list[str], addr: str, port: int, n: int, first: bytes = b""
) -> list[socket.socket]:
    """``n`` TCP connections to ``[addr]:port`` from ``sources`` in turn (blocking: run it in a thread);
    ``first`` is sent on each (e.g. half a TLS ClientHello). Connections the server refuses at once are
    kept too (they are closed by the peer)."""
    socks = []
    with ns.entered():
        idx = socket.if_nametoindex(iface)
        for i in range(n):
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.settimeout(5)
            s.bind((sources[i % len(sources)], 0, 0, idx))
            try:
                s.connect((addr, port, 0, idx))
                if first:
                    s.send(first)
            except OSError:
                pass
            socks.append(s)
    return socks


def bridge(lab: Any, *pairs: Any, ns: Netns | None = None) -> str:
    """A bridge over the ``a`` ends of ``pairs`` (one PLC link shared by several hosts), in ``ns`` (None: this
    namespace); returns its name once it has a link-local address."""
    import subprocess

    name = f"{pairs[0].a[:-1]}br"
    pre = ["ip", "netns", "exec", ns.name] if ns is not None else []
    for cmd in (
        ["ip", "link", "add", name, "type", "bridge", "mcast_snooping", "0"],
        ["sysctl", "-q", "-w", f"net.ipv6.conf.{name}.accept_dad=0"],
        *[["ip", "link", "set", p.a, "master", name] for p in pairs],
        ["ip", "link", "set", name, "up"],
    ):
        subprocess.run([*pre, *cmd], check=True, capture_output=True, timeout=10)
    if ns is None:
        lab._root_links.append(name)
    deadline = time.monotonic() + 5
    while (
        b"fe80"
        not in subprocess.run([*pre, "ip", "-6", "addr", "show", "dev", name], capture_output=True).stdout
    ):
        assert time.monotonic() < deadline, "no link-local address on the bridge"
        time.sleep(0.02)
    return name


def pid_rss_kb(pid: int) -> int:
    """Resident set size (kB) of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError("VmRSS")


OPENED: dict[int, int] = {}
"""Connections each attacker process (by pid) had established when it reported ready."""


async def attacker(ns: Netns, iface: str, addr: str, *args: str) -> asyncio.subprocess.Process:
    """Start :mod:`tests.hostile.attacker` in ``ns``; returns once its connections are open."""
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        ns.name,
        sys.executable,
        "-m",
        "tests.hostile.attacker",
        iface,
        addr,
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
    except BaseException:  # cancelled or timed out: no attacker is left behind
        proc.kill()
        await proc.wait()
        raise
    assert line.startswith(b"ready"), line
    OPENED[proc.pid] = int(line.split()[1])
    return proc


async def stop(proc: asyncio.subprocess.Process) -> None:
    """End an attacker (closing its stdin closes its connections)."""
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
