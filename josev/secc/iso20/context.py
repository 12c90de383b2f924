"""Per-connection state of an ISO 15118-20 session, the station settings it reads, and the handler contract.

:class:`Iso20Evse` is the -20 adapter around the shared :class:`~josev.secc.evse.EvseView`: the view carries what
every protocol needs (limits, present values, isolation, authorization); the adapter adds what only -20 needs
(discharge limits for BPT, a power setpoint for dynamic mode, the meter). The service shell keeps one per EVSE
and updates it from the coordinator, like the view.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from josev.secc.evse import EvseView
from josev.secc.iso20.events import Iso20Event
from josev.secc.machine import ContextBase, EngineSetup, HandlerError, Pending, SessionStore
from josev.secc.timers import DEFAULT_TIMERS, SeccTimers

__all__ = [
    "DYNAMIC",
    "SCHEDULED",
    "BptLimits",
    "Iso20Config",
    "Iso20Context",
    "Iso20Evse",
    "Iso20Handler",
    "PncVerifier",
    "Selection",
    "iso20_context",
]

#: ControlMode parameter values (ISO 15118-20 Table 204 ff.).
SCHEDULED = 1
DYNAMIC = 2


@dataclass(slots=True)
class BptLimits:
    """Discharge capability of the EVSE (bidirectional power transfer), positive magnitudes."""

    max_discharge_power: float = 11_000.0
    min_discharge_power: float = 0.0
    max_discharge_current: float = 25.0
    min_discharge_current: float = 0.0


@dataclass(slots=True)
class Iso20Evse:
    """What -20 needs beyond the shared :class:`EvseView`.

    ``bpt`` is ``None`` when the EVSE cannot discharge (no BPT service offered). ``power_setpoint`` is the
    station's wish in dynamic mode (W, positive = charge, negative = discharge); ``None`` = as much as the EV
    and the limits allow. ``limits_version`` is bumped by the shell when the discharge limits change.
    """

    view: EvseView = field(default_factory=EvseView)
    bpt: BptLimits | None = None
    power_setpoint: float | None = None
    #: AC: active power measured now (W, negative while discharging), from the meter.
    present_power: float = 0.0
    meter_id: str = "JOSEV-METER-1"
    charged_wh: float = 0.0
    discharged_wh: float = 0.0
    nominal_frequency: float = 50.0
    exit_standby: bool = False
    #: the station reaches its CSMS (OCPP connected and accepted): CertificateInstallation is offered only then
    csms_online: bool = True


class PncVerifier(Protocol):
    """Plug & Charge seam: checks a ``PnC_AReqAuthorizationMode`` (contract chain, signature) and returns a
    -20 response code (``OK``, ``WARNING_CertificateExpired``, ...)."""

    def __call__(self, ctx: Iso20Context, mode: dict[str, Any]) -> str:
        """Verify the contract chain of the EV."""
        ...


@dataclass(frozen=True, slots=True)
class Iso20Config:
    """Station settings of the -20 core.

    ``services``: offered energy transfer ServiceIDs (None: derived from the view's energy modes and
    ``bpt``); ``control_modes``: SCHEDULED and/or DYNAMIC; ``pnc``: a verifier enables PnC next to EIM.
    ``wall_offset``: added to ``now`` for the header TimeStamp (seconds since the epoch).
    ``price_levels``: a flat one-level PriceLevelSchedule goes with each ChargingSchedule.
    ``clamp_targets``: DC voltage targets above the EVSE maximum are clamped, not refused.
    ``certificate_installation``: PnC offers CertificateInstallation (needs a CSMS); ``metering_interval``: PnC
    sessions confirm the meter reading with a signed MeteringConfirmation every that many seconds (0: never).
    """

    services: tuple[int, ...] | None = None
    control_modes: tuple[int, ...] = (SCHEDULED, DYNAMIC)
    pnc: PncVerifier | None = None
    eim: bool = True
    standby_allowed: bool = True
    service_renegotiation: bool = True
    schedule_duration: int = 86_400
    wall_offset: float = 0.0
    notification_max_delay: int = 10
    #: Add a flat PriceLevelSchedule (one level) to every ChargingSchedule (optional in -20; some EVs need it).
    price_levels: bool = True
    #: DC: clamp an EV voltage target above the EVSE maximum to the maximum (VoltageLimitAchieved) instead of
    #: answering FAILED_WrongChargeParameter (lenient mode for test EVs with odd targets).
    clamp_targets: bool = False
    #: PnC: announce CertificateInstallationService in AuthorizationSetupRes (the station can reach the CSMS)
    certificate_installation: bool = False
    #: PnC sessions: ask the EV for a signed MeteringConfirmation (EVSENotification MeteringConfirmation in a
    #: ChargeLoopRes with MeterInfo and Receipt) every ``metering_interval`` seconds of charging; 0: off
    metering_interval: float = 0.0


@dataclass(frozen=True, slots=True)
class Selection:
    """The energy transfer service the EV selected."""

    service_id: int
    parameter_set_id: int
    ac: bool
    bpt: bool
    control_mode: int
    parameters: Mapping[str, int]

    @property
    def dynamic(self) -> bool:
        """True in dynamic control mode."""
        return self.control_mode == DYNAMIC


@dataclass(slots=True)
class Iso20Context(ContextBase):
    """Mutable per-connection session state that the handlers read and write."""

    station: Iso20Evse
    config: Iso20Config
    timers: SeccTimers = DEFAULT_TIMERS
    store: SessionStore = field(default_factory=SessionStore)
    new_session_id: Callable[[], str] = lambda: secrets.token_hex(8).upper()
    new_challenge: Callable[[], bytes] = lambda: secrets.token_bytes(16)
    #: "AC" or "DC" from the negotiated namespace (None: both families allowed).
    family: str | None = None
    events: list[Iso20Event] = field(default_factory=list)
    session_id: str | None = None
    evcc_id: str = ""
    auth_services: tuple[str, ...] = ()
    challenge: bytes | None = None
    authorized: bool = False
    offered_services: tuple[int, ...] = ()
    selection: Selection | None = None
    ev_params: dict[str, float] = field(default_factory=dict)
    schedule_ids: tuple[int, ...] = ()
    offered_pmax: float = 0.0
    offered_discharge: float = 0.0
    schedule_version: int = 0
    limits_version_seen: int = 0
    #: the ChargingSchedule last offered, absolute (``josev.secc.schedule.Offered``), and the composite's
    #: version then
    offered_schedule: tuple[tuple[float, float], ...] = ()
    schedule_version_seen: int = 0
    #: the composite's version when ScheduleExchange began (OCPP K15: a new profile ends the wait)
    needs_version: int = 0
    standby: bool = False
    renegotiating: bool = False
    ongoing_since: dict[str, float] = field(default_factory=dict)
    #: the requests seen in this session
    requested: set[str] = field(default_factory=set)
    #: the Header of the request being handled and its time (the Plug & Charge verifier reads both)
    header: dict[str, Any] = field(default_factory=dict)
    now: float = 0.0
    #: a header Signature the next response carries (the certificate provisioning service's, relayed)
    response_signature: dict[str, Any] | None = None
    #: CertificateInstallation: the request waiting for the CSMS (its ticket in ``EvseView.pnc_answers``), the
    #: time it was first asked, the chains installed in this session, the EV's maximum, the CPS's remaining
    cert_offered: bool = False
    cert_ticket: str | None = None
    cert_since: float | None = None
    cert_installed: int = 0
    cert_max: int | None = None
    cert_remaining: int | None = None
    #: the session was authorized by a contract (PnC), and the MeterInfo of the last metering confirmation
    #: request (MeteringConfirmation: what the EV must sign)
    pnc_session: bool = False
    #: the public key of the contract verified at Authorization (it signs MeteringConfirmation)
    contract_key: Any = None
    metering_asked: dict[str, Any] | None = None
    metering_due: float | None = None
    metering_confirmed: int = 0

    @property
    def evse(self) -> EvseView:
        """The shared EVSE view."""
        return self.station.view

    def require_selection(self) -> Selection:
        """The selected service (a handler reached without one is a sequence error)."""
        if self.selection is None:
            raise HandlerError("FAILED_NoEnergyTransferServiceSelected", "no service selected")
        return self.selection


class Iso20Handler(Protocol):
    """A request handler module: ``REQUEST``/``RESPONSE`` root names, the codec ``SCHEMA`` of both."""

    REQUEST: str
    RESPONSE: str
    SCHEMA: str

    def handle(
        self, ctx: Iso20Context, req: dict[str, Any], now: float, state: str
    ) -> tuple[dict[str, Any] | Pending, str]:
        """Return the response content (without Header) and the next state, or :class:`Pending` (the answer
        waits for the shell; such a handler also has ``resume(ctx, now)`` and may have ``expired(ctx, now)``)."""
        ...

    def negative(self, ctx: Iso20Context, code: str) -> dict[str, Any]:
        """A schema-valid response content carrying the FAILED ``code``."""
        ...


def iso20_context(setup: EngineSetup) -> Iso20Context:
    """The per-connection context of a -20 session (``setup.evse`` is the :class:`Iso20Evse`)."""
    station: Iso20Evse = setup.evse
    ctx = Iso20Context(
        station,
        setup.config or Iso20Config(),
        setup.timers,
        setup.store,
        setup.new_session_id,
        family=setup.family,
    )
    ctx.limits_version_seen = station.view.limits_version
    return ctx
