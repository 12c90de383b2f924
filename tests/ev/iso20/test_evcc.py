"""Unit tests of the -20 EVCC core: what it sends, and how it refuses what it cannot accept."""

from __future__ import annotations

from typing import Any

import pytest

from josev.ev.evcc import EvError
from josev.ev.iso20 import PROTOCOLS, Evcc20, Iso20Behaviour

SID = "0102030405060708"


def res(name: str, **body: Any) -> dict[str, Any]:
    return {name: {"Header": {"SessionID": SID, "TimeStamp": 1}, **body}}


def started(protocol: str = "iso20-dc", **beh: Any) -> Evcc20:
    ev = Evcc20(protocol, behaviour=Iso20Behaviour(**beh))
    ev.start()
    ev.on_response({"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1}})
    ev.on_response(res("SessionSetupRes", ResponseCode="OK_NewSessionEstablished", EVSEID="X"))
    return ev


def test_unknown_protocol() -> None:
    with pytest.raises(ValueError):
        Evcc20("iso20-wpt")
    assert set(PROTOCOLS) == {"iso20-ac", "iso20-dc", "iso20-ac-bpt", "iso20-dc-bpt"}


@pytest.mark.parametrize(("protocol", "ns"), [("iso20-ac-bpt", "-20:AC"), ("iso20-dc", "-20:DC")])
def test_sap_offers_the_family_namespace(protocol: str, ns: str) -> None:
    schema, msg = Evcc20(protocol).start()
    assert schema == "sap"
    assert msg["supportedAppProtocolReq"]["AppProtocol"][0]["ProtocolNamespace"].endswith(ns)


def test_session_id_is_taken_from_the_header() -> None:
    ev = started()
    assert ev.session_id == SID and ev.result.messages[-1] == "AuthorizationSetupReq"


def test_refusals() -> None:
    ev = Evcc20("iso20-ac")
    ev.start()
    with pytest.raises(EvError, match="SAP refused"):
        ev.on_response({"supportedAppProtocolRes": {"ResponseCode": "Failed_NoNegotiation"}})
    ev = started()
    with pytest.raises(EvError, match="expected AuthorizationSetupRes"):
        ev.on_response(res("ServiceDiscoveryRes", ResponseCode="OK"))
    assert ev.result.outcome == "failed"
    ev = started()
    with pytest.raises(EvError, match="FAILED_SequenceError"):
        ev.on_response(res("AuthorizationSetupRes", ResponseCode="FAILED_SequenceError"))
    ev = started()
    with pytest.raises(EvError, match="EIM"):
        ev.on_response(
            res(
                "AuthorizationSetupRes",
                ResponseCode="OK",
                AuthorizationServices=["PnC"],
                CertificateInstallationService=False,
            )
        )


def _to_discovery(ev: Evcc20) -> None:
    ev.on_response(
        res(
            "AuthorizationSetupRes",
            ResponseCode="OK",
            AuthorizationServices=["EIM"],
            CertificateInstallationService=False,
        )
    )
    ev.on_response(res("AuthorizationRes", ResponseCode="OK", EVSEProcessing="Finished"))


def test_service_not_offered_and_control_mode_missing() -> None:
    ev = started("iso20-dc-bpt")
    _to_discovery(ev)
    svc = {"Service": [{"ServiceID": 2, "FreeService": False}]}
    with pytest.raises(EvError, match="service 6 not offered"):
        ev.on_response(
            res(
                "ServiceDiscoveryRes",
                ResponseCode="OK",
                ServiceRenegotiationSupported=True,
                EnergyTransferServiceList=svc,
            )
        )
    ev = started("iso20-dc", dynamic=True)
    _to_discovery(ev)
    ev.on_response(
        res(
            "ServiceDiscoveryRes",
            ResponseCode="OK",
            ServiceRenegotiationSupported=True,
            EnergyTransferServiceList=svc,
        )
    )
    sets = {"ParameterSet": [{"ParameterSetID": 1, "Parameter": [{"Name": "ControlMode", "intValue": 1}]}]}
    with pytest.raises(EvError, match="ControlMode 2"):
        ev.on_response(res("ServiceDetailRes", ResponseCode="OK", ServiceID=2, ServiceParameterList=sets))


def test_selects_the_parameter_set_of_its_control_mode() -> None:
    ev = started("iso20-dc", dynamic=True)
    _to_discovery(ev)
    svc = {"Service": [{"ServiceID": 2, "FreeService": False}]}
    ev.on_response(
        res(
            "ServiceDiscoveryRes",
            ResponseCode="OK",
            ServiceRenegotiationSupported=True,
            EnergyTransferServiceList=svc,
        )
    )
    sets = {
        "ParameterSet": [
            {"ParameterSetID": 1, "Parameter": [{"Name": "ControlMode", "intValue": 1}]},
            {"ParameterSetID": 7, "Parameter": [{"Name": "ControlMode", "intValue": 2}]},
        ]
    }
    schema, msg = ev.on_response(
        res("ServiceDetailRes", ResponseCode="OK", ServiceID=2, ServiceParameterList=sets)
    ) or ("", {})
    assert schema == "iso20-cm"
    assert msg["ServiceSelectionReq"]["SelectedEnergyTransferService"] == {
        "ServiceID": 2,
        "ParameterSetID": 7,
    }


def test_ongoing_guard() -> None:
    ev = started(max_ongoing=2)
    ev.on_response(
        res(
            "AuthorizationSetupRes",
            ResponseCode="OK",
            AuthorizationServices=["EIM"],
            CertificateInstallationService=False,
        )
    )
    for _ in range(2):
        ev.on_response(res("AuthorizationRes", ResponseCode="OK", EVSEProcessing="Ongoing"))
    with pytest.raises(EvError, match="Ongoing"):
        ev.on_response(res("AuthorizationRes", ResponseCode="OK", EVSEProcessing="Ongoing"))
