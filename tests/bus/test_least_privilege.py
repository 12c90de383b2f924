"""Least privilege on the bus: each service is granted exactly the commands its code sends (issue 22).

The broker's ACL is generated from ``Command.callers``; this test reads every service's code and finds the
command classes it builds. A call without a grant would fail at run time (``forbidden``, see
tests/bus/test_insiders.py); a grant without a call is an attack surface. Both fail here, by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

from josev.api import base
from josev.broker.config import acl_text, known_services
from tests.conftest import ROOT

SERVICE_CODE: dict[str, tuple[str, ...]] = {
    "coordinator": ("josev/coordinator",),
    "ocpp": ("josev/ocpp",),
    "secc": ("josev/secc",),
    "slac": ("josev/slac",),
    "hal": ("josev/halsvc", "hal"),
    "system": ("josev/services",),
    "web": ("josev/web",),  # a viewer (base.VIEWERS): granted nothing, so it must send nothing
}
"""Where each service's code lives (what runs under that service's bus user)."""


def _commands() -> dict[str, type[base.Command]]:  # type: ignore[type-arg]
    return {  # josev's own commands (other tests register test-only ones)
        c.__name__: c
        for c in base.all_messages()
        if issubclass(c, base.Command) and c.__module__.startswith("josev.api.")
    }


def commands_built(paths: tuple[str, ...]) -> dict[str, list[str]]:
    """Command class name -> the places (file:line) that construct it, in the code under ``paths``."""
    names = _commands()
    found: dict[str, list[str]] = {}
    for rel in paths:
        for file in sorted((ROOT / rel).rglob("*.py")):
            tree = ast.parse(file.read_text(), str(file))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name in names:
                    where = f"{file.relative_to(ROOT)}:{node.lineno}"
                    found.setdefault(name, []).append(where)
    return found


def test_every_service_is_granted_exactly_what_its_code_sends() -> None:
    cmds = _commands()
    problems: list[str] = []
    for service, paths in SERVICE_CODE.items():
        built = commands_built(paths)
        granted = {n for n, c in cmds.items() if service in c.callers}
        for name in sorted(set(built) - granted):
            problems.append(
                f"{service} sends {name} ({', '.join(built[name])}) but is not among its callers: add it to "
                f"{cmds[name].__module__}.{name}.callers"
            )
        for name in sorted(granted - set(built)):
            problems.append(
                f"{service} is granted {name} but its code never sends it: remove it from callers"
            )
    assert problems == [], "\n".join(problems)


def test_every_service_code_is_scanned() -> None:
    """A new service (a new bus user with code of its own) must be added to SERVICE_CODE."""
    users = set(known_services()) - base.TOOLS
    assert users == set(SERVICE_CODE), f"scan the code of {sorted(users - set(SERVICE_CODE))}"
    for paths in SERVICE_CODE.values():
        for rel in paths:
            assert (ROOT / rel).is_dir(), rel


def test_the_issue_22_grants_are_gone_from_the_generated_acl() -> None:
    blocks = {
        b.splitlines()[0].split()[1]: b
        for b in acl_text(known_services()).split("\n\n")
        if b.startswith("user ")
    }
    for user, name in (
        ("ocpp", "clear_fault"),
        ("ocpp", "present_token"),
        ("ocpp", "set_station_limit"),
        ("secc", "stop_charging"),
    ):
        assert f"/cmd/{name}" not in blocks[user], (user, name)
    # What they do send is still granted.
    assert "topic write josev/v1/coordinator/+/cmd/stop_charging" in blocks["ocpp"]
    assert "topic write josev/v1/coordinator/+/cmd/hlc_power_delivery" in blocks["secc"]


def test_the_scan_sees_a_call_that_is_not_granted(tmp_path: Path) -> None:
    """The scan itself can fail: an ungranted call in a service's code is reported with its place."""
    pkg = tmp_path / "svc"
    pkg.mkdir()
    (pkg / "x.py").write_text("async def f(bus):\n    await bus.request(co.ClearFault(), 1)\n")
    import tests.bus.test_least_privilege as me

    old_root = me.ROOT
    try:
        me.ROOT = tmp_path  # type: ignore[misc]
        assert commands_built(("svc",)) == {"ClearFault": ["svc/x.py:2"]}
    finally:
        me.ROOT = old_root  # type: ignore[misc]
