"""A coordinator stand-in for the reference station (``josev station --sim``) when the real coordinator and
HAL are not part of the stack: it shows the pilot as "EV plugged in, 5 % duty" so SLAC matches at once,
unplugs/replugs (A then B) after every SECC session so the next EV can match, and acknowledges the SECC's
PowerDelivery / failure commands. Service name ``coordinator`` (it speaks for the coordinator on the bus)."""

from __future__ import annotations

import asyncio
import logging

from josev.api import coordinator as coord
from josev.api import secc as api
from josev.api.base import Ack
from josev.bus import Bus

log = logging.getLogger("josev.sim.coordinator")


class SimCoordinator:
    """The stand-in; ``evses`` are the EVSE numbers it drives."""

    name = "coordinator"

    def __init__(self, evses: list[int], replug_delay_s: float = 0.5) -> None:
        self.evses = evses
        self.replug_delay_s = replug_delay_s
        self.power: dict[int, bool] = {}
        self._bus: Bus | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _pilot(self, evse: int, cp: coord.CpLetter) -> None:
        assert self._bus is not None
        await self._bus.publish(coord.PilotState(cp=cp, pilot_mode="pwm", duty_percent=5.0), evse)

    async def _replug(self, evse: int) -> None:
        await asyncio.sleep(self.replug_delay_s)
        await self._pilot(evse, "A")
        await asyncio.sleep(0.1)
        await self._pilot(evse, "B")

    def _on_session(self, msg: api.SeccSessionState, evse: int | None) -> None:
        if evse is not None and msg.status in ("ended", "failed"):
            task = asyncio.ensure_future(self._replug(evse))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _power(self, cmd: coord.HlcPowerDelivery, evse: int | None) -> Ack:
        self.power[evse or 0] = cmd.on
        return Ack()

    async def _failed(self, cmd: coord.HlcFailed, evse: int | None) -> Ack:
        log.info("EVSE %s: HLC failed: %s", evse, cmd.reason)
        return Ack()

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Serve until ``stop``."""
        self._bus = bus
        bus.subscribe(api.SeccSessionState, self._on_session)
        bus.serve(coord.HlcPowerDelivery, self._power)
        bus.serve(coord.HlcFailed, self._failed)
        for evse in self.evses:
            await self._pilot(evse, "A")
            await self._pilot(evse, "B")
        await bus.set_status("ready")
        await stop.wait()
        for t in list(self._tasks):
            t.cancel()

    def __repr__(self) -> str:
        return f"SimCoordinator({self.evses})"
