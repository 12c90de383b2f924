"""Connection limits of one EVSE's SECC, sans-IO: who may connect, who is pushed out, how fast frames may come.

An EVSE has one car. The car may open a new connection while its old one still looks alive to the SECC (a
TCP drop the SECC has not noticed yet, a reconnect after a pause), so one connection per EVSE is too few; but
nothing on the PLC link needs more than a handful. :class:`Admission` keeps at most ``max_connections`` per
EVSE (TLS handshakes included) and ``max_per_peer`` per source address, and a token bucket of new connections
per source address. When the EVSE is full, a new connection pushes out, in this order:

1. a connection without a V2G session yet (handshaking, or before SessionSetup), of the address holding the
   most connections, oldest first - so a flooder's own connections go before a car's single one;
2. a connection in session that made no progress (no response sent) for ``stall_after`` seconds - the
   half-open connection of a car that reconnects after a TCP drop;

and is refused when there is none. A connection in an active session is never pushed out.
:class:`TokenBucket` also bounds the V2GTP frames a connection may send (a car sends one request per
response; a flood of tiny frames is closed).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

MAX_PEERS = 256
"""Per-address buckets remembered (least recently used go first)."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Limits of one EVSE (``[secc]`` settings; see docs/security.md)."""

    max_connections: int = 4
    """Connections of one EVSE at once (TLS handshakes included)."""
    max_per_peer: int = 2
    """Connections of one source address at once."""
    peer_rate: float = 2.0
    """New connections per second and source address (refill of the bucket)."""
    peer_burst: int = 10
    """New connections one source address may open at once."""
    frame_rate: float = 200.0
    """V2GTP frames per second one connection may send (refill)."""
    frame_burst: int = 400
    """V2GTP frames one connection may send at once."""
    tls_handshake_timeout: float = 5.0
    """Seconds a TLS handshake may take."""
    stall_after: float = 5.0
    """A connection in session silent this long may be replaced by a new one."""

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_per_peer < 1 or self.peer_burst < 1 or self.frame_burst < 1:
            raise ValueError("connection limits must be at least 1")
        if self.peer_rate <= 0 or self.frame_rate <= 0 or self.tls_handshake_timeout <= 0:
            raise ValueError("rates and timeouts must be positive")


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take` spends them."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, n: float, now: float) -> bool:
        """Spend ``n`` tokens; False (nothing spent) when there are not enough."""
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        if self.tokens < n:
            return False
        self.tokens -= n
        return True

    def full(self, now: float) -> bool:
        """True when the bucket has refilled (it can be forgotten)."""
        return self.tokens + (now - self.stamp) * self.rate >= self.burst


@dataclass(slots=True)
class ConnState:
    """What :class:`Admission` knows of one connection."""

    peer: str
    opened: float
    progress: float
    in_session: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to a new connection: admitted or not, and which connections to close for it."""

    admitted: bool
    evict: tuple[int, ...] = ()
    reason: str = ""


@dataclass
class Admission:
    """The connection table of one EVSE (see the module docstring)."""

    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    conns: dict[int, ConnState] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    evicted: int = 0
    _peers: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict)

    def _count(self, reason: str) -> Decision:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        return Decision(False, (), reason)

    def _bucket(self, peer: str, now: float) -> TokenBucket:
        b = self._peers.get(peer)
        if b is None:
            b = TokenBucket(self.limits.peer_rate, self.limits.peer_burst, now)
            self._peers[peer] = b
            while len(self._peers) > MAX_PEERS:
                self._peers.popitem(last=False)
        else:
            self._peers.move_to_end(peer)
        return b

    def _victim(self, now: float, peer: str | None = None, skip: tuple[int, ...] = ()) -> int | None:
        mine = [
            (cid, c) for cid, c in self.conns.items() if cid not in skip and (peer is None or c.peer == peer)
        ]
        pre = [(cid, c) for cid, c in mine if not c.in_session]
        if pre:
            per: dict[str, int] = {}
            for c in self.conns.values():
                per[c.peer] = per.get(c.peer, 0) + 1
            return min(pre, key=lambda x: (-per[x[1].peer], x[1].opened))[0]
        stalled = [(cid, c) for cid, c in mine if now - c.progress >= self.limits.stall_after]
        if stalled:
            return min(stalled, key=lambda x: x[1].progress)[0]
        return None

    def admit(self, cid: int, peer: str, now: float) -> Decision:
        """A new connection ``cid`` from address ``peer``: admit it (maybe pushing others out) or refuse."""
        if not self._bucket(peer, now).take(1, now):
            return self._count("peer_rate")
        evict: tuple[int, ...] = ()
        if sum(1 for c in self.conns.values() if c.peer == peer) >= self.limits.max_per_peer:
            v = self._victim(now, peer)
            if v is None:
                return self._count("peer_connections")
            evict = (v,)
        if len(self.conns) - len(evict) >= self.limits.max_connections:
            v = self._victim(now, skip=evict)
            if v is None:
                return self._count("evse_connections")
            evict += (v,)
        for v in evict:
            del self.conns[v]
        self.evicted += len(evict)
        self.conns[cid] = ConnState(peer, now, now)
        self._gc(now)
        return Decision(True, evict)

    def progress(self, cid: int, now: float) -> None:
        """The connection got a response (it is doing V2G)."""
        c = self.conns.get(cid)
        if c is not None:
            c.progress = now

    def session_started(self, cid: int, now: float) -> None:
        """SessionSetup accepted on the connection."""
        c = self.conns.get(cid)
        if c is not None:
            c.in_session = True
            c.progress = now

    def closed(self, cid: int) -> None:
        """The connection is gone."""
        self.conns.pop(cid, None)

    def _gc(self, now: float) -> None:
        while self._peers:
            peer, b = next(iter(self._peers.items()))
            if not b.full(now) or any(c.peer == peer for c in self.conns.values()):
                break
            del self._peers[peer]
