"""``josev ev`` rejects what it cannot do at the command line, with a clear message and exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from josev.cli.ev import PROTOCOLS
from josev.ev import evcc
from josev.ev.iso20 import evcc as evcc20


def test_cli_protocols_are_the_simulators_protocols() -> None:
    assert set(PROTOCOLS) == set(evcc.PROTOCOLS) | set(evcc20.PROTOCOLS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--protocol", "iso2"], "Invalid value for '--protocol'"),
        (["--tls", "tls13"], "Invalid value for '--tls'"),
        (["--slac", "yes"], "Invalid value for '--slac'"),
        (["--codec", "xml"], "Invalid value for '--codec'"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(args: list[str], message: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "josev", "ev", "--iface", "lo", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
