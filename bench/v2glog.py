"""V2G message log cost: time per recorded frame with an empty and with a full ring (the flood of issue 22:
20,000 tiny frames on one connection while a car's session is logged), and the memory the full ring holds.
``python -m bench v2glog``."""

from __future__ import annotations

import struct
import time
import tracemalloc

from josev.observability.v2glog import V2gRecorder

FRAME = struct.pack("!BBHI", 1, 0xFE, 0x1234, 0)
N = 20_000


def per_record_us(rec: V2gRecorder, n: int, session: str, t0: float) -> float:
    start = time.perf_counter()
    for i in range(n):
        rec.record("rx", FRAME, t0 + i, 1, session)
    return (time.perf_counter() - start) / n * 1e6


def fill(rec: V2gRecorder) -> tuple[float, float]:
    empty = per_record_us(rec, N, "flood", 0.0)  # fills the half of the ring one session may use
    for i in range(N):
        rec.record("tx", FRAME * 4, 1e5 + i, 2, "car")  # the car's session fills the other half
    full = per_record_us(rec, N, "flood", 2e5)
    return empty, full


def main() -> None:
    rec = V2gRecorder()
    empty, full = fill(rec)
    tracemalloc.start()
    fill(V2gRecorder())
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    kept, size = rec.size
    print(
        f"record(): {empty:.2f} us/frame into an empty ring, {full:.2f} us/frame into a full one ({N} frames)"
    )
    print(
        f"ring: {kept} messages, {size} payload bytes; Python heap {current / 1e6:.1f} MB (peak {peak / 1e6:.1f})"
    )
    print(f"car's messages kept while flooded: {len(rec.records(session='car'))}; dropped {rec.dropped}")


if __name__ == "__main__":
    main()
