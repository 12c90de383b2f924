"""Read and check a scenario file (TOML); every error names the file and the line.

::

    description = "one line shown by `josev station --scenario list`"

    [station]              # optional
    tls = "iso20"          # off | iso2 | iso20 (TLS 1.3 only) | both
    enforce_tls = true     # SDP announces TLS only

    [[action]]
    kind = "delay"         # see josev.secc.scenario.model.KINDS
    request = "CurrentDemand"
    protocols = ["din", "iso2"]   # default: all
    nth = 3                # the 3rd CurrentDemandReq of the session (default 1); or after_s = 2.0
    timeout_margin_s = 0.1
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from josev import tomllines
from josev.secc.scenario import requests
from josev.secc.scenario.model import (
    KIND_FIELDS,
    KINDS,
    MATCH_FIELDS,
    PROTOCOLS,
    Action,
    Scenario,
    StationSettings,
)

NOTIFICATIONS = {
    "din": frozenset({"None", "StopCharging", "ReNegotiation"}),
    "iso2": frozenset({"None", "StopCharging", "ReNegotiation"}),
    "iso20": frozenset(
        {"Pause", "ExitStandby", "Terminate", "ScheduleRenegotiation", "ServiceRenegotiation"}
    ),
}
STATUS_CODES = frozenset(
    {
        "EVSE_NotReady",
        "EVSE_Ready",
        "EVSE_Shutdown",
        "EVSE_UtilityInterruptEvent",
        "EVSE_IsolationMonitoringActive",
        "EVSE_EmergencyShutdown",
        "EVSE_Malfunction",
    }
)
ISOLATION = frozenset({"Invalid", "Valid", "Warning", "Fault", "No_IMD"})
TLS_MODES = ("off", "iso2", "iso20", "both")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and line."""


class _Checker:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = tomllines.key_lines(text)

    def fail(self, path: tuple[str | int, ...], message: str) -> ScenarioError:
        line = tomllines.line_of(self.lines, path)
        where = f"{self.source}:{line}" if line else self.source
        return ScenarioError(f"{where}: {message}")

    def line(self, path: tuple[str | int, ...]) -> int:
        return tomllines.line_of(self.lines, path) or 0


def _number(ck: _Checker, path: tuple[str | int, ...], v: Any, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ck.fail(path, f"{path[-1]} must be a number, not {v!r}")
    if positive and v <= 0:
        raise ck.fail(path, f"{path[-1]} must be above 0, not {v!r}")
    return float(v)


def _string(ck: _Checker, path: tuple[str | int, ...], v: Any, allowed: frozenset[str] | None = None) -> str:
    if not isinstance(v, str):
        raise ck.fail(path, f"{path[-1]} must be a string, not {v!r}")
    if allowed is not None and v not in allowed:
        raise ck.fail(path, f"unknown {path[-1]} {v!r} (one of: {', '.join(sorted(allowed))})")
    return v


def _action(ck: _Checker, i: int, raw: Any) -> Action:
    base: tuple[str | int, ...] = ("action", i)
    if not isinstance(raw, dict):
        raise ck.fail(base, "each [[action]] must be a table")
    kind = raw.get("kind")
    if kind is None:
        raise ck.fail(base, "action without kind")
    if kind not in KINDS:
        raise ck.fail((*base, "kind"), f"unknown kind {kind!r} (one of: {', '.join(KINDS)})")
    allowed = MATCH_FIELDS | KIND_FIELDS[kind]
    for key in raw:
        if key not in allowed:
            raise ck.fail(
                (*base, key),
                f"unknown field {key!r} for kind {kind!r} (allowed: {', '.join(sorted(allowed))})",
            )
    request = raw.get("request")
    if request is None:
        raise ck.fail(base, "action without request")
    request = _string(ck, (*base, "request"), request)
    if not requests.known(request):
        raise ck.fail((*base, "request"), f"unknown request {request!r}")
    protocols: tuple[str, ...] = PROTOCOLS
    if "protocols" in raw:
        p = raw["protocols"]
        if not isinstance(p, list) or not p or any(x not in PROTOCOLS for x in p):
            raise ck.fail(
                (*base, "protocols"), f"protocols must be a list of {', '.join(PROTOCOLS)}, not {p!r}"
            )
        protocols = tuple(p)
    if not any(requests.matches(request, m) for pr in protocols for m in requests.REQUESTS[pr]):
        raise ck.fail((*base, "request"), f"request {request!r} is not part of {', '.join(protocols)}")
    kw: dict[str, Any] = {"kind": kind, "request": request, "protocols": protocols, "line": ck.line(base)}
    if "nth" in raw:
        n = raw["nth"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ck.fail((*base, "nth"), f"nth must be a whole number from 1, not {n!r}")
        kw["nth"] = n
    if "after_s" in raw:
        kw["after_s"] = _number(ck, (*base, "after_s"), raw["after_s"])
    for key in ("delay_s", "for_s", "current_a", "power_w", "voltage_v"):
        if key in raw:
            kw[key] = _number(ck, (*base, key), raw[key], positive=True)
    if "timeout_margin_s" in raw:
        kw["timeout_margin_s"] = _number(ck, (*base, "timeout_margin_s"), raw["timeout_margin_s"])
    if "max_delay_s" in raw:
        m = raw["max_delay_s"]
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise ck.fail((*base, "max_delay_s"), f"max_delay_s must be a whole number of seconds, not {m!r}")
        kw["max_delay_s"] = m
    if "code" in raw:
        code = _string(ck, (*base, "code"), raw["code"])
        if not code.startswith(("OK", "FAILED", "WARNING")):
            raise ck.fail((*base, "code"), f"code {code!r} must start with OK, FAILED or WARNING")
        kw["code"] = code
    if "notification" in raw:
        notes = frozenset().union(*(NOTIFICATIONS[p] for p in protocols))
        kw["notification"] = _string(ck, (*base, "notification"), raw["notification"], notes)
    if "status_code" in raw:
        kw["status_code"] = _string(ck, (*base, "status_code"), raw["status_code"], STATUS_CODES)
    if "isolation" in raw:
        kw["isolation"] = _string(ck, (*base, "isolation"), raw["isolation"], ISOLATION)
    need = {
        "delay": ("delay_s", "timeout_margin_s"),
        "code": ("code",),
        "ongoing": ("for_s",),
        "notify": ("notification",),
        "status": ("status_code", "isolation"),
        "limit": ("current_a", "power_w", "voltage_v"),
        "link_down": ("for_s",),
    }.get(kind, ())
    if need and not any(k in kw for k in need):
        raise ck.fail(base, f"a {kind!r} action needs {' or '.join(need)}")
    if kind == "delay" and "delay_s" in kw and "timeout_margin_s" in kw:
        raise ck.fail((*base, "timeout_margin_s"), "give delay_s or timeout_margin_s, not both")
    return Action(**kw)


def parse(text: str, *, name: str = "scenario", source: str = "<scenario>") -> Scenario:
    """Check a scenario's TOML text; raises :class:`ScenarioError` naming ``source`` and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{source}: not valid TOML: {e}") from None
    ck = _Checker(source, text)
    for key in data:
        if key not in ("description", "station", "action"):
            raise ck.fail((key,), f"unknown key {key!r} (description, [station], [[action]])")
    desc = data.get("description", "")
    if not isinstance(desc, str):
        raise ck.fail(("description",), "description must be a string")
    station = StationSettings()
    if "station" in data:
        st = data["station"]
        if not isinstance(st, dict):
            raise ck.fail(("station",), "station must be a table")
        for key in st:
            if key not in ("tls", "enforce_tls"):
                raise ck.fail(("station", key), f"unknown station setting {key!r} (tls, enforce_tls)")
        tls = _string(ck, ("station", "tls"), st["tls"], frozenset(TLS_MODES)) if "tls" in st else None
        enforce = st.get("enforce_tls")
        if enforce is not None and not isinstance(enforce, bool):
            raise ck.fail(("station", "enforce_tls"), f"enforce_tls must be true or false, not {enforce!r}")
        station = StationSettings(tls=tls, enforce_tls=enforce)
    raw = data.get("action", [])
    if not isinstance(raw, list):
        raise ck.fail(("action",), "actions are written as [[action]] tables")
    actions = tuple(_action(ck, i, a) for i, a in enumerate(raw))
    if not actions and station == StationSettings():
        raise ScenarioError(f"{source}: the scenario has no [[action]] and no [station] settings")
    return Scenario(name=name, description=desc.strip(), actions=actions, station=station, source=source)


def load(path: Path) -> Scenario:
    """Read and check a scenario file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{path}: cannot read: {e}") from None
    return parse(text, name=path.stem, source=str(path))
