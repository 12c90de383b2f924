"""Security events of the Part 2 appendix that the station side can raise, each seen arriving at a scripted CSMS
(guaranteed delivery: queued in SQLite while no connection works, delivered in order once one does).

Covered here: InvalidTLSVersion (CSMS speaks TLS 1.1 at most), InvalidTLSCipherSuite (CSMS offers none of the
OCPP suites), SettingSystemTime (the CSMS time moves the clock by more than a minute),
ReconfigurationOfSecurityParameters (SetVariables of SecurityCtrlr / ISO15118Ctrlr). Elsewhere:
FailedToAuthenticateAtCsms, InvalidCsmsCertificate (test_a_security, test_a_station_certificates),
InvalidChargingStationCertificate (test_a_station_certificates), InvalidMessages (test_iso15118),
InvalidFirmwareSignature / InvalidFirmwareSigningCertificate / FirmwareUpdated (test_l_firmware),
StartupOfTheDevice / ResetOrReboot (test_b_provisioning)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import pytest

from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms, now_iso
from tests.ocpp.pki import make_cert

PW = "Secret-Password-0001"


class TlsRefuser:
    """A TLS server (OpenSSL through ``ssl.MemoryBIO``) that lets the handshake fail and sends the TLS alert
    OpenSSL produces (asyncio's TLS server would just reset the connection)."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.attempts = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.attempts += 1
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.ctx.wrap_bio(inc, out, server_side=True)
        try:
            while data := await r.read(65536):
                inc.write(data)
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    pass
                finally:
                    w.write(out.read())
                    await w.drain()
        except ssl.SSLError:
            pass
        w.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.mark.parametrize("problem", ["version", "cipher"])
async def test_tls_version_and_cipher_suite_events(tmp_path: Path, problem: str) -> None:
    root = make_cert("CSMS Root", ca=True)
    leaf = make_cert("localhost", root, san=["localhost"])
    c, k = leaf.write(tmp_path, "server")
    bad = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    bad.load_cert_chain(c, k)
    if problem == "version":
        bad.minimum_version = ssl.TLSVersion.TLSv1
        bad.maximum_version = ssl.TLSVersion.TLSv1_1
        bad.set_ciphers("ALL:@SECLEVEL=0")
    else:
        bad.maximum_version = ssl.TLSVersion.TLSv1_2
        bad.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA")  # CBC only: not OCPP's
    evil = TlsRefuser(bad)
    await evil.start()
    root_file, _ = root.write(tmp_path, "root")
    url = f"wss://localhost:{evil.port}"
    sut = StationUnderTest(
        make_config(
            tmp_path, url, security_profile=2, basic_auth_password=PW, csms_root_certificates=[root_file]
        )
    )
    fixed_csms: ScriptedCsms | None = None
    try:
        await sut.start()
        for _ in range(200):
            if evil.attempts >= 2:
                break
            await asyncio.sleep(0.02)
        want = "InvalidTLSVersion" if problem == "version" else "InvalidTLSCipherSuite"
        queued = [m.payload for m in sut.st.store.queued() if m.action == "SecurityEventNotification"]
        assert queued and all(p["type"] == want for p in queued), queued
        # delivered, in order, once the CSMS is fixed (same URL, proper TLS)
        await evil.stop()
        fixed = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        fixed.load_cert_chain(c, k)
        fixed_csms = ScriptedCsms(ssl_context=fixed, port=evil.port)
        await fixed_csms.start()
        await fixed_csms.wait_for(
            "SecurityEventNotification", lambda p: p["type"] == want, timeout=10, count=len(queued)
        )
        got = [p for p in fixed_csms.actions("SecurityEventNotification") if p["type"] == want]
        assert "ALERT" in got[0]["techInfo"].upper()
        assert [p["timestamp"] for p in got] == sorted(p["timestamp"] for p in got)
        assert got[: len(queued)] == queued  # every queued event, unchanged, in order
    finally:
        await sut.close()
        await evil.stop()
        if fixed_csms is not None:
            await fixed_csms.stop()


async def test_setting_system_time_and_reconfiguration(tmp_path: Path) -> None:
    csms = ScriptedCsms()
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    csms.responders["BootNotification"] = lambda p: {
        "currentTime": ahead,
        "interval": 300,
        "status": "Accepted",
    }
    await csms.start()
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    try:
        ev = await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "SettingSystemTime")
        moved = int(ev["techInfo"].split("by ")[1].split(" s")[0])
        assert 7190 <= moved <= 7201
        # a heartbeat with the same time (within a minute) logs nothing more
        csms.responders["Heartbeat"] = lambda p: {"currentTime": now_iso()}
        res = await csms.call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "ISO15118Ctrlr"},
                        "variable": {"name": "ContractValidationOffline"},
                        "attributeValue": "true",
                    },
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "OrganizationName"},
                        "attributeValue": "New CPO",
                    },
                ]
            },
        )
        assert [r["attributeStatus"] for r in res["setVariableResult"]] == ["Accepted", "Accepted"]
        await csms.wait_for(
            "SecurityEventNotification",
            lambda p: p["type"] == "ReconfigurationOfSecurityParameters",
            count=2,
        )
        infos = [
            p["techInfo"]
            for p in csms.actions("SecurityEventNotification")
            if p["type"] == "ReconfigurationOfSecurityParameters"
        ]
        assert infos == [
            "ISO15118Ctrlr/ContractValidationOffline changed by the CSMS",
            "SecurityCtrlr/OrganizationName changed by the CSMS",
        ]
        assert sut.st.dm.get_bool("ISO15118Ctrlr", "ContractValidationOffline")
    finally:
        await sut.close()
        await csms.stop()
