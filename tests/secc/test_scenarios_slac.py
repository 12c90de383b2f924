"""The ``drop-link`` scenario with SLAC running: ``josev station --sim --slac on --scenario drop-link`` behind the
PLC modem emulator (its own namespace, relaying frames between the station's and the EV's veth pairs with packet
sockets), our EV simulator (``josev ev --slac on``) matching through it. The station takes its PLC interface down
for 3 s instead of answering the 3rd CurrentDemand; the car, its session lost, matches again with SLAC once the
link is back and a new session charges. Asserted: both SLAC matches (the EV's results and the station's log),
the first session's failure, the second's outcome and energy loops, and the reports' findings
(``ev-silent-after-link-drop``, then ``ev-reconnects-after-drop``)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from josev.v2g.codec import exi_available
from tests.util.netns import NetnsLab

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.netns, pytest.mark.slow]


async def ev_run(ns: str, iface: str, protocol: str, *extra: str) -> dict[str, Any]:
    """``josev ev --slac on`` in ``ns``: its JSON result (whatever the exit code)."""
    proc = await asyncio.create_subprocess_exec(
        *("ip", "netns", "exec", ns, sys.executable, "-m", "josev.ev", "--iface", iface),
        *("--protocol", protocol, "--codec", "exi", "--json", "--slac", "on", *extra),
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
    assert out, err.decode()[-3000:]
    result: dict[str, Any] = json.loads(out)
    result["rc"] = proc.returncode
    return result


def finding(report: Path, rule: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20.0
    while not report.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    (f,) = [f for f in json.loads(report.read_text())["reactions"] if f["rule"] == rule]
    out: dict[str, Any] = f
    return out


async def test_link_drop_with_slac_the_ev_matches_again_and_charges(
    netns_lab: NetnsLab, tmp_path: Path
) -> None:
    if reason := exi_available():
        pytest.skip(reason)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    st_ns, plc_ns, ev_ns = netns_lab.netns("st"), netns_lab.netns("plc"), netns_lab.netns("ev")
    st_side, ev_side = netns_lab.veth(st_ns, plc_ns), netns_lab.veth(plc_ns, ev_ns)
    logs = tmp_path / "v2g"
    emu = plc_ns.popen(
        [
            sys.executable,
            "-m",
            "josev.sim.modem_shell",
            *("--port", f"evse0={st_side.b}:qualcomm", "--port", f"ev0={ev_side.a}:qualcomm"),
            *("--att", "evse0,ev0=20"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    station = None
    st_log = tmp_path / "station.log"
    try:
        assert emu.stdout is not None and emu.stdout.readline().strip() == "ready"
        with st_log.open("wb") as err:
            station = await asyncio.create_subprocess_exec(
                *(
                    "ip",
                    "netns",
                    "exec",
                    st_ns.name,
                    sys.executable,
                    "-u",
                    "-m",
                    "josev.cli.station",
                    "--sim",
                ),
                *("--iface", st_side.a, "--slac", "on", "--scenario", "drop-link"),
                *("--v2g-log-dir", str(logs)),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
            )
        assert station.stdout is not None
        line = await asyncio.wait_for(station.stdout.readline(), 30)
        assert line.startswith(b"station ready"), line
        # the first car: the station drops its PLC link instead of answering the 3rd CurrentDemand
        first = await ev_run(ev_ns.name, ev_side.b, "iso2-dc", "--loops", "6", "--message-timeout", "1.0")
        slac1, s1 = first["results"]
        assert slac1["slac"]["status"] == "matched", first
        assert s1["outcome"] == "failed" and s1["loops"] == 2 and s1["detail"].startswith("TimeoutError"), (
            first
        )
        deadline = time.monotonic() + 15.0  # written with the session's capture, once the session ended
        while not (recs := sorted(logs.glob("*.scenario.json"))) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        (rec1,) = [json.loads(p.read_text()) for p in recs]
        assert [(a["kind"], a["request"]) for a in rec1["actions"]] == [("link_down", "CurrentDemand")], rec1
        await asyncio.sleep(max(0.0, rec1["actions"][0]["t"] + 3.5 - time.time()))  # the link is back
        # the car matches again with SLAC and charges (2 loops: the scenario acts on the 3rd)
        second = await ev_run(ev_ns.name, ev_side.b, "din", "--loops", "2")
        slac2, s2 = second["results"]
        assert slac2["slac"]["status"] == "matched", (second, st_log.read_text()[-4000:])
        assert s2["outcome"] == "finished" and s2["loops"] == 2 and second["rc"] == 0, second
        assert s2["session_id"] != s1["session_id"] and "SessionStopReq" in s2["messages"], second
        assert s2["messages"][0] == "SessionSetupReq", second  # a new session, not resumed
        await asyncio.sleep(1.0)
    finally:
        if station is not None and station.returncode is None:
            station.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(station.wait(), 10)
            except TimeoutError:
                station.kill()
                await station.wait()
        emu.terminate()
        try:
            emu.wait(5)
        except subprocess.TimeoutExpired:
            emu.kill()
            emu.wait(5)
    text = st_log.read_text()
    # the station: two SLAC matches with the same EV modem, the second one started by the EV after the drop
    # (its modem kept the link up: the station's matched session was restarted by the EV's CM_SLAC_PARM.REQ)
    until = text.index("session ended: terminate")
    matched = re.findall(r"SLAC matched with EV modem (\S+)", text[:until])
    assert len(matched) == 2 and matched[0] == matched[1], text[-6000:]
    assert "SLAC matching (EV restarted matching)" in text[:until], text[-6000:]
    # one charging session across both V2G sessions (the coordinator's HLC retry), its energy going on
    assert "V2G session ended abnormally (connection_lost): hlc, 1 of 3 retries used" in text, text[-6000:]
    # the energy the charging session had when each V2G session stopped charging, then at its end
    stops = [
        float(x) for x in re.findall(r"charging stopped, ([\d.]+) Wh delivered so far", text[: until + 400])
    ]
    (total,) = re.findall(r"session \S+ ended \(ev_disconnected\): ([\d.]+) Wh delivered", text)
    assert len(stops) == 2 and 0.0 < stops[0] < stops[1] <= float(total) + 0.05, (stops, total)
    assert text[:until].count("TransactionEvent Started") == 1, text[-6000:]
    reports = sorted(logs.glob("*.report.json"))
    assert len(reports) == 2, reports
    f = finding(reports[0], "ev-silent-after-link-drop")
    assert f["severity"] == "ok", f
    f = finding(reports[1], "ev-reconnects-after-drop")
    assert (f["severity"], f["message_name"]) == ("ok", "SECCDiscoveryReq"), f
    assert 3.0 <= f["value"] < 30.0, f
