"""Interop: the open-source Josev EVCC (PyPI ``iso15118``, its simulated EV, installed in the separate venv
``.venv-peers``) charges against ``josev station --sim --slac off`` (the real station stack: HAL simulator,
coordinator, SECC, OCPP, CSMS stand-in) across a veth pair between two network namespaces: DIN SPEC 70121 DC, ISO 15118-2 AC EIM and ISO 15118-2 DC EIM, over real SDP/TCP/EXI.

Success is read from the station's log: the session must end with ``terminate`` (the EV's SessionStop)
after a charge loop. The peer is never imported by josev; it runs as its own process.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from josev.v2g.codec import exi_available
from tests.util.netns import NetnsLab

from .josev_peer import peer_missing, run_josev_evcc

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
    cfg = {"isCertInstallNeeded": False, "useTls": False, **CONFIGS[protocol]}
    modes = "ac" if protocol == "iso2-ac" else "dc"  # the real station stack serves one EVSE kind
    run = await run_josev_evcc(netns_lab, tmp_path, cfg, ["--modes", modes, "--codec", "exi"])
    assert run.ended == b"terminate", run.detail
    assert re.search(r"session \S+ started", run.station_log), run.detail
    loop = "ChargingStatusRes received" if protocol == "iso2-ac" else "CurrentDemandRes received"
    assert run.ev_log.count(loop) >= 2, run.detail
    assert "SessionStopRes received" in run.ev_log, run.detail
    assert not re.search(r"^ERROR", run.ev_log, re.M), run.detail
