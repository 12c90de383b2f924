"""Station scenarios against our EV simulator (``josev ev``), over real sockets: ``josev station --sim --scenario``
in one network namespace, the EV in another, across a veth pair (SDP, TCP, TLS 1.2 / 1.3, EXI). Each test is
one station; the EV sessions in it are independent (a scenario counts requests per session, and its actions
can be limited to a protocol), so one station serves DIN, ISO-2 and -20 cars one after the other.

What is asserted is the EV's observable reaction (its outcome, the requests it sent, the values in them, the
time it gave up) and the station's record of what it did (``*.scenario.json`` next to each session's pcapng).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from josev.pki import create
from josev.v2g.codec import exi_available, make_codec
from josev.v2g.iso20.rational import rf
from josev.v2g.physical import to_float
from tests.util.netns import CAN_NETNS, Netns, NetnsLab

from .pcap import tcp_connections, v2gtp_payloads
from .stationproc import stop_station

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2", "iso20-p521"))
    return out


@dataclass
class Station:
    ev_ns: Netns
    iface: str
    pki: Path
    logs: Path
    log: Path
    seen: set[Path] = field(default_factory=set)

    async def ev(self, protocol: str, *extra: str, loops: int = 6) -> tuple[list[dict[str, Any]], float]:
        """Run one EV (``josev ev --json``): its session results and the wall time it exited."""
        proc = await asyncio.create_subprocess_exec(
            *(
                "ip",
                "netns",
                "exec",
                self.ev_ns.name,
                sys.executable,
                "-m",
                "josev.ev",
                "--iface",
                self.iface,
            ),
            *("--protocol", protocol, "--pki", str(self.pki), "--station-tls", "both", "--json"),
            *("--loops", str(loops), *extra),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        done = time.time()
        assert out, err.decode()[-3000:] + self.tail()
        results: list[dict[str, Any]] = json.loads(out)["results"]
        return results, done

    def records(self, n: int = 1) -> list[dict[str, Any]]:
        """The ``n`` session records (scenario.json) written since the last call, oldest first."""
        deadline = time.monotonic() + 5.0
        while True:
            new = sorted(set(self.logs.glob("*.scenario.json")) - self.seen)
            if len(new) >= n or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(new) == n, (new, self.tail())
        self.seen |= set(new)
        out = [json.loads(p.read_text()) for p in new]
        for rec, path in zip(out, new, strict=True):
            rec["pcapng"] = path.with_name(path.name.removesuffix(".scenario.json") + ".pcapng")
        return sorted(out, key=lambda r: r["started"])

    def tail(self) -> str:
        return "\n--- station ---\n" + self.log.read_text(errors="replace")[-3000:]


@asynccontextmanager
async def station(lab: NetnsLab, tmp: Path, pki: Path, scenario: str, *args: str) -> AsyncIterator[Station]:
    st_ns, ev_ns = lab.netns("st"), lab.netns("ev")
    pair = lab.veth(st_ns, ev_ns)
    logs = tmp / "v2g"
    logs.mkdir(parents=True)
    log = tmp / "station.log"
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
            *("--iface", pair.a, "--slac", "off", "--stack", "lite", "--modes", "dc"),
            *("--tls", "both", "--pki", str(pki), "--v2g-log-dir", str(logs), "--scenario", scenario, *args),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    st = Station(ev_ns, pair.b, pki, logs, log)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.startswith(b"station ready"), (line, st.tail())
        yield st
    finally:
        assert await stop_station(proc) == 0, st.tail()


def report_of(rec: dict[str, Any]) -> dict[str, Any]:
    """The conformance report (``<capture>.report.json``) of the session of a scenario record."""
    pcapng: Path = rec["pcapng"]
    path = pcapng.with_name(pcapng.name.removesuffix(".pcapng") + ".report.json")
    deadline = time.monotonic() + 20.0
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def reaction(rec: dict[str, Any], kind: str) -> dict[str, Any]:
    """The report's one finding on the EV's reaction to the scenario's ``kind`` action (report kinds:
    ``late``, ``failed``, ``ongoing``, ``stop_charging``, ``limit``, ``renegotiate``, ``drop_link``)."""
    report = report_of(rec)
    acts = [i for i, a in enumerate(report["actions"]) if a["kind"] == kind]
    assert len(acts) == 1, report["actions"]
    found = [f for f in report["reactions"] if f["rule"] in RULES[kind]]
    assert len(found) == 1, report["reactions"]
    finding: dict[str, Any] = found[0]
    return finding


RULES = {
    "late": ("ev-stops-after-msg-timeout", "ev-ignored-msg-timeout", "ev-accepts-late-response"),
    "failed": ("ev-stops-after-failed", "ev-continued-after-failed"),
    "ongoing": ("ev-retries-after-ongoing",),
    "stop_charging": ("ev-stops-when-asked",),
    "limit": ("ev-target-follows-limit",),
    "renegotiate": ("ev-renegotiates-when-asked",),
    "drop_link": ("ev-silent-after-link-drop",),
    "reconnect": ("ev-reconnects-after-drop",),
}


def kinds(rec: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["kind"], a["request"]) for a in rec["actions"]]


def requests_in(pcapng: Path, schema: str, name: str) -> list[dict[str, Any]]:
    """The bodies of the EV's ``name`` requests in a session's pcapng (DIN / ISO-2 / -20 DC)."""
    deadline = time.monotonic() + 5.0
    while not pcapng.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    codec = make_codec("exi")
    (conn,) = tcp_connections(pcapng)
    out = []
    for ptype, payload in v2gtp_payloads(conn.client)[1:]:  # after supportedAppProtocolReq
        if schema == "iso20-dc":  # one V2GTP payload type per -20 message set
            if ptype != 0x8004:
                continue
            body = codec.decode(schema, payload)
        else:
            body = codec.decode(schema, payload)["V2G_Message"]["Body"]
        if name in body:
            out.append(body[name])
    return out


MIX_A = """
description = "late answers (DIN, -20), FAILED (ISO-2), Ongoing (-20): one station, three cars"

[[action]]
kind = "delay"
request = "CurrentDemand"
protocols = ["din"]
nth = 3
delay_s = 3.0

[[action]]
kind = "code"
request = "ChargeParameterDiscovery"
protocols = ["iso2"]
code = "FAILED"

[[action]]
kind = "ongoing"
request = "CableCheck"
protocols = ["iso20"]
for_s = 2.0

[[action]]
kind = "delay"
request = "ChargeLoop"
protocols = ["iso20"]
nth = 2
delay_s = 0.6
"""


async def test_late_answer_failed_code_and_ongoing(netns_lab: NetnsLab, tmp_path: Path, pki: Path) -> None:
    (tmp_path / "mix-a.toml").write_text(MIX_A)  # a user's own scenario file
    async with station(netns_lab, tmp_path, pki, str(tmp_path / "mix-a.toml")) as st:
        # DIN: the 3rd CurrentDemand is answered 3 s late; the EV (1 s timeout) gives up after 1 s
        (r,), exited = await st.ev("din", "--message-timeout", "1.0")
        (rec,) = st.records()
        assert kinds(rec) == [("delay", "CurrentDemand")], rec
        assert r["outcome"] == "failed" and r["detail"].startswith("TimeoutError"), r
        assert r["loops"] == 2 and r["messages"][-1] == "CurrentDemandReq", r
        gave_up = exited - rec["actions"][0]["t"]
        assert 1.0 <= gave_up < 2.8, gave_up  # at its own timeout, not when the late answer came
        # the report: answered 3 s late, beyond the standard's 0.25 s; the EV sent nothing more: right
        f = reaction(rec, "late")
        assert (f["severity"], f["rule"], f["limit"]) == ("ok", "ev-stops-after-msg-timeout", 0.25), f
        assert f["clause"] == "DIN SPEC 70121 9.6.2 Table 75: V2G_EVCC_Msg_Timeout", f

        # ISO-2: ChargeParameterDiscoveryRes FAILED: the EV ends the session there
        (r,), _ = await st.ev("iso2-dc", "--tls", "off")
        (rec,) = st.records()
        assert [a["detail"] for a in rec["actions"]] == ["ResponseCode OK -> FAILED"], rec
        assert r["outcome"] == "failed" and r["detail"] == "ChargeParameterDiscoveryRes: FAILED", r
        assert r["messages"][-1] == "ChargeParameterDiscoveryReq" and r["loops"] == 0, r
        f = reaction(rec, "failed")  # it closed the connection at once: 0 s of the 2 s it has
        assert (f["severity"], f["rule"], f["limit"]) == ("ok", "ev-stops-after-failed", 2.0), f
        assert 0.0 <= f["value"] < 0.5 and f["clause"].startswith("ISO 15118-2:2014 8.8"), f

        # -20: DC_CableCheck answered Ongoing for 2 s: the EV keeps asking (every 50 ms), then charges
        t0 = time.monotonic()
        # ... and its 2nd DC_ChargeLoop answered 0.6 s late, inside the EV's 1 s timeout: it goes on
        (r,), _ = await st.ev("iso20-dc", "--message-timeout", "1.0")
        (rec,) = st.records()
        assert r["outcome"] == "finished" and r["loops"] == 6, r
        assert 600 <= r["latency_ms"]["DC_ChargeLoopReq"]["p99"] < 1000, r["latency_ms"]
        checks = r["messages"].count("DC_CableCheckReq")
        assert checks >= 10, r["messages"]
        assert time.monotonic() - t0 >= 2.0
        # the station's own cable check may still run when the 2 s are up: then it answers the rest itself
        first, last, late = (a["detail"] for a in rec["actions"])
        assert late == "answered 0.6 s late", rec
        assert first == "EVSEProcessing Ongoing for 2 s", rec
        assert last in (
            f"real answer after {checks - 1} repeated requests",
            f"back to the station after {checks - 1} repeated requests",
        ) or last.startswith("back to the station after"), rec
        assert rec["actions"][1]["t"] - rec["actions"][0]["t"] >= 2.0, rec
        assert [a["kind"] for a in rec["actions"]] == ["ongoing", "ongoing", "delay"], rec
        f = reaction(rec, "ongoing")  # it kept asking for the 2 s of the hold, within its 40 s timer
        assert (f["severity"], f["rule"], f["limit"]) == ("ok", "ev-retries-after-ongoing", 40.0), f
        assert 1.8 <= f["value"] < 3.0 and "V2G_EVCC_CableCheck_Timeout" in f["clause"], f
        assert f["message_name"] == "DC_PreChargeReq", f
        # 0.6 s late is beyond the standard's 0.5 s for DC_ChargeLoop: this EV, told to wait 1 s, went on
        f = reaction(rec, "late")
        assert (f["severity"], f["rule"], f["limit"]) == ("error", "ev-ignored-msg-timeout", 0.5), f
        assert (
            0.6 <= f["value"] < 1.0 and f["clause"] == "ISO 15118-20:2022 Table 215: V2G_EVCC_Msg_Timeout"
        ), f


async def test_pause_on_every_protocol(netns_lab: NetnsLab, tmp_path: Path, pki: Path) -> None:
    async with station(netns_lab, tmp_path, pki, "pause") as st:
        for protocol in ("din", "iso2-dc"):
            (r,), _ = await st.ev(protocol, "--tls", "off")
            (rec,) = st.records()
            assert [a["detail"] for a in rec["actions"]] == ["EVSENotification StopCharging"], rec
            # StopCharging after the 3rd loop: PowerDelivery Stop at once, then the normal end
            assert r["outcome"] == "finished" and r["loops"] == 3, r
            assert r["messages"][-3:] == ["PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"], r
            f = reaction(rec, "stop_charging")  # NotificationMaxDelay 0: its next request is the stop
            assert (f["severity"], f["rule"], f["limit"]) == ("ok", "ev-stops-when-asked", 2.0), f
            assert 0.0 < f["value"] < 0.5 and f["message_name"] == "PowerDeliveryReq", f
        results, _ = await st.ev("iso20-dc")
        recs = st.records(2)  # paused, then resumed (and paused again: the scenario acts in every session)
        assert [r["outcome"] for r in results] == ["paused", "paused"], results
        assert all(r["loops"] == 3 for r in results), results
        assert [a["detail"] for rec in recs for a in rec["actions"]] == ["EVSENotification Pause"] * 2
        for rec in recs:
            f = reaction(rec, "stop_charging")
            assert (f["severity"], f["limit"]) == ("ok", 2.0) and f["value"] < 0.5, f
            assert (
                f["clause"] == "ISO 15118-20:2022 8.3 (EVSEStatus EVSENotification, NotificationMaxDelay)"
            ), f


async def test_limit_step_the_ev_target_follows(netns_lab: NetnsLab, tmp_path: Path, pki: Path) -> None:
    async with station(netns_lab, tmp_path, pki, "limit-step") as st:
        for protocol, schema in (("din", "din"), ("iso2-dc", "iso2"), ("iso20-dc", "iso20-dc")):
            (r,), _ = await st.ev(protocol, *(() if schema == "iso20-dc" else ("--tls", "off")))
            assert r["outcome"] == "finished" and r["loops"] == 6, r
            (rec,) = st.records()
            assert [a["detail"] for a in rec["actions"]] == ["current_a 40"], rec
            if schema == "iso20-dc":  # EVTargetCurrent of the scheduled control mode, a RationalNumber
                loops = requests_in(rec["pcapng"], schema, "DC_ChargeLoopReq")
                targets = [
                    rf(v["EVTargetCurrent"]) for q in loops for k, v in q.items() if k.endswith("Mode")
                ]
            else:
                loops = requests_in(rec["pcapng"], schema, "CurrentDemandReq")
                targets = [to_float(q["EVTargetCurrent"]) for q in loops]
            # the 3rd answer carries 40 A: the EV asks for 40 A from its next request on
            # before the step the EV asks for its maximum (125 A) within the schedule the station offered: DIN's
            # PMax is a short in W, so at 400 V the DIN schedule allows 32767 W / 400 V = 81.92 A
            first = 81.92 if protocol == "din" else 125.0
            assert targets == [first, first, first, 40.0, 40.0, 40.0], (protocol, targets)
            f = reaction(rec, "limit")  # its first request after the step keeps within 40 A (of 2 allowed)
            assert (f["severity"], f["rule"], f["value"], f["limit"]) == (
                "ok",
                "ev-target-follows-limit",
                1.0,
                2.0,
            )
            assert "EVSEMaximum" in f["clause"], f


async def test_emergency_shutdown_and_renegotiation(netns_lab: NetnsLab, tmp_path: Path, pki: Path) -> None:
    async with station(netns_lab, tmp_path, pki, "emergency-shutdown") as st:
        for protocol in ("din", "iso2-dc"):
            (r,), _ = await st.ev(protocol, "--tls", "off")
            (rec,) = st.records()
            assert [a["detail"] for a in rec["actions"]] == ["EVSEStatusCode EVSE_EmergencyShutdown"], rec
            assert r["detail"] == "EVSE status EVSE_EmergencyShutdown" and r["loops"] == 3, r
            assert r["messages"][-3:] == ["PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"], r
            f = reaction(rec, "stop_charging")
            assert (f["severity"], f["limit"]) == ("ok", 2.0) and 0.0 < f["value"] < 0.5, f
            assert "EVSE_EmergencyShutdown" in f["text"], f
        (r,), _ = await st.ev("iso20-dc")
        (rec,) = st.records()
        assert rec["actions"][0]["detail"] == "EVSE_EmergencyShutdown: EVSENotification Terminate", rec
        f = reaction(rec, "stop_charging")
        assert (f["severity"], f["limit"]) == ("ok", 2.0) and 0.0 < f["value"] < 0.5, f
        assert r["loops"] == 3 and r["messages"][-3:] == [
            "PowerDeliveryReq",
            "DC_WeldingDetectionReq",
            "SessionStopReq",
        ]
    async with station(netns_lab, tmp_path / "reneg", pki, "renegotiate") as st:
        (r,), _ = await st.ev("iso2-dc", "--tls", "off")
        assert r["outcome"] == "finished" and r["renegotiations"] == 1, r
        assert r["messages"].count("ChargeParameterDiscoveryReq") == 2, r
        (r,), _ = await st.ev("iso20-dc")
        assert r["outcome"] == "finished" and r["renegotiations"] == 1, r
        assert r["messages"].count("ScheduleExchangeReq") == 2, r
        recs = st.records(2)
        assert [a["detail"] for rec in recs for a in rec["actions"]] == [
            "EVSENotification ReNegotiation",
            "EVSENotification ScheduleRenegotiation",
        ]
        for rec in recs:
            f = reaction(rec, "renegotiate")
            assert (f["severity"], f["rule"], f["limit"]) == ("ok", "ev-renegotiates-when-asked", 2.0), f
            assert f["value"] < 0.5, f


MIX_B = """
description = "dropped TCP (DIN), Ongoing CPD then isolation fault (ISO-2), WARNING (-20)"

[[action]]
kind = "close_tcp"
request = "CurrentDemand"
protocols = ["din"]
nth = 2

[[action]]
kind = "ongoing"
request = "ChargeParameterDiscovery"
protocols = ["iso2"]
for_s = 1.0

[[action]]
kind = "status"
request = "CableCheck"
protocols = ["iso2"]
isolation = "Fault"
code = "FAILED"

[[action]]
kind = "code"
request = "Authorization"
protocols = ["iso20"]
code = "WARNING_EIMAuthorizationFailure"
"""


async def test_drops_faults_and_warnings(netns_lab: NetnsLab, tmp_path: Path, pki: Path) -> None:
    (tmp_path / "mix-b.toml").write_text(MIX_B)
    async with station(netns_lab, tmp_path, pki, str(tmp_path / "mix-b.toml")) as st:
        (r,), _ = await st.ev("din")
        assert r["outcome"] == "failed" and r["loops"] == 1, r
        assert r["detail"] in ("SECC closed the connection",) or "Connection" in r["detail"], r
        (rec,) = st.records()
        assert kinds(rec) == [("close_tcp", "CurrentDemand")]
        f = reaction(rec, "drop_link")
        assert (f["severity"], f["rule"]) == ("ok", "ev-silent-after-link-drop"), f
        # ISO-2: ChargeParameterDiscovery Ongoing for 1 s (the EV keeps asking), then CableCheck finds a fault
        (r,), _ = await st.ev("iso2-dc", "--tls", "off")
        assert r["outcome"] == "failed" and r["detail"] == "CableCheckRes: FAILED", r
        assert "PreChargeReq" not in r["messages"]
        cpd = r["messages"].count("ChargeParameterDiscoveryReq")
        assert cpd >= 5, r["messages"]
        (rec,) = st.records()
        assert [a["detail"] for a in rec["actions"]] == [
            "EVSEProcessing Ongoing for 1 s",
            f"real answer after {cpd - 1} repeated requests",
            "EVSEIsolationStatus Fault, ResponseCode OK -> FAILED",
        ], rec
        (r,), _ = await st.ev("iso20-dc")
        assert (
            r["outcome"] == "failed" and r["detail"] == "AuthorizationRes: WARNING_EIMAuthorizationFailure"
        ), r
        assert kinds(st.records()[0]) == [("code", "Authorization")]


async def test_plc_link_down_then_back(netns_lab: NetnsLab, tmp_path: Path, pki: Path) -> None:
    async with station(netns_lab, tmp_path, pki, "drop-link") as st:
        t0 = time.time()
        (r,), _ = await st.ev("iso2-dc", "--tls", "off", "--message-timeout", "1.0")
        assert r["outcome"] == "failed" and r["loops"] == 2 and r["detail"].startswith("TimeoutError"), r
        (rec,) = st.records()
        assert kinds(rec) == [("link_down", "CurrentDemand")]
        assert rec["actions"][0]["t"] >= t0
        await asyncio.sleep(max(0.0, rec["actions"][0]["t"] + 3.5 - time.time()))  # the link is back
        f = reaction(rec, "drop_link")
        assert (f["severity"], f["rule"]) == ("ok", "ev-silent-after-link-drop"), f
        results, _ = await st.ev("din", loops=2)  # a new car: 2 loops, so the scenario does not act again
        assert results[-1]["outcome"] == "finished", results
        (rec,) = st.records()
        assert rec["actions"] == []
        # its report: the EVSE's previous link was dropped; this session began again with SDP and SAP
        f = reaction(rec, "reconnect")
        assert (f["severity"], f["rule"], f["message_name"]) == (
            "ok",
            "ev-reconnects-after-drop",
            "SECCDiscoveryReq",
        )
        assert 3.0 <= f["value"] < 10.0, f


async def test_tls_only_and_tls13_only(netns_lab: NetnsLab, tmp_path: Path, pki: Path) -> None:
    async with station(netns_lab, tmp_path, pki, "tls13-only", "--tls", "off") as st:  # the scenario wins
        (r,), _ = await st.ev("iso20-dc", "--station-tls", "iso20", loops=2)
        assert r["outcome"] == "finished" and r["tls"].startswith("TLSv1.3"), r
        (r,), _ = await st.ev("iso2-dc", "--tls", "iso2", "--station-tls", "iso20", loops=2)
        # the station's TLS 1.3-only context refuses the TLS 1.2 handshake
        assert r["outcome"] == "failed" and r["detail"].startswith(
            ("connect: SSLError", "connect: ConnectionReset")
        ), r
        assert r["session_id"] is None and r["messages"] == [], r
        (r,), _ = await st.ev("iso2-dc", "--tls", "off", loops=2)
        # SDP announced the TLS port only: a car that cannot do TLS gets no plain-TCP session there
        assert r["outcome"] == "failed" and r["detail"] == "SECC closed the connection" and r["loops"] == 0, r
    async with station(netns_lab, tmp_path / "tls", pki, "tls-only") as st:
        (r,), _ = await st.ev("iso2-dc", "--tls", "iso2", loops=2)
        assert r["outcome"] == "finished" and r["tls"].startswith("TLSv1.2"), r
        (r,), _ = await st.ev("din", "--tls", "off", loops=2)
        assert r["outcome"] == "failed" and r["detail"] == "SECC closed the connection" and r["loops"] == 0, r
