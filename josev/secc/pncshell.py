"""The SECC's Plug & Charge shell: trust anchors from files and from OCPP, contract authorization and security
events over the bus (:mod:`josev.api.iso15118`).

The cores check chains and signatures against ``EvseView.pnc_roots``; this shell fills them from the PKI folder
(``<pki_dir>/<profile>/certs/{mo_root,v2g_root}.der``) and from the roots the CSMS installed
(:class:`~josev.api.iso15118.V2GCertificates`), offers ``Contract`` on the EVSE views, gives the cores the wall
clock, asks the OCPP service to authorize each contract that passed the local checks, and forwards security
issues to the CSMS. The coordinator learns of an accepted contract from the OCPP service and authorizes the
session, which reaches the cores as ``EvseView.authorized`` like any other authorization.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography import x509

from josev.api import iso15118 as iso
from josev.api.base import CommandError
from josev.bus import Bus
from josev.secc import events as ev
from josev.secc.evse import EvseView

log = logging.getLogger("josev.secc.pnc")

ROOT_FILES = ("mo_root.der", "v2g_root.der")
#: how long one OCSP fetch through the OCPP service may take (the core waits 4 s, the EV 5 s)
OCSP_FETCH_S = 3.5
#: SecurityIssue.kind -> OCPP security event type
#: the EXI schema of a certificate request -> Get15118EVCertificate iso15118SchemaVersion
SCHEMA_VERSIONS = {
    "iso2": "urn:iso:15118:2:2013:MsgDef",
    "iso20-cm": "urn:iso:std:iso:15118:-20:CommonMessages",
}
EVENT_TYPES = {
    "signature_error": "InvalidMessages",
    "challenge_invalid": "InvalidMessages",
    "metering_signature": "InvalidMessages",
    # not in OCPP 2.0.1's (open) list of security events: a contract accepted by the soft OCSP policy
    "ocsp_unconfirmed": "ContractRevocationStatusUnknown",
}


def roots_from_pki(pki_dir: Path | None) -> list[x509.Certificate]:
    """The MO and V2G roots of every profile folder of a ``josev pki create`` folder (none: empty)."""
    out: list[x509.Certificate] = []
    if pki_dir is None:
        return out
    for folder in sorted(p for p in pki_dir.iterdir() if p.is_dir()):
        for name in ROOT_FILES:
            f = folder / "certs" / name
            if f.is_file():
                try:
                    out.append(x509.load_der_x509_certificate(f.read_bytes()))
                except ValueError:
                    log.warning("secc: %s is not a DER certificate; ignored", f)
    return out


def roots_from_pem(pems: Iterable[str]) -> list[x509.Certificate]:
    """Certificates from PEM texts (unreadable ones are logged and skipped)."""
    out = []
    for pem in pems:
        try:
            out.append(x509.load_pem_x509_certificate(pem.encode()))
        except ValueError:
            log.warning("secc: an installed root is not a PEM certificate; ignored")
    return out


class PncShell:
    """Plug & Charge for the SECC service (``[secc] pnc = true``)."""

    def __init__(
        self, pki_dir: Path | None, *, metering_receipt_interval: float | None = None, ocsp: str = "soft"
    ) -> None:
        self.file_roots = roots_from_pki(pki_dir)
        self.installed: list[x509.Certificate] = []
        self.views: dict[int, EvseView] = {}
        self.authorizations = 0
        self.metering_receipt_interval = metering_receipt_interval
        self.ocsp = ocsp
        self.ocsp_fetches = 0
        #: metering receipts signed by EVs, per EVSE
        self.receipts: dict[int, int] = {}

    @property
    def roots(self) -> tuple[x509.Certificate, ...]:
        """Every trust anchor, installed ones first (duplicates removed)."""
        seen: set[bytes] = set()
        out = []
        for c in (*self.installed, *self.file_roots):
            fp = (
                c.fingerprint(c.signature_hash_algorithm)
                if c.signature_hash_algorithm
                else c.tbs_certificate_bytes
            )
            if fp not in seen:
                seen.add(fp)
                out.append(c)
        return tuple(out)

    def attach(self, evse: int, view: EvseView) -> None:
        """Offer Contract on ``view`` (the cores offer it on TLS connections only) and give it the roots."""
        self.views[evse] = view
        if "Contract" not in view.payment_options:
            view.payment_options = (*view.payment_options, "Contract")
        view.wall_offset = time.time() - time.monotonic()
        view.pnc_roots = self.roots
        view.metering_receipt_interval = self.metering_receipt_interval
        view.ocsp_policy = self.ocsp
        if not view.meter_id:
            view.meter_id = view.evse_id
        if not view.pnc_roots:
            log.warning("secc: Plug & Charge is on but no MO/V2G root is installed: Contract is not offered")

    def on_v2g_certificates(self, msg: Any, evse: int | None) -> None:
        """Roots installed through OCPP (InstallCertificate MORootCertificate / V2GRootCertificate)."""
        self.installed = roots_from_pem([*msg.mo_roots, *msg.v2g_roots])
        for view in self.views.values():
            view.pnc_roots = self.roots
        log.info("secc: Plug & Charge trust store: %d roots (revision %d)", len(self.roots), msg.revision)

    async def authorize(self, bus: Bus, evse: int, e: ev.ContractAuthorizationRequested) -> None:
        """Ask the OCPP service (and through it the CSMS) to authorize the contract; a refusal ends the wait."""
        self.authorizations += 1
        hash_data = [
            iso.OcspRequestData(
                hash_algorithm="SHA256",
                issuer_name_hash=h["issuerNameHash"],
                issuer_key_hash=h["issuerKeyHash"],
                serial_number=h["serialNumber"][:40],
                responder_url=h.get("responderURL", ""),
            )
            for h in e.hash_data[:4]
        ]
        view = self.views.get(evse)
        try:
            answer = await bus.request(iso.AuthorizeContract(emaid=e.emaid[:36], hash_data=hash_data), evse)
        except CommandError as err:
            # no OCPP service (or it failed): the coordinator alone decides (free charging, local rules)
            log.warning("secc: EVSE %d contract %s not authorized by OCPP: %s", evse, e.emaid, err)
            return
        log.info(
            "secc: EVSE %d contract %s: %s (certificate %s, %s)",
            evse,
            e.emaid,
            answer.status,
            answer.certificate_status or "-",
            answer.source,
        )
        if answer.status != "Accepted" and view is not None:
            view.authorized = False

    async def certificate(self, bus: Bus, evse: int, e: ev.CertificateRequested) -> None:
        """Pass the EV's certificate request to the CSMS (Get15118EVCertificate through the OCPP service) and
        hand its answer to the waiting core (``EvseView.pnc_answers``)."""
        from josev import exi

        view = self.views.get(evse)
        if view is None:
            return
        schema = e.schema  # "iso2", or "iso20-cm" for ISO 15118-20
        try:
            raw = exi.encode(schema, e.message)
        except exi.ExiError as err:  # our own limitation (see the codec's notes): the EV gets FAILED
            view.pnc_answers[e.ticket] = f"the request cannot be re-encoded: {err}"
            return
        cmd = iso.InstallEvCertificate(
            action="Install" if e.action == "Install" else "Update",
            schema_version=SCHEMA_VERSIONS.get(schema, SCHEMA_VERSIONS["iso2"]),
            exi_request=base64.b64encode(raw).decode(),
        )
        try:
            reply = await bus.request(cmd, evse)
        except CommandError as err:
            view.pnc_answers[e.ticket] = f"OCPP: {err}"
            return
        if reply.status != "Accepted":
            view.pnc_answers[e.ticket] = f"CSMS: {reply.reason or reply.status}"
            return
        try:
            view.pnc_answers[e.ticket] = exi.decode(schema, base64.b64decode(reply.exi_response))
        except (exi.ExiError, ValueError) as err:
            view.pnc_answers[e.ticket] = f"the CSMS's EXI response does not decode: {err}"
        log.info("secc: EVSE %d certificate %s answered by the CSMS", evse, e.action.lower())

    async def ocsp_status(self, bus: Bus, evse: int, e: ev.OcspStatusRequested) -> None:
        """Fetch the OCSP answers the core wants through the OCPP service (GetCertificateStatus, or its cache), all
        at once; the core checks them. A failed or late fetch leaves None (the core's policy decides)."""
        view = self.views.get(evse)
        if view is None:
            return

        async def one(h: dict[str, str]) -> str | None:
            data = iso.OcspRequestData(
                hash_algorithm="SHA256",
                issuer_name_hash=h["issuerNameHash"],
                issuer_key_hash=h["issuerKeyHash"],
                serial_number=h["serialNumber"][:40],
                responder_url=h.get("responderURL", "")[:512],
            )
            try:
                reply = await bus.request(iso.GetOcspStatus(request=data), timeout=OCSP_FETCH_S)
            except CommandError as err:
                log.warning(
                    "secc: EVSE %d OCSP status of serial %s not fetched: %s", evse, h["serialNumber"], err
                )
                return None
            if reply.status != "Accepted" or not reply.ocsp_result:
                log.warning(
                    "secc: EVSE %d OCSP status of serial %s: the CSMS has none", evse, h["serialNumber"]
                )
                return None
            return reply.ocsp_result

        self.ocsp_fetches += len(e.hash_data)
        view.pnc_answers[e.ticket] = list(await asyncio.gather(*(one(h) for h in e.hash_data)))

    def receipted(self, evse: int, e: ev.MeterReceipted) -> None:
        """An EV signed the station's meter reading (ISO 15118-2 MeteringReceipt)."""
        self.receipts[evse] = self.receipts.get(evse, 0) + 1
        info = e.meter_info
        log.info(
            "secc: EVSE %d metering receipt signed: meter %s reading %s Wh",
            evse,
            info.get("MeterID"),
            info.get("MeterReading"),
        )

    async def security_event(self, bus: Bus, evse: int, e: ev.SecurityIssue) -> None:
        """Forward a security issue of the cores to the CSMS (through the OCPP service)."""
        kind = EVENT_TYPES.get(e.kind, "InvalidMessages")
        log.warning("secc: EVSE %d security event %s: %s", evse, e.kind, e.detail)
        await bus.publish(
            iso.SeccSecurityEvent(type=kind, tech_info=f"EVSE {evse}: {e.kind}: {e.detail}"[:255])
        )
