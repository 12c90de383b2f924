"""Conformance reports of real sessions: ``josev station --sim`` (the real stack, DC, TLS both) in one namespace,
our EV simulator (``josev ev``) in another, across a veth pair, with ``--v2g-log-dir``: the station writes
``<capture>.report.json`` / ``.html`` next to each session's pcapng. Sessions: a clean DIN EV, an ISO 15118-2 EV
whose target voltage (470 V) is above its own maximum (450 V), a clean ISO-2 one on the same plug-in after it, a
clean ISO 15118-20 EV over TLS 1.3, a client that sends garbage bytes and one that closes right after
supportedAppProtocolReq. The ISO-2 report is then
loaded in headless chromium (no console errors, the messages shown, the plots carry data) and its screenshot
becomes docs/img/report.png when JOSEV_DOCS_SCREENSHOTS is set."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from josev.pki import create
from josev.v2g.codec import exi_available
from tests.browser import chromium_path, open_page
from tests.secc.stationproc import ev
from tests.util.netns import CAN_NETNS, NetnsLab

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]
READY = re.compile(rb"station ready: SECC on \[([0-9a-f:]+)%([^\]]+)\]:(\d+)")


def _raw_client(lab_ns: Any, address: str, iface: str, port: int, payload: bytes) -> None:
    """From the EV's namespace: connect over TCP, send ``payload``, close (an EV that misbehaves)."""
    with lab_ns.entered(), socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((address, port, 0, socket.if_nametoindex(iface)))
        s.sendall(payload)
        time.sleep(0.3)


def _sap_request() -> bytes:
    from josev.ev.messages import sap_request
    from josev.v2g import v2gtp
    from josev.v2g.codec import make_codec

    return v2gtp.frame(0x8001, make_codec("exi").encode("sap", sap_request("iso2")))


async def _run(lab: NetnsLab, pki: Path, logdir: Path, errlog: Path) -> None:
    st_ns, ev_ns = lab.netns("st"), lab.netns("ev")
    pair = lab.veth(st_ns, ev_ns)

    def log_tail() -> str:
        return errlog.read_bytes().decode(errors="replace")[-3000:]

    with errlog.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
            *("--iface", pair.a, "--slac", "off", "--stack", "real", "--modes", "dc"),
            *("--tls", "both", "--pki", str(pki), "--v2g-log-dir", str(logdir)),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        m = READY.search(line)
        assert m, (line, log_tail())
        address, port = m.group(1).decode(), int(m.group(3))
        for protocol, extra, outcome in (
            ("din", (), "finished"),
            # the station refuses the pre-charge target above the EV's own maximum (FAILED); the car stays
            # plugged in and the next EV's session runs on the same plug-in
            ("iso2-dc", ("--voltage", "470", "--max-voltage", "450"), "failed"),
            ("iso2-dc", ("--loops", "12", "--loop-interval", "0.1"), "finished"),  # the plots of the docs
            ("iso20-dc", (), "finished"),
        ):
            res = await ev(ev_ns.name, pair.b, pki, protocol, *extra)
            r = res["results"][-1]
            assert r["outcome"] == outcome, (protocol, r, log_tail())
            await asyncio.sleep(1.0)  # after SessionStop: unplug / plug, a new coordinator session
        garbage = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        await asyncio.to_thread(_raw_client, ev_ns, address, pair.b, port, garbage)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(_raw_client, ev_ns, address, pair.b, port, _sap_request())
        await asyncio.sleep(1.0)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, log_tail()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """Run the sessions once; the reports (oldest first) and their folder."""
    if not CAN_NETNS:
        pytest.skip("needs root and iproute2 (network namespaces)")
    tmp = tmp_path_factory.mktemp("reports")
    pki = tmp / "pki"
    create(pki, ("iso2", "iso20-p521"))
    logdir = tmp / "v2g"
    with NetnsLab() as lab:
        asyncio.run(_run(lab, pki, logdir, tmp / "station.log"))
    deadline = time.monotonic() + 20
    while len(list(logdir.glob("*.report.json"))) < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    found = [json.loads(p.read_text()) for p in sorted(logdir.glob("*.report.json"))]
    found.sort(key=lambda r: r["session"]["start_epoch"] or 0.0)
    yield logdir, found


def test_one_report_per_session_next_to_its_pcapng(reports: tuple[Path, list[dict[str, Any]]]) -> None:
    logdir, found = reports
    assert len(found) == 6, sorted(p.name for p in logdir.iterdir())
    for r in found:
        cap = logdir / r["session"]["capture"]
        assert cap.exists() and cap.suffix == ".pcapng"
        html = cap.with_name(cap.stem + ".report.html")
        assert html.stat().st_size > 1_000_000  # plotly.js is inside: the file works offline
        assert oct(html.stat().st_mode & 0o777) == "0o600"


def test_clean_sessions_have_no_errors_and_timings_for_each_request(
    reports: tuple[Path, list[dict[str, Any]]],
) -> None:
    _, found = reports
    assert [r["session"]["protocol"] for r in found[:4]] == [
        "DIN SPEC 70121",
        "ISO 15118-2",
        "ISO 15118-2",
        "ISO 15118-20",
    ]
    for r in (found[0], found[2], found[3]):
        assert r["summary"]["verdict"] == "pass", r["findings"]
        assert [f for f in r["findings"] if f["severity"] == "error"] == []
        # our EV simulator keeps its target current within the station's advertised maximum: no warning
        warned = {f["rule"] for f in r["findings"] if f["severity"] == "warning"}
        assert warned == set(), r["findings"]
        requests = {m["name"] for m in r["messages"] if m["dir"] == "EV->SECC" and m["name"].endswith("Req")}
        timed = {t["request"]: t for t in r["timings"]}
        assert requests == set(timed), requests ^ set(timed)
        for t in timed.values():
            assert t["count"] >= 1 and 0 < t["min_s"] <= t["median_s"] <= t["max_s"], t
            if t["ev_timeout_s"] is not None:
                assert t["max_s"] < t["ev_timeout_s"], t
        assert r["summary"]["errors"] == 0 and r["session"]["session_id"]
    din = found[0]
    assert din["session"]["namespace"] == "urn:din:70121:2012:MsgDef"
    cd = {t["request"]: t for t in din["timings"]}["CurrentDemandReq"]
    assert cd["count"] == 3 and cd["ev_timeout_s"] == 0.25
    assert cd["clause"] == "DIN SPEC 70121 9.6.2 Table 75"
    iso20 = found[3]
    assert {t["request"]: t for t in iso20["timings"]}["DC_ChargeLoopReq"]["ev_timeout_s"] == 0.5
    # the plots' data: EV target and EVSE present voltage over time
    s = iso20["series"]
    assert len(s["t"]) >= 3 and any(v == 400.0 for v in s["ev_target_voltage"] if v is not None)
    assert any(v is not None and v > 0 for v in s["evse_present_voltage"])


def test_target_voltage_above_own_maximum_is_exactly_that_finding(
    reports: tuple[Path, list[dict[str, Any]]],
) -> None:
    _, found = reports
    r = found[1]
    errors = [f for f in r["findings"] if f["severity"] == "error"]
    assert [f["rule"] for f in errors] == ["ev-target-voltage-above-ev-max"], r["findings"]
    f = errors[0]
    assert f["value"] == 470.0 and f["limit"] == 450.0 and f["subject"] == "EV"
    assert f["clause"].startswith("ISO 15118-2:2014 8.4"), f["clause"]
    assert f["text"] == "EVTargetVoltage 470 V is above the EV's own maximum voltage 450 V"
    msg = r["messages"][f["message"]]
    assert msg["name"] == f["message_name"] == "PreChargeReq" and msg["dir"] == "EV->SECC"
    assert abs(msg["t"] - f["t"]) < 1e-6
    # the station answered FAILED: the EV's reaction is checked (it must end the session)
    answer = r["messages"][f["message"] + 1]
    assert answer["name"] == "PreChargeRes" and answer["code"].startswith("FAILED"), answer
    (reaction,) = r["reactions"]
    assert reaction["rule"] == "ev-stops-after-failed" and reaction["severity"] == "ok", reaction
    assert r["summary"]["verdict"] == "fail" and r["summary"]["errors"] == 1


def test_misbehaving_clients_still_get_a_report(reports: tuple[Path, list[dict[str, Any]]]) -> None:
    _, found = reports
    garbage, early = found[-2], found[-1]
    rules = {f["rule"]: f for f in garbage["findings"]}
    assert set(rules) == {"not-v2gtp", "no-v2g-session"}, garbage["findings"]
    assert "starts with 47 45 54 20 2f 20 48 54" in rules["not-v2gtp"]["text"]
    assert garbage["messages"][0]["kind"] == "raw" and garbage["messages"][0]["size"] == 27
    assert garbage["summary"]["verdict"] == "no V2G session"
    rules = {f["rule"]: f for f in early["findings"]}
    assert "no-session-stop" in rules, early["findings"]
    f = rules["no-session-stop"]
    assert f["severity"] == "warning" and f["message_name"] == "supportedAppProtocolReq"
    names = [m["name"] for m in early["messages"]]
    assert names == ["supportedAppProtocolReq", "supportedAppProtocolRes"], names


@pytest.mark.skipif(chromium_path() is None, reason="no chromium (scripts/setup-peers.sh installs it)")
def test_html_report_in_headless_chromium(reports: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    logdir, found = reports
    r = found[2]
    cap = logdir / r["session"]["capture"]
    html = cap.with_name(cap.stem + ".report.html")
    shot = tmp_path / "report.png"
    page = open_page(
        html,
        screenshot=shot,
        wait_for="#plot-voltage .main-svg",
        width=1400,
        height=2000,
        full_page=False,
        evaluate={
            "plots": "Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => d.id)",
            "voltage_traces": "document.getElementById('plot-voltage').data.length",
            "voltage_points": "document.getElementById('plot-voltage').data.map(t => t.x.length)",
            "voltage_names": "document.getElementById('plot-voltage').data.map(t => t.name)",
            "rows": "document.querySelectorAll('#messages tr').length",
            "verdict": "document.getElementById('verdict').textContent",
        },
    )
    assert page.errors == [], [str(e) for e in page.errors]
    v = page.values
    assert v["plots"] == ["plot-voltage", "plot-current", "plot-power", "plot-soc", "plot-response-times"]
    assert v["voltage_names"][:2] == ["EV target voltage", "EVSE present voltage"]
    assert v["voltage_traces"] >= 3 and min(v["voltage_points"]) >= 3, v
    assert v["rows"] == len(r["messages"]) + 1 and v["verdict"] == "pass"
    assert "CurrentDemandReq" in page.text and "ev-target-current-above-evse-max" not in page.text
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 1400
    if os.environ.get("JOSEV_DOCS_SCREENSHOTS"):  # refresh docs/img/report.png on purpose only (a clean tree)
        (ROOT / "docs" / "img").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "img" / "report.png")


def test_v2g_report_cli(reports: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    """``josev v2g report CAPTURE``: the same report from the pcapng alone; exit 1 when the EV broke a rule."""
    import subprocess

    logdir, found = reports
    for r, code, first in ((found[1], 1, "fail: 1 error(s)"), (found[0], 0, "pass: 0 error(s)")):
        cap = logdir / r["session"]["capture"]
        out = subprocess.run(
            [sys.executable, "-m", "josev", "v2g", "report", str(cap), "--out", str(tmp_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == code, out.stdout + out.stderr
        assert out.stdout.startswith(first), out.stdout
        again = json.loads((tmp_path / (cap.stem + ".report.json")).read_text())
        assert again["findings"] == r["findings"] and again["timings"] == r["timings"]
    bad = tmp_path / "bad.pcapng"
    bad.write_bytes(b"garbage")
    out = subprocess.run(
        [sys.executable, "-m", "josev", "v2g", "report", str(bad)], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 2 and "bad.pcapng: not a pcapng or pcap file" in out.stderr
