"""A station on the bus for integration tests: sim board + HAL service + coordinator (+ a CLI observer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hal.sim import SimBoard
from josev.api import coordinator as capi
from josev.bus import Bus
from josev.coordinator import EvseConfig
from josev.coordinator.service import CoordinatorService, StationConfig
from josev.halsvc import HalService, HalServiceConfig


@dataclass
class Observer:
    """Collects coordinator output seen on the bus (by the ``cli`` user)."""

    status: dict[int, capi.EvseStatus] = field(default_factory=dict)
    sessions: list[tuple[int, capi.SessionEvent]] = field(default_factory=list)

    def attach(self, bus: Bus) -> None:
        def on_status(m: capi.EvseStatus, evse: int | None) -> None:
            assert evse is not None
            self.status[evse] = m

        def on_session(m: capi.SessionEvent, evse: int | None) -> None:
            assert evse is not None
            self.sessions.append((evse, m))

        bus.subscribe(capi.EvseStatus, on_status)
        bus.subscribe(capi.SessionEvent, on_session)

    def steps(self, evse: int) -> list[str]:
        return [m.step for e, m in self.sessions if e == evse]

    def last(self, evse: int, step: str) -> capi.SessionEvent:
        return [m for e, m in self.sessions if e == evse and m.step == step][-1]


async def until(pred: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``pred`` every 10 ms until it is true; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Station:
    board: SimBoard
    hal: HalService
    coordinator: CoordinatorService | None
    obs: Observer
    cli: Bus
    stop: asyncio.Event
    tasks: list[asyncio.Task[None]]

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 5)


async def start_station(
    bus_factory: Callable[..., Any],
    n: int = 1,
    evse: dict[str, Any] | None = None,
    station: StationConfig | None = None,
    hal_cfg: HalServiceConfig | None = None,
    with_coordinator: bool = True,
    board_caps: dict[str, Any] | None = None,
) -> Station:
    board = SimBoard.with_channels(n, **(board_caps or {}))
    hal = HalService(
        board, hal_cfg or HalServiceConfig(poll_s=0.01, meter_poll_s=0.1, watchdog_timeout_s=1.0)
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(hal.run(await bus_factory("hal"), stop))]
    coord = None
    if with_coordinator:
        cfgs = [EvseConfig(evse=e, **(evse or {})) for e in range(1, n + 1)]
        coord = CoordinatorService(cfgs, station or StationConfig(heartbeat_s=0.1))
        tasks.append(asyncio.create_task(coord.run(await bus_factory("coordinator"), stop)))
    cli = await bus_factory("cli")
    obs = Observer()
    obs.attach(cli)
    st = Station(board, hal, coord, obs, cli, stop, tasks)
    if with_coordinator:
        await until(
            lambda: len(obs.status) == n and all(s.state == "idle" for s in obs.status.values()),
            what="every EVSE idle",
        )
    return st
