"""The live view's HTTP server over real sockets (no browser): pages, headers, the event stream, bad requests,
clients that vanish or stall, and its bus client against a real mosquitto (read-only, tools listener)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from josev.api import coordinator as co
from josev.api import secc as api
from josev.api.base import CommandError
from josev.broker import PrivateBroker
from josev.bus import Bus
from josev.web.hub import LiveModel
from josev.web.server import (
    PLOTLY_MISSING,
    LiveServer,
    exposure_warning,
    parse_listen,
    plotly_file,
    run_web,
)

SESSION_TOPIC = api.SeccSessionState.topic(1)


async def http(
    port: int, method: str = "GET", path: str = "/", headers: dict[str, str] | None = None, raw: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request; (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    hdrs = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    head = (
        raw
        or (
            f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        ).encode()
    )
    writer.write(head)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    parsed = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, parsed, body


class Stream:
    """An open ``/events`` stream read with a raw socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, *, rcvbuf: int | None = None) -> Stream:
        sock = socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(f"GET /events HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"text/event-stream" in head
        return cls(reader, writer)

    async def next(self) -> dict[str, Any]:
        while True:
            block = await asyncio.wait_for(self.reader.readuntil(b"\n\n"), 5)
            for line in block.decode().splitlines():
                if line.startswith("data: "):
                    data: dict[str, Any] = json.loads(line[6:])
                    return data

    def reset(self) -> None:
        """Vanish: close with a TCP reset (no FIN), as a killed browser does."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


@pytest.fixture
async def server() -> Any:
    srv = LiveServer(host="127.0.0.1", port=0)
    await srv.start()
    yield srv
    await srv.close()


def session(status: str = "session", reason: str = "") -> dict[str, Any]:
    return api.SeccSessionState.model_validate(
        {"status": status, "protocol": "iso2", "reason": reason}
    ).model_dump(mode="json")


def test_listen_specs() -> None:
    assert parse_listen(":8080") == ("127.0.0.1", 8080)
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    assert parse_listen("localhost:0") == ("localhost", 0)
    for bad, why in (
        ("8080", "HOST:PORT"),
        (":http", "not a number"),
        (":70000", "0..65535"),
        ("a/b:1", "not a host"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_listen(bad)
    assert exposure_warning("127.0.0.1") is None and exposure_warning("::1") is None
    assert exposure_warning("localhost") is None
    warning = exposure_warning("0.0.0.0")
    assert warning is not None and "0.0.0.0" in warning and "anyone" in warning


async def test_pages_headers_and_refusals(server: LiveServer) -> None:
    port = server.port
    status, hdrs, body = await http(port, path="/")
    assert status == 200 and hdrs["content-type"].startswith("text/html")
    assert b'<script src="live.js"' in body and b"<script>" not in body  # no inline script
    csp = hdrs["content-security-policy"]
    assert "script-src 'self';" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert hdrs["x-content-type-options"] == "nosniff"
    status, hdrs, body = await http(port, path="/live.js")
    assert status == 200 and hdrs["content-type"].startswith("text/javascript") and b"EventSource" in body
    status, hdrs, body = await http(port, path="/vendor/plotly.min.js")
    assert status == 200
    plotly = plotly_file()
    if plotly is not None:
        assert int(hdrs["content-length"]) == plotly.stat().st_size == len(body)
        assert body == plotly.read_bytes()
    else:
        assert body == PLOTLY_MISSING
    status, _, body = await http(port, path="/snapshot.json")
    assert status == 200 and set(json.loads(body)) == {"type", "states", "messages", "events", "curves"}
    status, hdrs, _ = await http(port, "HEAD", "/")
    assert status == 200 and int(hdrs["content-length"]) > 0
    # read-only, known paths, localhost only
    status, hdrs, _ = await http(port, "POST", "/snapshot.json")
    assert status == 405 and hdrs["allow"] == "GET, HEAD"
    assert (await http(port, "DELETE", "/"))[0] == 405
    assert (await http(port, path="/../../etc/passwd"))[0] == 404
    assert (await http(port, path="/static/index.html"))[0] == 404
    status, _, body = await http(port, headers={"Host": "attacker.example:8080"})
    assert status == 421 and b"localhost only" in body  # DNS rebinding: another site's name is refused
    assert (await http(port, headers={"Host": f"localhost:{port}"}))[0] == 200
    assert (await http(port, headers={"Host": f"[::1]:{port}"}))[0] == 200
    assert (await http(port, raw=b"GARBAGE\r\n\r\n"))[0] == 400
    status, _, _ = await http(port, headers={"X-Big": "a" * 10000})
    assert status == 431
    # still serving
    assert (await http(port, path="/"))[0] == 200


async def test_stream_sends_a_snapshot_then_the_updates(server: LiveServer) -> None:
    server.on_bus(SESSION_TOPIC, session("idle"))
    s = await Stream.open(server.port)
    snap = await s.next()
    assert snap["type"] == "snapshot"
    assert [(x["key"], x["data"]["status"]) for x in snap["states"]] == [("secc/evse1/session", "idle")]
    server.on_bus(SESSION_TOPIC, session("session"))
    update = await s.next()
    assert (update["type"], update["key"], update["data"]["status"]) == (
        "state",
        "secc/evse1/session",
        "session",
    )
    server.on_bus(
        api.EvTarget.topic(1),
        api.EvTarget(phase="charge", voltage_v=400, current_a=10.5, soc_percent=40).model_dump(mode="json"),
    )
    assert (await s.next())["key"] == "secc/evse1/ev_target"
    points = await s.next()
    assert points["type"] == "points" and points["values"] == {
        "EV target voltage (V)": 400.0,
        "EV target current (A)": 10.5,
        "SoC (%)": 40.0,
    }
    s.writer.close()


async def test_the_server_survives_a_client_that_vanishes_mid_stream(server: LiveServer) -> None:
    gone = await Stream.open(server.port)
    assert (await gone.next())["type"] == "snapshot"
    server.on_bus(SESSION_TOPIC, session("session"))
    gone.reset()  # mid-stream: a TCP reset while updates are on their way
    for i in range(200):
        server.on_bus(SESSION_TOPIC, session("session", reason=f"r{i}"))
        await asyncio.sleep(0)
    for _ in range(100):
        if not server.streams:
            break
        await asyncio.sleep(0.02)
    assert server.streams == set()
    # the next page gets the current state, and updates
    fresh = await Stream.open(server.port)
    snap = await fresh.next()
    assert [x["data"]["reason"] for x in snap["states"]] == ["r199"]
    server.on_bus(SESSION_TOPIC, session("ended"))
    assert (await fresh.next())["data"]["status"] == "ended"
    fresh.writer.close()
    assert (await http(server.port, path="/"))[0] == 200


async def test_a_page_that_does_not_read_is_dropped_and_does_not_hold_up_the_others() -> None:
    """A stalled browser: its queue fills and its stream is closed; the bus handler never waits, and a page
    that reads gets every update."""
    srv = LiveServer(host="127.0.0.1", port=0, queue_size=32)
    await srv.start()
    try:
        stalled = await Stream.open(srv.port, rcvbuf=4096)  # never read again
        good = await Stream.open(srv.port)
        await good.next()
        received: list[dict[str, Any]] = []

        async def read_all() -> None:
            while True:
                received.append(await good.next())

        reader = asyncio.create_task(read_all())
        big = "x" * 150
        n = 0
        while srv.dropped_streams == 0 and n < 20000:
            body = {f"k{j}": big for j in range(20)}
            msg = api.V2gMessage(seq=n, sender="ev", protocol="iso2", message="CurrentDemandReq", body=body)
            srv.on_bus(api.V2gMessage.topic(1), msg.model_dump(mode="json"))  # synchronous: never waits
            n += 1
            await asyncio.sleep(0)  # the loop runs: the good page's writer drains, the stalled one cannot
        assert srv.dropped_streams == 1, n
        assert len(srv.streams) == 1  # the good one
        for _ in range(200):
            if len(received) >= n:
                break
            await asyncio.sleep(0.02)
        reader.cancel()
        seqs = [u["seq"] for u in received if u["type"] == "msg"]
        assert seqs == list(range(n))  # nothing lost for the page that keeps up
        assert len(srv.model.messages) == 300  # the model keeps a ring, not the history
        stalled.writer.close()
        good.writer.close()
    finally:
        await srv.close()


async def test_stream_and_connection_limits() -> None:
    srv = LiveServer(host="127.0.0.1", port=0, max_streams=2)
    await srv.start()
    try:
        a, b = await Stream.open(srv.port), await Stream.open(srv.port)
        status, _, body = await http(srv.port, path="/events")
        assert status == 503 and b"too many" in body
        a.writer.close()
        for _ in range(100):
            if len(srv.streams) < 2:
                break
            await asyncio.sleep(0.02)
        c = await Stream.open(srv.port)  # a place is free again
        assert (await c.next())["type"] == "snapshot"
        b.writer.close()
        c.writer.close()
    finally:
        await srv.close()


async def test_the_view_reads_the_bus_and_can_command_nothing(tmp_path: Path) -> None:
    """``run_web`` against a real mosquitto: the ``web`` user connects on the tools listener with a ``josev-``
    client id, reads every service's states and events, and the broker refuses its commands and its writes to
    other services' topics."""
    with PrivateBroker(tmp_path / "broker") as broker:
        secc = Bus("secc", broker.settings("secc"))
        await secc.connect()
        stop = asyncio.Event()
        servers: list[LiveServer] = []
        task = asyncio.create_task(
            run_web(broker.settings("web"), "127.0.0.1", 0, stop, on_listening=servers.append)
        )
        intruder = Bus("web", broker.settings("web"), client_id="josev-web-test")
        try:
            while not servers:
                await asyncio.sleep(0.05)
            await secc.publish(api.SeccSessionState(status="session", protocol="din", session_id="AB12"), 1)
            for _ in range(100):
                _, _, body = await http(servers[0].port, path="/snapshot.json")
                states = {s["key"]: s["data"] for s in json.loads(body)["states"]}
                if "secc/evse1/session" in states:
                    break
                await asyncio.sleep(0.05)
            assert states["secc/evse1/session"]["session_id"] == "AB12"
            assert re.search(
                r"New client connected from \S+ as josev-web-[0-9a-f]{8} \(.*u'web'\)", broker.log
            )
            assert broker.settings("web").endpoint("web")[1] == broker.tools_port
            # read-only: no command is granted to the viewer ...
            await intruder.connect()
            with pytest.raises(CommandError) as err:
                await intruder.request(co.Authorize(id_token="x"), 1, timeout=3)
            assert err.value.code == "forbidden"
            # ... and it cannot speak for a service
            seen: list[Any] = []
            secc.subscribe(co.EvseStatus, lambda m, e: seen.append(m))
            forged = co.EvseStatus(
                state="faulted",
                ocpp_status="Faulted",
                detailed_status="Faulted",
                charging_state="Idle",
                limit_a=None,
                pilot_mode="x1",
                contactor_closed=False,
            )
            await intruder.publish(forged, 1)
            await asyncio.sleep(0.5)
            assert seen == [] and intruder.stats.denied >= 1
        finally:
            stop.set()
            await task
            await intruder.close(publish_status=False)
            await secc.close()


def test_the_model_is_bounded() -> None:
    m = LiveModel(max_messages=50, max_events=20, max_points=30)
    for i in range(500):
        msg = api.V2gMessage(seq=i, sender="ev", protocol="din", message="CurrentDemandReq")
        m.feed(api.V2gMessage.topic(1), msg.model_dump(mode="json"), float(i))
        m.feed(api.HlcEvent.topic(1), {"step": "cable_check"}, float(i))
        m.feed(api.EvTarget.topic(1), {"phase": "charge", "voltage_v": i, "current_a": 1}, float(i))
    assert len(m.messages) == 50 and m.messages[0]["seq"] == 450
    assert len(m.events) == 20
    assert all(len(pts) == 30 for pts in m.curves[1].values())
    assert m.curves[1]["EV target voltage (V)"][-1] == (499000, 499.0)


def test_the_station_refuses_a_bad_web_address() -> None:
    """``josev station --web`` names what is wrong before anything starts."""
    from typer.testing import CliRunner

    from josev.cli.station import app

    r = CliRunner().invoke(app, ["--sim", "--iface", "nosuchif0", "--web", "8080"])
    assert r.exit_code == 2 and "give HOST:PORT, e.g. :8080" in r.output
    r = CliRunner().invoke(app, ["--sim", "--iface", "nosuchif0", "--web", ":99999"])
    assert r.exit_code == 2 and "0..65535" in r.output
