"""ISO 15118-20 Plug & Charge: our EV (P-521 and Ed448 contracts) against our SECC core with the contract
verifier, through the real EXI codec; every refusal with the code ISO 15118-20 names."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from josev.ev.contract import ContractCredentials
from josev.ev.iso20 import Iso20Behaviour
from josev.pki import PROFILES, Pki, build_pki
from josev.pnc import contract
from josev.secc.events import ContractAuthorizationRequested, SecurityIssue
from josev.secc.iso20.context import Iso20Config
from josev.secc.iso20.pnc import ContractVerifier

from .helpers import EXI, drive

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module", params=["iso20-p521", "iso20-ed448"])
def pki(request: pytest.FixtureRequest) -> Pki:
    return build_pki(PROFILES[request.param], now=NOW)


@pytest.fixture(scope="module")
def foreign() -> Pki:
    return build_pki(PROFILES["iso20-p521"], now=NOW)


def creds(pki: Pki) -> ContractCredentials:
    der = serialization.Encoding.DER
    subs = tuple(pki.cert(n).public_bytes(der) for n in ("mo_sub_ca2", "mo_sub_ca1"))
    return ContractCredentials(pki.cert("contract_leaf").public_bytes(der), subs, pki.key("contract_leaf"))


def config(pki: Pki, at: dt.datetime = NOW) -> Iso20Config:
    return Iso20Config(
        pnc=ContractVerifier((pki.cert("mo_root"), pki.cert("v2g_root"))), wall_offset=at.timestamp()
    )


def _run(pki: Pki, ev_pki: Pki | None = None, at: dt.datetime = NOW, tamper: Any = None) -> Any:
    return drive(
        "iso20-dc",
        Iso20Behaviour(loops=2),
        config=config(pki, at),
        codec=EXI,
        contract=creds(ev_pki or pki),
        tamper=tamper,
        refusal_ok=True,
    )


@pytest.mark.parametrize("protocol", ["iso20-dc", "iso20-ac"])
def test_pnc_session(pki: Pki, protocol: str) -> None:
    run = drive(protocol, Iso20Behaviour(loops=2), config=config(pki), codec=EXI, contract=creds(pki))
    assert run.ev.result.outcome == "finished", run.ev.result.detail
    assert run.ev.authorization == "PnC"
    assert [c for q, _, c in run.exchanges if q == "AuthorizationReq"][-1] == "OK"
    req = [e for e in run.events if isinstance(e, ContractAuthorizationRequested)]
    leaf = pki.cert("contract_leaf")
    assert len(req) == 1 and req[0].emaid == contract.common_name(leaf)
    assert req[0].hash_data[0]["serialNumber"] == f"{leaf.serial_number:x}"


def _last_auth(run: Any) -> str:
    codes = [c for q, _, c in run.exchanges if q == "AuthorizationReq"]
    assert run.ev.result.outcome == "failed"
    return codes[-1]


def _forge(msg: dict[str, Any]) -> None:
    if "AuthorizationReq" in msg:
        sig = msg["AuthorizationReq"]["Header"]["Signature"]
        raw = bytearray(base64.b64decode(sig["SignatureValue"]["value"]))
        raw[5] ^= 1
        sig["SignatureValue"]["value"] = base64.b64encode(bytes(raw)).decode()


def _replay(msg: dict[str, Any]) -> None:
    if "AuthorizationReq" in msg:
        mode = msg["AuthorizationReq"]["PnC_AReqAuthorizationMode"]
        mode["GenChallenge"] = base64.b64encode(bytes(16)).decode()


def _unsigned(msg: dict[str, Any]) -> None:
    if "AuthorizationReq" in msg:
        del msg["AuthorizationReq"]["Header"]["Signature"]


def test_forged_and_missing_signature(pki: Pki) -> None:
    for tamper in (_forge, _unsigned):
        run = _run(pki, tamper=tamper)
        assert _last_auth(run) == "FAILED_SignatureError"
        assert any(isinstance(e, SecurityIssue) and e.kind == "signature_error" for e in run.events)
        assert not any(isinstance(e, ContractAuthorizationRequested) for e in run.events)
        assert run.engine.ended


def test_replayed_challenge(pki: Pki) -> None:
    assert _last_auth(_run(pki, tamper=_replay)) == "WARNING_ChallengeInvalid"


def test_certificate_time_and_root(pki: Pki, foreign: Pki) -> None:
    leaf = pki.cert("contract_leaf")
    assert (
        _last_auth(_run(pki, at=leaf.not_valid_after_utc + dt.timedelta(days=1)))
        == "WARNING_CertificateExpired"
    )
    early = leaf.not_valid_before_utc - dt.timedelta(days=1)
    assert _last_auth(_run(pki, at=early)) == "WARNING_CertificateNotYetValid"
    assert _last_auth(_run(pki, ev_pki=foreign)) == "WARNING_eMSPUnknown"


def test_iso2_key_type_refused_for_iso20() -> None:
    iso2 = build_pki(PROFILES["iso2"], now=NOW)
    cfg = Iso20Config(pnc=ContractVerifier((iso2.cert("mo_root"),)), wall_offset=NOW.timestamp())
    run = drive(
        "iso20-dc", Iso20Behaviour(loops=1), config=cfg, codec=EXI, contract=creds(iso2), refusal_ok=True
    )
    assert _last_auth(run) == "WARNING_CertificateValidationError"
