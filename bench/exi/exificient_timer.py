"""Times the EXIficient path of the PyPI package ``iso15118`` (py4j -> EXICodec.jar), as Josev uses it.

Run with the peers venv: ``.venv-peers/bin/python bench/exi/exificient_timer.py MESSAGES.json``; prints
JSON ``{label: {"decode_us": .., "encode_us": ..}}``. MESSAGES.json: list of {label, namespace, hex, json}.
"""

from __future__ import annotations

import json
import sys
import time


def best(fn, n: int, rounds: int = 3) -> float:  # type: ignore[no-untyped-def]
    out = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        out = min(out, (time.perf_counter() - t) / n)
    return out


def run() -> None:
    from iso15118.shared.exificient_exi_codec import ExificientEXICodec

    codec = ExificientEXICodec()
    with open(sys.argv[1]) as fh:
        msgs = json.load(fh)
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    out = {}
    for m in msgs:
        data = bytes.fromhex(m["hex"])
        text = json.dumps(m["json"], separators=(",", ":"))
        for _ in range(20):  # JIT warm-up
            codec.decode(data, m["namespace"])
            codec.encode(text, m["namespace"])
        enc = bytes(codec.encode(text, m["namespace"]))
        out[m["label"]] = {
            "decode_us": best(lambda: codec.decode(data, m["namespace"]), n) * 1e6,  # noqa: B023
            "encode_us": best(lambda: codec.encode(text, m["namespace"]), n) * 1e6,  # noqa: B023
            "same_bytes": enc == data,
        }
    codec.gateway.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    run()
