"""ISO 15118-2 CertificateInstallationReq -> CertificateInstallationRes (Plug & Charge, [V2G2-811..825]).

The EV, holding no contract yet, sends its OEM provisioning certificate and the V2G roots it trusts, signed with
its provisioning key. The SECC checks that signature (FAILED_SignatureError) and the certificate's validity
(FAILED_CertificateExpired), then passes the request to the CSMS through the shell and waits for its answer: the
response leaves with the CSMS's body and the certificate provisioning service's signature, under this session's
SessionID. No answer in time (the EV waits 5 s): FAILED_NoCertificateAvailable.
"""

from __future__ import annotations

from typing import Any

from josev.pnc import PncError, contract, xmlsig
from josev.secc.events import CertificateRequested, SecurityIssue
from josev.secc.iso2.payment_details import station_time
from josev.secc.machine import Context, HandlerError, Pending

REQUEST = "CertificateInstallationReq"
RESPONSE = "CertificateInstallationRes"
ACTION = "Install"
#: the EV gives up after 5 s (V2G_EVCC_Msg_Timeout of this message); answer before that
ANSWER_WITHIN_S = 4.5
NO_CERTIFICATE = "FAILED_NoCertificateAvailable"


def signer(ctx: Context, req: dict[str, Any], now: float) -> Any:
    """The certificate whose key signed the request (OEM provisioning certificate)."""
    cert = contract.load_der(req.get("OEMProvisioningCert", ""), "OEM provisioning certificate")
    at = station_time(ctx, now)
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise PncError(contract.EXPIRED, "the OEM provisioning certificate is outside its validity")
    return cert


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any] | Pending, str]:
    """Check the EV's signature, then wait for the CSMS's answer."""
    if ctx.payment != "Contract":
        raise HandlerError("FAILED_SequenceError", f"{REQUEST} without the Contract payment option")
    ref_id = req.get("Id")
    if not isinstance(ref_id, str) or not ref_id:
        raise HandlerError("FAILED_SignatureError", f"{REQUEST} without Id cannot be signed")
    try:
        cert = signer(ctx, req, now)
        key = cert.public_key()
        if not xmlsig.ISO2.key_fits(key):
            raise PncError(contract.CHAIN_ERROR, "the signer's key is not a P-256 key")
        xmlsig.verify(
            ctx.header.get("Signature"), [(ref_id, xmlsig.fragment("iso2", REQUEST, req))], key, [xmlsig.ISO2]
        )
    except PncError as e:
        if e.code == xmlsig.SIGNATURE_ERROR:
            ctx.emit(SecurityIssue("signature_error", f"{REQUEST}: {e.detail}"))
        raise HandlerError(e.code, e.detail) from None
    ctx.ticket = f"{ctx.session_id}:{len(ctx.requested)}:{now:.3f}"
    message = {"V2G_Message": {"Header": dict(ctx.header), "Body": {REQUEST: req}}}
    ctx.emit(CertificateRequested(ctx.ticket, ACTION, message))
    return Pending(ANSWER_WITHIN_S, NO_CERTIFICATE), state


def resume(ctx: Context, now: float) -> tuple[dict[str, Any], str] | None:
    """The CSMS's answer, once the shell has put it into the view (None: still waiting)."""
    return relay(ctx, RESPONSE)


def relay(ctx: Context, response: str) -> tuple[dict[str, Any], str] | None:
    """The certificate provisioning service's response body with its signature (header), or the failure."""
    assert ctx.ticket is not None
    answer = ctx.evse.pnc_answers.pop(ctx.ticket, None)
    if answer is None:
        return None
    ctx.ticket = None
    if isinstance(answer, str):
        raise HandlerError(NO_CERTIFICATE, f"the CSMS gave no certificate: {answer}")
    try:
        v2g = answer["V2G_Message"]
        body = v2g["Body"][response]
        signature = v2g["Header"]["Signature"]
    except (KeyError, TypeError):
        raise HandlerError(NO_CERTIFICATE, f"the CSMS's answer is not a {response}") from None
    if not str(body.get("ResponseCode", "")).startswith("OK"):
        raise HandlerError(str(body.get("ResponseCode")), "the certificate provisioning service refused")
    ctx.response_signature = signature
    return dict(body), "PaymentDetails"


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """A schema-valid CertificateInstallationRes carrying ``code`` (placeholders where the schema wants content)."""
    return failed_body(code)


def failed_body(code: str) -> dict[str, Any]:
    """The body of a failed certificate response (the schema requires every element)."""
    return {
        "ResponseCode": code,
        "SAProvisioningCertificateChain": {"Certificate": ""},
        "ContractSignatureCertChain": {"Id": "id1", "Certificate": ""},
        "ContractSignatureEncryptedPrivateKey": {"Id": "id2", "value": ""},
        "DHpublickey": {"Id": "id3", "value": ""},
        "eMAID": {"Id": "id4", "value": "DEJSVC000000000"},
    }
