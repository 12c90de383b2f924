"""One TCP connection rebuilt from the byte streams it carried (sans-IO): handshake, data, ACKs, close.

:class:`TcpConversation` keeps both sides' sequence numbers. Each call to :meth:`TcpConversation.send` returns
the Ethernet frames that carry a chunk of one side's stream: the three-way handshake first (once), then
segments of at most ``mss`` bytes (PSH|ACK), each acknowledged by the peer with a pure ACK - the pattern a
capture on the PLC link shows. :meth:`TcpConversation.close` returns the FIN exchange.
"""

from __future__ import annotations

import zlib

from josev.observability.packets import ACK, FIN, PSH, SYN, Endpoint, tcp_frame

DEFAULT_MSS = 1440
"""1500-byte MTU minus the IPv6 and TCP headers (what ISO 15118 PLC modems use)."""


def initial_sequence(src: Endpoint, dst: Endpoint) -> int:
    """A deterministic initial sequence number for one direction (so exports are reproducible)."""
    return zlib.crc32(f"{src.ip}:{src.port}>{dst.ip}:{dst.port}".encode()) & 0xFFFFFFFF


class TcpConversation:
    """Sequence/acknowledgement bookkeeping of one connection from ``client`` (the EV) to ``server`` (SECC)."""

    def __init__(self, client: Endpoint, server: Endpoint, *, mss: int = DEFAULT_MSS) -> None:
        if mss < 1:
            raise ValueError("mss must be positive")
        self.client = client
        self.server = server
        self.mss = mss
        self._next = {True: initial_sequence(client, server), False: initial_sequence(server, client)}
        self.established = False
        self.closed = False

    def _ends(self, from_client: bool) -> tuple[Endpoint, Endpoint]:
        return (self.client, self.server) if from_client else (self.server, self.client)

    def handshake(self) -> list[bytes]:
        """SYN, SYN/ACK, ACK (with the MSS option on both SYNs)."""
        c, s = self.client, self.server
        cs, ss = self._next[True], self._next[False]
        frames = [
            tcp_frame(c, s, seq=cs, ack=0, flags=SYN, mss=self.mss),
            tcp_frame(s, c, seq=ss, ack=cs + 1, flags=SYN | ACK, mss=self.mss),
            tcp_frame(c, s, seq=cs + 1, ack=ss + 1, flags=ACK),
        ]
        self._next[True] = (cs + 1) & 0xFFFFFFFF
        self._next[False] = (ss + 1) & 0xFFFFFFFF
        self.established = True
        return frames

    def send(self, from_client: bool, data: bytes) -> list[bytes]:
        """Frames carrying ``data`` from one side (preceded by the handshake on first use)."""
        if self.closed:
            raise ValueError("the connection is closed")
        frames = [] if self.established else self.handshake()
        src, dst = self._ends(from_client)
        for off in range(0, len(data), self.mss):
            chunk = data[off : off + self.mss]
            seq, peer = self._next[from_client], self._next[not from_client]
            frames.append(tcp_frame(src, dst, seq=seq, ack=peer, flags=PSH | ACK, payload=chunk))
            seq = (seq + len(chunk)) & 0xFFFFFFFF
            self._next[from_client] = seq
            frames.append(tcp_frame(dst, src, seq=peer, ack=seq, flags=ACK))
        return frames

    def close(self) -> list[bytes]:
        """The EV closes: its FIN, the SECC's ACK, the SECC's FIN, the EV's last ACK."""
        if self.closed or not self.established:
            return []
        c, s = self.client, self.server
        cs, ss = self._next[True], self._next[False]
        frames = [
            tcp_frame(c, s, seq=cs, ack=ss, flags=FIN | ACK),
            tcp_frame(s, c, seq=ss, ack=cs + 1, flags=ACK),
            tcp_frame(s, c, seq=ss, ack=cs + 1, flags=FIN | ACK),
            tcp_frame(c, s, seq=cs + 1, ack=ss + 1, flags=ACK),
        ]
        self.closed = True
        return frames
