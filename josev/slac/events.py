"""Events the SLAC cores emit, and the per-call output of a sans-IO core."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class SlacStatus(enum.StrEnum):
    """SLAC status of one EVSE interface, as published on the bus."""

    UNMATCHED = "unmatched"
    MATCHING = "matching"
    MATCHED = "matched"
    FAILED = "failed"


class ModemVendor(enum.StrEnum):
    """PLC modem families told apart by their vendor MMEs."""

    UNKNOWN = "unknown"
    QUALCOMM = "qualcomm"
    LUMISSIL = "lumissil"


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The SLAC status changed. ``matched`` is only reported once the modem says the link is up."""

    status: SlacStatus
    ev_mac: bytes | None = None
    nid: bytes | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """One matching attempt failed; matching goes on while ``attempt`` < C_conn_max_match."""

    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class KeyInstalled:
    """The local modem confirmed CM_SET_KEY (``result`` as the modem sent it)."""

    nid: bytes
    result: int


@dataclass(frozen=True, slots=True)
class ModemDetected:
    """The local modem answered a vendor probe (or nobody did: UNKNOWN)."""

    vendor: ModemVendor
    info: str = ""


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """Answer of a link-status poll."""

    up: bool


@dataclass(frozen=True, slots=True)
class ValidationWindow:
    """EVSE: the EV will toggle B-C-B for ``duration`` s from ``start`` (coordinator: do not react to it).

    Sent with ``open=False`` and the counted ``toggles`` when the window closes.
    """

    open: bool
    start: float
    duration: float
    toggles: int = 0


@dataclass(frozen=True, slots=True)
class ToggleRequest:
    """EV: perform ``count`` B-C-B toggles of S2, each state lasting ``state_duration`` s, now."""

    count: int
    state_duration: float


@dataclass(frozen=True, slots=True)
class EvMatched:
    """EV: matched with the EVSE at ``evse_mac``; both modems now share ``nmk`` / ``nid``."""

    evse_mac: bytes
    nid: bytes
    nmk: bytes
    evse_id: bytes


SlacEvent = (
    StatusChanged
    | AttemptFailed
    | KeyInstalled
    | ModemDetected
    | LinkStatus
    | ValidationWindow
    | ToggleRequest
    | EvMatched
)


@dataclass(slots=True)
class Output:
    """What one call into a core produced: frames to send, events, and when to call ``on_timer`` next."""

    frames: list[bytes] = field(default_factory=list)
    events: list[SlacEvent] = field(default_factory=list)
    deadline: float | None = None
