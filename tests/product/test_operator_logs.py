"""What an operator reads: a demo-like session (the demo station: sim board, every service, SLAC over AF_PACKET
through the PLC emulator, ISO 15118-2 over IPv6, OCPP to the CSMS stand-in) logs one INFO line per event, in
order, with its values, and structured fields in JSON lines; no password, key or TLS secret at any level."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from josev import netlab
from tests.conftest import ROOT
from tests.product.operator_session import PASSWORD

pytestmark = pytest.mark.skipif(not netlab.can_create_namespaces(), reason="needs network namespaces")


def _session(tmp_path: Path, level: str) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    logfile = tmp_path / f"{level}.jsonl"
    out = subprocess.run(
        [sys.executable, "-m", "tests.product.operator_session", str(logfile), level],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in logfile.read_text().splitlines()]
    return records, summary, logfile.read_text() + out.stderr


def test_info_lines_tell_the_session(tmp_path: Path) -> None:
    records, summary, _ = _session(tmp_path, "info")
    basic, hlc = summary["sessions"]
    ours = [r for r in records if r["logger"].startswith("josev.") and r["logger"] != "josev.sim.csms"]
    assert all("\n" not in r["msg"] for r in ours)
    events = [r for r in ours if "event" in r]

    def seq(*names: str, start: int = 0) -> list[dict[str, Any]]:
        """The first records with these events, in this order, from ``start``."""
        found, i = [], start
        for name in names:
            while events[i]["event"] != name:
                i += 1
            found.append(events[i])
            i += 1
        return found

    ready = {r["service"] for r in events if r["event"] == "service_ready"}
    assert ready == {"system", "hal", "coordinator", "slac", "secc", "ocpp"}
    (connected,) = seq("csms_connected")
    assert (
        connected["msg"].startswith("CSMS connected: ws://127.0.0.1:") and connected["security_profile"] == 1
    )

    # basic PWM session: plugged, authorized at the CSMS, charging, stopped, ended with the billed energy
    plugged, auth, authorized, started, stopped, ended = seq(
        "ev_plugged", "authorization", "authorized", "charging_started", "charging_stopped", "session_ended"
    )
    sid = plugged["session_id"]
    assert plugged["msg"] == f"EVSE 1: EV plugged in, session {sid}"
    assert auth["msg"] == "EVSE 1: token 04DEMOCARD01 Accepted (csms)" and auth["status"] == "Accepted"
    assert authorized["msg"] == "EVSE 1: session authorized by ocpp, token 04DEMOCARD01"
    assert started["msg"] == "EVSE 1: charging started" and started["session_id"] == sid
    assert stopped["energy_wh"] > 0
    assert ended["session_id"] == sid and ended["reason"] == "ev_disconnected"
    assert ended["energy_wh"] == pytest.approx(basic["energy_wh"], abs=0.05)
    assert ended["msg"] == f"EVSE 1: session {sid} ended (ev_disconnected): {ended['energy_wh']} Wh delivered"

    # ISO 15118-2 session: SLAC matched, V2G session with protocol and payment, charging, ended with energy
    second = events.index(ended) + 1
    plugged2, matched, v2g, payment, _started2, ended2 = seq(
        "ev_plugged", "slac_matched", "v2g_session_started", "v2g_payment", "charging_started", "session_ended",
        start=second,
    )  # fmt: skip
    assert matched["msg"].startswith("EVSE 1: SLAC matched with EV modem ") and matched["ev_mac"]
    assert v2g["protocol"] == "iso2"
    assert v2g["msg"] == f"EVSE 1: ISO 15118-2 session {v2g['session_id']} started (EVCC 020000000001)"
    assert payment["msg"] == "EVSE 1: EV asks for authorization, payment ExternalPayment"
    assert ended2["session_id"] == plugged2["session_id"] != sid
    assert ended2["energy_wh"] == pytest.approx(hlc["energy_wh"], abs=0.05) and ended2["energy_wh"] > 0
    assert [r["service"] for r in events if r["event"] == "service_stopped"]


def test_no_secret_at_any_level(tmp_path: Path) -> None:
    """At DEBUG websockets logs the CSMS request headers; the Basic-auth header is redacted, and neither the
    password, its base64 form nor any private key of the station's PKI appears anywhere."""
    records, summary, text = _session(tmp_path, "debug")
    assert any(r["level"] == "debug" for r in records)
    basic = base64.b64encode(f"josev-demo:{PASSWORD}".encode()).decode()
    assert PASSWORD not in text
    assert basic not in text
    assert "PRIVATE KEY" not in text
    assert summary["secrets"], "the PKI has private keys to look for"
    leaked = [s for s in summary["secrets"] if s in text]
    assert leaked == []
    # the header was logged (websockets, DEBUG) and redacted: this test would see it otherwise
    assert "Authorization: <redacted>" in text
