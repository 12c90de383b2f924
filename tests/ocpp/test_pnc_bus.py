"""The Plug & Charge bus contract (josev.api.iso15118) end to end through a real mosquitto: a client with the
``secc`` identity asks the OCPP service, the OCPP service asks the scripted CSMS; the contract authorization is
seen on the OCPP connection and, accepted, reaches the coordinator; the SECC's certificate state follows
InstallCertificate; a SECC security event arrives at the CSMS."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from josev.api import coordinator as co
from josev.api import iso15118 as iso
from josev.api.base import Ack
from josev.ocpp.service import OcppService
from josev.pki import build_pki
from tests.conftest import BusFactory
from tests.ocpp.conftest import make_config
from tests.ocpp.exi_samples import installation_res
from tests.ocpp.harness import ScriptedCsms

ISO2_NS = "urn:iso:15118:2:2013:MsgDef"


async def test_pnc_contract_over_the_bus(tmp_path: Path, csms: ScriptedCsms, bus_factory: BusFactory) -> None:
    pki = build_pki(names=["v2g_root", "contract_leaf"])
    coord = await bus_factory("coordinator")
    commands: list[tuple[int | None, Any]] = []

    def record(cmd: Any, evse: int | None) -> Ack:
        commands.append((evse, cmd))
        return Ack()

    for cls in (co.Authorize, co.StopCharging, co.SetAvailability):
        coord.serve(cls, record)
    secc = await bus_factory("secc")
    certs: list[iso.V2GCertificates] = []
    secc.subscribe(iso.V2GCertificates, lambda m, e: certs.append(m))
    csms.responders["Authorize"] = lambda p: {
        "idTokenInfo": {"status": "Accepted"},
        "certificateStatus": "Accepted",
    }
    exi_res = installation_res()
    csms.responders["Get15118EVCertificate"] = lambda p: {"status": "Accepted", "exiResponse": exi_res}
    svc = OcppService(
        make_config(tmp_path, csms.url, evses={1: 1}, variables={"ISO15118Ctrlr/PnCEnabled": "true"})
    )
    ocpp_bus = await bus_factory("ocpp")
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(ocpp_bus, stop))
    try:
        await csms.wait_for("StatusNotification")
        hd = iso.OcspRequestData(
            issuer_name_hash="aa" * 32,
            issuer_key_hash="bb" * 32,
            serial_number="1234",
            responder_url="http://ocsp.example/",
        )
        answer = await secc.request(iso.AuthorizeContract(emaid="DEJOSC00000001", hash_data=[hd]), 1)
        assert answer == iso.ContractAuthorization(
            status="Accepted", certificate_status="Accepted", source="csms"
        )
        sent = csms.actions("Authorize")[-1]
        assert sent["idToken"] == {"idToken": "DEJOSC00000001", "type": "eMAID"}
        assert sent["iso15118CertificateHashData"][0]["serialNumber"] == "1234"
        for _ in range(100):
            if commands:
                break
            await asyncio.sleep(0.02)
        [(evse, cmd)] = [(e, c) for e, c in commands if c.name == "authorize"]
        assert evse == 1 and cmd.id_token == "DEJOSC00000001" and cmd.source == "ocpp"
        # certificate installation: the EXI crosses unchanged
        req_b64 = base64.b64encode(b"\x80\x98\x02request").decode()
        ev = await secc.request(
            iso.InstallEvCertificate(action="Install", schema_version=ISO2_NS, exi_request=req_b64), 1
        )
        assert ev == iso.EvCertificateReply(status="Accepted", exi_response=exi_res)
        assert csms.actions("Get15118EVCertificate")[-1]["exiRequest"] == req_b64
        # OCSP: the scripted CSMS does not know GetCertificateStatus (CALLERROR): Failed, not an error
        tool = await bus_factory("cli")  # the SECC does not ask for OCSP (yet): an operator tool does
        ocsp = await tool.request(iso.GetOcspStatus(request=hd))
        assert ocsp.status == "Failed"
        # trust store change announced to the SECC
        root_pem = pki.cert("v2g_root").public_bytes(serialization.Encoding.PEM).decode()
        res = await csms.call(
            "InstallCertificate", {"certificateType": "V2GRootCertificate", "certificate": root_pem}
        )
        assert res["status"] == "Accepted"
        for _ in range(100):
            if certs and certs[-1].v2g_roots:
                break
            await asyncio.sleep(0.02)
        assert certs[-1].v2g_roots == [root_pem] and certs[-1].revision >= 2
        # a SECC security event reaches the CSMS
        await secc.publish(iso.SeccSecurityEvent(type="InvalidTLSVersion", tech_info="EV offered TLS 1.1"))
        got = await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "InvalidTLSVersion")
        assert got["techInfo"] == "EV offered TLS 1.1"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
