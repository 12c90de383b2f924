"""``josev status``: one screen of the station from the retained bus state (services, EVSEs, sessions, CSMS)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import paho.mqtt.client as mqtt
import typer

from josev.api import base, topics
from josev.bus import Bus, BusSettings
from josev.cli.busopts import ConfigFile, Credentials, Host, Port, Socket, cli_settings_or_exit
from josev.observability.status import Snapshot, render

CLEAR = "\x1b[H\x1b[2J"


def main(
    config_file: ConfigFile = None,
    host: Host = None,
    port: Port = None,
    socket: Socket = None,
    credentials: Credentials = None,
    watch: bool = typer.Option(False, "--watch", "-w", help="Keep refreshing until interrupted."),
    interval: float = typer.Option(1.0, min=0.1, help="Refresh interval of --watch (s)."),
    wait: float = typer.Option(
        0.5, min=0.05, help="How long to collect the retained state before showing it (s)."
    ),
    seconds: float = typer.Option(0.0, help="With --watch: stop after this many seconds (0: no limit)."),
    as_json: bool = typer.Option(False, "--json", help="Print the snapshot as JSON instead of the screen."),
) -> None:
    """Show services, EVSEs, sessions and the CSMS connection from the retained bus state."""
    base.load_all()
    settings = cli_settings_or_exit("status", config_file, host, port, credentials, socket)
    code = asyncio.run(
        _status(settings, watch=watch, interval=interval, wait=wait, seconds=seconds, as_json=as_json)
    )
    raise typer.Exit(code)


async def _status(
    settings: BusSettings, *, watch: bool, interval: float, wait: float, seconds: float, as_json: bool
) -> int:
    snap = Snapshot()
    changed = asyncio.Event()

    def on_msg(topic: str, obj: Any, msg: mqtt.MQTTMessage) -> None:
        if snap.feed(topic, obj):
            changed.set()

    bus = Bus("cli", settings)
    bus.subscribe_raw(topics.ALL, on_msg)
    try:
        await bus.connect()
    except (ConnectionError, OSError, KeyError) as exc:
        typer.echo(f"error: cannot reach the bus: {exc}", err=True)
        return 1
    try:
        await asyncio.sleep(wait)
        _show(snap, as_json, clear=False)
        if not watch:
            return 0
        deadline = time.monotonic() + seconds if seconds else None
        tty = sys.stdout.isatty()
        while deadline is None or time.monotonic() < deadline:
            left = interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
            if changed.is_set():
                changed.clear()
                await asyncio.sleep(0.05)  # let a burst of updates land before redrawing
                _show(snap, as_json, clear=tty, separator=True)
        return 0
    finally:
        await bus.close(publish_status=False)


def _show(snap: Snapshot, as_json: bool, *, clear: bool, separator: bool = False) -> None:
    if as_json:
        typer.echo(json.dumps(snap.to_json(), default=str, sort_keys=True))
        return
    prefix = CLEAR if clear else ("\n" if separator else "")
    typer.echo(prefix + render(snap))
