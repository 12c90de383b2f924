"""The reading a transaction cut by a power loss ends with (found by a CI run of tests/product/test_power_cut.py).

After a kill -9 or power cut the restarted board publishes its meter before the coordinator reports its
sessions. The simulator's register starts again at 0 Wh (a real meter may also read differently after a
reset). Before the fix the OCPP core took that reading as the cut transaction's latest, so the Ended event
(stoppedReason PowerLoss) billed 0 Wh instead of the last reading persisted before the cut. An import register never
goes back: a reading below the open transaction's last one (a reset meter, a restarted board) is now held
until the transaction ends and the next transaction starts there; a higher one (the same session continuing
after only the OCPP service restarted) is the transaction's.

A unit test of the core's logic over a real SQLite store; the real kill -9 of the whole station is
tests/product/test_power_cut.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from josev.ocpp.service import _power, _session_seen
from josev.ocpp.store import Store
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms

TAG = {"idToken": "TAG-CUT", "type": "ISO14443"}
E = "Energy.Active.Import.Register"


def tx_events(csms: ScriptedCsms) -> list[dict[str, Any]]:
    return csms.actions("TransactionEvent")


def energy(ev: dict[str, Any], context: str) -> float:
    vals = [
        sv["value"]
        for mv in ev.get("meterValue", [])
        for sv in mv["sampledValue"]
        if sv.get("context") == context and sv.get("measurand", E) == E
    ]
    assert len(vals) == 1, ev
    return float(vals[0])


async def session(sut: StationUnderTest, evse: int, session_id: str | None) -> None:
    await sut.client.feed(lambda e, sid, now: _session_seen(sut.st, e, sid, now), evse, session_id)


async def power(sut: StationUnderTest, evse: int, closed: bool, register: float | None) -> None:
    await sut.client.feed(lambda e, c, r, now: _power(sut.st, e, c, r, now), evse, closed, register)


async def charge_then_die(csms: ScriptedCsms, tmp_path: Path) -> tuple[StationUnderTest, str]:
    """A transaction of session S1 charges 1000 -> 5400 Wh, then the station dies without stopping."""
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    await csms.wait_for("BootNotification")
    await sut.feed("meter", 1, {E: 1000.0})
    await session(sut, 1, "S1")
    await sut.feed("plug", 1, 1, True)
    await sut.feed("present_token", 1, TAG)
    started = await csms.wait_for("TransactionEvent")
    assert started["eventType"] == "Started" and energy(started, "Transaction.Begin") == 1000.0
    await power(sut, 1, True, None)
    for wh in (2000.0, 4000.0, 5400.0):
        await sut.feed("meter", 1, {E: wh})
    tx_id = started["transactionInfo"]["transactionId"]
    await sut.close()
    store = Store(sut.cfg.database)
    store.put("run", {**store.get("run"), "clean": False})  # what a kill -9 leaves behind
    store.close()
    assert not [e for e in tx_events(csms) if e["eventType"] == "Ended"]
    return sut, tx_id


async def restart(csms: ScriptedCsms, tmp_path: Path) -> StationUnderTest:
    n_boot = len(csms.actions("BootNotification"))
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    await csms.wait_for("BootNotification", count=n_boot + 1)
    assert 1 in sut.st.tx.cut
    return sut


async def test_cut_transaction_ends_with_the_reading_before_the_cut(
    csms: ScriptedCsms, tmp_path: Path
) -> None:
    _, tx_id = await charge_then_die(csms, tmp_path)
    sut = await restart(csms, tmp_path)
    try:
        # the restarted board reports first: its register starts at 0, its contactor is open
        await sut.feed("meter", 1, {E: 0.0})
        await power(sut, 1, False, 0.0)
        assert not [e for e in tx_events(csms) if e["eventType"] == "Ended"]
        await session(sut, 1, None)  # no vehicle session: the station restarted too
        ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert ended["transactionInfo"]["transactionId"] == tx_id
        assert ended["transactionInfo"]["stoppedReason"] == "PowerLoss"
        assert energy(ended, "Transaction.End") == 5400.0  # before the fix: 0.0
        # the next transaction starts from the restarted board's reading
        await sut.feed("plug", 1, 1, True)
        await sut.feed("present_token", 1, TAG)
        nxt = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started", count=2)
        assert energy(nxt, "Transaction.Begin") == 0.0
    finally:
        await sut.close()


async def test_register_going_back_mid_transaction_is_not_billed(
    csms: ScriptedCsms, station: StationUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    await station.feed("meter", 1, {E: 300.0})
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, TAG)
    await csms.wait_for("TransactionEvent")
    await station.feed("meter", 1, {E: 800.0})
    with caplog.at_level(logging.WARNING, logger="josev.ocpp.transactions"):
        await station.feed("meter", 1, {E: 12.0})  # the meter was reset
        await station.feed("meter", 1, {E: 20.0})
    assert [r.getMessage() for r in caplog.records if "went back" in r.getMessage()] == [
        "EVSE 1: the meter's import register went back from 800.0 to 12.0 Wh during transaction "
        f"{station.st.tx.current(1)['id']} (a reset meter or a restarted board): the transaction keeps 800.0 Wh "
        "as its last reading"
    ]
    await station.feed("plug", 1, 1, False)
    ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert energy(ended, "Transaction.End") == 800.0
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, TAG)
    nxt = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Started", count=2)
    assert energy(nxt, "Transaction.Begin") == 20.0


async def test_continued_transaction_takes_the_held_readings(csms: ScriptedCsms, tmp_path: Path) -> None:
    _, tx_id = await charge_then_die(csms, tmp_path)
    sut = await restart(csms, tmp_path)
    try:
        # only the OCPP service died: the coordinator's session S1 still charges and the meter went on
        await sut.feed("meter", 1, {E: 5600.0})
        await session(sut, 1, "S1")
        assert sut.st.tx.current(1) is not None
        assert sut.st.store.get("meter:1")[E] == 5600.0  # persisted as the continued transaction's latest
        await sut.feed("meter", 1, {E: 6100.0})
        await sut.feed("plug", 1, 1, False)
        ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert ended["transactionInfo"]["transactionId"] == tx_id
        assert ended["transactionInfo"]["stoppedReason"] != "PowerLoss"
        assert energy(ended, "Transaction.End") == 6100.0
    finally:
        await sut.close()
