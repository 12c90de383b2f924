"""``josev ev``: the EV simulator (SDP client + EVCC for DIN SPEC 70121, ISO 15118-2 AC and DC)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from typing import Annotated

import typer

app = typer.Typer(help="EV simulator: discovers the SECC on an interface and charges.", no_args_is_help=False)


def _summary(res: dict[str, object]) -> dict[str, object]:
    """Replace the latency lists by n / p50 / p99 (ms)."""
    lat = res.get("latency_ms")
    if isinstance(lat, dict):
        out = {}
        for name, vals in lat.items():
            v = sorted(vals)
            out[name] = {"n": len(v), "p50": v[len(v) // 2], "p99": v[min(len(v) - 1, int(len(v) * 0.99))]}
        res["latency_ms"] = out
    return res


@app.callback(invoke_without_command=True)
def ev(
    iface: Annotated[str, typer.Option(help="PLC / Ethernet interface of the EV")],
    protocol: Annotated[str, typer.Option(help="din | iso2-ac | iso2-dc")] = "iso2-dc",
    codec: Annotated[
        str, typer.Option(help="exi (real) | json (debug stand-in, never for a real SECC)")
    ] = "exi",
    soc: Annotated[float, typer.Option(help="initial state of charge, %")] = 30.0,
    target_soc: Annotated[float, typer.Option(help="stop at this state of charge, %")] = 80.0,
    capacity_wh: Annotated[float, typer.Option(help="battery capacity, Wh")] = 60_000.0,
    voltage: Annotated[float, typer.Option(help="battery (target) voltage, V")] = 400.0,
    max_current: Annotated[float, typer.Option(help="DC maximum current, A")] = 125.0,
    loops: Annotated[
        int, typer.Option(help="charge-loop requests before stopping (0: until target SoC)")
    ] = 5,
    seconds_per_loop: Annotated[float, typer.Option(help="simulated seconds per charge loop")] = 60.0,
    pause_after: Annotated[int | None, typer.Option(help="ISO-2: pause after N loops, then resume")] = None,
    renegotiate_after: Annotated[int | None, typer.Option(help="ISO-2: renegotiate after N loops")] = None,
    evcc_id: Annotated[str, typer.Option(help="EVCCID (MAC, 12 hex digits)")] = "020000000001",
    offer: Annotated[
        list[str] | None, typer.Option(help="extra namespace offered in SAP (repeatable)")
    ] = None,
    message_timeout: Annotated[float, typer.Option(help="seconds to wait for each response")] = 5.0,
    precharge_tolerance: Annotated[
        float, typer.Option(help="PreCharge done when the station voltage is this close to the battery, V")
    ] = 20.0,
    slac: Annotated[
        str, typer.Option(help="on: match with SLAC (ISO 15118-3) first; off: link ready")
    ] = "off",
    slac_timeout: Annotated[float, typer.Option(help="seconds allowed for SLAC matching")] = 20.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    verbose: Annotated[bool, typer.Option("-v", help="log every message")] = False,
) -> None:
    """Run one EV session (and its resumption after a pause) on ``--iface``; exit 0 on success."""
    from josev.ev.battery import Battery, Behaviour
    from josev.ev.client import run_session
    from josev.secc.codec import make_codec

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    battery = Battery(
        capacity_wh=capacity_wh,
        soc=soc,
        target_soc=target_soc,
        voltage=voltage,
        max_current=max_current,
        max_voltage=max(voltage + 50.0, 450.0),
    )
    behaviour = Behaviour(
        evcc_id=evcc_id,
        loops=loops,
        pause_after=pause_after,
        renegotiate_after=renegotiate_after,
        seconds_per_loop=seconds_per_loop,
        offer=tuple(offer or ()),
        precharge_tolerance_v=precharge_tolerance,
    )

    if slac not in ("on", "off"):
        raise typer.BadParameter("--slac on|off")

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
        res = await run_session(
            iface,
            protocol,
            make_codec(codec),
            battery=battery,
            behaviour=behaviour,
            message_timeout=message_timeout,
        )
        results.append(_summary(asdict(res)))
        if res.outcome == "paused":
            behaviour.pause_after = None
            res = await run_session(
                iface,
                protocol,
                make_codec(codec),
                battery=battery,
                behaviour=behaviour,
                resume=res.session_id,
                message_timeout=message_timeout,
            )
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
