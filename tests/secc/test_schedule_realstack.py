"""The night/day profile on the real reference station stack in-process (HAL simulator, coordinator with its DC
flow, SECC, OCPP, the CSMS stand-in; ``josev.secc.refstation.build_real``) and our ISO 15118-2 DC car or
ISO 15118-20 DC car (scheduled mode, over TLS 1.3) across a veth pair: the CSMS stand-in sets the station
clock to 05:59:45 and installs the recurring daily TxDefaultProfile (20 kW from 00:00, 10 kW from 06:00). The car's schedule carries both periods, its current
target follows at 06:00 while the real coordinator lowers the DC limit at the same moment (no renegotiation
for the boundary), and a 5 kW SetChargingProfile during charging makes the car renegotiate once and follow it.
The plan the car chose for each schedule reaches the CSMS as NotifyEVChargingSchedule."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

import josev.sim.csms as csms_sim
from josev.cli.station import run_stack
from josev.ocpp.smartcharging.composite import iso, ts
from josev.pki import create
from josev.secc.refstation import build_real
from josev.v2g.codec import exi_available
from tests.util.netns import CAN_NETNS, NetnsLab

from .test_netns_e2e import run_ev
from .test_schedule_netns import FIVE_KW, NIGHT_DAY

pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]
IDENTITY = "josev-station"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2", "iso20-p521"))
    return out


@pytest.mark.parametrize("protocol", ["iso2-dc", "iso20-dc"])
async def test_night_day_on_the_real_stack(
    protocol: str, netns_lab: NetnsLab, tmp_path: Path, pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    iso20 = protocol == "iso20-dc"
    t0, fake0 = time.time(), ts("2026-01-05T05:59:45Z")

    def station_clock() -> str:  # the CSMS's clock: 05:59:45 when the test starts, running on
        return iso(fake0 + time.time() - t0)

    monkeypatch.setitem(
        csms_sim.ANSWERS,
        "BootNotification",
        lambda p: {"currentTime": station_clock(), "interval": 1, "status": "Accepted"},
    )
    monkeypatch.setitem(csms_sim.ANSWERS, "Heartbeat", lambda p: {"currentTime": station_clock()})
    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    real = build_real(
        pair.a,
        kind="dc",
        slac=False,
        secc={"iso20": iso20, **({"tls": "both", "pki_dir": str(pki)} if iso20 else {})},  # -20: TLS 1.3 only
        workdir=tmp_path,
        bpt=False,
    )
    csms = real.csms
    csms.send_call(IDENTITY, "SetChargingProfile", {"evseId": 0, "chargingProfile": NIGHT_DAY})
    stop = asyncio.Event()
    ready = asyncio.Event()
    stack = asyncio.create_task(run_stack(real.services, stop, ready.set, csms))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        view = real.secc.views[1]
        for _ in range(100):
            if view.schedule is not None:
                break
            await asyncio.sleep(0.1)
        assert view.schedule is not None, csms.actions()

        async def during_day() -> None:
            # after 06:00 of the station clock (~15 s after the boot), the CSMS lowers the limit to 5 kW
            await asyncio.sleep(20.0)
            csms.send_call(IDENTITY, "SetChargingProfile", {"evseId": 1, "chargingProfile": FIVE_KW})

        changer = asyncio.create_task(during_day())
        tls = ("--pki", str(pki), "--station-tls", "both") if iso20 else ("--tls", "off")
        out: dict[str, Any] = await run_ev(
            ev_ns.name, pair.b, protocol, "exi", "--loops", "300", "--loop-interval", "0.1",
            "--seconds-per-loop", "0.01", *tls,
        )  # fmt: skip
        await asyncio.wait_for(changer, 5)
    finally:
        stop.set()
        await asyncio.wait_for(stack, 20)
    r = out["results"][-1]
    assert r["outcome"] == "finished", r
    first = r["schedules"][0]
    assert first[0] == [0, 19941.0] and first[1][1] == 9936.0, first
    assert r["renegotiations"] == 1, (r["schedules"], r["targets"])
    assert r["schedules"][-1] == [[0, 4968.0]]
    # the EV follows the schedule (49.85 A, 24.84 A from 06:00, 12.42 A after the renegotiation); around 06:00 the
    # coordinator's own limit (10 kW over the present voltage, the EVSEMaximumCurrent the EV also obeys) may reach
    # the EV a loop or two before the EV's schedule clock passes the boundary: those targets lie in between
    targets = [v for _, v in r["targets"]]
    assert targets[0] == 49.85 and targets[-2:] == [24.84, 12.42], r["targets"]
    assert all(24.84 <= v <= 26.0 for v in targets[1:-2]), r["targets"]
    # K17: the plan the EV chose for each schedule reached the CSMS (-2 ChargingProfile, -20 EVPowerProfile)
    plans = [
        [(p["startPeriod"], p["limit"]) for p in c.payload["chargingSchedule"]["chargingSchedulePeriod"]]
        for c in csms.calls
        if c.action == "NotifyEVChargingSchedule"
    ]
    assert len(plans) == 2, plans
    assert plans[0][0] == (0, 19941.0) and plans[0][1][1] == 9936.0, plans
    assert plans[1] == [(0, 4968.0)], plans
    results = [m for who, m in csms.results if who == IDENTITY]
    assert sum(1 for m in results if m[2] == {"status": "Accepted"}) >= 2  # both profiles accepted
