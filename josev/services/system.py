"""The ``system`` service: publishes the station identity and answers pings."""

from __future__ import annotations

import asyncio

import josev
from josev.api.system import Ping, Pong, StationInfo
from josev.bus.client import Bus
from josev.config import JosevConfig


class SystemService:
    """Station identity and liveness pings."""

    name = "system"

    def __init__(
        self,
        station_id: str = "josev-station",
        vendor: str = "josev",
        model: str = "sim",
        evse_count: int = 1,
    ) -> None:
        self.info = StationInfo(
            station_id=station_id,
            vendor=vendor,
            model=model,
            evse_count=evse_count,
            josev_version=josev.__version__,
        )

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Serve pings until stopped."""
        bus.serve(Ping, self._ping)
        await bus.publish(self.info)
        await bus.set_status("ready")
        await stop.wait()

    @staticmethod
    def _ping(cmd: Ping, evse: int | None) -> Pong:
        return Pong(seq=cmd.seq, payload=cmd.payload)


def from_config(cfg: JosevConfig) -> SystemService:
    """The system service of a configured station."""
    return SystemService(cfg.station.id, cfg.station.vendor, cfg.station.model, len(cfg.evse))
