"""The V2G message log: a bounded in-memory ring of the V2GTP messages of recent sessions, exportable as pcapng.

The SECC service calls :meth:`V2gRecorder.record` for every V2GTP message it receives (``"rx"``, from the EV)
or sends (``"tx"``), with the wall-clock time, the EVSE and the session, and may announce the link-layer and
IPv6 addresses and ports of a session with :meth:`V2gRecorder.open_session` (otherwise stable defaults per
EVSE are used) and its V2G SessionID with :meth:`V2gRecorder.set_session_id` (written into the packet
comments).

Costs and bounds (the log sits next to the charging path, so none of them may grow with what a peer sends):

* :meth:`~V2gRecorder.record` is O(1): one append and a few counters; trimming pops from the front.
* At most ``max_records`` messages and ``max_bytes`` payload bytes are kept in all (the oldest go first), and
  at most ``max_session_records`` of one session (its oldest go first), so one flooding connection cannot push
  the messages of a charging car out of the ring. Sessions whose messages are all gone are forgotten.
* With a ``directory``, :meth:`~V2gRecorder.end_session` hands a copy of the session to a
  :class:`~josev.observability.v2gfiles.PcapngWriter` thread, which builds and writes the pcapng file off the
  event loop (files 0600: they may hold decrypted TLS traffic) and keeps the folder within ``max_files`` and
  ``max_dir_bytes`` by deleting the oldest logs. :meth:`~V2gRecorder.flush` waits for pending files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from josev.observability.packets import Endpoint, link_local_from_mac, mac_bytes
from josev.observability.pcapng import Packet, V2gMessage, v2g_capture, write_file

Direction = Literal["rx", "tx"]
"""Seen from the SECC: ``rx`` = sent by the EV, ``tx`` = sent by the SECC."""

DEFAULT_SECC_PORT = 15118
DEFAULT_EV_PORT = 49152
MAX_SESSIONS = 4096
"""Sessions remembered at most (each has at least one message in the ring, so this is never reached in
practice; a safety net against an unbounded table)."""


@dataclass(frozen=True, slots=True)
class V2gRecord:
    """One logged V2GTP message (header included)."""

    timestamp: float
    direction: Direction
    data: bytes
    evse: int
    session: str
    udp: bool = False
    link: bool = False
    """``data`` is a whole Ethernet frame (SLAC captured on the PLC interface)."""


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
    session_id: str = ""
    """The V2G SessionID (hex) once the SECC assigned it."""
    dropped: int = 0
    """Messages of this session discarded to stay within the bounds."""
    kept: deque[_Entry] = field(default_factory=deque, repr=False)

    def comment(self) -> str:
        """The packet comment of this session's messages."""
        sid = f" SessionID {self.session_id}" if self.session_id else ""
        return f"evse{self.evse} {self.session}{sid}"


class _Entry:
    """A record in the global ring; ``alive`` turns False when its session's own bound dropped it."""

    __slots__ = ("alive", "info", "rec")

    def __init__(self, rec: V2gRecord, info: SessionInfo) -> None:
        self.rec = rec
        self.info = info
        self.alive = True


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


def mac_from_link_local(ip: str) -> str | None:
    """The MAC address inside an EUI-64 link-local address (``fe80::xxxx:xxff:fexx:xxxx``), else None (a
    privacy or static address does not carry it)."""
    try:
        b = ipaddress.IPv6Address(ip.split("%", 1)[0]).packed
    except ValueError:
        return None
    if b[:8] != b"\xfe\x80" + bytes(6) or b[11:13] != b"\xff\xfe":
        return None
    mac = bytes([b[8] ^ 0x02]) + b[9:11] + b[13:16]
    return ":".join(f"{x:02x}" for x in mac)


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class V2gRecorder:
    """Bounded log of V2GTP messages per (EVSE, session); see the module docstring."""

    def __init__(
        self,
        *,
        max_records: int = 20_000,
        max_bytes: int = 16 * 1024 * 1024,
        directory: Path | None = None,
        max_session_records: int | None = None,
        max_files: int = 200,
        max_dir_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if max_records < 1 or max_bytes < 1:
            raise ValueError("max_records and max_bytes must be positive")
        if max_files < 1 or max_dir_bytes < 1:
            raise ValueError("max_files and max_dir_bytes must be positive")
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_session_records = max_session_records or max(1, max_records // 2)
        self.directory = directory
        self.dropped = 0
        """Messages discarded to stay within the bounds."""
        self._ring: deque[_Entry] = deque()
        self._live = 0
        self._bytes = 0
        self._sessions: dict[tuple[int, str], SessionInfo] = {}
        self._connections = 0
        self._writer = None
        if directory is not None:
            from josev.observability.v2gfiles import PcapngWriter

            self._writer = PcapngWriter(directory, max_files=max_files, max_bytes=max_dir_bytes)

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
        key = (evse, session)
        old = self._sessions.get(key)
        info = SessionInfo(evse, session, ev or default_ev, secc or default_secc, ev_sdp_port=ev_sdp_port)
        if old is not None:  # re-announced: keep what was logged so far
            info.kept, info.first, info.last, info.messages = old.kept, old.first, old.last, old.messages
            info.session_id = old.session_id
            for e in info.kept:
                e.info = info
        self._sessions[key] = info
        if len(self._sessions) > MAX_SESSIONS:
            self._forget_oldest_session()
        return info

    def set_session_id(self, evse: int, session: str, session_id: str) -> None:
        """Attach the V2G SessionID to a logged session (shown in the export's packet comments)."""
        info = self._sessions.get((evse, session))
        if info is not None:
            info.session_id = session_id

    def record(
        self,
        direction: Direction,
        v2gtp_bytes: bytes,
        timestamp: float,
        evse: int,
        session: str,
        *,
        udp: bool = False,
        link: bool = False,
    ) -> None:
        """Log one V2GTP message (``udp``: an SDP datagram; ``link``: a whole Ethernet frame such as a SLAC
        message, ``rx`` when the EV sent it). O(1). Raises ValueError on a bad direction or EVSE."""
        if direction != "rx" and direction != "tx":
            raise ValueError(f"direction must be 'rx' or 'tx', got {direction!r}")
        info = self._sessions.get((evse, session)) or self.open_session(evse, session)
        rec = V2gRecord(timestamp, direction, bytes(v2gtp_bytes), evse, session, udp, link)
        entry = _Entry(rec, info)
        self._ring.append(entry)
        info.kept.append(entry)
        self._live += 1
        self._bytes += len(rec.data)
        info.messages += 1
        if info.first is None or timestamp < info.first:
            info.first = timestamp
        if info.last is None or timestamp > info.last:
            info.last = timestamp
        if len(info.kept) > self.max_session_records:
            self._kill(info.kept.popleft())
        self._trim()

    def _kill(self, entry: _Entry) -> None:
        """Drop a record that is still in the global ring (its entry stays there, dead, until it reaches the
        front)."""
        entry.alive = False
        self._live -= 1
        self._bytes -= len(entry.rec.data)
        entry.info.dropped += 1
        self.dropped += 1

    def _trim(self) -> None:
        ring = self._ring
        while ring and (
            self._live > self.max_records or self._bytes > self.max_bytes or len(ring) > 2 * self.max_records
        ):
            old = ring.popleft()
            if not old.alive:
                continue
            info = old.info
            if info.kept and info.kept[0] is old:
                info.kept.popleft()
            self._kill(old)
            if not info.kept:
                self._forget(info)
        while ring and not ring[0].alive:  # dead entries at the front cost nothing to remove
            ring.popleft()

    def _forget(self, info: SessionInfo) -> None:
        key = (info.evse, info.session)
        if self._sessions.get(key) is info:
            del self._sessions[key]

    def _forget_oldest_session(self) -> None:
        key = next(iter(self._sessions))
        info = self._sessions.pop(key)
        for e in info.kept:
            if e.alive:
                self._kill(e)
        info.kept.clear()

    def end_session(self, evse: int, session: str) -> Path | None:
        """Mark a session ended; with a ``directory``, queue its pcapng file for writing (off the caller's
        thread) and return the path it will have. Cheap: copies the session's records, builds nothing."""
        info = self._sessions.get((evse, session))
        if info is None:
            return None
        info.ended = True
        if self._writer is None or not info.kept:
            return None
        path = self._writer.directory / self.file_name(info)
        msgs = [self._message(e.rec, info) for e in info.kept if e.alive]
        ok = self._writer.submit(path, msgs, info.ev, info.secc, info.ev_sdp_port, f"evse{evse}", close=True)
        return path if ok else None

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every queued pcapng file is written; False on timeout."""
        return True if self._writer is None else self._writer.flush(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Write what is queued and stop the writer thread."""
        if self._writer is not None:
            self._writer.close(timeout)

    @property
    def files(self) -> tuple[int, int, int]:
        """(files written, files dropped because the queue was full, old files deleted)."""
        w = self._writer
        return (0, 0, 0) if w is None else (w.written, w.dropped, w.deleted)

    # ---------------------------------------------------------------- reading

    @property
    def size(self) -> tuple[int, int]:
        """(messages, payload bytes) kept."""
        return self._live, self._bytes

    def sessions(self) -> list[SessionInfo]:
        """Sessions with messages still in the ring, oldest first."""
        found = [s for s in self._sessions.values() if s.kept]
        return sorted(found, key=lambda s: (s.first or 0.0, s.evse))

    def records(self, evse: int | None = None, session: str | None = None) -> list[V2gRecord]:
        """Messages kept, optionally of one EVSE and/or session, in arrival order."""
        return [
            e.rec
            for e in self._ring
            if e.alive
            and (evse is None or e.rec.evse == evse)
            and (session is None or e.rec.session == session)
        ]

    @staticmethod
    def _message(r: V2gRecord, info: SessionInfo) -> V2gMessage:
        return V2gMessage(r.timestamp, r.direction == "rx", r.data, r.udp, info.comment(), r.link)

    def packets(self, evse: int | None = None, session: str | None = None) -> list[Packet]:
        """The rebuilt Ethernet/IPv6/TCP packets of the selected sessions, in time order."""
        out: list[Packet] = []
        for info in self.sessions():
            if (evse is not None and info.evse != evse) or (session is not None and info.session != session):
                continue
            msgs = [self._message(e.rec, info) for e in info.kept if e.alive]
            out.extend(v2g_capture(msgs, info.ev, info.secc, close=info.ended, ev_sdp_port=info.ev_sdp_port))
        out.sort(key=lambda p: p.timestamp)  # stable: each session's packets keep their order
        return out

    def export(self, path: Path, *, evse: int | None = None, session: str | None = None) -> Path:
        """Write the selected messages as a pcapng file (0600); raises LookupError when nothing matches."""
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
