"""OCTT group K (smart charging) against the scripted CSMS: TC_K_01..K_03 SetChargingProfile (TxDefault,
TxProfile, ChargingStationMax), TC_K_05 RequestStartTransaction with a TxProfile, TC_K_08 GetCompositeSchedule,
TC_K_09 GetChargingProfiles, TC_K_10 ClearChargingProfile, TC_K_12/K_13 NotifyChargingLimit /
ClearedChargingLimit from an external EMS, invalid profiles refused with their reasonCode, the
SmartChargingCtrlr variables, persistence across a restart, and the limit following a daily boundary of the
station clock (set by the CSMS)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from josev.ocpp.smartcharging import composite as C
from josev.ocpp.smartcharging import messages as smart
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms

TOK = {"idToken": "REMOTE1", "type": "Central"}
PAST = (
    "2026-01-01T00:00:00Z"  # startSchedule of absolute profiles that run from before the test (no duration)
)


def profile(
    pid: int,
    purpose: str = "TxDefaultProfile",
    stack: int = 0,
    kind: str = "Relative",
    periods: list[tuple[int, float]] | None = None,
    unit: str = "A",
    **kw: Any,
) -> dict[str, Any]:
    sched: dict[str, Any] = {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in (periods or [(0, 16.0)])],
    }
    if "startSchedule" in kw:
        sched["startSchedule"] = kw.pop("startSchedule")
    out = {"id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose, "chargingProfileKind": kind}
    out.update(kw)
    out["chargingSchedule"] = [sched]
    return out


def limits(station: StationUnderTest, evse: int) -> list[float | None]:
    return [r.data["amps"] for r in station.requests if r.kind == "charging_limit" and r.data["evse"] == evse]


async def wait_limit(station: StationUnderTest, evse: int, amps: float | None, timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.02)):
        got = limits(station, evse)
        if got and got[-1] == amps:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"EVSE {evse} limits {limits(station, evse)}, expected last {amps}")


async def set_profile(csms: ScriptedCsms, evse: int, prof: dict[str, Any]) -> dict[str, Any]:
    return await csms.call("SetChargingProfile", {"evseId": evse, "chargingProfile": prof})


async def start_tx(csms: ScriptedCsms, station: StationUnderTest, evse: int = 1) -> str:
    await station.feed("plug", evse, 1, True)
    await station.feed("present_token", evse, {"idToken": "TAG1", "type": "ISO14443"})
    started = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started")
    return str(started["transactionInfo"]["transactionId"])


async def test_tc_k_01_tx_default_profile_applied_and_reported(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    await csms.wait_for("StatusNotification", count=2)
    res = await set_profile(csms, 0, profile(10, periods=[(0, 20.0)]))
    assert res == {"status": "Accepted"}
    # EVSE 0 TxDefaultProfile applies to every EVSE: 20 A reaches both within the same receive
    await wait_limit(station, 1, 20.0)
    await wait_limit(station, 2, 20.0)
    # an EVSE-specific profile overrules it on EVSE 2 only
    assert (await set_profile(csms, 2, profile(11, periods=[(0, 10.0)])))["status"] == "Accepted"
    await wait_limit(station, 2, 10.0)
    assert limits(station, 1)[-1] == 20.0
    # TC_K_09 GetChargingProfiles: one report per EVSE
    res = await csms.call(
        "GetChargingProfiles",
        {"requestId": 5, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
    )
    assert res == {"status": "Accepted"}
    await csms.wait_for("ReportChargingProfiles", count=2)
    reports = csms.actions("ReportChargingProfiles")
    assert [(r["evseId"], [p["id"] for p in r["chargingProfile"]], r.get("tbc", False)) for r in reports] == [
        (0, [10], True),
        (2, [11], False),
    ]
    assert reports[0]["chargingLimitSource"] == "CSO" and reports[0]["requestId"] == 5
    res = await csms.call(
        "GetChargingProfiles", {"requestId": 6, "chargingProfile": {"chargingProfileId": [99]}}
    )
    assert res == {"status": "NoProfiles"}
    res = await csms.call(
        "GetChargingProfiles", {"requestId": 7, "evseId": 2, "chargingProfile": {"stackLevel": 0}}
    )
    assert res == {"status": "Accepted"}
    last = await csms.wait_for("ReportChargingProfiles", lambda p: p["requestId"] == 7)
    assert last["evseId"] == 2 and [p["id"] for p in last["chargingProfile"]] == [11]
    # SmartChargingCtrlr.Entries counts the installed profiles
    got = await csms.call(
        "GetVariables",
        {
            "getVariableData": [
                {
                    "component": {"name": "SmartChargingCtrlr"},
                    "variable": {"name": "Entries", "instance": "ChargingProfiles"},
                },
                {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": "RateUnit"}},
            ]
        },
    )
    assert [r["attributeValue"] for r in got["getVariableResult"]] == ["2", "A,W"]


async def test_tc_k_02_tx_profile_needs_the_running_transaction(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    await csms.wait_for("StatusNotification", count=2)
    res = await set_profile(csms, 1, profile(20, "TxProfile", transactionId="nope"))
    assert res["status"] == "Rejected"
    assert res["statusInfo"]["reasonCode"] == "TxNotFound"
    tx_id = await start_tx(csms, station)
    await set_profile(csms, 0, profile(1, periods=[(0, 25.0)]))
    res = await set_profile(csms, 1, profile(20, "TxProfile", periods=[(0, 12.0)], transactionId=tx_id))
    assert res == {"status": "Accepted"}
    await wait_limit(station, 1, 12.0)  # TxProfile beats TxDefaultProfile
    assert limits(station, 2)[-1] == 25.0
    # the transaction ends: the TxProfile is removed, the default applies again
    await station.feed("plug", 1, 1, False)
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    await station.feed("charging_state", 1, "Idle")  # any station input refreshes; the service also polls
    smart.refresh(station.st, time.time())
    await station.client._dispatch(station.st.take())
    await wait_limit(station, 1, 25.0)
    assert [p.id for p in smart.state(station.st).installed] == [1]


async def test_tc_k_03_station_max_profile_caps_every_evse(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    await csms.wait_for("StatusNotification", count=2)
    await set_profile(csms, 0, profile(1, periods=[(0, 20.0)]))
    res = await set_profile(csms, 1, profile(2, "ChargingStationMaxProfile", periods=[(0, 16.0)]))
    assert res["status"] == "Rejected" and res["statusInfo"]["reasonCode"] == "InvalidProfile"
    res = await set_profile(
        csms, 0, profile(2, "ChargingStationMaxProfile", unit="W", periods=[(0, 11000.0)])
    )
    assert res["status"] == "Rejected" and "cannot be Relative" in res["statusInfo"]["additionalInfo"]
    res = await set_profile(
        csms,
        0,
        profile(
            2,
            "ChargingStationMaxProfile",
            kind="Absolute",
            unit="W",
            periods=[(0, 11000.0)],
            startSchedule=PAST,
        ),
    )
    assert res == {"status": "Accepted"}
    # 11000 W / (3 x 230 V) = 15.94 -> 15.9 A on each EVSE
    await wait_limit(station, 1, 15.9)
    await wait_limit(station, 2, 15.9)


async def test_invalid_profiles_refused_with_status_and_reason(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    await csms.wait_for("StatusNotification", count=2)
    assert (await set_profile(csms, 1, profile(1, stack=3)))["status"] == "Accepted"
    cases = [
        (1, profile(2, stack=3), "DuplicateProfile"),  # overlapping stack level
        (
            1,
            profile(3, kind="Recurring", startSchedule="2026-01-05T00:00:00Z"),
            "InvalidProfile",
        ),  # no recurrencyKind
        (
            1,
            profile(4, kind="Recurring", recurrencyKind="Hourly", startSchedule="2026-01-05T00:00:00Z"),
            None,  # not in the enum: the schema check answers with a CALLERROR
        ),
        (1, profile(5, periods=[(0, 10.0), (600, 8.0), (300, 6.0)]), "InvalidSchedule"),  # out of order
        (1, profile(6, periods=[(60, 10.0)]), "InvalidSchedule"),  # first period not at 0
        (7, profile(7), "UnknownEvse"),
        (1, profile(8, "ChargingStationExternalConstraints"), "InvalidProfile"),
    ]
    for evse, prof, reason in cases:
        if reason is None:
            try:
                await set_profile(csms, evse, prof)
            except Exception as err:
                assert "FormationViolation" in str(err) or "PropertyConstraintViolation" in str(err), err
            else:
                raise AssertionError("an invalid enum must be a CALLERROR")
            continue
        res = await set_profile(csms, evse, prof)
        assert res["status"] == "Rejected", (prof["id"], res)
        assert res["statusInfo"]["reasonCode"] == reason, (prof["id"], res)
        assert res["statusInfo"]["additionalInfo"]
    assert [p.id for p in smart.state(station.st).installed] == [1]
    # the same id replaces the installed profile (even at the same stack level)
    assert (await set_profile(csms, 1, profile(1, stack=3, periods=[(0, 9.0)])))["status"] == "Accepted"
    await wait_limit(station, 1, 9.0)


async def test_tc_k_08_get_composite_schedule(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    await set_profile(csms, 0, profile(1, periods=[(0, 20.0), (600, 10.0)]))
    await set_profile(
        csms,
        0,
        profile(2, "ChargingStationMaxProfile", kind="Absolute", periods=[(0, 16.0)], startSchedule=PAST),
    )
    res = await csms.call("GetCompositeSchedule", {"duration": 1200, "evseId": 1, "chargingRateUnit": "A"})
    assert res["status"] == "Accepted"
    sched = res["schedule"]
    assert sched["evseId"] == 1 and sched["duration"] == 1200 and sched["chargingRateUnit"] == "A"
    # min(station max 16, default 20 then 10) with 3 phases
    assert sched["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
        {"startPeriod": 600, "limit": 10.0, "numberPhases": 3},
    ]
    res = await csms.call("GetCompositeSchedule", {"duration": 1200, "evseId": 1, "chargingRateUnit": "W"})
    assert [p["limit"] for p in res["schedule"]["chargingSchedulePeriod"]] == [11040.0, 6900.0]
    # EVSE 0: the station maximum only
    res = await csms.call("GetCompositeSchedule", {"duration": 300, "evseId": 0})
    assert res["schedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]
    # no profile on a hardware-limited EVSE: the EVSE's 22 kW (EVSE.Power maxLimit) = 31.8 A
    await csms.call("ClearChargingProfile", {})
    res = await csms.call("GetCompositeSchedule", {"duration": 60, "evseId": 2})
    assert res["schedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 31.8, "numberPhases": 3}]
    res = await csms.call("GetCompositeSchedule", {"duration": 60, "evseId": 9})
    assert res == {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}


async def test_tc_k_10_clear_charging_profile(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    for pid, evse, stack, purpose in [
        (1, 0, 0, "TxDefaultProfile"),
        (2, 1, 1, "TxDefaultProfile"),
        (3, 2, 2, "TxDefaultProfile"),
        (4, 0, 0, "ChargingStationMaxProfile"),
        (5, 2, 5, "TxDefaultProfile"),
    ]:
        kind = "Absolute" if purpose == "ChargingStationMaxProfile" else "Relative"
        extra = {"startSchedule": PAST} if kind == "Absolute" else {}
        res = await set_profile(csms, evse, profile(pid, purpose, stack=stack, kind=kind, **extra))
        assert res["status"] == "Accepted", res

    def ids() -> list[int]:
        return sorted(p.id for p in smart.state(station.st).installed)

    assert (await csms.call("ClearChargingProfile", {"chargingProfileId": 2})) == {"status": "Accepted"}
    assert ids() == [1, 3, 4, 5]
    assert (await csms.call("ClearChargingProfile", {"chargingProfileId": 2}))["status"] == "Unknown"
    res = await csms.call("ClearChargingProfile", {"chargingProfileCriteria": {"stackLevel": 5}})
    assert res["status"] == "Accepted" and ids() == [1, 3, 4]
    res = await csms.call(
        "ClearChargingProfile",
        {"chargingProfileCriteria": {"chargingProfilePurpose": "ChargingStationMaxProfile"}},
    )
    assert res["status"] == "Accepted" and ids() == [1, 3]
    res = await csms.call("ClearChargingProfile", {"chargingProfileCriteria": {"evseId": 2}})
    assert res["status"] == "Accepted" and ids() == [1]
    res = await csms.call("ClearChargingProfile", {"chargingProfileCriteria": {"evseId": 2}})
    assert res["status"] == "Unknown"
    assert (await csms.call("ClearChargingProfile", {}))["status"] == "Accepted" and ids() == []
    await wait_limit(station, 1, None)


async def test_tc_k_05_remote_start_with_tx_profile(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    bad = profile(30, "TxDefaultProfile")
    res = await csms.call(
        "RequestStartTransaction", {"evseId": 1, "remoteStartId": 1, "idToken": TOK, "chargingProfile": bad}
    )
    assert res["status"] == "Rejected" and res["statusInfo"]["reasonCode"] == "InvalidProfile"
    assert not [r for r in station.requests if r.kind == "remote_start"]
    txp = profile(31, "TxProfile", periods=[(0, 8.0)])
    await station.feed("plug", 1, 1, True)
    res = await csms.call(
        "RequestStartTransaction", {"evseId": 1, "remoteStartId": 2, "idToken": TOK, "chargingProfile": txp}
    )
    assert res == {"status": "Accepted"}
    started = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started")
    tx_id = started["transactionInfo"]["transactionId"]
    smart.refresh(station.st, time.time())
    await station.client._dispatch(station.st.take())
    await wait_limit(station, 1, 8.0)
    installed = smart.state(station.st).installed
    assert [(p.id, p.evse, p.profile["transactionId"]) for p in installed] == [(31, 1, tx_id)]


async def test_tc_k_12_k_13_external_ems_limit(csms: ScriptedCsms, station: StationUnderTest) -> None:
    csms.responders["NotifyChargingLimit"] = lambda p: {}
    csms.responders["ClearedChargingLimit"] = lambda p: {}
    await csms.wait_for("StatusNotification", count=2)
    await csms.call(
        "SetVariables",
        {
            "setVariableData": [
                {
                    "component": {"name": "SmartChargingCtrlr"},
                    "variable": {"name": "NotifyChargingLimitWithSchedules"},
                    "attributeValue": "true",
                }
            ]
        },
    )

    def ems(evse: int, limit: C.Limit | None) -> Any:
        def fn(now: float) -> list[Any]:
            assert smart.set_local_limit(station.st, evse, limit, now) is None
            station.st._pump(now)
            return list(station.st.take())

        return fn

    await station.client.feed(ems(1, C.Limit(10.0, "A")))
    note = await csms.wait_for("NotifyChargingLimit")
    assert note["chargingLimit"] == {"chargingLimitSource": "EMS"} and note["evseId"] == 1
    assert note["chargingSchedule"][0]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10.0}]
    await wait_limit(station, 1, 10.0)
    # a change within LimitChangeSignificance (10 %) is applied but not notified
    await station.client.feed(ems(1, C.Limit(10.5, "A")))
    await wait_limit(station, 1, 10.5)
    await station.client.feed(ems(1, C.Limit(6.0, "A")))
    await csms.wait_for("NotifyChargingLimit", count=2)
    assert len(csms.actions("NotifyChargingLimit")) == 2
    res = await csms.call("GetCompositeSchedule", {"duration": 60, "evseId": 1})
    assert res["schedule"]["chargingSchedulePeriod"][0]["limit"] == 6.0
    await station.client.feed(ems(1, None))
    cleared = await csms.wait_for("ClearedChargingLimit")
    assert cleared == {"chargingLimitSource": "EMS", "evseId": 1}
    await wait_limit(station, 1, None)
    assert smart.set_local_limit(station.st, 5, C.Limit(1.0), 0.0) == "EVSE 5 does not exist"


async def test_profiles_survive_a_restart(csms: ScriptedCsms, tmp_path: Path) -> None:
    cfg = make_config(tmp_path, csms.url)
    first = StationUnderTest(cfg)
    await first.start()
    await csms.wait_for("BootNotification")
    await csms.wait_for("StatusNotification", count=2)
    await set_profile(csms, 0, profile(1, periods=[(0, 14.0)]))
    await set_profile(csms, 2, profile(2, stack=4, periods=[(0, 7.0)]))
    await first.close()
    second = StationUnderTest(cfg)  # a new process reading the same SQLite file
    await second.start()
    try:
        await csms.wait_for("BootNotification", count=2)
        installed = smart.state(second.st).installed
        assert sorted((p.id, p.evse, p.stack) for p in installed) == [(1, 0, 0), (2, 2, 4)]
        smart.refresh(second.st, time.time())
        await second.client._dispatch(second.st.take())
        await wait_limit(second, 1, 14.0)
        await wait_limit(second, 2, 7.0)
        res = await csms.call("GetCompositeSchedule", {"duration": 60, "evseId": 2})
        assert res["schedule"]["chargingSchedulePeriod"][0]["limit"] == 7.0
    finally:
        await second.close()


async def test_daily_boundary_of_the_station_clock(csms: ScriptedCsms, tmp_path: Path) -> None:
    # the CSMS sets the station clock to 05:59:58; the night/day profile switches at 06:00
    csms.responders["BootNotification"] = lambda p: {
        "currentTime": "2026-01-05T05:59:58.000Z",
        "interval": 300,
        "status": "Accepted",
    }
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    try:
        await csms.wait_for("StatusNotification", count=2)
        night_day = profile(
            7,
            kind="Recurring",
            recurrencyKind="Daily",
            unit="W",
            startSchedule="2026-01-01T00:00:00Z",
            periods=[(0, 20000.0), (6 * 3600, 10000.0)],
        )
        assert (await set_profile(csms, 0, night_day)) == {"status": "Accepted"}
        await wait_limit(sut, 1, 28.9)  # 20 kW / 690 V
        await wait_limit(sut, 1, 14.4, timeout=5.0)  # 10 kW / 690 V after 06:00 of the station clock
        sched = [
            r.data["schedule"] for r in sut.requests if r.kind == "charging_limit" and r.data["evse"] == 1
        ][-1]
        # the published composite (next 24 h) carries both periods: 10 kW now, 20 kW from midnight (18 h later)
        assert [(p["startPeriod"], p["limit"]) for p in sched["chargingSchedulePeriod"]][:2] == [
            (0, 14.4),
            (18 * 3600, 28.9),
        ]
    finally:
        await sut.close()


def test_status_screen_shows_the_applied_limit_and_the_next_period() -> None:
    import datetime as dt

    from josev.api import ocpp as api
    from josev.observability.status import Snapshot, render

    state = api.ChargingSchedule(
        limit_a=28.9,
        schedule_start=dt.datetime(2026, 1, 5, 5, 0, tzinfo=dt.UTC),
        duration_s=86400,
        periods=[api.SchedulePeriod(start_s=0, limit=28.9), api.SchedulePeriod(start_s=3600, limit=14.4)],
    )
    snap = Snapshot()
    assert snap.feed(api.ChargingSchedule.topic(1), state.model_dump(mode="json"))
    assert "schedule   OCPP limit 28.9 A, next 14.4 A in 3600 s" in render(snap)


def test_sans_io_core_wakes_at_each_boundary_with_a_fake_clock(tmp_path: Path) -> None:
    """The core alone (no socket), driven by a fake clock: the accepted profile yields the limit at once, and
    next_deadline() is the next period boundary, where tick() yields the new limit."""
    import json

    from josev.ocpp.connection import build_station
    from josev.ocpp.effects import SendFrame, StationRequest

    st = build_station(make_config(tmp_path, "ws://127.0.0.1:9", evses={1: 1}))
    t = C.ts("2026-01-05T05:59:00Z")
    night_day = profile(
        7,
        kind="Recurring",
        recurrencyKind="Daily",
        unit="W",
        startSchedule="2026-01-01T00:00:00Z",
        periods=[(0, 20000.0), (6 * 3600, 10000.0)],
    )
    frame = json.dumps([2, "c1", "SetChargingProfile", {"evseId": 0, "chargingProfile": night_day}])
    out = st.receive(frame, t)
    assert json.loads(next(e.text for e in out if isinstance(e, SendFrame))) == [
        3,
        "c1",
        {"status": "Accepted"},
    ]
    reqs = [e for e in out if isinstance(e, StationRequest) and e.kind == "charging_limit"]
    assert [(r.data["evse"], r.data["amps"]) for r in reqs] == [(1, 28.9)]
    boundary = C.ts("2026-01-05T06:00:00Z")
    assert abs(st.next_deadline() - boundary) < 0.01
    assert st.tick(boundary - 0.5) == []  # nothing before the boundary
    out = st.tick(boundary + 0.001)
    assert [(e.data["evse"], e.data["amps"]) for e in out if isinstance(e, StationRequest)] == [(1, 14.4)]
    assert abs(st.next_deadline() - C.ts("2026-01-06T00:00:00Z")) < 0.01  # then next midnight
    out = st.tick(C.ts("2026-01-06T00:00:00Z") + 0.001)
    assert [e.data["amps"] for e in out if isinstance(e, StationRequest)] == [28.9]
    st.store.close()
