"""The EV simulator and the station share only :mod:`josev.v2g`: no module under ``josev/ev`` imports
``josev.secc`` (issue 13), so an EV under test never runs the station's code by accident."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EV_MODULES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "josev/ev").rglob("*.py"))


def secc_imports(source: str, filename: str = "<probe>") -> list[str]:
    """Every ``josev.secc`` import in ``source``, at any depth (inside functions too)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "josev"]
        found += [n for n in names if n == "josev.secc" or n.startswith("josev.secc.")]
    return found


@pytest.mark.parametrize("module", EV_MODULES)
def test_ev_module_imports_nothing_from_secc(module: str) -> None:
    assert secc_imports((ROOT / module).read_text(), module) == []


def test_the_guard_sees_secc_imports() -> None:
    assert len(EV_MODULES) > 5 and "josev/ev/client.py" in EV_MODULES
    probe = "from josev.secc import v2gtp\nimport josev.secc.sdp\ndef f():\n    from josev import secc\n"
    assert secc_imports(probe) == ["josev.secc", "josev.secc.sdp", "josev.secc"]
    assert secc_imports("from josev.v2g import v2gtp\nfrom josev import exi\n") == []
