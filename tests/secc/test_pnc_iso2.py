"""ISO 15118-2 Plug & Charge between our EV core and our SECC core (dicts, and through the real EXI codec): the
Contract payment offered only over TLS with trust anchors, PaymentDetails checking the chain and the EMAID,
AuthorizationReq checked for the challenge and the contract signature. Each failure with its response code."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from josev import exi
from josev.ev.battery import Behaviour
from josev.ev.contract import ContractCredentials
from josev.ev.evcc import Evcc, EvError
from josev.pki import PROFILES, Override, Pki, build_pki
from josev.secc.events import ContractAuthorizationRequested, SecurityIssue, SessionEnded
from josev.secc.evse import EvseView
from josev.secc.session import SeccSession
from josev.sim.supply import SimPowerSupply

from .drive import body_name, code_of

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
Tamper = Callable[[str, dict[str, Any]], None]


@pytest.fixture(scope="module")
def pki() -> Pki:
    return build_pki(
        PROFILES["iso2"], now=NOW, overrides={"contract_leaf": Override(common_name="DE8EOCAB123456")}
    )


@pytest.fixture(scope="module")
def foreign_pki() -> Pki:
    return build_pki(PROFILES["iso2"], now=NOW)


def creds(pki: Pki) -> ContractCredentials:
    der = serialization.Encoding.DER
    key = pki.key("contract_leaf")
    return ContractCredentials(
        pki.cert("contract_leaf").public_bytes(der),
        (pki.cert("mo_sub_ca2").public_bytes(der), pki.cert("mo_sub_ca1").public_bytes(der)),
        key,
    )


def run(
    pki: Pki,
    ev_pki: Pki | None = None,
    *,
    protocol: str = "iso2-dc",
    tls: bool = True,
    at: dt.datetime = NOW,
    tamper: Tamper | None = None,
    codec: bool = False,
) -> tuple[Evcc, list[tuple[str, str]], list[Any]]:
    """One session; returns the EV, (request, response code) pairs and the SECC's events."""
    modes = ("AC_three_phase_core",) if protocol.endswith("ac") else ("DC_extended",)
    view = EvseView(
        energy_modes=modes,
        payment_options=("ExternalPayment", "Contract"),
        pnc_roots=(pki.cert("mo_root"), pki.cert("v2g_root")),
        wall_offset=at.timestamp(),
    )
    secc = SeccSession(view, 0.0, tls=tls)
    ev = Evcc(protocol, behaviour=Behaviour(loops=2), contract=creds(ev_pki or pki))
    supply = SimPowerSupply()
    seen: list[tuple[str, str]] = []
    events: list[Any] = []
    nxt: tuple[str, dict[str, Any]] | None = ev.start()
    t = 0.0
    try:
        while nxt is not None:
            schema, msg = nxt
            name = body_name(msg)
            if tamper is not None:
                tamper(name, msg)
            if codec:
                msg = exi.decode(schema, exi.encode(schema, msg))
            out = secc.handle_message(msg, t)
            t += 0.1
            supply.apply(view, out.events)
            events += out.events
            assert out.response is not None
            res = out.response
            if codec:
                res = exi.decode(out.schema, exi.encode(out.schema, res))
            seen.append((name, code_of(res)))
            nxt = ev.on_response(res)
    except EvError:
        pass
    return ev, seen, events


def codes(seen: list[tuple[str, str]], name: str) -> list[str]:
    return [c for n, c in seen if n == name]


@pytest.mark.parametrize("protocol", ["iso2-dc", "iso2-ac"])
def test_pnc_session_completes(pki: Pki, protocol: str) -> None:
    ev, seen, events = run(pki, protocol=protocol)
    assert ev.result.outcome == "finished", (ev.result.detail, seen)
    assert ev.payment == "Contract"
    assert codes(seen, "PaymentDetailsReq") == ["OK"]
    assert codes(seen, "AuthorizationReq")[-1] == "OK"
    req = [e for e in events if isinstance(e, ContractAuthorizationRequested)]
    assert len(req) == 1 and req[0].emaid == "DE8EOCAB123456"
    leaf = pki.cert("contract_leaf")
    assert req[0].hash_data[0]["serialNumber"] == f"{leaf.serial_number:x}"
    assert len(req[0].hash_data) == 3


def test_pnc_through_the_exi_codec(pki: Pki) -> None:
    """The signature survives the real encoding of every message (the signed bytes are what the codec makes)."""
    ev, seen, _ = run(pki, codec=True)
    assert ev.result.outcome == "finished", (ev.result.detail, seen)
    assert codes(seen, "PaymentDetailsReq") == ["OK"]


def test_no_contract_without_tls_or_roots(pki: Pki) -> None:
    ev, seen, _ = run(pki, tls=False)
    assert ev.result.outcome == "finished"
    assert ev.payment == "ExternalPayment" and not codes(seen, "PaymentDetailsReq")


def _forge_signature(name: str, msg: dict[str, Any]) -> None:
    if name == "AuthorizationReq":
        sig = msg["V2G_Message"]["Header"]["Signature"]
        value = sig["SignatureValue"]["value"]
        sig["SignatureValue"]["value"] = ("A" if value[0] != "A" else "B") + value[1:]


def _replay_challenge(name: str, msg: dict[str, Any]) -> None:
    if name == "AuthorizationReq":
        msg["V2G_Message"]["Body"]["AuthorizationReq"]["GenChallenge"] = "AAAAAAAAAAAAAAAAAAAAAA=="


def _other_emaid(name: str, msg: dict[str, Any]) -> None:
    if name == "PaymentDetailsReq":
        msg["V2G_Message"]["Body"]["PaymentDetailsReq"]["eMAID"] = "DE8EOCAB999999"


def _drop_signature(name: str, msg: dict[str, Any]) -> None:
    if name == "AuthorizationReq":
        del msg["V2G_Message"]["Header"]["Signature"]


def _skip_payment_details(name: str, msg: dict[str, Any]) -> None:
    if name == "PaymentDetailsReq":
        body = msg["V2G_Message"]["Body"]
        body.clear()
        body["AuthorizationReq"] = {}


@pytest.mark.parametrize(
    ("tamper", "request_name", "code"),
    [
        (_forge_signature, "AuthorizationReq", "FAILED_SignatureError"),
        (_drop_signature, "AuthorizationReq", "FAILED_SignatureError"),
        (_replay_challenge, "AuthorizationReq", "FAILED_ChallengeInvalid"),
        (_other_emaid, "PaymentDetailsReq", "FAILED_CertChainError"),
        (_skip_payment_details, "PaymentDetailsReq", "FAILED_SequenceError"),
    ],
    ids=["forged-signature", "no-signature", "replayed-challenge", "other-emaid", "skipped-payment-details"],
)
def test_refusals(pki: Pki, tamper: Tamper, request_name: str, code: str) -> None:
    ev, seen, events = run(pki, tamper=tamper)
    assert ev.result.outcome == "failed"
    assert seen[-1][1] == code, seen
    ended = [e for e in events if isinstance(e, SessionEnded)]
    assert ended and ended[-1].reason == code
    if request_name == "AuthorizationReq" and code != "FAILED_SequenceError":
        assert any(isinstance(e, SecurityIssue) for e in events)


def test_unknown_root_expired_and_not_yet_valid(pki: Pki, foreign_pki: Pki) -> None:
    _, seen, _ = run(pki, foreign_pki)
    assert seen[-1] == ("PaymentDetailsReq", "FAILED_CertChainError")
    expiry = pki.cert("contract_leaf").not_valid_after_utc
    _, seen, _ = run(pki, at=expiry + dt.timedelta(days=1))
    assert seen[-1] == ("PaymentDetailsReq", "FAILED_CertificateExpired")
    _, seen, _ = run(pki, at=NOW - dt.timedelta(days=3650))
    assert seen[-1] == ("PaymentDetailsReq", "FAILED_CertificateExpired")


def test_contract_not_authorized(pki: Pki) -> None:
    """The CSMS refuses the contract: Ongoing ends in FAILED, never Finished."""
    view = EvseView(
        energy_modes=("DC_extended",),
        payment_options=("ExternalPayment", "Contract"),
        pnc_roots=(pki.cert("mo_root"),),
        wall_offset=NOW.timestamp(),
    )
    secc = SeccSession(view, 0.0, tls=True)
    ev = Evcc("iso2-dc", behaviour=Behaviour(loops=1), contract=creds(pki))
    nxt = ev.start()
    seen = []
    with pytest.raises(EvError):
        while nxt is not None:
            out = secc.handle_message(copy.deepcopy(nxt[1]), 0.0)
            if any(isinstance(e, ContractAuthorizationRequested) for e in out.events):
                view.authorized = False  # the shell's answer from the CSMS: not authorized
            assert out.response is not None
            seen.append((body_name(out.response), code_of(out.response)))
            nxt = ev.on_response(out.response)
    assert seen[-1] == ("AuthorizationRes", "FAILED")
