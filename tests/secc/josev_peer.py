"""Test helper: ``josev station --sim`` in one namespace and the open-source Josev EVCC (PyPI ``iso15118`` in
``.venv-peers``, its own process) in another, across a veth pair; one session, both logs returned. Used by the
interop tests (DIN / ISO-2, ISO-2 Plug & Charge, ISO 15118-20)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.util.netns import NetnsLab

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / ".venv-peers" / "bin" / "python"


def peer_missing() -> str | None:
    """Why the peer cannot run here (None: it can)."""
    if not PEERS.is_file():
        return f"{PEERS} missing (pip install iso15118 into .venv-peers)"
    if os.system(f"{PEERS} -c 'import iso15118.evcc' >/dev/null 2>&1") != 0:
        return "iso15118 is not installed in .venv-peers"
    if os.system("java -version >/dev/null 2>&1") != 0:
        return "java is needed by the iso15118 EXI codec (EXIficient)"
    return None


async def read_until(
    stream: asyncio.StreamReader, pattern: re.Pattern[bytes], log: list[bytes], wait_s: float
) -> re.Match[bytes] | None:
    """Lines of ``stream`` into ``log`` until ``pattern`` matches one (None: end of stream or ``wait_s``)."""

    async def loop() -> re.Match[bytes] | None:
        while True:
            line = await stream.readline()
            if not line:
                return None
            log.append(line)
            if m := pattern.search(line):
                return m

    try:
        return await asyncio.wait_for(loop(), wait_s)
    except TimeoutError:
        return None


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL after 5 s."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@dataclass
class PeerRun:
    """How one session went: the station's reason for the session end (None: never ended) and both logs."""

    ended: bytes | None
    station_log: str
    ev_log: str

    @property
    def detail(self) -> str:
        """The ends of both logs, for assertion messages."""
        return self.station_log[-4000:] + "\n--- EV ---\n" + self.ev_log[-6000:]


async def run_josev_evcc(
    lab: NetnsLab,
    workdir: Path,
    evcc_config: dict[str, Any],
    station_args: list[str],
    *,
    pki_path: Path | None = None,
    env: dict[str, str] | None = None,
    wait_s: float = 90.0,
) -> PeerRun:
    """Start ``josev station --sim --slac off STATION_ARGS``, run the peer's EVCC with ``evcc_config`` until the
    station logs the session's end, stop both."""
    st_ns, ev_ns = lab.netns("st"), lab.netns("ev")
    pair = lab.veth(st_ns, ev_ns)
    (workdir / "evcc.json").write_text(json.dumps({"chargeLoopCycle": 3, "sdpRetryCycles": 3, **evcc_config}))
    station = await asyncio.create_subprocess_exec(
        *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
        *("--iface", pair.a, "--slac", "off", *station_args),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ev = None
    st_log: list[bytes] = []
    ev_log: list[bytes] = []
    ev_reader = None
    try:
        assert station.stdout is not None and station.stderr is not None
        ready = await asyncio.wait_for(station.stdout.readline(), 30)
        assert ready.startswith(b"station ready"), ready
        peer_env = {
            "PATH": os.environ.get("PATH", ""),
            "NETWORK_INTERFACE": pair.b,
            "EVCC_CONFIG_PATH": str(workdir / "evcc.json"),
            "PKI_PATH": str(pki_path or workdir / "pki") + "/",
            "LOG_LEVEL": "INFO",
            "MESSAGE_LOG_JSON": "False",
            **(env or {}),
        }
        ev = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", ev_ns.name, "env", *[f"{k}={v}" for k, v in peer_env.items()]),
            *(str(PEERS), "-m", "iso15118.evcc.main"),
            cwd=workdir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert ev.stdout is not None
        ev_reader = asyncio.create_task(read_until(ev.stdout, re.compile(rb"^$ never"), ev_log, wait_s))
        m = await read_until(station.stderr, re.compile(rb"session ended: (\S+)"), st_log, wait_s)
        await asyncio.sleep(1.0)
    finally:
        if ev is not None:
            await stop(ev)
        await stop(station)
    if ev_reader is not None:
        await asyncio.wait_for(ev_reader, 5)
    return PeerRun(
        m.group(1) if m else None,
        b"".join(st_log).decode(errors="replace"),
        b"".join(ev_log).decode(errors="replace"),
    )
