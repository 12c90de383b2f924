"""A demo-like station session for the operator-log tests, run as its own process (it enters network
namespaces): the demo station (sim board, every service, SLAC/SECC on a PLC emulator link, OCPP to the CSMS
stand-in with a Basic-auth password, TLS PKI) and one EVSE's sessions: basic PWM, then ISO 15118-2 AC.

Usage: ``python -m tests.product.operator_session LOGFILE LEVEL`` (JSON lines into LOGFILE); prints a JSON
summary of the sessions on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from josev import logs, netlab
from josev.demo import _emulator, _tx_events
from josev.demo import station as demo_station
from josev.demo.sessions import Lane, Scenario, SessionTracker, run_lane
from josev.demo.view import LiveView, SessionResult
from josev.sim.csms import CsmsSim

PASSWORD = "Op3rat0r-Secret-Pa55word"
"""The station's Basic-auth password: must appear in no log line at any level."""

SCENARIOS = (Scenario("basic PWM AC", None), Scenario("ISO 15118-2 AC", "iso2-ac"))


def _with_password(original: Any) -> Any:
    def config(*args: Any, **kwargs: Any) -> Any:
        cfg = original(*args, **kwargs)
        cfg.ocpp["basic_auth_password"] = PASSWORD
        cfg.coordinator["slac_init_timeout_s"] = 4.0  # basic charging after 4 s without SLAC
        return cfg

    return config


def _key_material(pki_dir: Path) -> list[str]:
    """Private-key material of the station's PKI: PEM body lines and the hex of DER keys. A PEM's short last
    line (``Og==``: a few base64 characters) is left out; it turns up by chance in any log."""
    out: list[str] = []
    for f in sorted(pki_dir.rglob("*")):
        if not f.is_file() or "key" not in f.name.lower():
            continue
        data = f.read_bytes()
        if b"PRIVATE KEY" in data:
            out += [ln for ln in data.decode().splitlines() if len(ln) >= 16 and not ln.startswith("-----")]
        elif f.suffix in (".der", ".key"):
            out.append(data[8:40].hex())
    return out


async def main(logfile: Path, level: str) -> int:
    logs.setup(level, json_lines=True, file=logfile)
    demo_station.station_config = _with_password(demo_station.station_config)  # type: ignore[assignment]
    results: list[SessionResult] = []
    secrets: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="josev-oplog-") as tmpdir,
        netlab.lab(f"jo{os.getpid() % 10000}") as lab,
    ):
        tmp = Path(tmpdir)
        st, plc, ev = lab.netns("st"), lab.netns("plc"), lab.netns("ev1")
        lab.veth(st, "plc1", plc, "s1")
        lab.veth(plc, "e1", ev, "eth0")
        emu = _emulator(plc, 1)
        from josev import pki

        pki_dir = tmp / "pki"
        pki.create(pki_dir, ("iso2", "iso20-p521"))
        netlab.setns(st.path)
        station = None
        try:
            csms = CsmsSim()
            await csms.start()
            try:
                station = demo_station.DemoStation(tmp, 1, csms.port, pki_dir)
                await station.start()
                assert station.board is not None and station.observer is not None
                tracker = SessionTracker()
                tracker.attach(station.observer)
                lane = Lane(
                    1, False, station.board, station.observer, tracker, LiveView(1), ev, pki_dir, 2,
                    functools.partial(_tx_events, csms, 1),
                )  # fmt: skip
                await run_lane(lane, SCENARIOS, results)
                secrets = _key_material(pki_dir)
            finally:
                await csms.close()
        finally:
            if station is not None:
                await station.stop()
            emu.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                emu.wait(5)
    sessions = [{"name": r.name, "ok": r.ok, "energy_wh": r.energy_wh, "detail": r.detail} for r in results]
    print(json.dumps({"sessions": sessions, "secrets": secrets}))
    return 0 if results and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]), sys.argv[2])))
