"""The OCPP bus service against a real mosquitto and the scripted CSMS: coordinator messages become OCPP
messages, CSMS requests become coordinator commands, the service publishes its state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from josev.api import coordinator as co
from josev.api import ocpp as api
from josev.api.base import Ack
from josev.ocpp.service import OcppService
from tests.conftest import BusFactory
from tests.ocpp.conftest import make_config
from tests.ocpp.harness import ScriptedCsms


def status(ocpp_status: str, charging: str = "Idle", session: str | None = None) -> co.EvseStatus:
    return co.EvseStatus(
        state="idle",
        ocpp_status=ocpp_status,
        detailed_status="Available",
        charging_state=charging,
        limit_a=32.0,
        pilot_mode="x1",
        contactor_closed=False,
        session_id=session,
    )


async def test_service_maps_coordinator_and_csms(
    tmp_path: Path, csms: ScriptedCsms, bus_factory: BusFactory
) -> None:
    coord = await bus_factory("coordinator")
    commands: list[tuple[str, int | None, Any]] = []

    def record(cmd: Any, evse: int | None) -> Ack:
        commands.append((cmd.name, evse, cmd))
        return Ack()

    for cls in (co.Authorize, co.StopCharging, co.SetAvailability, co.Deauthorize):
        coord.serve(cls, record)
    cli = await bus_factory("cli")
    states: list[api.OcppConnection] = []
    cli.subscribe(api.OcppConnection, lambda m, e: states.append(m))
    auths: list[api.OcppAuthorization] = []
    cli.subscribe(api.OcppAuthorization, lambda m, e: auths.append(m))

    svc = OcppService(make_config(tmp_path, csms.url, evses={1: 1}))
    ocpp_bus = await bus_factory("ocpp")
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(ocpp_bus, stop))
    try:
        await csms.wait_for("StatusNotification")
        await coord.publish(status("Occupied", "EVConnected", "s1"), 1)
        await csms.wait_for("StatusNotification", lambda p: p["connectorStatus"] == "Occupied")
        await coord.publish(co.SessionEvent(step="started", session_id="s1"), 1)
        await coord.publish(
            co.SessionMeter(ok=True, session_id="s1", energy_register_wh=1234.0, power_w=0.0), 1
        )
        await asyncio.sleep(0.2)
        await coord.publish(co.AuthorizationRequest(id_token="CARD1", token_type="ISO14443"), 1)
        await csms.wait_for("Authorize")
        started = await csms.wait_for("TransactionEvent")
        assert started["idToken"] == {"idToken": "CARD1", "type": "ISO14443"}
        assert started["meterValue"][0]["sampledValue"][0]["value"] == 1234.0
        for _ in range(50):
            if any(c[0] == "authorize" for c in commands):
                break
            await asyncio.sleep(0.05)
        assert [(e, c.id_token, c.source) for n, e, c in commands if n == "authorize"] == [
            (1, "CARD1", "ocpp")
        ]
        tx_id = started["transactionInfo"]["transactionId"]
        assert (await csms.call("RequestStopTransaction", {"transactionId": tx_id}))["status"] == "Accepted"
        await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
        for _ in range(50):
            if any(c[0] == "stop_charging" for c in commands):
                break
            await asyncio.sleep(0.05)
        assert [(e, c.reason) for n, e, c in commands if n == "stop_charging"] == [(1, "remote")]
        assert (await csms.call("ChangeAvailability", {"operationalStatus": "Inoperative"}))[
            "status"
        ] == "Accepted"
        for _ in range(50):
            if any(c[0] == "set_availability" for c in commands):
                break
            await asyncio.sleep(0.05)
        assert [(e, c.available) for n, e, c in commands if n == "set_availability"] == [(1, False)]
        await coord.publish(co.SessionEvent(step="ended", session_id="s1"), 1)
        reply = await cli.request(api.GetOcppStatus())
        assert reply.connected and reply.registration == "Accepted"
        for _ in range(50):
            if states and states[-1].connected:
                break
            await asyncio.sleep(0.05)
        assert states[-1].connected and states[-1].registration == "Accepted"
        assert [a.status for a in auths] == ["Accepted"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def test_config_from_station_sections() -> None:
    import pytest

    from josev.config import JosevConfig
    from josev.ocpp.service import config_from_station

    cfg = JosevConfig(ocpp={"csms_url": "wss://csms.example/ocpp", "security_profile": 2})
    oc = config_from_station(cfg)
    assert oc.identity == cfg.station.id and oc.evses == {1: 1} and oc.security_profile == 2
    with pytest.raises(ValueError, match="csms_url"):
        config_from_station(JosevConfig())
    with pytest.raises(ValueError):
        config_from_station(JosevConfig(ocpp={"csms_url": "ws://x", "bogus": 1}))


async def test_free_charging_session_is_a_transaction(
    tmp_path: Path, csms: ScriptedCsms, bus_factory: BusFactory
) -> None:
    """The coordinator authorizes a free-charging session without a token: the CSMS still sees a transaction,
    authorized with OCPP's NoAuthorization idToken (and no Authorize request)."""
    coord = await bus_factory("coordinator")
    svc = OcppService(make_config(tmp_path, csms.url, evses={1: 1}))
    ocpp_bus = await bus_factory("ocpp")
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(ocpp_bus, stop))
    try:
        await csms.wait_for("StatusNotification")
        await coord.publish(status("Occupied", "EVConnected", "s1"), 1)
        await coord.publish(co.SessionEvent(step="started", session_id="s1"), 1)
        await coord.publish(co.SessionEvent(step="authorized", session_id="s1", auth_source="free"), 1)
        tx = await csms.wait_for("TransactionEvent", lambda p: "idToken" in p)
        assert tx["idToken"] == {"idToken": "", "type": "NoAuthorization"}
        assert "Authorize" not in [a for a, _ in csms.received]
        await coord.publish(co.SessionEvent(step="ended", session_id="s1"), 1)
        ended = await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert ended["transactionInfo"]["transactionId"] == tx["transactionInfo"]["transactionId"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_status_notification_per_connector(
    tmp_path: Path, csms: ScriptedCsms, bus_factory: BusFactory
) -> None:
    """An EVSE with two connectors: the one in use becomes Occupied, the other Unavailable (G01), both reported."""
    coord = await bus_factory("coordinator")
    svc = OcppService(make_config(tmp_path, csms.url, evses={1: 2}))
    ocpp_bus = await bus_factory("ocpp")
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(ocpp_bus, stop))
    try:
        await csms.wait_for("BootNotification")
        occupied = status("Occupied", "EVConnected", "s1").model_copy(
            update={
                "connectors": [
                    co.ConnectorStatus(
                        connector_id=1, ocpp_status="Occupied", detailed_status="Preparing", in_use=True
                    ),
                    co.ConnectorStatus(
                        connector_id=2, ocpp_status="Unavailable", detailed_status="Unavailable"
                    ),
                ]
            }
        )
        await coord.publish(occupied, 1)
        c1 = await csms.wait_for(
            "StatusNotification", lambda p: p["connectorId"] == 1 and p["connectorStatus"] == "Occupied"
        )
        c2 = await csms.wait_for(
            "StatusNotification", lambda p: p["connectorId"] == 2 and p["connectorStatus"] == "Unavailable"
        )
        assert c1["evseId"] == c2["evseId"] == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def test_readings_include_the_export_register_only_when_the_meter_has_one() -> None:
    from josev.ocpp.service import readings

    plain = readings(co.SessionMeter(ok=True, energy_register_wh=10.0, power_w=5.0))
    assert "Energy.Active.Export.Register" not in plain
    bpt = readings(co.SessionMeter(ok=True, energy_register_wh=10.0, energy_export_register_wh=4.5))
    assert bpt["Energy.Active.Export.Register"] == 4.5 and bpt["Energy.Active.Import.Register"] == 10.0


async def test_export_register_reaches_the_csms_when_configured(
    tmp_path: Path, csms: ScriptedCsms, bus_factory: BusFactory
) -> None:
    """Bidirectional charging: with Energy.Active.Export.Register among the measurands, the transaction's meter
    values carry what the vehicle returned."""
    coord = await bus_factory("coordinator")
    coord.serve(co.Authorize, lambda cmd, evse: Ack())
    both = "Energy.Active.Import.Register,Energy.Active.Export.Register"
    cfg = make_config(
        tmp_path, csms.url, evses={1: 1}, variables={"SampledDataCtrlr/TxStartedMeasurands": both}
    )
    svc = OcppService(cfg)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(await bus_factory("ocpp"), stop))
    try:
        await csms.wait_for("StatusNotification")
        await coord.publish(status("Occupied", "EVConnected", "s1"), 1)
        await coord.publish(co.SessionEvent(step="started", session_id="s1"), 1)
        meter = co.SessionMeter(
            ok=True, session_id="s1", energy_register_wh=1234.0, energy_export_register_wh=77.0
        )
        await coord.publish(meter, 1)
        await asyncio.sleep(0.2)
        await coord.publish(co.AuthorizationRequest(id_token="CARD1", token_type="ISO14443"), 1)
        started = await csms.wait_for("TransactionEvent")
        values = {sv["measurand"]: sv["value"] for sv in started["meterValue"][0]["sampledValue"]}
        assert values == {"Energy.Active.Import.Register": 1234.0, "Energy.Active.Export.Register": 77.0}
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
