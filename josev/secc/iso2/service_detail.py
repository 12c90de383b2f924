"""ISO 15118-2 ServiceDetailReq -> ServiceDetailRes."""

from __future__ import annotations

from typing import Any

from josev.secc.machine import Context, HandlerError

REQUEST = "ServiceDetailReq"
RESPONSE = "ServiceDetailRes"


def offered_ids(ctx: Context) -> set[int]:
    """ServiceIDs the SECC offers (1 = charge service)."""
    return {1} | {int(s["ServiceID"]) for s in ctx.evse.extra_services}


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Details of an offered service; FAILED_ServiceIDInvalid for any other."""
    sid = req.get("ServiceID")
    if not isinstance(sid, int) or sid not in offered_ids(ctx):
        raise HandlerError("FAILED_ServiceIDInvalid", f"ServiceID {sid!r}")
    res: dict[str, Any] = {"ResponseCode": "OK", "ServiceID": sid}
    params = ctx.evse.service_parameters.get(sid)
    if params:
        res["ServiceParameterList"] = params
    return res, state


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """ServiceDetailRes with a FAILED code."""
    return {"ResponseCode": code, "ServiceID": 1}
