"""ISO 15118-20 AuthorizationSetupReq -> AuthorizationSetupRes: the authorization services offered (EIM, and PnC
with a fresh GenChallenge when a PnC verifier is configured) and, with PnC and a reachable CSMS
(``Iso20Config.certificate_installation``), the CertificateInstallation service."""

from __future__ import annotations

import base64
from typing import Any

from josev.secc.iso20.context import Iso20Context

REQUEST = "AuthorizationSetupReq"
RESPONSE = "AuthorizationSetupRes"
SCHEMA = "iso20-cm"


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """List EIM / PnC; with PnC the response carries the 16-byte challenge the EV must sign."""
    services = []
    if ctx.config.eim or ctx.config.pnc is None:
        services.append("EIM")
    ctx.cert_offered = (
        ctx.config.pnc is not None and ctx.config.certificate_installation and ctx.station.csms_online
    )
    res: dict[str, Any] = {"ResponseCode": "OK", "CertificateInstallationService": ctx.cert_offered}
    if ctx.config.pnc is not None:
        services.append("PnC")
        ctx.challenge = ctx.new_challenge()
        res["PnC_ASResAuthorizationMode"] = {"GenChallenge": base64.b64encode(ctx.challenge).decode()}
    else:
        res["EIM_ASResAuthorizationMode"] = {}
    ctx.auth_services = tuple(services)
    res["AuthorizationServices"] = services
    return res, "Authorization"


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """AuthorizationSetupRes with a FAILED code."""
    return {
        "ResponseCode": code,
        "AuthorizationServices": ["EIM"],
        "CertificateInstallationService": False,
        "EIM_ASResAuthorizationMode": {},
    }
