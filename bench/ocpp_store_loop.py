"""Benchmark: how long the OCPP client's SQLite store blocks the asyncio loop it shares with the SECC.

One charging transaction runs against a local CSMS (a websockets server answering every CALL) for
``--seconds``: meter readings every 100 ms (each persisted), a charging-state change every 200 ms (each a
TransactionEvent queued with its seqNo, sent, answered and dequeued) and TxUpdated samples every second. On
the same loop a probe timer stands for the SECC's charge loop: it asks to wake every 2 ms and records how late
it wakes (the stall another service on the loop sees). Each station input is timed too (the synchronous call
into the core, store writes included). The database lives on a real disk (``--dir``, default the system
temporary directory; refused when it is a tmpfs, where fsync costs nothing) with the durability configured
for the board (``durable=True``). Also printed: each SQL call the loop's thread makes into the store (commit
included), the probe's lag while the client is idle (the machine's own noise), and both less the time the
loop's thread waited for a core (Linux schedstat; on a machine shared with other work that wait dominates).

Run: ``.venv/bin/python -m bench ocpp_store_loop`` or ``.venv/bin/python -m bench.ocpp_store_loop
[--seconds S] [--dir DIR] [--no-durable]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from josev.ocpp.config import OcppConfig
from josev.ocpp.connection import OcppClient
from josev.ocpp.effects import Effect

VARIABLES = {
    "OCPPCommCtrlr/RetryBackOffWaitMinimum": "0",
    "OCPPCommCtrlr/RetryBackOffRandomRange": "0",
    "OCPPCommCtrlr/WebSocketPingInterval": "0",
    "SampledDataCtrlr/TxUpdatedInterval": "1",
    "AlignedDataCtrlr/Interval": "0",
}
PROBE_S = 0.002


class TimedConnection:
    """The store's SQLite connection, timing every call the loop thread makes into it (commits included)."""

    def __init__(self, db: sqlite3.Connection, times: list[float], own: list[float]) -> None:
        self._db = db
        self._times = times
        self._own = own

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        waited = runqueue_ms()
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            ms = (time.perf_counter() - t) * 1e3
            self._times.append(ms)
            self._own.append(max(0.0, ms - (runqueue_ms() - waited)))

    def execute(self, *args: Any) -> Any:
        return self._timed(self._db.execute, *args)

    def executemany(self, *args: Any) -> Any:
        return self._timed(self._db.executemany, *args)

    def executescript(self, *args: Any) -> Any:
        return self._timed(self._db.executescript, *args)

    def __enter__(self) -> Any:
        return self._db.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._timed(self._db.__exit__, *exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fs_type(path: Path) -> str:
    """The file system type of the mount holding ``path`` (Linux /proc/mounts)."""
    best, kind = "", "?"
    real = str(path.resolve())
    with open("/proc/mounts") as fh:
        for line in fh:
            _, mnt, fstype = line.split()[:3]
            if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, kind = mnt, fstype
    return kind


def runqueue_ms() -> float:
    """How long this thread has waited for a core (Linux schedstat), in ms: a loaded machine's share of a
    probe's lag, which no code of ours causes."""
    with open("/proc/thread-self/schedstat") as fh:
        return int(fh.read().split()[1]) / 1e6


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def run(seconds: float, directory: Path, durable: bool) -> dict[str, Any]:
    port = free_port()
    tx_events: list[dict[str, Any]] = []

    async def handler(conn: ServerConnection) -> None:
        async for text in conn:
            msg = json.loads(text)
            if msg[0] != 2:
                continue
            action, payload = msg[2], msg[3]
            reply: dict[str, Any] = {}
            if action == "BootNotification":
                reply = {"currentTime": "2030-01-01T00:00:00Z", "interval": 3600, "status": "Accepted"}
            elif action == "Heartbeat":
                reply = {"currentTime": "2030-01-01T00:00:00Z"}
            elif action == "Authorize":
                reply = {"idTokenInfo": {"status": "Accepted"}}
            elif action == "TransactionEvent":
                tx_events.append(payload)
                reply = {"idTokenInfo": {"status": "Accepted"}} if payload.get("idToken") else {}
            await conn.send(json.dumps([3, msg[1], reply]))

    server = await serve(handler, "127.0.0.1", port, subprotocols=["ocpp2.0.1"])  # type: ignore[list-item]
    with tempfile.TemporaryDirectory(dir=directory, prefix="ocpp-store-loop-") as tmp:
        cfg = OcppConfig(
            identity="BENCH",
            csms_url=f"ws://127.0.0.1:{port}",
            database=Path(tmp) / "ocpp.sqlite",
            workdir=Path(tmp),
            evses={1: 1},
            variables=VARIABLES,
            durable=durable,
        )
        client = OcppClient(cfg)
        st = client.station
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        await asyncio.wait_for(client.connected.wait(), 10)
        await asyncio.sleep(0.5)  # boot, status notifications
        # a short transaction first, so one-time costs (message schemas compiled on first use...) stay out
        await client.feed(st.plug, 1, 1, True)
        await client.feed(st.present_token, 1, {"idToken": "WARMUP", "type": "ISO14443"})
        await asyncio.sleep(0.3)
        await client.feed(st.meter, 1, {"Energy.Active.Import.Register": 0.0, "Power.Active.Import": 0.0})
        await client.feed(st.charging_state, 1, "Charging")
        await asyncio.sleep(0.3)
        await client.feed(st.plug, 1, 1, False)
        await asyncio.sleep(0.5)
        warmup = len(tx_events)

        inputs: list[float] = []

        def timed(fn: Callable[..., list[Effect]]) -> Callable[..., list[Effect]]:
            def call(*args: Any) -> list[Effect]:
                t = time.perf_counter()
                try:
                    return fn(*args)
                finally:
                    inputs.append((time.perf_counter() - t) * 1e3)

            return call

        probing = asyncio.Event()

        async def probe(lags: list[float], own: list[float] | None = None) -> None:
            loop = asyncio.get_running_loop()
            while not probing.is_set():
                due = loop.time() + PROBE_S
                waited = runqueue_ms()
                await asyncio.sleep(PROBE_S)
                lag = (loop.time() - due) * 1e3
                lags.append(lag)
                if own is not None:  # the lag less the time the loop's thread waited for a core
                    own.append(max(0.0, lag - (runqueue_ms() - waited)))

        # the machine's own noise first: the probe alone, the client connected and idle
        idle: list[float] = []
        prober = asyncio.create_task(probe(idle))
        await asyncio.sleep(min(3.0, seconds))
        probing.set()
        await prober
        probing.clear()
        sql: list[float] = []
        sql_own: list[float] = []
        st.store._db = TimedConnection(st.store._db, sql, sql_own)  # type: ignore[assignment]
        lags: list[float] = []
        own: list[float] = []
        prober = asyncio.create_task(probe(lags, own))
        await client.feed(timed(st.plug), 1, 1, True)
        await client.feed(timed(st.present_token), 1, {"idToken": "BENCH", "type": "ISO14443"})
        t0 = time.monotonic()
        energy, step = 0.0, 0
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(0.1)
            energy += 3.0
            await client.feed(
                timed(st.meter), 1, {"Energy.Active.Import.Register": energy, "Power.Active.Import": 11000.0}
            )
            step += 1
            if step % 2 == 0:
                state = "Charging" if step % 4 == 0 else "SuspendedEV"
                await client.feed(timed(st.charging_state), 1, state)
        await client.feed(timed(st.plug), 1, 1, False)
        deadline = time.monotonic() + 10
        while (st.store.queue_length() or st.in_flight is not None) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        probing.set()
        await prober
        stop.set()
        await task
    server.close()
    await server.wait_closed()
    measured = tx_events[warmup:]
    seqs = [e["seqNo"] for e in measured]
    return {
        "dir": f"{directory} ({fs_type(directory)})",
        "durable": durable,
        "seconds": seconds,
        "transaction_events_delivered": len(measured),
        "seq_no_in_order": bool(seqs) and seqs == list(range(seqs[0], seqs[0] + len(seqs))),
        "ended": bool(measured) and measured[-1]["eventType"] == "Ended",
        "one_transaction": len({e["transactionInfo"]["transactionId"] for e in measured}) == 1,
        "station_inputs": len(inputs),
        "input_ms_p50": round(statistics.median(inputs), 3),
        "input_ms_p99": round(pct(inputs, 99), 3),
        "input_ms_max": round(max(inputs), 3),
        "store_calls_on_loop": len(sql),
        "store_call_ms_p50": round(pct(sql, 50), 3),
        "store_call_ms_p99": round(pct(sql, 99), 3),
        "store_call_ms_max": round(max(sql), 3),
        "store_call_less_cpu_wait_ms_p99": round(pct(sql_own, 99), 3),
        "store_call_less_cpu_wait_ms_max": round(max(sql_own), 3),
        "load_average_1min": os.getloadavg()[0],
        "idle_probe_lag_ms_p50": round(pct(idle, 50), 3),
        "idle_probe_lag_ms_p99": round(pct(idle, 99), 3),
        "idle_probe_lag_ms_max": round(max(idle), 3),
        "probe_wakeups": len(lags),
        "probe_lag_ms_p50": round(pct(lags, 50), 3),
        "probe_lag_ms_p99": round(pct(lags, 99), 3),
        "probe_lag_ms_max": round(max(lags), 3),
        "probe_lags_over_1ms": sum(1 for v in lags if v > 1.0),
        "probe_lag_less_cpu_wait_ms_p50": round(pct(own, 50), 3),
        "probe_lag_less_cpu_wait_ms_p99": round(pct(own, 99), 3),
        "probe_lag_less_cpu_wait_ms_max": round(max(own), 3),
        "probe_lags_less_cpu_wait_over_1ms": sum(1 for v in own if v > 1.0),
    }


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument(
        "--no-durable",
        action="store_true",
        help="durable=False: commits synchronous=NORMAL on the loop, nothing fsync'd for power cuts",
    )
    args, _ = ap.parse_known_args()
    if fs_type(args.dir) in ("tmpfs", "ramfs"):
        raise SystemExit(
            f"{args.dir} is a {fs_type(args.dir)}: fsync costs nothing there; give --dir on a disk"
        )
    os.makedirs(args.dir, exist_ok=True)
    result = asyncio.run(run(args.seconds, args.dir, not args.no_durable))
    for k, v in result.items():
        print(f"ocpp_store_loop.{k}: {v}")


if __name__ == "__main__":
    main()
