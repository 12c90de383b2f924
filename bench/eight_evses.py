"""Eight EVSEs charging at once with every service on the bus: charge-loop p99, peak RSS, CPU per exchange.

``python -m bench eight_evses`` (or ``python bench/eight_evses.py [--loops N]``, root or user namespaces) runs
the demo station (sim board, mosquitto, system, HAL, coordinator, SLAC, SECC, OCPP to the CSMS stand-in) with
8 EVSEs, each with its own PLC link through the modem emulator and its own EV in a network namespace, and
runs one session on every EVSE so that all eight charge at the same time: DIN 70121 DC, ISO 15118-2 AC and DC,
ISO 15118-20 AC and DC, and basic PWM AC (odd EVSEs are AC, even ones DC):

    1 basic PWM AC   2 DIN DC         3 ISO-2 AC       4 ISO-2 DC
    5 ISO-20 AC      6 ISO-20 DC      7 basic PWM AC   8 DIN DC

It prints, per session, the EV-measured charge-loop p99 (CurrentDemand / ChargingStatus / AC_ and
DC_ChargeLoop request to response, over the real TCP/TLS link), then:

* charge-loop p99: the worst per-session p99, and the p99 over all sessions' requests (merged maxima bound);
* peak RSS (and PSS) of the station: the process running every service plus its mosquitto, sampled every
  50 ms (the EV processes and the emulator are not the station);
* station CPU (user + system of the services' process and mosquitto) from the first plug-in to the last
  unplug, divided by the charge-loop exchanges: an upper bound per exchange, since it includes SLAC, session
  setup, TLS handshakes, OCPP and the basic sessions.

The HLC cars are plugged in one after the other, each once the previous one matched SLAC, then charge
together for ``--loops`` exchanges at 0.1 s; the basic PWM cars are plugged in once every EV has matched, so
all eight charge at once. EVSEs 1 and 7 are configured without high-level communication (``hlc = false``).
Plugged in all at once, every listening EVSE answers every EV's CM_SLAC_PARM.REQ
through the emulated cable crosstalk; an EVSE busy with a foreign EV's matching misses its own EV's request,
which then matches a neighbour: sessions fail (see docs/performance.md).

The station runs in its own process (this module with ``--child``) because it enters network namespaces.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024

#: (EVSE, scenario name in the demo lanes); odd EVSEs are AC, even ones DC.
PLAN = (
    (1, "basic PWM AC"),
    (2, "DIN 70121 DC"),
    (3, "ISO 15118-2 AC"),
    (4, "ISO 15118-2 DC"),
    (5, "ISO 15118-20 AC"),
    (6, "ISO 15118-20 DC"),
    (7, "basic PWM AC"),
    (8, "DIN 70121 DC"),
)


def _mem(pid: int) -> tuple[int, int]:
    """(RSS, PSS) bytes of one process (0, 0 when gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    vals = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
            vals[parts[0]] = int(parts[1]) * 1024
    return vals.get("Rss:", 0), vals.get("Pss:", 0)


def _cpu(pid: int) -> float:
    """utime + stime seconds of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
    """Peak RSS/PSS of a set of processes, sampled in a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak_rss = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = pss = 0
            for pid in self.pids:
                r, p = _mem(pid)
                rss, pss = rss + r, pss + p
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


class SlacWatch:
    """The SLAC status of every EVSE, from the bus."""

    def __init__(self, bus: Any) -> None:
        from josev.api.slac import SlacState

        self.status: dict[int, str] = {}
        self.changed = asyncio.Event()
        bus.subscribe(SlacState, self._on)

    def _on(self, m: Any, evse: int | None) -> None:
        self.status[evse or 0] = m.status
        self.changed.set()

    async def wait(self, evse: int, status: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.status.get(evse) != status:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"EVSE {evse}: SLAC not {status} within {timeout:.0f} s")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))


class EvseWatch:
    """The coordinator's state of every EVSE, from the bus."""

    def __init__(self, bus: Any) -> None:
        from josev.api.coordinator import EvseStatus

        self.state: dict[int, str] = {}
        bus.subscribe(EvseStatus, self._on)

    def _on(self, m: Any, evse: int | None) -> None:
        self.state[evse or 0] = m.state

    async def all_idle(self, n: int, timeout: float = 60.0) -> None:
        """Until every EVSE is idle (a loaded machine can fault them at start: HAL replies late)."""
        deadline = time.monotonic() + timeout
        while not (len(self.state) >= n and all(v == "idle" for v in self.state.values())):
            if time.monotonic() > deadline:
                raise TimeoutError(f"EVSEs not idle within {timeout:.0f} s: {self.state}")
            await asyncio.sleep(0.2)


class Gate:
    """SLAC one EV at a time; ``all_matched`` once every HLC EV has matched (or given up)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.slac = asyncio.Lock()
        self.all_matched = asyncio.Event()

    def arrived(self) -> None:
        self.n -= 1
        if self.n <= 0:
            self.all_matched.set()


async def _after(event: asyncio.Event, work: Any) -> None:
    await event.wait()
    await work


async def _hlc(lane: Any, sc: Any, slac: SlacWatch, gate: Gate, results: list[Any]) -> None:
    """One HLC session as the demo runs it, except that the EV starts SLAC once every EVSE listens: a real
    EV starts after it sees the 5 % duty cycle; an EV simulator started before its EVSE listens would only
    hear the others' EVSEs through the emulated crosstalk and match one of them."""
    from josev.demo.sessions import _ev_command, _parse_ev, _plug, _present_card, _unplug_and_end
    from josev.demo.view import SessionResult

    t0 = time.monotonic()
    async with gate.slac:  # one car plugged in and matching at a time (see the module docstring)
        since = lane.tracker.mark(lane.evse)
        _plug(lane, hlc=True, discharge="--discharge" in sc.ev_args)
        card = asyncio.create_task(_present_card(lane, since))
        await slac.wait(lane.evse, "matching")
        proc = await asyncio.create_subprocess_exec(
            *lane.ev_ns.exec_args(_ev_command(lane, sc)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        with contextlib.suppress(TimeoutError):
            await slac.wait(lane.evse, "matched", 20.0)
    gate.arrived()
    try:
        out, _err = await asyncio.wait_for(proc.communicate(), 180)
    finally:
        card.cancel()
    try:
        ended = await _unplug_and_end(lane, since)
    except TimeoutError as exc:
        results.append(SessionResult(sc.name, lane.evse, sc.label, False, str(exc), time.monotonic() - t0))
        return
    res = _parse_ev(out)
    sessions = [r for r in res.get("results", []) if "outcome" in r]
    ok = proc.returncode == 0 and bool(sessions) and sessions[-1]["outcome"] == "finished"
    p99 = None
    for s in sessions:
        for name, lat in (s.get("latency_ms") or {}).items():
            if name in ("CurrentDemandReq", "ChargingStatusReq", "AC_ChargeLoopReq", "DC_ChargeLoopReq"):
                p99 = max(p99 or 0.0, float(lat.get("p99", 0.0)))
    detail = "" if ok else f"EV exit {proc.returncode}: {json.dumps(sessions[-1] if sessions else res)[:300]}"
    results.append(
        SessionResult(
            sc.name, lane.evse, sc.label, ok, detail, time.monotonic() - t0, ended.energy_wh, loop_p99_ms=p99
        )
    )


async def _child(loops: int, log: Path | None = None) -> dict[str, Any]:
    from josev import logs, netlab
    from josev.demo import _emulator, _tx_events
    from josev.demo import station as demo_station
    from josev.demo.sessions import AC_LANE, DC_LANE, Lane, SessionTracker, run_lane
    from josev.demo.view import LiveView, SessionResult
    from josev.sim.csms import CsmsSim

    logs.setup("info" if log else "warning", json_lines=bool(log), file=log)
    original = demo_station.station_config

    def config(*args: Any, **kwargs: Any) -> Any:
        cfg = original(*args, **kwargs)
        for e in cfg.evse:  # the basic PWM EVSEs offer no high-level communication (no 5 %, no SLAC wait)
            if dict(PLAN)[e.id] == "basic PWM AC":
                e.hlc = False
        return cfg

    demo_station.station_config = config
    scenarios = {s.name: s for s in (*AC_LANE, *DC_LANE)}
    n = len(PLAN)
    results: list[SessionResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="josev-bench8-") as tmpdir,
        netlab.lab(f"jb{os.getpid() % 10000}") as lab,
    ):
        tmp = Path(tmpdir)
        st, plc = lab.netns("st"), lab.netns("plc")
        ev_ns = []
        for i in range(1, n + 1):
            ns = lab.netns(f"ev{i}")
            lab.veth(st, f"plc{i}", plc, f"s{i}")
            lab.veth(plc, f"e{i}", ns, "eth0")
            ev_ns.append(ns)
        emu = _emulator(plc, n)
        from josev import pki

        pki_dir = tmp / "pki"
        pki.create(pki_dir, ("iso2", "iso20-p521"))
        netlab.setns(st.path)
        station = None
        try:
            csms = CsmsSim()
            await csms.start()
            try:
                station = demo_station.DemoStation(tmp, n, csms.port, pki_dir)
                await station.start()
                assert (
                    station.board is not None and station.observer is not None and station.broker is not None
                )
                proc = getattr(station.broker, "proc", None)
                broker_pid = proc.pid if proc is not None else None
                pids = [os.getpid(), *([broker_pid] if broker_pid else [])]
                sampler = Sampler(pids)
                tracker = SessionTracker()
                tracker.attach(station.observer)
                cpu0 = sum(_cpu(p) for p in pids)
                t0 = time.monotonic()
                slac = SlacWatch(station.observer)
                await EvseWatch(station.observer).all_idle(n)
                hlc_count = sum(1 for _, name in PLAN if scenarios[name].protocol is not None)
                # the retained SLAC states of the HLC EVSEs arrived: the observer's subscriptions are live
                deadline = time.monotonic() + 20
                while len(slac.status) < hlc_count and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                gate = Gate(hlc_count)
                lanes = []
                # the AC sessions run for --loops; the DC EVs stop when their battery model says so (sooner):
                # their cars are plugged in last so that the sessions overlap as much as they can
                for e, name in sorted(PLAN, key=lambda p: (p[0] % 2 == 0, p[0])):
                    lane = Lane(
                        e, e % 2 == 0, station.board, station.observer, tracker, LiveView(n), ev_ns[e - 1],
                        pki_dir, loops, functools.partial(_tx_events, csms, e),
                    )  # fmt: skip
                    sc = scenarios[name]
                    if sc.protocol is None:  # plugged once every HLC EV matched: all 8 then charge together
                        lanes.append(_after(gate.all_matched, run_lane(lane, (sc,), results)))
                    else:
                        lanes.append(_hlc(lane, sc, slac, gate, results))
                await asyncio.gather(*lanes)
                starts, stops = [], []
                for e, _ in PLAN:
                    evs = tracker.events[e]
                    on = [x.at.timestamp() for x in evs if x.step == "charging_started"]
                    off = [x.at.timestamp() for x in evs if x.step in ("charging_stopped", "ended")]
                    if on and off:
                        starts.append(min(on))
                        stops.append(min(t for t in off if t >= min(on)))
                together = max(0.0, min(stops) - max(starts)) if len(starts) == n else 0.0
                edges = sorted([(a, 1) for a in starts] + [(b, -1) for b in stops])
                running = peak_together = 0
                for _, step in edges:
                    running += step
                    peak_together = max(peak_together, running)
                first = min(starts) if starts else 0.0
                windows = [
                    (round(a - first, 1), round(b - first, 1)) for a, b in zip(starts, stops, strict=True)
                ]
                wall = time.monotonic() - t0
                cpu = sum(_cpu(p) for p in pids) - cpu0
                sampler.stop()
            finally:
                await csms.close()
        finally:
            if station is not None:
                await station.stop()
            emu.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                emu.wait(5)
    hlc = [r for r in results if r.loop_p99_ms is not None]
    return {
        "sessions": [
            {
                "evse": r.evse,
                "name": r.name,
                "ok": r.ok,
                "energy_wh": round(r.energy_wh, 2),
                "loop_p99_ms": r.loop_p99_ms,
                "detail": r.detail[:200],
            }
            for r in sorted(results, key=lambda r: r.evse)
        ],
        "loops_per_session": loops,
        "exchanges": loops * len(hlc),
        "wall_s": round(wall, 1),
        "all_charging_s": round(together, 1),
        "most_charging_at_once": peak_together,
        "charging_windows_s": windows,
        "cpu_s": round(cpu, 2),
        "peak_rss": sampler.peak_rss,
        "peak_pss": sampler.peak_pss,
        "self_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "broker_sampled": len(pids) > 1,
    }


def report(res: dict[str, Any]) -> str:
    """The figures as text."""
    lines = ["EVSE  session              ok    energy Wh  charge-loop p99 ms"]
    for s in res["sessions"]:
        p99 = f"{s['loop_p99_ms']:.1f}" if s["loop_p99_ms"] is not None else "-"
        lines.append(
            f"{s['evse']:>4}  {s['name']:<20} {'yes' if s['ok'] else 'NO':<5} {s['energy_wh']:>9.2f}  {p99:>8}"
        )
        if not s["ok"]:
            lines.append(f"      {s['detail']}")
    p99s = [s["loop_p99_ms"] for s in res["sessions"] if s["loop_p99_ms"] is not None]
    ex = res["exchanges"]
    lines += [
        "",
        f"8 EVSEs at once, {len(p99s)} HLC sessions x {res['loops_per_session']} charge-loop exchanges, "
        f"{res['wall_s']} s from first plug-in to last unplug; at most {res['most_charging_at_once']} EVSEs "
        f"charging at the same time (all 8 together for {res['all_charging_s']} s)",
        "charging windows (s from the first start): "
        + ", ".join(f"{e}: {a}-{b}" for (e, _), (a, b) in zip(PLAN, res["charging_windows_s"], strict=False)),
        f"charge-loop p99: worst session {max(p99s):.1f} ms, median session {sorted(p99s)[len(p99s) // 2]:.1f} ms"
        if p99s
        else "charge-loop p99: no HLC session",
        f"station peak RSS {res['peak_rss'] / MB:.1f} MB, PSS {res['peak_pss'] / MB:.1f} MB "
        f"(services process{' + mosquitto' if res['broker_sampled'] else ''})",
        f"station CPU {res['cpu_s']:.2f} s = {1000 * res['cpu_s'] / ex:.2f} ms per charge-loop exchange "
        "(upper bound: includes SLAC, setup, TLS, OCPP)"
        if ex
        else f"station CPU {res['cpu_s']:.2f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/eight_evses.py", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--loops", type=int, default=300, help="charge-loop requests per HLC session (default 300)"
    )
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--log", type=Path, help="write the station's INFO log (JSON lines) to this file")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv if argv is not None else [])
    if args.child:
        print(json.dumps(asyncio.run(_child(args.loops, args.log))))
        return 0
    cmd = [sys.executable, "-m", "bench.eight_evses", "--child", f"--loops={args.loops}"]
    if args.log:
        cmd.append(f"--log={args.log.resolve()}")
    if os.geteuid() != 0:
        cmd = ["unshare", "-Urnm", "--propagation", "private",
               "sh", "-c", 'mount -t tmpfs tmpfs /run && exec "$@"', "sh", *cmd]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        print(out.stdout[-3000:], out.stderr[-3000:])
        return 1
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(res, indent=2) if args.json else report(res))
    return 0 if all(s["ok"] for s in res["sessions"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
