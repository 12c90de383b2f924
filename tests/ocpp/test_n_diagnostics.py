"""OCTT group N (diagnostics): TC_N_25/N_26 (GetLog SecurityLog / DiagnosticsLog uploaded over HTTP(S) with
Uploading/Uploaded, UploadFailure after retries), TC_N_32..N_34 (CustomerInformation report and clear)."""

from __future__ import annotations

from pathlib import Path

from tests.ocpp.conftest import StationUnderTest
from tests.ocpp.harness import ScriptedCsms
from tests.ocpp.httpd import FileServer


async def test_tc_n_25_n_26_get_log_upload(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("SecurityEventNotification")
    http = FileServer()
    try:
        res = await csms.call(
            "GetLog",
            {"logType": "SecurityLog", "requestId": 5, "log": {"remoteLocation": http.url("/upload")}},
        )
        assert res == {"status": "Accepted", "filename": "security-5.log"}
        await csms.wait_for("LogStatusNotification", lambda p: p["status"] == "Uploaded", timeout=5)
        assert [p["status"] for p in csms.actions("LogStatusNotification")] == ["Uploading", "Uploaded"]
        path, body, ctype = http.uploads[0]
        assert path == "/upload" and ctype.startswith("multipart/form-data")
        assert b'filename="security-5.log"' in body and b"StartupOfTheDevice" in body
        res = await csms.call(
            "GetLog",
            {
                "logType": "DiagnosticsLog",
                "requestId": 6,
                "retries": 1,
                "retryInterval": 0,
                "log": {"remoteLocation": "http://127.0.0.1:1/x"},
            },
        )
        assert res["status"] == "Accepted"
        await csms.wait_for("LogStatusNotification", lambda p: p["status"] == "UploadFailure", timeout=5)
        assert [p["status"] for p in csms.actions("LogStatusNotification") if p["requestId"] == 6] == [
            "Uploading",
            "Uploading",
            "UploadFailure",
        ]
    finally:
        http.close()


async def test_tc_n_32_customer_information(
    csms: ScriptedCsms, station: StationUnderTest, tmp_path: Path
) -> None:
    tok = {"idToken": "CUST", "type": "ISO14443"}
    await station.feed("present_token", 1, tok)
    await csms.wait_for("Authorize")
    assert (await csms.call("CustomerInformation", {"requestId": 1, "report": True, "clear": False}))[
        "status"
    ] == "Invalid"
    res = await csms.call(
        "CustomerInformation", {"requestId": 2, "report": True, "clear": True, "idToken": tok}
    )
    assert res["status"] == "Accepted"
    rep = await csms.wait_for("NotifyCustomerInformation")
    assert "authorization cache" in rep["data"] and rep["requestId"] == 2 and rep["tbc"] is False
    assert station.st.store.cache_get("ISO14443:CUST", 0) is None


async def test_security_log_time_window(csms: ScriptedCsms, station: StationUnderTest) -> None:
    await csms.wait_for("SecurityEventNotification")
    http = FileServer()
    try:
        res = await csms.call(
            "GetLog",
            {
                "logType": "SecurityLog",
                "requestId": 8,
                "log": {
                    "remoteLocation": http.url("/up"),
                    "oldestTimestamp": "2000-01-01T00:00:00Z",
                    "latestTimestamp": "2001-01-01T00:00:00Z",
                },
            },
        )
        assert res["status"] == "Accepted"
        await csms.wait_for("LogStatusNotification", lambda p: p["status"] == "Uploaded", timeout=5)
        assert b"StartupOfTheDevice" not in http.uploads[0][1]
    finally:
        http.close()
