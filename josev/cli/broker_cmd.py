"""``josev broker``: generate a mosquitto configuration, or run a private broker."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import typer

from josev.broker import BrokerError, PrivateBroker, write_config

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
    typer.echo(f"mosquitto on 127.0.0.1:{broker.port} and {broker.files.socket}")
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
