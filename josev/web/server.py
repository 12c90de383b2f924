"""The HTTP shell of the live view: a read-only bus client and a small asyncio HTTP server.

``GET /`` the page (``static/``), ``/live.js``, ``/live.css``, ``/vendor/plotly.min.js`` (from the installed
``plotly`` package; a stub that says how to install it otherwise), ``/snapshot.json`` (what the page shows, as
JSON) and ``/events`` (Server-Sent Events: a ``snapshot``, then every update). Nothing else: no method but
GET/HEAD, no query that changes anything.

Bounds, so that a browser can neither block the bus loop nor grow the station's memory: the bus handler only
queues encoded updates (``put_nowait``); each event stream has a queue of ``queue_size`` updates and is closed
when it overflows (the browser reconnects and gets a fresh snapshot) or when a write stalls ``write_timeout``;
at most ``max_streams`` event streams and ``max_connections`` connections at once; request heads of at most
8 KiB, read within 10 s. Bound to a loopback address, the server answers only requests whose ``Host`` names a
loopback address (a web page elsewhere cannot read the station through DNS rebinding). Every response carries a
Content-Security-Policy that allows no inline script.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from josev.api import topics
from josev.bus.client import Bus
from josev.bus.settings import BusSettings
from josev.web.hub import LiveModel

log = logging.getLogger("josev.web")

DEFAULT_HOST = "127.0.0.1"
MAX_HEAD = 8192
HEAD_TIMEOUT_S = 10.0
CHUNK = 64 * 1024

STATIC: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/live.js": ("live.js", "text/javascript; charset=utf-8"),
    "/live.css": ("live.css", "text/css; charset=utf-8"),
}
PLOTLY_URL = "/vendor/plotly.min.js"
PLOTLY_MISSING = b"window.JOSEV_NO_PLOTLY = 'plotly.js is not installed on the station (pip install josev[report]): no curves';\n"

SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
        " font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none';"
        " frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
"""plotly.js sets inline styles (``'unsafe-inline'`` styles); scripts only from the station itself."""


def parse_listen(spec: str) -> tuple[str, int]:
    """``HOST:PORT`` (``:PORT``: 127.0.0.1; ``[::1]:PORT`` for IPv6) -> ``(host, port)``; ValueError naming
    what is wrong."""
    host, sep, port_text = spec.rpartition(":")
    if not sep:
        raise ValueError(f"--web {spec!r}: give HOST:PORT, e.g. :8080 or 127.0.0.1:8080")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"--web {spec!r}: the port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--web {spec!r}: the port must be 0..65535")
    if any(c in host for c in "/ ?#@") or not host:
        raise ValueError(f"--web {spec!r}: {host!r} is not a host name or address")
    return host, port


def exposure_warning(host: str) -> str | None:
    """What to tell the operator when the view listens on ``host``: None for a loopback address."""
    if is_loopback(host):
        return None
    return (
        f"warning: the live view listens on {host}: anyone who reaches this address can watch the sessions"
        " (no login; tokens are masked); give :PORT to keep it on this machine"
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) is this machine only."""
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plotly_file() -> Path | None:
    """plotly.js as the PyPI ``plotly`` package ships it, if installed (found without importing plotly)."""
    try:
        spec = importlib.util.find_spec("plotly")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    return None


def _host_of(header: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8080`` -> ``::1``)."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass(eq=False)
class _Stream:
    """One open event stream."""

    writer: asyncio.StreamWriter
    queue: asyncio.Queue[bytes]
    closed: asyncio.Event = field(default_factory=asyncio.Event)


def encode_event(update: dict[str, Any]) -> bytes:
    """One Server-Sent Event (JSON escapes every line break, so ``data:`` stays one line)."""
    return b"data: " + json.dumps(update, separators=(",", ":"), default=str).encode() + b"\n\n"


class LiveServer:
    """The HTTP server of the live view (see the module docstring)."""

    def __init__(
        self,
        model: LiveModel | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = 8080,
        max_streams: int = 8,
        max_connections: int = 32,
        queue_size: int = 256,
        write_timeout: float = 10.0,
        keepalive_s: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.model = model or LiveModel()
        self.host = host
        self.port = port
        self.max_streams = max_streams
        self.max_connections = max_connections
        self.queue_size = queue_size
        self.write_timeout = write_timeout
        self.keepalive_s = keepalive_s
        self.clock = clock
        self.loopback = is_loopback(host)
        self.plotly = plotly_file()
        self.streams: set[_Stream] = set()
        self.connections = 0
        self.dropped_streams = 0
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._static = resources.files("josev.web") / "static"

    @property
    def url(self) -> str:
        """Where the page is."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        """Listen (``port`` 0: a free one, then in :attr:`port`)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=MAX_HEAD)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and end every stream."""
        if self._server is not None:
            self._server.close()
        for s in list(self.streams):
            self._drop(s)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    # --- bus -> pages -----------------------------------------------------------------------------------

    def on_bus(self, topic: str, payload: Any, message: Any = None) -> None:
        """Bus handler (raw subscription): update the model, queue the updates; never waits."""
        raw = getattr(message, "payload", b"")
        if payload is None and raw:  # undecodable, not a cleared state
            self.model.invalid += 1
            return
        self.publish(self.model.feed(topic, payload, self.clock()))

    def publish(self, updates: list[dict[str, Any]]) -> None:
        """Queue ``updates`` on every stream; a stream whose queue is full is closed (it reconnects)."""
        if not updates or not self.streams:
            return
        frames = [encode_event(u) for u in updates]
        for s in list(self.streams):
            try:
                for f in frames:
                    s.queue.put_nowait(f)
            except asyncio.QueueFull:
                log.info("web: a page does not keep up; closing its stream (it reconnects)")
                self._drop(s)

    def _drop(self, s: _Stream) -> None:
        if s in self.streams:
            self.streams.discard(s)
            self.dropped_streams += 1
        s.closed.set()
        while not s.queue.empty():  # wake its writer: an empty frame ends the stream
            s.queue.get_nowait()
        s.queue.put_nowait(b"")
        s.writer.transport.abort()

    # --- HTTP -------------------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.connections > self.max_connections:
                self.refused += 1
                await self._respond(writer, 503, b"too many connections\n")
                return
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            except (asyncio.LimitOverrunError, ValueError):
                await self._respond(writer, 431, b"request head too large\n")
                return
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                return
            await self._request(head, reader, writer)
        except (ConnectionError, OSError):
            pass
        except Exception:  # one bad request must never take the view down
            log.exception("web: request failed")
        finally:
            self.connections -= 1
            if not writer.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _request(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await self._respond(writer, 400, b"bad request line\n")
            return
        method, target, _ = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if method not in ("GET", "HEAD"):
            await self._respond(
                writer, 405, b"read-only: GET and HEAD only\n", extra=(("Allow", "GET, HEAD"),)
            )
            return
        if self.loopback and not is_loopback(_host_of(headers.get("host", ""))):
            await self._respond(writer, 421, b"this view answers to localhost only\n")
            return
        path = urlsplit(target).path
        head_only = method == "HEAD"
        if path in STATIC:
            name, ctype = STATIC[path]
            body = (self._static / name).read_bytes()
            await self._respond(writer, 200, body, ctype, head_only=head_only)
        elif path == PLOTLY_URL:
            await self._plotly(writer, head_only)
        elif path == "/snapshot.json":
            body = json.dumps(self.model.snapshot(), separators=(",", ":"), default=str).encode()
            await self._respond(writer, 200, body, "application/json", head_only=head_only)
        elif path == "/events":
            if head_only:
                await self._respond(writer, 200, b"", "text/event-stream", head_only=True)
            else:
                await self._stream(reader, writer)
        elif path == "/favicon.ico":
            await self._respond(writer, 204, b"")
        else:
            await self._respond(writer, 404, b"not found\n")

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        ctype: str = "text/plain; charset=utf-8",
        *,
        head_only: bool = False,
        length: int | None = None,
        extra: tuple[tuple[str, str], ...] = (),
        cache: str = "no-store",
    ) -> None:
        reason = {
            200: "OK",
            204: "No Content",
            400: "Bad Request",
            404: "Not Found",
            405: "Method Not Allowed",
            421: "Misdirected Request",
            431: "Request Header Fields Too Large",
            503: "Service Unavailable",
        }[status]
        hdrs = [
            f"HTTP/1.1 {status} {reason}",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(body) if length is None else length}",
            f"Cache-Control: {cache}",
            "Connection: close",
            *(f"{k}: {v}" for k, v in SECURITY_HEADERS),
            *(f"{k}: {v}" for k, v in extra),
        ]
        writer.write(("\r\n".join(hdrs) + "\r\n\r\n").encode())
        if not head_only:
            writer.write(body)
        await asyncio.wait_for(writer.drain(), self.write_timeout)

    async def _plotly(self, writer: asyncio.StreamWriter, head_only: bool) -> None:
        ctype = "text/javascript; charset=utf-8"
        if self.plotly is None:
            await self._respond(writer, 200, PLOTLY_MISSING, ctype, head_only=head_only)
            return
        size = self.plotly.stat().st_size
        await self._respond(writer, 200, b"", ctype, head_only=True, length=size, cache="max-age=3600")
        if head_only:
            return
        with self.plotly.open("rb") as fh:  # in chunks: 4.6 MB need not sit in memory per request
            while chunk := fh.read(CHUNK):
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), self.write_timeout)

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.streams) >= self.max_streams:
            self.refused += 1
            await self._respond(writer, 503, b"too many live pages open\n")
            return
        s = _Stream(writer, asyncio.Queue(self.queue_size))
        hdrs = [
            "HTTP/1.1 200 OK",
            "Content-Type: text/event-stream; charset=utf-8",
            "Cache-Control: no-store",
            "Connection: close",
            *(f"{k}: {v}" for k, v in SECURITY_HEADERS),
        ]
        writer.write(("\r\n".join(hdrs) + "\r\n\r\n").encode() + b"retry: 1000\n\n")
        writer.write(encode_event(self.model.snapshot()))
        self.streams.add(s)
        watcher = asyncio.create_task(self._watch(reader, s))
        try:
            await asyncio.wait_for(writer.drain(), self.write_timeout)
            while not s.closed.is_set():
                try:
                    frame = await asyncio.wait_for(s.queue.get(), self.keepalive_s)
                except TimeoutError:
                    frame = b": keep-alive\n\n"
                if not frame:
                    break
                batch = [frame]
                while not s.queue.empty() and len(batch) < 64:
                    batch.append(s.queue.get_nowait())
                writer.write(b"".join(batch))
                await asyncio.wait_for(writer.drain(), self.write_timeout)
        except TimeoutError:
            log.info("web: a page stalled for %.0f s; closing its stream", self.write_timeout)
        finally:
            watcher.cancel()
            if s in self.streams:
                self.streams.discard(s)
            s.closed.set()

    async def _watch(self, reader: asyncio.StreamReader, s: _Stream) -> None:
        """End the stream as soon as the page closes its side (its place is free at once)."""
        with contextlib.suppress(Exception):
            while await reader.read(
                1024
            ):  # a page sends nothing after its request; whatever comes is dropped
                pass
        if not s.closed.is_set():
            s.closed.set()
            while not s.queue.empty():
                s.queue.get_nowait()
            s.queue.put_nowait(b"")
            self.streams.discard(s)


async def run_web(
    settings: BusSettings,
    host: str,
    port: int,
    stop: asyncio.Event,
    *,
    on_listening: Callable[[LiveServer], None] | None = None,
) -> None:
    """The live view until ``stop``: a ``web`` bus client (read-only, on the tools listener) feeding a
    :class:`LiveServer` on ``host:port``."""
    server = LiveServer(host=host, port=port)
    await server.start()
    await serve_view(settings, server, stop, on_listening=on_listening)


async def serve_view(
    settings: BusSettings,
    server: LiveServer,
    stop: asyncio.Event,
    *,
    on_listening: Callable[[LiveServer], None] | None = None,
) -> None:
    """Feed a started ``server`` from the bus until ``stop``; closes it at the end."""
    bus = Bus("web", settings, client_id=f"josev-web-{uuid.uuid4().hex[:8]}")
    for kind in ("state", "event"):
        bus.subscribe_raw(f"{topics.ROOT}/+/+/{kind}/+", server.on_bus)
    bus.subscribe_raw(f"{topics.ROOT}/+/status", server.on_bus)
    try:
        await bus.connect()
        if on_listening is not None:
            on_listening(server)
        await stop.wait()
    finally:
        await bus.close(publish_status=False)
        await server.close()


__all__ = [
    "LiveServer",
    "exposure_warning",
    "is_loopback",
    "parse_listen",
    "plotly_file",
    "run_web",
    "serve_view",
]
