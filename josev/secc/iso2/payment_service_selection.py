"""ISO 15118-2 PaymentServiceSelectionReq -> PaymentServiceSelectionRes."""

from __future__ import annotations

from typing import Any

from josev.secc.iso2.service_detail import offered_ids
from josev.secc.iso2.service_discovery import payment_options
from josev.secc.machine import Context, HandlerError

REQUEST = "PaymentServiceSelectionReq"
RESPONSE = "PaymentServiceSelectionRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Check the payment option and the selected services (the charge service must be among them)."""
    opt = req.get("SelectedPaymentOption")
    if opt not in payment_options(ctx):
        raise HandlerError("FAILED_PaymentSelectionInvalid", f"payment option {opt!r} not offered")
    services = (req.get("SelectedServiceList") or {}).get("SelectedService", [])
    if isinstance(services, dict):
        services = [services]
    ids = [s.get("ServiceID") for s in services if isinstance(s, dict)]
    if 1 not in ids:
        raise HandlerError("FAILED_NoChargeServiceSelected", f"services {ids}")
    if any(i not in offered_ids(ctx) for i in ids):
        raise HandlerError("FAILED_ServiceSelectionInvalid", f"services {ids}")
    ctx.payment = str(opt)
    return {"ResponseCode": "OK"}, ("PaymentDetails" if opt == "Contract" else "Authorization")


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """PaymentServiceSelectionRes with a FAILED code."""
    return {"ResponseCode": code}
