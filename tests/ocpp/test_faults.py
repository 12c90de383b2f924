"""Fault tests: CSMS down for a whole transaction, connection flapping, station killed with kill -9
mid-transaction and restarted (every TransactionEvent once, in order, seqNo continuous, offline flag right),
malformed CSMS frames answered with the right CALLERROR while the connection stays up."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ocpp.conftest import FAST, StationUnderTest
from tests.ocpp.harness import ScriptedCsms

ROOT = Path(__file__).resolve().parents[2]
TAG = {"idToken": "TAG1", "type": "ISO14443"}


def tx_events(csms: ScriptedCsms) -> list[dict[str, Any]]:
    """TransactionEvents as a CSMS records them: first occurrence of each (transactionId, seqNo).

    Delivery is at-least-once: when the connection drops between the CSMS receiving a message and the station
    receiving the response, the station sends it again (byte-identical, same seqNo; checked below)."""
    out, seen = [], set()
    for e in csms.actions("TransactionEvent"):
        key = (e["transactionInfo"]["transactionId"], e["seqNo"])
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def assert_retransmissions_identical(csms: ScriptedCsms) -> None:
    """Every TransactionEvent received more than once is a byte-identical retransmission (same seqNo)."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for e in csms.actions("TransactionEvent"):
        key = (e["transactionInfo"]["transactionId"], e["seqNo"])
        assert seen.setdefault(key, e) == e


def assert_once_in_order(evs: list[dict[str, Any]]) -> None:
    assert [e["seqNo"] for e in evs] == list(range(len(evs))), [e["seqNo"] for e in evs]
    assert evs[0]["eventType"] == "Started" and evs[-1]["eventType"] == "Ended"
    assert all(e["eventType"] == "Updated" for e in evs[1:-1])
    assert len({e["transactionInfo"]["transactionId"] for e in evs}) == 1


async def test_csms_down_for_whole_transaction(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    station.st.dm.put("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "true")
    await csms.stop()
    await asyncio.sleep(0.1)
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, TAG)
    for wh in range(0, 5000, 1000):
        await station.feed("meter", 1, {"Energy.Active.Import.Register": float(wh)})
        await station.feed("charging_state", 1, "Charging" if wh % 2000 == 0 else "SuspendedEV")
    await station.feed("plug", 1, 1, False)
    queued = station.st.store.queue_length()
    await csms.start()
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", timeout=5)
    evs = tx_events(csms)
    assert len(evs) == queued
    assert_once_in_order(evs)
    assert all(e.get("offline") is True for e in evs)


async def test_connection_flapping(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("StatusNotification", count=2)
    await station.feed("plug", 1, 1, True)
    await station.feed("present_token", 1, TAG)
    await csms.wait_for("TransactionEvent")
    states = ["Charging", "SuspendedEV"]
    for i in range(30):
        await station.feed("charging_state", 1, states[i % 2])
        if i % 5 == 4:
            await csms.drop()
        await asyncio.sleep(0.03)
    await station.feed("plug", 1, 1, False)
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", timeout=8)
    evs = tx_events(csms)
    assert len(evs) == 32
    assert_once_in_order(evs)
    assert_retransmissions_identical(csms)
    assert csms.connections >= 4


def _write_cfg(tmp_path: Path, url: str) -> Path:
    cfg = {
        "identity": "CS-KILL",
        "csms_url": url,
        "database": str(tmp_path / "kill.sqlite"),
        "workdir": str(tmp_path / "work"),
        "evses": {"1": 1},
        "variables": FAST,
    }
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    return path


class Proc:
    def __init__(self, cfg: Path) -> None:
        self.cfg = cfg
        self.p: asyncio.subprocess.Process | None = None
        self.n = 0

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.p = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.ocpp.station_proc",
            str(self.cfg),
            cwd=str(ROOT),
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )

    async def cmd(self, line: str) -> None:
        assert self.p is not None and self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write((line + "\n").encode())
        await self.p.stdin.drain()
        self.n += 1
        reply = await asyncio.wait_for(self.p.stdout.readline(), 5)
        assert reply.decode().strip() == f"ok {self.n}"

    async def kill9(self) -> None:
        assert self.p is not None
        os.kill(self.p.pid, signal.SIGKILL)
        await self.p.wait()

    async def close(self) -> None:
        if self.p is not None and self.p.returncode is None:
            self.p.kill()
            await self.p.wait()


@pytest.mark.parametrize("online_at_kill", [True, False])
async def test_kill9_mid_transaction_and_restart(
    tmp_path: Path, csms: ScriptedCsms, online_at_kill: bool
) -> None:
    cfg = _write_cfg(tmp_path, csms.url)
    proc = Proc(cfg)
    await proc.start()
    try:
        await csms.wait_for("StatusNotification", timeout=10)
        await proc.cmd("meter 1 100")
        await proc.cmd("plug 1 1")
        await proc.cmd("token 1 TAG1")
        await csms.wait_for("TransactionEvent")
        await proc.cmd("charge 1 Charging")
        await csms.wait_for("TransactionEvent", count=2)
        if not online_at_kill:
            await csms.stop()
            await asyncio.sleep(0.1)
        await proc.cmd("meter 1 900")
        await proc.cmd("charge 1 SuspendedEV")
        await proc.cmd("charge 1 Charging")
        if online_at_kill:
            await csms.wait_for("TransactionEvent", count=4)
        await proc.kill9()
        n_before = len(tx_events(csms))
        if not online_at_kill:
            await csms.start()
        proc2 = Proc(cfg)
        await proc2.start()
        try:
            await csms.wait_for("BootNotification", count=2, timeout=10)
            await proc2.cmd("meter 1 2500")
            await proc2.cmd("token 1 TAG1")  # the same card ends the transaction
            await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", timeout=10)
        finally:
            await proc2.close()
        evs = tx_events(csms)
        assert_retransmissions_identical(csms)
        assert len(evs) == 5
        assert_once_in_order(evs)
        offline = [bool(e.get("offline")) for e in evs]
        if online_at_kill:
            assert offline == [False] * 5
        else:
            assert offline == [False, False, True, True, False]
            assert n_before == 2
        assert evs[-1]["transactionInfo"]["stoppedReason"] == "Local"
        assert evs[-1]["meterValue"][0]["sampledValue"][0]["value"] == 2500.0
    finally:
        await proc.close()


MALFORMED = [
    ("not json", "-1", "RpcFrameworkError"),
    ('{"a": 1}', "-1", "RpcFrameworkError"),
    ('[7, "m1", "Heartbeat", {}]', "m1", "MessageTypeNotSupported"),
    ('[2, "m2", "FooBar", {}]', "m2", "NotImplemented"),
    ('[2, "m3", "PublishFirmware", {"location": "x"}]', "m3", "NotSupported"),  # local controller only
    ('[2, "m4", "Reset", {}]', "m4", "OccurrenceConstraintViolation"),
    ('[2, "m5", "Reset", {"type": 5}]', "m5", "TypeConstraintViolation"),
    ('[2, "m6", "Reset", {"type": "Sometimes"}]', "m6", "PropertyConstraintViolation"),
    ('[2, "m7", "Reset", {"type": "Immediate", "bogus": 1}]', "m7", "FormatViolation"),
    ('[2, "m8", "Reset", "x"]', "m8", "FormatViolation"),
    (
        '[2, "m9", "UpdateFirmware", {"requestId": 1, "firmware": {"location": "http://x/y", '
        '"retrieveDateTime": "yesterday"}}]',
        "m9",
        "PropertyConstraintViolation",
    ),
    (
        '[2, "m10", "GetLog", {"logType": "DiagnosticsLog", "requestId": 1, "log": {"remoteLocation": "nowhere"}}]',
        "m10",
        "PropertyConstraintViolation",
    ),
]


async def test_malformed_frames_get_callerror_connection_stays(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    await csms.wait_for("StatusNotification", count=2)
    for text, uid, code in MALFORMED:
        reply = await csms.call_raw(text, uid=uid)
        assert reply[0] == 4 and reply[1] == uid and reply[2] == code, (text, reply)
    # a CALLRESULT for an id we never sent is ignored
    assert csms.conn is not None
    await csms.conn.send('[3, "nobody", {}]')
    res = await csms.call(
        "GetVariables",
        {
            "getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        },
    )
    assert res["getVariableResult"][0]["attributeStatus"] == "Accepted"
    assert csms.connections == 1
    assert station.st.stats["callerrors_sent"] == len(MALFORMED)
