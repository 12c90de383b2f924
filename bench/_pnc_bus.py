"""Plug & Charge through the real bus (part of ``python -m bench pnc``).

A real mosquitto (:class:`josev.broker.PrivateBroker`), the real OCPP service, the CSMS stand-in
(:class:`josev.sim.csms.CsmsSim` on a real WebSocket, answering at once) and, in this process, the SECC's core
(:class:`~josev.secc.session.SeccSession`, dicts: no EXI transport) with its shell (:class:`PncShell`) on the bus.
The coordinator is a stand-in that serves ``authorize`` and authorizes the session at once (the real coordinator
adds its own hop: ``SessionEvent`` to the SECC service).

Measured:

* PaymentDetailsReq handled -> AuthorizationRes ``Finished``: chain check, Authorize through the OCPP service to
  the CSMS and back, the coordinator's authorization; the EV re-sends AuthorizationReq every millisecond while
  Ongoing (a real EV waits for each Ongoing response, a round trip of a few ms on PLC);
* the bus leg alone: ``authorize_contract`` request -> reply;
* the certificate installation round trip (CertificateInstallationReq -> Res through ``install_ev_certificate``
  and Get15118EVCertificate), or, when the stand-in cannot build the response, the bus leg with a pre-built one;
* the OCSP fetch of one certificate (``get_ocsp_status`` -> GetCertificateStatus), the CSMS's answer not cached.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from josev import exi
from josev.api import coordinator as co
from josev.api import iso15118 as iso
from josev.api.base import Ack, CommandError
from josev.broker import PrivateBroker
from josev.bus import Bus
from josev.ev.battery import Behaviour
from josev.ev.contract import ContractCredentials, ProvisioningCredentials
from josev.ev.evcc import Evcc
from josev.ocpp.config import OcppConfig
from josev.ocpp.service import OcppService
from josev.pki import PROFILES, Override, Pki, build_pki
from josev.secc import events as ev
from josev.secc.evse import EvseView
from josev.secc.pncshell import PncShell
from josev.secc.session import SeccSession
from josev.sim.csms import CsmsSim

N = 200
FAST = {
    "OCPPCommCtrlr/RetryBackOffWaitMinimum": "0",
    "OCPPCommCtrlr/RetryBackOffRandomRange": "0",
    "OCPPCommCtrlr/WebSocketPingInterval": "0",
    "SampledDataCtrlr/TxUpdatedInterval": "0",
    "AlignedDataCtrlr/Interval": "0",
    "ISO15118Ctrlr/PnCEnabled": "true",
    "AuthCacheCtrlr/Enabled": "false",  # every Authorize reaches the CSMS
}


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _line(name: str, xs: list[float]) -> None:
    ms = [x * 1e3 for x in xs]
    print(f"  {name:<60} p50 {statistics.median(ms):7.2f} ms   p99 {_pct(ms, 0.99):7.2f} ms   (n={len(ms)})")


def _contract(pki: Pki) -> ContractCredentials:
    der = serialization.Encoding.DER
    key: Any = pki.key("contract_leaf")
    subs = tuple(pki.cert(n).public_bytes(der) for n in ("mo_sub_ca2", "mo_sub_ca1"))
    return ContractCredentials(pki.cert("contract_leaf").public_bytes(der), subs, key)


def _provisioning(pki: Pki) -> ProvisioningCredentials:
    der = serialization.Encoding.DER
    key: Any = pki.key("oem_prov_leaf")
    return ProvisioningCredentials(
        pki.cert("oem_prov_leaf").public_bytes(der), key, (pki.cert("v2g_root").public_bytes(der),)
    )


class Rig:
    """The bus, the OCPP service, the CSMS stand-in and the SECC's shell."""

    def __init__(self, broker: PrivateBroker, tmp: Path, pki: Pki) -> None:
        self.broker = broker
        self.tmp = tmp
        self.pki = pki
        self.csms = CsmsSim(pki=pki)
        self.shell = PncShell(None)
        self.view: EvseView | None = None
        self.stop = asyncio.Event()
        self.buses: list[Bus] = []
        self.task: asyncio.Task[None] | None = None
        self.secc_bus: Bus | None = None

    async def _bus(self, service: str) -> Bus:
        bus = Bus(service, self.broker.settings(service))
        await bus.connect()
        self.buses.append(bus)
        return bus

    def _authorize(self, cmd: Any, evse: int | None) -> Ack:
        if isinstance(cmd, co.Authorize) and self.view is not None:
            self.view.authorized = True  # the coordinator authorizes the session; the SECC's view follows
        return Ack()

    async def start(self) -> None:
        await self.csms.start()
        coord = await self._bus("coordinator")
        for cls in (co.Authorize, co.StopCharging, co.SetAvailability, co.SetLimit):
            coord.serve(cls, self._authorize)
        self.secc_bus = await self._bus("secc")
        cfg = OcppConfig(
            identity="BENCH1",
            csms_url=self.csms.url,
            database=self.tmp / "ocpp.sqlite",
            workdir=self.tmp / "work",
            evses={1: 1},
            variables=FAST,
            serial_number="SN-BENCH",
            firmware_version="1.0",
        )
        ocpp_bus = await self._bus("ocpp")
        self.task = asyncio.create_task(OcppService(cfg).run(ocpp_bus, self.stop))
        emaid = self.pki.cert("contract_leaf").subject.rfc4514_string().split("CN=")[-1].split(",")[0]
        for _ in range(200):  # until the OCPP service is connected and the CSMS answers
            try:
                ans = await self.secc_bus.request(iso.AuthorizeContract(emaid=emaid), 1, timeout=2)
                if ans.source == "csms":
                    return
            except CommandError:  # not up yet
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError("the OCPP service did not reach the CSMS stand-in")

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)
        for bus in self.buses:
            await bus.close()
        await self.csms.close()

    def new_view(self) -> EvseView:
        view = EvseView(payment_options=("ExternalPayment", "Contract"))
        self.shell.attach(1, view)
        view.pnc_roots = (self.pki.cert("mo_root"), self.pki.cert("v2g_root"))
        self.view = view
        return view

    async def shell_step(self, events: list[Any], pending: list[asyncio.Task[Any]]) -> None:
        assert self.secc_bus is not None
        for e in events:
            if isinstance(e, ev.ContractAuthorizationRequested):
                pending.append(asyncio.create_task(self.shell.authorize(self.secc_bus, 1, e)))
            elif isinstance(e, ev.CertificateRequested):
                pending.append(asyncio.create_task(self.shell.certificate(self.secc_bus, 1, e)))


async def payment_to_finished(rig: Rig) -> float:
    """One session up to AuthorizationRes Finished; the time from PaymentDetailsReq."""
    view = rig.new_view()
    secc = SeccSession(view, time.monotonic(), tls=True)
    evcc = Evcc("iso2-dc", behaviour=Behaviour(loops=1), contract=_contract(rig.pki))
    nxt: tuple[str, dict[str, Any]] | None = evcc.start()
    pending: list[asyncio.Task[Any]] = []
    t0 = 0.0
    while nxt is not None:
        name = next(iter(nxt[1]["V2G_Message"]["Body"])) if "V2G_Message" in nxt[1] else ""
        if name == "PaymentDetailsReq":
            t0 = time.perf_counter()
        out = secc.handle_message(nxt[1], time.monotonic())
        await rig.shell_step(out.events, pending)
        assert out.response is not None
        body = (
            next(iter(out.response["V2G_Message"]["Body"].values())) if "V2G_Message" in out.response else {}
        )
        if name == "AuthorizationReq" and body.get("EVSEProcessing") == "Finished":
            t = time.perf_counter() - t0
            await asyncio.gather(*pending)
            return t
        nxt = evcc.on_response(out.response)
        if name == "AuthorizationReq":
            await asyncio.sleep(0.001)
    raise RuntimeError(f"the session ended before Finished: {evcc.result.detail}")


async def installation(rig: Rig) -> float | None:
    """CertificateInstallationReq -> Res through the bus; None when the response could not be made."""
    view = rig.new_view()
    secc = SeccSession(view, time.monotonic(), tls=True)
    evcc = Evcc("iso2-dc", provisioning=_provisioning(rig.pki), wall=time.time())
    nxt: tuple[str, dict[str, Any]] | None = evcc.start()
    pending: list[asyncio.Task[Any]] = []
    while nxt is not None:
        name = next(iter(nxt[1]["V2G_Message"]["Body"])) if "V2G_Message" in nxt[1] else ""
        if name == "CertificateInstallationReq":
            t0 = time.perf_counter()
            out = secc.handle_message(nxt[1], time.monotonic())
            await rig.shell_step(out.events, pending)
            await asyncio.gather(*pending)
            polled = secc.poll_message(time.monotonic())
            t = time.perf_counter() - t0
            if polled is None or polled.response is None:
                return None
            res = next(iter(polled.response["V2G_Message"]["Body"].values()))
            return t if str(res.get("ResponseCode", "")).startswith("OK") else None
        out = secc.handle_message(nxt[1], time.monotonic())
        assert out.response is not None
        nxt = evcc.on_response(out.response)
    return None


async def _run(n: int) -> None:
    pki = build_pki(PROFILES["iso2"], overrides={"contract_leaf": Override(common_name="DE8EOCAB123456")})
    with tempfile.TemporaryDirectory() as tmp, PrivateBroker() as broker:
        rig = Rig(broker, Path(tmp), pki)
        await rig.start()
        assert rig.secc_bus is not None
        try:
            for _ in range(10):
                await payment_to_finished(rig)
            flow = [await payment_to_finished(rig) for _ in range(n)]
            leaf = [
                iso.OcspRequestData(
                    hash_algorithm="SHA256",
                    issuer_name_hash=h["issuerNameHash"],
                    issuer_key_hash=h["issuerKeyHash"],
                    serial_number=h["serialNumber"],
                    responder_url="",
                )
                for h in _contract_hash_data(pki)
            ]
            leg = []
            for _ in range(n):
                t0 = time.perf_counter()
                ans = await rig.secc_bus.request(
                    iso.AuthorizeContract(emaid="DE8EOCAB123456", hash_data=leaf), 1
                )
                leg.append(time.perf_counter() - t0)
                assert ans.status == "Accepted" and ans.source == "csms", ans
            ocsp_t = []
            for item in _all_hash_data(pki):  # each certificate once: the OCPP service caches the answers
                t0 = time.perf_counter()
                got = await rig.secc_bus.request(iso.GetOcspStatus(request=item))
                ocsp_t.append(time.perf_counter() - t0)
                assert got.status == "Accepted" and not got.cached, got
            print(
                "Plug & Charge through the bus (mosquitto + OCPP service + CSMS stand-in answering at once):"
            )
            _line("PaymentDetailsReq -> AuthorizationRes Finished", flow)
            _line("authorize_contract bus request -> reply (via Authorize)", leg)
            _line("get_ocsp_status bus request -> reply (GetCertificateStatus)", ocsp_t)
            try:
                inst = [await installation(rig) for _ in range(min(n, 50))]
            except exi.ExiError as e:  # the codec gaps of docs/pnc.md "Known gaps" (the EV's own request)
                print(f"  certificate installation end to end: blocked by the EXI codec ({e.message})")
                inst = []
            ok = [t for t in inst if t is not None]
            if ok:
                _line("CertificateInstallationReq -> Res (Get15118EVCertificate)", ok)
            else:
                print("  certificate installation end to end: no response; the bus leg with a pre-built one:")
                await _installation_leg(rig, min(n, 50))
        finally:
            await rig.close()


def _all_hash_data(pki: Pki) -> list[iso.OcspRequestData]:
    """OCSP request data of every certificate of the PKI that has an issuer (the CSMS signs a response for each)."""
    from josev.pnc import contract

    out = []
    for item in pki.items.values():
        if item.spec.issuer is None:
            continue
        h = contract.certificate_hash_data(item.cert, pki.cert(item.spec.issuer))
        out.append(
            iso.OcspRequestData(
                issuer_name_hash=h["issuerNameHash"],
                issuer_key_hash=h["issuerKeyHash"],
                serial_number=h["serialNumber"],
                responder_url="",
            )
        )
    return out


def _contract_hash_data(pki: Pki) -> list[dict[str, str]]:
    from josev.pnc import contract

    leaf = pki.cert("contract_leaf")
    subs = [pki.cert("mo_sub_ca2"), pki.cert("mo_sub_ca1")]
    chain = contract.Chain(leaf, tuple(subs), pki.cert("mo_root"))
    return chain.hash_data()


async def _installation_leg(rig: Rig, n: int) -> None:
    """The bus leg of certificate installation with a pre-built CSMS response."""
    assert rig.secc_bus is not None
    body = {
        "ResponseCode": "OK",
        "SAProvisioningCertificateChain": {"Certificate": base64.b64encode(b"\x30" * 600).decode()},
        "ContractSignatureCertChain": {"Id": "id1", "Certificate": base64.b64encode(b"\x30" * 600).decode()},
        "ContractSignatureEncryptedPrivateKey": {"Id": "id2", "value": base64.b64encode(bytes(48)).decode()},
        "DHpublickey": {"Id": "id3", "value": base64.b64encode(bytes(65)).decode()},
        "eMAID": {"Id": "id4", "value": "DE8EOCAB123456"},
    }
    msg = {
        "V2G_Message": {
            "Header": {"SessionID": "0102030405060708"},
            "Body": {"CertificateInstallationRes": body},
        }
    }
    prebuilt = base64.b64encode(exi.encode("iso2", msg)).decode()
    rig.csms.ev_certificate = lambda p: {"status": "Accepted", "exiResponse": prebuilt}
    req = base64.b64encode(b"\x80\x98\x02" + bytes(900)).decode()
    cmd = iso.InstallEvCertificate(
        action="Install", schema_version="urn:iso:15118:2:2013:MsgDef", exi_request=req
    )
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        reply = await rig.secc_bus.request(cmd, 1)
        times.append(time.perf_counter() - t0)
        assert reply.status == "Accepted", reply
    _line("install_ev_certificate bus request -> reply (pre-built response)", times)


def main(n: int = N) -> None:
    logging.getLogger("josev").setLevel(logging.ERROR)
    asyncio.run(_run(n))


if __name__ == "__main__":
    main()
