"""``hal`` imports nothing from ``josev`` (checked on the source, and in a fresh interpreter)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

HAL = Path(__file__).resolve().parents[2] / "hal"


def test_no_josev_imports_in_source() -> None:
    offenders = []
    for path in HAL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path}: {n}" for n in names if n == "josev" or n.startswith("josev.")]
    assert offenders == []


def test_importing_hal_loads_no_josev() -> None:
    code = (
        "import sys, hal.sim, hal.ccc, hal.meter, hal.cp, hal.interfaces;"
        "print([m for m in sys.modules if m == 'josev' or m.startswith('josev.')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=HAL.parent
    )
    assert out.stdout.strip() == "[]"
