"""What the coordinator core emits (commands and reports) and its per-session record."""

from __future__ import annotations

from dataclasses import dataclass, field

from hal.types import PilotOutput
from josev.coordinator.states import St


@dataclass(frozen=True)
class PilotCmd:
    """Drive the pilot."""

    out: PilotOutput


@dataclass(frozen=True)
class ContactorCmd:
    """Open or close the contactor."""

    closed: bool


@dataclass(frozen=True)
class LockCmd:
    """Lock or unlock the connector."""

    locked: bool


@dataclass(frozen=True)
class StatusOut:
    """Status snapshot, emitted whenever any field changes."""

    state: St
    ocpp: str
    detailed: str
    faults: tuple[str, ...]
    limit_a: float
    pilot: PilotOutput
    contactor_closed: bool
    session_id: str | None


@dataclass(frozen=True)
class SessionOut:
    """A session event: started, authorized, charging_started, charging_stopped, stopped, ended."""

    kind: str
    session_id: str
    reason: str = ""
    id_token: str | None = None
    auth_source: str | None = None
    energy_wh: float = 0.0
    """Energy delivered in this session so far (from the meter)."""
    unmetered: bool = False
    energy_export_wh: float = 0.0
    """Energy the vehicle returned in this session so far (from the meter's export register)."""
    session: Session | None = field(default=None, compare=False, repr=False)
    """The session itself: the service publishes its energy as it is when the event leaves (after the
    contactor-open reading that a stop or unplug waits for in the HAL command queue)."""


@dataclass(frozen=True)
class DcCmd:
    """DC EVSE: switch / target the power module (current signed: negative = discharge)."""

    enabled: bool
    voltage_v: float
    current_a: float


@dataclass(frozen=True)
class ImdCmd:
    """DC EVSE: run or stop the insulation monitor."""

    running: bool


@dataclass(frozen=True)
class DcReport:
    """DC EVSE: the DC output's phase, limits or flags changed (publish DcSupplyState now)."""

    phase: str
    isolation: str
    enabled: bool
    voltage_v: float
    current_a: float
    flags: tuple[bool, bool, bool]
    max_power_w: float
    fault: str


Out = PilotCmd | ContactorCmd | LockCmd | StatusOut | SessionOut | DcCmd | ImdCmd | DcReport


@dataclass
class Session:
    """One vehicle session (plug-in to unplug)."""

    id: str
    started_at: float
    id_token: str | None = None
    auth_source: str | None = None
    authorized: bool = False
    hlc_failed: bool = False
    slac_tries: int = 0
    v2g_failures: int = 0
    """V2G sessions (SessionSetup .. end) of this plug-in that ended abnormally (FAILED, timeout, TCP lost)."""
    power_on: bool = False
    stop_reason: str | None = None
    charged: bool = False
    energy_start: float | None = None
    energy_now: float | None = None
    unmetered: bool = False
    export_start: float | None = None
    export_now: float | None = None
    energy_at_open: float | None = None
    """Import register read when the contactor last opened (the final reading; None: not yet)."""

    def energy_wh(self) -> float:
        """Energy delivered so far."""
        if self.energy_start is None or self.energy_now is None:
            return 0.0
        return max(0.0, self.energy_now - self.energy_start)

    def energy_export_wh(self) -> float:
        """Energy the vehicle returned so far (meters with an export register)."""
        if self.export_start is None or self.export_now is None:
            return 0.0
        return max(0.0, self.export_now - self.export_start)
