"""Interop of the four OCA profiles beyond Core with the strict CSMS (npm ``ocpp-rpc`` in strict mode, every
message validated against the OCPP 2.0.1 schemas in both directions): Local Authorization List, Reservation,
Advanced User Interface (display messages, tariff and cost) and Advanced Device Management (monitoring), each
driven once; the test requires zero strict-validation failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.test_interop_ocpp_rpc import StrictCsms, pytestmark  # noqa: F401  (skip when node is missing)

CARD = {"idToken": "FLEET-7", "type": "ISO14443"}


def later(seconds: float) -> str:
    return (
        (datetime.now(UTC) + timedelta(seconds=seconds))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


async def test_ocpp_rpc_strict_oca_profiles(tmp_path: Path) -> None:
    peer = StrictCsms()
    await peer.start()
    sut = StationUnderTest(make_config(tmp_path, f"ws://127.0.0.1:{peer.port}"))
    try:
        await sut.start()
        await peer.wait_call("StatusNotification", count=2)
        # D local authorization list
        sv = await peer.call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "LocalAuthListCtrlr"},
                        "variable": {"name": "Enabled"},
                        "attributeValue": "true",
                    }
                ]
            },
        )
        assert sv["setVariableResult"][0]["attributeStatus"] == "Accepted"
        info = {
            "status": "Accepted",
            "cacheExpiryDateTime": later(86400),
            "groupIdToken": {"idToken": "SITE", "type": "Central"},
        }
        res = await peer.call(
            "SendLocalList",
            {
                "versionNumber": 1,
                "updateType": "Full",
                "localAuthorizationList": [{"idToken": CARD, "idTokenInfo": info}],
            },
        )
        assert res["status"] == "Accepted"
        res = await peer.call(
            "SendLocalList",
            {"versionNumber": 1, "updateType": "Differential", "localAuthorizationList": [{"idToken": CARD}]},
        )
        assert res["status"] == "VersionMismatch"
        assert (await peer.call("GetLocalListVersion", {}))["versionNumber"] == 1
        # H reservation: expiry (ReservationStatusUpdate), cancel, and consumption by the list's card
        assert (
            await peer.call(
                "ReserveNow", {"id": 1, "expiryDateTime": later(0.8), "idToken": CARD, "evseId": 1}
            )
        )["status"] == "Accepted"
        await peer.wait_call("StatusNotification", lambda p: p["connectorStatus"] == "Reserved")
        await peer.wait_call("ReservationStatusUpdate", timeout=4)
        assert (await peer.call("ReserveNow", {"id": 2, "expiryDateTime": later(600), "idToken": CARD}))[
            "status"
        ] == "Accepted"
        assert (await peer.call("CancelReservation", {"reservationId": 2}))["status"] == "Accepted"
        res = await peer.call(
            "ReserveNow",
            {"id": 3, "expiryDateTime": later(600), "idToken": CARD, "evseId": 2, "connectorType": "cType2"},
        )
        assert res["status"] == "Accepted"
        assert (
            await peer.call(
                "ReserveNow", {"id": 4, "expiryDateTime": later(600), "idToken": CARD, "evseId": 9}
            )
        )["status"] == "Rejected"
        await sut.feed("meter", 2, {"Energy.Active.Import.Register": 100.0, "Voltage": 231.0})
        await sut.feed("plug", 2, 1, True)
        await sut.feed("present_token", 2, CARD)
        started = await peer.wait_call("TransactionEvent", lambda p: p.get("reservationId") == 3)
        tx = started["transactionInfo"]["transactionId"]
        # I / O display messages, tariff and cost
        msg = {
            "id": 5,
            "priority": "InFront",
            "state": "Charging",
            "message": {"format": "UTF8", "content": "Welcome"},
        }
        assert (await peer.call("SetDisplayMessage", {"message": msg}))["status"] == "Accepted"
        html = {"id": 6, "priority": "NormalCycle", "message": {"format": "HTML", "content": "<b>x</b>"}}
        assert (await peer.call("SetDisplayMessage", {"message": html}))[
            "status"
        ] == "NotSupportedMessageFormat"
        assert (await peer.call("GetDisplayMessages", {"requestId": 7}))["status"] == "Accepted"
        await peer.wait_call("NotifyDisplayMessages")
        assert (await peer.call("ClearDisplayMessage", {"id": 5}))["status"] == "Accepted"
        assert await peer.call("CostUpdated", {"totalCost": 1.25, "transactionId": tx}) == {}
        # N monitoring
        res = await peer.call(
            "SetVariableMonitoring",
            {
                "setMonitoringData": [
                    {
                        "type": "UpperThreshold",
                        "value": 253,
                        "severity": 1,
                        "component": {"name": "EVSE", "evse": {"id": 2}},
                        "variable": {"name": "Voltage"},
                    },
                    {
                        "type": "Periodic",
                        "value": 3600,
                        "severity": 8,
                        "component": {"name": "EVSE", "evse": {"id": 2}},
                        "variable": {"name": "Power"},
                    },
                    {
                        "type": "Delta",
                        "value": 1,
                        "severity": 5,
                        "component": {"name": "Nope"},
                        "variable": {"name": "X"},
                    },
                ]
            },
        )
        assert [r["status"] for r in res["setMonitoringResult"]] == [
            "Accepted",
            "Accepted",
            "UnknownComponent",
        ]
        await sut.feed("meter", 2, {"Voltage": 262.0})
        await peer.wait_call("NotifyEvent")
        assert (
            await peer.call(
                "GetMonitoringReport", {"requestId": 8, "monitoringCriteria": ["ThresholdMonitoring"]}
            )
        )["status"] == "Accepted"
        await peer.wait_call("NotifyMonitoringReport")
        assert (await peer.call("SetMonitoringLevel", {"severity": 5}))["status"] == "Accepted"
        cleared = await peer.call(
            "ClearVariableMonitoring", {"id": [res["setMonitoringResult"][1]["id"], 4711]}
        )
        assert [r["status"] for r in cleared["clearMonitoringResult"]] == ["Accepted", "NotFound"]
        assert (await peer.call("SetMonitoringBase", {"monitoringBase": "FactoryDefault"}))[
            "status"
        ] == "Accepted"
        assert (await peer.call("GetReport", {"requestId": 9, "componentCriteria": ["Enabled"]}))[
            "status"
        ] == "Accepted"
        await peer.wait_call("NotifyReport", lambda p: p["requestId"] == 9 and not p["tbc"])
        await sut.feed("plug", 2, 1, False)
        await peer.wait_call("TransactionEvent", lambda p: p["eventType"] == "Ended")
        await asyncio.sleep(0.3)
        assert peer.failures() == [], peer.failures()
        view = [r.data for r in sut.requests if r.kind == "display" and r.data["evse"] == 2][-1]
        assert view["total_cost"] == 4.2  # the strict CSMS's final cost reached the display
    finally:
        await sut.close()
        await peer.close()
