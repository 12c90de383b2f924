"""Fixtures: a scripted CSMS and an OCPP client (the station) connected to it over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from josev.ocpp.config import OcppConfig
from josev.ocpp.connection import OcppClient
from josev.ocpp.effects import StationRequest
from tests.ocpp.harness import ScriptedCsms

FAST = {
    "OCPPCommCtrlr/RetryBackOffWaitMinimum": "0",
    "OCPPCommCtrlr/RetryBackOffRandomRange": "0",
    "OCPPCommCtrlr/MessageTimeout[Default]": "2",
    "OCPPCommCtrlr/MessageAttemptInterval[TransactionEvent]": "0",
    "OCPPCommCtrlr/WebSocketPingInterval": "0",
    "SampledDataCtrlr/TxUpdatedInterval": "0",
    "AlignedDataCtrlr/Interval": "0",
}


class StationUnderTest:
    """An :class:`OcppClient` running in the test's event loop, plus what it asked of the station."""

    def __init__(self, cfg: OcppConfig) -> None:
        self.cfg = cfg
        self.requests: list[StationRequest] = []
        self.replies: dict[str, Callable[[StationRequest], dict[str, Any] | None]] = {
            "unlock": lambda r: {"status": "Unlocked"},
            "remote_start": lambda r: {"status": "Accepted"},  # the coordinator takes the start
        }
        self.client = OcppClient(cfg, on_request=self._on_request)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _on_request(self, req: StationRequest) -> dict[str, Any] | None:
        self.requests.append(req)
        fn = self.replies.get(req.kind)
        return fn(req) if fn else None

    @property
    def st(self) -> Any:
        return self.client.station

    async def start(self) -> None:
        self.task = asyncio.create_task(self.client.run(self.stop))

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), 5)
            except TimeoutError:
                self.task.print_stack()
                self.task.cancel()
                raise

    async def feed(self, name: str, *args: Any) -> None:
        """A station-side input; returns once the station requests it caused were handed to the station."""
        await self.client.feed(getattr(self.client.station, name), *args)
        for _ in range(200):
            if self.client._requests.empty():
                break
            await asyncio.sleep(0.005)


def make_config(tmp_path: Path, url: str, **kw: Any) -> OcppConfig:
    variables = dict(FAST)
    variables.update(kw.pop("variables", {}))
    return OcppConfig(
        identity=kw.pop("identity", "CS001"),
        csms_url=url,
        database=tmp_path / "ocpp.sqlite",
        workdir=tmp_path / "work",
        evses=kw.pop("evses", {1: 1, 2: 1}),
        variables=variables,
        serial_number="SN-1",
        firmware_version="1.0",
        **kw,
    )


@pytest.fixture
async def csms() -> AsyncIterator[ScriptedCsms]:
    server = ScriptedCsms()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def station(csms: ScriptedCsms, tmp_path: Path) -> AsyncIterator[StationUnderTest]:
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    await csms.wait_for("BootNotification")
    yield sut
    await sut.close()
