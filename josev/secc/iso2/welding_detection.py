"""ISO 15118-2 WeldingDetectionReq -> WeldingDetectionRes (DC)."""

from __future__ import annotations

from typing import Any

from josev.secc import common
from josev.secc.machine import Context

REQUEST = "WeldingDetectionReq"
RESPONSE = "WeldingDetectionRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """See :func:`josev.secc.common.welding_detection`."""
    res = common.welding_detection(ctx, req, "iso2")
    return res, state


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """WeldingDetectionRes with a FAILED code."""
    return common.welding_detection_negative(ctx, code, "iso2")
