"""ISO 15118-20 ServiceDetailReq -> ServiceDetailRes: the parameter sets of one offered service."""

from __future__ import annotations

from typing import Any

from josev.secc.iso20 import services
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import HandlerError

REQUEST = "ServiceDetailReq"
RESPONSE = "ServiceDetailRes"
SCHEMA = "iso20-cm"

_PLACEHOLDER = {"ParameterSetID": 1, "Parameter": [{"Name": "ControlMode", "intValue": 1}]}


def handle(ctx: Iso20Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """FAILED_ServiceIDInvalid for a service that was not offered."""
    sid = req.get("ServiceID")
    if not isinstance(sid, int) or sid not in ctx.offered_services:
        raise HandlerError("FAILED_ServiceIDInvalid", f"ServiceID {sid!r} not offered")
    sets = [p.as_dict() for p in services.parameter_sets(ctx, sid)]
    return {"ResponseCode": "OK", "ServiceID": sid, "ServiceParameterList": {"ParameterSet": sets}}, state


def negative(ctx: Iso20Context, code: str) -> dict[str, Any]:
    """ServiceDetailRes with a FAILED code."""
    return {"ResponseCode": code, "ServiceID": 0, "ServiceParameterList": {"ParameterSet": [_PLACEHOLDER]}}
