"""A scripted CSMS for tests: a real websockets server on loopback speaking OCPP-J 2.0.1."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

Responder = Callable[[dict[str, Any]], Any]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class CallErrorReply(Exception):
    """Return/raise from a responder to answer with a CALLERROR."""

    def __init__(self, code: str = "InternalError", description: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.description = description


class CsmsCallError(Exception):
    """The station answered our CALL with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


def default_responders() -> dict[str, Responder]:
    return {
        "BootNotification": lambda p: {"currentTime": now_iso(), "interval": 300, "status": "Accepted"},
        "Heartbeat": lambda p: {"currentTime": now_iso()},
        "StatusNotification": lambda p: {},
        "Authorize": lambda p: {"idTokenInfo": {"status": "Accepted"}},
        "TransactionEvent": lambda p: {},
        "MeterValues": lambda p: {},
        "NotifyReport": lambda p: {},
        "SecurityEventNotification": lambda p: {},
        "FirmwareStatusNotification": lambda p: {},
        "LogStatusNotification": lambda p: {},
        "NotifyCustomerInformation": lambda p: {},
        "DataTransfer": lambda p: {"status": "UnknownVendorId"},
        "ReservationStatusUpdate": lambda p: {},
        "NotifyDisplayMessages": lambda p: {},
        "NotifyEvent": lambda p: {},
        "NotifyMonitoringReport": lambda p: {},
    }


class ScriptedCsms:
    """Records every CALL of the station, answers with scriptable responders, and sends CALLs to it."""

    def __init__(
        self, *, ssl_context: ssl.SSLContext | None = None, password: str | None = None, port: int = 0
    ) -> None:
        self.responders = default_responders()
        self.ssl_context = ssl_context
        self.password = password
        self.port = port
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.acked: list[tuple[str, dict[str, Any]]] = []
        """CALLs whose response was handed to the connection before it closed (what the CSMS committed)."""
        self.raw_in: list[str] = []
        self.connections = 0
        self.auth_headers: list[str | None] = []
        self.paths: list[str] = []
        self.conn: ServerConnection | None = None
        self.server: Server | None = None
        self.accept = True
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._changed = asyncio.Condition()
        self.hold: set[str] = set()
        """Actions whose CALLs are recorded but never answered."""

    @property
    def url(self) -> str:
        return f"{'wss' if self.ssl_context else 'ws'}://{'localhost' if self.ssl_context else '127.0.0.1'}:{self.port}"

    def _check(self, conn: ServerConnection, request: Request) -> Response | None:
        auth = request.headers.get("Authorization")
        self.auth_headers.append(auth)
        if not self.accept:
            return conn.respond(503, "down\n")
        if self.password is not None:
            ident = request.path.rsplit("/", 1)[-1]
            want = "Basic " + base64.b64encode(f"{ident}:{self.password}".encode()).decode()
            if auth != want:
                return Response(
                    401,
                    "Unauthorized",
                    Headers([("WWW-Authenticate", 'Basic realm="csms"')]),
                    b"bad credentials\n",
                )
        return None

    async def start(self) -> None:
        self.server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            ssl=self.ssl_context,
            process_request=self._check,
            ping_interval=None,
        )
        self.port = self.server.sockets[0].getsockname()[1] if self.port == 0 else self.port

    async def stop(self) -> None:
        """CSMS down: close the listening socket and the connection."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        self.conn = None

    async def drop(self) -> None:
        """Close the current connection (the server keeps listening)."""
        if self.conn is not None:
            await self.conn.close()

    async def _handle(self, conn: ServerConnection) -> None:
        self.conn = conn
        self.connections += 1
        self.paths.append(conn.request.path if conn.request else "")
        try:
            async for text in conn:
                assert isinstance(text, str)
                self.raw_in.append(text)
                msg = json.loads(text)
                if msg[0] == 2:
                    await self._on_call(conn, msg)
                elif msg[0] in (3, 4):
                    fut = self._pending.pop(msg[1], None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                async with self._changed:
                    self._changed.notify_all()
        except Exception:
            pass
        finally:
            if self.conn is conn:
                self.conn = None

    async def _on_call(self, conn: ServerConnection, msg: list[Any]) -> None:
        _, uid, action, payload = msg
        self.received.append((action, payload))
        if action in self.hold:
            return
        responder = self.responders.get(action)
        try:
            if responder is None:
                raise CallErrorReply("NotImplemented", action)
            result = responder(payload)
            if isinstance(result, CallErrorReply):
                raise result
            reply: list[Any] = [3, uid, result]
        except CallErrorReply as err:
            reply = [4, uid, err.code, err.description, {}]
        await conn.send(json.dumps(reply))
        if reply[0] == 3:
            self.acked.append((action, payload))

    # -- test API ------------------------------------------------------------------------------------
    def actions(self, name: str) -> list[dict[str, Any]]:
        return [p for a, p in self.received if a == name]

    def acked_actions(self, name: str) -> list[dict[str, Any]]:
        return [p for a, p in self.acked if a == name]

    async def wait_for(
        self,
        action: str,
        pred: Callable[[dict[str, Any]], bool] = lambda p: True,
        timeout: float = 5.0,
        count: int = 1,
    ) -> dict[str, Any]:
        async def cond() -> dict[str, Any]:
            async with self._changed:
                while True:
                    hits = [p for p in self.actions(action) if pred(p)]
                    if len(hits) >= count:
                        return hits[count - 1]
                    await self._changed.wait()

        return await asyncio.wait_for(cond(), timeout)

    async def wait_connected(self, timeout: float = 5.0, count: int = 1) -> None:
        async def cond() -> None:
            while self.connections < count or self.conn is None:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(cond(), timeout)

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send a CALL to the station; returns the CALLRESULT payload or raises CsmsCallError."""
        msg = await self.call_raw(json.dumps([2, f"csms-{next(self._ids)}", action, payload]), timeout)
        if msg[0] == 4:
            raise CsmsCallError(msg[2], msg[3])
        return dict(msg[2])

    async def call_raw(self, text: str, timeout: float = 5.0, uid: str | None = None) -> list[Any]:
        """Send any text; waits for the response carrying the CALL's id (or ``uid``)."""
        assert self.conn is not None, "station not connected"
        if uid is None:
            try:
                uid = json.loads(text)[1]
            except Exception:
                uid = "-1"
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[str(uid)] = fut
        await self.conn.send(text)
        return list(await asyncio.wait_for(fut, timeout))
