"""``josev bus``: watch the bus."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import typer

from josev import config
from josev.api import base, topics
from josev.bus import Bus, BusSettings
from josev.bus.tail import TailFilter, render

app = typer.Typer(help="Watch and inspect the bus.", no_args_is_help=True)


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


@app.command("tail")
def tail(
    config_file: Path | None = typer.Option(
        None, "--config", "-c", help="Station configuration (broker section)."
    ),
    host: str | None = typer.Option(None, help="Broker host."),
    port: int | None = typer.Option(None, help="Broker port."),
    socket: Path | None = typer.Option(None, help="Broker unix socket."),
    credentials: Path | None = typer.Option(None, help="Credentials file written by `josev broker config`."),
    service: str | None = typer.Option(None, "--service", "-s", help="Only this service."),
    evse: int | None = typer.Option(None, "--evse", "-e", help="Only this EVSE."),
    kind: str | None = typer.Option(None, "--kind", "-k", help="state, event, cmd, status or reply."),
    name: str | None = typer.Option(None, "--name", "-n", help="Only this message name."),
    as_json: bool = typer.Option(False, "--json", help="Payloads as JSON instead of key=value."),
    count: int = typer.Option(0, help="Stop after this many messages (0: run until interrupted)."),
    seconds: float = typer.Option(0.0, help="Stop after this many seconds (0: no limit)."),
) -> None:
    """Print live bus traffic, decoded and validated, one line per message (retained state first)."""
    base.load_all()
    settings = cli_settings(config_file, host, port, credentials, socket)
    filt = TailFilter(service, evse, kind, name)
    asyncio.run(_tail(settings, filt, as_json, count, seconds))


async def _tail(settings: BusSettings, filt: TailFilter, as_json: bool, count: int, seconds: float) -> None:
    bus = Bus("cli", settings)
    done = asyncio.Event()
    shown = 0

    def on_msg(topic: str, obj: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal shown
        parsed = topics.parse(topic)
        if parsed is None or not filt.matches(parsed):
            return
        line = render(topic, obj, as_json=as_json)
        if line:
            typer.echo(line)
            shown += 1
            if count and shown >= count:
                done.set()

    bus.subscribe_raw(topics.ALL, on_msg)
    try:
        await bus.connect()
    except ConnectionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), seconds or None)
    finally:
        await bus.close(publish_status=False)
