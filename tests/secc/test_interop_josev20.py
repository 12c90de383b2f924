"""Interop, ISO 15118-20: the open-source Josev EVCC (PyPI ``iso15118`` in ``.venv-peers``, its simulated EV)
runs -20 AC, DC, AC BPT and DC BPT sessions against ``josev station --sim --slac off --tls both`` (the real
station stack: HAL simulator, coordinator with its DC flow, SECC, OCPP) across a veth
pair between two network namespaces, over real SDP (TLS requested), TLS 1.3 and EXI, with a PKI made by
``josev pki create --josev-layout`` (the EV reads ``PKI_PATH=<pki>/josev/``).

Success is read from both logs: the station's session must end with ``terminate`` (the EV's SessionStop) after
charge loops, over TLS 1.3. The peer is never imported by josev; it runs as its own process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest

from josev.pki import create
from josev.secc.codec import exi_available
from tests.util.netns import NetnsLab

from .test_interop_josev import PEERS, _read_until, _stop, peer_missing

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.netns, pytest.mark.interop, pytest.mark.slow]

CONFIGS = {
    "iso20-ac": (["ISO_15118_20_AC"], ["AC"], "AC_three_phase_core", "AC_ChargeLoop"),
    "iso20-dc": (["ISO_15118_20_DC"], ["DC"], "DC_extended", "DC_ChargeLoop"),
    "iso20-ac-bpt": (["ISO_15118_20_AC"], ["AC_BPT"], "AC_three_phase_core", "AC_ChargeLoop"),
    "iso20-dc-bpt": (["ISO_15118_20_DC"], ["DC_BPT"], "DC_extended", "DC_ChargeLoop"),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2", "iso20-p521"), josev_layout=True)
    return out


@pytest.mark.parametrize("protocol", list(CONFIGS))
async def test_josev_evcc_iso20_at_josev_station(
    netns_lab: NetnsLab, tmp_path: Path, pki: Path, protocol: str
) -> None:
    if reason := exi_available():
        pytest.skip(reason)
    if reason := peer_missing():
        pytest.skip(reason)
    protocols, services, mode, loop_name = CONFIGS[protocol]
    st_ns, ev_ns = netns_lab.netns("st"), netns_lab.netns("ev")
    pair = netns_lab.veth(st_ns, ev_ns)
    cfg = {
        "isCertInstallNeeded": False,
        "useTls": True,
        "enforceTls": True,
        "chargeLoopCycle": 3,
        "sdpRetryCycles": 3,
        "supportedProtocols": protocols,
        "supportedEnergyServices": services,
        "energyTransferMode": mode,
    }
    (tmp_path / "evcc.json").write_text(json.dumps(cfg))
    station = await asyncio.create_subprocess_exec(
        *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
        *("--iface", pair.a, "--slac", "off", "--tls", "both", "--pki", str(pki)),
        # the real station stack (coordinator, HAL, OCPP) serves one EVSE kind; AC BPT runs on the AC EVSE
        *("--modes", "ac" if "-ac" in protocol else "dc"),
        # the peer's simulated -20 DC EV asks for 20 kV: clamp it to the EVSE maximum instead of refusing
        *(("--lenient-targets",) if "-dc" in protocol else ()),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ev = None
    st_log: list[bytes] = []
    ev_log: list[bytes] = []
    try:
        assert station.stdout is not None and station.stderr is not None
        ready = await asyncio.wait_for(station.stdout.readline(), 30)
        assert ready.startswith(b"station ready"), ready
        env = {
            "PATH": os.environ.get("PATH", ""),
            "NETWORK_INTERFACE": pair.b,
            "EVCC_CONFIG_PATH": str(tmp_path / "evcc.json"),
            "PKI_PATH": str(pki / "josev") + "/",
            "ENABLE_TLS_1_3": "True",
            "LOG_LEVEL": "INFO",
            "MESSAGE_LOG_JSON": "False",
        }
        ev = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", ev_ns.name, "env", *[f"{k}={v}" for k, v in env.items()]),
            *(str(PEERS), "-m", "iso15118.evcc.main"),
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
    assert "TLS TLSv1.3" in text and "session started" in text, detail
    ev_text = b"".join(ev_log).decode(errors="replace")
    assert ev_text.count(f"{loop_name}Res received") >= 2, detail
    assert "SessionStopRes received" in ev_text, detail
    assert not re.search(r"^ERROR", ev_text, re.M), detail
