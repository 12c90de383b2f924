"""The optional stream of decoded V2G messages for live views (``[secc] publish_messages``).

:class:`MessageStream` turns what a core step decoded and built (its ``trace``: ``(schema, message dict)``
pairs) into :class:`josev.api.secc.V2gMessage` events: at most ``rate`` per second and EVSE (token bucket,
burst ``2 x rate``; the rest are counted and reported in the next published one), every string value cut to
:data:`MAX_VALUE` characters, lists and maps to :data:`MAX_ITEMS` entries, a body whose JSON exceeds
:data:`MAX_BODY` characters left out, private keys (``...PrivateKey`` elements of certificate installation)
replaced. Pure: the SECC shell publishes what it returns; nothing here can fail a session (the shell guards it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from josev.api.secc import V2gMessage
from josev.secc.limits import TokenBucket

MAX_VALUE = 96
"""Characters kept of one string value (certificates, signatures and EXI blobs are cut)."""
MAX_ITEMS = 32
"""Entries kept of one list or map (schedules can be long)."""
MAX_DEPTH = 10
"""Nesting kept; deeper values are replaced."""
MAX_BODY = 4096
"""A body whose JSON is longer is left out (``body_truncated``)."""
REDACTED = "<redacted>"
SECRET_MARKERS = ("privatekey",)
"""Element names (lower case) whose values never leave the SECC."""


def split_message(msg: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(name, body, header)`` of a decoded message: DIN / ISO 15118-2 wrap it in ``V2G_Message``
    (``Header``, ``Body.<name>``), ISO 15118-20 and SAP messages are ``{<name>: {...}}`` (-20 with a
    ``Header`` inside)."""
    if "V2G_Message" in msg and isinstance(msg["V2G_Message"], dict):
        root = msg["V2G_Message"]
        raw_body, raw_header = root.get("Body"), root.get("Header")
        body: dict[str, Any] = raw_body if isinstance(raw_body, dict) else {}
        header: dict[str, Any] = raw_header if isinstance(raw_header, dict) else {}
        name = next(iter(body), "?")
        content = body.get(name)
        return str(name), content if isinstance(content, dict) else {}, header
    name = next(iter(msg), "?")
    content = msg.get(name)
    if not isinstance(content, dict):
        return str(name), {}, {}
    inner = content.get("Header")
    if isinstance(inner, dict):
        return str(name), {k: v for k, v in content.items() if k != "Header"}, inner
    return str(name), content, {}


@dataclass
class _Shrunk:
    cut: bool = False


def shrink(value: Any, state: _Shrunk, depth: int = 0) -> Any:
    """``value`` with long strings, lists and maps cut and private keys replaced (``state.cut`` set when
    anything was shortened)."""
    if depth >= MAX_DEPTH:
        state.cut = True
        return "..."
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                state.cut = True
                out["..."] = f"{len(value) - MAX_ITEMS} more"
                break
            key = str(k)[:MAX_VALUE]
            if any(m in key.lower() for m in SECRET_MARKERS):
                out[key] = REDACTED
            else:
                out[key] = shrink(v, state, depth + 1)
        return out
    if isinstance(value, list | tuple):
        items = [shrink(v, state, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            state.cut = True
            items.append(f"... {len(value) - MAX_ITEMS} more")
        return items
    if isinstance(value, str):
        if len(value) > MAX_VALUE:
            state.cut = True
            return f"{value[: MAX_VALUE - 16]}... ({len(value)} chars)"
        return value
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, bytes | bytearray):
        state.cut = True
        return f"({len(value)} bytes)"
    state.cut = True
    return str(value)[:MAX_VALUE]


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n]


@dataclass
class _EvseStream:
    bucket: TokenBucket
    seq: int = 0
    dropped: int = 0


class MessageStream:
    """Decoded messages -> rate-limited :class:`V2gMessage` events, per EVSE (see the module docstring)."""

    def __init__(self, rate: float = 50.0) -> None:
        if rate <= 0:
            raise ValueError("the message rate must be positive")
        self.rate = rate
        self._evses: dict[int, _EvseStream] = {}
        self.published = 0
        self.dropped = 0

    def messages(
        self, evse: int, connection: str, trace: list[tuple[str, dict[str, Any]]], now: float
    ) -> list[V2gMessage]:
        """The events for one core step's ``trace`` (in order); those over the rate are only counted."""
        st = self._evses.get(evse)
        if st is None:
            st = self._evses[evse] = _EvseStream(TokenBucket(self.rate, max(1, int(2 * self.rate)), now))
        out: list[V2gMessage] = []
        for schema, msg in trace:
            seq = st.seq
            st.seq += 1
            if not st.bucket.take(1, now):
                st.dropped += 1
                self.dropped += 1
                continue
            out.append(self.event(schema, msg, connection, seq, st.dropped))
            st.dropped = 0
            self.published += 1
        return out

    @staticmethod
    def event(schema: str, msg: dict[str, Any], connection: str, seq: int, dropped: int = 0) -> V2gMessage:
        """One decoded message as a bus event (shortened, private keys left out)."""
        name, body, header = split_message(msg if isinstance(msg, dict) else {})
        state = _Shrunk()
        small = shrink(body, state)
        if len(json.dumps(small, separators=(",", ":"), default=str)) > MAX_BODY:
            small, state.cut = {}, True
        code = body.get("ResponseCode")
        sid = header.get("SessionID")
        return V2gMessage(
            seq=seq,
            sender="secc" if name.endswith("Res") else "ev",
            protocol=_clip(schema, 16),
            message=_clip(name, 64),
            connection=_clip(connection, 16),
            session_id=_clip(sid, 32) if isinstance(sid, str) else "",
            response_code=_clip(code, 64) if isinstance(code, str) else "",
            body=small,
            body_truncated=state.cut,
            dropped=dropped,
        )
