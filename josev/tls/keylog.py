"""TLS key disclosure for debugging (off by default): key log file and UDP disclosure datagrams.

Key log file
    The NSS key log format (``SSLKEYLOGFILE``) Wireshark reads: one line per secret,
    ``<LABEL> <client_random hex> <secret hex>``. OpenSSL writes it through ``SSLContext.keylog_filename``;
    :func:`prepare_keylog_file` creates it with mode 0600 first, since it holds session secrets.

UDP disclosure (the dsV2Gshark Wireshark plugin's "TLS secret disclosure")
    The plugin's heuristic dissector takes a UDP datagram whose source port is in its configured range
    (default 49152-65535) and whose payload is one or more key log lines (``\\n`` separated, each 100-300
    characters, label ``CLIENT_RANDOM`` for TLS 1.2 or the TLS 1.3 traffic-secret labels); it appends them
    to Wireshark's key log and re-dissects. The dSPACE DS5366 captures in ``../shared/captures`` show the
    form used in the field: one line per datagram, no newline, from the SECC's link-local address, UDP port
    52345 to ``ff02::1`` port 52345. :class:`UdpDisclosure` sends exactly that by default.

The format functions are pure (sans-IO); :class:`KeyLogTail` and :class:`UdpDisclosure` do the I/O.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import tempfile
from collections.abc import Iterable
from pathlib import Path

LABELS_TLS12 = frozenset({"CLIENT_RANDOM"})
LABELS_TLS13 = frozenset(
    {
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "EXPORTER_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "EARLY_EXPORTER_SECRET",
        "CLIENT_EARLY_TRAFFIC_SECRET",
    }
)
_LINE = re.compile(r"^([A-Z_]+[0-9]*) ([0-9A-Fa-f]{64}) ([0-9A-Fa-f]{64}|[0-9A-Fa-f]{96})$")

DISCLOSURE_PORT = 52345
"""UDP port (source and destination) the DS5366 uses; inside the plugin's default range 49152-65535."""
DISCLOSURE_GROUP = "ff02::1"
"""All-nodes link-local multicast: every sniffer on the PLC link sees the datagram."""
MIN_LINE, MAX_LINE = 101, 299
"""The plugin ignores lines of 100 characters or fewer and of 300 or more."""


@dataclasses.dataclass(frozen=True)
class KeyLogLine:
    """One parsed key log line."""

    label: str
    client_random: str
    secret: str

    def __str__(self) -> str:
        return f"{self.label} {self.client_random} {self.secret}"


def parse_keylog_line(line: str) -> KeyLogLine | None:
    """Parse one key log line; None for comments, blanks and anything malformed or with unknown label."""
    m = _LINE.match(line.strip())
    if m is None:
        return None
    label, cr, secret = m.groups()
    if label not in LABELS_TLS12 | LABELS_TLS13 and not re.fullmatch(
        r"(CLIENT|SERVER)_TRAFFIC_SECRET_\d+", label
    ):
        return None
    if label == "CLIENT_RANDOM" and len(secret) != 96:
        return None
    return KeyLogLine(label, cr.lower(), secret.lower())


def disclosure_datagrams(lines: Iterable[KeyLogLine]) -> list[bytes]:
    """UDP payloads for ``lines``: one line per datagram, ASCII, no newline (as the DS5366 sends)."""
    out = []
    for kl in lines:
        text = str(kl)
        if not MIN_LINE <= len(text) <= MAX_LINE:  # pragma: no cover - impossible with valid hex lengths
            continue
        out.append(text.encode("ascii"))
    return out


def parse_disclosure(payload: bytes) -> list[KeyLogLine]:
    """Key log lines in a disclosure datagram (the receiving side; tests and tools use it)."""
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        return []
    out = []
    for raw in text.splitlines():
        kl = parse_keylog_line(raw)
        if kl is None or not MIN_LINE <= len(raw.strip()) <= MAX_LINE:
            return []
        out.append(kl)
    return out


def prepare_keylog_file(path: Path) -> None:
    """Create ``path`` (if needed) with mode 0600 so OpenSSL appends secrets to a private file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class KeyLogTail:
    """Reads the complete lines appended to a key log file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = b""

    def read_new(self) -> list[KeyLogLine]:
        """Parsed lines appended since the previous call (an incomplete last line waits for the next)."""
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        out = []
        for raw in complete:
            kl = parse_keylog_line(raw.decode("ascii", "replace"))
            if kl is not None:
                out.append(kl)
        return out


class UdpDisclosure:
    """Sends disclosure datagrams: default ``ff02::1`` port 52345 from port 52345 on ``iface``."""

    def __init__(
        self,
        iface: str | None = None,
        target: tuple[str, int] = (DISCLOSURE_GROUP, DISCLOSURE_PORT),
        source_port: int = DISCLOSURE_PORT,
    ) -> None:
        host, port = target
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            scope = socket.if_nametoindex(iface) if iface else 0
            if scope:
                self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, scope)
            self._sock.bind(("::", source_port, 0, 0))
            self._dest: tuple[str, int] | tuple[str, int, int, int] = (host, port, 0, scope)
        else:
            self._sock.bind(("0.0.0.0", source_port))
            self._dest = (host, port)
        self._sock.setblocking(False)
        self.sent = 0

    def send(self, datagrams: Iterable[bytes]) -> int:
        """Send ``datagrams``; returns how many left (a full buffer drops, it never blocks the SECC)."""
        n = 0
        for d in datagrams:
            try:
                self._sock.sendto(d, self._dest)
                n += 1
            except OSError:
                continue
        self.sent += n
        return n

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


class KeyDisclosure:
    """Key log file plus optional UDP disclosure; call :meth:`flush` after every handshake.

    With ``keylog=None`` and a UDP sender, the secrets go to a private temporary file (mode 0600, removed
    by :meth:`close`) that only feeds the datagrams.
    """

    def __init__(self, keylog: Path | None = None, udp: UdpDisclosure | None = None) -> None:
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if keylog is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="josev-keylog-")
            keylog = Path(self._tmpdir.name) / "keylog.txt"
        prepare_keylog_file(keylog)
        self.path = keylog
        self.udp = udp
        self._tail = KeyLogTail(keylog)

    def flush(self) -> int:
        """Send the secrets logged since the last flush; returns the number of datagrams sent."""
        lines = self._tail.read_new()
        if self.udp is None or not lines:
            return 0
        return self.udp.send(disclosure_datagrams(lines))

    def close(self) -> None:
        """Close the UDP socket and remove the private key log, if any."""
        if self.udp is not None:
            self.udp.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
