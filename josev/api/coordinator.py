"""Messages of the ``coordinator`` service: the per-EVSE charging decisions (IEC 61851-1).

**Out** (what other services read):

* :class:`EvseStatus` (retained, per EVSE) - state, OCPP 2.0.1 connector status, detailed status, OCPP
  charging state, faults, effective limit and the pilot. The OCPP service maps it to StatusNotification /
  TransactionEvent; the SECC reads ``limit_a`` / ``max_power_w`` as its EVSE maximum.
* :class:`PilotState` (retained, per EVSE) - CP letter and duty cycle; SLAC starts matching on A/E/F -> B/C/D
  at 5 %.
* :class:`SessionEvent` (per EVSE), ``step`` one of ``started`` (plug-in), ``authorized``,
  ``charging_started``, ``charging_stopped``, ``stopped`` (a stop was requested, with the reason),
  ``forced_open``, ``ended`` (unplug or fault). ``session_id`` ties them together; energy is from the
  EVSE's meter.
* :class:`SessionMeter` (retained, per EVSE) - meter values of the running session.
* :class:`AuthorizationRequest` (per EVSE) - a token was presented that the local list does not
  know: the OCPP service decides and answers with :class:`Authorize` (or ignores it).
* :class:`Heartbeat` (station) - every ``interval_s``; the HAL's watchdog forces the safe state when it stops.
* :class:`DcSupplyState` (retained, per DC EVSE) - the DC output as the SECC reports it to the EV: present
  voltage/current, isolation status, EVSE limits after load balancing (charge and, with BPT, discharge),
  limit-achieved flags. Published at ``dc_publish_hz`` (default 20 Hz) while the DC flow is active and at once
  on every change of phase, isolation, limits or readiness.

**In** (commands the coordinator serves; every one answers :class:`~josev.api.base.Ack` or an error):

* :class:`Authorize` / :class:`Deauthorize` - from OCPP (remote start, Authorize.conf), the SECC (EIM/PnC
  result), the CLI. An Authorize before plug-in is kept for ``preauth_timeout_s``.
* :class:`PresentToken` - an RFID reader or the CLI: accepted at once when in the local list, else forwarded
  as :class:`AuthorizationRequest`.
* :class:`StopCharging` - station/operator/remote stop (the EV stays connected; unlock follows).
* :class:`SetLimit` - OCPP charging limits (``ocpp``), HLC limits (``hlc``), operator caps (``operator``).
* :class:`SetStationLimit` - the station-wide current shared between EVSEs (load balancing).
* :class:`HlcPowerDelivery` / :class:`HlcFailed` - from the SECC: PowerDelivery start/stop, session failure.
  HlcPowerDelivery is answered only once the contactor feedback confirms the requested position.
* :class:`StartCableCheck` - from the SECC (DC CableCheck): run the isolation test, answered with
  :class:`CableCheckResult` when the test is over.

The DC flow also reads the SECC's :class:`josev.api.secc.EvTarget` (PreCharge / CurrentDemand targets) and
:class:`josev.api.secc.EvChargeParameters` (EV maximum voltage/current/power) of each DC EVSE.
* :class:`SetAvailability`, :class:`Reserve`, :class:`CancelReservation`, :class:`ClearFault`.

SLAC progress is read from :class:`josev.api.slac.SlacState` (matched / failed).
"""

from __future__ import annotations

import datetime as _dt
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from josev.api.base import Ack, Command, Event, Reply, State, callers

OcppStatus = Literal["Available", "Occupied", "Reserved", "Unavailable", "Faulted"]
DetailedStatus = Literal[
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
]
ChargingState = Literal["Charging", "EVConnected", "SuspendedEV", "SuspendedEVSE", "Idle"]
AuthSource = Literal["ocpp", "local", "rfid", "pnc", "eim", "free", "cli"]
SessionStep = Literal[
    "started", "authorized", "charging_started", "charging_stopped", "stopped", "forced_open", "ended"
]
LimitSource = Literal["ocpp", "hlc", "operator"]
CpLetter = Literal["A", "B", "C", "D", "E", "F"]


class ConnectorStatus(BaseModel):
    """Status of one connector of an EVSE."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connector_id: int = Field(ge=1)
    """Connector id within the EVSE (OCPP connectorId)."""
    ocpp_status: OcppStatus
    """OCPP 2.0.1 ConnectorStatus of this connector."""
    detailed_status: DetailedStatus
    """Detailed state of this connector."""
    in_use: bool = False
    """This connector carries the EVSE's session (the others are Unavailable while it is Occupied)."""


class EvseStatus(State):
    """Status of one EVSE, published whenever any field changes."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "evse_status"
    per_evse: ClassVar[bool] = True

    state: str
    """Coordinator state (see the state table in the docs), e.g. ``charging``, ``hlc_wait``, ``faulted``."""
    ocpp_status: OcppStatus
    """OCPP 2.0.1 ConnectorStatusEnumType."""
    detailed_status: DetailedStatus
    """The detailed status operators see (OCPP 1.6 ChargePointStatus vocabulary)."""
    charging_state: ChargingState
    """OCPP 2.0.1 ChargingStateEnumType of the transaction."""
    faults: list[str] = Field(default_factory=list)
    """Active fault reasons (``rcd_trip``, ``contactor_welded``, ``pilot_short``, ``diode_fault``...)."""
    limit_a: float | None
    """Effective current limit per phase (A) - min of cable, connector, EVSE, station share, OCPP, HLC."""
    limit_source: str | None = None
    """Which limit is binding."""
    max_power_w: float | None = None
    """``limit_a`` as power (phases x nominal voltage)."""
    pilot_mode: Literal["x1", "pwm", "e", "f"]
    """Pilot output."""
    duty_percent: float = 0.0
    """PWM duty cycle."""
    contactor_closed: bool
    """Contactor command."""
    session_id: str | None = None
    """The running session, if any."""
    hlc: bool = False
    """This session runs (or waits for) high-level communication."""
    dc: bool = False
    """DC EVSE (``[[evse]] kind = "dc"`` in the station configuration): see :class:`DcSupplyState`."""
    max_discharge_current_a: float | None = None
    """BPT: the EVSE's discharge current limit (A, positive number); None when it cannot discharge."""
    max_discharge_power_w: float | None = None
    """BPT: the EVSE's discharge power limit (W, positive number); None when it cannot discharge."""
    connectors: list[ConnectorStatus] = Field(default_factory=list)
    """Every connector of the EVSE (OCPP reports a StatusNotification per connector)."""


IsolationStatus = Literal["invalid", "valid", "warning", "fault", "no_imd"]
"""Isolation monitor result in the ISO 15118 vocabulary (isolationLevelType, lower case)."""
DcPhase = Literal[
    "off", "cable_check", "checked", "precharge", "charging", "stopping", "welding_detection", "fault"
]
"""Where the DC output of an EVSE is in its sequence: ``checked`` = cable check passed, output off, waiting
for PreCharge; ``stopping`` = current ramping down before the contactor opens; ``welding_detection`` =
contactor open, waiting for the output voltage to fall below 60 V."""


class DcSupplyState(State):
    """The DC output of an EVSE: what the SECC reports to the EV (EVSEPresentVoltage/Current, EVSE limits,
    isolation, limit-achieved flags). Currents are signed: negative means discharge (BPT, power flows from
    the EV). Limits are positive numbers; ``max_current_a`` / ``max_power_w`` already include load balancing,
    OCPP and operator limits."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "dc_supply"
    per_evse: ClassVar[bool] = True

    phase: DcPhase = "off"
    """The DC flow's phase."""
    present_voltage_v: float = 0.0
    """Measured output voltage (V)."""
    present_current_a: float = 0.0
    """Measured output current (A; negative while discharging)."""
    target_voltage_v: float = 0.0
    """Voltage the supply regulates to."""
    target_current_a: float = 0.0
    """Current limit the supply regulates to (negative: discharge)."""
    isolation: IsolationStatus = "invalid"
    """Last isolation monitor result (``invalid`` until a cable check has run in this session)."""
    max_voltage_v: float
    """EVSE maximum output voltage."""
    min_voltage_v: float = 0.0
    """EVSE minimum output voltage."""
    max_current_a: float
    """EVSE maximum output current after load balancing and limits: the rating, and ``max_power_w`` at the
    present voltage (at least ``min_voltage_v``)."""
    min_current_a: float = 0.0
    """EVSE minimum output current."""
    max_power_w: float
    """EVSE maximum output power after limits."""
    current_limit_achieved: bool = False
    """The EV's current request is above the EVSE's current limit (the target was clamped)."""
    voltage_limit_achieved: bool = False
    """The EV's voltage request is above the EVSE's maximum voltage (the target was clamped)."""
    power_limit_achieved: bool = False
    """The EV's request exceeds the EVSE's power limit (the current was reduced)."""
    ready: bool = False
    """The supply is ready (no fault, contactor in the commanded position, output enabled when it should)."""
    output_enabled: bool = False
    """The power module's output is switched on."""
    contactor_closed: bool = False
    """Contactor feedback (or command without feedback)."""
    max_discharge_current_a: float | None = None
    """BPT: maximum discharge current (A, positive); None without BPT."""
    max_discharge_power_w: float | None = None
    """BPT: maximum discharge power (W, positive); None without BPT."""
    fault: str = ""
    """Why the DC output was shut down (``isolation_fault``, ``over_voltage``...), empty otherwise."""


class PilotState(State):
    """What the control pilot shows: the CP letter read by the HAL and what we drive."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "pilot"
    per_evse: ClassVar[bool] = True

    cp: CpLetter | None
    """Last CP state (None right after the pilot left E/F, until the next reading)."""
    pilot_mode: Literal["x1", "pwm", "e", "f"]
    """Pilot output."""
    duty_percent: float = 0.0
    """Duty cycle (5 % = HLC)."""


class SessionEvent(Event):
    """A step of a vehicle session (plug-in to unplug)."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "session"
    per_evse: ClassVar[bool] = True

    step: SessionStep
    """What happened."""
    session_id: str
    """Session identity (unique per coordinator run)."""
    reason: str = ""
    """Why (``local``, ``remote``, ``deauthorized``, ``meter_lost``, ``ev_disconnected``, a fault...)."""
    id_token: str | None = None
    """Token that authorized the session."""
    auth_source: str | None = None
    """Who authorized it (ocpp, local, rfid, pnc, eim, free, cli)."""
    energy_wh: float = 0.0
    """Energy delivered in this session so far (meter)."""
    energy_export_wh: float = 0.0
    """Energy the vehicle returned in this session so far (bidirectional power transfer; meter)."""
    unmetered: bool = False
    """The meter was lost during the session: ``energy_wh`` is incomplete."""
    energy_register_wh: float | None = None
    """The meter's import register at the end of energy transfer: for ``charging_stopped`` and the steps after
    it, the reading the HAL took when the contactor opened (what OCPP's ``Ended`` carries); None otherwise."""
    at: _dt.datetime = Field(default_factory=lambda: _dt.datetime.now(_dt.UTC))
    """When (UTC)."""


class SessionMeter(State):
    """Meter values of an EVSE, with the session's delivered energy."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "meter"
    per_evse: ClassVar[bool] = True

    ok: bool
    """False while the meter does not answer."""
    session_id: str | None = None
    """Running session."""
    session_energy_wh: float = 0.0
    """Energy delivered in the session."""
    energy_register_wh: float = 0.0
    """The meter's import register (Energy.Active.Import.Register)."""
    session_energy_export_wh: float = 0.0
    """Energy the vehicle returned in the session (bidirectional power transfer)."""
    energy_export_register_wh: float | None = None
    """The meter's export register (Energy.Active.Export.Register); None when the meter has none."""
    power_w: float = 0.0
    """Power.Active.Import."""
    current_a: list[float] = Field(default_factory=list)
    """Current.Import per phase."""
    voltage_v: list[float] = Field(default_factory=list)
    """Voltage per phase."""


class AuthorizationRequest(Event):
    """A token was presented that the local list does not know; the OCPP service may answer with Authorize."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "authorization_request"
    per_evse: ClassVar[bool] = True

    id_token: str
    """The token."""
    token_type: str = "ISO14443"
    """OCPP IdTokenEnumType."""


class Heartbeat(Event):
    """The coordinator is alive (station scope, every ``interval_s``)."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "heartbeat"

    seq: int
    """Increments by one."""
    interval_s: float
    """Time to the next heartbeat."""


class Authorize(Command[Ack]):
    """Authorize the session at this EVSE (or the next plug-in); rejected when reserved for another token."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "authorize"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("ocpp")

    id_token: str | None = None
    """The token (None for a remote start without token)."""
    source: AuthSource = "ocpp"
    """Who decided."""


class Deauthorize(Command[Ack]):
    """Withdraw the authorization (e.g. the CSMS answered Invalid after an offline start): charging stops."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "deauthorize"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers()

    reason: str = "deauthorized"
    """Reported as the stop reason."""


class PresentToken(Command[Ack]):
    """An identification token was presented (RFID reader, CLI)."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "present_token"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers()

    id_token: str = Field(min_length=1, max_length=255)
    """The token."""
    token_type: str = "ISO14443"
    """OCPP IdTokenEnumType."""


class UnlockConnector(Command[Ack]):
    """Unlock the connector of this EVSE (OCPP UnlockConnector). Refused (``rejected``) while a session holds the
    connector locked; outside a session the unlock is sent to the HAL again (e.g. after a jammed lock)."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "unlock_connector"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("ocpp")


class StopCharging(Command[Ack]):
    """Stop charging at this EVSE (the vehicle stays connected)."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "stop_charging"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("ocpp")

    reason: str = "remote"
    """Stop reason (OCPP: Remote, Local, EVDisconnected...)."""


class SetLimit(Command[Ack]):
    """Set or clear (both None) one limit source of this EVSE; give amps per phase or watts (not both)."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "set_limit"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("ocpp")  # smart charging: the OCPP composite limit

    source: LimitSource
    """Which limit."""
    amps: float | None = Field(None, ge=0)
    """Current per phase (A)."""
    watts: float | None = Field(None, ge=0)
    """Power (W), converted with the EVSE's phases and nominal voltage."""

    @model_validator(mode="after")
    def _one(self) -> SetLimit:
        if self.amps is not None and self.watts is not None:
            raise ValueError("give amps or watts, not both")
        return self


class SetStationLimit(Command[Ack]):
    """The station-wide current per phase shared by all EVSEs (None: no station limit)."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "set_station_limit"
    callers: ClassVar[frozenset[str]] = callers()

    amps: float | None = Field(None, ge=0)
    """Current per phase (A)."""


class HlcPowerDelivery(Command[Ack]):
    """From the SECC: the EV asked to start (True) or stop (False) power delivery.

    The coordinator answers :class:`~josev.api.base.Ack` only once the contactor feedback (or the command,
    on a contactor without feedback) confirms the requested position: closed for ``on=True``, open for
    ``on=False``. If the contactor does not get there within the EVSE's ``power_delivery_timeout_s``
    (default 1.5 s, well inside the EV's PowerDelivery timeout), or the request is not allowed in the current
    state (not authorized, limit below minimum, fault), it raises ``CommandError("rejected", reason)``;
    ``CommandError("unavailable", reason)`` when the EVSE is faulted or inoperative. Callers should wait
    ``timeout_s`` (2.5 s) for the reply.
    """

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "hlc_power_delivery"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("secc")
    grantable: ClassVar[bool] = False
    timeout_s: ClassVar[float] = 2.5

    on: bool
    """Start or stop."""


class HlcFailed(Command[Ack]):
    """From the SECC: a V2G session ended abnormally (a FAILED response, a sequence / communication-setup
    timeout, the TCP connection lost, an undecodable message). The coordinator ends the HLC part (DC: output
    off, contactor open) and keeps the plug-in for the EV's next V2G session, up to ``v2g_retries`` times;
    after that HLC has failed: basic charging (AC, if configured) or the session stops with reason
    ``hlc_failed``."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "hlc_failed"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("secc")
    grantable: ClassVar[bool] = False

    reason: str = "hlc_failed"
    """The SECC's cause (the response code, ``sequence_timeout``, ``connection_lost``...), logged."""


class CableCheckResult(Reply):
    """Result of the DC cable check (isolation test)."""

    isolation: IsolationStatus
    """``valid`` or ``warning``: charging may go on; ``fault``: the output stays off (EVSE faulted);
    ``no_imd``: the EVSE has no isolation monitor (test skipped)."""
    resistance_ohm: float | None = None
    """Measured insulation resistance."""
    voltage_v: float = 0.0
    """Test voltage applied to the cable."""


class StartCableCheck(Command[CableCheckResult]):
    """From the SECC (DIN/ISO CableCheck): lock, close the contactor, apply the test voltage and run the
    isolation monitor. The reply comes when the test is over (the simulated test takes
    ``cable_check_s``); meanwhile the SECC answers the EV with EVSEProcessing=Ongoing and can follow
    :class:`DcSupplyState` (``phase == "cable_check"``). After the test the output is discharged and the DC
    flow waits for PreCharge targets (:class:`josev.api.secc.EvTarget`). Errors: ``rejected`` when the EVSE
    is not a DC EVSE in an HLC session, not authorized, or the EV does not close S2 (pilot C/D) within
    ``ev_ready_timeout_s`` (default 8 s) of the request, during which the DC flow waits in its ``EV_WAIT`` phase
    with the contactor open; ``unavailable`` when faulted. An isolation
    ``fault`` is a result (and the EVSE goes to its safe state), not an error."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "start_cable_check"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("secc")
    grantable: ClassVar[bool] = False
    timeout_s: ClassVar[float] = 30.0

    voltage_v: float | None = Field(None, gt=0)
    """Test voltage (default: the EVSE's ``cable_check_voltage_v`` capped at the EV's maximum voltage)."""


class SetAvailability(Command[Ack]):
    """Operative / inoperative (after a running session ends)."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "set_availability"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("ocpp")

    available: bool
    """True: operative."""


class Reserve(Command[Ack]):
    """Reserve an idle EVSE for a token until ``expires_at``; refused (``rejected``) when not idle."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "reserve"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("ocpp")

    id_token: str
    """Only this token may start."""
    expires_at: _dt.datetime
    """End of the reservation (timezone-aware)."""


class CancelReservation(Command[Ack]):
    """Cancel the reservation of this EVSE."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "cancel_reservation"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers("ocpp")


class ClearFault(Command[Ack]):
    """Clear a latched fault (``reason``, or all when None) after the cause was fixed."""

    service: ClassVar[str] = "coordinator"
    name: ClassVar[str] = "clear_fault"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers()

    reason: str | None = None
    """Fault to clear."""
