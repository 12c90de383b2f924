"""OCTT groups O (display messages) and I (tariff and cost): TC_O_01..O_06 Set/Get/ClearDisplayMessage with
priorities, states, schedules and transaction-bound messages, NotSupportedMessageFormat / NotSupportedPriority /
UnknownTransaction; TC_I_01..I_03 the tariff from personalMessage (or TariffFallbackMessage), the running cost
(CostUpdated, totalCost of Updated responses) and the final cost (or TotalCostFallbackMessage), Currency; the
display bus message, the simulator board's display and ``josev status``; the seed flow: the station shows the
tariff before charging and the final cost after (real coordinator, HAL and simulator over mosquitto)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from josev.ocpp.service import OcppService
from tests.conftest import BusFactory
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms

A = {"idToken": "AAA", "type": "ISO14443"}


def at(seconds: float) -> str:
    return (
        (datetime.now(UTC) + timedelta(seconds=seconds))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def msg(
    mid: int, text: str, priority: str = "NormalCycle", fmt: str = "UTF8", lang: str | None = None, **kw: Any
) -> dict[str, Any]:
    content: dict[str, Any] = {"format": fmt, "content": text, **({"language": lang} if lang else {})}
    return {"message": {"id": mid, "priority": priority, "message": content, **kw}}


def shown(sut: StationUnderTest, evse: int) -> list[str]:
    views = [r.data for r in sut.requests if r.kind == "display" and r.data["evse"] == evse]
    return [line["text"] for line in views[-1]["lines"]] if views else []


def last_view(sut: StationUnderTest, evse: int) -> dict[str, Any]:
    return [r.data for r in sut.requests if r.kind == "display" and r.data["evse"] == evse][-1]


async def until(pred: Any, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met")


async def test_tc_o_01_o_05_set_get_clear_with_priorities(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    assert (await csms.call("SetDisplayMessage", msg(1, "Welcome to Site A")))["status"] == "Accepted"
    assert (await csms.call("SetDisplayMessage", msg(2, "Maintenance at 14:00", "InFront")))[
        "status"
    ] == "Accepted"
    assert (await csms.call("SetDisplayMessage", msg(3, "Storm warning", "AlwaysFront", lang="en")))[
        "status"
    ] == "Accepted"
    await until(lambda: len(shown(station, 1)) == 3 and len(shown(station, 2)) == 3)
    assert shown(station, 1) == ["Storm warning", "Maintenance at 14:00", "Welcome to Site A"]
    assert last_view(station, 1)["lines"][0] == {
        "text": "Storm warning",
        "format": "UTF8",
        "priority": "AlwaysFront",
        "source": "csms",
        "message_id": 3,
        "language": "en",
    }
    # the same id replaces the message
    await csms.call("SetDisplayMessage", msg(1, "Welcome to Site A (updated)"))
    await until(lambda: shown(station, 1)[-1] == "Welcome to Site A (updated)")
    res = await csms.call("GetDisplayMessages", {"requestId": 7, "priority": "InFront"})
    assert res["status"] == "Accepted"
    note = await csms.wait_for("NotifyDisplayMessages")
    assert note["requestId"] == 7 and [m["id"] for m in note["messageInfo"]] == [2]
    assert note["messageInfo"][0]["message"]["content"] == "Maintenance at 14:00"
    assert (await csms.call("GetDisplayMessages", {"requestId": 8, "id": [99]}))["status"] == "Unknown"
    assert (await csms.call("ClearDisplayMessage", {"id": 3}))["status"] == "Accepted"
    assert (await csms.call("ClearDisplayMessage", {"id": 3}))["status"] == "Unknown"
    await until(lambda: shown(station, 1) == ["Maintenance at 14:00", "Welcome to Site A (updated)"])


async def test_bad_input_refused_with_the_spec_status(tmp_path: Path, csms: ScriptedCsms) -> None:
    cfg = make_config(
        tmp_path, csms.url, variables={"DisplayMessageCtrlr/SupportedPriorities": "InFront,NormalCycle"}
    )
    sut = StationUnderTest(cfg)
    await sut.start()
    try:
        await csms.wait_for("StatusNotification")
        res = await csms.call("SetDisplayMessage", msg(1, "<b>hi</b>", fmt="HTML"))
        assert res["status"] == "NotSupportedMessageFormat"
        assert res["statusInfo"]["additionalInfo"] == "HTML cannot be shown"
        assert (await csms.call("SetDisplayMessage", msg(1, "x", "AlwaysFront")))[
            "status"
        ] == "NotSupportedPriority"
        res = await csms.call("SetDisplayMessage", msg(1, "x", transactionId="no-such-tx"))
        assert res["status"] == "UnknownTransaction"
        res = await csms.call(
            "SetDisplayMessage", msg(1, "x", display={"name": "Display", "evse": {"id": 7}})
        )
        assert res["status"] == "Rejected"
        res = await csms.call("SetDisplayMessage", msg(1, "x", endDateTime="2020-01-01T00:00:00Z"))
        assert res["status"] == "Rejected" and res["statusInfo"]["reasonCode"] == "InvalidSchedule"
        assert sut.st.store.get("display_messages") is None
    finally:
        await sut.close()


async def test_tc_o_states_schedules_transaction_and_restart(tmp_path: Path, csms: ScriptedCsms) -> None:
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    try:
        await csms.wait_for("StatusNotification", count=2)
        await csms.call("SetDisplayMessage", msg(1, "Happy hour", startDateTime=at(0.8), endDateTime=at(1.6)))
        await csms.call("SetDisplayMessage", msg(2, "Charging - do not unplug", state="Charging"))
        await csms.call(
            "SetDisplayMessage",
            msg(3, "EVSE 2 only", display={"name": "Display", "evse": {"id": 2}}),
        )
        await until(lambda: shown(sut, 2) == ["EVSE 2 only"])
        assert shown(sut, 1) == []
        await until(lambda: shown(sut, 1) == ["Happy hour"], timeout=3)
        await until(lambda: shown(sut, 1) == [], timeout=3)
        assert 1 not in {int(k) for k in sut.st.store.get("display_messages")}  # removed after its end
        await sut.feed("plug", 1, 1, True)
        await sut.feed("present_token", 1, A)
        tx = await csms.wait_for("TransactionEvent")
        tid = tx["transactionInfo"]["transactionId"]
        assert (await csms.call("SetDisplayMessage", msg(4, "Your session", "InFront", transactionId=tid)))[
            "status"
        ] == "Accepted"
        await until(lambda: "Your session" in shown(sut, 1) and "Charging - do not unplug" in shown(sut, 1))
        assert "Your session" not in shown(sut, 2)
        await sut.feed("plug", 1, 1, False)
        await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
        await until(
            lambda: "Your session" not in shown(sut, 1) and "Charging - do not unplug" not in shown(sut, 1)
        )
        assert sorted(int(k) for k in sut.st.store.get("display_messages")) == [2, 3]
    finally:
        await sut.close()
    sut2 = StationUnderTest(make_config(tmp_path, csms.url))
    await sut2.start()
    try:
        await until(lambda: shown(sut2, 2) == ["EVSE 2 only"])
        res = await csms.call("GetDisplayMessages", {"requestId": 1})
        assert res["status"] == "Accepted"
        note = await csms.wait_for("NotifyDisplayMessages")
        assert [m["id"] for m in note["messageInfo"]] == [2, 3]
    finally:
        await sut2.close()


async def test_tc_i_01_i_03_tariff_running_and_final_cost(
    csms: ScriptedCsms, station: StationUnderTest
) -> None:
    tariff = "0.39 EUR/kWh"
    csms.responders["Authorize"] = lambda p: {
        "idTokenInfo": {"status": "Accepted", "personalMessage": {"format": "UTF8", "content": tariff}}
        if p["idToken"]["idToken"] == "AAA"
        else {"status": "Accepted"}
    }

    def tx_response(p: dict[str, Any]) -> dict[str, Any]:
        if p["eventType"] == "Updated":
            return {"totalCost": 1.17}
        if p["eventType"] == "Ended" and p["evse"]["id"] == 1:
            return {"totalCost": 4.29}
        return {}

    csms.responders["TransactionEvent"] = tx_response
    station.st.dm.put("TariffCostCtrlr", "Currency", "CHF")
    await station.feed("present_token", 1, A)
    await until(lambda: shown(station, 1) == [tariff])
    assert last_view(station, 1)["tariff"] == tariff and last_view(station, 1)["currency"] == "CHF"
    await station.feed("plug", 1, 1, True)
    tx = await csms.wait_for("TransactionEvent")
    tid = tx["transactionInfo"]["transactionId"]
    assert await csms.call("CostUpdated", {"totalCost": 0.78, "transactionId": tid}) == {}
    await until(lambda: shown(station, 1) == [tariff, "Cost so far: 0.78 CHF"])
    await station.feed("charging_state", 1, "Charging")
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Updated")
    await until(lambda: shown(station, 1) == [tariff, "Cost so far: 1.17 CHF"])
    assert await csms.call("CostUpdated", {"totalCost": 9.0, "transactionId": "unknown"}) == {}
    await station.feed("plug", 1, 1, False)
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
    await until(lambda: shown(station, 1) == ["Total cost: 4.29 CHF"])
    assert last_view(station, 1)["total_cost"] == 4.29 and last_view(station, 1)["tariff"] is None
    # EVSE 2: no personalMessage -> the fallback tariff; an Ended answer without totalCost -> the fallback text
    await station.feed("present_token", 2, {"idToken": "BBB", "type": "ISO14443"})
    await until(lambda: shown(station, 2) == ["Tariff: see the operator's app"])
    await station.feed("plug", 2, 1, True)
    await station.feed("plug", 2, 1, False)
    await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", count=2)
    await until(lambda: shown(station, 2) == ["The total cost will be shown in the operator's app"])


def test_status_screen_shows_the_display() -> None:
    from josev.api.display import DisplayLine, DisplayState
    from josev.observability.status import Snapshot, render

    snap = Snapshot()
    state = DisplayState(
        lines=[DisplayLine(text="Total cost: 4.29 EUR", priority="InFront", source="cost")],
        total_cost=4.29,
        currency="EUR",
    )
    snap.feed(DisplayState.topic(1), state.model_dump(mode="json"))
    text = render(snap)
    assert "display    'Total cost: 4.29 EUR'  total 4.29 EUR" in text


async def test_seed_tariff_before_charging_final_cost_after(
    tmp_path: Path, csms: ScriptedCsms, bus_factory: BusFactory
) -> None:
    """The driver badges: the display shows the tariff from the CSMS before charging; after unplugging it shows
    the final cost the CSMS computed from the metered energy (0.39 per kWh)."""
    from hal.sim import SimEv
    from josev.api import coordinator as co
    from josev.api.display import DisplayState
    from tests.coordinator.rig import start_station
    from tests.coordinator.rig import until as rig_until

    rig = await start_station(bus_factory, 1)
    rig.board.display.echo = None
    svc = OcppService(make_config(tmp_path, csms.url, evses={1: 1}))
    seen: list[DisplayState] = []
    rig.cli.subscribe(DisplayState, lambda m, e: seen.append(m))
    price, fee = 0.39, 0.50
    energy: dict[str, float] = {}

    def tx_response(p: dict[str, Any]) -> dict[str, Any]:
        values = [sv for mv in p.get("meterValue", []) for sv in mv["sampledValue"]]
        reg = [
            sv["value"]
            for sv in values
            if sv.get("measurand", "Energy.Active.Import.Register").startswith("Energy")
        ]
        if p["eventType"] == "Started" and reg:
            energy["start"] = reg[0]
        if p["eventType"] == "Ended" and reg:
            kwh = (reg[-1] - energy["start"]) / 1000
            energy["kwh"] = kwh
            return {"totalCost": round(fee + kwh * price, 4)}
        return {}

    csms.responders["Authorize"] = lambda p: {
        "idTokenInfo": {
            "status": "Accepted",
            "personalMessage": {"format": "UTF8", "content": f"{price} EUR/kWh"},
        }
    }
    csms.responders["TransactionEvent"] = tx_response
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(await bus_factory("ocpp"), stop))
    try:
        await csms.wait_for("StatusNotification")
        await rig.cli.request(co.PresentToken(id_token="DRIVER1"), 1)
        await rig_until(lambda: bool(seen) and seen[-1].tariff == "0.39 EUR/kWh", what="tariff on the bus")
        assert [x.text for x in seen[-1].lines] == ["0.39 EUR/kWh"]
        await rig_until(
            lambda: rig.board.display.shown.get(1) == ["0.39 EUR/kWh"], what="tariff on the display"
        )
        sim = rig.board.sim(1)
        ev = sim.plug(SimEv(auto_ready=True, max_current_a=32.0, phases=3))
        await rig_until(lambda: rig.obs.status[1].state == "charging", what="charging")
        await asyncio.sleep(1.5)
        from hal.types import CpState

        ev.requested = CpState.B
        await rig_until(lambda: not sim.contactor.feedback(), what="contactor open")
        await asyncio.sleep(0.3)
        sim.unplug()
        await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", timeout=8)
        await rig_until(lambda: seen[-1].total_cost is not None, what="final cost on the bus")
        cost = round(fee + energy["kwh"] * price, 4)
        assert energy["kwh"] > 0.003 and cost > fee  # ~1.5 s at 22 kW
        assert seen[-1].total_cost == cost and seen[-1].tariff is None
        assert [x.text for x in seen[-1].lines] == [f"Total cost: {cost:.2f} EUR"]
        await rig_until(
            lambda: rig.board.display.shown.get(1) == [f"Total cost: {cost:.2f} EUR"], what="final cost shown"
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await rig.close()
