"""Persistence of the four OCA profiles over a real ``kill -9`` of the station process: the local list and its
version, a reservation (Reserved again at boot, still refusing other cards and consumed by its driver), display
messages and custom monitors all come back from the SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.ocpp.conftest import FAST
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.test_faults import Proc


def later(seconds: float) -> str:
    return (
        (datetime.now(UTC) + timedelta(seconds=seconds))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


async def test_everything_survives_kill9(tmp_path: Path, csms: ScriptedCsms) -> None:
    cfg = {
        "identity": "CS-OCA",
        "csms_url": csms.url,
        "database": str(tmp_path / "oca.sqlite"),
        "workdir": str(tmp_path / "work"),
        "evses": {"1": 1, "2": 1},
        "variables": {**FAST, "LocalAuthListCtrlr/Enabled": "true"},
    }
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    driver = {"idToken": "DRIVER", "type": "ISO14443"}
    proc = Proc(path)
    await proc.start()
    try:
        await csms.wait_for("StatusNotification", count=2)
        entry = {"idToken": driver, "idTokenInfo": {"status": "Accepted"}}
        res = await csms.call(
            "SendLocalList", {"versionNumber": 4, "updateType": "Full", "localAuthorizationList": [entry]}
        )
        assert res["status"] == "Accepted"
        res = await csms.call(
            "ReserveNow", {"id": 8, "expiryDateTime": later(600), "idToken": driver, "evseId": 2}
        )
        assert res["status"] == "Accepted"
        await csms.wait_for("StatusNotification", lambda p: p["connectorStatus"] == "Reserved")
        msg = {"id": 3, "priority": "InFront", "message": {"format": "UTF8", "content": "Closed on Sunday"}}
        assert (await csms.call("SetDisplayMessage", {"message": msg}))["status"] == "Accepted"
        mon = {
            "type": "UpperThreshold",
            "value": 253,
            "severity": 1,
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "Voltage"},
        }
        res = await csms.call("SetVariableMonitoring", {"setMonitoringData": [mon]})
        mid = res["setMonitoringResult"][0]["id"]
        await proc.kill9()
        await proc.start()
        proc.n = 0
        await csms.wait_for("BootNotification", count=2, timeout=10)
        boot_status = await csms.wait_for(
            "StatusNotification", lambda p: p["evseId"] == 2, count=2, timeout=10
        )
        assert boot_status["connectorStatus"] == "Reserved"
        assert (await csms.call("GetLocalListVersion", {}))["versionNumber"] == 4
        assert (await csms.call("GetDisplayMessages", {"requestId": 1}))["status"] == "Accepted"
        shown = await csms.wait_for("NotifyDisplayMessages")
        assert [m["message"]["content"] for m in shown["messageInfo"]] == ["Closed on Sunday"]
        assert (
            await csms.call(
                "GetMonitoringReport", {"requestId": 2, "monitoringCriteria": ["ThresholdMonitoring"]}
            )
        )["status"] == "Accepted"
        rep = await csms.wait_for("NotifyMonitoringReport")
        assert [m["variableMonitoring"][0]["id"] for m in rep["monitor"]] == [mid]
        # the reservation still refuses others and is consumed by its driver (from the local list)
        await proc.cmd("plug 2 1")
        await proc.cmd("token 2 OTHER")
        await proc.cmd("token 2 DRIVER")
        tx = await csms.wait_for("TransactionEvent", lambda p: "idToken" in p, timeout=10)
        assert tx["idToken"] == driver and tx["reservationId"] == 8
        # OTHER was refused by the reservation without asking the CSMS (LocalPreAuthorize is off: DRIVER was)
        assert [p["idToken"]["idToken"] for p in csms.actions("Authorize")] == ["DRIVER"]
    finally:
        await proc.close()
