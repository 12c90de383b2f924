"""V2GTP deframing cost (josev.v2g.v2gtp.Deframer): 10,000 frames of 40..99 bytes fed one frame per call, as one
buffer, and in 1460-byte TCP segments; best of 7 runs each. ``python -m bench v2gtp``."""

from __future__ import annotations

import time

from josev.v2g import v2gtp

N = 10_000
RUNS = 7


def best_ms(chunks: list[bytes]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        d = v2gtp.Deframer()
        start = time.perf_counter()
        n = 0
        for c in chunks:
            n += len(d.feed(c))
        best = min(best, time.perf_counter() - start)
        assert n == N and d.buffered == 0
    return best * 1e3


def main() -> None:
    frames = [v2gtp.frame(v2gtp.PayloadType.EXI, bytes(range(40 + i % 60))) for i in range(N)]
    stream = b"".join(frames)
    segments = [stream[i : i + 1460] for i in range(0, len(stream), 1460)]
    print(f"deframing {N} frames ({len(stream)} bytes), best of {RUNS}:")
    print(f"  one frame per feed:    {best_ms(frames):6.1f} ms")
    print(f"  whole stream at once:  {best_ms([stream]):6.1f} ms")
    print(f"  1460-byte segments:    {best_ms(segments):6.1f} ms")


if __name__ == "__main__":
    main()
