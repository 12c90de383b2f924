"""Services and the runner that hosts them.

A service is anything with a ``name`` and ``async run(bus, stop)``. Services only know the bus, never each
other, so the same service runs in the main process (the default, smallest footprint) or in a process of its
own (``josev run --service NAME``): the deployment is configuration. Each service gets its own bus
connection (its own MQTT user, ACL and last will) even when several share a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from josev.bus.client import Bus
from josev.bus.settings import BusSettings

log = logging.getLogger("josev.runner")

GC_FREEZE_AFTER_S = 3.0
"""Seconds after the services started when the objects alive then (modules, configuration, the services'
state: ~600,000 objects in the all-in-one station) leave the garbage collector's sight (:func:`gc.freeze`).
Before, every full collection walked them all: 70 ms on a 2-core x86 under load (ten times that on an
i.MX6ULL), stalling every charge loop of the station (bench/hostile_load.py)."""


async def freeze_startup_objects(delay: float = GC_FREEZE_AFTER_S) -> None:
    """Collect once and freeze what survives, ``delay`` seconds from now (the services are up by then)."""
    await asyncio.sleep(delay)
    gc.collect()
    gc.freeze()
    log.debug("garbage collector: %d startup objects frozen", gc.get_freeze_count())


@runtime_checkable
class Service(Protocol):
    """What the runner needs of a service."""

    name: str

    async def run(self, bus: Bus, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set. Publish ``ready`` with ``bus.set_status`` when able to serve, unless
        ``reports_ready`` is False, in which case the runner does it once ``run`` has started."""


class ServiceRunner:
    """Runs services in this process, restarting one that crashes (at most ``max_restarts`` per minute)."""

    def __init__(
        self,
        services: list[Service],
        settings_for: Callable[[str], BusSettings],
        *,
        max_restarts: int = 5,
    ) -> None:
        self.services = services
        self.settings_for = settings_for
        self.max_restarts = max_restarts
        self.buses: dict[str, Bus] = {}
        self.ready = asyncio.Event()
        self.failed: dict[str, str] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Connect every service, run them until ``stop`` is set, then stop them all."""
        for svc in self.services:
            bus = Bus(svc.name, self.settings_for(svc.name))
            await bus.connect()
            await bus.set_status("starting")
            self.buses[svc.name] = bus
        tasks = [asyncio.create_task(self._supervise(svc, stop), name=svc.name) for svc in self.services]
        self.ready.set()
        freezer = asyncio.create_task(freeze_startup_objects())
        try:
            await stop.wait()
        finally:
            freezer.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
            for t in tasks:
                t.cancel()
            for bus in self.buses.values():
                await bus.close()

    async def _supervise(self, svc: Service, stop: asyncio.Event) -> None:
        bus = self.buses[svc.name]
        starts: list[float] = []
        while not stop.is_set():
            starts = [t for t in starts if time.monotonic() - t < 60] + [time.monotonic()]
            if not getattr(svc, "reports_ready", True):
                await bus.set_status("ready")
            try:
                await svc.run(bus, stop)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                detail = f"crashed: {type(exc).__name__}: {exc}"
                log.exception("service %s crashed", svc.name)
                if len(starts) > self.max_restarts:
                    self.failed[svc.name] = detail
                    await bus.set_status("stopped", detail + " (too many restarts)")
                    return
                await bus.set_status("degraded", detail + "; restarting")
                await asyncio.sleep(1.0)
