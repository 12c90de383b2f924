"""``josev station-sim``: a simulated station (sim board + HAL + coordinator on a private broker, built from a
generated configuration by the one station builder, :mod:`josev.services.builder`), and a probe for Charge
Control C bring-up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from josev.config import JosevConfig

app = typer.Typer(
    help="Simulated charging station (HAL + coordinator) and board probes.", no_args_is_help=True
)


def station_config(evses: int, station_limit: float | None) -> JosevConfig:
    """The simulated station: ``evses`` AC EVSEs (32 A, three phases, basic charging), the sim board, free
    charging; ``station_limit`` A per phase shared by them (None: no station-wide limit below theirs)."""
    from josev.config import EvseConfig, JosevConfig

    coordinator: dict[str, Any] = {"free_charging": True, "ev_adapt_s": 0.5}
    if station_limit is not None:
        coordinator["station_limit_a"] = station_limit
    return JosevConfig(
        station={"max_current_a": 32.0 * evses},
        evse=[EvseConfig(id=e) for e in range(1, evses + 1)],
        hal={"board": "sim", "meter_poll_s": 0.2},
        coordinator=coordinator,
    )


async def _run(evses: int, seconds: float, station_limit: float | None, max_current: float) -> list[str]:
    from hal.sim import SimBoard, SimEv
    from hal.types import CpState
    from josev.api import coordinator as capi
    from josev.broker import PrivateBroker
    from josev.bus import Bus
    from josev.services.builder import build_station

    lines: list[str] = []
    built = build_station(station_config(evses, station_limit))  # what `josev run` would start for it
    board = built.service("hal").board
    assert isinstance(board, SimBoard)
    with PrivateBroker() as broker:
        buses = [Bus(n, broker.settings(n)) for n in [*(s.name for s in built.services), "cli"]]
        for b in buses:
            await b.connect()
        ended: dict[int, capi.SessionEvent] = {}

        def on_session(m: capi.SessionEvent, evse: int | None) -> None:
            if evse is not None:
                lines.append(f"EVSE {evse}: {m.step} {m.reason}".rstrip())
                if m.step == "ended":
                    ended[evse] = m

        buses[-1].subscribe(capi.SessionEvent, on_session)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(svc.run(bus, stop)) for svc, bus in zip(built.services, buses, strict=False)
        ]
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
