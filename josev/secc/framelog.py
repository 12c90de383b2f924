"""Pure pieces of the SECC shell (:mod:`josev.secc.server`): the endpoint counters and the splitter that cuts
the received byte stream into V2GTP frames for the message log (never raises)."""

from __future__ import annotations

from dataclasses import dataclass, field

from josev.secc.v2gtp import HEADER_LEN


@dataclass
class EndpointStats:
    """Counters of one EVSE endpoint."""

    sdp_answered: int = 0
    sdp_dropped: int = 0
    connections: int = 0
    sessions_ended: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    """Connections refused by the limits, by reason (``peer_rate``, ``peer_connections``,
    ``evse_connections``)."""
    evicted: int = 0
    """Connections closed to admit a newer one (pre-session or stalled)."""
    flood_closed: int = 0
    """Connections closed for sending frames faster than ``frame_rate``."""


class RxSplitter:
    """Cuts the received byte stream into V2GTP frames for the message log (never raises)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes, max_frames: int = 1 << 30) -> list[bytes]:
        """The complete frames so far, at most ``max_frames`` (the rest stays buffered)."""
        self.buf += data
        out: list[bytes] = []
        while len(self.buf) >= HEADER_LEN and len(out) < max_frames:
            if self.buf[0] != 0x01 or self.buf[1] != 0xFE:
                out.append(bytes(self.buf))  # not V2GTP: log the bytes as they came
                self.buf.clear()
                break
            n = HEADER_LEN + int.from_bytes(self.buf[4:8], "big")
            if len(self.buf) < n:
                break
            out.append(bytes(self.buf[:n]))
            del self.buf[:n]
        return out
