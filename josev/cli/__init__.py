"""The ``josev`` command line.

Command groups are imported when they are used, not when ``josev`` starts: ``josev run`` (and every service
process it starts, or systemd starts per service) loads the station's services and nothing of the PKI, SLAC,
EV or EXI tools. :data:`COMMANDS` maps each name to the module that implements it.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click
import typer
import typer.core
import typer.main

import josev
from josev.cli import run_cmd

COMMANDS: dict[str, tuple[str, str]] = {
    "bus": ("josev.cli.bus_cmd", "group"),
    "api": ("josev.cli.api_cmd", "group"),
    "broker": ("josev.cli.broker_cmd", "group"),
    "config": ("josev.cli.config_cmd", "group"),
    "exi": ("josev.cli.exi", "group"),
    "pki": ("josev.cli.pki", "group"),
    "slac": ("josev.cli.slac", "group"),
    "station-sim": ("josev.cli.station_sim", "group"),
    "systemd": ("josev.cli.systemd", "group"),
    "ev": ("josev.cli.ev", "command"),
    "station": ("josev.cli.station", "command"),
    "ocpp": ("josev.cli.ocpp", "group"),
    "status": ("josev.cli.status", "command"),
    "v2g": ("josev.cli.v2g", "group"),
}
"""Lazily loaded commands: name -> (module, kind); a ``group`` module has a Typer ``app``, a ``command`` module a
function ``main``."""


def load_command(name: str) -> click.Command | None:
    """The click command of a lazily loaded ``name`` (None when unknown or its module is not installed)."""
    spec = COMMANDS.get(name)
    if spec is None:
        return None
    module, kind = spec
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise
    cmd: click.Command
    if kind == "group":
        cmd = typer.main.get_group(mod.app)  # a group even when it has one command (`josev api asyncapi`)
    else:
        single = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})
        single.command(name)(mod.main)
        cmd = typer.main.get_command(single)
    cmd.name = name
    return cmd


class LazyGroup(typer.core.TyperGroup):
    """The root group: the commands defined here, then :data:`COMMANDS`, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in COMMANDS if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None:
            found = load_command(cmd_name)
            if found is not None:
                self.commands[cmd_name] = found
        return found


app = typer.Typer(
    name="josev",
    cls=LazyGroup,
    help="josev: an open embedded EV charging-station stack (SLAC, SECC, OCPP 2.0.1, HAL).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("run")(run_cmd.run)
app.command("demo")(run_cmd.demo)


@app.command()
def version() -> None:
    """Print the josev version and the native EXI codec's version."""
    try:
        from josev import _exi

        native = _exi.version()
    except ImportError as exc:  # pragma: no cover - a broken install
        native = f"unavailable ({exc})"
    typer.echo(f"josev {josev.__version__} (python {sys.version.split()[0]}, exi-codec {native})")


def main(args: Any = None) -> None:
    """Entry point of the ``josev`` executable."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app(args=args)
