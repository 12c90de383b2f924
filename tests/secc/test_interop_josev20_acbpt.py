"""-20 AC BPT against the reference station: the open-source Josev EVCC (PyPI ``iso15118`` in ``.venv-peers``,
its own process) with AC_BPT as its only energy service runs a whole session against ``josev station --sim
--modes ac`` (default ``--bpt on``; the real stack: HAL simulator, coordinator, SECC, OCPP, CSMS stand-in)
across a veth pair between two network namespaces, over SDP, TLS 1.3 and EXI.

The values come from the station's own pcapng (``--v2g-log-dir``), decoded: the station offers ServiceID 5
(AC_BPT) next to 1 (AC), the EV selects 5, the discharge limits the station offers are the coordinator's 16 A
per phase (3 x 3680 W = 11040 W at 230 V), the discharging schedule is -11040 W, the charge loop answers in the
BPT control mode, and the session ends with the EV's SessionStop (Terminate)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from josev.pki import create
from josev.v2g.codec import exi_available, make_codec
from tests.util.netns import NetnsLab

from .josev_peer import peer_missing, run_josev_evcc

pytestmark = [pytest.mark.netns, pytest.mark.interop, pytest.mark.slow]


def _watts(v: dict[str, Any]) -> float:
    return float(v["Value"]) * 10.0 ** int(v["Exponent"])


async def test_josev_ev_ac_bpt_session_at_josev_station_modes_ac(netns_lab: NetnsLab, tmp_path: Path) -> None:
    if reason := exi_available():
        pytest.skip(reason)
    if reason := peer_missing():
        pytest.skip(reason)
    from josev.report.decode import messages_from_capture

    pki = tmp_path / "pki"
    create(pki, ("iso2", "iso20-p521"), josev_layout=True)
    evcc = {
        "isCertInstallNeeded": False,
        "useTls": True,
        "enforceTls": True,
        "chargeLoopCycle": 3,
        "supportedProtocols": ["ISO_15118_20_AC"],
        "supportedEnergyServices": ["AC_BPT"],  # only BPT: no AC fallback
        "energyTransferMode": "AC_three_phase_core",
    }
    logs = tmp_path / "v2g"
    station = ["--modes", "ac", "--tls", "both", "--pki", str(pki), "--v2g-log-dir", str(logs), "--no-report"]
    run = await run_josev_evcc(
        netns_lab, tmp_path, evcc, station, pki_path=pki / "josev", env={"ENABLE_TLS_1_3": "True"}
    )
    assert run.ended == b"terminate", run.detail
    assert re.search(r"ISO 15118-20 session \S+ started", run.station_log), run.detail
    assert not re.search(r"^ERROR", run.ev_log, re.M), run.detail
    captures = sorted(logs.glob("*.pcapng"))
    assert len(captures) == 1, captures
    msgs = messages_from_capture(captures[0], make_codec("exi"))
    by_name: dict[str, list[dict[str, Any]]] = {}
    for m in msgs:
        by_name.setdefault(m.name, []).append(dict(m.body))

    offered = by_name["ServiceDiscoveryRes"][0]["EnergyTransferServiceList"]["Service"]
    assert [s["ServiceID"] for s in offered] == [1, 5]  # AC and AC_BPT
    selected = by_name["ServiceSelectionReq"][0]["SelectedEnergyTransferService"]
    assert selected["ServiceID"] == 5
    cpd = by_name["AC_ChargeParameterDiscoveryRes"][0]
    assert cpd["ResponseCode"] == "OK"
    bpt = cpd["BPT_AC_CPDResEnergyTransferMode"]
    per_phase = [bpt[f"EVSEMaximumDischargePower{p}"] for p in ("", "_L2", "_L3")]
    assert [_watts(p) for p in per_phase] == [3680.0, 3680.0, 3680.0]  # 16 A x 230 V per phase
    assert _watts(bpt["EVSEMaximumChargePower"]) == 7360.0  # 32 A x 230 V
    tuple0 = by_name["ScheduleExchangeRes"][0]["Scheduled_SEResControlMode"]["ScheduleTuple"][0]
    discharge = tuple0["DischargingSchedule"]["PowerSchedule"]["PowerScheduleEntries"]["PowerScheduleEntry"]
    assert [_watts(e["Power"]) for e in discharge] == [-11040.0]
    loops = by_name["AC_ChargeLoopRes"]
    assert len(loops) >= 2
    assert all(r["ResponseCode"] == "OK" and "BPT_Scheduled_AC_CLResControlMode" in r for r in loops), loops
    assert all("BPT_Scheduled_AC_CLReqControlMode" in r for r in by_name["AC_ChargeLoopReq"])
    # The Josev EV may repeat Start with EVProcessing Ongoing while its controller has no power profile yet
    # (seen in a loaded CI run: three of them), then Start Finished, then Stop; each one answered OK
    deliveries = [(r["ChargeProgress"], r["EVProcessing"]) for r in by_name["PowerDeliveryReq"]]
    assert deliveries[-2:] == [("Start", "Finished"), ("Stop", "Finished")], deliveries
    assert all(d == ("Start", "Ongoing") for d in deliveries[:-2]), deliveries
    assert [r["ResponseCode"] for r in by_name["PowerDeliveryRes"]] == ["OK"] * len(deliveries)
    assert by_name["SessionStopReq"][0]["ChargingSession"] == "Terminate"
    assert by_name["SessionStopRes"][0]["ResponseCode"] == "OK"
