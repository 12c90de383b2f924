"""The station's own certificates (A02/A03 and the ISO 15118 M-block): SignCertificate with a CSR made from a
key pair generated here, CertificateSigned with its checks, the ``CertSigningWaitMinimum`` /
``CertSigningRepeatTimes`` retries, TriggerMessage SignChargingStationCertificate / SignV2GCertificate, the
installed chains (``ChargingStationCertificate`` for security profile 3, ``V2GCertificate`` for the SECC) and
their protection against DeleteCertificate (M04.FR.06).

Files, in the station's key folder (mode 0700): ``<kind>.key`` (0600) and ``<kind>.pem`` (the chain, leaf
first) of the installed certificate, ``<kind>.pending.key`` while a CSR is outstanding; ``<kind>`` is ``cs``
or ``v2g``. The pending key becomes the installed key only once a CertificateSigned passed every check: a
rejected chain leaves the old certificate and key in use.

CertificateSigned checks, in order (the first failure rejects, logs ``InvalidChargingStationCertificate`` with
the reason, installs nothing): PEM readable; a CSR is outstanding for that type; the leaf's public key is the
pending key; every certificate of the chain valid now (station clock); each certificate signed by the next;
the last one issued by (or equal to) an installed root of the matching type (CSMS or manufacturer roots for
the station certificate, V2G roots for the V2G certificate); chain size within ``MaxCertificateChainSize``.
"""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from josev.ocpp import csr
from josev.ocpp.effects import StationRequest

if TYPE_CHECKING:
    from josev.ocpp.core import Station

log = logging.getLogger(__name__)

CS = "ChargingStationCertificate"
V2G = "V2GCertificate"
KIND = {CS: "cs", V2G: "v2g"}
ROOTS = {
    CS: ("CSMSRootCertificate", "ManufacturerRootCertificate"),
    V2G: ("V2GRootCertificate",),
}
TRIGGERS = {"SignChargingStationCertificate": CS, "SignV2GCertificate": V2G}
TIMER = "cert:"


class CertificateError(ValueError):
    """A certificate chain that fails a check; the text names what is wrong (never key material)."""


# -- files ---------------------------------------------------------------------------------------------
def key_dir(st: Station) -> Path:
    """The folder of the station's keys and certificates."""
    return Path(st.key_dir)


def chain_path(st: Station, type_: str) -> Path:
    """The installed chain (PEM, leaf first) of ``type_``."""
    return key_dir(st) / f"{KIND[type_]}.pem"


def key_path(st: Station, type_: str) -> Path:
    """The installed private key of ``type_`` (mode 0600)."""
    return key_dir(st) / f"{KIND[type_]}.key"


def pending_key_path(st: Station, type_: str) -> Path:
    """The key of the outstanding CSR of ``type_``."""
    return key_dir(st) / f"{KIND[type_]}.pending.key"


def installed_chain(st: Station, type_: str) -> list[x509.Certificate]:
    """The installed chain of ``type_`` (empty when there is none or it is unreadable)."""
    path = chain_path(st, type_)
    if not path.exists() or not key_path(st, type_).exists():
        return []
    try:
        return list(x509.load_pem_x509_certificates(path.read_bytes()))
    except ValueError:
        log.error("%s is not a readable certificate chain", path)
        return []


def _wall(st: Station, now: float) -> datetime:
    return datetime.fromtimestamp(st.wall(now), UTC)


def valid_station_certificate(st: Station, now: float) -> bool:
    """A ChargingStationCertificate is installed, valid now and chains to an installed root (A05.FR.03)."""
    chain = installed_chain(st, CS)
    if not chain:
        return False
    try:
        _check_chain(st, CS, chain, _wall(st, now))
    except CertificateError as err:
        log.warning("installed station certificate unusable: %s", err)
        return False
    return True


def client_certificate(st: Station) -> tuple[Path, Path] | None:
    """(chain, key) files for the TLS client certificate of security profile 3, if installed."""
    if installed_chain(st, CS):
        return chain_path(st, CS), key_path(st, CS)
    return None


# -- SignCertificate -----------------------------------------------------------------------------------
def _subject(st: Station, type_: str) -> x509.Name:
    dm = st.dm
    if type_ == V2G:
        return csr.subject(
            dm.get("ISO15118Ctrlr", "SeccId") or str(st.boot_info.get("serialNumber") or "SECC"),
            dm.get("ISO15118Ctrlr", "OrganizationName") or None,
            dm.get("ISO15118Ctrlr", "CountryName") or None,
            "CPO",
        )
    serial = str(st.boot_info.get("serialNumber") or dm.get("SecurityCtrlr", "Identity"))
    return csr.subject(serial, dm.get("SecurityCtrlr", "OrganizationName") or None)


def request(st: Station, type_: str, now: float) -> None:
    """Start a renewal: a new key pair (kept here, 0600), a CSR, SignCertificate; retried per
    ``CertSigningWaitMinimum`` / ``CertSigningRepeatTimes`` until a CertificateSigned arrives."""
    key = csr.generate_key()
    csr.write_private(pending_key_path(st, type_), key)
    pem = csr.build_csr(key, _subject(st, type_))
    st.store.put(f"csr:{type_}", {"csr": pem, "attempt": 0})
    _send(st, type_, now)


def _send(st: Station, type_: str, now: float) -> None:
    pending = st.store.get(f"csr:{type_}")
    if not pending:
        return
    st.send(
        "SignCertificate",
        {"csr": pending["csr"], "certificateType": type_},
        now,
        on_result=lambda s, p, t: _sign_result(s, type_, p, t),
        on_error=lambda s, why, t: _schedule_retry(s, type_, t),
    )
    if not st.online:  # dropped while offline: try again after the wait
        _schedule_retry(st, type_, now)


def _sign_result(st: Station, type_: str, payload: dict[str, Any], now: float) -> None:
    if payload["status"] != "Accepted":
        log.warning("CSMS rejected SignCertificate %s: %s", type_, payload.get("statusInfo"))
        st.store.put(f"csr:{type_}", None)
        st.timers.pop(TIMER + type_, None)
        return
    _schedule_retry(st, type_, now)


def _schedule_retry(st: Station, type_: str, now: float) -> None:
    pending = st.store.get(f"csr:{type_}")
    if not pending:
        return
    wait = st.dm.get_int("SecurityCtrlr", "CertSigningWaitMinimum") * (2 ** int(pending["attempt"]))
    st.timers[TIMER + type_] = now + wait


RENEW_BEFORE_S = 30 * 86400.0
"""The station asks for a new certificate (A03) when the installed one expires within this time."""
CHECK_EVERY_S = 86400.0
CHECK = TIMER + "check"


def after_boot(st: Station, now: float) -> None:
    """After BootNotification was accepted: resume an outstanding CSR (its key and CSR survive a reboot on
    disk and in the database; only the wait is lost) and check the installed certificates' expiry."""
    for type_ in (CS, V2G):
        if st.store.get(f"csr:{type_}") and TIMER + type_ not in st.timers:
            _schedule_retry(st, type_, now)
    check_expiry(st, now)


def check_expiry(st: Station, now: float) -> None:
    """A03: renew (SignCertificate) an installed certificate that expires within :data:`RENEW_BEFORE_S`;
    checked at boot and daily."""
    st.timers[CHECK] = now + CHECK_EVERY_S
    wall = st.wall(now)
    for type_ in (CS, V2G):
        chain = installed_chain(st, type_)
        if not chain or st.store.get(f"csr:{type_}"):
            continue
        if type_ == V2G and not st.dm.get_bool("ISO15118Ctrlr", "PnCEnabled"):
            continue
        left = chain[0].not_valid_after_utc.timestamp() - wall
        if left < RENEW_BEFORE_S:
            log.info("%s expires in %.1f days: renewing", type_, left / 86400)
            request(st, type_, now)


def on_timer(st: Station, name: str, now: float) -> None:
    """No CertificateSigned within the wait: send SignCertificate again (A02.FR.17/18), at most
    ``CertSigningRepeatTimes`` times, each wait doubled. (And the daily expiry check.)"""
    if name == CHECK:
        check_expiry(st, now)
        return
    type_ = name[len(TIMER) :]
    pending = st.store.get(f"csr:{type_}")
    if not pending:
        return
    attempt = int(pending["attempt"]) + 1
    if attempt > st.dm.get_int("SecurityCtrlr", "CertSigningRepeatTimes"):
        log.error("no CertificateSigned for %s after %d attempts; giving up", type_, attempt)
        st.store.put(f"csr:{type_}", None)
        return
    st.store.put(f"csr:{type_}", {**pending, "attempt": attempt})
    _send(st, type_, now)


def trigger(st: Station, what: str) -> dict[str, Any]:
    """TriggerMessage SignChargingStationCertificate / SignV2GCertificate."""
    type_ = TRIGGERS[what]
    if type_ == V2G and not (
        st.dm.get_bool("ISO15118Ctrlr", "PnCEnabled")
        and st.dm.get_bool("ISO15118Ctrlr", "V2GCertificateInstallationEnabled")
    ):
        return {"status": "Rejected", "statusInfo": {"reasonCode": "PnCDisabled"}}
    return {"status": "Accepted", "_after": lambda s, t: request(s, type_, t)}


# -- CertificateSigned ---------------------------------------------------------------------------------
def verify_chain(
    chain: list[x509.Certificate], roots: list[x509.Certificate], wall: datetime, what: str
) -> None:
    """Every certificate valid at ``wall``, each signed by the next, the last issued by (or equal to) one of
    ``roots`` (called ``what`` in the error); :class:`CertificateError` otherwise."""
    for cert in chain:
        if not cert.not_valid_before_utc <= wall <= cert.not_valid_after_utc:
            raise CertificateError(
                f"certificate {cert.subject.rfc4514_string()} not valid now "
                f"({cert.not_valid_before_utc:%Y-%m-%d} .. {cert.not_valid_after_utc:%Y-%m-%d})"
            )
    for child, parent in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateError(
                f"{child.subject.rfc4514_string()} is not signed by the next certificate of the chain"
            ) from None
    top = chain[-1]
    for root in roots:
        if top == root:
            return
        try:
            top.verify_directly_issued_by(root)
            return
        except (ValueError, TypeError, InvalidSignature):
            continue
    raise CertificateError(f"chain does not lead to an installed {what}")


def installed_roots(st: Station, types: tuple[str, ...]) -> list[x509.Certificate]:
    """Installed root certificates of the given types."""
    return [x509.load_pem_x509_certificate(pem.encode()) for _, t, pem in st.store.certs() if t in types]


def _check_chain(st: Station, type_: str, chain: list[x509.Certificate], wall: datetime) -> None:
    verify_chain(chain, installed_roots(st, ROOTS[type_]), wall, " or ".join(ROOTS[type_]))


def check_signed(st: Station, type_: str, chain_pem: str, now: float) -> list[x509.Certificate]:
    """The parsed chain of a CertificateSigned, or :class:`CertificateError` with the reason."""
    if len(chain_pem) > st.dm.get_int("SecurityCtrlr", "MaxCertificateChainSize"):
        raise CertificateError("certificate chain longer than MaxCertificateChainSize")
    try:
        chain = list(x509.load_pem_x509_certificates(chain_pem.encode()))
    except ValueError:
        raise CertificateError("certificateChain is not a PEM certificate chain") from None
    pending = pending_key_path(st, type_)
    if not st.store.get(f"csr:{type_}") or not pending.exists():
        raise CertificateError(f"no SignCertificate for {type_} is outstanding")
    key = csr.read_private(pending)
    if csr.public_der(chain[0].public_key()) != csr.public_der(key.public_key()):
        raise CertificateError("the certificate's public key is not the key of the outstanding CSR")
    _check_chain(st, type_, chain, _wall(st, now))
    return chain


def certificate_signed(st: Station, req: dict[str, Any], now: float) -> dict[str, Any]:
    """CertificateSigned (A02/A03, M-block for V2G): check, then install; the station certificate is used
    from the next connection on, the V2G certificate is announced to the SECC."""
    type_ = req.get("certificateType", CS)
    try:
        chain = check_signed(st, type_, req["certificateChain"], now)
    except CertificateError as err:
        log.warning("CertificateSigned %s rejected: %s", type_, err)
        reason = str(err)

        def rejected(s: Station, t: float) -> None:
            s.security_event("InvalidChargingStationCertificate", t, f"{type_}: {reason}")

        return {
            "status": "Rejected",
            "statusInfo": {"reasonCode": "InvalidCertificate", "additionalInfo": reason[:512]},
            "_after": rejected,
        }
    _install(st, type_, chain)
    st.store.put(f"csr:{type_}", None)
    st.timers.pop(TIMER + type_, None)
    leaf = chain[0]
    log.info("installed %s %s valid until %s", type_, leaf.subject.rfc4514_string(), leaf.not_valid_after_utc)

    def after(s: Station, t: float) -> None:
        if type_ == V2G:
            s.emit(StationRequest("v2g_certificate", v2g_state(s)))

    return {"status": "Accepted", "_after": after}


def _install(st: Station, type_: str, chain: list[x509.Certificate]) -> None:
    text = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)
    csr.write_public(chain_path(st, type_), text)
    pending_key_path(st, type_).replace(key_path(st, type_))


# -- installed-certificate views -----------------------------------------------------------------------
def _hash(cert: x509.Certificate, issuer: x509.Certificate | None) -> dict[str, str]:
    from josev.ocpp.security import hash_data

    return hash_data(cert, issuer.public_key() if issuer is not None else None)


def _chain_hashes(st: Station, type_: str) -> list[dict[str, str]]:
    chain = installed_chain(st, type_)
    out = []
    for i, cert in enumerate(chain):
        issuer = chain[i + 1] if i + 1 < len(chain) else _root_of(st, type_, cert)
        out.append(_hash(cert, issuer))
    return out


def _root_of(st: Station, type_: str, cert: x509.Certificate) -> x509.Certificate | None:
    for _, t, pem in st.store.certs():
        if t in ROOTS[type_]:
            root = x509.load_pem_x509_certificate(pem.encode())
            if root.subject == cert.issuer:
                return root
    return None


def _same(a: dict[str, str], b: dict[str, str]) -> bool:
    return (
        a["serialNumber"].lower().lstrip("0") == b["serialNumber"].lower().lstrip("0")
        and a["issuerNameHash"].lower() == b["issuerNameHash"].lower()
        and a["issuerKeyHash"].lower() == b["issuerKeyHash"].lower()
    )


def is_station_certificate(st: Station, want: dict[str, str]) -> bool:
    """``want`` (certificateHashData) names the installed ChargingStationCertificate (M04.FR.06)."""
    hashes = _chain_hashes(st, CS)
    return bool(hashes) and _same(hashes[0], want)


def v2g_chain_ids(st: Station) -> list[dict[str, Any]]:
    """The GetInstalledCertificateIds entry of the installed V2G chain (leaf + child hash data of sub-CAs)."""
    hashes = _chain_hashes(st, V2G)
    if not hashes:
        return []
    entry: dict[str, Any] = {"certificateType": "V2GCertificateChain", "certificateHashData": hashes[0]}
    if len(hashes) > 1:
        entry["childCertificateHashData"] = hashes[1:]
    return [entry]


def delete_v2g_chain(st: Station, want: dict[str, str]) -> bool:
    """DeleteCertificate of the installed V2G chain (by its leaf): True if it was deleted."""
    hashes = _chain_hashes(st, V2G)
    if not hashes or not _same(hashes[0], want):
        return False
    chain_path(st, V2G).unlink(missing_ok=True)
    key_path(st, V2G).unlink(missing_ok=True)
    st.emit(StationRequest("v2g_certificate", v2g_state(st)))
    return True


def v2g_state(st: Station) -> dict[str, Any]:
    """What the SECC needs to follow: its certificate files and the trust stores (PEM lists)."""
    chain = installed_chain(st, V2G)
    return {
        "chain": str(chain_path(st, V2G)) if chain else None,
        "key": str(key_path(st, V2G)) if chain else None,
        "not_after": chain[0].not_valid_after_utc.isoformat() if chain else None,
        "v2g_roots": [pem for _, t, pem in st.store.certs() if t == "V2GRootCertificate"],
        "mo_roots": [pem for _, t, pem in st.store.certs() if t == "MORootCertificate"],
    }
