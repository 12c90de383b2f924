"""OCPP-J RPC framing (OCPP 2.0.1 part 4): CALL, CALLRESULT and CALLERROR as plain values, sans-IO."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CALL = 2
CALLRESULT = 3
CALLERROR = 4

ERROR_CODES = frozenset(
    {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    }
)
"""The RPC framework error codes of OCPP-J 2.0.1 (section 4.3)."""

MAX_ID_LEN = 36


@dataclass(frozen=True, slots=True)
class Call:
    """A request: ``[2, uniqueId, action, payload]``."""

    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    """A response: ``[3, uniqueId, payload]``."""

    unique_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    """An error response: ``[4, uniqueId, errorCode, errorDescription, errorDetails]``."""

    unique_id: str
    code: str
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)


Frame = Call | CallResult | CallError


class RpcError(Exception):
    """A frame we cannot accept; ``unique_id`` is what the CALLERROR must carry (``-1`` if unknown)."""

    def __init__(self, code: str, description: str, unique_id: str = "-1", action: str | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.unique_id = unique_id
        self.action = action

    def to_frame(self) -> CallError:
        """The CALLERROR that answers the offending frame."""
        return CallError(self.unique_id, self.code, self.description[:255], {})


def parse(text: str | bytes) -> Frame:
    """Parse one websocket text message into a frame. Raises :class:`RpcError` on malformed input.

    Payload contents are not validated here (see :mod:`josev.ocpp.schemas`).
    """
    if isinstance(text, bytes):
        raise RpcError("RpcFrameworkError", "binary websocket frames are not OCPP-J")
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RpcError("RpcFrameworkError", f"not JSON: {exc}") from None
    if not isinstance(msg, list) or len(msg) < 3:
        raise RpcError("RpcFrameworkError", "a message must be a JSON array of at least 3 elements")
    mtype, uid = msg[0], msg[1]
    if not isinstance(uid, str) or not uid or len(uid) > MAX_ID_LEN:
        raise RpcError("RpcFrameworkError", "messageId must be a string of 1..36 characters")
    if not isinstance(mtype, int) or isinstance(mtype, bool):
        raise RpcError("RpcFrameworkError", "messageTypeId must be an integer", uid)
    if mtype == CALL:
        if len(msg) != 4:
            raise RpcError("RpcFrameworkError", "a CALL has 4 elements", uid)
        action, payload = msg[2], msg[3]
        if not isinstance(action, str) or not action:
            raise RpcError("RpcFrameworkError", "action must be a non-empty string", uid)
        if not isinstance(payload, dict):
            raise RpcError("FormatViolation", "payload must be a JSON object", uid, action)
        return Call(uid, action, payload)
    if mtype == CALLRESULT:
        if len(msg) != 3 or not isinstance(msg[2], dict):
            raise RpcError("FormatViolation", "a CALLRESULT is [3, id, {payload}]", uid)
        return CallResult(uid, msg[2])
    if mtype == CALLERROR:
        if len(msg) != 5 or not isinstance(msg[2], str) or not isinstance(msg[3], str):
            raise RpcError("FormatViolation", "a CALLERROR is [4, id, code, description, {details}]", uid)
        details = msg[4] if isinstance(msg[4], dict) else {}
        return CallError(uid, msg[2], msg[3], details)
    raise RpcError("MessageTypeNotSupported", f"unknown messageTypeId {mtype}", uid)


def encode(frame: Frame) -> str:
    """Serialise a frame to the JSON text sent on the websocket."""
    body: list[Any]
    if isinstance(frame, Call):
        body = [CALL, frame.unique_id, frame.action, frame.payload]
    elif isinstance(frame, CallResult):
        body = [CALLRESULT, frame.unique_id, frame.payload]
    else:
        body = [CALLERROR, frame.unique_id, frame.code, frame.description, frame.details]
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
