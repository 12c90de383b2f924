"""Bus insiders (issue 22 "From the bus", issue 19 "every dropped command is answered"): a client holding one
service's credentials, against a real mosquitto with the generated configuration and ACL."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, ClassVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from josev.api import coordinator as capi
from josev.api import hal as halapi
from josev.api import topics
from josev.api.base import Ack, Command, CommandError, Event, Reply, ServiceStatus
from josev.broker import PrivateBroker
from josev.bus.codec import properties
from tests.conftest import BusFactory


class InsiderReply(Reply):
    value: int


class InsiderCommand(Command[InsiderReply]):
    """A per-EVSE hal command the coordinator may issue (test only)."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "test_insider_command"
    callers: ClassVar[frozenset[str]] = frozenset({"coordinator", "cli"})
    per_evse: ClassVar[bool] = True
    x: int


class InsiderStationCommand(Command[Ack]):
    """A station-wide hal command (test only) that hal's bus in these tests does not serve."""

    service: ClassVar[str] = "hal"
    name: ClassVar[str] = "test_insider_unserved"
    callers: ClassVar[frozenset[str]] = frozenset({"coordinator", "cli"})


class InsiderNoise(Event):
    """An ocpp event (test only) the coordinator listens to in these tests."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "test_insider_noise"
    n: int
    blob: str = ""


async def _until(cond: Any, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Raw:
    """A plain paho client (its own network thread) with some user's credentials: the insider."""

    def __init__(self, broker: PrivateBroker, user: str, client_id: str, *, tools: bool = False) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, broker.settings(user).password_for(user))
        self.connack: list[Any] = []
        self.disconnects: list[Any] = []
        self.messages: list[mqtt.MQTTMessage] = []
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.append(rc)
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnects.append(rc)
        self.client.on_message = lambda c, u, m: self.messages.append(m)
        self.client.connect(broker.host, broker.tools_port if tools else broker.port)
        self.client.loop_start()

    def wait_connack(self, timeout: float = 3.0) -> Any:
        deadline = time.monotonic() + timeout
        while not self.connack and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.connack[0] if self.connack else None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def test_client_id_takeover_is_refused(broker: PrivateBroker, bus_factory: BusFactory) -> None:
    """Issue 22: `ocpp` connecting with the coordinator's client id kicked the coordinator off the broker."""
    coord = await bus_factory("coordinator")
    attempts = [
        Raw(
            broker, "ocpp", coord.client_id
        ),  # the id the coordinator asked for (readable in its reply topic)
        Raw(broker, "ocpp", "josev-coordinator"),
        Raw(
            broker, "ocpp", "coordinator"
        ),  # the id the broker gives the coordinator: refused (no josev- prefix)
        Raw(broker, "cli", "coordinator", tools=True),  # the tools listener cannot name a service's id either
        Raw(broker, "cli", coord.client_id, tools=True),
    ]
    for a in attempts:
        a.wait_connack()
    await asyncio.sleep(0.5)
    assert coord.connected
    assert coord.stats.disconnects == 0 and coord.stats.taken_over == 0
    assert "coordinator already connected" not in broker.log.lower()
    codes = [str(a.connack[0]) if a.connack else "none" for a in attempts]
    assert codes[2] == codes[3] == "Not authorized", codes
    # A service credential cannot use the tools listener at all.
    tool_ocpp = Raw(broker, "ocpp", "josev-x", tools=True)
    assert str(tool_ocpp.wait_connack()) == "Not authorized"
    # Several CLI clients at once keep working side by side.
    cli1 = await bus_factory("cli")
    cli2 = await bus_factory("cli")
    await asyncio.sleep(0.3)
    assert cli1.connected and cli2.connected and cli1.stats.disconnects == cli2.stats.disconnects == 0
    for a in [*attempts, tool_ocpp]:
        a.close()


async def test_a_restarted_service_takes_its_session_back_without_flapping(bus_factory: BusFactory) -> None:
    old = await bus_factory("hal")
    await asyncio.sleep(0.2)
    new = await bus_factory("hal")  # e.g. a second instance, or a restart while the old connection lingers
    await asyncio.sleep(4.0)
    # One session per user: they take it from each other, but back off (exponentially) instead of flapping
    # every 100 ms, and say why.
    drops = old.stats.disconnects + new.stats.disconnects
    assert 1 <= drops <= 12, drops
    assert old.stats.taken_over + new.stats.taken_over >= 1


async def test_forged_replies_are_dropped(broker: PrivateBroker, bus_factory: BusFactory) -> None:
    """Issue 22: every user could publish on every reply topic; forged error replies beat the real one."""
    hal = await bus_factory("hal")
    coord = await bus_factory("coordinator")

    async def slow(cmd: InsiderCommand, evse: int | None) -> InsiderReply:
        await asyncio.sleep(0.3)  # the forger has all the time it needs
        return InsiderReply(value=cmd.x * 2)

    hal.serve(InsiderCommand, slow)
    forger = Raw(broker, "ocpp", "josev-forger")
    forger.wait_connack()
    forged: list[str] = []

    def forge(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        rt = m.properties.ResponseTopic
        props = properties("json")
        props.CorrelationData = m.properties.CorrelationData
        props.UserProperty = [*props.UserProperty, ("status", "error")]
        body = json.dumps({"code": "internal", "message": "forged"})
        parts = rt.split("/")
        for target in (rt, "/".join([*parts[:-1], "ocpp"]), "/".join(parts[:-1])):
            c.publish(target, body, qos=1, properties=props)
            forged.append(target)

    forger.client.on_message = forge
    forger.client.subscribe("josev/v1/hal/+/cmd/#", qos=1)
    await asyncio.sleep(0.2)
    for i in range(5):
        assert (await coord.request(InsiderCommand(x=i), evse=1)).value == 2 * i
    assert len(forged) == 15
    assert coord.stats.forged_replies >= 5  # the ones naming ocpp as responder reached it and were dropped
    forger.close()


async def test_every_dropped_command_is_answered(broker: PrivateBroker, bus_factory: BusFactory) -> None:
    """Issue 19: empty payload, unknown command, wrong scope, unsupported schema: a typed error, not silence."""
    hal = await bus_factory("hal")
    hal.serve(InsiderCommand, lambda c, e: InsiderReply(value=c.x), evse=1)
    caller = Raw(broker, "cli", "josev-caller", tools=True)
    caller.wait_connack()
    caller.client.subscribe("josev/v1/cli/reply/caller/+", qos=1)
    await asyncio.sleep(0.2)

    def send(topic: str, payload: bytes, *, schema: str = "1") -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json"
        props.UserProperty = [("schema", schema)]
        props.ResponseTopic = "josev/v1/cli/reply/caller/hal"
        props.CorrelationData = topic.encode() + payload[:8] + schema.encode()
        caller.client.publish(topic, payload, qos=1, properties=props)

    cases = [
        (InsiderCommand.topic(1), b"", "1", "invalid_request", "empty payload"),
        (InsiderStationCommand.topic(), b"{}", "1", "unknown_command", "test_insider_unserved"),
        (halapi.ResetRcd.topic(1), b"{}", "1", "unknown_command", "reset_rcd"),
        ("josev/v1/hal/station/cmd/test_insider_command", b'{"x": 1}', "1", "invalid_scope", "per EVSE"),
        ("josev/v1/hal/evse2/cmd/test_insider_command", b'{"x": 1}', "1", "invalid_scope", "evse2"),
        (InsiderCommand.topic(1), b'{"x": 1}', "9", "unsupported_schema", "'9'"),
        (InsiderCommand.topic(1), b'{"x": "one"}', "1", "invalid_request", "InsiderCommand"),
    ]
    for topic, payload, schema, _, _ in cases:
        send(topic, payload, schema=schema)
    await _until(lambda: len(caller.messages) >= len(cases), timeout=3.0, what="every reply")
    got = {m.properties.CorrelationData: m for m in caller.messages}
    for topic, payload, schema, code, text in cases:
        reply = got[topic.encode() + payload[:8] + schema.encode()]
        body = json.loads(reply.payload)
        assert body["code"] == code and text in body["message"], (topic, body)
        assert dict(reply.properties.UserProperty)["status"] == "error"
        assert reply.topic == "josev/v1/cli/reply/caller/hal"
    # The good command still works.
    send(InsiderCommand.topic(1), b'{"x": 7}')
    await _until(lambda: len(caller.messages) == len(cases) + 1, what="the good reply")
    assert json.loads(caller.messages[-1].payload) == {"value": 7}
    assert hal.stats.commands_refused == len(cases)
    caller.close()


async def test_a_command_not_granted_fails_loudly(bus_factory: BusFactory) -> None:
    """The code of ocpp never sends ClearFault, so it is not granted: the call fails at once, naming why."""
    ocpp = await bus_factory("ocpp")
    t0 = time.monotonic()
    with pytest.raises(CommandError) as err:
        await ocpp.request(capi.ClearFault(), evse=1, timeout=10.0)
    assert err.value.code == "forbidden" and "clear_fault" in err.value.message
    assert time.monotonic() - t0 < 2.0


async def test_size_and_rate_limits_drop_count_and_publish(
    broker: PrivateBroker, bus_factory: BusFactory
) -> None:
    """Issue 22: one 100 MB message stopped charging; a flood raised the station's memory for good."""
    coord = await bus_factory("coordinator", max_payload=64 * 1024, max_rate=500.0)
    watcher = await bus_factory("cli")
    statuses: list[ServiceStatus] = []
    watcher.subscribe_raw(
        topics.status_topic("coordinator"),
        lambda t, obj, m: statuses.append(ServiceStatus.model_validate(obj)) if obj else None,
    )
    await coord.set_status("ready")
    got: list[int] = []
    coord.subscribe(InsiderNoise, lambda m, e: got.append(m.n))
    noisy = Raw(broker, "ocpp", "josev-noisy")
    noisy.wait_connack()
    await asyncio.sleep(0.2)
    # Above the service's own limit, below the broker's: dropped unread, counted.
    noisy.client.publish(
        InsiderNoise.topic(), InsiderNoise(n=-1, blob="x" * 100_000).model_dump_json(), qos=1
    )
    # Above the broker's max_packet_size: the broker disconnects the sender, nothing is delivered.
    noisy.client.publish(InsiderNoise.topic(), b"x" * (1 << 20), qos=0)
    await asyncio.sleep(0.5)
    assert noisy.disconnects, "the broker kept a client that sent a 1 MB packet"
    noisy.close()
    assert coord.stats.oversize == 1 and got == []
    # A flood: 20,000 events as fast as one client can send them.
    flood = Raw(broker, "ocpp", "josev-flood")
    flood.wait_connack()
    for i in range(20_000):
        flood.client.publish(InsiderNoise.topic(), InsiderNoise(n=i).model_dump_json(), qos=0)
    await asyncio.sleep(2.0)
    assert coord.connected and coord.stats.disconnects == 0
    assert coord.stats.rate_limited > 0
    assert len(got) < 20_000 and len(got) + coord.stats.rate_limited <= 20_000
    flood.close()
    # The coordinator still answers, and its retained status says what it dropped.
    await _until(
        lambda: statuses and statuses[-1].bus is not None and statuses[-1].bus.rate_limited > 0,
        timeout=8.0,
        what="the drop counters in the status",
    )
    last = statuses[-1].bus
    assert last is not None and last.oversize == 1 and last.bad >= last.rate_limited + 1
