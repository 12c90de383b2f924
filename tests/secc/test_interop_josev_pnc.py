"""Interop, Plug & Charge: the open-source Josev EVCC (PyPI ``iso15118``, in ``.venv-peers``; its
``evcc_config_pnc_dc.json`` / ``_ac.json`` settings with ``isCertInstallNeeded`` false) pays with its contract
certificate over TLS 1.2 at ``josev station --sim --pnc on`` (the real station stack with the CSMS stand-in), with
a PKI made by ``josev pki create --josev-layout``. The peer signs its AuthorizationReq with its own EXI codec and
crypto; our SECC checks the chain and the signature, the OCPP service has the CSMS authorize the eMAID, and the
car charges."""

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
    "iso2-dc": {"supportedEnergyServices": ["DC"], "energyTransferMode": "DC_extended"},
    "iso2-ac": {"supportedEnergyServices": ["AC"], "energyTransferMode": "AC_three_phase_core"},
}


@pytest.mark.parametrize("protocol", sorted(CONFIGS))
async def test_josev_evcc_pays_with_its_contract(netns_lab: NetnsLab, tmp_path: Path, protocol: str) -> None:
    if reason := exi_available():
        pytest.skip(reason)
    if reason := peer_missing():
        pytest.skip(reason)
    pki = tmp_path / "pki"
    create(pki, ("iso2",), josev_layout=True)
    st_ns, ev_ns = netns_lab.netns("st"), netns_lab.netns("ev")
    pair = netns_lab.veth(st_ns, ev_ns)
    cfg = {
        "supportedProtocols": ["ISO_15118_2"],
        "isCertInstallNeeded": False,
        "useTls": True,
        "enforceTls": True,
        "chargeLoopCycle": 3,
        "sdpRetryCycles": 3,
        **CONFIGS[protocol],
    }
    (tmp_path / "evcc.json").write_text(json.dumps(cfg))
    station = await asyncio.create_subprocess_exec(
        *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
        *("--iface", pair.a, "--slac", "off", "--modes", "ac" if protocol == "iso2-ac" else "dc"),
        *("--tls", "both", "--pki", str(pki), "--pnc", "on"),
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
        ev_reader = asyncio.create_task(_read_until(ev.stdout, re.compile(rb"^$ never"), ev_log, 120))
        m = await _read_until(station.stderr, re.compile(rb"session ended: (\S+)"), st_log, 120)
        await asyncio.sleep(1.0)
    finally:
        if ev is not None:
            await _stop(ev)
        await _stop(station)
    if ev is not None:
        await asyncio.wait_for(ev_reader, 5)
    detail = (
        b"".join(st_log[-60:]).decode(errors="replace")
        + "\n--- EV ---\n"
        + b"".join(ev_log[-80:]).decode(errors="replace")
    )
    assert m is not None, detail
    assert m.group(1) == b"terminate", detail
    text = b"".join(st_log).decode(errors="replace")
    ev_text = b"".join(ev_log).decode(errors="replace")
    assert "PaymentDetailsRes received" in ev_text, detail
    assert re.search(r"contract \S+: Accepted \(certificate Accepted, csms\)", text), detail
    loop = "ChargingStatusRes received" if protocol == "iso2-ac" else "CurrentDemandRes received"
    assert ev_text.count(loop) >= 2, detail
    assert not re.search(r"^ERROR", ev_text, re.M), detail
