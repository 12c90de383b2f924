"""``josev station --sim --iface IFACE [--slac on|off] [--tls off|iso2|iso20|both --pki DIR]``: a reference
station on one interface, run by the service runner on a private mosquitto.

The options become a one-EVSE station configuration, built by the one station builder that ``josev run`` and
``josev demo`` use (:mod:`josev.services.builder`, through :mod:`josev.secc.refstation`).

``--stack real`` (default): the station's own services -- HAL simulator board, coordinator (with its DC flow),
SLAC (or, with ``--slac off``, a link taken as matched), SECC, OCPP -- plus an OCPP 2.0.1 CSMS stand-in on
loopback and the simulated car's pilot and plug on the board; one EVSE of one kind (``--modes ac|dc``), offering
everything it can do (-20 AC BPT / DC BPT with ``--bpt on``).

``--stack lite``: the SECC alone with its simulated DC supply and automatic EIM authorization, (with ``--slac
on``) SLAC, and a coordinator stand-in (pilot "plugged in, 5 %", replug after each session, acks); it can offer
AC and DC on one EVSE (``--modes both``).

``--web HOST:PORT`` (``:8080`` = 127.0.0.1:8080): a read-only live view of the session in a browser
(:mod:`josev.web`); the SECC then publishes its decoded messages on the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Reference station: SECC (+SLAC) on one interface, waiting for an EV.")

MODES = ("dc", "ac", "both")


async def run_stack(
    services: list[Any],
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None = None,
    csms: Any = None,
    web: tuple[str, int] | None = None,
) -> None:
    """Run ``services`` on a private broker until ``stop`` (with ``csms``: start that stand-in first; with
    ``web``: the live view on that host and port)."""
    from josev.broker import PrivateBroker
    from josev.bus.service import ServiceRunner

    if csms is not None:
        await csms.start()
    broker = PrivateBroker(services=tuple(str(s.name) for s in services))
    broker.start()
    try:
        runner = ServiceRunner(services, broker.settings)
        viewer: asyncio.Task[None] | None = None
        if web is not None:
            from josev.web.server import LiveServer, serve_view

            view = LiveServer(host=web[0], port=web[1])
            try:
                await view.start()
            except OSError as e:
                why = os.strerror(e.errno) if e.errno else str(e)
                typer.echo(f"error: the live view cannot listen on {web[0]}:{web[1]}: {why}", err=True)
                raise typer.Exit(2) from None

            def listening(server: Any) -> None:
                typer.echo(f"web view on {server.url}")

            def failed(t: asyncio.Task[None]) -> None:
                if not t.cancelled() and t.exception() is not None:
                    typer.echo(f"error: the live view stopped: {t.exception()}", err=True)
                    stop.set()

            viewer = asyncio.create_task(
                serve_view(broker.settings("web"), view, stop, on_listening=listening)
            )
            viewer.add_done_callback(failed)
        task = asyncio.create_task(runner.run(stop))
        for svc in services:
            ready = getattr(svc, "ready", None)
            if isinstance(ready, asyncio.Event):
                waiter = asyncio.create_task(ready.wait())
                done, _ = await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
                if task in done:
                    waiter.cancel()
                    break
        if on_ready is not None and not task.done():
            on_ready()
        await task
        if viewer is not None:
            with contextlib.suppress(Exception):  # already reported
                await viewer
            if not viewer.cancelled() and viewer.exception() is not None:
                raise typer.Exit(1)
    finally:
        broker.stop()
        if csms is not None:
            await csms.close()


@app.callback(invoke_without_command=True)
def station(
    iface: Annotated[str | None, typer.Option(help="PLC / Ethernet interface the EV is on")] = None,
    sim: Annotated[
        bool, typer.Option("--sim", help="simulated power electronics (required for now)")
    ] = False,
    slac: Annotated[str, typer.Option(help="on | off (off: the link is taken as matched)")] = "on",
    codec: Annotated[str, typer.Option(help="exi | json (debug stand-in)")] = "exi",
    modes: Annotated[
        str, typer.Option(help="energy modes offered: dc | ac | both (both: --stack lite only)")
    ] = "dc",
    port: Annotated[int, typer.Option(help="TCP port of the SECC (0: any)")] = 0,
    iso20: Annotated[str, typer.Option(help="offer ISO 15118-20: on | off")] = "on",
    bpt: Annotated[str, typer.Option(help="-20: offer bidirectional (BPT) services: on | off")] = "on",
    tls: Annotated[
        str, typer.Option(help="TLS listener: off | iso2 (TLS 1.2) | iso20 (TLS 1.3) | both")
    ] = "off",
    pki: Annotated[
        Path | None,
        typer.Option(help="PKI folder (`josev pki create --out`); created when absent (default: a temp dir)"),
    ] = None,
    enforce_tls: Annotated[bool, typer.Option("--enforce-tls", help="SDP announces only TLS")] = False,
    pnc: Annotated[
        str,
        typer.Option(
            help="Plug & Charge: on | off (on: needs --tls; the CSMS stand-in authorizes contracts of the PKI)"
        ),
    ] = "off",
    metering_receipt: Annotated[
        float | None,
        typer.Option(
            help="with --pnc on: ISO 15118-2 EVs sign the meter reading every SECONDS (0: every loop message)",
            metavar="SECONDS",
            min=0,
        ),
    ] = None,
    metering_confirmation: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=3600.0,
            help="-20 Plug & Charge: ask the EV for a signed MeteringConfirmation every that many seconds of "
            "charging (0: never; [secc] metering_confirmation_s)",
        ),
    ] = 0.0,
    tls_keylog: Annotated[
        Path | None, typer.Option(help="write TLS secrets there (NSS key log, for Wireshark; debugging only)")
    ] = None,
    v2g_log_dir: Annotated[
        Path | None,
        typer.Option(
            help="write the V2G messages of every session there as pcapng, with a conformance report of the EV "
            "(<capture>.report.json / .html) next to each"
        ),
    ] = None,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="write the conformance reports (with --v2g-log-dir)")
    ] = True,
    lenient_targets: Annotated[
        bool,
        typer.Option(
            "--lenient-targets", help="-20 DC: clamp EV voltage targets above the maximum (odd test EVs)"
        ),
    ] = False,
    stack: Annotated[
        str,
        typer.Option(
            help="real: HAL sim + coordinator + SLAC + SECC + OCPP with a CSMS stand-in (--modes ac|dc); "
            "lite: SECC with a simulated supply and a coordinator stand-in (every mode)"
        ),
    ] = "real",
    web: Annotated[
        str | None,
        typer.Option(
            help="serve a read-only live view of the session at HOST:PORT (`:8080`: 127.0.0.1:8080; another"
            " host is reachable from elsewhere, with a warning)"
        ),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="scripted station behaviour for testing EVs: a built-in NAME, a PATH to a .toml file, "
            "or `list` (print the built-in ones)"
        ),
    ] = None,
    charging_limit_w: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="--stack real: the CSMS stand-in installs a TxDefaultProfile of this many W at boot "
            "(the car's schedule follows it)",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", help="debug logging")] = False,
) -> None:
    """Run the station stack on ``--iface`` until interrupted."""
    from josev.secc import scenario as scenarios

    if scenario == "list":
        try:
            for sc in scenarios.builtin():
                typer.echo(f"{sc.name:36} {sc.description}")
        except scenarios.ScenarioError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        return
    runner = None
    if scenario is not None:
        try:
            sc = scenarios.resolve(scenario)
        except scenarios.ScenarioError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        tls = sc.station.tls if sc.station.tls is not None else tls
        enforce_tls = sc.station.enforce_tls if sc.station.enforce_tls is not None else enforce_tls
        runner = scenarios.ScenarioRunner(sc)
        typer.echo(f"scenario {sc.name}: {sc.description}", err=True)
    if iface is None:
        raise typer.BadParameter("--iface is required", param_hint="--iface")
    if not sim:
        typer.echo(
            "only --sim is supported: real power electronics are configured with `josev run`", err=True
        )
        raise typer.Exit(2)
    if (
        slac not in ("on", "off")
        or modes not in MODES
        or iso20 not in ("on", "off")
        or bpt not in ("on", "off")
    ):
        raise typer.BadParameter("--slac on|off, --modes dc|ac|both, --iso20 on|off, --bpt on|off")
    if tls not in ("off", "iso2", "iso20", "both"):
        raise typer.BadParameter("--tls off|iso2|iso20|both")
    if pnc not in ("on", "off") or (pnc == "on" and (tls == "off" or stack != "real")):
        raise typer.BadParameter("--pnc on|off; Plug & Charge needs --tls and the real stack")
    if metering_receipt is not None and pnc != "on":
        raise typer.BadParameter(
            "--metering-receipt needs --pnc on (only Plug & Charge sessions sign receipts)"
        )
    if stack not in ("real", "lite") or (stack == "real" and modes == "both"):
        raise typer.BadParameter("--stack real|lite; the real stack serves one EVSE kind: --modes ac or dc")
    web_at = None
    if web is not None:
        from josev.web.server import exposure_warning, parse_listen

        try:
            web_at = parse_listen(web)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
        if (warning := exposure_warning(web_at[0])) is not None:
            typer.echo(warning, err=True)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO)
    import tempfile

    if tls != "off" and pki is None:
        pki = Path(tempfile.mkdtemp(prefix="josev-pki-"))  # kept: the EV needs it; its path is printed

    from pydantic import ValidationError

    from josev.pki import PkiError
    from josev.secc.refstation import build_real
    from josev.secc.tlsconfig import ensure_pki
    from josev.tls import TlsConfigError

    workdir = tempfile.TemporaryDirectory(prefix="josev-station-")  # OCPP database of the real stack
    try:
        if tls != "off":
            assert pki is not None
            ensure_pki(pki)
        secc_section: dict[str, Any] = {
            "codec": codec,
            "tcp_port": port,
            "iso20": iso20 == "on",
            "tls": tls,
            "enforce_tls": enforce_tls,
            "clamp_targets": lenient_targets,
            "publish_messages": web_at is not None,  # the decoded messages on the bus, for the page
        }
        if tls != "off":
            secc_section["pki_dir"] = str(pki)
        if tls_keylog is not None:
            secc_section["tls_keylog"] = str(tls_keylog)
        if v2g_log_dir is not None:
            secc_section.update(v2g_log_dir=str(v2g_log_dir), v2g_log_reports=report)
        if stack == "real":
            secc_section["metering_confirmation_s"] = metering_confirmation
        real = build_real(
            iface,
            kind=modes,
            slac=slac == "on",
            secc=secc_section,
            workdir=Path(workdir.name),
            bpt=bpt == "on",
            pnc_pki=pki if pnc == "on" else None,
            metering_receipt=metering_receipt,
            charging_limit_w=charging_limit_w,
            scenario=runner,
            lite=stack == "lite",
        )
        services, secc, csms = real.services, real.secc, real.csms
        if secc.tls is not None:
            secc.tls.context()  # a broken PKI is a clear error now, not at the first EV
    except ValidationError as e:
        workdir.cleanup()
        problems = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        typer.echo(f"error: {problems}", err=True)
        raise typer.Exit(2) from None
    except (TlsConfigError, PkiError, OSError, ValueError) as e:
        workdir.cleanup()
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)

        def ready() -> None:
            ep = next(iter(secc.endpoints.values()))
            extra = f", TLS ({tls}) on {ep.tls_port}, PKI {pki}" if ep.tls_port else ""
            typer.echo(f"station ready: SECC on [{ep.address}%{ep.iface}]:{ep.tcp_port}{extra}", err=False)

        await run_stack(services, stop, ready, csms, web_at)

    try:
        asyncio.run(main())
    finally:
        workdir.cleanup()


main = station

if __name__ == "__main__":
    app(prog_name="josev station")
