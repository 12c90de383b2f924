"""Coordinator killed (SIGKILL, a real process) mid-session: the HAL reaches its safe state within its timeout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import pytest

from hal.sim import SimEv
from hal.types import PilotMode
from josev.api import hal as halapi
from josev.broker import PrivateBroker
from josev.halsvc import HalServiceConfig
from tests.conftest import BusFactory
from tests.coordinator.rig import start_station, until

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("safe_pilot", ["f", "x1"])
async def test_coordinator_killed_hal_goes_safe(
    bus_factory: BusFactory, broker: PrivateBroker, safe_pilot: Literal["f", "x1"]
) -> None:
    timeout = 0.5
    st = await start_station(
        bus_factory,
        1,
        hal_cfg=HalServiceConfig(
            poll_s=0.01, meter_poll_s=0.2, watchdog_timeout_s=timeout, safe_pilot=safe_pilot
        ),
        with_coordinator=False,
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "josev.coordinator",
            "--port",
            str(broker.port),
            "--credentials",
            str(broker.files.credentials),
            "--evses",
            "1",
            "--free",
            "--heartbeat",
            "0.1",
        ],
        cwd=ROOT,
    )
    try:
        sim = st.board.sim(1)
        await until(lambda: 1 in st.obs.status and st.obs.status[1].state == "idle", 20, "coordinator up")
        sim.plug(SimEv(auto_ready=True))
        await until(lambda: sim.contactor.feedback(), 5, "charging")
        assert sim.current_a() > 0
        await asyncio.sleep(0.5)  # the watchdog is kept alive by heartbeats meanwhile
        trips = st.hal.watchdog.trips  # may be 1: the HAL was safe while the coordinator process started
        assert not st.hal.watchdog.tripped
        os.kill(proc.pid, signal.SIGKILL)
        t_kill = time.monotonic()
        proc.wait(5)
        want = PilotMode.F if safe_pilot == "f" else PilotMode.X1
        await until(lambda: not sim.contactor.feedback() and sim.cp.output().mode is want, 3, "safe state")
        elapsed = time.monotonic() - t_kill
        # last heartbeat at most 0.1 s before the kill; detection within one poll period after the timeout
        assert elapsed <= timeout + 0.1 + 0.05, elapsed
        assert elapsed >= timeout - 0.1 - 0.01, elapsed
        assert st.hal.watchdog.trips == trips + 1 and st.hal.safe == {1: "coordinator_timeout"}
        # commands that would energise are refused while held safe (the CLI may issue HAL commands)
        with pytest.raises(Exception, match="unavailable"):
            await st.cli.request(halapi.SetContactor(closed=True), 1)
        assert not sim.contactor.feedback()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        await st.close()
