"""Run the coordinator service alone: ``python -m josev.coordinator --port P --credentials FILE --evses N``.

For tests and bench set-ups that need the coordinator in a process of its own (``josev run`` is the normal
way to start services).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from josev.bus import Bus, BusSettings
from josev.coordinator.config import EvseConfig
from josev.coordinator.service import CoordinatorService, StationConfig


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(prog="python -m josev.coordinator", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--credentials", type=Path, required=True, help="service:password file of the broker")
    ap.add_argument("--evses", type=int, default=1)
    ap.add_argument("--free", action="store_true", help="free charging (every session authorized)")
    ap.add_argument("--station-limit", type=float, default=None)
    ap.add_argument("--heartbeat", type=float, default=0.1)
    ap.add_argument("--meter-loss", choices=["stop", "continue", "fault"], default="stop")
    args = ap.parse_args(argv)
    cfgs = [
        EvseConfig(evse=e, free_charging=args.free, meter_loss=args.meter_loss)
        for e in range(1, args.evses + 1)
    ]
    svc = CoordinatorService(cfgs, StationConfig(args.station_limit, args.heartbeat))
    settings = BusSettings(host=args.host, port=args.port, credentials_file=args.credentials)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        bus = Bus("coordinator", settings)
        await bus.connect()
        try:
            await svc.run(bus, stop)
        finally:
            await bus.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
