"""``josev broker``: generate a mosquitto configuration, or run a private broker."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import typer

from josev.broker import BrokerError, PrivateBroker, write_config
from josev.broker.config import ServiceSpec, add_service, load_integrations, remove_service

app = typer.Typer(help="The station's MQTT broker (mosquitto).", no_args_is_help=True)


@app.command("config")
def config_cmd(
    directory: Path = typer.Option(Path("/etc/josev/broker"), "--dir", help="Where to write the files."),
    port: int | None = typer.Option(1883, help="TCP listener on 127.0.0.1 (0 = none)."),
    socket: Path | None = typer.Option(None, help="Unix socket listener."),
    user: str | None = typer.Option("mosquitto", help="User mosquitto drops privileges to."),
) -> None:
    """Write mosquitto.conf, passwd, acl and the services' credentials (mode 0600) into --dir."""
    files = write_config(directory, port=port or None, socket_path=socket, run_as=user)
    typer.echo(f"wrote {files.config} (credentials for the services: {files.credentials})")
    typer.echo(f"start it with: mosquitto -c {files.config}")


@app.command("add-service")
def add_service_cmd(
    name: str = typer.Argument(..., help="The integration's user (lower snake case, not a josev service)."),
    directory: Path = typer.Option(Path("/etc/josev/broker"), "--dir", help="The broker directory."),
    publish: list[str] = typer.Option(
        [], "--publish", help="A state/event name it publishes under josev/v1/NAME/ ('#': any); repeatable."
    ),
    subscribe: list[str] = typer.Option(
        [],
        "--subscribe",
        help="A topic filter it may read, e.g. 'josev/v1/coordinator/+/state/#'; repeatable.",
    ),
    call: list[str] = typer.Option(
        [],
        "--call",
        help="A command it may issue, as service.command (e.g. coordinator.authorize); repeatable.",
    ),
    user: str | None = typer.Option("mosquitto", help="User mosquitto runs as (gets the files)."),
) -> None:
    """Create a user and ACL for an integrator's own service (never contactor, pilot or power control).

    Recorded in --dir/services.json, so `josev broker config` keeps it; a running mosquitto reloads the users
    and ACL on SIGHUP. The service connects to the services listener with a client id starting with 'josev-'
    (the broker replaces it by NAME: one connection per integration user)."""
    try:
        spec = ServiceSpec(name, tuple(publish), tuple(subscribe), tuple(call))
        own = add_service(directory, spec, run_as=user)
    except (ValueError, KeyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"added {name}: its credentials are in {own} (mode 0600)")
    typer.echo("a running mosquitto picks it up on SIGHUP (systemctl reload josev-broker)")


@app.command("remove-service")
def remove_service_cmd(
    name: str = typer.Argument(..., help="The integration to remove."),
    directory: Path = typer.Option(Path("/etc/josev/broker"), "--dir", help="The broker directory."),
    user: str | None = typer.Option("mosquitto", help="User mosquitto runs as (gets the files)."),
) -> None:
    """Remove an integration added with add-service (its user and grants)."""
    try:
        remove_service(directory, name, run_as=user)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"removed {name}")


@app.command("services")
def services_cmd(
    directory: Path = typer.Option(Path("/etc/josev/broker"), "--dir", help="The broker directory."),
) -> None:
    """List the integrations added with add-service and what they were granted."""
    for spec in load_integrations(directory):
        typer.echo(
            f"{spec.name}: publish {list(spec.publish)} subscribe {list(spec.subscribe)} call {list(spec.call)}"
        )


@app.command("run")
def run_cmd(
    directory: Path | None = typer.Option(None, "--dir", help="Broker directory (default: a temporary one)."),
    port: int | None = typer.Option(None, help="TCP port on 127.0.0.1 (default: a free one)."),
) -> None:
    """Run a private mosquitto for development and tests until interrupted."""
    try:
        broker = PrivateBroker(directory, port=port, unix_socket=True)
        broker.start()
    except BrokerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"mosquitto: services on 127.0.0.1:{broker.port} and {broker.files.socket}")
    typer.echo(
        f"           tools (cli, bench) on 127.0.0.1:{broker.tools_port} and {broker.files.tools_socket}"
    )
    typer.echo(f"credentials: {broker.files.credentials}")
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop and broker.proc is not None and broker.proc.poll() is None:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        broker.close()
