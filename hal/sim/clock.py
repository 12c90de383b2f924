"""Clocks for the simulated board: a real monotonic one and a fake one tests advance by hand."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Source of the current time in seconds."""

    def now(self) -> float:
        """Current time (s)."""


class MonotonicClock:
    """Real time from :func:`time.monotonic`."""

    def now(self) -> float:
        """Current time (s)."""
        return time.monotonic()


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start

    def now(self) -> float:
        """Current time (s)."""
        return self.t

    def advance(self, dt: float) -> float:
        """Move forward by ``dt`` seconds; returns the new time."""
        if dt < 0:
            raise ValueError("time does not go backwards")
        self.t += dt
        return self.t
