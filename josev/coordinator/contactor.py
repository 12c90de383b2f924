"""Contactor supervision: command vs feedback, as a small table (welding and failure-to-close detection).

States: OPEN, CLOSING, CLOSED, OPENING. A command moves to CLOSING/OPENING and arms a timer; the feedback
confirming the command completes the move; the timer expiring first is a fault: ``contactor_welded`` when
the contacts stay closed after an open command (checked after every opening), ``contactor_failed_to_close``
the other way. A feedback change nobody commanded is a fault too (``contactor_dropped`` /
``contactor_welded``).
"""

from __future__ import annotations

import enum


class CSt(enum.Enum):
    """Supervisor state."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    OPENING = "opening"


class CIn(enum.Enum):
    """Supervisor input."""

    CMD_CLOSE = "cmd_close"
    CMD_OPEN = "cmd_open"
    FB_CLOSED = "fb_closed"
    FB_OPEN = "fb_open"
    TIMEOUT = "timeout"


CTABLE: dict[tuple[CSt, CIn], tuple[CSt, str | None]] = {
    (CSt.OPEN, CIn.CMD_CLOSE): (CSt.CLOSING, None),
    (CSt.OPEN, CIn.CMD_OPEN): (CSt.OPEN, None),
    (CSt.OPEN, CIn.FB_CLOSED): (CSt.OPEN, "contactor_welded"),
    (CSt.OPEN, CIn.FB_OPEN): (CSt.OPEN, None),
    (CSt.OPEN, CIn.TIMEOUT): (CSt.OPEN, None),
    (CSt.CLOSING, CIn.CMD_CLOSE): (CSt.CLOSING, None),
    (CSt.CLOSING, CIn.CMD_OPEN): (CSt.OPENING, None),
    (CSt.CLOSING, CIn.FB_CLOSED): (CSt.CLOSED, None),
    (CSt.CLOSING, CIn.FB_OPEN): (CSt.CLOSING, None),
    (CSt.CLOSING, CIn.TIMEOUT): (CSt.OPENING, "contactor_failed_to_close"),
    (CSt.CLOSED, CIn.CMD_CLOSE): (CSt.CLOSED, None),
    (CSt.CLOSED, CIn.CMD_OPEN): (CSt.OPENING, None),
    (CSt.CLOSED, CIn.FB_CLOSED): (CSt.CLOSED, None),
    (CSt.CLOSED, CIn.FB_OPEN): (CSt.OPENING, "contactor_dropped"),
    (CSt.CLOSED, CIn.TIMEOUT): (CSt.CLOSED, None),
    (CSt.OPENING, CIn.CMD_CLOSE): (CSt.CLOSING, None),
    (CSt.OPENING, CIn.CMD_OPEN): (CSt.OPENING, None),
    (CSt.OPENING, CIn.FB_CLOSED): (CSt.OPENING, None),
    (CSt.OPENING, CIn.FB_OPEN): (CSt.OPEN, None),
    (CSt.OPENING, CIn.TIMEOUT): (CSt.OPEN, "contactor_welded"),
}
"""(state, input) -> (next state, fault reason or None); total."""

_TIMED = frozenset({CSt.CLOSING, CSt.OPENING})


class ContactorSupervisor:
    """Follows one contactor's command and feedback; sans-IO (time passed in)."""

    def __init__(self, timeout_s: float = 0.5) -> None:
        self.timeout_s = timeout_s
        self.state = CSt.OPEN
        self.deadline: float | None = None
        self._fb: bool | None = None

    def feed(self, inp: CIn, now: float) -> str | None:
        """Apply an input; returns a fault reason when the contactor misbehaved."""
        nxt, fault = CTABLE[(self.state, inp)]
        if nxt is not self.state or inp in (CIn.CMD_CLOSE, CIn.CMD_OPEN):
            self.deadline = now + self.timeout_s if nxt in _TIMED else None
        self.state = nxt
        # A feedback already matching the new command completes it at once.
        if self.state is CSt.CLOSING and self._fb is True:
            self.state, self.deadline = CSt.CLOSED, None
        elif self.state is CSt.OPENING and self._fb is False:
            self.state, self.deadline = CSt.OPEN, None
        return fault

    def command(self, closed: bool, now: float) -> str | None:
        """The contactor was commanded."""
        return self.feed(CIn.CMD_CLOSE if closed else CIn.CMD_OPEN, now)

    def feedback(self, closed: bool, now: float) -> str | None:
        """A feedback reading (only changes are significant)."""
        if closed == self._fb:
            return None
        self._fb = closed
        return self.feed(CIn.FB_CLOSED if closed else CIn.FB_OPEN, now)

    def poll(self, now: float) -> str | None:
        """Check the timer."""
        if self.deadline is not None and now >= self.deadline:
            self.deadline = None
            return self.feed(CIn.TIMEOUT, now)
        return None
