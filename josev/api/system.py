"""Messages of the ``system`` service: station identity and a ping for liveness checks and benchmarks."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from josev.api.base import Command, Reply, State, callers


class StationInfo(State):
    """Identity of the station, published once at start."""

    service: ClassVar[str] = "system"
    name: ClassVar[str] = "station_info"

    station_id: str
    """Station identity (also the OCPP identity)."""
    vendor: str
    """Manufacturer."""
    model: str
    """Model name."""
    evse_count: int = Field(ge=0)
    """Number of EVSEs."""
    josev_version: str
    """Software version."""


class Pong(Reply):
    """Reply to :class:`Ping`."""

    seq: int
    """The sequence number of the ping."""
    payload: str = ""
    """The payload of the ping, echoed."""


class Ping(Command[Pong]):
    """Liveness check (and the bus round-trip benchmark)."""

    service: ClassVar[str] = "system"
    name: ClassVar[str] = "ping"
    callers: ClassVar[frozenset[str]] = callers()

    seq: int
    """Sequence number, echoed."""
    payload: str = Field("", max_length=65536)
    """Optional payload, echoed."""
