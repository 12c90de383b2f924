"""A hostile host on the PLC link, as its own process (so that its memory is not the station's):
``python -m tests.hostile.attacker IFACE ADDR --tls-port P --tcp-port Q --stalled N --idle M --flood F``.

Opens ``N`` stalled TLS handshakes (half a ClientHello, then nothing) and ``M`` idle TCP connections from the
extra addresses given with ``--source`` in turn, and sends ``F`` tiny V2GTP frames of an unknown payload type
on one more connection; prints ``ready <opened>`` and holds everything open until stdin closes."""

from __future__ import annotations

import argparse
import socket
import struct
import sys

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
    a = p.parse_args()
    idx = socket.if_nametoindex(a.iface)
    sources = a.source or ["::"]
    socks: list[socket.socket] = []
    opened = 0

    def conn(i: int, port: int, first: bytes) -> None:
        nonlocal opened
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(5)
        s.bind((sources[i % len(sources)], 0, 0, idx))
        try:
            s.connect((a.addr, port, 0, idx))
            if first:
                s.sendall(first)
            opened += 1
        except OSError:
            pass
        socks.append(s)

    for i in range(max(a.stalled, a.idle)):
        if i < a.stalled:
            conn(i, a.tls_port, HALF_HELLO)
        if i < a.idle:
            conn(i, a.tcp_port, b"")
    if a.flood:
        conn(0, a.tcp_port, struct.pack("!BBHI", 1, 0xFE, 0x1234, 0) * a.flood)
    print(f"ready {opened}", flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
