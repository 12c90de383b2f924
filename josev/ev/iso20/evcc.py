"""The ISO 15118-20 EVCC core, sans-IO: responses (dicts) in, next request (schema, dict) out.

Protocols ``iso20-ac``, ``iso20-dc``, ``iso20-ac-bpt``, ``iso20-dc-bpt``, each in scheduled or dynamic control
mode (:class:`Iso20Behaviour`), with EIM, the Ongoing loops, standby (dynamic), schedule renegotiation, service
renegotiation, pause and resume, and the SECC's Terminate / ScheduleRenegotiation notifications.
:class:`Ev20Connection` adds V2GTP framing (one payload type per -20 schema) and the codec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from josev.ev.battery import Battery
from josev.ev.contract import ContractCredentials, ProvisioningCredentials20
from josev.ev.evcc import EvError, EvResult
from josev.ev.iso20 import messages as m
from josev.ev.iso20 import pnc
from josev.ev.schedule import schedule_power
from josev.pnc import xmlsig
from josev.v2g import v2gtp
from josev.v2g.codec import Codec
from josev.v2g.iso20.rational import rf, rn

PROTOCOLS = ("iso20-ac", "iso20-dc", "iso20-ac-bpt", "iso20-dc-bpt")
SCHEMA_OF_PAYLOAD = {0x8001: "sap", 0x8002: "iso20-cm", 0x8003: "iso20-ac", 0x8004: "iso20-dc"}


@dataclass(slots=True)
class Iso20Behaviour:
    """How the simulated -20 EV behaves.

    ``dynamic`` picks the control mode; ``loops`` charge loops before stopping (0: until full); the
    ``*_after`` knobs trigger, after that many loops, a pause (SessionStop Pause), a standby of
    ``standby_loops`` loops (dynamic mode), an EV-initiated schedule renegotiation, or a service
    renegotiation (the session continues with the service ``renegotiate_to``). ``discharge`` makes a BPT EV in
    scheduled mode select the Discharge channel; ``discharge_w`` is the EV's discharge limit.
    """

    evcc_id: str = "WMIV1234567890ABCDEX"
    dynamic: bool = False
    loops: int = 5
    pause_after: int | None = None
    standby_after: int | None = None
    standby_loops: int = 2
    schedule_renegotiate_after: int | None = None
    service_renegotiate_after: int | None = None
    renegotiate_to: str | None = None
    discharge: bool = False
    discharge_w: float = 7_000.0
    seconds_per_loop: float = 60.0
    precharge_tolerance_v: float = 20.0
    max_ongoing: int = 120
    #: Pause before repeating a request (Ongoing / PreCharge loops), like a real EV; charge loops are not paced.
    repeat_interval_s: float = 0.05
    #: Pause before each charge-loop request (CurrentDemand / ChargingStatus / ChargeLoop); 0: as fast as possible.
    loop_interval_s: float = 0.0
    departure_time: int = 7_200
    wall_offset: float = 0.0
    #: CertificateInstallationReq MaximumContractCertificateChains
    max_contract_chains: int = 1


class Evcc20:
    """One -20 EV session on one connection (resume a paused one with ``resume_session``)."""

    def __init__(
        self,
        protocol: str,
        battery: Battery | None = None,
        behaviour: Iso20Behaviour | None = None,
        resume_session: str | None = None,
        contract: ContractCredentials | None = None,
        provisioning: ProvisioningCredentials20 | None = None,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}")
        self.protocol = protocol
        self.contract = contract
        #: without a contract, the EV installs one with these when the SECC offers CertificateInstallation
        self.provisioning = provisioning
        self._challenge: str | None = None
        #: the authorization service used: ``PnC`` when the SECC offers it and the EV holds a contract
        self.authorization = "EIM"
        self._pnc_mode: dict[str, Any] | None = None
        self.battery = battery or Battery()
        self.behaviour = behaviour or Iso20Behaviour()
        self.resume_session = resume_session
        self.session_id = resume_session or "0" * 16
        self.expect = "supportedAppProtocolRes"
        self.result = EvResult()
        self.now = 0.0
        self._ongoing = 0
        self._stop_kind = "Terminate"
        self._pd = "Start"
        self._standby_left = 0
        self._renegotiating = False
        self._service_renegotiated = False
        self._renegotiate_to: str | None = None
        self._tuple_id: int | None = None
        self._sched_charge = 0.0
        self._schedule: list[tuple[float, float]] = []
        self._evse_pmax: float | None = None
        #: DC: the EVSE's maximum charge current as last advertised (CPD, charge loop), A
        self._evse_imax: float | None = None
        self._sched_discharge = 0.0
        self._target_power: float | None = None
        self._services: list[str] = []
        self._confirming: int | None = None
        self._select(protocol)

    def _select(self, protocol: str) -> None:
        self.service = protocol
        self.ac = "-ac" in protocol
        self.bpt = protocol.endswith("-bpt")

    @property
    def done(self) -> bool:
        """True when the session is over."""
        return self.result.outcome != "running"

    def start(self) -> tuple[str, dict[str, Any]]:
        """The first message: supportedAppProtocolReq."""
        return "sap", m.sap_request(self.ac)

    def _req(self, name: str, schema: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.expect = name[:-3] + "Res"
        self.result.messages.append(name)
        header = {"SessionID": self.session_id, "TimeStamp": int(self.behaviour.wall_offset + self.now)}
        return schema, {name: {"Header": header, **body}}

    def _cm(self, name: str, body: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        return self._req(name, "iso20-cm", body or {})

    def _ev(self, name: str, body: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        return self._req(name, "iso20-ac" if self.ac else "iso20-dc", body or {})

    def _fail(self, detail: str) -> None:
        self.result.outcome = "failed"
        self.result.detail = detail
        raise EvError(detail)

    def _chain(self) -> dict[str, Any]:
        assert self.contract is not None
        chain = self.contract.chain()
        chain.setdefault("SubCertificates", {"Certificate": []})
        return chain

    def _pnc_authorization(self) -> tuple[str, dict[str, Any]]:
        """AuthorizationReq with PnC_AReqAuthorizationMode, signed with the contract key in the header."""
        assert self.contract is not None and self._pnc_mode is not None
        # the suite of the key (a P-256 contract key signs as ISO-2 would, and the SECC refuses the key type)
        suite = next(s for s in xmlsig.SUITES.values() if s.key_fits(self.contract.key))
        fragment = xmlsig.fragment("iso20-cm", "PnC_AReqAuthorizationMode", self._pnc_mode)
        signature = self.contract.sign(suite, [("ID1", fragment)])
        schema, msg = self._cm(
            "AuthorizationReq",
            {"SelectedAuthorizationService": "PnC", "PnC_AReqAuthorizationMode": self._pnc_mode},
        )
        msg["AuthorizationReq"]["Header"]["Signature"] = signature
        return schema, msg

    def _start_pnc(self) -> tuple[str, dict[str, Any]]:
        self.authorization = "PnC"
        self.result.authorization = "PnC"
        if self._challenge is None:
            self._fail("the SECC offers PnC without a GenChallenge")
        assert self._challenge is not None
        self._pnc_mode = {
            "Id": "ID1",
            "GenChallenge": self._challenge,
            "ContractCertificateChain": self._chain(),
        }
        return self._pnc_authorization()

    def _eim(self) -> tuple[str, dict[str, Any]]:
        if "EIM" not in self._services:
            self._fail("the SECC does not offer EIM")
        self.result.authorization = "EIM"
        return self._cm(
            "AuthorizationReq", {"SelectedAuthorizationService": "EIM", "EIM_AReqAuthorizationMode": {}}
        )

    def _certificate_installation(self) -> tuple[str, dict[str, Any]]:
        return pnc.certificate_installation(self)

    def _installed(self, res: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return pnc.installed(self, res)

    def _ongoing_guard(self) -> None:
        self._ongoing += 1
        if self._ongoing > self.behaviour.max_ongoing:
            self._fail("too many Ongoing answers")

    def on_response(self, msg: dict[str, Any], now: float = 0.0) -> tuple[str, dict[str, Any]] | None:
        """Handle the SECC's response; return the next request, or None when the session is over."""
        self.now = now
        if self.expect == "supportedAppProtocolRes":
            res = msg.get("supportedAppProtocolRes")
            if not isinstance(res, dict) or not str(res.get("ResponseCode", "")).startswith("OK"):
                self._fail(f"SAP refused: {msg}")
            return self._cm("SessionSetupReq", {"EVCCID": self.behaviour.evcc_id})
        if not isinstance(msg, dict) or len(msg) != 1:
            self._fail(f"malformed response {msg!r}")
        name, res = next(iter(msg.items()))
        if name != self.expect:
            self._fail(f"expected {self.expect}, got {name}")
        code = str(res.get("ResponseCode", ""))
        tolerated = name in ("PowerDeliveryRes", "CertificateInstallationRes")
        if code.startswith("FAILED") or (code.startswith("WARNING") and not tolerated):
            self._fail(f"{name}: {code}")
        return self._next(name, res)

    # --- flow ------------------------------------------------------------------------------------------

    def _cpd(self) -> tuple[str, dict[str, Any]]:
        b, w = self.battery, self.behaviour.discharge_w
        if self.ac:
            return self._ev("AC_ChargeParameterDiscoveryReq", m.ac_cpd(b, self.bpt, w))
        return self._ev("DC_ChargeParameterDiscoveryReq", m.dc_cpd(b, self.bpt, w))

    def _schedule_exchange(self) -> tuple[str, dict[str, Any]]:
        beh = self.behaviour
        return self._cm(
            "ScheduleExchangeReq",
            m.schedule_exchange(self.battery, beh.dynamic, self.bpt, beh.departure_time),
        )

    def _profile_power(self) -> float:
        if self.behaviour.dynamic:  # what the EV could take, within what the EVSE announced
            want = m.ac_power(self.battery) if self.ac else self.battery.max_power
            return want if self._evse_pmax is None else min(want, self._evse_pmax)
        if self.bpt and self.behaviour.discharge:
            return -min(self.behaviour.discharge_w, self._sched_discharge)
        ev_max = m.ac_power(self.battery) if self.ac else self.battery.max_power
        allowed = schedule_power(self._schedule, self.now)
        return min(ev_max, self._sched_charge if allowed is None else allowed)

    def _power_delivery(self, progress: str) -> tuple[str, dict[str, Any]]:
        self._pd = progress
        body: dict[str, Any] = {"EVProcessing": "Finished", "ChargeProgress": progress}
        if progress == "Start":
            mode: dict[str, Any]
            if self.behaviour.dynamic:
                mode = {"Dynamic_EVPPTControlMode": {}}
            else:
                mode = {"Scheduled_EVPPTControlMode": {"SelectedScheduleTupleID": self._tuple_id}}
            body["EVPowerProfile"] = {
                "TimeAnchor": int(self.behaviour.wall_offset + self.now),
                **mode,
                "EVPowerProfileEntries": {"EVPowerProfileEntry": self._profile_entries()},
            }
            if self.bpt:
                body["BPT_ChannelSelection"] = "Discharge" if self.behaviour.discharge else "Charge"
        return self._cm("PowerDeliveryReq", body)

    def _profile_entries(self) -> list[dict[str, Any]]:
        """The EV's plan: scheduled charging follows the offered schedule (within the EV's maximum) for an
        hour; otherwise one hour at the power it takes now."""
        now_p = self._profile_power()
        sched = [(t, w) for t, w in self._schedule if t < self.now + 3600]
        if self.behaviour.dynamic or self.bpt or len(sched) < 2:
            return [{"Duration": 3600, "Power": rn(now_p)}]
        ev_max = m.ac_power(self.battery) if self.ac else self.battery.max_power
        base = int(self.now)
        out = []
        for i, (t, w) in enumerate(sched):
            start = max(base, int(t) if i else base)
            end = int(sched[i + 1][0]) if i + 1 < len(sched) else base + 3600
            if end > start:
                out.append({"Duration": end - start, "Power": rn(min(w, ev_max))})
        return out or [{"Duration": 3600, "Power": rn(now_p)}]

    def _loop(self) -> tuple[str, dict[str, Any]]:
        from josev.ev.iso20.loop import ac_loop, dc_loop

        if self.ac:
            return self._ev("AC_ChargeLoopReq", ac_loop(self))
        return self._ev("DC_ChargeLoopReq", dc_loop(self))

    def _stop_session(self) -> tuple[str, dict[str, Any]]:
        return self._cm("SessionStopReq", {"ChargingSession": self._stop_kind})

    def _after_loop(self, res: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.result.loops += 1
        note = str((res.get("EVSEStatus") or {}).get("EVSENotification", ""))
        if note == "MeteringConfirmation" and self.contract is not None and "MeterInfo" in res:
            return self._metering_confirmation(res)
        return self._continue(note)

    def _metering_confirmation(self, res: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return pnc.metering_confirmation(self, res)

    def _continue(self, note: str) -> tuple[str, dict[str, Any]]:
        beh = self.behaviour
        n = self.result.loops
        if self._standby_left > 0:
            self._standby_left -= 1
            return self._power_delivery("Start") if self._standby_left == 0 else self._loop()
        if note == "Terminate":
            return self._power_delivery("Stop")
        if note == "ServiceRenegotiation" and not self._service_renegotiated:
            # the station asks for another service (e.g. it can no longer discharge): the same without BPT
            self._stop_kind = "ServiceRenegotiation"
            self._renegotiate_to = self.service.removesuffix("-bpt")
            return self._power_delivery("Stop")
        if note == "Pause":  # the SECC asks for a pause: stop, then SessionStop Pause
            self._stop_kind = "Pause"
            return self._power_delivery("Stop")
        if note == "ScheduleRenegotiation" or n == beh.schedule_renegotiate_after:
            return self._power_delivery("ScheduleRenegotiation")
        if n == beh.standby_after and beh.dynamic:
            return self._power_delivery("Standby")
        if n == beh.pause_after:
            self._stop_kind = "Pause"
            return self._power_delivery("Stop")
        if n == beh.service_renegotiate_after and not self._service_renegotiated:
            self._stop_kind = "ServiceRenegotiation"
            return self._power_delivery("Stop")
        if (beh.loops and n >= beh.loops) or self.battery.full:
            return self._power_delivery("Stop")
        return self._loop()

    def _next(self, name: str, res: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        b, beh = self.battery, self.behaviour
        processing = res.get("EVSEProcessing")
        if name == "SessionSetupRes":
            if self.resume_session and res["ResponseCode"] != "OK_OldSessionJoined":
                self._fail(f"resume refused: {res['ResponseCode']}")
            self.session_id = str(res["Header"]["SessionID"])
            self.result.session_id = self.session_id
            return self._cm("AuthorizationSetupReq")
        if name == "AuthorizationSetupRes":
            services = res.get("AuthorizationServices", [])
            self._services = list(services)
            challenge = (res.get("PnC_ASResAuthorizationMode") or {}).get("GenChallenge")
            self._challenge = str(challenge) if "PnC" in services and challenge else None
            if self.contract is not None and "PnC" in services:
                return self._start_pnc()
            if (
                self.provisioning is not None
                and "PnC" in services
                and res.get("CertificateInstallationService")
            ):
                return self._certificate_installation()
            return self._eim()
        if name == "CertificateInstallationRes":
            return self._installed(res)
        if name == "MeteringConfirmationRes":
            if self._confirming is not None:
                self.result.metering_confirmed_wh.append(self._confirming)
            self._confirming = None
            return self._continue("")
        if name == "AuthorizationRes":
            if processing != "Finished":
                self._ongoing_guard()
                if self._pnc_mode is not None:
                    return self._pnc_authorization()
                return self._cm(
                    "AuthorizationReq",
                    {"SelectedAuthorizationService": "EIM", "EIM_AReqAuthorizationMode": {}},
                )
            self._ongoing = 0
            return self._cm("ServiceDiscoveryReq")
        if name == "ServiceDiscoveryRes":
            offered = [s["ServiceID"] for s in res["EnergyTransferServiceList"]["Service"]]
            want = m.SERVICE_IDS[self.service]
            if want not in offered:
                self._fail(f"service {want} not offered (offered: {offered})")
            return self._cm("ServiceDetailReq", {"ServiceID": want})
        if name == "ServiceDetailRes":
            mode = 2 if beh.dynamic else 1
            for ps in res["ServiceParameterList"]["ParameterSet"]:
                params = {p["Name"]: p.get("intValue") for p in ps["Parameter"]}
                if params.get("ControlMode") == mode:
                    sel = {"ServiceID": res["ServiceID"], "ParameterSetID": ps["ParameterSetID"]}
                    return self._cm("ServiceSelectionReq", {"SelectedEnergyTransferService": sel})
            self._fail(f"no parameter set with ControlMode {mode}")
        if name == "ServiceSelectionRes":
            return self._cpd()
        if name in ("AC_ChargeParameterDiscoveryRes", "DC_ChargeParameterDiscoveryRes"):
            self._evse_pmax = _find_power(res, "EVSEMaximumChargePower")
            self._evse_imax = _find_power(res, "EVSEMaximumChargeCurrent")
            return self._schedule_exchange()
        if name == "ScheduleExchangeRes":
            if processing != "Finished":
                self._ongoing_guard()
                return self._schedule_exchange()
            self._ongoing = 0
            self._read_schedule(res)
            if self.ac or self._renegotiating:
                return self._power_delivery("Start")
            return self._ev("DC_CableCheckReq")
        if name == "DC_CableCheckRes":
            if processing != "Finished":
                self._ongoing_guard()
                return self._ev("DC_CableCheckReq")
            self._ongoing = 0
            return self._pre_charge()
        if name == "DC_PreChargeRes":
            if abs(rf(res["EVSEPresentVoltage"]) - b.voltage) > beh.precharge_tolerance_v:
                self._ongoing_guard()
                return self._pre_charge()
            self._ongoing = 0
            return self._power_delivery("Start")
        if name == "PowerDeliveryRes":
            return self._after_power_delivery(res)
        if name in ("AC_ChargeLoopRes", "DC_ChargeLoopRes"):
            from josev.ev.iso20.loop import absorb

            absorb(self, res)
            return self._after_loop(res)
        if name == "DC_WeldingDetectionRes":
            return self._stop_session()
        if name == "SessionStopRes":
            if self._stop_kind == "ServiceRenegotiation":
                self._service_renegotiated = True
                self._stop_kind = "Terminate"
                self.result.renegotiations += 1
                if self._renegotiate_to or beh.renegotiate_to:
                    self._select(self._renegotiate_to or str(beh.renegotiate_to))
                return self._cm("ServiceDiscoveryReq")
            self.result.outcome = "paused" if self._stop_kind == "Pause" else "finished"
            return None
        self._fail(f"unexpected {name}")
        return None

    def _pre_charge(self) -> tuple[str, dict[str, Any]]:
        v = rn(self.battery.voltage)
        return self._ev(
            "DC_PreChargeReq", {"EVProcessing": "Ongoing", "EVPresentVoltage": v, "EVTargetVoltage": v}
        )

    def _read_schedule(self, res: dict[str, Any]) -> None:
        sched = res.get("Scheduled_SEResControlMode")
        if self.behaviour.dynamic:
            if "Dynamic_SEResControlMode" not in res:
                self._fail("dynamic mode selected, the SECC answered another control mode")
            return
        if not isinstance(sched, dict):
            self._fail("scheduled mode selected, the SECC sent no schedule")
            return
        tup = sched["ScheduleTuple"][0]
        self._tuple_id = int(tup["ScheduleTupleID"])
        entries = tup["ChargingSchedule"]["PowerSchedule"]["PowerScheduleEntries"]["PowerScheduleEntry"]
        if isinstance(entries, dict):
            entries = [entries]
        rel: list[tuple[int, float]] = []
        at = 0
        for e in entries:
            rel.append((at, rf(e["Power"])))
            at += int(e["Duration"])
        self._schedule = [(self.now + t, w) for t, w in rel]
        self.result.schedules.append(rel)
        self._sched_charge = rel[0][1]
        dis = tup.get("DischargingSchedule")
        if isinstance(dis, dict):
            d_entries = dis["PowerSchedule"]["PowerScheduleEntries"]["PowerScheduleEntry"]
            self._sched_discharge = abs(rf(d_entries[0]["Power"]))

    def _after_power_delivery(self, res: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        code = str(res.get("ResponseCode"))
        if self._pd == "Standby":
            if code == "WARNING_StandbyNotAllowed":
                return self._loop()
            self._standby_left = self.behaviour.standby_loops
            return self._loop()
        if code.startswith("WARNING"):
            self._fail(f"PowerDeliveryRes: {code}")
        if self._pd == "Start":
            self._renegotiating = False
            return self._loop()
        if self._pd == "ScheduleRenegotiation":
            self._renegotiating = True
            self.result.renegotiations += 1
            return self._schedule_exchange()
        if self.ac:
            return self._stop_session()
        return self._ev("DC_WeldingDetectionReq", {"EVProcessing": "Finished"})


@dataclass(slots=True)
class Ev20Connection:
    """Byte-level EV side: frames requests with the payload type of their schema, deframes responses."""

    evcc: Evcc20
    codec: Codec
    deframer: v2gtp.Deframer = field(default_factory=v2gtp.Deframer)

    def _frame(self, schema: str, msg: dict[str, Any]) -> bytes:
        return v2gtp.frame(v2gtp.SCHEMA_PAYLOADS[schema], self.codec.encode(schema, msg))

    def start(self) -> bytes:
        """Bytes of the first request."""
        return self._frame(*self.evcc.start())

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """Bytes from the SECC -> bytes of the next request(s)."""
        out: list[bytes] = []
        for fr in self.deframer.feed(data):
            if self.evcc.done:
                break
            schema = SCHEMA_OF_PAYLOAD.get(fr.payload_type)
            if schema is None:
                continue
            nxt = self.evcc.on_response(self.codec.decode(schema, fr.payload), now)
            if nxt is not None:
                out.append(self._frame(*nxt))
        return out


def _find_power(msg: Any, key: str) -> float | None:
    """The first ``key`` (a RationalNumber) anywhere in ``msg``, in W / A / V."""
    if isinstance(msg, dict):
        for k, v in msg.items():
            if k == key and isinstance(v, dict) and "Value" in v:
                return float(rf(v))
            found = _find_power(v, key)
            if found is not None:
                return found
    elif isinstance(msg, list):
        for v in msg:
            found = _find_power(v, key)
            if found is not None:
                return found
    return None
