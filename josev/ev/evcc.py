"""The EVCC session core, sans-IO: responses (dicts) in, next request out.

It drives DIN SPEC 70121 DC, ISO 15118-2 AC and ISO 15118-2 DC sessions with EIM/ExternalPayment or (ISO 15118-2,
given contract credentials and offered by the station) Plug & Charge with a signed AuthorizationReq, including
the Ongoing loops, EV- and station-initiated renegotiation (ISO 15118-2), pause and resume, and the
StopCharging notification. :class:`EvConnection` adds V2GTP framing and the EXI codec.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from josev.ev import contract as ev_contract
from josev.ev import messages as m
from josev.ev import schedule as sch
from josev.ev.battery import Battery, Behaviour
from josev.ev.contract import ContractCredentials, ProvisioningCredentials
from josev.pnc import PncError, contract, xmlsig
from josev.v2g import v2gtp
from josev.v2g.codec import Codec
from josev.v2g.physical import pv, to_float

PROTOCOLS = ("din", "iso2-ac", "iso2-dc")
#: DC_EVSEStatus codes on which the EV stops charging at once (PowerDelivery Stop).
SHUTDOWN_CODES = frozenset({"EVSE_Shutdown", "EVSE_EmergencyShutdown", "EVSE_Malfunction"})


class EvError(Exception):
    """The SECC answered something the EV cannot accept."""


@dataclass(slots=True)
class EvResult:
    """How the session ended."""

    outcome: str = "running"  # finished, paused, failed
    detail: str = ""
    session_id: str | None = None
    loops: int = 0
    renegotiations: int = 0
    messages: list[str] = field(default_factory=list)
    #: Response time seen by the EV (request sent -> response received), ms, per request name.
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    #: TLS version and cipher of the connection ("" over plain TCP).
    tls: str = ""
    #: ISO 15118-2 MeteringReceipt: the MeterInfo of every receipt the EV signed (as the station sent it).
    receipts: list[dict[str, Any]] = field(default_factory=list)
    #: -20 Plug & Charge: the EMAID of the contract installed in this session ("" when none was installed),
    #: the authorization service used, the meter readings (Wh) the EV confirmed with a signed
    #: MeteringConfirmation
    installed_emaid: str = ""
    authorization: str = ""
    metering_confirmed_wh: list[int] = field(default_factory=list)
    #: DC: the EVSE's present voltage (V) and current (A) in every charge-loop response, with the EV's monotonic
    #: clock (s) when it arrived: ``[t, V, I]``, what the EV saw (the energy it got is their integral over t).
    present: list[list[float]] = field(default_factory=list)
    #: a contract installed or updated in this session: how ("install"/"update") and its facts (EMAID, SHA-256
    #: of the leaf and of the public key of the decrypted private key)
    contract: dict[str, str] = field(default_factory=dict)
    #: Each schedule the station offered: [(start s from the offer, W), ...] (PMaxSchedule / PowerSchedule).
    schedules: list[list[tuple[int, float]]] = field(default_factory=list)
    #: The SalesTariff the station sent: [(start s, EPriceLevel), ...]; whether its signature checked out with
    #: the SECC certificate (None: not checked, no certificate given).
    sales_tariff: list[tuple[int, int | None]] = field(default_factory=list)
    tariff_verified: bool | None = None
    #: The EV's DC target current (AC: the power it draws) whenever it changed: [(loop, value), ...].
    targets: list[tuple[int, float]] = field(default_factory=list)

    def target(self, value: float) -> None:
        """Record the target of this loop if it changed."""
        v = round(value, 2)
        if not self.targets or self.targets[-1][1] != v:
            self.targets.append((self.loops, v))


class Evcc:
    """One EV session on one connection (a resumed session is a new :class:`Evcc` with ``resume_session``)."""

    def __init__(
        self,
        protocol: str,
        battery: Battery | None = None,
        behaviour: Behaviour | None = None,
        resume_session: str | None = None,
        contract: ContractCredentials | None = None,
        provisioning: ProvisioningCredentials | None = None,
        wall: float | None = None,
        renew_within_s: float = 0.0,
        secc_key: xmlsig.PublicKey | None = None,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}")
        self.protocol = protocol
        self.dialect = "din" if protocol == "din" else "iso2"
        self.ac = protocol == "iso2-ac"
        self.battery = battery or Battery()
        self.behaviour = behaviour or Behaviour()
        self.resume_session = resume_session
        self.session_id = "00" if self.dialect == "din" else "0" * 16
        if resume_session:
            self.session_id = resume_session
        self.expect = "supportedAppProtocolRes"
        self.result = EvResult()
        self._ongoing = 0
        self._stop_kind = "Terminate"
        self._renegotiating = False
        self._present_v = 0.0
        self._present_i = 0.0
        #: the EVSE's maximum current as last advertised (ChargeParameterDiscovery, CurrentDemand), A
        self._evse_max_i: float | None = None
        self._pd = "Start"
        #: the SECC's public key (from its certificate chain): the SalesTariff's signature is checked with it
        self.secc_key = secc_key
        self._now = 0.0
        #: the schedule in force: (absolute start on the EV's clock, W), and the offered tuple's ID
        self._schedule: list[tuple[float, float]] = []
        self._tuple_id = 1
        self.contract = contract
        #: without a contract, the EV installs one with these (ISO 15118-2 CertificateInstallation)
        self.provisioning = provisioning
        #: wall-clock time (seconds since the epoch) to check the provisioning service's certificates against
        self.wall = wall
        #: with provisioning credentials (for the V2G roots), renew a contract expiring within this many seconds
        #: (ISO 15118-2 CertificateUpdate); 0 = never
        self.renew_within_s = renew_within_s
        #: the contract was installed in this session
        self.installed = False
        #: the payment option the EV selected (``Contract`` for Plug & Charge)
        self.payment = "ExternalPayment"
        self._challenge: str | None = None
        self._last: dict[str, Any] = {}
        #: the loop response that asked for a metering receipt (handled once the receipt is answered)
        self._receipt_for: tuple[str, dict[str, Any]] | None = None

    @property
    def schema(self) -> str:
        """Schema of the next message (before SAP is answered: sap)."""
        return "sap" if self.expect == "supportedAppProtocolRes" else self.dialect

    @property
    def done(self) -> bool:
        """True when the session is over."""
        return self.result.outcome != "running"

    def start(self) -> tuple[str, dict[str, Any]]:
        """The first message: supportedAppProtocolReq."""
        return "sap", m.sap_request(self.dialect, self.behaviour.offer)

    def _req(self, name: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.expect = name[:-3] + "Res"
        self.result.messages.append(name)
        return self.dialect, m.wrap(self.session_id, name, body)

    def _fail(self, detail: str) -> None:
        self.result.outcome = "failed"
        self.result.detail = detail
        raise EvError(detail)

    def on_response(self, msg: dict[str, Any], now: float = 0.0) -> tuple[str, dict[str, Any]] | None:
        """Handle the SECC's response; return the next request, or None when the session is over."""
        if self.expect == "supportedAppProtocolRes":
            res = msg.get("supportedAppProtocolRes")
            if not isinstance(res, dict) or not str(res.get("ResponseCode", "")).startswith("OK"):
                self._fail(f"SAP refused: {msg}")
            return self._req("SessionSetupReq", {"EVCCID": self.behaviour.evcc_id})
        try:
            body = msg["V2G_Message"]["Body"]
            name, res = next(iter(body.items()))
            header_sid = str(msg["V2G_Message"]["Header"]["SessionID"])
        except (KeyError, TypeError, StopIteration, AttributeError):
            self._fail(f"malformed response {msg!r}")
            raise  # unreachable
        if name != self.expect:
            self._fail(f"expected {self.expect}, got {name}")
        code = str(res.get("ResponseCode", ""))
        if not code.startswith("OK"):
            self._fail(f"{name}: {code}")
        self._now = now
        self._last = msg
        return self._next(name, res, header_sid)

    # --- flow ---

    def _certificate_installation(self) -> tuple[str, dict[str, Any]]:
        """CertificateInstallationReq signed with the OEM provisioning key."""
        prov = self.provisioning
        assert prov is not None
        body = {
            "Id": "ID1",
            "OEMProvisioningCert": base64.b64encode(prov.oem_der).decode(),
            "ListOfRootCertificateIDs": prov.root_ids(),
        }
        signature = xmlsig.sign(
            xmlsig.ISO2, prov.key, [("ID1", xmlsig.fragment("iso2", "CertificateInstallationReq", body))]
        )
        schema, msg = self._req("CertificateInstallationReq", body)
        msg["V2G_Message"]["Header"]["Signature"] = signature
        return schema, msg

    def _wall_now(self) -> datetime:
        return datetime.fromtimestamp(self.wall if self.wall is not None else time.time(), UTC)

    def _renew_due(self) -> bool:
        return (
            self.contract is not None
            and self.provisioning is not None
            and self.renew_within_s > 0
            and self.contract.expires_within(self._wall_now(), self.renew_within_s)
        )

    def _certificate_update(self) -> tuple[str, dict[str, Any]]:
        """CertificateUpdateReq signed with the old contract key."""
        assert self.contract is not None and self.provisioning is not None
        body = ev_contract.certificate_update_body(self.contract, self.provisioning)
        signature = ev_contract.certificate_update_signature(self.contract, body)
        schema, msg = self._req("CertificateUpdateReq", body)
        msg["V2G_Message"]["Header"]["Signature"] = signature
        return schema, msg

    def _install(self, msg: dict[str, Any], how: str = "install") -> None:
        """Check the provisioning service's chain and signature, decrypt the contract key, keep the contract."""
        prov = self.provisioning
        assert prov is not None
        ev_key = prov.key
        if how == "update":
            assert self.contract is not None and isinstance(self.contract.key, ec.EllipticCurvePrivateKey)
            ev_key = self.contract.key
        try:
            at = (
                self._wall_now()
                if self.wall is not None
                else contract.load_der(prov.v2g_roots_der[0], "V2G root").not_valid_before_utc
            )
            new = ev_contract.accept_iso2_response(msg, ev_key, prov, at)
        except (PncError, KeyError, ValueError) as e:
            self._fail(f"certificate {'installation' if how == 'install' else 'update'}: {e}")
            raise
        self.contract = new
        self.installed = True
        self.result.contract = {"how": how, **new.facts()}

    def _signed_authorization(self) -> tuple[str, dict[str, Any]]:
        """Plug & Charge AuthorizationReq: the challenge, signed with the contract key in the header."""
        assert self.contract is not None and self._challenge is not None
        body = {"Id": "ID1", "GenChallenge": self._challenge}
        signature = self.contract.sign(
            xmlsig.ISO2, [("ID1", xmlsig.fragment("iso2", "AuthorizationReq", body))]
        )
        schema, msg = self._req("AuthorizationReq", body)
        msg["V2G_Message"]["Header"]["Signature"] = signature
        return schema, msg

    def _metering_receipt(self, res: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """MeteringReceiptReq: the station's MeterInfo, copied unchanged, signed with the contract key."""
        assert self.contract is not None
        ref = f"ID{len(self.result.receipts) + 2}"
        info = dict(res["MeterInfo"])
        body = {
            "Id": ref,
            "SessionID": self.session_id,
            "SAScheduleTupleID": res["SAScheduleTupleID"],
            "MeterInfo": info,
        }
        signature = self.contract.sign(
            xmlsig.ISO2, [(ref, xmlsig.fragment("iso2", "MeteringReceiptReq", body))]
        )
        self.result.receipts.append(info)
        schema, msg = self._req("MeteringReceiptReq", body)
        msg["V2G_Message"]["Header"]["Signature"] = signature
        return schema, msg

    def _ongoing_guard(self) -> None:
        self._ongoing += 1
        if self._ongoing > self.behaviour.max_ongoing:
            self._fail("too many Ongoing answers")

    def _take_evse_limit(self, el: dict[str, Any]) -> None:
        lim = el.get("EVSEMaximumCurrentLimit")
        if isinstance(lim, dict):
            self._evse_max_i = to_float(lim)

    def _status_note(self, res: dict[str, Any]) -> str:
        st = res.get("DC_EVSEStatus") or res.get("AC_EVSEStatus") or {}
        return str(st.get("EVSENotification", "None"))

    def _cpd(self) -> tuple[str, dict[str, Any]]:
        b = self.battery
        if self.dialect == "din":
            return self._req(
                "ChargeParameterDiscoveryReq",
                {
                    "EVRequestedEnergyTransferType": "DC_extended",
                    "DC_EVChargeParameter": m.dc_charge_parameter(b, "din"),
                },
            )
        if self.ac:
            return self._req(
                "ChargeParameterDiscoveryReq",
                {
                    "RequestedEnergyTransferMode": "AC_three_phase_core",
                    "AC_EVChargeParameter": m.ac_charge_parameter(b),
                },
            )
        return self._req(
            "ChargeParameterDiscoveryReq",
            {
                "RequestedEnergyTransferMode": "DC_extended",
                "DC_EVChargeParameter": m.dc_charge_parameter(b, "iso2"),
            },
        )

    def _power_delivery(self, progress: str) -> tuple[str, dict[str, Any]]:
        b = self.battery
        self._pd = progress
        if self.dialect == "din":
            return self._req(
                "PowerDeliveryReq",
                {
                    "ReadyToChargeState": progress == "Start",
                    "DC_EVPowerDeliveryParameter": {
                        "DC_EVStatus": m.dc_ev_status(b),
                        "BulkChargingComplete": False,
                        "ChargingComplete": progress != "Start",
                    },
                },
            )
        body: dict[str, Any] = {"ChargeProgress": progress, "SAScheduleTupleID": self._tuple_id}
        if progress == "Start" and self._schedule:
            # the EV's plan: the offered schedule within its own maximum (at most 24 entries)
            t0 = self._schedule[0][0]
            ev_max = 230.0 * 3 * b.ac_max_current if self.ac else b.max_power
            body["ChargingProfile"] = {
                "ProfileEntry": [
                    {
                        "ChargingProfileEntryStart": round(t - t0),
                        "ChargingProfileEntryMaxPower": pv(min(w, ev_max), "W"),
                    }
                    for t, w in self._schedule[:24]
                ]
            }
        if not self.ac:
            body["DC_EVPowerDeliveryParameter"] = {
                "DC_EVStatus": m.dc_ev_status(b),
                "BulkChargingComplete": False,
                "ChargingComplete": progress == "Stop",
            }
        return self._req("PowerDeliveryReq", body)

    def _read_schedule(self, res: dict[str, Any]) -> None:
        """Keep the first SAScheduleTuple's PMaxSchedule (ISO 15118-2 / DIN) as the schedule in force."""
        tup = sch.first_tuple(res)
        if tup is None:
            return
        self._tuple_id = int(tup.get("SAScheduleTupleID", 1))
        tariff = tup.get("SalesTariff")
        if isinstance(tariff, dict):
            self._check_tariff(tariff)
        rel = sch.pmax_entries(tup)
        if rel:
            self._schedule = [(self._now + s, w) for s, w in rel]
            self.result.schedules.append(rel)

    def _check_tariff(self, tariff: dict[str, Any]) -> None:
        """Record the SalesTariff; with the SECC key, its header signature must check out."""
        self.result.sales_tariff = sch.tariff_rows(tariff)
        if self.secc_key is None:
            return
        from josev.v2g import sales_tariff

        try:
            sales_tariff.verify(self._last["V2G_Message"]["Header"].get("Signature"), tariff, self.secc_key)
        except PncError as e:
            self.result.tariff_verified = False
            self._fail(f"SalesTariff: {e}")
        self.result.tariff_verified = True

    def allowed_power(self) -> float | None:
        """The power the schedule in force allows now (None without one)."""
        return sch.schedule_power(self._schedule, self._now)

    def _loop(self) -> tuple[str, dict[str, Any]]:
        b = self.battery
        allowed = self.allowed_power()
        if self.ac:
            self.result.target(allowed if allowed is not None else 0.0)
            return self._req("ChargingStatusReq", {})
        cur = 0.0 if b.full else b.max_current
        if self._evse_max_i is not None:  # never ask for more than the EVSE offers now
            cur = min(cur, self._evse_max_i)
        if allowed is not None and b.voltage > 0:
            cur = min(cur, allowed / b.voltage)
        self.result.target(cur)
        return self._req("CurrentDemandReq", m.current_demand(b, cur, b.full))

    def _stop_session(self) -> tuple[str, dict[str, Any]]:
        if self.dialect == "din":
            return self._req("SessionStopReq", {})
        return self._req("SessionStopReq", {"ChargingSession": self._stop_kind})

    def _after_stop(self) -> tuple[str, dict[str, Any]]:
        if self.ac:
            return self._stop_session()
        return self._req("WeldingDetectionReq", {"DC_EVStatus": m.dc_ev_status(self.battery)})

    def _next(self, name: str, res: dict[str, Any], sid: str) -> tuple[str, dict[str, Any]] | None:
        b, beh = self.battery, self.behaviour
        processing = res.get("EVSEProcessing")
        if name == "SessionSetupRes":
            if self.resume_session and res["ResponseCode"] != "OK_OldSessionJoined":
                self._fail(f"resume refused: {res['ResponseCode']}")
            self.session_id = sid
            self.result.session_id = sid
            return self._req("ServiceDiscoveryReq", {})
        if name == "ServiceDiscoveryRes":
            offered = (res.get("PaymentOptionList") or {}).get("PaymentOption") or []
            vas = [s.get("ServiceID") for s in (res.get("ServiceList") or {}).get("Service", [])]
            selected: list[dict[str, Any]] = [{"ServiceID": 1}]
            if self.dialect == "iso2" and "Contract" in offered:
                if self.contract is not None:
                    self.payment = "Contract"
                    if self._renew_due() and 2 in vas:
                        selected.append({"ServiceID": 2, "ParameterSetID": 2})  # certificate update
                elif self.provisioning is not None and 2 in vas:
                    self.payment = "Contract"
                    selected.append({"ServiceID": 2, "ParameterSetID": 1})  # certificate installation
            payment = {
                "SelectedPaymentOption": self.payment,
                "SelectedServiceList": {"SelectedService": selected},
            }
            if self.dialect == "din":
                return self._req("ServicePaymentSelectionReq", payment)
            return self._req("PaymentServiceSelectionReq", payment)
        if name in ("ServicePaymentSelectionRes", "PaymentServiceSelectionRes"):
            if self.dialect == "din":
                return self._req("ContractAuthenticationReq", {})
            if self.payment == "Contract" and self.contract is None and self.provisioning is not None:
                return self._certificate_installation()
            if self.payment == "Contract" and self._renew_due():
                return self._certificate_update()
            if self.payment == "Contract" and self.contract is not None:
                chain = self.contract.chain()
                return self._req(
                    "PaymentDetailsReq", {"eMAID": self.contract.emaid, "ContractSignatureCertChain": chain}
                )
            return self._req("AuthorizationReq", {})
        if name in ("CertificateInstallationRes", "CertificateUpdateRes"):
            self._install(self._last, "install" if name == "CertificateInstallationRes" else "update")
            assert self.contract is not None
            chain = self.contract.chain()
            return self._req(
                "PaymentDetailsReq", {"eMAID": self.contract.emaid, "ContractSignatureCertChain": chain}
            )
        if name == "PaymentDetailsRes":
            self._challenge = str(res["GenChallenge"])
            return self._signed_authorization()
        if name in ("ContractAuthenticationRes", "AuthorizationRes"):
            if processing != "Finished":
                self._ongoing_guard()
                if self._challenge is not None:
                    return self._signed_authorization()
                return self._req(name[:-3] + "Req", {})
            self._ongoing = 0
            return self._cpd()
        if name == "ChargeParameterDiscoveryRes":
            self._take_evse_limit(res.get("DC_EVSEChargeParameter") or {})
            if processing != "Finished":
                self._ongoing_guard()
                return self._cpd()
            self._ongoing = 0
            self._read_schedule(res)
            if self.ac or (self._renegotiating and self.dialect == "iso2"):
                return self._power_delivery("Start")
            return self._req("CableCheckReq", {"DC_EVStatus": m.dc_ev_status(b)})
        if name == "CableCheckRes":
            if processing != "Finished":
                self._ongoing_guard()
                return self._req("CableCheckReq", {"DC_EVStatus": m.dc_ev_status(b)})
            self._ongoing = 0
            return self._req("PreChargeReq", m.pre_charge(b))
        if name == "PreChargeRes":
            present = to_float(res["EVSEPresentVoltage"])
            if abs(present - b.voltage) > beh.precharge_tolerance_v:
                self._ongoing_guard()
                return self._req("PreChargeReq", m.pre_charge(b))
            self._ongoing = 0
            return self._power_delivery("Start")
        if name == "PowerDeliveryRes":
            if self._pd == "Start":
                self._renegotiating = False
                return self._loop()
            if self._pd == "Renegotiate":
                self._renegotiating = True
                self.result.renegotiations += 1
                return self._cpd()
            return self._after_stop()
        if name == "MeteringReceiptRes":
            assert self._receipt_for is not None
            loop_name, loop_res = self._receipt_for
            self._receipt_for = None
            return self._after_loop(loop_name, loop_res)
        if name in ("CurrentDemandRes", "ChargingStatusRes"):
            if (
                res.get("ReceiptRequired") is True
                and self.payment == "Contract"
                and self.contract is not None
            ):
                self._receipt_for = (name, res)
                return self._metering_receipt(res)
            return self._after_loop(name, res)
        if name == "WeldingDetectionRes":
            return self._stop_session()
        if name == "SessionStopRes":
            self.result.outcome = "paused" if self._stop_kind == "Pause" else "finished"
            return None
        self._fail(f"unexpected {name}")
        return None

    def _after_loop(self, name: str, res: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The charging loop after ChargingStatusRes / CurrentDemandRes (and its metering receipt, if any)."""
        b, beh = self.battery, self.behaviour
        self.result.loops += 1
        if name == "CurrentDemandRes":
            self._present_v = to_float(res["EVSEPresentVoltage"])
            self._present_i = to_float(res["EVSEPresentCurrent"])
            self._take_evse_limit(res)
            self.result.present.append([time.monotonic(), self._present_v, self._present_i])
            b.charge(self._present_v * self._present_i, beh.seconds_per_loop)
        else:
            draw = 230.0 * 3 * to_float(res.get("EVSEMaxCurrent") or {"Multiplier": 0, "Value": 0})
            allowed = self.allowed_power()
            b.charge(draw if allowed is None else min(draw, allowed), beh.seconds_per_loop)
        note = self._status_note(res)
        n = self.result.loops
        code = str((res.get("DC_EVSEStatus") or {}).get("EVSEStatusCode", ""))
        if code in SHUTDOWN_CODES:  # the EVSE shuts down: stop at once
            self.result.detail = f"EVSE status {code}"
            return self._power_delivery("Stop")
        if note == "StopCharging":
            return self._power_delivery("Stop")
        if self.dialect == "iso2" and (note == "ReNegotiation" or n == beh.renegotiate_after):
            return self._power_delivery("Renegotiate")
        if self.dialect == "iso2" and n == beh.pause_after:
            self._stop_kind = "Pause"
            return self._power_delivery("Stop")
        if (beh.loops and n >= beh.loops) or b.full:
            return self._power_delivery("Stop")
        return self._loop()


@dataclass(slots=True)
class EvConnection:
    """Byte-level EV side: frames requests, deframes and decodes responses with a codec."""

    evcc: Evcc
    codec: Codec
    deframer: v2gtp.Deframer = field(default_factory=v2gtp.Deframer)

    def start(self) -> bytes:
        """Bytes of the first request."""
        schema, msg = self.evcc.start()
        return v2gtp.frame(v2gtp.PayloadType.EXI, self.codec.encode(schema, msg))

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """Bytes from the SECC -> bytes of the next request(s)."""
        out: list[bytes] = []
        for fr in self.deframer.feed(data):
            if self.evcc.done:
                break
            msg = self.codec.decode(self.evcc.schema, fr.payload)
            nxt = self.evcc.on_response(msg, now)
            if nxt is not None:
                out.append(v2gtp.frame(v2gtp.PayloadType.EXI, self.codec.encode(*nxt)))
        return out
