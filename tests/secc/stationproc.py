"""``josev station --sim`` as a process in one network namespace and ``josev ev`` in another, across a veth pair:
the one way the end-to-end tests start, drive and stop the reference station."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.util.netns import Netns, NetnsLab, VethPair

ROOT = Path(__file__).resolve().parents[2]


def tail(log: Path) -> str:
    """The end of the station's log (for assertion messages)."""
    return log.read_text(errors="replace")[-3000:]


async def stop_station(proc: asyncio.subprocess.Process) -> int:
    """SIGTERM, then SIGKILL after 10 s; the exit code (0 for a clean stop)."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0


async def ev(ns: str, iface: str, pki: Path, protocol: str, *extra: str) -> dict[str, Any]:
    """One ``josev ev --json`` run (3 loops unless ``extra`` says otherwise) in namespace ``ns``: its JSON result."""
    proc = await asyncio.create_subprocess_exec(
        *("ip", "netns", "exec", ns, sys.executable, "-m", "josev.ev", "--iface", iface),
        *("--protocol", protocol, "--pki", str(pki), "--station-tls", "both", "--json", "--loops", "3"),
        *extra,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert out, err.decode()[-3000:]
    result: dict[str, Any] = json.loads(out)
    return result


@dataclass
class SimStation:
    """A running ``josev station --sim``: its process, log, and the EV's side of the link."""

    proc: asyncio.subprocess.Process
    log: Path
    ev_ns: Netns
    pair: VethPair

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        return tail(self.log)

    async def ev(self, pki: Path, protocol: str, *extra: str) -> dict[str, Any]:
        """Our EV simulator across the link (see :func:`ev`)."""
        return await ev(self.ev_ns.name, self.pair.b, pki, protocol, *extra)

    async def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        """Until ``text`` appears in the station's log (AssertionError with the log's end after ``timeout``)."""
        for _ in range(int(timeout / 0.1)):
            if text in self.text():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{text!r} not in the station log:\n{self.tail()}")


@asynccontextmanager
async def sim_station(
    lab: NetnsLab, workdir: Path, *args: str, ready_timeout: float = 30.0
) -> AsyncIterator[SimStation]:
    """``josev station --sim --iface <veth> *args`` in a new namespace, until it prints ``station ready``; it must
    stop cleanly (exit 0) at the end of the block."""
    log = workdir / "station.log"
    st_ns, ev_ns = lab.netns("st"), lab.netns("ev")
    pair = lab.veth(st_ns, ev_ns)
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
            *("--iface", pair.a, *args),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), ready_timeout)
        assert line.startswith(b"station ready"), (line, tail(log))
        yield SimStation(proc, log, ev_ns, pair)
    finally:
        code = await stop_station(proc)
    assert code == 0, tail(log)
