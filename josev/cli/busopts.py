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


def cli_settings_or_exit(
    command: str,
    cfg_file: Path | None,
    host: str | None,
    port: int | None,
    credentials: Path | None,
    socket: Path | None,
) -> BusSettings:
    """:func:`cli_settings` for a command: a bad configuration or unreadable credentials end the command with a
    clear message (exit 2) instead of a traceback."""
    try:
        settings = cli_settings(cfg_file, host, port, credentials, socket)
    except config.ConfigError as exc:
        typer.echo(exc.explain(), err=True)
        raise typer.Exit(2) from None
    problem = credentials_problem(settings)
    if problem:
        typer.echo(f"josev {command}: {problem}", err=True)
        raise typer.Exit(2)
    return settings


def credentials_problem(
    settings: BusSettings,
    user: str = "cli",
    hint: str = "give the station's configuration with --config FILE (its [broker] directory), "
    "or --credentials FILE.",
) -> str | None:
    """Why ``user`` cannot log in to the broker with these settings (None: it can try)."""
    path = settings.credentials_file
    if settings.password or path is None:
        return None
    user = settings.username or user
    try:
        settings.password_for(user)
    except FileNotFoundError:
        return (
            f"no bus credentials file {path}. The managed broker writes it when the station starts "
            f"(`josev run`); {hint}"
        )
    except PermissionError:
        return f"cannot read the bus credentials {path}: run as root or as a member of the josev group"
    except KeyError:
        return f"{path} has no credentials for the {user!r} user (`josev broker config` writes them)"
    except OSError as exc:
        return f"cannot read the bus credentials {path}: {exc.strerror or exc}"
    return None
