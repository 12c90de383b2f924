"""``josev config``: check a configuration file."""

from __future__ import annotations

from pathlib import Path

import typer

from josev import config

app = typer.Typer(help="Station configuration.", no_args_is_help=True)


@app.command("check")
def check(
    file: Path = typer.Argument(..., help="TOML configuration file."),
    show: bool = typer.Option(
        False, "--show", help="Print the effective configuration (defaults filled in)."
    ),
) -> None:
    """Validate FILE (with JOSEV_* environment overrides) and explain every error with its location."""
    try:
        cfg = config.load(file)
    except config.ConfigError as exc:
        typer.echo(exc.explain(), err=True)
        raise typer.Exit(1) from None
    evses = ", ".join(f"{e.id} ({e.kind}, {e.max_current_a:g} A)" for e in cfg.evse)
    typer.echo(f"{file}: OK - station {cfg.station.id}, EVSEs: {evses}")
    if show:
        typer.echo(cfg.model_dump_json(indent=2))
