"""Firmware update (L01, secure): UpdateFirmware with the signing certificate validated against an installed
ManufacturerRootCertificate, HTTP(S) download with retries, signature verification, every
FirmwareStatusNotification, installation through a hook, the FirmwareUpdated / InvalidFirmwareSignature /
InvalidFirmwareSigningCertificate security events.

Sans-IO: the download, verification and installation job runs in the shell (:mod:`josev.ocpp.transfers`),
which reports every status back through :func:`report`.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from josev.observability import oplog
from josev.ocpp.effects import Reboot, StartJob

if TYPE_CHECKING:
    from josev.ocpp.core import Station


log = logging.getLogger(__name__)


def check_signing_certificate(pem: str, roots: list[str], at: datetime) -> str | None:
    """Why the firmware signing certificate is not acceptable (None if it is issued by one of ``roots``)."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return "unreadable signing certificate"
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return "signing certificate not valid now"
    for root_pem in roots:
        root = x509.load_pem_x509_certificate(root_pem.encode())
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return None
    return "signing certificate not issued by an installed ManufacturerRootCertificate"


def verify_signature(data: bytes, signature_b64: str, cert_pem: str) -> bool:
    """True if ``signature_b64`` (base64) is a SHA-256 RSA or ECDSA signature of ``data`` by the cert's key."""
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        key = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (ValueError, InvalidSignature):
        return False
    return True


def update_firmware(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """UpdateFirmware (L01): validate the signing certificate, then start the download job."""
    fw = req["firmware"]
    if "signingCertificate" not in fw or "signature" not in fw:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "UnsignedFirmware"}}
    from josev.ocpp.security import certificates_pem

    at = datetime.fromtimestamp(st.wall(now), UTC)
    problem = check_signing_certificate(
        fw["signingCertificate"], certificates_pem(st, "ManufacturerRootCertificate"), at
    )
    if problem is not None:

        def bad(s: Station, t: float) -> None:
            s.security_event("InvalidFirmwareSigningCertificate", t, problem)

        return {"status": "InvalidCertificate", "_after": bad}
    status = (
        "AcceptedCanceled"
        if st.firmware_status
        not in (
            "Idle",
            "Installed",
            "DownloadFailed",
            "InstallationFailed",
            "InvalidSignature",
            "InstallVerificationFailed",
        )
        else "Accepted"
    )
    job = {
        "requestId": req["requestId"],
        "firmware": fw,
        "retries": req.get("retries", 3),
        "retryInterval": req.get("retryInterval", 30),
    }

    def go(s: Station, t: float) -> None:
        s.firmware_request_id = req["requestId"]
        s.emit(StartJob("firmware", job))

    return {"status": status, "_after": go}


def report(st: Station, request_id: int, status: str, now: float) -> None:
    """A firmware job reached ``status``: notify the CSMS and log security events. ``InstallRebooting`` reboots
    once its notification is answered; ``Installed`` is reported after the reboot (see :func:`after_boot`)."""
    st.firmware_status = status
    st.firmware_request_id = request_id
    if status == "InvalidSignature":
        st.security_event("InvalidFirmwareSignature", now, f"request {request_id}")
    elif status == "Installed":
        st.security_event("FirmwareUpdated", now, f"request {request_id}")
    elif status == "InstallRebooting":
        st.security_event("FirmwareUpdated", now, f"request {request_id}, rebooting")
        st.store.put("boot_reason", "FirmwareUpdate")
        st.store.put("firmware_installed", request_id)

        def reboot(s: Station, *_: Any) -> None:
            s.emit(Reboot("FirmwareUpdate"))

        st.send(
            "FirmwareStatusNotification",
            {"status": status, "requestId": request_id},
            now,
            on_result=reboot,
            on_error=reboot,
        )
        if not st.online:
            reboot(st)
        return
    oplog.firmware_status(log, status, request_id)
    st.send("FirmwareStatusNotification", {"status": status, "requestId": request_id}, now)


def after_boot(st: Station, now: float) -> None:
    """After a firmware reboot: report ``Installed`` for the request that caused it."""
    rid = st.store.get("firmware_installed")
    if rid is not None:
        st.store.put("firmware_installed", None)
        st.firmware_status = "Installed"
        st.firmware_request_id = int(rid)
        oplog.firmware_status(log, "Installed", int(rid))
        st.send("FirmwareStatusNotification", {"status": "Installed", "requestId": int(rid)}, now)
