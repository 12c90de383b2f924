"""DIN SPEC 70121 ServiceDiscoveryReq -> ServiceDiscoveryRes."""

from __future__ import annotations

from typing import Any

from josev.secc.machine import Context

REQUEST = "ServiceDiscoveryReq"
RESPONSE = "ServiceDiscoveryRes"


def _service(ctx: Context) -> dict[str, Any]:
    dc = [m for m in ctx.evse.energy_modes if m.startswith("DC")]
    return {
        "ServiceTag": {"ServiceID": 1, "ServiceCategory": "EVCharging"},
        "FreeService": ctx.evse.free_service,
        "EnergyTransferType": dc[0] if dc else "DC_extended",
    }


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Offer ExternalPayment and the DC charge service."""
    opts = [p for p in ctx.evse.payment_options if p == "ExternalPayment"] or ["ExternalPayment"]
    return (
        {"ResponseCode": "OK", "PaymentOptions": {"PaymentOption": opts}, "ChargeService": _service(ctx)},
        "ServicePaymentSelection",
    )


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """ServiceDiscoveryRes with a FAILED code."""
    return {
        "ResponseCode": code,
        "PaymentOptions": {"PaymentOption": ["ExternalPayment"]},
        "ChargeService": _service(ctx),
    }
