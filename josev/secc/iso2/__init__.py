"""ISO 15118-2 (AC and DC, EIM/ExternalPayment and Plug & Charge) session: state table and one handler module per request."""

from __future__ import annotations

from josev.secc.envelope import v2g_spec
from josev.secc.iso2 import (
    authorization,
    cable_check,
    certificate_installation,
    certificate_update,
    charge_parameter_discovery,
    charging_status,
    current_demand,
    metering_receipt,
    payment_details,
    payment_service_selection,
    power_delivery,
    pre_charge,
    service_detail,
    service_discovery,
    session_setup,
    session_stop,
    welding_detection,
)
from josev.secc.machine import ENDED, Context, Handler, ProtocolSpec

STATES = (
    "SessionSetup",
    "ServiceDiscovery",
    "PaymentServiceSelection",
    "PaymentDetails",
    "Authorization",
    "ChargeParameterDiscovery",
    "CableCheck",
    "PreCharge",
    "PowerDelivery",
    "ChargingStatus",
    "CurrentDemand",
    "MeteringReceipt",
    "Renegotiated",
    "StoppedCharging",
    "WeldingDetection",
    ENDED,
)

_STOPPABLE = (
    "ServiceDiscovery",
    "PaymentServiceSelection",
    "PaymentDetails",
    "Authorization",
    "ChargeParameterDiscovery",
    "CableCheck",
    "PreCharge",
    "PowerDelivery",
    "Renegotiated",
    "StoppedCharging",
    "WeldingDetection",
)

TABLE: dict[tuple[str, str], frozenset[str]] = {
    ("SessionSetup", "SessionSetupReq"): frozenset({"ServiceDiscovery"}),
    ("ServiceDiscovery", "ServiceDiscoveryReq"): frozenset({"PaymentServiceSelection"}),
    ("PaymentServiceSelection", "ServiceDetailReq"): frozenset({"PaymentServiceSelection"}),
    ("PaymentServiceSelection", "PaymentServiceSelectionReq"): frozenset({"Authorization", "PaymentDetails"}),
    ("PaymentDetails", "PaymentDetailsReq"): frozenset({"Authorization"}),
    ("PaymentDetails", "CertificateInstallationReq"): frozenset({"PaymentDetails"}),
    ("PaymentDetails", "CertificateUpdateReq"): frozenset({"PaymentDetails"}),
    ("Authorization", "AuthorizationReq"): frozenset({"Authorization", "ChargeParameterDiscovery"}),
    ("ChargeParameterDiscovery", "ChargeParameterDiscoveryReq"): frozenset(
        {"ChargeParameterDiscovery", "CableCheck", "PowerDelivery", "Renegotiated"}
    ),
    ("CableCheck", "CableCheckReq"): frozenset({"CableCheck", "PreCharge"}),
    ("PreCharge", "PreChargeReq"): frozenset({"PreCharge"}),
    ("PreCharge", "PowerDeliveryReq"): frozenset({"CurrentDemand", "WeldingDetection"}),
    ("PowerDelivery", "PowerDeliveryReq"): frozenset({"ChargingStatus", "StoppedCharging"}),
    # a loop response with ReceiptRequired (Contract sessions): the EV signs the meter reading, then loops on
    ("ChargingStatus", "ChargingStatusReq"): frozenset({"ChargingStatus", "MeteringReceipt"}),
    ("ChargingStatus", "PowerDeliveryReq"): frozenset({"StoppedCharging", "ChargeParameterDiscovery"}),
    ("CurrentDemand", "CurrentDemandReq"): frozenset({"CurrentDemand", "MeteringReceipt"}),
    ("MeteringReceipt", "MeteringReceiptReq"): frozenset({"ChargingStatus", "CurrentDemand"}),
    ("CurrentDemand", "PowerDeliveryReq"): frozenset({"WeldingDetection", "ChargeParameterDiscovery"}),
    # DC after a renegotiation: straight to PowerDelivery (standard) or CableCheck/PreCharge again (some EVs)
    ("Renegotiated", "PowerDeliveryReq"): frozenset({"CurrentDemand", "WeldingDetection"}),
    ("Renegotiated", "CableCheckReq"): frozenset({"CableCheck", "PreCharge"}),
    ("WeldingDetection", "WeldingDetectionReq"): frozenset({"WeldingDetection"}),
    **{(s, "SessionStopReq"): frozenset({ENDED}) for s in _STOPPABLE},
}

_MODULES: tuple[Handler, ...] = (
    session_setup,
    service_discovery,
    service_detail,
    payment_service_selection,
    payment_details,
    certificate_installation,
    certificate_update,
    authorization,
    charge_parameter_discovery,
    cable_check,
    pre_charge,
    power_delivery,
    charging_status,
    current_demand,
    metering_receipt,
    welding_detection,
    session_stop,
)
HANDLERS: dict[str, Handler] = {m.REQUEST: m for m in _MODULES}

SPEC: ProtocolSpec[Context] = v2g_spec("iso2", STATES, TABLE, HANDLERS, zero_sid="0000000000000000")
