"""OCTT group B (provisioning): TC_B_01 (cold boot accepted), TC_B_02 (pending, device model configured while
pending), TC_B_03 (rejected), TC_B_05/B_06 (Set/GetVariables incl. unknown component/variable, read-only,
write-only, invalid values, ItemsPerMessage), TC_B_07/B_08 (GetBaseReport/GetReport split by ItemsPerMessage),
TC_B_09 (SetNetworkProfile slot validation), TC_B_11/B_12 (Reset Immediate/OnIdle, station and EVSE),
heartbeat and clock (TC_B_01 heartbeat)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import CsmsCallError, ScriptedCsms, now_iso


def gv(component: str, variable: str, **kw: Any) -> dict[str, Any]:
    comp: dict[str, Any] = {"name": component}
    var: dict[str, Any] = {"name": variable}
    if "instance" in kw:
        var["instance"] = kw["instance"]
    if "evse" in kw:
        comp["evse"] = kw["evse"]
    return {"component": comp, "variable": var}


async def test_tc_b_01_boot_heartbeat_clock(tmp_path: Path, csms: ScriptedCsms) -> None:
    csms.responders["BootNotification"] = lambda p: {
        "currentTime": "2030-01-01T00:00:00Z",
        "interval": 1,
        "status": "Accepted",
    }
    csms.responders["Heartbeat"] = lambda p: {"currentTime": "2030-01-01T00:00:05Z"}
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    try:
        boot = await csms.wait_for("BootNotification")
        assert boot["chargingStation"] == {
            "model": "josev",
            "vendorName": "josev",
            "serialNumber": "SN-1",
            "firmwareVersion": "1.0",
        }
        await csms.wait_for("Heartbeat", timeout=4)
        assert sut.st.timestamp(__import__("time").time()).startswith("2030-01-01")
        assert sut.st.dm.get("OCPPCommCtrlr", "HeartbeatInterval") == "1"
        # one StatusNotification per connector after boot
        sn = [p for p in csms.actions("StatusNotification")]
        assert sorted((p["evseId"], p["connectorId"]) for p in sn) == [(1, 1), (2, 1)]
        ev = await csms.wait_for("SecurityEventNotification")
        assert ev["type"] == "StartupOfTheDevice"
    finally:
        await sut.close()


async def test_tc_b_02_pending_then_configured_then_accepted(tmp_path: Path, csms: ScriptedCsms) -> None:
    state = {"status": "Pending"}
    csms.responders["BootNotification"] = lambda p: {
        "currentTime": now_iso(),
        "interval": 1,
        "status": state["status"],
    }
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    try:
        await csms.wait_for("BootNotification")
        await asyncio.sleep(0.1)
        # while Pending: the CSMS reads and writes the device model; the station sends nothing else
        res = await csms.call(
            "SetVariables",
            {"setVariableData": [{**gv("OCPPCommCtrlr", "HeartbeatInterval"), "attributeValue": "77"}]},
        )
        assert res["setVariableResult"][0]["attributeStatus"] == "Accepted"
        res = await csms.call("GetVariables", {"getVariableData": [gv("OCPPCommCtrlr", "HeartbeatInterval")]})
        assert res["getVariableResult"][0]["attributeValue"] == "77"
        assert {a for a, _ in csms.received} == {"BootNotification"}
        # a triggered message is allowed while Pending
        assert (await csms.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await csms.wait_for("Heartbeat")
        state["status"] = "Accepted"
        await csms.wait_for("BootNotification", count=2, timeout=4)
        await csms.wait_for("StatusNotification", count=2)
    finally:
        await sut.close()


async def test_tc_b_03_rejected_sends_nothing_until_interval(tmp_path: Path, csms: ScriptedCsms) -> None:
    state = {"status": "Rejected"}
    csms.responders["BootNotification"] = lambda p: {
        "currentTime": now_iso(),
        "interval": 1,
        "status": state["status"],
    }
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    try:
        await csms.wait_for("BootNotification")
        await sut.feed("connector_status", 1, 1, "Occupied")
        await asyncio.sleep(0.5)
        assert [a for a, _ in csms.received] == ["BootNotification"]
        with pytest.raises(CsmsCallError):
            await csms.call("GetVariables", {"getVariableData": [gv("OCPPCommCtrlr", "HeartbeatInterval")]})
        state["status"] = "Accepted"
        await csms.wait_for("BootNotification", count=2, timeout=3)
        sn = await csms.wait_for("StatusNotification", lambda p: p["evseId"] == 1)
        assert sn["connectorStatus"] == "Occupied"
    finally:
        await sut.close()


async def test_tc_b_05_b_06_set_get_variables(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    res = await csms.call(
        "GetVariables",
        {
            "getVariableData": [
                gv("OCPPCommCtrlr", "HeartbeatInterval"),
                gv("NoSuchCtrlr", "X"),
                gv("OCPPCommCtrlr", "NoSuchVar"),
                gv("SecurityCtrlr", "BasicAuthPassword"),
                gv("OCPPCommCtrlr", "MessageTimeout", instance="Default"),
                gv("Connector", "AvailabilityState", evse={"id": 1, "connectorId": 1}),
                {**gv("OCPPCommCtrlr", "HeartbeatInterval"), "attributeType": "Target"},
                gv("ClockCtrlr", "DateTime"),
            ]
        },
    )
    st = [r["attributeStatus"] for r in res["getVariableResult"]]
    assert st == [
        "Accepted",
        "UnknownComponent",
        "UnknownVariable",
        "Rejected",
        "Accepted",
        "Accepted",
        "NotSupportedAttributeType",
        "Accepted",
    ]
    assert res["getVariableResult"][5]["attributeValue"] == "Available"
    res = await csms.call(
        "SetVariables",
        {
            "setVariableData": [
                {**gv("OCPPCommCtrlr", "HeartbeatInterval"), "attributeValue": "100"},
                {**gv("OCPPCommCtrlr", "HeartbeatInterval"), "attributeValue": "abc"},
                {**gv("SecurityCtrlr", "SecurityProfile"), "attributeValue": "2"},
                {**gv("TxCtrlr", "TxStartPoint"), "attributeValue": "EVConnected,Bogus"},
                {**gv("TxCtrlr", "TxStopPoint"), "attributeValue": "EVConnected"},
                {**gv("OCPPCommCtrlr", "NetworkConfigurationPriority"), "attributeValue": "1"},
                {**gv("OCPPCommCtrlr", "NetworkConfigurationPriority"), "attributeValue": "7"},
                {**gv("Foo", "Bar"), "attributeValue": "1"},
            ]
        },
    )
    st = [r["attributeStatus"] for r in res["setVariableResult"]]
    assert st == [
        "Accepted",
        "Rejected",
        "Rejected",
        "Rejected",
        "Accepted",
        "RebootRequired",
        "Rejected",
        "UnknownComponent",
    ]
    # persisted: a new device model over the same database sees the value
    assert station.st.store.variables()["OCPPCommCtrlr/HeartbeatInterval"] == "100"
    too_many = [gv("OCPPCommCtrlr", "HeartbeatInterval")] * 21
    with pytest.raises(CsmsCallError) as err:
        await csms.call("GetVariables", {"getVariableData": too_many})
    assert err.value.code == "OccurrenceConstraintViolation"


async def test_tc_b_07_b_08_base_report_split(csms: ScriptedCsms, station: StationUnderTest) -> None:
    station.st.dm.put("DeviceDataCtrlr", "ItemsPerMessage", "7", v_instance="GetReport")
    res = await csms.call("GetBaseReport", {"requestId": 42, "reportBase": "FullInventory"})
    assert res["status"] == "Accepted"
    total = len(station.st.dm.defs)
    n_msgs = -(-total // 7)
    last = await csms.wait_for("NotifyReport", lambda p: p["requestId"] == 42, count=n_msgs)
    reports = [p for p in csms.actions("NotifyReport") if p["requestId"] == 42]
    assert [p["seqNo"] for p in reports] == list(range(n_msgs))
    assert [p["tbc"] for p in reports] == [True] * (n_msgs - 1) + [False]
    assert last["tbc"] is False
    items = [i for p in reports for i in p["reportData"]]
    assert len(items) == total and all(len(p["reportData"]) <= 7 for p in reports)
    pw = next(i for i in items if i["variable"]["name"] == "BasicAuthPassword")
    assert "value" not in pw["variableAttribute"][0]
    res = await csms.call("GetBaseReport", {"requestId": 43, "reportBase": "ConfigurationInventory"})
    assert res["status"] == "Accepted"
    res = await csms.call(
        "GetReport", {"requestId": 44, "componentVariable": [{"component": {"name": "TxCtrlr"}}]}
    )
    assert res["status"] == "Accepted"
    rep = await csms.wait_for("NotifyReport", lambda p: p["requestId"] == 44)
    assert {i["component"]["name"] for i in rep["reportData"]} == {"TxCtrlr"}
    res = await csms.call(
        "GetReport", {"requestId": 45, "componentVariable": [{"component": {"name": "Nope"}}]}
    )
    assert res["status"] == "EmptyResultSet"


async def test_tc_b_09_set_network_profile_validation(csms: ScriptedCsms, station: StationUnderTest) -> None:
    data = {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": "ws://127.0.0.1:1/x",
        "messageTimeout": 30,
        "securityProfile": 1,
        "ocppInterface": "Wired0",
    }
    ok = await csms.call("SetNetworkProfile", {"configurationSlot": 2, "connectionData": data})
    assert ok["status"] == "Accepted"
    in_use = await csms.call("SetNetworkProfile", {"configurationSlot": 1, "connectionData": data})
    assert in_use["status"] == "Rejected"
    bad_slot = await csms.call("SetNetworkProfile", {"configurationSlot": 12, "connectionData": data})
    assert bad_slot["status"] == "Rejected"
    no_root = await csms.call(
        "SetNetworkProfile",
        {
            "configurationSlot": 3,
            "connectionData": {**data, "securityProfile": 2, "ocppCsmsUrl": "wss://csms.example/x"},
        },
    )
    assert no_root["status"] == "Rejected"
    with pytest.raises(CsmsCallError) as err:
        await csms.call(
            "SetNetworkProfile",
            {"configurationSlot": 3, "connectionData": {**data, "ocppCsmsUrl": "not a url"}},
        )
    assert err.value.code == "PropertyConstraintViolation"
    res = await csms.call(
        "SetVariables",
        {
            "setVariableData": [
                {**gv("OCPPCommCtrlr", "NetworkConfigurationPriority"), "attributeValue": "1,2"}
            ]
        },
    )
    assert res["setVariableResult"][0]["attributeStatus"] == "RebootRequired"


async def test_tc_b_11_b_12_reset(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    # OnIdle with a transaction: Scheduled, reboot after it ends
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, {"idToken": "TAG1", "type": "ISO14443"})
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started")
    assert (await csms.call("Reset", {"type": "OnIdle"}))["status"] == "Scheduled"
    # EVSE reset of an unknown EVSE
    assert (await csms.call("Reset", {"type": "Immediate", "evseId": 9}))["status"] == "Rejected"
    await station.feed("plug", 1, 1, False)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    boot2 = await csms.wait_for("BootNotification", count=2, timeout=5)
    assert boot2["reason"] == "RemoteReset"
    assert station.client.reboots == 1
    await csms.wait_connected(count=2)
    # Immediate: ends the running transaction with ImmediateReset, then reboots
    await asyncio.sleep(0.1)
    await station.feed("plug", 2, 1, True)
    await station.feed("present_token", 2, {"idToken": "TAG2", "type": "ISO14443"})
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started" and p["evse"]["id"] == 2)
    assert (await csms.call("Reset", {"type": "Immediate"}))["status"] == "Accepted"
    ended = await csms.wait_for(
        "TransactionEvent", lambda p: p["eventType"] == "Ended" and p["evse"]["id"] == 2, timeout=5
    )
    assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    assert ended["triggerReason"] == "ResetCommand"
    await csms.wait_for("BootNotification", count=3, timeout=5)
    assert station.client.reboots == 2


async def test_tc_b_evse_reset(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await station.feed("plug", 2, 1, True)
    await station.feed("present_token", 2, {"idToken": "TAG9", "type": "ISO14443"})
    await csms.wait_for("TransactionEvent")
    assert (await csms.call("Reset", {"type": "OnIdle", "evseId": 2}))["status"] == "Scheduled"
    assert (await csms.call("Reset", {"type": "Immediate", "evseId": 1}))["status"] == "Accepted"
    await station.feed("plug", 2, 1, False)
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    await asyncio.sleep(0.1)
    assert [r.data["evse"] for r in station.requests if r.kind == "reset_evse"] == [1, 2]
    assert station.client.reboots == 0  # an EVSE reset does not reboot the station


async def test_reset_runs_the_reboot_hook(csms: ScriptedCsms, tmp_path: Path) -> None:
    """B11: an accepted Reset runs the configured reboot command (here: a script writing a marker) with the
    reason, then the client comes back from its persistent state."""
    import sys

    from tests.ocpp.conftest import StationUnderTest, make_config

    marker = tmp_path / "rebooted"
    script = (
        f"import os, pathlib; pathlib.Path({str(marker)!r}).write_text(os.environ['JOSEV_REBOOT_REASON'])"
    )
    sut = StationUnderTest(make_config(tmp_path, csms.url, reboot_command=[sys.executable, "-c", script]))
    await sut.start()
    try:
        await csms.wait_for("BootNotification")
        assert (await csms.call("Reset", {"type": "Immediate"}))["status"] == "Accepted"
        boot2 = await csms.wait_for("BootNotification", count=2, timeout=10)
        assert boot2["reason"] == "RemoteReset"
        assert marker.read_text() == "RemoteReset"
    finally:
        await sut.close()
