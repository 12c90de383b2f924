"""Messages of the ``slac`` service (ISO 15118-3 SLAC on each EVSE's PLC interface).

Out: :class:`SlacState` (retained, per EVSE) and :class:`ValidationWindow` events. In: the control-pilot
state, read from the coordinator's retained ``PilotState`` (``josev.api.coordinator``) or given by the
:class:`CpStateInput` command (HAL, CLI, tests without a coordinator); :class:`GetSlacDiagnostics` for the
counters.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from josev.api.base import Ack, Command, Event, Reply, State, callers

SlacStatusName = Literal["unmatched", "matching", "matched", "failed"]
ModemName = Literal["unknown", "qualcomm", "lumissil"]
CpLetter = Literal["A", "B", "C", "D", "E", "F"]


class SlacState(State):
    """SLAC status of one EVSE: ``matched`` means the EV joined the EVSE's network and the link is up."""

    service: ClassVar[str] = "slac"
    name: ClassVar[str] = "slac_state"
    per_evse: ClassVar[bool] = True

    status: SlacStatusName
    """unmatched (no EV / CP in A, E, F), matching, matched (link up), failed (gave up until A/E/F)."""
    ev_mac: str | None = None
    """MAC address of the EV's host (aa:bb:cc:dd:ee:ff) once known."""
    nid: str | None = None
    """Network identifier (hex) of the logical network when matched; the NMK is never published."""
    reason: str = ""
    """Why the status changed (e.g. the timeout that failed matching)."""
    interface: str = ""
    """PLC interface of the EVSE."""
    modem: ModemName | None = None
    """Modem family detected on the interface (None while probing)."""


class ValidationWindow(Event):
    """CM_VALIDATE: the EV toggles B-C-B for ``duration_s`` from now (open) / the counted toggles (closed).

    While a window is open the coordinator must not treat B<->C changes as charging start/stop.
    """

    service: ClassVar[str] = "slac"
    name: ClassVar[str] = "validation_window"
    per_evse: ClassVar[bool] = True

    open: bool
    """True when the window opens, False when it closes."""
    duration_s: float = Field(ge=0)
    """Length of the window in seconds."""
    toggles: int = Field(0, ge=0)
    """BCB toggles counted (when closed)."""


class CpStateInput(Command[Ack]):
    """The control pilot of an EVSE is now in ``state``; matching starts on A/E/F -> B/C/D."""

    service: ClassVar[str] = "slac"
    name: ClassVar[str] = "cp_state"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers()
    grantable: ClassVar[bool] = False

    state: CpLetter
    """IEC 61851-1 state letter."""


class SlacDiagnostics(Reply):
    """Counters and state of one EVSE's SLAC."""

    state: str
    """Internal state of the SLAC state machine."""
    status: SlacStatusName
    """Published status."""
    interface: str
    """PLC interface."""
    modem: ModemName | None
    """Detected modem family."""
    modem_info: str = ""
    """Firmware / platform the modem reported."""
    counters: dict[str, int] = Field(default_factory=dict)
    """Received frames and the dropped ones by reason (malformed, truncated, foreign_run_id, ...)."""


class GetSlacDiagnostics(Command[SlacDiagnostics]):
    """Ask for the SLAC counters of an EVSE."""

    service: ClassVar[str] = "slac"
    name: ClassVar[str] = "diagnostics"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers()
