"""The bus client: paho-mqtt 2.x (MQTT 5) driven from the asyncio event loop, one per service.

The paho socket is served by the event loop's reader/writer callbacks (no network thread), so handlers run on
the loop. The client reconnects with back-off after the broker goes away, resubscribes, and re-publishes its
retained state; QoS 1 messages published while disconnected stay queued in paho and are sent on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ValidationError

import josev
from josev.api import base, topics
from josev.bus import codec
from josev.bus.settings import BusSettings
from josev.observability import oplog

log = logging.getLogger("josev.bus")

M = TypeVar("M", bound=base.Message)
R = TypeVar("R", bound=base.Reply)
Handler = Callable[[M, int | None], Awaitable[None] | None]
CommandHandler = Callable[[M, int | None], Awaitable[base.Reply] | base.Reply]
RawHandler = Callable[[str, Any, "mqtt.MQTTMessage"], Awaitable[None] | None]


@dataclass
class BusStats:
    """Counters of one bus client."""

    published: int = 0
    received: int = 0
    invalid: int = 0
    """Payloads that did not decode or validate (rejected, logged)."""
    handler_errors: int = 0
    commands_served: int = 0
    requests: int = 0
    timeouts: int = 0
    connects: int = 0
    disconnects: int = 0
    errors_by_topic: dict[str, int] = field(default_factory=dict)


@dataclass
class _Sub:
    cls: type[base.Message]
    evse: int | Literal["+"] | None
    handler: Callable[..., Any]
    command: bool = False


class Bus:
    """A service's connection to the bus."""

    READ_BURST = 64

    def __init__(self, service: str, settings: BusSettings, *, client_id: str | None = None) -> None:
        topics.check_name(service, "service")
        self.service = service
        self.settings = settings
        self.client_id = client_id or f"{service}-{uuid.uuid4().hex[:8]}"
        self.stats = BusStats()
        self._reply_topic = topics.reply_topic(service, self.client_id.replace("/", "_"))
        self._subs: list[_Sub] = []
        self._raw: list[tuple[str, RawHandler]] = []
        self._filters: set[str] = {self._reply_topic}
        self._pending: dict[bytes, asyncio.Future[tuple[bool, Any]]] = {}
        self._retained: dict[str, tuple[bytes, Properties]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected = asyncio.Event()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._status: base.ServiceStatus | None = None
        self._client = self._make_client()

    # ------------------------------------------------------------------ connection

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        transport: Literal["tcp", "unix"] = "unix" if s.socket else "tcp"
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            transport=transport,
        )
        user = s.username or self.service
        c.username_pw_set(user, s.password_for(user))
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        will = base.ServiceStatus(service=self.service, state="stopped", detail="connection lost")
        c.will_set(
            topics.status_topic(self.service),
            codec.encode(will, "json"),
            qos=1,
            retain=True,
            properties=codec.properties("json", PacketTypes.WILLMESSAGE),
        )
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        return c

    async def connect(self, timeout: float = 5.0) -> None:
        """Connect (and keep reconnecting until :meth:`close`); returns once the first connection is up."""
        self._loop = asyncio.get_running_loop()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"bus-{self.service}")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            await self.close(publish_status=False)
            raise ConnectionError(f"{self.service}: no broker connection within {timeout} s") from None

    @property
    def connected(self) -> bool:
        """Whether the client is connected to the broker now."""
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the client is connected."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def _supervise(self) -> None:
        delay = self.settings.reconnect_min_s
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry_s
        first = True
        while not self._closing:
            try:
                if first:
                    if self.settings.socket:
                        self._client.connect(
                            str(self.settings.socket),
                            keepalive=self.settings.keepalive_s,
                            clean_start=False,
                            properties=props,
                        )
                    else:
                        self._client.connect(
                            self.settings.host,
                            self.settings.port,
                            keepalive=self.settings.keepalive_s,
                            clean_start=False,
                            properties=props,
                        )
                    first = False
                else:
                    self._client.reconnect()
            except (OSError, ValueError) as exc:
                log.debug("%s: connect failed: %s", self.service, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max_s)
                continue
            # Serve housekeeping (keep-alive, retries) until the connection drops.
            while self._client.loop_misc() == MQTTErrorCode.MQTT_ERR_SUCCESS and not self._closing:
                if self._connected.is_set():
                    delay = self.settings.reconnect_min_s
                await asyncio.sleep(0.5)
            if not self._closing:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max_s)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(OSError, AttributeError):
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._loop.add_reader(sock, self._read)

    def _read(self) -> None:
        # paho's loop_read() handles one packet per call and cannot tell "no more data": drain the socket with
        # its packet reader until EAGAIN (bounded), so a burst does not cost one event-loop iteration per packet.
        client = self._client
        packet_read = getattr(client, "_packet_read", None)
        if packet_read is None:  # pragma: no cover - paho internals changed: one packet per wake-up
            client.loop_read()
            return
        for _ in range(self.READ_BURST):
            if client.socket() is None:
                return
            rc = packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                client._loop_rc_handle(rc)
                return

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)

    def _on_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.add_writer(sock, self._client.loop_write)

    def _on_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_writer(sock)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("%s: broker refused the connection: %s", self.service, reason)
            return
        self.stats.connects += 1
        for filt in sorted(self._filters):
            client.subscribe(filt, qos=1)
        for topic, (payload, p) in self._retained.items():
            client.publish(topic, payload, qos=1, retain=True, properties=p)
        self._connected.set()
        log.debug("%s: connected (%d subscriptions)", self.service, len(self._filters))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._connected.is_set():
            self.stats.disconnects += 1
            if not self._closing:
                log.warning("%s: disconnected from broker: %s", self.service, reason)
        self._connected.clear()

    async def close(self, *, publish_status: bool = True) -> None:
        """Publish ``stopped`` (unless told not to), disconnect and stop reconnecting."""
        if publish_status and self.connected:
            with contextlib.suppress(Exception):
                await self.set_status("stopped", "shut down")
                await asyncio.sleep(0.01)
        self._closing = True
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("bus closed"))
        self._client.disconnect()
        if self._supervisor:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        for t in list(self._tasks):
            t.cancel()
        self._connected.clear()

    async def __aenter__(self) -> Bus:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ publishing

    def _publish_raw(
        self, topic: str, payload: bytes, props: Properties, *, retain: bool, qos: int = 1
    ) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise ConnectionError(f"publish on {topic} failed: {mqtt.error_string(info.rc)}")
        self.stats.published += 1

    async def publish(self, msg: base.Message, evse: int | None = None, *, qos: int = 1) -> None:
        """Publish a state or event message (states are retained and re-published after a reconnect)."""
        if isinstance(msg, base.Command):
            raise TypeError("use request() for commands")
        topic = type(msg).topic(evse)
        fmt = self.settings.payload_format
        payload = codec.encode(msg, fmt)
        props = codec.shared_properties(fmt)
        retain = msg.kind == "state"
        if retain:
            self._retained[topic] = (payload, props)
        self._publish_raw(topic, payload, props, retain=retain, qos=qos)

    async def set_status(self, state: base.ServiceState, detail: str = "") -> None:
        """Publish this service's retained liveness status."""
        if self._status is None or (self._status.state, self._status.detail) != (state, detail):
            oplog.service_state(logging.getLogger(f"josev.{self.service}"), self.service, state, detail)
        self._status = base.ServiceStatus(
            service=self.service, state=state, detail=detail, pid=os.getpid(), version=josev.__version__
        )
        topic = topics.status_topic(self.service)
        payload = codec.encode(self._status, "json")
        props = codec.properties("json")
        self._retained[topic] = (payload, props)
        self._publish_raw(topic, payload, props, retain=True)

    async def clear_state(self, cls: type[base.State], evse: int | None = None) -> None:
        """Remove a retained state message from the broker."""
        topic = cls.topic(evse)
        self._retained.pop(topic, None)
        self._publish_raw(topic, b"", Properties(PacketTypes.PUBLISH), retain=True)

    # ------------------------------------------------------------------ subscribing

    def _add_filter(self, filt: str) -> None:
        if filt not in self._filters:
            self._filters.add(filt)
            if self.connected:
                self._client.subscribe(filt, qos=1)

    def subscribe(self, cls: type[M], handler: Handler[M], evse: int | Literal["+"] | None = "+") -> None:
        """Call ``handler(msg, evse)`` for every valid ``cls`` message (async handlers run as tasks)."""
        if issubclass(cls, base.Command):
            raise TypeError("use serve() for commands")
        self._subs.append(_Sub(cls, evse, handler))
        self._add_filter(cls.topic_filter(evse))

    def serve(self, cls: type[M], handler: CommandHandler[M], evse: int | Literal["+"] | None = "+") -> None:
        """Answer ``cls`` commands with ``handler(cmd, evse)``; raising CommandError sends an error reply."""
        if not issubclass(cls, base.Command):
            raise TypeError(f"{cls.__name__} is not a command")
        if cls.service != self.service:
            raise ValueError(f"{self.service} cannot serve {cls.service}'s command {cls.__name__}")
        self._subs.append(_Sub(cls, evse, handler, command=True))
        self._add_filter(cls.topic_filter(evse))

    def subscribe_raw(self, filt: str, handler: RawHandler) -> None:
        """Call ``handler(topic, decoded_payload_or_None, message)`` for every message matching ``filt``."""
        self._raw.append((filt, handler))
        self._add_filter(filt)

    def _spawn(self, result: Any, what: str) -> None:
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(lambda t: self._task_done(t, what))

    def _task_done(self, task: asyncio.Task[Any], what: str) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats.handler_errors += 1
            log.error("%s: handler for %s failed", self.service, what, exc_info=task.exception())

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.stats.received += 1
        topic = message.topic
        try:
            self._dispatch(message)
        except Exception:  # a bad message must never take the service down
            self.stats.handler_errors += 1
            log.exception("%s: failed to handle message on %s", self.service, topic)
        for filt, raw in self._raw:
            if mqtt.topic_matches_sub(filt, topic):
                try:
                    obj = codec.decode_any(message.payload, message.properties)
                except codec.PayloadError:
                    obj = None
                try:
                    self._spawn(raw(topic, obj, message), topic)
                except Exception:
                    self.stats.handler_errors += 1
                    log.exception("%s: raw handler failed on %s", self.service, topic)

    def _reject(self, topic: str, why: str) -> None:
        self.stats.invalid += 1
        self.stats.errors_by_topic[topic] = self.stats.errors_by_topic.get(topic, 0) + 1
        log.error("%s: rejected message on %s: %s", self.service, topic, why)

    def _dispatch(self, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        if topic == self._reply_topic:
            self._on_reply(message)
            return
        parsed = topics.parse(topic)
        if parsed is None or parsed.name is None or parsed.kind not in topics.KINDS:
            return
        subs = [
            s
            for s in self._subs
            if s.cls.service == parsed.service
            and s.cls.kind == parsed.kind
            and s.cls.name == parsed.name
            and (s.evse == "+" or s.evse == parsed.evse)
        ]
        if not subs or not message.payload:  # empty payload: a cleared retained state
            return
        cls = subs[0].cls
        try:
            msg = codec.decode(cls, message.payload, message.properties)
        except codec.PayloadError as exc:
            self._reject(topic, str(exc))
            if parsed.kind == "cmd":
                self._send_reply(message, base.ErrorReply(code="invalid_request", message=str(exc)))
            return
        for s in subs:
            if s.command:
                self._spawn(self._serve_one(s, msg, parsed.evse, message), topic)
            else:
                self._spawn(s.handler(msg, parsed.evse), topic)

    async def _serve_one(
        self, sub: _Sub, msg: base.Message, evse: int | None, message: mqtt.MQTTMessage
    ) -> None:
        reply: BaseModel
        try:
            result = sub.handler(msg, evse)
            if inspect.isawaitable(result):
                result = await result
            cmd_cls = cast(type[base.Command[Any]], sub.cls)
            if not isinstance(result, cmd_cls.reply):
                raise TypeError(
                    f"handler returned {type(result).__name__}, expected {cmd_cls.reply.__name__}"
                )
            reply = result
        except base.CommandError as exc:
            reply = base.ErrorReply(code=exc.code, message=exc.message)
        except Exception as exc:
            self.stats.handler_errors += 1
            log.exception("%s: command handler for %s failed", self.service, message.topic)
            reply = base.ErrorReply(code="internal", message=f"{type(exc).__name__}: {exc}")
        self.stats.commands_served += 1
        self._send_reply(message, reply)

    def _send_reply(self, message: mqtt.MQTTMessage, reply: BaseModel) -> None:
        props_in = message.properties
        response_topic = getattr(props_in, "ResponseTopic", None) if props_in else None
        if not response_topic:
            return
        fmt = self.settings.payload_format
        props = codec.properties(fmt)
        props.CorrelationData = getattr(props_in, "CorrelationData", b"")
        status = "error" if isinstance(reply, base.ErrorReply) else "ok"
        props.UserProperty = [*getattr(props, "UserProperty", []), ("status", status)]
        self._publish_raw(response_topic, codec.encode(reply, fmt), props, retain=False)

    # ------------------------------------------------------------------ commands

    async def request(self, cmd: base.Command[R], evse: int | None = None, timeout: float | None = None) -> R:
        """Send a command and wait for its reply; raises CommandError / CommandTimeout."""
        cls = type(cmd)
        topic = cls.topic(evse)
        corr = uuid.uuid4().bytes
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[bool, Any]] = loop.create_future()
        self._pending[corr] = fut
        fmt = self.settings.payload_format
        props = codec.properties(fmt)
        props.ResponseTopic = self._reply_topic
        props.CorrelationData = corr
        self.stats.requests += 1
        try:
            self._publish_raw(topic, codec.encode(cmd, fmt), props, retain=False)
            wait = cls.timeout_s if timeout is None else timeout
            try:
                ok, payload = await asyncio.wait_for(fut, wait)
            except TimeoutError:
                self.stats.timeouts += 1
                raise base.CommandTimeout(f"no reply to {cls.__name__} on {topic} within {wait} s") from None
        finally:
            self._pending.pop(corr, None)
        if not ok:
            err = base.ErrorReply.model_validate(payload)
            raise base.CommandError(err.code, err.message)
        try:
            return cast(R, cls.reply.model_validate(payload))
        except ValidationError as exc:
            raise base.CommandError("invalid_request", f"invalid reply to {cls.__name__}: {exc}") from exc

    def _on_reply(self, message: mqtt.MQTTMessage) -> None:
        props = message.properties
        corr = getattr(props, "CorrelationData", None) if props else None
        fut = self._pending.get(corr) if corr else None
        if fut is None or fut.done():
            return
        status = dict(getattr(props, "UserProperty", []) or []).get("status", "ok")
        try:
            obj = codec.decode_any(message.payload, props)
        except codec.PayloadError as exc:
            self._reject(message.topic, str(exc))
            fut.set_result((False, {"code": "invalid_request", "message": f"undecodable reply: {exc}"}))
            return
        fut.set_result((status == "ok", obj))
