"""The options every bus-connected command shares (``--config``, ``--host``, ``--port``, ``--socket``,
``--credentials``) and the ``cli`` user's bus settings they make."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from josev import config
from josev.bus import BusSettings

ConfigFile = Annotated[
    Path | None, typer.Option("--config", "-c", help="Station configuration (broker section).")
]
Host = Annotated[str | None, typer.Option(help="Broker host.")]
Port = Annotated[int | None, typer.Option(help="Broker port.")]
Socket = Annotated[Path | None, typer.Option(help="Broker unix socket.")]
Credentials = Annotated[Path | None, typer.Option(help="Credentials file written by `josev broker config`.")]


def cli_settings(
    cfg_file: Path | None, host: str | None, port: int | None, credentials: Path | None, socket: Path | None
) -> BusSettings:
    """Bus settings of the ``cli`` user from a configuration file and/or explicit options."""
    cfg = config.load(cfg_file)
    settings = cfg.broker.bus_settings("cli")
    updates: dict[str, Any] = {}
    if host:
        updates["host"] = host
    if port:
        updates["port"] = port
    if credentials:
        updates["credentials_file"] = credentials
    if socket:
        updates["socket"] = socket
    return settings.model_copy(update=updates)
