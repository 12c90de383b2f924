"""ISO 15118-20 SECC session (AC, DC, AC BPT, DC BPT; scheduled and dynamic control modes): the state table,
one handler module per request and the -20 data of the spec (Header handling, schemas, payload types). The one
engine (:mod:`josev.secc.machine`) runs it; the one connection core (:mod:`josev.secc.session`) negotiates it in
supportedAppProtocol."""

from __future__ import annotations

from josev.secc.iso20 import (
    ac_charge_loop,
    ac_charge_parameter_discovery,
    authorization,
    authorization_setup,
    certificate_installation,
    dc_cable_check,
    dc_charge_loop,
    dc_charge_parameter_discovery,
    dc_pre_charge,
    dc_welding_detection,
    header,
    metering_confirmation,
    power_delivery,
    schedule_exchange,
    service_detail,
    service_discovery,
    service_selection,
    session_setup,
    session_stop,
)
from josev.secc.iso20.context import Iso20Context, Iso20Handler, iso20_context
from josev.secc.machine import ENDED, ProtocolSpec
from josev.v2g.v2gtp import PayloadType

STATES = (
    "SessionSetup",
    "AuthorizationSetup",
    "Authorization",
    "ServiceDiscovery",
    "ServiceDetail",
    "ChargeParameterDiscovery",
    "ScheduleExchange",
    "CableCheck",
    "PreCharge",
    "PowerDelivery",
    "ChargeLoop",
    "Standby",
    "PostCharge",
    "WeldingDetection",
    ENDED,
)

_STOP_ONLY = ("AuthorizationSetup", "Authorization")
_STOP_OR_RENEGOTIATE = (
    "ServiceDiscovery",
    "ServiceDetail",
    "ChargeParameterDiscovery",
    "ScheduleExchange",
    "CableCheck",
    "PreCharge",
    "PowerDelivery",
    "PostCharge",
    "WeldingDetection",
)

TABLE: dict[tuple[str, str], frozenset[str]] = {
    ("SessionSetup", "SessionSetupReq"): frozenset({"AuthorizationSetup"}),
    ("AuthorizationSetup", "AuthorizationSetupReq"): frozenset({"Authorization"}),
    ("Authorization", "AuthorizationReq"): frozenset({"Authorization", "ServiceDiscovery"}),
    ("Authorization", "CertificateInstallationReq"): frozenset({"Authorization"}),
    ("ServiceDiscovery", "ServiceDiscoveryReq"): frozenset({"ServiceDiscovery", "ServiceDetail"}),
    ("ServiceDetail", "ServiceDetailReq"): frozenset({"ServiceDetail"}),
    ("ServiceDetail", "ServiceSelectionReq"): frozenset({"ChargeParameterDiscovery"}),
    ("ChargeParameterDiscovery", "AC_ChargeParameterDiscoveryReq"): frozenset({"ScheduleExchange"}),
    ("ChargeParameterDiscovery", "DC_ChargeParameterDiscoveryReq"): frozenset({"ScheduleExchange"}),
    ("ScheduleExchange", "ScheduleExchangeReq"): frozenset(
        {"ScheduleExchange", "CableCheck", "PowerDelivery"}
    ),
    ("CableCheck", "DC_CableCheckReq"): frozenset({"CableCheck", "PreCharge"}),
    ("PreCharge", "DC_PreChargeReq"): frozenset({"PreCharge"}),
    ("PreCharge", "PowerDeliveryReq"): frozenset({"PreCharge", "ChargeLoop", "PostCharge"}),
    ("PowerDelivery", "PowerDeliveryReq"): frozenset({"PowerDelivery", "ChargeLoop", "PostCharge"}),
    ("ChargeLoop", "AC_ChargeLoopReq"): frozenset({"ChargeLoop"}),
    ("ChargeLoop", "DC_ChargeLoopReq"): frozenset({"ChargeLoop"}),
    ("ChargeLoop", "MeteringConfirmationReq"): frozenset({"ChargeLoop"}),
    ("ChargeLoop", "PowerDeliveryReq"): frozenset(
        {"ChargeLoop", "Standby", "ScheduleExchange", "PostCharge"}
    ),
    ("Standby", "AC_ChargeLoopReq"): frozenset({"Standby"}),
    ("Standby", "DC_ChargeLoopReq"): frozenset({"Standby"}),
    ("Standby", "PowerDeliveryReq"): frozenset({"Standby", "ChargeLoop", "PostCharge"}),
    ("PostCharge", "DC_WeldingDetectionReq"): frozenset({"WeldingDetection"}),
    ("WeldingDetection", "DC_WeldingDetectionReq"): frozenset({"WeldingDetection"}),
    **{(s, "SessionStopReq"): frozenset({ENDED}) for s in _STOP_ONLY},
    **{(s, "SessionStopReq"): frozenset({ENDED, "ServiceDiscovery"}) for s in _STOP_OR_RENEGOTIATE},
}

_MODULES: tuple[Iso20Handler, ...] = (
    session_setup,
    authorization_setup,
    authorization,
    certificate_installation,
    service_discovery,
    service_detail,
    service_selection,
    ac_charge_parameter_discovery,
    dc_charge_parameter_discovery,
    schedule_exchange,
    dc_cable_check,
    dc_pre_charge,
    power_delivery,
    ac_charge_loop,
    dc_charge_loop,
    dc_welding_detection,
    metering_confirmation,
    session_stop,
)
HANDLERS: dict[str, Iso20Handler] = {m.REQUEST: m for m in _MODULES}

SPEC: ProtocolSpec[Iso20Context] = ProtocolSpec(
    "iso20",
    "iso20-cm",
    STATES,
    "SessionSetup",
    TABLE,
    HANDLERS,
    iso20_context,
    split=header.split,
    wrap=header.wrap,
    payload_schemas={
        PayloadType.EXI_20_MAIN: "iso20-cm",
        PayloadType.EXI_20_AC: "iso20-ac",
        PayloadType.EXI_20_DC: "iso20-dc",
    },
)

__all__ = ["HANDLERS", "SPEC", "STATES", "TABLE"]
