"""A station process killed with ``kill -9`` while its CSR is outstanding: the key pair (0600, on disk) and the
CSR (in the database) survive; the restarted station repeats the same SignCertificate and installs the
CertificateSigned for it with the key generated before the kill."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import tests.ocpp.test_faults as faults
from tests.ocpp.conftest import FAST
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.pki import make_cert
from tests.ocpp.test_a_station_certificates import sign_csr


def read(path: Path) -> bytes:
    return path.read_bytes()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_kill9_with_outstanding_csr(tmp_path: Path, csms: ScriptedCsms) -> None:
    cfg = {
        "identity": "CS-KILL",
        "csms_url": csms.url,
        "database": str(tmp_path / "kill.sqlite"),
        "workdir": str(tmp_path / "work"),
        "serial_number": "SN-KILL",
        "evses": {"1": 1},
        "variables": {
            **FAST,
            "SecurityCtrlr/CertSigningWaitMinimum": "1",
            "SecurityCtrlr/CertSigningRepeatTimes": "5",
        },
    }
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    root = make_cert("CSMS Root", ca=True)
    csms.responders["SignCertificate"] = lambda p: {"status": "Accepted"}
    proc = faults.Proc(path)
    await proc.start()
    try:
        await csms.wait_for("BootNotification", timeout=10)
        await csms.wait_connected()
        res = await csms.call(
            "InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": root.pem}
        )
        assert res["status"] == "Accepted"
        await csms.call("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
        first = await csms.wait_for("SignCertificate")
        await proc.kill9()
        pending = tmp_path / "work" / "keys" / "cs.pending.key"
        assert mode(pending) == 0o600
        key_before = read(pending)
        await proc.start()
        await csms.wait_for("BootNotification", count=2, timeout=10)
        again = await csms.wait_for(
            "SignCertificate", lambda p: p["csr"] == first["csr"], count=2, timeout=10
        )
        assert again["certificateType"] == "ChargingStationCertificate"
        await csms.wait_connected(count=2)
        chain = sign_csr(first["csr"], root)
        res = await csms.call("CertificateSigned", {"certificateChain": chain})
        assert res["status"] == "Accepted"
        assert read(tmp_path / "work" / "keys" / "cs.key") == key_before
        assert (tmp_path / "work" / "keys" / "cs.pem").read_text() == chain
    finally:
        await proc.close()
