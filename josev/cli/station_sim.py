"""``josev station-sim``: a simulated station (sim board + HAL + coordinator on a private broker), and a
probe for Charge Control C bring-up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Simulated charging station (HAL + coordinator) and board probes.", no_args_is_help=True
)


async def _run(evses: int, seconds: float, station_limit: float | None, max_current: float) -> list[str]:
    from hal.sim import SimBoard, SimEv
    from hal.types import CpState
    from josev.api import coordinator as capi
    from josev.broker import PrivateBroker
    from josev.bus import Bus
    from josev.coordinator import EvseConfig
    from josev.coordinator.service import CoordinatorService, StationConfig
    from josev.halsvc import HalService, HalServiceConfig

    lines: list[str] = []
    with PrivateBroker() as broker:
        board = SimBoard.with_channels(evses)
        hal = HalService(board, HalServiceConfig(meter_poll_s=0.2))
        coord = CoordinatorService(
            [EvseConfig(evse=e, free_charging=True) for e in range(1, evses + 1)],
            StationConfig(station_limit_a=station_limit, ev_adapt_s=0.5),
        )
        buses = [Bus(n, broker.settings(n)) for n in ("hal", "coordinator", "cli")]
        for b in buses:
            await b.connect()
        ended: dict[int, capi.SessionEvent] = {}

        def on_session(m: capi.SessionEvent, evse: int | None) -> None:
            if evse is not None:
                lines.append(f"EVSE {evse}: {m.step} {m.reason}".rstrip())
                if m.step == "ended":
                    ended[evse] = m

        buses[2].subscribe(capi.SessionEvent, on_session)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(hal.run(buses[0], stop)), asyncio.create_task(coord.run(buses[1], stop))]
        await asyncio.sleep(0.5)
        evs = []
        for e in range(1, evses + 1):
            evs.append(board.sim(e).plug(SimEv(auto_ready=True, max_current_a=max_current)))
            await asyncio.sleep(0.2)
        await asyncio.sleep(seconds)
        for e, ev in enumerate(evs, start=1):
            ev.requested = CpState.B
            await asyncio.sleep(0.3)
            board.sim(e).unplug()
        for _ in range(100):
            if len(ended) == evses:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for b in buses:
            await b.close()
        for e in range(1, evses + 1):
            m = ended.get(e)
            sim = board.sim(e)
            got = f"{m.energy_wh:.2f} Wh metered" if m else "no end event"
            lines.append(f"EVSE {e}: {got}, {sim.energy_wh:.2f} Wh delivered by the simulator")
    return lines


@app.command()
def run(
    evses: Annotated[int, typer.Option(min=1, max=16, help="Number of EVSEs.")] = 2,
    seconds: Annotated[float, typer.Option(min=0.5, help="Charging time per session.")] = 3.0,
    station_limit: Annotated[float | None, typer.Option(help="Station-wide limit (A per phase).")] = None,
    max_current: Annotated[float, typer.Option(help="What each simulated EV takes (A per phase).")] = 16.0,
) -> None:
    """Plug a simulated EV into every EVSE, charge, unplug, and print the session steps and energy."""
    for line in asyncio.run(_run(evses, seconds, station_limit, max_current)):
        typer.echo(line)


@app.command("probe-ccc")
def probe_ccc(
    root: Annotated[Path, typer.Option(help="File-system root (/ on the target).")] = Path("/"),
) -> None:
    """List the PWM chips and IIO devices a Charge Control C configuration can name (bring-up aid)."""
    pwm = sorted((root / "sys/class/pwm").glob("pwmchip*"))
    for chip in pwm:
        devname = (chip / "device").resolve().name if (chip / "device").exists() else "?"
        npwm = (chip / "npwm").read_text().strip() if (chip / "npwm").exists() else "?"
        typer.echo(f"pwm  {chip.name}: device {devname!r}, {npwm} channel(s)")
    iio = sorted((root / "sys/bus/iio/devices").glob("iio:device*"))
    for dev in iio:
        name = (dev / "name").read_text().strip() if (dev / "name").exists() else "?"
        chans = sorted(p.name.removesuffix("_raw") for p in dev.glob("in_*_raw"))
        typer.echo(f"iio  {dev.name}: name {name!r}, channels {', '.join(chans) or '-'}")
    chips = sorted((root / "dev").glob("gpiochip*"))
    typer.echo(f"gpio {len(chips)} chip(s): {', '.join(c.name for c in chips) or '-'} (line names: gpioinfo)")
    if not pwm and not iio:
        raise typer.Exit(1)
