"""OCTT group M (certificate management within Core): TC_M_01..M_05 (InstallCertificate of CSMS and
manufacturer roots, expired / non-CA certificates rejected), TC_M_12..M_15 (GetInstalledCertificateIds with and
without a type filter, NotFound), TC_M_20..M_24 (DeleteCertificate, NotFound, the last CSMS root kept while TLS
is in use)."""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography.hazmat.primitives import serialization

from josev.ocpp.security import hash_data
from tests.ocpp.conftest import StationUnderTest
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.pki import make_cert


async def test_tc_m_install_get_delete(csms: ScriptedCsms, station: StationUnderTest) -> None:
    csms_root = make_cert("CSMS Root", ca=True)
    mf_root = make_cert("Manufacturer Root", ca=True)
    leaf = make_cert("leaf", csms_root)
    expired = make_cert("Old Root", ca=True, not_before=dt.datetime(2001, 1, 1, tzinfo=dt.UTC), days=10)
    assert (await csms.call("GetInstalledCertificateIds", {}))["status"] == "NotFound"
    for typ, cert, want in [
        ("CSMSRootCertificate", csms_root, "Accepted"),
        ("ManufacturerRootCertificate", mf_root, "Accepted"),
        ("CSMSRootCertificate", leaf, "Rejected"),
        ("CSMSRootCertificate", expired, "Rejected"),
    ]:
        res = await csms.call("InstallCertificate", {"certificateType": typ, "certificate": cert.pem})
        assert res["status"] == want, typ
    res = await csms.call(
        "InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": "junk"}
    )
    assert res["status"] == "Rejected"
    res = await csms.call("GetInstalledCertificateIds", {"certificateType": ["ManufacturerRootCertificate"]})
    assert res["status"] == "Accepted"
    [entry] = res["certificateHashDataChain"]
    h = entry["certificateHashData"]
    assert h == hash_data(mf_root.cert)
    assert h["issuerNameHash"] == hashlib.sha256(mf_root.cert.issuer.public_bytes()).hexdigest()
    raw_key = mf_root.key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert h["issuerKeyHash"] == hashlib.sha256(raw_key).hexdigest()
    assert int(h["serialNumber"], 16) == mf_root.cert.serial_number
    all_ids = await csms.call("GetInstalledCertificateIds", {})
    assert len(all_ids["certificateHashDataChain"]) == 2
    v = await csms.call(
        "GetVariables",
        {
            "getVariableData": [
                {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "CertificateEntries"}}
            ]
        },
    )
    assert v["getVariableResult"][0]["attributeValue"] == "2"
    assert (await csms.call("DeleteCertificate", {"certificateHashData": h}))["status"] == "Accepted"
    assert (await csms.call("DeleteCertificate", {"certificateHashData": h}))["status"] == "NotFound"
    # the only CSMS root cannot be deleted while the station uses TLS
    station.st.dm.put("SecurityCtrlr", "SecurityProfile", "2")
    h2 = hash_data(csms_root.cert)
    assert (await csms.call("DeleteCertificate", {"certificateHashData": h2}))["status"] == "Failed"
    station.st.dm.put("SecurityCtrlr", "SecurityProfile", "1")
    assert (await csms.call("DeleteCertificate", {"certificateHashData": h2}))["status"] == "Accepted"
