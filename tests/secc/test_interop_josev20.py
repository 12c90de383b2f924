"""Interop, ISO 15118-20: the open-source Josev EVCC (PyPI ``iso15118`` in ``.venv-peers``, its simulated EV)
runs -20 AC, DC, AC BPT and DC BPT sessions against ``josev station --sim --slac off --tls both`` (the real
station stack: HAL simulator, coordinator with its DC flow, SECC, OCPP) across a veth
pair between two network namespaces, over real SDP (TLS requested), TLS 1.3 and EXI, with a PKI made by
``josev pki create --josev-layout`` (the EV reads ``PKI_PATH=<pki>/josev/``).

Success is read from both logs: the station's session must end with ``terminate`` (the EV's SessionStop) after
charge loops, over TLS 1.3. The peer is never imported by josev; it runs as its own process.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from josev.pki import create
from josev.v2g.codec import exi_available
from tests.util.netns import NetnsLab

from .josev_peer import peer_missing, run_josev_evcc

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
    args = ["--tls", "both", "--pki", str(pki)]
    # the real station stack (coordinator, HAL, OCPP) serves one EVSE kind; AC BPT runs on the AC EVSE
    args += ["--modes", "ac" if "-ac" in protocol else "dc"]
    # the peer's simulated -20 DC EV asks for 20 kV: clamp it to the EVSE maximum instead of refusing
    args += ["--lenient-targets"] if "-dc" in protocol else []
    run = await run_josev_evcc(
        netns_lab, tmp_path, cfg, args, pki_path=pki / "josev", env={"ENABLE_TLS_1_3": "True"}
    )
    assert run.ended == b"terminate", run.detail
    assert "TLSv1.3 connection" in run.station_log, run.detail
    assert re.search(r"ISO 15118-20 session \S+ started", run.station_log), run.detail
    assert run.ev_log.count(f"{loop_name}Res received") >= 2, run.detail
    assert "SessionStopRes received" in run.ev_log, run.detail
    assert not re.search(r"^ERROR", run.ev_log, re.M), run.detail
