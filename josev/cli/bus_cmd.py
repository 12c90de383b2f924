"""``josev bus``: watch the bus (``tail``) and send it typed commands (``request``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import paho.mqtt.client as mqtt
import typer

from josev.api import base, topics
from josev.bus import Bus, BusSettings
from josev.bus.tail import TailFilter, render
from josev.cli.busopts import ConfigFile, Credentials, Host, Port, Socket, cli_settings_or_exit

app = typer.Typer(help="Watch the bus and send it commands.", no_args_is_help=True)


@app.command("tail")
def tail(
    config_file: ConfigFile = None,
    host: Host = None,
    port: Port = None,
    socket: Socket = None,
    credentials: Credentials = None,
    service: str | None = typer.Option(None, "--service", "-s", help="Only this service."),
    evse: int | None = typer.Option(None, "--evse", "-e", help="Only this EVSE."),
    kind: str | None = typer.Option(None, "--kind", "-k", help="state, event, cmd, status or reply."),
    name: str | None = typer.Option(None, "--name", "-n", help="Only this message name."),
    as_json: bool = typer.Option(False, "--json", help="Payloads as JSON instead of key=value."),
    heartbeats: bool = typer.Option(
        False,
        "--heartbeats",
        help="Also show the coordinator's heartbeats (several a second; hidden by default).",
    ),
    count: int = typer.Option(0, help="Stop after this many messages (0: run until interrupted)."),
    seconds: float = typer.Option(0.0, help="Stop after this many seconds (0: no limit)."),
) -> None:
    """Print live bus traffic, decoded and validated, one line per message (retained state first)."""
    base.load_all()
    settings = cli_settings_or_exit("bus tail", config_file, host, port, credentials, socket)
    filt = TailFilter(service, evse, kind, name)
    asyncio.run(_tail(settings, filt, as_json, count, seconds, heartbeats or name == "heartbeat"))


def is_heartbeat(parsed: topics.ParsedTopic) -> bool:
    """The coordinator's liveness heartbeat (``coordinator/.../event/heartbeat``)."""
    return parsed.kind == "event" and parsed.name == "heartbeat"


async def _tail(
    settings: BusSettings,
    filt: TailFilter,
    as_json: bool,
    count: int,
    seconds: float,
    heartbeats: bool = False,
) -> None:
    bus = Bus("cli", settings)
    done = asyncio.Event()
    shown = 0

    def on_msg(topic: str, obj: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal shown
        parsed = topics.parse(topic)
        if parsed is None or not filt.matches(parsed) or (is_heartbeat(parsed) and not heartbeats):
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


def find_command(service: str, name: str) -> type[base.Command[Any]]:
    """The registered command ``service``/``name``; :class:`LookupError` lists the service's commands."""
    commands = [c for c in base.all_messages() if issubclass(c, base.Command)]
    for cls in commands:
        if cls.service == service and cls.name == name:
            return cls
    known = sorted(f"{c.service} {c.name}" for c in commands if c.service == service) or sorted(
        {c.service for c in commands}
    )
    what = (
        f"commands of {service}" if any(c.service == service for c in commands) else "services with commands"
    )
    raise LookupError(f"no command {service} {name}; {what}: {', '.join(known)}")


@app.command("request")
def request(
    service: str = typer.Argument(..., help="The service that serves the command (e.g. hal, coordinator)."),
    name: str = typer.Argument(..., help="The command's name (e.g. set_contactor, present_token)."),
    payload: str = typer.Argument("{}", help="The command's fields as a JSON object."),
    evse: int | None = typer.Option(None, "--evse", "-e", help="EVSE (for per-EVSE commands)."),
    config_file: ConfigFile = None,
    host: Host = None,
    port: Port = None,
    socket: Socket = None,
    credentials: Credentials = None,
    timeout: float | None = typer.Option(
        None, help="Seconds to wait for the reply (default: the command's)."
    ),
) -> None:
    """Send one typed command as the CLI user and print its reply as JSON (exit 1 on an error reply).

    Example: ``josev bus request coordinator present_token --evse 1 '{"id_token": "04A2B3C4"}'``.
    The payload is validated before it is sent; the broker's ACL decides whether the CLI may send it.
    """
    import json

    from pydantic import ValidationError

    base.load_all()
    try:
        cls = find_command(service, name)
    except LookupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if cls.per_evse and evse is None:
        typer.echo(f"error: {service} {name} is per EVSE: give --evse", err=True)
        raise typer.Exit(2)
    if not cls.per_evse and evse is not None:
        typer.echo(f"error: {service} {name} is station-wide: no --evse", err=True)
        raise typer.Exit(2)
    try:
        cmd = cls.model_validate_json(payload)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}" for e in exc.errors()]
        typer.echo(f"error: invalid {service} {name} payload:\n" + "\n".join(lines), err=True)
        raise typer.Exit(2) from None
    settings = cli_settings_or_exit("bus request", config_file, host, port, credentials, socket)
    code, out = asyncio.run(_request(settings, cmd, evse, timeout))
    typer.echo(json.dumps(out, indent=2, default=str), err=code != 0)
    raise typer.Exit(code)


async def _request(
    settings: BusSettings, cmd: base.Command[Any], evse: int | None, timeout: float | None
) -> tuple[int, dict[str, Any]]:
    bus = Bus("cli", settings)
    try:
        await bus.connect()
    except ConnectionError as exc:
        return 1, {"error": "unavailable", "message": str(exc)}
    try:
        reply = await bus.request(cmd, evse, timeout)
        return 0, reply.model_dump(mode="json")
    except base.CommandError as exc:
        return 1, {"error": exc.code, "message": exc.message}
    finally:
        await bus.close(publish_status=False)
