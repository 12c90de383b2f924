"""A small headless-browser harness for the tests: the system chromium driven over the DevTools Protocol.

Why not playwright or selenium: both bring a driver of their own (playwright's wheel is ~40 MB and wants its
own browser build; selenium needs chromedriver), while everything a test here needs (load a page, wait for an
element, evaluate JavaScript, collect console errors, write a PNG) is a handful of CDP commands over one
websocket, and `websockets` is already a dependency. The browser is Debian's `chromium`
(installed by scripts/setup-peers.sh, i.e. `make peers`); tests skip with a clear reason when it is missing.

Two ways to use it:

    page = open_page(tmp_path / "report.html", screenshot=tmp_path / "shot.png", wait_for=".js-plotly-plot")
    assert page.errors == [], page.errors
    assert "CurrentDemandReq" in page.text

    async with Tab.launch() as tab:                 # for pages that keep changing (a live view)
        await tab.navigate("http://127.0.0.1:8080/")
        await tab.wait_for("#sessions tr")
        rows = await tab.evaluate("document.querySelectorAll('#sessions tr').length")
        await tab.screenshot(tmp_path / "live.png")
        assert tab.errors == []

Console entries are collected from Runtime.consoleAPICalled (console.log/warn/error), Runtime.exceptionThrown
(uncaught exceptions) and Log.entryAdded (network failures, CSP and other browser-side messages).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import websockets

__all__ = ["BrowserError", "ConsoleEntry", "Page", "Tab", "chromium_path", "open_page"]

ERROR_LEVELS = frozenset({"error", "assert"})
WARNING_LEVELS = frozenset({"warning", "warn"})


class BrowserError(RuntimeError):
    """The browser could not be started, a CDP command failed, or a wait timed out."""


def chromium_path() -> str | None:
    """The chromium executable (env JOSEV_CHROMIUM overrides), or None when none is installed."""
    explicit = os.environ.get("JOSEV_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True)
class ConsoleEntry:
    level: str  # "log", "info", "warning", "error", "exception", ...
    text: str
    source: str  # "console", "exception" or the Log domain's source ("network", "javascript", ...)
    url: str = ""

    def __str__(self) -> str:
        where = f" ({self.url})" if self.url else ""
        return f"[{self.source}:{self.level}] {self.text}{where}"


@dataclass
class Page:
    """What a loaded page showed: its console, its rendered text and HTML, the screenshot, evaluated values."""

    url: str
    console: list[ConsoleEntry]
    text: str
    html: str
    screenshot: Path | None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[ConsoleEntry]:
        return [e for e in self.console if e.level in ERROR_LEVELS or e.level == "exception"]

    @property
    def warnings(self) -> list[ConsoleEntry]:
        return [e for e in self.console if e.level in WARNING_LEVELS]


def _to_url(url_or_file: str | Path) -> str:
    """A URL as is; a path (str or Path) as a file:// URL."""
    text = str(url_or_file)
    if not isinstance(url_or_file, Path) and text.split(":", 1)[0] in {
        "http",
        "https",
        "file",
        "about",
        "data",
    }:
        return text
    return Path(url_or_file).resolve().as_uri()


def _remote_text(obj: Mapping[str, Any]) -> str:
    if "value" in obj:
        v = obj["value"]
        return v if isinstance(v, str) else json.dumps(v)
    return str(obj.get("description", obj.get("type", "")))


class Tab:
    """One headless chromium with one page, driven over CDP. Use `async with Tab.launch() as tab`."""

    def __init__(self, *, width: int = 1280, height: int = 900, executable: str | None = None) -> None:
        self.width = width
        self.height = height
        self.executable = executable or chromium_path()
        self.console: list[ConsoleEntry] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._ws: Any = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._event_waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(
        cls, *, width: int = 1280, height: int = 900, timeout: float = 20.0
    ) -> AsyncIterator[Tab]:
        tab = cls(width=width, height=height)
        await tab.start(timeout=timeout)
        try:
            yield tab
        finally:
            await tab.close()

    async def __aenter__(self) -> Tab:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- process and connection ---------------------------------------------------------------------------
    async def start(self, timeout: float = 20.0) -> None:
        if not self.executable:
            raise BrowserError("no chromium found (apt-get install chromium, or run scripts/setup-peers.sh)")
        self._profile = tempfile.TemporaryDirectory(prefix="josev-chromium-")
        profile = Path(self._profile.name)
        args = [
            self.executable,
            "--headless=new",
            "--no-sandbox",  # tests run as root in containers
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--mute-audio",
            f"--window-size={self.width},{self.height}",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            "about:blank",
        ]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise BrowserError(f"chromium exited with {self._proc.returncode}: {err[-2000:]}")
            if time.monotonic() > deadline:
                await self.close()
                raise BrowserError(f"chromium did not open its DevTools port within {timeout} s")
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        # chromium keeps writing to stderr; do not let a full pipe block it
        if self._proc.stderr is not None:
            self._proc.stderr.close()
        ws_url = await self._page_ws_url(port, deadline)
        self._ws = await websockets.connect(ws_url, max_size=None, open_timeout=timeout)
        self._reader = asyncio.create_task(self._read_loop())
        await self.send("Runtime.enable")
        await self.send("Log.enable")
        await self.send("Page.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )

    async def _page_ws_url(self, port: int, deadline: float) -> str:
        import urllib.request

        def fetch() -> list[dict[str, Any]]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                data: list[dict[str, Any]] = json.loads(r.read())
                return data

        while True:
            targets = await asyncio.to_thread(fetch)
            pages = [t for t in targets if t.get("type") == "page" and "webSocketDebuggerUrl" in t]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
            if time.monotonic() > deadline:
                raise BrowserError("chromium has no page target")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
            self._reader = None
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
            self._ws = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    await asyncio.to_thread(self._proc.wait, 5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    await asyncio.to_thread(self._proc.wait)
            self._proc = None
        if self._profile is not None:
            with contextlib.suppress(OSError):
                self._profile.cleanup()
            self._profile = None

    # --- CDP plumbing -------------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        assert self._ws is not None
        async for raw in self._ws:
            msg = json.loads(raw)
            if "id" in msg:
                fut = self._pending.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    if "error" in msg:
                        fut.set_exception(BrowserError(f"CDP error: {msg['error']}"))
                    else:
                        fut.set_result(msg.get("result", {}))
                continue
            method, params = msg.get("method", ""), msg.get("params", {})
            self._on_event(method, params)
            self._events.append((method, params))
            for waiter in list(self._event_waiters):
                name, fut = waiter
                if name == method and not fut.done():
                    fut.set_result(params)
                    self._event_waiters.remove(waiter)

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(_remote_text(a) for a in params.get("args", []))
            frame = (params.get("stackTrace") or {}).get("callFrames") or [{}]
            self.console.append(
                ConsoleEntry(str(params.get("type", "log")), text, "console", frame[0].get("url", ""))
            )
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            exc = d.get("exception") or {}
            text = exc.get("description") or d.get("text", "exception")
            self.console.append(ConsoleEntry("exception", str(text), "exception", str(d.get("url", ""))))
        elif method == "Log.entryAdded":
            e = params.get("entry", {})
            self.console.append(
                ConsoleEntry(
                    str(e.get("level", "info")),
                    str(e.get("text", "")),
                    str(e.get("source", "")),
                    str(e.get("url", "")),
                )
            )

    async def send(
        self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 20.0
    ) -> dict[str, Any]:
        if self._ws is None:
            raise BrowserError("the browser is not started")
        mid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[mid] = fut
        await self._ws.send(json.dumps({"id": mid, "method": method, "params": dict(params or {})}))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError as e:
            raise BrowserError(f"{method} got no answer within {timeout} s") from e

    # --- page API -----------------------------------------------------------------------------------------
    @property
    def errors(self) -> list[ConsoleEntry]:
        return [e for e in self.console if e.level in ERROR_LEVELS or e.level == "exception"]

    @property
    def warnings(self) -> list[ConsoleEntry]:
        return [e for e in self.console if e.level in WARNING_LEVELS]

    async def navigate(self, url_or_file: str | Path, timeout: float = 20.0) -> None:
        """Load a URL (or a local file) and wait for its load event."""
        url = _to_url(url_or_file)
        loop = asyncio.get_running_loop()
        loaded: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._event_waiters.append(("Page.loadEventFired", loaded))
        result = await self.send("Page.navigate", {"url": url}, timeout)
        if result.get("errorText"):
            raise BrowserError(f"could not load {url}: {result['errorText']}")
        try:
            await asyncio.wait_for(loaded, timeout)
        except TimeoutError as e:
            raise BrowserError(f"{url} did not finish loading within {timeout} s") from e

    async def evaluate(self, expression: str, timeout: float = 20.0) -> Any:
        """Evaluate a JavaScript expression in the page (promises are awaited); return its JSON value."""
        r = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout,
        )
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError(
                f"evaluating {expression!r} threw: {(d.get('exception') or {}).get('description') or d.get('text')}"
            )
        return (r.get("result") or {}).get("value")

    async def wait_for(self, selector: str, timeout: float = 20.0) -> None:
        """Wait until `document.querySelector(selector)` finds an element."""
        deadline = time.monotonic() + timeout
        probe = f"document.querySelector({json.dumps(selector)}) !== null"
        while not await self.evaluate(probe):
            if time.monotonic() > deadline:
                raise BrowserError(f"no element matches {selector!r} after {timeout} s")
            await asyncio.sleep(0.1)

    async def wait_until(self, expression: str, timeout: float = 20.0) -> Any:
        """Wait until a JavaScript expression is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"{expression!r} still falsy after {timeout} s")
            await asyncio.sleep(0.1)

    async def text(self) -> str:
        return str(await self.evaluate("document.body ? document.body.innerText : ''") or "")

    async def html(self) -> str:
        return str(await self.evaluate("document.documentElement.outerHTML") or "")

    async def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """Write a PNG of the page (the whole scrollable page when full_page)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = await self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics.get("contentSize") or {}
            w = max(int(size.get("width", self.width)), 1)
            h = min(max(int(size.get("height", self.height)), 1), 16000)
            params["clip"] = {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}
            params["captureBeyondViewport"] = True
        r = await self.send("Page.captureScreenshot", params, timeout=60)
        data = base64.b64decode(r["data"])
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, data)
        return path


async def open_page_async(
    url_or_file: str | Path,
    screenshot: Path | None = None,
    wait_for: str | None = None,
    timeout: float = 20.0,
    evaluate: Mapping[str, str] | None = None,
    width: int = 1280,
    height: int = 900,
    settle: float = 0.2,
) -> Page:
    """Load a page in a fresh headless chromium and report what it showed (see `open_page`)."""
    async with Tab.launch(width=width, height=height, timeout=timeout) as tab:
        await tab.navigate(url_or_file, timeout)
        if wait_for:
            await tab.wait_for(wait_for, timeout)
        await asyncio.sleep(settle)  # late console messages (e.g. from a first animation frame)
        values = {name: await tab.evaluate(expr) for name, expr in (evaluate or {}).items()}
        shot = await tab.screenshot(screenshot) if screenshot is not None else None
        return Page(
            url=_to_url(url_or_file),
            console=list(tab.console),
            text=await tab.text(),
            html=await tab.html(),
            screenshot=shot,
            values=values,
        )


def open_page(
    url_or_file: str | Path,
    screenshot: Path | None = None,
    wait_for: str | None = None,
    timeout: float = 20.0,
    evaluate: Mapping[str, str] | None = None,
    width: int = 1280,
    height: int = 900,
) -> Page:
    """Load `url_or_file` in headless chromium, wait for the CSS selector `wait_for`, evaluate the named
    JavaScript expressions, write a PNG screenshot, and return the console entries, text and HTML.

    Synchronous; from async code use `open_page_async` (or `Tab` for step-by-step control)."""
    return asyncio.run(
        open_page_async(url_or_file, screenshot, wait_for, timeout, evaluate, width=width, height=height)
    )
