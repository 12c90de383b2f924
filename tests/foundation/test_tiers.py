"""The test tiers of tests/conftest.py: `make test-fast` selects the sans-IO cores and never a real broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _collect(marker: str, *paths: str) -> set[str]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            marker,
            *paths,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return {line.split("::")[0] for line in out.stdout.splitlines() if "::" in line}


def test_fast_tier_has_cores_and_no_broker() -> None:
    paths = ("tests/coordinator/test_table.py", "tests/bus/test_bus_broker.py", "tests/secc/test_fuzz.py")
    fast = _collect("fast", *paths)
    assert fast == {"tests/coordinator/test_table.py", "tests/secc/test_fuzz.py"}
    assert _collect("broker", *paths) == {"tests/bus/test_bus_broker.py"}
