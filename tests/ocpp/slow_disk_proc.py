"""A station process whose event loop is probed while its disk is slow (run under the ``slow_fsync`` shim of
tests/ocpp/test_store_off_loop.py, which makes every fsync/fdatasync sleep while a flag file exists).

``python -m tests.ocpp.slow_disk_proc CFG FLAG``: boots, starts a transaction with a fast disk, then creates
FLAG (the disk turns slow), feeds one charging-state change (a TransactionEvent queued with its seqNo) and
keeps a 5 ms probe timer running for ``PROBE_S``; prints one JSON line: the probe's lags (ms) and the
monotonic times around the input, then stops."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from josev.ocpp.config import OcppConfig
from josev.ocpp.connection import OcppClient

PROBE_S = 1.5


async def main(cfg_path: str, flag: str) -> None:
    cfg = OcppConfig.model_validate(json.loads(Path(cfg_path).read_text()))  # noqa: ASYNC240
    client = OcppClient(cfg)
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    await asyncio.wait_for(client.connected.wait(), 10)
    st = client.station
    await client.feed(st.plug, 1, 1, True)
    await client.feed(st.present_token, 1, {"idToken": "TAG1", "type": "ISO14443"})
    await asyncio.sleep(0.5)  # BootNotification, StatusNotification, TransactionEvent Started: all answered
    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            due = loop.time() + 0.005
            await asyncio.sleep(0.005)
            lags.append((loop.time() - due) * 1e3)

    prober = asyncio.create_task(probe())
    await asyncio.sleep(0.05)
    Path(flag).touch()  # noqa: ASYNC240 - the disk is slow from now on
    t_feed = time.monotonic()
    await client.feed(st.charging_state, 1, "Charging")
    t_fed = time.monotonic()
    await asyncio.sleep(max(0.0, PROBE_S - (t_fed - t_feed)))
    done.set()
    await prober
    Path(flag).unlink()  # noqa: ASYNC240
    print(json.dumps({"lags_ms": lags, "t_feed": t_feed, "t_fed": t_fed}), flush=True)
    stop.set()
    await task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
