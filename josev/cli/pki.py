"""``josev pki``: create, show and check the ISO 15118 test PKI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from josev.pki import PROFILES, PkiError, check_pki, create, expiry_report, load_pki
from josev.pki.check import fingerprint
from josev.pki.josev_layout import DEFAULT_PASSWORD
from josev.pki.profiles import chain_of
from josev.pki.store import find_profiles

app = typer.Typer(
    help="The ISO 15118 V2G test PKI (V2G/CPO, MO, OEM, CPS and CSMS chains).", no_args_is_help=True
)

DirArg = Annotated[Path, typer.Argument(help="A folder made by `josev pki create` (or one profile in it).")]


def _fail(msg: str) -> NoReturn:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


@app.command("create")
def create_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the PKI into.")],
    profile: Annotated[
        list[str] | None,
        typer.Option(
            "--profile", "-p", help=f"Profile(s) (default iso2 + iso20-p521): {', '.join(PROFILES)}."
        ),
    ] = None,
    josev_layout: Annotated[
        bool,
        typer.Option("--josev-layout", help="Also write OUT/josev/iso15118_2 for the open-source Josev."),
    ] = False,
    josev_password: Annotated[
        str, typer.Option("--josev-password", help="Password of the keys in the Josev layout.")
    ] = DEFAULT_PASSWORD,
    secc_id: Annotated[
        str | None, typer.Option("--secc-id", help="CN of the SECC leaf (the EVSE ID).")
    ] = None,
    emaid: Annotated[
        str | None, typer.Option("--emaid", help="CN of the contract certificate (EMAID).")
    ] = None,
    pcid: Annotated[
        str | None, typer.Option("--pcid", help="CN of the OEM provisioning cert (PCID).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing PKI in OUT.")] = False,
) -> None:
    """Create a complete test PKI: every certificate, its key (mode 0600) and the TLS chain files."""
    profiles = profile or ["iso2", "iso20-p521"]
    existing = [p for p in profiles if (out / p / "manifest.json").exists()]
    if existing and not force:
        _fail(f"{out} already holds {', '.join(existing)} (its keys would be lost); use --force to replace")
    try:
        written = create(
            out,
            profiles,
            josev_layout=josev_layout,
            josev_password=josev_password,
            secc_id=secc_id,
            emaid=emaid,
            pcid=pcid,
        )
    except PkiError as exc:
        _fail(str(exc))
    for name, path in written.items():
        typer.echo(f"{name:12} {path}")
    if josev_layout:
        typer.echo(f"open-source Josev: PKI_PATH={written['josev']}/")


@app.command("show")
def show_cmd(
    directory: DirArg,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show every certificate: chain, subject, validity, days to expiry, fingerprint."""
    now = dt.datetime.now(dt.UTC)
    try:
        pkis = [(b, load_pki(b)) for b in find_profiles(directory)]
    except PkiError as exc:
        _fail(str(exc))
    rows = []
    for base, pki in pkis:
        expiry = {e.name: e for e in expiry_report({n: i.cert for n, i in pki.items.items()}, now)}
        if not as_json:
            typer.echo(f"== {pki.profile.name} ({pki.profile.standard}, {pki.profile.key_type.value}) {base}")
        for name, item in pki.items.items():
            e = expiry[name]
            row = {
                "profile": pki.profile.name,
                "name": name,
                "role": item.spec.role,
                "chain": " <- ".join(chain_of(name)),
                "subject": e.subject,
                "not_after": e.not_after.isoformat(),
                "days_left": int(e.days_left // 1),
                "expired": e.expired,
                "sha256": fingerprint(item.cert),
            }
            rows.append(row)
            if not as_json:
                state = "EXPIRED" if e.expired else f"{row['days_left']:>6} d"
                typer.echo(f"  {name:14} {state}  {e.subject}")
                typer.echo(f"  {'':14}          chain {row['chain']}")
    if as_json:
        typer.echo(json.dumps(rows, indent=2))


@app.command("check")
def check_cmd(directory: DirArg) -> None:
    """Validate chains, signatures, validity, ISO 15118 profile and key file modes; exit 1 on errors."""
    now = dt.datetime.now(dt.UTC)
    errors = 0
    try:
        bases = find_profiles(directory)
    except PkiError as exc:
        _fail(str(exc))
    for base in bases:
        try:
            pki = load_pki(base)
        except PkiError as exc:
            typer.echo(f"ERROR   {base}: {exc}")
            errors += 1
            continue
        findings = check_pki(pki, now, base)
        errors += sum(f.severity == "error" for f in findings)
        typer.echo(f"{pki.profile.name}: {len(pki.items)} certificates, {len(findings)} finding(s)")
        for f in findings:
            typer.echo(f"  {f}")
    if errors:
        typer.echo(f"{errors} error(s)")
        raise typer.Exit(1)
    typer.echo("OK")
