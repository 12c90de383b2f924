"""Footprint of the station: peak memory of the whole process tree, installed size, time to ready.

``python -m bench footprint`` (or ``python bench/footprint.py --help``) prints, against the targets of issue 9:

* peak RSS (and PSS, which does not double-count shared pages) of every process the command starts - its
  process group and all descendants, including a broker started in its own session - sampled from ``/proc``
  every 50 ms, with 1 EVSE and with 4 EVSEs; target < 100 MB for 1 EVSE, < 15 MB per extra EVSE;
* time from start to every service ``ready`` (ServiceStatus on the bus); target < 2 s;
* installed size, two ways, from the same wheel (built with maturin, or ``--wheel``): the developer install
  (``pip install`` into a fresh venv from PyPI wheels, summed per distribution from its RECORD, pip/setuptools
  excluded), and the board install of ``scripts/board_install.py`` (cryptography linked to the system OpenSSL,
  native modules stripped, bytecode only, as Yocto/Buildroot images are built); target < 30 MB besides Python
  itself, for the board install.

``--boards [ARCH,...]`` measures, instead, per board architecture in the Debian roots of ``make dist-test``
(armv7 and aarch64 under qemu-user, i686 and x86_64 natively): the wheel, ``.deb`` and bundle sizes, the board
install besides the distribution's Python, and ``josev run``'s memory (``bench/_footprint_boards.py``).

The measured command is ``josev run`` of a generated configuration with every service that can run without
hardware, or ``josev demo --no-live --evses N`` with ``--demo`` (readiness is then not observable).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from board_install import build_wheel, install, size_table  # noqa: E402  (scripts/ is not a package)

MB = 1024 * 1024
TARGET_RSS_1 = 100.0
TARGET_PER_EVSE = 15.0
TARGET_INSTALLED = 30.0
TARGET_READY = 2.0
NO_HARDWARE_NEEDED = ("system", "hal", "coordinator", "slac", "secc", "ocpp")


# ---------------------------------------------------------------------------------------------- memory


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, pgrp) of every process."""
    out: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        out[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return out


def tree(root: int) -> set[int]:
    """``root``, its process group and all their descendants (a broker in its own session included)."""
    table = _proc_table()
    members = {pid for pid, (_, pgrp) in table.items() if pgrp == root} | {root}
    changed = True
    while changed:
        extra = {pid for pid, (ppid, _) in table.items() if ppid in members and pid not in members}
        members |= extra
        changed = bool(extra)
    return {pid for pid in members if pid in table}


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in bytes (0, 0 when it is gone)."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except OSError:
        return 0, 0
    return rss, pss


@dataclass
class Peak:
    """Peak memory of a process tree."""

    rss: int = 0
    pss: int = 0
    processes: int = 0
    samples: int = 0
    names: set[str] = field(default_factory=set)


SIMULATED = ("-m josev ev", "josev.sim.modem_shell", "josev.netlab", "sysctl")
"""Command lines of the demo's simulated EVs and PLC link: not part of the station, so not counted."""


def simulated(pid: int) -> bool:
    """Whether ``pid`` is one of the demo's simulated EVs / modem emulator (not the station)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return any(s in cmd for s in SIMULATED)


def sample_until(root: int, stop: threading.Event, peak: Peak, period: float = 0.05) -> None:
    """Sample the tree of ``root`` every ``period`` s until ``stop``; keep the peaks in ``peak`` (the demo's
    simulated EVs and PLC modem emulator are left out: they are not the station)."""
    while not stop.wait(period):
        pids = [p for p in tree(root) if not simulated(p)]
        mem = [memory(p) for p in pids]
        rss, pss = sum(m[0] for m in mem), sum(m[1] for m in mem)
        peak.samples += 1
        if rss > peak.rss:
            peak.rss, peak.processes = rss, len(pids)
        peak.pss = max(peak.pss, pss)
        for p in pids:
            with contextlib.suppress(OSError):
                peak.names.add(Path(f"/proc/{p}/comm").read_text().strip())


# ---------------------------------------------------------------------------------------------- the station


def available_services(evses: int) -> list[str]:
    """Services that can be built from a hardware-less configuration in this checkout."""
    from josev import config
    from josev.launcher import left_out
    from josev.services import registry

    cfg = config.parse(station_data(evses, Path("/nonexistent"), 1883, list(NO_HARDWARE_NEEDED)))
    ok = []
    for name in NO_HARDWARE_NEEDED:
        if name in left_out(cfg):  # josev run does not start it for this configuration (no PLC interface)
            print(f"  (service {name} left out: nothing to do without a plc_interface or [ocpp] table)")
            continue
        try:
            registry.build(name, cfg)
        except Exception as exc:  # the service is not available here: report and leave it out
            print(f"  (service {name} left out: {type(exc).__name__}: {exc})")
            continue
        ok.append(name)
    return ok


def station_data(
    evses: int, directory: Path, port: int, services: list[str], separate: bool = False
) -> dict[str, object]:
    """Configuration data of the measured station (``separate``: one process per service)."""
    process = "separate" if separate else "main"
    return {
        "station": {"id": "bench-footprint", "max_current_a": 32.0 * evses},
        "evse": [{"id": i} for i in range(1, evses + 1)],
        "broker": {"directory": str(directory / "broker"), "port": port},
        "services": {n: {"enabled": n in services, "process": process} for n in NO_HARDWARE_NEEDED},
        "ocpp": {"csms_url": "ws://127.0.0.1:9/ocpp"},  # nothing listens: the client keeps retrying
        "logging": {"level": "warning"},
    }


def _toml(data: dict[str, object]) -> str:
    lines: list[str] = []

    def value(v: object) -> str:
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    for key, v in data.items():
        if isinstance(v, list):
            for item in v:
                lines.append(f"[[{key}]]")
                lines += [f"{k} = {value(x)}" for k, x in item.items()]
        elif isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()) and v:
            for sub, table in v.items():
                lines.append(f"[{key}.{sub}]")
                lines += [f"{k} = {value(x)}" for k, x in table.items()]
        elif isinstance(v, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {value(x)}" for k, x in v.items()]
    return "\n".join(lines) + "\n"


async def _wait_ready(creds: Path, port: int, services: list[str], t0: float, timeout: float) -> float | None:
    from josev.api import base, topics
    from josev.bus import Bus, BusSettings

    deadline = t0 + timeout
    while not await asyncio.to_thread(creds.exists):
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.01)
    ready: dict[str, float] = {}
    done = asyncio.Event()

    def on_status(topic: str, obj: object, msg: object) -> None:
        parsed = topics.parse(topic)
        if parsed and parsed.kind == "status" and isinstance(obj, dict):
            with contextlib.suppress(Exception):
                st = base.ServiceStatus.model_validate(obj)
                if st.state == "ready" and st.service in services:
                    ready.setdefault(st.service, time.monotonic())
                    if set(services) <= set(ready):
                        done.set()

    while time.monotonic() < deadline:
        bus = Bus("cli", BusSettings(port=port, credentials_file=creds, reconnect_min_s=0.01))
        bus.subscribe_raw(topics.ALL, on_status)
        try:
            await bus.connect(timeout=max(0.1, deadline - time.monotonic()))
        except (ConnectionError, OSError, KeyError):
            await asyncio.sleep(0.02)
            continue
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), max(0.0, deadline - time.monotonic()))
        finally:
            await bus.close(publish_status=False)
        break
    return max(ready.values()) - t0 if done.is_set() else None


def measure(
    cmd: list[str], *, settle: float, services: list[str], creds: Path | None, port: int
) -> dict[str, object]:
    """Run ``cmd``; peak memory while it runs (``settle`` s after ready, or until it exits) and time to ready."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak, stop = Peak(), threading.Event()
    sampler = threading.Thread(target=sample_until, args=(proc.pid, stop, peak), daemon=True)
    sampler.start()
    ready_s: float | None = None
    try:
        if creds is not None:
            ready_s = asyncio.run(_wait_ready(creds, port, services, t0, timeout=30.0))
            time.sleep(settle)
        else:
            proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stop.set()
        sampler.join()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    return {"peak": peak, "ready_s": ready_s, "rc": proc.returncode, "stderr": err[-2000:]}


def run_station(evses: int, services: list[str], settle: float, separate: bool = False) -> dict[str, object]:
    """Measure ``josev run`` of a generated station with ``evses`` EVSEs."""
    from josev.broker.run import free_port

    with tempfile.TemporaryDirectory(prefix="josev-footprint-") as tmp:
        d = Path(tmp)
        port = free_port()
        cfg = d / "station.toml"
        cfg.write_text(_toml(station_data(evses, d, port, services, separate)))
        cmd = [sys.executable, "-m", "josev", "run", "--config", str(cfg)]
        return measure(cmd, settle=settle, services=services, creds=d / "broker" / "credentials", port=port)


def run_demo(evses: int) -> dict[str, object]:
    """Measure ``josev demo --no-live --evses N`` from start to exit."""
    cmd = [sys.executable, "-m", "josev", "demo", "--no-live", "--evses", str(evses)]
    return measure(cmd, settle=0.0, services=[], creds=None, port=0)


# ---------------------------------------------------------------------------------------------- installed size

_SIZES = r"""
import importlib.metadata as md, json, os, sys
out = {}
for d in md.distributions():
    total = 0
    for f in d.files or []:
        p = f.locate()
        if os.path.isfile(p):
            total += os.path.getsize(p)
    out[d.metadata["Name"]] = total
json.dump(out, sys.stdout)
"""
SEEDED = {"pip", "setuptools", "wheel"}


def installed_sizes(wheel: Path) -> dict[str, int]:
    """Bytes per distribution after installing ``wheel`` (and its dependencies) into a fresh venv."""
    with tempfile.TemporaryDirectory(prefix="josev-size-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(wheel)],
            check=True,
            timeout=1800,
        )
        out = subprocess.run(
            [str(venv / "bin" / "python"), "-c", _SIZES],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        sizes: dict[str, int] = json.loads(out.stdout)
        return sizes


# ---------------------------------------------------------------------------------------------- report


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("OK" if ok else "OVER TARGET")


def main(argv: list[str] | None = None) -> int:
    """Measure and print the footprint figures."""
    ap = argparse.ArgumentParser(prog="bench/footprint.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--evses", default="1,4", help="EVSE counts to measure (default 1,4)")
    ap.add_argument(
        "--demo", action="store_true", help="measure `josev demo --no-live` instead of `josev run`"
    )
    ap.add_argument(
        "--settle", type=float, default=3.0, help="seconds to keep sampling after ready (run mode)"
    )
    ap.add_argument("--wheel", type=Path, help="use this wheel instead of building one")
    ap.add_argument("--skip-size", action="store_true", help="skip the installed-size measurement")
    ap.add_argument("--skip-run", action="store_true", help="skip the memory / ready measurement")
    ap.add_argument(
        "--separate", action="store_true", help="josev run with one process per service (systemd per-service)"
    )
    ap.add_argument(
        "--boards",
        nargs="?",
        const="all",
        metavar="ARCH,...",
        help="instead: per board architecture (armhf, arm64, i386, amd64; default all) in the Debian roots of "
        "make dist-test: wheel/.deb/bundle sizes, board install besides Python, josev run RSS (root)",
    )
    args = ap.parse_args(argv if argv is not None else [])
    if args.boards is not None:
        from bench import _footprint_boards as boards

        return boards.main(boards.wanted(args.boards), max(args.settle, 5.0), available_services(1))
    counts = [int(x) for x in args.evses.split(",") if x]
    results: dict[int, dict[str, object]] = {}
    if not args.skip_run:
        services = [] if args.demo else available_services(max(counts))
        what = "josev demo --no-live" if args.demo else f"josev run with services {', '.join(services)}"
        if args.separate and not args.demo:
            what += ", one process per service"
        print(f"measuring {what}")
        for n in counts:
            r = run_demo(n) if args.demo else run_station(n, services, args.settle, args.separate)
            results[n] = r
            peak = r["peak"]
            assert isinstance(peak, Peak)
            ready = r["ready_s"]
            ready_txt = f"{ready:.2f} s" if isinstance(ready, float) else "not observed"
            print(
                f"  {n} EVSE(s): peak RSS {peak.rss / MB:.1f} MB (PSS {peak.pss / MB:.1f} MB) over "
                f"{peak.processes} processes [{', '.join(sorted(peak.names))}], {peak.samples} samples; "
                f"ready in {ready_txt}; exit {r['rc']}"
            )
            if not args.demo and ready is None:
                print(f"    stderr: {r['stderr']}")
        if 1 in results:
            p1 = results[1]["peak"]
            assert isinstance(p1, Peak)
            print(
                f"peak RSS, 1 EVSE: {p1.rss / MB:.1f} MB (PSS {p1.pss / MB:.1f} MB), target < {TARGET_RSS_1:.0f} MB: "
                f"{verdict(p1.pss / MB < TARGET_RSS_1)} (PSS), {verdict(p1.rss / MB < TARGET_RSS_1)} (RSS)"
            )
            for n, r in sorted(results.items()):
                pn = r["peak"]
                if n > 1 and isinstance(pn, Peak):
                    per = (pn.pss - p1.pss) / MB / (n - 1)
                    print(
                        f"per extra EVSE ({n} vs 1): {per:.2f} MB PSS, target < {TARGET_PER_EVSE:.0f} MB: "
                        f"{verdict(per < TARGET_PER_EVSE)}"
                    )
            r1 = results[1]["ready_s"]
            if isinstance(r1, float):
                print(
                    f"start to all services ready, 1 EVSE: {r1:.2f} s, target < {TARGET_READY:.0f} s: "
                    f"{verdict(r1 < TARGET_READY)}"
                )
    if not args.skip_size:
        with tempfile.TemporaryDirectory(prefix="josev-wheel-") as tmp:
            wheel = args.wheel or build_wheel(Path(tmp))
            sizes = installed_sizes(wheel)
            ours = {k: v for k, v in sizes.items() if k.lower() not in SEEDED}
            total = sum(ours.values())
            print(
                f"installed size, developer install (pip, PyPI wheels, {wheel.name}): {total / MB:.1f} MB "
                f"in {len(ours)} distributions (for comparison; the target applies to the board install)"
            )
            print(size_table(ours, 8))
            board = install(Path(tmp) / "board", wheel)
        btotal = board["bytes"]
        per = board["per_package"]
        assert isinstance(btotal, int) and isinstance(per, dict)
        print(
            f"installed size besides Python, board install (scripts/board_install.py: cryptography on the "
            f"system OpenSSL, stripped, bytecode only): {btotal / MB:.1f} MB, target < {TARGET_INSTALLED:.0f} MB: "
            f"{verdict(btotal / MB < TARGET_INSTALLED)}"
        )
        print(size_table(per, 8))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
