"""ISO 15118-2 MeteringReceipt between our EV core and our SECC core (dicts, and through the real EXI codec): a
Contract session's loop responses carry ReceiptRequired and the station meter's MeterInfo when the station asks for
receipts; the EV signs the MeterInfo with its contract key; the SECC checks the signature and the content. The
signatures are also checked here independently (``cryptography`` over the EXI fragments this test encodes)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from josev import exi
from josev.ev.battery import Behaviour
from josev.ev.contract import ContractCredentials
from josev.ev.evcc import Evcc, EvError
from josev.pki import PROFILES, Override, Pki, build_pki
from josev.pnc import xmlsig
from josev.secc.events import MeterReceipted, SecurityIssue, SessionEnded
from josev.secc.evse import EvseView
from josev.secc.session import SeccSession
from josev.sim.supply import SimPowerSupply

from .drive import body_name, code_of

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
METER_WH = 123_456
Tamper = Callable[[str, dict[str, Any]], None]


@pytest.fixture(scope="module")
def pki() -> Pki:
    return build_pki(
        PROFILES["iso2"], now=NOW, overrides={"contract_leaf": Override(common_name="DE8EOCAB123456")}
    )


def creds(pki: Pki) -> ContractCredentials:
    der = serialization.Encoding.DER
    return ContractCredentials(
        pki.cert("contract_leaf").public_bytes(der),
        (pki.cert("mo_sub_ca2").public_bytes(der), pki.cert("mo_sub_ca1").public_bytes(der)),
        pki.key("contract_leaf"),
    )


class Session:
    """One driven session: every (request, response) dict pair and the SECC's events."""

    def __init__(self) -> None:
        self.pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.events: list[Any] = []
        self.ev: Evcc | None = None

    def codes(self, name: str) -> list[str]:
        return [code_of(res) for req, res in self.pairs if body_name(req) == name]

    def responses(self, name: str) -> list[dict[str, Any]]:
        return [
            next(iter(res["V2G_Message"]["Body"].values())) for _, res in self.pairs if body_name(res) == name
        ]

    def requests(self, name: str) -> list[dict[str, Any]]:
        return [req for req, _ in self.pairs if body_name(req) == name]


def run(
    pki: Pki,
    *,
    protocol: str = "iso2-dc",
    contract: bool = True,
    interval: float | None = 0.0,
    meter_wh: float | None = METER_WH,
    loops: int = 3,
    tamper: Tamper | None = None,
    codec: bool = False,
) -> Session:
    modes = ("AC_three_phase_core",) if protocol.endswith("ac") else ("DC_extended",)
    view = EvseView(
        energy_modes=modes,
        payment_options=("ExternalPayment", "Contract"),
        pnc_roots=(pki.cert("mo_root"), pki.cert("v2g_root")),
        wall_offset=NOW.timestamp(),
        metering_receipt_interval=interval,
        meter_id="MTR-0001",
        meter_wh=meter_wh,
    )
    secc = SeccSession(view, 0.0, tls=True)
    ev = Evcc(protocol, behaviour=Behaviour(loops=loops), contract=creds(pki) if contract else None)
    supply = SimPowerSupply(auto_authorize=True)
    s = Session()
    s.ev = ev
    nxt: tuple[str, dict[str, Any]] | None = ev.start()
    t = 0.0
    try:
        while nxt is not None:
            schema, msg = nxt
            if tamper is not None:
                tamper(body_name(msg), msg)
            if codec:
                msg = exi.decode(schema, exi.encode(schema, msg))
            out = secc.handle_message(msg, t)
            t += 1.0
            supply.apply(view, out.events)
            s.events += out.events
            assert out.response is not None
            res = out.response
            if codec:
                res = exi.decode(out.schema, exi.encode(out.schema, res))
            if "V2G_Message" in msg:
                s.pairs.append((msg, res))
            nxt = ev.on_response(res)
    except EvError:
        pass
    return s


def check_signature_independently(pki: Pki, msg: dict[str, Any]) -> None:
    """The MeteringReceiptReq's signature verified with ``cryptography`` alone: SHA-256 over the EXI fragment of
    the body element (encoded here), ECDSA P-256 over the EXI fragment of SignedInfo, raw r||s."""
    body = msg["V2G_Message"]["Body"]["MeteringReceiptReq"]
    sig = msg["V2G_Message"]["Header"]["Signature"]
    si = sig["SignedInfo"]
    (ref,) = si["Reference"]
    assert ref["URI"] == f"#{body['Id']}"
    assert ref["DigestMethod"]["Algorithm"] == "http://www.w3.org/2001/04/xmlenc#sha256"
    assert si["SignatureMethod"]["Algorithm"] == "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    fragment = exi.encode_fragment("iso2", {"MeteringReceiptReq": body})
    assert base64.b64decode(ref["DigestValue"]) == hashlib.sha256(fragment).digest()
    raw = base64.b64decode(sig["SignatureValue"]["value"])
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = pki.cert("contract_leaf").public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(der, exi.encode_fragment("xmldsig", {"SignedInfo": si}), ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("protocol", ["iso2-dc", "iso2-ac"])
def test_receipt_every_loop(pki: Pki, protocol: str) -> None:
    s = run(pki, protocol=protocol, codec=True)
    assert s.ev is not None and s.ev.result.outcome == "finished", s.ev.result.detail if s.ev else None
    loop = "CurrentDemandRes" if protocol == "iso2-dc" else "ChargingStatusRes"
    for res in s.responses(loop):
        assert res["ReceiptRequired"] is True
        assert res["MeterInfo"]["MeterID"] == "MTR-0001"
        assert res["MeterInfo"]["MeterReading"] == METER_WH
        assert res["MeterInfo"]["TMeter"] >= int(NOW.timestamp())
    assert s.codes("MeteringReceiptReq") == ["OK"] * 3
    assert [r["MeterReading"] for r in s.ev.result.receipts] == [METER_WH] * 3
    receipted = [e for e in s.events if isinstance(e, MeterReceipted)]
    assert [e.meter_info["MeterReading"] for e in receipted] == [METER_WH] * 3
    status = "DC_EVSEStatus" if protocol == "iso2-dc" else "AC_EVSEStatus"
    assert all(status in r for r in s.responses("MeteringReceiptRes"))
    for req in s.requests("MeteringReceiptReq"):
        body = req["V2G_Message"]["Body"]["MeteringReceiptReq"]
        assert body["SessionID"] == s.ev.session_id and body["SAScheduleTupleID"] == 1
        check_signature_independently(pki, req)


def test_interval_and_no_meter(pki: Pki) -> None:
    # one message per second: the loops come at t, t+2 (after the receipt), t+3, t+4, t+5: with 5 s between
    # receipts, the first and the fifth ask
    s = run(pki, interval=5.0, loops=5)
    assert s.ev is not None and s.ev.result.outcome == "finished"
    flags = [r.get("ReceiptRequired", False) for r in s.responses("CurrentDemandRes")]
    assert flags == [True, False, False, False, True]
    # without a valid meter reading there is nothing to sign for
    s = run(pki, meter_wh=None)
    assert s.ev is not None and s.ev.result.outcome == "finished"
    assert not any("ReceiptRequired" in r for r in s.responses("CurrentDemandRes"))
    # receipts off (the default)
    s = run(pki, interval=None)
    assert not s.requests("MeteringReceiptReq")


def test_eim_session_is_never_asked(pki: Pki) -> None:
    s = run(pki, contract=False)
    assert s.ev is not None and s.ev.result.outcome == "finished"
    assert s.ev.payment == "ExternalPayment"
    assert not any("ReceiptRequired" in r or "MeterInfo" in r for r in s.responses("CurrentDemandRes"))


def _receipt_on_eim(name: str, msg: dict[str, Any]) -> None:
    if name == "CurrentDemandReq":
        sid = msg["V2G_Message"]["Header"]["SessionID"]
        info = {"MeterID": "MTR-0001", "MeterReading": METER_WH}
        msg["V2G_Message"]["Body"] = {
            "MeteringReceiptReq": {"Id": "ID9", "SessionID": sid, "SAScheduleTupleID": 1, "MeterInfo": info}
        }


def _forge(name: str, msg: dict[str, Any]) -> None:
    if name == "MeteringReceiptReq":
        sig = msg["V2G_Message"]["Header"]["Signature"]
        value = sig["SignatureValue"]["value"]
        sig["SignatureValue"]["value"] = ("A" if value[0] != "A" else "B") + value[1:]


def _other_key(name: str, msg: dict[str, Any]) -> None:
    if name == "MeteringReceiptReq":
        body = msg["V2G_Message"]["Body"]["MeteringReceiptReq"]
        key = ec.generate_private_key(ec.SECP256R1())
        frag = xmlsig.fragment("iso2", "MeteringReceiptReq", body)
        msg["V2G_Message"]["Header"]["Signature"] = xmlsig.sign(xmlsig.ISO2, key, [(body["Id"], frag)])


def _changed_after_signing(name: str, msg: dict[str, Any]) -> None:
    if name == "MeteringReceiptReq":
        msg["V2G_Message"]["Body"]["MeteringReceiptReq"]["MeterInfo"]["MeterReading"] = METER_WH - 1000


def _unsigned(name: str, msg: dict[str, Any]) -> None:
    if name == "MeteringReceiptReq":
        del msg["V2G_Message"]["Header"]["Signature"]


def _resigner(pki: Pki, change: Callable[[dict[str, Any]], None]) -> Tamper:
    """Change the receipt, then sign it properly with the contract key: the signature holds, the content not."""

    def tamper(name: str, msg: dict[str, Any]) -> None:
        if name == "MeteringReceiptReq":
            body = msg["V2G_Message"]["Body"]["MeteringReceiptReq"]
            change(body)
            frag = xmlsig.fragment("iso2", "MeteringReceiptReq", body)
            key: Any = pki.key("contract_leaf")
            msg["V2G_Message"]["Header"]["Signature"] = xmlsig.sign(xmlsig.ISO2, key, [(body["Id"], frag)])

    return tamper


@pytest.mark.parametrize(
    "tamper",
    [_forge, _other_key, _changed_after_signing, _unsigned],
    ids=["forged", "other-key", "edited", "none"],
)
def test_bad_signature_ends_the_session(pki: Pki, tamper: Tamper) -> None:
    s = run(pki, tamper=tamper, codec=True)
    assert s.ev is not None and s.ev.result.outcome == "failed"
    assert s.codes("MeteringReceiptReq") == ["FAILED_MeteringSignatureNotValid"]
    assert s.pairs[-1][1]["V2G_Message"]["Body"]["MeteringReceiptRes"]["DC_EVSEStatus"]
    ended = [e for e in s.events if isinstance(e, SessionEnded)]
    assert ended and ended[-1].reason == "FAILED_MeteringSignatureNotValid"
    issues = [e for e in s.events if isinstance(e, SecurityIssue)]
    assert [i.kind for i in issues] == ["metering_signature"]
    assert not any(isinstance(e, MeterReceipted) for e in s.events)


def _reading(body: dict[str, Any]) -> None:
    body["MeterInfo"]["MeterReading"] = METER_WH - 1000


def _meter_id(body: dict[str, Any]) -> None:
    body["MeterInfo"]["MeterID"] = "OTHER"


def _dropped_time(body: dict[str, Any]) -> None:
    del body["MeterInfo"]["TMeter"]


def _schedule(body: dict[str, Any]) -> None:
    body["SAScheduleTupleID"] = 2


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (_reading, "MeterInfo differs"),
        (_meter_id, "MeterInfo differs"),
        (_dropped_time, "MeterInfo differs"),
        (_schedule, "SAScheduleTupleID"),
    ],
    ids=["reading", "meter-id", "no-tmeter", "schedule"],
)
def test_signed_but_not_what_the_station_sent(
    pki: Pki, change: Callable[[dict[str, Any]], None], detail: str
) -> None:
    s = run(pki, tamper=_resigner(pki, change), codec=True)
    assert s.ev is not None and s.ev.result.outcome == "failed"
    assert s.codes("MeteringReceiptReq") == ["FAILED"]
    ended = [e for e in s.events if isinstance(e, SessionEnded)]
    assert ended and ended[-1].reason == "FAILED" and detail in ended[-1].detail


def test_receipt_on_an_eim_session_is_a_sequence_error(pki: Pki) -> None:
    s = run(pki, contract=False, tamper=_receipt_on_eim)
    assert s.ev is not None and s.ev.result.outcome == "failed"
    assert s.codes("MeteringReceiptReq") == ["FAILED_SequenceError"]


def test_receipt_without_being_asked_is_a_sequence_error(pki: Pki) -> None:
    """A Contract session with receipts off: an unasked MeteringReceiptReq is refused by the state table."""
    s = run(pki, interval=None, tamper=_receipt_on_eim)
    assert s.codes("MeteringReceiptReq") == ["FAILED_SequenceError"]


def test_settings_are_validated() -> None:
    from pydantic import ValidationError

    from josev.secc.settings import SeccOptions

    with pytest.raises(ValidationError, match="metering_receipt needs pnc = true"):
        SeccOptions(metering_receipt=True)
    with pytest.raises(ValidationError, match="metering_receipt_interval_s"):
        SeccOptions(pnc=True, metering_receipt=True, metering_receipt_interval_s=-1)
    with pytest.raises(ValidationError, match="ocsp"):
        SeccOptions.model_validate({"ocsp": "sometimes"})
    opts = SeccOptions(pnc=True, metering_receipt=True, metering_receipt_interval_s=0)
    assert opts.metering_receipt_interval_s == 0 and opts.ocsp == "soft"
