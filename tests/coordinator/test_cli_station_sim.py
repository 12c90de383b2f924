"""``josev station-sim`` (the CLI module on its own; the lead registers it under the main CLI)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from josev.cli.station_sim import app
from tests.hal.fake_tree import make_tree

runner = CliRunner()


def test_run_two_evses() -> None:
    r = runner.invoke(app, ["run", "--evses", "2", "--seconds", "0.6", "--station-limit", "20"])
    assert r.exit_code == 0, r.output
    assert "EVSE 1: started" in r.output and "EVSE 2: ended ev_disconnected" in r.output
    assert "Wh metered" in r.output


def test_probe_ccc(tmp_path: Path) -> None:
    make_tree(tmp_path)
    r = runner.invoke(app, ["probe-ccc", "--root", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "device 'pwm-cp'" in r.output and "name 'cp-adc'" in r.output
    assert runner.invoke(app, ["probe-ccc", "--root", str(tmp_path / "none")]).exit_code == 1
