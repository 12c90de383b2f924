"""The ``josev`` command line."""

from __future__ import annotations

import importlib
import logging
import sys

import typer

import josev
from josev.cli import api_cmd, broker_cmd, bus_cmd, config_cmd, run_cmd

app = typer.Typer(
    name="josev",
    help="josev: an open embedded EV charging-station stack (SLAC, SECC, OCPP 2.0.1, HAL).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(bus_cmd.app, name="bus")
app.add_typer(api_cmd.app, name="api")
app.add_typer(broker_cmd.app, name="broker")
app.add_typer(config_cmd.app, name="config")
app.command("run")(run_cmd.run)
app.command("demo")(run_cmd.demo)

# Command groups of the protocol areas: (name, module, kind) where kind is "group" (a Typer app `app`)
# or "command" (a function `main`).
_AREAS = (
    ("exi", "josev.cli.exi", "group"),
    ("pki", "josev.cli.pki", "group"),
    ("slac", "josev.cli.slac", "group"),
    ("station-sim", "josev.cli.station_sim", "group"),
    ("systemd", "josev.cli.systemd", "group"),
    ("ev", "josev.cli.ev", "command"),
    ("station", "josev.cli.station", "command"),
    ("ocpp", "josev.cli.ocpp", "group"),
    ("status", "josev.cli.status", "command"),
)


def _add_areas() -> None:
    for name, module, kind in _AREAS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        if kind == "group" and hasattr(mod, "app"):
            app.add_typer(mod.app, name=name)
        elif kind == "command" and hasattr(mod, "main"):
            app.command(name)(mod.main)
        elif hasattr(mod, "app"):
            app.add_typer(mod.app, name=name)


@app.command()
def version() -> None:
    """Print the josev version and the native EXI codec's version."""
    try:
        from josev import _exi

        native = _exi.version()
    except ImportError as exc:  # pragma: no cover - a broken install
        native = f"unavailable ({exc})"
    typer.echo(f"josev {josev.__version__} (python {sys.version.split()[0]}, exi-codec {native})")


def main() -> None:
    """Entry point of the ``josev`` executable."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _add_areas()
    app()


_add_areas()
