"""ISO 15118-2 CertificateUpdateReq -> CertificateUpdateRes (Plug & Charge, [V2G2-826..835]).

The EV renews its contract: it sends the old contract chain and its EMAID, signed with the old contract key. The
SECC checks the old chain against its roots (it may be close to expiry but must still be valid), the EMAID and
the signature, then waits for the CSMS as for an installation (:mod:`certificate_installation`).
"""

from __future__ import annotations

from typing import Any

from josev.pnc import PncError, contract, xmlsig
from josev.secc.events import CertificateRequested, SecurityIssue
from josev.secc.iso2 import certificate_installation as install
from josev.secc.iso2.payment_details import station_time
from josev.secc.machine import Context, HandlerError, Pending

REQUEST = "CertificateUpdateReq"
RESPONSE = "CertificateUpdateRes"
ACTION = "Update"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any] | Pending, str]:
    """Check the old contract and the EV's signature, then wait for the CSMS's answer."""
    if ctx.payment != "Contract":
        raise HandlerError("FAILED_SequenceError", f"{REQUEST} without the Contract payment option")
    ref_id = req.get("Id")
    chain = req.get("ContractSignatureCertChain")
    if not isinstance(ref_id, str) or not ref_id or not isinstance(chain, dict):
        raise HandlerError("FAILED", f"{REQUEST} without Id or ContractSignatureCertChain")
    try:
        leaf = contract.load_der(chain.get("Certificate", ""), "contract certificate")
        subs_raw = (chain.get("SubCertificates") or {}).get("Certificate") or []
        subs = [contract.load_der(c, f"Sub-CA certificate {i + 1}") for i, c in enumerate(subs_raw)]
        checked = contract.validate(
            leaf, subs, ctx.evse.pnc_roots, station_time(ctx, now), protocol="iso2", emaid=req.get("eMAID")
        )
        fragment = xmlsig.fragment("iso2", REQUEST, req)
        xmlsig.verify(ctx.header.get("Signature"), [(ref_id, fragment)], checked.public_key, [xmlsig.ISO2])
    except PncError as e:
        if e.code == xmlsig.SIGNATURE_ERROR:
            ctx.emit(SecurityIssue("signature_error", f"{REQUEST}: {e.detail}"))
        raise HandlerError(e.code, e.detail) from None
    ctx.ticket = f"{ctx.session_id}:{len(ctx.requested)}:{now:.3f}"
    message = {"V2G_Message": {"Header": dict(ctx.header), "Body": {REQUEST: req}}}
    ctx.emit(CertificateRequested(ctx.ticket, ACTION, message))
    return Pending(install.ANSWER_WITHIN_S, install.NO_CERTIFICATE), state


def resume(ctx: Context, now: float) -> tuple[dict[str, Any], str] | None:
    """The CSMS's answer, once the shell has put it into the view (None: still waiting)."""
    return install.relay(ctx, RESPONSE)


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """A schema-valid CertificateUpdateRes carrying ``code``."""
    return install.failed_body(code)
