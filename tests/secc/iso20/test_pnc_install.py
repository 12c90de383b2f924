"""ISO 15118-20 certificate installation: our EV without a contract installs one through our -20 SECC core, which
waits in a core state (``Engine.pending``) for the CSMS's answer; the answer is built by the certificate
provisioning service stand-in (``josev.pnc.cps.answer_iso20``) from a -20 PKI; the EV checks the CPS signature,
decrypts its contract key (ECDH P-521, AES-GCM) and pays with it. Every message goes through the real EXI codec;
the signatures are also checked here with ``cryptography`` alone over EXI fragments this test encodes."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from josev import exi
from josev.ev.contract import ProvisioningCredentials20
from josev.ev.evcc import EvError
from josev.ev.iso20 import Evcc20, Iso20Behaviour
from josev.pki import PROFILES, Override, Pki, build_pki
from josev.pnc import PncError, contract, cps
from josev.secc.events import (
    AuthorizationRequested,
    CertificateRequested,
    ContractAuthorizationRequested,
    SecurityIssue,
)
from josev.secc.iso20 import SPEC
from josev.secc.iso20 import certificate_installation as ci
from josev.secc.iso20.context import Iso20Config, Iso20Context
from josev.secc.iso20.events import Iso20Event, shared_events
from josev.secc.iso20.pnc import ContractVerifier
from josev.secc.machine import Engine
from josev.sim.supply import SimPowerSupply
from josev.v2g import sap
from josev.v2g.iso20.namespaces import NAMESPACES

from .helpers import EXI, station

pytestmark = pytest.mark.skipif(not EXI, reason="the EXI codec is not built")

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
#: the EV lists its V2G root by serial number (X509SerialNumber): a full 159-bit serial, as RFC 5280 allows
BIG_SERIAL = Override(serial=(1 << 158) | 0x5EED_0000_0000_0020)
Shell = Callable[[CertificateRequested, Any], None]


def make_pki(profile: str, serial: int = 0) -> Pki:
    assert BIG_SERIAL.serial is not None
    ov = Override(serial=BIG_SERIAL.serial + serial)
    return build_pki(PROFILES[profile], now=NOW, overrides={"v2g_root": ov})


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki("iso20-p521")


def provisioning(p: Pki) -> ProvisioningCredentials20:
    der = serialization.Encoding.DER
    key = p.key("oem_prov_leaf")
    subs = tuple(p.cert(n).public_bytes(der) for n in ("oem_sub_ca2", "oem_sub_ca1"))
    return ProvisioningCredentials20(
        p.cert("oem_prov_leaf").public_bytes(der),
        subs,
        key,
        (p.cert("v2g_root").public_bytes(der),),
    )


def cps_shell(p: Pki, remaining: int = 0) -> Shell:
    """What the SECC's shell and the CSMS do: the request as EXI to the CPS, its EXI answer back."""

    def answer(e: CertificateRequested, view: Any) -> None:
        raw = exi.encode(e.schema, e.message)
        try:
            res = cps.answer_iso20(p, exi.decode("iso20-cm", raw), remaining=remaining)
        except PncError as err:
            view.pnc_answers[e.ticket] = f"CPS refused: {err.detail}"
            return
        view.pnc_answers[e.ticket] = exi.decode("iso20-cm", exi.encode("iso20-cm", res))

    return answer


class Run:
    def __init__(self) -> None:
        self.exchanges: list[tuple[str, str, str]] = []
        self.events: list[Iso20Event] = []
        self.messages: list[tuple[dict[str, Any], dict[str, Any]]] = []


def run(
    p: Pki,
    shell: Shell | None,
    *,
    protocol: str = "iso20-dc",
    config: Iso20Config | None = None,
    wait_s: float = 0.0,
    tamper: Callable[[dict[str, Any]], None] | None = None,
    prov: ProvisioningCredentials20 | None = None,
    behaviour: Iso20Behaviour | None = None,
) -> tuple[Evcc20, Engine[Iso20Context], Run]:
    """Our EV against our SECC core through the codec; the shell answers ``wait_s`` after the request."""
    cfg = config or Iso20Config(
        pnc=ContractVerifier((p.cert("mo_root"), p.cert("v2g_root"))),
        wall_offset=NOW.timestamp(),
        certificate_installation=True,
    )
    st = station(authorized=True)
    beh = behaviour or Iso20Behaviour(loops=2, wall_offset=NOW.timestamp())
    ev = Evcc20(protocol, behaviour=beh, provisioning=prov or provisioning(p))
    neg = sap.negotiate(ev.start()[1], (sap.AppProtocol.ISO20,), NAMESPACES)
    eng = Engine(SPEC, st, config=cfg, family="AC" if "-ac" in protocol else "DC")
    supply = SimPowerSupply(auto_authorize=True)
    out = Run()
    nxt = ev.on_response(neg.response, 0.0)
    now = 0.0
    asked: list[tuple[float, CertificateRequested]] = []
    while nxt is not None:
        schema, msg = nxt
        if tamper is not None:
            tamper(msg)
        msg = exi.decode(schema, exi.encode(schema, msg))
        step = eng.step(copy.deepcopy(msg), now)
        while step.response is None and eng.pending is not None:
            out.events += step.events
            asked += [(now, e) for e in step.events if isinstance(e, CertificateRequested)]
            now += 0.05
            for t, e in list(asked):
                if shell is not None and now - t >= wait_s:
                    shell(e, st.view)
                    asked.remove((t, e))
            polled = eng.poll(now)
            if polled is not None:
                step = polled
            else:
                step.events = []
        supply.apply(st.view, shared_events(step.events))
        out.events += step.events
        assert step.response is not None, f"no response to {next(iter(msg))}"
        res = exi.decode(step.schema, exi.encode(step.schema, step.response))
        out.messages.append((msg, res))
        name = next(iter(res))
        out.exchanges.append((next(iter(msg)), name, str(res[name].get("ResponseCode"))))
        try:
            nxt = ev.on_response(res, now)
        except EvError:
            break
        now += 0.05
        assert len(out.exchanges) < 500
    return ev, eng, out


def _verify_independently(signature: dict[str, Any], fragment: bytes, key: ec.EllipticCurvePublicKey) -> None:
    """The XML signature checked with hashlib + cryptography only: digest of the fragment, ECDSA P-521 /
    SHA-512 over the SignedInfo fragment, r || s of 66 bytes each."""
    si = signature["SignedInfo"]
    (ref,) = si["Reference"]
    assert base64.b64decode(ref["DigestValue"]) == hashlib.sha512(fragment).digest()
    value = base64.b64decode(signature["SignatureValue"]["value"])
    assert len(value) == 132
    der = encode_dss_signature(int.from_bytes(value[:66], "big"), int.from_bytes(value[66:], "big"))
    key.verify(der, exi.encode_fragment("xmldsig", {"SignedInfo": si}), ec.ECDSA(hashes.SHA512()))


@pytest.mark.parametrize("protocol", ["iso20-dc", "iso20-ac"])
def test_install_then_pay_with_the_new_contract(pki: Pki, protocol: str) -> None:
    ev, _eng, out = run(pki, cps_shell(pki), protocol=protocol)
    assert ev.result.outcome == "finished", (ev.result.detail, out.exchanges)
    names = [x[0] for x in out.exchanges]
    assert names[:4] == [
        "SessionSetupReq",
        "AuthorizationSetupReq",
        "CertificateInstallationReq",
        "AuthorizationReq",
    ]
    assert ("CertificateInstallationReq", "CertificateInstallationRes", "OK") in out.exchanges
    # the installed contract is the PKI's: its EMAID, and the decrypted key is the contract certificate's key
    emaid = contract.common_name(pki.cert("contract_leaf"))
    assert ev.result.installed_emaid == emaid and ev.result.authorization == "PnC"
    assert ev.contract is not None
    want = pki.key("contract_leaf")
    assert isinstance(want, ec.EllipticCurvePrivateKey) and isinstance(
        ev.contract.key, ec.EllipticCurvePrivateKey
    )
    assert ev.contract.key.private_numbers().private_value == want.private_numbers().private_value
    # the session was authorized by that contract
    asked = [e for e in out.events if isinstance(e, ContractAuthorizationRequested)]
    assert [e.emaid for e in asked] == [emaid]
    assert AuthorizationRequested("Contract") in out.events
    # one request to the CSMS, as -20 CommonMessages
    reqs = [e for e in out.events if isinstance(e, CertificateRequested)]
    assert len(reqs) == 1 and reqs[0].schema == "iso20-cm" and reqs[0].action == "Install"


def test_signatures_verify_with_cryptography_alone(pki: Pki) -> None:
    _ev, _eng, out = run(pki, cps_shell(pki))
    req, res = next((q, r) for q, r in out.messages if "CertificateInstallationReq" in q)
    body = req["CertificateInstallationReq"]
    chain = body["OEMProvisioningCertificateChain"]
    fragment = exi.encode_fragment("iso20-cm", {"OEMProvisioningCertificateChain": chain})
    oem_key = pki.cert("oem_prov_leaf").public_key()
    assert isinstance(oem_key, ec.EllipticCurvePublicKey)
    _verify_independently(body["Header"]["Signature"], fragment, oem_key)
    rbody = res["CertificateInstallationRes"]
    # relayed under this session's SessionID with the CPS's signature over SignedInstallationData
    assert rbody["Header"]["SessionID"] == body["Header"]["SessionID"]
    signed = exi.encode_fragment("iso20-cm", {"SignedInstallationData": rbody["SignedInstallationData"]})
    cps_key = pki.cert("cps_leaf").public_key()
    assert isinstance(cps_key, ec.EllipticCurvePublicKey)
    _verify_independently(rbody["Header"]["Signature"], signed, cps_key)
    assert rbody["RemainingContractCertificateChains"] == 0
    assert len(base64.b64decode(rbody["SignedInstallationData"]["SECP521_EncryptedPrivateKey"])) == 94
    assert len(base64.b64decode(rbody["SignedInstallationData"]["DHPublicKey"])) == 133


def test_slow_csms_gets_ongoing_and_one_request(pki: Pki) -> None:
    ev, _eng, out = run(pki, cps_shell(pki), wait_s=ci.ANSWER_WITHIN_S + 1.0)
    assert ev.result.outcome == "finished", ev.result.detail
    installs = [x for x in out.exchanges if x[0] == "CertificateInstallationReq"]
    assert len(installs) == 2  # Ongoing once (before the EV's 5 s timeout), then the answer
    ongoing = next(r for q, r in out.messages if "CertificateInstallationRes" in r)
    assert ongoing["CertificateInstallationRes"]["EVSEProcessing"] == "Ongoing"
    assert len([e for e in out.events if isinstance(e, CertificateRequested)]) == 1
    assert ev.result.installed_emaid == contract.common_name(pki.cert("contract_leaf"))


def test_csms_never_answers(pki: Pki) -> None:
    ev, _eng, out = run(pki, None)
    codes = [x[2] for x in out.exchanges if x[0] == "CertificateInstallationReq"]
    assert codes[-1] == "WARNING_NoCertificateAvailable" and set(codes[:-1]) == {"OK"}
    # the EV fell back to EIM and charged
    assert ev.result.outcome == "finished" and ev.result.authorization == "EIM"
    assert ev.result.installed_emaid == ""


def test_csms_refuses(pki: Pki) -> None:
    def refuse(e: CertificateRequested, view: Any) -> None:
        view.pnc_answers[e.ticket] = "CSMS: Failed"

    ev, _eng, out = run(pki, refuse)
    assert (
        "CertificateInstallationReq",
        "CertificateInstallationRes",
        "WARNING_NoCertificateAvailable",
    ) in out.exchanges
    assert ev.result.authorization == "EIM"


def test_forged_request_signature(pki: Pki) -> None:
    def tamper(msg: dict[str, Any]) -> None:
        body = msg.get("CertificateInstallationReq")
        if body is not None:
            body["MaximumContractCertificateChains"] = 1
            sig = body["Header"]["Signature"]["SignatureValue"]
            raw = bytearray(base64.b64decode(sig["value"]))
            raw[5] ^= 1
            sig["value"] = base64.b64encode(bytes(raw)).decode()

    ev, eng, out = run(pki, cps_shell(pki), tamper=tamper)
    assert out.exchanges[-1] == (
        "CertificateInstallationReq",
        "CertificateInstallationRes",
        "FAILED_SignatureError",
    )
    assert eng.ended and ev.result.outcome == "failed"
    assert any(isinstance(e, SecurityIssue) and e.kind == "signature_error" for e in out.events)
    assert not any(isinstance(e, CertificateRequested) for e in out.events)


def test_oem_certificate_of_another_ev(pki: Pki) -> None:
    other = make_pki("iso20-p521")

    def swap(msg: dict[str, Any]) -> None:  # another EV's leaf under our Sub-CAs: the chain is broken
        body = msg.get("CertificateInstallationReq")
        if body is not None:
            der = other.cert("oem_prov_leaf").public_bytes(serialization.Encoding.DER)
            body["OEMProvisioningCertificateChain"]["Certificate"] = base64.b64encode(der).decode()

    ev, _eng, out = run(pki, cps_shell(pki), tamper=swap)
    assert (
        "CertificateInstallationReq",
        "CertificateInstallationRes",
        "WARNING_CertificateValidationError",
    ) in out.exchanges
    assert not any(isinstance(e, CertificateRequested) for e in out.events)
    assert ev.result.authorization == "EIM"


@pytest.mark.parametrize(
    ("at", "code"),
    [
        # 10 years on: past every OEM certificate, still before 2038 (32-bit time_t boards, e.g. Debian i386)
        (NOW + dt.timedelta(days=365 * 10), "WARNING_CertificateExpired"),
        (NOW - dt.timedelta(days=30), "WARNING_CertificateNotYetValid"),
    ],
)
def test_oem_chain_outside_validity(pki: Pki, at: dt.datetime, code: str) -> None:
    cfg = Iso20Config(
        pnc=ContractVerifier((pki.cert("mo_root"), pki.cert("v2g_root"))),
        wall_offset=at.timestamp(),
        certificate_installation=True,
    )
    _ev, _eng, out = run(pki, cps_shell(pki), config=cfg)
    assert ("CertificateInstallationReq", "CertificateInstallationRes", code) in out.exchanges
    assert not any(isinstance(e, CertificateRequested) for e in out.events)


def test_not_offered_without_csms_or_setting(pki: Pki) -> None:
    cfg = Iso20Config(pnc=ContractVerifier((pki.cert("mo_root"),)), wall_offset=NOW.timestamp())
    ev, _eng, out = run(pki, cps_shell(pki), config=cfg)
    assert "CertificateInstallationReq" not in [x[0] for x in out.exchanges]
    assert ev.result.authorization == "EIM" and ev.result.outcome == "finished"
    setup = next(r for q, r in out.messages if "AuthorizationSetupRes" in r)
    assert setup["AuthorizationSetupRes"]["CertificateInstallationService"] is False


def test_offline_station_does_not_offer(pki: Pki) -> None:
    from .helpers import req

    cfg = Iso20Config(pnc=ContractVerifier((pki.cert("mo_root"),)), certificate_installation=True)
    st = station()
    st.csms_online = False
    eng = Engine(SPEC, st, config=cfg)
    res = eng.step(req("SessionSetupReq", "0" * 16, EVCCID="WMIV1234567890ABCDEX"), 0.0).response
    assert res is not None
    sid = res["SessionSetupRes"]["Header"]["SessionID"]
    res = eng.step(req("AuthorizationSetupReq", sid), 0.1).response
    assert res is not None and res["AuthorizationSetupRes"]["CertificateInstallationService"] is False
    # asking anyway is a sequence error
    step = eng.step(req("CertificateInstallationReq", sid, MaximumContractCertificateChains=1), 0.2)
    assert step.response is not None
    assert step.response["CertificateInstallationRes"]["ResponseCode"] == "FAILED_SequenceError"


def test_no_room_for_a_chain(pki: Pki) -> None:
    _ev, _eng, out = run(
        pki,
        cps_shell(pki),
        behaviour=Iso20Behaviour(loops=1, max_contract_chains=0, wall_offset=NOW.timestamp()),
    )
    assert (
        "CertificateInstallationReq",
        "CertificateInstallationRes",
        "WARNING_NoCertificateAvailable",
    ) in out.exchanges
    assert not any(isinstance(e, CertificateRequested) for e in out.events)


def test_second_request_after_the_last_chain(pki: Pki) -> None:
    """RemainingContractCertificateChains 0: a further request is answered without asking the CSMS again; with
    chains remaining (and room in the EV) it goes to the CSMS."""
    from .helpers import req

    for remaining, expect_asks in ((0, 1), (2, 2)):
        cfg = Iso20Config(
            pnc=ContractVerifier((pki.cert("mo_root"), pki.cert("v2g_root"))),
            wall_offset=NOW.timestamp(),
            certificate_installation=True,
        )
        st = station()
        eng = Engine(SPEC, st, config=cfg)
        shell = cps_shell(pki, remaining=remaining)
        res = eng.step(req("SessionSetupReq", "0" * 16, EVCCID="WMIV1234567890ABCDEX"), 0.0).response
        assert res is not None
        sid = res["SessionSetupRes"]["Header"]["SessionID"]
        eng.step(req("AuthorizationSetupReq", sid), 0.1)
        prov = provisioning(pki)
        asks = 0
        codes = []
        for i in range(2):
            msg = prov.request({"SessionID": sid, "TimeStamp": 1}, maximum=3)
            msg = exi.decode("iso20-cm", exi.encode("iso20-cm", msg))
            step = eng.step(msg, 1.0 + i)
            for e in step.events:
                if isinstance(e, CertificateRequested):
                    asks += 1
                    shell(e, st.view)
            if step.response is None:
                polled = eng.poll(1.01 + i)
                assert polled is not None
                step = polled
            assert step.response is not None
            codes.append(step.response["CertificateInstallationRes"]["ResponseCode"])
        assert asks == expect_asks, (remaining, codes)
        assert codes[0] == "OK"
        assert codes[1] == ("WARNING_NoCertificateAvailable" if remaining == 0 else "OK")


def test_request_while_pending_is_a_sequence_error(pki: Pki) -> None:
    from .helpers import req

    cfg = Iso20Config(
        pnc=ContractVerifier((pki.cert("mo_root"),)),
        wall_offset=NOW.timestamp(),
        certificate_installation=True,
    )
    eng = Engine(SPEC, station(), config=cfg)
    res = eng.step(req("SessionSetupReq", "0" * 16, EVCCID="WMIV1234567890ABCDEX"), 0.0).response
    assert res is not None
    sid = res["SessionSetupRes"]["Header"]["SessionID"]
    eng.step(req("AuthorizationSetupReq", sid), 0.1)
    msg = provisioning(pki).request({"SessionID": sid, "TimeStamp": 1})
    step = eng.step(exi.decode("iso20-cm", exi.encode("iso20-cm", msg)), 0.2)
    assert step.response is None and eng.pending is not None
    step = eng.step(
        req("AuthorizationReq", sid, SelectedAuthorizationService="EIM", EIM_AReqAuthorizationMode={}), 0.3
    )
    assert step.response is not None and step.end
    assert step.response["AuthorizationRes"]["ResponseCode"] == "FAILED_SequenceError"


def test_ed448_provisioning_is_refused_by_the_cps() -> None:
    """Ed448 OEM keys need X448 key agreement, which is not implemented (docs/pnc.md): the CPS refuses, the EV
    gets WARNING_NoCertificateAvailable and pays with EIM; its request's Ed448 signature was accepted."""
    p = make_pki("iso20-ed448")
    ev, _eng, out = run(p, cps_shell(p))
    assert (
        "CertificateInstallationReq",
        "CertificateInstallationRes",
        "WARNING_NoCertificateAvailable",
    ) in out.exchanges
    assert ev.result.authorization == "EIM" and ev.result.outcome == "finished"
    with pytest.raises(PncError, match="X448"):
        req = provisioning(p).request({"SessionID": "00" * 8, "TimeStamp": 1})
        cps.answer_iso20(p, exi.decode("iso20-cm", exi.encode("iso20-cm", req)))


def test_cps_refuses_an_ev_that_does_not_trust_its_root(pki: Pki) -> None:
    other = make_pki("iso20-p521", serial=1)
    prov = provisioning(pki)
    prov = ProvisioningCredentials20(
        prov.oem_der,
        prov.sub_ca_ders,
        prov.key,
        (other.cert("v2g_root").public_bytes(serialization.Encoding.DER),),
    )
    req = prov.request({"SessionID": "00" * 8, "TimeStamp": 1})
    with pytest.raises(PncError, match="V2G root"):
        cps.answer_iso20(pki, exi.decode("iso20-cm", exi.encode("iso20-cm", req)))


def test_ev_refuses_a_forged_cps_answer(pki: Pki) -> None:
    def forge(e: CertificateRequested, view: Any) -> None:
        res = cps.answer_iso20(pki, exi.decode("iso20-cm", exi.encode(e.schema, e.message)))
        signed = res["CertificateInstallationRes"]["SignedInstallationData"]
        raw = bytearray(base64.b64decode(signed["SECP521_EncryptedPrivateKey"]))
        raw[20] ^= 1
        signed["SECP521_EncryptedPrivateKey"] = base64.b64encode(bytes(raw)).decode()
        view.pnc_answers[e.ticket] = res

    ev, _eng, _out = run(pki, forge)
    assert ev.result.outcome == "failed" and "digest does not match" in ev.result.detail
    assert ev.contract is None
