"""ISO 15118-2 AuthorizationReq -> AuthorizationRes.

EIM / ExternalPayment: Ongoing until the coordinator authorizes. Contract (Plug & Charge, [V2G2-684..691]): the
request must carry the GenChallenge of PaymentDetailsRes (else FAILED_ChallengeInvalid) and an Id, and the header
a signature over the request's EXI fragment made with the contract key (else FAILED_SignatureError); then it is
Ongoing until the contract is authorized through the bus, exactly like EIM.
"""

from __future__ import annotations

from typing import Any

from josev.pnc import PncError, xmlsig
from josev.secc import common
from josev.secc.events import SecurityIssue
from josev.secc.machine import Context, HandlerError

REQUEST = "AuthorizationReq"
RESPONSE = "AuthorizationRes"


def _check_contract(ctx: Context, req: dict[str, Any]) -> None:
    """The challenge and the signature of a Plug & Charge AuthorizationReq."""
    if ctx.contract is None or ctx.gen_challenge is None:
        raise HandlerError("FAILED_SequenceError", "Contract authorization before PaymentDetails")
    if req.get("GenChallenge") != ctx.gen_challenge:
        ctx.emit(SecurityIssue("challenge_invalid", "AuthorizationReq does not carry the challenge sent"))
        raise HandlerError(
            "FAILED_ChallengeInvalid", "GenChallenge differs from the one sent in PaymentDetailsRes"
        )
    ref_id = req.get("Id")
    if not isinstance(ref_id, str) or not ref_id:
        raise HandlerError("FAILED_SignatureError", "AuthorizationReq without Id cannot be signed")
    try:
        fragment = xmlsig.fragment("iso2", "AuthorizationReq", req)
        xmlsig.verify(
            ctx.header.get("Signature"), [(ref_id, fragment)], ctx.contract.public_key, [xmlsig.ISO2]
        )
    except PncError as e:
        ctx.emit(SecurityIssue("signature_error", e.detail))
        raise HandlerError(e.code, e.detail) from None


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Ongoing until decided; FAILED when rejected or after the ongoing limit."""
    if ctx.payment == "Contract":
        _check_contract(ctx, req)
    res = common.authorization(ctx, now, REQUEST)
    return res, ("ChargeParameterDiscovery" if res["EVSEProcessing"] == "Finished" else state)


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """AuthorizationRes with a FAILED code."""
    return {"ResponseCode": code, "EVSEProcessing": "Finished"}
