"""Smaller OCPP defects of issue 22, each against the real OCPP client and a scripted CSMS over a real WebSocket:

* a security event was sent twice when the station closed the connection itself (password change: the event
  was in flight when it reconnected, so it went again on the new connection);
* the CSMS roots of the configuration (``csms_root_certificates``) were missing from GetInstalledCertificateIds;
* a transaction started on plug-in reported chargingState Idle in ``Started`` (the cable is connected:
  EVConnected), followed by an Updated for the same change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.ocpp.conftest import StationUnderTest, make_config
from tests.ocpp.harness import ScriptedCsms


async def test_security_event_sent_once_when_the_station_reconnects(
    csms: ScriptedCsms, tmp_path: Path
) -> None:
    sut = StationUnderTest(make_config(tmp_path, csms.url))
    await sut.start()
    try:
        await csms.wait_for("BootNotification")
        res = await csms.call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                        "attributeValue": "Another-Passw0rd-1234",
                    }
                ]
            },
        )
        assert res["setVariableResult"][0]["attributeStatus"] == "Accepted"
        await csms.wait_connected(count=2, timeout=10)
        await csms.wait_for(
            "SecurityEventNotification", lambda p: p["type"] != "StartupOfTheDevice", timeout=5
        )
        await asyncio.sleep(1.5)  # time for a duplicate to arrive on the new connection
        events = [(p["type"], p["timestamp"]) for p in csms.actions("SecurityEventNotification")]
        assert len(events) == len(set(events)), events
    finally:
        await sut.close()


def make_root(tmp_path: Path) -> tuple[Path, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CSMS Root")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234ABCD)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "csms-root.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert


async def test_configured_csms_roots_are_installed_certificates(csms: ScriptedCsms, tmp_path: Path) -> None:
    path, cert = make_root(tmp_path)
    sut = StationUnderTest(make_config(tmp_path, csms.url, csms_root_certificates=[path]))
    await sut.start()
    try:
        await csms.wait_for("BootNotification")
        res = await csms.call("GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]})
        assert res["status"] == "Accepted", res
        chain = res["certificateHashDataChain"]
        assert len(chain) == 1 and chain[0]["certificateType"] == "CSMSRootCertificate", chain
        h = chain[0]["certificateHashData"]
        assert int(h["serialNumber"], 16) == 0x1234ABCD
        assert h["issuerNameHash"] == hashlib.sha256(cert.issuer.public_bytes()).hexdigest()
        # the CSMS may delete it; it stays deleted after a restart (the file is imported once)
        res = await csms.call("DeleteCertificate", {"certificateHashData": h})
        assert res["status"] == "Accepted", res
    finally:
        await sut.close()
    sut = StationUnderTest(make_config(tmp_path, csms.url, csms_root_certificates=[path]))
    await sut.start()
    try:
        await csms.wait_for("BootNotification", count=2)
        res = await csms.call("GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]})
        assert res["status"] == "NotFound", res
    finally:
        await sut.close()


async def test_started_on_plug_in_is_ev_connected(csms: ScriptedCsms, tmp_path: Path) -> None:
    sut = StationUnderTest(make_config(tmp_path, csms.url, variables={"TxCtrlr/TxStartPoint": "EVConnected"}))
    await sut.start()
    try:
        await csms.wait_for("BootNotification")
        await sut.feed("plug", 1, 1, True)
        # what the coordinator reports right after a plug-in
        await sut.feed("charging_state", 1, "EVConnected")
        started = await csms.wait_for("TransactionEvent", timeout=5)
        assert started["eventType"] == "Started" and started["triggerReason"] == "CablePluggedIn"
        assert started["transactionInfo"]["chargingState"] == "EVConnected", started
        await sut.feed("charging_state", 1, "Charging")
        await csms.wait_for("TransactionEvent", count=2, timeout=5)
        evs = csms.actions("TransactionEvent")
        states = [e["transactionInfo"].get("chargingState") for e in evs]
        assert states == ["EVConnected", "Charging"], [
            (e["triggerReason"], s) for e, s in zip(evs, states, strict=True)
        ]
    finally:
        await sut.close()
