"""The live view in a real browser (Debian's chromium, headless, driven over the DevTools protocol by
tests/browser.py).

* ``josev station --sim --slac off --web :PORT`` (the real stack: HAL simulator, coordinator, SECC, OCPP with its
  CSMS stand-in) in the root namespace, our EV simulator charging ISO 15118-2 DC from another namespace across a
  veth pair, the page open while it charges: no console error; the page lists every request the EV sent, in
  order, with the SECC's answers; the state shown is the bus's; the plot has points and its SoC is the one the EV
  sent in its last CurrentDemandReq; a screenshot is written (``JOSEV_WEB_SCREENSHOTS=DIR`` keeps a copy). The
  view listens on 127.0.0.1 only.
* Hostile contents (a V2G message body, a session reason, an idToken holding ``<script>`` / ``<img onerror>``)
  are shown as text, never run; the token is masked.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from josev.broker import PrivateBroker
from josev.broker.run import free_port
from josev.v2g.codec import exi_available
from tests.browser import Tab, chromium_path
from tests.secc.test_netns_e2e import run_ev
from tests.util.netns import NetnsLab

ROOT = Path(__file__).resolve().parents[2]

needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="no chromium (scripts/setup-peers.sh installs it)"
)

PLOT_HAS_POINTS = (
    "(() => { const d = document.getElementById('plot').data;"
    " return !!d && d.length > 0 && d.every(t => t.x.length > 0 && t.x.length === t.y.length); })()"
)


def keep_screenshot(shot: Path, name: str) -> None:
    """Copy a screenshot to ``$JOSEV_WEB_SCREENSHOTS`` (e.g. to refresh docs/img/live.png)."""
    target = os.environ.get("JOSEV_WEB_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / name)


def listening_addresses(port: int) -> list[str]:
    """The local addresses TCP sockets listen on at ``port`` (``ss``, iproute2)."""
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return sorted(line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if line.strip())


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


async def start_station(iface: str, web: str, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    """The station with the live view; returns the process and the page's URL once both are ready."""
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-u",
            "-m",
            "josev.cli.station",
            "--sim",
            "--iface",
            iface,
            "--slac",
            "off",
            "--modes",
            "dc",
            "--web",
            web,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    assert proc.stdout is not None
    url, ready = "", False
    try:
        while not (url and ready):
            line = (await asyncio.wait_for(proc.stdout.readline(), 40)).decode()
            if not line:
                tail = await asyncio.to_thread(log.read_text)
                raise AssertionError(f"the station exited: {tail[-3000:]}")
            if line.startswith("web view on "):
                url = line.split()[-1]
            ready = ready or line.startswith("station ready")
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return proc, url


async def stop(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0


def dc_value(pv: dict[str, Any]) -> float:
    return float(pv["Value"]) * 10.0 ** int(pv["Multiplier"])


@needs_chromium
@pytest.mark.netns
async def test_live_page_follows_a_charging_session(netns_lab: NetnsLab, tmp_path: Path) -> None:
    if reason := exi_available():
        pytest.skip(reason)
    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    port = free_port()
    proc, url = await start_station(pair.a, f":{port}", tmp_path / "station.log")
    try:
        assert url == f"http://127.0.0.1:{port}/"
        assert listening_addresses(port) == ["127.0.0.1"]  # `--web :PORT` is this machine only
        async with Tab.launch(width=1400, height=1100) as tab:
            await tab.navigate(url)
            await tab.wait_until("document.getElementById('conn').textContent === 'live'")
            ev = asyncio.create_task(
                # 410 V: above the simulated car's battery (400 V open-circuit) so that current flows
                run_ev(
                    ev_ns.name,
                    pair.b,
                    "iso2-dc",
                    "exi",
                    "--loops",
                    "30",
                    "--loop-interval",
                    "0.1",
                    "--voltage",
                    "410",
                )
            )
            # while the EV charges, the page follows
            await tab.wait_until(
                "[...document.querySelectorAll('#messages tr[data-message=\"CurrentDemandReq\"]')].length >= 3",
                40,
            )
            during = await tab.evaluate("document.querySelector('#evse-1 [data-key=secc]').textContent")
            assert during.startswith("session (iso2)"), during
            await tab.wait_until(PLOT_HAS_POINTS, 20)
            res = (await ev)["results"][-1]
            assert res["outcome"] == "finished", res
            await tab.wait_until(
                "[...document.querySelectorAll('#messages tr[data-message=\"SessionStopRes\"]')].length === 1",
                20,
            )
            await asyncio.sleep(1.5)  # the last states (session ended, meter) reach the page
            snap = await asyncio.to_thread(get_json, url + "snapshot.json")
            rows = await tab.evaluate(
                "[...document.querySelectorAll('#messages tbody tr')].reverse().map(tr =>"
                " [...tr.cells].map(td => td.textContent))"
            )
            shown = {
                k: await tab.evaluate(
                    f"(document.querySelector('#evse-1 [data-key={k}]') || {{}}).textContent || ''"
                )
                for k in ("secc", "coordinator", "target")
            }
            plot = await tab.evaluate(
                "document.getElementById('plot').data.map(t => ({name: t.name, n: t.x.length,"
                " last: t.y[t.y.length - 1], max: Math.max(...t.y)}))"
            )
            shot = await tab.screenshot(tmp_path / "live.png")
            errors = list(tab.errors)
        # no console error, no failed request, no CSP violation
        assert errors == [], errors
        # every request the EV sent, in order, each answered OK by the SECC
        requests = [r[4] for r in rows if r[2] == "EV"]
        assert requests == ["supportedAppProtocolReq", *res["messages"]]
        assert requests.count("CurrentDemandReq") == 30
        answers = [(r[4], r[5]) for r in rows if r[2] == "SECC"]
        assert [a for a, _ in answers] == [q[:-3] + "Res" for q in requests]
        assert all(code.startswith("OK") for _, code in answers), answers
        # the state shown is the bus's state
        secc = next(s["data"] for s in snap["states"] if s["key"] == "secc/evse1/session")
        coord = next(s["data"] for s in snap["states"] if s["key"] == "coordinator/evse1/evse_status")
        proto = f" ({secc['protocol']})" if secc["protocol"] else ""
        assert shown["secc"] == f"{secc['status']}{proto}, {secc['reason']}", (shown, secc)
        assert secc["status"] == "ended" and secc["reason"] == "terminate"
        assert shown["coordinator"] == f"{coord['state']} ({coord['ocpp_status']})"
        assert during.startswith("session (iso2)")
        # every message after SessionSetupReq carries the EV's SessionID
        sids = {m["session_id"] for m in snap["messages"][3:]}
        assert sids == {res["session_id"]}, sids
        # the curves: points on every trace; the SoC drawn last is the one of the EV's last CurrentDemandReq
        curves = {p["name"]: p for p in plot}
        assert {"EV target voltage (V)", "present voltage (V)", "SoC (%)", "power (kW)"} <= set(curves)
        assert all(p["n"] > 0 for p in plot), plot
        last_cd = next(
            m for m in reversed(snap["messages"]) if m["message"] == "CurrentDemandReq"
        )  # snapshot order: oldest first
        assert curves["SoC (%)"]["last"] == last_cd["body"]["DC_EVStatus"]["EVRESSSOC"]
        assert curves["EV target voltage (V)"]["last"] == pytest.approx(
            dc_value(last_cd["body"]["EVTargetVoltage"])
        )
        assert curves["SoC (%)"]["n"] >= 30
        # current flowed: the present current drawn is the one the SECC reported to the EV, and the session
        # energy drawn is at most what the coordinator counted at the end (the meter publishes once a second)
        reported = [
            dc_value(m["body"]["EVSEPresentCurrent"])
            for m in snap["messages"]
            if m["message"] == "CurrentDemandRes"
        ]
        assert max(reported) > 10
        assert curves["present current (A)"]["max"] == pytest.approx(max(reported), abs=2.0)
        ended = next(
            e["data"] for e in snap["events"] if e["name"] == "session" and e["data"]["step"] == "ended"
        )
        assert 0 < curves["session energy (kWh)"]["max"] * 1000 <= ended["energy_wh"] + 0.001
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
        keep_screenshot(shot, "live.png")
    finally:
        code = await stop(proc)
    assert code == 0


HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


@needs_chromium
async def test_hostile_contents_are_shown_as_text(tmp_path: Path) -> None:
    """What the EV or a service puts on the bus cannot run in the page: a V2G message body, a session end
    reason, an idToken, all holding markup, are shown as text (the token masked)."""
    from josev.api import coordinator as co
    from josev.api import secc as api
    from josev.bus import Bus
    from josev.web.server import run_web

    token = "<script>window.__xss=3</script>"
    with PrivateBroker(tmp_path / "broker") as broker:
        secc = Bus("secc", broker.settings("secc"))
        coord = Bus("coordinator", broker.settings("coordinator"))
        await secc.connect()
        await coord.connect()
        stop_web = asyncio.Event()
        servers: list[Any] = []
        web = asyncio.create_task(
            run_web(broker.settings("web"), "127.0.0.1", 0, stop_web, on_listening=servers.append)
        )
        try:
            while not servers:
                await asyncio.sleep(0.05)
            url = servers[0].url
            await secc.publish(api.SeccSessionState(status="failed", protocol="iso2", reason=HOSTILE), 1)
            await secc.publish(
                api.V2gMessage(
                    seq=0,
                    sender="ev",
                    protocol="iso2",
                    message="PaymentDetailsReq",
                    body={"eMAID": "DE8EOCAB123456", "note": HOSTILE, HOSTILE: 1},
                ),
                1,
            )
            await coord.publish(
                co.SessionEvent(step="authorized", session_id="s1", id_token=token, auth_source="cli"), 1
            )
            await asyncio.sleep(0.3)
            async with Tab.launch() as tab:
                await tab.navigate(url)
                await tab.wait_until("document.querySelectorAll('#messages tbody tr').length === 1")
                await tab.wait_until("document.querySelectorAll('#events tbody tr').length === 1")
                await tab.wait_until("document.querySelector('#evse-1 [data-key=secc]') !== null")
                await asyncio.sleep(0.5)
                xss = await tab.evaluate("typeof window.__xss")
                injected = await tab.evaluate(
                    "document.querySelectorAll('main img, main script, [onerror]').length"
                )
                text = await tab.text()
                html = await tab.html()
                titles = await tab.evaluate(
                    "[...document.querySelectorAll('[title]')].map(e => e.title).join('\\n')"
                )
                await tab.screenshot(tmp_path / "hostile.png")
                errors = list(tab.errors)
        finally:
            stop_web.set()
            await web
            await secc.close()
            await coord.close()
    assert xss == "undefined"
    assert injected == 0
    assert errors == [], errors
    # shown, as text: in the state, the message body (value and key) and in the full-body tooltip
    assert text.count('<img src=x onerror="window.__xss=1">') >= 2, text
    assert "<script>window.__xss=2</script>" in titles  # the full body as a tooltip (JSON)
    assert "failed (iso2), <img src=x" in text
    # tokens masked: the idToken and the EMAID, in the page and in what it received
    assert "****ipt>" in text and token not in html and "window.__xss=3" not in html
    assert "****3456" in text and "DE8EOCAB123456" not in html


@needs_chromium
async def test_without_plotly_the_page_says_so_and_shows_the_rest(tmp_path: Path) -> None:
    """A station without the ``report`` extra: no curves, a note saying why, no console error."""
    from josev.api import secc as api
    from josev.web.server import LiveServer

    srv = LiveServer(host="127.0.0.1", port=0)
    srv.plotly = None
    await srv.start()
    try:
        srv.on_bus(api.SeccSessionState.topic(1), {"status": "session", "protocol": "din"})
        srv.on_bus(api.EvTarget.topic(1), {"phase": "charge", "voltage_v": 400, "current_a": 10})
        async with Tab.launch() as tab:
            await tab.navigate(srv.url)
            await tab.wait_until("!document.getElementById('plot-note').hidden")
            note = await tab.evaluate("document.getElementById('plot-note').textContent")
            secc = await tab.evaluate("document.querySelector('#evse-1 [data-key=secc]').textContent")
            errors = list(tab.errors)
    finally:
        await srv.close()
    assert "not installed" in note and "josev[report]" in note
    assert secc == "session (din)"
    assert errors == [], errors


@pytest.mark.netns
async def test_a_taken_port_is_a_clear_error(netns_lab: NetnsLab, tmp_path: Path) -> None:
    import socket

    ev_ns = netns_lab.netns("ev")
    pair = netns_lab.veth(None, ev_ns)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "josev.cli.station", "--sim", "--iface", pair.a, "--slac", "off"),
            *("--web", f":{port}"),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2, (out, err[-2000:])
    assert f"error: the live view cannot listen on 127.0.0.1:{port}: Address already in use" in err.decode()
    assert b"station ready" not in out


@needs_chromium
async def test_a_dropped_page_reconnects_and_catches_up(tmp_path: Path) -> None:
    """The server closes a page's stream when it falls behind; the browser reconnects by itself and shows the
    state that changed meanwhile (from the fresh snapshot)."""
    from josev.api import secc as api
    from josev.web.server import LiveServer

    srv = LiveServer(host="127.0.0.1", port=0)
    await srv.start()
    try:
        srv.on_bus(api.SeccSessionState.topic(1), {"status": "session", "protocol": "din"})
        async with Tab.launch() as tab:
            await tab.navigate(srv.url)
            shown = "(document.querySelector('#evse-1 [data-key=secc]') || {}).textContent"
            await tab.wait_until(f"{shown} === 'session (din)'")
            for s in list(srv.streams):
                srv._drop(s)  # what a full queue does
            srv.on_bus(api.SeccSessionState.topic(1), {"status": "ended", "protocol": "din", "reason": "x"})
            await tab.wait_until(f"{shown} === 'ended (din), x'", 10)
            await tab.wait_until("document.getElementById('conn').textContent === 'live'")
            errors = list(tab.errors)  # a closed stream is not a console error: EventSource just reconnects
    finally:
        await srv.close()
    assert srv.dropped_streams == 1
    assert errors == [], errors
