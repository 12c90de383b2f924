"""The bus client: paho-mqtt 2.x (MQTT 5) driven from the asyncio event loop, one per service.

The paho socket is served by the event loop's reader/writer callbacks (no network thread), so handlers run on
the loop. The client reconnects with back-off after the broker goes away, resubscribes, and re-publishes its
retained state; QoS 1 messages published while disconnected stay queued in paho and are sent on reconnect.

Against bus insiders (a client holding some service's credentials): payloads above ``max_payload`` and messages
above ``max_rate`` per publishing service are dropped before decoding (``josev.bus.admission``); replies are accepted only from the
service the command was sent to (the reply topic names the responder, which the broker's ACL enforces); every
command addressed to this service that cannot be served gets a typed error reply; a command the broker refuses
to deliver fails at once with ``forbidden``. What was dropped is counted (``BusStats``) and published in the
service's retained status.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ValidationError

import josev
from josev.api import base, topics
from josev.bus import codec
from josev.bus.admission import Admission, BusStats
from josev.bus.settings import CLIENT_ID_PREFIX, BusSettings
from josev.observability import oplog

log = logging.getLogger("josev.bus")

M = TypeVar("M", bound=base.Message)
R = TypeVar("R", bound=base.Reply)
Handler = Callable[[M, int | None], Awaitable[None] | None]
CommandHandler = Callable[[M, int | None], Awaitable[base.Reply] | base.Reply]
RawHandler = Callable[[str, Any, "mqtt.MQTTMessage"], Awaitable[None] | None]


@dataclass
class _Pending:
    future: asyncio.Future[tuple[bool, Any]]
    responder: str
    topic: str


@dataclass
class _Sub:
    cls: type[base.Message]
    evse: int | Literal["+"] | None
    handler: Callable[..., Any]
    command: bool = False


class Bus:
    """A service's connection to the bus."""

    READ_BURST = 64
    STATUS_REFRESH_S = 5.0
    """At most this often the retained status is re-published with fresh drop counters."""
    READ_WINDOW_S = 0.05
    READ_SHARE = 0.8
    STABLE_S = 10.0
    """A connection that lasted this long resets the reconnect back-off."""
    SHORT_S = 2.0
    """A connection closed by the broker within this time counts as taken over (see ``_on_disconnect``)."""

    def __init__(self, service: str, settings: BusSettings, *, client_id: str | None = None) -> None:
        topics.check_name(service, "service")
        self.service = service
        self.settings = settings
        if client_id is not None and not client_id.startswith(CLIENT_ID_PREFIX):
            raise ValueError(
                f"client id {client_id!r} must start with {CLIENT_ID_PREFIX!r} (broker clientid_prefixes)"
            )
        self.client_id = client_id or f"{CLIENT_ID_PREFIX}{service}-{uuid.uuid4().hex[:8]}"
        self.stats = BusStats()
        self.admission = Admission(service, settings, self.stats)
        self._reply_client = self.client_id.replace("/", "_").replace("+", "_").replace("#", "_")
        self._reply_filter = topics.reply_filter(service, self._reply_client)
        self._subs: list[_Sub] = []
        self._raw: list[tuple[str, RawHandler]] = []
        self._filters: set[str] = {self._reply_filter}
        self._pending: dict[bytes, _Pending] = {}
        self._mids: dict[int, bytes] = {}
        self._serving = False
        self._counters_sent: base.BusCounters | None = None
        self._counters_at = 0.0
        self._retained: dict[str, tuple[bytes, Properties]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected = asyncio.Event()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._status: base.ServiceStatus | None = None
        self._taken_over = False
        self._connected_at = 0.0
        self._window_start = 0.0
        self._window_busy = 0.0
        self._reading_paused = False
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
        c.on_publish = self._on_publish
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
                    host, port, sock = self.settings.endpoint(self.settings.username or self.service)
                    if sock:
                        self._client.connect(
                            str(sock),
                            keepalive=self.settings.keepalive_s,
                            clean_start=False,
                            properties=props,
                        )
                    else:
                        self._client.connect(
                            host,
                            port,
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
                    if time.monotonic() - self._connected_at > self.STABLE_S:
                        delay = self.settings.reconnect_min_s  # back-off resets only on a lasting connection
                    self._refresh_status()
                await asyncio.sleep(0.5)
            if self._taken_over:
                # Another connection with our credentials holds the session: do not fight it every 100 ms.
                delay = max(delay, 1.0)
                self._taken_over = False
            if not self._closing:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max_s)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(OSError, AttributeError):
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # A bounded receive buffer (no autotuning up to tcp_rmem's 32 MB): a flood from one insider can
            # then only queue that much ahead of a legitimate reply; the rest waits at (and is dropped by) the
            # broker, whose per-client queue is bounded too (max_queued_messages).
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.settings.receive_buffer)
        self._loop.add_reader(sock, self._read)

    def _read(self) -> None:
        # paho's loop_read() handles one packet per call and cannot tell "no more data": drain the socket with
        # its packet reader until EAGAIN (bounded), so a burst does not cost one event-loop iteration per packet.
        client = self._client
        packet_read = getattr(client, "_packet_read", None)
        if packet_read is None:  # pragma: no cover - paho internals changed: one packet per wake-up
            client.loop_read()
            return
        t0 = time.perf_counter()
        try:
            for _ in range(self.READ_BURST):
                if client.socket() is None:
                    return
                rc = packet_read()
                if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                    return
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    client._loop_rc_handle(rc)
                    return
        finally:
            self._read_budget(time.perf_counter() - t0)

    def _read_budget(self, spent: float) -> None:
        """Reading may take at most ``READ_SHARE`` of the event loop's time (per ``READ_WINDOW_S``): under a
        flood the socket is left alone for the rest of the window, so timers, heartbeats and the other services
        on this loop keep running; the backlog waits in the (bounded) socket buffer and broker queue."""
        now = time.monotonic()
        if now - self._window_start >= self.READ_WINDOW_S:
            self._window_start, self._window_busy = now, 0.0
        self._window_busy += spent
        if self._window_busy <= self.READ_SHARE * self.READ_WINDOW_S or self._reading_paused:
            return
        sock = self._client.socket()
        if sock is None or self._loop is None:
            return
        self._reading_paused = True
        self.stats.read_pauses += 1
        self._loop.remove_reader(sock)
        self._loop.call_later(
            max(0.0, self._window_start + self.READ_WINDOW_S - now), self._resume_reading, sock
        )

    def _resume_reading(self, sock: Any) -> None:
        self._reading_paused = False
        still_open = self._client.socket() is sock
        if self._loop is not None and still_open:
            self._loop.add_reader(sock, self._read)

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
            log.error(
                "%s: broker refused the connection: %s (wrong password, or a service user on the tools listener"
                " or the reverse: cli and bench connect to port + 1)",
                self.service,
                reason,
            )
            return
        self.stats.connects += 1
        for filt in sorted(self._filters):
            client.subscribe(filt, qos=1)
        for topic, (payload, p) in self._retained.items():
            client.publish(topic, payload, qos=1, retain=True, properties=p)
        self._connected_at = time.monotonic()
        self._connected.set()
        log.debug("%s: connected (%d subscriptions)", self.service, len(self._filters))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        # The broker binds a service's session to its user: a second connection with the same credentials takes
        # it over (MQTT 5 reason 0x8E; mosquitto 2.0 just closes the socket, seconds after the connect).
        short = self._connected.is_set() and time.monotonic() - self._connected_at < self.SHORT_S
        if not self._closing and (getattr(reason, "value", None) == 0x8E or short):
            self.stats.taken_over += 1
            self._taken_over = True
            self.admission.log_drop(
                "takeover",
                f"{self.service}: the connection was closed {time.monotonic() - self._connected_at:.1f} s after"
                f" connecting ({reason}): is another client connected with the credentials of"
                f" {self.settings.username or self.service!r}? Backing off.",
            )
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
        for p in self._pending.values():
            if not p.future.done():
                p.future.set_exception(ConnectionError("bus closed"))
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
    ) -> int:
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise ConnectionError(f"publish on {topic} failed: {mqtt.error_string(info.rc)}")
        self.stats.published += 1
        return int(info.mid)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        corr = self._mids.pop(mid, None)
        if reason is None or not getattr(reason, "is_failure", False):
            return
        self.stats.denied += 1
        pending = self._pending.get(corr) if corr else None
        if pending is not None and not pending.future.done():
            pending.future.set_exception(
                base.CommandError(
                    "forbidden",
                    f"the broker refused {pending.topic} from {self.service}: {reason}"
                    " (not among the command's callers; see josev.api)",
                )
            )
        else:
            self.admission.log_drop("denied", f"the broker refused a publish of {self.service}: {reason}")

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
        self._publish_status()

    def _refresh_status(self) -> None:
        """Re-publish the status when the drop counters changed (at most every ``STATUS_REFRESH_S``)."""
        if self._status is None or time.monotonic() - self._counters_at < self.STATUS_REFRESH_S:
            return
        if self.stats.counters() != self._counters_sent:
            with contextlib.suppress(ConnectionError):
                self._publish_status()

    def _publish_status(self) -> None:
        assert self._status is not None
        counters = self.stats.counters()
        self._status = self._status.model_copy(update={"bus": counters})
        self._counters_sent = counters
        self._counters_at = time.monotonic()
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
        if not self._serving:  # every command addressed to us arrives, so none goes unanswered
            self._serving = True
            self._add_filter(f"{topics.ROOT}/{self.service}/+/cmd/+")

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
        if not self.admission.admit(message):
            return
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
        if topic in self.stats.errors_by_topic or len(self.stats.errors_by_topic) < 1000:
            self.stats.errors_by_topic[topic] = self.stats.errors_by_topic.get(topic, 0) + 1
        self.admission.log_drop("invalid", f"{self.service}: rejected message on {topic[:200]}: {why[:500]}")

    def _dispatch(self, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        parts = topic.split("/")
        if len(parts) == 6 and parts[3] == "reply":
            if mqtt.topic_matches_sub(self._reply_filter, topic):
                self._on_reply(message, parts[5])
            return
        if self._serving and len(parts) == 6 and parts[4] == "cmd" and parts[2] == self.service:
            if topic.startswith(f"{topics.ROOT}/"):
                self._dispatch_command(message, parts[3], parts[5])
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
            return
        for s in subs:
            self._spawn(s.handler(msg, parsed.evse), topic)

    def _refuse(self, message: mqtt.MQTTMessage, code: base.ErrorCode, text: str) -> None:
        self.stats.commands_refused += 1
        self.admission.log_drop(
            f"refused-{code}", f"{self.service}: refused command on {message.topic[:200]}: {text}"
        )
        # QoS 0: refusals (possibly of a flood) must not take the in-flight window our own messages need.
        self._send_reply(message, base.ErrorReply(code=code, message=text), qos=0)

    def _dispatch_command(self, message: mqtt.MQTTMessage, level: str, name: str) -> None:
        """A command addressed to this service: served, or answered with a typed error (never silence)."""
        if not message.payload:
            self._refuse(message, "invalid_request", f"empty payload for command {name!r}")
            return
        props = message.properties
        schema = dict(getattr(props, "UserProperty", []) or []).get("schema") if props else None
        if schema is not None and schema != str(base.SCHEMA_VERSION):
            self._refuse(
                message,
                "unsupported_schema",
                f"schema version {schema[:20]!r} is not supported (this service speaks {base.SCHEMA_VERSION})",
            )
            return
        served = [s for s in self._subs if s.command and s.cls.name == name]
        if not served:
            known = sorted({s.cls.name for s in self._subs if s.command})
            self._refuse(
                message, "unknown_command", f"{self.service} has no command {name[:80]!r} (it serves {known})"
            )
            return
        cls = served[0].cls
        evse: int | None
        if level == topics.STATION_SCOPE:
            evse = None
        elif level.startswith("evse") and level[4:].isdigit() and int(level[4:]) >= 1:
            evse = int(level[4:])
        else:
            self._refuse(
                message, "invalid_scope", f"invalid scope {level[:40]!r}: station or evse<N>, N >= 1"
            )
            return
        if cls.per_evse != (evse is not None):
            want = "per EVSE (evse<N>)" if cls.per_evse else "station-wide (station)"
            self._refuse(message, "invalid_scope", f"{cls.__name__} is {want}, not sent to {level!r}")
            return
        subs = [s for s in served if s.evse == "+" or s.evse == evse]
        if not subs:
            self._refuse(message, "invalid_scope", f"{self.service} does not serve {cls.__name__} on {level}")
            return
        try:
            msg = codec.decode(cls, message.payload, props)
        except codec.PayloadError as exc:
            self._reject(message.topic, str(exc))
            self.stats.commands_refused += 1
            self._send_reply(message, base.ErrorReply(code="invalid_request", message=str(exc)), qos=0)
            return
        self._spawn(self._serve_one(subs[0], msg, evse, message), message.topic)

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
        # QoS 0: a reply must not wait for an in-flight slot (whose PUBACK may sit behind a flood on our
        # inbound stream); the broker is local and the caller times out if the connection dies.
        self._send_reply(message, reply, qos=0)

    def _send_reply(self, message: mqtt.MQTTMessage, reply: BaseModel, *, qos: int = 1) -> None:
        props_in = message.properties
        response_topic = getattr(props_in, "ResponseTopic", None) if props_in else None
        if not response_topic:
            return
        parts = response_topic.split("/")
        if len(parts) != 6 or parts[3] != "reply" or parts[5] != self.service or "+" in response_topic:
            # The broker would refuse it anyway: replies go only to topics naming this service as responder.
            self.admission.log_drop(
                "reply-topic",
                f"{self.service}: cannot answer on {response_topic[:200]!r}: a response topic must be"
                f" {topics.reply_topic('<caller>', '<client>', self.service)}",
            )
            return
        fmt = self.settings.payload_format
        props = codec.properties(fmt)
        props.CorrelationData = getattr(props_in, "CorrelationData", b"")
        status = "error" if isinstance(reply, base.ErrorReply) else "ok"
        props.UserProperty = [*getattr(props, "UserProperty", []), ("status", status)]
        self._publish_raw(response_topic, codec.encode(reply, fmt), props, retain=False, qos=qos)

    # ------------------------------------------------------------------ commands

    async def request(self, cmd: base.Command[R], evse: int | None = None, timeout: float | None = None) -> R:
        """Send a command and wait for its reply; raises CommandError / CommandTimeout."""
        cls = type(cmd)
        topic = cls.topic(evse)
        corr = uuid.uuid4().bytes
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[bool, Any]] = loop.create_future()
        self._pending[corr] = _Pending(fut, cls.service, topic)
        fmt = self.settings.payload_format
        props = codec.properties(fmt)
        props.ResponseTopic = topics.reply_topic(self.service, self._reply_client, cls.service)
        props.CorrelationData = corr
        self.stats.requests += 1
        mid: int | None = None
        try:
            mid = self._publish_raw(topic, codec.encode(cmd, fmt), props, retain=False)
            self._mids[mid] = corr
            wait = cls.timeout_s if timeout is None else timeout
            try:
                ok, payload = await asyncio.wait_for(fut, wait)
            except TimeoutError:
                self.stats.timeouts += 1
                raise base.CommandTimeout(f"no reply to {cls.__name__} on {topic} within {wait} s") from None
        finally:
            self._pending.pop(corr, None)
            if mid is not None:
                self._mids.pop(mid, None)
        if not ok:
            err = base.ErrorReply.model_validate(payload)
            raise base.CommandError(err.code, err.message)
        try:
            return cast(R, cls.reply.model_validate(payload))
        except ValidationError as exc:
            raise base.CommandError("invalid_request", f"invalid reply to {cls.__name__}: {exc}") from exc

    def _on_reply(self, message: mqtt.MQTTMessage, responder: str) -> None:
        props = message.properties
        corr = getattr(props, "CorrelationData", None) if props else None
        pending = self._pending.get(corr) if corr else None
        if pending is None or pending.future.done():
            return
        if responder != pending.responder:
            self.stats.forged_replies += 1
            self.admission.log_drop(
                "forged",
                f"{self.service}: dropped a reply from {responder!r} to a command sent to {pending.responder!r}",
            )
            return
        fut = pending.future
        status = dict(getattr(props, "UserProperty", []) or []).get("status", "ok")
        try:
            obj = codec.decode_any(message.payload, props)
        except codec.PayloadError as exc:
            self._reject(message.topic, str(exc))
            fut.set_result((False, {"code": "invalid_request", "message": f"undecodable reply: {exc}"}))
            return
        fut.set_result((status == "ok", obj))
