"""The request names a scenario can name, per protocol, and the EV's message timeouts the standards give.

A scenario names a request without ``Req``. ``CableCheck`` also matches -20 ``DC_CableCheck`` (and likewise every
name the -20 ``DC_`` / ``AC_`` messages share), ``ChargeLoop`` matches the charge loop of every protocol
(``CurrentDemand``, ``ChargingStatus``, ``DC_ChargeLoop``, ``AC_ChargeLoop``).
"""

from __future__ import annotations

_COMMON: tuple[str, ...] = (
    "SessionSetup",
    "ServiceDiscovery",
    "ChargeParameterDiscovery",
    "CableCheck",
    "PreCharge",
)
_COMMON += ("PowerDelivery", "CurrentDemand", "WeldingDetection", "SessionStop")
_ISO2: tuple[str, ...] = (
    "ServiceDetail",
    "PaymentServiceSelection",
    "PaymentDetails",
    "Authorization",
    "ChargingStatus",
)
_ISO2 += ("MeteringReceipt", "CertificateInstallation", "CertificateUpdate")
_ISO20: tuple[str, ...] = (
    "SessionSetup",
    "AuthorizationSetup",
    "Authorization",
    "ServiceDiscovery",
    "ServiceDetail",
)
_ISO20 += (
    "ServiceSelection",
    "DC_ChargeParameterDiscovery",
    "AC_ChargeParameterDiscovery",
    "ScheduleExchange",
)
_ISO20 += ("DC_CableCheck", "DC_PreCharge", "PowerDelivery", "DC_ChargeLoop", "AC_ChargeLoop")
_ISO20 += ("DC_WeldingDetection", "SessionStop", "CertificateInstallation", "MeteringConfirmation")

REQUESTS: dict[str, frozenset[str]] = {
    "din": frozenset((*_COMMON, "ServicePaymentSelection", "ContractAuthentication")),
    "iso2": frozenset((*_COMMON, *_ISO2)),
    "iso20": frozenset(_ISO20),
}

#: Names that stand for several messages.
ALIASES: dict[str, frozenset[str]] = {
    "ChargeLoop": frozenset({"CurrentDemand", "ChargingStatus", "DC_ChargeLoop", "AC_ChargeLoop"}),
}

#: The EV's timeout for each response, seconds (DIN SPEC 70121 / ISO 15118-2 / -20 tables of
#: V2G_EVCC_Msg_Timeout); every request not listed: 2 s.
TIMEOUTS: dict[str, dict[str, float]] = {
    "din": {"CurrentDemand": 0.25},
    "iso2": {
        "CurrentDemand": 0.25,
        "ServiceDetail": 5.0,
        "PaymentDetails": 5.0,
        "PowerDelivery": 5.0,
        "CertificateInstallation": 5.0,
        "CertificateUpdate": 5.0,
    },
    "iso20": {
        "DC_ChargeLoop": 0.5,
        "AC_ChargeLoop": 0.5,
        "ServiceDetail": 5.0,
        "CertificateInstallation": 5.0,
    },
}
DEFAULT_TIMEOUT = 2.0


def known(name: str) -> bool:
    """True when ``name`` names a request of some protocol (or an alias)."""
    return name in ALIASES or any(matches(name, m) for names in REQUESTS.values() for m in names)


def matches(name: str, message: str) -> bool:
    """True when the scenario's request ``name`` covers the request ``message`` (both without ``Req``)."""
    if name == message or message in ALIASES.get(name, ()):
        return True
    return message in (f"DC_{name}", f"AC_{name}")


def timeout(protocol: str, message: str) -> float:
    """The EV's timeout for the response to ``message`` in ``protocol``, seconds."""
    return TIMEOUTS.get(protocol, {}).get(message, DEFAULT_TIMEOUT)


def protocol_of(schema: str) -> str:
    """The scenario protocol of a codec schema (``din``, ``iso2``, ``iso20-*`` -> ``iso20``)."""
    return "iso20" if schema.startswith("iso20") else schema
