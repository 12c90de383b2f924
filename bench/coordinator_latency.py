"""CP state change -> contactor command latency through the bus (sim board, HAL service, coordinator,
real mosquitto on loopback, all in one process).

Measured per toggle of the simulated EV between B and C:

* ``bus``: from the HAL publishing the new CP state (its detection time) to the HAL executing the coordinator's
  SetContactor command (HAL -> broker -> coordinator -> broker -> HAL, plus the reply);
* ``end-to-end``: from the EV changing its resistor to the contactor command executed (adds the HAL's CP
  polling period, ``POLL_S``).

Target (issue 4): p99 under 10 ms on this machine. IEC 61851-1 asks the contactor to open within 100 ms of C->B.
"""

from __future__ import annotations

import asyncio
import time

from hal.sim import SimBoard, SimEv
from hal.types import CpState
from josev.api import hal as halapi
from josev.broker import PrivateBroker
from josev.bus import Bus
from josev.coordinator import EvseConfig
from josev.coordinator.service import CoordinatorService, StationConfig
from josev.halsvc import HalService, HalServiceConfig

TOGGLES = 300
POLL_S = 0.002


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def _run(broker: PrivateBroker) -> dict[str, list[float]]:
    board = SimBoard.with_channels(1)
    hal = HalService(board, HalServiceConfig(poll_s=POLL_S, meter_poll_s=1.0, watchdog_timeout_s=2.0))
    coord = CoordinatorService([EvseConfig(evse=1, free_charging=True)], StationConfig(heartbeat_s=0.2))
    hal_bus = Bus("hal", broker.settings("hal"))
    coord_bus = Bus("coordinator", broker.settings("coordinator"))
    await hal_bus.connect()
    await coord_bus.connect()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(hal.run(hal_bus, stop)), asyncio.create_task(coord.run(coord_bus, stop))]
    published: dict[int, float] = {}
    executed: list[tuple[bool, float]] = []
    hal.on_cp = lambda evse, msg: published.__setitem__(msg.seq, msg.t_mono)
    hal.on_command = lambda evse, cmd: (
        executed.append((cmd.closed, time.monotonic())) if isinstance(cmd, halapi.SetContactor) else None
    )
    sim = board.sim(1)
    ev = sim.plug(SimEv(requested=CpState.B))
    await asyncio.sleep(0.5)
    out: dict[str, list[float]] = {
        "close bus": [],
        "open bus": [],
        "close end-to-end": [],
        "open end-to-end": [],
    }
    for i in range(TOGGLES):
        closing = i % 2 == 0
        n = len(executed)
        seq0 = max(published, default=0)
        t_ev = time.monotonic()
        ev.requested = CpState.C if closing else CpState.B
        deadline = t_ev + 1.0
        while not (len(executed) > n and executed[-1][0] == closing):
            if time.monotonic() > deadline:
                core = coord.cores[1]
                raise RuntimeError(
                    f"no contactor command within 1 s (toggle {i}): {core.state} {core.faults} {core.history[-3:]}"
                )
            await asyncio.sleep(0.0005)
        t_cmd = executed[-1][1]
        t_pub = published[max(published)] if max(published) > seq0 else t_ev
        kind = "close" if closing else "open"
        out[f"{kind} bus"].append(t_cmd - t_pub)
        out[f"{kind} end-to-end"].append(t_cmd - t_ev)
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await hal_bus.close()
    await coord_bus.close()
    return out


def main() -> None:
    """Print p50/p99 of each latency."""
    with PrivateBroker() as broker:
        res = asyncio.run(_run(broker))
    print(f"{TOGGLES} B<->C toggles, HAL CP poll {POLL_S * 1000:.0f} ms, sim board, mosquitto on loopback")
    for name, vals in res.items():
        ms = [v * 1000 for v in vals]
        print(
            f"  {name:18s} p50 {_pct(ms, 0.5):6.2f} ms   p99 {_pct(ms, 0.99):6.2f} ms   max {max(ms):6.2f} ms"
        )


if __name__ == "__main__":
    main()
