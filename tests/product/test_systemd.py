"""systemd units: the install command writes the expected files, they pass `systemd-analyze verify`, the
hardening is what the deployment docs promise, and the example configuration validates."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from josev import config
from josev.cli.systemd import InstallError, app, install, templates
from josev.config import SERVICE_NAMES

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def fake_exe(tmp_path: Path, name: str) -> str:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return str(path)


def parse_unit(path: Path) -> configparser.RawConfigParser:
    cp = configparser.RawConfigParser(strict=False, delimiters=("=",), comment_prefixes=("#",))
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(path.read_text())
    return cp


def test_per_service_install_writes_every_unit(tmp_path: Path) -> None:
    josev_bin, mosq = fake_exe(tmp_path, "josev"), fake_exe(tmp_path, "mosquitto")
    root = tmp_path / "root"
    written = install(root, "per-service", josev_bin=josev_bin, mosquitto=mosq)
    units = root / "lib/systemd/system"
    expected = {"josev-broker.service", "josev.target", *(f"josev-{s}.service" for s in SERVICE_NAMES)}
    assert {p.name for p in units.iterdir()} == expected
    assert root / "etc/josev/station.toml" in written
    assert (root / "lib/sysusers.d/josev.conf").read_text().count("u josev") == 1
    for name in expected:
        text = (units / name).read_text()
        for placeholder in ("@JOSEV@", "@MOSQUITTO@", "@WANTS@"):
            assert placeholder not in text, f"{placeholder} left in {name}"
    for svc in SERVICE_NAMES:
        unit = parse_unit(units / f"josev-{svc}.service")
        s = unit["Service"]
        assert s["ExecStart"] == f"{josev_bin} run --config /etc/josev/station.toml --service {svc}"
        assert (
            s["User"] == "josev"
            and s["ProtectSystem"] == "strict"
            and s["ReadWritePaths"] == "/var/lib/josev"
        )
        assert s["Restart"] == "on-failure" and s["NoNewPrivileges"] == "yes"
        if svc in ("slac", "secc"):
            assert s["AmbientCapabilities"] == "CAP_NET_RAW" and s["CapabilityBoundingSet"] == "CAP_NET_RAW"
            assert "AF_PACKET" in s["RestrictAddressFamilies"]
        else:
            assert "AmbientCapabilities" not in s and s["CapabilityBoundingSet"] == ""
        assert unit["Unit"]["PartOf"] == "josev.target" and "josev-broker.service" in unit["Unit"]["After"]
    broker = parse_unit(units / "josev-broker.service")["Service"]
    assert broker["ExecStart"] == f"{mosq} -c /var/lib/josev/broker/mosquitto.conf"
    assert broker["ExecStartPre"].startswith(f"{josev_bin} broker config --dir /var/lib/josev/broker")
    wants = parse_unit(units / "josev.target")["Unit"]["Wants"].split()
    assert set(wants) == expected - {"josev.target"}
    cfg = config.load(root / "etc/josev/station.toml")
    assert cfg.broker.manage is False and cfg.broker.port == 1883


def test_all_in_one_install_and_config_kept(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/josev").mkdir(parents=True)
    (root / "etc/josev/station.toml").write_text("# mine\n")
    written = install(root, "all-in-one", josev_bin="/usr/bin/josev", mosquitto="/usr/sbin/mosquitto")
    assert {p.name for p in (root / "lib/systemd/system").iterdir()} == {"josev.service", "josev.target"}
    assert root / "etc/josev/station.toml" not in written
    assert (root / "etc/josev/station.toml").read_text() == "# mine\n"  # an existing configuration is kept
    s = parse_unit(root / "lib/systemd/system/josev.service")["Service"]
    assert s["ExecStart"] == "/usr/bin/josev run --config /etc/josev/station.toml"
    assert s["AmbientCapabilities"] == "CAP_NET_RAW"
    assert parse_unit(root / "lib/systemd/system/josev.target")["Unit"]["Wants"] == "josev.service"
    install(
        root, "all-in-one", josev_bin="/usr/bin/josev", mosquitto="/usr/sbin/mosquitto", force_config=True
    )
    assert config.load(root / "etc/josev/station.toml").broker.manage is True


def test_install_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="mode"):
        install(tmp_path, "both", josev_bin="/x", mosquitto="/y")  # type: ignore[arg-type]
    with pytest.raises(InstallError, match="unknown service"):
        install(tmp_path, "per-service", services=["toaster"], josev_bin="/x", mosquitto="/y")
    with pytest.raises(InstallError, match="absolute"):
        install(tmp_path, "per-service", josev_bin="josev", mosquitto="/y")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InstallError, match="cannot write"):
        install(blocker, "all-in-one", josev_bin="/x", mosquitto="/y")


def test_cli_install_and_show(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "install",
            "--prefix",
            str(tmp_path),
            "--mode",
            "per-service",
            "--service",
            "hal",
            "--service",
            "coordinator",
            "--josev-bin",
            "/usr/bin/josev",
            "--mosquitto",
            "/usr/sbin/mosquitto",
        ],
    )
    assert res.exit_code == 0, res.output
    assert {p.name for p in (tmp_path / "lib/systemd/system").iterdir()} == {
        "josev-broker.service",
        "josev-hal.service",
        "josev-coordinator.service",
        "josev.target",
    }
    res = runner.invoke(app, ["install", "--prefix", str(tmp_path), "--mode", "sideways"])
    assert res.exit_code == 2 and "unknown mode" in res.output
    res = runner.invoke(app, ["show", "josev-secc.service", "--josev-bin", "/opt/josev/bin/josev"])
    assert res.exit_code == 0 and "ExecStart=/opt/josev/bin/josev run --config" in res.output
    res = runner.invoke(app, ["show", "station.toml"])
    assert res.exit_code == 2


@needs_analyze
@pytest.mark.parametrize("realtime", [None, 10])
@pytest.mark.parametrize("mode", ["per-service", "all-in-one"])
def test_units_pass_systemd_analyze_verify(tmp_path: Path, mode: str, realtime: int | None) -> None:
    root = tmp_path / "root"
    exes = {"josev_bin": fake_exe(tmp_path, "josev"), "mosquitto": fake_exe(tmp_path, "mosquitto")}
    install(root, mode, realtime=realtime, **exes)  # type: ignore[arg-type]
    units = sorted((root / "lib/systemd/system").iterdir())
    assert ANALYZE is not None
    out = subprocess.run([ANALYZE, "verify", *map(str, units)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (out.stdout + out.stderr).splitlines() if "josev" in line]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr


def test_templates_are_shipped_in_the_package() -> None:
    names = {p.name for p in templates().iterdir()}
    assert {
        "josev.service",
        "josev.target",
        "josev-broker.service",
        "station.toml",
        "josev.sysusers",
    } <= names
    assert {f"josev-{s}.service" for s in SERVICE_NAMES} <= names
