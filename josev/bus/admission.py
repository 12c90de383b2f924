"""What a bus client lets through, before anything is decoded: payload size and per-publisher rate limits
(token buckets keyed by the publisher the broker's ACL vouches for), the counters of what was dropped
(``BusStats``, published in the service's retained status), and drop log lines that limit themselves.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from josev.api import base
from josev.bus.settings import BusSettings

log = logging.getLogger("josev.bus")


@dataclass
class BusStats:
    """Counters of one bus client."""

    published: int = 0
    received: int = 0
    invalid: int = 0
    """Payloads that did not decode or validate (rejected, logged)."""
    handler_errors: int = 0
    commands_served: int = 0
    requests: int = 0
    timeouts: int = 0
    connects: int = 0
    disconnects: int = 0
    errors_by_topic: dict[str, int] = field(default_factory=dict)
    oversize: int = 0
    """Payloads above ``max_payload`` (dropped unread)."""
    rate_limited: int = 0
    """Messages above the per-publisher rate (dropped)."""
    forged_replies: int = 0
    """Replies from another service than the one asked (dropped)."""
    commands_refused: int = 0
    """Commands answered with an error before reaching a handler."""
    denied: int = 0
    """Own publishes the broker refused (not authorized)."""
    taken_over: int = 0
    """Times another connection took this client's session over."""
    read_pauses: int = 0
    """Times reading was paused because it used more than its share of the event loop."""

    def counters(self) -> base.BusCounters:
        """The published form."""
        return base.BusCounters(
            received=self.received,
            invalid=self.invalid,
            oversize=self.oversize,
            rate_limited=self.rate_limited,
            forged_replies=self.forged_replies,
            commands_refused=self.commands_refused,
            taken_over=self.taken_over,
        )


class Bucket:
    """A token bucket: ``rate`` per second, ``burst`` at most."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Admission:
    """Size and rate limits of one bus client, and its drop log."""

    LOG_EVERY_S = 1.0
    """Dropped-message log lines are rate limited to one per kind per this interval."""
    MAX_BUCKETS = 256

    def __init__(self, service: str, settings: BusSettings, stats: BusStats) -> None:
        self.service = service
        self.settings = settings
        self.stats = stats
        self._buckets: dict[str, Bucket] = {}
        self._log_stamps: dict[str, tuple[float, int]] = {}

    def sender(self, message: mqtt.MQTTMessage) -> str:
        """Who published ``message``, as far as the broker's ACL vouches for it (the rate-limit key)."""
        parts = message.topic.split("/")
        if len(parts) == 6 and parts[3] == "reply":
            return parts[5]
        if len(parts) == 6 and parts[4] == "cmd":  # the caller named in the response topic
            rt = getattr(message.properties, "ResponseTopic", "") if message.properties else ""
            rparts = (rt or "").split("/")
            return f"cmd:{rparts[2] if len(rparts) > 2 else '?'}"
        return parts[2] if len(parts) > 2 else "?"

    def admit(self, message: mqtt.MQTTMessage) -> bool:
        """Size and rate limits, before anything is decoded."""
        if len(message.payload) > self.settings.max_payload:
            self.stats.oversize += 1
            self.log_drop(
                "oversize",
                f"{self.service}: dropped a {len(message.payload)} byte message on {message.topic[:200]}"
                f" (limit {self.settings.max_payload})",
            )
            return False
        sender = self.sender(message)
        bucket = self.bucket(sender)
        # Commands also share one budget per service (2x the per-caller rate): the caller named in a response
        # topic is not vouched for by the broker, so inventing callers must not multiply the budget.
        shared = self.bucket("cmd:*") if sender.startswith("cmd:") else None
        if not bucket.take() or (shared is not None and not shared.take()):
            self.stats.rate_limited += 1
            self.log_drop(
                "rate", f"{self.service}: {sender} exceeds {bucket.rate:.0f} messages/s; dropping the excess"
            )
            return False
        return True

    def bucket(self, key: str) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:  # many invented senders share one bucket
                key = "cmd:?" if key.startswith("cmd:") else "?"
                bucket = self._buckets.get(key)
                if bucket is not None:
                    return bucket
            rate = self.settings.max_command_rate if key.startswith("cmd:") else self.settings.max_rate
            if key == "cmd:*":
                rate *= 2
            bucket = self._buckets[key] = Bucket(rate, 2 * rate)
        return bucket

    def log_drop(self, kind: str, text: str) -> None:
        """Log a dropped message, at most once per ``LOG_EVERY_S`` per kind (a flood must not flood the log)."""
        now = time.monotonic()
        stamp, suppressed = self._log_stamps.get(kind, (0.0, 0))
        if now - stamp < self.LOG_EVERY_S:
            self._log_stamps[kind] = (stamp, suppressed + 1)
            return
        self._log_stamps[kind] = (now, 0)
        log.error("%s%s", text, f" ({suppressed} more like it suppressed)" if suppressed else "")
