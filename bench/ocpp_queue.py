"""Benchmark: 10,000 TransactionEvents queued while the CSMS is unreachable, then drained after it comes
back. Prints enqueue and drain time, memory (peak RSS and Python heap) and whether order/seqNo were kept.

Run: ``.venv/bin/python -m bench.ocpp_queue [--events N] [--no-durable]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from josev.ocpp.config import OcppConfig
from josev.ocpp.connection import OcppClient

FAST = {
    "OCPPCommCtrlr/RetryBackOffWaitMinimum": "0",
    "OCPPCommCtrlr/RetryBackOffRandomRange": "0",
    "OCPPCommCtrlr/WebSocketPingInterval": "0",
    "SampledDataCtrlr/TxUpdatedInterval": "0",
    "AlignedDataCtrlr/Interval": "0",
    "AuthCtrlr/OfflineTxForUnknownIdEnabled": "true",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(n_events: int, durable: bool) -> dict[str, Any]:
    port = free_port()
    received: list[dict[str, Any]] = []
    done = asyncio.Event()

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
                received.append(payload)
                if len(received) >= n_events:
                    done.set()
            await conn.send(json.dumps([3, msg[1], reply]))

    with tempfile.TemporaryDirectory() as tmp:
        cfg = OcppConfig(
            identity="BENCH",
            csms_url=f"ws://127.0.0.1:{port}",
            database=Path(tmp) / "q.sqlite",
            workdir=Path(tmp),
            evses={1: 1},
            variables=FAST,
            durable=durable,
        )
        client = OcppClient(cfg)
        st = client.station
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        tracemalloc.start()
        t0 = time.perf_counter()
        now = time.time()
        st.plug(1, 1, True, now)
        st.present_token(1, {"idToken": "BENCH", "type": "ISO14443"}, now)
        states = ["Charging", "SuspendedEV"]
        for i in range(n_events - 2):
            st.charging_state(1, states[i % 2], time.time())
        st.plug(1, 1, False, time.time())
        t_enqueue = time.perf_counter() - t0
        queued = st.store.queue_length()
        heap_after_enqueue = tracemalloc.get_traced_memory()[1]
        server = await serve(handler, "127.0.0.1", port, subprotocols=["ocpp2.0.1"])  # type: ignore[list-item]
        t1 = time.perf_counter()
        await asyncio.wait_for(done.wait(), 600)
        t_drain = time.perf_counter() - t1
        heap_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        stop.set()
        await task
        server.close()
        await server.wait_closed()
        seqs = [e["seqNo"] for e in received]
        return {
            "events": n_events,
            "durable": durable,
            "queued": queued,
            "enqueue_s": round(t_enqueue, 3),
            "enqueue_per_s": round(n_events / t_enqueue),
            "drain_s": round(t_drain, 3),
            "drain_per_s": round(n_events / t_drain),
            "order_kept": seqs == list(range(n_events)),
            "all_offline": all(e.get("offline") for e in received),
            "one_transaction": len({e["transactionInfo"]["transactionId"] for e in received}) == 1,
            "py_heap_peak_kib_after_enqueue": heap_after_enqueue // 1024,
            "py_heap_peak_kib": heap_peak // 1024,
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--no-durable", action="store_true", help="SQLite synchronous=NORMAL instead of FULL")
    args = ap.parse_args()
    result = asyncio.run(run(args.events, not args.no_durable))
    for k, v in result.items():
        print(f"ocpp_queue.{k}: {v}")


if __name__ == "__main__":
    main()
