"""Events the session cores emit for the service shell (which maps them to bus messages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """SessionSetup accepted."""

    protocol: str
    session_id: str
    evcc_id: str
    resumed: bool


@dataclass(frozen=True, slots=True)
class AuthorizationRequested:
    """The EV asks for authorization with EIM / ExternalPayment."""

    payment: str


@dataclass(frozen=True, slots=True)
class ContractAuthorizationRequested:
    """Plug & Charge: a contract chain passed the local checks; the contract (EMAID, the OCSP hash data of the
    leaf and its Sub-CAs) is to be authorized by the CSMS."""

    emaid: str
    hash_data: tuple[dict[str, str], ...]


@dataclass(frozen=True, slots=True)
class CertificateRequested:
    """Plug & Charge: the EV asks for a contract certificate (``Install``: CertificateInstallationReq, ``Update``:
    CertificateUpdateReq; ``message`` is the whole request). The shell passes it to the CSMS and puts the answer
    into ``EvseView.pnc_answers[ticket]``; the core answers the EV from there."""

    ticket: str
    action: str
    message: dict[str, Any]
    #: the EXI schema of ``message`` (``iso2``, or ``iso20-cm`` for ISO 15118-20)
    schema: str = "iso2"


@dataclass(frozen=True, slots=True)
class SecurityIssue:
    """A security-relevant refusal (forged signature, replayed challenge ...): no secret in ``detail``."""

    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class OcspStatusRequested:
    """Plug & Charge: the OCSP answers for these certificates (OCPP ``OCSPRequestDataType`` dicts with
    ``responderURL``) are wanted; the shell fetches them through the OCPP service and puts the list of base64 DER
    OCSPResponses (None where there is none), in the same order, into ``EvseView.pnc_answers[ticket]``."""

    ticket: str
    hash_data: tuple[dict[str, str], ...]


@dataclass(frozen=True, slots=True)
class MeterReceipted:
    """ISO 15118-2 MeteringReceipt: the EV signed the station's meter reading (``meter_info`` as sent)."""

    meter_info: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EvChargeParameters:
    """ChargeParameterDiscovery: what the EV wants and can take."""

    energy_mode: str
    max_voltage: float | None = None
    max_current: float | None = None
    min_current: float | None = None
    max_power: float | None = None
    soc: int | None = None
    energy_request: float | None = None
    departure_time: int | None = None


@dataclass(frozen=True, slots=True)
class CableCheckRequested:
    """DC: the EV asks for the isolation test."""


@dataclass(frozen=True, slots=True)
class EvTargets:
    """DC PreCharge / CurrentDemand targets (``phase`` is ``precharge`` or ``charge``)."""

    phase: str
    voltage: float
    current: float
    soc: int | None = None
    charging_complete: bool = False


@dataclass(frozen=True, slots=True)
class PowerDeliveryRequested:
    """The EV asks to start, stop or renegotiate (``progress``: Start, Stop, Renegotiate)."""

    progress: str


@dataclass(frozen=True, slots=True)
class ContactorRequested:
    """PowerDelivery Start/Stop: the core holds the PowerDeliveryRes until the shell has closed (``close``) or
    opened the contactor and answered with :meth:`josev.secc.session.SeccSession.contactor_result`."""

    close: bool


@dataclass(frozen=True, slots=True)
class EvChargingProfile:
    """The schedule the EV chose (PowerDelivery's ChargingProfile): (start s from the offer, max power W)."""

    entries: tuple[tuple[int, float], ...]
    offered_at: float = 0.0
    """What the entries are relative to, on the cores' clock: ISO-2, when the schedule was offered; -20, the EV's
    TimeAnchor."""


@dataclass(frozen=True, slots=True)
class WeldingDetectionRequested:
    """DC: the EV checks the contactors after stopping."""


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The session is over (``reason``: terminate, pause, failed code, timeout, closed)."""

    reason: str
    paused: bool = False
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The EV broke the protocol (logged and counted by the shell)."""

    request: str
    response_code: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LocalError:
    """We broke the protocol (our bug, not the EV's): ``what`` is ``encode`` when a response we built is not
    schema-valid. The session ends; the shell logs it as an error and counts it."""

    what: str
    detail: str = ""


Event = (
    SessionStarted
    | AuthorizationRequested
    | ContractAuthorizationRequested
    | CertificateRequested
    | SecurityIssue
    | MeterReceipted
    | OcspStatusRequested
    | EvChargeParameters
    | CableCheckRequested
    | EvTargets
    | EvChargingProfile
    | PowerDeliveryRequested
    | ContactorRequested
    | WeldingDetectionRequested
    | SessionEnded
    | ProtocolViolation
    | LocalError
)
