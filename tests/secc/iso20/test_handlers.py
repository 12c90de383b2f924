"""Unit tests of every -20 handler: the positive path and each response code it can give."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from josev.secc.events import AuthorizationRequested, CableCheckRequested, EvTargets, SessionEnded
from josev.secc.iso20 import services
from josev.secc.iso20.context import DYNAMIC, SCHEDULED, Iso20Config, Iso20Context
from josev.secc.iso20.events import EvPowerRequest, ServiceSelected, StandbyChanged
from josev.secc.machine import ENDED, PausedSession, SessionStore
from josev.secc.timers import SeccTimers
from josev.v2g.iso20.rational import rf

from .helpers import EXI, SID, body, code, engine, req, rnum, selection, station


def check_schema(step: Any) -> None:
    if EXI:
        import josev.exi

        josev.exi.encode(step.schema, step.response)


# --- SessionSetup -----------------------------------------------------------------------------------


def test_session_setup_new_and_rejoin() -> None:
    eng = engine()
    step = eng.step(req("SessionSetupReq", "0" * 16, EVCCID="WMIV1234"), 0.0)
    assert code(step.response) == "OK_NewSessionEstablished"
    assert body(step.response)["Header"]["SessionID"] == SID and eng.state == "AuthorizationSetup"
    check_schema(step)
    store = SessionStore({"ABCDEF0123456789": PausedSession("ABCDEF0123456789", "iso20", "WMIV1234", None)})
    eng = engine()
    eng.ctx.store = store
    step = eng.step(req("SessionSetupReq", "ABCDEF0123456789", EVCCID="WMIV1234"), 0.0)
    assert code(step.response) == "OK_OldSessionJoined"
    assert body(step.response)["Header"]["SessionID"] == "ABCDEF0123456789" and not store.paused


def test_session_setup_unknown_or_foreign_paused_session_is_new() -> None:
    store = SessionStore({"ABCDEF0123456789": PausedSession("ABCDEF0123456789", "iso2", "WMIV1234", None)})
    eng = engine()
    eng.ctx.store = store
    step = eng.step(req("SessionSetupReq", "ABCDEF0123456789", EVCCID="WMIV1234"), 0.0)
    assert code(step.response) == "OK_NewSessionEstablished"


def test_session_setup_bad_evccid() -> None:
    step = engine().step(req("SessionSetupReq", EVCCID=""), 0.0)
    assert code(step.response) == "FAILED_WrongChargeParameter"


# --- AuthorizationSetup / Authorization -------------------------------------------------------------


def test_authorization_setup_eim_only_and_with_pnc() -> None:
    eng = engine("AuthorizationSetup")
    step = eng.step(req("AuthorizationSetupReq"), 0.0)
    b = body(step.response)
    assert b["AuthorizationServices"] == ["EIM"] and "EIM_ASResAuthorizationMode" in b
    check_schema(step)
    eng = engine("AuthorizationSetup", config=Iso20Config(pnc=lambda ctx, mode: "OK"))
    eng.ctx.new_challenge = lambda: bytes(range(16))
    step = eng.step(req("AuthorizationSetupReq"), 0.0)
    b = body(step.response)
    assert b["AuthorizationServices"] == ["EIM", "PnC"]
    assert base64.b64decode(b["PnC_ASResAuthorizationMode"]["GenChallenge"]) == bytes(range(16))
    check_schema(step)


def _auth(eng: Any, now: float = 0.0, service: str = "EIM", **extra: Any) -> Any:
    return eng.step(req("AuthorizationReq", SelectedAuthorizationService=service, **extra), now)


def test_authorization_eim_ongoing_then_ok() -> None:
    st = station(authorized=None)
    eng = engine("Authorization", st=st)
    step = _auth(eng)
    assert body(step.response)["EVSEProcessing"] == "Ongoing_WaitingForCustomerInteraction"
    assert any(isinstance(e, AuthorizationRequested) for e in step.events)
    st.view.authorized = True
    step = _auth(eng, 1.0)
    assert code(step.response) == "OK" and body(step.response)["EVSEProcessing"] == "Finished"
    assert eng.state == "ServiceDiscovery"


def test_authorization_rejected_and_timeout() -> None:
    st = station(authorized=False)
    eng = engine("Authorization", st=st)
    step = _auth(eng)
    assert code(step.response) == "WARNING_EIMAuthorizationFailure" and not step.end
    eng = engine("Authorization", st=station(authorized=None))
    eng.ctx.timers = SeccTimers(authorization_ongoing=5.0)
    assert not _auth(eng, 0.0).end
    step = _auth(eng, 6.0)
    assert code(step.response) == "FAILED" and step.end


def test_authorization_selection_invalid() -> None:
    eng = engine("Authorization")
    step = _auth(eng, service="PnC", PnC_AReqAuthorizationMode={})
    assert code(step.response) == "WARNING_AuthorizationSelectionInvalid" and eng.state == "Authorization"


def test_authorization_pnc_seam() -> None:
    seen: list[dict[str, Any]] = []

    def verify(ctx: Iso20Context, mode: dict[str, Any]) -> str:
        seen.append(mode)
        return "WARNING_CertificateExpired" if mode["Id"] == "old" else "OK"

    cfg = Iso20Config(pnc=verify)
    eng = engine("AuthorizationSetup", config=cfg)
    eng.ctx.new_challenge = lambda: b"\x01" * 16
    eng.step(req("AuthorizationSetupReq"), 0.0)
    good = base64.b64encode(b"\x01" * 16).decode()
    mode = {
        "Id": "id1",
        "GenChallenge": base64.b64encode(b"\x02" * 16).decode(),
        "ContractCertificateChain": {},
    }
    assert (
        code(_auth(eng, service="PnC", PnC_AReqAuthorizationMode=mode).response) == "WARNING_ChallengeInvalid"
    )
    mode = dict(mode, Id="old", GenChallenge=good)
    assert (
        code(_auth(eng, service="PnC", PnC_AReqAuthorizationMode=mode).response)
        == "WARNING_CertificateExpired"
    )
    step = _auth(eng, service="PnC", PnC_AReqAuthorizationMode=dict(mode, Id="ok"))
    assert code(step.response) == "OK" and eng.state == "ServiceDiscovery"
    assert [m["Id"] for m in seen] == ["old", "ok"]
    assert any(isinstance(e, AuthorizationRequested) and e.payment == "Contract" for e in step.events)


# --- ServiceDiscovery / Detail / Selection ----------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "bpt", "expected"),
    [
        (None, True, [1, 2, 5, 6]),
        ("AC", True, [1, 5]),
        ("DC", True, [2, 6]),
        ("DC", False, [2]),
        (None, False, [1, 2]),
    ],
)
def test_service_discovery_offers(family: str | None, bpt: bool, expected: list[int]) -> None:
    eng = engine("ServiceDiscovery", st=station(bpt=bpt), family=family)
    step = eng.step(req("ServiceDiscoveryReq"), 0.0)
    assert [s["ServiceID"] for s in body(step.response)["EnergyTransferServiceList"]["Service"]] == expected
    assert body(step.response)["ServiceRenegotiationSupported"] is True
    check_schema(step)


def test_service_discovery_respects_supported_ids() -> None:
    eng = engine("ServiceDiscovery")
    step = eng.step(req("ServiceDiscoveryReq", SupportedServiceIDs={"ServiceID": [6, 3]}), 0.0)
    assert [s["ServiceID"] for s in body(step.response)["EnergyTransferServiceList"]["Service"]] == [6]


def test_service_detail_parameter_sets_and_invalid_id() -> None:
    eng = engine("ServiceDetail")
    eng.ctx.offered_services = (1, 5)
    step = eng.step(req("ServiceDetailReq", ServiceID=5), 0.0)
    sets = body(step.response)["ServiceParameterList"]["ParameterSet"]
    modes = [{p["Name"]: p["intValue"] for p in s["Parameter"]}["ControlMode"] for s in sets]
    assert modes == [SCHEDULED, DYNAMIC]
    assert {p["Name"] for p in sets[0]["Parameter"]} >= {"Connector", "BPTChannel", "GeneratorMode"}
    check_schema(step)
    step = eng.step(req("ServiceDetailReq", ServiceID=2), 0.0)
    assert code(step.response) == "FAILED_ServiceIDInvalid"
    check_schema(step)


@pytest.mark.parametrize(
    ("selected", "expected"),
    [
        (None, "FAILED_NoEnergyTransferServiceSelected"),
        ({"ServiceID": 3, "ParameterSetID": 1}, "FAILED_ServiceSelectionInvalid"),
        ({"ServiceID": 1, "ParameterSetID": 9}, "FAILED_ServiceSelectionInvalid"),
        ({"ServiceID": 1, "ParameterSetID": 2}, "OK"),
    ],
)
def test_service_selection(selected: dict[str, int] | None, expected: str) -> None:
    eng = engine("ServiceDetail")
    eng.ctx.offered_services = (1, 5)
    extra = {} if selected is None else {"SelectedEnergyTransferService": selected}
    step = eng.step(req("ServiceSelectionReq", **extra), 0.0)
    assert code(step.response) == expected
    if expected == "OK":
        assert selection(eng).dynamic and selection(eng).ac and not selection(eng).bpt
        assert any(isinstance(e, ServiceSelected) and e.control_mode == "dynamic" for e in step.events)


def test_service_selection_rejects_vas() -> None:
    eng = engine("ServiceDetail")
    eng.ctx.offered_services = (1,)
    step = eng.step(
        req(
            "ServiceSelectionReq",
            SelectedEnergyTransferService={"ServiceID": 1, "ParameterSetID": 1},
            SelectedVASList={"SelectedService": [{"ServiceID": 100, "ParameterSetID": 1}]},
        ),
        0.0,
    )
    assert code(step.response) == "FAILED_ServiceSelectionInvalid"


# --- ChargeParameterDiscovery -----------------------------------------------------------------------


def test_ac_cpd_plain_and_bpt() -> None:
    eng = engine("ChargeParameterDiscovery", service=services.AC)
    mode = {"EVMaximumChargePower": rnum(11000), "EVMinimumChargePower": rnum(100)}
    step = eng.step(req("AC_ChargeParameterDiscoveryReq", AC_CPDReqEnergyTransferMode=mode), 0.0)
    b = body(step.response)["AC_CPDResEnergyTransferMode"]
    total = sum(
        rf(b[k]) for k in ("EVSEMaximumChargePower", "EVSEMaximumChargePower_L2", "EVSEMaximumChargePower_L3")
    )
    assert total == pytest.approx(230 * 16 * 3) and eng.state == "ScheduleExchange"
    check_schema(step)
    eng = engine("ChargeParameterDiscovery", service=services.AC_BPT)
    bpt = dict(mode, EVMaximumDischargePower=rnum(5000), EVMinimumDischargePower=rnum(100))
    step = eng.step(req("AC_ChargeParameterDiscoveryReq", BPT_AC_CPDReqEnergyTransferMode=bpt), 0.0)
    b = body(step.response)["BPT_AC_CPDResEnergyTransferMode"]
    assert sum(rf(v) for k, v in b.items() if k.startswith("EVSEMaximumDischargePower")) == pytest.approx(
        11000, abs=3
    )
    check_schema(step)


@pytest.mark.parametrize(
    ("service", "name", "key"),
    [
        (services.AC, "AC_ChargeParameterDiscoveryReq", "BPT_AC_CPDReqEnergyTransferMode"),
        (services.AC_BPT, "AC_ChargeParameterDiscoveryReq", "AC_CPDReqEnergyTransferMode"),
        (services.DC, "AC_ChargeParameterDiscoveryReq", "AC_CPDReqEnergyTransferMode"),
        (services.AC, "DC_ChargeParameterDiscoveryReq", "DC_CPDReqEnergyTransferMode"),
    ],
)
def test_cpd_wrong_mode_is_wrong_charge_parameter(service: int, name: str, key: str) -> None:
    eng = engine("ChargeParameterDiscovery", service=service)
    mode = {"EVMaximumChargePower": rnum(11000), "EVMinimumChargePower": rnum(100)}
    step = eng.step(req(name, **{key: mode}), 0.0)
    assert code(step.response) == "FAILED_WrongChargeParameter"
    check_schema(step)


def _dc_mode(**over: Any) -> dict[str, Any]:
    m = {
        "EVMaximumChargePower": rnum(150000),
        "EVMinimumChargePower": rnum(100),
        "EVMaximumChargeCurrent": rnum(300),
        "EVMinimumChargeCurrent": rnum(1),
        "EVMaximumVoltage": rnum(450),
        "EVMinimumVoltage": rnum(200),
    }
    m.update(over)
    return m


def test_dc_cpd_plain_bpt_and_voltage_mismatch() -> None:
    eng = engine("ChargeParameterDiscovery", service=services.DC)
    step = eng.step(req("DC_ChargeParameterDiscoveryReq", DC_CPDReqEnergyTransferMode=_dc_mode()), 0.0)
    assert rf(body(step.response)["DC_CPDResEnergyTransferMode"]["EVSEMaximumVoltage"]) == 500
    check_schema(step)
    eng = engine("ChargeParameterDiscovery", service=services.DC_BPT)
    bpt = _dc_mode(
        EVMaximumDischargePower=rnum(10000),
        EVMinimumDischargePower=rnum(0),
        EVMaximumDischargeCurrent=rnum(25),
        EVMinimumDischargeCurrent=rnum(0),
    )
    step = eng.step(req("DC_ChargeParameterDiscoveryReq", BPT_DC_CPDReqEnergyTransferMode=bpt), 0.0)
    assert rf(body(step.response)["BPT_DC_CPDResEnergyTransferMode"]["EVSEMaximumDischargeCurrent"]) == 25
    check_schema(step)
    eng = engine("ChargeParameterDiscovery", service=services.DC)
    step = eng.step(
        req(
            "DC_ChargeParameterDiscoveryReq", DC_CPDReqEnergyTransferMode=_dc_mode(EVMaximumVoltage=rnum(40))
        ),
        0.0,
    )
    assert code(step.response) == "FAILED_WrongChargeParameter"


def test_dc_cpd_target_soc_is_not_reported_as_the_present_soc() -> None:
    """-20 DC_ChargeParameterDiscoveryReq carries where the EV wants to end (TargetSOC), not where it is: the EV's
    needs (NotifyEVChargingNeeds stateOfCharge) must not claim 80 % for a car that wants to reach 80 %."""
    from josev.secc.events import EvChargeParameters

    eng = engine("ChargeParameterDiscovery", service=services.DC)
    step = eng.step(
        req("DC_ChargeParameterDiscoveryReq", DC_CPDReqEnergyTransferMode=_dc_mode(TargetSOC=80)), 0.0
    )
    params = [e for e in step.events if isinstance(e, EvChargeParameters)]
    assert len(params) == 1 and params[0].soc is None and params[0].max_voltage == 450, params


def test_malformed_rational_is_wrong_charge_parameter() -> None:
    eng = engine("ChargeParameterDiscovery", service=services.DC)
    step = eng.step(
        req(
            "DC_ChargeParameterDiscoveryReq",
            DC_CPDReqEnergyTransferMode=_dc_mode(EVMaximumVoltage={"Value": 1}),
        ),
        0.0,
    )
    assert code(step.response) == "FAILED_WrongChargeParameter"


# --- ScheduleExchange -------------------------------------------------------------------------------


def _se(dynamic: bool, points: int = 1024) -> dict[str, Any]:
    if dynamic:
        mode = {
            "DepartureTime": 3600,
            "EVTargetEnergyRequest": rnum(20000),
            "EVMaximumEnergyRequest": rnum(30000),
            "EVMinimumEnergyRequest": rnum(0),
        }
        return req("ScheduleExchangeReq", MaximumSupportingPoints=points, Dynamic_SEReqControlMode=mode)
    return req("ScheduleExchangeReq", MaximumSupportingPoints=points, Scheduled_SEReqControlMode={})


def test_schedule_exchange_scheduled_from_limits_with_discharge() -> None:
    eng = engine("ScheduleExchange", service=services.DC_BPT)
    step = eng.step(_se(False), 0.0)
    tup = body(step.response)["Scheduled_SEResControlMode"]["ScheduleTuple"][0]
    charge = tup["ChargingSchedule"]["PowerSchedule"]["PowerScheduleEntries"]["PowerScheduleEntry"][0]
    dis = tup["DischargingSchedule"]["PowerSchedule"]["PowerScheduleEntries"]["PowerScheduleEntry"][0]
    assert rf(charge["Power"]) == pytest.approx(50000) and rf(dis["Power"]) == pytest.approx(-11000)
    assert eng.state == "CableCheck" and eng.ctx.schedule_ids == (1,)
    check_schema(step)


def test_schedule_exchange_dynamic_and_ac_next_state() -> None:
    eng = engine("ScheduleExchange", service=services.AC, mode=DYNAMIC)
    step = eng.step(_se(True), 0.0)
    assert body(step.response)["Dynamic_SEResControlMode"] == {} and eng.state == "PowerDelivery"
    assert eng.ctx.ev_params["EVTargetEnergyRequest"] == 20000
    check_schema(step)


def test_schedule_exchange_errors() -> None:
    eng = engine("ScheduleExchange", service=services.AC)
    assert code(eng.step(_se(True), 0.0).response) == "FAILED_WrongChargeParameter"
    eng = engine("ScheduleExchange", service=services.AC)
    assert code(eng.step(_se(False, points=5), 0.0).response) == "FAILED_WrongChargeParameter"


def test_schedule_exchange_ongoing_without_limits_then_failed() -> None:
    st = station()
    st.view.limits.max_power = 0.0
    eng = engine("ScheduleExchange", st=st, service=services.DC)
    eng.ctx.timers = SeccTimers(charge_parameter_ongoing=2.0)
    step = eng.step(_se(False), 0.0)
    assert body(step.response)["EVSEProcessing"] == "Ongoing" and eng.state == "ScheduleExchange"
    check_schema(step)
    assert code(eng.step(_se(False), 3.0).response) == "FAILED"


# --- DC CableCheck / PreCharge / WeldingDetection ---------------------------------------------------


def test_cable_check_ongoing_finished_fault_timeout() -> None:
    st = station()
    eng = engine("CableCheck", st=st, service=services.DC)
    eng.ctx.timers = SeccTimers(cable_check=3.0)
    step = eng.step(req("DC_CableCheckReq"), 0.0)
    assert body(step.response)["EVSEProcessing"] == "Ongoing"
    assert any(isinstance(e, CableCheckRequested) for e in step.events)
    st.view.isolation = "Valid"
    step = eng.step(req("DC_CableCheckReq"), 1.0)
    assert body(step.response)["EVSEProcessing"] == "Finished" and eng.state == "PreCharge"
    eng = engine("CableCheck", st=station(isolation="Fault"), service=services.DC)
    assert code(eng.step(req("DC_CableCheckReq"), 0.0).response) == "FAILED"
    eng = engine("CableCheck", service=services.DC)
    eng.ctx.timers = SeccTimers(cable_check=3.0)
    eng.step(req("DC_CableCheckReq"), 0.0)
    assert code(eng.step(req("DC_CableCheckReq"), 4.0).response) == "FAILED"


def test_pre_charge_targets_and_limits() -> None:
    st = station(present_voltage=123.0)
    eng = engine("PreCharge", st=st, service=services.DC)
    pc = {"EVProcessing": "Ongoing", "EVPresentVoltage": rnum(400), "EVTargetVoltage": rnum(400)}
    step = eng.step(req("DC_PreChargeReq", **pc), 0.0)
    assert rf(body(step.response)["EVSEPresentVoltage"]) == 123.0
    assert next(e for e in step.events if isinstance(e, EvTargets)).voltage == 400
    check_schema(step)
    step = eng.step(req("DC_PreChargeReq", **dict(pc, EVTargetVoltage=rnum(900))), 0.0)
    assert code(step.response) == "FAILED_WrongChargeParameter"
    check_schema(step)


def test_welding_detection_dc_only() -> None:
    eng = engine("PostCharge", service=services.DC)
    step = eng.step(req("DC_WeldingDetectionReq", EVProcessing="Ongoing"), 0.0)
    assert code(step.response) == "OK" and eng.state == "WeldingDetection"
    eng = engine("PostCharge", service=services.AC)
    assert (
        code(eng.step(req("DC_WeldingDetectionReq", EVProcessing="Finished"), 0.0).response)
        == "FAILED_SequenceError"
    )


# --- PowerDelivery ----------------------------------------------------------------------------------


def _pd(
    progress: str,
    *,
    tuple_id: int | None = 1,
    power: float = 10000,
    processing: str = "Finished",
    **extra: Any,
) -> dict[str, Any]:
    b: dict[str, Any] = {"EVProcessing": processing, "ChargeProgress": progress, **extra}
    if tuple_id is not None:
        mode = (
            {"Scheduled_EVPPTControlMode": {"SelectedScheduleTupleID": tuple_id}}
            if tuple_id
            else {"Dynamic_EVPPTControlMode": {}}
        )
        b["EVPowerProfile"] = {
            "TimeAnchor": 0,
            **mode,
            "EVPowerProfileEntries": {"EVPowerProfileEntry": [{"Duration": 3600, "Power": rnum(power)}]},
        }
    return req("PowerDeliveryReq", **b)


def _ready(service: int, mode: int = SCHEDULED, state: str = "PowerDelivery") -> Any:
    eng = engine(state, service=service, mode=mode)
    eng.ctx.schedule_ids = (1,)
    eng.ctx.offered_pmax = 11000.0
    eng.ctx.offered_discharge = 11000.0 if selection(eng).bpt else 0.0
    return eng


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "OK"),
        ({"tuple_id": 7}, "FAILED_ScheduleSelectionInvalid"),
        ({"tuple_id": None}, "FAILED_ScheduleSelectionInvalid"),
        ({"tuple_id": 0}, "FAILED_EVPowerProfileInvalid"),
        ({"power": 20000}, "FAILED_EVPowerProfileInvalid"),
        ({"power": -5000}, "FAILED_EVPowerProfileInvalid"),
        ({"BPT_ChannelSelection": "Discharge"}, "FAILED_WrongChargeParameter"),
    ],
)
def test_power_delivery_start_scheduled(kwargs: dict[str, Any], expected: str) -> None:
    eng = _ready(services.AC)
    step = eng.step(_pd("Start", **kwargs), 0.0)
    assert code(step.response) == expected
    check_schema(step)
    if expected == "OK":
        assert eng.state == "ChargeLoop"


def test_power_delivery_bpt_discharge_profile_and_ongoing() -> None:
    eng = _ready(services.DC_BPT, state="PreCharge")
    step = eng.step(_pd("Start", processing="Ongoing"), 0.0)
    assert code(step.response) == "OK" and eng.state == "PreCharge"
    step = eng.step(_pd("Start", power=-8000, BPT_ChannelSelection="Discharge"), 0.0)
    assert code(step.response) == "OK" and eng.state == "ChargeLoop"


def test_power_delivery_not_applied_when_station_stops() -> None:
    eng = _ready(services.AC)
    eng.ctx.station.view.stop_requested = True
    assert code(eng.step(_pd("Start"), 0.0).response) == "FAILED_PowerDeliveryNotApplied"


def test_power_delivery_standby_and_exit() -> None:
    eng = _ready(services.DC, DYNAMIC, "ChargeLoop")
    step = eng.step(_pd("Standby", tuple_id=None), 0.0)
    assert code(step.response) == "OK" and eng.state == "Standby" and eng.ctx.standby
    assert any(isinstance(e, StandbyChanged) and e.standby for e in step.events)
    eng.ctx.station.exit_standby = True
    assert eng.ctx.standby
    step = eng.step(_pd("Start", tuple_id=None), 0.0)
    assert eng.state == "ChargeLoop" and not eng.ctx.standby


def test_power_delivery_standby_not_allowed_in_scheduled_mode() -> None:
    eng = _ready(services.DC, SCHEDULED, "ChargeLoop")
    step = eng.step(_pd("Standby", tuple_id=None), 0.0)
    assert code(step.response) == "WARNING_StandbyNotAllowed" and eng.state == "ChargeLoop" and not step.end
    check_schema(step)


def test_power_delivery_renegotiation_stop_and_sequence() -> None:
    eng = _ready(services.AC, state="ChargeLoop")
    assert code(eng.step(_pd("ScheduleRenegotiation", tuple_id=None), 0.0).response) == "OK"
    assert eng.state == "ScheduleExchange" and eng.ctx.renegotiating
    eng = _ready(services.AC, state="ChargeLoop")
    assert code(eng.step(_pd("Stop", tuple_id=None), 0.0).response) == "OK" and eng.state == "PostCharge"
    eng = _ready(services.AC, state="ChargeLoop")
    assert code(eng.step(_pd("Start"), 0.0).response) == "FAILED_SequenceError"
    eng = _ready(services.AC, state="PowerDelivery")
    assert code(eng.step(_pd("Standby", tuple_id=None), 0.0).response) == "FAILED_SequenceError"
    eng = _ready(services.AC, state="PowerDelivery")
    assert code(eng.step(_pd("Sideways", tuple_id=None), 0.0).response) == "FAILED"


def test_power_delivery_notification_terminate() -> None:
    eng = _ready(services.AC, state="ChargeLoop")
    eng.ctx.station.view.stop_requested = True
    step = eng.step(_pd("Stop", tuple_id=None), 0.0)
    assert body(step.response)["EVSEStatus"]["EVSENotification"] == "Terminate"
    check_schema(step)


# --- Charge loops -----------------------------------------------------------------------------------


def _ac_loop(mode_name: str, mode: dict[str, Any], meter: bool = False) -> dict[str, Any]:
    return req(
        "AC_ChargeLoopReq",
        DisplayParameters={"PresentSOC": 40, "ChargingComplete": False},
        MeterInfoRequested=meter,
        **{mode_name: mode},
    )


def test_ac_loop_scheduled_and_meter() -> None:
    eng = _ready(services.AC, state="ChargeLoop")
    step = eng.step(
        _ac_loop("Scheduled_AC_CLReqControlMode", {"EVPresentActivePower": rnum(9000)}, meter=True), 0.0
    )
    b = body(step.response)
    assert "Scheduled_AC_CLResControlMode" in b and b["MeterInfo"]["MeterID"]
    assert any(isinstance(e, EvPowerRequest) and e.present_power == 9000 and e.soc == 40 for e in step.events)
    check_schema(step)


def _dyn_ac(**over: Any) -> dict[str, Any]:
    m = {
        "EVTargetEnergyRequest": rnum(10000),
        "EVMaximumEnergyRequest": rnum(20000),
        "EVMinimumEnergyRequest": rnum(0),
        "EVMaximumChargePower": rnum(7000),
        "EVMinimumChargePower": rnum(0),
        "EVPresentActivePower": rnum(0),
        "EVPresentReactivePower": rnum(0),
    }
    m.update(over)
    return m


def test_ac_loop_dynamic_target_follows_limits_and_setpoint() -> None:
    eng = _ready(services.AC_BPT, DYNAMIC, "ChargeLoop")
    mode = _dyn_ac(EVMaximumDischargePower=rnum(4000), EVMinimumDischargePower=rnum(0))
    step = eng.step(_ac_loop("BPT_Dynamic_AC_CLReqControlMode", mode), 0.0)
    res = body(step.response)["BPT_Dynamic_AC_CLResControlMode"]
    total = sum(rf(v) for k, v in res.items() if k.startswith("EVSETargetActivePower"))
    assert total == pytest.approx(7000, abs=1)  # the EV's maximum (EVSE offers 11 kW)
    check_schema(step)
    eng.ctx.station.power_setpoint = -9000.0  # the coordinator asks for discharge: limited by the EV's 4 kW
    step = eng.step(_ac_loop("BPT_Dynamic_AC_CLReqControlMode", mode), 0.0)
    res = body(step.response)["BPT_Dynamic_AC_CLResControlMode"]
    assert sum(rf(v) for k, v in res.items() if k.startswith("EVSETargetActivePower")) == pytest.approx(
        -4000, abs=1
    )


def test_ac_loop_wrong_mode_and_dc_session() -> None:
    eng = _ready(services.AC, DYNAMIC, "ChargeLoop")
    step = eng.step(_ac_loop("Scheduled_AC_CLReqControlMode", {"EVPresentActivePower": rnum(1)}), 0.0)
    assert code(step.response) == "FAILED_WrongChargeParameter"
    check_schema(step)
    eng = _ready(services.DC, SCHEDULED, "ChargeLoop")
    step = eng.step(_ac_loop("Scheduled_AC_CLReqControlMode", {"EVPresentActivePower": rnum(1)}), 0.0)
    assert code(step.response) == "FAILED_WrongChargeParameter"


def _dc_loop(mode_name: str, mode: dict[str, Any]) -> dict[str, Any]:
    return req(
        "DC_ChargeLoopReq",
        DisplayParameters={"PresentSOC": 50},
        MeterInfoRequested=False,
        EVPresentVoltage=rnum(400),
        **{mode_name: mode},
    )


def test_dc_loop_scheduled_targets_and_limit_flags() -> None:
    st = station(present_voltage=400.0, present_current=125.0)
    eng = engine("ChargeLoop", st=st, service=services.DC)
    step = eng.step(
        _dc_loop(
            "Scheduled_DC_CLReqControlMode", {"EVTargetCurrent": rnum(100), "EVTargetVoltage": rnum(400)}
        ),
        0.0,
    )
    b = body(step.response)
    assert b["EVSECurrentLimitAchieved"] is True and b["EVSEPowerLimitAchieved"] is True
    t = next(e for e in step.events if isinstance(e, EvTargets))
    assert (t.voltage, t.current, t.soc) == (400, 100, 50)
    check_schema(step)


def test_dc_loop_dynamic_bpt_discharge_setpoint() -> None:
    st = station(present_voltage=400.0)
    st.power_setpoint = -8000.0
    eng = engine("ChargeLoop", st=st, service=services.DC_BPT, mode=DYNAMIC)
    mode = {
        "EVTargetEnergyRequest": rnum(10000),
        "EVMaximumEnergyRequest": rnum(20000),
        "EVMinimumEnergyRequest": rnum(0),
        "EVMaximumChargePower": rnum(50000),
        "EVMinimumChargePower": rnum(0),
        "EVMaximumChargeCurrent": rnum(125),
        "EVMaximumVoltage": rnum(450),
        "EVMinimumVoltage": rnum(200),
        "EVMaximumDischargePower": rnum(10000),
        "EVMinimumDischargePower": rnum(0),
        "EVMaximumDischargeCurrent": rnum(25),
    }
    step = eng.step(_dc_loop("BPT_Dynamic_DC_CLReqControlMode", mode), 0.0)
    t = next(e for e in step.events if isinstance(e, EvTargets))
    assert t.current == pytest.approx(-20)  # 8 kW at 400 V, discharging
    assert "EVSEMaximumDischargePower" in body(step.response)["BPT_Dynamic_DC_CLResControlMode"]
    check_schema(step)


def test_dc_loop_target_voltage_too_high_and_shutdown() -> None:
    eng = engine("ChargeLoop", service=services.DC)
    step = eng.step(
        _dc_loop(
            "Scheduled_DC_CLReqControlMode", {"EVTargetCurrent": rnum(10), "EVTargetVoltage": rnum(900)}
        ),
        0.0,
    )
    assert code(step.response) == "FAILED_WrongChargeParameter"
    check_schema(step)
    eng = engine("ChargeLoop", st=station(status_code="EVSE_Malfunction"), service=services.DC)
    step = eng.step(
        _dc_loop(
            "Scheduled_DC_CLReqControlMode", {"EVTargetCurrent": rnum(10), "EVTargetVoltage": rnum(400)}
        ),
        0.0,
    )
    assert code(step.response) == "FAILED"


def test_loop_notifies_schedule_renegotiation_when_limits_change() -> None:
    st = station()
    eng = engine("ChargeLoop", st=st, service=services.AC)
    st.view.limits_version += 1
    step = eng.step(_ac_loop("Scheduled_AC_CLReqControlMode", {"EVPresentActivePower": rnum(1)}), 0.0)
    assert body(step.response)["EVSEStatus"]["EVSENotification"] == "ScheduleRenegotiation"
    check_schema(step)


# --- SessionStop ------------------------------------------------------------------------------------


def test_session_stop_terminate_pause_renegotiate() -> None:
    eng = engine("PostCharge", service=services.AC)
    step = eng.step(req("SessionStopReq", ChargingSession="Terminate"), 0.0)
    assert code(step.response) == "OK" and eng.state == ENDED and step.end
    eng = engine("PostCharge", service=services.AC)
    step = eng.step(req("SessionStopReq", ChargingSession="Pause"), 0.0)
    assert eng.ctx.store.paused[SID].protocol == "iso20"
    assert any(isinstance(e, SessionEnded) and e.paused for e in step.events)
    eng = engine("PostCharge", service=services.AC)
    step = eng.step(req("SessionStopReq", ChargingSession="ServiceRenegotiation"), 0.0)
    assert code(step.response) == "OK" and eng.state == "ServiceDiscovery" and not step.end
    assert eng.ctx.selection is None


def test_session_stop_refusals() -> None:
    eng = engine("Authorization")
    assert (
        code(eng.step(req("SessionStopReq", ChargingSession="Pause"), 0.0).response)
        == "FAILED_PauseNotAllowed"
    )
    eng = engine("Authorization")
    assert (
        code(eng.step(req("SessionStopReq", ChargingSession="ServiceRenegotiation"), 0.0).response)
        == "FAILED_SequenceError"
    )
    eng = engine("PostCharge", service=services.AC, config=Iso20Config(service_renegotiation=False))
    step = eng.step(req("SessionStopReq", ChargingSession="ServiceRenegotiation"), 0.0)
    assert code(step.response) == "FAILED_NoServiceRenegotiationSupported"
    eng = engine("PostCharge", service=services.AC)
    assert code(eng.step(req("SessionStopReq", ChargingSession="Later"), 0.0).response) == "FAILED"
