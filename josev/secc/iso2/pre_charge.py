"""ISO 15118-2 PreChargeReq -> PreChargeRes (DC)."""

from __future__ import annotations

from typing import Any

from josev.secc import common
from josev.secc.machine import Context

REQUEST = "PreChargeReq"
RESPONSE = "PreChargeRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """See :func:`josev.secc.common.pre_charge`."""
    res = common.pre_charge(ctx, req, "iso2")
    return res, state


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """PreChargeRes with a FAILED code."""
    return common.pre_charge_negative(ctx, code, "iso2")
