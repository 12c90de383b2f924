"""``josev api``: the bus API as documents."""

from __future__ import annotations

from pathlib import Path

import typer

from josev.api import asyncapi

app = typer.Typer(help="The typed bus API.", no_args_is_help=True)


@app.command("asyncapi")
def asyncapi_cmd(
    out: Path = typer.Option(Path("docs/api"), "--out", "-o", help="Folder for asyncapi.json and schemas/."),
    check: bool = typer.Option(False, "--check", help="Only check that the files in --out are up to date."),
) -> None:
    """Write the AsyncAPI 3.0 document and one JSON Schema per message, generated from the models."""
    if check:
        problems = asyncapi.drift(out)
        if problems:
            typer.echo("the bus API documents drifted from the models (run `josev api asyncapi`):", err=True)
            for p in problems:
                typer.echo(f"  {p}", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: up to date")
        return
    files = asyncapi.write(out)
    typer.echo(f"wrote {len(files)} files to {out}")
