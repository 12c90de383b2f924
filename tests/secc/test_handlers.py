"""Per-handler checks: the response code the standard requires for each kind of bad request, the Ongoing
loops and their limits, the SECC timers, and malformed input (clean end, no exception)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from josev.ev.battery import Behaviour
from josev.ev.evcc import Evcc, EvConnection
from josev.secc.events import LocalError, SessionEnded
from josev.secc.evse import EvseView
from josev.secc.session import SeccSession
from josev.secc.timers import SeccTimers
from josev.v2g import v2gtp
from josev.v2g.codec import CodecError, make_codec

from .drive import body_name, code_of
from .samples import din_requests, iso2_requests
from .test_table import _SNAPS, snapshots


def at(proto: str, state: str) -> SeccSession:
    return copy.deepcopy(_SNAPS[proto][state])


def send(secc: SeccSession, name: str, body: dict[str, Any], now: float = 2.0, sid: str | None = None) -> Any:
    assert secc.engine is not None
    s = sid if sid is not None else (secc.engine.ctx.session_id or "00")
    return secc.handle_message({"V2G_Message": {"Header": {"SessionID": s}, "Body": {name: body}}}, now)


def expect(out: Any, code: str, closed: bool = True) -> None:
    """The answer carries ``code``, closes the session or not, and is schema-valid for the real encoder."""
    assert out.response is not None
    assert code_of(out.response) == code, out.response
    assert out.close is closed
    assert EXI.encode(out.schema, out.response)


EXI = make_codec("exi")
ISO_DC = iso2_requests(ac=False)
ISO_AC = iso2_requests(ac=True)
DIN = din_requests()


def test_unknown_session_id() -> None:
    secc = at("iso2-dc", "ServiceDiscovery")
    out = send(secc, "ServiceDiscoveryReq", {}, sid="0102030405060708")
    expect(out, "FAILED_UnknownSession")
    assert any(isinstance(e, SessionEnded) for e in out.events)


def test_din_unknown_session_id() -> None:
    expect(
        send(at("din", "CurrentDemand"), "CurrentDemandReq", DIN["CurrentDemandReq"], sid="AA"),
        "FAILED_UnknownSession",
    )


@pytest.mark.parametrize(
    ("option", "services", "code"),
    [
        ("Contract", [{"ServiceID": 1}], "FAILED_PaymentSelectionInvalid"),
        ("Cash", [{"ServiceID": 1}], "FAILED_PaymentSelectionInvalid"),
        ("ExternalPayment", [{"ServiceID": 2}], "FAILED_NoChargeServiceSelected"),
        ("ExternalPayment", [{"ServiceID": 1}, {"ServiceID": 99}], "FAILED_ServiceSelectionInvalid"),
    ],
)
def test_iso2_payment_service_selection(option: str, services: list[dict[str, int]], code: str) -> None:
    secc = at("iso2-dc", "PaymentServiceSelection")
    body = {"SelectedPaymentOption": option, "SelectedServiceList": {"SelectedService": services}}
    expect(send(secc, "PaymentServiceSelectionReq", body), code)


def test_din_payment_selection_invalid() -> None:
    body = {
        "SelectedPaymentOption": "Contract",
        "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]},
    }
    expect(
        send(at("din", "ServicePaymentSelection"), "ServicePaymentSelectionReq", body),
        "FAILED_PaymentSelectionInvalid",
    )
    body["SelectedPaymentOption"] = "ExternalPayment"
    body["SelectedServiceList"] = {"SelectedService": [{"ServiceID": 7}]}
    expect(
        send(at("din", "ServicePaymentSelection"), "ServicePaymentSelectionReq", body),
        "FAILED_ServiceSelectionInvalid",
    )


def test_service_detail_ok_and_invalid() -> None:
    secc = at("iso2-dc", "PaymentServiceSelection")
    expect(send(secc, "ServiceDetailReq", {"ServiceID": 1}), "OK", closed=False)
    expect(send(secc, "ServiceDetailReq", {"ServiceID": 61000}), "FAILED_ServiceIDInvalid")


def test_service_detail_value_added_service() -> None:
    secc = at("iso2-dc", "PaymentServiceSelection")
    secc.evse.extra_services = ({"ServiceID": 61000, "ServiceCategory": "OtherCustom", "FreeService": True},)
    secc.evse.service_parameters = {
        61000: {"ParameterSet": [{"ParameterSetID": 1, "Parameter": [{"Name": "Interval", "intValue": 3}]}]}
    }
    out = send(secc, "ServiceDetailReq", {"ServiceID": 61000})
    expect(out, "OK", closed=False)
    assert out.response["V2G_Message"]["Body"]["ServiceDetailRes"]["ServiceParameterList"]


@pytest.mark.parametrize(
    ("proto", "mode", "code"),
    [
        ("iso2-dc", "AC_single_phase_core", "FAILED_WrongEnergyTransferMode"),
        ("iso2-ac", "DC_extended", "FAILED_WrongEnergyTransferMode"),
        ("din", "AC_three_phase_core", "FAILED_WrongEnergyTransferType"),
    ],
)
def test_wrong_energy_mode(proto: str, mode: str, code: str) -> None:
    secc = at(proto, "ChargeParameterDiscovery")
    reqs = DIN if proto == "din" else (ISO_AC if proto == "iso2-ac" else ISO_DC)
    body = copy.deepcopy(reqs["ChargeParameterDiscoveryReq"])
    body["EVRequestedEnergyTransferType" if proto == "din" else "RequestedEnergyTransferMode"] = mode
    expect(send(secc, "ChargeParameterDiscoveryReq", body), code)


def test_wrong_charge_parameter_kind() -> None:
    secc = at("iso2-ac", "ChargeParameterDiscovery")
    body = {
        "RequestedEnergyTransferMode": "AC_three_phase_core",
        "DC_EVChargeParameter": ISO_DC["ChargeParameterDiscoveryReq"]["DC_EVChargeParameter"],
    }
    expect(send(secc, "ChargeParameterDiscoveryReq", body), "FAILED_WrongChargeParameter")


def test_bad_physical_value_is_wrong_charge_parameter() -> None:
    secc = at("iso2-dc", "ChargeParameterDiscovery")
    body = copy.deepcopy(ISO_DC["ChargeParameterDiscoveryReq"])
    body["DC_EVChargeParameter"]["EVMaximumVoltageLimit"] = {"Multiplier": 9, "Unit": "V", "Value": 1}
    expect(send(secc, "ChargeParameterDiscoveryReq", body), "FAILED_WrongChargeParameter")


@pytest.mark.parametrize("proto", ["iso2-dc", "din"])
def test_cpd_ongoing_without_limits_then_failed_after_limit(proto: str) -> None:
    secc = at(proto, "ChargeParameterDiscovery")
    secc.evse.limits.max_power = 0
    body = (DIN if proto == "din" else ISO_DC)["ChargeParameterDiscoveryReq"]
    out = send(secc, "ChargeParameterDiscoveryReq", body, now=10.0)
    expect(out, "OK", closed=False)
    assert out.response["V2G_Message"]["Body"]["ChargeParameterDiscoveryRes"]["EVSEProcessing"] == "Ongoing"
    expect(send(secc, "ChargeParameterDiscoveryReq", body, now=40.0), "OK", closed=False)
    expect(send(secc, "ChargeParameterDiscoveryReq", body, now=70.0), "FAILED")


class _RefusingCodec:
    """The real codec, except that it refuses to encode DIN responses whose code matches ``refuse``."""

    def __init__(self, refuse: str) -> None:
        self.real = make_codec("exi")
        self.refuse = refuse

    def decode(self, schema: str, data: bytes) -> Any:
        return self.real.decode(schema, data)

    def encode(self, schema: str, msg: Any) -> bytes:
        if schema == "din" and code_of(msg).startswith(self.refuse):
            raise CodecError("refused by the test")
        return self.real.encode(schema, msg)


@pytest.mark.parametrize(
    ("second_request", "refuse"),
    [("SessionSetupReq", "OK"), ("ServiceDiscoveryReq", "FAILED")],
    ids=["session-running", "session-already-ended"],
)
def test_encode_failure_is_reported_as_our_error(second_request: str, refuse: str) -> None:
    """A response the encoder refuses (our bug) ends the session with a LocalError, also when the response
    was a FAILED answer that had already ended the session: never a silent close."""
    secc = SeccSession(EvseView(), 0.0, codec=_RefusingCodec(refuse))  # type: ignore[arg-type]
    ev = EvConnection(Evcc("din", behaviour=Behaviour(loops=1)), EXI)
    out = secc.receive(ev.start(), 1.0)  # supportedAppProtocolRes encodes
    assert out.send and not out.close
    body = {"EVCCID": "020000000001"} if second_request == "SessionSetupReq" else DIN["ServiceDiscoveryReq"]
    req = {"V2G_Message": {"Header": {"SessionID": "00"}, "Body": {second_request: body}}}
    out = secc.receive(v2gtp.frame(v2gtp.PayloadType.EXI, EXI.encode("din", req)), 2.0)
    assert out.close and not out.send
    errors = [e for e in out.events if isinstance(e, LocalError)]
    assert len(errors) == 1 and errors[0].what == "encode" and "refused by the test" in errors[0].detail
    assert sum(isinstance(e, SessionEnded) for e in out.events) == 1


def test_cable_check_ongoing_then_timeout() -> None:
    secc = at("din", "CableCheck")
    secc.evse.isolation = "Invalid"
    out = send(secc, "CableCheckReq", DIN["CableCheckReq"], now=100.0)
    expect(out, "OK", closed=False)
    res = out.response["V2G_Message"]["Body"]["CableCheckRes"]
    assert res["EVSEProcessing"] == "Ongoing"
    assert res["DC_EVSEStatus"]["EVSEStatusCode"] == "EVSE_IsolationMonitoringActive"
    expect(send(secc, "CableCheckReq", DIN["CableCheckReq"], now=120.0), "OK", closed=False)
    expect(send(secc, "CableCheckReq", DIN["CableCheckReq"], now=139.0), "FAILED")


def test_cable_check_isolation_fault() -> None:
    secc = at("iso2-dc", "CableCheck")
    secc.evse.isolation = "Fault"
    expect(send(secc, "CableCheckReq", ISO_DC["CableCheckReq"]), "FAILED")


def test_authorization_timeout() -> None:
    secc = at("iso2-ac", "Authorization")
    secc.evse.authorized = None
    expect(send(secc, "AuthorizationReq", {}, now=10.0), "OK", closed=False)
    expect(send(secc, "AuthorizationReq", {}, now=66.0), "FAILED")


def test_precharge_above_evse_maximum() -> None:
    secc = at("iso2-dc", "PreCharge")
    body = copy.deepcopy(ISO_DC["PreChargeReq"])
    body["EVTargetVoltage"] = {"Multiplier": 1, "Unit": "V", "Value": 900}
    expect(send(secc, "PreChargeReq", body), "FAILED")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"SAScheduleTupleID": 7}, "FAILED_TariffSelectionInvalid"),
        (
            {
                "ChargingProfile": {
                    "ProfileEntry": [
                        {
                            "ChargingProfileEntryStart": 0,
                            "ChargingProfileEntryMaxPower": {"Multiplier": 3, "Unit": "W", "Value": 900},
                        }
                    ]
                }
            },
            "FAILED_ChargingProfileInvalid",
        ),
        ({"ChargeProgress": "Renegotiate"}, "FAILED_SequenceError"),
        ({"ChargeProgress": "Sideways"}, "FAILED"),
    ],
)
def test_iso2_power_delivery_checks(change: dict[str, Any], code: str) -> None:
    secc = at("iso2-dc", "PreCharge")
    body = {**ISO_DC["PowerDeliveryReq"], "ChargeProgress": "Start", **change}
    expect(send(secc, "PowerDeliveryReq", body), code)


def test_power_delivery_not_applied_on_shutdown() -> None:
    secc = at("iso2-ac", "PowerDelivery")
    secc.evse.status_code = "EVSE_EmergencyShutdown"
    body = {"ChargeProgress": "Start", "SAScheduleTupleID": 1}
    expect(send(secc, "PowerDeliveryReq", body), "FAILED_PowerDeliveryNotApplied")


def test_din_start_while_charging_is_sequence_error() -> None:
    body = copy.deepcopy(DIN["PowerDeliveryReq"])
    body["ReadyToChargeState"] = True
    expect(send(at("din", "CurrentDemand"), "PowerDeliveryReq", body), "FAILED_SequenceError")


def test_current_demand_on_emergency_shutdown_fails() -> None:
    secc = at("din", "CurrentDemand")
    secc.evse.status_code = "EVSE_EmergencyShutdown"
    expect(send(secc, "CurrentDemandReq", DIN["CurrentDemandReq"]), "FAILED")


def test_current_demand_limits_achieved_flags() -> None:
    secc = at("iso2-dc", "CurrentDemand")
    body = copy.deepcopy(ISO_DC["CurrentDemandReq"])
    body["EVTargetCurrent"] = {"Multiplier": 0, "Unit": "A", "Value": 500}
    out = send(secc, "CurrentDemandReq", body)
    res = out.response["V2G_Message"]["Body"]["CurrentDemandRes"]
    assert res["EVSECurrentLimitAchieved"] is True and res["ResponseCode"] == "OK"
    assert res["EVSEID"] == secc.evse.evse_id


@pytest.mark.parametrize(
    "bad",
    [
        None,
        5,
        "x",
        {},
        {"V2G_Message": {}},
        {"V2G_Message": {"Header": {}, "Body": {}}},
        {"V2G_Message": {"Header": {"SessionID": "00"}, "Body": {"A": {}, "B": {}}}},
        {"V2G_Message": {"Header": {"SessionID": "00"}, "Body": {"ServiceDiscoveryReq": 3}}},
        {"V2G_Message": {"Header": {"SessionID": "00"}, "Body": {"NoSuchReq": {}}}},
        {"V2G_Message": {"Header": {"SessionID": "00"}, "Body": {"ServiceDiscoveryRes": {}}}},
    ],
)
def test_malformed_messages_end_cleanly(bad: Any) -> None:
    secc = at("iso2-dc", "ServiceDiscovery")
    out = secc.handle_message(bad, 1.0)
    assert out.response is None and out.close and secc.closed
    assert any(isinstance(e, SessionEnded) for e in out.events)


@pytest.mark.parametrize("field", ["DC_EVStatus", "EVTargetVoltage", "EVTargetCurrent"])
def test_missing_mandatory_field_in_current_demand(field: str) -> None:
    secc = at("iso2-dc", "CurrentDemand")
    body = copy.deepcopy(ISO_DC["CurrentDemandReq"])
    del body[field]
    out = send(secc, "CurrentDemandReq", body)
    assert code_of(out.response).startswith("FAILED") and out.close
    assert body_name(out.response) == "CurrentDemandRes"


def test_sap_failures() -> None:
    secc = SeccSession(EvseView(), 0.0)
    out = secc.handle_message(
        {
            "supportedAppProtocolReq": {
                "AppProtocol": [
                    {
                        "ProtocolNamespace": "urn:tesla:din:2018:MsgDef",
                        "VersionNumberMajor": 1,
                        "VersionNumberMinor": 0,
                        "SchemaID": 1,
                        "Priority": 1,
                    }
                ]
            }
        },
        0.0,
    )
    assert out.response == {"supportedAppProtocolRes": {"ResponseCode": "Failed_NoNegotiation"}}
    assert out.close
    secc = SeccSession(EvseView(), 0.0)
    out = secc.handle_message({"supportedAppProtocolReq": {"AppProtocol": []}}, 0.0)
    assert out.response is None and out.close


def test_communication_setup_timeout() -> None:
    secc = SeccSession(EvseView(), 100.0)
    assert secc.next_timer == 120.0
    assert not secc.on_timer(119.0).close
    out = secc.on_timer(120.0)
    assert out.close and out.events[0].reason == "communication_setup_timeout"  # type: ignore[union-attr]
    assert secc.next_timer is None


def test_sequence_timeout_after_response() -> None:
    secc = at("iso2-dc", "CurrentDemand")
    out = send(secc, "CurrentDemandReq", ISO_DC["CurrentDemandReq"], now=500.0)
    assert secc.next_timer == 560.0
    assert not secc.on_timer(559.9).close
    out = secc.on_timer(560.0)
    assert out.close and any(
        isinstance(e, SessionEnded) and e.reason == "sequence_timeout" for e in out.events
    )


def test_timers_are_configurable() -> None:
    from josev.secc.session import SessionConfig

    secc = SeccSession(EvseView(), 0.0, config=SessionConfig(timers=SeccTimers(communication_setup=2.0)))
    assert secc.next_timer == 2.0


def test_snapshots_cover_pause_path() -> None:
    snaps = snapshots("iso2-dc", Behaviour(loops=5, pause_after=1))
    assert "WeldingDetection" in snaps
