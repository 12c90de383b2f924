"""``josev demo``: a whole simulated station, simulated EVs, complete charging sessions, a report.

Topology (one station namespace, one PLC namespace with the modem emulator, one namespace per EV)::

    [station: mosquitto + every josev service + sim board + CSMS stand-in]
        plc<N> --veth-- [plc: modem emulator] --veth-- eth0 [ev<N>: josev ev]

The station's SLAC and SECC use real AF_PACKET and IPv6 sockets on ``plc<N>``; the emulator only bridges IP
traffic once SLAC has put both modems into one network. Run as root, the namespaces are the host's
(``--netns``); otherwise the demo re-executes itself in a private user + network namespace (``unshare``), so
it needs no root and no hardware. Exit code 1 when any session failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from josev import logs, netlab
from josev.demo.sessions import AC_LANE, DC_LANE, Lane, SessionTracker, run_lane
from josev.demo.station import DemoStation
from josev.demo.view import LiveView, SessionResult, report
from josev.reexec import module_command
from josev.sim.csms import CsmsSim

log = logging.getLogger("josev.demo")
USERNS_ENV = "JOSEV_DEMO_USERNS"


def _reexec_in_userns(argv: list[str]) -> int:
    """Run ``josev demo`` again as root of a new user + network + mount namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        print(
            "error: not root and no `unshare` (util-linux): run as root or install util-linux",
            file=sys.stderr,
        )
        return 2
    cmd = [
        unshare, "-Urnm", "--propagation", "private",
        "sh", "-c", 'mount -t tmpfs tmpfs /run && exec "$@"', "sh",
        *module_command("josev"), "demo", *argv,
    ]  # fmt: skip
    env = dict(os.environ, **{USERNS_ENV: "1"})
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130


def _emulator(plc: netlab.Netns, n: int) -> subprocess.Popen[str]:
    args = module_command("josev.sim.modem_shell")
    for i in range(1, n + 1):
        args += ["--port", f"evse{i}=s{i}:qualcomm", "--port", f"ev{i}=e{i}:qualcomm"]
        args += [f"--att=evse{i},ev{i}={18 + i}"]
        args += [f"--att=evse{j},ev{i}=60" for j in range(1, n + 1) if j != i]  # crosstalk between cables
    proc = plc.popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        raise netlab.NetlabError(f"the PLC modem emulator did not start ({line!r})")
    return proc


def _tx_events(csms: CsmsSim, evse: int) -> int:
    """TransactionEvents the CSMS received for ``evse`` so far."""
    return sum(
        1
        for c in csms.calls
        if c.action == "TransactionEvent" and (c.payload.get("evse") or {}).get("id") == evse
    )


async def _run(evses: int, live: bool, loops: int) -> int:
    results: list[SessionResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="josev-demo-") as tmpdir,
        netlab.lab(f"jd{os.getpid() % 10000}") as lab,
    ):
        tmp = Path(tmpdir)
        os.chmod(tmp, 0o755)
        t0 = time.monotonic()
        st, plc = lab.netns("st"), lab.netns("plc")
        ev_ns = []
        for i in range(1, evses + 1):
            ns = lab.netns(f"ev{i}")
            lab.veth(st, f"plc{i}", plc, f"s{i}")
            lab.veth(plc, f"e{i}", ns, "eth0")
            ev_ns.append(ns)
        emu = _emulator(plc, evses)
        from josev import pki

        pki_dir = tmp / "pki"
        pki.create(pki_dir, ("iso2",))
        pki20 = pki.build_pki(pki.PROFILES["iso20-p521"])
        pki.write_pki(pki20, pki_dir)
        netlab.setns(st.path)  # from here on, sockets and child processes live in the station namespace
        station: DemoStation | None = None
        try:
            # the CSMS stand-in authorizes the PKI's contracts and is the certificate provisioning service
            csms = CsmsSim(pki=pki.load_pki(pki_dir / "iso2"), pki20=(pki20,))
            await csms.start()
            try:
                station = DemoStation(tmp, evses, csms.port, pki_dir)
                await station.start()
                ready_s = time.monotonic() - t0
                assert station.board is not None and station.observer is not None
                view = LiveView(evses)
                view.attach(station.observer)
                tracker = SessionTracker()
                tracker.attach(station.observer)
                print(
                    f"station ready in {ready_s:.1f} s: {evses} EVSE(s), SLAC + SECC on plc1..plc{evses}, "
                    f"OCPP 2.0.1 to the CSMS stand-in at {csms.url}"
                )
                lanes = [
                    run_lane(
                        Lane(
                            e,
                            e % 2 == 0,
                            station.board,
                            station.observer,
                            tracker,
                            view,
                            ev_ns[e - 1],
                            pki_dir,
                            loops,
                            functools.partial(_tx_events, csms, e),
                        ),
                        DC_LANE if e % 2 == 0 else AC_LANE,
                        results,
                    )
                    for e in range(1, evses + 1)
                ]
                work = asyncio.ensure_future(asyncio.gather(*lanes))
                while not work.done():
                    view.draw(live)
                    await asyncio.wait({work}, timeout=0.5)
                view.draw(live)
                work.result()
            finally:
                await csms.close()
        finally:
            if station is not None:
                await station.stop()
            emu.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                emu.wait(5)
        reports = _write_reports(tmp / "v2g")
    results.sort(
        key=lambda r: (
            r.evse,
            AC_LANE.index(next(s for s in AC_LANE if s.name == r.name))
            if r.evse % 2
            else DC_LANE.index(next(s for s in DC_LANE if s.name == r.name)),
        )
    )
    print()
    print(report(results))
    if reports:
        print()
        print(f"EV conformance reports (one per V2G session, with its pcapng) in {reports[0][0].parent}:")
        for _cap, j, h, verdict in reports:
            print(f"  {verdict:<15} {(h or j).name}")
    return 0 if results and all(r.ok for r in results) else 1


def _write_reports(v2g_dir: Path) -> list[tuple[Path, Path, Path | None, str]]:
    """The conformance report of each V2G session, with its pcapng, in a folder that outlives the demo's."""
    if not v2g_dir.is_dir():
        return []
    from josev.report.files import report_folder
    from josev.v2g.codec import make_codec

    dest = Path(tempfile.mkdtemp(prefix="josev-demo-reports-"))
    os.chmod(dest, 0o755)
    try:
        return report_folder(v2g_dir, dest, make_codec("exi"))
    except Exception as e:  # the demo's result stands without its reports
        print(f"warning: the conformance reports could not be written: {e}", file=sys.stderr)
        return []


def run_from_cli(*, evses: int, netns: bool, live: bool, loops: int = 5) -> int:
    """Entry of ``josev demo``."""
    logs.setup("warning")
    if not 1 <= evses <= 8:
        print("error: --evses must be 1..8", file=sys.stderr)
        return 2
    if os.geteuid() != 0 and not os.environ.get(USERNS_ENV):
        if netns:
            print(
                "error: --netns needs root (without it the demo uses a private user namespace)",
                file=sys.stderr,
            )
            return 2
        argv = [f"--evses={evses}", "--live" if live else "--no-live", f"--loops={loops}"]
        return _reexec_in_userns(argv)
    if not netlab.can_create_namespaces():
        print("error: cannot create network namespaces here (need root or user namespaces)", file=sys.stderr)
        return 2
    live = live and sys.stdout.isatty()
    try:
        return asyncio.run(_run(evses, live, loops))
    except KeyboardInterrupt:
        return 130
