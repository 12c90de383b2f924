"""DIN SPEC 70121 CableCheckReq -> CableCheckRes."""

from __future__ import annotations

from typing import Any

from josev.secc import common
from josev.secc.machine import Context

REQUEST = "CableCheckReq"
RESPONSE = "CableCheckRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """See :func:`josev.secc.common.cable_check`."""
    res = common.cable_check(ctx, req, now, "din")
    return res, "PreCharge" if res["EVSEProcessing"] == "Finished" else "CableCheck"


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """CableCheckRes with a FAILED code."""
    return common.cable_check_negative(ctx, code, "din")
