"""OCTT group J (meter values): TC_J_01 (clock-aligned MeterValues outside a transaction), TC_J_02 (sampled
TransactionEvent Updated MeterValuePeriodic), TC_J_03 (clock-aligned values during a transaction as
TransactionEvent MeterValueClock), TC_J_10 (Transaction.Begin/End contexts and configured measurands)."""

from __future__ import annotations

import asyncio

from tests.ocpp.conftest import StationUnderTest
from tests.ocpp.harness import ScriptedCsms

E = "Energy.Active.Import.Register"
P = "Power.Active.Import"


async def setv(csms: ScriptedCsms, comp: str, var: str, value: str) -> None:
    res = await csms.call(
        "SetVariables",
        {
            "setVariableData": [
                {"component": {"name": comp}, "variable": {"name": var}, "attributeValue": value}
            ]
        },
    )
    assert res["setVariableResult"][0]["attributeStatus"] == "Accepted"


async def test_tc_j_01_j_03_clock_aligned(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await station.feed("meter", 1, {E: 10.0, P: 0.0})
    await station.feed("meter", 2, {E: 20.0})
    await setv(csms, "AlignedDataCtrlr", "Measurands", f"{E},{P}")
    await setv(csms, "AlignedDataCtrlr", "Interval", "1")
    mv = await csms.wait_for("MeterValues", lambda p: p["evseId"] == 1, timeout=3)
    sv = mv["meterValue"][0]["sampledValue"]
    assert [(s["measurand"], s["context"]) for s in sv] == [(E, "Sample.Clock"), (P, "Sample.Clock")]
    assert int(mv["meterValue"][0]["timestamp"][17:19]) % 1 == 0
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, {"idToken": "T", "type": "ISO14443"})
    await csms.wait_for("TransactionEvent")
    upd = await csms.wait_for(
        "TransactionEvent", lambda p: p["triggerReason"] == "MeterValueClock", timeout=3
    )
    assert upd["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock"


async def test_tc_j_02_j_10_sampled(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await setv(csms, "SampledDataCtrlr", "TxUpdatedInterval", "1")
    await setv(csms, "SampledDataCtrlr", "TxEndedMeasurands", f"{E},{P}")
    await station.feed("meter", 1, {E: 100.0, P: 7000.0})
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, {"idToken": "T", "type": "ISO14443"})
    started = await csms.wait_for("TransactionEvent")
    assert [s["context"] for s in started["meterValue"][0]["sampledValue"]] == ["Transaction.Begin"]
    await station.feed("meter", 1, {E: 150.0})
    upd = await csms.wait_for(
        "TransactionEvent", lambda p: p["triggerReason"] == "MeterValuePeriodic", timeout=3
    )
    sv = upd["meterValue"][0]["sampledValue"]
    assert {s["measurand"]: s["value"] for s in sv} == {E: 150.0, P: 7000.0}
    assert all(s["context"] == "Sample.Periodic" for s in sv)
    await station.feed("plug", 1, 1, False)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert [s["measurand"] for s in ended["meterValue"][0]["sampledValue"]] == [E, P]
    assert ended["meterValue"][0]["sampledValue"][1]["unitOfMeasure"] == {"unit": "W"}


async def test_tc_j_tx_ended_interval_samples_in_ended(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await setv(csms, "SampledDataCtrlr", "TxEndedInterval", "1")
    await setv(csms, "AlignedDataCtrlr", "TxEndedInterval", "1")
    await station.feed("meter", 1, {E: 100.0})
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, {"idToken": "T", "type": "ISO14443"})
    await csms.wait_for("TransactionEvent")
    await asyncio.sleep(2.3)
    await station.feed("meter", 1, {E: 300.0})
    await station.feed("plug", 1, 1, False)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    contexts = [mv["sampledValue"][0]["context"] for mv in ended["meterValue"]]
    assert contexts.count("Sample.Periodic") >= 2 and contexts.count("Sample.Clock") >= 2
    assert contexts[-1] == "Transaction.End"
    assert ended["meterValue"][-1]["sampledValue"][0]["value"] == 300.0
