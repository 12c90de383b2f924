"""Charge-loop latency of the whole station with and without a hostile peer on the same PLC link (issue 22).

The station of ``tests/hostile/test_hostile_load.py`` (``josev station --sim --stack real``: HAL simulator,
coordinator, SECC with TLS, OCPP and CSMS stand-in, broker) in one network namespace; a DC car (ISO 15118-2
over TLS) and an attacker on a bridge in it. Two sessions of ``LOOPS`` CurrentDemand loops (one every 20 ms),
measured at the EV (request written -> response read):

* ``quiet``: nothing else on the link;
* ``hostile``: the test's attack, repeated in rounds for the whole session (each round opens 200 stalled TLS
  handshakes and 200 idle TCP connections from 20 addresses and floods 20,000 tiny frames on one more, holds them
  ``HOLD_S``, closes them).

Also printed: the machine's floor (a process that only sleeps, measuring how late it wakes: on a shared 2-core
machine the scheduling delays of the EV's and the station's processes are part of every figure, and the attacker
process competes for the same cores, which a real attacker's hardware does not), and the station's own event
loop as ``bench/_loopmeter.py`` measures it (the station runs under it), per case. ``python -m bench hostile``; needs root
(prints "skipped" otherwise). ``LOOPS``/rounds via ``JOSEV_BENCH_LOOPS``.

``JOSEV_BENCH_PRIORITY=board``: the station runs as a board's systemd units run it, at ``Nice=-10``
(:data:`josev.cli.systemd.CHARGING_NICE`), and the attackers at nice 10. The car and the floor probe run at the
station's niceness too: on a board the car and the attacker are other machines, and only the station's own
processes compete for its cores; here the attacker shares them, so it is put behind the station, as the board's
scheduler puts OCPP, logging and everything else behind the charging path. The printed floor is then the floor
the station sees. Without it (``JOSEV_BENCH_PRIORITY`` unset) every process runs at the bench's niceness.

``JOSEV_BENCH_PRIORITY=realtime``: the station, the car and the probe run ``SCHED_RR`` at the default
``[station] realtime_priority`` (as ``[station] scheduling = "rr"`` and ``josev systemd install --realtime`` give a
board's charging path, :mod:`josev.services.scheduling`; here inherited from the bench, like ``chrt --rr``), the
attackers at the normal policy and nice 10. ``JOSEV_BENCH_PRIORITY=compare``: ``JOSEV_BENCH_RUNS`` (3) runs of each
mode (none, board, realtime), interleaved, each in a process of its own, and a summary of the hostile case's
p50/p99/max per run and their medians.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOOPS = int(os.environ.get("JOSEV_BENCH_LOOPS", "500"))
INTERVAL = "0.02"
HOLD_S = 0.5
CONNECTIONS: list[int] = []
"""Connections the attacker had established in each round (of the 401 it starts)."""
ATTACK = ("--stalled=200", "--idle=200", "--flood=20000")
ATTACKER_NICE = 10
"""Niceness of the attackers with ``JOSEV_BENCH_PRIORITY=board`` or ``realtime``."""
MODES = ("none", "board", "realtime")


def mode() -> str:
    """``JOSEV_BENCH_PRIORITY``: ``none`` (or unset), ``board`` or ``realtime``; ValueError naming the variable for
    anything else."""
    raw = os.environ.get("JOSEV_BENCH_PRIORITY", "") or "none"
    if raw not in MODES and raw != "compare":
        raise ValueError(f"JOSEV_BENCH_PRIORITY={raw!r}: expected one of {', '.join(MODES)} (or unset)")
    return raw


def priority() -> int | None:
    """The station's niceness with ``JOSEV_BENCH_PRIORITY=board`` or ``realtime`` (the units' ``Nice=``), None
    without."""
    if mode() == "none":
        return None
    from josev.cli.systemd import CHARGING_NICE

    return CHARGING_NICE


def realtime() -> tuple[int, int] | None:
    """(policy, priority) of the station with ``JOSEV_BENCH_PRIORITY=realtime``: ``[station] scheduling = "rr"`` at
    the default ``realtime_priority``, as :mod:`josev.services.scheduling` gives it; None otherwise."""
    if mode() != "realtime":
        return None
    from josev.services.scheduling import DEFAULT_PRIORITY

    return os.SCHED_RR, DEFAULT_PRIORITY


@contextlib.contextmanager
def as_attacker() -> Iterator[None]:
    """This process at the attackers' priority (normal policy, nice :data:`ATTACKER_NICE`) for a fork, then back."""
    nice, rt = priority(), realtime()
    if nice is None:
        yield
        return
    if rt is not None:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    os.setpriority(os.PRIO_PROCESS, 0, ATTACKER_NICE)
    try:
        yield
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        if rt is not None:
            os.sched_setscheduler(0, rt[0], os.sched_param(rt[1]))


def _car_args(pki: Path, loops: int) -> tuple[str, ...]:
    return (
        *("--tls", "iso2", "--station-tls", "both", "--pki", str(pki)),
        *("--seconds-per-loop", "1", "--loop-interval", INTERVAL, "--loops", str(loops)),
    )


PROBE = """
import sys, time
lat = []
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    t = time.monotonic()
    time.sleep(0.02)
    lat.append((time.monotonic() - t - 0.02) * 1e3)
lat.sort()
print(f"{lat[len(lat) // 2]:.2f} {lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.2f}")
"""
"""A process that only sleeps 20 ms in a loop, measuring how late it wakes up: the floor this machine's load
puts under any latency figure (nothing of josev in it)."""


async def _probe(seconds: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROBE, str(seconds), stdout=asyncio.subprocess.PIPE
    )


async def _session(lab: Any, car_ns: Any, iface: str, pki: Path, loops: int) -> dict[str, Any]:
    from tests.hostile.lab import run_ev

    probe = await _probe(loops * 0.021 + 1.0)
    res = await run_ev(
        car_ns.name,
        iface,
        "iso2-dc",
        *_car_args(pki, loops),
        loops=loops,
        timeout=60 + loops * 0.1,
        check=False,
    )
    r: dict[str, Any] = res["results"][-1]
    out, _ = await probe.communicate()
    r["probe"] = [float(x) for x in out.split()]
    if r.get("outcome") != "finished":
        raise RuntimeError(f"the car did not finish: {json.dumps(r)[:500]}")
    return r


async def _attack_rounds(
    bad_ns: Any, iface: str, addr: str, ports: tuple[int, int], sources: list[str]
) -> int:
    from tests.hostile.lab import OPENED, attacker, stop

    rounds = 0
    nice = priority()
    assert nice is not None or realtime() is None
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            start = attacker(
                bad_ns,
                iface,
                addr,
                f"--tls-port={ports[0]}",
                f"--tcp-port={ports[1]}",
                *ATTACK,
                *[f"--source={x}" for x in sources],
            )
            if nice is None:
                bad = await start
            else:
                # the attacker is forked at its first step (nothing awaits before the fork): at the attackers'
                # priority from its first instruction, then this process goes back to the station's
                with as_attacker():
                    task = asyncio.ensure_future(start)
                    await asyncio.sleep(0)
                bad = await task
            rounds += 1
            CONNECTIONS.append(OPENED.get(bad.pid, 0))
            try:
                await asyncio.sleep(HOLD_S)
            finally:
                await asyncio.shield(stop(bad))
    return rounds


async def _profile(pid: int) -> asyncio.subprocess.Process | None:
    """``JOSEV_BENCH_PYSPY=FILE``: record the station with py-spy (not a dependency) during the hostile session
    (raw collapsed stacks, with native frames and idle time left out)."""
    out = os.environ.get("JOSEV_BENCH_PYSPY")
    if not out:
        return None
    return await asyncio.create_subprocess_exec(
        *("py-spy", "record", "--pid", str(pid), "--format", "raw", "--output", out, "--rate", "500"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _run(pki: Path, meter: Path) -> list[tuple[str, dict[str, Any], int]]:
    sys.path.insert(0, str(ROOT))
    from josev.bus.service import GC_FREEZE_AFTER_S
    from tests.hostile.lab import add_addresses, bridge
    from tests.util.netns import NetnsLab

    out: list[tuple[str, dict[str, Any], int]] = []
    with NetnsLab("h") as lab:
        st_ns, car_ns, bad_ns = lab.netns("st"), lab.netns("car"), lab.netns("bad")
        car_pair, bad_pair = lab.veth(st_ns, car_ns), lab.veth(st_ns, bad_ns)
        link = bridge(lab, car_pair, bad_pair, ns=st_ns)
        sources = add_addresses(bad_ns, bad_pair.b, 20)
        proc = await asyncio.create_subprocess_exec(
            *(
                "ip",
                "netns",
                "exec",
                st_ns.name,
                sys.executable,
                "-u",
                *(str(ROOT / "bench" / "_loopmeter.py"), str(meter), "josev.cli.station"),
                "--sim",
            ),
            *("--iface", link, "--slac", "off", "--stack", "real", "--modes", "dc"),
            *("--tls", "both", "--pki", str(pki)),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=open(os.environ["JOSEV_BENCH_STATION_LOG"], "wb")  # noqa: SIM115
            if os.environ.get("JOSEV_BENCH_STATION_LOG")
            else asyncio.subprocess.DEVNULL,
        )
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            if not line.startswith("station ready"):
                raise RuntimeError(f"station did not start: {line!r}")
            addr = line.split("[", 1)[1].split("%", 1)[0]
            ports = (int(line.split(" on ")[2].split(",")[0]), int(line.split("]:", 1)[1].split(",")[0]))
            ready_at = time.monotonic()
            await _session(lab, car_ns, car_pair.b, pki, 5)  # warm-up: every code path loaded
            # and the startup objects frozen (one full collection, GC_FREEZE_AFTER_S after the start)
            await asyncio.sleep(max(0.0, ready_at + GC_FREEZE_AFTER_S + 1.0 - time.monotonic()))
            t0 = time.monotonic()
            out.append(("quiet", await _session(lab, car_ns, car_pair.b, pki, LOOPS), 0))
            out[-1][1]["window"] = (t0, time.monotonic())
            t0 = time.monotonic()
            car = asyncio.create_task(_session(lab, car_ns, car_pair.b, pki, LOOPS))
            spy = await _profile(proc.pid)
            await asyncio.sleep(3.0)  # the car is in its charge loop (started, TLS, cable check, precharge)
            attack = asyncio.create_task(_attack_rounds(bad_ns, bad_pair.b, addr, ports, sources))
            try:
                hostile = await car
            finally:
                attack.cancel()
                rounds = await attack
            hostile["window"] = (t0, time.monotonic())
            out.append(("hostile", hostile, rounds))
            if spy is not None:
                spy.send_signal(2)
                await spy.wait()
        finally:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    return out


def compare(runs: int) -> None:
    """``JOSEV_BENCH_PRIORITY=compare``: ``runs`` runs of every mode, interleaved (none, board, realtime, none,
    ...), each in a process of its own; then each mode's hostile-case p50/p99/max of every run and the medians."""
    import statistics
    import subprocess

    got: dict[str, list[tuple[float, float, float]]] = {m: [] for m in MODES}
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    for i in range(runs):
        for m in MODES:
            env = dict(os.environ, JOSEV_BENCH_PRIORITY=m)
            out = subprocess.run(
                [sys.executable, "-m", "bench.hostile_load"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            lines = {
                x.split()[0]: x.split()
                for x in out.stdout.splitlines()
                if x.startswith(("quiet ", "hostile ")) and x.split()[1].isdigit()
            }
            if "hostile" not in lines:
                print(f"run {i + 1} {m}: failed\n{out.stdout[-2000:]}{out.stderr[-2000:]}", flush=True)
                continue
            p50, p99, mx = (float(x) for x in lines["hostile"][2:5])
            got[m].append((p50, p99, mx))
            quiet = "/".join(lines["quiet"][2:5]) if "quiet" in lines else "-"
            policy = next(
                (
                    f"; station policy at the end {x.split(': ')[1].split()[0]}"
                    for x in out.stdout.splitlines()
                    if x.startswith("the station's policy")
                ),
                "",
            )
            conns = next(
                (x.split(": ", 1)[1] for x in out.stdout.splitlines() if x.startswith("attacker conn")), "-"
            )
            print(
                f"run {i + 1} {m:<8} hostile p50 {p50:6.2f}  p99 {p99:6.2f}  max {mx:6.2f} ms"
                f"  (quiet p50/p99/max {quiet}; attack rounds {lines['hostile'][5]};"
                f" machine floor p50/p99 {lines['hostile'][6] if len(lines['hostile']) > 6 else '-'};"
                f" connections established per round {conns}{policy})",
                flush=True,
            )
    print(
        f"CurrentDemand round trips under the hostile load, {LOOPS} loops a run (ms): every run, then the median"
    )
    print(f"{'mode':<9} {'p50':<22} {'p99':<22} {'max':<24} median p50/p99/max")
    for m, rs in got.items():
        if not rs:
            continue
        cols = ["/".join(f"{r[k]:.1f}" for r in rs) for k in range(3)]
        med = "/".join(f"{statistics.median(r[k] for r in rs):.1f}" for k in range(3))
        print(f"{m:<9} {cols[0]:<22} {cols[1]:<22} {cols[2]:<24} {med}")


def main() -> None:
    if os.geteuid() != 0:
        print("skipped: needs root (network namespaces)")
        return
    if os.environ.get("JOSEV_BENCH_PRIORITY") == "compare":
        compare(int(os.environ.get("JOSEV_BENCH_RUNS", "3")))
        return
    sys.path.insert(0, str(ROOT))
    from josev.pki import create

    nice, rt = priority(), realtime()
    if nice is not None:
        # the station, the car and the probe inherit it (the attackers are moved to ATTACKER_NICE)
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    if rt is not None:
        # likewise (no SCHED_RESET_ON_FORK here: the children must inherit it, as from `chrt --rr`)
        os.sched_setscheduler(0, rt[0], os.sched_param(rt[1]))
    with tempfile.TemporaryDirectory(prefix="josev-bench-hostile-") as tmp:
        pki = Path(tmp) / "pki"
        create(pki, ("iso2",))
        t0 = time.monotonic()
        load0 = os.getloadavg()[0]
        meter = Path(tmp) / "loop.json"
        results = asyncio.run(_run(pki, meter))
        loop = json.loads(meter.read_text())
    print(
        f"CurrentDemand at the EV, ISO 15118-2 DC over TLS, {LOOPS} loops every {float(INTERVAL) * 1000:.0f} ms;"
        f" machine: {os.cpu_count()} cores, load average {load0:.1f} at start"
    )
    if rt is not None:
        print(
            f"priority: station, car and probe SCHED_RR priority {rt[1]} (JOSEV_BENCH_PRIORITY=realtime, [station]"
            f' scheduling = "rr"), attackers normal at nice {ATTACKER_NICE}'
        )
    else:
        print(
            "priority: station, car and probe at nice "
            f"{nice}, attackers at nice {ATTACKER_NICE} (JOSEV_BENCH_PRIORITY=board, the units' Nice=)"
            if nice is not None
            else "priority: none (every process at the same niceness; JOSEV_BENCH_PRIORITY=board or realtime)"
        )
    print(
        f"{'case':<8} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  {'attack rounds':<14}"
        " machine floor p50/p99 ms"
    )
    for name, r, rounds in results:
        lat = r["latency_ms"]["CurrentDemandReq"]
        floor = "/".join(f"{x:.2f}" for x in r.get("probe", []))
        print(
            f"{name:<8} {lat['n']:>5} {lat['p50']:>8.2f} {lat['p99']:>8.2f} {lat.get('max', 0):>8.2f}"
            f"  {rounds:<14} {floor}"
        )
    print(f"attacker connections established per round (of 401): {CONNECTIONS}")
    print(
        "the station's event loop (bench/_loopmeter.py): iterations that ran callbacks for longer than 5 / 20 ms"
    )
    print(
        "of wall time, then of the loop thread's CPU time (the rest is waiting for a core), the longest of each;"
    )
    print("garbage collections in the window and the longest pause")
    for name, r, _ in results:
        a, b = r["window"]
        wall = [w for t, w, _ in loop["busy"] if a <= t <= b]
        cpu = [c for t, _, c in loop["busy"] if a <= t <= b]
        gcs = [ms for t, _, ms in loop["gc"] if a <= t <= b]
        print(
            f"{name:<8} wall >5/20 ms: {sum(1 for x in wall if x > 5):>4}/{sum(1 for x in wall if x > 20):<3}"
            f" max {max(wall, default=0):6.1f}   CPU >5/20 ms: {sum(1 for x in cpu if x > 5):>4}/"
            f"{sum(1 for x in cpu if x > 20):<3} max {max(cpu, default=0):5.1f}"
            f"   gc: {len(gcs)}, max {max(gcs, default=0):.1f} ms"
        )
    if loop.get("realtime"):
        print(
            f"the station's policy at the end: {loop['policy']} (josev run's RLIMIT_RTTIME guard set;"
            " 'normal' would mean it tripped: a real-time thread ran 1 s without a wait)"
        )
    with_f, without = loop["full_ms"]
    print(
        f"a full collection in the station at the end: {with_f:.1f} ms with the {loop['frozen']} startup objects"
        f" frozen (josev.bus.service.freeze_startup_objects), {without:.1f} ms without"
    )
    print(f"({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
