"""ISO 15118-2 ServiceDetailReq -> ServiceDetailRes."""

from __future__ import annotations

from typing import Any

from josev.secc.machine import Context, HandlerError

REQUEST = "ServiceDetailReq"
RESPONSE = "ServiceDetailRes"


#: ServiceDetailRes of the Certificate service: parameter set 1 installation, 2 update
CERTIFICATE_PARAMETERS = {
    "ParameterSet": [
        {"ParameterSetID": 1, "Parameter": [{"Name": "Service", "stringValue": "Installation"}]},
        {"ParameterSetID": 2, "Parameter": [{"Name": "Service", "stringValue": "Update"}]},
    ]
}


def offered_ids(ctx: Context) -> set[int]:
    """ServiceIDs the SECC offers on this connection (1 = charge service, 2 = Certificate with Contract)."""
    from josev.secc.iso2.service_discovery import services

    return {1} | {int(s["ServiceID"]) for s in services(ctx)}


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Details of an offered service; FAILED_ServiceIDInvalid for any other."""
    sid = req.get("ServiceID")
    if not isinstance(sid, int) or sid not in offered_ids(ctx):
        raise HandlerError("FAILED_ServiceIDInvalid", f"ServiceID {sid!r}")
    res: dict[str, Any] = {"ResponseCode": "OK", "ServiceID": sid}
    params = ctx.evse.service_parameters.get(sid) or (CERTIFICATE_PARAMETERS if sid == 2 else None)
    if params:
        res["ServiceParameterList"] = params
    return res, state


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """ServiceDetailRes with a FAILED code."""
    return {"ResponseCode": code, "ServiceID": 1}
