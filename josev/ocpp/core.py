"""The sans-IO OCPP 2.0.1 charging-station core.

Inputs (each with ``now``: seconds on the UNIX scale from the shell's monotonic clock,
:class:`josev.ocpp.connection.SteadyClock`, so a step of the system clock moves no timer; timestamps are
``now`` plus the CSMS offset, :meth:`Station.wall`): websocket frames (:meth:`Station.receive`), connection
up/down, timers (:meth:`Station.tick`), station-side events (methods of the functional-block modules, reached
through :class:`Station`), and completions of deferred requests. Outputs: lists of
:mod:`josev.ocpp.effects`. :meth:`Station.next_deadline` says when to call :meth:`Station.tick`.

Outgoing CALLs: exactly one in flight. Live messages (boot, heartbeat, status, authorize, reports ...) sit in
an in-memory queue and are dropped when the connection drops (kept if ``QueueAllMessages``); transaction
messages and security events are in the persistent :class:`~josev.ocpp.store.Store` queue and are delivered
in order, retried per ``MessageAttempts`` / ``MessageAttemptInterval``.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from josev.observability import oplog
from josev.ocpp import rpc, schemas
from josev.ocpp.devmodel import DeviceModel
from josev.ocpp.effects import Effect, SendFrame, StationRequest
from josev.ocpp.store import Store

log = logging.getLogger(__name__)

PERSISTENT_ACTIONS = frozenset({"TransactionEvent", "SecurityEventNotification"})
"""Actions that go through the persistent queue."""

ResultCb = Callable[["Station", dict[str, Any], float], None]
ErrorCb = Callable[["Station", str, float], None]


@dataclass(slots=True)
class Outgoing:
    """A CALL waiting to be sent or in flight."""

    action: str
    payload: dict[str, Any]
    on_result: ResultCb | None = None
    on_error: ErrorCb | None = None
    queue_id: int | None = None
    attempts: int = 0
    during_pending: bool = False


@dataclass(slots=True)
class InFlight:
    """The CALL awaiting its response."""

    unique_id: str
    msg: Outgoing
    deadline: float


ReplyCb = Callable[["Station", dict[str, Any], float], dict[str, Any]]
ThenCb = Callable[["Station", dict[str, Any], float], None]


class Deferred:
    """Returned by a CSMS-call handler whose response comes later through :meth:`Station.complete` (also as
    ``{"_defer": Deferred(...), ...}``, so that a wrapping handler still sees a dict; its ``_after`` then runs
    after an ``Accepted`` response). ``on_reply`` turns the station's reply into the CSMS response (which may
    carry ``_after``); without it the reply is the response."""

    def __init__(
        self,
        kind: str,
        data: dict[str, Any],
        timeout_payload: dict[str, Any],
        on_reply: ReplyCb | None = None,
    ) -> None:
        self.kind = kind
        self.data = data
        self.timeout_payload = timeout_payload
        self.on_reply = on_reply
        self.after_accepted: Callable[[Station, float], None] | None = None


class Station:
    """State of one charging station towards one CSMS. See the module docstring."""

    def __init__(
        self,
        store: Store,
        dm: DeviceModel,
        *,
        evses: dict[int, int],
        boot_info: dict[str, Any],
        id_factory: Callable[[], str] | None = None,
    ) -> None:
        from josev.ocpp import routing, transactions

        self.store = store
        self.dm = dm
        self.evses = evses
        self.boot_info = boot_info
        self.new_id = id_factory or (lambda: str(uuid.uuid4()))
        self.routes = routing.TABLE
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)
        self.effects: list[Effect] = []
        self.online = False
        self.offline_since: float | None = 0.0
        self.registration: str | None = None  # None, Pending, Accepted, Rejected
        self.boot_reason = str(store.get("boot_reason", "PowerUp"))
        self.next_boot_at = 0.0
        self.boot_in_flight = False
        self.clock_offset = 0.0
        self.last_sent = 0.0
        self.in_flight: InFlight | None = None
        self.mem: deque[Outgoing] = deque()
        self.retry_at = 0.0
        self.deferred: dict[int, tuple[str, str, float, dict[str, Any]]] = {}
        self.deferred_how: dict[int, Deferred] = {}
        self.waiting: dict[int, tuple[ThenCb, float, dict[str, Any]]] = {}
        """Station requests whose reply the core acts on (:meth:`ask`): token -> (then, deadline, reply on
        timeout)."""
        self.timers: dict[str, float] = {}
        self.stats = {"callerrors_sent": 0, "callerrors_received": 0, "timeouts": 0, "dropped": 0}
        self.firmware_status = "Idle"
        self.firmware_request_id: int | None = None
        self.log_status = "Idle"
        self.log_request_id: int | None = None
        self.pending_reset: str | None = None
        store.put("boot_reason", None)
        self.active_slot: int | None = None
        self.key_dir = Path(store.path).parent / "keys"
        """Where the station's own keys and certificates live (:mod:`josev.ocpp.certificates`)."""
        self.tx = transactions.Transactions(self)
        self.timer_handlers: dict[str, Callable[[str, float], None]] = {}
        """Timer name prefix (before ``:``) -> the functional block that set it (default: transactions)."""
        self.refreshers: list[Callable[[float], None]] = []
        """Run before every pump (after any input): blocks that derive outputs from the state (display view)."""
        self.blocks: dict[str, Any] = {}
        """In-memory state of functional blocks, by name."""
        self._refreshing = False
        from josev.ocpp import display, monitoring, reservation

        reservation.attach(self)
        display.attach(self)
        monitoring.attach(self)
        from josev.ocpp import certificates

        self.timer_handlers["cert"] = lambda name, now: certificates.on_timer(self, name, now)
        from josev.ocpp.smartcharging import messages as smart

        self.timer_handlers["sc"] = lambda name, now: smart.on_timer(self, name, now)
        from josev.ocpp import security

        dm.validators["SecurityCtrlr/BasicAuthPassword"] = security.check_password
        dm.validators["OCPPCommCtrlr/NetworkConfigurationPriority"] = lambda v: security.check_priority(
            self, v
        )

    # -- time ----------------------------------------------------------------------------------------
    def wall(self, now: float) -> float:
        """Station clock (CSMS-synchronised) for shell time ``now``."""
        return now + self.clock_offset

    def timestamp(self, now: float) -> str:
        """RFC 3339 UTC timestamp of the station clock."""
        dt = datetime.fromtimestamp(self.wall(now), UTC)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"

    def set_clock(self, current_time: str, now: float) -> None:
        """Adopt the CSMS time."""
        try:
            wall = datetime.fromisoformat(current_time.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return
        self.clock_offset = wall - now

    # -- outputs -------------------------------------------------------------------------------------
    def take(self) -> list[Effect]:
        """Return and clear the effects produced so far."""
        out, self.effects = self.effects, []
        return out

    def emit(self, effect: Effect) -> None:
        """Queue an effect."""
        self.effects.append(effect)

    def send(
        self,
        action: str,
        payload: dict[str, Any],
        now: float,
        *,
        on_result: ResultCb | None = None,
        on_error: ErrorCb | None = None,
        during_pending: bool = False,
    ) -> None:
        """Queue a CALL to the CSMS. Transaction messages and security events are persisted."""
        if action in PERSISTENT_ACTIONS:
            self.store.enqueue(action, payload, now)
        else:
            if not self.online and not self.dm.get_bool("OCPPCommCtrlr", "QueueAllMessages"):
                self.stats["dropped"] += 1
                log.info("offline: dropped %s", action)
                return
            self.mem.append(Outgoing(action, payload, on_result, on_error, during_pending=during_pending))
        self._pump(now)

    def _send_frame(self, frame: rpc.Frame, now: float) -> None:
        self.emit(SendFrame(rpc.encode(frame)))
        self.last_sent = now

    # -- connection ----------------------------------------------------------------------------------
    def connected(self, now: float, slot: int | None = None) -> list[Effect]:
        """The websocket is open (using network profile ``slot``, if known)."""
        if slot is not None:
            from josev.ocpp import security

            security.on_connected(self, slot, now)
        offline_for = now - self.offline_since if self.offline_since is not None else 0.0
        self.online = True
        self.offline_since = None
        self.last_sent = now
        if self.registration != "Accepted":
            self.next_boot_at = (
                min(self.next_boot_at, now) if self.registration is None else self.next_boot_at
            )
        else:
            from josev.ocpp import availability

            availability.after_reconnect(self, offline_for, now)
        self._pump(now)
        return self.take()

    def disconnected(self, now: float) -> list[Effect]:
        """The websocket closed."""
        self.online = False
        self.offline_since = now
        if self.in_flight is not None:
            msg = self.in_flight.msg
            self.in_flight = None
            if msg.action == "BootNotification":
                self.boot_in_flight = False
            elif msg.queue_id is None and self.dm.get_bool("OCPPCommCtrlr", "QueueAllMessages"):
                self.mem.appendleft(msg)
        if not self.dm.get_bool("OCPPCommCtrlr", "QueueAllMessages"):
            self.stats["dropped"] += len(self.mem)
            self.mem.clear()
        self.deferred.clear()
        return self.take()

    # -- timers --------------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called (None: only on input)."""
        times = list(self.timers.values())
        if self.in_flight is not None:
            times.append(self.in_flight.deadline)
        if self.online and self.in_flight is None:
            if self.registration != "Accepted" and not self.boot_in_flight:
                times.append(self.next_boot_at)
            elif self.registration == "Accepted":
                times.append(self.last_sent + self.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval"))
                if self.retry_at and self.store.queue_length():
                    times.append(self.retry_at)
        times += [d[2] for d in self.deferred.values()]
        times += [w[1] for w in self.waiting.values()]
        return min(times) if times else None

    def tick(self, now: float) -> list[Effect]:
        """Advance time: timeouts, retries, heartbeats, meter values."""
        if self.in_flight is not None and now >= self.in_flight.deadline:
            flight, self.in_flight = self.in_flight, None
            self.stats["timeouts"] += 1
            log.warning("no response to %s %s", flight.msg.action, flight.unique_id)
            self._failed(flight.msg, "Timeout", now)
        for token, (uid, action, deadline, payload) in list(self.deferred.items()):
            if now >= deadline:
                del self.deferred[token]
                self.deferred_how.pop(token, None)
                self._respond(uid, action, payload, now)
        for token, (then, deadline, reply) in list(self.waiting.items()):
            if now >= deadline:
                del self.waiting[token]
                then(self, dict(reply), now)
        for name, at in list(self.timers.items()):
            if now >= at and self.timers.get(name) == at:  # an earlier timer's handler may have cancelled it
                del self.timers[name]
                self.timer_handlers.get(name.partition(":")[0], self.tx.on_timer)(name, now)
        if (
            self.online
            and self.registration == "Accepted"
            and self.in_flight is None
            and now >= self.last_sent + self.dm.get_int("OCPPCommCtrlr", "HeartbeatInterval")
        ):
            from josev.ocpp import provisioning

            provisioning.send_heartbeat(self, now)
        self._pump(now)
        return self.take()

    # -- the pump ------------------------------------------------------------------------------------
    def _next(self, now: float) -> Outgoing | None:
        if self.registration != "Accepted":
            if not self.boot_in_flight and now >= self.next_boot_at:
                from josev.ocpp import provisioning

                return provisioning.boot_message(self, now)
            if self.registration == "Pending":
                for msg in self.mem:
                    if msg.during_pending:
                        self.mem.remove(msg)
                        return msg
            return None
        if self.mem:
            return self.mem.popleft()
        if now < self.retry_at:
            return None
        head = self.store.head()
        if head is None:
            return None
        return Outgoing(head.action, head.payload, queue_id=head.id, attempts=head.attempts)

    def _pump(self, now: float) -> None:
        if self.refreshers and not self._refreshing:
            self._refreshing = True
            try:
                for refresh in self.refreshers:
                    refresh(now)
            finally:
                self._refreshing = False
        if not self.online or self.in_flight is not None:
            return
        while True:
            msg = self._next(now)
            if msg is None:
                return
            try:
                schemas.validate(msg.action, msg.payload, "Request")
                break
            except rpc.RpcError as err:  # our bug or bad station input: never send it, never block on it
                log.error("not sending invalid %s: %s", msg.action, err)
                self.stats["dropped"] += 1
                if msg.queue_id is not None:
                    self.store.dequeue(msg.queue_id)
                elif msg.action == "BootNotification":
                    self.boot_in_flight = False
                    self.next_boot_at = now + 60
                    return
                elif msg.on_error is not None:
                    msg.on_error(self, err.code, now)
        uid = str(next(self._ids)) + "-" + self.new_id()[:8]
        timeout = self.dm.get_int("OCPPCommCtrlr", "MessageTimeout", "Default")
        self.in_flight = InFlight(uid, msg, now + timeout)
        self._send_frame(rpc.Call(uid, msg.action, msg.payload), now)

    def _failed(self, msg: Outgoing, reason: str, now: float) -> None:
        if msg.action == "BootNotification":
            self.boot_in_flight = False
            self.next_boot_at = now + self.dm.get_int("OCPPCommCtrlr", "RetryBackOffWaitMinimum") + 1
        if msg.queue_id is not None:
            attempts = msg.attempts + 1
            limit = self.dm.get_int("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent")
            interval = self.dm.get_int("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent")
            # security events are retried without limit; every other queued message (TransactionEvent, and the
            # NotifyEvent / ReservationStatusUpdate kept while offline) is abandoned after MessageAttempts
            if msg.action != "SecurityEventNotification" and attempts >= limit:
                log.error("%s abandoned after %d attempts (%s)", msg.action, attempts, reason)
                self.store.dequeue(msg.queue_id)
                self.stats["dropped"] += 1
                self.retry_at = 0.0
            else:
                self.store.set_attempts(msg.queue_id, attempts)
                self.retry_at = now + interval * min(attempts, 10)
        elif msg.on_error is not None:
            msg.on_error(self, reason, now)

    # -- frames in -----------------------------------------------------------------------------------
    def receive(self, text: str | bytes, now: float) -> list[Effect]:
        """A websocket message from the CSMS."""
        try:
            frame = rpc.parse(text)
        except rpc.RpcError as err:
            log.warning("bad frame from CSMS: %s", err)
            self.stats["callerrors_sent"] += 1
            if err.unique_id != "-1" or isinstance(text, str):
                self._send_frame(err.to_frame(), now)
            return self.take()
        if isinstance(frame, rpc.Call):
            self._on_call(frame, now)
        else:
            self._on_response(frame, now)
        self._pump(now)
        return self.take()

    def _on_response(self, frame: rpc.CallResult | rpc.CallError, now: float) -> None:
        flight = self.in_flight
        if flight is None or frame.unique_id != flight.unique_id:
            log.warning("response to unknown message id %s ignored", frame.unique_id)
            return
        self.in_flight = None
        msg = flight.msg
        if isinstance(frame, rpc.CallError):
            self.stats["callerrors_received"] += 1
            log.warning("CSMS answered %s with %s: %s", msg.action, frame.code, frame.description)
            self._failed(msg, frame.code, now)
            return
        try:
            schemas.validate(msg.action, frame.payload, "Response", frame.unique_id)
        except rpc.RpcError as err:
            log.warning("invalid %s response: %s", msg.action, err)
            self._failed(msg, err.code, now)
            return
        if msg.queue_id is not None:
            self.store.dequeue(msg.queue_id)
            self.retry_at = 0.0
            if msg.action == "TransactionEvent":
                from josev.ocpp import authorization

                authorization.on_tx_response(self, msg.payload, frame.payload, now)
        if msg.on_result is not None:
            msg.on_result(self, frame.payload, now)

    def _on_call(self, call: rpc.Call, now: float) -> None:
        if self.registration == "Rejected":
            self._send_frame(rpc.CallError(call.unique_id, "SecurityError", "not accepted by the CSMS"), now)
            return
        handler = self.routes.get(call.action)
        try:
            if handler is None:
                if schemas.known_action(call.action):
                    raise rpc.RpcError("NotSupported", f"{call.action} is not supported", call.unique_id)
                raise rpc.RpcError("NotImplemented", f"unknown action {call.action}", call.unique_id)
            schemas.validate(call.action, call.payload, "Request", call.unique_id)
        except rpc.RpcError as err:
            self.stats["callerrors_sent"] += 1
            self._send_frame(err.to_frame(), now)
            return
        try:
            result = handler(self, call.payload, now)
        except rpc.RpcError as err:
            self.stats["callerrors_sent"] += 1
            self._send_frame(rpc.CallError(call.unique_id, err.code, err.description), now)
            return
        except Exception as exc:  # a bug in a handler must not take the connection down
            log.exception("handler for %s failed", call.action)
            self.stats["callerrors_sent"] += 1
            self._send_frame(rpc.CallError(call.unique_id, "InternalError", str(exc)[:255]), now)
            return
        if isinstance(result, dict) and isinstance(result.get("_defer"), Deferred):
            deferred: Deferred = result["_defer"]
            deferred.after_accepted = result.get("_after")
            result = deferred
        if isinstance(result, Deferred):
            token = next(self._tokens)
            self.deferred[token] = (call.unique_id, call.action, now + 10.0, result.timeout_payload)
            self.deferred_how[token] = result
            self.emit(StationRequest(result.kind, result.data, token))
            return
        after = result.pop("_after", None) if isinstance(result, dict) else None
        self._respond(call.unique_id, call.action, result, now)
        if after is not None:
            after(self, now)

    def _respond(self, uid: str, action: str, payload: dict[str, Any], now: float) -> None:
        try:
            schemas.validate(action, payload, "Response", uid)
        except rpc.RpcError as err:  # our bug: say so rather than send an invalid response
            log.error("our %s response is invalid: %s", action, err)
            self._send_frame(rpc.CallError(uid, "InternalError", "invalid response generated"), now)
            return
        self._send_frame(rpc.CallResult(uid, payload), now)

    def complete(self, token: int, payload: dict[str, Any], now: float) -> list[Effect]:
        """The station's reply to a request with a token: answers a deferred CSMS request (see
        :class:`Deferred`) or runs what :meth:`ask` was told to do with it."""
        waiting = self.waiting.pop(token, None)
        if waiting is not None:
            waiting[0](self, payload, now)
        entry = self.deferred.pop(token, None)
        how = self.deferred_how.pop(token, None)
        if entry is not None and self.online:
            uid, action, _, _ = entry
            if how is not None and how.on_reply is not None:
                payload = how.on_reply(self, payload, now)
            handler_after = payload.pop("_after", None)
            self._respond(uid, action, payload, now)
            if handler_after is not None:
                handler_after(self, now)
            if how is not None and how.after_accepted is not None and payload.get("status") == "Accepted":
                how.after_accepted(self, now)
        self._pump(now)
        return self.take()

    def ask(
        self,
        kind: str,
        data: dict[str, Any],
        then: ThenCb,
        now: float,
        *,
        timeout: float = 10.0,
        timeout_reply: dict[str, Any] | None = None,
    ) -> None:
        """Ask the station for something and act on its reply: ``then(station, reply, now)`` runs on the reply
        (:meth:`complete`) or, after ``timeout`` seconds without one, with ``timeout_reply``."""
        token = next(self._tokens)
        reply = timeout_reply or {"status": "Rejected", "detail": "the station did not answer"}
        self.waiting[token] = (then, now + timeout, reply)
        self.emit(StationRequest(kind, data, token))

    # -- station-side inputs (from the coordinator / hardware) ---------------------------------------
    def _station_input(self, fn: Callable[[], None], now: float) -> list[Effect]:
        fn()
        self._pump(now)
        return self.take()

    def connector_status(self, evse: int, connector: int, status: str, now: float) -> list[Effect]:
        """Connector status from the station: Available, Occupied, Reserved, Unavailable or Faulted."""
        from josev.ocpp import availability

        return self._station_input(
            lambda: availability.station_status(self, evse, connector, status, now), now
        )

    def plug(self, evse: int, connector: int, connected: bool, now: float) -> list[Effect]:
        """EV cable plugged in (``connected``) or removed."""
        return self._station_input(lambda: self.tx.plug(evse, connector, connected, now), now)

    def present_token(self, evse: int | None, token: dict[str, Any], now: float) -> list[Effect]:
        """An idToken (``{"idToken": ..., "type": ...}``) presented at ``evse`` (None: not yet known)."""
        from josev.ocpp import authorization

        return self._station_input(lambda: authorization.id_token(self, evse, token, now), now)

    def charging_state(self, evse: int, state: str, now: float) -> list[Effect]:
        """Charging state: Charging, SuspendedEV, SuspendedEVSE, EVConnected or Idle."""
        return self._station_input(lambda: self.tx.charging_state(evse, state, now), now)

    def meter(self, evse: int, readings: dict[str, float], now: float) -> list[Effect]:
        """Latest meter readings (measurand -> value in Wh, W, A, V, Percent)."""
        return self._station_input(lambda: self.tx.meter(evse, readings), now)

    def stop_local(self, evse: int, reason: str, now: float) -> list[Effect]:
        """The station ended charging on its own (e.g. EV stopped): deauthorize with ``reason`` trigger."""
        return self._station_input(lambda: self.tx.deauthorize(evse, reason, now), now)

    def job_status(self, kind: str, request_id: int, status: str, now: float) -> list[Effect]:
        """Progress of a firmware or log job (see :class:`~josev.ocpp.effects.StartJob`)."""
        from josev.ocpp import firmware, logs

        module = firmware if kind == "firmware" else logs
        return self._station_input(lambda: module.report(self, request_id, status, now), now)

    # -- security events -----------------------------------------------------------------------------
    def security_event(self, type_: str, now: float, tech_info: str | None = None) -> None:
        """Log a security event in the rolling log and queue its (guaranteed) notification."""
        ts = self.timestamp(now)
        oplog.security_event(log, type_, tech_info)
        keep = self.dm.get_int("SecurityCtrlr", "SecurityLogEntries")
        self.store.log_security(ts, type_, tech_info, keep)
        payload: dict[str, Any] = {"type": type_, "timestamp": ts}
        if tech_info:
            payload["techInfo"] = tech_info[:255]
        self.send("SecurityEventNotification", payload, now)
