"""A hostile host on the PLC link, as its own process (so that its memory is not the station's):
``python -m tests.hostile.attacker IFACE ADDR --tls-port P --tcp-port Q --stalled N --idle M --flood F``.

Opens ``N`` stalled TLS handshakes (half a ClientHello, then nothing) and ``M`` idle TCP connections from the
extra addresses given with ``--source`` in turn, and sends ``F`` tiny V2GTP frames of an unknown payload type
on one more connection; all connections are started at once (one burst of SYNs), those established within
``--connect-within`` seconds get their first bytes. Prints ``ready <opened>`` and holds everything open until
stdin closes."""

from __future__ import annotations

import argparse
import contextlib
import select
import socket
import struct
import sys
import time

HALF_HELLO = bytes.fromhex("160301020001")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("iface")
    p.add_argument("addr")
    p.add_argument("--tls-port", type=int, default=0)
    p.add_argument("--tcp-port", type=int, default=0)
    p.add_argument("--stalled", type=int, default=0)
    p.add_argument("--idle", type=int, default=0)
    p.add_argument("--flood", type=int, default=0)
    p.add_argument("--source", action="append", default=[])
    p.add_argument("--connect-within", type=float, default=5.0, help="seconds to wait for the connections")
    a = p.parse_args()
    idx = socket.if_nametoindex(a.iface)
    sources = a.source or ["::"]
    pending: list[tuple[socket.socket, bytes]] = []

    def conn(i: int, port: int, first: bytes) -> None:
        """Start a connection without waiting for it (all of them go out as one burst of SYNs)."""
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((sources[i % len(sources)], 0, 0, idx))
        s.connect_ex((a.addr, port, 0, idx))
        pending.append((s, first))

    for i in range(max(a.stalled, a.idle)):
        if i < a.stalled:
            conn(i, a.tls_port, HALF_HELLO)
        if i < a.idle:
            conn(i, a.tcp_port, b"")
    if a.flood:
        conn(0, a.tcp_port, struct.pack("!BBHI", 1, 0xFE, 0x1234, 0) * a.flood)
    opened = 0
    todo = {s.fileno(): (s, first) for s, first in pending}
    deadline = time.monotonic() + a.connect_within
    while todo and time.monotonic() < deadline:
        _, ready, _ = select.select([], list(todo), [], max(0.0, deadline - time.monotonic()))
        for fd in ready:
            s, first = todo.pop(fd)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                opened += 1
                if first:
                    s.setblocking(True)
                    s.settimeout(5)
                    with contextlib.suppress(OSError):
                        s.sendall(first)
    print(f"ready {opened}", flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
