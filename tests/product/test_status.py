"""``josev status`` against a real mosquitto with retained messages published by real bus clients, and the
snapshot/rendering logic on its own."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from josev.api import base, topics
from josev.api.coordinator import EvseStatus, PilotState, SessionEvent, SessionMeter
from josev.api.hal import BoardInfo, ChannelInfo, CpReadingState
from josev.api.ocpp import OcppConnection, OcppTransaction
from josev.api.secc import SeccSessionState
from josev.api.slac import SlacState
from josev.api.system import StationInfo
from josev.broker import PrivateBroker
from josev.bus import Bus, codec
from josev.observability.status import Snapshot, render
from tests.conftest import ROOT, BusFactory

NOW = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def status_cmd(broker: PrivateBroker, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "josev",
        "status",
        "--host",
        broker.host,
        "--port",
        str(broker.port),
        "--credentials",
        str(broker.files.credentials),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)


def evse_status(state: str, session: str | None = None, **kw: object) -> EvseStatus:
    values: dict[str, object] = {
        "state": state,
        "ocpp_status": "Occupied" if session else "Available",
        "detailed_status": "Charging" if session else "Available",
        "charging_state": "Charging" if session else "Idle",
        "limit_a": 16.0,
        "limit_source": "ocpp",
        "pilot_mode": "pwm",
        "duty_percent": 26.7,
        "contactor_closed": session is not None,
        "session_id": session,
    }
    values.update(kw)
    return EvseStatus.model_validate(values)


async def publish_station(bus_factory: BusFactory) -> dict[str, Bus]:
    system, hal, coord = (
        await bus_factory("system"),
        await bus_factory("hal"),
        await bus_factory("coordinator"),
    )
    slac, secc, ocpp = await bus_factory("slac"), await bus_factory("secc"), await bus_factory("ocpp")
    for b in (system, hal, coord, slac, secc):
        await b.set_status("ready")
    await ocpp.set_status("degraded", "CSMS unreachable, queueing")
    await system.publish(
        StationInfo(station_id="CP-042", vendor="acme", model="duo", evse_count=2, josev_version="0.1")
    )
    ch = ChannelInfo(
        max_current_a=32,
        phases=3,
        can_drive_e=True,
        has_pp=False,
        has_lock=False,
        has_rcd=True,
        has_contactor_feedback=True,
        has_meter=True,
    )
    await hal.publish(BoardInfo(board="sim", channels=[ch, ch], watchdog_timeout_s=2.0))
    await hal.publish(CpReadingState(state="C", high_v=6.1), evse=1)
    await coord.publish(evse_status("charging", "sess-1", hlc=True), evse=1)
    await coord.publish(PilotState(cp="C", pilot_mode="pwm", duty_percent=5.0), evse=1)
    await coord.publish(
        SessionMeter(ok=True, session_id="sess-1", session_energy_wh=1234.4, power_w=11000), evse=1
    )
    await coord.publish(evse_status("idle", faults=["rcd_trip"]), evse=2)
    await slac.publish(SlacState(status="matched", ev_mac="02:00:00:00:00:aa"), evse=1)
    await secc.publish(
        SeccSessionState(status="session", protocol="ISO15118-2 DC", session_id="0a1b2c3d"), evse=1
    )
    await ocpp.publish(
        OcppConnection(
            connected=False,
            registration="Accepted",
            csms_url="wss://csms.example/ocpp",
            security_profile=2,
            queued=7,
        )
    )
    await ocpp.publish(OcppTransaction(transaction_id="tx-99", next_seq_no=3, authorized=True), evse=1)
    # A state no renderer knows (a newer service version): shown generically.
    coord._publish_raw(
        topics.message_topic("coordinator", "state", "future_thing", 2),
        b'{"widgets":3,"mode":"turbo"}',
        codec.properties("json"),
        retain=True,
    )
    # A payload that does not validate against its model: flagged, the rest still shown.
    slac._publish_raw(SlacState.topic(2), b'{"status":"confused"}', codec.properties("json"), retain=True)
    await asyncio.sleep(0.3)  # QoS 1 round trips done before the CLI subscribes
    return {"coord": coord, "secc": secc}


async def test_status_screen_from_retained_state(broker: PrivateBroker, bus_factory: BusFactory) -> None:
    await publish_station(bus_factory)
    out = await asyncio.to_thread(status_cmd, broker)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for needle in [
        "SERVICES",
        "coordinator  ready",
        "ocpp         DEGRADED",
        "CSMS unreachable, queueing",
        "CP-042 (acme duo), 2 EVSE(s)",
        "board       sim, 2 channel(s)",
        "csms        DISCONNECTED, Accepted, profile 2, 7 queued  wss://csms.example/ocpp",
        "evse1",
        "status     charging (Charging, OCPP Occupied)  limit 16.0 A by ocpp  contactor closed  HLC",
        "pilot      CP C  pilot pwm 5 %",
        "hal cp     C 6.1 V",
        "meter      11000 W  1234 Wh",
        "slac       matched EV 02:00:00:00:00:aa",
        "hlc        session ISO15118-2 DC session 0a1b2c3d",
        "ocpp       transaction tx-99 authorized",
        "evse2",
        "FAULTS: rcd_trip",
        "coordinator/future_thing widgets=3 mode=turbo",
        "SESSIONS",
        "evse1: session sess-1  ISO15118-2 DC  1234 Wh  OCPP tx tx-99  Charging",
        "INVALID PAYLOADS (1)",
        "josev/v1/slac/evse2/state/slac_state",
    ]:
        assert needle in text, f"{needle!r} missing from:\n{text}"
    assert text.index("evse1") < text.index("evse2")


async def test_status_json_and_cleared_state(broker: PrivateBroker, bus_factory: BusFactory) -> None:
    buses = await publish_station(bus_factory)
    coord = buses["coord"]
    await coord.clear_state(SessionMeter, evse=1)
    await asyncio.sleep(0.2)
    out = await asyncio.to_thread(status_cmd, broker, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["services"]["ocpp"]["state"] == "degraded"
    assert data["evses"]["1"]["coordinator/evse_status"]["session_id"] == "sess-1"
    assert "coordinator/meter" not in data["evses"]["1"]
    assert data["station"]["ocpp/connection"]["queued"] == 7


async def test_status_watch_redraws_on_change_and_shows_a_stopped_service(
    broker: PrivateBroker, bus_factory: BusFactory
) -> None:
    buses = await publish_station(bus_factory)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "josev",
        "status",
        "--host",
        broker.host,
        "--port",
        str(broker.port),
        "--credentials",
        str(broker.files.credentials),
        "--watch",
        "--interval",
        "0.2",
        "--seconds",
        "3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    first = b""
    while b"SESSIONS" not in first:
        first += await asyncio.wait_for(proc.stdout.readline(), 10)
    await buses["coord"].publish(evse_status("finishing"), evse=1)
    await buses["secc"].set_status("stopped", "crashed: test")
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, stderr
    rest = stdout.decode()
    assert "status     finishing" in rest
    assert "secc         STOPPED" in rest and "crashed: test" in rest


def test_render_without_anything_and_with_unknown_service() -> None:
    snap = Snapshot()
    text = render(snap, NOW)
    assert "(no service has published its status)" in text and "(no per-EVSE state on the bus)" in text
    assert snap.feed("not/a/josev/topic", {"x": 1}) is False
    assert snap.feed(
        topics.status_topic("charger_fan"),
        {"service": "charger_fan", "state": "ready", "since": "2025-01-01T11:59:00Z"},
    )
    assert snap.feed(topics.message_topic("charger_fan", "state", "speed", 1), {"rpm": 1200})
    assert snap.feed(topics.message_topic("charger_fan", "event", "spin", 1), {"x": 1}) is False
    text = render(snap, NOW)
    assert "charger_fan  ready" in text and " 60s" in text
    assert "charger_fan/speed rpm=1200" in text
    assert snap.feed(topics.message_topic("charger_fan", "state", "speed", 1), None)  # cleared
    assert "rpm" not in render(snap, NOW)


def test_session_event_and_invalid_status() -> None:
    base.load_all()
    snap = Snapshot()
    ev = SessionEvent(step="charging_started", session_id="s1").model_dump(mode="json")
    assert snap.feed(SessionEvent.topic(1), ev)
    assert snap.feed(topics.status_topic("hal"), {"state": "exploded"})
    text = render(snap, NOW)
    assert "evse1: last event charging_started" in text
    assert "josev/v1/hal/status: 2 validation error(s)" in text or "josev/v1/hal/status" in text
    assert snap.invalid


def test_status_without_broker_fails_cleanly(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.write_text("cli:x\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "josev",
            "status",
            "--host",
            "127.0.0.1",
            "--port",
            "1",
            "--credentials",
            str(creds),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 1
    assert "cannot reach the bus" in out.stderr
