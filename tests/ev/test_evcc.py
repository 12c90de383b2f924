"""The EV simulator core on its own: battery, request builders, refusal of bad SECC answers, CLI wiring."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from josev.ev import messages as m
from josev.ev.battery import Battery, Behaviour
from josev.ev.evcc import Evcc, EvError


def test_battery_charges_and_reports_energy_request() -> None:
    b = Battery(capacity_wh=10_000, soc=50, target_soc=80)
    assert b.energy_request_wh == pytest.approx(3000)
    b.charge(10_000, 360)  # 1 kWh
    assert b.soc == pytest.approx(60)
    b.charge(1e9, 3600)
    assert b.soc == 100 and b.full


def test_sap_request_offers_preferred_first() -> None:
    req = m.sap_request("din", ("urn:tesla:din:2018:MsgDef",))
    entries = req["supportedAppProtocolReq"]["AppProtocol"]
    assert [e["Priority"] for e in entries] == [1, 2]
    assert entries[0]["ProtocolNamespace"] == "urn:din:70121:2012:MsgDef"


def test_unknown_protocol_refused() -> None:
    with pytest.raises(ValueError):
        Evcc("iso20-ac")


def _after_sap(protocol: str) -> Evcc:
    ev = Evcc(protocol, behaviour=Behaviour(loops=1))
    ev.start()
    ev.on_response({"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1}})
    return ev


def test_failed_response_code_ends_with_error() -> None:
    ev = _after_sap("iso2-dc")
    with pytest.raises(EvError):
        ev.on_response(
            {
                "V2G_Message": {
                    "Header": {"SessionID": "00"},
                    "Body": {"SessionSetupRes": {"ResponseCode": "FAILED", "EVSEID": "x"}},
                }
            }
        )
    assert ev.result.outcome == "failed" and "FAILED" in ev.result.detail


def test_unexpected_message_type_ends_with_error() -> None:
    ev = _after_sap("din")
    with pytest.raises(EvError):
        ev.on_response(
            {
                "V2G_Message": {
                    "Header": {"SessionID": "00"},
                    "Body": {"ServiceDiscoveryRes": {"ResponseCode": "OK"}},
                }
            }
        )


def test_sap_refusal_and_malformed_response() -> None:
    ev = Evcc("din")
    ev.start()
    with pytest.raises(EvError):
        ev.on_response({"supportedAppProtocolRes": {"ResponseCode": "Failed_NoNegotiation"}})
    ev = _after_sap("din")
    with pytest.raises(EvError):
        ev.on_response({"nonsense": 1})


def test_endless_ongoing_is_bounded() -> None:
    ev = _after_sap("iso2-ac")
    ev.behaviour.max_ongoing = 3
    sid = "0102030405060708"
    ev.on_response(
        {
            "V2G_Message": {
                "Header": {"SessionID": sid},
                "Body": {"SessionSetupRes": {"ResponseCode": "OK_NewSessionEstablished", "EVSEID": "x"}},
            }
        }
    )
    ev.on_response(
        {
            "V2G_Message": {
                "Header": {"SessionID": sid},
                "Body": {"ServiceDiscoveryRes": {"ResponseCode": "OK"}},
            }
        }
    )
    ev.on_response(
        {
            "V2G_Message": {
                "Header": {"SessionID": sid},
                "Body": {"PaymentServiceSelectionRes": {"ResponseCode": "OK"}},
            }
        }
    )
    ongoing = {
        "V2G_Message": {
            "Header": {"SessionID": sid},
            "Body": {"AuthorizationRes": {"ResponseCode": "OK", "EVSEProcessing": "Ongoing"}},
        }
    }
    for _ in range(3):
        ev.on_response(ongoing)
    with pytest.raises(EvError):
        ev.on_response(ongoing)


def test_cli_help_lists_options() -> None:
    from josev.cli.ev import app

    out = CliRunner().invoke(app, ["--help"])
    assert out.exit_code == 0
    for opt in ("--iface", "--protocol", "--pause-after", "--renegotiate-after", "--slac"):
        assert opt in out.output


def test_station_cli_requires_sim() -> None:
    from josev.cli.station import app

    out = CliRunner().invoke(app, ["--iface", "lo"])
    assert out.exit_code == 2


def test_station_cli_refuses_bad_tls_and_stack_options() -> None:
    from josev.cli.station import app

    for args in (
        ["--sim", "--iface", "lo", "--tls", "tls1.0"],
        ["--sim", "--iface", "lo", "--stack", "real", "--modes", "both"],
        ["--sim", "--iface", "lo", "--stack", "big"],
    ):
        out = CliRunner().invoke(app, args)
        assert out.exit_code == 2, (args, out.output)


def test_ev_cli_tls_needs_a_pki() -> None:
    from josev.cli.ev import app

    out = CliRunner().invoke(app, ["--iface", "lo", "--protocol", "iso20-dc"])
    assert out.exit_code == 2 and "--pki" in out.output
