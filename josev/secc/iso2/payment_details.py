"""ISO 15118-2 PaymentDetailsReq -> PaymentDetailsRes (Plug & Charge, [V2G2-544..549]).

The EV sends its EMAID and contract certificate chain. The SECC checks the chain against the MO / V2G roots it
holds (validity at the station's wall-clock time, signatures, CA flags, path length, key usage, P-256 keys) and
the EMAID against the leaf, then answers with a fresh 16-byte GenChallenge that the EV must sign in its
AuthorizationReq. The contract is then authorized through the bus (:class:`ContractAuthorizationRequested`).

OCSP (``EvseView.ocsp_policy`` ``soft`` / ``hard``): when certificates of the chain name an OCSP responder, the
response waits (:class:`Pending`) while the shell fetches their OCSP answers through the OCPP service
(:class:`OcspStatusRequested`); the core checks them itself (:mod:`josev.pnc.ocsp`). A revoked certificate:
FAILED_CertificateRevoked. No usable answer within :data:`OCSP_WAIT_S` (or ``unknown``): ``soft`` goes on,
``hard`` answers FAILED.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from typing import Any

from cryptography import x509

from josev.pnc import PncError, contract, ocsp
from josev.secc.events import ContractAuthorizationRequested, OcspStatusRequested, SecurityIssue
from josev.secc.machine import Context, HandlerError, Pending

REQUEST = "PaymentDetailsReq"
RESPONSE = "PaymentDetailsRes"
#: how long the OCSP answers may take (the EV waits 5 s for PaymentDetailsRes)
OCSP_WAIT_S = 4.0


def station_time(ctx: Context, now: float) -> dt.datetime:
    """The station's wall-clock time (certificates are valid or not in real time)."""
    if ctx.evse.wall_offset is None:
        raise HandlerError("FAILED", "the station has no wall clock to check certificates against")
    return dt.datetime.fromtimestamp(now + ctx.evse.wall_offset, dt.UTC)


def ocsp_targets(chain: contract.Chain) -> list[tuple[x509.Certificate, x509.Certificate]]:
    """(certificate, issuer) of every certificate of the chain that names an OCSP responder (leaf first)."""
    certs = (chain.leaf, *chain.sub_cas)
    issuers = (*chain.sub_cas, chain.root)
    return [(c, i) for c, i in zip(certs, issuers, strict=True) if contract.ocsp_url(c)]


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any] | Pending, str]:
    """Validate the contract chain and the EMAID; answer with a GenChallenge (after OCSP, when asked for)."""
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
    if ctx.evse.ocsp_policy in ("soft", "hard") and ocsp_targets(checked):
        hash_data = checked.hash_data()
        wanted = tuple(h for h in hash_data if h.get("responderURL"))
        ctx.ticket = f"{ctx.session_id}:ocsp:{now:.3f}"
        ctx.ongoing_since["ocsp"] = now
        ctx.emit(OcspStatusRequested(ctx.ticket, wanted))
        return Pending(OCSP_WAIT_S + 1.0), state
    return _accept(ctx, now), "Authorization"


def _accept(ctx: Context, now: float) -> dict[str, Any]:
    checked = ctx.contract
    ctx.gen_challenge = base64.b64encode(secrets.token_bytes(16)).decode()
    ctx.emit(ContractAuthorizationRequested(checked.common_name, tuple(checked.hash_data())))
    return {
        "ResponseCode": "OK",
        "GenChallenge": ctx.gen_challenge,
        "EVSETimeStamp": int(station_time(ctx, now).timestamp()),
    }


def resume(ctx: Context, now: float) -> tuple[dict[str, Any], str] | None:
    """The OCSP answers (base64 DER OCSPResponse or None per certificate, in the order asked), checked; None
    while they may still come."""
    assert ctx.ticket is not None
    answer = ctx.evse.pnc_answers.pop(ctx.ticket, None)
    if answer is None and not ctx.ongoing("ocsp", now, OCSP_WAIT_S):
        return None
    ctx.ticket = None
    ctx.done("ocsp")
    targets = ocsp_targets(ctx.contract)
    at = station_time(ctx, now)
    answers: list[Any] = list(answer) if isinstance(answer, list | tuple) else []
    doubtful = []
    for i, (cert, issuer) in enumerate(targets):
        raw = answers[i] if i < len(answers) else None
        if not isinstance(raw, str):
            doubtful.append(f"{contract.common_name(cert)}: no OCSP answer")
            continue
        try:
            der = base64.b64decode(raw, validate=True)
        except ValueError:
            doubtful.append(f"{contract.common_name(cert)}: OCSP answer is not base64")
            continue
        st = ocsp.check(der, cert, issuer, at)
        if st.status == ocsp.REVOKED:
            raise HandlerError(contract.REVOKED, f"{contract.common_name(cert)} is revoked (OCSP)")
        if st.status != ocsp.GOOD:
            doubtful.append(f"{contract.common_name(cert)}: OCSP {st.status} {st.detail}".strip())
    if doubtful and ctx.evse.ocsp_policy == "hard":
        raise HandlerError("FAILED", "revocation status not established: " + "; ".join(doubtful))
    if doubtful:  # soft: the contract goes on, but never silently (a skewed clock looks exactly like this)
        ctx.emit(
            SecurityIssue("ocsp_unconfirmed", "accepted without revocation status: " + "; ".join(doubtful))
        )
    return _accept(ctx, now), "Authorization"


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """PaymentDetailsRes with a FAILED code (the schema wants a challenge and a time stamp)."""
    return {"ResponseCode": code, "GenChallenge": base64.b64encode(bytes(16)).decode(), "EVSETimeStamp": 0}
