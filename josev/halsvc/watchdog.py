"""The HAL's coordinator watchdog, sans-IO: kicked by heartbeats, expired by time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Watchdog:
    """Expires ``timeout_s`` after the last kick (armed at creation: silence from the start counts)."""

    timeout_s: float
    now: float

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError("watchdog timeout must be positive")
        self.last = self.now
        self.tripped = False
        self.trips = 0

    def kick(self, now: float) -> bool:
        """A sign of life; returns True when this ends a tripped period."""
        self.last = now
        if self.tripped:
            self.tripped = False
            return True
        return False

    def check(self, now: float) -> bool:
        """True exactly once when the timeout expires."""
        if not self.tripped and now - self.last > self.timeout_s:
            self.tripped = True
            self.trips += 1
            return True
        return False

    def deadline(self) -> float:
        """When it would expire."""
        return self.last + self.timeout_s
