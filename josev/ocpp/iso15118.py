"""The ISO 15118 support profile on the OCPP side (blocks C and M for ISO 15118): contract authorization
(Authorize with the eMAID and ``iso15118CertificateHashData``), EV certificate installation/update
(Get15118EVCertificate, the EXI passed through unchanged), OCSP (GetCertificateStatus, cached until
nextUpdate), and the SECC's security events. The SECC reaches these through the bus contract
:mod:`josev.api.iso15118`; the answers leave the core as ``StationRequest("iso15118_reply", {"ref": ..., "reply":
{...}})`` effects, ``reply`` shaped like the matching :mod:`josev.api.iso15118` reply.

Honoured variables (``ISO15118Ctrlr``): ``PnCEnabled`` (off: every request refused by the station),
``CentralContractValidationAllowed`` (the contract chain is sent to the CSMS only when true),
``ContractValidationOffline`` (offline, a contract is validated locally against the installed MO roots and the
cached OCSP answers only when true; otherwise it is ``Unknown``), ``ContractCertificateInstallationEnabled``.

Bad CSMS answers (an Authorize answer that fails the schema, e.g. an unknown certificateStatus; an
Get15118EVCertificate exiResponse that does not decode; an OCSP result that is not an OCSPResponse) are
refused to the SECC and logged as the security event ``InvalidMessages``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509 import ocsp

from josev.ocpp import authorization, certificates
from josev.ocpp.effects import StationRequest

if TYPE_CHECKING:
    from josev.ocpp.core import Station

log = logging.getLogger(__name__)

VALIDATION_CODES = frozenset(
    {
        "FormatViolation",
        "PropertyConstraintViolation",
        "TypeConstraintViolation",
        "OccurrenceConstraintViolation",
        "ProtocolError",
    }
)
"""on_error reasons that mean the CSMS's answer was malformed (rather than a timeout)."""


def reply(st: Station, ref: int, payload: dict[str, Any]) -> None:
    """Answer the SECC's request ``ref``."""
    st.emit(StationRequest("iso15118_reply", {"ref": ref, "reply": payload}))


def _up(st: Station) -> bool:
    return st.online and st.registration == "Accepted"


def _ocsp_json(item: dict[str, Any]) -> dict[str, Any]:
    """An OCSPRequestDataType from the bus form (snake case)."""
    return {
        "hashAlgorithm": item["hash_algorithm"],
        "issuerNameHash": item["issuer_name_hash"],
        "issuerKeyHash": item["issuer_key_hash"],
        "serialNumber": item["serial_number"],
        "responderURL": item["responder_url"],
    }


def _bad_answer(st: Station, action: str, why: str, now: float) -> None:
    log.warning("CSMS %s answer refused: %s", action, why)
    st.security_event("InvalidMessages", now, f"{action}: {why}")


# -- contract authorization ----------------------------------------------------------------------------
def authorize_contract(
    st: Station,
    evse: int,
    ref: int,
    emaid: str,
    hash_data: list[dict[str, Any]],
    chain_pem: str | None,
    now: float,
) -> None:
    """AuthorizeContract from the SECC."""
    if not st.dm.get_bool("ISO15118Ctrlr", "PnCEnabled"):
        reply(st, ref, {"status": "Invalid", "source": "station", "reason": "PnCEnabled is false"})
        return
    token = {"idToken": emaid, "type": "eMAID"}
    if not _up(st):
        _offline_contract(st, evse, ref, token, hash_data, chain_pem, now)
        return
    payload: dict[str, Any] = {"idToken": token}
    if hash_data:
        payload["iso15118CertificateHashData"] = [_ocsp_json(h) for h in hash_data]
    if chain_pem and st.dm.get_bool("ISO15118Ctrlr", "CentralContractValidationAllowed"):
        payload["certificate"] = chain_pem

    def on_result(s: Station, p: dict[str, Any], t: float) -> None:
        info = p["idTokenInfo"]
        cert_status = p.get("certificateStatus")
        status = info["status"]
        if status == "Accepted" and cert_status not in (None, "Accepted"):
            status = "Invalid"  # the CSMS accepts the token but not the certificate: no charging
        out: dict[str, Any] = {"status": status, "source": "csms"}
        if cert_status is not None:
            out["certificate_status"] = cert_status
        group = (info.get("groupIdToken") or {}).get("idToken")
        if group:
            out["group_id"] = group
        if status != "Accepted":
            out["reason"] = f"CSMS: idTokenInfo {info['status']}, certificateStatus {cert_status}"
        reply(s, ref, out)
        authorization._decide(s, evse, token, {**info, "status": status}, t, "csms")

    def on_error(s: Station, why: str, t: float) -> None:
        if why in VALIDATION_CODES:
            _bad_answer(s, "Authorize", f"invalid answer ({why})", t)
            reply(s, ref, {"status": "Invalid", "source": "station", "reason": f"invalid CSMS answer: {why}"})
            return
        _offline_contract(s, evse, ref, token, hash_data, chain_pem, t)

    st.send("Authorize", payload, now, on_result=on_result, on_error=on_error)


def _offline_contract(
    st: Station,
    evse: int,
    ref: int,
    token: dict[str, Any],
    hash_data: list[dict[str, Any]],
    chain_pem: str | None,
    now: float,
) -> None:
    if not st.dm.get_bool("ISO15118Ctrlr", "ContractValidationOffline"):
        reply(
            st,
            ref,
            {
                "status": "Unknown",
                "source": "offline",
                "reason": "CSMS unreachable and ContractValidationOffline is false",
            },
        )
        return
    status, cert_status, why = validate_contract_locally(st, chain_pem, hash_data, now)
    out: dict[str, Any] = {"status": status, "certificate_status": cert_status, "source": "offline"}
    if why:
        out["reason"] = why
    reply(st, ref, out)
    if status == "Accepted":
        authorization._decide(st, evse, token, {"status": "Accepted"}, now, "offline")


def validate_contract_locally(
    st: Station, chain_pem: str | None, hash_data: list[dict[str, Any]], now: float
) -> tuple[str, str, str]:
    """(idToken status, certificateStatus, reason) of a contract chain checked against the installed MO roots
    and the cached OCSP answers."""
    if not chain_pem:
        return "Invalid", "NoCertificateAvailable", "no contract certificate to validate offline"
    try:
        chain = list(x509.load_pem_x509_certificates(chain_pem.encode()))
    except ValueError:
        return "Invalid", "CertChainError", "contract chain is not PEM"
    wall = datetime.fromtimestamp(st.wall(now), UTC)
    try:
        certificates.verify_chain(
            chain, certificates.installed_roots(st, ("MORootCertificate",)), wall, "MORootCertificate"
        )
    except certificates.CertificateError as err:
        expired = "not valid now" in str(err)
        return "Invalid", "CertificateExpired" if expired else "CertChainError", str(err)
    for item in hash_data:
        cached = _cached_ocsp(st, item, now)
        if cached is None:
            continue
        try:
            resp = ocsp.load_der_ocsp_response(base64.b64decode(cached["result"]))
            if resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL and (
                resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
            ):
                return (
                    "Invalid",
                    "CertificateRevoked",
                    f"certificate {item['serial_number']} revoked (cached OCSP)",
                )
        except ValueError:
            continue
    return "Accepted", "Accepted", ""


# -- EV certificate installation -----------------------------------------------------------------------
def install_ev_certificate(
    st: Station, ref: int, action: str, schema_version: str, exi_request: str, now: float
) -> None:
    """InstallEvCertificate from the SECC -> Get15118EVCertificate."""
    if not st.dm.get_bool("ISO15118Ctrlr", "PnCEnabled") or not st.dm.get_bool(
        "ISO15118Ctrlr", "ContractCertificateInstallationEnabled"
    ):
        reply(st, ref, {"status": "Failed", "reason": "contract certificate installation disabled"})
        return
    if not _up(st):
        reply(st, ref, {"status": "Failed", "reason": "CSMS unreachable"})
        return
    payload = {"iso15118SchemaVersion": schema_version, "action": action, "exiRequest": exi_request}

    def on_result(s: Station, p: dict[str, Any], t: float) -> None:
        exi_b64 = p["exiResponse"]
        problem = check_exi(schema_version, exi_b64) if p["status"] == "Accepted" else None
        if problem is not None:
            _bad_answer(s, "Get15118EVCertificate", problem, t)
            reply(s, ref, {"status": "Failed", "reason": problem})
            return
        out: dict[str, Any] = {"status": p["status"], "exi_response": exi_b64}
        if p["status"] != "Accepted":
            out["reason"] = str((p.get("statusInfo") or {}).get("reasonCode", "CSMS answered Failed"))
        reply(s, ref, out)

    def on_error(s: Station, why: str, t: float) -> None:
        if why in VALIDATION_CODES:
            _bad_answer(s, "Get15118EVCertificate", f"invalid answer ({why})", t)
        reply(s, ref, {"status": "Failed", "reason": f"no answer from the CSMS ({why})"})

    st.send("Get15118EVCertificate", payload, now, on_result=on_result, on_error=on_error)


def check_exi(schema_version: str, exi_b64: str) -> str | None:
    """Why ``exi_b64`` is not a decodable EXI document of the session's schema (None: it is)."""
    from josev import exi

    try:
        data = base64.b64decode(exi_b64, validate=True)
    except (binascii.Error, ValueError):
        return "exiResponse is not base64"
    try:
        schema = exi.schema_for_namespace(schema_version)
    except ValueError:
        return None  # a schema we do not know: passed through unchecked
    try:
        exi.decode(schema, data)
    except exi.ExiError as err:
        return f"exiResponse does not decode as {schema}: {err.message}"
    return None


# -- OCSP ----------------------------------------------------------------------------------------------
def _ocsp_key(item: dict[str, Any]) -> str:
    """RFC 6960's CertID: a renewed Sub-CA with the same name (other key) does not share cached answers."""
    return (
        f"ocsp:{item['hash_algorithm']}:{item['issuer_name_hash'].lower()}:{item['issuer_key_hash'].lower()}:"
        f"{item['serial_number'].lower()}"
    )


def _cached_ocsp(st: Station, item: dict[str, Any], now: float) -> dict[str, Any] | None:
    cached = st.store.get(_ocsp_key(item))
    if not cached or cached["next_update"] <= st.wall(now):
        return None
    return dict(cached)


def get_ocsp_status(st: Station, ref: int, item: dict[str, Any], now: float) -> None:
    """GetOcspStatus from the SECC -> GetCertificateStatus, or the cached answer while valid."""
    cached = _cached_ocsp(st, item, now)
    if cached is not None:
        reply(
            st,
            ref,
            {
                "status": "Accepted",
                "ocsp_result": cached["result"],
                "next_update": datetime.fromtimestamp(cached["next_update"], UTC).isoformat(),
                "cached": True,
            },
        )
        return
    if not _up(st):
        reply(st, ref, {"status": "Failed"})
        return

    def on_result(s: Station, p: dict[str, Any], t: float) -> None:
        if p["status"] != "Accepted" or "ocspResult" not in p:
            reply(s, ref, {"status": "Failed"})
            return
        try:
            resp = ocsp.load_der_ocsp_response(base64.b64decode(p["ocspResult"], validate=True))
            next_update = (
                resp.next_update_utc if resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL else None
            )
        except (ValueError, binascii.Error):
            _bad_answer(s, "GetCertificateStatus", "ocspResult is not a DER OCSPResponse", t)
            reply(s, ref, {"status": "Failed"})
            return
        out: dict[str, Any] = {"status": "Accepted", "ocsp_result": p["ocspResult"]}
        if next_update is not None:
            out["next_update"] = next_update.isoformat()
            s.store.put(_ocsp_key(item), {"result": p["ocspResult"], "next_update": next_update.timestamp()})
        reply(s, ref, out)

    st.send(
        "GetCertificateStatus",
        {"ocspRequestData": _ocsp_json(item)},
        now,
        on_result=on_result,
        on_error=lambda s, why, t: reply(s, ref, {"status": "Failed"}),
    )


# -- V2G certificate renewal and the SECC's security events ---------------------------------------------
def renew_v2g(st: Station, now: float) -> None:
    """RenewV2GCertificate from the SECC."""
    certificates.request(st, certificates.V2G, now)


def secc_security_event(st: Station, type_: str, tech_info: str, now: float) -> None:
    """A security event of the SECC: logged and queued for guaranteed delivery like the station's own."""
    st.security_event(type_, now, tech_info or None)
