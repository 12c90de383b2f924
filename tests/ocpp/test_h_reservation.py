"""OCTT group H (Reservation): TC_H_01 reserve a specific EVSE (Reserved status, other tokens refused, the
reserving token consumes it, reservationId in the TransactionEvent), TC_H_07/H_08 reservations for no EVSE and by
connector type, TC_H_14/H_15 groupIdToken, TC_H_17/H_18 CancelReservation, TC_H_19/H_20 ReservationStatusUpdate
Expired / Removed, bad input (unknown EVSE, past expiry, disabled, unknown id), persistence over a restart, and
the seed flow: a reservation from the driver's app, then the driver's remote start (QR code) on that EVSE while
another driver's card is refused (real coordinator, HAL and simulator over mosquitto)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from josev.ocpp.service import OcppService
from tests.conftest import BusFactory
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms

DRIVER = {"idToken": "DRIVER", "type": "ISO14443"}
OTHER = {"idToken": "OTHER", "type": "ISO14443"}
APP = {"idToken": "APP-USER-7", "type": "Central"}


def later(seconds: float = 3600) -> str:
    return (
        (datetime.now(UTC) + timedelta(seconds=seconds))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def reserve(rid: int, token: dict[str, Any] = DRIVER, **kw: Any) -> dict[str, Any]:
    return {"id": rid, "expiryDateTime": kw.pop("expiry", later()), "idToken": token, **kw}


def status_of(csms: ScriptedCsms, evse: int) -> str:
    return str([p["connectorStatus"] for p in csms.actions("StatusNotification") if p["evseId"] == evse][-1])


async def wait_status(csms: ScriptedCsms, evse: int, status: str, count: int = 1) -> None:
    await csms.wait_for(
        "StatusNotification", lambda p: p["evseId"] == evse and p["connectorStatus"] == status, count=count
    )


def auth(sut: StationUnderTest) -> list[dict[str, Any]]:
    return [r.data for r in sut.requests if r.kind == "authorization"]


def mirrored(sut: StationUnderTest) -> list[dict[str, Any]]:
    return [r.data for r in sut.requests if r.kind == "reservation"]


async def test_tc_h_01_specific_evse_refuses_others_and_is_consumed(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    await csms.wait_for("StatusNotification", count=2)
    assert (await csms.call("ReserveNow", reserve(11, evseId=1)))["status"] == "Accepted"
    await wait_status(csms, 1, "Reserved")
    assert mirrored(station)[-1]["evse"] == 1 and mirrored(station)[-1]["idToken"] == DRIVER
    v = await csms.call(
        "GetVariables",
        {
            "getVariableData": [
                {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "AvailabilityState"}}
            ]
        },
    )
    assert v["getVariableResult"][0]["attributeValue"] == "Reserved"
    # the same EVSE cannot be reserved twice; the other EVSE can
    assert (await csms.call("ReserveNow", reserve(12, OTHER, evseId=1)))["status"] == "Occupied"
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, OTHER)
    assert auth(station)[-1] == {"evse": 1, "idToken": OTHER, "status": "NotAtThisTime", "source": "reserved"}
    assert station.st.tx.current(1) is None
    await station.feed("present_token", 1, DRIVER)
    tx = await csms.wait_for("TransactionEvent")
    assert tx["eventType"] == "Started" and tx["idToken"] == DRIVER and tx["reservationId"] == 11
    assert mirrored(station)[-1] == {"evse": 1, "cancel": True, "reservationId": 11}
    assert (await csms.call("CancelReservation", {"reservationId": 11}))["status"] == "Rejected"  # consumed
    assert "ReservationStatusUpdate" not in [a for a, _ in csms.received]


async def test_tc_h_07_h_08_any_evse_and_connector_type(tmp_path: Path, csms: ScriptedCsms) -> None:
    cfg = make_config(tmp_path, csms.url, variables={"Connector@2.1/ConnectorType": "cCCS2"})
    sut = StationUnderTest(cfg)
    await sut.start()
    try:
        await csms.wait_for("StatusNotification", count=2)
        assert (await csms.call("ReserveNow", reserve(1)))["status"] == "Accepted"
        await asyncio.sleep(0.1)
        assert status_of(csms, 1) == status_of(csms, 2) == "Available"  # one of two still free
        assert (await csms.call("ReserveNow", reserve(2, OTHER)))["status"] == "Accepted"
        await wait_status(csms, 1, "Reserved")
        await wait_status(csms, 2, "Reserved")
        assert (await csms.call("ReserveNow", reserve(3, APP)))["status"] == "Occupied"
        # a third driver is refused everywhere; the first driver takes EVSE 1 and EVSE 2 stays held
        await sut.feed("present_token", 1, APP)
        assert auth(sut)[-1]["status"] == "NotAtThisTime"
        await sut.feed("plug", 1, 1, True)
        await sut.feed("present_token", 1, DRIVER)
        tx = await csms.wait_for("TransactionEvent")
        assert tx["reservationId"] == 1 and tx["evse"]["id"] == 1
        await sut.feed("present_token", 2, APP)
        assert auth(sut)[-1]["status"] == "NotAtThisTime"
        assert (await csms.call("CancelReservation", {"reservationId": 2}))["status"] == "Accepted"
        await wait_status(csms, 2, "Available", count=2)
        # by connector type: only EVSE 2 has cCCS2
        assert (await csms.call("ReserveNow", reserve(4, connectorType="cCCS2")))["status"] == "Accepted"
        await wait_status(csms, 2, "Reserved", count=2)
        assert (await csms.call("ReserveNow", reserve(5, connectorType="cCCS2")))["status"] == "Occupied"
        res = await csms.call("ReserveNow", reserve(6, evseId=1, connectorType="cCCS2"))
        assert res["status"] == "Rejected" and res["statusInfo"]["reasonCode"] == "UnknownConnectorType"
        res = await csms.call("ReserveNow", reserve(7, connectorType="cTesla"))
        assert res["status"] == "Rejected"
    finally:
        await sut.close()


async def test_tc_h_14_group_id_token(csms: ScriptedCsms, station: StationUnderTest) -> None:
    csms.responders["Authorize"] = lambda p: {
        "idTokenInfo": {"status": "Accepted", "groupIdToken": {"idToken": "FAMILY", "type": "Central"}}
        if p["idToken"]["idToken"] == "SPOUSE"
        else {"status": "Accepted"}
    }
    group = {"idToken": "FAMILY", "type": "Central"}
    assert (await csms.call("ReserveNow", reserve(21, evseId=2, groupIdToken=group)))["status"] == "Accepted"
    await station.feed("plug", 2, 1, True)
    await station.feed("present_token", 2, OTHER)
    await asyncio.sleep(0.2)
    assert auth(station)[-1]["status"] == "NotAtThisTime"
    await station.feed("present_token", 2, {"idToken": "SPOUSE", "type": "ISO14443"})
    tx = await csms.wait_for("TransactionEvent")
    assert tx["reservationId"] == 21 and tx["idToken"]["idToken"] == "SPOUSE"


async def test_bad_input_and_statuses(csms: ScriptedCsms, station: StationUnderTest) -> None:
    res = await csms.call("ReserveNow", reserve(1, evseId=9))
    assert res["status"] == "Rejected" and res["statusInfo"] == {
        "reasonCode": "UnknownEvse",
        "additionalInfo": "no EVSE 9",
    }
    res = await csms.call("ReserveNow", reserve(1, evseId=1, expiry="2020-01-01T00:00:00Z"))
    assert res["status"] == "Rejected"
    assert (await csms.call("CancelReservation", {"reservationId": 77}))["status"] == "Rejected"
    await station.feed("connector_status", 1, 1, "Faulted")
    assert (await csms.call("ReserveNow", reserve(1, evseId=1)))["status"] == "Faulted"
    await station.feed("plug", 2, 1, True)
    assert (await csms.call("ReserveNow", reserve(1, evseId=2)))["status"] == "Occupied"
    assert (await csms.call("ReserveNow", reserve(1)))["status"] == "Occupied"  # one faulted, one occupied
    station.st.dm.put("ReservationCtrlr", "Enabled", "false")
    assert (await csms.call("ReserveNow", reserve(1)))["status"] == "Rejected"
    station.st.dm.put("ReservationCtrlr", "Enabled", "true")
    station.st.dm.put("ReservationCtrlr", "NonEvseSpecific", "false")
    assert (await csms.call("ReserveNow", reserve(1)))["statusInfo"]["reasonCode"] == "NoEvseSpecified"
    assert station.st.store.get("reservations") is None  # nothing was stored


async def test_tc_h_19_h_20_expired_and_removed(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    assert (await csms.call("ReserveNow", reserve(31, evseId=1, expiry=later(1.0))))["status"] == "Accepted"
    assert (await csms.call("ReserveNow", reserve(32, OTHER, evseId=2)))["status"] == "Accepted"
    await wait_status(csms, 1, "Reserved")
    upd = await csms.wait_for("ReservationStatusUpdate", timeout=4)
    assert upd == {"reservationId": 31, "reservationUpdateStatus": "Expired"}
    await wait_status(csms, 1, "Available", count=2)
    assert mirrored(station)[-1] == {"evse": 1, "cancel": True, "reservationId": 31}
    # EVSE 2 set Inoperative: its reservation is removed
    await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}})
    upd = await csms.wait_for("ReservationStatusUpdate", count=2)
    assert upd == {"reservationId": 32, "reservationUpdateStatus": "Removed"}
    await wait_status(csms, 2, "Unavailable")
    assert station.st.store.get("reservations") is None
    # a reservation that expires while the CSMS is unreachable is reported after reconnecting
    assert (await csms.call("ReserveNow", reserve(33, evseId=1, expiry=later(0.6))))["status"] == "Accepted"
    await csms.stop()
    await asyncio.sleep(1.2)
    await station.feed("tick")  # the core's timer while offline (the shell only ticks during a session today)
    assert [m.payload for m in station.st.store.queued()] == [
        {"reservationId": 33, "reservationUpdateStatus": "Expired"}
    ]
    await csms.start()
    upd = await csms.wait_for("ReservationStatusUpdate", count=3, timeout=8)
    assert upd == {"reservationId": 33, "reservationUpdateStatus": "Expired"}


async def test_reservation_survives_restart_and_remote_start_consumes_it(
    tmp_path: Path, csms: ScriptedCsms
) -> None:
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    try:
        await csms.wait_for("StatusNotification", count=2)
        assert (await csms.call("ReserveNow", reserve(41, APP, evseId=2)))["status"] == "Accepted"
        await wait_status(csms, 2, "Reserved")
    finally:
        await sut.close()
    sut2 = StationUnderTest(make_config(tmp_path, csms.url))
    await sut2.start()
    try:
        await csms.wait_for("BootNotification", count=2)
        await csms.wait_for("StatusNotification", count=5)
        assert status_of(csms, 2) == "Reserved" and status_of(csms, 1) == "Available"
        await asyncio.sleep(0.1)
        assert mirrored(sut2) and mirrored(sut2)[0]["evse"] == 2  # the coordinator is told again
        res = await csms.call("RequestStartTransaction", {"remoteStartId": 5, "idToken": OTHER, "evseId": 2})
        assert res["status"] == "Rejected"
        res = await csms.call("RequestStartTransaction", {"remoteStartId": 6, "idToken": APP, "evseId": 2})
        assert res["status"] == "Accepted"
        await sut2.feed("plug", 2, 1, True)
        tx = await csms.wait_for("TransactionEvent")
        assert tx["reservationId"] == 41 and tx["transactionInfo"]["remoteStartId"] == 6
    finally:
        await sut2.close()


async def test_seed_app_reservation_then_qr_remote_start_other_card_refused(
    tmp_path: Path, csms: ScriptedCsms, bus_factory: BusFactory
) -> None:
    from hal.sim import SimEv
    from josev.api import coordinator as co
    from josev.api import ocpp as oapi
    from tests.coordinator.rig import start_station, until

    rig = await start_station(bus_factory, 2)
    svc = OcppService(make_config(tmp_path, csms.url, evses={1: 1, 2: 1}))
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(await bus_factory("ocpp"), stop))
    auths: list[tuple[int | None, oapi.OcppAuthorization]] = []
    rig.cli.subscribe(oapi.OcppAuthorization, lambda m, e: auths.append((e, m)))
    try:
        await csms.wait_for("StatusNotification", count=2)
        # the driver reserves EVSE 1 in the operator's app
        assert (await csms.call("ReserveNow", reserve(501, APP, evseId=1)))["status"] == "Accepted"
        await until(lambda: rig.obs.status[1].state == "reserved", what="coordinator EVSE 1 reserved")
        assert rig.obs.status[1].ocpp_status == "Reserved"
        await wait_status(csms, 1, "Reserved")
        # another driver arrives first, plugs in at EVSE 1 and presents a card: refused
        rig.board.sim(1).plug(SimEv(auto_ready=True, max_current_a=16.0))
        await until(lambda: rig.obs.status[1].state == "plugged", what="plugged")
        await rig.cli.request(co.PresentToken(id_token="OTHER"), 1)
        await until(lambda: any(m.id_token == "OTHER" for _, m in auths), what="refusal published")
        assert [(e, m.status, m.source) for e, m in auths if m.id_token == "OTHER"] == [
            (1, "NotAtThisTime", "reserved")
        ]
        await asyncio.sleep(0.3)
        assert rig.obs.status[1].state == "plugged" and "Authorize" not in [a for a, _ in csms.received]
        # the other driver leaves; the reserving driver scans the QR code: the CSMS starts remotely
        rig.board.sim(1).unplug()
        # the coordinator dropped its reservation when the other car plugged in: OCPP mirrors it again
        await until(lambda: rig.obs.status[1].state == "reserved", what="reserved again after unplug")
        res = await csms.call("RequestStartTransaction", {"remoteStartId": 9001, "idToken": APP, "evseId": 1})
        assert res["status"] == "Accepted"
        rig.board.sim(1).plug(SimEv(auto_ready=True, max_current_a=16.0))
        await until(lambda: rig.obs.status[1].state == "charging", timeout=8, what="charging")
        tx = await csms.wait_for("TransactionEvent", lambda p: "idToken" in p)
        assert tx["idToken"] == APP and tx["reservationId"] == 501
        assert tx["transactionInfo"]["remoteStartId"] == 9001
        assert rig.obs.last(1, "authorized").id_token == "APP-USER-7"
        assert rig.coordinator is not None and rig.coordinator.cores[1].reserved_for is None
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await rig.close()
