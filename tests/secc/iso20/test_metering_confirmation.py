"""ISO 15118-20 MeteringConfirmation: in a Plug & Charge session with the station setting on, a ChargeLoopRes
asks for it (MeterInfo, Receipt, EVSENotification MeteringConfirmation); our EV signs SignedMeteringData with its
contract key (P-521 and Ed448) and our SECC core verifies the signature and that the reading is the one it sent.
Through the real EXI codec; the P-521 signature is also checked here with ``cryptography`` alone."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import pydantic
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from josev import exi
from josev.ev.contract import ContractCredentials
from josev.ev.iso20 import Iso20Behaviour
from josev.pki import PROFILES, Pki, build_pki
from josev.pnc import xmlsig
from josev.secc.events import SecurityIssue
from josev.secc.iso20.context import Iso20Config
from josev.secc.iso20.events import MeteringConfirmed
from josev.secc.iso20.pnc import ContractVerifier
from josev.secc.settings import SeccOptions

from .helpers import EXI, drive, req

pytestmark = pytest.mark.skipif(not EXI, reason="the EXI codec is not built")
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module", params=["iso20-p521", "iso20-ed448"])
def pki(request: pytest.FixtureRequest) -> Pki:
    return build_pki(PROFILES[request.param], now=NOW)


@pytest.fixture(scope="module")
def p521() -> Pki:
    return build_pki(PROFILES["iso20-p521"], now=NOW)


def creds(p: Pki) -> ContractCredentials:
    der = serialization.Encoding.DER
    subs = tuple(p.cert(n).public_bytes(der) for n in ("mo_sub_ca2", "mo_sub_ca1"))
    return ContractCredentials(p.cert("contract_leaf").public_bytes(der), subs, p.key("contract_leaf"))


def config(p: Pki, interval: float = 0.2) -> Iso20Config:
    return Iso20Config(
        pnc=ContractVerifier((p.cert("mo_root"), p.cert("v2g_root"))),
        wall_offset=NOW.timestamp(),
        metering_interval=interval,
    )


def meter(i: int, st: Any, eng: Any) -> None:
    """The station's meter advances 37 Wh per request."""
    st.charged_wh = 12_000 + 37 * i


def run(p: Pki, protocol: str = "iso20-dc", interval: float = 0.2, tamper: Any = None, **kw: Any) -> Any:
    return drive(
        protocol,
        Iso20Behaviour(loops=12, **kw),
        config=config(p, interval),
        codec=EXI,
        contract=creds(p),
        hook=meter,
        tamper=tamper,
        refusal_ok=True,
    )


@pytest.mark.parametrize("protocol", ["iso20-dc", "iso20-ac"])
def test_ev_confirms_the_station_meter(pki: Pki, protocol: str) -> None:
    r = run(pki, protocol)
    assert r.ev.result.outcome == "finished", (r.ev.result.detail, r.exchanges)
    confirmed = [e for e in r.events if isinstance(e, MeteringConfirmed)]
    assert len(confirmed) >= 2
    # the EV signed exactly the readings the station's meter gave at the moment it asked
    assert r.ev.result.metering_confirmed_wh == [e.wh for e in confirmed]
    asked_at = [i for i, (q, _res, _c) in enumerate(r.exchanges) if q == "MeteringConfirmationReq"]
    assert [e.wh for e in confirmed] == [12_000 + 37 * (i - 1) for i in asked_at]
    assert all(e.meter_id == "JOSEV-METER-1" for e in confirmed)
    assert all(c == "OK" for q, _res, c in r.exchanges if q == "MeteringConfirmationReq")


def test_dynamic_mode(p521: Pki) -> None:
    r = run(p521, dynamic=True)
    assert r.ev.result.outcome == "finished" and r.ev.result.metering_confirmed_wh


def test_signature_verifies_with_cryptography_alone(p521: Pki) -> None:
    seen: list[dict[str, Any]] = []

    def keep(msg: dict[str, Any]) -> None:
        if "MeteringConfirmationReq" in msg:
            seen.append(exi.decode("iso20-cm", exi.encode("iso20-cm", msg))["MeteringConfirmationReq"])

    run(p521, tamper=keep)
    body = seen[0]
    data = body["SignedMeteringData"]
    fragment = exi.encode_fragment("iso20-cm", {"SignedMeteringData": data})
    si = body["Header"]["Signature"]["SignedInfo"]
    (ref,) = si["Reference"]
    assert ref["URI"] == f"#{data['Id']}"
    assert base64.b64decode(ref["DigestValue"]) == hashlib.sha512(fragment).digest()
    value = base64.b64decode(body["Header"]["Signature"]["SignatureValue"]["value"])
    key = p521.cert("contract_leaf").public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    der = encode_dss_signature(int.from_bytes(value[:66], "big"), int.from_bytes(value[66:], "big"))
    key.verify(der, exi.encode_fragment("xmldsig", {"SignedInfo": si}), ec.ECDSA(hashes.SHA512()))
    assert data["MeterInfo"]["ChargedEnergyReadingWh"] >= 12_000


def _forge(msg: dict[str, Any]) -> None:
    if "MeteringConfirmationReq" in msg:
        sig = msg["MeteringConfirmationReq"]["Header"]["Signature"]["SignatureValue"]
        raw = bytearray(base64.b64decode(sig["value"]))
        raw[7] ^= 1
        sig["value"] = base64.b64encode(bytes(raw)).decode()


def test_forged_signature(pki: Pki) -> None:
    r = run(pki, tamper=_forge)
    assert r.exchanges[-1] == (
        "MeteringConfirmationReq",
        "MeteringConfirmationRes",
        "FAILED_MeteringSignatureNotValid",
    )
    assert r.engine.ended and r.ev.result.outcome == "failed"
    assert any(isinstance(e, SecurityIssue) and e.kind == "signature_error" for e in r.events)
    assert not any(isinstance(e, MeteringConfirmed) for e in r.events)


def test_signed_but_different_reading(p521: Pki) -> None:
    """The EV signs a reading lower than the one the station sent: the signature holds, the content does not."""
    key = p521.key("contract_leaf")

    def lower(msg: dict[str, Any]) -> None:
        body = msg.get("MeteringConfirmationReq")
        if body is not None:
            data = body["SignedMeteringData"]
            data["MeterInfo"]["ChargedEnergyReadingWh"] -= 100
            frag = xmlsig.fragment("iso20-cm", "SignedMeteringData", data)
            body["Header"]["Signature"] = xmlsig.sign(xmlsig.ISO20_P521, key, [("ID1", frag)])

    r = run(p521, tamper=lower)
    assert r.exchanges[-1] == ("MeteringConfirmationReq", "MeteringConfirmationRes", "FAILED")
    assert not any(isinstance(e, MeteringConfirmed) for e in r.events)


def test_other_session_id(p521: Pki) -> None:
    key = p521.key("contract_leaf")

    def other(msg: dict[str, Any]) -> None:
        body = msg.get("MeteringConfirmationReq")
        if body is not None:
            data = body["SignedMeteringData"]
            data["SessionID"] = "0102030405060708"
            frag = xmlsig.fragment("iso20-cm", "SignedMeteringData", data)
            body["Header"]["Signature"] = xmlsig.sign(xmlsig.ISO20_P521, key, [("ID1", frag)])

    r = run(p521, tamper=other)
    assert r.exchanges[-1][2] == "FAILED"


def test_off_by_default_and_not_for_eim(p521: Pki) -> None:
    assert Iso20Config().metering_interval == 0.0 and SeccOptions().metering_confirmation_s == 0.0
    r = run(p521, interval=0.0)
    assert r.ev.result.outcome == "finished" and "MeteringConfirmationReq" not in r.ev.result.messages
    eim = drive("iso20-dc", Iso20Behaviour(loops=8), config=config(p521), codec=EXI, hook=meter)
    assert eim.ev.result.outcome == "finished" and eim.ev.authorization == "EIM"
    assert "MeteringConfirmationReq" not in eim.ev.result.messages


def test_unsolicited_confirmation_is_a_sequence_error(p521: Pki) -> None:
    from .helpers import engine

    eng = engine("ChargeLoop")
    step = eng.step(req("MeteringConfirmationReq", SignedMeteringData={}), 0.0)
    assert step.response is not None and step.end
    assert step.response["MeteringConfirmationRes"]["ResponseCode"] == "FAILED_SequenceError"


@pytest.mark.parametrize("bad", [-1.0, 3601.0, "soon"])
def test_setting_is_validated(bad: Any) -> None:
    with pytest.raises(pydantic.ValidationError, match="metering_confirmation_s"):
        SeccOptions(metering_confirmation_s=bad)
