"""The SECC's optional message stream (josev.secc.msgstream) and what the page model makes of bus payloads
(josev.web.hub): names, headers, shortening, private keys, rate limit, token masking."""

from __future__ import annotations

from typing import Any

import pytest

from josev import config as config_mod
from josev.api import coordinator as co
from josev.api import secc as api
from josev.ev.evcc import Evcc, EvConnection
from josev.secc.iso20.events import shared_events
from josev.secc.msgstream import MAX_BODY, MAX_VALUE, MessageStream, split_message
from josev.secc.service import from_config
from josev.secc.session import SeccSession
from josev.sim.supply import SimPowerSupply
from josev.web.hub import LiveModel, mask_token, safe
from tests.secc.iso20.helpers import station


def test_names_headers_and_bodies_of_every_message_shape() -> None:
    iso2 = {
        "V2G_Message": {
            "Header": {"SessionID": "0A1B2C3D4E5F6071"},
            "Body": {"CurrentDemandRes": {"ResponseCode": "OK", "EVSEPresentVoltage": {"Value": 400}}},
        }
    }
    assert split_message(iso2) == (
        "CurrentDemandRes",
        {"ResponseCode": "OK", "EVSEPresentVoltage": {"Value": 400}},
        {"SessionID": "0A1B2C3D4E5F6071"},
    )
    iso20 = {"DC_ChargeLoopReq": {"Header": {"SessionID": "AB", "TimeStamp": 1}, "MeterInfoRequested": False}}
    assert split_message(iso20) == (
        "DC_ChargeLoopReq",
        {"MeterInfoRequested": False},
        {"SessionID": "AB", "TimeStamp": 1},
    )
    sap = {"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1}}
    ev = MessageStream.event("sap", sap, "c1", 0)
    assert (ev.sender, ev.message, ev.response_code, ev.session_id) == (
        "secc",
        "supportedAppProtocolRes",
        "OK_SuccessfulNegotiation",
        "",
    )
    ev = MessageStream.event("iso2", iso2, "c3", 7)
    assert (ev.sender, ev.protocol, ev.connection, ev.seq, ev.session_id) == (
        "secc",
        "iso2",
        "c3",
        7,
        "0A1B2C3D4E5F6071",
    )
    assert ev.body == {"ResponseCode": "OK", "EVSEPresentVoltage": {"Value": 400}} and not ev.body_truncated
    assert split_message({}) == ("?", {}, {})
    assert split_message({"V2G_Message": "junk"}) == ("V2G_Message", {}, {})


def test_long_values_are_cut_and_private_keys_never_leave() -> None:
    cert = "MII" + "A" * 3000
    body = {
        "ContractSignatureCertChain": {"Certificate": cert, "SubCertificates": {"Certificate": [cert] * 50}},
        "ContractSignatureEncryptedPrivateKey": {"Id": "id2", "value": "00112233" * 8},
        "SignedInstallationData": {"SECP521_EncryptedPrivateKey": "ff" * 80},
        "eMAID": "DE8EOCAB123456",
    }
    msg = {"V2G_Message": {"Header": {"SessionID": "01"}, "Body": {"CertificateInstallationRes": body}}}
    ev = MessageStream.event("iso2", msg, "c1", 0)
    assert ev.body_truncated
    chain = ev.body["ContractSignatureCertChain"]
    assert len(chain["Certificate"]) <= MAX_VALUE and chain["Certificate"].endswith("(3003 chars)")
    assert len(chain["SubCertificates"]["Certificate"]) == 33  # 32 kept and a "... 18 more"
    assert ev.body["ContractSignatureEncryptedPrivateKey"] == "<redacted>"
    assert ev.body["SignedInstallationData"]["SECP521_EncryptedPrivateKey"] == "<redacted>"
    assert "00112233" not in ev.model_dump_json() and "ffff" not in ev.model_dump_json()
    assert ev.body["eMAID"] == "DE8EOCAB123456"  # an identifier on the bus; the page masks it
    # a body too big even when cut is left out
    huge = {f"Entry{i}": {f"k{j}": "v" * 80 for j in range(30)} for i in range(30)}
    ev = MessageStream.event("iso2", {"V2G_Message": {"Header": {}, "Body": {"X": huge}}}, "c1", 0)
    assert ev.body == {} and ev.body_truncated
    assert len(api.V2gMessage.model_validate(ev.model_dump()).model_dump_json()) < MAX_BODY + 1000


def test_the_rate_limit_counts_what_it_does_not_publish() -> None:
    stream = MessageStream(rate=50.0)
    req = {"V2G_Message": {"Header": {"SessionID": "01"}, "Body": {"CurrentDemandReq": {}}}}
    burst = stream.messages(1, "c1", [("din", req)] * 300, now=10.0)
    assert len(burst) == 100 and [e.seq for e in burst] == list(range(100))  # the burst: 2 x rate
    assert stream.dropped == 200
    later = stream.messages(1, "c1", [("din", req)], now=11.0)  # a second later: 50 tokens back
    assert [(e.seq, e.dropped) for e in later] == [(300, 200)]
    assert stream.messages(1, "c1", [("din", req)], now=11.0)[0].dropped == 0
    # EVSEs have their own budgets
    assert len(stream.messages(2, "c1", [("din", req)] * 150, now=11.0)) == 100
    with pytest.raises(ValueError):
        MessageStream(rate=0)


@pytest.mark.parametrize("protocol", ["din", "iso2-dc"])
def test_a_whole_session_through_the_stream(protocol: str) -> None:
    """Every message of a session handed from the -20 capable connection to DIN / ISO-2 is in the trace once,
    in order (the SAP request was traced twice before the hand-over fix)."""
    from josev.v2g.codec import ExiCodec, JsonDebugCodec, exi_available

    codec = JsonDebugCodec() if exi_available() else ExiCodec()
    st = station(bpt=False)
    st.view.energy_modes = ("DC_extended",)
    conn = SeccSession(st, 0.0, codec=codec)
    ev = EvConnection(Evcc(protocol), codec)
    sup = SimPowerSupply()
    stream = MessageStream(rate=1000.0)
    published: list[api.V2gMessage] = []
    data, now = [ev.start()], 0.0
    while data:
        out = conn.receive(b"".join(data), now)
        published += stream.messages(1, "c1", out.trace, now)
        sup.apply(st.view, shared_events(out.events))
        data = ev.receive(b"".join(out.send), now) if out.send else []
        now += 0.01
    assert ev.evcc.result.outcome == "finished"
    requests = [m.message for m in published if m.sender == "ev"]
    assert requests == ["supportedAppProtocolReq", *ev.evcc.result.messages]
    responses = [m.message for m in published if m.sender == "secc"]
    assert responses == [r[:-3] + "Res" for r in requests]
    assert stream.dropped == 0
    sid = ev.evcc.result.session_id
    assert {m.session_id for m in published[4:]} == {sid}


def test_publish_messages_is_a_secc_option() -> None:
    def cfg(secc: dict[str, Any]) -> Any:
        return config_mod.parse(
            {
                "evse": [{"id": 1, "kind": "dc", "hlc": True, "plc_interface": "eth1"}],
                "secc": secc,
            }
        )

    assert from_config(cfg({})).messages is None
    svc = from_config(cfg({"publish_messages": True, "publish_messages_rate": 20}))
    assert svc.messages is not None and svc.messages.rate == 20


# --- the page model ------------------------------------------------------------------------------------------


def test_tokens_are_masked_and_secrets_replaced() -> None:
    assert mask_token("04A2B3C4D5E6F7") == "****E6F7"
    assert mask_token("1234") == "****" and mask_token("12345678") == "****"
    shown = safe(
        {
            "id_token": "04A2B3C4D5E6F7",
            "idToken": {"idToken": "DEABC1234567", "type": "eMAID"},
            "eMAID": "DE8EOCAB123456",
            "password": "hunter2",
            "BasicAuthPassword": "x",
            "key_file": "/etc/josev/pki/key.pem",
            "nested": [{"token": "abcdefghijkl"}],
            "long": "y" * 1000,
            "ok": 1.5,
        }
    )
    assert shown["id_token"] == "****E6F7"
    assert shown["idToken"] == {"idToken": "****4567", "type": "eMAID"}
    assert shown["eMAID"] == "****3456"
    assert shown["password"] == shown["BasicAuthPassword"] == shown["key_file"] == "<redacted>"
    assert shown["nested"] == [{"token": "****ijkl"}]
    assert len(shown["long"]) == 203 and shown["ok"] == 1.5


def test_the_model_validates_masks_and_derives_curves() -> None:
    m = LiveModel()
    ev = co.SessionEvent(step="authorized", session_id="s1", id_token="04A2B3C4D5E6F7", auth_source="ocpp")
    [update] = m.feed(co.SessionEvent.topic(1), ev.model_dump(mode="json"), 100.0)
    assert update["data"]["id_token"] == "****E6F7" and update["time"] == 100000
    assert "04A2B3C4D5E6F7" not in str(m.snapshot())
    # invalid payloads and unknown messages are counted, not shown
    assert m.feed(api.SeccSessionState.topic(1), {"status": "dancing"}, 1.0) == []
    assert m.feed("josev/v1/nosuch/evse1/state/thing", {"a": 1}, 1.0) == []
    assert m.feed(co.Authorize.topic(1), {"id_token": "x"}, 1.0) == []  # commands are not shown
    assert (m.invalid, m.ignored) == (1, 2)
    # a state, its curve points, and clearing it
    meter = co.SessionMeter(ok=True, power_w=11000.0, session_energy_wh=1234.5).model_dump(mode="json")
    state, points = m.feed(co.SessionMeter.topic(1), meter, 2.0)
    assert state["key"] == "coordinator/evse1/meter"
    assert points["values"] == {"power (kW)": 11.0, "session energy (kWh)": 1.2345}
    assert m.feed(co.SessionMeter.topic(1), None, 3.0) == [
        {"type": "state", "key": "coordinator/evse1/meter", "cleared": True}
    ]
    assert "coordinator/evse1/meter" not in m.states
    # tools' and viewers' statuses are noise; services' are shown
    assert m.feed("josev/v1/cli/status", {"service": "cli", "state": "stopped"}, 4.0) == []
    assert m.feed("josev/v1/web/status", {"service": "web", "state": "stopped"}, 4.0) == []
    [st] = m.feed("josev/v1/secc/status", {"service": "secc", "state": "ready"}, 4.0)
    assert st["data"] == {"state": "ready", "detail": ""}
    # heartbeats are left out
    assert m.feed(co.Heartbeat.topic(), {"seq": 1, "interval_s": 10}, 5.0) == []
