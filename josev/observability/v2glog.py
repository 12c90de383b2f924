"""The V2G message log: a bounded in-memory ring of the V2GTP messages of recent sessions, exportable as pcapng.

The SECC service calls :meth:`V2gRecorder.record` for every V2GTP message it receives (``"rx"``, from the EV)
or sends (``"tx"``), with the wall-clock time, the EVSE and the session, and may announce the link-layer and
IPv6 addresses and ports of a session with :meth:`V2gRecorder.open_session` (otherwise stable defaults per
EVSE are used). The recorder keeps at most ``max_records`` messages and ``max_bytes`` payload bytes; the oldest
go first (counted in ``dropped``). :meth:`V2gRecorder.export` writes a session (or everything kept) as a pcapng
file for Wireshark; with a ``directory``, :meth:`V2gRecorder.end_session` writes one file per session.

No I/O happens except in the two methods that write files; no clock is read (timestamps are passed in).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from josev.observability.packets import Endpoint, link_local_from_mac, mac_bytes
from josev.observability.pcapng import Packet, V2gMessage, v2g_capture, write_file

Direction = Literal["rx", "tx"]
"""Seen from the SECC: ``rx`` = sent by the EV, ``tx`` = sent by the SECC."""

DEFAULT_SECC_PORT = 15118
DEFAULT_EV_PORT = 49152


@dataclass(frozen=True, slots=True)
class V2gRecord:
    """One logged V2GTP message (header included)."""

    timestamp: float
    direction: Direction
    data: bytes
    evse: int
    session: str
    udp: bool = False


@dataclass
class SessionInfo:
    """Addresses and life of one logged session."""

    evse: int
    session: str
    ev: Endpoint
    secc: Endpoint
    first: float | None = None
    last: float | None = None
    messages: int = 0
    ended: bool = False
    ev_sdp_port: int | None = None
    """UDP port the EV sent its SDP request from (default: its TCP port)."""


def default_endpoints(evse: int, connection: int = 0) -> tuple[Endpoint, Endpoint]:
    """Stable made-up addresses for an EVSE whose real ones were not announced (locally administered MACs)."""
    if not 1 <= evse <= 0xFFFF:
        raise ValueError(f"EVSE ids are 1..65535, got {evse}")
    hi, lo = evse >> 8, evse & 0xFF
    ev_mac = f"02:00:00:{hi:02x}:{lo:02x}:01"
    secc_mac = f"02:00:00:{hi:02x}:{lo:02x}:02"
    ev = Endpoint(ev_mac, link_local_from_mac(ev_mac), DEFAULT_EV_PORT + connection % 16000)
    secc = Endpoint(secc_mac, link_local_from_mac(secc_mac), DEFAULT_SECC_PORT)
    return ev, secc


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class V2gRecorder:
    """Bounded log of V2GTP messages per (EVSE, session); see the module docstring."""

    def __init__(
        self, *, max_records: int = 20_000, max_bytes: int = 16 * 1024 * 1024, directory: Path | None = None
    ) -> None:
        if max_records < 1 or max_bytes < 1:
            raise ValueError("max_records and max_bytes must be positive")
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.directory = directory
        self.dropped = 0
        """Messages discarded to stay within the bounds."""
        self._ring: deque[V2gRecord] = deque()
        self._bytes = 0
        self._sessions: dict[tuple[int, str], SessionInfo] = {}
        self._connections = 0

    # ---------------------------------------------------------------- recording

    def open_session(
        self,
        evse: int,
        session: str,
        *,
        ev: Endpoint | None = None,
        secc: Endpoint | None = None,
        ev_sdp_port: int | None = None,
    ) -> SessionInfo:
        """Announce a session and its endpoints (MAC, IPv6 address, TCP port of the EV and of the SECC; the
        EV's SDP source port when it differs from its TCP port)."""
        for ep in (ev, secc):
            if ep is not None:
                mac_bytes(ep.mac)  # validate early: a bad address is the caller's error, not the export's
        default_ev, default_secc = default_endpoints(evse, self._connections)
        self._connections += 1
        info = SessionInfo(evse, session, ev or default_ev, secc or default_secc, ev_sdp_port=ev_sdp_port)
        self._sessions[(evse, session)] = info
        return info

    def record(
        self,
        direction: Direction,
        v2gtp_bytes: bytes,
        timestamp: float,
        evse: int,
        session: str,
        *,
        udp: bool = False,
    ) -> None:
        """Log one V2GTP message (``udp``: an SDP datagram). Raises ValueError on a bad direction or EVSE."""
        if direction not in ("rx", "tx"):
            raise ValueError(f"direction must be 'rx' or 'tx', got {direction!r}")
        info = self._sessions.get((evse, session)) or self.open_session(evse, session)
        rec = V2gRecord(timestamp, direction, bytes(v2gtp_bytes), evse, session, udp)
        self._ring.append(rec)
        self._bytes += len(rec.data)
        info.messages += 1
        info.first = timestamp if info.first is None else min(info.first, timestamp)
        info.last = timestamp if info.last is None else max(info.last, timestamp)
        self._trim()

    def _trim(self) -> None:
        while self._ring and (len(self._ring) > self.max_records or self._bytes > self.max_bytes):
            old = self._ring.popleft()
            self._bytes -= len(old.data)
            self.dropped += 1
        live = {(r.evse, r.session) for r in self._ring}
        if len(self._sessions) > len(live) + 64:  # forget sessions whose messages are all gone
            for key in [k for k in self._sessions if k not in live]:
                del self._sessions[key]

    def end_session(self, evse: int, session: str) -> Path | None:
        """Mark a session ended; with a ``directory``, write its pcapng file there and return its path."""
        info = self._sessions.get((evse, session))
        if info is None:
            return None
        info.ended = True
        if self.directory is None or not info.messages:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.export(self.directory / self.file_name(info), evse=evse, session=session)

    # ---------------------------------------------------------------- reading

    @property
    def size(self) -> tuple[int, int]:
        """(messages, payload bytes) kept."""
        return len(self._ring), self._bytes

    def sessions(self) -> list[SessionInfo]:
        """Sessions with messages still in the ring, oldest first."""
        live = {(r.evse, r.session) for r in self._ring}
        found = [s for k, s in self._sessions.items() if k in live]
        return sorted(found, key=lambda s: (s.first or 0.0, s.evse))

    def records(self, evse: int | None = None, session: str | None = None) -> list[V2gRecord]:
        """Messages kept, optionally of one EVSE and/or session, in arrival order."""
        return [
            r
            for r in self._ring
            if (evse is None or r.evse == evse) and (session is None or r.session == session)
        ]

    def packets(self, evse: int | None = None, session: str | None = None) -> list[Packet]:
        """The rebuilt Ethernet/IPv6/TCP packets of the selected sessions, in time order."""
        groups: dict[tuple[int, str], list[V2gMessage]] = {}
        for r in self.records(evse, session):
            groups.setdefault((r.evse, r.session), []).append(
                V2gMessage(
                    r.timestamp, r.direction == "rx", r.data, r.udp, f"evse{r.evse} session {r.session}"
                )
            )
        out: list[Packet] = []
        for key, msgs in groups.items():
            info = self._sessions[key]
            out.extend(v2g_capture(msgs, info.ev, info.secc, close=info.ended, ev_sdp_port=info.ev_sdp_port))
        out.sort(key=lambda p: p.timestamp)  # stable: each session's packets keep their order
        return out

    def export(self, path: Path, *, evse: int | None = None, session: str | None = None) -> Path:
        """Write the selected messages as a pcapng file; raises LookupError when nothing matches."""
        packets = self.packets(evse, session)
        if not packets:
            raise LookupError(f"no V2G messages logged for evse={evse} session={session}")
        name = f"evse{evse}" if evse is not None else "v2g"
        return write_file(path, packets, interface_name=name)

    @staticmethod
    def file_name(info: SessionInfo) -> str:
        """``v2g-evse<N>-<session>-<UTC start>.pcapng`` (session id made file-name safe)."""
        start = dt.datetime.fromtimestamp(info.first or 0.0, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        safe = _UNSAFE.sub("_", info.session)[:64] or "session"
        return f"v2g-evse{info.evse}-{safe}-{start}.pcapng"
