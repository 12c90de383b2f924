"""Contactor supervision: command vs feedback, as a small table (welding and failure-to-close detection).

States: OPEN, CLOSING, CLOSED, OPENING. A command moves to CLOSING/OPENING and arms a timer; a feedback
report confirming the command completes the move. Reports only arrive on change and may be late (a report
from before the command can arrive after it), so a command is never completed by a feedback known before
it: when the timer expires the verdict comes from the last report - still closed after an open command is
``contactor_welded`` (checked after every opening), still open after a close command is
``contactor_failed_to_close``. A change of the feedback in a settled state (OPEN / CLOSED) nobody commanded
is a fault too (``contactor_welded`` / ``contactor_dropped``).
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
    TIMEOUT_CLOSED = "timeout_closed"
    """The command's time is up and the last feedback said closed."""
    TIMEOUT_OPEN = "timeout_open"
    """The command's time is up and the last feedback said open (or there was none)."""


CTABLE: dict[tuple[CSt, CIn], tuple[CSt, str | None]] = {
    (CSt.OPEN, CIn.CMD_CLOSE): (CSt.CLOSING, None),
    (CSt.OPEN, CIn.CMD_OPEN): (CSt.OPEN, None),
    (CSt.OPEN, CIn.FB_CLOSED): (CSt.OPEN, "contactor_welded"),
    (CSt.OPEN, CIn.FB_OPEN): (CSt.OPEN, None),
    (CSt.OPEN, CIn.TIMEOUT_CLOSED): (CSt.OPEN, None),
    (CSt.OPEN, CIn.TIMEOUT_OPEN): (CSt.OPEN, None),
    (CSt.CLOSING, CIn.CMD_CLOSE): (CSt.CLOSING, None),
    (CSt.CLOSING, CIn.CMD_OPEN): (CSt.OPENING, None),
    (CSt.CLOSING, CIn.FB_CLOSED): (CSt.CLOSED, None),
    (CSt.CLOSING, CIn.FB_OPEN): (CSt.CLOSING, None),
    (CSt.CLOSING, CIn.TIMEOUT_CLOSED): (CSt.CLOSED, None),
    (CSt.CLOSING, CIn.TIMEOUT_OPEN): (CSt.OPEN, "contactor_failed_to_close"),
    (CSt.CLOSED, CIn.CMD_CLOSE): (CSt.CLOSED, None),
    (CSt.CLOSED, CIn.CMD_OPEN): (CSt.OPENING, None),
    (CSt.CLOSED, CIn.FB_CLOSED): (CSt.CLOSED, None),
    (CSt.CLOSED, CIn.FB_OPEN): (CSt.OPENING, "contactor_dropped"),
    (CSt.CLOSED, CIn.TIMEOUT_CLOSED): (CSt.CLOSED, None),
    (CSt.CLOSED, CIn.TIMEOUT_OPEN): (CSt.CLOSED, None),
    (CSt.OPENING, CIn.CMD_CLOSE): (CSt.CLOSING, None),
    (CSt.OPENING, CIn.CMD_OPEN): (CSt.OPENING, None),
    (CSt.OPENING, CIn.FB_CLOSED): (CSt.OPENING, None),
    (CSt.OPENING, CIn.FB_OPEN): (CSt.OPEN, None),
    (CSt.OPENING, CIn.TIMEOUT_CLOSED): (CSt.OPEN, "contactor_welded"),
    (CSt.OPENING, CIn.TIMEOUT_OPEN): (CSt.OPEN, None),
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
        return fault

    def recheck(self, closed: bool, now: float) -> None:
        """Judge the contactor afresh from now on, as if ``closed`` had just been commanded: earlier feedback
        reports are forgotten (after a restart they may describe the hardware before the power cut)."""
        self.state = CSt.CLOSING if closed else CSt.OPENING
        self.deadline = now + self.timeout_s
        self._fb = None

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
            return self.feed(CIn.TIMEOUT_CLOSED if self._fb else CIn.TIMEOUT_OPEN, now)
        return None
