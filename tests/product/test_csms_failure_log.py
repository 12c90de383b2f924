"""``josev run`` says why the CSMS connection failed (before: ``connect to slot 1 failed ()``), and at DEBUG,
where websockets logs the request headers, the Basic-auth password appears in no form."""

from __future__ import annotations

import asyncio
import base64
import threading
from http import HTTPStatus
from pathlib import Path
from typing import Any

from josev.broker import free_port_pair
from tests.product.stationproc import Station

PASSWORD = "Refused-Passw0rd-1234"


class Refusing:
    """A websocket server that answers every handshake with HTTP 401, on a loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.auth: list[str] = []
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> int:
        from websockets.asyncio.server import serve

        def refuse(conn: Any, request: Any) -> Any:
            self.auth.append(request.headers.get("Authorization", ""))
            return conn.respond(HTTPStatus.UNAUTHORIZED, "no\n")

        self.server = await serve(lambda ws: ws.close(), "127.0.0.1", 0, process_request=refuse)
        return int(next(iter(self.server.sockets)).getsockname()[1])

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_401_is_explained_and_the_password_never_logged(tmp_path: Path) -> None:
    srv = Refusing()
    try:
        cfg = tmp_path / "station.toml"
        cfg.write_text(
            f"""
[station]
id = "CS-401"
[[evse]]
id = 1
[ocpp]
csms_url = "ws://127.0.0.1:{srv.port}/ocpp"
basic_auth_password = "{PASSWORD}"
database = "{tmp_path / "ocpp.sqlite"}"
workdir = "{tmp_path / "ocpp"}"
[broker]
port = {free_port_pair()}
directory = "{tmp_path / "broker"}"
[logging]
level = "debug"
"""
        )
        st = Station(cfg, tmp_path / "run.log")
        line = "CSMS connection (slot 1) failed: the CSMS answered HTTP 401 (identity or Basic-auth password refused)"
        assert st.wait_for(lambda: line in st.text()), st.text()[-3000:]
        st.stop()
        text = st.text()
        basic = base64.b64encode(f"CS-401:{PASSWORD}".encode()).decode()
        assert srv.auth and srv.auth[0] == f"Basic {basic}"  # the station did send it
        assert PASSWORD not in text and basic not in text
        assert "Authorization: <redacted>" in text  # websockets logged the header, redacted
        assert "security event FailedToAuthenticateAtCsms" in text
    finally:
        srv.close()
