"""The operator's night/day profile end to end over a real mosquitto: scripted CSMS -> OCPP service ->
coordinator -> HAL service -> simulated board and AC car. The CSMS sets the station clock to 05:59:54; a
recurring daily TxDefaultProfile of 20 kW from 00:00 and 10 kW from 06:00 reaches the pilot within a second
(20 kW / 690 V = 28.9 A -> 48.1 %), and at 06:00 of the station clock the duty cycle drops to 24.0 %
(10 kW -> 14.4 A). An external EMS limit (bus command) is applied, reported to the CSMS, and cleared."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hal.sim import SimEv
from josev.api import coordinator as capi
from josev.api import ocpp as api
from josev.api.base import CommandError
from josev.ocpp.service import OcppService
from josev.ocpp.smartcharging.composite import ts
from tests.conftest import BusFactory
from tests.coordinator.rig import start_station, until
from tests.ocpp.conftest import make_config
from tests.ocpp.harness import ScriptedCsms

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


async def test_night_day_profile_drives_the_pwm_duty(
    tmp_path: Path, csms: ScriptedCsms, bus_factory: BusFactory
) -> None:
    csms.responders["BootNotification"] = lambda p: {
        "currentTime": "2026-01-05T05:59:54.000Z",
        "interval": 300,
        "status": "Accepted",
    }
    csms.responders["NotifyChargingLimit"] = lambda p: {}
    csms.responders["ClearedChargingLimit"] = lambda p: {}
    st = await start_station(bus_factory, 1, evse={"free_charging": True})
    svc = OcppService(make_config(tmp_path, csms.url, evses={1: 1}))
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(await bus_factory("ocpp"), stop))
    schedules: list[api.ChargingSchedule] = []
    st.cli.subscribe(api.ChargingSchedule, lambda m, e: schedules.append(m))
    try:
        await csms.wait_for("BootNotification")
        sim = st.board.sim(1)
        sim.plug(SimEv(auto_ready=True, max_current_a=32.0, phases=3))
        await until(lambda: sim.cp.output().duty_percent == 53.3, what="charging at 32 A (53.3 %)")
        assert svc.client is not None
        station = svc.client.station
        # the CSMS got the BootNotification; the station adopts its time when the answer arrives
        await until(lambda: station.clock_offset != 0.0, what="the CSMS's time adopted")
        boundary = ts("2026-01-05T06:00:00Z") - station.clock_offset  # 06:00 of the station clock, shell time
        assert boundary - time.time() > 1.0, "setup took too long for the boundary test"

        sent = time.time()
        assert (await csms.call("SetChargingProfile", {"evseId": 0, "chargingProfile": NIGHT_DAY})) == {
            "status": "Accepted"
        }
        await until(lambda: sim.cp.output().duty_percent == 48.1, timeout=1.0, what="48.1 % within 1 s")
        applied_after = time.time() - sent
        await until(
            lambda: st.obs.status[1].limit_source == "ocpp" and st.obs.status[1].limit_a == 28.9,
            what="EvseStatus limit 28.9 A by ocpp",
        )
        # what the SECC reads as the EVSE maximum for HLC: 28.9 A x 3 x 230 V
        assert abs((st.obs.status[1].max_power_w or 0) - 19941.0) < 1.0
        await until(lambda: bool(schedules) and schedules[-1].limit_a == 28.9, what="retained schedule")
        first = schedules[-1]
        # the published composite carries both periods: 20 kW until 06:00, then 10 kW (in A)
        assert [(p.start_s, p.limit) for p in first.periods][:2] == [
            (0, 28.9),
            (first.periods[1].start_s, 14.4),
        ]
        assert (
            abs(first.schedule_start.timestamp() + first.periods[1].start_s - ts("2026-01-05T06:00:00Z")) < 1
        )

        await until(
            lambda: sim.cp.output().duty_percent == 24.0, timeout=boundary - time.time() + 1.0, what="24 %"
        )
        late = time.time() - boundary
        assert -0.05 < late < 1.0, late
        duties = [w.duty_percent for w in sim.cp.writes if w.duty_percent]
        assert duties[-3:] == [53.3, 48.1, 24.0]  # nothing in between: one change per limit change
        assert st.obs.status[1].state == "charging"

        # an external EMS limits EVSE 1 to 10 A: applied (16.6 %) and reported to the CSMS
        await st.cli.request(api.SetExternalLimit(evse_id=1, amps=10.0), None)
        await until(lambda: sim.cp.output().duty_percent == 16.6, timeout=1.0, what="EMS limit 16.6 %")
        note = await csms.wait_for("NotifyChargingLimit")
        assert note["chargingLimit"]["chargingLimitSource"] == "EMS" and note["evseId"] == 1
        res = await csms.call("GetCompositeSchedule", {"duration": 60, "evseId": 1, "chargingRateUnit": "W"})
        assert res["schedule"]["chargingSchedulePeriod"][0]["limit"] == 6900.0  # 10 A x 690 V
        try:
            await st.cli.request(api.SetExternalLimit(evse_id=4, amps=10.0), None)
        except CommandError as err:
            assert "EVSE 4 does not exist" in str(err)
        else:
            raise AssertionError("an unknown EVSE must be refused")
        await st.cli.request(api.SetExternalLimit(evse_id=1), None)
        await csms.wait_for("ClearedChargingLimit")
        await until(lambda: sim.cp.output().duty_percent == 24.0, timeout=1.0, what="back to 24 %")
        # a coordinator that lost the OCPP limit (here: cleared behind the OCPP service's back) gets it again
        seen: list[float | None] = []
        st.cli.subscribe(capi.EvseStatus, lambda m, e: seen.append(m.limit_a))
        await asyncio.sleep(0.2)
        n_writes = len(sim.cp.writes)
        await st.cli.request(capi.SetLimit(source="ocpp"), 1)
        await until(lambda: 32.0 in seen, timeout=1.0, what="limit lost")
        await until(lambda: seen[-1] == 14.4, timeout=3.0, what="limit re-asserted")
        assert [w.duty_percent for w in sim.cp.writes[n_writes:]] == [53.3, 24.0]
        # lost again at once, inside the re-assertion gap (1 s): re-asserted when the gap has passed, not dropped
        # (before: dropped, and with no further status the EVSE charged at 32 A against the CSMS's profile)
        seen.clear()
        await st.cli.request(capi.SetLimit(source="ocpp"), 1)
        await until(lambda: 32.0 in seen, timeout=1.0, what="limit lost again")
        await until(lambda: seen[-1] == 14.4, timeout=3.0, what="limit re-asserted after the gap")
        assert [w.duty_percent for w in sim.cp.writes[n_writes:]] == [53.3, 24.0, 53.3, 24.0]
        # clearing the profile lifts the OCPP limit
        assert (await csms.call("ClearChargingProfile", {"chargingProfileId": 7}))["status"] == "Accepted"
        await until(lambda: sim.cp.output().duty_percent == 53.3, timeout=1.0, what="back to 32 A")
        await until(lambda: st.obs.status[1].limit_source != "ocpp", what="no OCPP limit")
        print(
            f"SetChargingProfile -> HAL duty: {applied_after * 1000:.0f} ms; boundary late by {late * 1000:.0f} ms"
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await st.close()
