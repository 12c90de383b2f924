"""UnlockConnector: refused while a session holds the connector locked, otherwise sent to the HAL."""

from __future__ import annotations

import pytest

from hal.sim import SimEv
from hal.types import LockState
from josev.api import coordinator as capi
from josev.api.base import CommandError
from josev.coordinator import EvseConfig, EvseCore, St
from josev.coordinator.core import LockCmd
from josev.coordinator.states import LOCKED_STATES
from tests.conftest import BusFactory
from tests.coordinator.helpers import reach
from tests.coordinator.rig import start_station, until


@pytest.mark.parametrize("state", sorted(St, key=lambda s: s.value))
def test_unlock_in_every_state(state: St) -> None:
    c, t = reach(state, has_lock=True)
    if state in LOCKED_STATES:
        with pytest.raises(PermissionError, match="holds the connector locked"):
            c.unlock(t + 1)
        assert c.state is state
    else:
        out = c.unlock(t + 1)
        assert LockCmd(False) in out
        assert c.state is state


def test_unlock_without_a_lock_does_nothing() -> None:
    c = EvseCore(EvseConfig(has_lock=False))
    c.start(0)
    assert c.unlock(1) == []


async def test_unlock_over_the_bus(bus_factory: BusFactory) -> None:
    st = await start_station(bus_factory, 1, evse={"has_lock": True}, board_caps={"has_lock": True})
    try:
        sim = st.board.sim(1)
        sim.plug(SimEv(auto_ready=True, max_current_a=16.0, phases=3))
        await until(lambda: st.obs.status[1].state == "plugged", what="plugged")
        await st.cli.request(capi.Authorize(id_token="card-1", source="cli"), 1)
        await until(lambda: sim.lock.state() is LockState.LOCKED, what="locked")
        with pytest.raises(CommandError) as err:
            await st.cli.request(capi.UnlockConnector(), 1)
        assert err.value.code == "rejected"
        assert sim.lock.state() is LockState.LOCKED
        sim.unplug()
        await until(lambda: "ended" in st.obs.steps(1), what="session end")
        await until(lambda: sim.lock.state() is LockState.UNLOCKED, what="unlocked at the end")
        sim.lock.set_locked(True)  # e.g. a lock that re-engaged by itself
        await st.cli.request(capi.UnlockConnector(), 1)
        await until(lambda: sim.lock.state() is LockState.UNLOCKED, what="unlocked on request")
    finally:
        await st.close()
