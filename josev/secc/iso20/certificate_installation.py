"""ISO 15118-20 CertificateInstallationReq -> CertificateInstallationRes (Plug & Charge without a contract).

Offered in AuthorizationSetupRes (``CertificateInstallationService``) when PnC is on and the station can reach the
CSMS (``Iso20Config.certificate_installation``). The EV sends its OEM provisioning chain, the V2G roots it trusts
(ListOfRootCertificateIDs) and how many contract chains it can take (MaximumContractCertificateChains), signed
over ``OEMProvisioningCertificateChain`` with its provisioning key (P-521 or Ed448).

The SECC checks the chain as far as it can (every certificate valid at the station's time, each signed by the
next, the key type of -20; when one of the station's roots issued the top certificate, that too: the SECC holds
no OEM roots, the CPS checks the OEM root) and the signature, then passes the request through the shell to the
CSMS (Get15118EVCertificate, ``iso15118SchemaVersion`` of -20) and waits in a core state (``Pending``). The
CSMS's CertificateInstallationRes leaves with the certificate provisioning service's header signature over
``SignedInstallationData``, under this session's SessionID. While the CSMS has not answered, the EV gets
``EVSEProcessing = Ongoing`` before its message timeout (after 4 s; the EV waits 5 s for this message) and
repeats the request; the wait continues without asking the CSMS again.

Codes: ``FAILED_SignatureError`` (the request's signature; also a security event), ``WARNING_CertificateExpired``
/ ``WARNING_CertificateNotYetValid`` / ``WARNING_CertificateValidationError`` (the OEM chain),
``WARNING_NoCertificateAvailable`` (the CSMS refused or did not answer within ``OVERALL_S``, the EV has no room
for a chain, or the CPS said no further chain remains), the CPS's own code otherwise. A WARNING leaves the
session in Authorization: the EV may still pay with EIM.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from josev.pnc import PncError, contract, xmlsig
from josev.secc.events import CertificateRequested, SecurityIssue
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import HandlerError, Pending

REQUEST = "CertificateInstallationReq"
RESPONSE = "CertificateInstallationRes"
SCHEMA = "iso20-cm"
ACTION = "Install"
SIGNED = "OEMProvisioningCertificateChain"
NO_CERTIFICATE = "WARNING_NoCertificateAvailable"
#: answer Ongoing after this long without the CSMS's answer (the EV's message timeout is 5 s)
ANSWER_WITHIN_S = 4.0
#: give up (WARNING_NoCertificateAvailable) when the CSMS has not answered after this long
OVERALL_S = 40.0
MAX_SUB_CAS = 2


def _at(ctx: Iso20Context, now: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(now + ctx.config.wall_offset, dt.UTC)


def _code(e: PncError) -> str:
    if e.code == xmlsig.SIGNATURE_ERROR:
        return e.code
    if e.code == contract.EXPIRED:
        return "WARNING_CertificateNotYetValid" if e.kind == "not_yet_valid" else "WARNING_CertificateExpired"
    return "WARNING_CertificateValidationError"


def check_chain(ctx: Iso20Context, chain: dict[str, Any], now: float) -> x509.Certificate:
    """The OEM provisioning leaf after checking its chain (see the module docstring); raises PncError."""
    leaf = contract.load_der(chain.get("Certificate", ""), "OEM provisioning certificate")
    subs_raw = (chain.get("SubCertificates") or {}).get("Certificate") or []
    subs = [contract.load_der(c, f"OEM Sub-CA {i + 1}") for i, c in enumerate(subs_raw)]
    if len(subs) > MAX_SUB_CAS:
        raise PncError(contract.CHAIN_ERROR, f"{len(subs)} OEM Sub-CAs (at most {MAX_SUB_CAS})")
    at = _at(ctx, now)
    certs = [leaf, *subs]
    for i, cert in enumerate(certs):
        what = "the OEM provisioning certificate" if i == 0 else f"OEM Sub-CA {i}"
        if at < cert.not_valid_before_utc:
            raise PncError(contract.EXPIRED, f"{what} is not yet valid", "not_yet_valid")
        if at > cert.not_valid_after_utc:
            raise PncError(contract.EXPIRED, f"{what} is expired", "expired")
        if not any(s.key_fits(cert.public_key()) for s in xmlsig.ISO20_SUITES):  # type: ignore[arg-type]
            raise PncError(contract.CHAIN_ERROR, f"{what}: the key is neither P-521 nor Ed448")
    for child, parent in itertools.pairwise(certs):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise PncError(
                contract.CHAIN_ERROR, "the OEM provisioning chain is not signed in order"
            ) from None
    top = certs[-1]
    for root in ctx.evse.pnc_roots:
        if root.subject == top.issuer:
            try:
                top.verify_directly_issued_by(root)
            except (ValueError, TypeError, InvalidSignature):
                raise PncError(
                    contract.CHAIN_ERROR, "the OEM chain's top is not signed by its root"
                ) from None
    return leaf


def _finished(code: str) -> dict[str, Any]:
    return {**negative_body(code), "EVSEProcessing": "Finished"}


def handle(
    ctx: Iso20Context, req: dict[str, Any], now: float, state: str
) -> tuple[dict[str, Any] | Pending, str]:
    """Check the EV's request, then wait for the CSMS's answer (see the module docstring)."""
    if not ctx.cert_offered:
        raise HandlerError("FAILED_SequenceError", "CertificateInstallation was not offered")
    if ctx.cert_ticket is not None:  # the EV repeats after Ongoing: the CSMS is still being asked
        return Pending(ANSWER_WITHIN_S), state
    maximum = int(req.get("MaximumContractCertificateChains", 0))
    if ctx.cert_max is None:
        ctx.cert_max = maximum
    if maximum < 1:
        return _finished(NO_CERTIFICATE), state
    if ctx.cert_installed >= ctx.cert_max or ctx.cert_remaining == 0:
        return _finished(NO_CERTIFICATE), state  # [V2G20] no further chain: the EV got what there is
    chain = req.get(SIGNED)
    if not isinstance(chain, dict) or not chain.get("Id"):
        raise HandlerError(xmlsig.SIGNATURE_ERROR, f"{REQUEST} without a signable {SIGNED}")
    header = req.get("Header") or {}
    try:
        leaf = check_chain(ctx, chain, now)
        xmlsig.verify(
            header.get("Signature"),
            [(str(chain["Id"]), xmlsig.fragment(SCHEMA, SIGNED, chain))],
            leaf.public_key(),  # type: ignore[arg-type]
            xmlsig.ISO20_SUITES,
        )
    except PncError as e:
        code = _code(e)
        if code == xmlsig.SIGNATURE_ERROR:
            ctx.emit(SecurityIssue("signature_error", f"{REQUEST}: {e.detail}"))
            raise HandlerError(code, e.detail) from None
        return _finished(code), state
    ctx.cert_ticket = f"{ctx.session_id}:cert20:{ctx.cert_installed}:{now:.3f}"
    ctx.cert_since = now
    ctx.emit(CertificateRequested(ctx.cert_ticket, ACTION, {REQUEST: req}, schema=SCHEMA))
    return Pending(ANSWER_WITHIN_S), state


def resume(ctx: Iso20Context, now: float) -> tuple[dict[str, Any], str] | None:
    """The CSMS's answer once the shell has put it into the view (None: still waiting)."""
    if ctx.cert_ticket is None:
        return None
    answer = ctx.evse.pnc_answers.pop(ctx.cert_ticket, None)
    if answer is None:
        return None
    ctx.cert_ticket = None
    ctx.cert_since = None
    if isinstance(answer, str):
        return _finished(NO_CERTIFICATE), "Authorization"
    try:
        res = answer[RESPONSE]
        signature = res["Header"]["Signature"]
        signed = res["SignedInstallationData"]
        remaining = int(res["RemainingContractCertificateChains"])
        body = {k: v for k, v in res.items() if k != "Header"}
    except (KeyError, TypeError, ValueError):
        return _finished(NO_CERTIFICATE), "Authorization"
    code = str(body.get("ResponseCode", ""))
    if not code.startswith("OK") or not isinstance(signed, dict):
        return _finished(code if code.startswith("WARNING") else NO_CERTIFICATE), "Authorization"
    body["EVSEProcessing"] = "Finished"
    ctx.cert_installed += 1
    ctx.cert_remaining = remaining
    ctx.response_signature = signature
    return body, "Authorization"


def expired(ctx: Iso20Context, now: float) -> tuple[dict[str, Any], str]:
    """No answer yet: Ongoing (the EV asks again), or WARNING_NoCertificateAvailable after ``OVERALL_S``."""
    if ctx.cert_since is not None and now - ctx.cert_since >= OVERALL_S:
        if ctx.cert_ticket is not None:
            ctx.evse.pnc_answers.pop(ctx.cert_ticket, None)
        ctx.cert_ticket = None
        ctx.cert_since = None
        return _finished(NO_CERTIFICATE), "Authorization"
    return {**negative_body("OK"), "EVSEProcessing": "Ongoing"}, "Authorization"


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """CertificateInstallationRes with a FAILED code (schema-required elements as placeholders)."""
    return _finished(code)


def negative_body(code: str) -> dict[str, Any]:
    """A schema-valid CertificateInstallationRes body without content (the schema requires every element)."""
    empty = base64.b64encode(b"").decode()
    return {
        "ResponseCode": code,
        "EVSEProcessing": "Finished",
        "CPSCertificateChain": {"Certificate": empty},
        "SignedInstallationData": {
            "Id": "ID1",
            "ContractCertificateChain": {"Certificate": empty, "SubCertificates": {"Certificate": [empty]}},
            "ECDHCurve": "SECP521",
            "DHPublicKey": base64.b64encode(bytes(133)).decode(),
            "SECP521_EncryptedPrivateKey": base64.b64encode(bytes(94)).decode(),
        },
        "RemainingContractCertificateChains": 0,
    }
