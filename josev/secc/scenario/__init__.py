"""Scripted station behaviours for testing EVs (``josev station --sim --scenario NAME``).

A scenario is a small TOML file (:mod:`josev.secc.scenario.parse`): station settings and actions on chosen
requests -- answer late, with another code, Ongoing for a while, notify a pause or a renegotiation, an
emergency shutdown, lower the limits, drop the TCP connection or the link. The built-in ones are in
``josev/data/scenarios``; a user's own is given by its path. The engine (:mod:`~josev.secc.scenario.engine`)
is sans-IO; the SECC's connection shell applies its plans (:mod:`~josev.secc.scenario.hook`).
"""

from __future__ import annotations

import json
from pathlib import Path

from josev.secc.scenario.engine import Plan, ScenarioRunner, SessionScript
from josev.secc.scenario.model import Action, Scenario, StationSettings, TakenAction
from josev.secc.scenario.parse import ScenarioError, load, parse
from josev.secc.scenario.toreport import to_report

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "data" / "scenarios"

__all__ = [
    "BUILTIN_DIR",
    "Action",
    "Plan",
    "Scenario",
    "ScenarioError",
    "ScenarioRunner",
    "SessionScript",
    "StationSettings",
    "TakenAction",
    "builtin",
    "load",
    "parse",
    "read_record",
    "resolve",
    "to_report",
]


def builtin() -> list[Scenario]:
    """The built-in scenarios, by name."""
    return [load(p) for p in sorted(BUILTIN_DIR.glob("*.toml"))]


def resolve(name: str) -> Scenario:
    """A built-in scenario by name, or a scenario file by path (a name with ``/`` or ending ``.toml``)."""
    if "/" in name or name.endswith(".toml"):
        return load(Path(name))
    path = BUILTIN_DIR / f"{name}.toml"
    if not path.is_file():
        names = ", ".join(p.stem for p in sorted(BUILTIN_DIR.glob("*.toml")))
        raise ScenarioError(f"no built-in scenario {name!r} (built-in: {names}; or give a file path)")
    return load(path)


def read_record(path: Path) -> list[TakenAction]:
    """The actions of a session's ``*.scenario.json`` (written next to its pcapng); the report reads them through
    :func:`josev.secc.scenario.toreport.to_report`."""
    return [TakenAction.from_json(a) for a in json.loads(path.read_text())["actions"]]
