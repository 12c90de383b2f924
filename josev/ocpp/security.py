"""Security within Core (A, M, B09): BasicAuthPassword, security events (see
:meth:`josev.ocpp.core.Station.security_event`), Install/GetInstalled/DeleteCertificate, SetNetworkProfile with
slot validation and the security-profile upgrade (removing lower-profile connection profiles once the new
connection succeeded, A05.FR.06)."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from josev.ocpp.effects import Reconnect, StationRequest

if TYPE_CHECKING:
    from josev.ocpp.core import Station
    from josev.ocpp.store import Store

log = logging.getLogger(__name__)

PASSWORD = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{16,40}$")
"""OCPP 2.0.1 passwordString: 16 to 40 of alphanumerics and ``*-_=:+|@.`` (taken verbatim, never hex-decoded)."""

TRUST_STORES = ("V2GRootCertificate", "MORootCertificate")
"""Installed root types the SECC uses (announced on the bus when they change)."""
ROOT_TYPES = ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate", "ManufacturerRootCertificate")


def check_password(value: str) -> str | None:
    """Why ``value`` is not an acceptable BasicAuthPassword (None if it is)."""
    return (
        None
        if PASSWORD.match(value)
        else "BasicAuthPassword must be 16..40 characters of [A-Za-z0-9*-_=:+|@.]"
    )


def password_changed(st: Station, now: float) -> None:
    """A new BasicAuthPassword: reconnect with it (A01) and log the event."""
    st.security_event("ReconfigurationOfSecurityParameters", now, "BasicAuthPassword changed")
    st.emit(Reconnect("BasicAuthPassword changed"))


# -- network profiles ----------------------------------------------------------------------------------
def profiles(st: Station) -> dict[int, dict[str, Any]]:
    """Network connection profiles by configuration slot."""
    return {int(k): v for k, v in (st.store.get("network_profiles", {}) or {}).items()}


def save_profiles(store: Store, prof: dict[int, dict[str, Any]]) -> None:
    """Persist network connection profiles."""
    store.put("network_profiles", {str(k): v for k, v in prof.items()})


def check_priority(st: Station, value: str) -> str | None:
    """NetworkConfigurationPriority may only name configured slots."""
    slots = profiles(st)
    for item in value.split(","):
        if not item.isdigit() or int(item) not in slots:
            return f"slot {item} has no network profile"
    return None


def set_network_profile(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """SetNetworkProfile (B09): reject invalid slots, non-JSON transports, lower security profiles and TLS
    profiles without a CSMS root certificate; never overwrite the slot in use."""
    slot, data = req["configurationSlot"], req["connectionData"]
    valid_slots = st.dm.defs["OCPPCommCtrlr/NetworkConfigurationPriority"].values_list or ()
    current = st.dm.get_int("SecurityCtrlr", "SecurityProfile")
    if str(slot) not in valid_slots or slot == getattr(st, "active_slot", None):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidSlot"}}
    if data["ocppTransport"] != "JSON" or data["ocppVersion"] != "OCPP20":
        return {"status": "Rejected", "statusInfo": {"reasonCode": "UnsupportedTransport"}}
    if data["securityProfile"] < current or data["securityProfile"] > 3:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidSecProfile"}}
    if data["securityProfile"] == 3:
        from josev.ocpp import certificates

        if not certificates.valid_station_certificate(st, now):  # A05.FR.03
            return {"status": "Rejected", "statusInfo": {"reasonCode": "NoValidCSCertificate"}}
    if data["securityProfile"] >= 2 and not any(t == "CSMSRootCertificate" for _, t, _ in st.store.certs()):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "NoCSMSRootCert"}}
    url = data["ocppCsmsUrl"]
    if data["securityProfile"] >= 2 and not url.startswith("wss://"):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidURL"}}
    if data["securityProfile"] < 2 and not url.startswith(("ws://", "wss://")):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidURL"}}
    prof = profiles(st)
    prof[slot] = dict(data)
    save_profiles(st.store, prof)

    def after(s: Station, t: float) -> None:
        s.security_event("ReconfigurationOfSecurityParameters", t, f"network profile slot {slot} set")

    return {"status": "Accepted", "_after": after}


def on_connected(st: Station, slot: int, now: float) -> None:
    """The connection with ``slot`` succeeded: adopt its security profile; after an upgrade remove every
    profile with a lower security profile and drop them from NetworkConfigurationPriority (A05.FR.06)."""
    st.active_slot = slot
    prof = profiles(st)
    if slot not in prof:
        return
    st.dm.put("OCPPCommCtrlr", "ActiveNetworkProfile", str(slot))
    new = int(prof[slot]["securityProfile"])
    old = st.dm.get_int("SecurityCtrlr", "SecurityProfile")
    if new > old:
        st.dm.put("SecurityCtrlr", "SecurityProfile", str(new))
        keep = {k: v for k, v in prof.items() if int(v["securityProfile"]) >= new}
        save_profiles(st.store, keep)
        prio = [p for p in st.dm.get_list("OCPPCommCtrlr", "NetworkConfigurationPriority") if int(p) in keep]
        st.dm.put("OCPPCommCtrlr", "NetworkConfigurationPriority", ",".join(prio) or str(slot))
        st.security_event(
            "ReconfigurationOfSecurityParameters",
            now,
            f"security profile {old} -> {new}; removed lower profiles",
        )


def after_boot_accepted(st: Station, now: float) -> None:
    """Hook after BootNotification was accepted: outstanding CSRs and certificate expiry."""
    from josev.ocpp import certificates

    certificates.after_boot(st, now)


# -- certificates --------------------------------------------------------------------------------------
def hash_data(cert: x509.Certificate, issuer_key: Any = None) -> dict[str, str]:
    """CertificateHashDataType (SHA256) of a certificate; a root is its own issuer."""
    key = issuer_key if issuer_key is not None else cert.public_key()
    key_bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = _bitstring(key_bytes)  # issuerKeyHash is over the key's BIT STRING contents, as in OCSP (RFC 6960)
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(raw).hexdigest(),
        "serialNumber": format(cert.serial_number, "x"),
    }


def _bitstring(spki_der: bytes) -> bytes:
    """The subjectPublicKey BIT STRING contents of a DER SubjectPublicKeyInfo."""

    def read_len(buf: bytes, i: int) -> tuple[int, int]:
        n = buf[i]
        if n < 0x80:
            return n, i + 1
        k = n & 0x7F
        return int.from_bytes(buf[i + 1 : i + 1 + k], "big"), i + 1 + k

    _, i = read_len(spki_der, 1)  # outer SEQUENCE
    alg_len, j = read_len(spki_der, i + 1)  # AlgorithmIdentifier SEQUENCE
    k = j + alg_len
    assert spki_der[k] == 0x03
    blen, m = read_len(spki_der, k + 1)
    return spki_der[m + 1 : m + blen]


def install_certificate(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """InstallCertificate (M05): a valid, currently valid root; stored with its hash data."""
    try:
        cert = x509.load_pem_x509_certificate(req["certificate"].encode())
    except ValueError:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCertificate"}}
    wall = datetime.fromtimestamp(st.wall(now), UTC)
    if not cert.not_valid_before_utc <= wall <= cert.not_valid_after_utc:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "CertificateExpired"}}
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = basic.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "NotACA"}}
    if len(st.store.certs()) >= 50:
        return {"status": "Failed", "statusInfo": {"reasonCode": "TooManyCertificates"}}
    st.store.cert_put(hash_data(cert), req["certificateType"], req["certificate"])
    st.dm.put("SecurityCtrlr", "CertificateEntries", str(len(st.store.certs())))
    if req["certificateType"] in TRUST_STORES:  # the SECC's trust stores follow at once
        from josev.ocpp import certificates

        st.emit(StationRequest("v2g_certificate", certificates.v2g_state(st)))
    return {"status": "Accepted"}


def get_installed_certificate_ids(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """GetInstalledCertificateIds (M03)."""
    types = req.get("certificateType")
    chain = [
        {"certificateType": t, "certificateHashData": h}
        for h, t, _ in st.store.certs()
        if not types or t in types
    ]
    if not types or "V2GCertificateChain" in types:
        from josev.ocpp import certificates

        chain += certificates.v2g_chain_ids(st)
    if not chain:
        return {"status": "NotFound"}
    return {"status": "Accepted", "certificateHashDataChain": chain}


def delete_certificate(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """DeleteCertificate (M04): the last CSMS root is kept while the connection uses TLS."""
    from josev.ocpp import certificates

    want = req["certificateHashData"]
    if certificates.is_station_certificate(st, want):  # M04.FR.06: never the station's own certificate
        return {"status": "Failed", "statusInfo": {"reasonCode": "StationCertificate"}}
    if certificates.delete_v2g_chain(st, want):
        return {"status": "Accepted"}
    match = [
        (h, t)
        for h, t, _ in st.store.certs()
        if h["serialNumber"].lower().lstrip("0") == want["serialNumber"].lower().lstrip("0")
        and h["issuerNameHash"].lower() == want["issuerNameHash"].lower()
        and h["issuerKeyHash"].lower() == want["issuerKeyHash"].lower()
    ]
    if not match:
        return {"status": "NotFound"}
    h, t = match[0]
    csms_roots = [x for x in st.store.certs() if x[1] == "CSMSRootCertificate"]
    if (
        t == "CSMSRootCertificate"
        and len(csms_roots) == 1
        and st.dm.get_int("SecurityCtrlr", "SecurityProfile") >= 2
    ):
        return {"status": "Failed", "statusInfo": {"reasonCode": "LastCSMSRoot"}}
    st.store.cert_delete(h)
    st.dm.put("SecurityCtrlr", "CertificateEntries", str(len(st.store.certs())))
    if t in TRUST_STORES:
        st.emit(StationRequest("v2g_certificate", certificates.v2g_state(st)))
    return {"status": "Accepted"}


def certificates_pem(st: Station, type_: str) -> list[str]:
    """Installed certificates of one type, PEM."""
    return [pem for _, t, pem in st.store.certs() if t == type_]
