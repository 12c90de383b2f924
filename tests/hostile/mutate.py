"""Deterministic byte mutations for the live fuzz tests (a seeded :class:`random.Random`)."""

from __future__ import annotations

import random
import struct


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One mutation of ``data``: bit flips, byte changes, insertions, deletions, truncation, duplication,
    a changed V2GTP length or payload type, or random bytes."""
    b = bytearray(data)
    op = rng.randrange(10)
    if op == 0 and b:
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif op == 1 and b:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    elif op == 2:
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif op == 3 and len(b) > 1:
        i = rng.randrange(len(b))
        del b[i : i + rng.randint(1, 8)]
    elif op == 4 and b:
        del b[rng.randrange(len(b)) :]
    elif op == 5:
        b += b[: rng.randint(0, len(b))]
    elif op == 6 and len(b) >= 8:
        struct.pack_into(
            "!I", b, 4, rng.choice((0, 1, len(b), 0xFFFF, 0x10000, 0xFFFFFFFF, rng.randrange(1 << 32)))
        )
    elif op == 7 and len(b) >= 4:
        struct.pack_into(
            "!H", b, 2, rng.choice((0x8001, 0x8002, 0x8004, 0x9000, 0x9001, 0, rng.randrange(65536)))
        )
    elif op == 8:
        b = bytearray(rng.randbytes(rng.randint(0, 64)))
    else:
        i = rng.randrange(len(b) + 1)
        b[i:i] = b[: rng.randint(0, 8)]
    return bytes(b)
