"""OCTT group G (availability): TC_G_01 (StatusNotification on connector state changes), TC_G_03/G_04
(ChangeAvailability of the station, an EVSE and a connector, persisted across reboot), TC_G_05 (Scheduled
while a transaction runs, applied when it ends), TC_G_02 / OfflineThreshold (after a short outage only the
changed connectors are reported, after a long one all)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms


def statuses(csms: ScriptedCsms) -> list[tuple[int, int, str]]:
    return [(p["evseId"], p["connectorId"], p["connectorStatus"]) for p in csms.actions("StatusNotification")]


async def test_tc_g_01_status_changes(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    await station.feed("connector_status", 1, 1, "Occupied")
    await station.feed("connector_status", 1, 1, "Occupied")  # no change, nothing sent
    await station.feed("connector_status", 2, 1, "Faulted")
    await csms.wait_for("StatusNotification", count=4)
    await asyncio.sleep(0.1)
    assert statuses(csms)[2:] == [(1, 1, "Occupied"), (2, 1, "Faulted")]
    v = await csms.call(
        "GetVariables",
        {
            "getVariableData": [
                {
                    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "variable": {"name": "AvailabilityState"},
                }
            ]
        },
    )
    assert v["getVariableResult"][0]["attributeValue"] == "Occupied"


async def test_tc_g_03_g_04_change_availability_persisted(tmp_path: Path, csms: ScriptedCsms) -> None:
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    try:
        await csms.wait_for("StatusNotification", count=2)
        res = await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}})
        assert res["status"] == "Accepted"
        await csms.wait_for(
            "StatusNotification", lambda p: p["evseId"] == 2 and p["connectorStatus"] == "Unavailable"
        )
        res = await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 9}})
        assert res["status"] == "Rejected"
        assert [r.data for r in sut.requests if r.kind == "availability"] == [{"operative": False, "evse": 2}]
    finally:
        await sut.close()
    # "reboot": a new process over the same database boots with EVSE 2 still unavailable
    sut2 = StationUnderTest(make_config(tmp_path, csms.url))
    await sut2.start()
    try:
        await csms.wait_for("BootNotification", count=2)
        await csms.wait_for("StatusNotification", count=5)
        assert statuses(csms)[-2:] == [(1, 1, "Available"), (2, 1, "Unavailable")]
        res = await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative"})
        assert res["status"] == "Accepted"
        await csms.wait_for(
            "StatusNotification", lambda p: p["evseId"] == 1 and p["connectorStatus"] == "Unavailable"
        )
        res = await csms.call(
            "RequestStartTransaction", {"remoteStartId": 1, "idToken": {"idToken": "X", "type": "Central"}}
        )
        assert res["status"] == "Rejected"
        res = await csms.call("ChangeAvailability", {"operationalStatus": "Operative"})
        await csms.wait_for(
            "StatusNotification", lambda p: p["evseId"] == 1 and p["connectorStatus"] == "Available", count=2
        )
    finally:
        await sut2.close()


async def test_tc_g_05_scheduled_during_transaction(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, {"idToken": "T", "type": "ISO14443"})
    await csms.wait_for("TransactionEvent")
    res = await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}})
    assert res["status"] == "Scheduled"
    await station.feed("plug", 1, 1, False)
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    await csms.wait_for(
        "StatusNotification", lambda p: p["evseId"] == 1 and p["connectorStatus"] == "Unavailable"
    )


async def test_offline_threshold(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    station.st.dm.put("OCPPCommCtrlr", "OfflineThreshold", "3600")
    await csms.drop()
    await asyncio.sleep(0.05)
    await station.feed("connector_status", 1, 1, "Occupied")
    await csms.wait_connected(count=2)
    await csms.wait_for("StatusNotification", count=3)
    await asyncio.sleep(0.1)
    assert statuses(csms)[2:] == [(1, 1, "Occupied")]  # short outage: only the changed connector
    station.st.dm.put("OCPPCommCtrlr", "OfflineThreshold", "0")
    await csms.drop()
    await csms.wait_connected(count=3)
    await csms.wait_for("StatusNotification", count=5)
    assert sorted(statuses(csms)[3:5]) == [(1, 1, "Occupied"), (2, 1, "Available")]  # long outage: all
