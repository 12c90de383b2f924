"""The timing limits the standards set, per protocol family (values in seconds).

Sources: DIN SPEC 70121:2014-12 9.6.2 Table 75 (message timeouts, sequence timeout) and 9.6.5.5 Table 77 (cable
check, pre-charge, ready-to-charge); ISO 15118-2:2014 Table 109 (V2G_EVCC_Msg_Timeout [V2G2-436],
V2G_SECC_Msg_Performance_Time, V2G_EVCC_Sequence_Performance_Time [V2G2-485], V2G_SECC_Sequence_Timeout) and the
loop timers [V2G2-700]..[V2G2-711]; ISO 15118-20:2022 Table 215. Where a standard gives no figure we know of,
the entry is None and nothing is checked (the report says so rather than borrowing another part's number).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    family: str
    standard: str
    timeout_table: str
    """Where the per-message timeouts are defined."""
    ev_timeout_default: float
    ev_timeout: dict[str, float]
    """V2G_EVCC_Msg_Timeout per request (base name) where it differs from the default."""
    performance_default: float | None
    performance: dict[str, float]
    """V2G_SECC_Msg_Performance_Time per request where it differs from the default."""
    secc_sequence_timeout: float
    ev_sequence_performance: float | None
    """V2G_EVCC_Sequence_Performance_Time: the EV's own budget from a response to its next request."""
    loops: dict[str, tuple[str, float, str]] = field(default_factory=dict)
    """Loop name -> (parameter, limit, clause). Loop names: ``CableCheck``, ``PreCharge``, ``Ongoing``."""
    charge_loop: tuple[str, ...] = ()
    clause_values: str = ""
    """Where the message fields (and their meaning) are defined."""
    clause_failed: str = ""
    """What the EV must do after a FAILED response code."""
    clause_stop: str = ""
    """What the EV must do when the station asks it to stop."""
    clause_limit: str = ""
    """Where the EVSE's maximum limits in the charge loop answer are defined (the EV's target keeps within)."""
    clause_renegotiate: str = ""
    """What the EV must do when the station asks it to renegotiate."""

    def ev_timeout_of(self, base: str) -> float:
        return self.ev_timeout.get(base, self.ev_timeout_default)

    def performance_of(self, base: str) -> float | None:
        return self.performance.get(base, self.performance_default)


DIN = Limits(
    family="din",
    standard="DIN SPEC 70121",
    timeout_table="DIN SPEC 70121 9.6.2 Table 75",
    ev_timeout_default=2.0,
    ev_timeout={"CurrentDemand": 0.25},
    performance_default=None,
    performance={},
    secc_sequence_timeout=60.0,
    ev_sequence_performance=None,
    loops={
        "CableCheck": ("V2G_EVCC_CableCheck_Timeout", 40.0, "DIN SPEC 70121 9.6.5.5 Table 77, [V2G-DC-380]"),
        "PreCharge": ("V2G_EVCC_PreCharge_Timeout", 7.0, "DIN SPEC 70121 9.6.5.5 Table 77"),
        "Ongoing": ("V2G_EVCC_ReadyToCharge_Timeout", 150.0, "DIN SPEC 70121 9.6.5.5 Table 77"),
    },
    charge_loop=("CurrentDemand",),
    clause_values="DIN SPEC 70121 9.4 (message definitions) and 9.5 (data types)",
    clause_failed="DIN SPEC 70121 9.6 (error handling: after a FAILED response code the EVCC stops the session)",
    clause_stop="DIN SPEC 70121 9.4 (DC_EVSEStatus EVSEStatusCode / EVSENotification)",
    clause_limit="DIN SPEC 70121 9.4 (CurrentDemandRes EVSEMaximumCurrentLimit / PowerLimit / VoltageLimit)",
    clause_renegotiate="DIN SPEC 70121 has no renegotiation",
)

ISO2 = Limits(
    family="iso2",
    standard="ISO 15118-2",
    timeout_table="ISO 15118-2:2014 Table 109, [V2G2-436]",
    ev_timeout_default=2.0,
    ev_timeout={
        "ServiceDetail": 5.0,
        "PaymentDetails": 5.0,
        "PowerDelivery": 5.0,
        "CertificateInstallation": 5.0,
        "CertificateUpdate": 5.0,
        "CurrentDemand": 0.25,
    },
    performance_default=1.5,
    performance={
        "ServiceDetail": 4.5,
        "PaymentDetails": 4.5,
        "PowerDelivery": 4.5,
        "CertificateInstallation": 4.5,
        "CertificateUpdate": 4.5,
        "CurrentDemand": 0.025,
    },
    secc_sequence_timeout=60.0,
    ev_sequence_performance=40.0,
    loops={
        "CableCheck": (
            "V2G_EVCC_CableCheck_Timeout",
            40.0,
            "ISO 15118-2:2014 Table 109, [V2G2-700]..[V2G2-703]",
        ),
        "PreCharge": (
            "V2G_EVCC_PreCharge_Timeout",
            7.0,
            "ISO 15118-2:2014 Table 109, [V2G2-704]..[V2G2-707]",
        ),
        "Ongoing": ("V2G_EVCC_Ongoing_Timeout", 60.0, "ISO 15118-2:2014 Table 109, [V2G2-710], [V2G2-711]"),
    },
    charge_loop=("CurrentDemand", "ChargingStatus"),
    clause_values="ISO 15118-2:2014 8.4 (message definitions) and 8.5 (data types)",
    clause_failed="ISO 15118-2:2014 8.8 (error handling), [V2G2-539]: after FAILED the session ends",
    clause_stop="ISO 15118-2:2014 8.5 (EVSENotification, NotificationMaxDelay)",
    clause_limit="ISO 15118-2:2014 8.4 (CurrentDemandRes EVSEMaximumCurrentLimit / PowerLimit / VoltageLimit)",
    clause_renegotiate="ISO 15118-2:2014 8.5 (EVSENotification ReNegotiation) and 8.4 (PowerDeliveryReq "
    "ChargeProgress Renegotiate, then ChargeParameterDiscoveryReq)",
)

ISO20 = Limits(
    family="iso20",
    standard="ISO 15118-20",
    timeout_table="ISO 15118-20:2022 Table 215",
    ev_timeout_default=2.0,
    ev_timeout={
        "CertificateInstallation": 5.0,
        "ServiceDetail": 5.0,
        "DC_ChargeLoop": 0.5,
        "AC_ChargeLoop": 0.5,
    },
    performance_default=None,
    performance={},
    secc_sequence_timeout=60.0,
    ev_sequence_performance=None,
    loops={
        "CableCheck": ("V2G_EVCC_CableCheck_Timeout", 40.0, "ISO 15118-20:2022 Table 215"),
        "PreCharge": ("V2G_EVCC_PreCharge_Timeout", 10.0, "ISO 15118-20:2022 Table 215"),
        "Ongoing": ("V2G_EVCC_Ongoing_Timeout", 60.0, "ISO 15118-20:2022 Table 215"),
    },
    charge_loop=("DC_ChargeLoop", "AC_ChargeLoop"),
    clause_values="ISO 15118-20:2022 8.3 (message definitions) and its data types",
    clause_failed="ISO 15118-20:2022 8.8 (error handling: after a FAILED response code the EVCC stops the session)",
    clause_stop="ISO 15118-20:2022 8.3 (EVSEStatus EVSENotification, NotificationMaxDelay)",
    clause_limit="ISO 15118-20:2022 8.3 (DC_ChargeLoopRes EVSEMaximumChargeCurrent / Power, EVSEMaximumVoltage)",
    clause_renegotiate="ISO 15118-20:2022 8.3 (EVSENotification ScheduleRenegotiation, then ScheduleExchangeReq)",
)

SAP_TIMEOUT = 2.0
"""supportedAppProtocolReq: V2G_EVCC_Msg_Timeout 2 s in all three parts."""

BY_FAMILY = {"din": DIN, "iso2": ISO2, "iso20": ISO20}

LOOP_OF_REQUEST = {
    "CableCheck": "CableCheck",
    "DC_CableCheck": "CableCheck",
    "PreCharge": "PreCharge",
    "DC_PreCharge": "PreCharge",
    "Authorization": "Ongoing",
    "ContractAuthentication": "Ongoing",
    "ChargeParameterDiscovery": "Ongoing",
    "ScheduleExchange": "Ongoing",
}
"""Requests that repeat while the station is busy, and the loop timer that bounds the repetition."""
