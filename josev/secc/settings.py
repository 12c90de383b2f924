"""Settings of the SECC service: one :class:`SeccEvseConfig` per EVSE and the ``[secc]`` section
(:class:`SeccOptions`) of the station configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from josev.secc.evse import EvseView
from josev.secc.tlsconfig import TlsChoice


@dataclass
class SeccEvseConfig:
    """One EVSE served by the SECC."""

    evse: int
    iface: str
    tcp_port: int = 0
    energy_modes: tuple[str, ...] = ("DC_extended",)
    evse_id: str = "DE*JSV*E0001"
    max_current_a: float | None = None
    max_voltage_v: float | None = None
    max_power_w: float | None = None
    phases: int = 3
    iso20: bool = False
    """Offer ISO 15118-20 next to DIN / ISO 15118-2."""
    bpt: bool = False
    """-20: offer bidirectional power transfer (discharge limits from the coordinator)."""

    def view(self) -> EvseView:
        """The initial EVSE view (limits from the rating; the coordinator refines them at run time)."""
        v = EvseView(evse_id=self.evse_id, energy_modes=self.energy_modes)
        lim = v.limits
        if any(m.startswith("DC") for m in self.energy_modes):
            lim.max_current = self.max_current_a or lim.max_current
            lim.max_voltage = self.max_voltage_v or lim.max_voltage
            lim.max_power = self.max_power_w or lim.max_power
            v.rated_power = min(lim.max_power, lim.max_voltage * lim.max_current)
        else:
            lim.ac_max_current = self.max_current_a or lim.ac_max_current
            lim.ac_phases = self.phases
            lim.max_power = self.max_power_w or lim.max_power
            v.rated_power = min(lim.max_power, lim.ac_max_current * lim.ac_phases * lim.ac_nominal_voltage)
        return v


class SeccOptions(BaseModel):
    """The ``[secc]`` section of the station configuration."""

    model_config = ConfigDict(extra="forbid")

    codec: Literal["exi", "json"] = "exi"
    """EXI (always, for vehicles); json is a debugging stand-in."""
    sim_supply: bool | None = None
    """Let the SECC's built-in stand-in (:class:`josev.sim.supply.SimPowerSupply`) play the power electronics
    (present values follow the EV's targets, the isolation test passes). Default (unset): only when the station
    runs no coordinator; with one, the coordinator's DC flow and session events are the EVSE's only source."""
    auto_authorize: bool = False
    """Grant EIM authorization at once (else the coordinator's ``authorized`` session event decides)."""
    csms_schedule_wait_s: float = Field(20.0, ge=0, le=55)
    """OCPP K15: when an OCPP service runs, the EV waits in ChargeParameterDiscovery (EVSEProcessing Ongoing) up
    to this long for the CSMS's profile after its NotifyEVChargingNeeds answer Accepted / Processing (0: the
    SECC does not report the EV's needs; below the EV's 60 s ChargeParameterDiscovery limit)."""
    max_schedule_entries: int = Field(1024, ge=1, le=1024)
    """Most PMaxScheduleEntries / PowerScheduleEntries offered to the car (the schemas allow 1024; the EV may
    ask for fewer); later changes of the composite come with a renegotiation."""
    tcp_port: int = Field(0, ge=0, le=65535)
    """Fixed TCP port (0: a free one in 49152..65535)."""
    evse_id_prefix: str = "DE*JSV*E"
    """ISO 15118-2 EVSEID = prefix + EVSE id (zero padded to 4 digits)."""
    sequence_timeout_s: float = Field(60.0, gt=0)
    """V2G_SECC_Sequence_Timeout."""
    communication_setup_timeout_s: float = Field(20.0, gt=0)
    """V2G_SECC_CommunicationSetup_Timeout."""
    iso20: bool = False
    """Offer ISO 15118-20 (needs TLS for real EVs: set ``tls``)."""
    bpt: bool = False
    """-20: offer AC_BPT / DC_BPT."""
    tls: TlsChoice = "off"
    """TLS listener: off, iso2 (TLS 1.2), iso20 (TLS 1.3), both."""
    pki_dir: str | None = None
    """Folder written by ``josev pki create`` (required with ``tls``)."""
    pnc: bool = False
    """Plug & Charge: offer Contract (ISO 15118-2, TLS only) and PnC (-20); the contract chains are checked
    against the MO / V2G roots of ``pki_dir`` and those installed through OCPP, contracts authorized through
    the OCPP service."""
    metering_receipt: bool = False
    """ISO 15118-2 Plug & Charge: ask the EV to sign the station meter's reading (ReceiptRequired with MeterInfo in
    ChargingStatusRes / CurrentDemandRes, answered by a signed MeteringReceiptReq). Needs ``pnc``; EIM sessions
    are never asked."""
    metering_receipt_interval_s: float = Field(60.0, ge=0, le=86400)
    """Seconds between two receipts of a session (0: every loop response; the first loop response always asks)."""
    ocsp: Literal["off", "soft", "hard"] = "soft"
    """Plug & Charge: OCSP status of contract chains that name an OCSP responder, fetched through the OCPP service
    (GetCertificateStatus) during PaymentDetails. A revoked certificate is refused (FAILED_CertificateRevoked) with
    ``soft`` and ``hard``; when no valid answer comes within 4 s, or the status is unknown, ``soft`` goes on (the
    CSMS's Authorize still decides) and ``hard`` refuses (FAILED). ``off`` does not ask."""
    metering_confirmation_s: float = Field(0.0, ge=0, le=3600)
    """-20 Plug & Charge sessions: every this many seconds of charging, ask the EV for a MeteringConfirmation
    signed with its contract key over the meter reading and the receipt (0: never, the default)."""
    sales_tariff: list[dict[str, Any]] = Field(default_factory=list)
    """ISO 15118-2 Plug & Charge: the SalesTariff for the car, entries ``{start_s, price_level, cost =
    [{kind, amount, multiplier}], start_value_w}`` relative to the offer (needs ``pnc`` and ``pki_dir``: it
    is signed with the SECC leaf key)."""
    sales_tariff_description: str | None = Field(None, max_length=32)
    """SalesTariffDescription."""

    @field_validator("sales_tariff")
    @classmethod
    def _tariff(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if v:
            from josev.v2g.sales_tariff import from_config

            from_config(v)  # raises ValueError naming the entry and the problem
        return v

    enforce_tls: bool = False
    """SDP announces only the TLS listener."""
    tls_keylog: str | None = None
    """NSS key log file (debugging only)."""
    await_contactor: bool = True
    """Hold PowerDelivery responses until the coordinator confirms the contactor."""
    contactor_timeout_s: float = Field(3.0, gt=0, le=4.5)
    """How long to wait for that (the EV's PowerDelivery timeout is 5 s)."""
    clamp_targets: bool = False
    """-20 DC: clamp EV voltage targets above the EVSE maximum instead of FAILED_WrongChargeParameter."""
    v2g_log: bool = True
    """Record every V2GTP frame in memory (bounded ring)."""
    v2g_log_dir: str | None = None
    """Write one pcapng file per session there (0600, the oldest deleted beyond the caps below)."""
    v2g_log_reports: bool = False
    """With ``v2g_log_dir``: also write a conformance report of the EV next to each pcapng
    (``<capture>.report.json`` / ``.html``, :mod:`josev.report`)."""
    publish_messages: bool = False
    """Publish every decoded V2G message on the bus (``secc/<evse>/event/v2g_message``) for live views such as
    ``josev station --web``; values are shortened and private keys left out."""
    publish_messages_rate: float = Field(50.0, gt=0, le=1000)
    """Messages per second and EVSE published at most (burst 2 x); the rest are counted, not published."""
    v2g_log_slac: bool = True
    """Log the SLAC frames of the PLC interface with the session they led to (needs CAP_NET_RAW)."""
    v2g_log_max_files: int = Field(200, ge=1)
    """pcapng files kept in ``v2g_log_dir`` at most."""
    v2g_log_max_mb: float = Field(64.0, gt=0)
    """Megabytes of pcapng files kept in ``v2g_log_dir`` at most."""
    max_connections: int = Field(4, ge=1, le=64)
    """V2GTP connections per EVSE at once (TLS handshakes included; see docs/security.md)."""
    max_connections_per_peer: int = Field(2, ge=1, le=64)
    """Connections of one EV address at once."""
    peer_connect_rate: float = Field(2.0, gt=0)
    """New connections per second and EV address (burst ``peer_connect_burst``)."""
    peer_connect_burst: int = Field(10, ge=1)
    """New connections one EV address may open at once."""
    frame_rate: float = Field(200.0, gt=0)
    """V2GTP frames per second a connection may send (burst ``2 x frame_rate``); faster ones are closed."""
    tls_handshake_timeout_s: float = Field(5.0, gt=0, le=60)
    """Seconds a TLS handshake may take."""

    @model_validator(mode="after")
    def _receipts_need_pnc(self) -> SeccOptions:
        if self.metering_receipt and not self.pnc:
            raise ValueError(
                "[secc] metering_receipt needs pnc = true (only Plug & Charge sessions sign receipts)"
            )
        return self
