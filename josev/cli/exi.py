"""``josev exi``: decode and encode EXI messages (optionally whole V2GTP frames) from the command line."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

# josev.exi (and the native module) is imported inside the commands, so that the rest of the CLI works even
# where the native module has not been built.
SCHEMA_NAMES = (
    "sap",
    "din",
    "iso2",
    "iso20-cm",
    "iso20-ac",
    "iso20-dc",
    "iso20-wpt",
    "iso20-acdp",
    "xmldsig",
)

app = typer.Typer(
    help="EXI codec: decode EXI (hex) to JSON, encode JSON to EXI (hex).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

SchemaOpt = Annotated[
    str | None,
    typer.Option("--schema", "-s", help=f"schema: {', '.join(SCHEMA_NAMES)} (or a namespace)"),
]
FrameOpt = Annotated[bool, typer.Option("--frame", help="input/output is a whole V2GTP frame")]


def _read(arg: str) -> str:
    return sys.stdin.read() if arg == "-" else arg


def _fail(msg: str) -> typer.Exit:
    typer.echo(f"error: {msg}", err=True)
    return typer.Exit(code=1)


def _schema(name: str | None) -> str | None:
    from josev import exi

    if name is None:
        return None
    try:
        return exi.schema_for_namespace(name)
    except ValueError as e:
        raise _fail(str(e)) from None


@app.command()
def decode(
    data: Annotated[str, typer.Argument(help="EXI (or V2GTP frame with --frame) as hex, or - for stdin")],
    schema: SchemaOpt = None,
    frame: FrameOpt = False,
    pretty: Annotated[bool, typer.Option("--pretty", help="indent the JSON")] = False,
    xml: Annotated[
        bool, typer.Option("--xml", help="print XML (schema order, namespaces) instead of JSON")
    ] = False,
) -> None:
    """Decode EXI to JSON."""
    from josev import _exi, exi
    from josev.v2g import v2gtp

    text = "".join(_read(data).split())
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise _fail("input is not hex") from None
    name = _schema(schema)
    if frame:
        try:
            f = v2gtp.parse_frame(raw)
            name = v2gtp.schema_for_payload_type(f.payload_type, name)
        except v2gtp.V2gtpError as e:
            raise _fail(str(e)) from None
        raw = f.payload
    if name is None:
        raise _fail("--schema is required (or --frame with a payload type that implies it)")
    try:
        msg: dict[str, Any] = exi.decode(name, raw)
    except exi.ExiError as e:
        raise _fail(f"{e.message} (expected: {e.expected})") from None
    if xml:
        typer.echo(_exi.to_xml(name, msg))
        return
    typer.echo(json.dumps(msg, indent=2 if pretty else None, separators=None if pretty else (",", ":")))


@app.command()
def encode(
    message: Annotated[str, typer.Argument(help="the message as JSON, or - for stdin")],
    schema: SchemaOpt = None,
    frame: FrameOpt = False,
) -> None:
    """Encode JSON to EXI (printed as hex; with --frame a whole V2GTP frame)."""
    from josev import exi
    from josev.v2g import v2gtp

    name = _schema(schema)
    if name is None:
        raise _fail("--schema is required")
    try:
        msg = json.loads(_read(message))
    except json.JSONDecodeError as e:
        raise _fail(f"invalid JSON: {e}") from None
    if not isinstance(msg, dict):
        raise _fail("the message must be a JSON object")
    try:
        out = exi.encode(name, msg)
    except exi.ExiError as e:
        raise _fail(f"{e.message} (expected: {e.expected})") from None
    if frame:
        out = v2gtp.frame(v2gtp.SCHEMA_PAYLOADS[name], out)
    typer.echo(out.hex())


@app.command()
def schemas() -> None:
    """List the schemas, their namespaces and V2GTP payload types."""
    from josev import exi
    from josev.v2g import v2gtp

    for name, ns in exi.NAMESPACES.items():
        ptype = v2gtp.SCHEMA_PAYLOADS.get(name)
        typer.echo(f"{name:11} {f'0x{ptype:04x}' if ptype else '  -   '}  {ns}")
