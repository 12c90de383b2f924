"""The OCPP 2.0.1 CSMS stand-in of the reference station: the sans-IO answers, and a real websocket session."""

from __future__ import annotations

import asyncio
import json

from josev.sim.csms import CALLERROR, CALLRESULT, SUBPROTOCOL, CsmsSim


def test_answers_calls_and_records_them() -> None:
    sim = CsmsSim()
    boot = json.loads(
        sim.answer("cs1", json.dumps([2, "1", "BootNotification", {"reason": "PowerUp"}])) or ""
    )
    assert boot[0] == CALLRESULT and boot[1] == "1" and boot[2]["status"] == "Accepted"
    tx = [2, "2", "TransactionEvent", {"eventType": "Started", "idToken": {"idToken": "A", "type": "Local"}}]
    res = json.loads(sim.answer("cs1", json.dumps(tx)) or "")
    assert res[2] == {"idTokenInfo": {"status": "Accepted"}}
    assert sim.actions("cs1") == ["BootNotification", "TransactionEvent"]


def test_bad_frames_get_clear_errors_and_nothing_is_recorded() -> None:
    sim = CsmsSim()
    assert sim.answer("cs1", b"\xff not json") is None
    assert sim.answer("cs1", json.dumps({"not": "a list"})) is None
    err = json.loads(sim.answer("cs1", json.dumps([2, "9", "BootNotification"])) or "")
    assert err[0] == CALLERROR and err[2] == "FormatViolation"
    err = json.loads(sim.answer("cs1", json.dumps([2, "10", "NoSuchAction", {}])) or "")
    assert err[0] == CALLERROR and err[2] == "NotImplemented"
    assert sim.answer("cs1", json.dumps([3, "x", {}])) is None  # a result to nothing we sent
    assert sim.actions() == ["NoSuchAction"]


async def test_real_websocket_session() -> None:
    from websockets.asyncio.client import connect

    sim = CsmsSim()
    await sim.start()
    try:
        async with connect(f"{sim.url}/station-7", subprotocols=[SUBPROTOCOL]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps([2, "a", "Heartbeat", {}]))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply[0] == CALLRESULT and "currentTime" in reply[2]
            await ws.send("garbage")  # the connection survives a broken frame
            await ws.send(json.dumps([2, "b", "StatusNotification", {}]))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))[1] == "b"
        assert [c.identity for c in sim.calls] == ["station-7", "station-7"]
    finally:
        await sim.close()
