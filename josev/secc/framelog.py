"""Pure pieces of the SECC shell (:mod:`josev.secc.server`): the endpoint counters. (The splitter that cuts the
received byte stream into frames for the message log is :class:`josev.v2g.v2gtp.RxSplitter`.)"""

from __future__ import annotations

from dataclasses import dataclass, field


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
