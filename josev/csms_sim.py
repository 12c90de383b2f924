"""A small OCPP 2.0.1 CSMS stand-in for the reference station (``josev station --sim``): an OCPP-J websocket
server on loopback that accepts every station, answers BootNotification (Accepted), Heartbeat, Authorize
(Accepted), StatusNotification, TransactionEvent, MeterValues and notifications, and records every CALL.

Not a CSMS: it sends nothing on its own and keeps no state but the record. Unknown actions get a
``NotImplemented`` CALLERROR; a malformed frame is answered with ``FormatViolation`` (or dropped when it has
no message id) and the connection stays up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("josev.csms_sim")

SUBPROTOCOL = "ocpp2.0.1"
CALL, CALLRESULT, CALLERROR = 2, 3, 4


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


ANSWERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "BootNotification": lambda p: {"currentTime": _now(), "interval": 300, "status": "Accepted"},
    "Heartbeat": lambda p: {"currentTime": _now()},
    "StatusNotification": lambda p: {},
    "Authorize": lambda p: {"idTokenInfo": {"status": "Accepted"}},
    "TransactionEvent": lambda p: (
        {"idTokenInfo": {"status": "Accepted"}} if isinstance(p, dict) and p.get("idToken") else {}
    ),
    "MeterValues": lambda p: {},
    "NotifyReport": lambda p: {},
    "NotifyEvent": lambda p: {},
    "NotifyMonitoringReport": lambda p: {},
    "NotifyDisplayMessages": lambda p: {},
    "NotifyCustomerInformation": lambda p: {},
    "ReservationStatusUpdate": lambda p: {},
    "SecurityEventNotification": lambda p: {},
    "FirmwareStatusNotification": lambda p: {},
    "LogStatusNotification": lambda p: {},
    "NotifyEVChargingNeeds": lambda p: {"status": "Accepted"},
    "DataTransfer": lambda p: {"status": "UnknownVendorId"},
}
"""The answer to each action the stand-in accepts."""


@dataclass
class CsmsCall:
    """One CALL received from a station."""

    identity: str
    action: str
    payload: Any
    at: str = field(default_factory=_now)


class CsmsSim:
    """The stand-in: ``await start()``, then ``url`` is the station's ``csms_url``; ``await close()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.calls: list[CsmsCall] = []
        self.connected: set[str] = set()
        self._server: Any = None
        self.changed = asyncio.Event()

    @property
    def url(self) -> str:
        """The CSMS URL without the identity."""
        return f"ws://{self.host}:{self.port}/ocpp"

    def actions(self, identity: str | None = None) -> list[str]:
        """The actions received so far (of one station)."""
        return [c.action for c in self.calls if identity is None or c.identity == identity]

    def answer(self, identity: str, raw: str | bytes) -> str | None:
        """The reply frame to one received frame (None: nothing to send), sans-IO."""
        try:
            msg = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            log.warning("csms_sim: %s sent a frame that is not JSON", identity)
            return None
        if not isinstance(msg, list) or len(msg) < 3 or not isinstance(msg[1], str):
            return None
        if msg[0] != CALL:
            return None  # CALLRESULT / CALLERROR to nothing we sent: ignored
        if len(msg) != 4 or not isinstance(msg[2], str):
            return json.dumps([CALLERROR, msg[1], "FormatViolation", "CALL needs 4 elements", {}])
        _, mid, action, payload = msg
        self.calls.append(CsmsCall(identity, action, payload))
        self.changed.set()
        event = payload.get("eventType", "") if isinstance(payload, dict) else ""
        log.info("csms_sim: %s %s %s", identity, action, event)
        handler = ANSWERS.get(action)
        if handler is None:
            return json.dumps([CALLERROR, mid, "NotImplemented", f"{action} is not handled here", {}])
        return json.dumps([CALLRESULT, mid, handler(payload)])

    async def _handle(self, ws: Any) -> None:
        identity = ws.request.path.rstrip("/").rsplit("/", 1)[-1] if ws.request is not None else "?"
        self.connected.add(identity)
        log.info("csms_sim: station %s connected", identity)
        try:
            async for raw in ws:
                reply = self.answer(identity, raw)
                if reply is not None:
                    await ws.send(reply)
        except Exception as e:  # a broken station connection never stops the stand-in
            log.info("csms_sim: station %s: %s", identity, e)
        finally:
            self.connected.discard(identity)

    async def start(self) -> None:
        """Listen (on a free port when ``port`` is 0)."""
        from websockets.asyncio.server import serve

        self._server = await serve(self._handle, self.host, self.port, subprotocols=[SUBPROTOCOL])  # type: ignore[list-item]
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        log.info("csms_sim: OCPP 2.0.1 CSMS stand-in on %s", self.url)

    async def close(self) -> None:
        """Stop listening and drop the connections."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 3.0)
