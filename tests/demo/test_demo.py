"""`josev demo` end to end: the README's main job must complete every session and exit 0."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.netns]


@pytest.mark.skipif(os.geteuid() != 0, reason="the CI path runs as root (host namespaces)")
def test_demo_completes_every_session() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "josev", "demo", "--no-live", "--evses", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    report = out.stdout
    assert "8 of 8 sessions completed" in report
    for name in (
        "basic PWM AC",
        "DIN 70121 DC",
        "ISO 15118-2 AC",
        "ISO 15118-2 DC",
        "ISO 15118-20 AC",
        "ISO 15118-20 DC",
        "ISO 15118-20 AC BPT",
        "ISO 15118-20 DC BPT",
    ):
        line = next(ln for ln in report.splitlines() if ln.startswith(name))
        assert " OK " in line, line
