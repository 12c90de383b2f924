"""The operator's log lines on their own: faults with their cause (once, and when they clear), firmware and
security events, why a CSMS connection failed, URLs without credentials, and the JSON-lines fields."""

from __future__ import annotations

import json
import logging
import ssl
from types import SimpleNamespace

import pytest

from josev import logs
from josev.observability import oplog


def records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, dict[str, object]]]:
    return [(r.levelname, r.getMessage(), getattr(r, "fields", {})) for r in caplog.records]


def test_faults_are_logged_once_with_cause_and_when_cleared(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("josev.test_oplog.faults")
    with caplog.at_level(logging.INFO):
        oplog.faults(log, 2, [], "idle")
        oplog.faults(log, 2, ["rcd_trip"], "faulted")
        oplog.faults(log, 2, ["rcd_trip"], "faulted")  # unchanged: no line
        oplog.faults(log, 2, ["rcd_trip", "contactor_welded"], "faulted")
        oplog.faults(log, 2, [], "idle")
    assert [(lvl, msg) for lvl, msg, _ in records(caplog)] == [
        ("WARNING", "EVSE 2: fault rcd_trip (state faulted)"),
        ("WARNING", "EVSE 2: fault contactor_welded (state faulted)"),
        ("INFO", "EVSE 2: fault contactor_welded cleared"),
        ("INFO", "EVSE 2: fault rcd_trip cleared"),
    ]
    assert records(caplog)[0][2] == {"event": "fault", "evse": 2, "fault": "rcd_trip", "state": "faulted"}


def test_firmware_and_security_events(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("josev.test_oplog.fw")
    with caplog.at_level(logging.INFO):
        oplog.firmware_status(log, "Downloading", 7)
        oplog.firmware_status(log, "InvalidSignature", 7)
        oplog.security_event(log, "InvalidCsmsCertificate", "certificate verify failed")
    assert [(lvl, msg) for lvl, msg, _ in records(caplog)] == [
        ("INFO", "firmware update Downloading (request 7)"),
        ("WARNING", "firmware update InvalidSignature (request 7)"),
        ("INFO", "security event InvalidCsmsCertificate: certificate verify failed"),
    ]


def test_connect_reasons_are_never_empty() -> None:
    assert oplog.connect_reason(TimeoutError()) == "no answer from the CSMS in time (timeout)"
    assert oplog.connect_reason(ConnectionRefusedError(111, "x")) == (
        "connection refused (nothing listens at that address and port)"
    )
    assert oplog.connect_reason(OSError(113, "No route to host")) == "No route to host (EHOSTUNREACH)"
    http = SimpleNamespace(response=SimpleNamespace(status_code=404))
    assert oplog.connect_reason(http) == "the CSMS answered HTTP 404 (wrong URL path?)"  # type: ignore[arg-type]
    cert = ssl.SSLCertVerificationError(1, "verify failed")
    cert.verify_message = "self-signed certificate"
    assert oplog.connect_reason(cert) == "TLS: the CSMS certificate is not trusted (self-signed certificate)"
    assert oplog.connect_reason(ConnectionError()) == "ConnectionError"  # before: "" -> "failed ()"


def test_urls_lose_their_credentials() -> None:
    assert oplog.safe_url("wss://cs:secret@csms.example:443/ocpp") == "wss://csms.example:443/ocpp"
    assert oplog.safe_url("ws://csms/ocpp") == "ws://csms/ocpp"


def test_json_lines_carry_the_fields_and_no_secret() -> None:
    logs.secret("JsonLinesPassw0rd-123", "CS-1")
    record = logging.LogRecord("josev.x", logging.INFO, __file__, 1, "EVSE %d: %s", (1, "x"), None)
    record.fields = {"event": "charging_stopped", "evse": 1, "energy_wh": 9.3}
    line = json.loads(logs.JsonLines().format(record))
    assert line["event"] == "charging_stopped" and line["energy_wh"] == 9.3 and line["msg"] == "EVSE 1: x"
    secret = logging.LogRecord(
        "websockets.client", logging.DEBUG, __file__, 1, "> %s: %s", ("Authorization", "Basic abc"), None
    )
    logs.Redactor().filter(secret)
    assert secret.getMessage() == "> Authorization: <redacted>"
    plain = logging.LogRecord("x", logging.DEBUG, __file__, 1, "pw JsonLinesPassw0rd-123 end", None, None)
    logs.Redactor().filter(plain)
    assert plain.getMessage() == "pw <redacted> end"
