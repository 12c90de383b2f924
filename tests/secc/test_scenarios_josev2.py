"""The rest of the built-in station scenarios against the open-source Josev EV (PyPI ``iso15118`` in
``.venv-peers``, its own process) across a veth pair between two network namespaces, over real SDP/TCP/TLS/EXI,
the way a user runs them (``josev station --sim --scenario NAME``): a late answer within the timeout, emergency
shutdown, limit step, renegotiation, dropped TCP, dropped PLC link, isolation fault, -20 WARNING, TLS-only and
TLS 1.3-only. Each test asserts what the EV did (its log, the station's) and the conformance report's reaction
finding by value; where this EV goes against the standard the test asserts the violation (docs/ev-testing.md,
"what the bench found"). Runs one station per scenario; a dropped connection or link waits for the EV's next
session on the same station."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from josev.pki import create
from josev.v2g.codec import exi_available
from tests.util.netns import NetnsLab

from .josev_peer import PEERS, ROOT, peer_missing, read_until, stop
from .test_scenarios_josev import DIN, ISO2_DC, ISO20_DC, reaction, stamps

pytestmark = [pytest.mark.netns, pytest.mark.interop, pytest.mark.slow]

ENDED = re.compile(rb"session ended: (\S+)")


@dataclass
class Run:
    """The station's session ends (reasons, in order), both logs and the scenario records of the sessions."""

    ended: list[bytes]
    station_log: str
    ev_log: str
    recs: list[dict[str, Any]]

    @property
    def detail(self) -> str:
        return self.station_log[-4000:] + "\n--- EV ---\n" + self.ev_log[-6000:]

    def actions(self) -> list[tuple[str, str]]:
        return [(a["kind"], a["detail"]) for rec in self.recs for a in rec["actions"]]


async def run(
    lab: NetnsLab,
    tmp: Path,
    scenario: str,
    cfg: dict[str, Any],
    *,
    sessions: int = 1,
    pki: bool = False,
    iso20: bool = False,
    wait_s: float = 60.0,
    after_s: float = 1.0,
    until_ev: str | None = None,
) -> Run:
    """``josev station --sim --slac off --scenario SCENARIO`` in one namespace, the Josev EVCC with ``cfg`` in
    the other, until the station logged ``sessions`` session ends (with ``until_ev``: until the EV logged that
    text), at most ``wait_s``; then both are stopped."""
    if reason := exi_available():
        pytest.skip(reason)
    if reason := peer_missing():
        pytest.skip(reason)
    logs = tmp / "v2g"
    config = {"isCertInstallNeeded": False, "useTls": False, "chargeLoopCycle": 6, **cfg}
    args = ["--modes", "dc", "--scenario", scenario, "--v2g-log-dir", str(logs)]
    env: dict[str, str] = {}
    if pki or iso20:
        create(tmp / "pki", ("iso2", "iso20-p521"), josev_layout=True)
        args += ["--pki", str(tmp / "pki")]
    if iso20:  # the peer's simulated -20 DC EV asks for 20 kV: clamp it to the EVSE maximum
        config.update(useTls=True, enforceTls=True)
        args += ["--tls", "both", "--lenient-targets"]
        env["ENABLE_TLS_1_3"] = "True"
    st_ns, ev_ns = lab.netns("st"), lab.netns("ev")
    pair = lab.veth(st_ns, ev_ns)
    (tmp / "evcc.json").write_text(json.dumps({"sdpRetryCycles": 3, **config}))
    station = await asyncio.create_subprocess_exec(
        *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
        *("--iface", pair.a, "--slac", "off", *args),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    ev = None
    st_log: list[bytes] = []
    ev_log: list[bytes] = []
    ev_reader = None
    ended: list[bytes] = []
    try:
        assert station.stdout is not None and station.stderr is not None
        ready = await asyncio.wait_for(station.stdout.readline(), 30)
        assert ready.startswith(b"station ready"), ready
        peer_env = {
            "PATH": os.environ.get("PATH", ""),
            "NETWORK_INTERFACE": pair.b,
            "EVCC_CONFIG_PATH": str(tmp / "evcc.json"),
            "PKI_PATH": str(tmp / "pki" / "josev") + "/",
            "LOG_LEVEL": "INFO",
            "MESSAGE_LOG_JSON": "False",
            **env,
        }
        ev = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", ev_ns.name, "env", *[f"{k}={v}" for k, v in peer_env.items()]),
            *(str(PEERS), "-m", "iso15118.evcc.main"),
            cwd=tmp,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert ev.stdout is not None
        ev_reader = asyncio.create_task(read_until(ev.stdout, re.compile(rb"^$ never"), ev_log, wait_s + 30))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while until_ev is not None and loop.time() < deadline:
            if until_ev.encode() in b"".join(ev_log):
                break
            await asyncio.sleep(0.1)
        while until_ev is None and len(ended) < sessions and (left := deadline - loop.time()) > 0:
            m = await read_until(station.stderr, ENDED, st_log, left)
            if m is None:
                break
            ended.append(m.group(1))
        await asyncio.sleep(after_s)
    finally:
        if ev is not None:
            await stop(ev)
        await stop(station)
        if station.stderr is not None:
            st_log.append(await station.stderr.read())  # the rest of its log
    if ev_reader is not None:
        await asyncio.wait_for(ev_reader, 5)
    paths = sorted(logs.glob("*.scenario.json"))
    recs = [json.loads(p.read_text()) for p in paths]
    for rec, path in zip(recs, paths, strict=True):
        rec["report"] = path.with_name(path.name.removesuffix(".scenario.json") + ".report.json")
    return Run(
        ended, b"".join(st_log).decode(errors="replace"), b"".join(ev_log).decode(errors="replace"), recs
    )


def findings(recs: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    """The findings ``rule`` of the reports of the run's sessions, in session order."""
    out: list[dict[str, Any]] = []
    for rec in recs:
        path: Path = rec["report"]
        deadline = time.monotonic() + 20.0
        while not path.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        out += [f for f in json.loads(path.read_text())["reactions"] if f["rule"] == rule]
    return out


async def test_emergency_shutdown_din(netns_lab: NetnsLab, tmp_path: Path) -> None:
    r = await run(netns_lab, tmp_path, "emergency-shutdown", DIN)
    assert r.actions() == [("status", "EVSEStatusCode EVSE_EmergencyShutdown")], r.detail
    assert r.ended == [b"terminate"], r.detail
    # its next request after the 3rd CurrentDemandRes is PowerDelivery (stop): welding detection, SessionStop
    assert r.ev_log.count("CurrentDemandRes received") == 3, r.detail
    sent = re.findall(r"Sent (\w+Req)", r.ev_log.split("CurrentDemandRes received")[-1])
    assert sent[0] == "PowerDeliveryReq" and sent[-1] == "SessionStopReq", (sent, r.detail)
    assert "CurrentDemandReq" not in sent, (sent, r.detail)
    f = reaction(r.recs, "ev-stops-when-asked")
    assert (f["severity"], f["limit"], f["message_name"]) == ("ok", 2.0, "PowerDeliveryReq"), f
    assert 0.0 < f["value"] < 2.0 and "(EVSE_EmergencyShutdown)" in f["text"], f
    assert f["clause"].startswith("DIN SPEC 70121 9.4"), f


async def test_late_charge_loop_inside_din_the_ev_goes_on(netns_lab: NetnsLab, tmp_path: Path) -> None:
    r = await run(netns_lab, tmp_path, "late-charge-loop-inside", DIN)
    assert r.actions() == [("delay", "answered 0.15 s late (EV timeout 0.25 s, margin -0.1 s)")], r.detail
    assert r.ended == [b"terminate"], r.detail
    # it takes the late answer and goes on charging (5 charge loops with chargeLoopCycle 6 in DIN)
    assert "TimeoutError" not in r.ev_log and r.ev_log.count("CurrentDemandRes received") >= 4, r.detail
    late = stamps(r.ev_log, "CurrentDemandRes received")[2] - stamps(r.ev_log, "Sent CurrentDemandReq")[2]
    assert late >= 0.15, r.detail  # (its log times include its EXI decoding: not a bound on its timeout)
    f = reaction(r.recs, "ev-accepts-late-response")
    assert (f["severity"], f["value"], f["limit"], f["message_name"]) == (
        "ok",
        0.15,
        0.25,
        "CurrentDemandReq",
    ), f
    assert f["clause"] == "DIN SPEC 70121 9.6.2 Table 75: V2G_EVCC_Msg_Timeout", f


async def test_limit_step_iso2(netns_lab: NetnsLab, tmp_path: Path) -> None:
    """The built-in 40 A step: this EV asks for 1 A all along (its simulated DC EV), so it is within at once; a
    step to 0.5 A (a scenario file) shows that it does not follow a lower maximum: it keeps asking for 1 A."""
    r = await run(netns_lab, tmp_path, "limit-step", ISO2_DC)
    assert r.actions() == [("limit", "current_a 40")], r.detail
    assert r.ended == [b"terminate"], r.detail
    f = reaction(r.recs, "ev-target-follows-limit")
    assert (f["severity"], f["value"], f["limit"], f["message_name"]) == (
        "ok",
        1.0,
        2.0,
        "CurrentDemandReq",
    ), f
    low = tmp_path / "low" / "limit-half-amp.toml"
    low.parent.mkdir()
    low.write_text(
        'description = "from the 3rd charge loop on, 0.5 A"\n\n'
        '[[action]]\nkind = "limit"\nrequest = "ChargeLoop"\nnth = 3\ncurrent_a = 0.5\n'
    )
    r = await run(netns_lab, low.parent, str(low), ISO2_DC)
    assert r.actions() == [("limit", "current_a 0.5")], r.detail
    f = reaction(r.recs, "ev-target-follows-limit")
    # all 3 of its charge-loop requests after the step (of its 6) still ask for 1 A (allowed: 2 to follow)
    assert (f["severity"], f["value"], f["limit"]) == ("error", 3.0, 2.0), f
    assert f["text"].endswith("(last: EVTargetCurrent 1 A > 0.5 A)"), f
    assert f["clause"].startswith("ISO 15118-2:2014 8.4"), f


async def test_renegotiate_iso2_the_ev_stops_instead(netns_lab: NetnsLab, tmp_path: Path) -> None:
    """This EV answers EVSENotification ReNegotiation by stopping (PowerDelivery Stop, SessionStop), not by
    renegotiating: the report's warning."""
    r = await run(netns_lab, tmp_path, "renegotiate", ISO2_DC)
    assert r.actions() == [("notify", "EVSENotification ReNegotiation")], r.detail
    assert r.ended == [b"terminate"], r.detail
    assert "ChargeParameterDiscoveryReq" not in r.ev_log.split("CurrentDemandRes received", 1)[1], r.detail
    f = reaction(r.recs, "ev-renegotiates-when-asked")
    assert (f["severity"], f["limit"], f["message_name"]) == ("warning", 2.0, "PowerDeliveryReq"), f
    assert 0.0 < f["value"] < 2.0 and "stopped (PowerDeliveryReq) instead of renegotiating" in f["text"], f


async def test_drop_tcp_din_the_ev_comes_back(netns_lab: NetnsLab, tmp_path: Path) -> None:
    r = await run(netns_lab, tmp_path, "drop-tcp", DIN, sessions=2)
    assert r.ended[0] == b"connection_lost", r.detail
    assert r.actions()[0] == ("close_tcp", "TCP connection dropped instead of answering"), r.detail
    # it sees the peer close, waits its 5 s before closing its side, then starts over with SDP
    assert "Reason: TCP peer closed connection" in r.ev_log, r.detail
    assert r.ev_log.count("Sending SDPRequest") == 2 and r.ev_log.count("TCP client connected") == 2, r.detail
    (f,) = findings(r.recs[:1], "ev-silent-after-link-drop")
    assert (f["severity"], f["message_name"], f["message"]) == ("ok", "CurrentDemandReq", None), f
    (f,) = findings(r.recs[1:2], "ev-reconnects-after-drop")
    assert (f["severity"], f["message_name"]) == ("ok", "SECCDiscoveryReq"), f
    assert 4.5 <= f["value"] < 10.0, f  # its 5 s wait
    assert "the EV began with SECCDiscoveryReq then supportedAppProtocolReq" in f["text"], f


async def test_drop_link_iso2_the_ev_comes_back(netns_lab: NetnsLab, tmp_path: Path) -> None:
    """The station's interface down for 3 s instead of the 3rd CurrentDemandRes (SLAC off: the veth is the
    link). This EV waits for the answer longer than V2G_EVCC_Msg_Timeout (see the ISO-2 late-answer test) and
    only gives up when the station resets the connection after the link is back; then it starts over."""
    r = await run(netns_lab, tmp_path, "drop-link", ISO2_DC, sessions=2)
    assert r.ended == [b"connection_lost", b"connection_lost"], r.detail  # the new session is dropped too
    assert r.actions()[0] == ("link_down", "link down for 3 s instead of answering"), r.detail
    gone = (
        stamps(r.ev_log, "Reason: TCP peer closed connection")[0]
        - stamps(r.ev_log, "Sent CurrentDemandReq")[2]
    )
    assert 2.9 <= gone < 5.0, r.detail
    assert "TimeoutError" not in r.ev_log, r.detail
    first, *_ = findings(r.recs[:1], "ev-silent-after-link-drop")
    assert (first["severity"], first["message_name"], first["message"]) == ("ok", "CurrentDemandReq", None), (
        first
    )
    (f,) = findings(r.recs[1:2], "ev-reconnects-after-drop")
    assert (f["severity"], f["message_name"]) == ("ok", "SECCDiscoveryReq"), f
    assert 7.5 <= f["value"] < 12.0, f  # the link's 3 s, then its 5 s wait


async def test_isolation_fault_din_the_ev_does_not_charge(netns_lab: NetnsLab, tmp_path: Path) -> None:
    r = await run(netns_lab, tmp_path, "isolation-fault", DIN)
    assert r.actions()[0] == ("status", "EVSEIsolationStatus Fault, ResponseCode OK -> FAILED"), r.detail
    assert r.ended == [b"connection_lost"], r.detail  # no SessionStop: it closes the connection
    first = r.ev_log.split(
        "Reason: Negative response code ResponseCode.FAILED received with message CableCheckRes"
    )
    assert len(first) >= 2, r.detail
    assert not re.search(r"Sent (PreCharge|PowerDelivery|CurrentDemand|SessionStop)Req", first[0]), r.detail
    f = reaction(r.recs[:1], "ev-stops-after-failed")
    assert (f["severity"], f["limit"], f["message_name"]) == ("ok", 2.0, "CableCheckReq"), f
    assert 0.0 <= f["value"] < 0.5 and "by closing the connection" in f["text"], f
    assert f["clause"].startswith("DIN SPEC 70121 9.6"), f


async def test_warning_authorization_iso20_the_ev_charges_anyway(netns_lab: NetnsLab, tmp_path: Path) -> None:
    """AuthorizationRes WARNING_EIMAuthorizationFailure: this EV goes on to charge (7 DC_ChargeLoop) and ends
    normally; the report has no rule for a WARNING code (an ``unknown-station-action`` info, by value)."""
    r = await run(netns_lab, tmp_path, "warning-authorization", ISO20_DC, iso20=True)
    assert r.actions() == [("code", "ResponseCode OK -> WARNING_EIMAuthorizationFailure")], r.detail
    assert r.ended == [b"terminate"], r.detail
    went_on = r.ev_log.split("AuthorizationRes received", 1)[1]
    assert "Sent ScheduleExchangeReq" in went_on and "Sent DC_CableCheckReq" in went_on, r.detail
    assert went_on.count("DC_ChargeLoopRes received") >= 2, r.detail
    (f,) = findings(r.recs, "unknown-station-action")
    assert (f["severity"], f["subject"], f["message_name"]) == ("info", "station", "AuthorizationReq"), f
    assert f["text"].startswith("no rule for the station action 'code' (AuthorizationReq)"), f
    assert findings(r.recs, "ev-stops-after-failed") == [], r.recs


async def test_tls_only_an_ev_without_tls_stops(netns_lab: NetnsLab, tmp_path: Path) -> None:
    """SDP answers TLS only; this EV (useTls false) stops at the SDP answer ("must switch or stop"): no TCP
    connection, so no V2G session and no report."""
    r = await run(netns_lab, tmp_path, "tls-only", ISO2_DC, pki=True, until_ev="Security mismatch")
    assert "Sending SDPRequest: [Security: NO_TLS, Protocol: TCP]" in r.ev_log, r.detail
    assert re.search(r"SDPResponse received: \[ IP address: \S+, Port: \d+ , Security: TLS ", r.ev_log), (
        r.detail
    )
    assert "Security mismatch, can't initiate communication session." in r.ev_log, r.detail
    assert "TCP client connected" not in r.ev_log and "Starting TLS client" not in r.ev_log, r.detail
    assert r.ended == [] and r.recs == [] and "TCP connection" not in r.station_log, r.detail


async def test_tls13_only_an_iso2_ev_over_tls12_fails(netns_lab: NetnsLab, tmp_path: Path) -> None:
    """Only TLS 1.3 offered: this ISO-2 EV (TLS 1.2, as ISO 15118-2 has it) gets its handshake refused and does
    not fall back to plain TCP."""
    cfg = {**ISO2_DC, "useTls": True}
    r = await run(
        netns_lab, tmp_path, "tls13-only", cfg, pki=True, until_ev="ConnectionResetError when trying"
    )
    assert "Sending SDPRequest: [Security: TLS, Protocol: TCP]" in r.ev_log, r.detail
    assert "Starting TLS client" in r.ev_log and "TCP client connected" not in r.ev_log, r.detail
    assert "Sent supportedAppProtocolReq" not in r.ev_log, r.detail
    assert re.search(
        r"TLS handshake with \S+ refused: TLS version not allowed: the peer's version is below the minimum",
        r.station_log,
    ), r.detail
    assert r.ended == [] and r.recs == [], r.detail
