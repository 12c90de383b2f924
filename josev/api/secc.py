"""Messages of the ``secc`` service (DIN SPEC 70121 / ISO 15118-2 / -20 sessions on each EVSE's PLC interface).

**Out** (per EVSE): :class:`SeccSessionState` (retained: protocol, session, core state),
:class:`EvChargeParameters` (retained: what the EV announced in ChargeParameterDiscovery),
:class:`EvTarget` (retained: the EV's latest PreCharge/CurrentDemand target), :class:`HlcEvent` (steps and
protocol violations); ISO 15118-20 only: :class:`Iso20Service` (retained: selected service and control mode),
:class:`EvPower` (retained: AC / BPT power the EV asks for or draws). Optional (``[secc] publish_messages``):
:class:`V2gMessage`, every decoded V2G message of a session, rate-limited, for live views. The SECC also issues the coordinator's ``HlcPowerDelivery`` / ``HlcFailed`` commands.

**In**: the coordinator's ``EvseStatus`` (limits -> SAScheduleList, station-initiated renegotiation, faults)
and ``SessionEvent`` (authorized / stopped); :class:`SetDcSupply` for the DC power module's present voltage,
current and isolation state (the HAL has no DC power module API yet); :class:`GetSeccDiagnostics`; the OCPP
service's ``ChargingSchedule`` (the schedules offered to the car, renegotiation); :class:`SetSalesTariff` (the
SalesTariff of Plug & Charge sessions, from an energy manager or tariff service).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from josev.api.base import Ack, Command, Event, Reply, State, callers

SeccStatusName = Literal["idle", "session", "paused", "ended", "failed"]
IsolationName = Literal["Invalid", "Valid", "Warning", "Fault", "No_IMD"]


class SeccSessionState(State):
    """The high-level session of one EVSE."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "session"
    per_evse: ClassVar[bool] = True

    status: SeccStatusName
    """idle (listening), session (running), paused (ISO 15118-2 pause), ended (the EV's SessionStop), failed
    (any other end: a FAILED response, a timeout, the TCP connection lost, an undecodable message)."""
    protocol: str | None = None
    """Negotiated protocol: din, iso2, iso20."""
    session_id: str | None = None
    """SessionID (hex) given to the EV."""
    evcc_id: str | None = None
    """The EV's EVCCID (its MAC address in practice)."""
    reason: str = ""
    """Why the session ended (terminate, pause, a FAILED response code, a timeout...)."""


class EvChargeParameters(State):
    """What the EV announced in ChargeParameterDiscovery."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "ev_parameters"
    per_evse: ClassVar[bool] = True

    energy_mode: str
    """Requested energy transfer mode (DC_extended, AC_three_phase_core...)."""
    max_voltage_v: float | None = None
    """EV maximum voltage."""
    max_current_a: float | None = None
    """EV maximum current."""
    min_current_a: float | None = None
    """AC: EV minimum current."""
    max_power_w: float | None = None
    """DC: EV maximum power."""
    soc_percent: int | None = None
    """DC: state of charge."""
    energy_request_wh: float | None = None
    """Energy the EV asks for."""
    departure_time_s: int | None = None
    """Seconds until departure, if given."""


class EvProfileEntry(BaseModel):
    """One entry of the EV's charging profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_s: int = Field(ge=0)
    """Start, seconds from ``start``."""
    max_power_w: float
    """Power the EV plans at most (W)."""


class EvChargingSchedule(State):
    """The charging profile the EV chose in PowerDelivery (ISO 15118-2 ChargingProfile, or the -20 scheduled
    EVPowerProfile), for OCPP's NotifyEVChargingSchedule."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "ev_charging_schedule"
    per_evse: ClassVar[bool] = True

    start: _dt.datetime
    """Start of the profile (wall clock, UTC: when the schedule was offered)."""
    entries: list[EvProfileEntry]
    """The profile's entries."""


class EvTarget(State):
    """The EV's latest DC target (PreCharge or CurrentDemand)."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "ev_target"
    per_evse: ClassVar[bool] = True

    phase: Literal["precharge", "charge"]
    """PreCharge or CurrentDemand."""
    voltage_v: float
    """Target voltage."""
    current_a: float
    """Target current."""
    soc_percent: int | None = None
    """State of charge."""
    charging_complete: bool = False
    """The EV reports it is full."""


class HlcEvent(Event):
    """A step of the high-level session, a protocol violation by the EV, or an error of ours."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "hlc_event"
    per_evse: ClassVar[bool] = True

    step: Literal[
        "authorization_requested",
        "cable_check",
        "power_delivery",
        "welding_detection",
        "protocol_violation",
        "local_error",
    ]
    """What happened (``local_error``: the SECC broke the protocol, e.g. built a response it cannot encode)."""
    detail: str = ""
    """Start/Stop/Renegotiate, the request and response code of a violation, or what the local error was."""


class Iso20Service(State):
    """ISO 15118-20: the energy transfer service the EV selected (ServiceSelection)."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "iso20_service"
    per_evse: ClassVar[bool] = True

    energy_service: str
    """The selected service: AC, DC, AC_BPT, DC_BPT (BPT: bidirectional)."""
    control_mode: Literal["scheduled", "dynamic"]
    """Scheduled or dynamic control mode."""
    parameter_set_id: int = 0
    """The selected parameter set."""
    standby: bool = False
    """The EV put the session in standby (PowerDelivery Standby)."""


class EvPower(State):
    """ISO 15118-20 AC charge loop (and BPT): the power the EV draws and its limits (W, negative = discharge)."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "ev_power"
    per_evse: ClassVar[bool] = True

    present_power_w: float
    """Power the EV reports (negative while discharging)."""
    max_charge_power_w: float | None = None
    """EV maximum charge power."""
    max_discharge_power_w: float | None = None
    """EV maximum discharge power (BPT)."""
    soc_percent: int | None = None
    """State of charge, if reported."""
    charging_complete: bool = False
    """The EV is done."""


class V2gMessage(Event):
    """One decoded V2G message (request or response) of a session, published only with ``[secc]
    publish_messages`` (``josev station --web`` turns it on), at most ``publish_messages_rate`` per second and
    EVSE (the rest are counted in the next one's ``dropped``). Long values are shortened (``body_truncated``)
    and private keys never leave the SECC; it is for people watching a session, not a record (the V2G log is)."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "v2g_message"
    per_evse: ClassVar[bool] = True
    qos: ClassVar[int] = 0

    seq: int = Field(ge=0)
    """Counts every decoded message of this EVSE, published or dropped (gaps: ``dropped``)."""
    sender: Literal["ev", "secc"]
    """Who sent it: the EV (requests) or the SECC (responses)."""
    protocol: str = Field(max_length=16)
    """Schema it was decoded with: sap, din, iso2, iso20-cm, iso20-dc, iso20-ac..."""
    message: str = Field(max_length=64)
    """Message name, e.g. ``CurrentDemandReq``."""
    connection: str = Field("", max_length=16)
    """The SECC's name of the TCP connection (``c1``...)."""
    session_id: str = Field("", max_length=32)
    """V2G SessionID (hex) from the header, when the message has one."""
    response_code: str = Field("", max_length=64)
    """The ResponseCode of a response."""
    body: dict[str, Any] = Field(default_factory=dict)
    """The message body as decoded (header left out), values shortened to ``MAX_VALUE`` characters."""
    body_truncated: bool = False
    """Values were shortened or the body was left out for its size."""
    dropped: int = Field(0, ge=0)
    """Messages of this EVSE not published since the previous one (over the rate)."""


class SetDcSupply(Command[Ack]):
    """Present values of the DC power module of an EVSE (fields left out keep their value)."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "set_dc_supply"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers()
    grantable: ClassVar[bool] = False

    present_voltage_v: float | None = Field(None, ge=0)
    """Measured output voltage."""
    present_current_a: float | None = Field(None, ge=0)
    """Measured output current."""
    isolation: IsolationName | None = None
    """Result of the isolation monitor."""
    max_voltage_v: float | None = Field(None, gt=0)
    """Module maximum voltage (a change triggers renegotiation)."""
    max_current_a: float | None = Field(None, gt=0)
    """Module maximum current (a change triggers renegotiation)."""


class EndpointDiagnostics(Reply):
    """Counters of one EVSE endpoint."""

    interface: str
    """PLC interface."""
    address: str
    """Link-local address the SECC listens on."""
    tcp_port: int
    """TCP port announced in SDP."""
    sdp_answered: int
    """SDP requests answered."""
    sdp_dropped: int
    """Malformed SDP datagrams dropped."""
    connections: int
    """TCP connections accepted."""
    sessions_ended: dict[str, int] = Field(default_factory=dict)
    """Ended sessions by reason."""
    errors: int = 0
    """Sessions that crashed (bugs) - closed without harming others."""
    tls_port: int | None = None
    """TLS listener port (None without TLS)."""
    tls_accepted: int = 0
    """TLS handshakes accepted."""
    tls_refused: dict[str, int] = Field(default_factory=dict)
    """TLS handshakes refused, by reason (version, cipher, chain, client-cert, policy...)."""
    iso20: bool = False
    """ISO 15118-20 is offered."""
    v2g_messages: int = 0
    """V2GTP messages in the station's message log (all EVSEs)."""


class GetSeccDiagnostics(Command[EndpointDiagnostics]):
    """Ask for the SECC counters of an EVSE."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "diagnostics"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers()


class CertificateInfo(BaseModel):
    """Expiry of one certificate of the SECC's PKI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """``<profile>/<certificate>``, e.g. ``iso2/secc_leaf``."""
    subject: str
    """Subject distinguished name."""
    not_after: _dt.datetime
    """End of validity (UTC)."""
    days_left: float
    """Days until ``not_after``; negative once expired."""


class CertificateExpiry(State):
    """Expiry of the certificates the SECC's TLS uses (SECC chain, V2G and OEM roots), published at start and
    every few hours. ``soonest_days_left`` below ``warn_days`` also logs a warning."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "certificate_expiry"

    certificates: list[CertificateInfo]
    """Every certificate found in the PKI folder."""
    soonest_days_left: float | None
    """The smallest ``days_left`` (None: no certificate found)."""
    expired: list[str]
    """Names of the certificates already expired."""
    warn_days: float
    """The warning threshold in days."""


class TariffCost(BaseModel):
    """One Cost of a SalesTariffEntry's ConsumptionCost (ISO 15118-2 CostType)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["relativePricePercentage", "RenewableGenerationPercentage", "CarbonDioxideEmission"]
    """costKind."""
    amount: int = Field(ge=0, le=4_294_967_295)
    """amount (x 10^multiplier)."""
    multiplier: int = Field(0, ge=-3, le=3)
    """amountMultiplier."""


class TariffEntry(BaseModel):
    """One SalesTariffEntry, from ``start_s`` seconds after the schedule is offered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_s: int = Field(ge=0)
    """Start relative to the offer (the first entry starts at 0)."""
    price_level: int | None = Field(None, ge=0, le=255)
    """EPriceLevel."""
    cost: list[TariffCost] = Field(default_factory=list, max_length=3)
    """The costs above ``start_value_w``."""
    start_value_w: float = Field(0.0, ge=0)
    """ConsumptionCost startValue (W)."""


class SetSalesTariff(Command[Ack]):
    """The SalesTariff offered to Plug & Charge cars of an EVSE from now on (ISO 15118-2, signed with the SECC
    key); no entries: back to the configured one (``[secc] sales_tariff``). Errors: ``invalid_request`` naming
    the bad entry, ``unavailable`` without a SECC key (``[secc] pnc`` and ``pki_dir``)."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "set_sales_tariff"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = callers()

    entries: list[TariffEntry] = Field(default_factory=list, max_length=1024)
    """The tariff's entries, in increasing ``start_s`` from 0."""
    description: str | None = Field(None, max_length=32)
    """SalesTariffDescription."""
