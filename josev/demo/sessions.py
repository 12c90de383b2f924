"""The demo's charging sessions: a basic (PWM-only) AC session and HLC sessions with a simulated EV process.

An HLC session plugs a simulated vehicle into the simulated board (so the coordinator sees CP B, offers 5 %
and SLAC starts) and runs ``josev ev`` inside the EV's network namespace: SLAC through the PLC modem emulator,
SDP, then the V2G session (TLS 1.3 for ISO 15118-20). The driver presents an RFID card, which the coordinator
hands to OCPP (Authorize at the CSMS) before charging is allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hal.sim import SimBoard, SimEv
from hal.sim.dc import SimBattery
from hal.types import CpState
from josev.api import coordinator as capi
from josev.bus import Bus
from josev.demo.station import demo_token
from josev.demo.view import LiveView, SessionResult
from josev.netlab import Netns
from josev.reexec import module_command

LOOP_REQUESTS = frozenset({"CurrentDemandReq", "ChargingStatusReq", "AC_ChargeLoopReq", "DC_ChargeLoopReq"})
"""The charge-loop requests (ISO 15118-2 gives the SECC 25 ms to answer them)."""


@dataclass(frozen=True)
class Scenario:
    """One session: ``protocol`` None is basic PWM charging. ``pnc``: the car pays with its contract (Plug &
    Charge) instead of the driver's card: ``contract`` (it holds one), ``install`` (ISO 15118-20: it installs one
    through the station first, CertificateInstallation)."""

    name: str
    protocol: str | None
    ev_args: tuple[str, ...] = ()
    pnc: str = ""

    @property
    def label(self) -> str:
        """Protocol column of the report."""
        return self.protocol or "IEC 61851 PWM"


AC_LANE = (
    Scenario("basic PWM AC", None),
    Scenario("ISO 15118-2 AC", "iso2-ac"),
    Scenario("ISO 15118-20 AC", "iso20-ac", ("--dynamic",)),
    Scenario("ISO 15118-20 AC BPT", "iso20-ac-bpt", ("--discharge",)),
    Scenario("ISO 15118-20 AC PnC", "iso20-ac", pnc="install"),
)
DC_LANE = (
    Scenario("DIN 70121 DC", "din"),
    Scenario("ISO 15118-2 DC", "iso2-dc"),
    Scenario("ISO 15118-20 DC", "iso20-dc", ("--dynamic",)),
    Scenario("ISO 15118-20 DC BPT", "iso20-dc-bpt", ("--discharge",)),
    Scenario("ISO 15118-2 DC PnC", "iso2-dc", pnc="contract"),
)


@dataclass
class SessionTracker:
    """The coordinator's session events per EVSE."""

    events: dict[int, list[capi.SessionEvent]] = field(default_factory=lambda: defaultdict(list))
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def attach(self, bus: Bus) -> None:
        """Subscribe to session events."""
        bus.subscribe(capi.SessionEvent, self._on)

    def _on(self, m: capi.SessionEvent, evse: int | None) -> None:
        self.events[evse or 0].append(m)
        self.changed.set()

    def mark(self, evse: int) -> int:
        """Position to wait from."""
        return len(self.events[evse])

    async def wait(self, evse: int, step: str, since: int, timeout: float) -> capi.SessionEvent:
        """The first ``step`` event of ``evse`` after position ``since``."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events[evse][since:]:
                if ev.step == step:
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [f"{e.step}({e.reason})" if e.reason else e.step for e in self.events[evse][since:]]
                raise TimeoutError(f"EVSE {evse}: no '{step}' within {timeout:.0f} s (saw {seen})")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))


@dataclass
class Lane:
    """Everything one EVSE's sessions need."""

    evse: int
    dc: bool
    board: SimBoard
    bus: Bus
    tracker: SessionTracker
    view: LiveView
    ev_ns: Netns
    pki_dir: Path
    loops: int = 5
    ocpp_events: Callable[[], int] = lambda: 0
    """TransactionEvents the CSMS has received for this EVSE so far."""


def _plug(lane: Lane, hlc: bool, discharge: bool = False) -> SimEv:
    # an AC car that discharges feeds 16 A per phase back (the DC supply models the DC side itself)
    amps = (-16.0 if discharge else 16.0) if hlc else 0.0
    ev = SimEv(auto_ready=True, max_current_a=16.0, phases=3, hlc_current_a=amps)
    if lane.dc:
        ev.battery = SimBattery(soc=0.3, v_empty=380.0, v_full=430.0)  # ~395 V: the EV process asks for 400 V
        ev.auto_dc = True  # the car closes its own DC contactors after precharge
    lane.board.sim(lane.evse).plug(ev, cable_a=32.0)
    return ev


async def _present_card(lane: Lane, since: int) -> None:
    await lane.tracker.wait(lane.evse, "started", since, 20)
    await lane.bus.request(
        capi.PresentToken(id_token=demo_token(lane.evse), token_type="ISO14443"), lane.evse
    )


def _register(lane: Lane) -> float:
    """The simulated meter's import register now (it stands still while the contactor is open)."""
    ch = lane.board.sim(lane.evse)
    ch.settle()
    return ch.energy_wh


async def _unplug_and_end(lane: Lane, since: int) -> capi.SessionEvent:
    lane.board.sim(lane.evse).unplug()
    ended = await lane.tracker.wait(lane.evse, "ended", since, 20)
    await asyncio.sleep(0.5)  # the CSMS receives TransactionEvent(Ended) right after
    return ended


async def run_basic(lane: Lane, sc: Scenario) -> SessionResult:
    """Plug in, tap the card, wait for the 5 % -> nominal fallback, charge a few seconds, stop, unplug."""
    t0 = time.monotonic()
    tx0 = lane.ocpp_events()
    since = lane.tracker.mark(lane.evse)
    register0 = _register(lane)
    ev = _plug(lane, hlc=False)
    try:
        await _present_card(lane, since)
        await lane.tracker.wait(lane.evse, "charging_started", since, 60)
        await asyncio.sleep(3.0)
        ev.auto_ready = False
        ev.requested = CpState.B  # the car is full
        await lane.tracker.wait(lane.evse, "charging_stopped", since, 15)
        ended = await _unplug_and_end(lane, since)
    except (TimeoutError, OSError, RuntimeError) as exc:
        lane.board.sim(lane.evse).unplug()
        return SessionResult(sc.name, lane.evse, sc.label, False, str(exc), time.monotonic() - t0)
    delivered = _register(lane) - register0
    ok = ended.energy_wh > 0 and abs(ended.energy_wh - delivered) < 0.01
    detail = "" if ok else f"session energy {ended.energy_wh:.3f} Wh, the meter counted {delivered:.3f} Wh"
    return SessionResult(
        sc.name,
        lane.evse,
        sc.label,
        ok,
        detail,
        time.monotonic() - t0,
        ended.energy_wh,
        ocpp_seq=lane.ocpp_events() - tx0,
        energy_export_wh=ended.energy_export_wh,
        payment=payment(_authorized(lane, since)),
    )


def _ev_command(lane: Lane, sc: Scenario) -> list[str]:
    assert sc.protocol is not None
    args = [
        *module_command("josev"), "ev",
        "--iface", "eth0",
        "--protocol", sc.protocol,
        "--slac", "on",
        "--json",
        "--loops", str(lane.loops),
        "--seconds-per-loop", "30",
        "--loop-interval", "0.1",
        "--evcc-id", f"02000000{lane.evse:04X}",
        "--pki", str(lane.pki_dir),
        "--station-tls", "both",
        *sc.ev_args,
    ]  # fmt: skip
    if sc.protocol.startswith("iso20"):
        args += ["--tls", "iso20"]
    if sc.pnc == "contract":  # Contract is offered on TLS connections only
        profile = "iso20-p521" if sc.protocol.startswith("iso20") else "iso2"
        args += ["--contract", str(lane.pki_dir / profile)]
        if not sc.protocol.startswith("iso20"):
            args += ["--tls", "iso2"]
    elif sc.pnc == "install":
        args += ["--provisioning", str(lane.pki_dir / "iso20-p521")]
    return args


def payment(ev: capi.SessionEvent | None) -> str:
    """How the session was paid, from the coordinator's ``authorized`` event: the driver's card (EIM) or the
    car's contract (Plug & Charge: the token is the eMAID the CSMS authorized)."""
    if ev is None:
        return "-"
    if ev.id_token is not None and "DEMOCARD" in ev.id_token:
        return "card"
    return f"Contract {ev.id_token}" if ev.id_token else (ev.auth_source or "-")


def _authorized(lane: Lane, since: int) -> capi.SessionEvent | None:
    return next((e for e in lane.tracker.events[lane.evse][since:] if e.step == "authorized"), None)


async def run_hlc(lane: Lane, sc: Scenario) -> SessionResult:
    """One HLC session with an EV process in the EV's namespace."""
    t0 = time.monotonic()
    tx0 = lane.ocpp_events()
    since = lane.tracker.mark(lane.evse)
    _plug(lane, hlc=True, discharge="--discharge" in sc.ev_args)
    # Plug & Charge: nobody taps a card, the contract authorizes the session
    card = asyncio.create_task(_present_card(lane, since) if not sc.pnc else asyncio.sleep(0))
    proc = await asyncio.create_subprocess_exec(
        *lane.ev_ns.exec_args(_ev_command(lane, sc)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    finally:
        card.cancel()
    duration = time.monotonic() - t0
    try:
        ended = await _unplug_and_end(lane, since)
        energy = ended.energy_wh
        energy_export = ended.energy_export_wh
    except TimeoutError as exc:
        return SessionResult(sc.name, lane.evse, sc.label, False, str(exc), duration)
    res = _parse_ev(out)
    sessions = [r for r in res.get("results", []) if "outcome" in r]
    ok = proc.returncode == 0 and bool(sessions) and sessions[-1]["outcome"] == "finished"
    paid = payment(_authorized(lane, since))
    if sessions and sessions[-1].get("installed_emaid"):
        paid += " (installed)"  # the contract came in this session (CertificateInstallation)
    if ok and sc.pnc and not paid.startswith("Contract"):
        ok = False
        sessions[-1]["detail"] = f"Plug & Charge session paid by {paid}"
    detail = ""
    if not ok:
        last = res.get("results", [{}])[-1] if res.get("results") else {}
        detail = f"EV exit {proc.returncode}: {json.dumps(last)[:300]} {err.decode(errors='replace')[-300:]}"
    slow, slow_name, requests = None, "", 0
    loop_p99: float | None = None
    for s in sessions:
        requests += len(s.get("messages", []))
        for name, lat in (s.get("latency_ms") or {}).items():
            worst = float(lat.get("max", lat.get("p99", 0.0)))
            if slow is None or worst > slow:
                slow, slow_name = worst, name
            if name in LOOP_REQUESTS:
                loop_p99 = max(loop_p99 or 0.0, float(lat.get("p99", 0.0)))
    return SessionResult(
        sc.name, lane.evse, sc.label, ok, detail, duration, energy, requests, slow, slow_name,
        loop_p99_ms=loop_p99, ocpp_seq=lane.ocpp_events() - tx0, energy_export_wh=energy_export,
        payment=paid,
    )  # fmt: skip


def _parse_ev(out: bytes) -> dict[str, Any]:
    for line in reversed(out.decode(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                parsed: dict[str, Any] = json.loads(line)
                return parsed
            except ValueError:
                continue
    return {}


async def run_lane(lane: Lane, scenarios: tuple[Scenario, ...], results: list[SessionResult]) -> None:
    """The sessions of one EVSE, one after the other."""
    for sc in scenarios:
        res = await (run_basic(lane, sc) if sc.protocol is None else run_hlc(lane, sc))
        results.append(res)
        await asyncio.sleep(1.0)  # unplugged: let SLAC and the SECC return to idle
