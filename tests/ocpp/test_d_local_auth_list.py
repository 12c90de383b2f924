"""OCTT group D (Local Authorization List): TC_D_01 full list + GetLocalListVersion, TC_D_02 differential
updates (add, update, remove), TC_D_03/D_04 VersionMismatch and Failed leave the old list intact, the
LocalAuthListCtrlr variables, the list consulted before the cache and the CSMS (LocalPreAuthorize,
LocalAuthorizeOffline, C14.FR.03 / DisablePostAuthorize, expiry, groupIdToken), persistence over a ``kill -9``,
and the seed flow: a private site whose CSMS is down authorizes its fleet card from the list (real coordinator,
HAL and simulator over mosquitto)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from josev.ocpp.service import OcppService
from tests.conftest import BusFactory
from tests.ocpp.conftest import FAST, StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.test_faults import Proc

FLEET = {"idToken": "FLEET01", "type": "ISO14443"}
GUEST = {"idToken": "GUEST", "type": "ISO14443"}
GROUP = {"idToken": "SITE-A", "type": "Central"}
ON = {"LocalAuthListCtrlr/Enabled": "true"}


def entry(token: dict[str, Any], status: str = "Accepted", **info: Any) -> dict[str, Any]:
    return {"idToken": token, "idTokenInfo": {"status": status, **info}}


def card(n: int) -> dict[str, Any]:
    return {"idToken": f"C{n:04d}", "type": "ISO14443"}


async def var(csms: ScriptedCsms, component: str, variable: str) -> str:
    res = await csms.call(
        "GetVariables",
        {"getVariableData": [{"component": {"name": component}, "variable": {"name": variable}}]},
    )
    return str(res["getVariableResult"][0]["attributeValue"])


async def version(csms: ScriptedCsms) -> int:
    return int((await csms.call("GetLocalListVersion", {}))["versionNumber"])


def auth_results(sut: StationUnderTest) -> list[dict[str, Any]]:
    return [r.data for r in sut.requests if r.kind == "authorization"]


async def started(sut: StationUnderTest, csms: ScriptedCsms) -> StationUnderTest:
    await sut.start()
    await csms.wait_for("StatusNotification")
    return sut


async def test_tc_d_01_full_list_version_and_variables(tmp_path: Path, csms: ScriptedCsms) -> None:
    sut = await started(StationUnderTest(make_config(tmp_path, csms.url, variables=ON)), csms)
    try:
        assert await version(csms) == 0
        res = await csms.call(
            "SendLocalList",
            {
                "versionNumber": 3,
                "updateType": "Full",
                "localAuthorizationList": [entry(card(n)) for n in range(5)],
            },
        )
        assert res == {"status": "Accepted"}
        assert await version(csms) == 3
        assert await var(csms, "LocalAuthListCtrlr", "Entries") == "5"
        assert int(await var(csms, "LocalAuthListCtrlr", "Storage")) > 5 * 40
        # a second full list replaces the first
        res = await csms.call(
            "SendLocalList",
            {"versionNumber": 4, "updateType": "Full", "localAuthorizationList": [entry(FLEET)]},
        )
        assert res["status"] == "Accepted" and await version(csms) == 4
        assert await var(csms, "LocalAuthListCtrlr", "Entries") == "1"
        # an empty full list clears it (the version stays what the CSMS sent)
        res = await csms.call("SendLocalList", {"versionNumber": 5, "updateType": "Full"})
        assert res["status"] == "Accepted" and await version(csms) == 5
        assert await var(csms, "LocalAuthListCtrlr", "Entries") == "0"
    finally:
        await sut.close()


async def test_tc_d_02_d_03_differential_updates_and_failures_keep_the_list(
    tmp_path: Path, csms: ScriptedCsms
) -> None:
    sut = await started(StationUnderTest(make_config(tmp_path, csms.url, variables=ON)), csms)
    st = sut.st
    try:
        full = [entry(card(n)) for n in range(3)]
        assert (
            await csms.call(
                "SendLocalList", {"versionNumber": 10, "updateType": "Full", "localAuthorizationList": full}
            )
        )["status"] == "Accepted"
        # differential: update C0000 to Blocked, remove C0001, add FLEET with a group
        diff = [entry(card(0), "Blocked"), {"idToken": card(1)}, entry(FLEET, groupIdToken=GROUP)]
        res = await csms.call(
            "SendLocalList",
            {"versionNumber": 11, "updateType": "Differential", "localAuthorizationList": diff},
        )
        assert res == {"status": "Accepted"}
        from josev.ocpp import localauthlist

        def snapshot() -> dict[str, str]:
            return {k: i["status"] for k, (_, i) in localauthlist.entries(st).items()}

        want = {"ISO14443:C0000": "Blocked", "ISO14443:C0002": "Accepted", "ISO14443:FLEET01": "Accepted"}
        assert snapshot() == want and await version(csms) == 11
        # TC_D_03: a differential update with a version not above the list's: VersionMismatch, nothing applied
        for v in (11, 7):
            res = await csms.call(
                "SendLocalList",
                {"versionNumber": v, "updateType": "Differential", "localAuthorizationList": [entry(GUEST)]},
            )
            assert res["status"] == "VersionMismatch"
            assert res["statusInfo"]["additionalInfo"] == "list version is 11"
        # too many items for one message: Failed, nothing applied
        many = [entry(card(n)) for n in range(100, 100 + 251)]
        res = await csms.call(
            "SendLocalList",
            {"versionNumber": 12, "updateType": "Differential", "localAuthorizationList": many},
        )
        assert res["status"] == "Failed" and res["statusInfo"]["reasonCode"] == "TooManyElements"
        # duplicates (D01.FR.06) and a full update without idTokenInfo: Failed
        res = await csms.call(
            "SendLocalList",
            {
                "versionNumber": 12,
                "updateType": "Full",
                "localAuthorizationList": [entry(GUEST), entry(GUEST)],
            },
        )
        assert res["statusInfo"]["reasonCode"] == "DuplicateEntries"
        res = await csms.call(
            "SendLocalList",
            {"versionNumber": 12, "updateType": "Full", "localAuthorizationList": [{"idToken": GUEST}]},
        )
        assert res["status"] == "Failed" and res["statusInfo"]["reasonCode"] == "MissingIdTokenInfo"
        res = await csms.call("SendLocalList", {"versionNumber": 0, "updateType": "Full"})
        assert res["status"] == "Failed"  # D01.FR.18: versionNumber > 0
        assert snapshot() == want and await version(csms) == 11
        assert await var(csms, "LocalAuthListCtrlr", "Entries") == "3"
        # disabled: the list is refused and its version reads 0
        st.dm.put("LocalAuthListCtrlr", "Enabled", "false")
        res = await csms.call("SendLocalList", {"versionNumber": 20, "updateType": "Full"})
        assert res["status"] == "Failed" and res["statusInfo"]["reasonCode"] == "Disabled"
        assert await version(csms) == 0
        st.dm.put("LocalAuthListCtrlr", "Enabled", "true")
        assert await version(csms) == 11
    finally:
        await sut.close()


async def test_list_before_cache_and_csms(tmp_path: Path, csms: ScriptedCsms) -> None:
    """C14/D01: LocalPreAuthorize answers from the list without Authorize; a listed token that is not Accepted
    is still asked of the CSMS (C14.FR.03) unless DisablePostAuthorize; expired entries are Expired offline;
    listed tokens are not copied into the cache; the list's groupIdToken lets a colleague stop."""
    sut = await started(StationUnderTest(make_config(tmp_path, csms.url, variables=ON)), csms)
    st = sut.st
    try:
        blocked = {"idToken": "BLK", "type": "ISO14443"}
        old = {"idToken": "OLD", "type": "ISO14443"}
        colleague = {"idToken": "COLL", "type": "ISO14443"}
        lst = [
            entry(FLEET, groupIdToken=GROUP),
            entry(colleague, groupIdToken=GROUP),
            entry(blocked, "Blocked"),
            entry(old, cacheExpiryDateTime="2020-01-01T00:00:00Z"),
        ]
        await csms.call(
            "SendLocalList", {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": lst}
        )
        st.dm.put("AuthCtrlr", "LocalPreAuthorize", "true")
        await sut.feed("plug", 1, 1, True)
        await sut.feed("present_token", 1, FLEET)
        tx = await csms.wait_for("TransactionEvent")
        assert tx["idToken"] == FLEET and "Authorize" not in [a for a, _ in csms.received]
        assert auth_results(sut)[-1] == {
            "evse": 1,
            "idToken": FLEET,
            "status": "Accepted",
            "source": "local-list",
        }
        assert st.store.cache_get("ISO14443:FLEET01", 0) is None  # not copied into the cache
        # a colleague of the same group (from the list) stops the transaction
        await sut.feed("present_token", None, colleague)
        ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert ended["idToken"] == colleague and ended["transactionInfo"]["stoppedReason"] == "Local"
        # Blocked in the list: Authorize is still sent (C14.FR.03) and the CSMS decides
        csms.responders["Authorize"] = lambda p: {"idTokenInfo": {"status": "Blocked"}}
        await sut.feed("present_token", 2, blocked)
        await csms.wait_for("Authorize")
        await asyncio.sleep(0.1)
        assert auth_results(sut)[-1]["status"] == "Blocked"
        st.dm.put("LocalAuthListCtrlr", "DisablePostAuthorize", "true")
        await sut.feed("present_token", 2, blocked)
        assert len(csms.actions("Authorize")) == 1
        assert auth_results(sut)[-1] == {
            "evse": 2,
            "idToken": blocked,
            "status": "Blocked",
            "source": "local-list",
        }
        # offline: the expired entry is refused as Expired, the fleet card still accepted
        await csms.stop()
        await asyncio.sleep(0.1)
        await sut.feed("present_token", 2, old)
        assert auth_results(sut)[-1]["status"] == "Expired"
        await sut.feed("present_token", 2, FLEET)
        assert auth_results(sut)[-1] == {
            "evse": 2,
            "idToken": FLEET,
            "status": "Accepted",
            "source": "local-list",
        }
    finally:
        await sut.close()


async def test_list_survives_kill9_and_authorizes_offline(tmp_path: Path, csms: ScriptedCsms) -> None:
    cfg = {
        "identity": "CS-LIST",
        "csms_url": csms.url,
        "database": str(tmp_path / "list.sqlite"),
        "workdir": str(tmp_path / "work"),
        "evses": {"1": 1},
        "variables": {**FAST, **ON},
    }
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    proc = Proc(path)
    await proc.start()
    try:
        await csms.wait_for("StatusNotification")
        res = await csms.call(
            "SendLocalList",
            {"versionNumber": 7, "updateType": "Full", "localAuthorizationList": [entry(FLEET)]},
        )
        assert res["status"] == "Accepted"
        await proc.kill9()
        await csms.stop()  # the CSMS is down when the station comes back
        await proc.start()
        proc.n = 0
        await proc.cmd("plug 1 1")
        await proc.cmd("token 1 FLEET01")
        await proc.cmd("token 1 GUEST")  # not in the list: refused offline, no transaction change
        await csms.start()
        tx = await csms.wait_for("TransactionEvent", lambda p: "idToken" in p, timeout=10)
        assert tx["idToken"] == FLEET and tx["offline"] is True
        assert await version(csms) == 7
    finally:
        await proc.close()


async def test_seed_private_site_csms_down_fleet_card_from_list(
    tmp_path: Path, csms: ScriptedCsms, bus_factory: BusFactory
) -> None:
    """A private site whose CSMS is down: the fleet card presented at the reader (the coordinator's
    PresentToken) is authorized from the local list, the EV charges, and the TransactionEvent queued offline
    carries the card; a visitor's card is refused."""
    from hal.sim import SimEv
    from josev.api import coordinator as co
    from tests.coordinator.rig import start_station, until

    rig = await start_station(bus_factory, 1)
    svc = OcppService(make_config(tmp_path, csms.url, evses={1: 1}, variables=ON))
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(await bus_factory("ocpp"), stop))
    try:
        await csms.wait_for("StatusNotification")
        res = await csms.call(
            "SendLocalList",
            {
                "versionNumber": 1,
                "updateType": "Full",
                "localAuthorizationList": [entry(FLEET, cacheExpiryDateTime="2099-01-01T00:00:00Z")],
            },
        )
        assert res["status"] == "Accepted"
        await csms.stop()
        await until(lambda: svc.client is not None and not svc.client.station.online, what="offline")
        rig.board.sim(1).plug(SimEv(auto_ready=True, max_current_a=16.0))
        await until(lambda: rig.obs.status[1].state == "plugged", what="plugged")
        await rig.cli.request(co.PresentToken(id_token="GUEST"), 1)
        await asyncio.sleep(0.3)
        assert rig.obs.status[1].state == "plugged"  # the visitor is not let in
        await rig.cli.request(co.PresentToken(id_token="FLEET01"), 1)
        await until(lambda: rig.obs.status[1].state == "charging", what="charging from the local list")
        assert rig.obs.last(1, "authorized").id_token == "FLEET01"
        queued = [m.payload for m in svc.client.station.store.queued() if m.action == "TransactionEvent"]  # type: ignore[union-attr]
        with_token = [p for p in queued if "idToken" in p]
        assert with_token and with_token[0]["idToken"] == FLEET and with_token[0]["offline"] is True
        await csms.start()
        got = await csms.wait_for("TransactionEvent", lambda p: "idToken" in p, timeout=10)
        assert got["idToken"] == FLEET and got["offline"] is True
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await rig.close()
