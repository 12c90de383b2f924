"""ISO 15118-20 Plug & Charge for the -20 core: the contract verifier behind the ``Iso20Config.pnc`` seam.

It checks the ``PnC_AReqAuthorizationMode`` of an AuthorizationReq: the contract certificate chain against the MO
/ V2G roots at the station's wall-clock time (P-521 or Ed448 keys), and the header signature over the element's
EXI fragment with the contract key (ECDSA P-521/SHA-512 or Ed448). Codes as ISO 15118-20 names them:
``WARNING_CertificateExpired`` / ``WARNING_CertificateNotYetValid``, ``WARNING_eMSPUnknown`` (no installed root),
``WARNING_CertificateValidationError`` (anything else in the chain), ``FAILED_SignatureError``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from josev.pnc import PncError, contract, xmlsig
from josev.secc.events import ContractAuthorizationRequested, SecurityIssue
from josev.secc.iso20.context import Iso20Context


def _code(e: PncError) -> str:
    if e.code == contract.EXPIRED:
        return "WARNING_CertificateNotYetValid" if e.kind == "not_yet_valid" else "WARNING_CertificateExpired"
    if e.kind == "unknown_root":
        return "WARNING_eMSPUnknown"
    if e.code == xmlsig.SIGNATURE_ERROR:
        return "FAILED_SignatureError"
    return "WARNING_CertificateValidationError"


@dataclasses.dataclass(frozen=True)
class ContractVerifier:
    """``Iso20Config(pnc=ContractVerifier(roots))``: the roots are ``cryptography`` certificates; without
    ``roots`` the EVSE view's ``pnc_roots`` (kept current by the shell) are used."""

    roots: tuple[Any, ...] = ()

    def __call__(self, ctx: Iso20Context, mode: dict[str, Any]) -> str:
        """Verify the contract chain and the signature; emit the contract for authorization when both hold."""
        at = dt.datetime.fromtimestamp(ctx.now + ctx.config.wall_offset, dt.UTC)
        chain = mode.get("ContractCertificateChain") or {}
        try:
            leaf = contract.load_der(chain.get("Certificate", ""), "contract certificate")
            subs_raw = (chain.get("SubCertificates") or {}).get("Certificate") or []
            subs = [contract.load_der(c, f"Sub-CA certificate {i + 1}") for i, c in enumerate(subs_raw)]
            checked = contract.validate(leaf, subs, self.roots or ctx.evse.pnc_roots, at, protocol="iso20")
            ref_id = str(mode.get("Id") or "")
            if not ref_id:
                raise PncError(
                    xmlsig.SIGNATURE_ERROR, "PnC_AReqAuthorizationMode without Id cannot be signed"
                )
            fragment = xmlsig.fragment("iso20-cm", "PnC_AReqAuthorizationMode", mode)
            signature = ctx.header.get("Signature")
            xmlsig.verify(signature, [(ref_id, fragment)], checked.public_key, xmlsig.ISO20_SUITES)
        except PncError as e:
            if e.code == xmlsig.SIGNATURE_ERROR:
                ctx.emit(SecurityIssue("signature_error", e.detail))
            return _code(e)
        ctx.contract_key = checked.public_key
        ctx.emit(ContractAuthorizationRequested(checked.common_name, tuple(checked.hash_data())))
        return "OK"
