"""Connection behaviour: the OCPP-J 5.3 reconnect back-off measured on real connection attempts, fallback
across network profiles (NetworkConfigurationPriority / NetworkProfileConnectionAttempts), the identity in the
URL, and refusal of a server that does not select the ocpp2.0.1 subprotocol."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from josev.ocpp import backoff, security
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_backoff_between_attempts(tmp_path: Path) -> None:
    csms = ScriptedCsms()
    csms.accept = False  # answers 503 to every websocket handshake
    await csms.start()
    sut = StationUnderTest(
        make_config(
            tmp_path,
            csms.url,
            variables={
                "OCPPCommCtrlr/RetryBackOffWaitMinimum": "1",
                "OCPPCommCtrlr/RetryBackOffRandomRange": "0",
                "OCPPCommCtrlr/RetryBackOffRepeatTimes": "1",
            },
        )
    )
    stamps: list[float] = []
    orig = csms._check

    def check(conn: ServerConnection, request: object) -> object:
        stamps.append(time.monotonic())
        csms.accept = len(stamps) >= 3  # the third attempt gets through
        return orig(conn, request)  # type: ignore[arg-type]

    csms._check = check  # type: ignore[assignment,method-assign]
    await csms.stop()
    await csms.start()
    await sut.start()
    try:

        async def attempts(n: int) -> None:
            while len(stamps) < n:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(attempts(3), 8)
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        # 1 s, then doubled (RepeatTimes 1: it stays at 2 s afterwards, see test_units); never early
        assert 0.95 < gaps[0] < 1.8 and 1.95 < gaps[1] < 2.8, gaps
        await csms.wait_for("BootNotification", timeout=4)
    finally:
        await sut.close()
        await csms.stop()


async def test_fallback_to_next_profile(tmp_path: Path) -> None:
    good = ScriptedCsms()
    await good.start()
    dead_url = f"ws://127.0.0.1:{free_port()}"
    cfg = make_config(
        tmp_path,
        dead_url,
        variables={
            "OCPPCommCtrlr/NetworkProfileConnectionAttempts": "2",
            "OCPPCommCtrlr/NetworkConfigurationPriority": "1,2",
        },
    )
    sut = StationUnderTest(cfg)
    security.save_profiles(
        sut.st.store,
        {
            **security.profiles(sut.st),
            2: {
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": good.url + "/ocpp",
                "messageTimeout": 5,
                "securityProfile": 1,
                "ocppInterface": "Wired0",
            },
        },
    )
    await sut.start()
    try:
        await good.wait_for("BootNotification", timeout=5)
        assert sut.client.connect_attempts == 3  # two on slot 1, then slot 2
        assert good.paths[0] == "/ocpp/CS001"
        assert sut.st.dm.get("OCPPCommCtrlr", "ActiveNetworkProfile") == "2"
    finally:
        await sut.close()
        await good.stop()


async def test_server_without_ocpp_subprotocol_is_refused(tmp_path: Path) -> None:
    opened: list[str | None] = []

    async def handler(conn: ServerConnection) -> None:
        opened.append(conn.subprotocol)
        await conn.wait_closed()

    server = await serve(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sut = StationUnderTest(make_config(tmp_path, f"ws://127.0.0.1:{port}"))
    await sut.start()
    try:

        async def attempts(n: int) -> None:
            while sut.client.connect_attempts < n:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(attempts(3), 5)
        assert opened and all(p is None for p in opened)
        assert not sut.client.connected.is_set()
    finally:
        await sut.close()
        server.close()
        await server.wait_closed()


async def test_websocket_ping_detects_a_silent_csms(tmp_path: Path) -> None:
    csms = ScriptedCsms()
    await csms.start()
    sut = StationUnderTest(
        make_config(tmp_path, csms.url, variables={"OCPPCommCtrlr/WebSocketPingInterval": "1"})
    )
    await sut.start()
    try:
        await csms.wait_for("StatusNotification", count=2)
        hung = csms.conn
        assert hung is not None
        hung.transport.pause_reading()  # the CSMS hangs: no pong, nothing read
        t0 = time.monotonic()
        await csms.wait_connected(count=2, timeout=8)
        # ping interval 1 s + ping timeout 1 s + close timeout 2 s (the dead peer never answers the close)
        assert time.monotonic() - t0 < 6
        hung.transport.abort()
    finally:
        await sut.close()
        await csms.stop()


async def test_refused_csms_neither_spins_nor_floods_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens at the CSMS's port and both back-off variables are 0 (as in these tests): attempts come
    at most every MIN_WAIT_S, and the same failure is logged once per REPEAT_S, not once per attempt (before:
    a hot loop, 30,000 lines in 15 s). The first failure is logged at once, with its cause."""
    port = free_port()
    sut = StationUnderTest(make_config(tmp_path, f"ws://127.0.0.1:{port}"))
    with caplog.at_level(logging.WARNING, logger="josev.ocpp.connection"):
        await sut.start()
        try:
            await asyncio.sleep(2.0)
        finally:
            await sut.close()
    lines = [r.getMessage() for r in caplog.records if "CSMS connection" in r.getMessage()]
    assert 4 <= sut.client.connect_attempts <= 2.0 / backoff.MIN_WAIT_S + 2, sut.client.connect_attempts
    assert lines == [
        "CSMS connection (slot 1) failed: connection refused (nothing listens at that address and port); "
        "retry in 0.25 s"
    ], lines
