"""``josev ev``: the EV simulator (SDP client + EVCC for DIN SPEC 70121, ISO 15118-2 AC and DC, ISO 15118-20 AC,
DC and BPT; TLS 1.2 / 1.3 with a PKI made by ``josev pki create``)."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import click
import typer

PROTOCOLS = ("din", "iso2-ac", "iso2-dc", "iso20-ac", "iso20-dc", "iso20-ac-bpt", "iso20-dc-bpt")
"""What ``--protocol`` accepts: josev.ev.evcc.PROTOCOLS + josev.ev.iso20.evcc.PROTOCOLS (a test checks)."""

app = typer.Typer(help="EV simulator: discovers the SECC on an interface and charges.", no_args_is_help=False)


def _summary(res: dict[str, object]) -> dict[str, object]:
    """Replace the latency lists by n / p50 / p99 / max (ms)."""
    lat = res.get("latency_ms")
    if isinstance(lat, dict):
        out = {}
        for name, vals in lat.items():
            v = sorted(vals)
            out[name] = {
                "n": len(v),
                "p50": v[len(v) // 2],
                "p99": v[min(len(v) - 1, int(len(v) * 0.99))],
                "max": v[-1],
            }
        res["latency_ms"] = out
    return res


@app.callback(invoke_without_command=True)
def ev(
    iface: Annotated[str, typer.Option(help="PLC / Ethernet interface of the EV")],
    protocol: Annotated[
        str, typer.Option(click_type=click.Choice(PROTOCOLS), help="the V2G protocol the EV speaks")
    ] = "iso2-dc",
    tls: Annotated[
        str | None,
        typer.Option(
            click_type=click.Choice(("off", "iso2", "iso20")),
            help="off | iso2 (TLS 1.2) | iso20 (TLS 1.3); default: iso20 for -20, else off",
        ),
    ] = None,
    pki: Annotated[
        Path | None, typer.Option(help="PKI folder of the station (`josev pki create --out`), for TLS")
    ] = None,
    station_tls: Annotated[
        str | None,
        typer.Option(
            click_type=click.Choice(("iso2", "iso20", "both")), help="the station's TLS mode if not --tls"
        ),
    ] = None,
    contract: Annotated[
        Path | None,
        typer.Option(
            help="Plug & Charge: a `josev pki create` profile folder holding the contract certificate and key "
            "(e.g. PKI/iso2, PKI/iso20-p521); the EV then pays with its contract when the station offers it"
        ),
    ] = None,
    provisioning: Annotated[
        Path | None,
        typer.Option(
            help="Plug & Charge without a contract: a `josev pki create` profile folder with the OEM provisioning "
            "certificate and key and the V2G root (PKI/iso2 for ISO 15118-2, PKI/iso20-p521 for -20); the EV "
            "installs its contract (CertificateInstallation) when the station offers it, then pays with it"
        ),
    ] = None,
    renew_within_days: Annotated[
        float,
        typer.Option(
            help="ISO 15118-2, with --contract and --provisioning: renew a contract expiring within this many days "
            "(CertificateUpdate) before paying with the new one; 0 = never"
        ),
    ] = 0.0,
    dynamic: Annotated[bool, typer.Option("--dynamic", help="-20: dynamic control mode")] = False,
    standby_after: Annotated[
        int | None, typer.Option(help="-20 dynamic: standby after N loops for 2 loops")
    ] = None,
    discharge: Annotated[bool, typer.Option("--discharge", help="-20 BPT scheduled: discharge")] = False,
    codec: Annotated[
        str,
        typer.Option(
            click_type=click.Choice(("exi", "json")),
            help="exi (real) | json (debug stand-in, never for a real SECC)",
        ),
    ] = "exi",
    soc: Annotated[float, typer.Option(help="initial state of charge, %")] = 30.0,
    target_soc: Annotated[float, typer.Option(help="stop at this state of charge, %")] = 80.0,
    capacity_wh: Annotated[float, typer.Option(help="battery capacity, Wh")] = 60_000.0,
    voltage: Annotated[float, typer.Option(help="battery (target) voltage, V")] = 400.0,
    max_voltage: Annotated[
        float | None,
        typer.Option(
            help="DC: EVMaximumVoltageLimit announced, V (default: voltage + 50, at least 450; below --voltage "
            "makes a misbehaving EV for testing stations and the conformance report)"
        ),
    ] = None,
    max_current: Annotated[float, typer.Option(help="DC maximum current, A")] = 125.0,
    loops: Annotated[
        int, typer.Option(help="charge-loop requests before stopping (0: until target SoC)")
    ] = 5,
    seconds_per_loop: Annotated[float, typer.Option(help="simulated seconds per charge loop")] = 60.0,
    loop_interval: Annotated[
        float, typer.Option(help="real seconds to wait before each charge-loop request (a car: 0.1-0.25)")
    ] = 0.0,
    pause_after: Annotated[
        int | None, typer.Option(help="ISO-2 / -20: pause after N loops, then resume")
    ] = None,
    renegotiate_after: Annotated[int | None, typer.Option(help="ISO-2: renegotiate after N loops")] = None,
    evcc_id: Annotated[str, typer.Option(help="EVCCID (MAC, 12 hex digits)")] = "020000000001",
    offer: Annotated[
        list[str] | None, typer.Option(help="extra namespace offered in SAP (repeatable)")
    ] = None,
    message_timeout: Annotated[float, typer.Option(help="seconds to wait for each response")] = 5.0,
    precharge_tolerance: Annotated[
        float, typer.Option(help="PreCharge done when the station voltage is this close to the battery, V")
    ] = 20.0,
    max_ongoing: Annotated[
        int, typer.Option(help="give up after this many Ongoing answers in a row (one every ~0.05 s)", min=1)
    ] = 120,
    slac: Annotated[
        str,
        typer.Option(
            click_type=click.Choice(("on", "off")),
            help="on: match with SLAC (ISO 15118-3) first; off: link ready",
        ),
    ] = "off",
    slac_timeout: Annotated[float, typer.Option(help="seconds allowed for SLAC matching")] = 20.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    verbose: Annotated[bool, typer.Option("-v", help="log every message")] = False,
) -> None:
    """Run one EV session (and its resumption after a pause) on ``--iface``; exit 0 on success."""
    from josev.ev.battery import Battery, Behaviour
    from josev.ev.client import run_session
    from josev.v2g.codec import make_codec

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    battery = Battery(
        capacity_wh=capacity_wh,
        soc=soc,
        target_soc=target_soc,
        voltage=voltage,
        max_current=max_current,
        max_voltage=max_voltage if max_voltage is not None else max(voltage + 50.0, 450.0),
    )
    behaviour = Behaviour(
        evcc_id=evcc_id,
        loops=loops,
        pause_after=pause_after,
        renegotiate_after=renegotiate_after,
        seconds_per_loop=seconds_per_loop,
        offer=tuple(offer or ()),
        precharge_tolerance_v=precharge_tolerance,
        loop_interval_s=loop_interval,
        max_ongoing=max_ongoing,
    )

    if slac not in ("on", "off"):
        raise typer.BadParameter("--slac on|off")
    is20 = protocol.startswith("iso20")
    tls_mode = tls or ("iso20" if is20 else "off")
    if tls_mode not in ("off", "iso2", "iso20") or (station_tls or tls_mode) not in (
        "off",
        "iso2",
        "iso20",
        "both",
    ):
        raise typer.BadParameter("--tls off|iso2|iso20, --station-tls iso2|iso20|both")
    creds = None
    if contract is not None:
        from josev.ev.contract import ContractCredentials

        try:
            creds = ContractCredentials.from_pki(contract)
        except (OSError, ValueError) as e:
            raise typer.BadParameter(f"--contract {contract}: {e}") from None
    prov = None
    prov20 = None
    if provisioning is not None:
        from josev.ev.contract import ProvisioningCredentials, ProvisioningCredentials20

        try:
            if is20:
                prov20 = ProvisioningCredentials20.from_pki(provisioning)
            else:
                prov = ProvisioningCredentials.from_pki(provisioning)
        except (OSError, ValueError) as e:
            raise typer.BadParameter(f"--provisioning {provisioning}: {e}") from None
    ctx: ssl.SSLContext | None = None
    if tls_mode != "off":
        if pki is None:
            raise typer.BadParameter("TLS needs --pki DIR (the station's `josev pki create` folder)")
        from josev.secc.tlsconfig import ev_context

        ctx = ev_context(pki, tls_mode, station_tls or tls_mode)  # type: ignore[arg-type]

    async def one(resume: str | None) -> Any:
        if not is20:
            return await run_session(
                iface,
                protocol,
                make_codec(codec),
                battery=battery,
                behaviour=behaviour,
                resume=resume,
                message_timeout=message_timeout,
                tls=ctx,
                contract=creds,
                provisioning=prov,
                renew_within_s=renew_within_days * 86400.0,
            )
        from josev.ev.client import discover
        from josev.ev.iso20 import Iso20Behaviour
        from josev.ev.iso20.client import run_session as run20
        from josev.v2g import sdp

        beh20 = Iso20Behaviour(
            dynamic=dynamic,
            loops=loops,
            pause_after=behaviour.pause_after,
            standby_after=standby_after,
            discharge=discharge,
            seconds_per_loop=seconds_per_loop,
            precharge_tolerance_v=precharge_tolerance,
            loop_interval_s=loop_interval,
            max_ongoing=max_ongoing,
            # header TimeStamps and the certificate checks of CertificateInstallation use the wall clock
            wall_offset=time.time() - time.monotonic(),
        )
        target = await discover(iface, security=sdp.Security.TLS if ctx is not None else sdp.Security.NO_TLS)
        res20, _info = await run20(
            f"{target.address}%{iface}",
            target.port,
            protocol,
            make_codec(codec),
            tls=ctx,
            battery=battery,
            behaviour=beh20,
            resume=resume,
            message_timeout=message_timeout,
            contract=creds,
            provisioning=prov20,
        )
        return res20

    async def main() -> list[dict[str, object]]:
        results: list[dict[str, object]] = []
        if slac == "on":
            from josev.slac.ev import Validate
            from josev.slac.ev_run import match

            pev_id = b"JOSEVEVSIMULATOR0"
            m = await match(iface, Validate("never"), slac_timeout, pev_id)
            results.append({"slac": m})
            if m.get("status") != "matched":
                return results
        res = await one(None)
        results.append(_summary(asdict(res)))
        if res.outcome == "paused":
            behaviour.pause_after = None
            res = await one(res.session_id)
            results.append(_summary(asdict(res)))
        return results

    results = asyncio.run(main())
    sessions = [r for r in results if "outcome" in r]
    if as_json:
        typer.echo(json.dumps({"results": results, "soc": battery.soc}))
    else:
        for r in sessions:
            msgs = r["messages"]
            assert isinstance(msgs, list)
            typer.echo(
                f"{r['outcome']}: {len(msgs)} requests, {r['loops']} loops, "
                f"renegotiations {r['renegotiations']} {r['detail']}"
            )
        typer.echo(f"final SoC {battery.soc:.1f} %")
    if not sessions:
        typer.echo(f"SLAC matching failed: {results[-1]}", err=True)
        raise typer.Exit(1)
    ok = sessions[-1]["outcome"] == "finished"
    raise typer.Exit(0 if ok else 1)


main = ev
