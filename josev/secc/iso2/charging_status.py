"""ISO 15118-2 ChargingStatusReq -> ChargingStatusRes (AC charging loop)."""

from __future__ import annotations

from typing import Any

from josev.secc import common
from josev.secc.iso2 import metering_receipt
from josev.secc.machine import Context
from josev.v2g.physical import pv

REQUEST = "ChargingStatusReq"
RESPONSE = "ChargingStatusRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """Report the maximum current and the notification (StopCharging / ReNegotiation); on Contract sessions,
    ask for a metering receipt when one is due (:func:`metering_receipt.offer`)."""
    common.check_session_ok(ctx)
    res: dict[str, Any] = {
        "ResponseCode": "OK",
        "EVSEID": ctx.evse.evse_id,
        "SAScheduleTupleID": ctx.schedule_id,
        "EVSEMaxCurrent": pv(ctx.evse.limits.ac_max_current, "A"),
        "AC_EVSEStatus": common.ac_status(ctx),
    }
    return res, metering_receipt.offer(ctx, res, now, state)


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """ChargingStatusRes with a FAILED code."""
    return {
        "ResponseCode": code,
        "EVSEID": ctx.evse.evse_id,
        "SAScheduleTupleID": ctx.schedule_id,
        "AC_EVSEStatus": common.ac_status(ctx),
    }
