"""``josev status`` / ``bus tail`` / ``bus request`` without a credentials file: a clear message, exit 2, no
traceback; a killed CLI's retained "connection lost" row does not show in ``josev status``; ``bus tail`` hides
the coordinator's heartbeats unless ``--heartbeats``. Real mosquitto, real ``josev run``, real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from josev.broker import PrivateBroker, free_port_pair
from tests.conftest import ROOT
from tests.product.stationproc import Station


def josev(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "josev", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_no_credentials_file_is_a_clear_message(tmp_path: Path) -> None:
    cfg = tmp_path / "station.toml"
    cfg.write_text(f'[broker]\nport = {free_port_pair()}\ndirectory = "{tmp_path / "broker"}"\n')
    creds = tmp_path / "broker" / "credentials"
    for args in (
        ("status",),
        ("bus", "tail", "--seconds", "1"),
        ("bus", "request", "system", "ping", '{"seq": 1}'),
    ):
        out = josev(*args, "--config", str(cfg))
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert out.stderr.strip() == (
            f"josev {' '.join(args[:2]) if args[0] == 'bus' else 'status'}: no bus credentials file {creds}. "
            "The managed broker writes it when the station starts (`josev run`); give the station's "
            "configuration with --config FILE (its [broker] directory), or --credentials FILE."
        )


def test_a_killed_cli_leaves_no_row_in_status(broker: PrivateBroker) -> None:
    conn = ["--host", broker.host, "--port", str(broker.port), "--credentials", str(broker.files.credentials)]
    tail = subprocess.Popen(
        [sys.executable, "-m", "josev", "bus", "tail", *conn],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(2.5)  # connected
    os.killpg(tail.pid, signal.SIGKILL)  # the broker publishes the cli's will (retained "connection lost")
    tail.wait()
    time.sleep(0.5)
    raw = josev("bus", "tail", *conn, "--seconds", "1.5", "--json")
    assert "cli status:" in raw.stdout and "connection lost" in raw.stdout  # it is there...
    out = josev("status", *conn, "--json")
    assert out.returncode == 0, out.stderr
    assert "cli" not in json.loads(out.stdout)["services"]  # ...but status does not list it
    text = josev("status", *conn)
    assert " cli " not in text.stdout


def test_bus_tail_hides_heartbeats_by_default(tmp_path: Path) -> None:
    cfg = tmp_path / "station.toml"
    cfg.write_text(
        f'[[evse]]\nid = 1\n\n[broker]\nport = {free_port_pair()}\ndirectory = "{tmp_path / "broker"}"\n'
    )
    st = Station(cfg, tmp_path / "run.log")
    try:
        creds = tmp_path / "broker" / "credentials"
        assert st.wait_for(lambda: "service coordinator ready" in st.text()), st.text()
        assert creds.exists()
        quiet = josev("bus", "tail", "--config", str(cfg), "--seconds", "2")
        loud = josev("bus", "tail", "--config", str(cfg), "--seconds", "2", "--heartbeats")
    finally:
        assert st.stop() == 0
    assert quiet.returncode == 0, quiet.stderr
    assert "heartbeat" not in quiet.stdout
    assert "coordinator" in quiet.stdout  # the retained states are there
    beats = [line for line in loud.stdout.splitlines() if "heartbeat" in line]
    assert len(beats) >= 5, loud.stdout[-2000:]
