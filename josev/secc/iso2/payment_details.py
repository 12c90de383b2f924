"""ISO 15118-2 PaymentDetailsReq -> PaymentDetailsRes (Plug & Charge, [V2G2-544..549]).

The EV sends its EMAID and contract certificate chain. The SECC checks the chain against the MO / V2G roots it
holds (validity at the station's wall-clock time, signatures, CA flags, path length, key usage, P-256 keys) and
the EMAID against the leaf, then answers with a fresh 16-byte GenChallenge that the EV must sign in its
AuthorizationReq. The contract is then authorized through the bus (:class:`ContractAuthorizationRequested`).
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from typing import Any

from josev.pnc import PncError, contract
from josev.secc.events import ContractAuthorizationRequested
from josev.secc.machine import Context, HandlerError

REQUEST = "PaymentDetailsReq"
RESPONSE = "PaymentDetailsRes"


def station_time(ctx: Context, now: float) -> dt.datetime:
    """The station's wall-clock time (certificates are valid or not in real time)."""
    if ctx.evse.wall_offset is None:
        raise HandlerError("FAILED", "the station has no wall clock to check certificates against")
    return dt.datetime.fromtimestamp(now + ctx.evse.wall_offset, dt.UTC)


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Validate the contract chain and the EMAID; answer with a GenChallenge."""
    if ctx.payment != "Contract":
        raise HandlerError("FAILED_SequenceError", "PaymentDetails without the Contract payment option")
    emaid = req.get("eMAID")
    chain = req.get("ContractSignatureCertChain")
    if not isinstance(emaid, str) or not isinstance(chain, dict):
        raise HandlerError("FAILED", "PaymentDetailsReq without eMAID or ContractSignatureCertChain")
    at = station_time(ctx, now)
    try:
        leaf = contract.load_der(chain.get("Certificate", ""), "contract certificate")
        subs_raw = (chain.get("SubCertificates") or {}).get("Certificate") or []
        subs = [contract.load_der(c, f"Sub-CA certificate {i + 1}") for i, c in enumerate(subs_raw)]
        checked = contract.validate(leaf, subs, ctx.evse.pnc_roots, at, protocol="iso2", emaid=emaid)
    except PncError as e:
        raise HandlerError(e.code, e.detail) from None
    ctx.contract = checked
    ctx.gen_challenge = base64.b64encode(secrets.token_bytes(16)).decode()
    ctx.emit(ContractAuthorizationRequested(checked.common_name, tuple(checked.hash_data())))
    return {
        "ResponseCode": "OK",
        "GenChallenge": ctx.gen_challenge,
        "EVSETimeStamp": int(at.timestamp()),
    }, "Authorization"


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """PaymentDetailsRes with a FAILED code (the schema wants a challenge and a time stamp)."""
    return {"ResponseCode": code, "GenChallenge": base64.b64encode(bytes(16)).decode(), "EVSETimeStamp": 0}
