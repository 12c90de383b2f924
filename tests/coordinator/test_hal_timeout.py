"""A HAL command that times out once is sent again; only a HAL that stays silent faults the EVSE.

Real mosquitto, the real HAL service on the simulator board and the real coordinator service. The HAL's pilot
handler is slowed down: once (a HAL busy for a moment: its reply comes after the 0.5 s timeout) or for good.
Before the fix, the single late reply latched the EVSE Faulted (``hal_timeout``) until an operator cleared it.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from hal.sim import SimEv
from josev.api import coordinator as capi
from josev.api import hal as halapi
from josev.halsvc import HalService, HalServiceConfig
from tests.conftest import BusFactory
from tests.coordinator.rig import start_station, until

pytestmark = pytest.mark.asyncio
RELAXED = HalServiceConfig(poll_s=0.01, meter_poll_s=0.1, watchdog_timeout_s=3.0)
"""A watchdog that a loaded CI machine does not trip (this test is about command timeouts)."""


class SlowPilot:
    """Makes the HAL's next ``left`` SetPilot commands answer after ``delay_s``; logs every call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.left = 0
        self.delay_s = 0.0
        self.calls: list[float] = []
        real = HalService._set_pilot

        async def slow(hal: HalService, cmd: halapi.SetPilot, evse: int | None) -> Any:
            self.calls.append(asyncio.get_running_loop().time())
            if self.left > 0:
                self.left -= 1
                await asyncio.sleep(self.delay_s)
            return await real(hal, cmd, evse)

        monkeypatch.setattr(HalService, "_set_pilot", slow)

    def arm(self, times: int, delay_s: float) -> None:
        self.calls.clear()
        self.left, self.delay_s = times, delay_s


async def test_one_late_reply_is_retried_not_a_fault(
    bus_factory: BusFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowPilot(monkeypatch)
    st = await start_station(bus_factory, 1, hal_cfg=RELAXED)
    try:
        assert st.coordinator is not None
        slow.arm(1, 0.8)  # the next pilot command is answered after the coordinator gave up on it
        sim = st.board.sim(1)
        sim.plug(SimEv(auto_ready=True, max_current_a=16.0, phases=3))
        await until(lambda: st.obs.status[1].state == "plugged", what="plugged")
        await st.cli.request(capi.Authorize(id_token="card-1", source="cli"), 1)
        await until(lambda: sim.contactor.feedback(), timeout=8, what="contactor closed after the retry")
        await until(lambda: st.obs.status[1].state == "charging", what="charging")
        assert not st.obs.status[1].faults, st.obs.status[1]
        assert st.coordinator.hal_retries >= 1 and len(slow.calls) >= 2
        await asyncio.sleep(0.5)
        assert "hal_timeout" not in st.obs.status[1].faults
    finally:
        await st.close()


async def test_a_silent_hal_still_faults(bus_factory: BusFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SlowPilot(monkeypatch)
    st = await start_station(bus_factory, 1, hal_cfg=RELAXED)
    try:
        slow.arm(10**6, 30.0)  # from now on the HAL never answers a pilot command in time
        sim = st.board.sim(1)
        sim.plug(SimEv(auto_ready=True, max_current_a=16.0, phases=3))
        await until(lambda: st.obs.status[1].state == "plugged", what="plugged")
        await st.cli.request(capi.Authorize(id_token="card-1", source="cli"), 1)
        await until(lambda: st.obs.status[1].state == "faulted", timeout=6, what="faulted")
        t_fault = asyncio.get_running_loop().time()
        assert "hal_timeout" in st.obs.status[1].faults
        # the pilot command was sent three times (0.5 s timeout each) before the EVSE faulted
        first = slow.calls[:3]
        assert len(first) == 3 and all(0.45 < b - a < 0.7 for a, b in itertools.pairwise(first)), first
        assert t_fault - first[0] >= 1.45, (t_fault, first)
        assert not sim.contactor.feedback()
    finally:
        await st.close()
