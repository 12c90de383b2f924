"""Runs the :class:`~josev.sim.modem.PlcEmulator` between real interfaces (e.g. veth ends).

``python -m josev.sim.modem_shell --port evse=veth1 --port ev=veth2:lumissil --att evse,ev=20`` bridges
the two interfaces like two PLC modems on one cable. Every frame (ETH_P_ALL) is read; HomePlug frames go
through the emulated modems, others only travel once the modems share a network.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections.abc import Callable

from josev.sim.modem import EmulatedModem, PlcEmulator
from josev.slac.events import ModemVendor
from josev.slac.rawsocket import ETH_P_ALL, RawSocket


async def run_emulator(
    emulator: PlcEmulator,
    ifaces: dict[str, str],
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Bridge ``ifaces`` (port name -> interface) through ``emulator`` until ``stop`` is set.

    ``on_ready`` is called once every socket is open and reading.
    """
    socks = {port: RawSocket(ifname, ETH_P_ALL) for port, ifname in ifaces.items()}

    async def pump(port: str, sock: RawSocket) -> None:
        while True:
            raw = await sock.recv()
            for dst, frame in emulator.from_host(port, raw, time.monotonic()):
                socks[dst].send(frame)

    for sock in socks.values():
        sock.attach()
    tasks = [asyncio.create_task(pump(p, s)) for p, s in socks.items()]
    if on_ready is not None:
        on_ready()
    try:
        await stop.wait()
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for s in socks.values():
            s.close()


def _modem_mac(i: int) -> bytes:
    return bytes([0x02, 0x00, 0xB0, 0x52, 0x00, 0x10 + i])


def build(
    port_specs: list[str], att_specs: list[str], join_delay: float
) -> tuple[PlcEmulator, dict[str, str]]:
    """Parse ``name=iface[:vendor]`` and ``a,b=dB`` specs."""
    modems: dict[str, EmulatedModem] = {}
    ifaces: dict[str, str] = {}
    for i, spec in enumerate(port_specs):
        name, _, rest = spec.partition("=")
        ifname, _, vendor = rest.partition(":")
        modems[name] = EmulatedModem(_modem_mac(i), ModemVendor(vendor or "qualcomm"))
        ifaces[name] = ifname
    att: dict[tuple[str, str], int] = {}
    for spec in att_specs:
        pair, _, db = spec.partition("=")
        a, _, b = pair.partition(",")
        att[(a, b)] = int(db)
    return PlcEmulator(modems, att, join_delay=join_delay), ifaces


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", action="append", default=[], help="name=iface[:qualcomm|lumissil|unknown]")
    ap.add_argument("--att", action="append", default=[], help="a,b=dB attenuation between two ports")
    ap.add_argument("--join-delay", type=float, default=0.05)
    args = ap.parse_args(argv)
    emulator, ifaces = build(args.port, args.att, args.join_delay)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_emulator(emulator, ifaces, stop, lambda: print("ready", flush=True))

    asyncio.run(go())


if __name__ == "__main__":  # pragma: no cover
    main()
