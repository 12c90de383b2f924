"""Protocol cores stay sans-IO: a module of the coordinator, SECC, V2G, SLAC, OCPP, PnC or sim packages that is not
one of the named shells must not import asyncio, sockets, clocks, threads, subprocesses, SQLite, HTTP or the bus."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "josev/coordinator",
    "josev/secc",
    "josev/v2g",
    "josev/slac",
    "josev/ocpp",
    "josev/pnc",
    "josev/sim",
)
FORBIDDEN = (
    "asyncio",
    "socket",
    "time",
    "threading",
    "subprocess",
    "select",
    "selectors",
    "sqlite3",
    "urllib.request",
    "http.client",
    "websockets",
    "paho",
    "josev.bus",
)
# The I/O shells: sockets, the bus, clocks and files live here and nowhere else.
SHELLS = {
    "josev/coordinator/__main__.py",
    "josev/coordinator/dcservice.py",
    "josev/coordinator/service.py",
    "josev/secc/certwatch.py",
    "josev/secc/refstation.py",
    "josev/secc/server.py",
    "josev/secc/service.py",
    "josev/secc/pncshell.py",
    "josev/secc/sdpshell.py",
    "josev/secc/smartshell.py",
    "josev/secc/scenario/hook.py",
    "josev/sim/board.py",
    "josev/sim/coordinator.py",
    "josev/sim/csms.py",
    "josev/v2g/netif.py",
    "josev/slac/driver.py",
    "josev/sim/modem_shell.py",
    "josev/slac/ev_run.py",
    "josev/slac/rawsocket.py",
    "josev/slac/service.py",
    "josev/ocpp/connection.py",
    "josev/ocpp/service.py",
    "josev/ocpp/store.py",
    "josev/ocpp/walsync.py",
    "josev/ocpp/pnc_bus.py",
    "josev/ocpp/smartcharging/bus.py",
    "josev/ocpp/transfers.py",
}
# Cores that still do I/O. Empty: keep it so. A module listed here must import exactly what is listed, so the
# list cannot go stale.
KNOWN_VIOLATIONS: dict[str, set[str]] = {}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            for bad in FORBIDDEN:
                if name == bad or name.startswith(bad + "."):
                    found.add(bad)
    return found


CORES = sorted(
    str(p.relative_to(ROOT))
    for pkg in PACKAGES
    for p in (ROOT / pkg).rglob("*.py")
    if str(p.relative_to(ROOT)) not in SHELLS
)


@pytest.mark.parametrize("module", CORES)
def test_core_module_is_sans_io(module: str) -> None:
    assert _imports(ROOT / module) == KNOWN_VIOLATIONS.get(module, set())


def test_named_shells_exist() -> None:
    assert all((ROOT / s).is_file() for s in SHELLS), sorted(s for s in SHELLS if not (ROOT / s).is_file())


def test_the_guard_sees_imports() -> None:
    probe = ROOT / "josev/secc/server.py"  # a shell: it does import sockets and asyncio
    assert {"asyncio", "socket"} <= _imports(probe)
