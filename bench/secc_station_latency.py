"""Charge-loop response time of the whole reference station, as the EV sees it: ``josev station --sim`` (the
real stack: HAL simulator, coordinator with its DC flow, SECC, OCPP, CSMS stand-in, all on one mosquitto) in one
network namespace, our EV simulator in another, across a veth pair, ISO 15118-20 over TLS 1.3 (and ISO 15118-2
DC over TCP for comparison). Each figure is request written -> response read at the EV, over a long session.

While the EV charges, the coordinator regulates the simulated DC supply from the SECC's ``ev_target`` messages
and the SECC reads ``dc_supply`` back from the bus: the bus traffic runs alongside every charge loop (the SECC
answers from the latest state; it does not wait for the bus per loop -- the worst case with a wait is in
``secc_iso20_latency``). Needs root (network namespaces); prints "skipped" otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOOPS = 1500
LOOP_INTERVAL_S = 0.008
CASES = [
    ("iso20-dc", ("--pki", "{PKI}", "--station-tls", "both"), "DC_ChargeLoopReq"),
    ("iso20-dc-bpt", ("--pki", "{PKI}", "--station-tls", "both", "--dynamic"), "DC_ChargeLoopReq"),
    ("iso2-dc", ("--tls", "off"), "CurrentDemandReq"),
]


async def _run(pki: Path) -> list[tuple[str, dict[str, Any]]]:
    sys.path.insert(0, str(ROOT))
    from tests.util.netns import NetnsLab

    out: list[tuple[str, dict[str, Any]]] = []
    with NetnsLab("b") as lab:
        st, ev = lab.netns("st"), lab.netns("ev")
        pair = lab.veth(st, ev)
        proc = await asyncio.create_subprocess_exec(
            *("ip", "netns", "exec", st.name, sys.executable, "-u", "-m", "josev.cli.station", "--sim"),
            *("--iface", pair.a, "--slac", "off", "--tls", "both", "--pki", str(pki)),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            if not line.startswith(b"station ready"):
                raise RuntimeError(f"station did not start: {line!r}")
            for protocol, extra, loop_req in CASES:
                args = [a.replace("{PKI}", str(pki)) for a in extra]
                evp = await asyncio.create_subprocess_exec(
                    *("ip", "netns", "exec", ev.name, sys.executable, "-m", "josev.ev", "--iface", pair.b),
                    *("--protocol", protocol, "--json", "--loops", str(LOOPS), "--seconds-per-loop", "0.01"),
                    # paced under the SECC's per-connection flood limit ([secc] frame_rate, 200 frames/s;
                    # a car sends 4-10 charge loops per second)
                    *("--loop-interval", str(LOOP_INTERVAL_S)),
                    *args,
                    cwd=ROOT,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                data, _ = await asyncio.wait_for(evp.communicate(), 300)
                res = json.loads(data)["results"][-1]
                lat = res["latency_ms"].get(loop_req, {})
                out.append(
                    (f"{protocol} {' '.join(extra[4:]) or ''} [{res['tls'] or 'TCP'}] {res['outcome']}", lat)
                )
                await asyncio.sleep(1.0)
        finally:
            if proc.returncode is None:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 10)
    return out


def main() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("skipped: needs root and iproute2 (network namespaces)")
        return
    from josev.pki import create
    from josev.v2g.codec import exi_available

    if reason := exi_available():
        print(f"skipped: {reason}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        pki = Path(tmp) / "pki"
        create(pki, ("iso2", "iso20-p521"))
        print(f"{LOOPS} charge loops per session, EV-side round trip (the EV's own p99 = 99th percentile)")
        for label, lat in asyncio.run(_run(pki)):
            if lat:
                print(f"{label:<60} n={lat['n']:5d}  p50={lat['p50']:6.3f} ms  p99={lat['p99']:6.3f} ms")
            else:
                print(f"{label:<60} no figure")


if __name__ == "__main__":
    main()
