"""What the sans-IO core asks its shell to do. Every core input returns a list of these, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Effect:
    """Base of core outputs."""


@dataclass(frozen=True, slots=True)
class SendFrame(Effect):
    """Send this text frame on the websocket."""

    text: str


@dataclass(frozen=True, slots=True)
class StationRequest(Effect):
    """Ask the station (the coordinator, over the bus) to do something.

    ``kind`` is one of ``authorization`` (an idToken's result), ``remote_start``, ``remote_stop``,
    ``unlock``, ``availability``, ``reset_evse``, ``reservation`` (mirror an EVSE reservation, or ``cancel`` it),
    ``display`` (the view of one EVSE's display changed). If ``token`` is set the core waits for
    :meth:`josev.ocpp.core.Station.complete` with that token before answering the CSMS.
    """

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    token: int | None = None


@dataclass(frozen=True, slots=True)
class Reboot(Effect):
    """Reboot the charging station (after the frames before it are sent). ``reason`` as in OCPP."""

    reason: str = "Reset"


@dataclass(frozen=True, slots=True)
class Reconnect(Effect):
    """Close the websocket and connect again (e.g. credentials or network profile changed)."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class StartJob(Effect):
    """Run a long job outside the receive loop: ``kind`` is ``firmware`` or ``log``."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
