"""DIN SPEC 70121 (DC, EIM/ExternalPayment) session: state table and one handler module per request."""

from __future__ import annotations

from josev.secc.din import (
    cable_check,
    charge_parameter_discovery,
    contract_authentication,
    current_demand,
    power_delivery,
    pre_charge,
    service_discovery,
    service_payment_selection,
    session_setup,
    session_stop,
    welding_detection,
)
from josev.secc.envelope import v2g_spec
from josev.secc.machine import ENDED, Context, Handler, ProtocolSpec

STATES = (
    "SessionSetup",
    "ServiceDiscovery",
    "ServicePaymentSelection",
    "ContractAuthentication",
    "ChargeParameterDiscovery",
    "CableCheck",
    "PreCharge",
    "CurrentDemand",
    "WeldingDetection",
    ENDED,
)

_STOPPABLE = (
    "ServiceDiscovery",
    "ServicePaymentSelection",
    "ContractAuthentication",
    "ChargeParameterDiscovery",
    "CableCheck",
    "PreCharge",
    "WeldingDetection",
)

TABLE: dict[tuple[str, str], frozenset[str]] = {
    ("SessionSetup", "SessionSetupReq"): frozenset({"ServiceDiscovery"}),
    ("ServiceDiscovery", "ServiceDiscoveryReq"): frozenset({"ServicePaymentSelection"}),
    ("ServicePaymentSelection", "ServicePaymentSelectionReq"): frozenset({"ContractAuthentication"}),
    ("ContractAuthentication", "ContractAuthenticationReq"): frozenset(
        {"ContractAuthentication", "ChargeParameterDiscovery"}
    ),
    ("ChargeParameterDiscovery", "ChargeParameterDiscoveryReq"): frozenset(
        {"ChargeParameterDiscovery", "CableCheck"}
    ),
    ("CableCheck", "CableCheckReq"): frozenset({"CableCheck", "PreCharge"}),
    ("PreCharge", "PreChargeReq"): frozenset({"PreCharge"}),
    ("PreCharge", "PowerDeliveryReq"): frozenset({"CurrentDemand", "WeldingDetection"}),
    ("CurrentDemand", "CurrentDemandReq"): frozenset({"CurrentDemand"}),
    ("CurrentDemand", "PowerDeliveryReq"): frozenset({"WeldingDetection"}),
    ("WeldingDetection", "WeldingDetectionReq"): frozenset({"WeldingDetection"}),
    **{(s, "SessionStopReq"): frozenset({ENDED}) for s in _STOPPABLE},
}

_MODULES: tuple[Handler, ...] = (
    session_setup,
    service_discovery,
    service_payment_selection,
    contract_authentication,
    charge_parameter_discovery,
    cable_check,
    pre_charge,
    power_delivery,
    current_demand,
    welding_detection,
    session_stop,
)
HANDLERS: dict[str, Handler] = {m.REQUEST: m for m in _MODULES}

SPEC: ProtocolSpec[Context] = v2g_spec(
    "din", STATES, TABLE, HANDLERS, zero_sid="00", contactor_failed="FAILED_PowerDeliveryNotApplied"
)
