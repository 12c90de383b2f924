"""A small OCPP 2.0.1 CSMS stand-in for the reference station (``josev station --sim``): an OCPP-J websocket
server on loopback that accepts every station, answers BootNotification (Accepted), Heartbeat, Authorize
(Accepted), StatusNotification, TransactionEvent, MeterValues and notifications, and records every CALL.

Not a CSMS: it sends nothing on its own and keeps no state but the record. Unknown actions get a
``NotImplemented`` CALLERROR; a malformed frame is answered with ``FormatViolation`` (or dropped when it has
no message id) and the connection stays up.

With a test PKI (``CsmsSim(pki=josev.pki.build_pki())`` or ``josev.pki.load_pki(dir)``) it also plays the CSMS
side of Advanced Security and the ISO 15118 support profile:

* SignCertificate: Accepted, then it sends CertificateSigned with the CSR signed by the ``csms_root``
  (ChargingStationCertificate, clientAuth) or by the ``cpo_sub_ca2`` with its sub-CAs (V2GCertificate);
* Authorize with an eMAID and ``iso15118CertificateHashData``: Accepted with certificateStatus Accepted, or
  CertificateRevoked for serial numbers in ``revoked``;
* GetCertificateStatus: a DER OCSP response (good, or revoked per ``revoked``) signed by the certificate's
  issuer, nextUpdate in one day; Failed for certificates the PKI does not know;
* Get15118EVCertificate: the answer of ``ev_certificate`` (a function of the request) when given, else the
  CertificateInstallationRes of :mod:`josev.pnc.cps` built from the PKI (Failed when it cannot be built); -20
  requests (``iso15118SchemaVersion`` of -20 CommonMessages) from the ``pki20`` PKIs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("josev.sim.csms")

SUBPROTOCOL = "ocpp2.0.1"
CALL, CALLRESULT, CALLERROR = 2, 3, 4


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


ANSWERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "BootNotification": lambda p: {"currentTime": _now(), "interval": 300, "status": "Accepted"},
    "Heartbeat": lambda p: {"currentTime": _now()},
    "StatusNotification": lambda p: {},
    "Authorize": lambda p: {"idTokenInfo": {"status": "Accepted"}},
    "TransactionEvent": lambda p: (
        {"idTokenInfo": {"status": "Accepted"}} if isinstance(p, dict) and p.get("idToken") else {}
    ),
    "MeterValues": lambda p: {},
    "NotifyReport": lambda p: {},
    "NotifyEvent": lambda p: {},
    "NotifyMonitoringReport": lambda p: {},
    "NotifyDisplayMessages": lambda p: {},
    "NotifyCustomerInformation": lambda p: {},
    "ReservationStatusUpdate": lambda p: {},
    "SecurityEventNotification": lambda p: {},
    "FirmwareStatusNotification": lambda p: {},
    "LogStatusNotification": lambda p: {},
    # the stand-in computes no schedules: its TxDefaultProfile (``charging_limit_w``), if any, applies
    "NotifyEVChargingNeeds": lambda p: {"status": "Rejected", "statusInfo": {"reasonCode": "NoSchedules"}},
    "NotifyEVChargingSchedule": lambda p: {"status": "Accepted"},
    "ReportChargingProfiles": lambda p: {},
    "NotifyChargingLimit": lambda p: {},
    "ClearedChargingLimit": lambda p: {},
    "DataTransfer": lambda p: {"status": "UnknownVendorId"},
}
"""The answer to each action the stand-in accepts."""


def limit_profile(watts: float) -> dict[str, Any]:
    """SetChargingProfile: a TxDefaultProfile of ``watts`` for every EVSE, from now on."""
    return {
        "evseId": 0,
        "chargingProfile": {
            "id": 900,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [
                {
                    "id": 1,
                    "startSchedule": "2000-01-01T00:00:00Z",
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": round(watts, 1)}],
                }
            ],
        },
    }


@dataclass
class CsmsCall:
    """One CALL received from a station."""

    identity: str
    action: str
    payload: Any
    at: str = field(default_factory=_now)


def tx_register_wh(payload: Any) -> float | None:
    """The import register (Wh) a TransactionEvent carries at the transaction's begin or end (context
    Transaction.Begin / Transaction.End), None without one."""
    found = None
    if not isinstance(payload, dict):
        return None
    for mv in payload.get("meterValue") or []:
        for sv in mv.get("sampledValue") or [] if isinstance(mv, dict) else []:
            if not isinstance(sv, dict) or sv.get("context") not in ("Transaction.Begin", "Transaction.End"):
                continue
            if sv.get("measurand", "Energy.Active.Import.Register") != "Energy.Active.Import.Register":
                continue
            unit = sv.get("unitOfMeasure") or {}
            scale = (1000.0 if unit.get("unit") == "kWh" else 1.0) * 10.0 ** int(unit.get("multiplier", 0))
            try:
                found = float(sv["value"]) * scale
            except (KeyError, TypeError, ValueError):
                continue
    return found


class CsmsSim:
    """The stand-in: ``await start()``, then ``url`` is the station's ``csms_url``; ``await close()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        pki: Any = None,
        revoked: set[int] | None = None,
        ev_certificate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        pki20: tuple[Any, ...] = (),
        charging_limit_w: float | None = None,
    ) -> None:
        self.host = host
        self.charging_limit_w = charging_limit_w
        """Install a TxDefaultProfile of this many W on every EVSE of a station when it boots."""
        self.port = port
        self.pki = pki
        """A :class:`josev.pki.Pki`: enables the certificate answers (see the module docstring)."""
        self.pki20 = pki20
        """ISO 15118-20 PKIs (``iso20-p521`` ...): Get15118EVCertificate of -20 requests is answered by the one
        whose V2G root the EV trusts (:func:`josev.pnc.cps.answer_iso20`)."""
        self.revoked = revoked or set()
        """Serial numbers answered as revoked (Authorize certificateStatus, OCSP)."""
        self.ev_certificate = ev_certificate
        self.outbox: list[tuple[str, str]] = []
        """CALLs to send to a station (identity, frame) after the current reply."""
        self.results: list[tuple[str, Any]] = []
        """CALLRESULT / CALLERROR frames the stations sent back to our CALLs."""
        self._ids = 0
        self.calls: list[CsmsCall] = []
        self.connected: set[str] = set()
        self._server: Any = None
        self.changed = asyncio.Event()

    @property
    def url(self) -> str:
        """The CSMS URL without the identity."""
        return f"ws://{self.host}:{self.port}/ocpp"

    def actions(self, identity: str | None = None) -> list[str]:
        """The actions received so far (of one station)."""
        return [c.action for c in self.calls if identity is None or c.identity == identity]

    def answer(self, identity: str, raw: str | bytes) -> str | None:
        """The reply frame to one received frame (None: nothing to send), sans-IO."""
        try:
            msg = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            log.warning("csms_sim: %s sent a frame that is not JSON", identity)
            return None
        if not isinstance(msg, list) or len(msg) < 3 or not isinstance(msg[1], str):
            return None
        if msg[0] != CALL:
            self.results.append((identity, msg))  # answers to our CALLs (CertificateSigned ...) are recorded
            return None
        if len(msg) != 4 or not isinstance(msg[2], str):
            return json.dumps([CALLERROR, msg[1], "FormatViolation", "CALL needs 4 elements", {}])
        _, mid, action, payload = msg
        self.calls.append(CsmsCall(identity, action, payload))
        self.changed.set()
        event = payload.get("eventType", "") if isinstance(payload, dict) else ""
        register = tx_register_wh(payload) if action == "TransactionEvent" else None
        # the meter reading a CSMS bills from: Ended minus Started
        billed = "" if register is None else f" register {register:.3f} Wh"
        log.info("csms_sim: %s %s %s%s", identity, action, event, billed)
        if action == "BootNotification" and self.charging_limit_w is not None:
            self.send_call(identity, "SetChargingProfile", limit_profile(self.charging_limit_w))
        if action == "NotifyEVChargingSchedule" and isinstance(payload, dict):
            periods = (payload.get("chargingSchedule") or {}).get("chargingSchedulePeriod") or []
            log.info(
                "csms_sim: %s EV charging schedule (W) %s",
                identity,
                [(p["startPeriod"], p["limit"]) for p in periods],
            )
        handler = self._pki_answer(identity, action) if self.pki is not None else None
        handler = handler or ANSWERS.get(action)
        if handler is None:
            return json.dumps([CALLERROR, mid, "NotImplemented", f"{action} is not handled here", {}])
        return json.dumps([CALLRESULT, mid, handler(payload)])

    # -- the certificate side (with a PKI) -----------------------------------------------------------------
    def _pki_answer(self, identity: str, action: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
        from josev.pki import csms as csms_sim_pki

        if action == "SignCertificate":
            return lambda p: self._sign(identity, p)
        if action == "Authorize":
            return lambda p: csms_sim_pki.authorize(p, self.revoked)
        if action == "GetCertificateStatus":
            return lambda p: csms_sim_pki.certificate_status(self.pki, p, self.revoked)
        if action == "Get15118EVCertificate":
            return self.ev_certificate or self._ev_certificate
        return None

    def _ev_certificate(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Get15118EVCertificate (ISO 15118-2): the certificate provisioning service of :mod:`josev.pnc.cps`."""
        import base64

        from josev import exi
        from josev.pnc import PncError, cps

        try:
            if payload.get("iso15118SchemaVersion") == exi.NAMESPACES["iso20-cm"]:
                return self._ev_certificate20(payload)
            request = exi.decode("iso2", base64.b64decode(payload["exiRequest"]))
            response = exi.encode("iso2", cps.answer_iso2(self.pki, request))
        except (PncError, exi.ExiError, ValueError, KeyError) as exc:
            log.warning("csms_sim: Get15118EVCertificate refused: %s", exc)
            return {"status": "Failed", "exiResponse": "", "statusInfo": {"reasonCode": "InvalidRequest"}}
        return {"status": "Accepted", "exiResponse": base64.b64encode(response).decode()}

    def _ev_certificate20(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Get15118EVCertificate (ISO 15118-20): :func:`josev.pnc.cps.answer_iso20` with the -20 PKI whose V2G
        root the EV lists."""
        import base64

        from josev import exi
        from josev.pnc import PncError, cps

        try:
            request = exi.decode("iso20-cm", base64.b64decode(payload["exiRequest"]))
            body = request["CertificateInstallationReq"]
            ids = (body.get("ListOfRootCertificateIDs") or {}).get("RootCertificateID") or []
            serials = {int(i.get("X509SerialNumber", -1)) for i in ids if isinstance(i, dict)}
            pki = next((p for p in self.pki20 if p.cert("v2g_root").serial_number in serials), None)
            if pki is None:
                raise PncError("WARNING_NoCertificateAvailable", "no -20 PKI whose V2G root the EV trusts")
            response = exi.encode("iso20-cm", cps.answer_iso20(pki, request))
        except (PncError, exi.ExiError, ValueError, KeyError, TypeError) as exc:
            log.warning("csms_sim: Get15118EVCertificate (-20) refused: %s", exc)
            return {"status": "Failed", "exiResponse": "", "statusInfo": {"reasonCode": "InvalidRequest"}}
        return {"status": "Accepted", "exiResponse": base64.b64encode(response).decode()}

    def _sign(self, identity: str, payload: dict[str, Any]) -> dict[str, Any]:
        from josev.pki import csms as csms_sim_pki

        try:
            chain, use = csms_sim_pki.sign(self.pki, payload)
        except ValueError as exc:
            log.warning("csms_sim: SignCertificate from %s refused: %s", identity, exc)
            return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCSR"}}
        self.send_call(identity, "CertificateSigned", {"certificateChain": chain, "certificateType": use})
        return {"status": "Accepted"}

    def send_call(self, identity: str, action: str, payload: dict[str, Any]) -> str:
        """Queue a CALL to a station (sent after the current reply, or by :meth:`flush`); returns its id."""
        self._ids += 1
        mid = f"sim-{self._ids}"
        self.outbox.append((identity, json.dumps([CALL, mid, action, payload])))
        return mid

    def install_roots(self, identity: str) -> None:
        """Queue InstallCertificate of the PKI's CSMS, V2G and MO roots for a station (the provisioning a CSMS
        does before SignCertificate and Plug & Charge)."""
        from cryptography.hazmat.primitives import serialization

        for typ, name in (
            ("CSMSRootCertificate", "csms_root"),
            ("V2GRootCertificate", "v2g_root"),
            ("MORootCertificate", "mo_root"),
        ):
            pem = self.pki.cert(name).public_bytes(serialization.Encoding.PEM).decode()
            self.send_call(identity, "InstallCertificate", {"certificateType": typ, "certificate": pem})

    async def _flush(self, identity: str, ws: Any) -> None:
        keep = []
        for who, frame in self.outbox:
            if who == identity:
                await ws.send(frame)
            else:
                keep.append((who, frame))
        self.outbox = keep

    async def _handle(self, ws: Any) -> None:
        identity = ws.request.path.rstrip("/").rsplit("/", 1)[-1] if ws.request is not None else "?"
        self.connected.add(identity)
        log.info("csms_sim: station %s connected", identity)
        try:
            async for raw in ws:
                reply = self.answer(identity, raw)
                if reply is not None:
                    await ws.send(reply)
                await self._flush(identity, ws)
        except Exception as e:  # a broken station connection never stops the stand-in
            log.info("csms_sim: station %s: %s", identity, e)
        finally:
            self.connected.discard(identity)

    async def start(self) -> None:
        """Listen (on a free port when ``port`` is 0)."""
        from websockets.asyncio.server import serve

        self._server = await serve(self._handle, self.host, self.port, subprotocols=[SUBPROTOCOL])  # type: ignore[list-item]
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        log.info("csms_sim: OCPP 2.0.1 CSMS stand-in on %s", self.url)

    async def close(self) -> None:
        """Stop listening and drop the connections."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 3.0)
