"""OCTT group F (remote control): TC_F_01/F_02 (RequestStartTransaction with AuthorizeRemoteStart true/false,
cable first or remote start first), TC_F_03 (RequestStopTransaction), TC_F_05 (UnlockConnector), TC_F_06..F_14
(TriggerMessage for every message type)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.ocpp.conftest import StationUnderTest
from tests.ocpp.harness import ScriptedCsms

TOK = {"idToken": "REMOTE1", "type": "Central"}


async def test_tc_f_01_f_03_remote_start_stop(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    await station.feed("plug", 1, 1, True)
    res = await csms.call("RequestStartTransaction", {"evseId": 1, "remoteStartId": 77, "idToken": TOK})
    assert res == {"status": "Accepted"}
    await csms.wait_for("Authorize")  # AuthorizeRemoteStart = true
    started = await csms.wait_for("TransactionEvent")
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 77 and started["idToken"] == TOK
    assert [r.data["remoteStartId"] for r in station.requests if r.kind == "remote_start"] == [77]
    # a second start on the same EVSE is rejected
    res = await csms.call("RequestStartTransaction", {"evseId": 1, "remoteStartId": 78, "idToken": TOK})
    assert res["status"] == "Rejected"
    tx_id = started["transactionInfo"]["transactionId"]
    assert (await csms.call("RequestStopTransaction", {"transactionId": "nope"}))["status"] == "Rejected"
    assert (await csms.call("RequestStopTransaction", {"transactionId": tx_id}))["status"] == "Accepted"
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["triggerReason"] == "RemoteStop" and ended["transactionInfo"]["stoppedReason"] == "Remote"
    assert any(r.kind == "remote_stop" for r in station.requests)


async def test_tc_f_02_remote_start_without_authorize_then_cable(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    station.st.dm.put("AuthCtrlr", "AuthorizeRemoteStart", "false")
    station.st.dm.put("TxCtrlr", "TxStartPoint", "EVConnected")
    res = await csms.call("RequestStartTransaction", {"remoteStartId": 5, "idToken": TOK})
    assert res["status"] == "Accepted"
    await station.feed("plug", 1, 1, True)
    started = await csms.wait_for("TransactionEvent")
    assert started["triggerReason"] == "CablePluggedIn"
    assert started["transactionInfo"]["remoteStartId"] == 5
    # with AuthorizeRemoteStart true the Authorize precedes the transaction (F01 above); here none was sent
    # before or with the start, and the station still knows the remote token
    assert csms.actions("Authorize") == []
    assert started["idToken"] == TOK
    assert [r.data["remoteStartId"] for r in station.requests if r.kind == "remote_start"] == [5]


async def test_tc_f_05_unlock_connector(csms: ScriptedCsms, station: StationUnderTest) -> None:
    res = await csms.call("UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert res == {"status": "Unlocked"}
    assert (await csms.call("UnlockConnector", {"evseId": 3, "connectorId": 1}))[
        "status"
    ] == "UnknownConnector"
    station.replies["unlock"] = lambda r: {"status": "UnlockFailed"}
    assert (await csms.call("UnlockConnector", {"evseId": 2, "connectorId": 1}))["status"] == "UnlockFailed"
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, TOK)
    await csms.wait_for("TransactionEvent")
    res = await csms.call("UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert res["status"] == "OngoingAuthorizedTransaction"


async def test_tc_f_06_trigger_message(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    await station.feed("meter", 1, {"Energy.Active.Import.Register": 42.0})

    async def trig(what: str, **kw: object) -> str:
        return str((await csms.call("TriggerMessage", {"requestedMessage": what, **kw}))["status"])

    assert await trig("BootNotification") == "Rejected"  # already accepted
    assert await trig("Heartbeat") == "Accepted"
    await csms.wait_for("Heartbeat")
    assert await trig("StatusNotification", evse={"id": 1, "connectorId": 1}) == "Accepted"
    await csms.wait_for("StatusNotification", count=3)
    assert await trig("StatusNotification") == "Rejected"
    assert await trig("MeterValues", evse={"id": 1}) == "Accepted"
    mv = await csms.wait_for("MeterValues")
    assert mv["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    assert await trig("TransactionEvent", evse={"id": 1}) == "Rejected"  # no transaction
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, TOK)
    await csms.wait_for("TransactionEvent")
    assert await trig("TransactionEvent", evse={"id": 1}) == "Accepted"
    upd = await csms.wait_for("TransactionEvent", count=2)
    assert upd["triggerReason"] == "Trigger"
    assert await trig("FirmwareStatusNotification") == "Accepted"
    assert (await csms.wait_for("FirmwareStatusNotification"))["status"] == "Idle"
    assert await trig("LogStatusNotification") == "Accepted"
    assert (await csms.wait_for("LogStatusNotification"))["status"] == "Idle"
    assert await trig("SignCombinedCertificate") == "NotImplemented"


async def test_slow_unlock_does_not_block_the_receive_loop(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    gate = asyncio.Event()

    async def slow_unlock(req: object) -> dict[str, str]:
        await gate.wait()
        return {"status": "Unlocked"}

    async def on_request(req: Any) -> Any:
        station.requests.append(req)
        if req.kind == "unlock":
            return await slow_unlock(req)
        return None

    station.client.on_request = on_request
    unlock = asyncio.create_task(csms.call("UnlockConnector", {"evseId": 1, "connectorId": 1}))
    await asyncio.sleep(0.1)
    # meanwhile other CSMS requests are answered at once
    res = await csms.call(
        "GetVariables",
        {
            "getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        },
    )
    assert res["getVariableResult"][0]["attributeStatus"] == "Accepted"
    assert not unlock.done()
    gate.set()
    assert (await unlock)["status"] == "Unlocked"
