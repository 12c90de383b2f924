"""The operator's night/day profile reaches the car, end to end over a real mosquitto and a veth pair between
network namespaces: scripted CSMS -> OCPP service -> retained ``ChargingSchedule`` -> SECC service -> our
simulated ISO 15118-2 DC / -20 DC car (the ``josev.ev`` process in its own namespace).

The CSMS sets the station clock to 05:59:50 and installs the recurring daily TxDefaultProfile (20 kW from
00:00, 10 kW from 06:00). The car receives both periods in its schedule (19941 W, then 9936 W from the
boundary: 28.9 A / 14.4 A x 3 x 230 V), its DC current target follows at 06:00 of the station clock (49.85 A
-> 24.84 A at 400 V); a SetChargingProfile of 5 kW during charging makes the station ask for a renegotiation
and the car follows the new schedule (4968 W -> 12.42 A). A stand-in coordinator accepts ``SetLimit`` and the
contactor commands (the coordinator's own enforcement is tested in tests/coordinator/test_k_dc_schedule.py).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from josev.api import coordinator as coord
from josev.api import ocpp as api
from josev.api import secc as sapi
from josev.api.base import Ack
from josev.ocpp.service import OcppService
from josev.ocpp.smartcharging.composite import ts
from josev.pki import create
from josev.secc.service import SeccEvseConfig, SeccService
from josev.secc.tlsconfig import SeccTls
from tests.conftest import BusFactory
from tests.coordinator.rig import until
from tests.ocpp.conftest import csms, make_config
from tests.ocpp.harness import ScriptedCsms
from tests.util.netns import NetnsLab

from .test_netns_e2e import run_ev

__all__ = ["csms"]

NIGHT_DAY = {
    "id": 7,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Recurring",
    "recurrencyKind": "Daily",
    "chargingSchedule": [
        {
            "id": 1,
            "startSchedule": "2026-01-01T00:00:00Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 20000.0},
                {"startPeriod": 21600, "limit": 10000.0},
            ],
        }
    ],
}
FIVE_KW = {
    "id": 8,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [
        {
            "id": 1,
            "startSchedule": "2026-01-05T00:00:00Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5000.0}],
        }
    ],
}
NIGHT_W, DAY_W, FIVE_W = 19941.0, 9936.0, 4968.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2", "iso20-p521"))
    return out


@pytest.mark.netns
@pytest.mark.parametrize("protocol", ["iso2-dc", "iso20-dc"])
async def test_night_day_schedule_reaches_the_car(
    protocol: str, netns_lab: NetnsLab, bus_factory: BusFactory, csms: ScriptedCsms, tmp_path: Path, pki: Path
) -> None:
    csms.responders["BootNotification"] = lambda p: {
        "currentTime": "2026-01-05T05:59:50.000Z",
        "interval": 300,
        "status": "Accepted",
    }
    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    secc = SeccService(
        [SeccEvseConfig(evse=1, iface=pair.a, max_power_w=50_000.0, iso20=protocol.startswith("iso20"))],
        codec="exi",
        tls=SeccTls("both", pki),
    )
    stand_in = await bus_factory("coordinator")
    limits: list[float | None] = []

    async def set_limit(cmd: coord.SetLimit, evse: int | None) -> Ack:
        limits.append(cmd.amps)
        return Ack()

    async def power(cmd: coord.HlcPowerDelivery, evse: int | None) -> Ack:
        return Ack()

    stand_in.serve(coord.SetLimit, set_limit)
    stand_in.serve(coord.HlcPowerDelivery, power)
    targets: list[float] = []
    schedules: list[api.ChargingSchedule] = []
    ev_profiles: list[sapi.EvChargingSchedule] = []
    stand_in.subscribe(sapi.EvTarget, lambda m, e: targets.append(round(m.current_a, 2)))
    stand_in.subscribe(api.ChargingSchedule, lambda m, e: schedules.append(m))
    stand_in.subscribe(sapi.EvChargingSchedule, lambda m, e: ev_profiles.append(m))
    ocpp = OcppService(make_config(tmp_path, csms.url, evses={1: 1}))
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(ocpp.run(await bus_factory("ocpp"), stop)),
        asyncio.create_task(secc.run(await bus_factory("secc"), stop)),
    ]
    try:
        await csms.wait_for("BootNotification")
        await asyncio.wait_for(secc.ready.wait(), 10)
        assert ocpp.client is not None
        station = ocpp.client.station
        # the CSMS got the BootNotification; the station adopts its time when the answer arrives
        await until(lambda: station.clock_offset != 0.0, what="the CSMS's time adopted")
        boundary = ts("2026-01-05T06:00:00Z") - station.clock_offset  # 06:00 of the station clock, host time
        res = await csms.call("SetChargingProfile", {"evseId": 0, "chargingProfile": NIGHT_DAY})
        assert res == {"status": "Accepted"}
        await until(lambda: bool(schedules) and schedules[-1].limit_a == 28.9, what="composite published")
        await until(lambda: secc.views[1].schedule is not None, what="SECC has the schedule")

        async def during_day() -> None:
            await until(lambda: 24.84 in targets, timeout=30.0, what="the day target")
            await asyncio.sleep(0.5)
            r = await csms.call("SetChargingProfile", {"evseId": 1, "chargingProfile": FIVE_KW})
            assert r == {"status": "Accepted"}

        changer = asyncio.create_task(during_day())
        assert boundary - time.time() > 3.0, "setup took too long for the boundary test"
        out = await run_ev(
            ev_ns.name, pair.b, protocol, "exi", "--loops", "150", "--loop-interval", "0.1",
            "--seconds-per-loop", "0.01", "--pki", str(pki), "--station-tls", "both",
        )  # fmt: skip
        await asyncio.wait_for(changer, 5)
    finally:
        stop.set()
        for t in tasks:
            await asyncio.wait_for(t, 10)
    r = out["results"][-1]
    assert r["outcome"] == "finished", r
    first = r["schedules"][0]
    # both periods, relative to the offer: 20 kW (as 28.9 A x 690 V) now, 10 kW from 06:00
    assert first[0] == [0, NIGHT_W] and first[1][1] == DAY_W and 3 <= first[1][0] <= 10, first
    # renegotiated once for the CSMS's 5 kW profile, and the car took the new schedule
    assert r["renegotiations"] == 1, (r["schedules"], r["targets"])
    assert r["schedules"][-1] == [[0, FIVE_W]]
    values = [v for _, v in r["targets"]]
    assert values == [49.85, 24.84, 12.42], r["targets"]
    # the station saw the same targets (CurrentDemand / DC_ChargeLoop on the bus)
    assert [v for i, v in enumerate(targets) if v and (i == 0 or targets[i - 1] != v)][-3:] == [
        49.85,
        24.84,
        12.42,
    ]
    assert limits[-1] == 7.2  # the coordinator's OCPP limit: 5 kW / 690 V
    # the EV's chosen profile (-2 ChargingProfile, -20 EVPowerProfile) went to the bus (NotifyEVChargingSchedule)
    assert next((e.start_s, e.max_power_w) for e in ev_profiles[0].entries) == (0, NIGHT_W)
    assert [(e.start_s, e.max_power_w) for e in ev_profiles[-1].entries] == [(0, FIVE_W)]


SEVEN_THEN_FIVE = {
    **FIVE_KW,
    "id": 9,
    "chargingSchedule": [
        {
            "id": 1,
            "startSchedule": "2026-01-05T00:00:00Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 7000.0},
                {"startPeriod": 21660, "limit": 5000.0},
            ],
        }
    ],
}
"""7 kW, 5 kW from 06:01:00 (of 2026-01-05, the station clock)."""
SEVEN_W = 6969.0  # 7000 W -> 10.1 A x 690 V


@pytest.mark.netns
@pytest.mark.parametrize("protocol", ["iso2-dc", "iso20-dc"])
async def test_ev_charging_needs_and_schedule_to_the_csms(
    protocol: str, netns_lab: NetnsLab, bus_factory: BusFactory, csms: ScriptedCsms, tmp_path: Path, pki: Path
) -> None:
    """OCPP K15/K17: the EV's needs go to the CSMS, which answers Processing; the EV waits (Ongoing) until the
    CSMS's profile (7 kW, 5 kW from 06:01) arrives and then charges with it; the schedule the EV chose (-2:
    its PowerDelivery ChargingProfile, -20 scheduled: its EVPowerProfile) goes back to the CSMS with both
    periods."""
    iso20 = protocol.startswith("iso20")
    csms.responders["BootNotification"] = lambda p: {
        "currentTime": "2026-01-05T05:59:50.000Z",
        "interval": 300,
        "status": "Accepted",
    }
    csms.responders["NotifyEVChargingNeeds"] = lambda p: {
        "status": "Processing",
        "statusInfo": {"reasonCode": "GatheringPrices"},
    }
    csms.responders["NotifyEVChargingSchedule"] = lambda p: {"status": "Accepted"}
    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    secc = SeccService(
        [SeccEvseConfig(evse=1, iface=pair.a, max_power_w=50_000.0, iso20=iso20)],
        codec="exi",
        csms_wait=20.0,
        tls=SeccTls("both", pki) if iso20 else None,  # -20 only over TLS 1.3
    )
    stand_in = await bus_factory("coordinator")

    async def ack(cmd: object, evse: int | None) -> Ack:
        return Ack()

    stand_in.serve(coord.SetLimit, ack)
    stand_in.serve(coord.HlcPowerDelivery, ack)
    ocpp = OcppService(make_config(tmp_path, csms.url, evses={1: 1}))
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(ocpp.run(await bus_factory("ocpp"), stop)),
        asyncio.create_task(secc.run(await bus_factory("secc"), stop)),
    ]
    try:
        await csms.wait_for("BootNotification")
        await asyncio.wait_for(secc.ready.wait(), 10)
        assert (await csms.call("SetChargingProfile", {"evseId": 0, "chargingProfile": NIGHT_DAY}))[
            "status"
        ] == "Accepted"
        await until(lambda: secc.views[1].schedule is not None, what="SECC has the schedule")

        async def csms_side() -> float:
            await csms.wait_for("NotifyEVChargingNeeds")
            await until(lambda: secc.views[1].needs_status == "Processing", what="answer reached the SECC")
            await asyncio.sleep(2.0)  # the CSMS computes a profile meanwhile; the EV waits
            sent = time.time()
            r = await csms.call("SetChargingProfile", {"evseId": 1, "chargingProfile": SEVEN_THEN_FIVE})
            assert r == {"status": "Accepted"}
            return sent

        side = asyncio.create_task(csms_side())
        tls = ("--pki", str(pki), "--station-tls", "both") if iso20 else ("--tls", "off")
        out = await run_ev(ev_ns.name, pair.b, protocol, "exi", "--loops", "5", *tls)
        await asyncio.wait_for(side, 5)
        sched = await csms.wait_for("NotifyEVChargingSchedule")
        assert ocpp.client is not None
        offset = ocpp.client.station.clock_offset
    finally:
        stop.set()
        for t in tasks:
            await asyncio.wait_for(t, 10)
    r = out["results"][-1]
    assert r["outcome"] == "finished", r
    # waited for the CSMS's profile: the first schedule the EV saw is already the 7 kW / 5 kW one
    ((first, second),) = r["schedules"]
    assert first == [0, SEVEN_W] and second[1] == FIVE_W, r["schedules"]
    assert r["messages"].count("ScheduleExchangeReq" if iso20 else "ChargeParameterDiscoveryReq") >= 10
    (needs,) = csms.actions("NotifyEVChargingNeeds")
    assert needs["evseId"] == 1
    cn = needs["chargingNeeds"]
    assert cn["requestedEnergyTransfer"] == "DC"
    dc = cn["dcChargingParameters"]
    assert {k: dc[k] for k in ("evMaxCurrent", "evMaxVoltage", "evMaxPower")} == {
        "evMaxCurrent": 125,
        "evMaxVoltage": 450,
        "evMaxPower": 50000,
    }, dc
    if not iso20:  # (-20: the energy request comes with ScheduleExchange, after the needs were sent)
        assert dc["energyAmount"] == 30000 and dc["stateOfCharge"] == 30, dc
    assert sched["evseId"] == 1 and sched["timeBase"].startswith("2026-01-05T05:5")
    assert sched["chargingSchedule"]["chargingRateUnit"] == "W"
    periods = sched["chargingSchedule"]["chargingSchedulePeriod"]
    # the EV's periods: 6969 W from the time base, 4968 W from 06:01:00 of the station clock
    assert [p["limit"] for p in periods] == [SEVEN_W, FIVE_W] and periods[0]["startPeriod"] == 0, periods
    at = ts(sched["timeBase"]) + periods[1]["startPeriod"]
    assert abs(at - ts("2026-01-05T06:01:00Z")) <= 2.0, (sched, offset)
