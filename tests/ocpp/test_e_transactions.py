"""OCTT group E (transactions): TC_E_01/E_02/E_03 (start on PowerPathClosed / EVConnected / Authorized with
seqNo and meter values), TC_E_07/E_08/E_09 (stop on EVConnected/Authorized, local stop with the same idToken),
TC_E_06 (TxStopPoint EVConnected only: deauthorize keeps the transaction until the cable goes),
TC_E_12 (retry per MessageAttempts on CALLERROR), TC_E_14/E_15 (GetTransactionStatus), TC_E_04 (offline
start: offline flag, queued and delivered in order after reconnect)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import CallErrorReply, ScriptedCsms

TAG = {"idToken": "TAG1", "type": "ISO14443"}
E = "Energy.Active.Import.Register"


def events(csms: ScriptedCsms) -> list[dict[str, Any]]:
    return csms.actions("TransactionEvent")


def check_sequence(evs: list[dict[str, Any]]) -> None:
    assert evs[0]["eventType"] == "Started" and evs[-1]["eventType"] == "Ended"
    assert [e["seqNo"] for e in evs] == list(range(len(evs)))
    assert len({e["transactionInfo"]["transactionId"] for e in evs}) == 1


async def test_tc_e_01_power_path_closed(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await station.feed("meter", 1, {E: 1000.0, "Power.Active.Import": 0.0})
    await station.feed("plug", 1, 1, True)
    await asyncio.sleep(0.1)
    assert events(csms) == []  # PowerPathClosed needs authorization too
    await station.feed("present_token", None, TAG)
    auth = await csms.wait_for("Authorize")
    assert auth["idToken"] == TAG
    started = await csms.wait_for("TransactionEvent")
    assert started["eventType"] == "Started" and started["triggerReason"] == "Authorized"
    assert started["idToken"] == TAG and started["seqNo"] == 0 and "offline" not in started
    assert started["meterValue"][0]["sampledValue"][0] == {
        "value": 1000.0,
        "context": "Transaction.Begin",
        "measurand": E,
        "unitOfMeasure": {"unit": "Wh"},
    }
    assert next(r for r in station.requests if r.kind == "authorization").data["status"] == "Accepted"
    await station.feed("charging_state", 1, "Charging")
    upd = await csms.wait_for("TransactionEvent", count=2)
    assert upd["triggerReason"] == "ChargingStateChanged"
    assert upd["transactionInfo"]["chargingState"] == "Charging"
    await station.feed("meter", 1, {E: 5000.0})
    await station.feed("plug", 1, 1, False)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert ended["triggerReason"] == "EVDeparted"
    assert ended["meterValue"][0]["sampledValue"][0]["value"] == 5000.0
    check_sequence(events(csms))
    assert station.st.tx.current(1) is None


async def test_tc_e_02_ev_connected_start_and_local_stop(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    station.st.dm.put("TxCtrlr", "TxStartPoint", "EVConnected")
    await station.feed("plug", 1, 1, True)
    started = await csms.wait_for("TransactionEvent")
    assert started["triggerReason"] == "CablePluggedIn" and "idToken" not in started
    await station.feed("present_token", 1, TAG)
    upd = await csms.wait_for("TransactionEvent", count=2)
    assert upd["triggerReason"] == "Authorized" and upd["idToken"] == TAG
    # same token again: local stop; TxStopPoint contains Authorized -> Ended(Local)
    await station.feed("present_token", None, TAG)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["idToken"] == TAG
    check_sequence(events(csms))


async def test_tc_e_06_stop_point_ev_connected_only(csms: ScriptedCsms, station: StationUnderTest) -> None:
    station.st.dm.put("TxCtrlr", "TxStopPoint", "EVConnected")
    await station.feed("plug", 2, 1, True)
    await station.feed("present_token", 2, TAG)
    await csms.wait_for("TransactionEvent")
    await station.feed("present_token", 2, TAG)
    upd = await csms.wait_for("TransactionEvent", count=2)
    assert upd["eventType"] == "Updated" and upd["triggerReason"] == "StopAuthorized"
    assert station.st.tx.current(2) is not None
    await station.feed("plug", 2, 1, False)
    ended = await csms.wait_for("TransactionEvent", count=3)
    assert ended["eventType"] == "Ended" and ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    check_sequence(events(csms))


async def test_tc_e_03_authorized_start_point_and_ev_connect_timeout(
    tmp_path: Path, csms: ScriptedCsms
) -> None:
    sut = StationUnderTest(
        make_config(
            tmp_path,
            csms.url,
            variables={"TxCtrlr/TxStartPoint": "Authorized", "TxCtrlr/EVConnectionTimeOut": "1"},
        )
    )
    await sut.start()
    try:
        await csms.wait_for("StatusNotification", count=2)
        await sut.feed("present_token", 1, TAG)
        started = await csms.wait_for("TransactionEvent")
        assert started["triggerReason"] == "Authorized"
        ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", timeout=4)
        assert ended["triggerReason"] == "EVConnectTimeout"
        assert ended["transactionInfo"]["stoppedReason"] == "Timeout"
        check_sequence(events(csms))
    finally:
        await sut.close()


async def test_tc_e_12_retry_message_attempts(tmp_path: Path, csms: ScriptedCsms) -> None:
    sut = StationUnderTest(
        make_config(tmp_path, csms.url, variables={"OCPPCommCtrlr/MessageAttempts[TransactionEvent]": "3"})
    )
    fails = {"n": 0}

    def flaky(p: dict[str, Any]) -> Any:
        if p["eventType"] == "Started" and fails["n"] < 2:
            fails["n"] += 1
            return CallErrorReply("InternalError", "try again")
        if p["eventType"] == "Updated":
            return CallErrorReply("InternalError", "never")
        return {}

    csms.responders["TransactionEvent"] = flaky
    await sut.start()
    try:
        await csms.wait_for("StatusNotification", count=2)
        await sut.feed("plug", 1, 1, True)
        await sut.feed("present_token", 1, TAG)
        await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started", count=3)
        await sut.feed("charging_state", 1, "Charging")
        await sut.feed("plug", 1, 1, False)
        await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
        evs = events(csms)
        kinds = [e["eventType"] for e in evs]
        # Started delivered on its 3rd attempt; Updated tried 3 times and given up; then Ended
        assert kinds == ["Started"] * 3 + ["Updated"] * 3 + ["Ended"]
        # the CSMS has the Ended CALL before the station has its reply and dequeues it: wait for that
        for _ in range(50):
            if sut.st.store.queue_length() == 0:
                break
            await asyncio.sleep(0.02)
        assert sut.st.store.queue_length() == 0, sut.st.store.queued()
    finally:
        await sut.close()


async def test_tc_e_14_e_15_get_transaction_status(csms: ScriptedCsms, station: StationUnderTest) -> None:
    assert await csms.call("GetTransactionStatus", {}) == {"messagesInQueue": False}
    csms.hold.add("TransactionEvent")  # CSMS does not answer: the event stays queued
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, TAG)
    started = await csms.wait_for("TransactionEvent")
    tx_id = started["transactionInfo"]["transactionId"]
    res = await csms.call("GetTransactionStatus", {"transactionId": tx_id})
    assert res == {"ongoingIndicator": True, "messagesInQueue": True}
    res = await csms.call("GetTransactionStatus", {"transactionId": "unknown"})
    assert res == {"ongoingIndicator": False, "messagesInQueue": False}


async def test_tc_e_04_offline_transaction_queued_in_order(tmp_path: Path, csms: ScriptedCsms) -> None:
    sut = StationUnderTest(
        make_config(tmp_path, csms.url, variables={"AuthCtrlr/OfflineTxForUnknownIdEnabled": "true"})
    )
    await sut.start()
    try:
        await csms.wait_for("StatusNotification", count=2)
        await csms.stop()  # CSMS down for the whole transaction
        await asyncio.sleep(0.2)
        await sut.feed("plug", 1, 1, True)
        await sut.feed("present_token", 1, TAG)
        await sut.feed("charging_state", 1, "Charging")
        await sut.feed("plug", 1, 1, False)
        assert sut.st.store.queue_length() == 3
        await csms.start()
        await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", timeout=5)
        evs = events(csms)
        check_sequence(evs)
        assert all(e["offline"] is True for e in evs)
        assert [r.data["source"] for r in sut.requests if r.kind == "authorization"] == ["offline-unknown"]
    finally:
        await sut.close()


async def test_same_token_at_another_evse_does_not_stop_the_first(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    """The reader of EVSE 2 sees the card that started EVSE 1's transaction: EVSE 1 keeps charging and the card
    is authorized afresh for EVSE 2 (a station-wide reader, evse None, still stops it: test above)."""
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, TAG)
    first = await csms.wait_for("TransactionEvent")
    assert first["evse"]["id"] == 1
    await station.feed("plug", 2, 1, True)
    await station.feed("present_token", 2, TAG)
    await csms.wait_for("Authorize", count=2)
    second = await csms.wait_for("TransactionEvent", lambda p: p.get("evse", {}).get("id") == 2)
    assert second["eventType"] == "Started"
    assert station.st.tx.current(1) is not None and station.st.tx.current(2) is not None
    assert not [e for e in events(csms) if e["eventType"] == "Ended"]
