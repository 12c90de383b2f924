"""Bus figures through a real mosquitto on loopback: command/reply round trip and state throughput.

Targets (issue 2): round trip p50 < 1 ms and p99 < 5 ms; >= 5,000 state messages/s from one publisher.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from josev.api.system import Ping, StationInfo
from josev.broker import PrivateBroker
from josev.bus import Bus
from josev.bus.settings import PayloadFormat
from josev.services.system import SystemService

ROUND_TRIPS = 5000
STATES = 20000


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def _round_trips(broker: PrivateBroker, fmt: PayloadFormat, transport: str) -> dict[str, float]:
    extra: dict[str, Any] = {"payload_format": fmt}
    if transport == "unix":
        extra["socket"] = broker.files.socket
    server = Bus("system", broker.settings("system", max_command_rate=1e9, **extra))  # the bus, not the limit
    client = Bus("bench", broker.settings("bench", **extra))
    await server.connect()
    await client.connect()
    stop = asyncio.Event()
    task = asyncio.create_task(SystemService().run(server, stop))
    await asyncio.sleep(0.1)
    for i in range(200):  # warm-up
        await client.request(Ping(seq=i))
    lat = []
    for i in range(ROUND_TRIPS):
        t0 = time.perf_counter()
        await client.request(Ping(seq=i))
        lat.append((time.perf_counter() - t0) * 1e3)
    stop.set()
    await task
    await server.close()
    await client.close()
    return {"p50": _pct(lat, 0.5), "p99": _pct(lat, 0.99), "mean": statistics.fmean(lat), "max": max(lat)}


async def _throughput(broker: PrivateBroker, fmt: PayloadFormat) -> tuple[float, float]:
    pub = Bus("system", broker.settings("system", payload_format=fmt))
    sub = Bus("bench", broker.settings("bench", max_rate=1e9))  # measure the bus, not the flood limit
    await pub.connect()
    await sub.connect()
    got = 0
    done = asyncio.Event()

    run_id = f"bench-{fmt}-{time.monotonic_ns()}"

    def on_state(msg: StationInfo, evse: int | None) -> None:
        nonlocal got
        if msg.station_id != run_id:  # the retained value of an earlier run
            return
        got += 1
        if msg.evse_count == STATES - 1:
            done.set()

    sub.subscribe(StationInfo, on_state)
    await asyncio.sleep(0.2)
    got = 0
    t0 = time.perf_counter()
    for i in range(STATES):
        await pub.publish(
            StationInfo(station_id=run_id, vendor="v", model="m", evse_count=i, josev_version="x")
        )
        if i % 50 == 0:
            await asyncio.sleep(0)  # let the loop write and read
        while i - got > 150:  # the broker queues at most 200 messages per slow client (max_queued_messages)
            await asyncio.sleep(0)
    t_pub = time.perf_counter() - t0
    await asyncio.wait_for(done.wait(), 120)
    assert got == STATES, f"lost {STATES - got} messages"
    t_all = time.perf_counter() - t0
    await pub.close()
    await sub.close()
    return STATES / t_pub, got / t_all


def main() -> None:
    with PrivateBroker(unix_socket=True) as broker:
        print(f"command/reply round trip (Ping -> Pong), {ROUND_TRIPS} sequential requests, one process:")
        for fmt in ("json", "cbor"):
            for transport in ("tcp", "unix"):
                r = asyncio.run(_round_trips(broker, fmt, transport))  # type: ignore[arg-type]
                print(
                    f"  {fmt:4} over {transport:4}: p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  "
                    f"mean {r['mean']:.3f} ms  max {r['max']:.2f} ms   (target p50 < 1 ms, p99 < 5 ms)"
                )
        print(f"state messages (retained, QoS 1), {STATES} from one publisher to one subscriber:")
        for fmt in ("json", "cbor"):
            sent, delivered = asyncio.run(_throughput(broker, fmt))  # type: ignore[arg-type]
            print(
                f"  {fmt:4}: published {sent:,.0f} msg/s, delivered end to end {delivered:,.0f} msg/s"
                "   (target >= 5,000/s)"
            )


if __name__ == "__main__":
    main()
