"""PowerDelivery waits for the contactor: the shell holds a PowerDelivery Start/Stop response until the
coordinator confirms the contactor (``HlcPowerDelivery`` acknowledged), and on failure answers with the code the
standard names instead (ISO 15118-2 / -20 ``FAILED_ContactorError``, DIN SPEC 70121
``FAILED_PowerDeliveryNotApplied``), then ends the session.

Pure functions over what the core already produced (the response dict in its trace), so the cores stay
synchronous and sans-IO.
"""

from __future__ import annotations

import copy
from typing import Any

from josev.v2g import v2gtp
from josev.v2g.codec import Codec, CodecError

FAILED_CODE = {"din": "FAILED_PowerDeliveryNotApplied"}
"""The failure code per schema; every other schema (iso2, iso20-cm) uses ``FAILED_ContactorError``."""
DEFAULT_FAILED_CODE = "FAILED_ContactorError"


def _find_res(msg: Any) -> dict[str, Any] | None:
    if isinstance(msg, dict):
        res = msg.get("PowerDeliveryRes")
        if isinstance(res, dict):
            return res
        for v in msg.values():
            if (found := _find_res(v)) is not None:
                return found
    return None


def failed_code(schema: str) -> str:
    """The contactor failure code of a PowerDeliveryRes in ``schema``."""
    return FAILED_CODE.get(schema, DEFAULT_FAILED_CODE)


def fail_response(
    codec: Codec, frames: list[bytes], trace: list[tuple[str, dict[str, Any]]]
) -> list[bytes] | None:
    """``frames`` with the PowerDeliveryRes (the last one in ``trace``) re-encoded with the failure code;
    None when no PowerDeliveryRes is among them (nothing to rewrite)."""
    for schema, msg in reversed(trace):
        res = _find_res(msg)
        if res is None:
            continue
        failed = copy.deepcopy(msg)
        target = _find_res(failed)
        assert target is not None
        target["ResponseCode"] = failed_code(schema)
        try:
            payload = codec.encode(schema, failed)
        except CodecError:
            return None
        out = list(frames)
        for i in range(len(out) - 1, -1, -1):  # the response is the last frame the step sent
            ptype = int.from_bytes(out[i][2:4], "big")
            out[i] = v2gtp.frame(ptype, payload)
            return out
        return None
    return None


def power_delivery_request(events: list[Any]) -> bool | None:
    """True/False when ``events`` hold a PowerDelivery Start/Stop (contactor close/open), else None."""
    from josev.secc.events import PowerDeliveryRequested

    for e in events:
        if isinstance(e, PowerDeliveryRequested) and e.progress in ("Start", "Stop"):
            return e.progress == "Start"
    return None


def failed_trace(trace: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """``trace`` as the EV saw it after :func:`fail_response`: the last PowerDeliveryRes with the failure code
    (for the message stream; the trace itself is left alone)."""
    out = list(trace)
    for i in range(len(out) - 1, -1, -1):
        schema, msg = out[i]
        if _find_res(msg) is None:
            continue
        failed = copy.deepcopy(msg)
        target = _find_res(failed)
        assert target is not None
        target["ResponseCode"] = failed_code(schema)
        out[i] = (schema, failed)
        break
    return out
