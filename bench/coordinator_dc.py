"""DC: the SECC's CurrentDemand target -> the power module command, through the bus (sim DC board, HAL service,
coordinator, real mosquitto on loopback, all in one process).

* ``target``: from the ``secc`` client publishing an ``EvTarget`` to the HAL executing the coordinator's
  ``SetDcOutput`` with that current (secc -> broker -> coordinator -> broker -> HAL, plus the reply);
* ``cable check``: ``StartCableCheck`` request to its reply (the simulated module ramps to the 500 V test
  voltage at 1000 V/s and the insulation measurement takes 0.2 s, so about 0.45 s is the floor);
* ``power delivery stop``: ``HlcPowerDelivery(on=False)`` request to its reply, which waits for the current to
  fall and the contactor feedback to report open.

ISO 15118-2 gives the SECC 25 ms per CurrentDemand response (V2G_SECC_Sequence_Performance_Time), so the
target path should stay well below that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from hal.sim import SimBoard, SimEv
from hal.sim.dc import SimBattery
from hal.types import CpState
from josev.api import coordinator as capi
from josev.api import hal as halapi
from josev.api import secc as sapi
from josev.api.slac import SlacState
from josev.broker import PrivateBroker
from josev.bus import Bus
from josev.coordinator import EvseConfig
from josev.coordinator.config import DcConfig
from josev.coordinator.dccore import DcEvseCore
from josev.coordinator.service import CoordinatorService, StationConfig
from josev.halsvc import HalService, HalServiceConfig

TARGETS = 300


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def _wait(pred: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        await asyncio.sleep(0.001)


async def _run(broker: PrivateBroker) -> dict[str, list[float]]:
    board = SimBoard.with_channels(1, dc=True)
    hal = HalService(board, HalServiceConfig(poll_s=0.005, meter_poll_s=1.0, watchdog_timeout_s=2.0))
    coord = CoordinatorService(
        [EvseConfig(evse=1, hlc_offered=True, dc=DcConfig())], StationConfig(heartbeat_s=0.2)
    )
    buses = {n: Bus(n, broker.settings(n)) for n in ("hal", "coordinator", "secc", "slac", "bench")}
    for b in buses.values():
        await b.connect()
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(hal.run(buses["hal"], stop)),
        asyncio.create_task(coord.run(buses["coordinator"], stop)),
    ]
    executed: list[tuple[float, float]] = []
    hal.on_command = lambda evse, cmd: (
        executed.append((cmd.current_a, time.monotonic())) if isinstance(cmd, halapi.SetDcOutput) else None
    )
    secc = buses["secc"]
    sim = board.sim(1)
    assert sim.imd is not None
    sim.imd.measure_s = 0.2
    ev = sim.plug(SimEv(battery=SimBattery(soc=0.5), auto_dc=True))
    core = coord.cores[1]
    assert isinstance(core, DcEvseCore)
    out: dict[str, list[float]] = {"target": [], "cable check": [], "power delivery stop": []}
    try:
        await _wait(lambda: core.state.value == "hlc_wait")
        await buses["slac"].publish(SlacState(status="matched", ev_mac="02:00:00:00:00:01"), 1)
        await _wait(lambda: core.state.value == "hlc")
        await buses["bench"].request(capi.Authorize(id_token="BENCH", source="eim"), 1)  # secc never sends it
        ev.requested = CpState.C
        await _wait(lambda: core.cp_state is CpState.C)
        t0 = time.monotonic()
        await secc.request(capi.StartCableCheck(), 1, timeout=5.0)
        out["cable check"].append(time.monotonic() - t0)
        await secc.publish(sapi.EvTarget(phase="precharge", voltage_v=360.0, current_a=2.0), 1)
        await _wait(lambda: abs(core.dc.present_v - 360.0) < 5.0)
        await secc.request(capi.HlcPowerDelivery(on=True), 1)
        for i in range(TARGETS):
            amps = 50.0 + (i % 2) * 10.0 + i * 0.01
            want = (len(executed), round(amps, 3))
            t0 = time.monotonic()
            await secc.publish(sapi.EvTarget(phase="charge", voltage_v=400.0, current_a=amps), 1)

            def seen(want: tuple[int, float] = want) -> bool:
                return len(executed) > want[0] and abs(executed[-1][0] - want[1]) < 1e-6

            await _wait(seen, 1.0)
            out["target"].append(executed[-1][1] - t0)
        t0 = time.monotonic()
        await secc.request(capi.HlcPowerDelivery(on=False), 1)
        out["power delivery stop"].append(time.monotonic() - t0)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
        for b in buses.values():
            await b.close()
    return out


def main() -> None:
    """Print the figures."""
    with PrivateBroker() as broker:
        out = asyncio.run(_run(broker))
    for name, vals in out.items():
        if len(vals) > 1:
            print(
                f"{name:22s} n={len(vals):4d}  p50 {_pct(vals, 0.5) * 1e3:7.2f} ms  "
                f"p99 {_pct(vals, 0.99) * 1e3:7.2f} ms  max {max(vals) * 1e3:7.2f} ms"
            )
        else:
            print(f"{name:22s} {vals[0] * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
