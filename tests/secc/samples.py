"""One well-formed request body per message, per protocol (built with the EV-side builders)."""

from __future__ import annotations

from typing import Any

from josev.ev import messages as m
from josev.ev.battery import Battery

B = Battery()


def din_requests() -> dict[str, dict[str, Any]]:
    """DIN SPEC 70121 request bodies."""
    st = {"DC_EVStatus": m.dc_ev_status(B)}
    return {
        "SessionSetupReq": {"EVCCID": "020000000001"},
        "ServiceDiscoveryReq": {},
        "ServicePaymentSelectionReq": {
            "SelectedPaymentOption": "ExternalPayment",
            "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]},
        },
        "ContractAuthenticationReq": {},
        "ChargeParameterDiscoveryReq": {
            "EVRequestedEnergyTransferType": "DC_extended",
            "DC_EVChargeParameter": m.dc_charge_parameter(B, "din"),
        },
        "CableCheckReq": st,
        "PreChargeReq": m.pre_charge(B),
        "PowerDeliveryReq": {
            "ReadyToChargeState": False,
            "DC_EVPowerDeliveryParameter": {**st, "BulkChargingComplete": False, "ChargingComplete": False},
        },
        "CurrentDemandReq": m.current_demand(B, 10.0, False),
        "WeldingDetectionReq": st,
        "SessionStopReq": {},
    }


def iso2_requests(ac: bool) -> dict[str, dict[str, Any]]:
    """ISO 15118-2 request bodies (AC or DC flavour where they differ)."""
    st = {"DC_EVStatus": m.dc_ev_status(B)}
    cpd: dict[str, Any] = (
        {
            "RequestedEnergyTransferMode": "AC_three_phase_core",
            "AC_EVChargeParameter": m.ac_charge_parameter(B),
        }
        if ac
        else {
            "RequestedEnergyTransferMode": "DC_extended",
            "DC_EVChargeParameter": m.dc_charge_parameter(B, "iso2"),
        }
    )
    pd: dict[str, Any] = {"ChargeProgress": "Stop", "SAScheduleTupleID": 1}
    return {
        "SessionSetupReq": {"EVCCID": "020000000001"},
        "ServiceDiscoveryReq": {},
        "ServiceDetailReq": {"ServiceID": 1},
        "PaymentDetailsReq": {
            "eMAID": "DE8EOCAB123456",
            "ContractSignatureCertChain": {"Certificate": "AA=="},
        },
        "PaymentServiceSelectionReq": {
            "SelectedPaymentOption": "ExternalPayment",
            "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]},
        },
        "AuthorizationReq": {},
        "ChargeParameterDiscoveryReq": cpd,
        "CableCheckReq": st,
        "PreChargeReq": m.pre_charge(B),
        "PowerDeliveryReq": pd,
        "ChargingStatusReq": {},
        "CurrentDemandReq": m.current_demand(B, 10.0, False),
        "MeteringReceiptReq": {
            "Id": "ID2",
            "SessionID": "00",
            "MeterInfo": {"MeterID": "M1", "MeterReading": 1},
        },
        "WeldingDetectionReq": st,
        "SessionStopReq": {"ChargingSession": "Terminate"},
    }
