"""ISO 15118-2 certificate installation: our EV without a contract installs one through our SECC core, which
waits (a core state, not a blocking call) for the CSMS's answer; the answer is built by the certificate
provisioning service stand-in (josev.pnc.cps) from the PKI; the EV checks the CPS signature, decrypts its new
contract key and pays with it. Every message goes through the real EXI codec."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from josev import exi
from josev.ev.battery import Behaviour
from josev.ev.contract import ContractCredentials, ProvisioningCredentials
from josev.ev.evcc import Evcc, EvError
from josev.pki import PROFILES, Pki, build_pki
from josev.pnc import PncError, cps, xmlsig
from josev.secc.events import CertificateRequested, ContractAuthorizationRequested, SecurityIssue
from josev.secc.evse import EvseView
from josev.secc.session import SeccSession
from josev.sim.supply import SimPowerSupply

from .drive import body_name, code_of

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
Shell = Callable[[CertificateRequested, EvseView], None]


@pytest.fixture(scope="module")
def pki() -> Pki:
    # the usual random serial numbers (up to 159 bits): the EV lists its V2G root by serial number
    return build_pki(PROFILES["iso2"], now=NOW)


def provisioning(pki: Pki) -> ProvisioningCredentials:
    key = pki.key("oem_prov_leaf")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der = serialization.Encoding.DER
    return ProvisioningCredentials(
        pki.cert("oem_prov_leaf").public_bytes(der), key, (pki.cert("v2g_root").public_bytes(der),)
    )


def cps_shell(pki: Pki) -> Shell:
    """What the SECC's shell and the CSMS do with a certificate request: EXI out, CPS answer, EXI back."""

    def answer(e: CertificateRequested, view: EvseView) -> None:
        raw = exi.encode("iso2", e.message)  # the EV's request as the CSMS receives it (exiRequest)
        try:
            res = cps.answer_iso2(pki, exi.decode("iso2", raw))
        except PncError as err:
            view.pnc_answers[e.ticket] = f"CPS refused: {err.detail}"
            return
        view.pnc_answers[e.ticket] = exi.decode("iso2", exi.encode("iso2", res))

    return answer


def reissued_contract(
    template: x509.Certificate,
    issuer: x509.Certificate,
    issuer_key: Any,
    sub_ders: tuple[bytes, ...],
    not_after: dt.datetime,
) -> ContractCredentials:
    """A contract with the subject (EMAID) and extensions of ``template``, a new P-256 key, issued by ``issuer``
    and valid until ``not_after``: the old contract of an EV that must renew it."""
    key = ec.generate_private_key(ec.SECP256R1())
    b = (
        x509.CertificateBuilder()
        .subject_name(template.subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - dt.timedelta(days=365))
        .not_valid_after(not_after)
    )
    for ext in template.extensions:
        if isinstance(ext.value, x509.SubjectKeyIdentifier):
            b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), ext.critical)
        else:
            b = b.add_extension(ext.value, ext.critical)
    leaf = b.sign(issuer_key, hashes.SHA256())
    return ContractCredentials(leaf.public_bytes(serialization.Encoding.DER), sub_ders, key)


def expiring_contract(pki: Pki, days: float) -> ContractCredentials:
    der = serialization.Encoding.DER
    subs = tuple(pki.cert(n).public_bytes(der) for n in ("mo_sub_ca2", "mo_sub_ca1"))
    return reissued_contract(
        pki.cert("contract_leaf"),
        pki.cert("mo_sub_ca2"),
        pki.key("mo_sub_ca2"),
        subs,
        NOW + dt.timedelta(days=days),
    )


def run(
    pki: Pki,
    shell: Shell | None,
    tamper: Callable[[str, dict[str, Any]], None] | None = None,
    wait_s: float = 0.0,
    contract: ContractCredentials | None = None,
    renew_within_s: float = 0.0,
) -> tuple[Evcc, list[tuple[str, str]], list[Any]]:
    view = EvseView(
        energy_modes=("DC_extended",),
        payment_options=("ExternalPayment", "Contract"),
        pnc_roots=(pki.cert("mo_root"), pki.cert("v2g_root")),
        wall_offset=NOW.timestamp(),
    )
    secc = SeccSession(view, 0.0, tls=True)
    ev = Evcc(
        "iso2-dc",
        behaviour=Behaviour(loops=2),
        provisioning=provisioning(pki),
        wall=NOW.timestamp(),
        contract=contract,
        renew_within_s=renew_within_s,
    )
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
            out = secc.handle_message(exi.decode(schema, exi.encode(schema, msg)), t)
            events += out.events
            supply.apply(view, out.events)
            res = out.response
            while (
                res is None and not out.close
            ):  # the core waits: play the shell, then poll as the server does
                for e in out.events:
                    if isinstance(e, CertificateRequested) and shell is not None:
                        shell(e, view)
                t += wait_s or 0.02
                polled = secc.poll_message(t)
                if polled is None:
                    out.events = []
                    continue
                events += polled.events
                res = polled.response
                break
            assert res is not None
            res = exi.decode(out.schema, exi.encode(out.schema, res))
            seen.append((name, code_of(res)))
            t += 0.1
            nxt = ev.on_response(res)
    except EvError:
        pass
    return ev, seen, events


def relay_shell(pki: Pki) -> Shell:
    """A CSMS answer built by hand: a CertificateInstallationRes whose header signature covers three of its
    four signed elements (the SECC relays, it does not verify the CPS signature; the EV does)."""

    def answer(e: CertificateRequested, view: EvseView) -> None:
        request = exi.decode("iso2", exi.encode("iso2", e.message))
        body = cps.answer_body(pki, request)
        key = pki.key("cps_leaf")
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        signed = ("ContractSignatureCertChain", "ContractSignatureEncryptedPrivateKey", "DHpublickey")
        refs = [(body[n]["Id"], xmlsig.fragment("iso2", n, body[n])) for n in signed]
        header = {"SessionID": "FFFFFFFFFFFFFFFF", "Signature": xmlsig.sign(xmlsig.ISO2, key, refs)}
        view.pnc_answers[e.ticket] = {
            "V2G_Message": {"Header": header, "Body": {"CertificateInstallationRes": body}}
        }

    return answer


def test_secc_waits_for_the_csms_and_relays_its_answer(pki: Pki) -> None:
    """The core answers CertificateInstallationReq only once the shell's answer is there: with the CSMS's body
    and signature, under this session's SessionID (the EV then stops: it cannot check the incomplete test
    signature)."""
    relayed: list[dict[str, Any]] = []
    shell = relay_shell(pki)

    def keep(e: CertificateRequested, view: EvseView) -> None:
        shell(e, view)
        relayed.append(view.pnc_answers[e.ticket])

    ev, seen, events = run(pki, keep, wait_s=0.5)
    assert ("CertificateInstallationReq", "OK") in seen
    [req] = [e for e in events if isinstance(e, CertificateRequested)]
    assert req.action == "Install"
    assert "Signature" in req.message["V2G_Message"]["Header"]  # the EV's signature goes to the CSMS
    assert len(relayed) == 1
    sent = ev._last["V2G_Message"]  # the response as the EV received it (through the EXI codec)
    assert sent["Header"]["SessionID"] == ev.session_id != "FFFFFFFFFFFFFFFF"
    assert sent["Header"]["Signature"] == relayed[0]["V2G_Message"]["Header"]["Signature"]
    assert (
        sent["Body"]["CertificateInstallationRes"]
        == relayed[0]["V2G_Message"]["Body"]["CertificateInstallationRes"]
    )


def test_install_then_pay(pki: Pki) -> None:
    ev, seen, events = run(pki, cps_shell(pki))
    assert ev.result.outcome == "finished", (ev.result.detail, seen)
    assert ev.installed and ev.payment == "Contract"
    assert ("CertificateInstallationReq", "OK") in seen and ("PaymentDetailsReq", "OK") in seen
    # the EV now holds the PKI's contract and the private key that belongs to it
    assert ev.contract is not None
    assert ev.contract.leaf_der == pki.cert("contract_leaf").public_bytes(serialization.Encoding.DER)
    key = pki.key("contract_leaf")
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(
        ev.contract.key, ec.EllipticCurvePrivateKey
    )
    assert ev.contract.key.private_numbers().private_value == key.private_numbers().private_value
    requests = [e for e in events if isinstance(e, CertificateRequested)]
    assert len(requests) == 1 and requests[0].action == "Install"
    assert any(isinstance(e, ContractAuthorizationRequested) for e in events)


def test_update_an_expiring_contract_then_pay(pki: Pki) -> None:
    """An EV whose contract expires in 10 days (renewing within 30) sends CertificateUpdateReq signed with the
    old contract key; the CPS answers with the PKI's contract, its key encrypted for the old contract key; the EV
    checks, decrypts and pays with the new contract."""
    old = expiring_contract(pki, 10)
    ev, seen, events = run(pki, cps_shell(pki), contract=old, renew_within_s=30 * 86400)
    assert ev.result.outcome == "finished", (ev.result.detail, seen)
    assert ("CertificateUpdateReq", "OK") in seen and ("PaymentDetailsReq", "OK") in seen
    assert not any(n == "CertificateInstallationReq" for n, _ in seen)
    [req] = [e for e in events if isinstance(e, CertificateRequested)]
    assert req.action == "Update"
    assert ev.contract is not None and ev.contract.leaf_der != old.leaf_der
    assert ev.contract.leaf_der == pki.cert("contract_leaf").public_bytes(serialization.Encoding.DER)
    assert ev.contract.emaid == old.emaid
    key = pki.key("contract_leaf")
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(
        ev.contract.key, ec.EllipticCurvePrivateKey
    )
    assert ev.contract.key.private_numbers().private_value == key.private_numbers().private_value
    assert ev.result.contract["how"] == "update" and ev.result.contract["emaid"] == old.emaid
    assert any(isinstance(e, ContractAuthorizationRequested) for e in events)
    # a contract far from expiry is not renewed: the EV pays with it directly
    fresh = expiring_contract(pki, 200)
    ev, seen, events = run(pki, cps_shell(pki), contract=fresh, renew_within_s=30 * 86400)
    assert ev.result.outcome == "finished", (ev.result.detail, seen)
    assert [n for n, _ in seen if n.startswith("Certificate")] == []
    assert ev.contract is fresh and not ev.result.contract


def test_no_answer_in_time(pki: Pki) -> None:
    ev, seen, _ = run(pki, None, wait_s=1.0)
    assert ev.result.outcome == "failed"
    assert seen[-1] == ("CertificateInstallationReq", "FAILED_NoCertificateAvailable")


def test_csms_failure_and_forged_request(
    pki: Pki,
) -> None:
    def failed(e: CertificateRequested, view: EvseView) -> None:
        view.pnc_answers[e.ticket] = "Get15118EVCertificate Failed"

    _, seen, _ = run(pki, failed)
    assert seen[-1] == ("CertificateInstallationReq", "FAILED_NoCertificateAvailable")

    def forge(name: str, msg: dict[str, Any]) -> None:
        if name == "CertificateInstallationReq":
            sig = msg["V2G_Message"]["Header"]["Signature"]
            raw = bytearray(base64.b64decode(sig["SignatureValue"]["value"]))
            raw[0] ^= 0x40
            sig["SignatureValue"]["value"] = base64.b64encode(bytes(raw)).decode()

    _, seen, events = run(pki, cps_shell(pki), tamper=forge)
    assert seen[-1] == ("CertificateInstallationReq", "FAILED_SignatureError")
    assert any(isinstance(e, SecurityIssue) for e in events)
    assert not any(isinstance(e, CertificateRequested) for e in events)  # nothing forged reaches the CSMS


def test_cps_signature_checked_by_the_ev(pki: Pki) -> None:
    """A response whose provisioning-service signature does not verify is refused by our EV."""

    def tampering_shell(e: CertificateRequested, view: EvseView) -> None:
        cps_shell(pki)(e, view)
        res = view.pnc_answers[e.ticket]
        body = res["V2G_Message"]["Body"]["CertificateInstallationRes"]
        body["eMAID"]["value"] = "DEJSVC000000099"

    ev, _seen, _ = run(pki, tampering_shell)
    assert ev.result.outcome == "failed" and "certificate installation" in ev.result.detail
    assert "digest does not match" in ev.result.detail


def test_big_root_serial_number() -> None:
    """RFC 5280 serial numbers have up to 20 octets; an EV listing such a root must be encodable and decodable."""
    msg = {
        "V2G_Message": {
            "Header": {"SessionID": "0102030405060708"},
            "Body": {
                "CertificateInstallationReq": {
                    "Id": "ID1",
                    "OEMProvisioningCert": "AAAA",
                    "ListOfRootCertificateIDs": {
                        "RootCertificateID": [
                            {"X509IssuerName": "CN=V2GRootCA", "X509SerialNumber": 2**159 - 1}
                        ]
                    },
                }
            },
        }
    }
    assert exi.decode("iso2", exi.encode("iso2", msg)) == msg
