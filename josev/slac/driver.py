"""Runs a sans-IO SLAC core over a :class:`~josev.slac.rawsocket.RawSocket` in asyncio.

The driver feeds received frames and timer expiries into the core with ``time.monotonic()`` and sends what
comes out; events go to ``on_event``. It is the only place where SLAC meets real time and real sockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from josev.sim.modem_loopback import Core
from josev.slac.events import Output, SlacEvent
from josev.slac.rawsocket import RawSocket

log = logging.getLogger(__name__)

EventHandler = Callable[[SlacEvent], Awaitable[None] | None]


class CoreDriver:
    """One core on one socket."""

    def __init__(self, core: Core, sock: RawSocket, on_event: EventHandler | None = None) -> None:
        self.core = core
        self.sock = sock
        self.on_event = on_event
        self._deadline: float | None = None
        self._wake = asyncio.Event()
        self.errors = 0
        """Exceptions raised by the core (should stay 0)."""

    @staticmethod
    def now() -> float:
        """The clock every core of this process runs on."""
        return time.monotonic()

    async def apply(self, out: Output) -> None:
        """Send the frames, deliver the events, remember the deadline."""
        for frame in out.frames:
            self.sock.send(frame)
        self._deadline = out.deadline
        self._wake.set()
        for ev in out.events:
            if self.on_event is not None:
                try:
                    res = self.on_event(ev)
                    if res is not None:
                        await res
                except Exception:  # a broken listener must not stop SLAC
                    log.exception("SLAC event handler failed for %r", ev)

    async def _safely(self, call: Callable[..., Output], *args: bytes) -> None:
        """Run one core call; a bug in the core is logged and counted, the session loop goes on."""
        try:
            out = call(*args, self.now())
        except Exception:
            self.errors += 1
            log.exception("SLAC core failed on %s", getattr(call, "__name__", call))
            return
        await self.apply(out)

    async def run(self, stop: asyncio.Event) -> None:
        """Receive and time until ``stop`` is set."""
        self.sock.attach()
        stop_task = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                recv = asyncio.ensure_future(self.sock.recv())
                wake = asyncio.ensure_future(self._wake.wait())
                timeout = None if self._deadline is None else max(0.0, self._deadline - self.now())
                done, _ = await asyncio.wait(
                    {recv, wake, stop_task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                wake.cancel()
                self._wake.clear()
                if recv in done:
                    await self._safely(self.core.receive, recv.result())
                else:
                    recv.cancel()  # asyncio.Queue.get is cancel-safe: no frame is lost
                if self._deadline is not None and self.now() >= self._deadline:
                    self._deadline = None
                    await self._safely(self.core.on_timer)
        finally:
            stop_task.cancel()
            self.sock.close()
