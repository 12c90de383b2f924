"""``josev slac``: SLAC tools (state table, timers, frame decoder, modem emulator, EV side, diagnostics)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import typer

from josev.sim import modem_shell
from josev.slac import ev_run
from josev.slac.errors import FrameError
from josev.slac.evse_table import table
from josev.slac.frame import parse_frame
from josev.slac.timers import TABLE_A1

app = typer.Typer(help="ISO 15118-3 SLAC tools.", no_args_is_help=True)


@app.command("table")
def show_table() -> None:
    """Print the EVSE state machine (state, input -> next state, action)."""
    typer.echo(table())


@app.command("timers")
def show_timers() -> None:
    """Print the ISO 15118-3 timers and counters in use."""
    for name, figure, meaning in TABLE_A1:
        typer.echo(f"{name:<28} {figure:<20} {meaning}")


@app.command("decode")
def decode(frame_hex: str = typer.Argument(..., help="A whole Ethernet frame in hex.")) -> None:
    """Decode one HomePlug AV management frame."""
    try:
        frame = parse_frame(bytes.fromhex(frame_hex.replace(":", "").replace(" ", "")))
    except (FrameError, ValueError) as exc:
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from exc
    fields = {
        k: (v.hex() if isinstance(v, bytes) else v)
        for k, v in dataclasses.asdict(frame.message).items()  # type: ignore[call-overload]
    }
    out = {"dst": frame.dst.hex(":"), "src": frame.src.hex(":"), "type": type(frame.message).__name__}
    typer.echo(json.dumps(out | {"fields": fields}, default=str))


@app.command("emulate")
def emulate(
    port: list[str] = typer.Option(..., help="name=iface[:qualcomm|lumissil|unknown], repeatable."),
    att: list[str] = typer.Option([], help="a,b=dB attenuation between two ports, repeatable."),
    join_delay: float = typer.Option(0.05, help="Seconds until two modems with the same NMK are linked."),
) -> None:
    """Run the PLC modem emulator between interfaces (needs CAP_NET_RAW)."""
    args = [f"--port={p}" for p in port] + [f"--att={a}" for a in att] + [f"--join-delay={join_delay}"]
    modem_shell.main(args)


@app.command("ev")
def ev(
    iface: str = typer.Option(..., help="The EV host's PLC interface."),
    validate: str = typer.Option("never", help="never, always or ambiguous."),
    timeout: float = typer.Option(20.0, help="Give up after this many seconds."),
) -> None:
    """Run the EV side of SLAC once on an interface and print the result as JSON."""
    ev_run.main(["--iface", iface, "--validate", validate, "--timeout", str(timeout)])


@app.command("diag")
def diag(
    evse: int = typer.Option(1, "--evse", "-e", help="EVSE id."),
    config_file: Path | None = typer.Option(None, "--config", "-c", help="Station configuration."),
) -> None:
    """Ask the running slac service for the counters of an EVSE."""
    from josev.api.slac import GetSlacDiagnostics
    from josev.bus import Bus
    from josev.cli.busopts import cli_settings

    async def go() -> str:
        async with Bus("cli", cli_settings(config_file, None, None, None, None)) as bus:
            reply = await bus.request(GetSlacDiagnostics(), evse=evse)
            return reply.model_dump_json()

    typer.echo(asyncio.run(go()))
