"""The coordinator's view of its link to the HAL: is the HAL up, and what did we last ask of it per EVSE.

The HAL may come up after the coordinator (separate processes start in any order) or restart while the station
runs. A command that times out while the HAL is not up is therefore not a hardware fault; instead, when the
HAL reports ``ready`` the coordinator sends each EVSE's pilot again, and the contactor if it should be open
(a contactor that should be closed is not closed again behind the charging state machine's back: the HAL
starts with it open, and the state machine sees that in the contactor feedback).
"""

from __future__ import annotations

from josev.api.base import CommandError
from josev.coordinator.outputs import ContactorCmd, Out, PilotCmd


class HalLink:
    """HAL liveness (from its retained service status) and the last pilot and contactor commands per EVSE."""

    def __init__(self) -> None:
        self.ready = False
        self.pilot: dict[int, PilotCmd] = {}
        self.contactor: dict[int, ContactorCmd] = {}

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

    def excused(self, exc: CommandError, hal_was_up: bool) -> bool:
        """A command failure that only says the HAL was not up (yet) when it was sent: not a fault (a command
        published before the HAL subscribed is lost; :meth:`resend` repeats it once the HAL is ready)."""
        return exc.code == "timeout" and not hal_was_up

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
