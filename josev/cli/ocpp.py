"""``josev ocpp``: inspect the OCPP client (routing table, device model, persistent queue)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="OCPP 2.0.1 charging-station client.", no_args_is_help=True)


@app.command("routes")
def routes() -> None:
    """Print the routing table: CSMS action -> handler."""
    from josev.ocpp import routing

    typer.echo(routing.describe())


@app.command("variables")
def variables(
    evses: int = typer.Option(1, "--evses", help="Number of EVSEs (one connector each)."),
    db: Path | None = typer.Option(
        None, "--db", help="Show the values of this database instead of defaults."
    ),
) -> None:
    """Print the device model: component, variable, type, mutability, value."""
    from josev.ocpp.devmodel import DeviceModel, core_variables
    from josev.ocpp.store import Store

    defs = core_variables(dict.fromkeys(range(1, evses + 1), 1))
    store = Store(db if db else ":memory:")
    dm = DeviceModel(store, defs)
    for d in defs:
        value = "(write-only)" if d.mutability == "WriteOnly" else dm.value(d.key)
        flag = " [reboot]" if d.reboot_required else ""
        typer.echo(f"{d.key:60} {d.data_type:12} {d.mutability:9} {value}{flag}")


@app.command("queue")
def queue(db: Path = typer.Argument(..., help="The OCPP SQLite database."), full: bool = False) -> None:
    """Show the persistent message queue (oldest first)."""
    from josev.ocpp.store import Store

    if not db.exists():
        typer.echo(f"{db}: no such file", err=True)
        raise typer.Exit(1)
    store = Store(db)
    items = store.queued()
    typer.echo(f"{len(items)} queued")
    for m in items:
        text = json.dumps(m.payload) if full else json.dumps(m.payload)[:100]
        typer.echo(f"{m.id:8} {m.action:26} attempts={m.attempts} {text}")


@app.command("reprovision")
def reprovision_cmd(
    config_file: Path = typer.Option(..., "--config", "-c", help="Station configuration (TOML)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what differs."),
) -> None:
    """Apply the configuration's [ocpp] csms_url, security_profile and password to the OCPP store, where
    the first start persisted them (network profile slot 1). Run it with the station stopped."""
    from josev import config
    from josev.ocpp import reprovision
    from josev.ocpp.service import config_from_station
    from josev.ocpp.store import Store

    try:
        cfg = config_from_station(config.load(config_file))
    except (config.ConfigError, ValueError) as exc:
        typer.echo(f"{config_file}: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(2) from None
    if not cfg.database.exists():
        typer.echo(f"{cfg.database}: no OCPP store yet; the first start takes the configuration as it is")
        return
    store = Store(cfg.database, durable=cfg.durable)
    try:
        changed = reprovision.changes(store, cfg) if dry_run else reprovision.reprovision(store, cfg)
    finally:
        store.close()
    if not changed:
        typer.echo(
            f"{cfg.database}: already provisioned with {cfg.csms_url} (security profile "
            f"{cfg.security_profile})"
        )
        return
    for line in changed:
        typer.echo(("would change " if dry_run else "changed ") + line)
