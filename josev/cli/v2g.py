"""``josev v2g``: read V2G logs and PLC captures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="V2G message logs: show the decoded message sequence of a pcapng/pcap file, or judge the EV in it.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command()
def show(
    file: Annotated[Path, typer.Argument(help="a pcapng file of the V2G log, or a capture of the PLC link")],
) -> None:
    """Print the decoded SDP / SAP / DIN / ISO 15118-2 / -20 (and SLAC) messages with their timings."""
    from josev.observability.pcapread import CaptureError
    from josev.observability.v2gshow import show_file
    from josev.v2g.codec import exi_available, make_codec

    why = exi_available()
    if why:
        typer.echo(f"error: the EXI codec is not available: {why}", err=True)
        raise typer.Exit(2)
    try:
        text = show_file(file, make_codec("exi"))
    except (CaptureError, OSError) as e:
        typer.echo(f"error: {file}: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(text)


@app.command()
def report(
    file: Annotated[Path, typer.Argument(help="a pcapng file of the V2G log, or a capture of the PLC link")],
    out: Annotated[
        Path | None, typer.Option(help="folder for the report files (default: next to the capture)")
    ] = None,
) -> None:
    """Write the EV conformance report of a capture (<capture>.report.json and .report.html) and print its
    verdict; exit 1 when the EV broke a rule, 2 on a bad file."""
    from josev.observability.pcapread import CaptureError
    from josev.report.files import write_report
    from josev.v2g.codec import exi_available, make_codec

    why = exi_available()
    if why:
        typer.echo(f"error: the EXI codec is not available: {why}", err=True)
        raise typer.Exit(2)
    try:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        j, h = write_report(file, make_codec("exi"), out_dir=out)
    except (CaptureError, OSError) as e:
        typer.echo(f"error: {file}: {e}", err=True)
        raise typer.Exit(2) from None
    import json

    summary = json.loads(j.read_text())["summary"]
    typer.echo(
        f"{summary['verdict']}: {summary['errors']} error(s), {summary['warnings']} warning(s), "
        f"{summary['messages']} message(s)"
    )
    for p in (j, h):
        if p is not None:
            typer.echo(f"  {p}")
    if summary["verdict"] == "fail":
        raise typer.Exit(1)
