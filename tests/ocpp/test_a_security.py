"""OCTT group A (security): TC_A_01/A_02 (security profile 1: Basic Auth; BasicAuthPassword change ->
reconnect with the new password; invalid password rejected), TC_A_03 (wrong password -> 401 -> retry,
FailedToAuthenticateAtCsms logged), TC_A_04/A_06 (profile 2: TLS >= 1.2 with the CSMS root, host-name check,
InvalidCsmsCertificate), TC_A_05/A_19 (upgrade 1 -> 2 by InstallCertificate + SetNetworkProfile +
NetworkConfigurationPriority + Reset; lower profiles removed after the new connection succeeded, A05.FR.06),
the 40-hex password quirk (``password_encoding = hex``). Certificates are made in the test."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path

import pytest

from josev.ocpp.connection import OCPP_TLS12_CIPHERS
from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.pki import Issued, make_cert

PW1 = "Secret-Password-0001"
PW2 = "Another+Password@2222"


def server_ctx(tmp_path: Path, leaf: Issued) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    c, k = leaf.write(tmp_path, "server")
    ctx.load_cert_chain(c, k)
    return ctx


async def test_tc_a_01_a_02_basic_auth_and_password_change(tmp_path: Path) -> None:
    csms = ScriptedCsms(password=PW1)
    await csms.start()
    sut = StationUnderTest(make_config(tmp_path, csms.url, basic_auth_password=PW1))
    await sut.start()
    try:
        await csms.wait_for("BootNotification")
        assert csms.auth_headers[-1] == "Basic " + base64.b64encode(f"CS001:{PW1}".encode()).decode()
        res = await csms.call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                        "attributeValue": "short",
                    }
                ]
            },
        )
        assert res["setVariableResult"][0]["attributeStatus"] == "Rejected"
        csms.password = PW2
        res = await csms.call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                        "attributeValue": PW2,
                    }
                ]
            },
        )
        assert res["setVariableResult"][0]["attributeStatus"] == "Accepted"
        await csms.wait_connected(count=2)
        assert csms.auth_headers[-1] == "Basic " + base64.b64encode(f"CS001:{PW2}".encode()).decode()
        ev = await csms.wait_for(
            "SecurityEventNotification", lambda p: p["type"] == "ReconfigurationOfSecurityParameters"
        )
        assert "BasicAuthPassword" in ev["techInfo"]
        assert len(csms.actions("BootNotification")) == 1  # a reconnect is not a reboot
    finally:
        await sut.close()
        await csms.stop()


async def test_tc_a_03_wrong_password_retries_and_logs(tmp_path: Path) -> None:
    csms = ScriptedCsms(password=PW1)
    await csms.start()
    sut = StationUnderTest(make_config(tmp_path, csms.url, basic_auth_password=PW2))
    await sut.start()
    try:

        async def attempts(n: int) -> None:
            while len(csms.auth_headers) < n:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(attempts(3), 5)
        assert csms.connections == 0
        csms.password = PW2
        ev = await csms.wait_for(
            "SecurityEventNotification", lambda p: p["type"] == "FailedToAuthenticateAtCsms"
        )
        assert "401" in ev["techInfo"]
    finally:
        await sut.close()
        await csms.stop()


async def test_password_hex_quirk(tmp_path: Path) -> None:
    hexpw = "0123456789abcdef0123456789abcdef01234567"
    csms = ScriptedCsms()
    await csms.start()
    sut = StationUnderTest(
        make_config(tmp_path, csms.url, basic_auth_password=hexpw, password_encoding="hex")
    )
    await sut.start()
    try:
        await csms.wait_for("BootNotification")
        sent = base64.b64decode(str(csms.auth_headers[-1]).split()[1])
        assert sent == b"CS001:" + bytes.fromhex(hexpw)
    finally:
        await sut.close()
        await csms.stop()


async def test_tc_a_04_tls_profile_2(tmp_path: Path) -> None:
    root = make_cert("CSMS Root", ca=True)
    leaf = make_cert("localhost", root, san=["localhost"])
    csms = ScriptedCsms(ssl_context=server_ctx(tmp_path, leaf))
    await csms.start()
    root_file, _ = root.write(tmp_path, "root")
    sut = StationUnderTest(
        make_config(
            tmp_path,
            csms.url,
            security_profile=2,
            basic_auth_password=PW1,
            csms_root_certificates=[root_file],
        )
    )
    await sut.start()
    try:
        await csms.wait_for("BootNotification")
        assert csms.conn is not None
        tls = csms.conn.transport.get_extra_info("ssl_object")
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert sut.st.dm.get("SecurityCtrlr", "SecurityProfile") == "2"
    finally:
        await sut.close()
        await csms.stop()


@pytest.mark.parametrize("problem", ["unknown-root", "wrong-host"])
async def test_tc_a_06_tls_rejects_bad_server(tmp_path: Path, problem: str) -> None:
    root = make_cert("CSMS Root", ca=True)
    other = make_cert("Evil Root", ca=True)
    if problem == "unknown-root":
        leaf = make_cert("localhost", other, san=["localhost"])
    else:
        leaf = make_cert("elsewhere.example", root, san=["elsewhere.example"])
    csms = ScriptedCsms(ssl_context=server_ctx(tmp_path, leaf))
    await csms.start()
    root_file, _ = root.write(tmp_path, "root")
    sut = StationUnderTest(
        make_config(tmp_path, csms.url, security_profile=2, csms_root_certificates=[root_file])
    )
    await sut.start()
    try:
        await asyncio.sleep(0.5)
        assert csms.connections == 0
        assert sut.client.connect_attempts >= 2
        queued = [m.payload["type"] for m in sut.st.store.queued() if m.action == "SecurityEventNotification"]
        assert "InvalidCsmsCertificate" in queued
    finally:
        await sut.close()
        await csms.stop()


def test_tls_context_is_ocpp_profile_2() -> None:
    from josev.ocpp.connection import tls_context

    ctx = tls_context([])
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == set(OCPP_TLS12_CIPHERS.split(":"))


async def test_tc_a_05_upgrade_profile_1_to_2(tmp_path: Path) -> None:
    root = make_cert("CSMS Root", ca=True)
    leaf = make_cert("localhost", root, san=["localhost"])
    plain = ScriptedCsms()
    await plain.start()
    tls = ScriptedCsms(ssl_context=server_ctx(tmp_path, leaf))
    await tls.start()
    sut = StationUnderTest(make_config(tmp_path, plain.url, basic_auth_password=PW1))
    await sut.start()
    try:
        await plain.wait_for("StatusNotification", count=2)
        conn = {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": tls.url,
            "messageTimeout": 10,
            "securityProfile": 2,
            "ocppInterface": "Wired0",
        }
        res = await plain.call("SetNetworkProfile", {"configurationSlot": 2, "connectionData": conn})
        assert res["status"] == "Rejected"  # no CSMS root installed yet
        res = await plain.call(
            "InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": root.pem}
        )
        assert res["status"] == "Accepted"
        res = await plain.call("SetNetworkProfile", {"configurationSlot": 2, "connectionData": conn})
        assert res["status"] == "Accepted"
        res = await plain.call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "NetworkConfigurationPriority"},
                        "attributeValue": "2,1",
                    }
                ]
            },
        )
        assert res["setVariableResult"][0]["attributeStatus"] == "RebootRequired"
        assert (await plain.call("Reset", {"type": "Immediate"}))["status"] == "Accepted"
        boot = await tls.wait_for("BootNotification", timeout=5)
        assert boot["reason"] == "RemoteReset"
        await tls.wait_for(
            "SecurityEventNotification", lambda p: "security profile 1 -> 2" in p.get("techInfo", "")
        )
        st = sut.st
        assert st.dm.get("SecurityCtrlr", "SecurityProfile") == "2"
        assert st.dm.get("OCPPCommCtrlr", "ActiveNetworkProfile") == "2"
        assert st.dm.get("OCPPCommCtrlr", "NetworkConfigurationPriority") == "2"
        from josev.ocpp.security import profiles

        assert sorted(profiles(st)) == [2]  # A05.FR.06: the profile-1 slot is gone
        # a downgrade is refused
        res = await tls.call(
            "SetNetworkProfile",
            {
                "configurationSlot": 1,
                "connectionData": {**conn, "securityProfile": 1, "ocppCsmsUrl": plain.url},
            },
        )
        assert res["status"] == "Rejected"
    finally:
        await sut.close()
        await plain.stop()
        await tls.stop()
