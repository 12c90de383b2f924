"""Interop with an independent CSMS: the npm package ``ocpp-rpc`` in strict mode (tests/ocpp/peers/). It
validates every message of the station against the official OCPP 2.0.1 schemas, formats included. Covers
boot, device model, a full transaction with meter values, remote start/stop, reset, availability, unlock and
firmware; the test requires zero strict-validation failures."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import now_iso
from tests.ocpp.httpd import FileServer
from tests.ocpp.pki import make_cert, sign

PEERS = Path(__file__).parent / "peers"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        NODE is None or not (PEERS / "node_modules" / "ocpp-rpc").is_dir(),
        reason="node or tests/ocpp/peers/node_modules (npm install) missing",
    ),
]


class StrictCsms:
    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[dict[str, Any]] = []
        self.port = 0
        self._ids = 0
        self._results: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._new = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        assert NODE is not None
        self.proc = await asyncio.create_subprocess_exec(
            NODE,
            str(PEERS / "csms_strict.js"),
            cwd=str(PEERS),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        first = await self.wait(lambda m: m["type"] == "listening", timeout=10)
        self.port = first["port"]

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            msg = json.loads(line)
            self.lines.append(msg)
            if msg["type"] == "result" and msg["id"] in self._results:
                self._results.pop(msg["id"]).set_result(msg)
            self._new.set()

    async def wait(self, pred: Any, timeout: float = 5.0, count: int = 1) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            while True:
                hits = [m for m in self.lines if pred(m)]
                if len(hits) >= count:
                    return hits[count - 1]
                self._new.clear()
                await self._new.wait()

        return await asyncio.wait_for(go(), timeout)

    async def wait_call(self, method: str, pred: Any = lambda p: True, **kw: Any) -> dict[str, Any]:
        msg = await self.wait(
            lambda m: m["type"] == "call" and m["method"] == method and pred(m["params"]), **kw
        )
        return dict(msg["params"])

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self._ids += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._results[self._ids] = fut
        self.proc.stdin.write(
            (json.dumps({"id": self._ids, "method": method, "params": params}) + "\n").encode()
        )
        await self.proc.stdin.drain()
        msg = await asyncio.wait_for(fut, 10)
        assert "error" not in msg, msg
        return dict(msg["result"])

    def failures(self) -> list[dict[str, Any]]:
        return [m for m in self.lines if m["type"] == "failure"]

    async def close(self) -> None:
        if self.proc is not None:
            if self.proc.returncode is None:
                self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()


async def test_ocpp_rpc_strict_core_session(tmp_path: Path) -> None:
    peer = StrictCsms()
    await peer.start()
    sut = StationUnderTest(
        make_config(
            tmp_path,
            f"ws://127.0.0.1:{peer.port}",
            variables={
                "SampledDataCtrlr/TxUpdatedInterval": "1",
                "AlignedDataCtrlr/Interval": "1",
                "SampledDataCtrlr/TxEndedMeasurands": "Energy.Active.Import.Register,Power.Active.Import",
            },
        )
    )
    http = FileServer()
    try:
        await sut.start()
        # boot
        await peer.wait(lambda m: m["type"] == "connected")
        await peer.wait_call("BootNotification")
        await peer.wait_call("StatusNotification", count=2)
        await peer.wait_call("SecurityEventNotification")
        # device model
        gv = await peer.call(
            "GetVariables",
            {
                "getVariableData": [
                    {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
                    {"component": {"name": "ClockCtrlr"}, "variable": {"name": "DateTime"}},
                    {"component": {"name": "Nope"}, "variable": {"name": "X"}},
                ]
            },
        )
        assert [r["attributeStatus"] for r in gv["getVariableResult"]] == [
            "Accepted",
            "Accepted",
            "UnknownComponent",
        ]
        sv = await peer.call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                        "attributeValue": "600",
                    }
                ]
            },
        )
        assert sv["setVariableResult"][0]["attributeStatus"] == "Accepted"
        assert (await peer.call("GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}))[
            "status"
        ] == "Accepted"
        await peer.wait_call("NotifyReport", lambda p: not p["tbc"])
        # full transaction with meter values (local authorization)
        await sut.feed("meter", 1, {"Energy.Active.Import.Register": 1000.0, "Power.Active.Import": 0.0})
        await sut.feed("plug", 1, 1, True)
        await sut.feed("present_token", 1, {"idToken": "RFID-0001", "type": "ISO14443"})
        await peer.wait_call("Authorize")
        await sut.feed("charging_state", 1, "Charging")
        await sut.feed("meter", 1, {"Energy.Active.Import.Register": 1500.0, "Power.Active.Import": 11000.0})
        await peer.wait_call(
            "TransactionEvent", lambda p: p["triggerReason"] == "MeterValuePeriodic", timeout=4
        )
        await peer.wait_call("TransactionEvent", lambda p: p["triggerReason"] == "MeterValueClock", timeout=4)
        await sut.feed("meter", 2, {"Energy.Active.Import.Register": 10.0})
        await peer.wait_call("MeterValues", lambda p: p["evseId"] == 2, timeout=4)  # clock-aligned, idle EVSE
        await sut.feed("plug", 1, 1, False)
        await peer.wait_call("TransactionEvent", lambda p: p["eventType"] == "Ended")
        # remote start / stop
        rs = await peer.call(
            "RequestStartTransaction",
            {"evseId": 2, "remoteStartId": 9, "idToken": {"idToken": "APP-1", "type": "Central"}},
        )
        assert rs["status"] == "Accepted"
        await sut.feed("plug", 2, 1, True)
        started = await peer.wait_call(
            "TransactionEvent", lambda p: p["eventType"] == "Started" and p["evse"]["id"] == 2
        )
        assert started["transactionInfo"]["remoteStartId"] == 9
        st = await peer.call(
            "RequestStopTransaction", {"transactionId": started["transactionInfo"]["transactionId"]}
        )
        assert st["status"] == "Accepted"
        await peer.wait_call("TransactionEvent", lambda p: p["eventType"] == "Ended" and p["evse"]["id"] == 2)
        await sut.feed("plug", 2, 1, False)
        # availability, unlock, trigger
        ca = await peer.call("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}})
        assert ca["status"] == "Accepted"
        await peer.wait_call("StatusNotification", lambda p: p["connectorStatus"] == "Unavailable")
        assert (await peer.call("ChangeAvailability", {"operationalStatus": "Operative"}))[
            "status"
        ] == "Accepted"
        assert (await peer.call("UnlockConnector", {"evseId": 1, "connectorId": 1}))["status"] == "Unlocked"
        assert (await peer.call("TriggerMessage", {"requestedMessage": "Heartbeat"}))["status"] == "Accepted"
        await peer.wait_call("Heartbeat")
        assert (await peer.call("DataTransfer", {"vendorId": "x.unknown"}))["status"] == "UnknownVendorId"
        # firmware
        mf_root = make_cert("Manufacturer Root", ca=True)
        signer = make_cert("Firmware Signer", mf_root)
        image = b"firmware" * 500
        http.files["/fw.bin"] = image
        ic = await peer.call(
            "InstallCertificate",
            {"certificateType": "ManufacturerRootCertificate", "certificate": mf_root.pem},
        )
        assert ic["status"] == "Accepted"
        ids = await peer.call("GetInstalledCertificateIds", {})
        assert ids["status"] == "Accepted"
        uf = await peer.call(
            "UpdateFirmware",
            {
                "requestId": 3,
                "firmware": {
                    "location": http.url("/fw.bin"),
                    "retrieveDateTime": now_iso(),
                    "signingCertificate": signer.pem,
                    "signature": base64.b64encode(sign(image, signer)).decode(),
                },
            },
        )
        assert uf["status"] == "Accepted"
        await peer.wait_call("FirmwareStatusNotification", lambda p: p["status"] == "Installed", timeout=5)
        # reset
        assert (await peer.call("Reset", {"type": "Immediate"}))["status"] == "Accepted"
        await peer.wait_call("BootNotification", count=2, timeout=5)
        await peer.wait_call("StatusNotification", count=2)
        await asyncio.sleep(0.2)
        assert peer.failures() == [], peer.failures()
        calls = {m["method"] for m in peer.lines if m["type"] == "call"}
        assert {
            "BootNotification",
            "StatusNotification",
            "Authorize",
            "TransactionEvent",
            "NotifyReport",
            "FirmwareStatusNotification",
            "SecurityEventNotification",
            "Heartbeat",
        } <= calls
    finally:
        http.close()
        await sut.close()
        await peer.close()


async def test_ocpp_rpc_strict_mode_detects_invalid_messages(tmp_path: Path) -> None:
    """Control: the peer really flags a schema violation (so zero failures above means something)."""
    peer = StrictCsms()
    await peer.start()
    sut = StationUnderTest(make_config(tmp_path, f"ws://127.0.0.1:{peer.port}"))
    try:
        await sut.start()
        await peer.wait_call("BootNotification")
        assert sut.client.ws is not None
        await sut.client.ws.send(
            '[2,"bad-1","StatusNotification",{"timestamp":"yesterday","connectorStatus":'
            '"Available","evseId":1,"connectorId":1}]'
        )
        fail = await peer.wait(lambda m: m["type"] == "failure")
        assert fail["method"] == "StatusNotification"
    finally:
        await sut.close()
        await peer.close()
