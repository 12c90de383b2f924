"""The bus against a real mosquitto with the generated configuration (auth, ACL, persistence)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
from typing import ClassVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from josev.api.base import Command, CommandError, CommandTimeout, Event, Reply, ServiceStatus, State
from josev.api.system import Ping, Pong
from josev.broker import PrivateBroker
from josev.bus import Bus
from josev.bus.codec import properties
from tests.conftest import ROOT, BusFactory

# Test-only messages (names that no real service uses).


class ProbeReading(State):
    """A per-EVSE state owned by hal."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "test_probe_reading"
    per_evse: ClassVar[bool] = True
    volts: float


class ProbeHappened(Event):
    """A station-wide event owned by hal."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "test_probe_happened"
    n: int


class ProbeReply(Reply):
    doubled: int


class ProbeCommand(Command[ProbeReply]):
    """A hal command only the coordinator may issue."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "test_probe_command"
    callers: ClassVar[frozenset[str]] = frozenset({"coordinator"})
    per_evse: ClassVar[bool] = True
    x: int


async def _until(cond: object, timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not cond():  # type: ignore[operator]
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


async def test_command_reply_round_trip(bus_factory: BusFactory) -> None:
    hal = await bus_factory("hal")
    coord = await bus_factory("coordinator")
    seen: list[int | None] = []

    def handle(cmd: ProbeCommand, evse: int | None) -> ProbeReply:
        seen.append(evse)
        return ProbeReply(doubled=cmd.x * 2)

    hal.serve(ProbeCommand, handle)
    await asyncio.sleep(0.05)
    reply = await coord.request(ProbeCommand(x=21), evse=2)
    assert reply == ProbeReply(doubled=42)
    assert seen == [2]


async def test_error_reply_and_timeout(bus_factory: BusFactory) -> None:
    hal = await bus_factory("hal")
    coord = await bus_factory("coordinator")

    async def handle(cmd: ProbeCommand, evse: int | None) -> ProbeReply:
        if cmd.x < 0:
            raise CommandError("rejected", "x must be positive")
        raise RuntimeError("boom")

    hal.serve(ProbeCommand, handle, evse=1)
    await asyncio.sleep(0.05)
    with pytest.raises(CommandError) as err:
        await coord.request(ProbeCommand(x=-1), evse=1)
    assert err.value.code == "rejected" and "positive" in err.value.message
    with pytest.raises(CommandError) as err:
        await coord.request(ProbeCommand(x=1), evse=1)
    assert err.value.code == "internal" and "boom" in err.value.message
    # Nobody serves EVSE 3: the caller gets a typed error at once, not a timeout.
    with pytest.raises(CommandError) as err:
        await coord.request(ProbeCommand(x=1), evse=3, timeout=2.0)
    assert err.value.code == "invalid_scope" and "evse3" in err.value.message
    # With the service gone, the caller gets a timeout, not a hang.
    await hal.close()
    with pytest.raises(CommandTimeout):
        await coord.request(ProbeCommand(x=1), evse=1, timeout=0.3)
    assert coord.stats.timeouts == 1
    # The serving side survived its handler's crash.
    assert hal.stats.handler_errors == 1


async def test_retained_state_reaches_late_subscriber(bus_factory: BusFactory) -> None:
    hal = await bus_factory("hal")
    await hal.publish(ProbeReading(volts=9.0), evse=1)
    await hal.publish(ProbeReading(volts=6.0), evse=1)
    await hal.publish(ProbeReading(volts=12.0), evse=2)
    await asyncio.sleep(0.1)
    got: dict[int | None, float] = {}
    late = await bus_factory("coordinator")
    late.subscribe(ProbeReading, lambda m, e: got.__setitem__(e, m.volts))
    await _until(lambda: len(got) == 2)
    assert got == {1: 6.0, 2: 12.0}  # last value wins, per EVSE
    # A restarted subscriber (new connection) gets it again.
    await late.close()
    got.clear()
    again = await bus_factory("coordinator")
    again.subscribe(ProbeReading, lambda m, e: got.__setitem__(e, m.volts), evse=1)
    await _until(lambda: 1 in got)
    assert got == {1: 6.0}


async def test_cbor_and_json_interoperate(bus_factory: BusFactory) -> None:
    hal_cbor = await bus_factory("hal", payload_format="cbor")
    coord_json = await bus_factory("coordinator")
    got: list[int] = []
    coord_json.subscribe(ProbeHappened, lambda m, e: got.append(m.n))
    hal_cbor.serve(ProbeCommand, lambda c, e: ProbeReply(doubled=c.x * 2))
    await asyncio.sleep(0.05)
    await hal_cbor.publish(ProbeHappened(n=7))
    assert (await coord_json.request(ProbeCommand(x=4), evse=1)).doubled == 8
    await _until(lambda: got == [7])


async def test_invalid_payload_rejected_and_counted(broker: PrivateBroker, bus_factory: BusFactory) -> None:
    coord = await bus_factory("coordinator")
    got: list[int] = []
    coord.subscribe(ProbeHappened, lambda m, e: got.append(m.n))
    await asyncio.sleep(0.05)
    raw = _raw_client(broker, "hal")  # hal's one session (the broker binds it to the user): before hal's bus
    topic = ProbeHappened.topic()
    for bad in (b"not json", b'{"n": "seven"}', b'{"n": 1, "extra": 2}', b"\xff\xfe"):
        raw.publish(topic, bad, qos=1, properties=properties("json")).wait_for_publish(2)
    raw.publish(topic, b"\x01\x02", qos=1, properties=properties("cbor")).wait_for_publish(2)
    raw.loop_stop()
    raw.disconnect()
    hal = await bus_factory("hal")
    hal.serve(ProbeCommand, lambda c, e: ProbeReply(doubled=c.x * 2))
    await asyncio.sleep(0.05)
    await hal.publish(ProbeHappened(n=5))
    await _until(lambda: got == [5])
    assert coord.stats.invalid == 5
    assert coord.connected
    # An invalid command gets a typed error reply instead of silence.
    raw_coord = _raw_client(broker, "coordinator")
    replies: list[mqtt.MQTTMessage] = []
    raw_coord.on_message = lambda c, u, m: replies.append(m)
    raw_coord.subscribe("josev/v1/coordinator/reply/raw/+", qos=1)
    props = properties("json")
    props.ResponseTopic = "josev/v1/coordinator/reply/raw/hal"
    props.CorrelationData = b"c1"
    await asyncio.sleep(0.1)
    raw_coord.publish(ProbeCommand.topic(1), b'{"x": "nope"}', qos=1, properties=props).wait_for_publish(2)
    await _until(lambda: len(replies) == 1)
    body = json.loads(replies[0].payload)
    assert body["code"] == "invalid_request"
    assert dict(replies[0].properties.UserProperty)["status"] == "error"
    assert hal.stats.invalid == 1
    raw_coord.loop_stop()
    raw_coord.disconnect()


async def test_acl_denies_foreign_command_and_state(broker: PrivateBroker, bus_factory: BusFactory) -> None:
    hal = await bus_factory("hal")
    calls: list[int] = []
    hal.serve(ProbeCommand, lambda c, e: calls.append(c.x) or ProbeReply(doubled=0))
    ocpp = await bus_factory("ocpp")
    coord = await bus_factory("coordinator")
    await asyncio.sleep(0.05)
    with pytest.raises(CommandError) as err:  # ocpp may not command the HAL: the broker refuses, at once
        await ocpp.request(ProbeCommand(x=1), evse=1, timeout=5.0)
    assert err.value.code == "forbidden" and "test_probe_command" in err.value.message
    assert (await coord.request(ProbeCommand(x=2), evse=1)).doubled == 0
    assert calls == [2]
    # ocpp cannot forge hal's state either.
    readings: list[float] = []
    coord.subscribe(ProbeReading, lambda m, e: readings.append(m.volts))
    await ocpp.publish(ProbeReading(volts=1.0), evse=1)
    await hal.publish(ProbeReading(volts=2.0), evse=1)
    await _until(lambda: readings == [2.0])
    await asyncio.sleep(0.1)
    assert readings == [2.0]


async def test_wrong_password_is_refused(broker: PrivateBroker) -> None:
    bus = Bus("hal", broker.settings("hal", password="wrong", credentials_file=None))
    with pytest.raises(ConnectionError):
        await bus.connect(timeout=1.0)
    anon = Bus("hal", broker.settings("hal", username="nobody", password="x"))
    with pytest.raises(ConnectionError):
        await anon.connect(timeout=1.0)


async def test_unix_socket_transport(broker: PrivateBroker) -> None:
    assert broker.files.socket is not None
    a = Bus("system", broker.settings("system", socket=broker.files.socket))
    b = Bus("cli", broker.settings("cli", socket=broker.files.socket))
    await a.connect()
    await b.connect()
    a.serve(Ping, lambda c, e: Pong(seq=c.seq))
    await asyncio.sleep(0.05)
    assert (await b.request(Ping(seq=9))).seq == 9
    await a.close()
    await b.close()


async def test_reconnect_after_broker_restart_loses_nothing(
    broker: PrivateBroker, bus_factory: BusFactory
) -> None:
    hal = await bus_factory("hal", reconnect_min_s=0.05, reconnect_max_s=0.2)
    coord = await bus_factory("coordinator", reconnect_min_s=0.05, reconnect_max_s=0.2)
    got: list[int] = []
    coord.subscribe(ProbeHappened, lambda m, e: got.append(m.n))
    hal.serve(ProbeCommand, lambda c, e: ProbeReply(doubled=c.x * 2))
    await hal.publish(ProbeReading(volts=11.0), evse=1)
    await hal.publish(ProbeHappened(n=0))
    await _until(lambda: got == [0])

    broker.stop()
    await _until(lambda: not hal.connected and not coord.connected)
    for n in range(1, 51):  # published while the broker is down: QoS 1, must all arrive
        await hal.publish(ProbeHappened(n=n))
    broker.start()
    await hal.wait_connected(10)
    await coord.wait_connected(10)
    await _until(lambda: len(got) >= 51, timeout=10)
    assert got == list(range(51))
    # Subscriptions and command serving work again.
    assert (await coord.request(ProbeCommand(x=5), evse=1)).doubled == 10
    # Retained state was re-published (a brand-new subscriber sees it even if the broker had lost it).
    broker.kill()  # no persistence save this time
    broker.start()
    await hal.wait_connected(10)
    seen: list[float] = []
    late = await bus_factory("secc")
    late.subscribe(ProbeReading, lambda m, e: seen.append(m.volts))
    await _until(lambda: seen == [11.0])


def _raw_client(broker: PrivateBroker, user: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"josev-raw-{user}", protocol=mqtt.MQTTv5)
    c.username_pw_set(user, broker.settings(user).password_for(user))
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


_KILLED_SERVICE = textwrap.dedent(
    """
    import asyncio, sys
    from josev.bus import Bus, BusSettings
    async def main():
        bus = Bus("hal", BusSettings.model_validate_json(sys.argv[1]))
        await bus.connect()
        await bus.set_status("ready")
        print("ready", flush=True)
        await asyncio.sleep(60)
    asyncio.run(main())
    """
)


async def test_last_will_on_killed_service(broker: PrivateBroker, bus_factory: BusFactory) -> None:
    watcher = await bus_factory("cli")
    statuses: list[ServiceStatus] = []

    def on_status(topic: str, obj: object, msg: mqtt.MQTTMessage) -> None:
        if obj:
            statuses.append(ServiceStatus.model_validate(obj))

    watcher.subscribe_raw("josev/v1/hal/status", on_status)
    settings = broker.settings("hal")
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SERVICE, settings.model_dump_json()],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 15)
        assert line.strip() == b"ready"
        await _until(lambda: statuses and statuses[-1].state == "ready")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        await _until(lambda: statuses[-1].state == "stopped", timeout=20)
        assert statuses[-1].detail == "connection lost"
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()


def test_broker_dies_with_the_process_that_started_it() -> None:
    """A station killed with SIGKILL must not leave its private mosquitto behind (holding the port)."""
    import os
    import time

    code = (
        "import sys, time\n"
        "from josev.broker import PrivateBroker\n"
        "b = PrivateBroker()\n"
        "b.start()\n"
        "print(b.proc.pid, b.port, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid, port = (int(x) for x in parent.stdout.readline().split())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{pid}/stat") as f:  # reaped by init only later: a zombie counts as gone
            if f.read().split(") ", 1)[1].startswith("Z"):
                break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail(f"mosquitto {pid} (port {port}) outlived the process that started it")
