"""The asyncio driver (logic only, with an in-memory socket): timers fire, a failing core does not stop it."""

from __future__ import annotations

import asyncio

from josev.slac.driver import CoreDriver
from josev.slac.events import Output


class MemSock:
    def __init__(self) -> None:
        self.rx: asyncio.Queue[bytes] = asyncio.Queue()
        self.tx: list[bytes] = []
        self.closed = False

    def attach(self) -> None:
        pass

    async def recv(self) -> bytes:
        return await self.rx.get()

    def send(self, frame: bytes) -> None:
        self.tx.append(frame)

    def close(self) -> None:
        self.closed = True


class Core:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.timers: list[float] = []

    def receive(self, raw: bytes, now: float) -> Output:
        if raw == b"boom":
            raise RuntimeError("bug")
        self.received.append(raw)
        return Output(frames=[b"echo:" + raw], deadline=now + 0.05)

    def on_timer(self, now: float) -> Output:
        self.timers.append(now)
        return Output()


async def test_driver_feeds_frames_fires_timers_and_survives_core_errors() -> None:
    sock, core = MemSock(), Core()
    driver = CoreDriver(core, sock)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(stop))
    await sock.rx.put(b"boom")
    await sock.rx.put(b"one")
    await asyncio.sleep(0.15)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert core.received == [b"one"] and sock.tx == [b"echo:one"]
    assert len(core.timers) == 1 and driver.errors == 1 and sock.closed


async def test_apply_from_outside_rearms_the_timer() -> None:
    sock, core = MemSock(), Core()
    driver = CoreDriver(core, sock)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(stop))
    await asyncio.sleep(0.01)
    await driver.apply(Output(deadline=driver.now() + 0.03))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert len(core.timers) == 1
