"""OCTT group L (firmware, L01 secure update): TC_L_01 (signed firmware downloaded over HTTP, signature
verified, installed: Downloading, Downloaded, SignatureVerified, Installing, Installed and the FirmwareUpdated
security event), TC_L_02 (HTTPS download with retries after failures), TC_L_03 (invalid signature:
InvalidSignature + InvalidFirmwareSignature event), TC_L_05 (signing certificate not from the manufacturer
root: InvalidCertificate + InvalidFirmwareSigningCertificate event), TC_L_06 (download failure after
retries), install hook rebooting (InstallRebooting)."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

from tests.ocpp.conftest import StationUnderTest
from tests.ocpp.harness import ScriptedCsms, now_iso
from tests.ocpp.httpd import FileServer
from tests.ocpp.pki import make_cert, sign

IMAGE = b"josev firmware image " * 1000


def fw_statuses(csms: ScriptedCsms, rid: int) -> list[str]:
    return [p["status"] for p in csms.actions("FirmwareStatusNotification") if p.get("requestId") == rid]


async def install_root(csms: ScriptedCsms) -> Any:
    mf_root = make_cert("Manufacturer Root", ca=True)
    res = await csms.call(
        "InstallCertificate", {"certificateType": "ManufacturerRootCertificate", "certificate": mf_root.pem}
    )
    assert res["status"] == "Accepted"
    return mf_root


def request(rid: int, url: str, signer: Any, data: bytes = IMAGE, retries: int = 2) -> dict[str, Any]:
    return {
        "requestId": rid,
        "retries": retries,
        "retryInterval": 0,
        "firmware": {
            "location": url,
            "retrieveDateTime": now_iso(),
            "signingCertificate": signer.pem,
            "signature": base64.b64encode(sign(data, signer)).decode(),
        },
    }


async def test_tc_l_01_l_03_l_05_signed_update(csms: ScriptedCsms, station: StationUnderTest) -> None:
    mf_root = await install_root(csms)
    signer = make_cert("Firmware Signer", mf_root)
    http = FileServer()
    http.files["/fw.bin"] = IMAGE
    try:
        res = await csms.call("UpdateFirmware", request(1, http.url("/fw.bin"), signer))
        assert res["status"] == "Accepted"
        await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installed", timeout=5)
        assert fw_statuses(csms, 1) == [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "Installed",
        ]
        assert (station.cfg.workdir / "installed.bin").read_bytes() == IMAGE
        await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "FirmwareUpdated")
        # wrong signature
        bad = request(2, http.url("/fw.bin"), signer, data=b"other data")
        assert (await csms.call("UpdateFirmware", bad))["status"] == "Accepted"
        await csms.wait_for(
            "FirmwareStatusNotification", lambda p: p["status"] == "InvalidSignature", timeout=5
        )
        assert fw_statuses(csms, 2) == ["Downloading", "Downloaded", "InvalidSignature"]
        await csms.wait_for("SecurityEventNotification", lambda p: p["type"] == "InvalidFirmwareSignature")
        # signing certificate from another root
        rogue = make_cert("Rogue Signer", make_cert("Rogue Root", ca=True))
        res = await csms.call("UpdateFirmware", request(3, http.url("/fw.bin"), rogue))
        assert res["status"] == "InvalidCertificate"
        await csms.wait_for(
            "SecurityEventNotification", lambda p: p["type"] == "InvalidFirmwareSigningCertificate"
        )
        # unsigned firmware is refused
        unsigned = request(4, http.url("/fw.bin"), signer)
        del unsigned["firmware"]["signature"]
        assert (await csms.call("UpdateFirmware", unsigned))["status"] == "Rejected"
    finally:
        http.close()


async def test_tc_l_02_l_06_https_retries_and_failure(
    tmp_path: Path, csms: ScriptedCsms, station: StationUnderTest
) -> None:
    mf_root = await install_root(csms)
    signer = make_cert("Firmware Signer", mf_root)
    tls_root = make_cert("CSMS Root", ca=True)
    leaf = make_cert("localhost", tls_root, san=["localhost"])
    res = await csms.call(
        "InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": tls_root.pem}
    )
    assert res["status"] == "Accepted"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c, k = leaf.write(tmp_path, "srv")
    ctx.load_cert_chain(c, k)
    https = FileServer(ctx)
    https.files["/fw.bin"] = IMAGE
    https.fail_gets = 2
    try:
        assert (await csms.call("UpdateFirmware", request(10, https.url("/fw.bin"), signer)))[
            "status"
        ] == "Accepted"
        await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installed", timeout=5)
        assert fw_statuses(csms, 10) == [
            "Downloading",
            "Downloading",
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "Installed",
        ]
        res = await csms.call("UpdateFirmware", request(11, https.url("/missing.bin"), signer, retries=1))
        assert res["status"] == "Accepted"
        await csms.wait_for(
            "FirmwareStatusNotification", lambda p: p["status"] == "DownloadFailed", timeout=5
        )
        assert fw_statuses(csms, 11) == ["Downloading", "Downloading", "DownloadFailed"]
    finally:
        https.close()


async def test_install_hook_reboots(csms: ScriptedCsms, station: StationUnderTest) -> None:
    async def hook(path: Path) -> str:
        return "InstallRebooting"

    station.client.install = hook
    mf_root = await install_root(csms)
    signer = make_cert("Firmware Signer", mf_root)
    http = FileServer()
    http.files["/fw.bin"] = IMAGE
    try:
        assert (await csms.call("UpdateFirmware", request(20, http.url("/fw.bin"), signer)))[
            "status"
        ] == "Accepted"
        boot = await csms.wait_for("BootNotification", count=2, timeout=5)
        assert boot["reason"] == "FirmwareUpdate"
        await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installed")
        assert fw_statuses(csms, 20) == [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "InstallRebooting",
            "Installed",
        ]
    finally:
        http.close()


async def test_install_scheduled(csms: ScriptedCsms, station: StationUnderTest) -> None:
    import datetime as dt

    mf_root = await install_root(csms)
    signer = make_cert("Firmware Signer", mf_root)
    http = FileServer()
    http.files["/fw.bin"] = IMAGE
    try:
        req = request(30, http.url("/fw.bin"), signer)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
        req["firmware"]["installDateTime"] = later.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        assert (await csms.call("UpdateFirmware", req))["status"] == "Accepted"
        await csms.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installed", timeout=6)
        assert fw_statuses(csms, 30) == [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "InstallScheduled",
            "Installing",
            "Installed",
        ]
        assert dt.datetime.now(dt.UTC) >= later - dt.timedelta(milliseconds=100)
    finally:
        http.close()
