"""A failed V2G session must not break the next one on the real stack.

``josev station --sim --stack real`` (HAL simulator board, coordinator with its DC flow, SLAC stand-in, SECC,
OCPP with the CSMS stand-in, the simulated car's pilot) in one namespace, our EV simulator in another, across a
veth pair. An EV whose V2G session ends abnormally (a FAILED response at PreCharge: target voltage above its own
maximum; a TCP connection dropped in the middle of CurrentDemand) stays plugged in and tries again with a new
SessionSetup, as ISO 15118-2/-20 allow and as a car does: the coordinator must have ended the HLC part cleanly
(contactor open, output off, state HLC as the table says) and the retry must charge.

The station runs with ``-v``: the coordinator's published ``EvseStatus`` and ``DcSupplyState`` are read back
from its log (``coordinator: published ...`` lines, one per change).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from josev.coordinator.states import In, St
from josev.coordinator.table import TABLE, Choice
from josev.pki import create
from josev.v2g.codec import exi_available
from tests.util.netns import CAN_NETNS, Netns, NetnsLab

from .stationproc import stop_station

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(not CAN_NETNS, reason="needs root and iproute2 (network namespaces)"),
    pytest.mark.skipif(bool(exi_available()), reason="the EXI codec is not built"),
]
READY = re.compile(rb"station ready: SECC on \[([0-9a-f:]+)%([^\]]+)\]:(\d+)")
BAD_EV = ("--voltage", "470", "--max-voltage", "450")
"""An EV whose PreCharge target is above its own maximum voltage: the station answers FAILED."""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create(out, ("iso2", "iso20-p521"))
    return out


@dataclass
class Station:
    proc: asyncio.subprocess.Process
    log: Path
    st: Netns
    ev: Netns
    ev_iface: str
    address: str
    port: int
    pki: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        return self.text()[-4000:]

    async def ev_session(self, protocol: str, *extra: str, timeout: float = 60.0) -> dict[str, Any]:
        """One run of ``josev ev`` (one V2G session); its last result."""
        ev = ("ip", "netns", "exec", self.ev.name, sys.executable, "-m", "josev.ev", "--iface", self.ev_iface)
        proc = await asyncio.create_subprocess_exec(
            *ev,
            *("--protocol", protocol, "--json", "--loops", "3", "--loop-interval", "0.1"),
            *("--pki", str(self.pki), "--station-tls", "both"),
            *(() if protocol.startswith("iso20") else ("--tls", "off")),  # -20 needs TLS 1.3
            *extra,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert out, err.decode()[-3000:]
        res: dict[str, Any] = json.loads(out)
        r: dict[str, Any] = res["results"][-1]
        r["soc"] = res["soc"]
        return r


@asynccontextmanager
async def station(lab: NetnsLab, tmp: Path, pki: Path) -> AsyncIterator[Station]:
    st_ns, ev_ns = lab.netns("st"), lab.netns("ev")
    pair = lab.veth(st_ns, ev_ns)
    log = tmp / "station.log"
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", st_ns.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
            *("--iface", pair.a, "--slac", "off", "--stack", "real", "--modes", "dc", "-v"),
            *("--tls", "both", "--pki", str(pki)),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        m = READY.search(line)
        assert m, (line, log.read_text(errors="replace")[-3000:])
        yield Station(proc, log, st_ns, ev_ns, pair.b, m.group(1).decode(), int(m.group(3)), pki)
    finally:
        assert await stop_station(proc) == 0, log.read_text(errors="replace")[-3000:]


@pytest.mark.parametrize(
    ("reason", "paused", "status"),
    [
        ("terminate", False, "ended"),
        ("pause", True, "paused"),
        ("FAILED", False, "failed"),
        ("FAILED_ContactorError", False, "failed"),
        ("sequence_timeout", False, "failed"),
        ("communication_setup_timeout", False, "failed"),
        ("connection_lost", False, "failed"),
        ("decode_error", False, "failed"),
        ("malformed", False, "failed"),
    ],
)
def test_which_session_ends_are_failures(reason: str, paused: bool, status: str) -> None:
    """Every end but the EV's SessionStop (terminate / pause) is a failure the coordinator hears of."""
    from josev.secc.events import SessionEnded
    from josev.secc.messages import hlc_failed, session_status

    e = SessionEnded(reason, paused=paused)
    assert session_status(e) == status
    assert hlc_failed(e) is (status == "failed")


def published(lines: list[str], kind: str) -> list[dict[str, Any]]:
    """The ``kind`` messages (EvseStatus, DcSupplyState) the coordinator published, in order."""
    tag = f"published {kind} "
    return [json.loads(ln.split(tag, 1)[1]) for ln in lines if tag in ln]


def index(lines: list[str], needle: str, start: int = 0) -> int:
    return next(i for i in range(start, len(lines)) if needle in lines[i])


def retry_charged(r: dict[str, Any], lines: list[str], start: int) -> None:
    """The EV's retry reached its charge loop and the coordinator drove a current in it (from ``start``)."""
    assert r["outcome"] == "finished" and r["loops"] >= 3, r
    loop = "CurrentDemandReq" if "CurrentDemandReq" in r["messages"] else "DC_ChargeLoopReq"
    assert r["messages"].count(loop) >= 3, r["messages"]
    after = lines[start:]
    assert any(
        st["state"] == "hlc_charging" and st["contactor_closed"] for st in published(after, "EvseStatus")
    )
    assert any(
        d["phase"] == "charging" and d["output_enabled"] and d["target_current_a"] > 0
        for d in published(after, "DcSupplyState")
    )


@pytest.mark.parametrize("protocol", ["iso2-dc", "iso20-dc", "din"])
async def test_failed_session_then_retry_without_replug_charges(
    netns_lab: NetnsLab, tmp_path: Path, pki: Path, protocol: str
) -> None:
    async with station(netns_lab, tmp_path, pki) as s:
        bad = await s.ev_session(protocol, *BAD_EV)
        assert bad["outcome"] == "failed" and "FAILED" in bad["detail"], (bad, s.tail())
        await asyncio.sleep(1.0)
        lines = s.text().splitlines()
        fail = index(lines, "session ended: FAILED")
        before = published(lines[:fail], "EvseStatus")[-1]
        assert before["state"] == "hlc" and before["session_id"], before
        # (b) what the coordinator published after the failure is what its table says: HLC (retries remain),
        # pilot still 5 %, contactor open, the same plug-in session, output off
        after = published(lines[fail:], "EvseStatus")[-1]
        assert after == {
            **before,
            "state": St.HLC.value,
            "contactor_closed": False,
            "pilot_mode": "pwm",
            "duty_percent": 5.0,
            "session_id": before["session_id"],
            "charging_state": "EVConnected",
            "ocpp_status": "Occupied",
            "detailed_status": "Preparing",
            "faults": [],
        }, (before, after)
        rule = TABLE[(St.HLC, In.HLC_FAILED)]  # HLC_FAILED in HLC while V2G retries remain: stay in HLC
        assert isinstance(rule.next, Choice) and rule.next.guard == "v2g_retry"
        assert rule.next.then is St.HLC
        supply = published(lines[fail:], "DcSupplyState")[-1]
        assert supply["phase"] == "off" and not supply["output_enabled"] and not supply["contactor_closed"]
        assert supply["target_current_a"] == 0.0, supply
        # (a) the same car, still plugged in, tries again with a new SessionSetup: it charges
        mark = len(lines)
        good = await s.ev_session(protocol)
        lines = s.text().splitlines()
        retry_charged(good, lines, mark)
        assert not [ln for ln in lines if "EV plugged in" in ln][1:], "the car was replugged"
        text = "\n".join(lines)
        assert "no HLC session" not in text and "cable check refused" not in text, s.tail()


async def _wait_line(s: Station, needle: str, start: int, timeout: float) -> tuple[int, float]:
    """Poll the station log until a line from ``start`` on contains ``needle``: (its index, when seen)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = s.text().splitlines()
        for i in range(start, len(lines)):
            if needle in lines[i]:
                return i, time.monotonic()
        await asyncio.sleep(0.01)
    raise AssertionError(f"{needle!r} not in the station log within {timeout} s:\n{s.tail()}")


OPEN_WITHIN_S = 2.0
"""A dropped TCP connection in CurrentDemand: the contactor is open within this time of the drop (the SECC
sees the FIN at once, the coordinator ramps the output down for at most ramp_down_timeout_s = 1 s, then
opens)."""


@pytest.mark.parametrize("protocol", ["iso2-dc", "iso20-dc", "din"])
async def test_tcp_drop_in_current_demand_opens_the_contactor_and_the_next_session_charges(
    netns_lab: NetnsLab, tmp_path: Path, pki: Path, protocol: str
) -> None:
    async with station(netns_lab, tmp_path, pki) as s:
        start = len(s.text().splitlines())
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", s.ev.name, sys.executable, "-m", "josev.ev", "--iface", s.ev_iface),
            *("--protocol", protocol, "--json", "--loops", "200", "--loop-interval", "0.1"),
            *("--pki", str(s.pki), "--station-tls", "both"),
            *(() if protocol.startswith("iso20") else ("--tls", "off")),
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            i, _ = await _wait_line(s, '"state":"hlc_charging"', start, 30.0)
            await asyncio.sleep(0.5)  # a few CurrentDemand loops with the contactor closed
            lines = s.text().splitlines()
            assert published(lines[i:], "EvseStatus")[-1]["contactor_closed"], s.tail()
            mark = len(lines)
            dropped = time.monotonic()
            proc.kill()  # the EV's process dies: its kernel closes the TCP connection
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        j, _ = await _wait_line(s, "session ended: connection_lost", mark, 5.0)
        _, opened = await _wait_line(s, '"contactor_closed":false', j, 5.0)
        print(f"contactor open {opened - dropped:.3f} s after the TCP drop")
        assert opened - dropped < OPEN_WITHIN_S, (opened - dropped, s.tail())
        await asyncio.sleep(1.0)
        lines = s.text().splitlines()
        st = published(lines[j:], "EvseStatus")[-1]
        charging = published(lines[i:j], "EvseStatus")[-1]
        assert (st["state"], st["contactor_closed"], st["pilot_mode"], st["duty_percent"]) == (
            "hlc",
            False,
            "pwm",
            5.0,
        )
        assert st["session_id"] == charging["session_id"], "the plug-in session must go on"
        supply = published(lines[j:], "DcSupplyState")[-1]
        assert supply["phase"] == "off" and not supply["output_enabled"] and not supply["contactor_closed"]
        # the same car, still plugged in, starts a new session: it charges
        mark = len(lines)
        good = await s.ev_session(protocol)
        lines = s.text().splitlines()
        retry_charged(good, lines, mark)
        # the car stayed plugged in: the contactor opened because the coordinator heard of the drop
        assert len([ln for ln in lines if "EV plugged in" in ln]) == 1, s.tail()


async def test_after_v2g_retries_hlc_has_failed_and_the_session_stops(
    netns_lab: NetnsLab, tmp_path: Path, pki: Path
) -> None:
    """v2g_retries (3) new V2G sessions after a failed one; the next failure ends HLC: FINISHED (a DC EVSE has no
    basic charging), pilot X1, contactor open, the session stopped with reason hlc_failed (OCPP:
    EVCommunicationLost)."""
    async with station(netns_lab, tmp_path, pki) as s:
        for n in range(4):
            bad = await s.ev_session("iso2-dc", *BAD_EV)
            assert bad["outcome"] == "failed", (n, bad, s.tail())
            await asyncio.sleep(0.5)
            st = published(s.text().splitlines(), "EvseStatus")[-1]
            assert st["state"] == ("hlc" if n < 3 else "finished"), (n, st)
        await asyncio.sleep(0.5)
        lines = s.text().splitlines()
        st = published(lines, "EvseStatus")[-1]
        assert (st["state"], st["contactor_closed"], st["pilot_mode"], st["ocpp_status"]) == (
            "finished",
            False,
            "x1",
            "Occupied",
        ), st
        assert len([ln for ln in lines if "EV plugged in" in ln]) == 1
        stops = [ln for ln in lines if "V2G session ended abnormally" in ln]
        assert [ln.rsplit(": ", 1)[1] for ln in stops] == [
            "hlc, 1 of 3 retries used",
            "hlc, 2 of 3 retries used",
            "hlc, 3 of 3 retries used",
            "finished, 3 of 3 retries used",
        ], stops
        assert any("stopped (hlc_failed)" in ln for ln in lines), s.tail()


def _garbage(s: Station) -> None:
    """From the EV's namespace: a peer that connects, sends bytes that are no V2GTP and is dropped."""
    import socket

    with s.ev.entered(), socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect((s.address, s.port, 0, socket.if_nametoindex(s.ev_iface)))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(100)  # the SECC closes the connection


async def test_peers_that_never_start_a_v2g_session_do_not_use_up_the_retries(
    netns_lab: NetnsLab, tmp_path: Path, pki: Path
) -> None:
    """Garbage and early-closing peers (no SessionSetup) are not the car's V2G sessions: the coordinator does not
    hear of them, and the car charges afterwards."""
    async with station(netns_lab, tmp_path, pki) as s:
        for _ in range(5):
            await asyncio.to_thread(_garbage, s)
        await asyncio.sleep(0.5)
        lines = s.text().splitlines()
        assert len([ln for ln in lines if "session ended: v2gtp_error" in ln]) == 5, s.tail()
        assert not [ln for ln in lines if "V2G session ended abnormally" in ln], s.tail()
        assert published(lines, "EvseStatus")[-1]["state"] == "hlc"
        mark = len(lines)
        good = await s.ev_session("iso2-dc")
        retry_charged(good, s.text().splitlines(), mark)
