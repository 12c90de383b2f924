"""Configuration and per-EV session record of the EVSE SLAC core (see :mod:`josev.slac.evse`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from josev.slac.evse_table import S
from josev.slac.modem import QCA_LOCAL_MANAGEMENT_MAC
from josev.slac.timers import DEFAULT_TIMINGS, SlacTimings

MATCHED_POLL_PERIOD = 1.0
"""Link supervision period once matched (not in the standard)."""


@dataclass(frozen=True, slots=True)
class EvseSlacConfig:
    """Configuration of one EVSE SLAC interface."""

    mac: bytes
    """MAC address of the host's PLC interface."""
    evse_id: bytes = bytes(17)
    modem_mac: bytes = QCA_LOCAL_MANAGEMENT_MAC
    timings: SlacTimings = DEFAULT_TIMINGS
    num_sounds: int = 10
    security_level: int = 0
    max_sessions: int = 5
    """C_EVSE_match_parallel: EVs in the matching sequence at once."""


@dataclass(slots=True)
class Session:
    """The matching run of one EV host."""

    ev_mac: bytes
    run_id: bytes = bytes(8)
    state: S = S.WAIT_PARM
    deadline: float | None = None
    profiles: list[tuple[int, ...]] = field(default_factory=list)
    retries: int = 0
    validate_step: int = 0
    toggles: int = 0
    seen_c: bool = False
    window: tuple[float, float] = (0.0, 0.0)
    join_deadline: float = 0.0
