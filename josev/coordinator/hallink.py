"""The coordinator's view of its link to the HAL: is the HAL up, and what did we last ask of it per EVSE.

The HAL may come up after the coordinator (separate processes start in any order) or restart while the station
runs. A command that times out while the HAL is not up is therefore not a hardware fault; instead, when the
HAL reports ``ready`` the coordinator sends each EVSE's pilot again, and the contactor if it should be open
(a contactor that should be closed is not closed again behind the charging state machine's back: the HAL
starts with it open, and the state machine sees that in the contactor feedback).

What the broker holds for the HAL when the coordinator starts may be history: after a power cut the broker's
persistence replays the pre-crash states (contactor closed, pilot C) and a ``ready`` status of a HAL that no
longer runs. So an EVSE's HAL inputs count only once the HAL of this run has answered a command for it
(:attr:`HalLink.confirmed`); until then they are held (the latest one is applied at confirmation), and a command
that times out is not a fault. Once confirmed, a command that times out is sent again
(:data:`TIMEOUT_RETRIES` times) before the EVSE faults with ``hal_timeout``: one late reply from a busy HAL is
not a hardware fault, a HAL that stays silent is.
"""

from __future__ import annotations

from josev.api.base import CommandError
from josev.coordinator.outputs import ContactorCmd, Out, PilotCmd

TIMEOUT_RETRIES = 2
"""A command that timed out is sent this many times more before the EVSE faults (``hal_timeout``)."""


class HalLink:
    """HAL liveness (from its retained service status) and the last pilot and contactor commands per EVSE."""

    def __init__(self) -> None:
        self.ready = False
        self.pilot: dict[int, PilotCmd] = {}
        self.contactor: dict[int, ContactorCmd] = {}
        self.confirmed: set[int] = set()
        """EVSEs for which the HAL of this run has answered a command (their HAL inputs are present truth)."""

    def record(self, evse: int, out: object) -> None:
        """Note a command about to be sent."""
        if isinstance(out, PilotCmd):
            self.pilot[evse] = out
        elif isinstance(out, ContactorCmd):
            self.contactor[evse] = out

    def on_status(self, state: str) -> bool:
        """The HAL's service status changed; True when it has just become ready."""
        was, self.ready = self.ready, state == "ready"
        return self.ready and not was

    def confirm(self, evse: int) -> bool:
        """The HAL answered a command for ``evse``; True the first time (its held inputs apply now)."""
        if evse in self.confirmed:
            return False
        self.confirmed.add(evse)
        return True

    def excused(self, exc: CommandError, hal_was_up: bool, evse: int | None = None) -> bool:
        """A command failure that only says the HAL was not up (yet) when it was sent: not a fault (a command
        published before the HAL subscribed is lost; :meth:`resend` repeats it once the HAL is ready). Before
        the HAL of this run has answered anything for ``evse``, its ``ready`` may be a stale retained one."""
        return exc.code == "timeout" and (not hal_was_up or (evse is not None and evse not in self.confirmed))

    def retry(self, exc: CommandError, attempt: int) -> bool:
        """Send a command again after this failure (attempt 0 is the first send)?"""
        return exc.code == "timeout" and attempt < TIMEOUT_RETRIES

    def resend(self, evse: int) -> list[Out]:
        """What to send again to a HAL that has just come up: contactor open (if it should be), then pilot."""
        outs: list[Out] = []
        contactor = self.contactor.get(evse)
        if contactor is not None and not contactor.closed:
            outs.append(contactor)
        pilot = self.pilot.get(evse)
        if pilot is not None:
            outs.append(pilot)
        return outs
