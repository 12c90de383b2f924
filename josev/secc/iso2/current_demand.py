"""ISO 15118-2 CurrentDemandReq -> CurrentDemandRes (DC)."""

from __future__ import annotations

from typing import Any

from josev.secc import common
from josev.secc.iso2 import metering_receipt
from josev.secc.machine import Context

REQUEST = "CurrentDemandReq"
RESPONSE = "CurrentDemandRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """See :func:`josev.secc.common.current_demand`; on Contract sessions, ask for a metering receipt when one
    is due (:func:`metering_receipt.offer`)."""
    res = common.current_demand(ctx, req, "iso2")
    return res, metering_receipt.offer(ctx, res, now, state)


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """CurrentDemandRes with a FAILED code."""
    return common.current_demand_negative(ctx, code, "iso2")
