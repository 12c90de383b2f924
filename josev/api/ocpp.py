"""Messages of the ``ocpp`` service (the OCPP 2.0.1 charging-station client).

**Out**:

* :class:`OcppConnection` (retained, station) - connection to the CSMS, registration, security profile and
  the length of the persistent message queue.
* :class:`OcppTransaction` (retained, per EVSE) - the OCPP transaction of an EVSE (id, next seqNo).
* :class:`OcppAuthorization` (per EVSE) - the CSMS / cache decision on a presented idToken.
* :class:`FirmwareStatus` (retained, station) - progress of an UpdateFirmware request.
* :class:`ChargingSchedule` (retained, per EVSE) - the smart-charging composite schedule of the EVSE (OCPP
  profiles, external EMS limits and the EVSE's hardware limit) for the next 24 h, and the OCPP limit applied
  now. Published within a second of every change and at every period boundary; the SECC can build its
  SAScheduleList / -20 schedules from it.

**In** (commands the ocpp service serves):

* :class:`GetOcppStatus` - counters of the client (for the CLI and monitoring).
* :class:`SetExternalLimit` - an external energy manager (EMS) sets or clears a local limit on an EVSE or the
  whole station; it joins the composite schedule and is reported to the CSMS (NotifyChargingLimit /
  ClearedChargingLimit).

The service consumes :mod:`josev.api.coordinator` (EvseStatus, SessionEvent, SessionMeter,
AuthorizationRequest) and calls its Authorize / StopCharging / SetAvailability commands, and SetLimit
(source ``ocpp``) with the composite limit of each EVSE.
"""

from __future__ import annotations

import datetime as _dt
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from josev.api.base import Ack, Command, Event, Reply, State, callers


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


class SchedulePeriod(BaseModel):
    """One period of a composite schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_s: int = Field(ge=0)
    """Start, in seconds from ``schedule_start``."""
    limit: float
    """Limit in the schedule's unit (A per phase)."""
    number_phases: int = Field(3, ge=1, le=3)
    """Phases the limit assumes."""


class ChargingSchedule(State):
    """The smart-charging composite schedule of one EVSE and the OCPP limit applied now."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "charging_schedule"
    per_evse: ClassVar[bool] = True

    limit_a: float | None
    """The limit OCPP puts on the EVSE now (A per phase): min(ChargingStationMaxProfile, TxProfile or
    TxDefaultProfile, external limits); None when none of them limits (the coordinator's own limits apply)."""
    unit: Literal["A"] = "A"
    """Unit of the periods."""
    schedule_start: _dt.datetime
    """Start of the schedule (station clock, UTC)."""
    duration_s: int
    """Length of the schedule (s)."""
    periods: list[SchedulePeriod]
    """The composite, including the EVSE's hardware limit."""
    clock_offset_s: float = 0.0
    """The station clock (set by the CSMS) minus the host's clock (s): ``schedule_start`` is
    ``time.time() + clock_offset_s`` when published."""
    significance: float = Field(0.1, ge=0)
    """Relative change of the composite that makes the car renegotiate its schedule (OCPP
    ``SmartChargingCtrlr.LimitChangeSignificance`` / 100)."""


class SetExternalLimit(Command[Ack]):
    """An external energy manager sets (``amps`` or ``watts``) or clears (neither) its local limit."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "set_external_limit"
    # an energy manager is an integrator's service: `josev broker add-service ems --call ocpp.set_external_limit`
    callers: ClassVar[frozenset[str]] = callers()

    evse_id: int = Field(0, ge=0)
    """The EVSE (0: the whole station)."""
    amps: float | None = Field(None, ge=0)
    """Current per phase (A)."""
    watts: float | None = Field(None, ge=0)
    """Power (W)."""
    source: Literal["EMS", "SO", "Other"] = "EMS"
    """OCPP chargingLimitSource reported to the CSMS."""

    @model_validator(mode="after")
    def _one(self) -> SetExternalLimit:
        if self.amps is not None and self.watts is not None:
            raise ValueError("give amps or watts, not both")
        return self


class EvChargingNeedsReply(Reply):
    """The CSMS's answer to NotifyEVChargingNeeds (OCPP K15)."""

    status: Literal["Accepted", "Processing", "Rejected", "NoAnswer"]
    """``Accepted``: a charging profile will follow; ``Processing``: the CSMS is working on one;
    ``Rejected``: it will send none; ``NoAnswer``: offline, no answer in time, or ISO 15118 disabled."""
    reason: str | None = None
    """statusInfo of the CSMS, or why there was no answer."""


class NotifyEvChargingNeeds(Command[EvChargingNeedsReply]):
    """The SECC reports what the EV asked for in ChargeParameterDiscovery (OCPP NotifyEVChargingNeeds, K15)."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "notify_ev_charging_needs"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("secc")

    energy_transfer: Literal["DC", "AC_single_phase", "AC_two_phase", "AC_three_phase"]
    """OCPP requestedEnergyTransfer."""
    departure_time: _dt.datetime | None = None
    """When the EV wants to leave (UTC), if it said."""
    energy_amount_wh: float | None = Field(None, ge=0)
    """Energy the EV asks for."""
    ev_max_current_a: float = Field(ge=0)
    """EV maximum current."""
    ev_min_current_a: float | None = Field(None, ge=0)
    """AC: EV minimum current."""
    ev_max_voltage_v: float = Field(ge=0)
    """EV maximum voltage."""
    ev_max_power_w: float | None = Field(None, ge=0)
    """DC: EV maximum power."""
    soc_percent: int | None = Field(None, ge=0, le=100)
    """DC: state of charge."""
    max_schedule_tuples: int | None = Field(None, ge=1)
    """MaxEntriesSAScheduleTuple of the EV."""


class NotifyEvChargingSchedule(Command[Ack]):
    """The SECC reports the schedule the EV chose in PowerDelivery (OCPP NotifyEVChargingSchedule, K17)."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "notify_ev_charging_schedule"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("secc")

    time_base: _dt.datetime
    """Start of the periods (UTC)."""
    periods: list[tuple[int, float]] = Field(min_length=1, max_length=1024)
    """(start s from ``time_base``, W) of the EV's charging profile."""
