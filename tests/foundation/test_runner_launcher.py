"""The service runner and ``josev run`` with a real broker and real processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from josev.api.base import ServiceStatus
from josev.api.system import Ping
from josev.broker import PrivateBroker, free_port
from josev.bus import Bus, BusSettings, ServiceRunner
from josev.config import parse
from josev.launcher import LaunchError, plan
from tests.conftest import ROOT


class Flaky:
    """Crashes on its first run, then serves."""

    name = "hal"

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        self.runs += 1
        if self.runs == 1:
            raise RuntimeError("first start fails")
        await bus.set_status("ready")
        await stop.wait()


async def test_runner_restarts_a_crashed_service(broker: PrivateBroker) -> None:
    watcher = Bus("cli", broker.settings("cli"))
    await watcher.connect()
    seen: list[ServiceStatus] = []

    def on_status(topic: str, obj: object, msg: mqtt.MQTTMessage) -> None:
        if obj:
            seen.append(ServiceStatus.model_validate(obj))

    watcher.subscribe_raw("josev/v1/hal/status", on_status)
    svc = Flaky()
    runner = ServiceRunner([svc], broker.settings)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    for _ in range(300):
        if seen and seen[-1].state == "ready":
            break
        await asyncio.sleep(0.02)
    states = [s.state for s in seen]
    assert states[-1] == "ready", states
    assert "degraded" in states
    degraded = next(s for s in seen if s.state == "degraded")
    assert "first start fails" in degraded.detail
    assert svc.runs == 2
    stop.set()
    await task
    for _ in range(100):
        if seen[-1].state == "stopped":
            break
        await asyncio.sleep(0.02)
    assert seen[-1].state == "stopped" and seen[-1].detail == "shut down"
    await watcher.close()


def test_plan_splits_processes() -> None:
    cfg = parse(
        {
            "services": {"ocpp": {"process": "separate"}, "slac": {"enabled": False}},
            "ocpp": {"csms_url": "ws://127.0.0.1/ocpp"},
        }
    )
    main, separate = plan(cfg, [])
    assert "ocpp" not in main and separate == ["ocpp"]
    assert "slac" not in main
    assert plan(cfg, ["ocpp"]) == (["ocpp"], [])
    with pytest.raises(LaunchError, match="unknown service"):
        plan(cfg, ["nope"])


def _write_config(tmp: Path, port: int, separate: bool) -> Path:
    services = {n: {"enabled": False} for n in ("hal", "coordinator", "slac", "secc", "ocpp")}
    services["system"] = {"enabled": True, "process": "separate" if separate else "main"}
    lines = [
        '[station]\nid = "CS-RUN"\n',
        f'[broker]\nport = {port}\ndirectory = "{tmp / "broker"}"\n',
    ]
    for name, opts in services.items():
        lines.append(
            f"[services.{name}]\n"
            + "".join(
                f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v).replace(chr(39), chr(34))}\n"
                for k, v in opts.items()
            )
        )
    f = tmp / "station.toml"
    f.write_text("\n".join(lines))
    return f


@pytest.mark.parametrize("separate", [False, True], ids=["one-process", "separate-process"])
def test_josev_run_serves_and_stops_on_sigterm(tmp_path: Path, separate: bool) -> None:
    port = free_port()
    cfg = _write_config(tmp_path, port, separate)
    proc = subprocess.Popen(
        [sys.executable, "-m", "josev", "run", "--config", str(cfg)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        creds = tmp_path / "broker" / "credentials"

        async def check() -> list[ServiceStatus]:
            deadline = time.monotonic() + 30
            while not creds.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            bus = Bus("cli", BusSettings(port=port, credentials_file=creds))
            while True:
                try:
                    await bus.connect(timeout=1)
                    break
                except ConnectionError:
                    assert time.monotonic() < deadline, "the station's broker did not come up"
                    bus = Bus("cli", BusSettings(port=port, credentials_file=creds))
            statuses: list[ServiceStatus] = []
            bus.subscribe_raw(
                "josev/v1/system/status",
                lambda t, o, m: statuses.append(ServiceStatus.model_validate(o)) if o else None,
            )
            while time.monotonic() < deadline:
                try:
                    pong = await bus.request(Ping(seq=7, payload="hi"), timeout=0.5)
                    break
                except Exception:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the system service never answered")
            assert pong.seq == 7 and pong.payload == "hi"
            assert statuses and statuses[-1].state == "ready"
            if separate:
                assert statuses[-1].pid != proc.pid  # served by the child process
            else:
                assert statuses[-1].pid == proc.pid
            os.kill(proc.pid, signal.SIGTERM)
            while time.monotonic() < deadline and not any(s.state == "stopped" for s in statuses):
                await asyncio.sleep(0.05)
            await bus.close(publish_status=False)
            return statuses

        statuses = asyncio.run(check())
        assert proc.wait(30) == 0
        assert any(s.state == "stopped" and s.detail == "shut down" for s in statuses)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    # The child process is gone too.
    out = subprocess.run(["pgrep", "-f", "--", f"--config {cfg} --service"], capture_output=True)
    assert out.returncode == 1


def test_josev_run_with_bad_config_explains(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[broker]\nport = -1\n")
    out = subprocess.run(
        [sys.executable, "-m", "josev", "run", "--config", str(f)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "broker.port" in out.stderr


def test_josev_run_speaks_sd_notify(tmp_path: Path) -> None:
    """Under systemd (NOTIFY_SOCKET, WATCHDOG_USEC) `josev run` reports READY=1, pings the watchdog, STOPPING=1."""
    import socket as socketmod

    port = free_port()
    cfg = _write_config(tmp_path, port, separate=False)
    sock_path = tmp_path / "notify.sock"
    sock = socketmod.socket(socketmod.AF_UNIX, socketmod.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="200000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "josev", "run", "--config", str(cfg)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    got: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not ("READY=1" in got and got.count("WATCHDOG=1") >= 3):
            with contextlib.suppress(TimeoutError):
                got.extend(sock.recv(4096).decode().split("\n"))
        assert "READY=1" in got, got
        assert got.count("WATCHDOG=1") >= 3
        assert any(f.startswith("STATUS=serving: system") for f in got)
        os.kill(proc.pid, signal.SIGTERM)
        while time.monotonic() < deadline and "STOPPING=1" not in got:
            with contextlib.suppress(TimeoutError):
                got.extend(sock.recv(4096).decode().split("\n"))
        assert "STOPPING=1" in got
        assert proc.wait(30) == 0
    finally:
        sock.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
