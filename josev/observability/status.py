"""The station status as one screen, built from the retained bus state (sans-IO).

:class:`Snapshot` is fed the (topic, decoded payload) pairs a bus client receives after subscribing to
``josev/v1/#``: service liveness (``<svc>/status``), retained states per EVSE or station-wide, and - in watch
mode - the latest session events. :func:`render` turns it into text: services, station (identity, board, CSMS
connection), one block per EVSE and the sessions. Known messages get a tailored line; any other retained state
is shown generically (``service/name: key=value ...``), so a new service appears without changing this module.
Payloads that do not validate against their model are shown flagged ``INVALID`` and counted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from josev.api import base, topics

Payload = dict[str, Any]
Key = tuple[str, str]  # (service, message name)


TOOLS = frozenset({"cli"}) | base.VIEWERS
"""Bus users that are command-line tools (``josev status``, ``bus tail``...): no row in the services list; a
tool killed while connected leaves its retained "connection lost" status behind."""


@dataclass
class Snapshot:
    """What is known about the station from the bus."""

    services: dict[str, Payload] = field(default_factory=dict)
    station: dict[Key, Payload] = field(default_factory=dict)
    evses: dict[int, dict[Key, Payload]] = field(default_factory=dict)
    last_session_event: dict[int, Payload] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)
    """topic -> why its payload was rejected."""
    messages: int = 0

    def feed(self, topic: str, payload: Any) -> bool:
        """Take one bus message into account; returns whether it changed the snapshot."""
        parsed = topics.parse(topic)
        if parsed is None:
            return False
        self.messages += 1
        if parsed.kind == "status":
            return self._status(topic, parsed.service, payload)
        if parsed.name is None:
            return False
        if parsed.kind == "event" and (parsed.service, parsed.name) == ("coordinator", "session"):
            if parsed.evse is not None and isinstance(payload, dict) and self._valid(topic, parsed, payload):
                self.last_session_event[parsed.evse] = payload
                return True
            return False
        if parsed.kind != "state":
            return False
        key = (parsed.service, parsed.name)
        target = self.station if parsed.evse is None else self.evses.setdefault(parsed.evse, {})
        if payload is None or payload == "":  # a cleared retained state
            return target.pop(key, None) is not None
        if not isinstance(payload, dict):
            self.invalid[topic] = "not an object"
            return True
        self._valid(topic, parsed, payload)
        target[key] = payload
        return True

    def _status(self, topic: str, service: str, payload: Any) -> bool:
        if service in TOOLS:  # a command-line tool, not a station service: its (will) status is noise
            return False
        if payload is None or payload == "":
            return self.services.pop(service, None) is not None
        try:
            self.services[service] = base.ServiceStatus.model_validate(payload).model_dump(mode="json")
            self.invalid.pop(topic, None)
        except ValidationError as exc:
            self.invalid[topic] = f"{exc.error_count()} validation error(s)"
            self.services[service] = payload if isinstance(payload, dict) else {"state": "?"}
        return True

    def _valid(self, topic: str, parsed: topics.ParsedTopic, payload: Payload) -> bool:
        cls = base.lookup(parsed.service, parsed.kind, parsed.name or "")
        if cls is None:
            return True  # unknown message: shown generically, not judged
        try:
            cls.model_validate(payload)
        except ValidationError as exc:
            self.invalid[topic] = f"{exc.error_count()} validation error(s)"
            return False
        self.invalid.pop(topic, None)
        return True

    def to_json(self) -> dict[str, Any]:
        """The snapshot as plain JSON data (``josev status --json``)."""
        return {
            "services": self.services,
            "station": {f"{s}/{n}": p for (s, n), p in sorted(self.station.items())},
            "evses": {
                str(e): {f"{s}/{n}": p for (s, n), p in sorted(states.items())}
                for e, states in sorted(self.evses.items())
            },
            "last_session_event": {str(e): p for e, p in sorted(self.last_session_event.items())},
            "invalid": self.invalid,
        }


# ---------------------------------------------------------------------------------------------- rendering


def _kv(p: Payload) -> str:
    """``key=value ...`` of a payload (nested values as compact JSON)."""
    return " ".join(
        f"{k}={v if isinstance(v, str) and v and ' ' not in v else json.dumps(v, separators=(',', ':'), default=str)}"
        for k, v in p.items()
    )


def _num(v: Any, unit: str, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v) + unit


def _age(since: Any, now: dt.datetime) -> str:
    try:
        t = dt.datetime.fromisoformat(str(since))
    except ValueError:
        return ""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    s = max(0, int((now - t).total_seconds()))
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


def _evse_status(p: Payload) -> str:
    faults = p.get("faults") or []
    out = f"{p.get('state', '?')} ({p.get('detailed_status', '?')}, OCPP {p.get('ocpp_status', '?')})"
    out += f"  limit {_num(p.get('limit_a'), ' A')}"
    if p.get("limit_source"):
        out += f" by {p['limit_source']}"
    out += f"  contactor {'closed' if p.get('contactor_closed') else 'open'}"
    if p.get("hlc"):
        out += "  HLC"
    if faults:
        out += f"  FAULTS: {', '.join(map(str, faults))}"
    return out


def _pilot(p: Payload) -> str:
    mode = p.get("pilot_mode", "?")
    duty = f" {p.get('duty_percent', 0):g} %" if mode == "pwm" else ""
    return f"CP {p.get('cp') or '?'}  pilot {mode}{duty}"


def _meter(p: Payload) -> str:
    if not p.get("ok", True):
        return f"meter NOT ANSWERING {p.get('error', '')}".rstrip()
    energy = p.get("session_energy_wh", p.get("energy_wh"))
    return f"{_num(p.get('power_w'), ' W', '{:.0f}')}  {_num(energy, ' Wh', '{:.0f}')}"


def _slac(p: Payload) -> str:
    out = str(p.get("status", "?"))
    if p.get("ev_mac"):
        out += f" EV {p['ev_mac']}"
    if p.get("reason"):
        out += f" ({p['reason']})"
    return out


def _secc(p: Payload) -> str:
    out = str(p.get("status", "?"))
    if p.get("protocol"):
        out += f" {p['protocol']}"
    if p.get("session_id"):
        out += f" session {p['session_id']}"
    if p.get("reason"):
        out += f" ({p['reason']})"
    return out


def _ev_target(p: Payload) -> str:
    soc = f"  SoC {p['soc_percent']} %" if p.get("soc_percent") is not None else ""
    return f"{p.get('phase', '?')} {_num(p.get('voltage_v'), ' V')} {_num(p.get('current_a'), ' A')}{soc}"


def _channel(p: Payload) -> str:
    parts = [f"contactor {'on' if p.get('contactor_commanded') else 'off'}"]
    if p.get("rcd_tripped"):
        parts.append("RCD TRIPPED")
    if p.get("lock"):
        parts.append(f"lock {p['lock']}")
    if p.get("safe_state"):
        parts.append(f"SAFE STATE ({p.get('safe_reason', '')})")
    return "  ".join(parts)


def _transaction(p: Payload) -> str:
    tx = p.get("transaction_id")
    return f"transaction {tx}{' authorized' if p.get('authorized') else ''}" if tx else "no transaction"


def _display(p: Payload) -> str:
    """The first display line, the tariff and the cost."""
    lines = p.get("lines") or []
    parts = [repr(str(lines[0].get("text", ""))) if lines else "(blank)"]
    if len(lines) > 1:
        parts.append(f"+{len(lines) - 1} more")
    cur = p.get("currency", "")
    if p.get("tariff"):
        parts.append(f"tariff {p['tariff']!r}")
    if p.get("running_cost") is not None:
        parts.append(f"cost so far {p['running_cost']:.2f} {cur}")
    if p.get("total_cost") is not None:
        parts.append(f"total {p['total_cost']:.2f} {cur}")
    return "  ".join(parts)


def _schedule(p: Payload) -> str:
    limit = p.get("limit_a")
    out = "OCPP limit " + ("none" if limit is None else _num(limit, " A"))
    periods = p.get("periods") or []
    if len(periods) > 1:
        nxt = periods[1]
        out += f", next {_num(nxt.get('limit'), ' A')} in {int(nxt.get('start_s', 0))} s"
    return out


KNOWN_EVSE: dict[Key, tuple[str, Callable[[Payload], str]]] = {
    ("coordinator", "evse_status"): ("status", _evse_status),
    ("coordinator", "pilot"): ("pilot", _pilot),
    ("hal", "cp"): ("hal cp", lambda p: f"{p.get('state', '?')} {_num(p.get('high_v'), ' V')}"),
    ("hal", "channel"): ("hal", _channel),
    ("coordinator", "meter"): ("meter", _meter),
    ("hal", "meter"): ("hal meter", _meter),
    ("slac", "slac_state"): ("slac", _slac),
    ("secc", "session"): ("hlc", _secc),
    ("secc", "ev_target"): ("ev target", _ev_target),
    ("secc", "ev_parameters"): (
        "ev params",
        lambda p: f"{p.get('energy_mode', '?')} max {_num(p.get('max_power_w'), ' W', '{:.0f}')}",
    ),
    ("ocpp", "transaction"): ("ocpp", _transaction),
    ("ocpp", "display"): ("display", _display),
    ("ocpp", "charging_schedule"): ("schedule", _schedule),
}


def _csms(p: Payload) -> str:
    state = "connected" if p.get("connected") else "DISCONNECTED"
    reg = p.get("registration") or "not registered"
    out = f"{state}, {reg}, profile {p.get('security_profile', '?')}, {p.get('queued', 0)} queued"
    return out + (f"  {p['csms_url']}" if p.get("csms_url") else "")


KNOWN_STATION: dict[Key, tuple[str, Callable[[Payload], str]]] = {
    ("system", "station_info"): (
        "station",
        lambda p: (
            f"{p.get('station_id')} ({p.get('vendor')} {p.get('model')}), {p.get('evse_count')} EVSE(s), "
            f"josev {p.get('josev_version')}"
        ),
    ),
    ("hal", "board_info"): (
        "board",
        lambda p: (
            f"{p.get('board')}, {len(p.get('channels') or [])} channel(s), "
            f"watchdog {p.get('watchdog_timeout_s')} s"
        ),
    ),
    ("ocpp", "connection"): ("csms", _csms),
    ("ocpp", "firmware_status"): (
        "firmware",
        lambda p: (
            f"{p.get('status')}"
            + (f" (request {p['request_id']})" if p.get("request_id") is not None else "")
        ),
    ),
}


def _line(
    key: Key, p: Payload, known: dict[Key, tuple[str, Callable[[Payload], str]]], bad: bool
) -> tuple[str, str]:
    flag = " INVALID" if bad else ""
    if key in known:
        label, fmt = known[key]
        try:
            return label, fmt(p) + flag
        except (KeyError, TypeError, ValueError):
            pass
    return f"{key[0]}/{key[1]}", _kv(p) + flag


def _session_rows(snap: Snapshot) -> list[str]:
    rows = []
    for evse, states in sorted(snap.evses.items()):
        status = states.get(("coordinator", "evse_status"), {})
        secc = states.get(("secc", "session"), {})
        meter = states.get(("coordinator", "meter"), {})
        tx = states.get(("ocpp", "transaction"), {})
        sid = status.get("session_id") or meter.get("session_id") or secc.get("session_id")
        if not (sid or tx.get("transaction_id")):
            continue
        parts = [f"evse{evse}: session {sid or '-'}"]
        if secc.get("protocol"):
            parts.append(str(secc["protocol"]))
        if meter:
            parts.append(_num(meter.get("session_energy_wh"), " Wh", "{:.0f}"))
        if tx.get("transaction_id"):
            parts.append(f"OCPP tx {tx['transaction_id']}")
        if status.get("charging_state"):
            parts.append(str(status["charging_state"]))
        rows.append("  " + "  ".join(parts))
    for evse, ev in sorted(snap.last_session_event.items()):
        rows.append(f"  evse{evse}: last event {ev.get('step')} {ev.get('reason', '')}".rstrip())
    return rows


def render(snap: Snapshot, now: dt.datetime | None = None) -> str:
    """The one-screen text of a snapshot."""
    now = now or dt.datetime.now(dt.UTC)
    bad = set(snap.invalid)
    out = [f"josev status  {now.strftime('%Y-%m-%d %H:%M:%S')} UTC", "", "SERVICES"]
    if not snap.services:
        out.append("  (no service has published its status)")
    for name, st in sorted(snap.services.items()):
        flag = " INVALID" if topics.status_topic(name) in bad else ""
        state = str(st.get("state", "?"))
        detail = f"  {st['detail']}" if st.get("detail") else ""
        pid = f"  pid {st['pid']}" if st.get("pid") else ""
        out.append(
            f"  {name:<12} {state.upper() if state != 'ready' else state:<9}"
            f"{_age(st.get('since'), now):>5}{pid}{detail}{flag}"
        )
    if snap.station:
        out += ["", "STATION"]
        for key, p in sorted(snap.station.items()):
            label, text = _line(
                key, p, KNOWN_STATION, topics.message_topic(*key[:1], "state", key[1], None) in bad
            )
            out.append(f"  {label:<11} {text}")
    if ("ocpp", "connection") not in snap.station and "ocpp" in snap.services:
        out.append("  csms        (no connection state published)")
    out += ["", "EVSES"]
    if not snap.evses:
        out.append("  (no per-EVSE state on the bus)")
    for evse, states in sorted(snap.evses.items()):
        out.append(f"  evse{evse}")
        order = {k: i for i, k in enumerate(KNOWN_EVSE)}
        for key in sorted(states, key=lambda k: (order.get(k, len(order)), k)):
            topic = topics.message_topic(key[0], "state", key[1], evse)
            label, text = _line(key, states[key], KNOWN_EVSE, topic in bad)
            out.append(f"    {label:<10} {text}")
    sessions = _session_rows(snap)
    out += ["", "SESSIONS", *(sessions or ["  (none)"])]
    if snap.invalid:
        out += ["", f"INVALID PAYLOADS ({len(snap.invalid)})"]
        out += [f"  {t}: {why}" for t, why in sorted(snap.invalid.items())]
    return "\n".join(out)
