"""Charging profiles survive a ``kill -9`` of the station process (real process, real SQLite file): the
restarted station reports the same profiles (GetChargingProfiles) and computes the same composite schedule."""

from __future__ import annotations

import json
from pathlib import Path

import tests.ocpp.test_faults as faults
from tests.ocpp.conftest import FAST
from tests.ocpp.harness import ScriptedCsms

DEFAULT = {
    "id": 3,
    "stackLevel": 2,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Recurring",
    "recurrencyKind": "Daily",
    "chargingSchedule": [
        {
            "id": 1,
            "startSchedule": "2026-01-01T00:00:00Z",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 13.0}],
        }
    ],
}
MAX = {
    "id": 4,
    "stackLevel": 0,
    "chargingProfilePurpose": "ChargingStationMaxProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [
        {
            "id": 1,
            "startSchedule": "2026-01-01T00:00:00Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6900.0}],
        }
    ],
}


async def test_kill9_keeps_charging_profiles(tmp_path: Path, csms: ScriptedCsms) -> None:
    csms.responders["ReportChargingProfiles"] = lambda p: {}
    cfg = {
        "identity": "CS-K9",
        "csms_url": csms.url,
        "database": str(tmp_path / "k9.sqlite"),
        "workdir": str(tmp_path / "work"),
        "evses": {"1": 1, "2": 1},
        "variables": FAST,
    }
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    proc = faults.Proc(path)
    await proc.start()
    try:
        await csms.wait_for("BootNotification", timeout=10)
        await csms.wait_connected()
        assert (await csms.call("SetChargingProfile", {"evseId": 1, "chargingProfile": DEFAULT}))[
            "status"
        ] == ("Accepted")
        assert (await csms.call("SetChargingProfile", {"evseId": 0, "chargingProfile": MAX}))["status"] == (
            "Accepted"
        )
        await proc.kill9()
        await proc.start()
        await csms.wait_for("BootNotification", count=2, timeout=10)
        await csms.wait_connected(count=2)
        res = await csms.call("GetChargingProfiles", {"requestId": 1, "chargingProfile": {}})
        assert res == {"status": "Accepted"}
        await csms.wait_for("ReportChargingProfiles", count=2)
        reports = {r["evseId"]: r["chargingProfile"] for r in csms.actions("ReportChargingProfiles")}
        assert reports == {0: [MAX], 1: [DEFAULT]}
        res = await csms.call("GetCompositeSchedule", {"duration": 60, "evseId": 1, "chargingRateUnit": "A"})
        # min(13 A, 6900 W / 690 V = 10 A)
        assert res["schedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 10.0, "numberPhases": 3}
        ]
        got = await csms.call(
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "SmartChargingCtrlr"},
                        "variable": {"name": "Entries", "instance": "ChargingProfiles"},
                    }
                ]
            },
        )
        assert got["getVariableResult"][0]["attributeValue"] == "2"
    finally:
        await proc.close()
