"""Smart charging figures.

1. **SetChargingProfile -> HAL**: a loopback CSMS (websockets) sends SetChargingProfile to the OCPP service
   (``josev.ocpp.service``), which hands the new limit to the coordinator over a real mosquitto; measured until
   the HAL service executes the SetPilot command with the new duty cycle (sim board, AC car charging). The
   profile alternates between 16 A and 20 A (TxDefaultProfile on EVSE 0, replaced by id).
2. **Composite schedule computation**: 8 EVSEs with 10 profiles each (recurring daily with 24 periods, weekly,
   absolute, relative, station maximum, W and A) - the 24 h composite of all 8 EVSEs, and the limit "now" of all
   8 (what the station does at every period boundary).

Target (issue 16): p99 of (1) under 100 ms.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from hal.sim import SimBoard, SimEv
from josev.api import hal as halapi
from josev.broker import PrivateBroker
from josev.bus import Bus
from josev.coordinator import EvseConfig
from josev.coordinator.service import CoordinatorService, StationConfig
from josev.halsvc import HalService, HalServiceConfig
from josev.ocpp.config import OcppConfig
from josev.ocpp.service import OcppService
from josev.ocpp.smartcharging import composite as C

CHANGES = 100
RUNS = 200


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def _profile(amps: float) -> dict[str, Any]:
    return {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": amps}]}
        ],
    }


async def _latency(broker: PrivateBroker, workdir: Path) -> list[float]:
    from websockets.asyncio.server import ServerConnection, serve

    conn: list[ServerConnection] = []
    answers: dict[str, asyncio.Future[Any]] = {}
    booted = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        conn.append(ws)
        async for text in ws:
            msg = json.loads(text)
            if msg[0] == 2:
                action = msg[2]
                reply: dict[str, Any] = {}
                if action == "BootNotification":
                    reply = {"currentTime": C.iso(time.time()), "interval": 300, "status": "Accepted"}
                    booted.set()
                elif action == "Heartbeat":
                    reply = {"currentTime": C.iso(time.time())}
                elif action == "Authorize":
                    reply = {"idTokenInfo": {"status": "Accepted"}}
                await ws.send(json.dumps([3, msg[1], reply]))
            elif msg[1] in answers:
                answers.pop(msg[1]).set_result(msg)

    server = await serve(handler, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"])  # type: ignore[list-item]
    port = server.sockets[0].getsockname()[1]
    board = SimBoard.with_channels(1)
    hal = HalService(board, HalServiceConfig(poll_s=0.002, meter_poll_s=1.0, watchdog_timeout_s=2.0))
    coord = CoordinatorService([EvseConfig(evse=1, free_charging=True)], StationConfig(heartbeat_s=0.2))
    ocpp = OcppService(
        OcppConfig(
            identity="BENCH",
            csms_url=f"ws://127.0.0.1:{port}",
            database=workdir / "ocpp.sqlite",
            workdir=workdir,
            evses={1: 1},
            durable=False,
            variables={"OCPPCommCtrlr/WebSocketPingInterval": "0"},
        )
    )
    buses = [Bus(n, broker.settings(n)) for n in ("hal", "coordinator", "ocpp")]
    for b in buses:
        await b.connect()
    stop, stop_ocpp = asyncio.Event(), asyncio.Event()
    tasks = [
        asyncio.create_task(hal.run(buses[0], stop)),
        asyncio.create_task(coord.run(buses[1], stop)),
    ]
    ocpp_task = asyncio.create_task(ocpp.run(buses[2], stop_ocpp))
    executed: list[tuple[float, float]] = []
    hal.on_command = lambda evse, cmd: (
        executed.append((cmd.duty_percent, time.monotonic())) if isinstance(cmd, halapi.SetPilot) else None
    )
    sim = board.sim(1)
    sim.plug(SimEv(auto_ready=True, max_current_a=32.0, phases=3))
    await asyncio.wait_for(booted.wait(), 10)
    while sim.cp.output().duty_percent != 53.3:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    out: list[float] = []
    for i in range(CHANGES):
        amps = 16.0 if i % 2 == 0 else 20.0
        want = 26.6 if amps == 16.0 else 33.3
        n = len(executed)
        uid = f"b{i}"
        answers[uid] = asyncio.get_running_loop().create_future()
        t0 = time.monotonic()
        await conn[-1].send(
            json.dumps([2, uid, "SetChargingProfile", {"evseId": 0, "chargingProfile": _profile(amps)}])
        )
        deadline = t0 + 2.0
        while not any(d == want for d, _ in executed[n:]):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no duty {want} % within 2 s (change {i}): {executed[-3:]}")
            await asyncio.sleep(0.0005)
        t1 = next(t for d, t in executed[n:] if d == want)
        out.append(t1 - t0)
        await asyncio.wait_for(answers.get(uid) or asyncio.sleep(0), 2)
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    stop_ocpp.set()
    await asyncio.gather(ocpp_task, return_exceptions=True)
    for b in buses:
        await b.close()
    server.close()
    await server.wait_closed()
    return out


def _profiles_8x10(t0: float) -> list[C.Installed]:
    out: list[C.Installed] = []
    pid = 0
    for evse in range(1, 9):
        for k in range(10):
            pid += 1
            kind = ("Recurring", "Absolute", "Relative")[k % 3]
            sched: dict[str, Any] = {
                "id": 1,
                "chargingRateUnit": "W" if k % 2 else "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 3600 * h, "limit": (6.0 + (h + k) % 20) * (690 if k % 2 else 1)}
                    for h in range(24 if kind == "Recurring" else 6)
                ],
            }
            prof: dict[str, Any] = {
                "id": pid,
                "stackLevel": k,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": kind,
            }
            if kind == "Recurring":
                prof["recurrencyKind"] = "Daily" if k < 6 else "Weekly"
            if kind != "Relative":
                sched["startSchedule"] = C.iso(t0 - 86400 * 3 + 600 * k)
            if k == 9:
                prof["validTo"] = C.iso(t0 + 43200)
            prof["chargingSchedule"] = [sched]
            out.append(C.Installed(evse, prof))
    out.append(
        C.Installed(
            0,
            {
                "id": 999,
                "stackLevel": 0,
                "chargingProfilePurpose": "ChargingStationMaxProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "startSchedule": C.iso(t0 - 86400),
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 63.0}],
                    }
                ],
            },
        )
    )
    return out


def _compute() -> tuple[list[float], list[float], int]:
    t0 = C.ts("2026-01-05T00:00:00Z")
    profiles = _profiles_8x10(t0)
    info = C.EvseInfo(3, 230.0, 32.0)
    full: list[float] = []
    now: list[float] = []
    periods = 0
    for r in range(RUNS):
        start = t0 + 37 * r
        a = time.perf_counter()
        comps = [C.composite(profiles, e, start, 86400, "A", info) for e in range(1, 9)]
        full.append(time.perf_counter() - a)
        periods = sum(len(c.periods) for c in comps)
        a = time.perf_counter()
        for e in range(1, 9):
            C.limit_at(profiles, e, start, "A", info)
        now.append(time.perf_counter() - a)
    return full, now, periods


def main() -> None:
    """Print the figures."""
    with tempfile.TemporaryDirectory() as tmp, PrivateBroker() as broker:
        lat = asyncio.run(_latency(broker, Path(tmp)))
    ms = [v * 1000 for v in lat]
    print(f"SetChargingProfile -> HAL SetPilot ({CHANGES} changes, sim board, mosquitto on loopback)")
    print(f"  p50 {_pct(ms, 0.5):6.2f} ms   p99 {_pct(ms, 0.99):6.2f} ms   max {max(ms):6.2f} ms")
    full, now, periods = _compute()
    print(f"composite schedule, 8 EVSEs x 10 profiles (+ station max), {RUNS} runs")
    f = [v * 1000 for v in full]
    n = [v * 1000 for v in now]
    print(
        f"  24 h composite of all 8 EVSEs ({periods} periods): p50 {_pct(f, 0.5):6.2f} ms   p99 {_pct(f, 0.99):6.2f} ms"
    )
    print(
        f"  limit now of all 8 EVSEs:                 p50 {_pct(n, 0.5):6.3f} ms   p99 {_pct(n, 0.99):6.3f} ms"
    )


if __name__ == "__main__":
    main()
