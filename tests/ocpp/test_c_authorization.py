"""OCTT group C (authorization): TC_C_01/C_02 (Authorize accepted / invalid), TC_C_04 (offline with
LocalAuthorizeOffline from the cache), TC_C_08 (LocalPreAuthorize from the cache, no Authorize sent),
TC_C_09 (stop by another token of the same GroupId), TC_C_11 (ClearCache), TC_C_15/C_16 (master pass),
TC_C_10 (cache updated from TransactionEvent idTokenInfo, stop on invalid id)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.ocpp.conftest import StationUnderTest
from tests.ocpp.harness import ScriptedCsms

A = {"idToken": "AAA", "type": "ISO14443"}
B = {"idToken": "BBB", "type": "ISO14443"}


def auth_results(sut: StationUnderTest) -> list[dict[str, Any]]:
    return [r.data for r in sut.requests if r.kind == "authorization"]


async def test_tc_c_01_c_02_authorize_accepted_and_invalid(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    csms.responders["Authorize"] = lambda p: {
        "idTokenInfo": {"status": "Accepted" if p["idToken"]["idToken"] == "AAA" else "Invalid"}
    }
    await station.feed("present_token", 1, B)
    await csms.wait_for("Authorize")
    await asyncio.sleep(0.1)
    assert auth_results(station)[-1]["status"] == "Invalid"
    assert station.st.tx.current(1) is None
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, A)
    started = await csms.wait_for("TransactionEvent")
    assert started["idToken"] == A
    assert auth_results(station)[-1] == {"evse": 1, "idToken": A, "status": "Accepted", "source": "csms"}


async def test_tc_c_04_c_08_cache_offline_and_pre_authorize(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    await station.feed("present_token", 1, A)  # fills the cache
    await csms.wait_for("Authorize")
    await asyncio.sleep(0.1)
    await station.feed("present_token", 1, A)  # same token, no transaction yet -> authorized again
    await csms.wait_for("Authorize", count=2)
    await asyncio.sleep(0.1)
    station.st.tx.live[1].token = None
    station.st.dm.put("AuthCtrlr", "LocalPreAuthorize", "true")
    n = len(csms.actions("Authorize"))
    await station.feed("present_token", 2, A)
    await asyncio.sleep(0.1)
    assert len(csms.actions("Authorize")) == n  # answered from the cache
    assert auth_results(station)[-1]["source"] == "cache"
    station.st.tx.live[2].token = None
    await csms.stop()
    await asyncio.sleep(0.1)
    await station.feed("present_token", 2, A)
    assert auth_results(station)[-1] == {"evse": 2, "idToken": A, "status": "Accepted", "source": "cache"}
    await station.feed("present_token", 1, B)  # unknown while offline
    assert auth_results(station)[-1]["status"] == "Invalid"


async def test_tc_c_09_group_id_stop_and_c_11_clear_cache(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    csms.responders["Authorize"] = lambda p: {
        "idTokenInfo": {"status": "Accepted", "groupIdToken": {"idToken": "FLEET", "type": "Central"}}
    }
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, A)
    await csms.wait_for("TransactionEvent")
    await station.feed("present_token", None, B)  # same group: stops the transaction
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "Local" and ended["idToken"] == B
    cached = station.st.store.cache_get("ISO14443:AAA", 0)
    assert cached is not None and cached["status"] == "Accepted"  # C10: the cache learned A (and its group)
    assert cached["groupIdToken"]["idToken"] == "FLEET"
    assert (await csms.call("ClearCache", {}))["status"] == "Accepted"
    assert station.st.store.cache_get("ISO14443:AAA", 0) is None
    station.st.dm.put("AuthCacheCtrlr", "Enabled", "false")
    assert (await csms.call("ClearCache", {}))["status"] == "Rejected"


async def test_tc_c_16_master_pass(csms: ScriptedCsms, station: StationUnderTest) -> None:
    station.st.dm.put("AuthCtrlr", "MasterPassGroupId", "MASTER")
    csms.responders["Authorize"] = lambda p: {
        "idTokenInfo": {"status": "Accepted"}
        if p["idToken"]["idToken"] != "BOSS"
        else {"status": "Accepted", "groupIdToken": {"idToken": "MASTER", "type": "Central"}}
    }
    for evse in (1, 2):
        await station.feed("plug", evse, 1, True)
        await station.feed("present_token", evse, {"idToken": f"U{evse}", "type": "ISO14443"})
    await csms.wait_for("TransactionEvent", count=2)
    await station.feed("present_token", None, {"idToken": "BOSS", "type": "ISO14443"})
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", count=2)
    assert station.st.tx.current(1) is None and station.st.tx.current(2) is None


async def test_tc_c_10_invalid_in_transaction_event_response_stops(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    station.st.dm.put("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true")
    await csms.stop()
    await asyncio.sleep(0.1)
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, A)
    csms.responders["TransactionEvent"] = lambda p: (
        {"idTokenInfo": {"status": "Blocked"}} if "idToken" in p else {}
    )
    await csms.start()
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", timeout=5)
    assert ended["triggerReason"] == "Deauthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert any(r.kind == "remote_stop" for r in station.requests)


async def test_malformed_token_from_station_is_refused_not_sent(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    await station.feed("present_token", 1, {"idToken": "X" * 40, "type": "ISO14443"})
    await station.feed("present_token", 1, {"idToken": "OK", "type": "Bogus"})
    assert [r["status"] for r in auth_results(station)] == ["Invalid", "Invalid"]
    assert all(r["source"] == "malformed" for r in auth_results(station))
    await station.feed("present_token", 1, A)
    await csms.wait_for("Authorize")
    assert len(csms.actions("Authorize")) == 1
