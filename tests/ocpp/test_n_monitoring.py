"""OCTT group N (monitoring): TC_N_04..N_06 SetVariableMonitoring (thresholds, delta, periodic, bad input with
the spec's statuses), TC_N_02 GetMonitoringReport, TC_N_03 SetMonitoringBase, TC_N_05 SetMonitoringLevel,
TC_N_06 ClearVariableMonitoring, GetReport with componentCriteria / componentVariable, NotifyEvent with
severity and the offline queueing rule (severity <= OfflineQueuingSeverity queued, others dropped), the
preconfigured Problem monitor on a fault, and the seed flow: a monitor on the meter's voltage reports an
over-voltage event (real coordinator, HAL and simulated meter over mosquitto)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from josev.ocpp.service import OcppService
from tests.conftest import BusFactory
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import CallErrorReply, CsmsCallError, ScriptedCsms

EVSE1 = {"name": "EVSE", "evse": {"id": 1}}


def mon(
    type_: str, value: float, severity: int = 3, var: str = "Voltage", comp: dict[str, Any] = EVSE1, **kw: Any
) -> dict[str, Any]:
    return {
        "type": type_,
        "value": value,
        "severity": severity,
        "component": comp,
        "variable": {"name": var},
        **kw,
    }


def events(csms: ScriptedCsms) -> list[dict[str, Any]]:
    return [e for p in csms.actions("NotifyEvent") for e in p["eventData"]]


async def test_tc_n_04_thresholds_delta_and_bad_input(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    res = await csms.call(
        "SetVariableMonitoring",
        {
            "setMonitoringData": [
                mon("UpperThreshold", 253.0, 2),
                mon("LowerThreshold", 207.0, 4),
                mon("Delta", 1000.0, 6, var="Power"),
                mon("UpperThreshold", 1, var="Bogus"),
                mon("UpperThreshold", 1, comp={"name": "Nope"}),
                mon("UpperThreshold", 1, var="AvailabilityState"),
                mon("UpperThreshold", 1, var="SupplyPhases"),
                mon("Delta", 5.0, 2, id=4242),
                mon("UpperThreshold", 253.0, 2),
            ]
        },
    )
    statuses = [(r["status"], r.get("statusInfo", {}).get("reasonCode")) for r in res["setMonitoringResult"]]
    assert statuses == [
        ("Accepted", None),
        ("Accepted", None),
        ("Accepted", None),
        ("UnknownVariable", None),
        ("UnknownComponent", None),
        ("UnsupportedMonitorType", "NotNumeric"),
        ("Rejected", "NotMonitorable"),
        ("Rejected", "UnknownMonitor"),
        ("Duplicate", None),
    ]
    upper, lower, delta = (r["id"] for r in res["setMonitoringResult"][:3])
    await station.feed("meter", 1, {"Voltage": 230.0, "Power.Active.Import": 0.0})
    await asyncio.sleep(0.1)
    assert events(csms) == []
    await station.feed("meter", 1, {"Voltage": 258.4, "Power.Active.Import": 7400.0})
    await csms.wait_for("NotifyEvent", count=2)
    got = {e["variableMonitoringId"]: e for e in events(csms)}
    assert got[upper]["trigger"] == "Alerting" and got[upper]["actualValue"] == "258.4"
    assert got[upper]["cleared"] is False and got[upper]["eventNotificationType"] == "CustomMonitor"
    assert got[upper]["component"] == EVSE1 and got[upper]["variable"] == {"name": "Voltage"}
    assert got[delta]["trigger"] == "Delta" and got[delta]["actualValue"] == "7400"
    await station.feed("meter", 1, {"Voltage": 258.9})  # still over: no new event
    await station.feed("meter", 1, {"Voltage": 231.0})
    cleared = await csms.wait_for("NotifyEvent", count=3)
    assert cleared["eventData"][0]["cleared"] is True and cleared["eventData"][0]["actualValue"] == "231"
    await station.feed("meter", 1, {"Voltage": 199.0})
    low = await csms.wait_for("NotifyEvent", count=4)
    assert low["eventData"][0]["variableMonitoringId"] == lower
    # SetMonitoringLevel 3: the severity-4 lower threshold no longer reports
    assert (await csms.call("SetMonitoringLevel", {"severity": 3}))["status"] == "Accepted"
    await station.feed("meter", 1, {"Voltage": 230.0})
    await asyncio.sleep(0.2)
    assert len(events(csms)) == 4
    try:
        await csms.call("SetVariableMonitoring", {"setMonitoringData": [mon("Delta", 1.0)] * 21})
        raise AssertionError("no CALLERROR")
    except CsmsCallError as err:
        assert err.code == "OccurrenceConstraintViolation"


async def test_tc_n_02_n_03_n_06_report_base_clear(csms: ScriptedCsms, station: StationUnderTest) -> None:
    res = await csms.call(
        "SetVariableMonitoring",
        {"setMonitoringData": [mon("UpperThreshold", 253.0), mon("Periodic", 60, 7, var="Power")]},
    )
    upper, periodic = (r["id"] for r in res["setMonitoringResult"])
    assert (await csms.call("GetMonitoringReport", {"requestId": 5}))["status"] == "Accepted"
    rep = await csms.wait_for("NotifyMonitoringReport")
    mons = {
        (m["component"]["evse"]["id"], m["variable"]["name"]): m["variableMonitoring"] for m in rep["monitor"]
    }
    assert mons[(1, "Voltage")] == [
        {"id": upper, "transaction": False, "value": 253.0, "type": "UpperThreshold", "severity": 3}
    ]
    assert {(k, v[0]["type"]) for k, v in mons.items()} >= {
        ((1, "Problem"), "Delta"),
        ((2, "Problem"), "Delta"),
    }
    res = await csms.call(
        "GetMonitoringReport",
        {
            "requestId": 6,
            "monitoringCriteria": ["PeriodicMonitoring"],
            "componentVariable": [{"component": EVSE1}],
        },
    )
    assert res["status"] == "Accepted"
    rep = await csms.wait_for("NotifyMonitoringReport", count=2)
    assert [(m["variable"]["name"], [x["id"] for x in m["variableMonitoring"]]) for m in rep["monitor"]] == [
        ("Power", [periodic])
    ]
    res = await csms.call(
        "GetMonitoringReport", {"requestId": 7, "componentVariable": [{"component": {"name": "TxCtrlr"}}]}
    )
    assert res["status"] == "EmptyResultSet"
    res = await csms.call("ClearVariableMonitoring", {"id": [upper, 999]})
    assert res["clearMonitoringResult"] == [
        {"id": upper, "status": "Accepted"},
        {"id": 999, "status": "NotFound"},
    ]
    # FactoryDefault: custom monitors gone, the preconfigured Problem monitors back
    assert (await csms.call("SetMonitoringBase", {"monitoringBase": "FactoryDefault"}))[
        "status"
    ] == "Accepted"
    from josev.ocpp import monitoring

    kinds = sorted((m["key"], m["kind"]) for m in monitoring.monitors(station.st).values())
    assert kinds == [("EVSE@1/Problem", "PreconfiguredMonitor"), ("EVSE@2/Problem", "PreconfiguredMonitor")]
    assert (await csms.call("SetMonitoringBase", {"monitoringBase": "HardWiredOnly"}))["status"] == "Accepted"
    assert (await csms.call("GetMonitoringReport", {"requestId": 8}))["status"] == "EmptyResultSet"


async def test_periodic_and_fault_problem_monitor(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await station.feed("meter", 2, {"Power.Active.Import": 3680.0})
    res = await csms.call(
        "SetVariableMonitoring",
        {"setMonitoringData": [mon("Periodic", 1, 5, var="Power", comp={"name": "EVSE", "evse": {"id": 2}})]},
    )
    mid = res["setMonitoringResult"][0]["id"]
    ev = await csms.wait_for("NotifyEvent", lambda p: p["eventData"][0]["trigger"] == "Periodic", timeout=4)
    assert ev["eventData"][0]["actualValue"] == "3680" and ev["eventData"][0]["variableMonitoringId"] == mid
    # the connection state: a Delta monitor on a connector's AvailabilityState reports the plug-in
    conn = {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
    res = await csms.call(
        "SetVariableMonitoring",
        {"setMonitoringData": [mon("Delta", 0, 4, var="AvailabilityState", comp=conn)]},
    )
    assert res["setMonitoringResult"][0]["status"] == "Accepted"
    await station.feed("plug", 1, 1, True)
    await station.feed("connector_status", 1, 1, "Occupied")
    ev = await csms.wait_for(
        "NotifyEvent", lambda p: p["eventData"][0]["variable"]["name"] == "AvailabilityState"
    )
    assert ev["eventData"][0]["actualValue"] == "Occupied" and ev["eventData"][0]["trigger"] == "Delta"
    await station.feed("plug", 1, 1, False)
    await station.feed("connector_status", 1, 1, "Available")
    # the preconfigured monitor reports a fault of EVSE 1 (Problem false -> true)
    await station.feed("connector_status", 1, 1, "Faulted")
    ev = await csms.wait_for("NotifyEvent", lambda p: p["eventData"][0]["variable"]["name"] == "Problem")
    assert ev["eventData"][0]["actualValue"] == "true"
    assert ev["eventData"][0]["eventNotificationType"] == "PreconfiguredMonitor"


async def test_get_report_component_criteria_and_variable(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    await station.feed("connector_status", 2, 1, "Faulted")
    await asyncio.sleep(0.1)
    res = await csms.call("GetReport", {"requestId": 1, "componentCriteria": ["Problem"]})
    assert res["status"] == "Accepted"
    rep = await csms.wait_for("NotifyReport")
    comps = {(d["component"]["name"], d["component"].get("evse", {}).get("id")) for d in rep["reportData"]}
    assert comps == {("EVSE", 2)}
    voltage = next(d for d in rep["reportData"] if d["variable"]["name"] == "Voltage")
    assert voltage["variableCharacteristics"]["supportsMonitoring"] is True
    res = await csms.call(
        "GetReport",
        {
            "requestId": 2,
            "componentCriteria": ["Enabled"],
            "componentVariable": [{"component": {"name": "LocalAuthListCtrlr"}}],
        },
    )
    assert res["status"] == "EmptyResultSet"  # the local list is disabled by default
    res = await csms.call(
        "GetReport",
        {
            "requestId": 3,
            "componentCriteria": ["Enabled"],
            "componentVariable": [
                {"component": {"name": "ReservationCtrlr"}, "variable": {"name": "NonEvseSpecific"}}
            ],
        },
    )
    assert res["status"] == "Accepted"
    rep = await csms.wait_for("NotifyReport", count=2)
    assert [(d["variable"]["name"], d["variableAttribute"][0]["value"]) for d in rep["reportData"]] == [
        ("NonEvseSpecific", "true")
    ]


async def test_offline_queuing_by_severity(tmp_path: Path, csms: ScriptedCsms) -> None:
    sut = StationUnderTest(
        make_config(tmp_path, csms.url, variables={"MonitoringCtrlr/OfflineQueuingSeverity": "2"})
    )
    await sut.start()
    try:
        await csms.wait_for("StatusNotification")
        res = await csms.call(
            "SetVariableMonitoring",
            {"setMonitoringData": [mon("UpperThreshold", 253.0, 1), mon("UpperThreshold", 240.0, 5)]},
        )
        danger, info = (r["id"] for r in res["setMonitoringResult"])
        await csms.stop()
        await asyncio.sleep(0.1)
        await sut.feed("meter", 1, {"Voltage": 260.0})
        assert [m.action for m in sut.st.store.queued()] == ["NotifyEvent"]
        await sut.close()  # the queued event survives a restart
        sut = StationUnderTest(make_config(tmp_path, csms.url))
        await sut.start()
        await csms.start()
        ev = await csms.wait_for("NotifyEvent", timeout=8)
        assert [e["variableMonitoringId"] for e in ev["eventData"]] == [danger]
        await asyncio.sleep(0.3)
        assert info not in [e["variableMonitoringId"] for e in events(csms)]
        assert sut.st.store.queued() == []
    finally:
        await sut.close()


async def test_seed_over_voltage_from_the_simulated_meter(
    tmp_path: Path, csms: ScriptedCsms, bus_factory: BusFactory
) -> None:
    """The operator watches the grid voltage of EVSE 1 (upper threshold 253 V = 230 V + 10 %): the simulated
    meter reports 262 V, the CSMS receives NotifyEvent Alerting with the measured value; back to 231 V it is
    cleared."""
    from tests.coordinator.rig import start_station
    from tests.coordinator.rig import until as rig_until

    rig = await start_station(bus_factory, 1)
    svc = OcppService(make_config(tmp_path, csms.url, evses={1: 1}))
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(await bus_factory("ocpp"), stop))
    try:
        await csms.wait_for("StatusNotification")
        res = await csms.call(
            "SetVariableMonitoring", {"setMonitoringData": [mon("UpperThreshold", 253.0, 1)]}
        )
        mid = res["setMonitoringResult"][0]["id"]
        meter = rig.board.sim(1).meter
        await rig_until(
            lambda: svc.client is not None and svc.client.station.dm.value("EVSE@1/Voltage") == "230",
            what="meter voltage in the device model",
        )
        meter.voltage_v = 262.0
        ev = await csms.wait_for("NotifyEvent", timeout=5)
        data = ev["eventData"][0]
        assert (data["trigger"], data["actualValue"], data["cleared"], data["variableMonitoringId"]) == (
            "Alerting",
            "262",
            False,
            mid,
        )
        v = await csms.call(
            "GetVariables", {"getVariableData": [{"component": EVSE1, "variable": {"name": "Voltage"}}]}
        )
        assert v["getVariableResult"][0]["attributeValue"] == "262"
        meter.voltage_v = 231.0
        ev = await csms.wait_for("NotifyEvent", count=2, timeout=5)
        assert ev["eventData"][0]["cleared"] is True and ev["eventData"][0]["actualValue"] == "231"
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await rig.close()


async def test_queued_event_refused_by_the_csms_does_not_block_the_queue(
    tmp_path: Path, csms: ScriptedCsms
) -> None:
    """A CSMS that answers NotifyEvent with a CALLERROR: the queued event is abandoned after MessageAttempts and
    the transaction events behind it are delivered."""
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    try:
        await csms.wait_for("StatusNotification")
        await csms.call("SetVariableMonitoring", {"setMonitoringData": [mon("UpperThreshold", 253.0, 0)]})
        csms.responders["NotifyEvent"] = lambda p: CallErrorReply("NotImplemented", "no monitoring here")
        await csms.stop()
        await asyncio.sleep(0.1)
        await sut.feed("meter", 1, {"Voltage": 270.0})
        await sut.feed("plug", 1, 1, True)
        await sut.feed(
            "present_token", 1, {"idToken": "X1", "type": "ISO14443"}
        )  # offline: unknown -> refused
        sut.st.dm.put("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true")
        await sut.feed("present_token", 1, {"idToken": "X1", "type": "ISO14443"})
        assert [m.action for m in sut.st.store.queued()] == ["NotifyEvent", "TransactionEvent"]
        await csms.start()
        tx = await csms.wait_for("TransactionEvent", timeout=8)
        assert tx["offline"] is True and len(csms.actions("NotifyEvent")) == 3  # MessageAttempts
    finally:
        await sut.close()
