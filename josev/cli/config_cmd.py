"""``josev config``: check a configuration file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from josev import config

app = typer.Typer(help="Station configuration.", no_args_is_help=True)

SECRET_KEYS = ("password", "secret", "passphrase", "private_key", "token")
"""Keys whose values ``--show`` never prints."""


def redact(value: Any) -> Any:
    """``value`` with every secret (a key named like a password, passphrase or private key) replaced."""
    if isinstance(value, dict):
        return {
            k: (
                "<redacted>" if v is not None and any(s in str(k).lower() for s in SECRET_KEYS) else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@app.command("check")
def check(
    file: Path = typer.Argument(..., help="TOML configuration file."),
    show: bool = typer.Option(
        False, "--show", help="Print the effective configuration (defaults filled in; secrets redacted)."
    ),
) -> None:
    """Validate every section of FILE (with JOSEV_* environment overrides): one line per error, with the key
    and its line; exit 1 when there is any."""
    from josev.configcheck import check_file

    try:
        report = check_file(file)
    except config.ConfigError as exc:
        typer.echo(exc.explain(), err=True)
        raise typer.Exit(1) from None
    cfg = report.config
    evses = ", ".join(f"{e.id} ({e.kind}, {e.max_current_a:g} A)" for e in cfg.evse)
    typer.echo(f"{file}: OK - station {cfg.station.id}, EVSEs: {evses}")
    for note in report.notes:
        typer.echo(f"note: {note}")
    if show:
        typer.echo(json.dumps(redact(cfg.model_dump(mode="json")), indent=2))
