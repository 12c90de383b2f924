"""Reconnect back-off of OCPP-J 2.0.1 (part 4, 5.3) and the network-profile fallback order, as pure functions.

The first retry waits RetryBackOffWaitMinimum plus a random 0..RetryBackOffRandomRange; every failed attempt
doubles the previous wait, at most RetryBackOffRepeatTimes times, each time with a fresh random part; after
that the wait stays the same. It is never below MIN_WAIT_S: with both variables 0 (allowed, and what tests
use) the station would otherwise retry in a hot loop, writing a log line per attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_WAIT_S = 0.25
"""The least wait between two connection attempts, whatever the variables say."""


def delay(attempt: int, wait_minimum: float, random_range: float, repeat_times: int, rand: float) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0 = first retry); ``rand`` in [0, 1)."""
    doublings = min(max(attempt, 0), repeat_times)
    return max(MIN_WAIT_S, float(wait_minimum * (2**doublings) + rand * random_range))


@dataclass
class ProfileCycler:
    """Which network profile slot to try next: each slot of NetworkConfigurationPriority gets
    NetworkProfileConnectionAttempts attempts, then the next one (wrapping around)."""

    attempts_per_slot: int
    index: int = 0
    failures: int = 0

    def current(self, priority: list[int]) -> int:
        """The slot to try now."""
        if not priority:
            raise ValueError("no network profile configured")
        return priority[self.index % len(priority)]

    def failed(self, priority: list[int]) -> bool:
        """Record a failed attempt; True if we moved on to another slot."""
        self.failures += 1
        if self.failures >= max(1, self.attempts_per_slot) and len(priority) > 1:
            self.failures = 0
            self.index = (self.index + 1) % len(priority)
            return True
        return False

    def succeeded(self) -> None:
        """Connected: start from this slot's failure count zero."""
        self.failures = 0
