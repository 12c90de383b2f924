"""Timers run while the CSMS is unreachable: sampled meter values and EVConnectionTimeOut are due offline too.

The real OCPP client against a scripted CSMS over a real WebSocket. A transaction charges on EVSE 1
(TxUpdatedInterval 1 s, the meter rising every 0.5 s); on EVSE 2 a card was accepted but no cable follows
(EVConnectionTimeOut 2 s). The CSMS goes away for ~4.5 s and comes back. Before the fix the client only ran its
timers while connected: no MeterValuePeriodic sample was created during the outage and the connection timeout
did not fire.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms

E = "Energy.Active.Import.Register"


def energy(ev: dict[str, Any]) -> float:
    return float(
        next(sv["value"] for mv in ev["meterValue"] for sv in mv["sampledValue"] if sv["measurand"] == E)
    )


def ts(ev: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(ev["timestamp"].replace("Z", "+00:00"))


async def test_samples_and_connection_timeout_while_offline(tmp_path: Path) -> None:
    csms = ScriptedCsms()
    await csms.start()
    cfg = make_config(
        tmp_path,
        csms.url,
        variables={
            "TxCtrlr/TxStartPoint": "EVConnected,Authorized",
            "TxCtrlr/EVConnectionTimeOut": "2",
            "SampledDataCtrlr/TxUpdatedInterval": "1",
            "SampledDataCtrlr/TxUpdatedMeasurands": E,
            "OCPPCommCtrlr/RetryBackOffWaitMinimum": "1",
        },
    )
    sut = StationUnderTest(cfg)
    await sut.start()
    try:
        await csms.wait_for("BootNotification", timeout=5)
        await sut.feed("meter", 1, {E: 1000.0})
        await sut.feed("plug", 1, 1, True)
        await sut.feed("present_token", 1, {"idToken": "CARD-1", "type": "ISO14443"})
        await sut.feed("charging_state", 1, "Charging")
        await sut.feed("present_token", 2, {"idToken": "CARD-2", "type": "ISO14443"})
        started2 = await csms.wait_for("TransactionEvent", lambda p: p["evse"]["id"] == 2, timeout=5)
        tx1 = (await csms.wait_for("TransactionEvent", lambda p: p["evse"]["id"] == 1, timeout=5))[
            "transactionInfo"
        ]["transactionId"]

        await csms.stop()  # the CSMS is unreachable
        for i in range(1, 10):
            await asyncio.sleep(0.5)
            await sut.feed("meter", 1, {E: 1000.0 + 10 * i})
        assert not sut.client.connected.is_set()
        await csms.start()

        ended2 = await csms.wait_for(
            "TransactionEvent", lambda p: p["evse"]["id"] == 2 and p["eventType"] == "Ended", timeout=10
        )
        assert ended2["triggerReason"] == "EVConnectTimeout" and ended2.get("offline") is True, ended2
        assert ended2["transactionInfo"]["stoppedReason"] == "Timeout"
        assert 1.5 <= (ts(ended2) - ts(started2)).total_seconds() <= 3.5, (started2, ended2)

        await csms.wait_for(
            "TransactionEvent",
            lambda p: (
                p["evse"]["id"] == 1 and p["triggerReason"] == "MeterValuePeriodic" and not p.get("offline")
            ),
            timeout=10,
        ) if True else None
        evs = [e for e in csms.actions("TransactionEvent") if e["transactionInfo"]["transactionId"] == tx1]
        seqs = [e["seqNo"] for e in evs]
        assert seqs == list(range(len(evs))), seqs  # delivered once each, in order
        offline = [e for e in evs if e["triggerReason"] == "MeterValuePeriodic" and e.get("offline")]
        assert len(offline) >= 3, [(e["seqNo"], e["triggerReason"], e.get("offline")) for e in evs]
        values = [energy(e) for e in offline]
        assert (
            values == sorted(values) and values[-1] > values[0] and all(1000.0 <= v <= 1090.0 for v in values)
        )
        times = [ts(e) for e in offline]
        assert times == sorted(times)
        assert all(0.7 <= (b - a).total_seconds() <= 1.6 for a, b in itertools.pairwise(times)), times
    finally:
        await sut.close()
        await csms.stop()
