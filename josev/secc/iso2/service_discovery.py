"""ISO 15118-2 ServiceDiscoveryReq -> ServiceDiscoveryRes."""

from __future__ import annotations

from typing import Any

from josev.secc.machine import Context

REQUEST = "ServiceDiscoveryReq"
RESPONSE = "ServiceDiscoveryRes"


def _charge_service(ctx: Context) -> dict[str, Any]:
    return {
        "ServiceID": 1,
        "ServiceCategory": "EVCharging",
        "FreeService": ctx.evse.free_service,
        "SupportedEnergyTransferMode": {"EnergyTransferMode": list(ctx.evse.energy_modes)},
    }


def payment_options(ctx: Context) -> list[str]:
    """The payment options of this connection: Contract (Plug & Charge) only over TLS with trust anchors."""
    opts = [
        p
        for p in ctx.evse.payment_options
        if p == "ExternalPayment" or (p == "Contract" and ctx.tls and ctx.evse.pnc_roots)
    ]
    return opts or ["ExternalPayment"]


CERTIFICATE_SERVICE = {
    "ServiceID": 2,
    "ServiceName": "Certificate",
    "ServiceCategory": "ContractCertificate",
    "FreeService": True,
}
"""The value-added service for contract certificate installation and update (offered with Contract)."""


def services(ctx: Context) -> list[dict[str, Any]]:
    """Value-added services of this connection: the configured ones, and Certificate when Contract is offered."""
    out = [dict(s) for s in ctx.evse.extra_services]
    if "Contract" in payment_options(ctx) and all(s.get("ServiceID") != 2 for s in out):
        out.append(dict(CERTIFICATE_SERVICE))
    return out


def _payment(ctx: Context) -> dict[str, Any]:
    return {"PaymentOption": payment_options(ctx)}


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Offer the payment options, the charge service and any value-added services."""
    res: dict[str, Any] = {
        "ResponseCode": "OK",
        "PaymentOptionList": _payment(ctx),
        "ChargeService": _charge_service(ctx),
    }
    if extra := services(ctx):
        res["ServiceList"] = {"Service": extra}
    return res, "PaymentServiceSelection"


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """ServiceDiscoveryRes with a FAILED code."""
    return {"ResponseCode": code, "PaymentOptionList": _payment(ctx), "ChargeService": _charge_service(ctx)}
