"""DIN SPEC 70121 WeldingDetectionReq -> WeldingDetectionRes."""

from __future__ import annotations

from typing import Any

from josev.secc import common
from josev.secc.machine import Context

REQUEST = "WeldingDetectionReq"
RESPONSE = "WeldingDetectionRes"


def handle(ctx: Context, req: dict[str, Any], now: float, state: str) -> tuple[dict[str, Any], str]:
    """See :func:`josev.secc.common.welding_detection`."""
    res = common.welding_detection(ctx, req, "din")
    return res, state


def negative(ctx: Context, code: str) -> dict[str, Any]:
    """WeldingDetectionRes with a FAILED code."""
    return common.welding_detection_negative(ctx, code, "din")
