"""The bus contract between the SECC and the OCPP service for Plug & Charge (the OCPP 2.0.1 ISO 15118 support
profile). The SECC speaks ISO 15118 with the EV; whatever needs the CSMS crosses here.

**Served by ``ocpp``** (the SECC calls them; each answered once the CSMS answered, or at once from local
state when offline):

* :class:`AuthorizeContract` (per EVSE) - contract authorization: EMAID, the contract chain's OCSP request
  data (``iso15118CertificateHashData``), optionally the contract certificate chain (PEM). Reply
  :class:`ContractAuthorization`: the idTokenInfo status and the CSMS's certificateStatus. Offline, the
  contract is validated locally (installed MO root, cached OCSP answers) only when
  ``ISO15118Ctrlr.ContractValidationOffline`` is true; otherwise the answer is ``Unknown``.
* :class:`InstallEvCertificate` (per EVSE) - CertificateInstallationReq / CertificateUpdateReq: the EV's EXI
  request (base64) in, the CSMS's EXI response (base64, passed through unchanged) out.
* :class:`GetOcspStatus` - OCSP request data of one certificate in, the DER OCSP response (base64) out; the
  OCPP service caches it until its ``nextUpdate``.
* :class:`RenewV2GCertificate` - ask for a new SECC leaf (SignCertificate with certificateType V2GCertificate).

**Published by ``ocpp``**:

* :class:`V2GCertificates` (retained) - the SECC's certificate (chain and key files, installed through
  CertificateSigned) and its trust stores (V2G roots, MO roots, installed through InstallCertificate). The SECC
  follows it: new TLS sessions use the new leaf, chain checks the new roots. ``revision`` grows on every
  change.

**Published by ``secc``**:

* :class:`SeccSecurityEvent` - a security event of the SECC (e.g. a TLS handshake refused for an invalid
  certificate); the OCPP service forwards it as SecurityEventNotification, with guaranteed delivery.
"""

from __future__ import annotations

import datetime as _dt
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from josev.api.base import Ack, Command, Event, Reply, State

HashAlgorithm = Literal["SHA256", "SHA384", "SHA512"]
AuthorizationStatus = Literal[
    "Accepted",
    "Blocked",
    "ConcurrentTx",
    "Expired",
    "Invalid",
    "NoCredit",
    "NotAllowedTypeEVSE",
    "NotAtThisLocation",
    "NotAtThisTime",
    "Unknown",
]
CertificateStatus = Literal[
    "Accepted",
    "SignatureError",
    "CertificateExpired",
    "CertificateRevoked",
    "NoCertificateAvailable",
    "CertChainError",
    "ContractCancelled",
]


class OcspRequestData(BaseModel):
    """One certificate as OCSP identifies it (OCPP OCSPRequestDataType)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hash_algorithm: HashAlgorithm = "SHA256"
    """Hash of the name and key hashes."""
    issuer_name_hash: str = Field(max_length=128)
    """Hash (hex) of the issuer's DER name."""
    issuer_key_hash: str = Field(max_length=128)
    """Hash (hex) of the issuer's public key."""
    serial_number: str = Field(max_length=40)
    """Serial number (hex) of the certificate."""
    responder_url: str = Field(max_length=512)
    """The OCSP responder named in the certificate's authorityInfoAccess."""


class ContractAuthorization(Reply):
    """The decision on a contract."""

    status: AuthorizationStatus
    """idTokenInfo.status of the CSMS (or of the offline validation)."""
    certificate_status: CertificateStatus | None = None
    """certificateStatus of the CSMS (None when it gave none)."""
    source: Literal["csms", "offline", "cache", "station"] = "csms"
    """Who decided: the CSMS, the local contract validation while offline, the authorization cache, or the
    station itself (PnC disabled, bad input)."""
    group_id: str | None = None
    """idTokenInfo.groupIdToken, when the CSMS sent one."""
    reason: str = ""
    """Why it is not Accepted, in words."""


class AuthorizeContract(Command[ContractAuthorization]):
    """Authorize a Plug & Charge contract (OCPP Authorize with the eMAID and iso15118CertificateHashData)."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "authorize_contract"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = frozenset({"secc", "cli", "bench"})
    timeout_s: ClassVar[float] = 40.0

    emaid: str = Field(min_length=1, max_length=36)
    """The contract's EMAID (the contract leaf's CN)."""
    hash_data: list[OcspRequestData] = Field(default_factory=list, max_length=4)
    """OCSP request data of the contract chain (leaf and sub-CAs; not the root)."""
    certificate_chain: str | None = Field(None, max_length=5500)
    """The contract certificate (chain) in PEM, when the CSMS is to validate it (central validation)."""


class EvCertificateReply(Reply):
    """The CSMS's answer to a certificate installation or update."""

    status: Literal["Accepted", "Failed"]
    """Failed: no usable response (the CSMS said Failed, answered an EXI that does not decode, or is offline)."""
    exi_response: str = ""
    """CertificateInstallationRes / CertificateUpdateRes, EXI, base64 (exactly as the CSMS sent it)."""
    reason: str = ""
    """Why it failed, in words."""


class InstallEvCertificate(Command[EvCertificateReply]):
    """Pass an EV's CertificateInstallationReq / CertificateUpdateReq to the CSMS (Get15118EVCertificate)."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "install_ev_certificate"
    per_evse: ClassVar[bool] = True
    callers: ClassVar[frozenset[str]] = frozenset({"secc", "cli", "bench"})
    timeout_s: ClassVar[float] = 40.0

    action: Literal["Install", "Update"]
    """Installation or update."""
    schema_version: str = Field(max_length=50)
    """Namespace of the message set of the session, e.g. ``urn:iso:15118:2:2013:MsgDef``."""
    exi_request: str = Field(max_length=5600)
    """The EV's request, EXI, base64."""


class OcspStatusReply(Reply):
    """An OCSP answer for one certificate."""

    status: Literal["Accepted", "Failed"]
    """Failed: the CSMS could not get it (or is offline and nothing is cached)."""
    ocsp_result: str | None = None
    """The DER OCSPResponse, base64."""
    next_update: _dt.datetime | None = None
    """Until when the answer may be used (from the response), if known."""
    cached: bool = False
    """Served from the cache, without asking the CSMS."""


class GetOcspStatus(Command[OcspStatusReply]):
    """The OCSP status of one certificate (OCPP GetCertificateStatus), cached until its nextUpdate."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "get_ocsp_status"
    callers: ClassVar[frozenset[str]] = frozenset({"secc", "cli", "bench"})
    timeout_s: ClassVar[float] = 40.0

    request: OcspRequestData
    """The certificate."""


class RenewV2GCertificate(Command[Ack]):
    """Ask the CSMS to sign a new SECC leaf (SignCertificate with certificateType V2GCertificate)."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "renew_v2g_certificate"
    callers: ClassVar[frozenset[str]] = frozenset({"cli", "bench"})  # the SECC does not ask (yet)


class V2GCertificates(State):
    """The SECC's certificate and trust stores as installed through OCPP."""

    service: ClassVar[str] = "ocpp"
    name: ClassVar[str] = "v2g_certificates"

    revision: int = 0
    """Grows on every change (persisted: also across restarts of the OCPP service)."""
    chain_file: str | None = None
    """The SECC chain (PEM, leaf first) installed by CertificateSigned V2GCertificate; None: none installed."""
    key_file: str | None = None
    """Its private key (PKCS#8 PEM, mode 0600; generated on the station, never sent anywhere)."""
    not_after: _dt.datetime | None = None
    """End of validity of the leaf."""
    v2g_roots: list[str] = Field(default_factory=list)
    """Installed V2GRootCertificates (PEM)."""
    mo_roots: list[str] = Field(default_factory=list)
    """Installed MORootCertificates (PEM)."""


class SeccSecurityEvent(Event):
    """A security event seen by the SECC, forwarded to the CSMS (SecurityEventNotification)."""

    service: ClassVar[str] = "secc"
    name: ClassVar[str] = "security_event"

    type: str = Field(min_length=1, max_length=50)
    """The OCPP security event type (part 2 appendix), e.g. ``InvalidTLSVersion``."""
    tech_info: str = Field("", max_length=255)
    """Details for the operator (never key material)."""
