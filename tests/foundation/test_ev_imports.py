"""The EV simulator and the station share only :mod:`josev.v2g`: no module under ``josev/ev`` imports
``josev.secc`` (issue 13), so an EV under test never runs the station's code by accident."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EV_MODULES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "josev/ev").rglob("*.py"))
SHARED_MODULES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "josev/v2g").rglob("*.py"))


def secc_imports(
    source: str, filename: str = "<probe>", packages: tuple[str, ...] = ("josev.secc",)
) -> list[str]:
    """Every import of ``packages`` in ``source``, at any depth (inside functions too)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "josev"]
        found += [n for n in names if any(n == p or n.startswith(p + ".") for p in packages)]
    return found


@pytest.mark.parametrize("module", EV_MODULES)
def test_ev_module_imports_nothing_from_secc(module: str) -> None:
    assert secc_imports((ROOT / module).read_text(), module) == []


@pytest.mark.parametrize("module", SHARED_MODULES)
def test_shared_module_imports_neither_side(module: str) -> None:
    assert secc_imports((ROOT / module).read_text(), module, ("josev.secc", "josev.ev")) == []


def test_importing_every_ev_module_loads_no_secc_module() -> None:
    """The same, transitively: a fresh interpreter that imports all of josev.ev has no josev.secc module."""
    probe = (
        "import importlib, pkgutil, sys, josev.ev\n"
        "for m in pkgutil.walk_packages(josev.ev.__path__, 'josev.ev.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "print(len([m for m in sys.modules if m.startswith('josev.ev.')]))\n"
        "print(sorted(m for m in sys.modules if m.startswith('josev.secc')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    loaded, secc = out.stdout.splitlines()
    assert int(loaded) > 5 and secc == "[]"


def test_the_guard_sees_secc_imports() -> None:
    assert len(EV_MODULES) > 5 and "josev/ev/client.py" in EV_MODULES
    probe = "from josev.secc import v2gtp\nimport josev.secc.sdp\ndef f():\n    from josev import secc\n"
    assert secc_imports(probe) == ["josev.secc", "josev.secc.sdp", "josev.secc"]
    assert secc_imports("from josev.v2g import v2gtp\nfrom josev import exi\n") == []
