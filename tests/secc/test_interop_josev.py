"""Interop: the open-source Josev EVCC (PyPI ``iso15118``, its simulated EV, installed in the separate venv
``.venv-peers``) charges against ``josev station --sim --slac off`` (the real station stack: HAL simulator,
coordinator, SECC, OCPP, CSMS stand-in) across a veth pair between two network namespaces: DIN SPEC 70121 DC, ISO 15118-2 AC EIM and ISO 15118-2 DC EIM, over real SDP/TCP/EXI.

Success is read from the station's log: the session must end with ``terminate`` (the EV's SessionStop)
after a charge loop. The peer is never imported by josev; it runs as its own process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from josev.secc.codec import exi_available
from tests.util.netns import NetnsLab

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / ".venv-peers" / "bin" / "python"
pytestmark = [pytest.mark.netns, pytest.mark.interop, pytest.mark.slow]

CONFIGS = {
    "din": {"supportedProtocols": ["DIN_SPEC_70121"], "energyTransferMode": "DC_extended"},
    "iso2-ac": {
        "supportedProtocols": ["ISO_15118_2"],
        "supportedEnergyServices": ["AC"],
        "energyTransferMode": "AC_three_phase_core",
    },
    "iso2-dc": {
        "supportedProtocols": ["ISO_15118_2"],
        "supportedEnergyServices": ["DC"],
        "energyTransferMode": "DC_extended",
    },
}


def peer_missing() -> str | None:
    if not PEERS.is_file():
        return f"{PEERS} missing (pip install iso15118 into .venv-peers)"
    r = os.system(f"{PEERS} -c 'import iso15118.evcc' >/dev/null 2>&1")
    if r != 0:
        return "iso15118 is not installed in .venv-peers"
    if os.system("java -version >/dev/null 2>&1") != 0:
        return "java is needed by the iso15118 EXI codec (EXIficient)"
    return None


async def _read_until(
    stream: asyncio.StreamReader, pattern: re.Pattern[bytes], log: list[bytes], wait_s: float
) -> re.Match[bytes] | None:
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


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize("protocol", ["din", "iso2-ac", "iso2-dc"])
async def test_josev_evcc_charges_at_josev_station(
    netns_lab: NetnsLab,
    tmp_path: Path,
    protocol: str,
) -> None:
    if reason := exi_available():
        pytest.skip(reason)
    if reason := peer_missing():
        pytest.skip(reason)
    st_ns, ev_ns = netns_lab.netns("st"), netns_lab.netns("ev")
    pair = netns_lab.veth(st_ns, ev_ns)
    cfg = {
        "isCertInstallNeeded": False,
        "useTls": False,
        "chargeLoopCycle": 3,
        "sdpRetryCycles": 3,
        **CONFIGS[protocol],
    }
    (tmp_path / "evcc.json").write_text(json.dumps(cfg))
    station = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        st_ns.name,
        sys.executable,
        "-u",
        "-m",
        "josev.cli.station",
        "--sim",
        "--iface",
        pair.a,
        "--slac",
        "off",
        "--modes",
        "ac" if protocol == "iso2-ac" else "dc",  # the real station stack serves one EVSE kind
        "--codec",
        "exi",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ev = None
    st_log: list[bytes] = []
    ev_log: list[bytes] = []
    try:
        assert station.stdout is not None and station.stderr is not None
        ready = await asyncio.wait_for(station.stdout.readline(), 20)
        assert ready.startswith(b"station ready"), ready
        env = {
            "PATH": os.environ.get("PATH", ""),
            "NETWORK_INTERFACE": pair.b,
            "EVCC_CONFIG_PATH": str(tmp_path / "evcc.json"),
            "PKI_PATH": str(tmp_path / "pki") + "/",
            "LOG_LEVEL": "INFO",
            "MESSAGE_LOG_JSON": "False",
        }
        ev = await asyncio.create_subprocess_exec(
            "ip",
            "netns",
            "exec",
            ev_ns.name,
            "env",
            *[f"{k}={v}" for k, v in env.items()],
            str(PEERS),
            "-m",
            "iso15118.evcc.main",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert ev.stdout is not None
        ev_reader = asyncio.create_task(_read_until(ev.stdout, re.compile(rb"^$ never"), ev_log, 90))
        m = await _read_until(station.stderr, re.compile(rb"session ended: (\S+)"), st_log, 90)
        await asyncio.sleep(1.0)
    finally:
        if ev is not None:
            await _stop(ev)
        await _stop(station)
    if ev is not None:
        await asyncio.wait_for(ev_reader, 5)
    detail = (
        b"".join(st_log[-40:]).decode(errors="replace")
        + "\n--- EV ---\n"
        + b"".join(ev_log[-60:]).decode(errors="replace")
    )
    assert m is not None, detail
    assert m.group(1) == b"terminate", detail
    text = b"".join(st_log).decode(errors="replace")
    assert "session started" in text, detail
    ev_text = b"".join(ev_log).decode(errors="replace")
    loop = "ChargingStatusRes received" if protocol == "iso2-ac" else "CurrentDemandRes received"
    assert ev_text.count(loop) >= 2, detail
    assert "SessionStopRes received" in ev_text, detail
    assert not re.search(r"^ERROR", ev_text, re.M), detail
