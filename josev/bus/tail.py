"""Human-readable rendering of bus traffic for ``josev bus tail``."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from josev.api import base, topics


@dataclass(frozen=True)
class TailFilter:
    """Which messages to show (None: any)."""

    service: str | None = None
    evse: int | None = None
    kind: str | None = None
    name: str | None = None

    def matches(self, parsed: topics.ParsedTopic) -> bool:
        """Whether a topic passes the filter."""
        return (
            (self.service is None or parsed.service == self.service)
            and (self.evse is None or parsed.evse == self.evse)
            and (self.kind is None or parsed.kind == self.kind)
            and (self.name is None or parsed.name == self.name)
        )


def _compact(obj: Any) -> str:
    if isinstance(obj, dict):
        return " ".join(
            f"{k}={_compact(v) if isinstance(v, dict | list) else _scalar(v)}" for k, v in obj.items()
        )
    return json.dumps(obj, separators=(",", ":"), default=str)


def _scalar(v: Any) -> str:
    if isinstance(v, str):
        return v if v and " " not in v else json.dumps(v)
    return json.dumps(v, default=str)


def render(topic: str, payload: Any, *, now: dt.datetime | None = None, as_json: bool = False) -> str | None:
    """One line for a bus message, or None when the topic is not a josev topic.

    Known messages are validated against their model; an invalid one is shown flagged ``INVALID``.
    """
    parsed = topics.parse(topic)
    if parsed is None:
        return None
    stamp = (now or dt.datetime.now()).strftime("%H:%M:%S.%f")[:-3]
    where = "station" if parsed.evse is None else f"evse{parsed.evse}"
    label = f"{parsed.service}/{where} {parsed.kind} {parsed.name or ''}".rstrip()
    note = ""
    if parsed.kind in topics.KINDS and parsed.name:
        cls = base.lookup(parsed.service, parsed.kind, parsed.name)
        if cls is None:
            note = " (unknown message)"
        elif payload is not None and payload != "":
            try:
                cls.model_validate(payload)
            except ValidationError as exc:
                note = f" INVALID ({exc.error_count()} error(s))"
    elif parsed.kind == "status" and isinstance(payload, dict):
        label = f"{parsed.service} status"
    if payload is None or payload == "":
        body = "(cleared)" if parsed.kind == "state" else "(undecodable payload)"
    elif as_json:
        body = json.dumps(payload, separators=(",", ":"), default=str)
    else:
        body = _compact(payload)
    return f"{stamp} {label}{note}: {body}"
