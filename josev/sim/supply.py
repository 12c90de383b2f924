"""A stand-in for the coordinator + DC power supply: reacts to session events by updating the
:class:`EvseView` at once (isolation test passes, voltage follows the target, authorization granted).

Used by unit tests and by the SECC service when it runs without a coordinator (``josev station --sim`` when
the coordinator is not part of the stack).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from josev.secc.events import (
    AuthorizationRequested,
    CableCheckRequested,
    Event,
    EvTargets,
    PowerDeliveryRequested,
    SessionEnded,
    SessionStarted,
    WeldingDetectionRequested,
)
from josev.secc.evse import EvseView


@dataclass(slots=True)
class SimPowerSupply:
    """Instant power electronics; ``auto_authorize`` grants EIM authorization on request."""

    auto_authorize: bool = True

    def apply(self, evse: EvseView, events: Iterable[Event]) -> None:
        """Update ``evse`` for the events of one step."""
        for ev in events:
            if isinstance(ev, SessionStarted):
                evse.isolation = "Invalid"
                evse.present_voltage = 0.0
                evse.present_current = 0.0
            elif isinstance(ev, AuthorizationRequested) and self.auto_authorize and evse.authorized is None:
                evse.authorized = True
            elif isinstance(ev, CableCheckRequested):
                evse.isolation = "Valid"
            elif isinstance(ev, EvTargets):
                lim = evse.limits
                evse.present_voltage = min(ev.voltage, lim.max_voltage)
                if ev.phase == "charge":
                    cur = min(ev.current, lim.max_current)
                    if evse.present_voltage > 0:
                        cur = min(cur, lim.max_power / evse.present_voltage)
                    evse.present_current = cur
                else:
                    evse.present_current = 0.0
            elif isinstance(ev, PowerDeliveryRequested) and ev.progress != "Start":
                evse.present_current = 0.0
            elif isinstance(ev, WeldingDetectionRequested):
                evse.present_voltage = 0.0
            elif isinstance(ev, SessionEnded):
                evse.present_current = 0.0
                evse.present_voltage = 0.0
                if not ev.paused:
                    evse.authorized = None if self.auto_authorize else evse.authorized
