"""SIGTERM while charging: ``josev run`` leaves the EVSE in the safe state and loses nothing it had queued.

The real launcher in its own process (every service in one process, or HAL and OCPP in processes of their
own), a private mosquitto, the simulator board, and a scripted CSMS over a real WebSocket. From the bus (as
the CLI user), the test plugs in a simulated car, taps a card and waits until the contactor is closed and the
CSMS has seen the transaction charging. The CSMS then goes away, the car pauses (a TransactionEvent the
station must queue), and the station gets SIGTERM:

* it exits 0, and the last channel state the HAL published shows contactor open (commanded and mirror
  contact), pilot in the safe state (F), ``safe_state`` with reason ``stopped``;
* every service says ``stopped`` on the bus;
* restarted with the CSMS back, the station delivers what it had queued, flagged offline, with seqNo
  continuing without a gap or duplicate, and ends the transaction (the car is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from josev.api import coordinator as capi
from josev.api import hal as halapi
from josev.api.base import ServiceStatus
from josev.broker import free_port
from josev.bus import Bus, BusSettings
from tests.conftest import ROOT
from tests.ocpp.conftest import FAST
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.test_faults import assert_retransmissions_identical, tx_events

pytestmark = pytest.mark.slow
SERVICES = ("system", "hal", "coordinator", "ocpp")


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int | float):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(tmp: Path, port: int, csms_url: str, separate: bool) -> Path:
    lines = [
        "[station]",
        'id = "CS-SIGTERM"',
        "[broker]",
        f"port = {port}",
        f"directory = {_toml_value(tmp / 'broker')}",
        "[[evse]]",
        "id = 1",
        "hlc = false",
        "[hal]",
        'board = "sim"',
        "[ocpp]",
        f"csms_url = {_toml_value(csms_url)}",
        f"database = {_toml_value(tmp / 'ocpp.sqlite')}",
        f"workdir = {_toml_value(tmp / 'ocpp')}",
        "[ocpp.variables]",
        *(f'"{k}" = {_toml_value(v)}' for k, v in FAST.items()),
    ]
    for name in ("system", "hal", "coordinator", "slac", "secc", "ocpp"):
        lines.append(f"[services.{name}]")
        lines.append(f"enabled = {_toml_value(name in SERVICES)}")
        if name in SERVICES:
            lines.append(f'process = "{"separate" if separate and name in ("hal", "ocpp") else "main"}"')
    f = tmp / "station.toml"
    f.write_text("\n".join(lines) + "\n")
    return f


class Observer:
    """The CLI user on the station's bus: statuses, channel states and session events of EVSE 1."""

    def __init__(self) -> None:
        self.bus: Bus | None = None
        self.status: dict[str, ServiceStatus] = {}
        self.channel: list[tuple[float, halapi.ChannelState]] = []
        self.sessions: list[capi.SessionEvent] = []
        self.changed = asyncio.Event()

    async def connect(self, creds: Path, port: int, deadline: float) -> None:
        while True:
            try:  # until the launcher has written the credentials and the broker listens
                bus = Bus("cli", BusSettings(port=port, credentials_file=creds))
                await bus.connect(timeout=1)
                break
            except (ConnectionError, OSError, ValueError):
                pass
            assert time.monotonic() < deadline, "the station's broker did not come up"
            await asyncio.sleep(0.1)
        self.bus = bus
        bus.subscribe_raw("josev/v1/+/status", self._on_status)
        bus.subscribe(halapi.ChannelState, self._on_channel)
        bus.subscribe(capi.SessionEvent, self._on_session)

    def _on_status(self, topic: str, obj: Any, msg: Any) -> None:
        if obj:
            st = ServiceStatus.model_validate(obj)
            self.status[topic.split("/")[2]] = st
            self.changed.set()

    def _on_channel(self, m: halapi.ChannelState, evse: int | None) -> None:
        if evse == 1:
            self.channel.append((time.monotonic(), m))
            self.changed.set()

    def _on_session(self, m: capi.SessionEvent, evse: int | None) -> None:
        if evse == 1:
            self.sessions.append(m)
            self.changed.set()

    async def until(self, what: str, cond: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {what}: statuses {self.status}, sessions " + str(
                [s.step for s in self.sessions]
            )
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))


def start_station(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "josev", "run", "--config", str(cfg)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def run_until_ready(cfg: Path, tmp: Path, port: int) -> tuple[subprocess.Popen[bytes], Observer]:
    proc = start_station(cfg, tmp / "station.log")
    obs = Observer()
    try:
        await obs.connect(tmp / "broker" / "credentials", port, time.monotonic() + 30)
        await obs.until(
            "every service ready",
            lambda: all(obs.status.get(s) and obs.status[s].state == "ready" for s in SERVICES),
        )
    except BaseException:
        kill_tree(proc)
        raise
    return proc, obs


@pytest.mark.parametrize("separate", [False, True], ids=["one-process", "hal-and-ocpp-separate"])
async def test_sigterm_while_charging(tmp_path: Path, separate: bool) -> None:
    csms = ScriptedCsms(port=free_port())
    await csms.start()
    port = free_port()
    cfg = write_config(tmp_path, port, csms.url, separate)
    proc, obs = await run_until_ready(cfg, tmp_path, port)
    assert obs.bus is not None
    try:
        await csms.wait_for("BootNotification", timeout=15)
        await obs.bus.request(halapi.SimCarControl(action="plug", auto_ready=True), 1)
        await obs.until("session started", lambda: any(s.step == "started" for s in obs.sessions))
        await obs.bus.request(capi.PresentToken(id_token="TAG-SIGTERM"), 1)
        await obs.until(
            "contactor closed", lambda: bool(obs.channel) and obs.channel[-1][1].contactor_feedback
        )
        await csms.wait_for(
            "TransactionEvent",
            lambda p: p.get("transactionInfo", {}).get("chargingState") == "Charging",
            timeout=15,
        )
        # the CSMS goes away; the car pauses: the station must queue that TransactionEvent
        await csms.stop()
        await obs.bus.request(halapi.SimCarControl(action="cp", cp="B"), 1)
        await obs.until("contactor open after the pause", lambda: not obs.channel[-1][1].contactor_commanded)
        await asyncio.sleep(1.0)
        n_before = len(tx_events(csms))

        t_term = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        rc = await asyncio.to_thread(proc.wait, 30)
        assert rc == 0, (tmp_path / "station.log").read_text()[-3000:]
        after = [m for t, m in obs.channel if t >= t_term]
        assert after, "the HAL published nothing after SIGTERM"
        last = after[-1]
        assert not last.contactor_commanded and not last.contactor_feedback, last
        assert last.safe_state and last.safe_reason == "stopped", last
        assert last.pilot_mode == "f", last
        for s in SERVICES:
            assert obs.status[s].state == "stopped", (s, obs.status[s])
        with contextlib.suppress(Exception):
            await obs.bus.close(publish_status=False)

        # back online: the queued event arrives (offline), seqNo continues, the transaction ends
        await csms.start()
        proc, obs = await run_until_ready(cfg, tmp_path, port)
        await csms.wait_for("BootNotification", count=2, timeout=15)
        await csms.wait_for("TransactionEvent", lambda p: p["eventType"] == "Ended", timeout=20)
        evs = tx_events(csms)
        assert_retransmissions_identical(csms)
        assert [e["seqNo"] for e in evs] == list(range(len(evs))), [e["seqNo"] for e in evs]
        assert len({e["transactionInfo"]["transactionId"] for e in evs}) == 1
        assert len(evs) > n_before
        queued = evs[n_before:-1]
        assert queued and all(e.get("offline") for e in queued), [(e["seqNo"], e.get("offline")) for e in evs]
        assert any(e["transactionInfo"].get("chargingState") == "SuspendedEV" for e in queued), queued
        os.kill(proc.pid, signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        kill_tree(proc)
        if obs.bus is not None:
            with contextlib.suppress(Exception):
                await obs.bus.close(publish_status=False)
        await csms.stop()
