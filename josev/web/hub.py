"""What the live view shows, built from bus messages: pure (topic and decoded payload in, updates out).

:class:`LiveModel` keeps, all bounded:

* the latest value of every retained state and service status (at most :data:`MAX_STATES` topics);
* a ring of the last ``max_messages`` decoded V2G messages (``secc/<evse>/event/v2g_message``);
* a ring of the last ``max_events`` other events (session steps, HLC steps...; heartbeats are left out);
* per EVSE and curve a ring of the last ``max_points`` points, taken from the states that carry the session's
  numbers (EV targets, the DC output, the meter, the -20 EV power).

Every payload is validated against its message model (unknown and invalid ones are counted, not shown), then
made safe to show: tokens masked to their last four characters (``****abcd``), passwords, secrets and private
key material replaced, long strings, lists and deep nesting cut. The page escapes what it shows on top of this
(it sets text, never HTML).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from josev.api import base, topics

MAX_STATES = 256
"""Retained topics remembered at most (one per service, EVSE and state in practice)."""
MAX_STRING = 200
"""Characters kept of one string value."""
MAX_ITEMS = 40
"""Entries kept of one list or map."""
MAX_DEPTH = 8
"""Nesting kept."""
MASK = "****"
REDACTED = "<redacted>"
SECRET_MARKERS = ("password", "secret", "passphrase", "private", "key_file", "nmk")
"""Keys (lower case) whose values are never shown."""
TOKEN_KEYS = frozenset({"id_token", "idtoken", "emaid", "group_id", "groupidtoken", "token"})
"""Keys (lower case) whose values are shown masked."""
SKIPPED_EVENTS = frozenset({("coordinator", "heartbeat")})
"""Events that are noise on a live page."""

CURVES: dict[tuple[str, str], tuple[tuple[str, str, float], ...]] = {
    ("secc", "ev_target"): (
        ("voltage_v", "EV target voltage (V)", 1.0),
        ("current_a", "EV target current (A)", 1.0),
        ("soc_percent", "SoC (%)", 1.0),
    ),
    ("coordinator", "dc_supply"): (
        ("present_voltage_v", "present voltage (V)", 1.0),
        ("present_current_a", "present current (A)", 1.0),
    ),
    ("coordinator", "meter"): (
        ("power_w", "power (kW)", 0.001),
        ("session_energy_wh", "session energy (kWh)", 0.001),
    ),
    ("secc", "ev_power"): (
        ("present_power_w", "EV power (kW)", 0.001),
        ("soc_percent", "SoC (%)", 1.0),
    ),
}
"""``(service, state) -> (field, curve name, scale)``: the numbers drawn over time."""


def mask_token(value: str) -> str:
    """A token as the page shows it: its last four characters (all of it hidden when it is short)."""
    return MASK + value[-4:] if len(value) > 8 else MASK


@dataclass
class _Cut:
    cut: bool = False


def safe(value: Any, key: str = "", depth: int = 0, cut: _Cut | None = None) -> Any:
    """``value`` fit to show: secrets replaced, tokens masked, sizes bounded (see the module docstring)."""
    cut = cut if cut is not None else _Cut()
    low = key.lower()
    if value is not None and any(m in low for m in SECRET_MARKERS):
        return REDACTED
    if isinstance(value, str) and low in TOKEN_KEYS:
        return mask_token(value)
    if depth >= MAX_DEPTH:
        cut.cut = True
        return "..."
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                cut.cut = True
                out["..."] = f"{len(value) - MAX_ITEMS} more"
                break
            name = str(k)[:MAX_STRING]
            out[name] = safe(v, name, depth + 1, cut)
        return out
    if isinstance(value, list | tuple):
        items = [safe(v, key, depth + 1, cut) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            cut.cut = True
            items.append(f"... {len(value) - MAX_ITEMS} more")
        return items
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            cut.cut = True
            return value[:MAX_STRING] + "..."
        return value
    if isinstance(value, bool | int | float) or value is None:
        return value
    cut.cut = True
    return str(value)[:MAX_STRING]


class LiveModel:
    """The page's model; :meth:`feed` returns the updates to send to every open page."""

    def __init__(self, *, max_messages: int = 300, max_events: int = 100, max_points: int = 1200) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.messages: deque[dict[str, Any]] = deque(maxlen=max_messages)
        self.events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.max_points = max_points
        self.curves: dict[int, dict[str, deque[tuple[float, float]]]] = {}
        self.received = 0
        self.invalid = 0
        self.ignored = 0

    def snapshot(self) -> dict[str, Any]:
        """Everything the page needs when it (re)connects."""
        return {
            "type": "snapshot",
            "states": list(self.states.values()),
            "messages": list(self.messages),
            "events": list(self.events),
            "curves": {
                str(evse): {name: [[t, v] for t, v in pts] for name, pts in series.items()}
                for evse, series in self.curves.items()
            },
        }

    def feed(self, topic: str, payload: Any, now: float) -> list[dict[str, Any]]:
        """Take one bus message (``payload`` decoded, None when undecodable or a cleared state) received at
        wall-clock ``now`` (s); the updates for the pages."""
        self.received += 1
        parsed = topics.parse(topic)
        if parsed is None or parsed.kind not in ("state", "event", "status"):
            self.ignored += 1
            return []
        stamp = round(now * 1000)
        if parsed.kind == "status":
            return self._status(parsed, payload, stamp)
        assert parsed.name is not None
        cls = base.lookup(parsed.service, parsed.kind, parsed.name)
        if cls is None:
            self.ignored += 1
            return []
        key = f"{parsed.service}/{topics.scope(parsed.evse)}/{parsed.name}"
        if parsed.kind == "state" and (payload is None or payload == ""):
            if self.states.pop(key, None) is None:
                return []
            return [{"type": "state", "key": key, "cleared": True}]
        try:
            data = cls.model_validate(payload).model_dump(mode="json")
        except ValidationError:
            self.invalid += 1
            return []
        if parsed.kind == "event":
            return self._event(parsed, data, stamp)
        entry = {
            "type": "state",
            "key": key,
            "service": parsed.service,
            "evse": parsed.evse,
            "name": parsed.name,
            "time": stamp,
            "data": safe(data),
        }
        if key not in self.states and len(self.states) >= MAX_STATES:
            self.ignored += 1
            return []
        self.states[key] = entry
        return [entry, *self._points(parsed, data, stamp)]

    def _status(self, parsed: topics.ParsedTopic, payload: Any, stamp: int) -> list[dict[str, Any]]:
        key = f"{parsed.service}/status"
        if parsed.service in base.TOOLS | base.VIEWERS:  # command-line tools and viewers: noise
            return []
        if payload is None or payload == "":
            return [{"type": "state", "key": key, "cleared": True}] if self.states.pop(key, None) else []
        try:
            data = base.ServiceStatus.model_validate(payload).model_dump(mode="json")
        except ValidationError:
            self.invalid += 1
            return []
        if key not in self.states and len(self.states) >= MAX_STATES:
            return []
        entry = {
            "type": "state",
            "key": key,
            "service": parsed.service,
            "evse": None,
            "name": "status",
            "time": stamp,
            "data": safe({"state": data["state"], "detail": data["detail"]}),
        }
        self.states[key] = entry
        return [entry]

    def _event(self, parsed: topics.ParsedTopic, data: dict[str, Any], stamp: int) -> list[dict[str, Any]]:
        assert parsed.name is not None
        if (parsed.service, parsed.name) in SKIPPED_EVENTS:
            return []
        if (parsed.service, parsed.name) == ("secc", "v2g_message"):
            msg = {"type": "msg", "evse": parsed.evse, "time": stamp, **safe(data)}
            self.messages.append(msg)
            return [msg]
        ev = {
            "type": "event",
            "service": parsed.service,
            "evse": parsed.evse,
            "name": parsed.name,
            "time": stamp,
            "data": safe(data),
        }
        self.events.append(ev)
        return [ev]

    def _points(self, parsed: topics.ParsedTopic, data: dict[str, Any], stamp: int) -> list[dict[str, Any]]:
        spec = CURVES.get((parsed.service, parsed.name or ""))
        if spec is None or parsed.evse is None:
            return []
        series = self.curves.setdefault(parsed.evse, {})
        values: dict[str, float] = {}
        for field, name, scale in spec:
            v = data.get(field)
            if isinstance(v, int | float) and not isinstance(v, bool):
                values[name] = round(float(v) * scale, 6)
                series.setdefault(name, deque(maxlen=self.max_points)).append((stamp, values[name]))
        if not values:
            return []
        return [{"type": "points", "evse": parsed.evse, "time": stamp, "values": values}]
