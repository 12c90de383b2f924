"""Fake-clock harness around one sans-IO core: feed frames / time, inspect what came out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from josev.slac.events import Output, SlacEvent
from josev.slac.frame import Frame, encode_frame, parse_frame
from josev.slac.messages import Message

T = TypeVar("T")


class Rng:
    """Deterministic byte source (counts up) so tests can predict NMKs and run ids."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, k: int) -> bytes:
        self.n += 1
        return bytes((self.n + i) & 0xFF for i in range(k))


@dataclass
class Harness:
    """Wraps a core; ``now`` is the fake clock."""

    core: Any
    now: float = 0.0
    sent: list[Frame] = field(default_factory=list)
    events: list[SlacEvent] = field(default_factory=list)
    deadline: float | None = None

    def _take(self, out: Output) -> Output:
        self.sent += [parse_frame(f) for f in out.frames]
        self.events += out.events
        self.deadline = out.deadline
        return out

    def call(self, method: str, *args: Any) -> Output:
        return self._take(getattr(self.core, method)(*args, self.now))

    def rx(self, src: bytes, msg: Message, dst: bytes | None = None) -> Output:
        raw = encode_frame(dst if dst is not None else self.core.cfg.mac, src, msg)
        return self._take(self.core.receive(raw, self.now))

    def rx_raw(self, raw: bytes) -> Output:
        return self._take(self.core.receive(raw, self.now))

    def advance(self, dt: float) -> None:
        """Move the clock by ``dt`` firing every deadline on the way."""
        end = self.now + dt
        while self.deadline is not None and self.deadline <= end + 1e-9:
            self.now = max(self.now, self.deadline)
            self._take(self.core.on_timer(self.now))
        self.now = end

    def to_deadline(self) -> None:
        """Jump to the next deadline and fire it."""
        assert self.deadline is not None
        self.now = self.deadline
        self._take(self.core.on_timer(self.now))

    def pop(self, kind: type[T]) -> list[T]:
        """Messages of ``kind`` sent since the last pop (they are forgotten)."""
        out = [f.message for f in self.sent if isinstance(f.message, kind)]
        self.sent = [f for f in self.sent if not isinstance(f.message, kind)]
        return out  # type: ignore[return-value]

    def last(self, kind: type[T]) -> T:
        msgs = [f.message for f in self.sent if isinstance(f.message, kind)]
        assert msgs, f"no {kind.__name__} sent"
        return msgs[-1]

    def state(self) -> Any:
        """The core's state (a call, so type checkers do not narrow it between steps)."""
        return self.core.state

    def status(self) -> Any:
        """The core's published status (not narrowed either)."""
        return self.core.status

    def of(self, kind: type[T]) -> list[T]:
        return [e for e in self.events if isinstance(e, kind)]
