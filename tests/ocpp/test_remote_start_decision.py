"""Issue 13: RequestStartTransaction follows the coordinator's decision.

The OCPP core asks the station (``remote_start`` with a token, answered by the coordinator's Authorize) and acts
on the reply: without AuthorizeRemoteStart the CSMS gets Accepted only for a start the coordinator took, and the
TransactionEvent (trigger RemoteStart, with the remoteStartId) only then; a refusal answers Rejected with the
coordinator's reason and sends no TransactionEvent. With AuthorizeRemoteStart (the default) the answer comes
first, as F01 orders (Authorize after it), and a start the coordinator refuses sends no TransactionEvent.

Before: the answer was Accepted whatever the coordinator said, the TransactionEvent was queued before the
coordinator answered, and a refusal was only logged.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from josev.api import coordinator as co
from josev.api.base import Ack, CommandError
from josev.ocpp.effects import StationRequest
from josev.ocpp.service import OcppService
from tests.conftest import BusFactory
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.test_service_bus import status

TOK = {"idToken": "REMOTE9", "type": "Central"}
FAULTED = "rejected: EVSE 1 is faulted"


def refuse(detail: str = FAULTED) -> object:
    return lambda r: {"status": "Rejected", "detail": detail}


async def test_without_authorize_the_answer_waits_for_the_coordinator(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    station.st.dm.put("AuthCtrlr", "AuthorizeRemoteStart", "false")
    await csms.wait_for("StatusNotification", count=2)
    await station.feed("plug", 1, 1, True)
    station.replies["remote_start"] = refuse()  # type: ignore[assignment]
    res = await csms.call("RequestStartTransaction", {"evseId": 1, "remoteStartId": 41, "idToken": TOK})
    assert res["status"] == "Rejected", res
    assert res["statusInfo"] == {"reasonCode": "Unavailable", "additionalInfo": FAULTED}
    assert [r.data["remoteStartId"] for r in station.requests if r.kind == "remote_start"] == [41]
    await asyncio.sleep(1.0)
    assert csms.actions("TransactionEvent") == []  # nothing started
    assert station.st.tx.live[1].token is None and station.st.tx.live[1].remote_start_id is None

    station.replies["remote_start"] = lambda r: {"status": "Accepted"}
    res = await csms.call("RequestStartTransaction", {"evseId": 1, "remoteStartId": 42, "idToken": TOK})
    assert res == {"status": "Accepted"}
    started = await csms.wait_for("TransactionEvent")
    assert started["triggerReason"] == "RemoteStart" and started["idToken"] == TOK
    assert started["transactionInfo"]["remoteStartId"] == 42
    # the TransactionEvent went out after the station's decision, not before
    assert [r.data["remoteStartId"] for r in station.requests if r.kind == "remote_start"] == [41, 42]
    assert csms.actions("Authorize") == []


async def test_with_authorize_a_refused_start_sends_no_transaction(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    await csms.wait_for("StatusNotification", count=2)
    await station.feed("plug", 1, 1, True)
    station.replies["remote_start"] = refuse("rejected: EVSE 1 is reserved for another id token")  # type: ignore[assignment]
    res = await csms.call("RequestStartTransaction", {"evseId": 1, "remoteStartId": 51, "idToken": TOK})
    assert res == {"status": "Accepted"}  # F01: answered before the Authorize round trip
    await csms.wait_for("Authorize")
    for _ in range(50):  # the coordinator's refusal comes after the CSMS accepted the token
        if any(r.kind == "remote_start" for r in station.requests):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    assert [r.data["remoteStartId"] for r in station.requests if r.kind == "remote_start"] == [51]
    assert csms.actions("TransactionEvent") == []
    assert station.st.tx.live[1].token is None and station.st.tx.live[1].remote_start_id is None

    # the EVSE is free for the next remote start, which the coordinator takes
    station.replies["remote_start"] = lambda r: {"status": "Accepted"}
    res = await csms.call("RequestStartTransaction", {"evseId": 1, "remoteStartId": 52, "idToken": TOK})
    assert res == {"status": "Accepted"}
    started = await csms.wait_for("TransactionEvent")
    assert started["triggerReason"] == "RemoteStart" and started["transactionInfo"]["remoteStartId"] == 52


async def test_a_second_start_while_one_is_decided_is_rejected(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    await csms.wait_for("StatusNotification", count=2)
    await station.feed("plug", 1, 1, True)
    gate = asyncio.Event()
    orig = station._on_request

    async def on_request(req: StationRequest) -> dict[str, object] | None:
        if req.kind == "remote_start":  # a coordinator that takes its time
            station.requests.append(req)
            await gate.wait()
            return {"status": "Accepted"}
        return await orig(req)

    station.client.on_request = on_request
    res = await csms.call("RequestStartTransaction", {"evseId": 1, "remoteStartId": 61, "idToken": TOK})
    assert res == {"status": "Accepted"}  # AuthorizeRemoteStart: answered first
    for _ in range(100):
        if any(r.kind == "remote_start" for r in station.requests):
            break
        await asyncio.sleep(0.05)
    assert [r.data["remoteStartId"] for r in station.requests if r.kind == "remote_start"] == [61]
    second = await csms.call("RequestStartTransaction", {"evseId": 1, "remoteStartId": 62, "idToken": TOK})
    assert second["status"] == "Rejected"  # the EVSE's start is being decided
    assert csms.actions("TransactionEvent") == []
    gate.set()
    started = await csms.wait_for("TransactionEvent")
    assert started["transactionInfo"]["remoteStartId"] == 61


async def test_the_service_follows_the_coordinators_refusal_over_the_bus(
    tmp_path: Path, csms: ScriptedCsms, bus_factory: BusFactory
) -> None:
    """The OCPP service against a real mosquitto: the coordinator (its bus user, answering Authorize as
    ``josev.coordinator.service`` does for a faulted EVSE) refuses, then takes a start."""
    coord = await bus_factory("coordinator")
    faulted = [True]
    seen: list[str] = []

    def authorize(cmd: co.Authorize, evse: int | None) -> Ack:
        seen.append(cmd.id_token or "")
        if faulted[0]:
            raise CommandError("rejected", f"EVSE {evse} is faulted")
        return Ack()

    coord.serve(co.Authorize, authorize)
    cfg = make_config(tmp_path, csms.url, evses={1: 1})
    cfg.variables["AuthCtrlr/AuthorizeRemoteStart"] = "false"
    svc = OcppService(cfg)
    ocpp_bus = await bus_factory("ocpp")
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(ocpp_bus, stop))
    try:
        await csms.wait_for("StatusNotification")
        await coord.publish(status("Occupied", "EVConnected", "s1"), 1)
        await csms.wait_for("StatusNotification", lambda p: p["connectorStatus"] == "Occupied")
        res = await csms.call("RequestStartTransaction", {"evseId": 1, "remoteStartId": 71, "idToken": TOK})
        assert res == {
            "status": "Rejected",
            "statusInfo": {"reasonCode": "Unavailable", "additionalInfo": "rejected: EVSE 1 is faulted"},
        }
        assert seen == ["REMOTE9"]
        await asyncio.sleep(1.0)
        assert [p for p in csms.actions("TransactionEvent") if p["triggerReason"] == "RemoteStart"] == []
        faulted[0] = False
        res = await csms.call("RequestStartTransaction", {"evseId": 1, "remoteStartId": 72, "idToken": TOK})
        assert res == {"status": "Accepted"}
        started = await csms.wait_for("TransactionEvent", lambda p: p["triggerReason"] == "RemoteStart")
        assert started["transactionInfo"]["remoteStartId"] == 72 and seen == ["REMOTE9", "REMOTE9"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
