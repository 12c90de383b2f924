"""In-process wiring of SLAC cores through the modem emulator, driven by a virtual clock.

Used by the tests and usable by a demo: attach an :class:`~josev.slac.evse.EvseSlac` or
:class:`~josev.slac.ev.EvSlac` (anything with ``receive(raw, now)`` and ``on_timer(now)`` returning an
:class:`~josev.slac.events.Output`) to each port of a :class:`~josev.sim.modem.PlcEmulator`, then call
:meth:`Loopback.run_until`. Frames are delivered after ``latency`` seconds of virtual time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Protocol

from josev.sim.modem import PlcEmulator
from josev.slac.events import Output, SlacEvent


class Core(Protocol):
    """The interface shared by the EVSE and EV cores."""

    def receive(self, raw: bytes, now: float) -> Output:
        """A received frame."""
        ...

    def on_timer(self, now: float) -> Output:
        """The deadline passed."""
        ...


class Loopback:
    """A discrete-event loop: virtual time, frame deliveries and core timers."""

    def __init__(self, emulator: PlcEmulator, latency: float = 0.001) -> None:
        self.emulator = emulator
        self.latency = latency
        self.now = 0.0
        self.cores: dict[str, Core] = {}
        self.events: list[tuple[float, str, SlacEvent]] = []
        self.tap: Callable[[str, bytes], bytes | None] | None = None
        """Optional hook on every frame leaving a host: return a replacement (or None to drop)."""
        self._deadlines: dict[str, float | None] = {}
        self._queue: list[tuple[float, int, str, bytes]] = []
        self._seq = itertools.count()
        self.listeners: list[Callable[[str, SlacEvent, float], None]] = []

    def attach(self, port: str, core: Core) -> None:
        """Put ``core`` behind ``port``."""
        self.cores[port] = core
        self._deadlines[port] = None

    def feed(self, port: str, out: Output) -> None:
        """Apply what a core returned (frames go to the emulator, events are recorded)."""
        self._deadlines[port] = out.deadline
        for ev in out.events:
            self.events.append((self.now, port, ev))
            for listener in self.listeners:
                listener(port, ev, self.now)
        for raw in out.frames:
            sent: bytes | None = raw
            if self.tap is not None:
                sent = self.tap(port, raw)
            if sent is None:
                continue
            for dst_port, frame in self.emulator.from_host(port, sent, self.now):
                heapq.heappush(self._queue, (self.now + self.latency, next(self._seq), dst_port, frame))

    def inject(self, port: str, raw: bytes) -> None:
        """Deliver ``raw`` to the host on ``port`` (as if it came from the line) at the current time."""
        heapq.heappush(self._queue, (self.now, next(self._seq), port, raw))

    def run_until(self, t_end: float, stop: Callable[[], bool] | None = None) -> None:
        """Advance virtual time to ``t_end`` (or until ``stop()`` is true)."""
        while True:
            if stop is not None and stop():
                return
            t_frame = self._queue[0][0] if self._queue else None
            timers = [(t, p) for p, t in self._deadlines.items() if t is not None]
            t_timer, port = min(timers) if timers else (None, "")
            candidates = [t for t in (t_frame, t_timer) if t is not None]
            if not candidates or min(candidates) > t_end:
                self.now = t_end
                return
            if t_frame is not None and (t_timer is None or t_frame <= t_timer):
                t, _, dst, raw = heapq.heappop(self._queue)
                self.now = max(self.now, t)
                if dst in self.cores:
                    self.feed(dst, self.cores[dst].receive(raw, self.now))
            else:
                assert t_timer is not None
                self.now = max(self.now, t_timer)
                self._deadlines[port] = None
                self.feed(port, self.cores[port].on_timer(self.now))

    def of_type(self, port: str, kind: type[SlacEvent]) -> list[SlacEvent]:
        """Recorded events of ``kind`` from ``port``."""
        return [ev for _, p, ev in self.events if p == port and isinstance(ev, kind)]
