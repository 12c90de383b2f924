"""The per-EVSE charging coordinator (IEC 61851-1): sans-IO core, transition table and bus service."""

from josev.coordinator.config import DcConfig, EvseConfig
from josev.coordinator.core import ContactorCmd, EvseCore, LockCmd, PilotCmd, SessionOut, StatusOut
from josev.coordinator.dccore import DcEvseCore
from josev.coordinator.states import In, St

__all__ = [
    "ContactorCmd",
    "DcConfig",
    "DcEvseCore",
    "EvseConfig",
    "EvseCore",
    "In",
    "LockCmd",
    "PilotCmd",
    "SessionOut",
    "St",
    "StatusOut",
]
