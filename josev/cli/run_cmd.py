"""``josev run`` and ``josev demo``."""

from __future__ import annotations

from pathlib import Path

import typer


def run(
    config_file: Path = typer.Option(..., "--config", "-c", help="Station configuration (TOML)."),
    service: list[str] = typer.Option(
        [], "--service", help="Run only these services (for separate processes)."
    ),
) -> None:
    """Run the station: the configured services in one process (default) or as separate processes."""
    from josev.launcher import run_from_cli

    raise typer.Exit(run_from_cli(config_file, service))


def demo(
    evses: int = typer.Option(2, help="Number of EVSEs."),
    netns: bool = typer.Option(
        False, "--netns", help="Use real raw sockets across network namespaces (root)."
    ),
    live: bool = typer.Option(True, "--live/--no-live", help="Show the live view while it runs."),
    loops: int = typer.Option(5, help="Charge-loop requests per HLC session."),
) -> None:
    """Run complete simulated charging sessions on a simulated station and print a session report."""
    from josev.demo import run_from_cli

    raise typer.Exit(run_from_cli(evses=evses, netns=netns, live=live, loops=loops))
