"""What the session cores know about their EVSE: limits, measurements, isolation and authorization.

The service shell keeps one :class:`EvseView` per EVSE up to date from the coordinator's bus messages; the
cores only read it (plain data in, no I/O).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class EvseLimits:
    """The EVSE's present capability (from the coordinator / power module)."""

    max_voltage: float = 500.0
    min_voltage: float = 50.0
    max_current: float = 125.0
    min_current: float = 0.0
    max_power: float = 50_000.0
    peak_current_ripple: float = 1.0
    ac_nominal_voltage: float = 230.0
    ac_max_current: float = 16.0
    ac_phases: int = 3


@dataclass(slots=True)
class EvseView:
    """Snapshot of one EVSE as the SECC needs it.

    ``authorized`` is ``None`` while the decision is pending; ``limits_version`` is bumped by the shell when
    the limits change, which makes the core ask the EV to renegotiate (ISO 15118-2 only).
    """

    evse_id: str = "DE*JSV*E0001"
    din_evse_id: str = "00"
    energy_modes: tuple[str, ...] = ("DC_extended",)
    payment_options: tuple[str, ...] = ("ExternalPayment",)
    limits: EvseLimits = field(default_factory=EvseLimits)
    limits_version: int = 0
    present_voltage: float = 0.0
    present_current: float = 0.0
    isolation: str = "Invalid"
    status_code: str = "EVSE_Ready"
    authorized: bool | None = None
    stop_requested: bool = False
    rcd: bool = False
    free_service: bool = False
    #: SAScheduleTupleID of the offered schedule.
    schedule_tuple_id: int = 1
    #: The smart-charging composite (W on the cores' clock, :class:`josev.secc.schedule.PowerSchedule`) the
    #: schedules offered to the car follow; None: a flat schedule at the present limit. The shell bumps
    #: ``schedule_version`` when it changes.
    schedule: Any = None
    schedule_version: int = 0
    #: The most schedule entries offered (the schemas allow 1024; the EV may ask for fewer).
    max_schedule_entries: int = 1024
    #: OCPP K15: seconds the EV is kept waiting (EVSEProcessing Ongoing) for the CSMS's profile after its
    #: NotifyEVChargingNeeds answer Accepted/Processing (0: the SECC does not ask the CSMS); the answer
    #: (None: not yet, "Accepted", "Processing", "Rejected", "NoAnswer"), set by the shell.
    csms_wait: float = 0.0
    needs_status: str | None = None
    #: ISO 15118-2 Plug & Charge: the tariff for the car (:class:`josev.v2g.sales_tariff.Tariff`) and the SECC
    #: leaf key that signs it; a Contract session gets a signed SalesTariff when both are set.
    sales_tariff: Any = None
    tariff_key: Any = None
    #: The EVSE's rated power (W): the cap of the schedule's later periods (None: the present limit).
    rated_power: float | None = None
    #: Value-added services offered in ISO 15118-2 ServiceDiscoveryRes.ServiceList (schema dicts).
    extra_services: tuple[dict[str, Any], ...] = ()
    #: ServiceDetailRes.ServiceParameterList per ServiceID (schema dicts).
    service_parameters: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Plug & Charge trust anchors (MO roots and the V2G root, ``cryptography`` certificates); Contract is
    #: offered only on TLS connections and only with ``"Contract"`` in ``payment_options``.
    pnc_roots: tuple[Any, ...] = ()
    #: Wall-clock seconds minus the cores' clock (set by the shell); certificates are checked against
    #: ``now + wall_offset``. None: no trustworthy clock, so contract certificates cannot be checked.
    wall_offset: float | None = None
    #: answers of the CSMS to the cores' certificate requests, by ticket (``CertificateRequested.ticket``):
    #: the response V2G_Message dict, or a string saying why there is none
    pnc_answers: dict[str, Any] = field(default_factory=dict)
    #: OCSP for contract chains naming a responder (ISO 15118-2 PaymentDetails): off, soft (go on without an
    #: answer) or hard (no answer: refuse); a revoked certificate is refused with both
    ocsp_policy: str = "off"
    #: ISO 15118-2 MeteringReceipt on Contract sessions: None never asks the EV to sign the meter reading; 0
    #: asks in every ChargingStatusRes / CurrentDemandRes; N asks at most every N seconds
    metering_receipt_interval: float | None = None
    #: the station meter: its ID (MeterInfo.MeterID) and import register in Wh (None: no valid reading)
    meter_id: str = ""
    meter_wh: float | None = None

    @property
    def is_dc(self) -> bool:
        """True when the EVSE offers a DC mode."""
        return any(m.startswith("DC") for m in self.energy_modes)
