"""The -20 message Header: a -20 message is one root element (``{"SessionSetupReq": {"Header": {...}, ...}}``)
in one of the -20 schemas; every response carries a Header with the SessionID and a TimeStamp. These are the
-20 data of the one engine's :class:`~josev.secc.machine.ProtocolSpec` (``split``, ``wrap``)."""

from __future__ import annotations

import re
from typing import Any

from josev.secc.iso20 import common
from josev.secc.iso20.context import Iso20Context
from josev.secc.machine import MalformedMessage, Split

_SID = re.compile(r"^[0-9A-Fa-f]{16}$")
ZERO_SID = "0" * 16


def split(msg: Any) -> Split:
    """``(session_id, root name, content, header)`` of a -20 message or :class:`MalformedMessage`."""
    if not isinstance(msg, dict) or len(msg) != 1:
        raise MalformedMessage("a -20 message has exactly one root element")
    name, content = next(iter(msg.items()))
    if not isinstance(content, dict):
        raise MalformedMessage(f"{name} is not an object")
    header = content.get("Header")
    if not isinstance(header, dict) or not isinstance(header.get("SessionID"), str):
        raise MalformedMessage("missing Header/SessionID")
    sid = header["SessionID"]
    if not _SID.match(sid):
        raise MalformedMessage(f"SessionID {sid!r} is not 8 bytes of hex")
    if not isinstance(header.get("TimeStamp"), int):
        raise MalformedMessage("missing Header/TimeStamp")
    return sid.upper(), name, content, header


def wrap(ctx: Iso20Context, name: str, body: dict[str, Any], now: float) -> dict[str, Any]:
    """The response root element with its Header (and a relayed Signature, if any)."""
    header: dict[str, Any] = {
        "SessionID": ctx.session_id or ZERO_SID,
        "TimeStamp": common.timestamp(ctx, now),
    }
    if ctx.response_signature is not None:
        header["Signature"] = ctx.response_signature
        ctx.response_signature = None
    return {name: {"Header": header, **body}}
