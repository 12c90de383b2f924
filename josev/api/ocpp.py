"""Messages of the ``ocpp`` service (the OCPP 2.0.1 charging-station client).

**Out**:

* :class:`OcppConnection` (retained, station) - connection to the CSMS, registration, security profile and
  the length of the persistent message queue.
* :class:`OcppTransaction` (retained, per EVSE) - the OCPP transaction of an EVSE (id, next seqNo).
* :class:`OcppAuthorization` (per EVSE) - the CSMS / cache decision on a presented idToken.
* :class:`FirmwareStatus` (retained, station) - progress of an UpdateFirmware request.

**In** (commands the ocpp service serves):

* :class:`GetOcppStatus` - counters of the client (for the CLI and monitoring).

The service consumes :mod:`josev.api.coordinator` (EvseStatus, SessionEvent, SessionMeter,
AuthorizationRequest) and calls its Authorize / StopCharging / SetAvailability commands.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from josev.api.base import Command, Event, Reply, State, callers


class OcppConnection(State):
    """The client's link to its CSMS."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "connection"

    connected: bool
    """The websocket is open."""
    registration: str | None = None
    """BootNotification status: None (not yet), Pending, Accepted or Rejected."""
    csms_url: str = ""
    """URL of the active network profile (without the identity)."""
    security_profile: int = 1
    """Security profile in use (1 Basic Auth, 2 TLS + Basic Auth)."""
    active_slot: int | None = None
    """Network configuration slot in use."""
    queued: int = 0
    """Messages (TransactionEvent, SecurityEventNotification) waiting in the persistent queue."""


class OcppTransaction(State):
    """The OCPP transaction of one EVSE."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "transaction"
    per_evse: ClassVar[bool] = True

    transaction_id: str | None = None
    """OCPP transactionId (unique across reboots), None when there is none."""
    next_seq_no: int = 0
    """seqNo of the next TransactionEvent."""
    authorized: bool = False
    """An idToken is authorizing the transaction."""


class OcppAuthorization(Event):
    """Decision on an idToken presented at this EVSE."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "authorization"
    per_evse: ClassVar[bool] = True

    id_token: str
    """The token."""
    token_type: str = "ISO14443"
    """OCPP IdTokenEnumType."""
    status: str
    """OCPP AuthorizationStatusEnumType (Accepted, Invalid, Blocked, ...)."""
    source: str = ""
    """Where the decision came from (csms, cache, offline, stop, masterpass ...)."""


class FirmwareStatus(State):
    """Progress of the last UpdateFirmware request."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "firmware_status"

    status: str
    """OCPP FirmwareStatusEnumType."""
    request_id: int | None = None
    """requestId of the UpdateFirmware."""


class OcppStatusReply(Reply):
    """Counters of the OCPP client."""

    connected: bool
    """The websocket is open."""
    registration: str | None
    """BootNotification status."""
    queued: int
    """Persistent queue length."""
    stats: dict[str, int] = Field(default_factory=dict)
    """callerrors_sent, callerrors_received, timeouts, dropped."""


class GetOcppStatus(Command[OcppStatusReply]):
    """Ask the OCPP service for its counters."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "get_status"
    callers: ClassVar[frozenset[str]] = callers()
