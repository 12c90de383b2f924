"""ISO 15118-2 AuthorizationReq -> AuthorizationRes (EIM: Ongoing until the coordinator authorizes)."""

from __future__ import annotations

from typing import Any

from josev.secc import common
from josev.secc.machine import Context

REQUEST = "AuthorizationReq"
RESPONSE = "AuthorizationRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Ongoing until decided; FAILED when rejected or after the ongoing limit."""
    res = common.authorization(ctx, now, REQUEST)
    return res, ("ChargeParameterDiscovery" if res["EVSEProcessing"] == "Finished" else state)


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """AuthorizationRes with a FAILED code."""
    return {"ResponseCode": code, "EVSEProcessing": "Finished"}
