"""SECC timer values in seconds (ISO 15118-2 Table 109/110, DIN SPEC 70121 Table 75/76)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SeccTimers:
    """Timeouts the SECC enforces; tests shrink them."""

    #: V2G_SECC_CommunicationSetup_Timeout: connection accepted -> SessionSetupReq received.
    communication_setup: float = 20.0
    #: V2G_SECC_Sequence_Timeout: response sent -> next request received.
    sequence: float = 60.0
    #: Authorization / ContractAuthentication answered Ongoing for at most this long, then FAILED.
    authorization_ongoing: float = 55.0
    #: ChargeParameterDiscovery Ongoing loop limit.
    charge_parameter_ongoing: float = 55.0
    #: V2G_SECC_CableCheck_Performance_Time (DIN 38 s): isolation test limit, then FAILED.
    cable_check: float = 38.0


DEFAULT_TIMERS = SeccTimers()
