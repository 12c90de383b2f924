"""Interop of smart charging with an independent CSMS: the npm package ``ocpp-rpc`` in strict mode sends
SetChargingProfile (every purpose, absolute / relative / recurring, A and W, valid and invalid),
GetChargingProfiles, GetCompositeSchedule, ClearChargingProfile and RequestStartTransaction with a TxProfile;
the station answers and sends ReportChargingProfiles, NotifyChargingLimit and ClearedChargingLimit. The peer
validates every message in both directions: zero strict-validation failures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from josev.ocpp.smartcharging import composite as C
from josev.ocpp.smartcharging import messages as smart
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.test_interop_ocpp_rpc import StrictCsms, pytestmark  # noqa: F401  (same skip conditions)


def prof(pid: int, purpose: str, kind: str, unit: str = "A", **kw: Any) -> dict[str, Any]:
    sched: dict[str, Any] = {
        "id": pid,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16.0 if unit == "A" else 11000.0},
            {
                "startPeriod": 3600,
                "limit": 10.0 if unit == "A" else 6900.0,
                "numberPhases": 1,
            },
        ],
        "duration": 7200,
        "minChargingRate": 6.0,
    }
    if kind != "Relative":
        sched["startSchedule"] = "2026-01-05T00:00:00Z"
    out: dict[str, Any] = {
        "id": pid,
        "stackLevel": kw.pop("stackLevel", pid),
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [sched],
    }
    out.update(kw)
    return out


async def test_ocpp_rpc_strict_smart_charging(tmp_path: Path) -> None:
    peer = StrictCsms()
    await peer.start()
    sut = StationUnderTest(make_config(tmp_path, f"ws://127.0.0.1:{peer.port}"))
    try:
        await sut.start()
        await peer.wait_call("BootNotification")
        await peer.wait_call("StatusNotification", count=2)
        accepted = [
            (0, prof(1, "ChargingStationMaxProfile", "Absolute", "W")),
            (0, prof(2, "TxDefaultProfile", "Recurring", recurrencyKind="Daily")),
            (1, prof(3, "TxDefaultProfile", "Recurring", "W", recurrencyKind="Weekly")),
            (
                2,
                prof(
                    4,
                    "TxDefaultProfile",
                    "Relative",
                    validFrom="2026-01-01T00:00:00Z",
                    validTo="2099-01-01T00:00:00Z",
                ),
            ),
        ]
        for evse, p in accepted:
            res = await peer.call("SetChargingProfile", {"evseId": evse, "chargingProfile": p})
            assert res["status"] == "Accepted", (p["id"], res)
        rejected = [
            (3, prof(5, "TxDefaultProfile", "Relative")),
            (1, prof(6, "TxProfile", "Relative", transactionId="none")),
            (0, prof(7, "TxDefaultProfile", "Recurring")),
            (0, prof(9, "ChargingStationMaxProfile", "Relative", stackLevel=9)),
            (0, prof(2, "ChargingStationMaxProfile", "Absolute", stackLevel=1)),  # stack 1 already used
        ]
        for evse, p in rejected:
            res = await peer.call("SetChargingProfile", {"evseId": evse, "chargingProfile": p})
            assert res["status"] == "Rejected" and res["statusInfo"]["reasonCode"], (p["id"], res)
        res = await peer.call(
            "GetChargingProfiles", {"requestId": 11, "chargingProfile": {"chargingLimitSource": ["CSO"]}}
        )
        assert res["status"] == "Accepted"
        last = await peer.wait_call("ReportChargingProfiles", lambda p: not p.get("tbc", False))
        assert last["requestId"] == 11
        res = await peer.call(
            "GetChargingProfiles", {"requestId": 12, "chargingProfile": {"chargingProfileId": [42]}}
        )
        assert res["status"] == "NoProfiles"
        for evse, unit in ((0, "W"), (1, "A"), (2, "W"), (9, "A")):
            res = await peer.call(
                "GetCompositeSchedule", {"duration": 86400, "evseId": evse, "chargingRateUnit": unit}
            )
            assert res["status"] == ("Rejected" if evse == 9 else "Accepted"), res
        res = await peer.call("GetCompositeSchedule", {"duration": 600, "evseId": 1})
        assert res["schedule"]["chargingRateUnit"] == "A"
        # remote start with a TxProfile
        rs = await peer.call(
            "RequestStartTransaction",
            {
                "evseId": 1,
                "remoteStartId": 3,
                "idToken": {"idToken": "APP-1", "type": "Central"},
                "chargingProfile": prof(8, "TxProfile", "Relative", stackLevel=0),
            },
        )
        assert rs["status"] == "Accepted"
        await sut.feed("plug", 1, 1, True)
        await peer.wait_call("TransactionEvent", lambda p: p["eventType"] == "Started")
        # an EMS limit with its schedule, then cleared
        await sut.client.feed(lambda now: _ems(sut, 1, C.Limit(10.0, "A"), now))
        await peer.wait_call("NotifyChargingLimit")
        await sut.client.feed(lambda now: _ems(sut, 1, None, now))
        await peer.wait_call("ClearedChargingLimit")
        for payload in (
            {"chargingProfileId": 3},
            {
                "chargingProfileCriteria": {
                    "evseId": 0,
                    "chargingProfilePurpose": "ChargingStationMaxProfile",
                    "stackLevel": 1,
                }
            },
            {"chargingProfileId": 3},
            {},
        ):
            res = await peer.call("ClearChargingProfile", payload)
            assert res["status"] in ("Accepted", "Unknown")
        await asyncio.sleep(0.2)
        assert peer.failures() == [], peer.failures()
        calls = {m["method"] for m in peer.lines if m["type"] == "call"}
        assert {"ReportChargingProfiles", "NotifyChargingLimit", "ClearedChargingLimit"} <= calls
    finally:
        await sut.close()
        await peer.close()


def _ems(sut: StationUnderTest, evse: int, limit: C.Limit | None, now: float) -> list[Any]:
    st = sut.st
    st.dm.put("SmartChargingCtrlr", "NotifyChargingLimitWithSchedules", "true")
    assert smart.set_local_limit(st, evse, limit, now) is None
    st._pump(now)
    return list(st.take())
