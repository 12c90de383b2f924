"""DIN SPEC 70121 ContractAuthenticationReq -> ContractAuthenticationRes (EIM: Ongoing until authorized)."""

from __future__ import annotations

from typing import Any

from josev.secc import common
from josev.secc.machine import Context

REQUEST = "ContractAuthenticationReq"
RESPONSE = "ContractAuthenticationRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Answer Ongoing until the coordinator authorizes, then Finished."""
    res = common.authorization(ctx, now, REQUEST)
    return res, ("ChargeParameterDiscovery" if res["EVSEProcessing"] == "Finished" else state)


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """ContractAuthenticationRes with a FAILED code."""
    return {"ResponseCode": code, "EVSEProcessing": "Finished"}
