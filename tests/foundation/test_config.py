"""The station configuration: validation with locations, environment overrides, the CLI check."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from josev import config
from josev.cli import app

GOOD = """
[station]
id = "CS-0001"
max_current_a = 63

[[evse]]
id = 1
plc_interface = "eth1"

[[evse]]
id = 2
kind = "dc"
max_current_a = 125
[[evse.connectors]]
id = 1
type = "cCCS2"
max_current_a = 125

[services.ocpp]
process = "separate"

[broker]
port = 1884
payload_format = "cbor"

[ocpp]
csms_url = "wss://csms.example/ocpp"
"""

BAD = """
[station]
id = "has space"

[[evse]]
id = 1
phases = 2

[[evse]]
id = 2
connectors = []

[services.nope]
enabled = true

[broker]
port = 70000
"""


def test_good_file(tmp_path: Path) -> None:
    f = tmp_path / "station.toml"
    f.write_text(GOOD)
    cfg = config.load(f)
    assert cfg.station.id == "CS-0001"
    assert [e.kind for e in cfg.evse] == ["ac", "dc"]
    assert cfg.evse[1].connectors[0].type == "cCCS2"
    assert cfg.service("ocpp").process == "separate"
    assert cfg.service("hal").process == "main"
    assert cfg.broker.payload_format == "cbor"
    assert cfg.ocpp["csms_url"].startswith("wss://")


def test_every_error_has_its_location(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(BAD)
    with pytest.raises(config.ConfigError) as err:
        config.load(f)
    locs = [p.loc for p in err.value.problems]
    assert locs == [
        "station.id",
        "evse[0](id=1).phases",
        "evse[1](id=2).connectors",
        "services.nope",
        "broker.port",
    ]
    text = err.value.explain()
    assert str(f) in text and "5 problem(s)" in text


def test_unreadable_and_not_toml(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.toml")
    f = tmp_path / "x.toml"
    f.write_text("[station\nid=")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(f)


def test_evse_ids_must_be_contiguous(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=r"1\.\.N"):
        config.parse({"evse": [{"id": 1}, {"id": 3}]})
    with pytest.raises(config.ConfigError, match="unique"):
        config.parse({"evse": [{"id": 1}, {"id": 1}]})


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "station.toml"
    f.write_text(GOOD)
    monkeypatch.setenv("JOSEV_BROKER__PORT", "1999")
    monkeypatch.setenv("JOSEV_LOGGING__LEVEL", "debug")
    cfg = config.load(f)
    assert cfg.broker.port == 1999
    assert cfg.broker.payload_format == "cbor"  # the rest of the section still comes from the file
    assert cfg.logging.level == "debug"


def test_cli_config_check(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    runner = CliRunner()
    r = runner.invoke(app, ["config", "check", str(good)])
    assert r.exit_code == 0, r.output
    assert "OK - station CS-0001" in r.output
    r = runner.invoke(app, ["config", "check", str(bad)])
    assert r.exit_code == 1
    assert "evse[0](id=1).phases: Input should be 1 or 3" in r.output
