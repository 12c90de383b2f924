"""DIN SPEC 70121 ServicePaymentSelectionReq -> ServicePaymentSelectionRes."""

from __future__ import annotations

from typing import Any

from josev.secc.machine import Context, HandlerError

REQUEST = "ServicePaymentSelectionReq"
RESPONSE = "ServicePaymentSelectionRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Accept ExternalPayment with the charge service (ServiceID 1)."""
    opt = req.get("SelectedPaymentOption")
    if opt != "ExternalPayment":
        raise HandlerError("FAILED_PaymentSelectionInvalid", f"payment option {opt!r}")
    services = (req.get("SelectedServiceList") or {}).get("SelectedService", [])
    if isinstance(services, dict):
        services = [services]
    ids = [s.get("ServiceID") for s in services if isinstance(s, dict)]
    if any(i != 1 for i in ids):
        raise HandlerError("FAILED_ServiceSelectionInvalid", f"services {ids}")
    ctx.payment = opt
    return {"ResponseCode": "OK"}, "ContractAuthentication"


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """ServicePaymentSelectionRes with a FAILED code."""
    return {"ResponseCode": code}
