"""The CSMS stand-in (``josev.sim.csms``) with a ``josev pki`` test PKI plays the CSMS side of Advanced Security
and the ISO 15118 support profile against the real OCPP client over loopback: it installs the roots, signs the
station's CSRs (station certificate and SECC leaf), answers contract authorizations and OCSP requests."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from josev.ocpp import certificates, iso15118
from josev.ocpp.security import hash_data
from josev.pki import build_pki
from josev.pki.csms import fingerprint
from josev.sim.csms import CALLRESULT, CsmsSim
from tests.ocpp.conftest import StationUnderTest, make_config

PNC = {"ISO15118Ctrlr/PnCEnabled": "true", "ISO15118Ctrlr/SeccId": "DE*JOS*E0001"}


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def ask(sut: StationUnderTest, fn: Callable[[Any, int, float], None], ref: int) -> dict[str, Any]:
    st = sut.st
    await sut.client.feed(lambda now: st._station_input(lambda: fn(st, ref, now), now))
    found: list[dict[str, Any]] = []

    def got() -> bool:
        found[:] = [
            r.data["reply"] for r in sut.requests if r.kind == "iso15118_reply" and r.data["ref"] == ref
        ]
        return bool(found)

    await until(got)
    return found[0]


def read_chain(path: Path) -> list[x509.Certificate]:
    return list(x509.load_pem_x509_certificates(path.read_bytes()))


async def test_csms_sim_signs_authorizes_and_answers_ocsp(tmp_path: Path) -> None:
    pki = build_pki()
    contract = pki.cert("contract_leaf")
    sim = CsmsSim(pki=pki)
    await sim.start()
    sut = StationUnderTest(make_config(tmp_path, sim.url, variables=PNC))
    await sut.start()
    try:
        await until(lambda: "BootNotification" in sim.actions("CS001"))
        sim.install_roots("CS001")
        st = sut.st
        # the roots go out after the stand-in's next reply; a (SECC) security event provokes one
        await sut.client.feed(
            lambda now: st._station_input(
                lambda: iso15118.secc_security_event(st, "InvalidTLSVersion", "x", now), now
            )
        )
        await until(lambda: len([r for r in sim.results if r[1][0] == CALLRESULT]) >= 3)
        assert all(r[1][2] == {"status": "Accepted"} for r in sim.results)
        # station certificate and SECC leaf, signed by the stand-in
        for type_ in (certificates.CS, certificates.V2G):
            await sut.client.feed(
                lambda now, t=type_: st._station_input(lambda: certificates.request(st, t, now), now)
            )
            await until(lambda t=type_: certificates.chain_path(st, t).exists())  # type: ignore[misc]
        cs = read_chain(certificates.chain_path(st, certificates.CS))
        assert cs[0].issuer == pki.cert("csms_root").subject
        assert certificates.valid_station_certificate(st, time.time())
        v2g = read_chain(certificates.chain_path(st, certificates.V2G))
        assert [fingerprint(c) for c in v2g[1:]] == [
            fingerprint(pki.cert("cpo_sub_ca2")),
            fingerprint(pki.cert("cpo_sub_ca1")),
        ]
        cn = v2g[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert cn == "DE*JOS*E0001"
        # contract authorization and OCSP
        h = hash_data(contract, pki.cert("mo_sub_ca2").public_key())
        item = {
            "hash_algorithm": "SHA256",
            "issuer_name_hash": h["issuerNameHash"],
            "issuer_key_hash": h["issuerKeyHash"],
            "serial_number": h["serialNumber"],
            "responder_url": "http://ocsp.example/",
        }
        reply = await ask(
            sut, lambda s, ref, now: iso15118.authorize_contract(s, 1, ref, "DEJOSC1", [item], None, now), 1
        )
        assert reply == {"status": "Accepted", "certificate_status": "Accepted", "source": "csms"}
        status = await ask(sut, lambda s, ref, now: iso15118.get_ocsp_status(s, ref, item, now), 2)
        resp = ocsp.load_der_ocsp_response(base64.b64decode(status["ocsp_result"]))
        assert (
            resp.certificate_status == ocsp.OCSPCertStatus.GOOD
            and resp.serial_number == contract.serial_number
        )
        sim.revoked.add(contract.serial_number)
        reply = await ask(
            sut, lambda s, ref, now: iso15118.authorize_contract(s, 1, ref, "DEJOSC1", [item], None, now), 3
        )
        assert reply["status"] == "Blocked" and reply["certificate_status"] == "CertificateRevoked"
        cached = await ask(sut, lambda s, ref, now: iso15118.get_ocsp_status(s, ref, item, now), 4)
        assert cached["cached"] is True  # until nextUpdate, even though the stand-in now says revoked
        assert sim.actions("CS001").count("GetCertificateStatus") == 1
    finally:
        await sut.close()
        await sim.close()
