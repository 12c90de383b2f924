"""``josev demo`` writes the conformance report of each of its V2G sessions and prints where: a one-EVSE demo
with a basic PWM session (no V2G, no report), an ISO 15118-2 AC and an ISO 15118-20 AC session."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="the CI path runs as root (host namespaces)"),
]

_DEMO = """
import sys
import josev.demo as demo
from josev.demo.sessions import Scenario
demo.AC_LANE = (Scenario("basic PWM AC", None), Scenario("ISO 15118-2 AC", "iso2-ac"),
                Scenario("ISO 15118-20 AC", "iso20-ac", ("--dynamic",)))
sys.exit(demo.run_from_cli(evses=1, netns=True, live=False, loops=2))
"""


def test_demo_prints_where_its_reports_are() -> None:
    out = subprocess.run([sys.executable, "-c", _DEMO], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    m = re.search(r"EV conformance reports \(one per V2G session, with its pcapng\) in (\S+):\n", out.stdout)
    assert m, out.stdout[-3000:]
    folder = Path(m.group(1))
    try:
        lines = out.stdout[m.end() :].strip().splitlines()
        assert len(lines) == 2, lines  # the PWM session has no V2G messages
        for line in lines:
            verdict, name = line.split()
            assert verdict == "pass" and name.endswith(".report.html"), line
            html = folder / name
            assert html.stat().st_size > 1_000_000
            data = json.loads(html.with_name(name.replace(".html", ".json")).read_text())
            assert (folder / data["session"]["capture"]).is_file()
            assert data["summary"]["errors"] == 0
        protocols = sorted(
            json.loads(p.read_text())["session"]["protocol"] for p in folder.glob("*.report.json")
        )
        assert protocols == ["ISO 15118-2", "ISO 15118-20"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
