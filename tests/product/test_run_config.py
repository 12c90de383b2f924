"""``josev run`` (the real process) refuses a bad configuration with one line per error and exit code 2, and
starts the shipped ``station.toml`` and any configuration without a PLC interface (basic charging only)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from josev.broker import free_port
from josev.cli.systemd import render_config
from tests.conftest import ROOT


def _run_until_ready(cfg: Path, tmp_path: Path, env_extra: dict[str, str]) -> tuple[list[str], str, int]:
    """Start ``josev run``, wait for READY=1 (sd_notify), SIGTERM it: (notifications, stderr, exit code)."""
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), **env_extra)
    err = tmp_path / "stderr.txt"
    with err.open("w") as errf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "josev", "run", "--config", str(cfg)],
            cwd=ROOT,
            env=env,
            stderr=errf,
            start_new_session=True,
        )
    got: list[str] = []
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and "READY=1" not in got and proc.poll() is None:
            with contextlib.suppress(TimeoutError):
                got.extend(sock.recv(4096).decode().split("\n"))
        settle = time.monotonic() + 1.0  # a service that fails after READY would show up here
        while time.monotonic() < settle:
            with contextlib.suppress(TimeoutError):
                got.extend(sock.recv(4096).decode().split("\n"))
        alive = proc.poll() is None
        assert alive, f"josev run exited with {proc.returncode} (notifications {got}):\n{err.read_text()}"
        os.kill(proc.pid, signal.SIGTERM)
        code = proc.wait(30)
    finally:
        sock.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return got, err.read_text(), code


def test_the_shipped_station_toml_starts_without_plc(tmp_path: Path) -> None:
    """Before: the SLAC service raised 'no EVSE has hlc = true and a plc_interface' and josev run died."""
    cfg = tmp_path / "station.toml"
    cfg.write_text(render_config("all-in-one"))
    got, err, code = _run_until_ready(
        cfg,
        tmp_path,
        {"JOSEV_BROKER__PORT": "0", "JOSEV_BROKER__DIRECTORY": str(tmp_path / "broker")},
    )
    assert "READY=1" in got, err
    assert "STATUS=serving: system, hal, coordinator" in got, got
    # one READY=1, josev run's own (the managed mosquitto does not send its own before the services are up)
    assert got.count("READY=1") == 1, got
    assert code == 0, err
    assert "Traceback" not in err
    assert (
        "note: no EVSE has a plc_interface (with hlc = true): basic PWM charging only, SLAC and SECC off"
        in err
    )
    assert "note: no [ocpp] table: no CSMS, OCPP off (the station charges standalone)" in err


def test_a_config_without_plc_but_with_a_csms_starts_ocpp(tmp_path: Path) -> None:
    cfg = tmp_path / "station.toml"
    cfg.write_text(
        f"""
[[evse]]
id = 1
[[evse]]
id = 2
[ocpp]
csms_url = "ws://127.0.0.1:{free_port()}/ocpp"
database = "{tmp_path / "ocpp.sqlite"}"
workdir = "{tmp_path / "ocpp"}"
[broker]
port = 0  # the broker picks two adjacent free ports (services and tools)
directory = "{tmp_path / "broker"}"
"""
    )
    got, err, code = _run_until_ready(cfg, tmp_path, {})
    assert "STATUS=serving: system, hal, coordinator, ocpp" in got, err
    assert code == 0 and "Traceback" not in err


def test_a_bad_configuration_is_refused_with_one_line_per_error(tmp_path: Path) -> None:
    cfg = tmp_path / "station.toml"
    cfg.write_text(
        """[[evse]]
id = 1
plc_interface = "eth1"

[hal]
board = "cc"

[ocpp]
security_profile = 2
csms_url = "ws://csms.example/ocpp"
"""
    )
    out = subprocess.run(
        [sys.executable, "-m", "josev", "run", "--config", str(cfg)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [
        f"{cfg}:6: hal.board: unknown board 'cc'; known: 'sim' (simulator), 'ccc' (Charge Control C)",
        f"{cfg}:10: ocpp.csms_url: ws:// is unencrypted: security profile 2 needs wss:// "
        "(or set security_profile = 1)",
        f"{cfg}: 2 problem(s)",
        "josev run: configuration refused; nothing started",
    ]


def test_missing_csms_url_is_refused_not_a_traceback(tmp_path: Path) -> None:
    """Before: the OCPP factory raised ValueError inside asyncio.run and josev run printed a traceback."""
    cfg = tmp_path / "station.toml"
    cfg.write_text('[ocpp]\nsecurity_profile = 1\n\n[broker]\nport = 0\ndirectory = "/tmp/x"\n')
    out = subprocess.run(
        [sys.executable, "-m", "josev", "run", "--config", str(cfg)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert f"{cfg}:1: ocpp: csms_url is missing" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_service_process_checks_its_sections_and_the_credentials(tmp_path: Path) -> None:
    """``josev run --service NAME`` (one systemd unit per service): its own section is checked with lines, and a
    missing credentials file is one line, not a traceback from the bus client."""
    cfg = tmp_path / "station.toml"
    cfg.write_text(
        f'[[evse]]\nid = 1\n\n[ocpp]\ncsms_url = "https://csms/ocpp"\n\n[broker]\nport = {free_port()}\n'
        f'directory = "{tmp_path / "broker"}"\n'
    )

    def run(service: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "josev", "run", "--config", str(cfg), "--service", service],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    ocpp = run("ocpp")
    assert ocpp.returncode == 2 and "Traceback" not in ocpp.stderr
    assert ocpp.stderr.splitlines()[0] == (
        f"{cfg}:5: ocpp.csms_url: the CSMS URL must start with ws:// (security profile 1) or wss:// "
        "(profiles 2 and 3), not https://"
    )
    hal = run("hal")  # its sections are fine; the broker never ran, so there are no credentials
    assert hal.returncode == 2 and "Traceback" not in hal.stderr
    assert hal.stderr.strip() == (
        f"josev run: no bus credentials file {tmp_path / 'broker' / 'credentials'}. The managed broker writes it "
        "when the station starts (`josev run`); start the station (or `josev broker config`) first, or set "
        "[broker] directory."
    )
